//! Virtual-clock harness: an [`Endpoint`] driven by scripted raw SIP
//! (`Raw`) or two endpoints wired back to back (`Pair`).
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use denwa_sip::sdp::{AudioConfig, Codec, Direction};
use denwa_sip::{Config, Endpoint, Event, Input, Output, Transmit, Transport};

pub const DENWA: &str = "198.51.100.10:5060";
pub const TRUNK: &str = "192.0.2.20:5060";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address literal")
}

pub fn audio(port: u16) -> AudioConfig {
    AudioConfig {
        rtp_address: SocketAddr::new(addr(DENWA).ip(), port),
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        telephone_event: true,
        ptime: Some(20),
        direction: Direction::SendRecv,
    }
}

pub const OFFER: &str = "v=0\r\no=trunk 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

/// An INVITE from the trunk.
pub fn invite(branch: &str, call_id: &str, sdp: Option<&str>, extra: &str) -> Vec<u8> {
    let body = sdp.unwrap_or("");
    let ct = if sdp.is_some() {
        "Content-Type: application/sdp\r\n"
    } else {
        ""
    };
    format!(
        "INVITE sip:+81312345678@198.51.100.10 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.20:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller\" <sip:+819011112222@192.0.2.20>;tag=trunk1\r\n\
         To: <sip:+81312345678@198.51.100.10>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:+819011112222@192.0.2.20:5060>\r\n\
         {extra}{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A request inside the dialog the trunk created with `invite`.
pub fn in_dialog(
    method: &str,
    branch: &str,
    call_id: &str,
    to_tag: &str,
    cseq: u32,
    body: Option<&str>,
    extra: &str,
) -> Vec<u8> {
    let b = body.unwrap_or("");
    let ct = if body.is_some() {
        "Content-Type: application/sdp\r\n"
    } else {
        ""
    };
    format!(
        "{method} sip:denwa@198.51.100.10:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.20:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller\" <sip:+819011112222@192.0.2.20>;tag=trunk1\r\n\
         To: <sip:+81312345678@198.51.100.10>;tag={to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:+819011112222@192.0.2.20:5060>\r\n\
         {extra}{ct}Content-Length: {}\r\n\r\n{b}",
        b.len()
    )
    .into_bytes()
}

/// First line of a wire message.
pub fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// Value of a header in a wire message.
pub fn header(bytes: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(bytes).lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

pub fn to_tag(bytes: &[u8]) -> String {
    header(bytes, "To")
        .and_then(|t| {
            t.split(";tag=")
                .nth(1)
                .map(|s| s.split(';').next().unwrap_or(s).to_owned())
        })
        .unwrap_or_default()
}

pub fn body(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    s.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// One endpoint facing a scripted peer.
pub struct Raw {
    pub now: Instant,
    pub ep: Endpoint,
    pub sent: Vec<(Duration, Transmit)>,
    pub events: Vec<Event>,
    pub start: Instant,
    pub next_timeout: Instant,
}

impl Raw {
    pub fn new() -> Self {
        Self::with_config(Config::new(addr(DENWA), 7))
    }

    pub fn with_config(cfg: Config) -> Self {
        let now = Instant::now();
        let mut r = Self {
            now,
            ep: Endpoint::new(cfg, now),
            sent: Vec::new(),
            events: Vec::new(),
            start: now,
            next_timeout: now,
        };
        r.drain();
        r
    }

    pub fn drain(&mut self) {
        loop {
            match self.ep.poll_output() {
                Output::Transmit(t) => self.sent.push((self.now - self.start, t)),
                Output::Event(e) => self.events.push(e),
                Output::Timeout(at) => {
                    self.next_timeout = at;
                    break;
                }
            }
        }
    }

    pub fn recv(&mut self, bytes: &[u8]) {
        self.recv_on(bytes, Transport::Udp);
    }

    pub fn recv_on(&mut self, bytes: &[u8], transport: Transport) {
        self.ep.handle_input(
            self.now,
            Input::Datagram {
                from: addr(TRUNK),
                to: addr(DENWA),
                transport,
                bytes,
            },
        );
        self.drain();
    }

    /// Advances virtual time by `d`, firing every timer on the way.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        let mut guard = 0;
        while self.next_timeout <= end {
            guard += 1;
            assert!(guard < 100_000, "timer loop does not make progress");
            self.now = self.now.max(self.next_timeout);
            self.ep.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
    }

    pub fn take_sent(&mut self) -> Vec<Vec<u8>> {
        self.sent.drain(..).map(|(_, t)| t.bytes).collect()
    }

    pub fn sent_lines(&self) -> Vec<String> {
        self.sent
            .iter()
            .map(|(_, t)| first_line(&t.bytes))
            .collect()
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn last_sent(&self) -> Vec<u8> {
        self.sent
            .last()
            .map(|(_, t)| t.bytes.clone())
            .unwrap_or_default()
    }
}

/// Which endpoint of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// Decides whether to drop a message: (sender, first line) → drop?
pub type DropFilter = Box<dyn FnMut(Side, &str) -> bool>;

/// Two endpoints back to back on a lossless (unless told) in-memory network.
pub struct Pair {
    pub now: Instant,
    pub a: Endpoint,
    pub b: Endpoint,
    pub a_events: Vec<Event>,
    pub b_events: Vec<Event>,
    /// (sender, first line) of every message on the wire, including dropped ones.
    pub wire: Vec<(Side, String)>,
    /// Return true to drop a message (sender, first line).
    pub drop_if: DropFilter,
    timeouts: [Instant; 2],
}

pub const A_ADDR: &str = "192.0.2.20:5060";

impl Pair {
    pub fn new() -> Self {
        let mut b_cfg = Config::new(addr(DENWA), 2);
        b_cfg.registrar = None;
        Self::with_configs(Config::new(addr(A_ADDR), 1), b_cfg)
    }

    pub fn with_configs(a: Config, b: Config) -> Self {
        let now = Instant::now();
        let mut p = Self {
            now,
            a: Endpoint::new(a, now),
            b: Endpoint::new(b, now),
            a_events: Vec::new(),
            b_events: Vec::new(),
            wire: Vec::new(),
            drop_if: Box::new(|_, _| false),
            timeouts: [now; 2],
        };
        p.drive();
        p
    }

    /// Moves messages until both sides are idle.
    pub fn drive(&mut self) {
        loop {
            let mut moved = false;
            for side in [Side::A, Side::B] {
                loop {
                    let out = match side {
                        Side::A => self.a.poll_output(),
                        Side::B => self.b.poll_output(),
                    };
                    match out {
                        Output::Transmit(t) => {
                            moved = true;
                            let line = first_line(&t.bytes);
                            self.wire.push((side, line.clone()));
                            if (self.drop_if)(side, &line) {
                                continue;
                            }
                            let (from, target) = match side {
                                Side::A => (addr(A_ADDR), &mut self.b),
                                Side::B => (addr(DENWA), &mut self.a),
                            };
                            target.handle_input(
                                self.now,
                                Input::Datagram {
                                    from,
                                    to: t.to,
                                    transport: t.transport,
                                    bytes: &t.bytes,
                                },
                            );
                        }
                        Output::Event(e) => {
                            moved = true;
                            match side {
                                Side::A => self.a_events.push(e),
                                Side::B => self.b_events.push(e),
                            }
                        }
                        Output::Timeout(at) => {
                            self.timeouts[side as usize] = at;
                            break;
                        }
                    }
                }
            }
            if !moved {
                break;
            }
        }
    }

    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        for guard in 0.. {
            assert!(guard < 100_000, "timer loop does not make progress");
            let next = self.timeouts[0].min(self.timeouts[1]);
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
            self.drive();
        }
        self.now = end;
    }

    pub fn wire_count(&self, side: Side, prefix: &str) -> usize {
        self.wire
            .iter()
            .filter(|(s, l)| *s == side && l.starts_with(prefix))
            .count()
    }
}

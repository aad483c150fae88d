//! The browser leg against real Chromium: Debian's `/usr/bin/chromium`, headless, with a
//! fake microphone playing a 700 Hz tone, opens `chromium/page.html` (served here),
//! POSTs its Opus offer to `/offer` and gets the `BrowserLeg`'s ICE-lite answer. Behind the
//! leg, a `denwa_media::Room` bridges it with a G.711 "phone" leg that says 1300 Hz.
//! The phone must hear 700 Hz (the browser's Opus, decoded by the room); the page must
//! measure 1300 Hz (the room's Opus, through str0m's SRTP) with an AnalyserNode. The
//! page's `RTCDTMFSender` presses `1#`, which the room must decode (RFC 4733 at 48 kHz).
//!
//! Needs `/usr/bin/chromium` (Debian package `chromium`) and `web/node_modules`
//! (`npm ci` in `web/`), so it is ignored in the plain `cargo test`; run it with
//! `cargo test -p denwa-webrtc --test chromium -- --ignored`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use denwa_media::rtp::{RtpHeader, parse_rtp};
use denwa_media::{Codec, LegConfig, LegId, Role, Room, TICK, Transport, g711};
use denwa_webrtc::{BrowserLeg, Event, Output};

const MIC_HZ: f64 = 700.0;
const PHONE_HZ: f64 = 1300.0;
const PAGE: &str = include_str!("chromium/page.html");

/// Share of the signal's power at `hz` (Goertzel): about 0.5 for a pure tone.
fn goertzel_share(samples: &[i16], rate: f64, hz: f64) -> f64 {
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / rate).cos();
    let (mut s1, mut s2, mut energy) = (0.0f64, 0.0f64, 0.0f64);
    for &x in samples {
        let x = f64::from(x);
        energy += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    if energy == 0.0 {
        return 0.0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (energy * samples.len() as f64)
}

/// A 48 kHz mono 16-bit WAV of a tone, for Chromium's fake microphone (it loops it).
fn tone_wav(hz: f64, seconds: u32) -> Vec<u8> {
    let rate = 48_000u32;
    let n = rate * seconds;
    let mut out = Vec::with_capacity(44 + 2 * n as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + 2 * n).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(2 * n).to_le_bytes());
    for i in 0..n {
        let s = 10_000.0 * (2.0 * std::f64::consts::PI * hz * f64::from(i) / f64::from(rate)).sin();
        out.extend_from_slice(&(s as i16).to_le_bytes());
    }
    out
}

/// An offer from the page and where to send the answer (or the error text).
type OfferRequest = (String, mpsc::Sender<Result<String, String>>);

/// A minimal HTTP/1.1 server: `GET /` is the page, `POST /offer` an SDP exchange.
fn serve_http(listener: TcpListener, offers: mpsc::Sender<OfferRequest>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let offers = offers.clone();
        std::thread::spawn(move || {
            let _ = handle_http(stream, &offers);
        });
    }
}

fn handle_http(stream: TcpStream, offers: &mpsc::Sender<OfferRequest>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let (status, content_type, body) = if request_line.starts_with("GET / ") {
        ("200 OK", "text/html", PAGE.to_string())
    } else if request_line.starts_with("GET /favicon.ico ") {
        ("204 No Content", "text/plain", String::new())
    } else if request_line.starts_with("POST /offer ") {
        let (tx, rx) = mpsc::channel();
        let offer = String::from_utf8_lossy(&body).into_owned();
        let _ = offers.send((offer, tx));
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(answer)) => ("200 OK", "application/sdp", answer),
            Ok(Err(e)) => ("400 Bad Request", "text/plain", e),
            Err(_) => (
                "503 Service Unavailable",
                "text/plain",
                String::from("no media loop"),
            ),
        }
    } else {
        ("404 Not Found", "text/plain", String::from("not found"))
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// The server's media side of one call: the browser leg, the room and the phone leg.
struct Call {
    leg: BrowserLeg,
    room: Room,
    browser: LegId,
    phone: LegId,
    phone_seq: u16,
    phone_ts: u32,
    phone_phase: u64,
    /// What the room sent the phone, decoded (8 kHz).
    phone_heard: Vec<i16>,
    media_in: usize,
    connected_after: Option<Duration>,
    closed: bool,
    /// DTMF digits the room decoded from Chromium's RFC 4733 events.
    digits: String,
    /// When the leg wants `handle_timeout`.
    wake: Instant,
    next_room_tick: Instant,
}

impl Call {
    fn drain(&mut self, now: Instant, offered: Instant, socket: &UdpSocket) {
        loop {
            match self.leg.poll_output().expect("leg output") {
                Output::Timeout(at) => {
                    self.wake = at;
                    return;
                }
                Output::Transmit(t) => {
                    let _ = socket.send_to(&t.contents, t.destination);
                }
                Output::Event(Event::Connected) => {
                    self.connected_after = Some(now - offered);
                }
                Output::Event(Event::Media(m)) => {
                    self.media_in += 1;
                    // The first packets can predate the room's view of the leg; errors are counted.
                    let _ = self
                        .room
                        .handle_media(now, self.browser, m.header, &m.payload);
                }
                Output::Event(Event::Closed) => self.closed = true,
                Output::Event(e) => eprintln!("browser leg: {e:?}"),
            }
        }
    }

    fn tick(&mut self, now: Instant, offered: Instant, socket: &UdpSocket) {
        let mut pcm = [0i16; 160];
        for s in &mut pcm {
            let t = self.phone_phase as f64 / 8000.0;
            self.phone_phase += 1;
            *s = (8000.0 * (2.0 * std::f64::consts::PI * PHONE_HZ * t).sin()) as i16;
        }
        let mut payload = [0u8; 160];
        g711::encode_ulaw(&pcm, &mut payload);
        let header = RtpHeader {
            payload_type: 0,
            marker: false,
            sequence: self.phone_seq,
            timestamp: self.phone_ts,
            ssrc: 0x5eed,
        };
        self.phone_seq = self.phone_seq.wrapping_add(1);
        self.phone_ts = self.phone_ts.wrapping_add(160);
        self.room
            .handle_media(now, self.phone, header, &payload)
            .expect("phone RTP");
        self.room.tick(now);
        let mut buf = [0u8; 1500];
        while let Some(t) = self.room.poll_transmit(&mut buf) {
            if t.leg == self.browser {
                self.leg
                    .send_rtp(now, &buf[..t.len])
                    .expect("room RTP to the leg");
            } else {
                let (_, payload) = parse_rtp(&buf[..t.len]).expect("room RTP");
                let mut out = [0i16; 160];
                let n = g711::decode_ulaw(payload, &mut out);
                self.phone_heard.extend_from_slice(&out[..n]);
            }
        }
        while let Some(e) = self.room.poll_event() {
            if let denwa_media::Event::Dtmf { digit, .. } = e {
                self.digits.push(digit.as_char());
            }
        }
        self.drain(now, offered, socket);
    }

    /// Waits up to `limit` for one datagram and feeds it to the leg.
    fn receive(
        &mut self,
        socket: &UdpSocket,
        local: SocketAddr,
        limit: Duration,
        offered: Instant,
    ) {
        let mut buf = [0u8; 2048];
        let now = Instant::now();
        let wait = self
            .wake
            .min(self.next_room_tick)
            .saturating_duration_since(now);
        socket
            .set_read_timeout(Some(wait.clamp(Duration::from_millis(1), limit)))
            .expect("read timeout");
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let now = Instant::now();
            if let Err(e) = self.leg.handle_input(now, from, local, &buf[..n]) {
                eprintln!("datagram from {from} refused: {e}");
            }
            self.drain(now, offered, socket);
        }
        let now = Instant::now();
        if self.wake <= now {
            self.leg.handle_timeout(now).expect("leg timeout");
            self.drain(now, offered, socket);
        }
    }
}

#[test]
#[ignore = "needs /usr/bin/chromium and web/node_modules (npm ci in web/); run with --ignored"]
fn chromium_speaks_opus_to_the_room_and_hears_the_room() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("denwa-webrtc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let wav = dir.join("mic_700hz.wav");
    std::fs::write(&wav, tone_wav(MIC_HZ, 5)).expect("wav");

    let socket = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let local: SocketAddr = socket.local_addr().expect("udp addr");
    let http = TcpListener::bind("127.0.0.1:0").expect("http");
    let base = format!("http://{}", http.local_addr().expect("http addr"));
    let (offer_tx, offer_rx) = mpsc::channel::<OfferRequest>();
    std::thread::spawn(move || serve_http(http, offer_tx));

    let started = Instant::now();
    let mut node = Command::new("node")
        .arg(root.join("tests/chromium/peer.mjs"))
        .arg(&base)
        .arg(&wav)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node (Debian package nodejs) runs");
    let mut stdout = node.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });

    let mut call: Option<Call> = None;
    let mut offered = started;
    let deadline = started + Duration::from_secs(90);
    let status = loop {
        let now = Instant::now();
        assert!(now < deadline, "Chromium did not finish within 90 s");
        if let Some(status) = node.try_wait().expect("node status") {
            break status;
        }
        if let Ok((offer, answer_tx)) = offer_rx.try_recv() {
            offered = now;
            match BrowserLeg::accept_offer(now, &offer, local) {
                Ok((leg, answer)) => {
                    let pts = leg.payload_types();
                    eprintln!("negotiated {pts:?}");
                    let mut room = Room::new(now);
                    let mut config = LegConfig::new(Role::Staff, Codec::Opus);
                    config.transport = Transport::External;
                    config.payload_type = pts.opus;
                    config.telephone_event = pts.telephone_event;
                    let browser = room.add_leg(now, config).expect("browser leg");
                    let mut config = LegConfig::new(Role::Customer, Codec::Pcmu);
                    config.transport = Transport::External;
                    config.symmetric_rtp = false;
                    let phone = room.add_leg(now, config).expect("phone leg");
                    let mut c = Call {
                        leg,
                        room,
                        browser,
                        phone,
                        phone_seq: 1,
                        phone_ts: 0,
                        phone_phase: 0,
                        phone_heard: Vec::new(),
                        media_in: 0,
                        connected_after: None,
                        closed: false,
                        digits: String::new(),
                        wake: now,
                        next_room_tick: now,
                    };
                    c.drain(now, offered, &socket);
                    call = Some(c);
                    let _ = answer_tx.send(Ok(answer));
                }
                Err(e) => {
                    let _ = answer_tx.send(Err(e.to_string()));
                    panic!("Chromium's offer was refused: {e}\n{offer}");
                }
            }
        }
        let Some(c) = call.as_mut() else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        // Wait for a datagram until the leg's timer or the room's next tick.
        c.receive(&socket, local, Duration::from_millis(20), offered);
        let now = Instant::now();
        // The room ticks every 20 ms; missed ticks are caught up one by one.
        while c.next_room_tick <= now {
            c.tick(now, offered, &socket);
            c.next_room_tick += TICK;
        }
    };
    let output = reader.join().expect("stdout reader");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        status.success(),
        "node peer failed ({status}); stdout: {output}"
    );
    let result: serde_json::Value = serde_json::from_str(output.trim()).expect("page result JSON");
    eprintln!("page: {result}");
    let mut call = call.expect("the page posted an offer");
    // The page closed its peer connection: DTLS close_notify reaches the leg.
    let closing = Instant::now();
    while !call.closed && closing.elapsed() < Duration::from_secs(2) {
        call.receive(&socket, local, Duration::from_millis(50), offered);
    }
    assert!(call.closed, "the leg never saw Chromium close");
    let stats = call.room.leg_stats(call.browser).expect("leg stats");
    eprintln!("room, browser leg: {stats:?}");
    assert_eq!(stats.rejected, 0, "the room refused packets from Chromium");
    // The page's dialpad reached the room as RFC 4733 digits.
    assert_eq!(call.digits, "1#", "page DTMF: {}", result["dtmf"]);
    eprintln!(
        "server: connected {:?} after the offer, {} RTP packets from Chromium, {} samples to the phone",
        call.connected_after,
        call.media_in,
        call.phone_heard.len()
    );
    assert!(result.get("error").is_none(), "page error: {result}");
    assert!(call.connected_after.is_some(), "ICE + DTLS never completed");
    assert!(
        call.media_in > 100,
        "only {} RTP packets from Chromium",
        call.media_in
    );

    // The phone hears Chromium's 700 Hz microphone (Opus → room → G.711): the last 2 s.
    let heard = &call.phone_heard[call.phone_heard.len().saturating_sub(16_000)..];
    let mic = goertzel_share(heard, 8000.0, MIC_HZ);
    let own = goertzel_share(heard, 8000.0, PHONE_HZ);
    eprintln!("phone hears 700 Hz share {mic:.3}, its own 1300 Hz {own:.3}");
    assert!(
        mic > 0.2 && own < 0.02,
        "phone: 700 Hz {mic:.3}, 1300 Hz {own:.3}"
    );

    // Chromium hears the phone's 1300 Hz (room → Opus → SRTP), not its own 700 Hz.
    let spectrum = &result["spectrum"];
    let peak = spectrum["peakHz"].as_f64().expect("peakHz");
    let phone = spectrum["shareOf"]["1300"].as_f64().expect("share 1300");
    let echo = spectrum["shareOf"]["700"].as_f64().expect("share 700");
    assert!(
        (peak - PHONE_HZ).abs() < 30.0,
        "Chromium's loudest tone is {peak} Hz"
    );
    assert!(
        phone > 0.5 && echo < 0.05,
        "Chromium: 1300 Hz {phone:.3}, 700 Hz {echo:.3}"
    );
    let received = result["stats"]["inbound"]["packetsReceived"]
        .as_u64()
        .unwrap_or(0);
    assert!(received > 100, "Chromium received {received} RTP packets");
}

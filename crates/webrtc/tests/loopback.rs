//! A browser (a plain str0m peer that offers one Opus audio m-line, as Chromium
//! does) talks to a `BrowserLeg` over an in-memory network on a virtual clock.
//! Behind the leg sits a real `denwa_media::Room` with a second, G.711 leg (the
//! customer). The browser says a 440 Hz tone, the customer a 1 kHz tone; each side
//! must hear the other's tone and not its own.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use denwa_media::codec::{AudioDecoder, AudioEncoder};
use denwa_media::rtp::{RtpHeader, write_rtp};
use denwa_media::{Codec, FRAME_SAMPLES, LegConfig, LegId, Role, Room, Transport, g711};
use denwa_webrtc::{BrowserLeg, Error, Event, Output};
use str0m::change::SdpAnswer;
use str0m::format::Codec as StrCodec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Input, Rtc};

const BROWSER: &str = "10.0.0.2:50000";
const SERVER: &str = "10.0.0.1:40000";
const BROWSER_HZ: f64 = 440.0;
const CUSTOMER_HZ: f64 = 1000.0;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

/// Relative power of `hz` in `samples` (Goertzel), normalised by the signal's energy.
fn goertzel_share(samples: &[i16], rate: f64, hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut energy = 0.0f64;
    for &x in samples {
        let x = f64::from(x);
        energy += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    if energy == 0.0 {
        return 0.0;
    }
    // A pure tone of any amplitude gives about 0.5 here.
    power / (energy * samples.len() as f64)
}

fn tone(hz: f64, rate: f64, n: usize, start: &mut u64, amplitude: f64) -> Vec<i16> {
    (0..n)
        .map(|_| {
            let t = *start as f64 / rate;
            *start += 1;
            (amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect()
}

struct Browser {
    rtc: Rtc,
    mid: Mid,
    encoder: AudioEncoder,
    decoder: AudioDecoder,
    heard: Vec<i16>,
    frames_received: usize,
    phase: u64,
    rtp_time: u64,
    connected: bool,
    closed: bool,
    timeout: Instant,
}

fn browser_offer(now: Instant) -> (Browser, String, str0m::change::SdpPendingOffer) {
    let mut rtc = Rtc::builder().build(now);
    rtc.add_local_candidate(Candidate::host(addr(BROWSER), "udp").expect("candidate"))
        .expect("candidate accepted");
    let mut change = rtc.sdp_api();
    let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = change.apply().expect("offer");
    let browser = Browser {
        rtc,
        mid,
        encoder: AudioEncoder::new(Codec::Opus),
        decoder: AudioDecoder::new(Codec::Opus),
        heard: Vec::new(),
        frames_received: 0,
        phase: 0,
        rtp_time: 0,
        connected: false,
        closed: false,
        timeout: now,
    };
    (browser, offer.to_sdp_string(), pending)
}

/// Datagrams in flight: (deliver at, from, to, bytes).
type Wire = VecDeque<(Instant, SocketAddr, SocketAddr, Vec<u8>)>;
const LATENCY: Duration = Duration::from_millis(5);

impl Browser {
    fn drain(&mut self, now: Instant, wire: &mut Wire) {
        loop {
            match self.rtc.poll_output().expect("browser poll") {
                str0m::Output::Timeout(t) => {
                    self.timeout = t;
                    return;
                }
                str0m::Output::Transmit(t) => {
                    wire.push_back((now + LATENCY, t.source, t.destination, t.contents.to_vec()));
                }
                str0m::Output::Event(str0m::Event::Connected) => self.connected = true,
                str0m::Output::Event(str0m::Event::Closed) => self.closed = true,
                str0m::Output::Event(str0m::Event::MediaData(d)) => {
                    let mut frame = [0i16; FRAME_SAMPLES];
                    assert!(
                        self.decoder.decode(&d.data, &mut frame),
                        "browser decodes the server's Opus"
                    );
                    self.heard.extend_from_slice(&frame);
                    self.frames_received += 1;
                }
                str0m::Output::Event(_) => {}
            }
        }
    }

    /// One 20 ms frame of the browser's microphone: 440 Hz, Opus, 48 kHz RTP clock.
    fn speak(&mut self, now: Instant) {
        let pcm = tone(BROWSER_HZ, 16_000.0, FRAME_SAMPLES, &mut self.phase, 8000.0);
        let mut frame = [0i16; FRAME_SAMPLES];
        frame.copy_from_slice(&pcm);
        let mut out = [0u8; 400];
        let len = self.encoder.encode(&frame, &mut out);
        assert!(len > 0, "Opus encodes");
        let pt = self
            .rtc
            .codec_config()
            .params()
            .iter()
            .find(|p| p.spec().codec == StrCodec::Opus)
            .map(|p| p.pt())
            .expect("opus configured");
        let time = MediaTime::new(self.rtp_time, Frequency::FORTY_EIGHT_KHZ);
        self.rtp_time += 960;
        self.rtc
            .writer(self.mid)
            .expect("audio writer")
            .write(pt, now, time, out[..len].to_vec())
            .expect("write audio");
    }
}

struct Server {
    leg: BrowserLeg,
    room: Room,
    browser_leg: LegId,
    customer_leg: LegId,
    customer_seq: u16,
    customer_ts: u32,
    customer_phase: u64,
    /// What the room sent to the customer, decoded (8 kHz).
    customer_heard: Vec<i16>,
    media_in: usize,
    connected: bool,
    /// Events other than `Media`, with their time.
    events: Vec<(Instant, Event)>,
    timeout: Instant,
}

impl Server {
    fn drain(&mut self, now: Instant, wire: &mut Wire) {
        loop {
            match self.leg.poll_output().expect("leg poll") {
                Output::Timeout(t) => {
                    self.timeout = t;
                    return;
                }
                Output::Transmit(t) => {
                    assert_eq!(t.source, addr(SERVER));
                    wire.push_back((now + LATENCY, t.source, t.destination, t.contents));
                }
                Output::Event(Event::Connected) => {
                    self.connected = true;
                    self.events.push((now, Event::Connected));
                }
                Output::Event(Event::Media(m)) => {
                    self.media_in += 1;
                    self.room
                        .handle_media(now, self.browser_leg, m.header, &m.payload)
                        .expect("room takes the browser's RTP");
                }
                Output::Event(e) => self.events.push((now, e)),
            }
        }
    }

    /// The 20 ms tick: the customer speaks (PCMU), the room mixes, the room's
    /// packets go to the browser leg (Opus) and to the customer (decoded here).
    fn tick(&mut self, now: Instant, wire: &mut Wire) {
        let pcm = tone(CUSTOMER_HZ, 8000.0, 160, &mut self.customer_phase, 8000.0);
        let mut payload = [0u8; 160];
        g711::encode_ulaw(&pcm, &mut payload);
        let header = RtpHeader {
            payload_type: 0,
            marker: false,
            sequence: self.customer_seq,
            timestamp: self.customer_ts,
            ssrc: 0x1234,
        };
        self.customer_seq = self.customer_seq.wrapping_add(1);
        self.customer_ts = self.customer_ts.wrapping_add(160);
        self.room
            .handle_media(now, self.customer_leg, header, &payload)
            .expect("customer RTP");
        self.room.tick(now);
        let mut buf = [0u8; 1500];
        while let Some(t) = self.room.poll_transmit(&mut buf) {
            assert_eq!(t.destination, None, "external legs have no destination");
            if t.leg == self.browser_leg {
                self.leg
                    .send_rtp(now, &buf[..t.len])
                    .expect("leg takes the room's RTP");
            } else {
                let (_, payload) = denwa_media::rtp::parse_rtp(&buf[..t.len]).expect("room RTP");
                let mut out = [0i16; 160];
                let n = g711::decode_ulaw(payload, &mut out);
                self.customer_heard.extend_from_slice(&out[..n]);
            }
        }
        while self.room.poll_event().is_some() {}
        self.drain(now, wire);
    }
}

fn deliver(now: Instant, wire: &mut Wire, browser: &mut Browser, server: &mut Server) {
    while wire.front().is_some_and(|(at, ..)| *at <= now) {
        let (_, from, to, bytes) = wire.pop_front().expect("front exists");
        if to == addr(SERVER) {
            server
                .leg
                .handle_input(now, from, to, &bytes)
                .expect("server input");
            server.drain(now, wire);
        } else {
            let receive = Receive::new(Protocol::Udp, from, to, &bytes).expect("datagram");
            browser
                .rtc
                .handle_input(Input::Receive(now, receive))
                .expect("browser input");
            browser.drain(now, wire);
        }
    }
}

/// A browser and a server call on a virtual clock, 1 ms per step.
struct Call {
    browser: Browser,
    server: Server,
    wire: Wire,
    start: Instant,
    now: Instant,
    next_tick: Instant,
    connected_at: Option<Duration>,
    /// The network drops everything (the browser's machine vanished).
    cut: bool,
}

impl Call {
    /// The browser offers, the leg answers, the room gets the leg and a G.711 customer.
    fn new() -> (Call, String) {
        let start = Instant::now();
        let (mut browser, offer, pending) = browser_offer(start);
        assert!(
            offer.contains("opus/48000/2"),
            "a normal Opus offer:\n{offer}"
        );
        let timer = Instant::now();
        let (leg, answer) = BrowserLeg::accept_offer(start, &offer, addr(SERVER)).expect("answer");
        eprintln!(
            "accept_offer took {:?} (DTLS certificate included)",
            timer.elapsed()
        );
        let pts = leg.payload_types();
        browser
            .rtc
            .sdp_api()
            .accept_answer(
                pending,
                SdpAnswer::from_sdp_string(&answer).expect("answer parses"),
            )
            .expect("browser accepts the answer");

        let mut room = Room::new(start);
        let mut config = LegConfig::new(Role::Staff, Codec::Opus);
        config.transport = Transport::External;
        config.payload_type = pts.opus;
        config.telephone_event = pts.telephone_event;
        let browser_leg = room.add_leg(start, config).expect("browser leg");
        let mut config = LegConfig::new(Role::Customer, Codec::Pcmu);
        config.transport = Transport::External;
        config.symmetric_rtp = false;
        let customer_leg = room.add_leg(start, config).expect("customer leg");

        let server = Server {
            leg,
            room,
            browser_leg,
            customer_leg,
            customer_seq: 65_500, // wraps during the test
            customer_ts: 0,
            customer_phase: 0,
            customer_heard: Vec::new(),
            media_in: 0,
            connected: false,
            events: Vec::new(),
            timeout: start,
        };
        let mut call = Call {
            browser,
            server,
            wire: Wire::new(),
            start,
            now: start,
            next_tick: start,
            connected_at: None,
            cut: false,
        };
        call.browser.drain(start, &mut call.wire);
        call.server.drain(start, &mut call.wire);
        (call, answer)
    }

    fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            let now = self.now;
            if self.cut {
                self.wire.clear();
            }
            deliver(now, &mut self.wire, &mut self.browser, &mut self.server);
            if self.browser.timeout <= now {
                self.browser
                    .rtc
                    .handle_input(Input::Timeout(now))
                    .expect("browser timeout");
                self.browser.drain(now, &mut self.wire);
            }
            if self.server.timeout <= now {
                self.server.leg.handle_timeout(now).expect("leg timeout");
                self.server.drain(now, &mut self.wire);
            }
            if now >= self.next_tick {
                if self.browser.connected && !self.browser.closed {
                    self.browser.speak(now);
                    self.browser.drain(now, &mut self.wire);
                }
                self.server.tick(now, &mut self.wire);
                self.next_tick += Duration::from_millis(20);
            }
            if self.connected_at.is_none() && self.browser.connected && self.server.connected {
                self.connected_at = Some(now - self.start);
            }
            self.now += Duration::from_millis(1);
        }
    }
}

#[test]
fn browser_and_customer_hear_each_other_through_the_room() {
    let (mut call, answer) = Call::new();
    assert!(answer.contains("a=ice-lite"), "ICE-lite answer:\n{answer}");
    assert!(
        answer.contains("a=setup:passive"),
        "the browser is the DTLS client:\n{answer}"
    );
    assert!(
        answer.contains("10.0.0.1 40000 typ host"),
        "host candidate:\n{answer}"
    );
    let pts = call.server.leg.payload_types();
    call.run_for(Duration::from_secs(4));
    let Call {
        browser,
        mut server,
        now,
        connected_at,
        ..
    } = call;
    let browser_leg = server.browser_leg;
    let connected_at = connected_at.expect("ICE + DTLS connected");
    eprintln!(
        "connected after {connected_at:?}; server got {} packets, browser {} frames",
        server.media_in, browser.frames_received
    );
    assert!(
        connected_at < Duration::from_millis(500),
        "connected after {connected_at:?}"
    );
    assert!(server.leg.is_connected());

    // Both directions carried most of the ~3.9 s of 20 ms frames.
    assert!(
        server.media_in > 150,
        "server got {} packets from the browser",
        server.media_in
    );
    assert!(
        browser.frames_received > 150,
        "browser got {} frames",
        browser.frames_received
    );

    // The customer hears the browser's 440 Hz (after Opus, the room's jitter buffer
    // and G.711), not its own 1 kHz; the last second, after the buffers filled.
    let tail = &server.customer_heard[server.customer_heard.len() - 8000..];
    let hears_browser = goertzel_share(tail, 8000.0, BROWSER_HZ);
    let hears_itself = goertzel_share(tail, 8000.0, CUSTOMER_HZ);
    eprintln!("customer hears 440 Hz {hears_browser:.3}, 1 kHz {hears_itself:.3}");
    assert!(
        hears_browser > 0.3 && hears_itself < 0.01,
        "customer: 440 Hz share {hears_browser:.3}, 1 kHz share {hears_itself:.3}"
    );
    // The browser hears the customer's 1 kHz, not its own 440 Hz.
    let tail = &browser.heard[browser.heard.len() - 16_000..];
    let hears_customer = goertzel_share(tail, 16_000.0, CUSTOMER_HZ);
    let hears_itself = goertzel_share(tail, 16_000.0, BROWSER_HZ);
    eprintln!("browser hears 1 kHz {hears_customer:.3}, 440 Hz {hears_itself:.3}");
    assert!(
        hears_customer > 0.3 && hears_itself < 0.01,
        "browser: 1 kHz share {hears_customer:.3}, 440 Hz share {hears_itself:.3}"
    );
    let stats = server.room.leg_stats(browser_leg).expect("stats");
    assert_eq!(
        stats.rejected, 0,
        "the room rejected none of the leg's packets"
    );

    // Garbage on the leg's socket is an error, never a panic, and changes nothing.
    let garbage = [0xffu8; 37];
    let err = server
        .leg
        .handle_input(now, addr(BROWSER), addr(SERVER), &garbage)
        .expect_err("garbage is refused");
    assert!(matches!(err, Error::Datagram(_)), "{err:?}");
    assert!(
        server
            .leg
            .handle_input(now, addr(BROWSER), addr(SERVER), &[])
            .is_err()
    );
    // An RTP-looking datagram that fails SRTP authentication is dropped by str0m.
    let mut fake_rtp = [0u8; 60];
    fake_rtp[0] = 0x80;
    fake_rtp[1] = pts.opus;
    let _ = server
        .leg
        .handle_input(now, addr(BROWSER), addr(SERVER), &fake_rtp);
    assert!(server.leg.is_connected());
    // The room's packet with a payload type nobody negotiated is refused.
    let mut packet = [0u8; 40];
    let header = RtpHeader {
        payload_type: 99,
        marker: false,
        sequence: 1,
        timestamp: 0,
        ssrc: 1,
    };
    let len = write_rtp(&mut packet, &header, &[1, 2, 3]).expect("rtp");
    assert!(matches!(
        server.leg.send_rtp(now, &packet[..len]),
        Err(Error::UnexpectedPayloadType(99))
    ));
    assert!(matches!(
        server.leg.send_rtp(now, &[0x80, 1]),
        Err(Error::Rtp(_))
    ));
}

#[test]
fn bad_offers_are_errors() {
    let now = Instant::now();
    let server = addr(SERVER);
    for bad in [
        "",
        "hello",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n",
        "\u{0}\u{1}\u{ff}",
    ] {
        assert!(
            matches!(
                BrowserLeg::accept_offer(now, bad, server),
                Err(Error::Sdp(_) | Error::Rtc(_))
            ),
            "{bad:?}"
        );
    }
    // A valid offer with only a data channel: no audio to answer.
    let mut rtc = Rtc::builder().build(now);
    let mut change = rtc.sdp_api();
    change.add_channel("chat".into());
    let (offer, _) = change.apply().expect("offer");
    assert!(matches!(
        BrowserLeg::accept_offer(now, &offer.to_sdp_string(), server),
        Err(Error::NoOpusAudio)
    ));
    // Audio without Opus (G.722 only): nothing we can speak.
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_g722(true, false)
        .build(now);
    let mut change = rtc.sdp_api();
    change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, _) = change.apply().expect("offer");
    let r = BrowserLeg::accept_offer(now, &offer.to_sdp_string(), server);
    assert!(
        matches!(r, Err(Error::NoOpusAudio | Error::Rtc(_))),
        "{r:?}"
    );
    // A truncated real offer.
    let (_, offer, _) = browser_offer(now);
    for cut in [10, offer.len() / 3, offer.len() / 2] {
        let r = BrowserLeg::accept_offer(now, &offer[..cut], server);
        assert!(r.is_err(), "cut at {cut}");
    }
    // An unusable local address.
    assert!(matches!(
        BrowserLeg::accept_offer(now, &offer, addr("0.0.0.0:4000")),
        Err(Error::BadCandidate { .. })
    ));
}

#[test]
fn a_browser_that_vanishes_is_disconnected_and_comes_back() {
    let (mut call, _) = Call::new();
    call.run_for(Duration::from_secs(1));
    assert!(call.server.leg.is_connected());
    // Cut for 17 s: long enough for the leg to give up on consent (RFC 7675), short
    // enough that the str0m browser still sends consent checks (it stops after ~22 s;
    // Chromium would restart ICE).
    call.cut = true;
    let cut_at = call.now;
    call.run_for(Duration::from_secs(17));
    let (at, event) = call.server.events.get(1).expect("an event after the cut");
    eprintln!("{event:?} {:?} after the cut", *at - cut_at);
    assert_eq!(*event, Event::Disconnected);
    assert!(!call.server.leg.is_connected());
    // The room keeps ticking; its packets are dropped, not errors.
    let mut packet = [0u8; 40];
    let header = RtpHeader {
        payload_type: call.server.leg.payload_types().opus,
        marker: false,
        sequence: 1,
        timestamp: 0,
        ssrc: 1,
    };
    let len = write_rtp(&mut packet, &header, &[1, 2, 3]).expect("rtp");
    assert!(
        !call
            .server
            .leg
            .send_rtp(call.now, &packet[..len])
            .expect("dropped")
    );

    // The network comes back: the browser's checks reach the leg, media flows again.
    call.cut = false;
    let back_at = call.now;
    let heard = call.browser.frames_received;
    let got = call.server.media_in;
    call.run_for(Duration::from_secs(5));
    let (at, event) = call
        .server
        .events
        .get(2)
        .expect("an event after the network is back");
    eprintln!("{event:?} {:?} after the network is back", *at - back_at);
    assert_eq!(*event, Event::Connected);
    assert!(call.server.leg.is_connected());
    assert!(
        call.server.media_in > got + 100,
        "the browser's audio flows again"
    );
    assert!(
        call.browser.frames_received > heard + 100,
        "the room's audio flows again"
    );
}

#[test]
fn closing_the_leg_closes_the_browser() {
    let (mut call, _) = Call::new();
    call.run_for(Duration::from_secs(1));
    assert!(call.server.leg.is_connected() && !call.browser.closed);
    call.server.leg.close().expect("close");
    assert!(!call.server.leg.is_connected());
    let now = call.now;
    call.server.drain(now, &mut call.wire);
    call.run_for(Duration::from_millis(200));
    assert!(call.browser.closed, "the browser got DTLS close_notify");
    assert!(!call.server.leg.is_alive());
}

/// xorshift64*: deterministic noise without another dependency.
fn noise(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[test]
fn garbage_datagrams_on_a_live_call_are_refused_and_the_call_goes_on() {
    let (mut call, _) = Call::new();
    call.run_for(Duration::from_secs(1));
    assert!(call.server.leg.is_connected());
    let browser = addr(BROWSER);
    let server = addr(SERVER);
    let stranger = addr("10.9.9.9:1234");
    // The leg owns the browser's address; a stranger's RTP is not its.
    let mut rtp_like = [0u8; 60];
    rtp_like[0] = 0x80;
    assert!(
        call.server
            .leg
            .accepts(call.now, browser, server, &rtp_like)
    );
    assert!(
        !call
            .server
            .leg
            .accepts(call.now, stranger, server, &rtp_like)
    );
    assert!(
        !call
            .server
            .leg
            .accepts(call.now, browser, server, &[0xff; 20])
    );

    // 20 000 random datagrams, first bytes spread over STUN (0–3), DTLS (20–63) and
    // RTP/RTCP (128–191) so each parser sees them (RFC 7983 demultiplexing), from the
    // browser's own address and from a stranger.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut refused = 0;
    for i in 0..20_000 {
        let len = (noise(&mut state) % 300) as usize;
        let mut datagram: Vec<u8> = (0..len).map(|_| noise(&mut state) as u8).collect();
        if let Some(first) = datagram.first_mut() {
            *first = match i % 4 {
                0 => *first % 4,
                1 => 20 + *first % 44,
                2 => 128 + *first % 64,
                _ => *first,
            };
        }
        let from = if i % 2 == 0 { browser } else { stranger };
        let now = call.now;
        if call
            .server
            .leg
            .handle_input(now, from, server, &datagram)
            .is_err()
        {
            refused += 1;
        }
        call.server.drain(now, &mut call.wire);
    }
    eprintln!("{refused} of 20000 garbage datagrams refused with an error");
    assert!(refused > 1000, "only {refused} garbage datagrams refused");

    // The call is unharmed: both sides still hear each other.
    let heard = call.browser.frames_received;
    let got = call.server.media_in;
    call.run_for(Duration::from_secs(2));
    assert!(call.server.leg.is_connected());
    assert!(
        call.server.media_in > got + 80,
        "browser audio still arrives"
    );
    assert!(
        call.browser.frames_received > heard + 80,
        "room audio still leaves"
    );
}

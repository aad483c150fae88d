//! CPU cost of the endpoint alone under a steady call load, on a virtual clock
//! (no sockets, no media): calls arrive at `RATE` per second for `SECONDS`,
//! each INVITE → 100/180/200 → ACK → BYE → 200, as SIPp's `uac_load.xml` does
//! against the echo number. Finished UDP transactions linger 32 s as on the
//! wire, so the endpoint holds ~64·RATE of them in steady state.
//!
//! `cargo run --release -p denwa-sip --example call_load -- [RATE] [SECONDS]`
//! prints the wall time per call and per message.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use denwa_sip::rate_limit::RateLimitConfig;
use denwa_sip::sdp::{AudioConfig, Codec, Direction};
use denwa_sip::{Config, Endpoint, Event, Input, Output, Transport};

const OFFER: &str = "v=0\r\no=sipp 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\na=sendrecv\r\n";

fn request(method: &str, n: u64, branch: &str, to_tag: &str, cseq: u32) -> Vec<u8> {
    let (ct, body) = if method == "INVITE" {
        ("Content-Type: application/sdp\r\n", OFFER)
    } else {
        ("", "")
    };
    let to_tag = if to_tag.is_empty() {
        String::new()
    } else {
        format!(";tag={to_tag}")
    };
    format!(
        "{method} sip:9196@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{branch}{n}\r\n\
         From: <sip:5551234@127.0.0.1:5070>;tag={n}SIPpTag00\r\nTo: <sip:9196@127.0.0.1:5060>{to_tag}\r\n\
         Call-ID: {n}-load@127.0.0.1\r\nCSeq: {cseq} {method}\r\nContact: <sip:5551234@127.0.0.1:5070>\r\n\
         Max-Forwards: 70\r\nUser-Agent: sipp-load\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn to_tag(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let to = text.lines().find(|l| l.starts_with("To:"))?;
    Some(to.split(";tag=").nth(1)?.trim().to_owned())
}

/// Drains the endpoint as the server's edge does; answers new calls with 180 + 200.
fn drain(ep: &mut Endpoint, now: Instant, audio: &AudioConfig, sent: &mut Vec<Vec<u8>>) -> Instant {
    loop {
        match ep.poll_output() {
            Output::Transmit(t) => sent.push(t.bytes),
            Output::Event(Event::IncomingCall { call, .. }) => {
                let _ = ep.ringing(now, call, None);
                let _ = ep.answer(now, call, audio.clone());
            }
            Output::Event(_) => {}
            Output::Timeout(at) => return at,
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rate: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(800);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(60);
    let local: SocketAddr = "127.0.0.1:5060".parse().expect("literal");
    let peer: SocketAddr = "127.0.0.1:5070".parse().expect("literal");
    let mut cfg = Config::new(local, 1);
    cfg.invite_rate = RateLimitConfig {
        burst: u32::MAX,
        per_second: 1e9,
        ..RateLimitConfig::default()
    };
    cfg.max_server_transactions = usize::MAX;
    let audio = AudioConfig {
        rtp_address: "127.0.0.1:20000".parse().expect("literal"),
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        telephone_event: true,
        ptime: Some(20),
        direction: Direction::SendRecv,
    };
    let t0 = Instant::now();
    let mut ep = Endpoint::new(cfg, t0);
    let mut sent = Vec::new();
    let mut next_timer = drain(&mut ep, t0, &audio, &mut sent);
    let gap = Duration::from_secs(1) / rate as u32;
    let calls = rate * seconds;
    let mut messages = 0u64;
    let started = Instant::now();
    for n in 0..calls {
        let now = t0 + gap * n as u32;
        while next_timer <= now {
            ep.handle_timeout(next_timer);
            next_timer = drain(&mut ep, next_timer, &audio, &mut sent);
        }
        let feed = |ep: &mut Endpoint, bytes: &[u8]| {
            ep.handle_input(
                now,
                Input::Datagram {
                    from: peer,
                    to: local,
                    transport: Transport::Udp,
                    bytes,
                },
            );
        };
        sent.clear();
        // Each drain ends with the endpoint's next deadline; only the last one counts.
        feed(&mut ep, &request("INVITE", n, "inv", "", 1));
        drain(&mut ep, now, &audio, &mut sent);
        let tag = sent
            .iter()
            .rev()
            .find_map(|b| to_tag(b))
            .unwrap_or_default();
        feed(&mut ep, &request("ACK", n, "ack", &tag, 1));
        drain(&mut ep, now, &audio, &mut sent);
        feed(&mut ep, &request("BYE", n, "bye", &tag, 2));
        next_timer = drain(&mut ep, now, &audio, &mut sent);
        messages += 3 + sent.len() as u64;
    }
    let elapsed = started.elapsed();
    println!(
        "{calls} calls at {rate}/s over {seconds} s virtual: {:.1} ms wall, {:.2} µs per call, {:.2} µs per message, {} calls left",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / calls as f64,
        elapsed.as_secs_f64() * 1e6 / messages as f64,
        ep.call_count()
    );
}

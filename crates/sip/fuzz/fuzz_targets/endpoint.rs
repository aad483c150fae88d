//! The whole endpoint: arbitrary datagrams (split on a 0xFF byte into
//! several messages) with time advancing between them. Must never panic.
#![no_main]

use std::time::{Duration, Instant};

use denwa_sip::sdp::{AudioConfig, Codec, Direction};
use denwa_sip::{Config, Endpoint, Event, Input, Output, Transport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let local = "198.51.100.10:5060".parse().expect("literal");
    let from = "192.0.2.20:5060".parse().expect("literal");
    let mut now = Instant::now();
    let mut ep = Endpoint::new(Config::new(local, 1), now);
    for (i, chunk) in data.split(|b| *b == 0xFF).enumerate() {
        let transport = if i % 2 == 0 {
            Transport::Udp
        } else {
            Transport::Tcp
        };
        ep.handle_input(
            now,
            Input::Datagram {
                from,
                to: local,
                transport,
                bytes: chunk,
            },
        );
        for _ in 0..64 {
            match ep.poll_output() {
                Output::Timeout(_) => break,
                Output::Event(Event::IncomingCall { call, .. }) => {
                    let audio = AudioConfig {
                        rtp_address: "198.51.100.10:30000".parse().expect("literal"),
                        codecs: vec![Codec::Pcmu],
                        telephone_event: true,
                        ptime: None,
                        direction: Direction::SendRecv,
                    };
                    if ep.answer(now, call, audio).is_err() {
                        let _ = ep.reject(now, call, 488);
                    }
                }
                _ => {}
            }
        }
        now += Duration::from_millis(700);
        ep.handle_timeout(now);
        while !matches!(ep.poll_output(), Output::Timeout(_)) {}
    }
});

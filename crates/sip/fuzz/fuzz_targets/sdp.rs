//! SDP parser and offer/answer: never panic; printing is a fixed point.
#![no_main]

use denwa_sip::sdp::{AudioConfig, Codec, Direction, SessionDescription, answer_offer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sd) = SessionDescription::parse(data) {
        let printed = sd.to_bytes();
        let again = SessionDescription::parse(&printed).expect("printed SDP must parse");
        assert_eq!(again.to_bytes(), printed, "print is a fixed point");
        let local = AudioConfig {
            rtp_address: "192.0.2.1:4000".parse().expect("literal"),
            codecs: vec![Codec::Pcmu, Codec::Pcma, Codec::Opus],
            telephone_event: true,
            ptime: Some(20),
            direction: Direction::SendRecv,
        };
        let _ = sd.is_hold();
        let _ = answer_offer(&sd, &local, 1, 1);
    }
});

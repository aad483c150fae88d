//! SIP message parser: never panics; whatever parses prints to bytes that
//! parse back to the same message.
#![no_main]

use denwa_sip::message::{Message, message_length};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = message_length(data);
    if let Ok(m) = Message::parse(data) {
        let printed = m.to_bytes();
        let again = Message::parse(&printed).expect("printed message must parse");
        assert_eq!(again.to_bytes(), printed, "print is a fixed point");
    }
});

//! RTP and RTCP parsing of arbitrary datagrams never panics.
#![no_main]

use denwa_media::rtp::{parse_rtcp, parse_rtp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((header, payload)) = parse_rtp(data) {
        assert!(payload.len() + 12 <= data.len());
        let _ = header;
    }
    let _ = parse_rtcp(data, 0x1234_5678, 0);
});

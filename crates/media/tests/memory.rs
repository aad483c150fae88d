//! What a call's media costs in memory: a two-leg room (a customer and one staff member,
//! the common call) stays well inside the 64 KiB per call. A counting global
//! allocator; this test binary holds only this test so nothing else allocates meanwhile.
//! Before the transmit queue and the leg list were sized by legs, the same room held
//! ~125 KB; before transmit slots were sized to a G.711 packet (256 bytes, not 1500),
//! ~38 KB; before the 8 <-> 16 kHz resamplers became half-band filters with inline
//! state and the tick's scratch frames (and then the G.711 coders' 8 kHz frames) moved
//! to the stack, ~28 KB; ~18.6 KB; now that RFC 4733 queues and jitter-buffer payload
//! buffers are allocated by their first use (most legs never send a digit), ~14.9 KB.

use std::alloc::System;
use std::net::SocketAddr;
use std::time::Instant;

use denwa_media::{Codec, LegConfig, Role, Room, TICK};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn a_two_leg_room_holds_less_than_64_kib() {
    let t0 = Instant::now();
    // The built-in hold music is generated once per process and shared by every room.
    drop(Room::new(t0));
    let region = Region::new(GLOBAL);
    let mut room = Room::new(t0);
    for (i, role) in [Role::Customer, Role::Staff].into_iter().enumerate() {
        let mut config = LegConfig::new(role, Codec::Pcmu);
        config.remote_rtp = Some(SocketAddr::from(([192, 0, 2, 1], 20000 + 2 * i as u16)));
        room.add_leg(t0, config).unwrap();
    }
    let mut out = [0u8; 1500];
    let mut now = t0;
    for _ in 0..100 {
        room.tick(now);
        while room.poll_transmit(&mut out).is_some() {}
        while room.poll_event().is_some() {}
        now += TICK;
    }
    let stats = region.change();
    let held = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64
        + std::mem::size_of::<Room>() as i64;
    eprintln!(
        "two-leg room: {held} bytes ({} on the stack/inline)",
        std::mem::size_of::<Room>()
    );
    assert!(held < 64 * 1024, "a two-leg room holds {held} bytes");
    std::hint::black_box(&room);
}

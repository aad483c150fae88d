//! The 20 ms path allocates nothing in steady state (a counting global allocator;
//! this test binary holds only this test so nothing else allocates concurrently).

use std::alloc::System;
use std::net::SocketAddr;
use std::time::Instant;

use denwa_media::rtp::{RtpHeader, write_rtp};
use denwa_media::{Codec, Event, LegConfig, MAX_LEGS, Prompt, Role, Room, TICK};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn ten_party_room_ticks_without_allocating() {
    let t0 = Instant::now();
    let mut room = Room::new(t0);
    let mut legs = Vec::new();
    for i in 0..MAX_LEGS {
        let role = if i == 0 { Role::Customer } else { Role::Staff };
        let addr = SocketAddr::from(([192, 0, 2, 1], 20000 + 2 * i as u16));
        let mut config = LegConfig::new(role, Codec::Pcmu);
        config.remote_rtp = Some(addr);
        legs.push((room.add_leg(t0, config).unwrap(), addr));
    }
    // Prompts play through the measured span: a long one, and one that ends inside it.
    let long = Prompt::new(vec![1000i16; 16_000 * 20].into()).unwrap();
    let short = Prompt::new(vec![-1000i16; 16_000 * 5].into()).unwrap();
    room.play(legs[0].0, long).unwrap();
    room.play(legs[1].0, short).unwrap();
    let mut prompts_finished = 0u32;
    let mut packet = vec![0u8; 172];
    let mut out = [0u8; 1500];
    let mut now = t0;
    let mut rtcp_sent = 0u32;
    let mut run = |room: &mut Room, from: u32, to: u32, now: &mut Instant| {
        for n in from..to {
            for (i, (leg, addr)) in legs.iter().enumerate() {
                let payload = [(n as u8).wrapping_mul(7); 160];
                let h = RtpHeader {
                    payload_type: 0,
                    marker: false,
                    sequence: n as u16,
                    timestamp: n * 160,
                    ssrc: i as u32,
                };
                let len = write_rtp(&mut packet, &h, &payload).unwrap();
                room.handle_rtp(*now, *leg, *addr, &packet[..len]).unwrap();
            }
            room.tick(*now);
            while let Some(t) = room.poll_transmit(&mut out) {
                if t.channel == denwa_media::Channel::Rtcp {
                    rtcp_sent += 1;
                }
            }
            while let Some(e) = room.poll_event() {
                if matches!(e, Event::PromptFinished { .. }) {
                    prompts_finished += 1;
                }
            }
            std::hint::black_box(room.recording().mixed());
            *now += TICK;
        }
    };
    // Warm up for 1 s.
    run(&mut room, 0, 50, &mut now);
    let region = Region::new(GLOBAL);
    // 11 s of steady state, including two rounds of RTCP reports (every 5 s).
    run(&mut room, 50, 600, &mut now);
    let change = region.change();
    assert_eq!(change.allocations, 0, "{change:?}");
    assert_eq!(change.reallocations, 0, "{change:?}");
    assert_eq!(
        rtcp_sent,
        2 * MAX_LEGS as u32,
        "RTCP was part of the measured span"
    );
    assert_eq!(
        prompts_finished, 1,
        "the short prompt ended in the measured span"
    );
}

//! A room with a customer and a staff leg takes arbitrary datagrams on both
//! legs' RTP and RTCP sockets, interleaved with ticks, without panicking.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use denwa_media::{Codec, LegConfig, Role, Room};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut room = Room::new(t0);
    let Ok(customer) = room.add_leg(t0, LegConfig::new(Role::Customer, Codec::Pcmu)) else { return };
    let mut staff_config = LegConfig::new(Role::Staff, Codec::Pcma);
    staff_config.remote_rtp = Some(SocketAddr::from(([192, 0, 2, 2], 4000)));
    let Ok(staff) = room.add_leg(t0, staff_config) else { return };
    let source = SocketAddr::from(([192, 0, 2, 1], 5004));
    let mut buf = [0u8; 1500];
    let mut now = t0;
    // Each record: 1 control byte, 1 length byte, then that many bytes.
    let mut rest = data;
    while let [control, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (datagram, next) = tail.split_at(n);
        rest = next;
        let leg = if control & 1 == 0 { customer } else { staff };
        if control & 2 == 0 {
            let _ = room.handle_rtp(now, leg, source, datagram);
        } else {
            let _ = room.handle_rtcp(now, leg, source, datagram);
        }
        match control >> 5 {
            0 => {
                room.tick(now);
                now += Duration::from_millis(20);
            }
            1 => {
                let _ = room.hold(customer, staff);
            }
            2 => {
                room.unhold();
            }
            3 => {
                let _ = room.set_muted(leg, control & 4 != 0);
            }
            4 => {
                let _ = room.send_dtmf(customer, "1#", Duration::from_millis(60));
            }
            _ => {}
        }
        while room.poll_transmit(&mut buf).is_some() {}
        while room.poll_event().is_some() {}
    }
});

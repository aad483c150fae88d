//! A browser staff leg on Opus talking with a G.711 customer (needs `--features opus`).
#![cfg(feature = "opus")]

mod common;

use std::net::SocketAddr;

use common::{PRESENT, Sim, goertzel};
use denwa_media::codec::{AudioDecoder, AudioEncoder};
use denwa_media::rtp::{RtpHeader, parse_rtp, write_rtp};
use denwa_media::{Codec, FRAME_SAMPLES, LegConfig, Role};

#[test]
fn opus_staff_and_g711_customer_hear_each_other() {
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, Some(500.0));
    let mut config = LegConfig::new(Role::Staff, Codec::Opus);
    let browser = SocketAddr::from(([198, 51, 100, 7], 40000));
    config.remote_rtp = Some(browser);
    let staff = sim.room.add_leg(sim.now, config).unwrap();
    let mut enc = AudioEncoder::new(Codec::Opus);
    let mut dec = AudioDecoder::new(Codec::Opus);
    let mut heard = Vec::new();
    let mut buf = [0u8; 1500];
    let mut payload = [0u8; 1400];
    for k in 0..100u32 {
        // The browser sends 20 ms of a 1200 Hz tone.
        let mut frame = [0i16; FRAME_SAMPLES];
        for (i, s) in frame.iter_mut().enumerate() {
            let t = f64::from(k * FRAME_SAMPLES as u32 + i as u32) / 16000.0;
            *s = (3000.0 * (2.0 * std::f64::consts::PI * 1200.0 * t).sin()) as i16;
        }
        let n = enc.encode(&frame, &mut payload);
        let h = RtpHeader {
            payload_type: 111,
            marker: false,
            sequence: k as u16,
            timestamp: k * 960,
            ssrc: 77,
        };
        let len = write_rtp(&mut buf, &h, &payload[..n]).unwrap();
        sim.room
            .handle_rtp(sim.now, staff, browser, &buf[..len])
            .unwrap();
        sim.step();
    }
    // The customer hears the browser's tone through Opus -> 16 kHz -> G.711.
    assert!(sim.phones[c].hears(1200.0, 0.5) > PRESENT);
    // The browser hears the customer's tone: Opus RTP with a 48 kHz clock.
    let mut timestamps = Vec::new();
    for (leg, datagram) in &sim.unclaimed {
        assert_eq!(*leg, staff);
        let (h, p) = parse_rtp(datagram).unwrap();
        assert_eq!(h.payload_type, 111);
        timestamps.push(h.timestamp);
        let mut frame = [0i16; FRAME_SAMPLES];
        assert!(dec.decode(p, &mut frame));
        heard.extend_from_slice(&frame);
    }
    assert!(
        timestamps
            .windows(2)
            .all(|w| w[1].wrapping_sub(w[0]) == 960)
    );
    assert!(goertzel(&heard[heard.len() - 8000..], 16000.0, 500.0) > PRESENT);
}

//! Prints the cost of the media hot paths. Run with
//! `cargo run --release -p denwa-media --example bench`.
//!
//! Measures: one 20 ms tick of a 10-party G.711 room (all legs talking),
//! the per-packet receive path (`Room::handle_rtp`), and G.711 encode/decode.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use denwa_media::g711;
use denwa_media::rtp::{RtpHeader, write_rtp};
use denwa_media::{Codec, LegConfig, MAX_LEGS, Role, Room, TICK};

fn per_iter(total: Duration, iters: u32) -> Duration {
    total / iters
}

/// The machine may be shared: report the best of several batches for the small kernels.
fn best(f: &mut dyn FnMut() -> Duration) -> Duration {
    (0..7).map(|_| f()).min().unwrap_or_default()
}

fn main() {
    let t0 = Instant::now();
    let mut room = Room::new(t0);
    let mut legs = Vec::new();
    for i in 0..MAX_LEGS {
        let role = if i == 0 { Role::Customer } else { Role::Staff };
        let mut config = LegConfig::new(role, Codec::Pcmu);
        config.remote_rtp = Some(SocketAddr::from(([192, 0, 2, 1], 20000 + 2 * i as u16)));
        config.symmetric_rtp = false;
        legs.push((
            room.add_leg(t0, config).expect("10 legs fit"),
            config_addr(i),
        ));
    }
    // Pre-encode one second of a tone per leg.
    let packets: Vec<Vec<Vec<u8>>> = (0..MAX_LEGS)
        .map(|i| {
            (0..50u32)
                .map(|k| {
                    let mut pcm = [0i16; 160];
                    for (n, s) in pcm.iter_mut().enumerate() {
                        let t = f64::from(k * 160 + n as u32) / 8000.0;
                        *s = (3000.0
                            * (2.0 * std::f64::consts::PI * (300.0 + 100.0 * i as f64) * t).sin())
                            as i16;
                    }
                    let mut payload = [0u8; 160];
                    g711::encode_ulaw(&pcm, &mut payload);
                    let h = RtpHeader {
                        payload_type: 0,
                        marker: false,
                        sequence: 0,
                        timestamp: 0,
                        ssrc: 7 + i as u32,
                    };
                    let mut buf = vec![0u8; 172];
                    write_rtp(&mut buf, &h, &payload).expect("fits");
                    buf
                })
                .collect()
        })
        .collect();

    let mut buf = [0u8; 1500];
    let ticks = 5000u32;
    let mut now = t0;
    let mut receive = Duration::ZERO;
    let mut tick = Duration::ZERO;
    let mut received = 0u32;
    let mut best_window: Option<Duration> = None;
    let mut window = Duration::ZERO;
    for n in 0..ticks {
        for (i, (leg, addr)) in legs.iter().enumerate() {
            let mut p = packets[i][(n % 50) as usize].clone();
            p[2..4].copy_from_slice(&(n as u16).to_be_bytes());
            p[4..8].copy_from_slice(&(n * 160).to_be_bytes());
            let start = Instant::now();
            let _ = black_box(room.handle_rtp(now, *leg, *addr, &p));
            receive += start.elapsed();
            received += 1;
        }
        let start = Instant::now();
        room.tick(now);
        while let Some(t) = room.poll_transmit(&mut buf) {
            black_box(t);
        }
        while room.poll_event().is_some() {}
        black_box(room.recording().mixed());
        let spent = start.elapsed();
        tick += spent;
        window += spent;
        if n % 50 == 49 {
            let avg = window / 50;
            best_window = Some(best_window.map_or(avg, |b| b.min(avg)));
            window = Duration::ZERO;
        }
        now += TICK;
    }
    let per_tick = per_iter(tick, ticks);
    let best_tick = best_window.unwrap_or(per_tick);
    let share = per_tick.as_secs_f64() / TICK.as_secs_f64() * 100.0;
    let best_share = best_tick.as_secs_f64() / TICK.as_secs_f64() * 100.0;

    let pcm: Vec<i16> = (0..160_000)
        .map(|i| ((i * 37) % 65536 - 32768) as i16)
        .collect();
    let mut codes = vec![0u8; pcm.len()];
    let mut back = vec![0i16; pcm.len()];
    let frames = pcm.len() as u32 / 160;
    let enc = best(&mut || {
        let start = Instant::now();
        g711::encode_ulaw(black_box(&pcm), &mut codes);
        start.elapsed() / frames
    });
    let dec = best(&mut || {
        let start = Instant::now();
        g711::decode_ulaw(black_box(&codes), &mut back);
        start.elapsed() / frames
    });

    let mut up = denwa_media::resample::Resampler::new(8000, 16000);
    let mut down = denwa_media::resample::Resampler::new(16000, 8000);
    let narrow = [1000i16; 160];
    let mut wide = [0i16; 320];
    let up_cost = best(&mut || {
        let start = Instant::now();
        for _ in 0..2_000 {
            up.process(black_box(&narrow), &mut wide);
        }
        start.elapsed() / 2_000
    });
    let mut narrow_out = [0i16; 160];
    let down_cost = best(&mut || {
        let start = Instant::now();
        for _ in 0..2_000 {
            down.process(black_box(&wide), &mut narrow_out);
        }
        start.elapsed() / 2_000
    });

    println!("| path | cost |");
    println!("|---|---|");
    println!(
        "| 10-party G.711 room tick (decode, N-1 mix, encode, RTP out), mean of {ticks} | {per_tick:?} per 20 ms = {share:.3} % of one core |"
    );
    println!("| same, best 1 s window | {best_tick:?} per 20 ms = {best_share:.3} % of one core |");
    println!(
        "| receive path (`handle_rtp`, parse + stats + jitter buffer) | {:?} per packet |",
        per_iter(receive, received)
    );
    println!("| G.711 µ-law encode | {enc:?} per 20 ms frame (160 samples) |");
    println!("| G.711 µ-law decode | {dec:?} per 20 ms frame (160 samples) |");
    println!("| resample 8 → 16 kHz | {up_cost:?} per 20 ms frame |");
    println!("| resample 16 → 8 kHz | {down_cost:?} per 20 ms frame |");
}

fn config_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], 20000 + 2 * i as u16))
}

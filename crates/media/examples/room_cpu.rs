//! CPU per conference room and per participant, G.711 and Opus. Run with
//! `cargo run --release -p denwa-media --features opus --example room_cpu`
//! (needs libopus: `apt-get install -y libopus-dev pkg-config`).
//!
//! Each room has every leg talking (a different tone per leg): per 20 ms it takes one RTP
//! packet per leg through `handle_rtp` (parse, statistics, jitter buffer) and runs one
//! `tick` (decode, N-1 mix, encode, RTP out, recording taps). The figure is everything the
//! media thread does for the room except the socket system calls. CPU time is read from
//! `/proc/thread-self/schedstat` (nanoseconds this thread ran, so other work on a shared
//! machine does not count) around the whole run (at least 20 s of audio and 2 s of work);
//! wall time per one-second window (50 ticks) is printed next to it: median and best.
//!
//! Opus legs code mono at the room's 16 kHz internal rate (RTP clock 48 kHz, RFC 7587), so
//! an Opus participant costs decode + mix + encode with no resampling; the last rows time
//! the 16 ↔ 48 kHz resampler for a build that would code Opus at 48 kHz.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use denwa_media::codec::AudioEncoder;
use denwa_media::resample::Resampler;
use denwa_media::rtp::{RtpHeader, write_rtp};
use denwa_media::{Codec, FRAME_SAMPLES, LegConfig, MAX_LEGS, Role, Room, TICK};

/// Nanoseconds the calling thread has run on a CPU (Linux schedstat), if readable.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], 20000 + 2 * i as u16))
}

/// One second (50 packets) of a tone per leg, encoded with `codec`.
fn packets(codec: Codec, legs: usize) -> Vec<Vec<Vec<u8>>> {
    (0..legs)
        .map(|i| {
            let mut enc = AudioEncoder::new(codec);
            let mut payload = [0u8; 1400];
            (0..50u32)
                .map(|k| {
                    let mut pcm = [0i16; FRAME_SAMPLES];
                    for (n, s) in pcm.iter_mut().enumerate() {
                        let t = f64::from(k * FRAME_SAMPLES as u32 + n as u32) / 16000.0;
                        let f = 300.0 + 100.0 * i as f64;
                        *s = (3000.0 * (2.0 * std::f64::consts::PI * f * t).sin()) as i16;
                    }
                    let len = enc.encode(&pcm, &mut payload);
                    let h = RtpHeader {
                        payload_type: codec.default_payload_type(),
                        marker: false,
                        sequence: 0,
                        timestamp: 0,
                        ssrc: 7 + i as u32,
                    };
                    let mut buf = vec![0u8; 12 + len];
                    write_rtp(&mut buf, &h, &payload[..len]).expect("fits");
                    buf
                })
                .collect()
        })
        .collect()
}

struct Cost {
    /// CPU per 20 ms over the whole run (schedstat is updated at scheduler ticks, so it
    /// is read once around many windows, not per window).
    cpu: Duration,
    /// Wall time per 20 ms: median and best one-second window.
    wall: Duration,
    best_wall: Duration,
    seconds: usize,
}

/// Runs a room of `legs` legs on `codec` for at least `min_windows` seconds of ticks and at
/// least `min_busy` of real time (so that cheap rooms are timed over enough work).
fn room_cost(codec: Codec, legs: usize, min_windows: usize, min_busy: Duration) -> Cost {
    let t0 = Instant::now();
    let mut room = Room::new(t0);
    let ids: Vec<_> = (0..legs)
        .map(|i| {
            let role = if i == 0 { Role::Customer } else { Role::Staff };
            let mut config = LegConfig::new(role, codec);
            config.remote_rtp = Some(addr(i));
            config.symmetric_rtp = false;
            room.add_leg(t0, config).expect("fits")
        })
        .collect();
    let packets = packets(codec, legs);
    let samples = codec.samples_per_packet();
    let mut buf = [0u8; 1500];
    let mut now = t0;
    let mut wall_windows = Vec::new();
    let mut busy = Duration::ZERO;
    let mut cpu0 = 0;
    // One warm-up second (jitter buffer fills, encoders settle), then the windows.
    let mut w = 0u32;
    while wall_windows.len() < min_windows || busy < min_busy {
        if w == 1 {
            cpu0 = thread_cpu_ns().unwrap_or(0);
        }
        let wall0 = Instant::now();
        for k in 0..50u32 {
            let n = w * 50 + k;
            for (i, leg) in ids.iter().enumerate() {
                let mut p = packets[i][k as usize].clone();
                p[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                p[4..8].copy_from_slice(&n.wrapping_mul(samples).to_be_bytes());
                let _ = black_box(room.handle_rtp(now, *leg, addr(i), &p));
            }
            room.tick(now);
            while let Some(t) = room.poll_transmit(&mut buf) {
                black_box(t);
            }
            while room.poll_event().is_some() {}
            for (_, track) in room.recording().tracks() {
                black_box(track);
            }
            black_box(room.recording().mixed());
            now += TICK;
        }
        if w > 0 {
            let spent = wall0.elapsed();
            busy += spent;
            wall_windows.push(spent / 50);
        }
        w += 1;
    }
    let cpu = Duration::from_nanos(thread_cpu_ns().unwrap_or(0).saturating_sub(cpu0));
    let seconds = wall_windows.len();
    wall_windows.sort();
    Cost {
        cpu: cpu / (50 * seconds as u32),
        wall: wall_windows[seconds / 2],
        best_wall: wall_windows[0],
        seconds,
    }
}

fn share(d: Duration) -> f64 {
    d.as_secs_f64() / TICK.as_secs_f64() * 100.0
}

fn main() {
    if thread_cpu_ns().is_none() {
        eprintln!("/proc/thread-self/schedstat unreadable: CPU columns show 0");
    }
    println!(
        "| room (every leg talking) | CPU per 20 ms | % of one core | wall per 20 ms: median / best 1 s | per participant (CPU) |"
    );
    println!("|---|---|---|---|---|");
    let rows = [
        ("10-party G.711 (PCMU)", Codec::Pcmu, MAX_LEGS),
        ("2-party G.711 (a two-leg call)", Codec::Pcmu, 2),
        (
            "10-party Opus (16 kHz coding, 48 kHz RTP clock)",
            Codec::Opus,
            MAX_LEGS,
        ),
        ("2-party Opus", Codec::Opus, 2),
    ];
    for (name, codec, legs) in rows {
        let c = room_cost(codec, legs, 20, Duration::from_secs(2));
        println!(
            "| {name} | {:.1} µs ({} s of audio) | {:.3} % | {:.1} / {:.1} µs | {:.1} µs = {:.4} % of a core |",
            c.cpu.as_secs_f64() * 1e6,
            c.seconds,
            share(c.cpu),
            c.wall.as_secs_f64() * 1e6,
            c.best_wall.as_secs_f64() * 1e6,
            c.cpu.as_secs_f64() * 1e6 / legs as f64,
            share(c.cpu) / legs as f64,
        );
    }

    // What coding Opus at 48 kHz would add per participant: 16 -> 48 kHz for the decoded
    // frame's way in is not needed (decoder output at 48 kHz would go 48 -> 16), and the mix
    // goes 16 -> 48 kHz before the encoder: one resampling each way per 20 ms.
    let mut up = Resampler::new(16_000, 48_000);
    let mut down = Resampler::new(48_000, 16_000);
    let narrow = [1000i16; FRAME_SAMPLES];
    let mut wide = [0i16; 3 * FRAME_SAMPLES];
    let mut back = [0i16; FRAME_SAMPLES];
    let iters = 20_000u32;
    let measure = |f: &mut dyn FnMut()| {
        (0..7)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..iters {
                    f();
                }
                start.elapsed() / iters
            })
            .min()
            .unwrap_or_default()
    };
    let up_cost = measure(&mut || {
        black_box(up.process(black_box(&narrow), &mut wide));
    });
    let down_cost = measure(&mut || {
        black_box(down.process(black_box(&wide), &mut back));
    });
    println!();
    println!(
        "| extra for Opus coded at 48 kHz (not what the room does) | per 20 ms frame (wall, best of 7) |"
    );
    println!("|---|---|");
    println!(
        "| resample 16 → 48 kHz + 48 → 16 kHz | {:.1} µs = {:.4} % of a core |",
        (up_cost + down_cost).as_secs_f64() * 1e6,
        share(up_cost + down_cost)
    );
}

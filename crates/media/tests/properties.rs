//! Property tests: codecs, parsers on arbitrary bytes, jitter buffer, RFC 4733.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use denwa_media::dtmf::{DtmfDigit, DtmfReceiver, DtmfSender, EventPayload};
use denwa_media::g711;
use denwa_media::jitter::{JitterBuffer, Playout};
use denwa_media::rtp::{RtpHeader, parse_rtcp, parse_rtp, write_rtp};
use denwa_media::{Codec, LegConfig, Role, Room};
use proptest::prelude::*;

proptest! {
    #[test]
    fn g711_round_trip_within_quantisation(x in any::<i16>()) {
        let bound = i32::from(x).abs() / 16 + 16;
        let u = i32::from(g711::ulaw_to_linear(g711::linear_to_ulaw(x)));
        let a = i32::from(g711::alaw_to_linear(g711::linear_to_alaw(x)));
        // µ-law tops out at 32124, A-law at 32256: the ends clip by design.
        let clip = |v: i32, max: i32| v.clamp(-max, max);
        prop_assert!((u - clip(i32::from(x), 32124)).abs() <= bound, "µ-law {x} -> {u}");
        prop_assert!((a - clip(i32::from(x), 32256)).abs() <= bound, "A-law {x} -> {a}");
        // Re-encoding the decoded value is stable.
        prop_assert_eq!(g711::linear_to_alaw(a as i16), g711::linear_to_alaw(x));
    }

    #[test]
    fn rtp_and_rtcp_parsing_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_rtp(&bytes);
        let _ = parse_rtcp(&bytes, 1, 0);
        let _ = EventPayload::parse(&bytes);
    }

    #[test]
    fn wav_reading_never_panics(
        tail in proptest::collection::vec(any::<u8>(), 0..300),
        riff in any::<bool>(),
    ) {
        // Half the cases start like a WAV file so the chunk walk runs on garbage.
        let mut bytes = if riff { b"RIFF\0\0\0\0WAVEfmt ".to_vec() } else { Vec::new() };
        bytes.extend_from_slice(&tail);
        let _ = denwa_media::read_wav(&bytes);
    }

    #[test]
    fn room_accepts_arbitrary_datagrams_without_panicking(
        datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..20),
        version_two in any::<bool>(),
    ) {
        let now = Instant::now();
        let mut room = Room::new(now);
        let leg = room.add_leg(now, LegConfig::new(Role::Customer, Codec::Pcmu)).unwrap();
        let source = SocketAddr::from(([192, 0, 2, 1], 5004));
        for (i, mut d) in datagrams.into_iter().enumerate() {
            if version_two && !d.is_empty() {
                // Make most of them look like RTP v2 so the deeper paths run too.
                d[0] = 0x80 | (d[0] & 0x3F);
            }
            let t = now + Duration::from_millis(20 * i as u64);
            let _ = room.handle_rtp(t, leg, source, &d);
            let _ = room.handle_rtcp(t, leg, source, &d);
            room.tick(t);
            let mut buf = [0u8; 1500];
            while room.poll_transmit(&mut buf).is_some() {}
            while room.poll_event().is_some() {}
        }
    }

    #[test]
    fn rtp_write_parse_round_trip(pt in 0u8..128, marker: bool, seq: u16, ts: u32, ssrc: u32, payload in proptest::collection::vec(any::<u8>(), 0..200)) {
        let header = RtpHeader { payload_type: pt, marker, sequence: seq, timestamp: ts, ssrc };
        let mut buf = [0u8; 256];
        let n = write_rtp(&mut buf, &header, &payload).unwrap();
        let (h, p) = parse_rtp(&buf[..n]).unwrap();
        prop_assert_eq!(h, header);
        prop_assert_eq!(p, &payload[..]);
    }

    /// Packets with random loss, duplication and arrival jitter up to 100 ms:
    /// playout is in strictly increasing sequence order, nothing plays twice,
    /// and every played payload is the one sent with that sequence number.
    #[test]
    fn jitter_buffer_plays_in_order_without_duplicates(
        packets in proptest::collection::vec((any::<bool>(), 0u64..6, 0u8..3), 20..200),
        loss_one_in in 2u64..20,
    ) {
        let t0 = Instant::now();
        let frame = Duration::from_millis(20);
        // (arrival tick, seq), with duplicates and loss.
        let mut arrivals: Vec<(u64, u64)> = Vec::new();
        for (seq, &(lose, delay, dups)) in packets.iter().enumerate() {
            let seq = seq as u64;
            if lose && seq % loss_one_in == 0 {
                continue;
            }
            for d in 0..=u64::from(dups) {
                arrivals.push((seq + delay + d, seq));
            }
        }
        arrivals.sort_by_key(|&(at, _)| at);
        let mut jb = JitterBuffer::new(t0);
        let mut played: Vec<u64> = Vec::new();
        let mut next = 0;
        let last_tick = packets.len() as u64 + 20;
        for tick in 0..last_tick {
            let now = t0 + frame * tick as u32;
            while next < arrivals.len() && arrivals[next].0 <= tick {
                let seq = arrivals[next].1;
                jb.push(now, seq, (seq * 160) as u32, &seq.to_le_bytes());
                next += 1;
            }
            if let Playout::Frame { payload, timestamp } = jb.pop(now) {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(payload);
                let seq = u64::from_le_bytes(bytes);
                prop_assert_eq!(u64::from(timestamp), seq * 160);
                played.push(seq);
            }
        }
        prop_assert!(played.windows(2).all(|w| w[0] < w[1]), "order: {:?}", played);
        let stats = jb.stats();
        prop_assert_eq!(stats.played, played.len() as u64);
        prop_assert!(stats.target <= JitterBuffer::MAX_DELAY);
        prop_assert!(!played.is_empty());
    }

    /// Without jitter beyond the 40 ms target, no packet is late and every sent packet plays.
    #[test]
    fn jitter_buffer_loses_nothing_under_small_jitter(delays in proptest::collection::vec(0u64..2, 10..150)) {
        let t0 = Instant::now();
        let frame = Duration::from_millis(20);
        let mut arrivals: Vec<(u64, u64)> = delays.iter().enumerate().map(|(s, &d)| (s as u64 + d, s as u64)).collect();
        arrivals.sort();
        let mut jb = JitterBuffer::new(t0);
        let mut next = 0;
        let mut played = Vec::new();
        for tick in 0..delays.len() as u64 + 10 {
            let now = t0 + frame * tick as u32;
            while next < arrivals.len() && arrivals[next].0 <= tick {
                let s = arrivals[next].1;
                jb.push(now, s, 0, &[s as u8]);
                next += 1;
            }
            if let Playout::Frame { payload, .. } = jb.pop(now) {
                played.push(payload[0]);
            }
        }
        prop_assert_eq!(jb.stats().late, 0);
        prop_assert_eq!(played.len(), delays.len());
    }

    /// RFC 4733: whatever subset of update/end packets is lost (keeping at least
    /// one per event) and however often packets are duplicated, each digit is
    /// reported exactly once and in order.
    #[test]
    fn rfc4733_each_digit_once(
        digits in proptest::collection::vec((0u8..16, 40u64..300), 1..8),
        drops in proptest::collection::vec(any::<bool>(), 200),
        dups in proptest::collection::vec(0u8..3, 200),
    ) {
        let t0 = Instant::now();
        let mut tx = DtmfSender::new(8000);
        for &(code, ms) in &digits {
            tx.queue(DtmfDigit::from_event(code).unwrap(), Duration::from_millis(ms));
        }
        let mut rx = DtmfReceiver::new();
        let mut got = Vec::new();
        let mut frame_ts = 0u32;
        let mut i = 0usize;
        let mut kept_for_event: Option<u32> = None;
        let mut tick = 0u32;
        let mut pending: Option<(u32, [u8; 4])> = None;
        while tick < 2000 {
            let now = t0 + Duration::from_millis(20 * u64::from(tick));
            if let Some(p) = tx.poll_packet(frame_ts) {
                let drop = drops[i % drops.len()] && kept_for_event == Some(p.timestamp);
                let copies = 1 + dups[i % dups.len()];
                i += 1;
                if !drop {
                    kept_for_event = Some(p.timestamp);
                    for _ in 0..copies {
                        rx.handle_packet(now, p.timestamp, &p.payload).unwrap();
                    }
                }
                pending = Some((p.timestamp, p.payload));
            } else if pending.take().is_some() && tick > 0 {
                // Between digits.
            }
            rx.handle_timeout(now);
            while let Some(d) = rx.poll_digit() {
                got.push(d.digit.event_code());
            }
            frame_ts = frame_ts.wrapping_add(160);
            tick += 1;
        }
        let want: Vec<u8> = digits.iter().map(|&(c, _)| c).collect();
        prop_assert_eq!(got, want);
    }
}

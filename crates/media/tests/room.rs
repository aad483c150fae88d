//! Room scenarios on a virtual clock, named after SPEC rules where they check one.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{ABSENT, PRESENT, Sim, goertzel, rms};
use denwa_media::{
    Codec, Error, Event, HoldEndReason, HoldMusic, InactivityReason, LegConfig, LegMode, MAX_LEGS,
    Prompt, Role,
};

fn tone(i: usize) -> f64 {
    400.0 + 200.0 * i as f64
}

#[test]
fn n_minus_one_each_leg_hears_the_others_never_itself() {
    let mut sim = Sim::new();
    sim.join(Role::Customer, Some(tone(0)));
    for i in 1..MAX_LEGS {
        sim.join(Role::Staff, Some(tone(i)));
    }
    sim.run(1.5);
    for (i, phone) in sim.phones.iter().enumerate() {
        for j in 0..MAX_LEGS {
            let level = phone.hears(tone(j), 0.5);
            if i == j {
                assert!(level < ABSENT, "leg {i} hears itself at {level:.0}");
            } else {
                assert!(level > PRESENT, "leg {i} hears leg {j} only at {level:.0}");
            }
        }
    }
}

#[test]
fn eleventh_leg_is_refused_rg3() {
    let mut sim = Sim::new();
    sim.join(Role::Customer, None);
    for _ in 1..MAX_LEGS {
        sim.join(Role::Staff, None);
    }
    let err = sim
        .room
        .add_leg(sim.now, LegConfig::new(Role::Staff, Codec::Pcmu))
        .unwrap_err();
    assert!(matches!(err, Error::RoomFull { max: 10 }));
    // After one leaves, a new one fits again.
    let first_staff = sim.phones[1].leg;
    sim.room.remove_leg(first_staff).unwrap();
    assert!(
        sim.room
            .add_leg(sim.now, LegConfig::new(Role::Staff, Codec::Pcmu))
            .is_ok()
    );
    let second_customer = sim
        .room
        .add_leg(sim.now, LegConfig::new(Role::Customer, Codec::Pcmu));
    assert!(matches!(second_customer, Err(Error::RoomFull { .. })));
}

#[test]
fn second_customer_is_refused() {
    let mut sim = Sim::new();
    sim.join(Role::Customer, None);
    let err = sim
        .room
        .add_leg(sim.now, LegConfig::new(Role::Customer, Codec::Pcmu))
        .unwrap_err();
    assert!(matches!(err, Error::CustomerAlreadyPresent));
}

#[test]
fn muted_participant_reaches_nobody_rg4() {
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, Some(500.0));
    let a = sim.join(Role::Staff, Some(700.0));
    let b = sim.join(Role::Staff, Some(900.0));
    let a_leg = sim.phones[a].leg;
    sim.room.set_muted(a_leg, true).unwrap();
    sim.run(1.5);
    assert!(sim.phones[c].hears(700.0, 0.5) < ABSENT);
    assert!(sim.phones[b].hears(700.0, 0.5) < ABSENT);
    assert!(sim.phones[b].hears(500.0, 0.5) > PRESENT);
    // The muted leg still hears everybody.
    assert!(sim.phones[a].hears(500.0, 0.5) > PRESENT);
    assert!(sim.phones[a].hears(900.0, 0.5) > PRESENT);
    // And its voice is not in the recording either.
    assert!(Sim::track_level(&sim.tracks[&a_leg], 700.0, 0.5) < ABSENT);
    assert!(Sim::track_level(&sim.mixed, 700.0, 0.5) < ABSENT);
    // Unmute: heard again.
    sim.room.set_muted(a_leg, false).unwrap();
    sim.run(1.0);
    assert!(sim.phones[b].hears(700.0, 0.5) > PRESENT);
}

#[test]
fn hold_music_only_to_the_customer_staff_still_talk_hd1() {
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, Some(500.0));
    let a = sim.join(Role::Staff, Some(700.0));
    let b = sim.join(Role::Staff, Some(900.0));
    let music: Vec<i16> = (0..16000)
        .map(|i| (4000.0 * (2.0 * std::f64::consts::PI * 3000.0 * i as f64 / 16000.0).sin()) as i16)
        .collect();
    sim.room.set_hold_music(HoldMusic::from_pcm(music).unwrap());
    sim.run(1.0);
    let (customer, staff_a) = (sim.phones[c].leg, sim.phones[a].leg);
    sim.room.hold(customer, staff_a).unwrap();
    assert_eq!(sim.room.on_hold(), Some(customer));
    sim.run(1.5);
    // The customer hears the music and no staff.
    assert!(sim.phones[c].hears(3000.0, 0.5) > PRESENT);
    assert!(sim.phones[c].hears(700.0, 0.5) < ABSENT);
    assert!(sim.phones[c].hears(900.0, 0.5) < ABSENT);
    // Staff hear each other, neither the music nor the customer.
    for (me, other) in [(a, 900.0), (b, 700.0)] {
        assert!(sim.phones[me].hears(other, 0.5) > PRESENT);
        assert!(sim.phones[me].hears(3000.0, 0.5) < ABSENT);
        assert!(sim.phones[me].hears(500.0, 0.5) < ABSENT);
    }
    // Unhold restores the normal mix.
    assert!(sim.room.unhold());
    sim.run(1.0);
    assert!(sim.phones[c].hears(3000.0, 0.5) < ABSENT);
    assert!(sim.phones[c].hears(700.0, 0.5) > PRESENT);
    assert!(sim.phones[a].hears(500.0, 0.5) > PRESENT);
}

#[test]
fn builtin_hold_music_is_audible() {
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, None);
    let a = sim.join(Role::Staff, None);
    let (customer, staff) = (sim.phones[c].leg, sim.phones[a].leg);
    sim.room.hold(customer, staff).unwrap();
    sim.run(2.0);
    let level = rms(&sim.phones[c].heard[8000..]);
    assert!(level > 300.0, "built-in music rms {level:.0}");
    assert!(rms(&sim.phones[a].heard) < 10.0);
}

#[test]
fn hold_music_not_recorded_staff_talk_is_hd4() {
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, Some(500.0));
    let a = sim.join(Role::Staff, Some(700.0));
    sim.join(Role::Staff, Some(900.0));
    let music: Vec<i16> = (0..1600)
        .map(|i| (4000.0 * (2.0 * std::f64::consts::PI * 3000.0 * i as f64 / 16000.0).sin()) as i16)
        .collect();
    sim.room.set_hold_music(HoldMusic::from_pcm(music).unwrap());
    sim.run(0.5);
    let (customer, staff_a) = (sim.phones[c].leg, sim.phones[a].leg);
    sim.room.hold(customer, staff_a).unwrap();
    sim.run(2.0);
    // Music never enters any track; staff talk during hold does.
    let music_in_mix = Sim::track_level(&sim.mixed, 3000.0, 2.0);
    assert!(music_in_mix < 20.0, "{music_in_mix}");
    for track in sim.tracks.values() {
        assert!(
            Sim::track_level(track, 3000.0, 2.0) < 20.0,
            "music at 4000 would read ~4000"
        );
    }
    assert!(Sim::track_level(&sim.mixed, 700.0, 1.5) > PRESENT);
    assert!(Sim::track_level(&sim.mixed, 900.0, 1.5) > PRESENT);
    // The held customer is not in the recording while on hold (their mic hears the music).
    assert!(Sim::track_level(&sim.mixed, 500.0, 1.5) < ABSENT);
    assert!(rms(&sim.tracks[&customer][sim.tracks[&customer].len() - 16000..]) < 1.0);
    // Before the hold the customer was recorded.
    let early = &sim.mixed[4000..8000];
    assert!(goertzel(early, 16000.0, 500.0) > PRESENT);
}

#[test]
fn hold_ends_when_the_holder_leaves_hd3() {
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, None);
    let a = sim.join(Role::Staff, None);
    sim.join(Role::Staff, None);
    let (customer, staff) = (sim.phones[c].leg, sim.phones[a].leg);
    assert!(matches!(
        sim.room.hold(staff, customer),
        Err(Error::NotCustomer(_))
    ));
    assert!(matches!(
        sim.room.hold(customer, customer),
        Err(Error::NotStaff(_))
    ));
    sim.room.hold(customer, staff).unwrap();
    sim.room.remove_leg(staff).unwrap();
    assert_eq!(sim.room.on_hold(), None);
    assert_eq!(
        sim.room.poll_event(),
        Some(Event::HoldEnded {
            customer,
            reason: HoldEndReason::HolderLeft
        })
    );
}

#[test]
fn saturating_mix_never_wraps() {
    let mut sim = Sim::new();
    let a = sim.join(Role::Customer, None);
    let b = sim.join(Role::Staff, None);
    let c = sim.join(Role::Staff, None);
    sim.phones[a].dc = Some(24000);
    sim.phones[b].dc = Some(24000);
    sim.run(1.0);
    // 24000 + 24000 clips at the top instead of wrapping to a negative value.
    let heard = &sim.phones[c].heard[4000..];
    assert!(
        heard.iter().all(|&s| s > 30000),
        "min {}",
        heard.iter().min().unwrap()
    );
    assert!(sim.mixed[8000..].iter().all(|&s| s == i16::MAX));
}

#[test]
fn per_leg_gain_scales_the_voice() {
    let mut sim = Sim::new();
    let a = sim.join(Role::Customer, Some(600.0));
    let b = sim.join(Role::Staff, None);
    sim.room.set_gain(sim.phones[a].leg, 0.5).unwrap();
    sim.run(1.0);
    let level = sim.phones[b].hears(600.0, 0.5);
    assert!(
        (1300.0..1700.0).contains(&level),
        "half of 3000: {level:.0}"
    );
}

#[test]
fn inactivity_timeout_is_reported_with_reason() {
    let mut sim = Sim::new();
    let mut config = LegConfig::new(Role::Customer, Codec::Pcmu);
    config.inactivity_timeout = Duration::from_secs(2);
    config.remote_rtp = Some(SocketAddr::from(([192, 0, 2, 10], 20000)));
    let c = sim.join_with(config, Some(500.0));
    sim.join(Role::Staff, Some(700.0));
    sim.run(1.0);
    sim.phones[c].sending = false;
    sim.run(1.9);
    assert!(
        !sim.events
            .iter()
            .any(|e| matches!(e, Event::MediaTimeout { .. }))
    );
    sim.run(0.3);
    let leg = sim.phones[c].leg;
    let timeouts: Vec<_> = sim
        .events
        .iter()
        .filter(|e| matches!(e, Event::MediaTimeout { .. }))
        .collect();
    assert_eq!(timeouts.len(), 1);
    match timeouts[0] {
        Event::MediaTimeout {
            leg: l,
            reason: InactivityReason::NoMedia { idle },
        } => {
            assert_eq!(*l, leg);
            assert!(*idle >= Duration::from_secs(2));
        }
        other => panic!("unexpected {other:?}"),
    }
    sim.run(2.0);
    assert_eq!(
        sim.events
            .iter()
            .filter(|e| matches!(e, Event::MediaTimeout { .. }))
            .count(),
        1,
        "reported once"
    );
    sim.phones[c].sending = true;
    sim.run(0.1);
    assert!(sim.events.contains(&Event::MediaResumed { leg }));
}

#[test]
fn default_inactivity_timeout_is_60_seconds() {
    assert_eq!(
        LegConfig::new(Role::Customer, Codec::Pcmu).inactivity_timeout,
        Duration::from_secs(60)
    );
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, None);
    sim.phones[c].sending = false;
    sim.run(59.0);
    assert!(sim.events.is_empty());
    sim.run(1.1);
    assert!(matches!(sim.events[..], [Event::MediaTimeout { .. }]));
}

#[test]
fn echo_leg_plays_back_what_the_caller_sends() {
    let mut sim = Sim::new();
    let mut config = LegConfig::new(Role::Customer, Codec::Pcma);
    config.mode = LegMode::Echo;
    config.remote_rtp = Some(SocketAddr::from(([192, 0, 2, 10], 20000)));
    let e = sim.join_with(config, Some(1100.0));
    sim.run(1.0);
    assert!(sim.phones[e].hears(1100.0, 0.5) > PRESENT);
    // An echo leg is not recorded as a participant.
    assert!(sim.room.recording().tracks().next().is_none());
}

#[test]
fn symmetric_rtp_latches_onto_the_first_packet_source() {
    let mut sim = Sim::new();
    let config = LegConfig::new(Role::Customer, Codec::Pcmu);
    assert!(config.symmetric_rtp && config.remote_rtp.is_none());
    let c = sim.join_with(config, Some(500.0));
    let leg = sim.phones[c].leg;
    // Before any packet the room has nowhere to send.
    sim.room.tick(sim.now);
    let mut buf = [0u8; 1500];
    assert!(sim.room.poll_transmit(&mut buf).is_none());
    sim.run(0.5);
    let addr = sim.phones[c].addr;
    assert!(sim.events.contains(&Event::Latched { leg, remote: addr }));
    assert!(
        !sim.phones[c].heard.is_empty(),
        "packets flow to the latched address"
    );
    // Packets from another source are ignored after latching.
    let before = sim.room.leg_stats(leg).unwrap();
    let mut header = [0x80u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9];
    header[1] = 0;
    let _ = sim.room.handle_rtp(
        sim.now,
        leg,
        SocketAddr::from(([203, 0, 113, 5], 4000)),
        &header,
    );
    let after = sim.room.leg_stats(leg).unwrap();
    assert_eq!(after.rejected, before.rejected + 1);
    assert_eq!(after.packets_received, before.packets_received);
}

#[test]
fn ssrc_change_restarts_statistics_and_keeps_audio() {
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, Some(500.0));
    let a = sim.join(Role::Staff, None);
    sim.run(1.0);
    sim.phones[c].ssrc = 0xABCD;
    sim.phones[c].seq = 40_000;
    sim.run(1.0);
    let leg = sim.phones[c].leg;
    assert!(
        sim.events
            .contains(&Event::SsrcChanged { leg, ssrc: 0xABCD })
    );
    assert!(sim.phones[a].hears(500.0, 0.5) > PRESENT);
    let stats = sim.room.leg_stats(leg).unwrap();
    assert!(stats.packets_received <= 50, "{stats:?}");
}

#[test]
fn dtmf_from_staff_dialpad_leaves_as_rfc4733_rg2() {
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, None);
    sim.join(Role::Staff, None);
    let customer = sim.phones[c].leg;
    sim.room
        .send_dtmf(customer, "1#9", Duration::from_millis(100))
        .unwrap();
    assert!(
        sim.room
            .send_dtmf(customer, "x", Duration::from_millis(100))
            .is_err()
    );
    let mut no_events = LegConfig::new(Role::Staff, Codec::Pcmu);
    no_events.telephone_event = None;
    let plain = sim.room.add_leg(sim.now, no_events).unwrap();
    assert!(matches!(
        sim.room.send_dtmf(plain, "1", Duration::from_millis(100)),
        Err(Error::DtmfNotNegotiated(_))
    ));
    sim.run(1.5);
    let digits: String = sim.phones[c]
        .digits
        .iter()
        .map(|d| d.digit.as_char())
        .collect();
    assert_eq!(digits, "1#9");
    assert!(sim.phones[c].digits.iter().all(|d| d.duration == 800));
}

#[test]
fn dtmf_from_the_trunk_becomes_events() {
    use denwa_media::dtmf::DtmfDigit;
    use denwa_media::dtmf::DtmfSender;
    use denwa_media::rtp::{RtpHeader, write_rtp};
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, None);
    sim.phones[c].sending = false;
    let (leg, addr) = (sim.phones[c].leg, sim.phones[c].addr);
    let mut tx = DtmfSender::new(8000);
    tx.queue(
        DtmfDigit::from_char('7').unwrap(),
        Duration::from_millis(120),
    );
    let mut buf = [0u8; 64];
    for i in 0..20u16 {
        if let Some(p) = tx.poll_packet(u32::from(i) * 160) {
            let h = RtpHeader {
                payload_type: 101,
                marker: p.marker,
                sequence: i,
                timestamp: p.timestamp,
                ssrc: 9,
            };
            let n = write_rtp(&mut buf, &h, &p.payload).unwrap();
            sim.room.handle_rtp(sim.now, leg, addr, &buf[..n]).unwrap();
            // Every end packet twice more: still one digit.
            sim.room.handle_rtp(sim.now, leg, addr, &buf[..n]).unwrap();
        }
        sim.step();
    }
    let digits: Vec<_> = sim
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Dtmf {
                digit, duration, ..
            } => Some((digit.as_char(), *duration)),
            _ => None,
        })
        .collect();
    assert_eq!(digits, [('7', Duration::from_millis(120))]);
}

#[test]
fn loss_is_concealed_and_counted() {
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, Some(500.0));
    let a = sim.join(Role::Staff, None);
    // Lose every 10th packet of the customer.
    sim.loss = |phone, n| !(phone == 0 && n % 20 == 1);
    sim.run(3.0);
    let stats = sim.room.leg_stats(sim.phones[c].leg).unwrap();
    assert!(stats.packets_lost >= 14, "{stats:?}");
    assert!(stats.jitter_buffer.concealed >= 14);
    // Concealment keeps the tone going.
    assert!(sim.phones[a].hears(500.0, 1.0) > PRESENT);
}

#[test]
fn rtcp_reports_are_sent_every_five_seconds() {
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, Some(500.0));
    sim.run(11.0);
    assert_eq!(sim.phones[c].rtcp_received, 2);
}

#[test]
fn external_transport_leg_for_webrtc() {
    use denwa_media::Transport;
    use denwa_media::rtp::{RtpHeader, parse_rtp};
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, Some(500.0));
    let mut config = LegConfig::new(Role::Staff, Codec::Pcmu);
    config.transport = Transport::External;
    let staff = sim.room.add_leg(sim.now, config).unwrap();
    for k in 0..350u32 {
        let mut pcm = [0i16; 160];
        for (i, s) in pcm.iter_mut().enumerate() {
            let t = f64::from(k * 160 + i as u32) / 8000.0;
            *s = (3000.0 * (2.0 * std::f64::consts::PI * 1300.0 * t).sin()) as i16;
        }
        let mut payload = [0u8; 160];
        denwa_media::g711::encode_ulaw(&pcm, &mut payload);
        let h = RtpHeader {
            payload_type: 0,
            marker: false,
            sequence: k as u16,
            timestamp: k * 160,
            ssrc: 5,
        };
        sim.room.handle_media(sim.now, staff, h, &payload).unwrap();
        sim.step();
    }
    assert!(sim.phones[c].hears(1300.0, 0.5) > PRESENT);
    // 7 s of ticks: one RTP packet per tick for the external leg, and no RTCP from us.
    assert_eq!(sim.unclaimed.len(), 350);
    let heard: Vec<i16> = sim.unclaimed[300..]
        .iter()
        .flat_map(|(_, d)| {
            let (_, p) = parse_rtp(d).unwrap();
            p.iter()
                .map(|&b| denwa_media::g711::ulaw_to_linear(b))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(goertzel(&heard, 8000.0, 500.0) > PRESENT);
}

#[test]
fn rtcp_from_the_far_end_gives_round_trip_and_bye_ends_media() {
    use denwa_media::rtp::{ReceiveStats, ReportInput, write_report};
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, Some(500.0));
    sim.run(6.0);
    let leg = sim.phones[c].leg;
    // The far end reports on our stream (our SSRC is LegConfig's default).
    let our_ssrc = LegConfig::new(Role::Customer, Codec::Pcmu).ssrc;
    let mut stats = ReceiveStats::new(8000);
    stats.reset_for_ssrc(our_ssrc, 0);
    for i in 0..100u16 {
        stats.update(sim.now, i, u32::from(i) * 160);
    }
    let mut buf = [0u8; 512];
    let input = ReportInput {
        ssrc: 1000,
        cname: "far",
        ntp: 0,
        rtp_timestamp: 0,
        packets_sent: 300,
        octets_sent: 48000,
    };
    let n = write_report(&mut buf, &input, Some(&mut stats), sim.now).unwrap();
    let addr = sim.phones[c].addr;
    sim.room.handle_rtcp(sim.now, leg, addr, &buf[..n]).unwrap();
    let mut got_report = false;
    while let Some(e) = sim.room.poll_event() {
        if let Event::RemoteReport { leg: l, report } = e {
            assert_eq!(l, leg);
            assert_eq!(report.cumulative_lost, 0);
            got_report = true;
        }
    }
    assert!(got_report);
    assert!(sim.room.leg_stats(leg).unwrap().remote.is_some());
    assert!(
        sim.room
            .handle_rtcp(sim.now, leg, addr, &[0x80, 0xC8, 0, 9])
            .is_err(),
        "truncated SR"
    );
    // RTCP BYE (RFC 3550 §6.6): media is over for this leg.
    let bye = [0x81, 0xCB, 0x00, 0x01, 0x00, 0x00, 0x03, 0xE8];
    sim.room.handle_rtcp(sim.now, leg, addr, &bye).unwrap();
    assert_eq!(
        sim.room.poll_event(),
        Some(Event::MediaTimeout {
            leg,
            reason: InactivityReason::Bye
        })
    );
}

#[test]
fn jittered_and_reordered_arrival_is_smoothed() {
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, Some(500.0));
    let a = sim.join(Role::Staff, None);
    // Customer packets arrive 0–3 ticks late (up to 60 ms of jitter, reordering included).
    sim.delay = |phone, n| if phone == 0 { (n * 7919) % 4 } else { 0 };
    sim.run(6.0);
    let stats = sim.room.leg_stats(sim.phones[c].leg).unwrap();
    let jb = stats.jitter_buffer;
    assert!(stats.jitter > Duration::from_millis(5), "{stats:?}");
    assert!(
        jb.target > denwa_media::jitter::JitterBuffer::MIN_TARGET,
        "the target adapted: {jb:?}"
    );
    assert!(jb.target <= denwa_media::jitter::JitterBuffer::MAX_DELAY);
    // After adapting, nearly everything plays: at most a few late packets at the start.
    assert!(jb.late <= 10, "{jb:?}");
    assert!(jb.played >= 280, "{jb:?}");
    assert!(sim.phones[a].hears(500.0, 2.0) > PRESENT);
}

#[test]
fn a_leg_joining_while_datagrams_wait_keeps_their_order() {
    // The transmit queue grows when a leg joins; datagrams already queued (and wrapped
    // around the ring) must still leave in order, none lost.
    let t0 = std::time::Instant::now();
    let mut room = denwa_media::Room::new(t0);
    let mut config = LegConfig::new(Role::Customer, Codec::Pcmu);
    config.remote_rtp = Some(SocketAddr::from(([192, 0, 2, 1], 20000)));
    let a = room.add_leg(t0, config).unwrap();
    let mut buf = [0u8; 1500];
    let mut sent = Vec::new();
    let mut take = |room: &mut denwa_media::Room, max: usize, sent: &mut Vec<u16>| {
        for _ in 0..max {
            let Some(t) = room.poll_transmit(&mut buf) else {
                break;
            };
            if t.leg == a && t.channel == denwa_media::Channel::Rtp {
                sent.push(u16::from_be_bytes([buf[2], buf[3]]));
            }
        }
    };
    let mut now = t0;
    for _ in 0..3 {
        room.tick(now);
        now += denwa_media::TICK;
    }
    take(&mut room, 2, &mut sent);
    for _ in 0..2 {
        room.tick(now);
        now += denwa_media::TICK;
    }
    let mut staff = LegConfig::new(Role::Staff, Codec::Pcmu);
    staff.remote_rtp = Some(SocketAddr::from(([192, 0, 2, 2], 20002)));
    room.add_leg(now, staff).unwrap();
    take(&mut room, usize::MAX, &mut sent);
    assert_eq!(sent.len(), 5, "five ticks, five packets: {sent:?}");
    for pair in sent.windows(2) {
        assert_eq!(pair[1], pair[0].wrapping_add(1), "in order: {sent:?}");
    }
    assert_eq!(room.dropped_transmits(), 0);
}

#[test]
fn a_leg_that_moves_its_media_is_followed_after_set_remote() {
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, Some(500.0));
    let a = sim.join(Role::Staff, Some(700.0));
    sim.run(1.0);
    // The customer's phone (symmetric RTP, latched) moves to another address, as a
    // re-INVITE would announce. Without set_remote its packets would be refused as
    // foreign and the room would keep sending to the old address.
    let moved: std::net::SocketAddr = "198.51.100.7:40000".parse().unwrap();
    sim.phones[c].addr = moved;
    let leg = sim.phones[c].leg;
    sim.room.set_remote(leg, moved).unwrap();
    sim.run(1.0);
    assert!(
        sim.phones[a].hears(500.0, 0.5) > PRESENT,
        "staff hear the moved customer"
    );
    assert!(
        sim.phones[c].hears(700.0, 0.5) > PRESENT,
        "the customer hears staff there"
    );
    sim.room.remove_leg(leg).unwrap();
    assert!(sim.room.set_remote(leg, moved).is_err(), "a leg that left");
}

/// A 1 kHz tone at 16 kHz, `samples` long (not a whole number of frames).
fn prompt_tone(samples: usize) -> Prompt {
    let tone: Vec<i16> = (0..samples)
        .map(|i| (4000.0 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 16000.0).sin()) as i16)
        .collect();
    Prompt::new(tone.into()).unwrap()
}

fn prompt_finished(events: &[Event]) -> Vec<denwa_media::LegId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PromptFinished { leg } => Some(*leg),
            _ => None,
        })
        .collect()
}

#[test]
fn a_prompt_is_heard_once_by_its_leg_only_and_its_end_is_reported() {
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, Some(500.0));
    let a = sim.join(Role::Staff, Some(700.0));
    sim.run(0.4);
    let customer = sim.phones[c].leg;
    // 0.5 s and 100 samples: the 26th tick plays the last 100 samples.
    let prompt = prompt_tone(8100);
    assert_eq!(prompt.duration(), Duration::from_micros(506_250));
    sim.room.play(customer, prompt).unwrap();
    let heard_before = sim.phones[c].heard.len();
    for tick in 1..=25 {
        sim.step();
        assert!(
            prompt_finished(&sim.events).is_empty(),
            "finished early, at tick {tick}"
        );
    }
    sim.step();
    assert_eq!(prompt_finished(&sim.events), vec![customer]);
    sim.run(1.0);
    assert_eq!(
        prompt_finished(&sim.events),
        vec![customer],
        "the end is reported once"
    );
    // The customer heard the tone (over the staff member), in the prompt's 0.5 s only.
    let heard = &sim.phones[c].heard[heard_before..];
    let during = &heard[800..4000];
    let after = &heard[4400..];
    assert!(goertzel(during, 8000.0, 1000.0) > PRESENT);
    assert!(goertzel(during, 8000.0, 700.0) > PRESENT);
    assert!(goertzel(after, 8000.0, 1000.0) < ABSENT, "heard again");
    assert!(goertzel(after, 8000.0, 700.0) > PRESENT);
    // Nobody else heard it, and it is in no recording.
    let staff_heard = &sim.phones[a].heard;
    assert!(goertzel(&staff_heard[staff_heard.len() - 12_000..], 8000.0, 1000.0) < ABSENT);
    assert!(Sim::track_level(&sim.mixed, 1000.0, 1.5) < ABSENT);
    for track in sim.tracks.values() {
        assert!(Sim::track_level(track, 1000.0, 1.5) < ABSENT);
    }
}

#[test]
fn a_new_prompt_replaces_the_playing_one_and_a_stopped_one_never_finishes() {
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, None);
    let customer = sim.phones[c].leg;
    sim.room.play(customer, prompt_tone(16_000)).unwrap();
    sim.run(0.2);
    // Replaced by a 0.1 s prompt: one end, 5 ticks later, not the first prompt's.
    sim.room.play(customer, prompt_tone(1600)).unwrap();
    sim.run(2.0);
    assert_eq!(prompt_finished(&sim.events), vec![customer]);
    let heard = &sim.phones[c].heard;
    assert!(goertzel(&heard[heard.len() - 8000..], 8000.0, 1000.0) < ABSENT);
    // Stopped: silence and no event.
    sim.room.play(customer, prompt_tone(16_000)).unwrap();
    sim.run(0.2);
    assert!(sim.room.stop_prompt(customer).unwrap());
    assert!(!sim.room.stop_prompt(customer).unwrap());
    sim.run(1.5);
    assert_eq!(prompt_finished(&sim.events).len(), 1);
    let heard = &sim.phones[c].heard;
    assert!(goertzel(&heard[heard.len() - 8000..], 8000.0, 1000.0) < ABSENT);
    // A leg that is not in the room.
    sim.room.remove_leg(customer).unwrap();
    assert!(matches!(
        sim.room.play(customer, prompt_tone(10)),
        Err(Error::UnknownLeg(_))
    ));
    assert!(matches!(
        Prompt::new(Vec::new().into()),
        Err(Error::EmptyPrompt)
    ));
}

#[test]
fn a_prompt_plays_over_the_hold_music_to_the_held_customer() {
    let mut sim = Sim::new();
    let c = sim.join(Role::Customer, None);
    let a = sim.join(Role::Staff, None);
    let (customer, staff) = (sim.phones[c].leg, sim.phones[a].leg);
    let music: Vec<i16> = (0..16000)
        .map(|i| (3000.0 * (2.0 * std::f64::consts::PI * 3000.0 * i as f64 / 16000.0).sin()) as i16)
        .collect();
    sim.room
        .set_hold_music(HoldMusic::shared(music.into()).unwrap());
    sim.room.hold(customer, staff).unwrap();
    sim.room.play(customer, prompt_tone(16_000)).unwrap();
    sim.run(0.8);
    assert!(sim.phones[c].hears(1000.0, 0.5) > PRESENT);
    assert!(sim.phones[c].hears(3000.0, 0.5) > PRESENT);
    assert!(sim.phones[a].hears(1000.0, 0.5) < ABSENT);
}

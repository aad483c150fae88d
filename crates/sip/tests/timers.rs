//! Timers under many concurrent transactions, on a virtual clock: every
//! transaction's timers fire exactly at its own deadlines, whatever else is
//! pending, and a finished transaction leaves nothing behind.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use denwa_sip::rate_limit::RateLimitConfig;
use denwa_sip::{Config, EndReason, Event, InviteParams, Output, Transport};

/// The §13.3.1.4 2xx retransmission schedule (T1 doubling, capped at T2), ms after the 200;
/// timer E runs the same schedule for a BYE nobody answers.
const G_SCHEDULE: [u64; 11] = [
    0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
];

enum Step {
    Invite(usize),
    Ack(usize),
}

/// 300 inbound calls arrive 37 ms apart and are answered at once; every third
/// is ACKed 2 s after its 200. Each call's 200 must be retransmitted on its
/// own schedule (stopping at the ACK), and each unACKed call must end with BYE
/// exactly 64·T1 after its 200.
#[test]
fn many_calls_each_retransmit_and_time_out_on_their_own_schedule() {
    const CALLS: usize = 300;
    let mut cfg = Config::new(addr(DENWA), 7);
    cfg.invite_rate = RateLimitConfig {
        burst: 1000,
        per_second: 1000.0,
        ..RateLimitConfig::default()
    };
    let mut raw = Raw::with_config(cfg);
    let gap = Duration::from_millis(37);
    let mut plan: Vec<(Duration, Step)> = Vec::new();
    for k in 0..CALLS {
        let at = gap * k as u32;
        plan.push((at, Step::Invite(k)));
        if k % 3 == 0 {
            plan.push((at + Duration::from_millis(2000), Step::Ack(k)));
        }
    }
    plan.sort_by_key(|(at, _)| *at);
    let mut handles = HashMap::new();
    let mut tags = HashMap::new();
    for (at, step) in plan {
        let elapsed = raw.now - raw.start;
        raw.advance(at - elapsed);
        match step {
            Step::Invite(k) => {
                let call_id = format!("many{k}");
                raw.recv(&invite(&format!("z9hG4bKm{k}"), &call_id, Some(OFFER), ""));
                let call = match raw.take_events().as_slice() {
                    [Event::IncomingCall { call, .. }] => *call,
                    other => panic!("expected IncomingCall, got {other:?}"),
                };
                raw.ep
                    .answer(raw.now, call, audio(30000))
                    .expect("codecs match");
                raw.drain();
                tags.insert(k, to_tag(&raw.last_sent()));
                handles.insert(call, k);
            }
            Step::Ack(k) => {
                let call_id = format!("many{k}");
                let ack = in_dialog(
                    "ACK",
                    &format!("z9hG4bKa{k}"),
                    &call_id,
                    &tags[&k],
                    1,
                    None,
                    "",
                );
                raw.recv(&ack);
                assert!(matches!(
                    raw.take_events().as_slice(),
                    [Event::CallConfirmed { .. }]
                ));
            }
        }
    }
    raw.advance(Duration::from_secs(40));

    // (call index) → ms offsets of its 200s and BYEs, relative to its INVITE.
    let mut oks: HashMap<usize, Vec<u64>> = HashMap::new();
    let mut byes: HashMap<usize, Vec<u64>> = HashMap::new();
    for (at, t) in &raw.sent {
        let line = first_line(&t.bytes);
        let Some(k) = header(&t.bytes, "Call-ID")
            .and_then(|c| c.strip_prefix("many").and_then(|n| n.parse::<usize>().ok()))
        else {
            continue;
        };
        let offset = (*at - gap * k as u32).as_millis() as u64;
        if line == "SIP/2.0 200 OK" {
            oks.entry(k).or_default().push(offset);
        } else if line.starts_with("BYE ") {
            byes.entry(k).or_default().push(offset);
        }
    }
    for k in 0..CALLS {
        let expected: Vec<u64> = if k % 3 == 0 {
            G_SCHEDULE.iter().copied().filter(|ms| *ms < 2000).collect()
        } else {
            G_SCHEDULE.to_vec()
        };
        assert_eq!(oks.get(&k), Some(&expected), "200s of call {k}");
        // The BYE goes out at 64·T1 and is retransmitted on timer E (nobody answers it).
        let end = (raw.now - raw.start - gap * k as u32).as_millis() as u64;
        let bye: Vec<u64> = G_SCHEDULE
            .iter()
            .map(|ms| 32_000 + ms)
            .filter(|ms| *ms <= end)
            .collect();
        let bye = (k % 3 != 0).then_some(&bye);
        assert_eq!(byes.get(&k), bye, "BYEs of call {k}");
    }
    let ended: Vec<usize> = raw
        .take_events()
        .iter()
        .filter_map(|e| match e {
            Event::CallEnded {
                call,
                reason: EndReason::AckTimeout,
            } => Some(handles[call]),
            _ => None,
        })
        .collect();
    assert_eq!(ended.len(), CALLS - CALLS / 3);
    assert!(
        ended.windows(2).all(|w| w[0] < w[1]),
        "ended in deadline order"
    );
    assert_eq!(raw.ep.call_count(), CALLS / 3, "the ACKed calls stay up");
}

/// Outbound INVITE: timer A is due at T1; a provisional response cancels A
/// and B (no timer left); the 200 arms timer M, and when M fires the
/// transaction is gone and the endpoint is idle (the timeout is the one-hour
/// fallback).
#[test]
fn client_timer_moves_with_each_response_and_vanishes_with_the_transaction() {
    let mut raw = Raw::new();
    let t0 = raw.now;
    raw.ep
        .invite(
            t0,
            InviteParams {
                to_uri: "sip:+81312345678@trunk.example".into(),
                from_uri: "sip:+81398765432@denwa.example".into(),
                from_display: None,
                target: addr(TRUNK),
                transport: Transport::Udp,
                audio: audio(32000),
                credentials: None,
            },
        )
        .expect("valid URIs");
    raw.drain();
    let inv = raw.last_sent();
    assert_eq!(raw.next_timeout, t0 + Duration::from_millis(500), "timer A");
    assert_eq!(raw.ep.poll_timeout(), Some(t0 + Duration::from_millis(500)));
    raw.advance(Duration::from_millis(700));
    assert_eq!(raw.sent.len(), 2, "one retransmission at T1");
    assert_eq!(
        raw.next_timeout,
        t0 + Duration::from_millis(1500),
        "A doubled"
    );

    let h = |n: &str| header(&inv, n).unwrap_or_default();
    let response = |status: &str, tag: Option<&str>, body: &str| {
        let to = tag.map_or(h("To"), |t| format!("{};tag={t}", h("To")));
        let ct = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
             Contact: <sip:trunk@192.0.2.20:5060>\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            h("Via"),
            h("From"),
            h("Call-ID"),
            h("CSeq"),
            body.len()
        )
        .into_bytes()
    };
    raw.recv(&response("100 Trying", None, ""));
    assert_eq!(raw.ep.poll_timeout(), None, "1xx stops timers A and B");
    assert_eq!(raw.next_timeout, raw.now + Duration::from_secs(3600));
    raw.advance(Duration::from_secs(10));
    assert_eq!(raw.sent.len(), 2, "no retransmission while proceeding");

    raw.recv(&response("200 OK", Some("far"), OFFER));
    let answered_at = raw.now;
    assert_eq!(
        raw.ep.poll_timeout(),
        Some(answered_at + Duration::from_secs(32)),
        "timer M (RFC 6026)"
    );
    raw.advance(Duration::from_secs(31));
    // A retransmitted 200 is still absorbed by the transaction (ACK re-sent).
    let before = raw.sent.len();
    raw.recv(&response("200 OK", Some("far"), OFFER));
    assert_eq!(raw.sent.len(), before + 1, "ACK re-sent for the 200");
    raw.advance(Duration::from_secs(2));
    assert_eq!(raw.ep.poll_timeout(), None, "transaction gone after M");
    // The fallback counts from the last instant the endpoint saw: timer M's.
    let m = answered_at + Duration::from_secs(32);
    match raw.ep.poll_output() {
        Output::Timeout(at) => assert_eq!(at, m + Duration::from_secs(3600)),
        other => panic!("expected idle, got {other:?}"),
    }
}

/// Server non-INVITE transactions (OPTIONS) answered every 10 ms linger 64·T1
/// each (timer J) and then leave; at any instant the next timeout is that of
/// the oldest one still lingering.
#[test]
fn lingering_transactions_leave_one_by_one_at_their_own_deadline() {
    let mut raw = Raw::new();
    let t0 = raw.now;
    for k in 0..100u32 {
        let req = format!(
            "OPTIONS sip:denwa@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKo{k}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:probe@192.0.2.20>;tag=p{k}\r\nTo: <sip:denwa@198.51.100.10>\r\n\
             Call-ID: opt{k}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        raw.recv(req.as_bytes());
        raw.advance(Duration::from_millis(10));
    }
    assert_eq!(raw.sent.len(), 100);
    let j = Duration::from_secs(32);
    for k in 0..100u32 {
        let due = t0 + j + Duration::from_millis(10) * k;
        assert_eq!(
            raw.ep.poll_timeout(),
            Some(due),
            "after {k} left, the next is OPTIONS {k}"
        );
        raw.advance(due - Duration::from_millis(1) - raw.now);
        assert_eq!(raw.ep.poll_timeout(), Some(due), "not a millisecond early");
        raw.advance(Duration::from_millis(1));
    }
    assert_eq!(raw.ep.poll_timeout(), None);
    assert_eq!(raw.sent.len(), 100, "timer J sends nothing");
}

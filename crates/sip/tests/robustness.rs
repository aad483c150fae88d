//! Malformed and hostile input: answered 400/503 or dropped, never a panic.

mod common;

use std::time::Duration;

use common::*;
use denwa_sip::rate_limit::RateLimitConfig;
use denwa_sip::{Config, Event};

#[test]
fn request_missing_cseq_is_answered_400() {
    let mut raw = Raw::new();
    let bad = String::from_utf8(invite("z9hG4bK1", "c1", Some(OFFER), ""))
        .expect("utf8")
        .replace("CSeq: 1 INVITE\r\n", "");
    raw.recv(bad.as_bytes());
    assert_eq!(raw.sent_lines(), vec!["SIP/2.0 400 Bad Request"]);
    assert!(raw.take_events().is_empty());
}

#[test]
fn cseq_method_mismatch_is_answered_400() {
    let mut raw = Raw::new();
    let bad = String::from_utf8(invite("z9hG4bK1", "c1", None, ""))
        .expect("utf8")
        .replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
    raw.recv(bad.as_bytes());
    assert_eq!(raw.sent_lines(), vec!["SIP/2.0 400 Bad Request"]);
}

#[test]
fn unparseable_sdp_offer_is_answered_400() {
    let mut raw = Raw::new();
    raw.recv(&invite("z9hG4bK1", "c1", Some("this is not sdp"), ""));
    assert_eq!(raw.sent_lines(), vec!["SIP/2.0 400 Bad Request"]);
    assert!(raw.take_events().is_empty());
}

#[test]
fn garbage_and_truncated_messages_are_dropped_silently() {
    let mut raw = Raw::new();
    raw.recv(b"\x00\xff\xfe garbage");
    let mut truncated = invite("z9hG4bK1", "c1", Some(OFFER), "");
    truncated.truncate(truncated.len() - 10);
    raw.recv(&truncated);
    raw.recv(b"\r\n\r\n");
    assert!(raw.sent.is_empty());
    assert!(raw.take_events().is_empty());
}

#[test]
fn oversized_datagram_is_dropped() {
    let mut cfg = Config::new(addr(DENWA), 1);
    cfg.max_message_size = 1000;
    let mut raw = Raw::with_config(cfg);
    let padding = format!("X-Pad: {}\r\n", "a".repeat(2000));
    raw.recv(&invite("z9hG4bK1", "c1", Some(OFFER), &padding));
    assert!(raw.sent.is_empty());
}

#[test]
fn max_forwards_zero_is_answered_483() {
    let mut raw = Raw::new();
    let bad = String::from_utf8(invite("z9hG4bK1", "c1", None, ""))
        .expect("utf8")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    raw.recv(bad.as_bytes());
    assert_eq!(raw.sent_lines(), vec!["SIP/2.0 483 Too Many Hops"]);
}

#[test]
fn unknown_required_extension_is_answered_420() {
    let mut raw = Raw::new();
    raw.recv(&invite(
        "z9hG4bK1",
        "c1",
        Some(OFFER),
        "Require: 100rel, foo\r\n",
    ));
    let resp = raw.last_sent();
    assert_eq!(first_line(&resp), "SIP/2.0 420 Bad Extension");
    assert_eq!(header(&resp, "Unsupported").as_deref(), Some("100rel, foo"));
}

#[test]
fn invite_flood_from_one_source_gets_503_with_retry_after() {
    let mut cfg = Config::new(addr(DENWA), 1);
    cfg.invite_rate = RateLimitConfig {
        burst: 3,
        per_second: 1.0,
        idle_forget: Duration::from_secs(60),
    };
    let mut raw = Raw::with_config(cfg);
    for i in 0..4 {
        raw.recv(&invite(
            &format!("z9hG4bKf{i}"),
            &format!("flood{i}"),
            Some(OFFER),
            "",
        ));
    }
    let resp = raw.last_sent();
    assert_eq!(first_line(&resp), "SIP/2.0 503 Service Unavailable");
    assert_eq!(header(&resp, "Retry-After").as_deref(), Some("1"));
    let events = raw.take_events();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::IncomingCall { .. }))
            .count(),
        3
    );
    assert!(matches!(
        events.last(),
        Some(Event::InviteRateLimited {
            retry_after_s: 1,
            ..
        })
    ));
    raw.advance(Duration::from_secs(1));
    raw.recv(&invite("z9hG4bKf9", "flood9", Some(OFFER), ""));
    assert!(
        matches!(raw.take_events().as_slice(), [Event::IncomingCall { .. }]),
        "a token refilled"
    );
}

#[test]
fn stray_response_is_ignored() {
    let mut raw = Raw::new();
    raw.recv(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKnope\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
    assert!(raw.sent.is_empty());
    assert!(raw.take_events().is_empty());
}

#[test]
fn transaction_table_limit_answers_stateless_503() {
    let mut cfg = Config::new(addr(DENWA), 1);
    cfg.max_server_transactions = 2;
    let mut raw = Raw::with_config(cfg);
    for i in 0..3 {
        let opts = String::from_utf8(invite(&format!("z9hG4bKo{i}"), &format!("o{i}"), None, ""))
            .expect("utf8")
            .replacen("INVITE sip", "OPTIONS sip", 1)
            .replace("CSeq: 1 INVITE", "CSeq: 1 OPTIONS");
        raw.recv(opts.as_bytes());
    }
    assert_eq!(
        raw.sent_lines(),
        vec![
            "SIP/2.0 200 OK",
            "SIP/2.0 200 OK",
            "SIP/2.0 503 Service Unavailable"
        ]
    );
    // Timer J (64·T1 on UDP) frees the table again.
    raw.advance(Duration::from_secs(33));
    raw.take_sent();
    let opts = String::from_utf8(invite("z9hG4bKo9", "o9", None, ""))
        .expect("utf8")
        .replacen("INVITE sip", "OPTIONS sip", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 OPTIONS");
    raw.recv(opts.as_bytes());
    assert_eq!(raw.sent_lines(), vec!["SIP/2.0 200 OK"]);
}

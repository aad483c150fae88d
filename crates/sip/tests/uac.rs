//! Outbound calls (UAC): against a scripted trunk and against a second
//! endpoint, on a virtual clock.

mod common;

use std::time::Duration;

use common::*;
use denwa_sip::auth::{Challenge, Credentials};
use denwa_sip::sdp::{Codec, Direction, SdpError};
use denwa_sip::{CallHandle, EndReason, Error, Event, InviteParams, Transport};

fn params(target: &str, creds: Option<(&str, &str)>) -> InviteParams {
    InviteParams {
        to_uri: "sip:+81312345678@trunk.example".into(),
        from_uri: "sip:+81398765432@denwa.example".into(),
        from_display: Some("Support".into()),
        target: addr(target),
        transport: Transport::Udp,
        audio: audio(32000),
        credentials: creds.map(|(u, p)| (u.to_owned(), p.to_owned())),
    }
}

/// A response from the scripted trunk to a request Denwa sent.
fn reply(
    req: &[u8],
    status: u16,
    reason: &str,
    to_tag: Option<&str>,
    extra: &str,
    body: Option<&str>,
) -> Vec<u8> {
    let h = |n: &str| header(req, n).unwrap_or_default();
    let to = match to_tag {
        Some(t) => format!("{};tag={t}", h("To")),
        None => h("To"),
    };
    let b = body.unwrap_or("");
    let ct = if body.is_some() {
        "Content-Type: application/sdp\r\n"
    } else {
        ""
    };
    format!(
        "SIP/2.0 {status} {reason}\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         Contact: <sip:trunk@192.0.2.20:5060>\r\n{extra}{ct}Content-Length: {}\r\n\r\n{b}",
        h("Via"),
        h("From"),
        h("Call-ID"),
        h("CSeq"),
        b.len()
    )
    .into_bytes()
}

const ANSWER: &str = "v=0\r\no=trunk 5 5 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n\
m=audio 41000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

fn start(raw: &mut Raw, creds: Option<(&str, &str)>) -> (CallHandle, Vec<u8>) {
    let call = raw
        .ep
        .invite(raw.now, params(TRUNK, creds))
        .expect("valid URIs");
    raw.drain();
    let inv = raw.last_sent();
    assert_eq!(
        first_line(&inv),
        "INVITE sip:+81312345678@trunk.example SIP/2.0"
    );
    (call, inv)
}

#[test]
fn outbound_invite_carries_an_sdp_offer_and_supported_timer() {
    let mut raw = Raw::new();
    let (_, inv) = start(&mut raw, None);
    assert!(body(&inv).contains("m=audio 32000 RTP/AVP 0 8 101"));
    assert_eq!(header(&inv, "Supported").as_deref(), Some("timer"));
    assert!(
        header(&inv, "From")
            .is_some_and(|f| f.starts_with("\"Support\" <sip:+81398765432@denwa.example>;tag="))
    );
}

#[test]
fn outbound_call_answered_sends_ack_and_reports_audio() {
    let mut raw = Raw::new();
    let (call, inv) = start(&mut raw, None);
    raw.recv(&reply(&inv, 180, "Ringing", Some("t1"), "", None));
    raw.recv(&reply(&inv, 200, "OK", Some("t1"), "", Some(ANSWER)));
    let ack = raw.last_sent();
    assert_eq!(
        first_line(&ack),
        "ACK sip:trunk@192.0.2.20:5060 SIP/2.0",
        "ACK goes to the Contact"
    );
    assert_eq!(header(&ack, "CSeq").as_deref(), Some("1 ACK"));
    assert_ne!(
        header(&ack, "Via"),
        header(&inv, "Via"),
        "2xx ACK has its own branch"
    );
    let events = raw.take_events();
    assert!(matches!(
        events[0],
        Event::CallProgress {
            status: 180,
            early_media: None,
            ..
        }
    ));
    let Event::CallAnswered { call: c, audio } = &events[1] else {
        panic!("expected CallAnswered, got {events:?}");
    };
    assert_eq!(
        (*c, audio.codec, audio.remote_rtp),
        (call, Codec::Pcma, addr("192.0.2.20:41000"))
    );
}

#[test]
fn retransmitted_200_is_acked_again_without_a_second_event() {
    let mut raw = Raw::new();
    let (_, inv) = start(&mut raw, None);
    let ok = reply(&inv, 200, "OK", Some("t1"), "", Some(ANSWER));
    raw.recv(&ok);
    raw.take_events();
    raw.take_sent();
    raw.recv(&ok);
    assert_eq!(
        raw.sent_lines(),
        vec!["ACK sip:trunk@192.0.2.20:5060 SIP/2.0"]
    );
    assert!(raw.take_events().is_empty());
}

#[test]
fn timer_b_fails_an_unanswered_invite_with_408_after_six_retransmissions() {
    let mut raw = Raw::new();
    let (call, _) = start(&mut raw, None);
    raw.advance(Duration::from_secs(33));
    let invites = raw
        .sent_lines()
        .iter()
        .filter(|l| l.starts_with("INVITE"))
        .count();
    assert_eq!(
        invites, 7,
        "original + A at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s"
    );
    assert_eq!(
        raw.take_events(),
        vec![Event::CallFailed { call, status: 408 }]
    );
}

#[test]
fn provisional_response_stops_invite_retransmission() {
    let mut raw = Raw::new();
    let (_, inv) = start(&mut raw, None);
    raw.recv(&reply(&inv, 100, "Trying", None, "", None));
    raw.take_sent();
    raw.advance(Duration::from_secs(60));
    assert!(raw.sent.is_empty());
    assert!(raw.take_events().is_empty(), "no timer B in Proceeding");
}

#[test]
fn non_2xx_final_is_acked_on_the_invite_branch_and_reported() {
    let mut raw = Raw::new();
    let (call, inv) = start(&mut raw, None);
    let busy = reply(&inv, 486, "Busy Here", Some("t1"), "", None);
    raw.recv(&busy);
    let ack = raw.last_sent();
    assert_eq!(
        first_line(&ack),
        "ACK sip:+81312345678@trunk.example SIP/2.0"
    );
    assert_eq!(header(&ack, "Via"), header(&inv, "Via"));
    assert_eq!(
        raw.take_events(),
        vec![Event::CallFailed { call, status: 486 }]
    );
    raw.take_sent();
    raw.recv(&busy);
    assert_eq!(
        raw.sent_lines(),
        vec!["ACK sip:+81312345678@trunk.example SIP/2.0"],
        "retransmitted 486 re-ACKed"
    );
    assert!(raw.take_events().is_empty());
}

fn digest_retry(status: u16, challenge_header: &str, auth_header: &str) {
    let mut raw = Raw::new();
    let (call, inv) = start(&mut raw, Some(("alice", "s3cret")));
    let chal = "Digest realm=\"trunk\", nonce=\"abc123\", qop=\"auth\", algorithm=SHA-256";
    let reason = if status == 401 {
        "Unauthorized"
    } else {
        "Proxy Authentication Required"
    };
    raw.recv(&reply(
        &inv,
        status,
        reason,
        Some("t0"),
        &format!("{challenge_header}: {chal}\r\n"),
        None,
    ));
    let sent = raw.take_sent();
    assert_eq!(
        first_line(&sent[sent.len() - 2]),
        "ACK sip:+81312345678@trunk.example SIP/2.0"
    );
    let retry = sent.last().cloned().expect("a retried INVITE");
    assert_eq!(
        first_line(&retry),
        "INVITE sip:+81312345678@trunk.example SIP/2.0"
    );
    assert_eq!(header(&retry, "CSeq").as_deref(), Some("2 INVITE"));
    assert_eq!(header(&retry, "Call-ID"), header(&inv, "Call-ID"));
    assert_ne!(
        header(&retry, "Via"),
        header(&inv, "Via"),
        "new transaction"
    );
    let creds = Credentials::parse(&header(&retry, auth_header).expect("credentials sent"))
        .expect("parses");
    assert!(creds.verify("s3cret", "INVITE"), "the digest is correct");
    assert_eq!(creds.realm, "trunk");
    assert!(
        raw.take_events().is_empty(),
        "the retry is invisible to the app"
    );
    raw.recv(&reply(&retry, 200, "OK", Some("t1"), "", Some(ANSWER)));
    assert!(
        matches!(raw.take_events().as_slice(), [Event::CallAnswered { call: c, .. }] if *c == call)
    );
}

#[test]
fn digest_retry_after_401_answers_with_authorization() {
    digest_retry(401, "WWW-Authenticate", "Authorization");
}

#[test]
fn digest_retry_after_407_answers_with_proxy_authorization() {
    digest_retry(407, "Proxy-Authenticate", "Proxy-Authorization");
}

#[test]
fn second_challenge_with_same_nonce_fails_the_call() {
    let mut raw = Raw::new();
    let (call, inv) = start(&mut raw, Some(("alice", "wrong")));
    let chal = "WWW-Authenticate: Digest realm=\"trunk\", nonce=\"n1\"\r\n";
    raw.recv(&reply(&inv, 401, "Unauthorized", Some("t0"), chal, None));
    let retry = raw.last_sent();
    raw.recv(&reply(&retry, 401, "Unauthorized", Some("t0"), chal, None));
    assert_eq!(
        raw.take_events(),
        vec![Event::CallFailed { call, status: 401 }]
    );
}

#[test]
fn md5_challenge_is_answered_with_md5() {
    let mut raw = Raw::new();
    let (_, inv) = start(&mut raw, Some(("bob", "pw")));
    raw.recv(&reply(
        &inv,
        401,
        "Unauthorized",
        Some("t0"),
        "WWW-Authenticate: Digest realm=\"r\", nonce=\"n\"\r\n",
        None,
    ));
    let creds = Credentials::parse(&header(&raw.last_sent(), "Authorization").expect("sent"))
        .expect("parses");
    assert_eq!(creds.algorithm, denwa_sip::auth::Algorithm::Md5);
    assert!(creds.verify("pw", "INVITE"));
    let _ = Challenge::parse("Digest realm=\"r\", nonce=\"n\"").expect("parses");
}

#[test]
fn cancel_waits_for_a_provisional_response_then_487_fails_the_call() {
    let mut raw = Raw::new();
    let (call, inv) = start(&mut raw, None);
    raw.ep.cancel(raw.now, call).expect("early outbound call");
    raw.drain();
    assert!(
        !raw.sent_lines().iter().any(|l| l.starts_with("CANCEL")),
        "§9.1: no CANCEL before a 1xx"
    );
    raw.recv(&reply(&inv, 180, "Ringing", Some("t1"), "", None));
    let cancel = raw.last_sent();
    assert_eq!(
        first_line(&cancel),
        "CANCEL sip:+81312345678@trunk.example SIP/2.0"
    );
    assert_eq!(header(&cancel, "Via"), header(&inv, "Via"));
    assert_eq!(header(&cancel, "CSeq").as_deref(), Some("1 CANCEL"));
    raw.recv(&reply(&cancel, 200, "OK", Some("t1"), "", None));
    raw.recv(&reply(
        &inv,
        487,
        "Request Terminated",
        Some("t1"),
        "",
        None,
    ));
    let events = raw.take_events();
    assert_eq!(
        events.last(),
        Some(&Event::CallFailed { call, status: 487 })
    );
    assert_eq!(
        first_line(&raw.last_sent()),
        "ACK sip:+81312345678@trunk.example SIP/2.0"
    );
}

#[test]
fn cancel_losing_the_race_to_200_sends_ack_then_bye() {
    let mut raw = Raw::new();
    let (call, inv) = start(&mut raw, None);
    raw.recv(&reply(&inv, 180, "Ringing", Some("t1"), "", None));
    raw.ep.cancel(raw.now, call).expect("early");
    raw.drain();
    raw.take_sent();
    raw.recv(&reply(&inv, 200, "OK", Some("t1"), "", Some(ANSWER)));
    let lines = raw.sent_lines();
    assert!(lines[0].starts_with("ACK "), "{lines:?}");
    assert!(lines[1].starts_with("BYE "), "{lines:?}");
    let events = raw.take_events();
    assert_eq!(
        events.last(),
        Some(&Event::CallEnded {
            call,
            reason: EndReason::CancelledAfterAnswer
        })
    );
}

#[test]
fn answer_without_common_codec_is_acked_then_hung_up() {
    let mut raw = Raw::new();
    let (call, inv) = start(&mut raw, None);
    let g729 = ANSWER.replace("RTP/AVP 8 101", "RTP/AVP 18");
    raw.recv(&reply(&inv, 200, "OK", Some("t1"), "", Some(&g729)));
    let lines = raw.sent_lines();
    assert!(
        lines.iter().any(|l| l.starts_with("ACK "))
            && lines.last().is_some_and(|l| l.starts_with("BYE "))
    );
    assert_eq!(
        raw.take_events(),
        vec![Event::CallEnded {
            call,
            reason: EndReason::NoCommonCodec
        }]
    );
}

#[test]
fn early_media_183_reports_negotiated_audio() {
    let mut raw = Raw::new();
    let (_, inv) = start(&mut raw, None);
    raw.recv(&reply(
        &inv,
        183,
        "Session Progress",
        Some("t1"),
        "",
        Some(ANSWER),
    ));
    let Some(Event::CallProgress {
        status: 183,
        early_media: Some(a),
        ..
    }) = raw.take_events().pop()
    else {
        panic!("expected 183 with early media");
    };
    assert_eq!(a.codec, Codec::Pcma);
}

#[test]
fn invalid_uri_is_refused() {
    let mut raw = Raw::new();
    let mut p = params(TRUNK, None);
    p.to_uri = "mailto:x@y".into();
    assert!(matches!(
        raw.ep.invite(raw.now, p),
        Err(Error::InvalidUri(_))
    ));
}

// ----- two Denwa endpoints back to back ---------------------------------------

fn call_pair() -> (Pair, CallHandle, CallHandle) {
    let mut p = Pair::new();
    let a_call = p.a.invite(p.now, params(DENWA, None)).expect("valid");
    p.drive();
    let Some(Event::IncomingCall { call: b_call, .. }) = p.b_events.pop() else {
        panic!("B sees the call");
    };
    p.b.ringing(p.now, b_call, None).expect("early");
    p.b.answer(p.now, b_call, audio(30000)).expect("match");
    p.drive();
    assert!(matches!(
        p.a_events.last(),
        Some(Event::CallAnswered { .. })
    ));
    assert!(matches!(
        p.b_events.last(),
        Some(Event::CallConfirmed { .. })
    ));
    p.a_events.clear();
    p.b_events.clear();
    (p, a_call, b_call)
}

#[test]
fn two_endpoints_set_up_a_call() {
    let (p, _, _) = call_pair();
    assert_eq!(p.a.call_count(), 1);
    assert_eq!(p.b.call_count(), 1);
    assert_eq!(p.wire_count(Side::A, "ACK"), 1);
}

#[test]
fn bye_from_the_caller_ends_the_call_on_both_sides() {
    let (mut p, a_call, b_call) = call_pair();
    p.a.bye(p.now, a_call).expect("confirmed");
    p.drive();
    assert_eq!(
        p.b_events,
        vec![Event::CallEnded {
            call: b_call,
            reason: EndReason::RemoteBye
        }]
    );
    assert_eq!((p.a.call_count(), p.b.call_count()), (0, 0));
}

#[test]
fn bye_from_the_callee_ends_the_call_on_both_sides() {
    let (mut p, a_call, b_call) = call_pair();
    p.b.bye(p.now, b_call).expect("confirmed");
    p.drive();
    assert_eq!(
        p.a_events,
        vec![Event::CallEnded {
            call: a_call,
            reason: EndReason::RemoteBye
        }]
    );
    assert_eq!((p.a.call_count(), p.b.call_count()), (0, 0));
}

#[test]
fn caller_cancel_reaches_callee_as_call_cancelled() {
    let mut p = Pair::new();
    let a_call = p.a.invite(p.now, params(DENWA, None)).expect("valid");
    p.drive();
    let Some(Event::IncomingCall { call: b_call, .. }) = p.b_events.pop() else {
        panic!("B sees the call");
    };
    p.b.ringing(p.now, b_call, None).expect("early");
    p.drive();
    p.a.cancel(p.now, a_call).expect("early");
    p.drive();
    assert_eq!(p.b_events, vec![Event::CallCancelled { call: b_call }]);
    assert_eq!(
        p.a_events.last(),
        Some(&Event::CallFailed {
            call: a_call,
            status: 487
        })
    );
    p.advance(Duration::from_secs(40));
    assert_eq!(
        p.wire_count(Side::B, "SIP/2.0 487"),
        1,
        "ACK stopped timer G"
    );
}

#[test]
fn callee_without_common_codec_rejects_with_488() {
    let mut p = Pair::new();
    let mut params = params(DENWA, None);
    params.audio.codecs = vec![Codec::Opus];
    params.audio.telephone_event = false;
    let a_call = p.a.invite(p.now, params).expect("valid");
    p.drive();
    let Some(Event::IncomingCall { call: b_call, .. }) = p.b_events.pop() else {
        panic!("B sees the call");
    };
    assert_eq!(
        p.b.answer(p.now, b_call, audio(30000)),
        Err(Error::Sdp(SdpError::NoCommonCodec))
    );
    p.b.reject(p.now, b_call, 488).expect("early");
    p.drive();
    assert_eq!(
        p.a_events.last(),
        Some(&Event::CallFailed {
            call: a_call,
            status: 488
        })
    );
}

#[test]
fn lost_ack_is_recovered_by_200_retransmission() {
    let mut p = Pair::new();
    let mut dropped = false;
    p.drop_if = Box::new(move |side, line| {
        if side == Side::A && line.starts_with("ACK") && !dropped {
            dropped = true;
            return true;
        }
        false
    });
    p.a.invite(p.now, params(DENWA, None)).expect("valid");
    p.drive();
    let Some(Event::IncomingCall { call: b_call, .. }) = p.b_events.pop() else {
        panic!("B sees the call");
    };
    p.b.answer(p.now, b_call, audio(30000)).expect("match");
    p.drive();
    assert!(p.b_events.is_empty(), "first ACK lost");
    p.advance(Duration::from_secs(1));
    assert_eq!(
        p.b_events,
        vec![Event::CallConfirmed {
            call: b_call,
            audio: None
        }]
    );
    assert_eq!(p.wire_count(Side::A, "ACK"), 2);
}

#[test]
fn session_timer_negotiated_between_endpoints_refreshes_with_update() {
    let (mut p, _, _) = call_pair();
    // A did not ask for Session-Expires, but said Supported: timer, so B
    // picks its configured interval with refresher=uac.
    p.advance(Duration::from_secs(1000));
    assert!(
        p.wire_count(Side::A, "UPDATE") >= 1,
        "A refreshes: {:?}",
        p.wire
    );
    assert!(
        p.a_events.is_empty() && p.b_events.is_empty(),
        "no session expiry while refreshing"
    );
    assert_eq!((p.a.call_count(), p.b.call_count()), (1, 1));
}

#[test]
fn hold_by_reinvite_reaches_the_peer_as_remote_hold() {
    let (mut p, a_call, b_call) = call_pair();
    let mut hold = audio(32000);
    hold.direction = Direction::SendOnly;
    p.a.update_session(p.now, a_call, hold).expect("confirmed");
    p.drive();
    let Some(Event::SessionModified { call, audio: neg }) = p.b_events.pop() else {
        panic!("B sees the hold: {:?}", p.b_events);
    };
    assert_eq!(
        (call, neg.remote_hold, neg.direction),
        (b_call, true, Direction::RecvOnly)
    );
    let Some(Event::SessionModified { call, audio: neg }) = p.a_events.pop() else {
        panic!("A sees its re-INVITE answered: {:?}", p.a_events);
    };
    assert_eq!((call, neg.direction), (a_call, Direction::SendOnly));
    p.a.update_session(p.now, a_call, audio(32000))
        .expect("confirmed");
    p.drive();
    assert!(
        matches!(p.b_events.pop(), Some(Event::SessionModified { audio, .. }) if !audio.remote_hold)
    );
    p.advance(Duration::from_secs(40));
    assert_eq!(
        p.wire_count(Side::B, "SIP/2.0 200"),
        p.wire_count(Side::A, "ACK"),
        "every 2xx ACKed once, none retransmitted"
    );
}

#[test]
fn reinvite_refused_keeps_the_old_session_and_reports_failure() {
    let mut raw = Raw::new();
    let (call, inv) = start(&mut raw, None);
    raw.recv(&reply(&inv, 200, "OK", Some("t1"), "", Some(ANSWER)));
    raw.take_events();
    raw.ep
        .update_session(raw.now, call, audio(33000))
        .expect("confirmed");
    raw.drain();
    assert!(
        matches!(
            raw.ep.update_session(raw.now, call, audio(33000)),
            Err(Error::InvalidState(_))
        ),
        "one re-INVITE at a time"
    );
    let re = raw.last_sent();
    assert!(first_line(&re).starts_with("INVITE sip:trunk@192.0.2.20:5060"));
    assert_eq!(header(&re, "CSeq").as_deref(), Some("2 INVITE"));
    raw.recv(&reply(&re, 488, "Not Acceptable Here", None, "", None));
    assert_eq!(
        raw.take_events(),
        vec![Event::SessionUpdateFailed { call, status: 488 }]
    );
    assert_eq!(raw.ep.call_count(), 1);
}

#[test]
fn incoming_reinvite_during_our_reinvite_is_glare_491() {
    let mut raw = Raw::new();
    let (call, inv) = start(&mut raw, None);
    raw.recv(&reply(&inv, 200, "OK", Some("t1"), "", Some(ANSWER)));
    raw.ep
        .update_session(raw.now, call, audio(33000))
        .expect("confirmed");
    raw.drain();
    let local_tag = header(&inv, "From")
        .and_then(|f| f.split("tag=").nth(1).map(str::to_owned))
        .expect("tag");
    let call_id = header(&inv, "Call-ID").expect("call-id");
    raw.recv(&in_dialog(
        "INVITE",
        "z9hG4bKg",
        &call_id,
        &local_tag,
        5,
        Some(ANSWER),
        "",
    ));
    assert_eq!(first_line(&raw.last_sent()), "SIP/2.0 491 Request Pending");
}

#[test]
fn dtmf_by_info_reaches_the_peer() {
    let (mut p, a_call, b_call) = call_pair();
    p.a.send_dtmf_info(p.now, a_call, '#', 160)
        .expect("confirmed");
    p.drive();
    assert_eq!(
        p.b_events,
        vec![Event::Dtmf {
            call: b_call,
            digit: '#'
        }]
    );
    assert!(p.a.send_dtmf_info(p.now, a_call, 'x', 160).is_err());
}

#[test]
fn cancel_answered_481_before_the_200_still_acks_and_hangs_up() {
    let mut raw = Raw::new();
    let (call, inv) = start(&mut raw, None);
    raw.recv(&reply(&inv, 180, "Ringing", Some("t1"), "", None));
    raw.ep.cancel(raw.now, call).expect("early");
    raw.drain();
    let cancel = raw.last_sent();
    raw.recv(&reply(
        &cancel,
        481,
        "Call/Transaction Does Not Exist",
        Some("t1"),
        "",
        None,
    ));
    assert!(
        raw.take_events()
            .iter()
            .all(|e| !matches!(e, Event::CallEnded { .. })),
        "a CANCEL's answer says nothing about the dialog"
    );
    raw.take_sent();
    raw.recv(&reply(&inv, 200, "OK", Some("t1"), "", Some(ANSWER)));
    let lines = raw.sent_lines();
    assert!(
        lines[0].starts_with("ACK ") && lines[1].starts_with("BYE "),
        "{lines:?}"
    );
    assert_eq!(
        raw.take_events(),
        vec![Event::CallEnded {
            call,
            reason: EndReason::CancelledAfterAnswer
        }]
    );
}

#[test]
fn reinvite_glare_491_is_retried_after_2_1_to_4_s_then_given_up() {
    let mut raw = Raw::new();
    let (call, inv) = start(&mut raw, None);
    raw.recv(&reply(&inv, 200, "OK", Some("t1"), "", Some(ANSWER)));
    raw.take_events();
    raw.ep
        .update_session(raw.now, call, audio(33000))
        .expect("confirmed");
    raw.drain();
    for (attempt, expected_seq) in (0..4).zip(2..) {
        let re = raw.last_sent();
        assert!(first_line(&re).starts_with("INVITE "), "attempt {attempt}");
        assert_eq!(header(&re, "CSeq"), Some(format!("{expected_seq} INVITE")));
        raw.take_sent();
        raw.recv(&reply(&re, 491, "Request Pending", None, "", None));
        raw.take_sent(); // the ACK for the 491
        if attempt == 3 {
            break;
        }
        raw.advance(Duration::from_millis(2099));
        assert!(
            raw.sent.is_empty(),
            "§14.1: the Call-ID owner waits at least 2.1 s"
        );
        raw.advance(Duration::from_millis(1901));
        let lines = raw.sent_lines();
        // The retry (and possibly its own timer-A retransmission).
        assert!(
            !lines.is_empty() && lines.iter().all(|l| l.starts_with("INVITE ")),
            "retried within 4 s: {lines:?}"
        );
    }
    assert_eq!(
        raw.take_events(),
        vec![Event::SessionUpdateFailed { call, status: 491 }]
    );
}

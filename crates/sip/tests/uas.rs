//! Inbound calls (UAS) against a scripted trunk, on a virtual clock.

mod common;

use std::time::Duration;

use common::*;
use denwa_sip::sdp::{Codec, Direction, SdpError};
use denwa_sip::{CallHandle, EndReason, Error, Event, Transport};

fn incoming(raw: &mut Raw, branch: &str, call_id: &str, extra: &str) -> CallHandle {
    raw.recv(&invite(branch, call_id, Some(OFFER), extra));
    let events = raw.take_events();
    match events.as_slice() {
        [
            Event::IncomingCall {
                call,
                offer,
                request_uri,
                ..
            },
        ] => {
            assert!(offer.is_some());
            assert_eq!(request_uri, "sip:+81312345678@198.51.100.10");
            *call
        }
        other => panic!("expected IncomingCall, got {other:?}"),
    }
}

fn answered(raw: &mut Raw, call_id: &str) -> (CallHandle, String) {
    let call = incoming(raw, "z9hG4bKinv1", call_id, "");
    raw.ep
        .answer(raw.now, call, audio(30000))
        .expect("codecs match");
    raw.drain();
    let ok = raw.last_sent();
    assert_eq!(first_line(&ok), "SIP/2.0 200 OK");
    (call, to_tag(&ok))
}

fn confirmed(raw: &mut Raw, call_id: &str) -> (CallHandle, String) {
    let (call, tag) = answered(raw, call_id);
    raw.recv(&in_dialog("ACK", "z9hG4bKack1", call_id, &tag, 1, None, ""));
    assert!(matches!(
        raw.take_events().as_slice(),
        [Event::CallConfirmed { .. }]
    ));
    raw.take_sent();
    (call, tag)
}

#[test]
fn new_invite_is_answered_with_100_trying_at_once() {
    let mut raw = Raw::new();
    incoming(&mut raw, "z9hG4bK1", "c1", "");
    assert_eq!(raw.sent_lines(), vec!["SIP/2.0 100 Trying"]);
    assert_eq!(to_tag(&raw.last_sent()), "", "100 carries no To tag");
}

#[test]
fn ringing_then_answer_sends_180_then_200_with_sdp_answer() {
    let mut raw = Raw::new();
    let call = incoming(&mut raw, "z9hG4bK1", "c1", "");
    raw.ep.ringing(raw.now, call, None).expect("early call");
    let audio_neg = raw
        .ep
        .answer(raw.now, call, audio(30000))
        .expect("match")
        .expect("offer present");
    raw.drain();
    assert_eq!(
        raw.sent_lines(),
        vec![
            "SIP/2.0 100 Trying",
            "SIP/2.0 180 Ringing",
            "SIP/2.0 200 OK"
        ]
    );
    let ok = raw.last_sent();
    assert!(header(&ok, "Contact").is_some());
    assert!(body(&ok).contains("m=audio 30000 RTP/AVP 0 101"));
    assert_eq!(
        (audio_neg.codec, audio_neg.remote_rtp),
        (Codec::Pcmu, addr("192.0.2.20:40000"))
    );
    let tags: Vec<String> = raw.sent[1..]
        .iter()
        .map(|(_, t)| to_tag(&t.bytes))
        .collect();
    assert_eq!(tags[0], tags[1], "180 and 200 share the dialog's To tag");
}

#[test]
fn early_media_183_carries_the_sdp_answer_repeated_in_200() {
    let mut raw = Raw::new();
    let call = incoming(&mut raw, "z9hG4bK1", "c1", "");
    raw.ep
        .ringing(raw.now, call, Some(audio(30000)))
        .expect("match");
    raw.drain();
    let progress = raw.last_sent();
    assert_eq!(first_line(&progress), "SIP/2.0 183 Session Progress");
    raw.ep.answer(raw.now, call, audio(31000)).expect("match");
    raw.drain();
    assert_eq!(
        body(&raw.last_sent()),
        body(&progress),
        "the answer cannot change after 183"
    );
}

#[test]
fn ack_confirms_the_call_and_stops_200_retransmission() {
    let mut raw = Raw::new();
    let (_, _) = confirmed(&mut raw, "c1");
    raw.advance(Duration::from_secs(40));
    assert!(
        raw.sent_lines().is_empty(),
        "no retransmission after ACK: {:?}",
        raw.sent_lines()
    );
}

#[test]
fn lost_ack_retransmits_200_until_timer_h_then_sends_bye() {
    let mut raw = Raw::new();
    let (call, _) = answered(&mut raw, "c1");
    raw.take_sent();
    raw.advance(Duration::from_secs(33));
    let times: Vec<u128> = raw
        .sent
        .iter()
        .filter(|(_, t)| first_line(&t.bytes) == "SIP/2.0 200 OK")
        .map(|(at, _)| at.as_millis())
        .collect();
    // T1 doubling capped at T2 (§13.3.1.4), until 64·T1 = 32 s.
    assert_eq!(
        times,
        vec![
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert!(
        raw.sent_lines()
            .last()
            .is_some_and(|l| l.starts_with("BYE "))
    );
    assert_eq!(
        raw.take_events(),
        vec![Event::CallEnded {
            call,
            reason: EndReason::AckTimeout
        }]
    );
}

#[test]
fn retransmitted_invite_is_absorbed_and_last_provisional_resent() {
    let mut raw = Raw::new();
    let call = incoming(&mut raw, "z9hG4bK1", "c1", "");
    raw.ep.ringing(raw.now, call, None).expect("early");
    raw.drain();
    raw.take_sent();
    raw.recv(&invite("z9hG4bK1", "c1", Some(OFFER), ""));
    assert_eq!(raw.sent_lines(), vec!["SIP/2.0 180 Ringing"]);
    assert!(raw.take_events().is_empty(), "no second IncomingCall");
}

#[test]
fn invite_retransmitted_after_200_is_absorbed() {
    let mut raw = Raw::new();
    answered(&mut raw, "c1");
    raw.take_sent();
    raw.recv(&invite("z9hG4bKinv1", "c1", Some(OFFER), ""));
    assert!(raw.sent_lines().is_empty());
    assert!(raw.take_events().is_empty());
}

#[test]
fn cancel_before_answer_sends_487_and_200_and_reports_cancelled() {
    let mut raw = Raw::new();
    let call = incoming(&mut raw, "z9hG4bK1", "c1", "");
    raw.take_sent();
    let cancel = String::from_utf8(invite("z9hG4bK1", "c1", None, ""))
        .expect("utf8")
        .replacen("INVITE sip", "CANCEL sip", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    raw.recv(cancel.as_bytes());
    assert_eq!(
        raw.sent_lines(),
        vec!["SIP/2.0 200 OK", "SIP/2.0 487 Request Terminated"]
    );
    assert_eq!(raw.take_events(), vec![Event::CallCancelled { call }]);
    assert_eq!(
        raw.ep.answer(raw.now, call, audio(1)),
        Err(Error::UnknownCall)
    );
}

#[test]
fn cancel_racing_200_is_acknowledged_but_the_call_stays_up() {
    let mut raw = Raw::new();
    let (call, tag) = answered(&mut raw, "c1");
    raw.take_sent();
    let cancel = String::from_utf8(invite("z9hG4bKinv1", "c1", None, ""))
        .expect("utf8")
        .replacen("INVITE sip", "CANCEL sip", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    raw.recv(cancel.as_bytes());
    assert_eq!(
        raw.sent_lines(),
        vec!["SIP/2.0 200 OK"],
        "no 487 after a 2xx"
    );
    assert_eq!(
        header(&raw.last_sent(), "CSeq").as_deref(),
        Some("1 CANCEL")
    );
    raw.recv(&in_dialog("ACK", "z9hG4bKack1", "c1", &tag, 1, None, ""));
    assert_eq!(
        raw.take_events(),
        vec![Event::CallConfirmed { call, audio: None }]
    );
}

#[test]
fn cancel_for_unknown_transaction_gets_481() {
    let mut raw = Raw::new();
    let cancel = String::from_utf8(invite("z9hG4bKnone", "c9", None, ""))
        .expect("utf8")
        .replacen("INVITE sip", "CANCEL sip", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    raw.recv(cancel.as_bytes());
    assert_eq!(
        raw.sent_lines(),
        vec!["SIP/2.0 481 Call/Transaction Does Not Exist"]
    );
}

#[test]
fn reject_sends_each_final_status_and_ack_stops_retransmission() {
    for status in [404u16, 480, 486, 488, 603] {
        let mut raw = Raw::new();
        let call = incoming(&mut raw, "z9hG4bK1", "c1", "");
        raw.take_sent();
        raw.ep.reject(raw.now, call, status).expect("valid status");
        raw.drain();
        let resp = raw.last_sent();
        assert!(first_line(&resp).starts_with(&format!("SIP/2.0 {status} ")));
        raw.advance(Duration::from_millis(600));
        assert_eq!(raw.sent.len(), 2, "timer G retransmits the {status}");
        // ACK for a non-2xx reuses the INVITE branch (§17.1.1.3).
        raw.recv(&in_dialog(
            "ACK",
            "z9hG4bK1",
            "c1",
            &to_tag(&resp),
            1,
            None,
            "",
        ));
        raw.take_sent();
        raw.advance(Duration::from_secs(40));
        assert!(
            raw.sent.is_empty(),
            "ACK absorbed, nothing more for {status}"
        );
        assert_eq!(raw.ep.call_count(), 0);
    }
}

#[test]
fn reject_refuses_non_final_status() {
    let mut raw = Raw::new();
    let call = incoming(&mut raw, "z9hG4bK1", "c1", "");
    assert_eq!(
        raw.ep.reject(raw.now, call, 200),
        Err(Error::InvalidStatus(200))
    );
}

#[test]
fn offer_without_common_codec_is_an_error_mapped_to_488() {
    let mut raw = Raw::new();
    let g729 = OFFER.replace("RTP/AVP 0 8 101", "RTP/AVP 18 101");
    raw.recv(&invite("z9hG4bK1", "c1", Some(&g729), ""));
    let Some(Event::IncomingCall { call, .. }) = raw.take_events().pop() else {
        panic!("expected an incoming call");
    };
    assert_eq!(
        raw.ep.answer(raw.now, call, audio(30000)),
        Err(Error::Sdp(SdpError::NoCommonCodec))
    );
    raw.ep.reject(raw.now, call, 488).expect("still early");
    raw.drain();
    assert_eq!(
        first_line(&raw.last_sent()),
        "SIP/2.0 488 Not Acceptable Here"
    );
}

#[test]
fn bye_from_the_trunk_ends_the_call() {
    let mut raw = Raw::new();
    let (call, tag) = confirmed(&mut raw, "c1");
    raw.recv(&in_dialog("BYE", "z9hG4bKbye", "c1", &tag, 2, None, ""));
    assert_eq!(raw.sent_lines(), vec!["SIP/2.0 200 OK"]);
    assert_eq!(
        raw.take_events(),
        vec![Event::CallEnded {
            call,
            reason: EndReason::RemoteBye
        }]
    );
    assert_eq!(raw.ep.call_count(), 0);
}

#[test]
fn bye_from_denwa_goes_to_the_trunk_in_dialog() {
    let mut raw = Raw::new();
    let (call, tag) = confirmed(&mut raw, "c1");
    raw.ep.bye(raw.now, call).expect("confirmed");
    raw.drain();
    let bye = raw.last_sent();
    assert_eq!(
        first_line(&bye),
        "BYE sip:+819011112222@192.0.2.20:5060 SIP/2.0"
    );
    assert!(header(&bye, "From").is_some_and(|f| f.contains(&format!("tag={tag}"))));
    assert!(header(&bye, "To").is_some_and(|t| t.contains("tag=trunk1")));
    assert_eq!(raw.ep.bye(raw.now, call), Err(Error::UnknownCall));
}

#[test]
fn reinvite_with_sendonly_is_hold_and_answered_recvonly() {
    let mut raw = Raw::new();
    let (call, tag) = confirmed(&mut raw, "c1");
    let hold = OFFER
        .replace("o=trunk 1 1", "o=trunk 1 2")
        .replace("a=sendrecv", "a=sendonly");
    raw.recv(&in_dialog(
        "INVITE",
        "z9hG4bKre1",
        "c1",
        &tag,
        2,
        Some(&hold),
        "",
    ));
    let ok = raw.last_sent();
    assert_eq!(first_line(&ok), "SIP/2.0 200 OK");
    assert!(body(&ok).contains("a=recvonly"));
    let events = raw.take_events();
    let [Event::SessionModified { call: c, audio }] = events.as_slice() else {
        panic!("expected SessionModified, got {events:?}");
    };
    assert_eq!(
        (*c, audio.remote_hold, audio.direction),
        (call, true, Direction::RecvOnly)
    );
}

#[test]
fn reinvite_unhold_restores_sendrecv() {
    let mut raw = Raw::new();
    let (_, tag) = confirmed(&mut raw, "c1");
    let hold = OFFER.replace("a=sendrecv", "a=inactive");
    raw.recv(&in_dialog(
        "INVITE",
        "z9hG4bKre1",
        "c1",
        &tag,
        2,
        Some(&hold),
        "",
    ));
    raw.recv(&in_dialog("ACK", "z9hG4bKre1a", "c1", &tag, 2, None, ""));
    raw.take_events();
    raw.recv(&in_dialog(
        "INVITE",
        "z9hG4bKre2",
        "c1",
        &tag,
        3,
        Some(OFFER),
        "",
    ));
    assert!(body(&raw.last_sent()).contains("a=sendrecv"));
    let Some(Event::SessionModified { audio, .. }) = raw.take_events().pop() else {
        panic!("expected SessionModified");
    };
    assert!(!audio.remote_hold);
}

#[test]
fn reinvite_without_common_codec_gets_488_and_keeps_the_call() {
    let mut raw = Raw::new();
    let (_, tag) = confirmed(&mut raw, "c1");
    let g729 = OFFER.replace("RTP/AVP 0 8 101", "RTP/AVP 18");
    raw.recv(&in_dialog(
        "INVITE",
        "z9hG4bKre1",
        "c1",
        &tag,
        2,
        Some(&g729),
        "",
    ));
    assert_eq!(
        first_line(&raw.last_sent()),
        "SIP/2.0 488 Not Acceptable Here"
    );
    assert_eq!(raw.ep.call_count(), 1);
}

#[test]
fn update_without_sdp_is_answered_200_as_a_refresh() {
    let mut raw = Raw::new();
    let (_, tag) = confirmed(&mut raw, "c1");
    raw.recv(&in_dialog("UPDATE", "z9hG4bKup", "c1", &tag, 2, None, ""));
    let ok = raw.last_sent();
    assert_eq!(first_line(&ok), "SIP/2.0 200 OK");
    assert_eq!(body(&ok), "");
    assert!(raw.take_events().is_empty());
}

#[test]
fn options_outside_a_dialog_is_answered_with_capabilities() {
    let mut raw = Raw::new();
    let opts = String::from_utf8(invite("z9hG4bKo", "o1", None, ""))
        .expect("utf8")
        .replacen("INVITE sip", "OPTIONS sip", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 OPTIONS");
    raw.recv(opts.as_bytes());
    let ok = raw.last_sent();
    assert_eq!(first_line(&ok), "SIP/2.0 200 OK");
    assert!(header(&ok, "Allow").is_some_and(|a| a.contains("INVITE") && a.contains("UPDATE")));
    assert_eq!(header(&ok, "Accept").as_deref(), Some("application/sdp"));
    assert!(raw.take_events().is_empty());
}

#[test]
fn request_in_unknown_dialog_gets_481() {
    let mut raw = Raw::new();
    raw.recv(&in_dialog("BYE", "z9hG4bKb", "nope", "zzz", 2, None, ""));
    assert_eq!(
        raw.sent_lines(),
        vec!["SIP/2.0 481 Call/Transaction Does Not Exist"]
    );
}

#[test]
fn dtmf_by_info_is_reported() {
    let mut raw = Raw::new();
    let (call, tag) = confirmed(&mut raw, "c1");
    let info = String::from_utf8(in_dialog(
        "INFO",
        "z9hG4bKi",
        "c1",
        &tag,
        2,
        Some("Signal=5\r\nDuration=160\r\n"),
        "",
    ))
    .expect("utf8")
    .replace("application/sdp", "application/dtmf-relay");
    raw.recv(info.as_bytes());
    assert_eq!(raw.take_events(), vec![Event::Dtmf { call, digit: '5' }]);
}

#[test]
fn session_timer_without_refresh_ends_the_call_with_bye() {
    let mut raw = Raw::new();
    let call = incoming(
        &mut raw,
        "z9hG4bKinv1",
        "c1",
        "Supported: timer\r\nSession-Expires: 120;refresher=uac\r\n",
    );
    raw.ep.answer(raw.now, call, audio(30000)).expect("match");
    raw.drain();
    let ok = raw.last_sent();
    assert_eq!(
        header(&ok, "Session-Expires").as_deref(),
        Some("120;refresher=uac")
    );
    assert_eq!(header(&ok, "Require").as_deref(), Some("timer"));
    let tag = to_tag(&ok);
    raw.recv(&in_dialog("ACK", "z9hG4bKack1", "c1", &tag, 1, None, ""));
    raw.take_events();
    raw.take_sent();
    // RFC 4028 §10: BYE at 120 − min(32, 120/3) = 88 s.
    raw.advance(Duration::from_secs(87));
    assert!(raw.sent.is_empty());
    raw.advance(Duration::from_secs(2));
    assert!(raw.sent_lines().iter().any(|l| l.starts_with("BYE ")));
    assert_eq!(
        raw.take_events(),
        vec![Event::CallEnded {
            call,
            reason: EndReason::SessionExpired
        }]
    );
}

#[test]
fn session_refresh_by_update_restarts_the_session_timer() {
    let mut raw = Raw::new();
    let call = incoming(
        &mut raw,
        "z9hG4bKinv1",
        "c1",
        "Supported: timer\r\nSession-Expires: 120;refresher=uac\r\n",
    );
    raw.ep.answer(raw.now, call, audio(30000)).expect("match");
    raw.drain();
    let tag = to_tag(&raw.last_sent());
    raw.recv(&in_dialog("ACK", "z9hG4bKack1", "c1", &tag, 1, None, ""));
    raw.advance(Duration::from_secs(60));
    raw.recv(&in_dialog(
        "UPDATE",
        "z9hG4bKup",
        "c1",
        &tag,
        2,
        None,
        "Session-Expires: 120;refresher=uac\r\n",
    ));
    raw.take_events();
    raw.advance(Duration::from_secs(80));
    assert!(
        raw.take_events().is_empty(),
        "refreshed at 60 s: still alive at 140 s"
    );
    raw.advance(Duration::from_secs(10));
    assert_eq!(
        raw.take_events(),
        vec![Event::CallEnded {
            call,
            reason: EndReason::SessionExpired
        }]
    );
}

#[test]
fn denwa_refreshes_with_update_when_it_is_the_refresher() {
    let mut raw = Raw::new();
    let call = incoming(
        &mut raw,
        "z9hG4bKinv1",
        "c1",
        "Allow: INVITE, ACK, BYE, CANCEL, UPDATE\r\nSession-Expires: 100;refresher=uas\r\n",
    );
    raw.ep.answer(raw.now, call, audio(30000)).expect("match");
    raw.drain();
    let tag = to_tag(&raw.last_sent());
    raw.recv(&in_dialog("ACK", "z9hG4bKack1", "c1", &tag, 1, None, ""));
    raw.take_sent();
    raw.advance(Duration::from_secs(51));
    let update = raw.last_sent();
    assert!(first_line(&update).starts_with("UPDATE "));
    // RFC 4028 §7.4: relative to the UPDATE, whose UAC (the refresher) we are.
    assert_eq!(
        header(&update, "Session-Expires").as_deref(),
        Some("100;refresher=uac")
    );
}

#[test]
fn session_interval_below_min_se_is_refused_with_422() {
    let mut raw = Raw::new();
    raw.recv(&invite(
        "z9hG4bK1",
        "c1",
        Some(OFFER),
        "Session-Expires: 30\r\n",
    ));
    let resp = raw.last_sent();
    assert_eq!(first_line(&resp), "SIP/2.0 422 Session Interval Too Small");
    assert_eq!(header(&resp, "Min-SE").as_deref(), Some("90"));
    assert!(raw.take_events().is_empty());
}

#[test]
fn tcp_call_is_not_retransmitted_but_lost_ack_still_ends_it() {
    let mut raw = Raw::new();
    let tcp = String::from_utf8(invite("z9hG4bKinv1", "c1", Some(OFFER), ""))
        .expect("utf8")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    raw.recv_on(tcp.as_bytes(), Transport::Tcp);
    let Some(Event::IncomingCall { call, .. }) = raw.take_events().pop() else {
        panic!("expected a call");
    };
    raw.ep.answer(raw.now, call, audio(30000)).expect("match");
    raw.drain();
    assert!(raw.sent.iter().all(|(_, t)| t.transport == Transport::Tcp));
    assert!(header(&raw.last_sent(), "Contact").is_some_and(|c| c.contains("transport=tcp")));
    raw.take_sent();
    raw.advance(Duration::from_secs(33));
    assert_eq!(
        raw.sent_lines().len(),
        1,
        "only the BYE: {:?}",
        raw.sent_lines()
    );
    assert_eq!(
        raw.take_events(),
        vec![Event::CallEnded {
            call,
            reason: EndReason::AckTimeout
        }]
    );
}

#[test]
fn late_offer_invite_gets_our_offer_and_the_ack_carries_the_answer() {
    let mut raw = Raw::new();
    raw.recv(&invite("z9hG4bKinv1", "c1", None, ""));
    let Some(Event::IncomingCall {
        call, offer: None, ..
    }) = raw.take_events().pop()
    else {
        panic!("expected an offerless call");
    };
    assert_eq!(raw.ep.answer(raw.now, call, audio(30000)), Ok(None));
    raw.drain();
    let ok = raw.last_sent();
    assert!(body(&ok).contains("m=audio 30000 RTP/AVP 0 8 101"));
    let answer = OFFER.replace("RTP/AVP 0 8 101", "RTP/AVP 8 101");
    raw.recv(&in_dialog(
        "ACK",
        "z9hG4bKack1",
        "c1",
        &to_tag(&ok),
        1,
        Some(&answer),
        "",
    ));
    let Some(Event::CallConfirmed { audio: Some(a), .. }) = raw.take_events().pop() else {
        panic!("expected confirmation with negotiated audio");
    };
    assert_eq!(a.codec, Codec::Pcma);
}

#[test]
fn denwa_refreshes_with_reinvite_when_the_peer_does_not_allow_update() {
    let mut raw = Raw::new();
    let call = incoming(
        &mut raw,
        "z9hG4bKinv1",
        "c1",
        "Session-Expires: 100;refresher=uas\r\n",
    );
    raw.ep.answer(raw.now, call, audio(30000)).expect("match");
    raw.drain();
    let ok = raw.last_sent();
    let tag = to_tag(&ok);
    raw.recv(&in_dialog("ACK", "z9hG4bKack1", "c1", &tag, 1, None, ""));
    raw.take_sent();
    raw.take_events();
    raw.advance(Duration::from_secs(51));
    let reinvite = raw.last_sent();
    assert!(first_line(&reinvite).starts_with("INVITE "));
    assert_eq!(
        body(&reinvite),
        body(&ok),
        "same session, same version (RFC 3264 §8)"
    );
    assert_eq!(
        header(&reinvite, "Session-Expires").as_deref(),
        Some("100;refresher=uac"),
        "we are the UAC of this request"
    );
    let resp = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: c1\r\nCSeq: {}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{OFFER}",
        header(&reinvite, "Via").expect("via"),
        header(&reinvite, "From").expect("from"),
        header(&reinvite, "To").expect("to"),
        header(&reinvite, "CSeq").expect("cseq"),
        OFFER.len()
    );
    raw.recv(resp.as_bytes());
    let ack = raw.last_sent();
    assert!(first_line(&ack).starts_with("ACK "));
    assert_eq!(header(&ack, "CSeq").as_deref(), Some("2 ACK"));
    let events = raw.take_events();
    assert!(events.is_empty(), "a refresh raises no event: {events:?}");
    raw.take_sent();
    raw.recv(resp.as_bytes());
    assert_eq!(raw.sent_lines().len(), 1, "retransmitted 2xx re-ACKed");
    assert!(raw.sent_lines()[0].starts_with("ACK "));
}

#[test]
fn a_challenged_invite_gets_407_and_the_retry_with_credentials_is_a_new_call() {
    use denwa_sip::auth::{Algorithm, Challenge, Credentials};
    let mut raw = Raw::new();
    let call = incoming(&mut raw, "z9hG4bK1", "c1", "");
    let challenge = Challenge {
        realm: "denwa".into(),
        nonce: "n0nce".into(),
        opaque: None,
        algorithm: Algorithm::Md5,
        qop_auth: false,
        stale: false,
    };
    raw.ep
        .challenge(raw.now, call, std::slice::from_ref(&challenge))
        .expect("early call");
    raw.drain();
    let resp = raw.last_sent();
    assert_eq!(
        first_line(&resp),
        "SIP/2.0 407 Proxy Authentication Required"
    );
    let offered = Challenge::parse(&header(&resp, "Proxy-Authenticate").unwrap()).unwrap();
    assert_eq!(offered, challenge);
    // The caller ACKs the 407 and retries with credentials (RFC 3261 §22.2).
    raw.recv(&in_dialog(
        "ACK",
        "z9hG4bK1",
        "c1",
        &to_tag(&resp),
        1,
        None,
        "",
    ));
    let creds = offered.authorize(
        "trunk-user",
        "trunk-pass",
        "INVITE",
        "sip:+81312345678@198.51.100.10",
        "c",
        1,
    );
    let retry = invite(
        "z9hG4bK2",
        "c1",
        Some(OFFER),
        &format!("Proxy-Authorization: {}\r\n", creds.to_header()),
    );
    // A new transaction of the same call: CSeq goes up.
    let retry = String::from_utf8(retry)
        .unwrap()
        .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
    raw.recv(retry.as_bytes());
    let events = raw.take_events();
    let [
        Event::IncomingCall {
            call: again,
            headers,
            ..
        },
    ] = events.as_slice()
    else {
        panic!("expected a new IncomingCall, got {events:?}");
    };
    assert_ne!(*again, call);
    let got = Credentials::parse(headers.get("Proxy-Authorization").unwrap()).unwrap();
    assert!(got.verify("trunk-pass", "INVITE"));
    assert!(!got.verify("other-pass", "INVITE"));
    // Only an early call can be challenged.
    assert!(raw.ep.challenge(raw.now, call, &[challenge]).is_err());
}

//! Outbound calls through a trunk, proven with a trunk test call: an admin asks the API to
//! call a number through the trunk; SIPp plays the carrier and the callee, challenges with
//! 401 digest and answers; the callee talks and hears itself back (the echo test), so
//! outbound signalling, digest and two-way audio through the carrier all work.

mod sip_support;

use sip_support::{Server, free_block, http, login, peers, sipp_callee, wavcmp};

/// Creates a trunk on the demo channel sending calls to `127.0.0.1:carrier`; its id.
fn trunk(server: &Server, token: &str, carrier: u16, password: &str) -> i64 {
    let body = format!(
        r#"{{"name":"carrier","allowed_sources":["127.0.0.1"],"outbound_proxy":"127.0.0.1:{carrier}","outbound_username":"denwa-out","outbound_password":"{password}","caller_id":"+815012345678"}}"#
    );
    let (status, body) = http(
        server,
        "POST",
        "/api/v1/channels/1/trunks",
        Some(token),
        &body,
    );
    assert_eq!(status, 201, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["id"].as_i64().unwrap()
}

#[test]
fn a_trunk_test_call_answers_the_carriers_digest_and_the_callee_hears_itself() {
    let server = Server::start(&["--echo-max-duration", "60"]);
    let token = login(&server);
    let carrier = free_block(6);
    let id = trunk(&server, &token, carrier, "carrier-secret-7");
    let speech = peers().join("media/speech.ulaw");
    let callee = sipp_callee(
        &server,
        carrier,
        &[
            ("AUTH_USER", "denwa-out"),
            ("AUTH_PASS", "carrier-secret-7"),
            ("MODE", "record"),
            ("PLAY", speech.to_str().unwrap()),
            ("HANGUP_MS", "9000"),
        ],
    );
    let (status, body) = http(
        &server,
        "POST",
        &format!("/api/v1/channels/1/trunks/{id}/test-call"),
        Some(&token),
        r#"{"to":"090-1234-5678"}"#,
    );
    assert_eq!(status, 200, "{body}\n{}", server.log());
    assert!(body.contains(r#""result":"answered""#), "{body}");
    let run = callee.join().unwrap();
    run.assert_ok(&server, "SIPp carrier + callee");
    let messages = run.file("messages.log");
    // The INVITE went to the number in E.164 with our caller ID, and was re-sent with
    // the digest answer.
    assert!(
        messages.contains("INVITE sip:+819012345678@127.0.0.1"),
        "{messages}"
    );
    assert!(
        messages.contains("\nAuthorization: Digest username=\"denwa-out\""),
        "{messages}"
    );
    assert!(messages.contains("sip:+815012345678@"), "{messages}");
    // What the callee said came back to it.
    let (ok, cmp) = wavcmp(
        &peers().join("media/speech_8k.wav"),
        &run.run_dir.join("rx.wav"),
    );
    assert!(
        ok,
        "the callee did not hear itself: {cmp}\n{}",
        server.log()
    );
}

#[test]
fn a_wrong_trunk_password_fails_the_test_call_with_the_carriers_status() {
    let server = Server::start(&[]);
    let token = login(&server);
    let carrier = free_block(6);
    let id = trunk(&server, &token, carrier, "not-the-password");
    let callee = sipp_callee(
        &server,
        carrier,
        &[
            ("AUTH_USER", "denwa-out"),
            ("AUTH_PASS", "carrier-secret-7"),
        ],
    );
    let (status, body) = http(
        &server,
        "POST",
        &format!("/api/v1/channels/1/trunks/{id}/test-call"),
        Some(&token),
        r#"{"to":"090-1234-5678"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""result":"failed""#), "{body}");
    assert!(body.contains(r#""sip_status":403"#), "{body}");
    let run = callee.join().unwrap();
    assert!(
        !run.status.success(),
        "the carrier accepted a wrong password"
    );
    // Bad input gets a clear error, not a call.
    let (status, body) = http(
        &server,
        "POST",
        &format!("/api/v1/channels/1/trunks/{id}/test-call"),
        Some(&token),
        r#"{"to":"not a number"}"#,
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("invalid_phone_number"), "{body}");
}

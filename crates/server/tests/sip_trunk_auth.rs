//! A trunk whose carrier authenticates with digest instead of a fixed source address:
//! an INVITE from an address no trunk allows gets 407; SIPp answers the challenge with the
//! trunk's inbound credentials and the call goes through; a wrong password gets 403.

mod sip_support;

use std::time::Duration;

use sip_support::{Server, free_block, http, login, sipp_once};

/// SIPp calls the echo number, answering the 407 as `user`/`pass`; (success, messages).
fn call(server: &Server, user: &str, pass: &str) -> (bool, String) {
    let port = free_block(4);
    let media = (port + 2).to_string();
    let args = ["-mp", &media, "-s", "9196", "-au", user, "-ap", pass];
    sipp_once(server, "uac_auth_call.xml", port, &args)
}

#[test]
fn a_carrier_authenticating_with_digest_reaches_its_channel_and_a_wrong_password_gets_403() {
    // The default challenge is MD5 alone, which SIPp answers.
    let server = Server::start(&[]);
    let token = login(&server);
    let (status, trunks) = http(
        &server,
        "GET",
        "/api/v1/channels/1/trunks",
        Some(&token),
        "",
    );
    assert_eq!(status, 200, "{trunks}");
    let trunks: serde_json::Value = serde_json::from_str(&trunks).unwrap();
    let id = trunks[0]["id"].as_i64().unwrap();
    // The demo trunk no longer trusts 127.0.0.1: its carrier must authenticate.
    let (status, body) = http(
        &server,
        "PATCH",
        &format!("/api/v1/channels/1/trunks/{id}"),
        Some(&token),
        r#"{"allowed_sources":[],"inbound_username":"carrier-in","inbound_password":"in-secret-4"}"#,
    );
    assert_eq!(status, 200, "{body}");
    // Routing reads trunks at most every 2 s.
    std::thread::sleep(Duration::from_millis(2500));

    let (ok, messages) = call(&server, "carrier-in", "in-secret-4");
    assert!(
        ok,
        "the authenticated call failed:\n{messages}\nserver:\n{}",
        server.log()
    );
    assert!(messages.contains("SIP/2.0 407"), "{messages}");
    assert!(
        messages.contains("Proxy-Authenticate: Digest realm=\"denwa\""),
        "{messages}"
    );
    assert!(messages.contains("SIP/2.0 200 OK"), "{messages}");
    assert!(
        server.log().contains("echo test answered"),
        "{}",
        server.log()
    );

    let (ok, messages) = call(&server, "carrier-in", "wrong");
    assert!(!ok, "a wrong password got through:\n{messages}");
    assert!(messages.contains("SIP/2.0 403"), "{messages}");
    assert!(
        server.log().contains("wrong trunk credentials"),
        "{}",
        server.log()
    );
}

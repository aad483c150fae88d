//! A call to a channel number rings the softphones its staff registered, and the first
//! to answer is bridged with the caller: SIPp registers as a staff member's softphone and
//! then answers as the callee, echoing what it hears; a second SIPp is the customer.
//! The speech goes through both legs and back, and the call is recorded per leg.

mod sip_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sip_support::{
    Server, free_block, http, login, peers, require, sipp_callee, sipp_caller, wavcmp,
};

/// SIPp registers `user` from `port` (so the binding's Contact is that port).
fn register(server: &Server, user: &str, pass: &str, port: u16) {
    require("sipp", "sip-tester");
    let log = server.dir.path().join(format!("register-{port}.log"));
    let status = Command::new("sipp")
        .arg(format!("127.0.0.1:{}", server.sip_port))
        .arg("-sf")
        .arg(peers().join("sipp/uac_register.xml"))
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", "1", "-au", user, "-ap", pass, "-key", "user", user])
        .args(["-key", "expires", "300", "-nostdin", "-timeout", "30s"])
        .args(["-timeout_error", "-trace_msg", "-message_file"])
        .arg(&log)
        .current_dir(server.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "registration failed:\n{}\nserver:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default(),
        server.log()
    );
}

/// Every file named `name` under `dir`.
fn find(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(find(&p, name));
        } else if p.file_name().is_some_and(|n| n == name) {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_call_to_the_channel_number_rings_the_staff_softphone_and_is_bridged_and_recorded() {
    let mut server = Server::start(&["--sip-digest", "md5", "--record-calls"]);
    // A staff member sets up a softphone account in the console; it works at once.
    let token = login(&server);
    let (status, body) = http(
        &server,
        "PUT",
        "/api/v1/me/sip-account",
        Some(&token),
        r#"{"username":"sato","password":"softphone-pw-9"}"#,
    );
    assert_eq!(status, 200, "{body}");
    server.wait_log("SIP accounts and trunks reloaded", Duration::from_secs(10));
    let phone = free_block(6);
    register(&server, "sato", "softphone-pw-9", phone);
    server.wait_log("contacts=1", Duration::from_secs(10));
    let answering = sipp_callee(&server, phone, &[("MODE", "echo"), ("RING_MS", "300")]);

    // The demo channel's number, dialled as a carrier sends it.
    let run = sipp_caller(&server, &[("SERVICE", "05012345678"), ("REC", "1")]);
    run.assert_ok(&server, "SIPp customer calling the channel number");
    let phone_run = answering.join().unwrap();
    phone_run.assert_ok(&server, "SIPp softphone answering (and getting our BYE)");

    let log = server.log();
    assert!(log.contains("softphones=1"), "{log}");
    assert!(log.contains("bridged"), "{log}");
    // The customer's speech reached the softphone ...
    let (ok, cmp) = wavcmp(
        &peers().join("media/speech_8k.wav"),
        &phone_run.run_dir.join("rx.wav"),
    );
    assert!(ok, "the softphone did not hear the customer: {cmp}");
    // ... and what the softphone said (its echo of it) reached the customer.
    let (ok, cmp) = wavcmp(
        &peers().join("media/speech_8k.wav"),
        &run.run_dir.join("rx.wav"),
    );
    assert!(ok, "the customer did not hear the softphone: {cmp}");

    // One track per leg and the mix, each holding the speech.
    let recordings = server.dir.path().join("data").join("recordings");
    for track in ["leg-1.wav", "leg-2.wav", "mixed.wav"] {
        let files = find(&recordings, track);
        assert_eq!(files.len(), 1, "{track} under {}", recordings.display());
        let (ok, cmp) = wavcmp(&peers().join("media/speech_8k.wav"), &files[0]);
        assert!(ok, "{track} does not hold the speech: {cmp}");
    }
}

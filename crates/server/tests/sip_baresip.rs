//! baresip as a softphone calling the echo number: what it records is the speech it sent,
//! and the digits it sends (RFC 4733) are decoded by the server.

mod sip_support;

use std::time::Duration;

use sip_support::{Server, free_block, logged_digits, require, run_peer, wavcmp};

#[test]
fn baresip_hears_itself_on_the_echo_number_and_its_digits_are_decoded() {
    require("baresip", "baresip");
    require("sox", "sox");
    let server = Server::start(&["--echo-max-duration", "120"]);
    let base = free_block(40);
    let run = run_peer(
        "baresip/baresip_peer.sh",
        server.dir.path(),
        &[
            ("MODE", "call".into()),
            ("TARGET", format!("sip:9196@127.0.0.1:{}", server.sip_port)),
            ("BARESIP_SIP_PORT", base.to_string()),
            ("BARESIP_CTRL_PORT", (base + 2).to_string()),
            ("BARESIP_RTP_PORTS", format!("{}-{}", base + 10, base + 39)),
            ("HOLD_S", "14".into()),
            ("DIGITS", "12#".into()),
            ("TIMEOUT_S", "60".into()),
        ],
        Duration::from_secs(120),
    );
    assert!(
        run.status.success(),
        "baresip call failed: {}\n{}\nserver:\n{}",
        run.output,
        run.file("baresip.log"),
        server.log()
    );
    let log = server.log();
    assert!(log.contains("echo test answered"), "{log}");
    assert_eq!(logged_digits(&log), "12#", "{log}");
    let received = std::fs::read_dir(run.run_dir.join("snd"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .unwrap_or_else(|| panic!("baresip recorded nothing: {}", run.output));
    let (ok, cmp) = wavcmp(&sip_support::peers().join("media/speech_8k.wav"), &received);
    assert!(ok, "baresip did not hear its own speech back: {cmp}");
}

//! The echo test number end to end with SIPp as the customer: speech and RFC 4733 digits
//! from a pcap go in, the server plays the speech back and logs the digits; the server
//! hangs up at the maximum echo duration.

mod sip_support;

use std::time::Duration;

use sip_support::{Server, logged_digits, peers, sipp_caller, wavcmp};

#[test]
fn echo_number_plays_back_the_callers_speech_and_decodes_digits() {
    let mut server = Server::start(&["--echo-max-duration", "120"]);
    // REC=1: tshark records what the server sends to SIPp's RTP port.
    let run = sipp_caller(&server, &[("SERVICE", "9196"), ("REC", "1")]);
    run.assert_ok(&server, "SIPp call to the echo number");
    let rx = run.run_dir.join("rx.wav");
    assert!(rx.is_file(), "nothing recorded: {}", run.output);
    let (ok, cmp) = wavcmp(&peers().join("media/speech_8k.wav"), &rx);
    assert!(
        ok,
        "the returned audio does not match the speech sent: {cmp}"
    );
    server.wait_log("dtmf", Duration::from_secs(10));
    assert_eq!(logged_digits(&server.log()), "1234#", "{}", server.log());
    assert!(server.alive());
}

#[test]
fn echo_call_ends_with_the_servers_bye_after_the_maximum_duration() {
    let server = Server::start(&["--echo-max-duration", "4"]);
    let run = sipp_caller(
        &server,
        &[
            ("SERVICE", "9196"),
            ("SCENARIO", "waitbye"),
            ("WAIT_BYE_MS", "30000"),
        ],
    );
    run.assert_ok(&server, "SIPp waiting for the server's BYE");
    let messages = run.file("messages.log");
    assert!(messages.contains("BYE sip:"), "{messages}");
    assert!(server.log().contains("maximum echo test duration"));
}

#[test]
fn echo_call_over_tcp() {
    let server = Server::start(&["--echo-max-duration", "3"]);
    let run = sipp_caller(
        &server,
        &[
            ("SERVICE", "9196"),
            ("SCENARIO", "waitbye"),
            ("TRANSPORT", "t1"),
            ("WAIT_BYE_MS", "30000"),
        ],
    );
    run.assert_ok(&server, "echo call over TCP");
    assert!(run.file("messages.log").contains("SIP/2.0/TCP"));
}

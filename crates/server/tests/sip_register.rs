//! A trunk configured with `register` keeps a registration with its carrier: SIPp plays the
//! carrier's registrar, challenges with MD5 digest and checks the credentials.

mod sip_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sip_support::{Server, free_block, peers, require, sipp_once};

struct Sipp(Child);

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts SIPp as the carrier's registrar for one REGISTER dialogue.
fn registrar(port: u16, user: &str, pass: &str, dir: &std::path::Path) -> Sipp {
    require("sipp", "sip-tester");
    let child = Command::new("sipp")
        .arg("-sf")
        .arg(peers().join("sipp/uas_registrar.xml"))
        .args([
            "-i",
            "127.0.0.1",
            "-ci",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .args(["-m", "1", "-key", "user", user, "-key", "pass", pass])
        .args([
            "-nostdin",
            "-timeout",
            "60s",
            "-timeout_error",
            "-trace_msg",
        ])
        .arg("-message_file")
        .arg(dir.join(format!("registrar-{port}.log")))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Sipp(child)
}

fn wait(sipp: &mut Sipp, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if let Some(status) = sipp.0.try_wait().unwrap() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the SIPp registrar did not finish in {timeout:?}");
}

fn trunk(server: &Server, carrier: u16, password: &str) {
    let out = server.admin(&[
        "create-trunk",
        "--channel",
        "1",
        "--name",
        "carrier",
        "--allow",
        "127.0.0.1",
        "--proxy",
        &format!("127.0.0.1:{carrier}"),
        "--username",
        "denwa-trunk",
        "--password",
        password,
        "--register",
    ]);
    assert!(out.contains("created trunk"), "{out}");
}

#[test]
fn a_trunk_with_register_registers_with_its_carrier_using_digest() {
    let mut server = Server::start(&[]);
    let carrier = free_block(2);
    trunk(&server, carrier, "trunk-secret-1");
    let mut sipp = registrar(carrier, "denwa-trunk", "trunk-secret-1", server.dir.path());
    std::thread::sleep(Duration::from_millis(500));
    // Trunks are read at start.
    server.restart();
    assert!(
        wait(&mut sipp, Duration::from_secs(60)),
        "the carrier refused the registration:\n{}",
        server.log()
    );
    server.wait_log("trunk registered", Duration::from_secs(10));
    let log = server.log();
    assert!(log.contains("trunk=carrier expires=600"), "{log}");
}

#[test]
fn a_wrong_trunk_password_is_refused_by_the_carrier() {
    let mut server = Server::start(&[]);
    let carrier = free_block(2);
    trunk(&server, carrier, "not-the-password");
    let mut sipp = registrar(carrier, "denwa-trunk", "trunk-secret-1", server.dir.path());
    std::thread::sleep(Duration::from_millis(500));
    server.restart();
    assert!(
        !wait(&mut sipp, Duration::from_secs(60)),
        "the registrar accepted a wrong password"
    );
    server.wait_log("trunk registration failed", Duration::from_secs(10));
    assert!(server.log().contains("status=403"), "{}", server.log());
}

/// SIPp as a staff softphone registering with its SIP account (MD5 digest).
fn softphone(server: &Server, user: &str, pass: &str) -> (bool, String) {
    let port = free_block(2);
    let args = [
        "-au", user, "-ap", pass, "-key", "user", user, "-key", "expires", "300",
    ];
    sipp_once(server, "uac_register.xml", port, &args)
}

#[test]
fn a_staff_softphone_registers_with_its_sip_account_and_a_wrong_password_gets_403() {
    // The default challenge is MD5 alone, which SIPp (MD5 only, first challenge) answers.
    let mut server = Server::start(&[]);
    server.admin(&[
        "set-sip-account",
        "--email",
        "tanaka@example.com",
        "--username",
        "tanaka",
        "--password",
        "softphone-pw-9",
    ]);
    // SIP accounts are read at start.
    server.restart();
    let (ok, messages) = softphone(&server, "tanaka", "softphone-pw-9");
    assert!(
        ok,
        "registration failed:\n{messages}\nserver:\n{}",
        server.log()
    );
    assert!(messages.contains("algorithm=MD5"), "{messages}");
    server.wait_log(
        "SIP registration aor=sip:tanaka@127.0.0.1 contacts=1",
        Duration::from_secs(10),
    );
    let (ok, messages) = softphone(&server, "tanaka", "wrong-password");
    assert!(!ok, "a wrong password was accepted:\n{messages}");
    assert!(messages.contains("SIP/2.0 403"), "{messages}");
}

//! baresip, the real softphone, registers with a staff member's SIP account at denwa's
//! registrar, calls the echo number over that account, is rung at its registered contact
//! (and answers) when a customer calls the channel number, and unregisters when it quits.
//!
//! The binding is read back from denwa itself with a registrar query (RFC 3261 §10.2.4: a
//! REGISTER without Contact is answered with every current binding), before, during and
//! after baresip's registration, besides the edge's "SIP registration" log line.
//!
//! baresip 1.0 (Debian bookworm, libre 1.1) computes MD5 digests only: its `auth_handler`
//! (libre src/sip/auth.c) returns ENOSYS for any challenge whose `algorithm` is not MD5 and
//! stops there, so denwa's `--sip-digest sha256` challenges (SHA-256, then MD5; RFC 8760)
//! end its registration with "Register: Function not implemented". libre gained SHA-256
//! in baresip/re#1103 (2024, baresip 3.11). Hence denwa's default: MD5 only.

mod sip_support;

use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use denwa_sip::auth::Challenge;
use denwa_sip::message::Message;
use sip_support::{PeerRun, Server, free_block, logged_digits, require, run_peer, wavcmp};

const USER: &str = "tanaka";
const PASS: &str = "softphone-pw-9";

/// Starts denwa with `extra` flags and gives tanaka@example.com the SIP account
/// `USER`/`PASS` (accounts are read at start, hence the restart).
fn server_with_account(extra: &[&str]) -> Server {
    require("baresip", "baresip");
    require("sox", "sox");
    let mut server = Server::start(extra);
    let out = server.admin(&[
        "set-sip-account",
        "--email",
        "tanaka@example.com",
        "--username",
        USER,
        "--password",
        PASS,
    ]);
    assert!(out.contains(USER), "{out}");
    server.restart();
    assert!(server.log().contains("sip_accounts=1"), "{}", server.log());
    server
}

/// `baresip_peer.sh` settings for a phone on a fresh port block that registers with
/// denwa as `USER` with `password`.
fn phone_env(server: &Server, password: &str, extra: &[(&'static str, String)]) -> PhoneEnv {
    let base = free_block(40);
    let mut env: Vec<(&'static str, String)> = vec![
        ("SIP_REGISTRAR", format!("127.0.0.1:{}", server.sip_port)),
        ("SIP_USER", USER.into()),
        ("SIP_PASS", password.into()),
        ("BARESIP_TRACE", "1".into()),
        ("BARESIP_SIP_PORT", base.to_string()),
        ("BARESIP_CTRL_PORT", (base + 2).to_string()),
        ("BARESIP_RTP_PORTS", format!("{}-{}", base + 10, base + 39)),
    ];
    env.extend(extra.iter().cloned());
    PhoneEnv {
        env,
        sip_port: base,
    }
}

struct PhoneEnv {
    env: Vec<(&'static str, String)>,
    /// Where baresip listens for SIP: its Contact.
    sip_port: u16,
}

fn run_phone(dir: &Path, env: &[(&'static str, String)], timeout: Duration) -> PeerRun {
    run_peer("baresip/baresip_peer.sh", dir, env, timeout)
}

/// The Contact values of denwa's 200 to a registrar query for `USER`'s address of record
/// (RFC 3261 §10.2.4), answering its digest challenge with `PASS`.
fn query_bindings(server: &Server) -> Vec<String> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let local = sock.local_addr().unwrap();
    let registrar = format!("sip:127.0.0.1:{}", server.sip_port);
    let call_id = format!("query-{}-{}", std::process::id(), local.port());
    let request = |cseq: u32, authorization: Option<&str>| {
        let mut r = format!(
            "REGISTER {registrar} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-q{cseq}-{call_id};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{USER}@127.0.0.1>;tag=q{}\r\n\
             To: <sip:{USER}@127.0.0.1>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\n",
            local.port()
        );
        if let Some(a) = authorization {
            r.push_str(&format!("Authorization: {a}\r\n"));
        }
        r.push_str("Content-Length: 0\r\n\r\n");
        r
    };
    let exchange = |msg: &str| -> denwa_sip::message::Response {
        for _ in 0..3 {
            sock.send_to(msg.as_bytes(), server.sip_addr()).unwrap();
            let mut buf = [0u8; 65_535];
            while let Ok((n, _)) = sock.recv_from(&mut buf) {
                if let Ok(Message::Response(r)) = Message::parse(&buf[..n])
                    && r.status >= 200
                {
                    return r;
                }
            }
        }
        panic!("no final response to the registrar query:\n{msg}");
    };
    let challenge = exchange(&request(1, None));
    assert_eq!(challenge.status, 401, "{challenge:?}");
    let chosen = Challenge::best(challenge.headers.values("WWW-Authenticate"))
        .unwrap_or_else(|| panic!("no usable challenge: {challenge:?}"));
    let creds = chosen.authorize(USER, PASS, "REGISTER", &registrar, "0a4f113b", 1);
    let ok = exchange(&request(2, Some(&creds.to_header())));
    assert_eq!(ok.status, 200, "registrar query refused: {ok:?}");
    ok.headers
        .get_all("Contact")
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// The last "SIP registration" line the edge logged for `USER`.
fn last_registration_line(log: &str) -> Option<&str> {
    let needle = format!("SIP registration aor=sip:{USER}@127.0.0.1 ");
    log.lines().rfind(|l| l.contains(&needle))
}

/// baresip's version as (major, minor), from `baresip -h`.
fn baresip_version() -> (u32, u32) {
    let out = Command::new("baresip").arg("-h").output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let v = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix('v').filter(|v| v.contains('.')))
        .unwrap_or_else(|| panic!("no version in `baresip -h`: {text}"));
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The two tests that compare audio run one at a time: two real-time calls with baresip,
/// SIPp and two servers at once can starve a 2-core CI machine.
static AUDIO: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn baresip_registers_with_its_staff_account_calls_the_echo_number_over_it_and_unregisters() {
    let _one_at_a_time = AUDIO.lock().unwrap_or_else(|p| p.into_inner());
    let mut server = server_with_account(&["--echo-max-duration", "120"]);
    assert_eq!(
        query_bindings(&server),
        Vec::<String>::new(),
        "bound before baresip"
    );

    let phone = phone_env(
        &server,
        PASS,
        &[
            ("MODE", "call".into()),
            ("TARGET", format!("sip:9196@127.0.0.1:{}", server.sip_port)),
            ("HOLD_S", "14".into()),
            ("DIGITS", "12#".into()),
            ("TIMEOUT_S", "60".into()),
        ],
    );
    let dir = server.dir.path().to_owned();
    let env = phone.env.clone();
    let baresip = std::thread::spawn(move || run_phone(&dir, &env, Duration::from_secs(120)));

    // While baresip is registered (it holds the echo call for 14 s), denwa has its binding.
    server.wait_log(
        &format!("SIP registration aor=sip:{USER}@127.0.0.1 contacts=1"),
        Duration::from_secs(60),
    );
    let bindings = query_bindings(&server);
    let run = baresip.join().unwrap();
    assert_eq!(bindings.len(), 1, "{bindings:?}\n{}", server.log());
    let contact = &bindings[0];
    assert!(
        contact.starts_with(&format!("<sip:{USER}"))
            && contact.contains(&format!("@127.0.0.1:{}>", phone.sip_port)),
        "the binding is not baresip's contact: {contact}"
    );
    let expires: u64 = contact
        .split("expires=")
        .nth(1)
        .and_then(|e| e.parse().ok())
        .unwrap_or_else(|| panic!("no expires in {contact}"));
    assert!(
        (500..=600).contains(&expires),
        "baresip asked for 600 s: {contact}"
    );

    assert!(
        run.status.success(),
        "baresip failed: {}\n{}\nserver:\n{}",
        run.output,
        run.file("baresip.log"),
        server.log()
    );
    assert!(
        run.file("ctl.json").contains("\"registered\": true"),
        "{}",
        run.file("ctl.json")
    );

    // The call came in over the account: From is its address of record.
    let log = server.log();
    let incoming = log
        .lines()
        .find(|l| l.contains("incoming call"))
        .unwrap_or_else(|| panic!("no incoming call:\n{log}"));
    assert!(
        incoming.contains(&format!("from=sip:{USER}@127.0.0.1:{}", server.sip_port))
            && incoming.contains("to=sip:9196@"),
        "{incoming}"
    );
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

    // On quit baresip unregistered (Expires 0) and the binding is gone.
    assert_eq!(
        last_registration_line(&log).map(|l| l.ends_with("contacts=0")),
        Some(true),
        "{log}"
    );
    assert_eq!(query_bindings(&server), Vec::<String>::new(), "still bound");
    let trace = run.file("baresip.log");
    assert!(
        trace.contains(&format!("@127.0.0.1:{}>;expires=0", phone.sip_port)),
        "baresip sent no unregister:\n{trace}"
    );
}

#[test]
fn a_wrong_password_leaves_baresip_unregistered() {
    let server = server_with_account(&[]);
    let phone = phone_env(
        &server,
        "not-the-password",
        &[
            ("MODE", "register".into()),
            ("HOLD_S", "1".into()),
            ("REGISTER_WAIT_S", "5".into()),
            ("TIMEOUT_S", "30".into()),
        ],
    );
    let run = run_phone(server.dir.path(), &phone.env, Duration::from_secs(60));
    assert!(
        !run.status.success(),
        "registered with a wrong password: {}",
        run.output
    );
    let trace = run.file("baresip.log");
    assert!(trace.contains("SIP/2.0 403"), "{trace}");
    assert!(
        run.file("ctl.json").contains("\"registered\": false"),
        "{}",
        run.output
    );
    assert_eq!(
        last_registration_line(&server.log()),
        None,
        "{}",
        server.log()
    );
    assert_eq!(query_bindings(&server), Vec::<String>::new());
}

#[test]
fn with_sha256_challenges_baresip_registers_only_if_its_libre_knows_sha256() {
    let server = server_with_account(&["--sip-digest", "sha256"]);
    let phone = phone_env(
        &server,
        PASS,
        &[
            ("MODE", "register".into()),
            ("HOLD_S", "1".into()),
            ("REGISTER_WAIT_S", "5".into()),
            ("TIMEOUT_S", "30".into()),
        ],
    );
    let run = run_phone(server.dir.path(), &phone.env, Duration::from_secs(60));
    let trace = run.file("baresip.log");
    assert!(
        trace.contains("algorithm=SHA-256") && trace.contains("algorithm=MD5"),
        "denwa did not offer SHA-256 then MD5:\n{trace}"
    );
    if baresip_version() < (3, 11) {
        // libre before baresip/re#1103 knows MD5 only and stops at the SHA-256 challenge.
        assert!(
            !run.status.success(),
            "baresip {:?} registered: {}",
            baresip_version(),
            run.output
        );
        assert!(
            trace.contains("Register: Function not implemented"),
            "{trace}"
        );
        assert_eq!(
            last_registration_line(&server.log()),
            None,
            "{}",
            server.log()
        );
        assert_eq!(query_bindings(&server), Vec::<String>::new());
    } else {
        // A libre with SHA-256 picks it and registers.
        assert!(
            run.status.success(),
            "baresip failed: {}\n{trace}\nserver:\n{}",
            run.output,
            server.log()
        );
        assert!(
            trace
                .lines()
                .any(|l| l.starts_with("Authorization: Digest") && l.contains("algorithm=SHA-256")),
            "{trace}"
        );
        assert_eq!(
            last_registration_line(&server.log()).map(|l| l.ends_with("contacts=0")),
            Some(true),
            "{}",
            server.log()
        );
    }
}

#[test]
fn a_customer_call_to_the_channel_number_rings_the_registered_baresip_which_answers() {
    let _one_at_a_time = AUDIO.lock().unwrap_or_else(|p| p.into_inner());
    let mut server = server_with_account(&[]);
    // baresip says the speech backwards, so each direction is told apart.
    let reversed = server.dir.path().join("speech_reversed.wav");
    let status = Command::new("sox")
        .arg(sip_support::peers().join("media/speech_8k.wav"))
        .arg(&reversed)
        .arg("reverse")
        .status()
        .unwrap();
    assert!(status.success());
    let phone = phone_env(
        &server,
        PASS,
        &[
            ("MODE", "answer".into()),
            ("CALLS", "1".into()),
            ("HOLD_S", "0".into()),
            ("SPEECH_WAV", reversed.display().to_string()),
            ("TIMEOUT_S", "60".into()),
        ],
    );
    let dir = server.dir.path().to_owned();
    let env = phone.env.clone();
    let baresip = std::thread::spawn(move || run_phone(&dir, &env, Duration::from_secs(90)));
    server.wait_log(
        &format!("SIP registration aor=sip:{USER}@127.0.0.1 contacts=1"),
        Duration::from_secs(60),
    );

    // The demo channel's number, dialled as a carrier sends it.
    let customer = sip_support::sipp_caller(&server, &[("SERVICE", "05012345678"), ("REC", "1")]);
    customer.assert_ok(&server, "SIPp customer calling the channel number");
    let run = baresip.join().unwrap();
    assert!(
        run.status.success(),
        "baresip did not answer: {}\n{}\nserver:\n{}",
        run.output,
        run.file("baresip.log"),
        server.log()
    );
    let log = server.log();
    assert!(log.contains("ringing a softphone"), "{log}");
    assert!(log.contains("room started"), "{log}");
    // denwa rang the contact baresip registered.
    let trace = run.file("baresip.log");
    assert!(
        trace.contains(&format!("INVITE sip:{USER}-"))
            && trace.contains(&format!("@127.0.0.1:{} SIP/2.0", phone.sip_port)),
        "{trace}"
    );

    let reference = sip_support::peers().join("media/speech_8k.wav");
    let heard = std::fs::read_dir(run.run_dir.join("snd"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .unwrap_or_else(|| panic!("baresip recorded nothing: {}", run.output));
    let (ok, cmp) = wavcmp(&reference, &heard);
    assert!(ok, "baresip did not hear the customer: {cmp}");
    let (ok, cmp) = wavcmp(&reversed, &customer.run_dir.join("rx.wav"));
    assert!(ok, "the customer did not hear baresip: {cmp}");

    // baresip unregistered when it quit.
    assert_eq!(
        last_registration_line(&log).map(|l| l.ends_with("contacts=0")),
        Some(true),
        "{log}"
    );
    assert_eq!(query_bindings(&server), Vec::<String>::new(), "still bound");
}

//! Shared by the `sip_*` integration tests: start the real `denwa` binary on free ports
//! with a temporary data directory and the demo channel, and run the real peers from
//! `tests/peers` (SIPp, baresip) against it. Every child is killed by PID on drop.
#![allow(dead_code)] // each test binary uses a different part

use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// The project's peer fixtures (scripts, scenarios, media).
pub(crate) fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers")
}

/// Fails the test with a clear message when a peer program is missing: these tests
/// never pass without their peer.
pub(crate) fn require(program: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{program}` is not installed: this test needs the real peer. Install the Debian \
         package `{package}` (scripts/test.sh does: apt-get install {package})"
    );
}

static NEXT: AtomicU16 = AtomicU16::new(0);

/// A block of `n` consecutive ports free on UDP and TCP at 127.0.0.1 (and .2), starting
/// at an even port. Blocks are spread by process id so parallel test binaries differ, and
/// blocks handed out in one process never overlap (a server's RTP range is bound only
/// later, so the bind check alone cannot see it).
pub(crate) fn free_block(n: u16) -> u16 {
    let spread = (std::process::id() % 200) as u16 * 64;
    let slots = n.div_ceil(16).max(1);
    for _ in 0..2000 {
        let k = NEXT.fetch_add(slots, Ordering::Relaxed);
        let base = 30_000 + (spread + k * 16) % 25_000;
        let base = base - base % 2;
        let ok = (0..n).all(|i| {
            let p = base + i;
            UdpSocket::bind(("127.0.0.1", p)).is_ok()
                && TcpListener::bind(("127.0.0.1", p)).is_ok()
                && UdpSocket::bind(("127.0.0.2", p)).is_ok()
        });
        if ok {
            return base;
        }
    }
    panic!("no free port block");
}

/// A running `denwa serve`.
pub(crate) struct Server {
    child: Child,
    pub(crate) sip_port: u16,
    pub(crate) http_port: u16,
    pub(crate) log_path: PathBuf,
    pub(crate) dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl Server {
    /// Starts `denwa serve --demo` with SIP on 127.0.0.1 and `extra` flags; waits until
    /// the SIP edge listens.
    pub(crate) fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let base = free_block(24);
        let log_path = dir.path().join("denwa.log");
        let child = Self::spawn(dir.path(), base, &log_path, extra);
        let mut server = Server {
            child,
            sip_port: base + 2,
            http_port: base,
            log_path,
            dir,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        server.wait_log("SIP edge listening", Duration::from_secs(120));
        // HTTP binds after the SIP edge started.
        server.wait_log("denwa is serving", Duration::from_secs(30));
        server
    }

    /// Stops the server (SIGKILL) and starts it again on the same ports and data.
    pub(crate) fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::rename(&self.log_path, self.dir.path().join("denwa.log.1"));
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        self.child = Self::spawn(self.dir.path(), self.http_port, &self.log_path, &extra);
        self.wait_log("SIP edge listening", Duration::from_secs(120));
        self.wait_log("denwa is serving", Duration::from_secs(30));
    }

    /// [`restart`](Self::restart) with other `extra` flags (kept for later restarts).
    pub(crate) fn restart_with(&mut self, extra: &[&str]) {
        self.extra = extra.iter().map(|s| (*s).to_owned()).collect();
        self.restart();
    }

    fn spawn(dir: &Path, base: u16, log_path: &Path, extra: &[&str]) -> Child {
        let (http_port, sip_port) = (base, base + 2);
        let rtp = format!("{}-{}", base + 4, base + 23);
        let log = File::create(log_path).unwrap();
        Command::new(env!("CARGO_BIN_EXE_denwa"))
            .arg("serve")
            .arg("--demo")
            .arg("--demo-password")
            .arg("demo-password-1")
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--web-dir")
            .arg(dir.join("no-web"))
            .arg("--http")
            .arg(format!("127.0.0.1:{http_port}"))
            .arg("--sip")
            .arg(format!("127.0.0.1:{sip_port}"))
            .arg("--rtp-ports")
            .arg(&rtp)
            .args(extra)
            .env("RUST_LOG", "info,sqlx=warn")
            .env("NO_COLOR", "1")
            .env_remove("DENWA_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// The server's log so far.
    pub(crate) fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(&self.log_path) {
            let _ = f.read_to_string(&mut s);
        }
        plain(&s)
    }

    /// Waits for `needle` in the log; panics with the log after `timeout`.
    pub(crate) fn wait_log(&mut self, needle: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "denwa exited ({status}) before logging {needle:?}:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < end,
                "no {needle:?} in the server log after {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the server process is still running.
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub(crate) fn sip_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.sip_port))
    }

    /// `denwa admin …` on this server's data directory.
    pub(crate) fn admin(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_denwa"))
            .arg("admin")
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "denwa admin {args:?} failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // Keep the server log, the peers' run directories and recordings to look at.
            self.dir.disable_cleanup(true);
            eprintln!("test files kept in {}", self.dir.path().display());
        }
    }
}

/// A finished peer script run.
pub(crate) struct PeerRun {
    pub(crate) status: ExitStatus,
    pub(crate) run_dir: PathBuf,
    pub(crate) output: String,
}

impl PeerRun {
    pub(crate) fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.run_dir.join(name)).unwrap_or_default()
    }

    /// Fails the test unless the peer script succeeded, showing what it printed, SIPp's
    /// `errors.log` and the server's log.
    pub(crate) fn assert_ok(&self, server: &Server, what: &str) {
        assert!(
            self.status.success(),
            "{what} failed: {}\n{}\nserver:\n{}",
            self.output,
            self.file("errors.log"),
            server.log()
        );
    }
}

/// Runs `tests/peers/<script>` with `env`, its output in a fresh `RUN_DIR` under `dir`;
/// kills it (TERM: its trap stops its own children) after `timeout`.
pub(crate) fn run_peer(
    script: &str,
    dir: &Path,
    env: &[(&str, String)],
    timeout: Duration,
) -> PeerRun {
    let run_dir = dir.join(format!(
        "{}-{}",
        script.replace('/', "-"),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&run_dir).unwrap();
    let out_path = run_dir.join("script.log");
    let out = File::create(&out_path).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(peers().join(script))
        .env("RUN_DIR", &run_dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let end = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            std::thread::sleep(Duration::from_secs(5));
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    PeerRun {
        status,
        run_dir,
        output,
    }
}

/// Runs `sipp/sipp_caller.sh` against the server with `env` (SCENARIO, SERVICE, …).
pub(crate) fn sipp_caller(server: &Server, env: &[(&str, &str)]) -> PeerRun {
    require("sipp", "sip-tester");
    let base = free_block(4);
    let mut all: Vec<(&str, String)> = vec![
        ("SUT_PORT", server.sip_port.to_string()),
        ("CALLER_SIP_PORT", base.to_string()),
        ("CALLER_RTP_PORT", (base + 2).to_string()),
    ];
    all.extend(env.iter().map(|(k, v)| (*k, (*v).to_owned())));
    run_peer(
        "sipp/sipp_caller.sh",
        server.dir.path(),
        &all,
        Duration::from_secs(150),
    )
}

/// `python3 tools/wavcmp.py REF TEST`: (passed, its JSON output).
pub(crate) fn wavcmp(reference: &Path, test: &Path) -> (bool, String) {
    require("python3", "python3");
    let out = Command::new("python3")
        .arg(peers().join("tools/wavcmp.py"))
        .arg(reference)
        .arg(test)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// `text` without ANSI colour escapes.
pub(crate) fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ ... letter
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The digits the server logged as RFC 4733 / INFO DTMF, in order.
pub(crate) fn logged_digits(log: &str) -> String {
    plain(log)
        .lines()
        .filter(|l| l.contains(" dtmf"))
        .filter_map(|l| l.split("digit=").nth(1))
        .filter_map(|rest| rest.chars().next())
        .collect()
}

/// Starts `sipp/sipp_callee.sh` (a far end that answers) on SIP port `port`, its RTP sink
/// on `port + 2` and SIPp's media on `port + 4`, with `env` (MODE, PLAY, HANGUP_MS,
/// AUTH_USER, …), in a thread; returns once it listens. Join the handle for its run.
pub(crate) fn sipp_callee(
    server: &Server,
    port: u16,
    env: &[(&'static str, &str)],
) -> std::thread::JoinHandle<PeerRun> {
    require("sipp", "sip-tester");
    let dir = server.dir.path().to_owned();
    let mut all: Vec<(&'static str, String)> = vec![
        ("CALLEE_SIP_PORT", port.to_string()),
        ("CALLEE_RTP_PORT", (port + 2).to_string()),
        ("SIPP_MEDIA_PORT", (port + 4).to_string()),
        ("CALLS", "1".to_owned()),
        ("TIMEOUT_S", "120".to_owned()),
    ];
    all.extend(env.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let handle = std::thread::spawn(move || {
        run_peer("sipp/sipp_callee.sh", &dir, &all, Duration::from_secs(150))
    });
    // Listening once the port is taken.
    let end = Instant::now() + Duration::from_secs(20);
    while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < end, "the SIPp callee did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    handle
}

/// A blocking HTTP/1.1 request to the server with an optional bearer token; returns
/// (status, body).
pub(crate) fn http(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    http_to(server.http_port, method, path, token, body)
}

/// [`http`] to any port on 127.0.0.1.
pub(crate) fn http_to(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    http_body(
        port,
        method,
        path,
        token,
        "application/json",
        body.as_bytes(),
    )
}

/// A blocking HTTP/1.1 request with a body of any content type; (status, body).
pub(crate) fn http_body(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    let headers = format!("content-type: {content_type}\r\n");
    let (status, _, body) = http_raw(port, method, path, token, &headers, body);
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A blocking HTTP/1.1 request with extra header lines (each ending in CRLF); (status,
/// the response's header block, the body's bytes).
pub(crate) fn http_raw(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{auth}{headers}content-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let body = out.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, body)
}

/// Runs SIPp once (`-m 1`) against the server: `scenario` (under `tests/peers/sipp`) from
/// local SIP port `port`, with `args` (keys, `-au`/`-ap`, `-mp` …), a 30 s limit and its
/// messages traced; (whether it succeeded, the message trace).
pub(crate) fn sipp_once(
    server: &Server,
    scenario: &str,
    port: u16,
    args: &[&str],
) -> (bool, String) {
    require("sipp", "sip-tester");
    let log = server.dir.path().join(format!("sipp-{port}.log"));
    let status = Command::new("sipp")
        .arg(format!("127.0.0.1:{}", server.sip_port))
        .arg("-sf")
        .arg(peers().join("sipp").join(scenario))
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-m", "1"])
        .args(args)
        .args([
            "-nostdin",
            "-timeout",
            "30s",
            "-timeout_error",
            "-trace_msg",
        ])
        .arg("-message_file")
        .arg(&log)
        .current_dir(server.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    (
        status.success(),
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

/// Signs in as the demo owner (sato@example.com); the session token.
pub(crate) fn login(server: &Server) -> String {
    let (status, body) = http(
        server,
        "POST",
        "/api/v1/auth/login",
        None,
        r#"{"email":"sato@example.com","password":"demo-password-1"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// SIPp registers `user` from `port` (so the binding's Contact is that port).
pub(crate) fn register(server: &Server, user: &str, pass: &str, port: u16) {
    let args = [
        "-au", user, "-ap", pass, "-key", "user", user, "-key", "expires", "300",
    ];
    let (ok, messages) = sipp_once(server, "uac_register.xml", port, &args);
    assert!(
        ok,
        "registration failed:\n{messages}\nserver:\n{}",
        server.log()
    );
}

/// A server whose demo owner (sato) set up a softphone account in the console and whose
/// softphone registered from a free port block: (server, the phone's SIP port).
pub(crate) fn server_with_a_registered_softphone(extra: &[&str]) -> (Server, u16) {
    let mut server = Server::start(extra);
    // The account works at once: no restart.
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
    (server, phone)
}

/// A staff console's WebSocket (`/api/v1/events`), read on a thread: the staff member is
/// online (rung for calls) while it is open; every pushed event is kept.
pub(crate) struct Console {
    events: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Console {
    pub(crate) fn open(server: &Server, token: &str) -> Console {
        let url = format!(
            "ws://127.0.0.1:{}/api/v1/events?token={token}",
            server.http_port
        );
        let (mut ws, _) = tungstenite::connect(url).expect("websocket");
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
        }
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (e, s) = (events.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match ws.read() {
                    Ok(tungstenite::Message::Text(t)) => {
                        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&t)
                            && v["type"] == "event"
                        {
                            e.lock().unwrap().push(v["event"].clone());
                        }
                    }
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(err))
                        if matches!(
                            err.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
            let _ = ws.close(None);
        });
        // The server counts the console once the socket is up.
        std::thread::sleep(Duration::from_millis(300));
        Console { events, stop }
    }

    /// Waits for an event of `kind` (and `pred`), up to `timeout`.
    pub(crate) fn wait(
        &self,
        kind: &str,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let end = Instant::now() + timeout;
        loop {
            if let Some(e) = self
                .events
                .lock()
                .unwrap()
                .iter()
                .find(|e| e["kind"] == kind && pred(e))
            {
                return e.clone();
            }
            assert!(
                Instant::now() < end,
                "no {kind} event within {timeout:?}: {:?}",
                self.events.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `GET` with the token; the JSON body (asserting 200).
pub(crate) fn get_json(server: &Server, token: &str, path: &str) -> serde_json::Value {
    let (status, body) = http(server, "GET", path, Some(token), "");
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

//! The `denwa` binary as a user runs it: admin commands, `serve` with the demo, env and
//! TOML configuration, graceful shutdown on SIGTERM.

mod sip_support;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn denwa(data: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_denwa"))
        .arg("admin")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("DENWA_DATA_DIR")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A blocking HTTP/1.1 request; returns (status, body).
fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    sip_support::http_to(port, method, path, None, body.unwrap_or(""))
}

/// Starts `denwa serve`; a thread collects what it prints.
fn serve(cmd: &mut Command) -> (Child, std::sync::Arc<std::sync::Mutex<String>>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let printed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = printed.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    (child, printed)
}

fn sigterm_and_wait(child: &mut Child) -> bool {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    false
}

#[test]
fn admin_commands_create_a_working_channel() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (ok, out) = denwa(
        data,
        &[
            "create-channel",
            "--name",
            "Acme",
            "--number",
            "03-5555-0000",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("+81355550000"), "{out}");
    let (ok, out) = denwa(
        data,
        &[
            "create-staff",
            "--email",
            "ann@acme.test",
            "--name",
            "Ann",
            "--password",
            "ann-password",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = denwa(
        data,
        &["create-staff", "--email", "bob@acme.test", "--name", "Bob"],
    );
    assert!(
        ok && out.contains("password: "),
        "a generated password is printed: {out}"
    );
    let (ok, out) = denwa(
        data,
        &[
            "add-staff",
            "--channel",
            "1",
            "--email",
            "ann@acme.test",
            "--role",
            "manager",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = denwa(data, &["create-api-key", "--channel", "1", "--name", "crm"]);
    assert!(
        ok && out.contains("access key: dk_") && out.contains("secret:"),
        "{out}"
    );
    let (ok, out) = denwa(data, &["list-channels"]);
    assert!(ok && out.contains("Acme"), "{out}");

    // Refusals are clear, not panics.
    let (ok, out) = denwa(
        data,
        &[
            "add-staff",
            "--channel",
            "1",
            "--email",
            "ann@acme.test",
            "--role",
            "boss",
        ],
    );
    assert!(!ok && out.contains("unknown role"), "{out}");
    let (ok, out) = denwa(
        data,
        &["add-staff", "--channel", "1", "--email", "nobody@acme.test"],
    );
    assert!(!ok && out.contains("no staff account"), "{out}");
    let (ok, out) = denwa(
        data,
        &[
            "create-channel",
            "--name",
            "Other",
            "--number",
            "03-5555-0000",
        ],
    );
    assert!(!ok && out.contains("already belongs"), "{out}");
    let (ok, out) = denwa(data, &["create-channel", "--name", "X", "--number", "12"]);
    assert!(!ok && out.contains("invalid phone number"), "{out}");
    let (ok, out) = denwa(
        data,
        &["create-channel", "--name", "X", "--time-zone", "Mars/Base"],
    );
    assert!(!ok && out.contains("unknown time zone"), "{out}");
    let (ok, out) = denwa(
        data,
        &[
            "create-staff",
            "--email",
            "ann@acme.test",
            "--name",
            "Ann 2",
            "--password",
            "whatever-pass",
        ],
    );
    assert!(!ok && out.contains("already has an account"), "{out}");

    // The server serves that channel (no demo: the data dir is not empty), and the
    // manager can sign in.
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_denwa"))
        .args(["serve", "--http", &format!("127.0.0.1:{port}")])
        .env("DENWA_DATA_DIR", data)
        .env("DENWA_WEB_DIR", data.join("no-console"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(port);
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/auth/login",
        Some(r#"{"email":"ann@acme.test","password":"ann-password"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let (status, _) = http(
        port,
        "POST",
        "/api/v1/auth/login",
        Some(r#"{"email":"sato@example.com","password":"x"}"#),
    );
    assert_eq!(status, 401, "no demo accounts were created");
    assert!(sigterm_and_wait(&mut child), "graceful exit on SIGTERM");
}

fn wait_healthy(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http(port, "GET", "/healthz", None).0 == 200
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("server on {port} did not become healthy");
}

#[test]
fn serve_on_an_empty_data_dir_prints_the_demo_and_keeps_data_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("denwa.toml");
    std::fs::write(
        &config,
        format!(
            "http = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let run = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_denwa"));
        cmd.args(["serve", "--config"])
            .arg(&config)
            .env_remove("DENWA_DATA_DIR")
            .env_remove("DENWA_HTTP")
            .env("DENWA_DEMO_PASSWORD", "demo-password-1");
        serve(&mut cmd)
    };
    let (mut child, printed) = run();
    wait_healthy(port);
    // The banner is written before the server answers; give the reader thread time.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !printed.lock().unwrap().contains("tanaka@example.com") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let printed = printed.lock().unwrap().clone();
    assert!(
        printed.contains(&format!("http://127.0.0.1:{port}")),
        "{printed}"
    );
    assert!(
        printed.contains("Denwa Demo") && printed.contains("050-1234-5678 (+815012345678)"),
        "{printed}"
    );
    assert!(printed.contains("demo-password-1"), "{printed}");
    for email in [
        "sato@example.com",
        "suzuki@example.com",
        "tanaka@example.com",
    ] {
        assert!(printed.contains(email), "{printed}");
    }
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/auth/login",
        Some(r#"{"email":"tanaka@example.com","password":"demo-password-1"}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert!(sigterm_and_wait(&mut child));

    // Second start: same data, no second demo.
    let (mut child, printed) = run();
    wait_healthy(port);
    assert!(
        !printed.lock().unwrap().contains("Denwa Demo"),
        "no demo banner on a non-empty data dir"
    );
    let (status, _) = http(
        port,
        "POST",
        "/api/v1/auth/login",
        Some(r#"{"email":"tanaka@example.com","password":"demo-password-1"}"#),
    );
    assert_eq!(status, 200);
    assert!(sigterm_and_wait(&mut child));
    let dir_data = dir.path().join("data");
    let (ok, out) = denwa(&dir_data, &["list-channels"]);
    assert!(ok);
    assert_eq!(
        out.lines().filter(|l| l.contains("Denwa Demo")).count(),
        1,
        "{out}"
    );
}

#[test]
fn a_bad_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "htp = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_denwa"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("unknown field"),
        "{err}"
    );
}

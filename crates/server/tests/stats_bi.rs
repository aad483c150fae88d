//! Statistics end to end with the real binary (SPEC ST-1..ST-6): `denwa admin
//! generate-calls` fills a channel, then the dashboard, the CSV and XLSX exports, the
//! OData v4 feed read by plain HTTP and by a real OData client from PyPI (python-odata,
//! in the venv `scripts/test.sh` makes; `DENWA_ODATA_PYTHON` names its python), the 90-day
//! limit and tenant isolation of API keys.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn denwa(data: &Path, args: &[&str]) -> String {
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
    assert!(out.status.success(), "denwa admin {args:?}: {text}");
    text
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A blocking HTTP/1.1 GET with extra headers; (status, headers, body bytes).
fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n{extra}\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut body = out[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, head, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..line_end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[line_end + 2..line_end + 2 + size]);
        b = &b[line_end + 2 + size + 2..];
    }
}

fn json(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let (status, _, body) = get(port, path, headers);
    (
        status,
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("{path}: not JSON: {}", String::from_utf8_lossy(&body))),
    )
}

fn basic(key: &str, secret: &str) -> String {
    // RFC 7617 basic credentials, encoded by hand (no base64 crate in this test).
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let raw = format!("{key}:{secret}").into_bytes();
    let mut s = String::new();
    for c in raw.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    format!("Basic {s}")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn key_of(out: &str) -> (String, String) {
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap()
    };
    (field("access key:"), field("secret:"))
}

fn odata_python() -> String {
    match std::env::var("DENWA_ODATA_PYTHON") {
        Ok(p) if Path::new(&p).exists() => p,
        _ => panic!(
            "DENWA_ODATA_PYTHON must name a python with python-odata installed \
             (scripts/test.sh makes the venv: python3 -m venv V && V/bin/pip install python-odata==0.8.1)"
        ),
    }
}

#[test]
fn dashboard_exports_and_odata_feed_with_a_real_client() {
    let python = odata_python();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    denwa(
        data,
        &[
            "create-channel",
            "--name",
            "Acme",
            "--time-zone",
            "Asia/Tokyo",
        ],
    );
    denwa(data, &["create-channel", "--name", "Other"]);
    denwa(
        data,
        &[
            "create-staff",
            "--email",
            "mgr@acme.test",
            "--name",
            "Mgr",
            "--password",
            "mgr-password-1",
        ],
    );
    denwa(
        data,
        &[
            "add-staff",
            "--channel",
            "1",
            "--email",
            "mgr@acme.test",
            "--role",
            "manager",
        ],
    );
    let out = denwa(
        data,
        &[
            "generate-calls",
            "--channel",
            "1",
            "--calls",
            "3000",
            "--days",
            "20",
            "--quiet",
        ],
    );
    assert!(out.contains("generated 3000 calls"), "{out}");
    let (key, secret) = key_of(&denwa(data, &["create-api-key", "--channel", "1"]));
    let (other_key, other_secret) = key_of(&denwa(data, &["create-api-key", "--channel", "2"]));

    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_denwa"))
        .args(["serve", "--no-sip", "--http", &format!("127.0.0.1:{port}")])
        .env("DENWA_DATA_DIR", data)
        .env("DENWA_WEB_DIR", data.join("no-console"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while get_ok(port).is_none() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let auth = basic(&key, &secret);
    let auth_h = [("authorization", auth.as_str())];

    // ---- dashboard (console, staff session) and exports
    let login = {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let body = r#"{"email":"mgr@acme.test","password":"mgr-password-1"}"#;
        write!(s, "POST /api/v1/auth/login HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let v: Value = serde_json::from_str(out.split_once("\r\n\r\n").unwrap().1).unwrap();
        v["token"].as_str().unwrap().to_owned()
    };
    let bearer = format!("Bearer {login}");
    let staff_h = [("authorization", bearer.as_str())];
    let (status, d) = json(
        port,
        "/api/v1/channels/1/stats/dashboard?period=week",
        &staff_h,
    );
    assert_eq!(status, 200, "{d}");
    let total = d["totals"]["total"].as_i64().unwrap();
    assert!(total > 1500 && total <= 3000, "{total} calls in 30 days");
    let (from, to) = (
        d["from"].as_str().unwrap().to_owned(),
        d["to"].as_str().unwrap().to_owned(),
    );
    assert!(
        d["totals"]["missed_by_reason"]["notInOperation"]
            .as_i64()
            .unwrap()
            > 0
    );
    assert!(
        d["totals"]["missed_by_reason"]["userLeft"]
            .as_i64()
            .unwrap()
            > 0
    );
    assert!(d["totals"]["service_level"].as_f64().is_some());
    assert_eq!(d["heatmap"].as_array().unwrap().len(), 7);
    assert!(!d["staff"].as_array().unwrap().is_empty());
    let (status, e) = json(
        port,
        "/api/v1/channels/1/stats/dashboard?from=2026-01-01&to=2026-04-01",
        &staff_h,
    );
    assert_eq!((status, e["code"].as_str()), (400, Some("range_too_wide")));
    // Dates at the ends of what the date type holds are refused, not overflowed.
    for query in [
        "to=-262143-01-05",
        "from=%2B262142-12-30&to=%2B262142-12-31",
        "from=0001-01-01&to=0001-01-02",
    ] {
        for route in ["stats/dashboard", "stats/calls.csv", "stats/calls.xlsx"] {
            let (status, _, body) = get(
                port,
                &format!("/api/v1/channels/1/{route}?{query}"),
                &staff_h,
            );
            let e: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            assert_eq!(
                (status, e["code"].as_str()),
                (400, Some("range_too_wide")),
                "{route}?{query}"
            );
        }
    }

    let (status, head, csv) = get(port, "/api/v1/channels/1/stats/calls.csv", &staff_h);
    assert_eq!(status, 200);
    assert!(head.contains("text/csv"));
    let csv = String::from_utf8(csv).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap().trim_start_matches('\u{feff}');
    assert_eq!(
        header,
        "call_id,chat_id,direction,medium,customer_number,channel_number,customer_id,\
         customer_name,assignee,team,tags,created_at,answered_at,ended_at,ringing_seconds,\
         talk_seconds,hold_seconds,participants,outcome,missed_reason,first_response_seconds,\
         wrap_up_seconds,recording"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len() as i64, total, "one row per call");
    assert!(
        rows.iter()
            .any(|r| r.contains(",inbound,") && r.contains(",userLeft,"))
    );
    assert!(
        rows[0].contains("+09:00"),
        "times in the channel's zone: {}",
        rows[0]
    );

    let (status, _, xlsx) = get(port, "/api/v1/channels/1/stats/calls.xlsx", &staff_h);
    assert_eq!(status, 200);
    let path = data.join("calls.xlsx");
    std::fs::write(&path, &xlsx).unwrap();
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
    let sheet = book.worksheet_range("UserChat meet data").unwrap();
    let first: Vec<String> = sheet
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(first.join(","), header);
    assert_eq!(sheet.rows().count() as i64, total + 1);
    let second: Vec<String> = sheet
        .rows()
        .nth(1)
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let csv_first: Vec<&str> = rows[0].split(',').collect();
    assert_eq!(second[0], csv_first[0], "same first call");
    assert_eq!(second[2], csv_first[2]);

    // ---- OData by plain HTTP
    let (status, svc) = json(port, "/open/v1/odata/", &auth_h);
    assert_eq!(status, 200, "{svc}");
    assert_eq!(svc["value"][0]["name"], "Calls");
    let (status, head, meta) = get(port, "/open/v1/odata/$metadata", &auth_h);
    assert_eq!(status, 200);
    assert!(head.contains("application/xml"));
    assert!(String::from_utf8_lossy(&meta).contains("<EntitySet Name=\"Calls\""));
    let range = format!("from={from}&to={to}");
    let (status, page) = json(
        port,
        &format!("/open/v1/odata/Calls?{range}&$top=5&$select=CallId,Direction"),
        &auth_h,
    );
    assert_eq!(status, 200, "{page}");
    let v = page["value"].as_array().unwrap();
    assert_eq!(v.len(), 5);
    assert_eq!(v[0].as_object().unwrap().len(), 2);
    assert!(
        page.get("@odata.nextLink").is_none(),
        "$top=5 is all that was asked"
    );
    // Server paging with nextLink.
    let (_, p1) = json(
        port,
        &format!("/open/v1/odata/Calls?{range}&$filter=Direction%20eq%20'outbound'"),
        &[auth_h[0], ("prefer", "odata.maxpagesize=100")],
    );
    let next = p1["@odata.nextLink"].as_str().unwrap().to_owned();
    assert!(
        p1["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["Direction"] == "outbound")
    );
    let next_path = next.split_once(&format!("127.0.0.1:{port}")).unwrap().1;
    let (_, p2) = json(
        port,
        next_path,
        &[auth_h[0], ("prefer", "odata.maxpagesize=100")],
    );
    assert_ne!(p1["value"][0]["CallId"], p2["value"][0]["CallId"]);
    assert!(
        p2["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["Direction"] == "outbound")
    );
    // 91 days refused, 90 accepted.
    let (status, e) = json(
        port,
        "/open/v1/odata/Calls?$filter=StartedAt%20ge%202026-01-01T00:00:00Z%20and%20StartedAt%20lt%202026-04-02T00:00:00Z",
        &auth_h,
    );
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "range_too_wide");
    // Dates and times at the ends of what the date type holds: refused, not overflowed.
    for (path, code) in [
        (
            "/open/v1/odata/DailyStats?$filter=Date%20lt%20-262143-01-01",
            "invalid_filter",
        ),
        (
            "/open/v1/odata/DailyStats?$filter=Date%20gt%20%2B262142-12-31",
            "invalid_filter",
        ),
        (
            "/open/v1/odata/DailyStats?to=-262143-01-05",
            "invalid_filter",
        ),
        (
            "/open/v1/odata/Calls?$filter=StartedAt%20le%20%2B262142-12-31T23:59:59Z",
            "invalid_filter",
        ),
        ("/open/v1/odata/Calls?to=-262143-01-05", "range_too_wide"),
    ] {
        let (status, e) = json(port, path, &auth_h);
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (400, Some(code)),
            "{path}: {e}"
        );
    }
    let (status, _) = json(
        port,
        "/open/v1/odata/Calls?$filter=StartedAt%20ge%202026-01-01T00:00:00Z%20and%20StartedAt%20lt%202026-04-01T00:00:00Z",
        &auth_h,
    );
    assert_eq!(status, 200);
    let (status, _) = json(
        port,
        "/open/v1/odata/DailyStats?from=2026-01-01&to=2026-04-01",
        &auth_h,
    );
    assert_eq!(status, 400);
    let (status, _) = json(
        port,
        "/open/v1/stats/daily?from=2026-01-01&to=2026-04-01",
        &auth_h,
    );
    assert_eq!(status, 400);
    // Bad filters are clear 400s.
    let (status, e) = json(port, "/open/v1/odata/Calls?$filter=Nope%20eq%201", &auth_h);
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("invalid_filter"))
    );

    // Another channel's key sees only its own (empty) channel; a wrong secret or none: 401.
    let other = basic(&other_key, &other_secret);
    let (status, page) = json(
        port,
        &format!("/open/v1/odata/Calls?{range}"),
        &[("authorization", other.as_str())],
    );
    assert_eq!(status, 200);
    assert_eq!(page["value"].as_array().unwrap().len(), 0);
    let (status, d) = json(
        port,
        "/open/v1/stats/dashboard",
        &[
            ("x-access-key", &other_key),
            ("x-access-secret", &other_secret),
        ],
    );
    assert_eq!((status, d["totals"]["total"].as_i64()), (200, Some(0)));
    let wrong = basic(&key, &other_secret);
    let (status, head, _) = get(
        port,
        "/open/v1/odata/Calls",
        &[("authorization", wrong.as_str())],
    );
    assert_eq!(status, 401);
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: basic")
    );
    let (status, _, _) = get(port, "/open/v1/odata/Calls", &[]);
    assert_eq!(status, 401);
    let (status, _, _) = get(port, "/api/v1/channels/2/stats/dashboard", &staff_h);
    assert_eq!(status, 403, "not a member of channel 2");

    // JSON under /open/v1: the same rows page by page.
    let (status, calls) = json(
        port,
        &format!("/open/v1/stats/calls?{range}&limit=5000"),
        &auth_h,
    );
    assert_eq!(status, 200);
    assert_eq!(calls["calls"].as_array().unwrap().len() as i64, total);

    // ---- OData by a real client from PyPI
    let start = format!("{from}T00:00:00+09:00");
    let end = format!("{}T00:00:00+09:00", next_day(&to));
    let out = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bi/odata_client.py"))
        .args([
            &format!("http://127.0.0.1:{port}/open/v1/odata/"),
            &key,
            &secret,
            &start,
            &end,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python-odata client failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["count"].as_i64(), Some(total), "{r}");
    assert_eq!(r["distinct"].as_i64(), Some(total));
    let inbound = d_inbound(port, &staff_h);
    assert_eq!(r["inbound"].as_i64(), Some(inbound));
    assert_eq!(r["inbound_directions"], serde_json::json!(["inbound"]));
    assert_eq!(r["selected"].as_array().unwrap().len(), 3);
    assert!(
        r["properties"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "MissedReason")
    );
    assert_eq!(
        r["daily_calls"].as_i64(),
        Some(total),
        "DailyStats add up to the calls"
    );
}

fn get_ok(port: u16) -> Option<()> {
    std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    (get(port, "/healthz", &[]).0 == 200).then_some(())
}

fn next_day(d: &str) -> String {
    let day: chrono::NaiveDate = d.parse().unwrap();
    (day + chrono::Duration::days(1)).to_string()
}

fn d_inbound(port: u16, h: &[(&str, &str)]) -> i64 {
    json(port, "/api/v1/channels/1/stats/dashboard", h).1["totals"]["inbound"]
        .as_i64()
        .unwrap()
}

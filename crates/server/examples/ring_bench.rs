//! Ring latency under load (issue 6 benchmark): `consoles` staff consoles hold the events
//! WebSocket open; calls to the channel number arrive at `rate` per second, each from its
//! own caller number; the latency of a call at a console is from sending its INVITE to
//! that console receiving the call's `call_ringing` event (which every console of the
//! channel receives). Each call is CANCELled after `ring_ms`. Prints p50/p99/max and the
//! counts as one JSON line.
//!
//! `cargo run --release -p denwa-server --example ring_bench -- HTTP_PORT SIP_PORT EMAIL_PREFIX
//! PASSWORD CONSOLES RATE SECONDS [RING_MS]` against a running `denwa serve` whose channel 1
//! has staff `EMAIL_PREFIX{i}@bench.example` (see bench/inbound_load.sh).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::net::UdpSocket;
use tokio::sync::{Mutex, mpsc};

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> T {
    args.get(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("argument {i} ({name}) missing or invalid"))
}

async fn login(http: u16, email: &str, password: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = format!(r#"{{"email":"{email}","password":"{password}"}}"#);
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", http))
        .await
        .expect("http");
    let req = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    let json = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|_| panic!("{out}"));
    v["token"].as_str().expect("token").to_owned()
}

fn caller(k: u64) -> String {
    format!("+81901{k:07}")
}

fn invite(k: u64, local: SocketAddr, sut: SocketAddr) -> String {
    let sdp = format!(
        "v=0\r\no=bench {k} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
        local.port() + 2
    );
    format!(
        "INVITE sip:05012345678@{sut} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-rb-{k};rport\r\nFrom: <sip:{c}@{local}>;tag=t{k}\r\nTo: <sip:05012345678@{sut}>\r\nCall-ID: rb-{k}@bench\r\nCSeq: 1 INVITE\r\nContact: <sip:bench@{local}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        c = caller(k)
    )
}

fn cancel(k: u64, local: SocketAddr, sut: SocketAddr) -> String {
    format!(
        "CANCEL sip:05012345678@{sut} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-rb-{k};rport\r\nFrom: <sip:{c}@{local}>;tag=t{k}\r\nTo: <sip:05012345678@{sut}>\r\nCall-ID: rb-{k}@bench\r\nCSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        c = caller(k)
    )
}

fn ack(k: u64, local: SocketAddr, sut: SocketAddr, to: &str) -> String {
    format!(
        "ACK sip:05012345678@{sut} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-rb-{k};rport\r\nFrom: <sip:{c}@{local}>;tag=t{k}\r\nTo: {to}\r\nCall-ID: rb-{k}@bench\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        c = caller(k)
    )
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let http: u16 = arg(&args, 1, "HTTP_PORT");
    let sip: u16 = arg(&args, 2, "SIP_PORT");
    let prefix: String = arg(&args, 3, "EMAIL_PREFIX");
    let password: String = arg(&args, 4, "PASSWORD");
    let consoles: usize = arg(&args, 5, "CONSOLES");
    let rate: f64 = arg(&args, 6, "RATE");
    let seconds: f64 = arg(&args, 7, "SECONDS");
    let ring_ms: u64 = args.get(8).and_then(|s| s.parse().ok()).unwrap_or(1000);

    // Consoles: log in and open the events socket; every call_ringing is timed.
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, Instant)>();
    let mut tasks = Vec::new();
    for i in 0..consoles {
        let token = login(http, &format!("{prefix}{i}@bench.example"), &password).await;
        let url = format!("ws://127.0.0.1:{http}/api/v1/events?token={token}");
        // A 16 KiB read buffer, not tungstenite's 128 KiB: it zero-fills the whole buffer
        // before every read, and 200 simulated consoles on the server's cores would
        // spend more on that than a browser does on the whole console.
        let config = tungstenite::protocol::WebSocketConfig::default().read_buffer_size(16 * 1024);
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
            .await
            .expect("ws");
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            let (_, mut read) = ws.split();
            while let Some(Ok(m)) = read.next().await {
                let at = Instant::now();
                let Ok(text) = m.into_text() else { continue };
                if !text.contains("call_ringing") {
                    continue;
                }
                // Only the caller is read (typed, skipping the rest), so the 200 simulated
                // consoles cost the shared cores as little as possible.
                let Ok(f) = serde_json::from_str::<RingFrame>(&text) else {
                    continue;
                };
                if let Some(c) = f.event.data.ring.and_then(|r| r.caller) {
                    let _ = tx.send((c, at));
                }
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Calls.
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("udp"));
    let local = sock.local_addr().expect("addr");
    let sut: SocketAddr = ([127, 0, 0, 1], sip).into();
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let responses = {
        let sock = sock.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut statuses: HashMap<u16, u64> = HashMap::new();
            loop {
                let Ok(Ok((n, _))) =
                    tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf)).await
                else {
                    return statuses;
                };
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let Some(status) = msg
                    .strip_prefix("SIP/2.0 ")
                    .and_then(|r| r.get(..3))
                    .and_then(|s| s.parse::<u16>().ok())
                else {
                    continue;
                };
                let cseq = header(&msg, "CSeq").unwrap_or("");
                if status >= 300 && cseq.ends_with("INVITE") {
                    *statuses.entry(status).or_default() += 1;
                    let k: u64 = header(&msg, "Call-ID")
                        .and_then(|c| c.strip_prefix("rb-"))
                        .and_then(|c| c.split('@').next())
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0);
                    let to = header(&msg, "To").unwrap_or("").to_owned();
                    let _ = sock.send_to(ack(k, local, sut, &to).as_bytes(), sut).await;
                }
            }
        })
    };
    let calls = (rate * seconds).round() as u64;
    let start = Instant::now();
    for k in 0..calls {
        let at = start + Duration::from_secs_f64(k as f64 / rate);
        tokio::time::sleep_until(at.into()).await;
        sent.lock().await.insert(caller(k), Instant::now());
        let _ = sock.send_to(invite(k, local, sut).as_bytes(), sut).await;
        let sock = sock.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ring_ms)).await;
            let _ = sock.send_to(cancel(k, local, sut).as_bytes(), sut).await;
        });
    }
    tokio::time::sleep(Duration::from_millis(ring_ms + 3000)).await;
    for t in &tasks {
        t.abort();
    }
    let mut lat = Vec::new();
    let sent = sent.lock().await;
    // RING_BENCH_SAMPLES=FILE keeps every sample as "caller latency_ms", to see which
    // calls make the tail.
    let keep = std::env::var("RING_BENCH_SAMPLES").ok();
    let mut samples = String::new();
    while let Ok((c, at)) = rx.try_recv() {
        if let Some(s) = sent.get(&c) {
            let ms = at.saturating_duration_since(*s).as_secs_f64() * 1000.0;
            if keep.is_some() {
                samples.push_str(&format!("{c} {ms:.3}\n"));
            }
            lat.push(ms);
        }
    }
    if let Some(path) = keep {
        std::fs::write(&path, samples).expect("write the samples");
    }
    let statuses = responses.await.unwrap_or_default();
    lat.sort_by(f64::total_cmp);
    let expected = calls as usize * consoles;
    println!(
        "{}",
        serde_json::json!({
            "consoles": consoles,
            "rate": rate,
            "calls": calls,
            "ring_events_expected": expected,
            "ring_events_received": lat.len(),
            "p50_ms": percentile(&lat, 0.50),
            "p99_ms": percentile(&lat, 0.99),
            "max_ms": lat.last().copied().unwrap_or(f64::NAN),
            "final_statuses": statuses,
        })
    );
}

/// The parts of an events-socket frame the bench reads.
#[derive(serde::Deserialize)]
struct RingFrame {
    event: RingEvent,
}

#[derive(serde::Deserialize)]
struct RingEvent {
    data: RingData,
}

#[derive(serde::Deserialize)]
struct RingData {
    ring: Option<Ring>,
}

#[derive(serde::Deserialize)]
struct Ring {
    caller: Option<String>,
}

//! The OpenAI-compatible backend against a small server in the test that checks the
//! multipart request the way such a server parses it, and answers verbose_json.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use denwa_transcribe::{Audio, Error, HttpTranscriber, Transcriber};

/// What the server saw in one request.
#[derive(Debug, Default, Clone)]
struct Seen {
    fields: Vec<(String, String)>,
    file_len: usize,
    file_is_wav: bool,
    authorization: Option<String>,
}

/// Splits a multipart/form-data body into (name, filename?, bytes).
fn parse_multipart(content_type: &str, body: &[u8]) -> Vec<(String, bool, Vec<u8>)> {
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("boundary parameter");
    let delimiter = format!("--{boundary}");
    let text = body;
    let mut parts = Vec::new();
    let positions: Vec<usize> = (0..text.len().saturating_sub(delimiter.len()))
        .filter(|&i| text[i..].starts_with(delimiter.as_bytes()))
        .collect();
    assert!(
        text.ends_with(format!("{delimiter}--\r\n").as_bytes()),
        "closing delimiter"
    );
    for w in positions.windows(2) {
        let part = &text[w[0] + delimiter.len() + 2..w[1] - 2]; // skip CRLF after delimiter, before next
        let split = part
            .windows(4)
            .position(|x| x == b"\r\n\r\n")
            .expect("part headers end");
        let headers = std::str::from_utf8(&part[..split]).expect("ascii headers");
        let name = headers
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("name")
            .to_owned();
        parts.push((
            name,
            headers.contains("filename="),
            part[split + 4..].to_vec(),
        ));
    }
    parts
}

fn serve(status: StatusCode, answer: &'static str) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/v1/audio/transcriptions",
        post(move |headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                let ct = headers["content-type"]
                    .to_str()
                    .expect("content type")
                    .to_owned();
                assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
                let mut s = Seen {
                    authorization: headers
                        .get("authorization")
                        .map(|v| v.to_str().unwrap_or("").to_owned()),
                    ..Seen::default()
                };
                for (name, is_file, bytes) in parse_multipart(&ct, &body) {
                    if is_file {
                        assert_eq!(name, "file");
                        s.file_is_wav = bytes.starts_with(b"RIFF") && &bytes[8..16] == b"WAVEfmt ";
                        s.file_len = bytes.len();
                    } else {
                        s.fields
                            .push((name, String::from_utf8(bytes).expect("utf-8 field")));
                    }
                }
                log.lock().expect("log").push(s);
                (status, [("content-type", "application/json")], answer)
            }
        }),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    let addr = rx.recv().expect("server address");
    (format!("http://{addr}/"), seen)
}

/// 1 s of silence, 2 s of a loud warble (speech to the VAD), 1 s of silence.
fn audio() -> Audio {
    let mut x = vec![0.0f32; 16_000];
    x.extend((0..32_000).map(|i| 0.3 * (i as f32 * 0.07).sin() * (1.0 + (i as f32 * 0.001).sin())));
    x.extend(vec![0.0f32; 16_000]);
    Audio::from_f32(&x, 16_000)
}

#[test]
fn sends_speech_as_multipart_wav_and_reads_verbose_json() {
    let (url, seen) = serve(
        StatusCode::OK,
        r#"{"task":"transcribe","language":"english","duration":2.4,"text":"I would like a refund.",
            "segments":[{"id":0,"start":0.0,"end":1.5,"text":" I would like"},
                        {"id":1,"start":1.5,"end":2.4,"text":" a refund."}]}"#,
    );
    let t = HttpTranscriber::new(
        &url,
        "whisper-1",
        Some("sk-test".into()),
        Duration::from_secs(10),
    );
    let segments = t.transcribe(&audio(), Some("en")).expect("transcribe");
    let seen = seen.lock().expect("seen").clone();
    assert_eq!(seen.len(), 1, "one request for one speech region");
    let s = &seen[0];
    assert_eq!(s.authorization.as_deref(), Some("Bearer sk-test"));
    let field = |n: &str| {
        s.fields
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("model"), Some("whisper-1"));
    assert_eq!(field("language"), Some("en"));
    assert_eq!(field("response_format"), Some("verbose_json"));
    assert!(s.file_is_wav);
    // Only the speech region (2 s + 0.2 s padding each side) is sent, 16-bit: 44 + 2.4 s × 32 000.
    assert_eq!(s.file_len, 44 + 2 * 38_400);
    // Times are moved back to the track's timeline: the region starts at 0.8 s.
    let got: Vec<(u64, u64, &str)> = segments
        .iter()
        .map(|s| (s.start_ms, s.end_ms, s.text.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![(800, 2300, "I would like"), (2300, 3200, "a refund.")]
    );

    // Silence sends nothing and gives nothing.
    assert!(
        t.transcribe(&Audio::from_i16(&[0; 32_000], 16_000), None)
            .expect("silence")
            .is_empty()
    );
}

#[test]
fn server_errors_and_bad_answers_are_clear_errors() {
    let (url, _) = serve(
        StatusCode::INTERNAL_SERVER_ERROR,
        r#"{"error":"model overloaded"}"#,
    );
    let t = HttpTranscriber::new(&url, "m", None, Duration::from_secs(10));
    let err = t.transcribe(&audio(), None).expect_err("500");
    assert!(matches!(err, Error::Http(_)));
    assert!(
        err.to_string().contains("500") && err.to_string().contains("overloaded"),
        "{err}"
    );

    let (url, _) = serve(StatusCode::OK, "<html>not json</html>");
    let t = HttpTranscriber::new(&url, "m", None, Duration::from_secs(10));
    assert!(
        t.transcribe(&audio(), None)
            .expect_err("html")
            .to_string()
            .contains("verbose_json")
    );

    // A server that answers plain `{"text"}` gives one segment over the region.
    let (url, seen) = serve(StatusCode::OK, r#"{"text":" hello "}"#);
    let t = HttpTranscriber::new(&url, "m", None, Duration::from_secs(10));
    let s = t.transcribe(&audio(), None).expect("text only");
    assert_eq!(
        (s[0].start_ms, s[0].end_ms, s[0].text.as_str()),
        (800, 3200, "hello")
    );
    let seen = seen.lock().expect("seen");
    assert!(
        seen[0].fields.iter().all(|(k, _)| k != "language"),
        "no hint, no language field"
    );

    // Nobody listening.
    let t = HttpTranscriber::new("http://127.0.0.1:9", "m", None, Duration::from_secs(5));
    assert!(matches!(t.transcribe(&audio(), None), Err(Error::Http(_))));
}

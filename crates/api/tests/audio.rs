//! A channel's own announcement and hold music: managers upload WAV files, members
//! download them; anything that is not 16-bit PCM WAV within the limits is refused with
//! a clear reason.

mod common;

use common::{Server, start};
use serde_json::Value;

/// A WAV file of 16-bit PCM: `seconds` of a quiet tone.
fn wav(rate: u32, channels: u16, seconds: f64) -> Vec<u8> {
    let frames = (f64::from(rate) * seconds) as usize;
    let mut data = Vec::with_capacity(frames * 2 * usize::from(channels));
    for i in 0..frames {
        let s = (1000.0 * (i as f64 * 0.05).sin()) as i16;
        for _ in 0..channels {
            data.extend_from_slice(&s.to_le_bytes());
        }
    }
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
    b.extend_from_slice(&(2 * channels).to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&data);
    b
}

async fn request(
    s: &Server,
    method: &str,
    path: &str,
    token: &str,
    body: Vec<u8>,
) -> (u16, Vec<u8>, Option<String>) {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "audio/wav")
        .body(axum::body::Body::from(body))
        .unwrap();
    let res = tower::ServiceExt::oneshot(s.app.clone(), req)
        .await
        .unwrap();
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, bytes.to_vec(), kind)
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(format!("{bytes:?}")))
}

/// Two managers upload the announcement and the hold music at the same moment: both
/// succeed, and each kind holds its own file (the uploads once shared one temporary file).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_at_the_same_time_each_store_their_own_file() {
    let s = start().await;
    let a = s.tenant("a", "050-1111-1111").await;
    let announcement = format!("/api/v1/channels/{}/audio/announcement", a.channel);
    let hold = format!("/api/v1/channels/{}/audio/hold-music", a.channel);
    for round in 0..6 {
        let first = wav(48_000, 2, 10.0 + f64::from(round));
        let second = wav(48_000, 2, 15.0 - f64::from(round));
        // Each upload on its own worker thread, as two browsers' requests would be.
        let put = |path: &str, file: &[u8]| {
            let req = axum::http::Request::builder()
                .method("PUT")
                .uri(path)
                .header("authorization", format!("Bearer {}", a.owner_token))
                .header("content-type", "audio/wav")
                .body(axum::body::Body::from(file.to_vec()))
                .unwrap();
            tokio::spawn(tower::ServiceExt::oneshot(s.app.clone(), req))
        };
        let (one, two) = (put(&announcement, &first), put(&hold, &second));
        let (one, two) = (one.await.unwrap().unwrap(), two.await.unwrap().unwrap());
        assert_eq!(
            (one.status().as_u16(), two.status().as_u16()),
            (200, 200),
            "round {round}"
        );
        let (_, stored, _) = request(&s, "GET", &announcement, &a.owner_token, Vec::new()).await;
        assert!(
            stored == first,
            "round {round}: the announcement is not the file uploaded"
        );
        let (_, stored, _) = request(&s, "GET", &hold, &a.owner_token, Vec::new()).await;
        assert!(
            stored == second,
            "round {round}: the hold music is not the file uploaded"
        );
    }
}

#[tokio::test]
async fn managers_upload_download_and_remove_the_channels_audio() {
    let s = start().await;
    let a = s.tenant("a", "050-1111-1111").await;
    let path = format!("/api/v1/channels/{}/audio/hold-music", a.channel);
    // 48 kHz stereo, 12 s: 2.3 MB, above the JSON routes' 1 MB limit.
    let file = wav(48_000, 2, 12.0);
    assert!(file.len() > 2 * 1024 * 1024);
    let (st, body, _) = request(&s, "PUT", &path, &a.owner_token, file.clone()).await;
    let info = json(&body);
    assert_eq!(st, 200, "{info}");
    assert_eq!(info["kind"], "hold-music");
    assert_eq!(info["sample_rate"], 48_000);
    assert_eq!(info["channels"], 2);
    assert_eq!(info["duration_ms"], 12_000);
    assert_eq!(info["bytes"], file.len());

    // Any member downloads it as uploaded.
    let (st, body, kind) = request(&s, "GET", &path, &a.operator_token, Vec::new()).await;
    assert_eq!(st, 200);
    assert_eq!(kind.as_deref(), Some("audio/wav"));
    assert!(body == file, "the download differs from the upload");
    // The announcement is a separate file, not uploaded yet.
    let other = format!("/api/v1/channels/{}/audio/announcement", a.channel);
    let (st, body, _) = request(&s, "GET", &other, &a.owner_token, Vec::new()).await;
    assert_eq!(st, 404, "{}", json(&body));

    // Replaced, then removed.
    let (st, _, _) = request(&s, "PUT", &path, &a.owner_token, wav(8000, 1, 1.0)).await;
    assert_eq!(st, 200);
    let (_, body, _) = request(&s, "GET", &path, &a.owner_token, Vec::new()).await;
    assert_eq!(body.len(), wav(8000, 1, 1.0).len());
    let (st, _, _) = request(&s, "DELETE", &path, &a.owner_token, Vec::new()).await;
    assert_eq!(st, 204);
    let (st, _, _) = request(&s, "GET", &path, &a.owner_token, Vec::new()).await;
    assert_eq!(st, 404);
    let (st, _, _) = request(&s, "DELETE", &path, &a.owner_token, Vec::new()).await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn only_managers_of_the_channel_change_its_audio() {
    let s = start().await;
    let a = s.tenant("a", "050-1111-1111").await;
    let b = s.tenant("b", "050-2222-2222").await;
    let path = format!("/api/v1/channels/{}/audio/announcement", a.channel);
    let file = wav(16_000, 1, 1.0);
    // An operator of the channel may not upload or remove.
    let (st, body, _) = request(&s, "PUT", &path, &a.operator_token, file.clone()).await;
    assert_eq!(st, 403, "{}", json(&body));
    assert_eq!(json(&body)["code"], "forbidden");
    // Another channel's owner may do nothing here.
    for method in ["PUT", "GET", "DELETE"] {
        let (st, _, _) = request(&s, method, &path, &b.owner_token, file.clone()).await;
        assert_eq!(st, 403, "{method}");
    }
    let (st, _, _) = request(&s, "PUT", &path, &a.owner_token, file.clone()).await;
    assert_eq!(st, 200);
    let (st, _, _) = request(&s, "DELETE", &path, &a.operator_token, Vec::new()).await;
    assert_eq!(st, 403);
    // Without a session.
    let req = axum::http::Request::builder()
        .method("GET")
        .uri(&path)
        .body(axum::body::Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(s.app.clone(), req)
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
}

#[tokio::test]
async fn files_that_are_not_usable_audio_are_refused_with_the_reason() {
    let s = start().await;
    let a = s.tenant("a", "050-1111-1111").await;
    let path = format!("/api/v1/channels/{}/audio/announcement", a.channel);
    let mut float = wav(16_000, 1, 0.5);
    float[20] = 3; // WAVE_FORMAT_IEEE_FLOAT
    let mut eight_bit = wav(16_000, 1, 0.5);
    eight_bit[34] = 8;
    let cases: Vec<(Vec<u8>, u16, &str, &str)> = vec![
        (
            b"ID3\x04 not a wav at all".to_vec(),
            400,
            "invalid_audio",
            "RIFF",
        ),
        (Vec::new(), 400, "invalid_audio", "RIFF"),
        (float, 400, "invalid_audio", "16-bit PCM"),
        (eight_bit, 400, "invalid_audio", "8-bit"),
        (wav(16_000, 1, 0.0), 400, "invalid_audio", "no audio"),
        // 301 s at 8 kHz mono: 4.8 MB, small enough, too long.
        (wav(8000, 1, 301.0), 400, "audio_too_long", "at most 300 s"),
        // 11 MB.
        (wav(48_000, 2, 60.0), 413, "audio_too_large", "10 MB"),
    ];
    for (file, status, code, says) in cases {
        let (st, body, _) = request(&s, "PUT", &path, &a.owner_token, file).await;
        let body = json(&body);
        assert_eq!(st, status, "{body}");
        assert_eq!(body["code"], code, "{body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains(says),
            "{body} should say {says:?}"
        );
    }
    // Nothing was stored.
    let (st, _, _) = request(&s, "GET", &path, &a.owner_token, Vec::new()).await;
    assert_eq!(st, 404);
    // A kind that does not exist.
    let bad = format!("/api/v1/channels/{}/audio/ringtone", a.channel);
    let (st, _, _) = request(&s, "PUT", &bad, &a.owner_token, wav(8000, 1, 1.0)).await;
    assert_eq!(st, 400);
}

//! Bad input gets a JSON `{code, message}` with a 4xx status, never a 500 or a panic
//! (Foundation item 7).

mod common;

use common::start;
use serde_json::{Value, json};

fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["code"], want_code, "{body}");
    assert!(!body["message"].as_str().unwrap_or("").is_empty(), "{body}");
}

#[tokio::test]
async fn malformed_bodies_are_4xx_with_a_reason() {
    let s = start().await;
    let t = s.tenant("a", "050-1111-1111").await;
    let notes = format!("/api/v1/channels/{}/chats/{}/notes", t.channel, t.text_chat);
    let auth = (
        "authorization".to_owned(),
        format!("Bearer {}", t.owner_token),
    );
    let json_ct = ("content-type".to_owned(), "application/json".to_owned());
    let headers = vec![auth.clone(), json_ct.clone()];

    let (st, b) = s.raw("POST", &notes, &headers, Some(b"{\"body\": ")).await;
    assert_error(st, &b, 400, "invalid_json");
    let (st, b) = s.raw("POST", &notes, &headers, Some(b"\xff\xfe")).await;
    assert_eq!(st, 400, "{b}");
    let (st, b) = s
        .raw("POST", &notes, &headers, Some(br#"{"body": 5}"#))
        .await;
    assert_error(st, &b, 400, "invalid_field");
    let (st, b) = s
        .raw(
            "POST",
            &notes,
            &headers,
            Some(br#"{"body": "x", "admin": true}"#),
        )
        .await;
    assert_error(st, &b, 400, "invalid_field");
    let (st, b) = s.raw("POST", &notes, &headers, Some(br#"{}"#)).await;
    assert_error(st, &b, 400, "invalid_field");
    let (st, b) = s
        .raw("POST", &notes, &headers, Some(br#"{"body": "   "}"#))
        .await;
    assert_error(st, &b, 400, "invalid_field");
    let (st, b) = s
        .raw(
            "POST",
            &notes,
            std::slice::from_ref(&auth),
            Some(br#"{"body": "x"}"#),
        )
        .await;
    assert_error(st, &b, 415, "unsupported_media_type");
    let big = format!("{{\"body\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let (st, b) = s.raw("POST", &notes, &headers, Some(big.as_bytes())).await;
    assert_error(st, &b, 413, "payload_too_large");
    let long = json!({ "body": "a".repeat(10_001) }).to_string();
    let (st, b) = s.raw("POST", &notes, &headers, Some(long.as_bytes())).await;
    assert_error(st, &b, 400, "invalid_field");

    // Nothing of that reached the chat.
    let (_, detail) = s
        .call(
            "GET",
            &format!("/api/v1/channels/{}/chats/{}", t.channel, t.text_chat),
            Some(&t.owner_token),
            None,
        )
        .await;
    assert_eq!(detail["timeline"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bad_paths_queries_and_values_are_400() {
    let s = start().await;
    let t = s.tenant("a", "050-1111-1111").await;
    let tok = Some(t.owner_token.as_str());
    let c = t.channel;
    for path in [
        "/api/v1/channels/abc/chats".to_owned(),
        format!("/api/v1/channels/{c}/chats/1x"),
        "/api/v1/channels/99999999999999999999999/chats".to_owned(),
        format!("/api/v1/channels/{c}/chats?state=lost"),
        format!("/api/v1/channels/{c}/chats?medium=fax"),
        format!("/api/v1/channels/{c}/chats?assignee=bob"),
        format!("/api/v1/channels/{c}/chats?limit=0"),
        format!("/api/v1/channels/{c}/chats?limit=-1"),
        format!("/api/v1/channels/{c}/chats?limit=5000"),
        format!("/api/v1/channels/{c}/chats?before=zzz"),
        format!("/api/v1/channels/{c}/chats?colour=red"),
        format!("/api/v1/channels/{c}/calls/9223372036854775808"),
        format!("/api/v1/channels/{c}/chats/x/calls"),
        format!("/api/v1/channels/{c}/calls/1/recording.mp3?download=300"),
        format!("/api/v1/channels/{c}/customers?limit=0"),
        format!("/api/v1/channels/{c}/customers?limit=201"),
    ] {
        let (st, b) = s.call("GET", &path, tok, None).await;
        assert_eq!(st, 400, "{path}: {b}");
        assert!(b["code"].is_string(), "{path}: {b}");
    }
    let (st, b) = s
        .call(
            "PUT",
            &format!("/api/v1/channels/{c}/chats/{}/state", t.text_chat),
            tok,
            Some(json!({"state": "archived"})),
        )
        .await;
    assert_error(st, &b, 400, "invalid_field");
    let (st, b) = s
        .call(
            "PUT",
            &format!("/api/v1/channels/{c}/chats/{}/state", t.text_chat),
            tok,
            Some(json!({"state": "snoozed", "snoozed_until": "2001-01-01T00:00:00Z"})),
        )
        .await;
    assert_error(st, &b, 400, "invalid_field");
    let (st, b) = s
        .call(
            "PUT",
            &format!("/api/v1/channels/{c}/business-hours"),
            tok,
            Some(json!({"time_zone": "Asia/Tokyo", "weekly": [{"day": "mon", "open": "18:00", "close": "09:00"}]})),
        )
        .await;
    assert_error(st, &b, 400, "invalid_field");
    let (st, b) = s
        .call(
            "PATCH",
            &format!("/api/v1/channels/{c}"),
            tok,
            Some(json!({"ring_profile_fields": ["a", "b", "c", "d"]})),
        )
        .await;
    assert_error(st, &b, 400, "invalid_field");
}

#[tokio::test]
async fn bad_phone_numbers_and_duplicates_are_refused() {
    let s = start().await;
    let t = s.tenant("a", "050-1111-1111").await;
    let path = format!("/api/v1/channels/{}/customers", t.channel);
    for number in ["12", "hello", "03-1234", "+", ""] {
        let (st, b) = s
            .call(
                "POST",
                &path,
                Some(&t.owner_token),
                Some(json!({"name": "x", "phones": [{"number": number}]})),
            )
            .await;
        assert_error(st, &b, 400, "invalid_phone_number");
    }
    // The tenant's customer owns 03-1234-5678 already: another spelling is the same number.
    let (st, b) = s
        .call(
            "POST",
            &path,
            Some(&t.owner_token),
            Some(json!({"name": "dup", "phones": [{"number": "+81 3 1234 5678"}]})),
        )
        .await;
    assert_error(st, &b, 409, "conflict");
    // A failed creation leaves no half-created customer behind.
    let (_, all) = s.call("GET", &path, Some(&t.owner_token), None).await;
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
}

#[tokio::test]
async fn auth_failures_and_unknown_routes_are_json() {
    let s = start().await;
    let t = s.tenant("a", "050-1111-1111").await;
    let (st, b) = s.call("GET", "/api/v1/me", None, None).await;
    assert_error(st, &b, 401, "unauthorized");
    let (st, b) = s.call("GET", "/api/v1/me", Some("not-a-token"), None).await;
    assert_error(st, &b, 401, "unauthorized");
    let (st, b) = s
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "owner-a@example.com", "password": "wrong-password"})),
        )
        .await;
    assert_error(st, &b, 401, "unauthorized");
    let (st, b) = s
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "nobody@example.com", "password": "x"})),
        )
        .await;
    assert_error(st, &b, 401, "unauthorized");
    let (st, b) = s
        .call("GET", "/api/v1/nothing-here", Some(&t.owner_token), None)
        .await;
    assert_error(st, &b, 404, "not_found");
    let (st, b) = s
        .call("DELETE", "/api/v1/me", Some(&t.owner_token), None)
        .await;
    assert_error(st, &b, 405, "method_not_allowed");
    let (st, b) = s.call("GET", "/open/v1/chats", None, None).await;
    assert_error(st, &b, 401, "unauthorized");
    // Logging out ends the session.
    let (st, _) = s
        .call("POST", "/api/v1/auth/logout", Some(&t.owner_token), None)
        .await;
    assert_eq!(st, 204);
    let (st, _) = s
        .call("GET", "/api/v1/me", Some(&t.owner_token), None)
        .await;
    assert_eq!(st, 401);
}

//! The inbox keyword search over the full-text index (SPEC RC-3): notes and messages
//! posted through the API are indexed from the bus; the list answers the chats whose
//! lines match, each with its matching line marked; customer name and number matching
//! still works; another channel's lines are never found; a rebuild from the store
//! indexes what the bus never carried.

mod common;

use std::time::Duration;

use serde_json::{Value, json};

fn ids(list: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = list["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids
}

fn marked(m: &Value) -> Vec<String> {
    m["snippet"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["mark"] == true)
        .map(|p| p["text"].as_str().unwrap().to_owned())
        .collect()
}

fn pct(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// Lists with `q` until `want` chats come back (the indexer commits a moment after the
/// event), or gives up after 5 s.
async fn search_until(
    s: &common::Server,
    channel: i64,
    token: &str,
    q: &str,
    want: usize,
) -> Value {
    let path = format!("/api/v1/channels/{channel}/chats?q={}", pct(q));
    let mut last = Value::Null;
    for _ in 0..100 {
        let (status, body) = s.call("GET", &path, Some(token), None).await;
        assert_eq!(status, 200, "{body}");
        if body["chats"].as_array().unwrap().len() >= want {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_keyword_finds_lines_through_the_index_with_the_match_marked() {
    let (s, index) = common::start_with_search().await;
    let a = s.tenant("a", "0312340001").await;
    let b = s.tenant("b", "0312340002").await;
    let tok = a.owner_token.as_str();
    let base = format!("/api/v1/channels/{}/chats", a.channel);

    let (status, _) = s
        .call(
            "POST",
            &format!("{base}/{}/notes", a.phone_chat),
            Some(tok),
            Some(json!({"body": "請求書の再発行をお願いします"})),
        )
        .await;
    assert_eq!(status, 201);
    s.call(
        "POST",
        &format!("{base}/{}/notes", a.text_chat),
        Some(tok),
        Some(json!({"body": "請求について確認しました"})),
    )
    .await;
    s.call(
        "POST",
        &format!("{base}/{}/messages", a.text_chat),
        Some(tok),
        Some(json!({"body": "We can refund <b>order</b> 427 today"})),
    )
    .await;
    // The same words in another channel.
    s.call(
        "POST",
        &format!(
            "/api/v1/channels/{}/chats/{}/notes",
            b.channel, b.phone_chat
        ),
        Some(b.owner_token.as_str()),
        Some(json!({"body": "請求書 refund"})),
    )
    .await;

    let found = search_until(&s, a.channel, tok, "請求書", 1).await;
    assert_eq!(ids(&found), [a.phone_chat], "{found}");
    let m = &found["matches"][0];
    assert_eq!(m["chat_id"], a.phone_chat);
    assert_eq!(m["kind"], "note");
    assert_eq!(m["speaker"], a.owner.to_string());
    assert_eq!(marked(m), ["請求書"]);

    let found = search_until(&s, a.channel, tok, "refund", 1).await;
    assert_eq!(ids(&found), [a.text_chat], "{found}");
    let m = &found["matches"][0];
    assert_eq!(m["kind"], "message");
    assert_eq!(marked(m), ["refund"]);
    // The line's markup is plain text in the parts.
    let text: String = m["snippet"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "We can refund <b>order</b> 427 today");

    // Nothing unrelated; the name and number still match, without a line.
    let (_, none) = s
        .call(
            "GET",
            &format!("{base}?q={}", pct("見積書")),
            Some(tok),
            None,
        )
        .await;
    assert!(ids(&none).is_empty(), "{none}");
    let (_, by_name) = s
        .call("GET", &format!("{base}?q=Customer"), Some(tok), None)
        .await;
    assert_eq!(ids(&by_name).len(), 2);
    assert!(by_name["matches"].as_array().unwrap().is_empty());
    let (_, by_number) = s
        .call("GET", &format!("{base}?q=%2B81312345678"), Some(tok), None)
        .await;
    assert_eq!(ids(&by_number).len(), 2);

    // Channel b finds only its own chat.
    let found = search_until(&s, b.channel, &b.owner_token, "請求書", 1).await;
    assert_eq!(ids(&found), [b.phone_chat]);

    // The first messages were stored without passing the bus: a rebuild indexes them.
    let (_, before) = s
        .call("GET", &format!("{base}?q=hello"), Some(tok), None)
        .await;
    assert!(before["matches"].as_array().unwrap().is_empty());
    let mut reports = Vec::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let total = denwa_api::search::count_lines(s.store.as_ref())
        .await
        .unwrap();
    let indexed = denwa_api::search::rebuild(s.store.as_ref(), index.clone(), move |n| {
        let _ = tx.send(n);
    })
    .await
    .unwrap();
    while let Ok(n) = rx.try_recv() {
        reports.push(n);
    }
    // 2 first messages per tenant + 3 lines in a + 1 in b.
    assert_eq!(indexed, 8);
    assert_eq!(total, 8);
    assert_eq!(reports.last(), Some(&8));
    let (_, after) = s
        .call("GET", &format!("{base}?q=hello"), Some(tok), None)
        .await;
    assert_eq!(ids(&after), {
        let mut v = vec![a.text_chat, a.phone_chat];
        v.sort();
        v
    });
    assert_eq!(after["matches"].as_array().unwrap().len(), 2);
    // And what was indexed from the bus is still found.
    let (_, again) = s
        .call(
            "GET",
            &format!("{base}?q={}", pct("請求書")),
            Some(tok),
            None,
        )
        .await;
    assert_eq!(ids(&again), [a.phone_chat]);
}

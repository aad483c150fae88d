//! The support inbox: filters (including "integration: phone", AS-3), notes, tags,
//! assignee, team, snooze/close/reopen, IN-7, customers, timeline, live events.

mod common;

use std::time::Duration;

use common::{Server, start};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn ids(list: &Value) -> Vec<i64> {
    list["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn inbox_filters_select_the_right_chats() {
    let s = start().await;
    let t = s.tenant("a", "050-1111-1111").await;
    let c = t.channel;
    let tok = Some(t.owner_token.as_str());
    let list = |q: &str| format!("/api/v1/channels/{c}/chats?{q}");

    // Work the phone chat: assign to the operator, team, tag.
    let base = format!("/api/v1/channels/{c}/chats/{}", t.phone_chat);
    s.call(
        "PUT",
        &format!("{base}/assignee"),
        tok,
        Some(json!({"staff_id": t.operator})),
    )
    .await;
    s.call(
        "PUT",
        &format!("{base}/team"),
        tok,
        Some(json!({"team_id": t.team})),
    )
    .await;
    let (_, chat) = s
        .call(
            "PUT",
            &format!("{base}/tags"),
            tok,
            Some(json!({"tags": ["refund", "vip"]})),
        )
        .await;
    assert_eq!(chat["tags"], json!(["refund", "vip"]));

    let (_, all) = s.call("GET", &list(""), tok, None).await;
    assert_eq!(
        ids(&all),
        vec![t.phone_chat, t.text_chat],
        "latest activity first"
    );
    let (_, phone) = s.call("GET", &list("integration=phone"), tok, None).await;
    assert_eq!(ids(&phone), vec![t.phone_chat]);
    let (_, phone) = s.call("GET", &list("medium=phone"), tok, None).await;
    assert_eq!(ids(&phone), vec![t.phone_chat]);
    let (_, text) = s.call("GET", &list("medium=chat"), tok, None).await;
    assert_eq!(ids(&text), vec![t.text_chat]);
    let (_, mine) = s
        .call("GET", &list("assignee=me"), Some(&t.operator_token), None)
        .await;
    assert_eq!(ids(&mine), vec![t.phone_chat]);
    let (_, none) = s.call("GET", &list("assignee=none"), tok, None).await;
    assert_eq!(ids(&none), vec![t.text_chat]);
    let (_, by_id) = s
        .call("GET", &list(&format!("assignee={}", t.operator)), tok, None)
        .await;
    assert_eq!(ids(&by_id), vec![t.phone_chat]);
    let (_, team) = s
        .call("GET", &list(&format!("team={}", t.team)), tok, None)
        .await;
    assert_eq!(ids(&team), vec![t.phone_chat]);
    let (_, tag) = s.call("GET", &list("tag=vip"), tok, None).await;
    assert_eq!(ids(&tag), vec![t.phone_chat]);
    let (_, tag) = s.call("GET", &list("tag=nope"), tok, None).await;
    assert!(ids(&tag).is_empty());
    let (_, customer) = s
        .call("GET", &list(&format!("customer={}", t.customer)), tok, None)
        .await;
    assert_eq!(ids(&customer).len(), 2);

    // Keyword: in a note, in the customer's name, in a number spelled differently.
    s.call(
        "POST",
        &format!("{base}/notes"),
        tok,
        Some(json!({"body": "請求書の再発行をお願いします"})),
    )
    .await;
    let (_, kw) = s
        .call("GET", &list("q=%E8%AB%8B%E6%B1%82%E6%9B%B8"), tok, None)
        .await;
    assert_eq!(ids(&kw), vec![t.phone_chat]);
    let (_, kw) = s.call("GET", &list("q=Customer"), tok, None).await;
    assert_eq!(ids(&kw).len(), 2);
    let (_, kw) = s.call("GET", &list("q=%2B81312345678"), tok, None).await;
    assert_eq!(ids(&kw).len(), 2);
    let (_, kw) = s.call("GET", &list("q=100%25"), tok, None).await;
    assert!(ids(&kw).is_empty(), "LIKE wildcards are escaped");

    // Close the phone chat: the state filter follows.
    let (_, closed) = s
        .call(
            "PUT",
            &format!("{base}/state"),
            tok,
            Some(json!({"state": "closed"})),
        )
        .await;
    assert_eq!(closed["state"], "closed");
    let (_, opened) = s.call("GET", &list("state=opened"), tok, None).await;
    assert_eq!(ids(&opened), vec![t.text_chat]);
    let (_, closed) = s
        .call("GET", &list("state=closed&integration=phone"), tok, None)
        .await;
    assert_eq!(ids(&closed), vec![t.phone_chat]);
}

#[tokio::test]
async fn paging_walks_every_chat_once() {
    let s = start().await;
    let t = s.tenant("a", "050-1111-1111").await;
    let tok = Some(t.owner_token.as_str());
    for i in 0..7 {
        let (st, _) = s
            .call(
                "POST",
                &format!("/api/v1/channels/{}/chats", t.channel),
                tok,
                Some(json!({"customer_id": t.customer, "first_message": format!("m{i}")})),
            )
            .await;
        assert_eq!(st, 201);
    }
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let q = match &before {
            Some(b) => format!("limit=3&before={b}"),
            None => "limit=3".into(),
        };
        let (_, page) = s
            .call(
                "GET",
                &format!("/api/v1/channels/{}/chats?{q}", t.channel),
                tok,
                None,
            )
            .await;
        seen.extend(ids(&page));
        match page["next_before"].as_str() {
            Some(b) => before = Some(b.to_owned()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(seen.len(), 9);
    assert_eq!(unique.len(), 9);
}

#[tokio::test]
async fn phone_chats_are_internal_only() {
    let s = start().await;
    let t = s.tenant("a", "050-1111-1111").await;
    let tok = Some(t.owner_token.as_str());
    let phone = format!("/api/v1/channels/{}/chats/{}", t.channel, t.phone_chat);
    let (st, b) = s
        .call(
            "POST",
            &format!("{phone}/messages"),
            tok,
            Some(json!({"body": "hi"})),
        )
        .await;
    assert_eq!(st, 422);
    assert_eq!(b["code"], "phone_chat_internal_only");
    assert!(b["message"].as_str().unwrap().contains("internal"));
    let (st, _) = s
        .call(
            "POST",
            &format!("{phone}/notes"),
            tok,
            Some(json!({"body": "internal"})),
        )
        .await;
    assert_eq!(st, 201);
    let text = format!("/api/v1/channels/{}/chats/{}", t.channel, t.text_chat);
    let (st, m) = s
        .call(
            "POST",
            &format!("{text}/messages"),
            tok,
            Some(json!({"body": "hi"})),
        )
        .await;
    assert_eq!((st, m["kind"].as_str()), (201, Some("staff")));
    let (_, detail) = s.call("GET", &phone, tok, None).await;
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["chat_opened", "message_sent", "note_added"]);
}

#[tokio::test]
async fn timeline_records_every_change_with_its_actor() {
    let s = start().await;
    let t = s.tenant("a", "050-1111-1111").await;
    let tok = Some(t.operator_token.as_str());
    let chat = format!("/api/v1/channels/{}/chats/{}", t.channel, t.text_chat);
    s.call(
        "POST",
        &format!("{chat}/notes"),
        tok,
        Some(json!({"body": "checking"})),
    )
    .await;
    s.call(
        "PUT",
        &format!("{chat}/assignee"),
        tok,
        Some(json!({"staff_id": t.operator})),
    )
    .await;
    s.call(
        "PUT",
        &format!("{chat}/team"),
        tok,
        Some(json!({"team_id": t.team})),
    )
    .await;
    s.call(
        "PUT",
        &format!("{chat}/tags"),
        tok,
        Some(json!({"tags": ["billing"]})),
    )
    .await;
    let until = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let (st, snoozed) = s
        .call(
            "PUT",
            &format!("{chat}/state"),
            tok,
            Some(json!({"state": "snoozed", "snoozed_until": until})),
        )
        .await;
    assert_eq!((st, snoozed["state"].as_str()), (200, Some("snoozed")));
    assert!(snoozed["snoozed_until"].is_string());
    s.call(
        "PUT",
        &format!("{chat}/state"),
        tok,
        Some(json!({"state": "opened"})),
    )
    .await;
    s.call(
        "PUT",
        &format!("{chat}/state"),
        tok,
        Some(json!({"state": "closed"})),
    )
    .await;
    let (_, detail) = s.call("GET", &chat, tok, None).await;
    let timeline = detail["timeline"].as_array().unwrap();
    let kinds: Vec<&str> = timeline
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "chat_opened",
            "message_sent",
            "note_added",
            "assignee_changed",
            "team_changed",
            "tags_changed",
            "state_changed",
            "state_changed",
            "state_changed"
        ]
    );
    for e in &timeline[2..] {
        assert_eq!(e["actor_staff_id"].as_i64(), Some(t.operator));
    }
    assert_eq!(timeline[2]["data"]["message"]["body"], "checking");
    assert_eq!(timeline[8]["data"]["chat"]["state"], "closed");
    assert_eq!(detail["customer"]["name"], "Customer a");
    assert_eq!(detail["chat"]["tags"], json!(["billing"]));
    // The tag joined the channel's list.
    let (_, tags) = s
        .call(
            "GET",
            &format!("/api/v1/channels/{}/tags", t.channel),
            tok,
            None,
        )
        .await;
    assert!(
        tags.as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "billing")
    );
}

#[tokio::test]
async fn customers_are_found_by_any_spelling_of_their_number() {
    let s = start().await;
    let t = s.tenant("a", "050-1111-1111").await;
    let tok = Some(t.owner_token.as_str());
    let path = format!("/api/v1/channels/{}/customers", t.channel);
    let (st, created) = s
        .call(
            "POST",
            &path,
            tok,
            Some(json!({"name": "山田 太郎", "phones": [{"number": "０９０−１１１１−２２２２"}], "profile": {"会社": "山田商事"}})),
        )
        .await;
    assert_eq!(st, 201, "{created}");
    assert_eq!(created["kind"], "lead");
    assert_eq!(created["phones"][0]["number"], "+819011112222");
    assert_eq!(created["phones"][0]["display"], "090-1111-2222");
    assert_eq!(created["phones"][0]["mobile"], true);
    for q in [
        "09011112222",
        "090-1111-2222",
        "%2B81%2090%201111%202222",
        "1111-2222",
        "%E5%B1%B1%E7%94%B0",
    ] {
        let (_, found) = s.call("GET", &format!("{path}?q={q}"), tok, None).await;
        let names: Vec<&str> = found
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["山田 太郎"], "q={q}");
    }
    let id = created["id"].as_i64().unwrap();
    let (st, updated) = s
        .call(
            "PATCH",
            &format!("{path}/{id}"),
            tok,
            Some(json!({"kind": "member", "blocked": true})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        (updated["kind"].as_str(), updated["blocked"].as_bool()),
        (Some("member"), Some(true))
    );
    assert_eq!(
        updated["profile"]["会社"], "山田商事",
        "fields not sent are kept"
    );
    let (st, _) = s.call("DELETE", &format!("{path}/{id}"), tok, None).await;
    assert_eq!(st, 204);
    let (st, _) = s.call("GET", &format!("{path}/{id}"), tok, None).await;
    assert_eq!(st, 404);
}

async fn connect(
    s: &Server,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!("ws://{}/api/v1/events?token={token}", s.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let hello = next_json(&mut ws).await.unwrap();
    assert_eq!(hello["type"], "hello");
    ws
}

async fn next_json<S>(ws: &mut S) -> Option<Value>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(Duration::from_millis(1500), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).ok(),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

#[tokio::test]
async fn a_second_console_sees_changes_live_and_only_its_channels() {
    let s = start().await;
    let a = s.tenant("a", "050-1111-1111").await;
    let b = s.tenant("b", "050-2222-2222").await;
    let mut watcher = connect(&s, &a.operator_token).await;
    let mut other_channel = connect(&s, &b.owner_token).await;

    let chat = format!("/api/v1/channels/{}/chats/{}", a.channel, a.phone_chat);
    let tok = Some(a.owner_token.as_str());
    s.call(
        "POST",
        &format!("{chat}/notes"),
        tok,
        Some(json!({"body": "calling back at 3"})),
    )
    .await;
    s.call(
        "PUT",
        &format!("{chat}/tags"),
        tok,
        Some(json!({"tags": ["callback"]})),
    )
    .await;
    s.call(
        "PUT",
        &format!("{chat}/state"),
        tok,
        Some(json!({"state": "closed"})),
    )
    .await;
    s.call(
        "PATCH",
        "/api/v1/me/settings",
        tok,
        Some(json!({"do_not_disturb": true})),
    )
    .await;

    let mut got = Vec::new();
    for _ in 0..3 {
        let m = next_json(&mut watcher).await.expect("an event");
        assert_eq!(m["type"], "event");
        got.push(m["event"].clone());
    }
    assert_eq!(got[0]["kind"], "note_added");
    assert_eq!(got[0]["data"]["message"]["body"], "calling back at 3");
    assert_eq!(got[0]["actor_staff_id"].as_i64(), Some(a.owner));
    assert_eq!(got[1]["kind"], "tags_changed");
    assert_eq!(got[1]["data"]["chat"]["tags"], json!(["callback"]));
    assert_eq!(got[2]["kind"], "state_changed");
    assert_eq!(got[2]["data"]["chat"]["state"], "closed");
    // The owner's private settings event does not reach the operator…
    assert!(next_json(&mut watcher).await.is_none());
    // …and nothing of channel A reaches channel B's console.
    assert!(next_json(&mut other_channel).await.is_none());

    // The owner's own console gets their private event.
    let mut own = connect(&s, &a.owner_token).await;
    s.call(
        "PATCH",
        "/api/v1/me/settings",
        tok,
        Some(json!({"auto_mute_on_join": true})),
    )
    .await;
    let m = next_json(&mut own).await.unwrap();
    assert_eq!(m["event"]["kind"], "settings_changed");
    assert_eq!(m["event"]["data"]["settings"]["auto_mute_on_join"], true);
    assert_eq!(m["event"]["data"]["settings"]["do_not_disturb"], true);
}

#[tokio::test]
async fn websocket_needs_a_valid_token() {
    let s = start().await;
    let url = format!("ws://{}/api/v1/events?token=bogus", s.addr);
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
    let url = format!("ws://{}/api/v1/events", s.addr);
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
}

#[tokio::test]
async fn settings_persist_and_me_lists_channels() {
    let s = start().await;
    let t = s.tenant("a", "050-1111-1111").await;
    let tok = Some(t.operator_token.as_str());
    let (_, me) = s.call("GET", "/api/v1/me", tok, None).await;
    assert_eq!(
        me["settings"],
        json!({"unassigned_call_notification": true, "do_not_disturb": false, "auto_mute_on_join": false})
    );
    assert_eq!(me["channels"][0]["locale"], "ja");
    assert_eq!(me["channels"][0]["role"], "operator");
    let (st, settings) = s
        .call(
            "PATCH",
            "/api/v1/me/settings",
            tok,
            Some(json!({"unassigned_call_notification": false})),
        )
        .await;
    assert_eq!(
        (st, settings["unassigned_call_notification"].as_bool()),
        (200, Some(false))
    );
    let (_, me) = s.call("GET", "/api/v1/me", tok, None).await;
    assert_eq!(me["settings"]["unassigned_call_notification"], false);
    assert_eq!(me["settings"]["do_not_disturb"], false);
}

#[tokio::test]
async fn openapi_metrics_and_health() {
    let s = start().await;
    let (st, doc) = s.call("GET", "/openapi.json", None, None).await;
    assert_eq!(st, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/auth/login",
        "/api/v1/me/settings",
        "/api/v1/channels/{cid}/chats",
        "/api/v1/channels/{cid}/chats/{id}/notes",
        "/api/v1/channels/{cid}/chats/{id}/messages",
        "/api/v1/channels/{cid}/customers/{id}",
        "/api/v1/channels/{cid}/business-hours",
        "/open/v1/chats",
        "/open/v1/customers/{id}",
    ] {
        assert!(paths.contains_key(p), "{p} missing from OpenAPI");
    }
    assert!(doc["components"]["schemas"]["ChatSummary"].is_object());
    // The document spells every enum as the wire does ("opened", not "Opened"), so a
    // client generated from it sends what the server accepts.
    fn spelled<T: Copy + std::fmt::Display>(all: &[T]) -> Vec<String> {
        all.iter().map(ToString::to_string).collect()
    }
    use denwa_core::model::*;
    for (name, wire) in [
        ("ChatState", spelled(ChatState::ALL)),
        ("Medium", spelled(Medium::ALL)),
        ("Role", spelled(Role::ALL)),
        ("CustomerKind", spelled(CustomerKind::ALL)),
        ("MessageKind", spelled(MessageKind::ALL)),
        ("MissedReason", spelled(MissedReason::ALL)),
        ("CallDirection", spelled(CallDirection::ALL)),
        ("CallOutcome", spelled(CallOutcome::ALL)),
        ("RecordingState", spelled(RecordingState::ALL)),
        ("TranscriptState", spelled(TranscriptState::ALL)),
    ] {
        let documented: Vec<String> = doc["components"]["schemas"][name]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no enum in the document"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(documented, wire, "{name}");
    }
    // The answers every route shares are in each route's list: 401 without a credential,
    // 400 for a value that does not parse, 415 for a body that is not JSON.
    let op = |path: &str, method: &str| doc["paths"][path][method]["responses"].clone();
    let audio = op("/api/v1/channels/{cid}/audio/{kind}", "delete");
    assert!(
        audio["401"].is_object() && audio["400"].is_object(),
        "{audio}"
    );
    let note = op("/api/v1/channels/{cid}/chats/{id}/notes", "post");
    assert!(note["415"].is_object() && note["413"].is_object(), "{note}");
    assert!(op("/open/v1/chats", "get")["401"].is_object());
    assert!(op("/api/v1/channels/{cid}/customers/{id}", "delete")["404"].is_object());
    assert!(op("/api/v1/channels/{cid}/chats", "get")["403"].is_object());
    assert!(op("/api/v1/auth/login", "post")["415"].is_object());
    // The routing body is described, not a bare object.
    let routing = &doc["paths"]["/api/v1/channels/{cid}/routing"]["put"]["requestBody"];
    assert!(
        routing
            .to_string()
            .contains("#/components/schemas/RoutingConfig"),
        "{routing}"
    );
    let config = &doc["components"]["schemas"]["RoutingConfig"];
    assert!(
        config["required"]
            .as_array()
            .is_some_and(|r| r.contains(&Value::from("mode"))),
        "{config}"
    );
    let (st, _) = s.call("GET", "/healthz", None, None).await;
    assert_eq!(st, 200);
    let (st, metrics) = s.call("GET", "/metrics", None, None).await;
    assert_eq!(st, 200);
    let text = metrics.as_str().unwrap();
    assert!(text.contains("denwa_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/healthz\""), "{text}");
}

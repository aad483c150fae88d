//! A session or API key of channel A can never read or change channel B (Foundation
//! item 6): one test per endpoint family.

mod common;

use common::{Server, Tenant, start};
use serde_json::json;

async fn two() -> (Server, Tenant, Tenant) {
    let s = start().await;
    let a = s.tenant("a", "050-1111-1111").await;
    let b = s.tenant("b", "050-2222-2222").await;
    (s, a, b)
}

/// Every (method, path, body) of B's channel that A's owner tries gets 403, and B's
/// data is unchanged.
async fn forbidden_all(
    s: &Server,
    token: &str,
    calls: &[(&str, String, Option<serde_json::Value>)],
) {
    for (method, path, body) in calls {
        let (status, answer) = s.call(method, path, Some(token), body.clone()).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert_eq!(answer["code"], "forbidden", "{method} {path}");
    }
}

#[tokio::test]
async fn channel_settings_of_another_channel_are_forbidden() {
    let (s, a, b) = two().await;
    let c = b.channel;
    forbidden_all(
        &s,
        &a.owner_token,
        &[
            ("GET", format!("/api/v1/channels/{c}"), None),
            (
                "PATCH",
                format!("/api/v1/channels/{c}"),
                Some(json!({"name": "pwned"})),
            ),
            ("GET", format!("/api/v1/channels/{c}/business-hours"), None),
            (
                "PUT",
                format!("/api/v1/channels/{c}/business-hours"),
                Some(json!({"time_zone": "Asia/Tokyo", "weekly": [], "holidays": []})),
            ),
            ("GET", format!("/api/v1/channels/{c}/staff"), None),
        ],
    )
    .await;
    let (_, channel) = s
        .call(
            "GET",
            &format!("/api/v1/channels/{c}"),
            Some(&b.owner_token),
            None,
        )
        .await;
    assert_eq!(channel["name"], "Channel b");
}

#[tokio::test]
async fn teams_and_tags_of_another_channel_are_forbidden() {
    let (s, a, b) = two().await;
    let (c, t) = (b.channel, b.team);
    forbidden_all(
        &s,
        &a.owner_token,
        &[
            ("GET", format!("/api/v1/channels/{c}/teams"), None),
            (
                "POST",
                format!("/api/v1/channels/{c}/teams"),
                Some(json!({"name": "x"})),
            ),
            (
                "PATCH",
                format!("/api/v1/channels/{c}/teams/{t}"),
                Some(json!({"name": "x"})),
            ),
            ("DELETE", format!("/api/v1/channels/{c}/teams/{t}"), None),
            ("GET", format!("/api/v1/channels/{c}/tags"), None),
            (
                "POST",
                format!("/api/v1/channels/{c}/tags"),
                Some(json!({"name": "x"})),
            ),
        ],
    )
    .await;
    // A's own channel path with B's team id: not found, not changed.
    let (status, _) = s
        .call(
            "PATCH",
            &format!("/api/v1/channels/{}/teams/{t}", a.channel),
            Some(&a.owner_token),
            Some(json!({"name": "stolen"})),
        )
        .await;
    assert_eq!(status, 404);
    let (_, teams) = s
        .call(
            "GET",
            &format!("/api/v1/channels/{c}/teams"),
            Some(&b.owner_token),
            None,
        )
        .await;
    assert_eq!(teams[0]["name"], "Support");
}

#[tokio::test]
async fn chats_of_another_channel_are_forbidden_or_not_found() {
    let (s, a, b) = two().await;
    let (c, chat) = (b.channel, b.text_chat);
    forbidden_all(
        &s,
        &a.owner_token,
        &[
            ("GET", format!("/api/v1/channels/{c}/chats"), None),
            (
                "POST",
                format!("/api/v1/channels/{c}/chats"),
                Some(json!({"customer_id": b.customer})),
            ),
            ("GET", format!("/api/v1/channels/{c}/chats/{chat}"), None),
            (
                "POST",
                format!("/api/v1/channels/{c}/chats/{chat}/notes"),
                Some(json!({"body": "x"})),
            ),
            (
                "POST",
                format!("/api/v1/channels/{c}/chats/{chat}/messages"),
                Some(json!({"body": "x"})),
            ),
            (
                "PUT",
                format!("/api/v1/channels/{c}/chats/{chat}/assignee"),
                Some(json!({"staff_id": null})),
            ),
            (
                "PUT",
                format!("/api/v1/channels/{c}/chats/{chat}/team"),
                Some(json!({"team_id": null})),
            ),
            (
                "PUT",
                format!("/api/v1/channels/{c}/chats/{chat}/tags"),
                Some(json!({"tags": ["x"]})),
            ),
            (
                "PUT",
                format!("/api/v1/channels/{c}/chats/{chat}/state"),
                Some(json!({"state": "closed"})),
            ),
        ],
    )
    .await;
    // Through A's own channel, B's chat does not exist.
    let own = a.channel;
    for (method, path, body) in [
        ("GET", format!("/api/v1/channels/{own}/chats/{chat}"), None),
        (
            "POST",
            format!("/api/v1/channels/{own}/chats/{chat}/notes"),
            Some(json!({"body": "x"})),
        ),
        (
            "PUT",
            format!("/api/v1/channels/{own}/chats/{chat}/state"),
            Some(json!({"state": "closed"})),
        ),
        (
            "PUT",
            format!("/api/v1/channels/{own}/chats/{chat}/assignee"),
            Some(json!({"staff_id": a.owner})),
        ),
        (
            "POST",
            format!("/api/v1/channels/{own}/chats"),
            Some(json!({"customer_id": b.customer})),
        ),
    ] {
        let (status, answer) = s.call(method, &path, Some(&a.owner_token), body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    // Assigning one's own chat to a staff member of another channel is refused.
    let (status, _) = s
        .call(
            "PUT",
            &format!("/api/v1/channels/{own}/chats/{}/assignee", a.text_chat),
            Some(&a.owner_token),
            Some(json!({"staff_id": b.owner})),
        )
        .await;
    assert_eq!(status, 400);
    let (_, detail) = s
        .call(
            "GET",
            &format!("/api/v1/channels/{c}/chats/{chat}"),
            Some(&b.owner_token),
            None,
        )
        .await;
    assert_eq!(detail["chat"]["state"], "opened");
    assert_eq!(detail["timeline"].as_array().unwrap().len(), 2, "{detail}");
}

#[tokio::test]
async fn customers_of_another_channel_are_forbidden_or_not_found() {
    let (s, a, b) = two().await;
    let (c, cu) = (b.channel, b.customer);
    forbidden_all(
        &s,
        &a.owner_token,
        &[
            ("GET", format!("/api/v1/channels/{c}/customers"), None),
            (
                "POST",
                format!("/api/v1/channels/{c}/customers"),
                Some(json!({"name": "x"})),
            ),
            ("GET", format!("/api/v1/channels/{c}/customers/{cu}"), None),
            (
                "PATCH",
                format!("/api/v1/channels/{c}/customers/{cu}"),
                Some(json!({"name": "x"})),
            ),
            (
                "DELETE",
                format!("/api/v1/channels/{c}/customers/{cu}"),
                None,
            ),
        ],
    )
    .await;
    let own = a.channel;
    for method in ["GET", "DELETE"] {
        let (status, _) = s
            .call(
                method,
                &format!("/api/v1/channels/{own}/customers/{cu}"),
                Some(&a.owner_token),
                None,
            )
            .await;
        assert_eq!(status, 404);
    }
    // Searching one's own channel never returns the other channel's customer, even
    // though both own the same number.
    let (_, found) = s
        .call(
            "GET",
            &format!("/api/v1/channels/{own}/customers?q=0312345678"),
            Some(&a.owner_token),
            None,
        )
        .await;
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["name"], "Customer a");
}

#[tokio::test]
async fn api_keys_of_another_channel_are_forbidden_and_keys_see_only_their_channel() {
    let (s, a, b) = two().await;
    let c = b.channel;
    forbidden_all(
        &s,
        &a.owner_token,
        &[
            ("GET", format!("/api/v1/channels/{c}/api-keys"), None),
            (
                "POST",
                format!("/api/v1/channels/{c}/api-keys"),
                Some(json!({"name": "x"})),
            ),
            ("DELETE", format!("/api/v1/channels/{c}/api-keys/1"), None),
        ],
    )
    .await;
    // A's integration key.
    let (status, created) = s
        .call(
            "POST",
            &format!("/api/v1/channels/{}/api-keys", a.channel),
            Some(&a.owner_token),
            Some(json!({"name": "crm"})),
        )
        .await;
    assert_eq!(status, 201);
    let headers = vec![
        (
            "x-access-key".to_owned(),
            created["key"]["access_key"].as_str().unwrap().to_owned(),
        ),
        (
            "x-access-secret".to_owned(),
            created["secret"].as_str().unwrap().to_owned(),
        ),
    ];
    let (status, channel) = s.raw("GET", "/open/v1/channel", &headers, None).await;
    assert_eq!((status, channel["id"].as_i64()), (200, Some(a.channel)));
    let (_, chats) = s.raw("GET", "/open/v1/chats", &headers, None).await;
    let ids: Vec<i64> = chats["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&b.text_chat) && !ids.contains(&b.phone_chat));
    for path in [
        format!("/open/v1/chats/{}", b.text_chat),
        format!("/open/v1/customers/{}", b.customer),
    ] {
        let (status, _) = s.raw("GET", &path, &headers, None).await;
        assert_eq!(status, 404, "{path}");
    }
    let mut json_headers = headers.clone();
    json_headers.push(("content-type".into(), "application/json".into()));
    let (status, _) = s
        .raw(
            "POST",
            &format!("/open/v1/chats/{}/notes", b.text_chat),
            &json_headers,
            Some(br#"{"body":"x"}"#),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .raw(
            "PATCH",
            &format!("/open/v1/customers/{}", b.customer),
            &json_headers,
            Some(br#"{"name":"x"}"#),
        )
        .await;
    assert_eq!(status, 404);
    // A key is not a console session, and a console token is not a key.
    let (status, _) = s
        .call(
            "GET",
            &format!("/api/v1/channels/{}/chats", a.channel),
            Some(created["secret"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = s
        .raw(
            "GET",
            "/open/v1/chats",
            &[("x-access-key".into(), a.owner_token.clone())],
            None,
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn operators_cannot_manage_their_own_channel() {
    let (s, a, _) = two().await;
    let c = a.channel;
    for (method, path, body) in [
        (
            "PATCH",
            format!("/api/v1/channels/{c}"),
            Some(json!({"name": "x"})),
        ),
        (
            "POST",
            format!("/api/v1/channels/{c}/teams"),
            Some(json!({"name": "x"})),
        ),
        (
            "POST",
            format!("/api/v1/channels/{c}/api-keys"),
            Some(json!({"name": "x"})),
        ),
        ("GET", format!("/api/v1/channels/{c}/api-keys"), None),
        (
            "PUT",
            format!("/api/v1/channels/{c}/business-hours"),
            Some(json!({"time_zone": "Asia/Tokyo"})),
        ),
    ] {
        let (status, _) = s.call(method, &path, Some(&a.operator_token), body).await;
        assert_eq!(status, 403, "{method} {path}");
    }
    // …but can work chats.
    let (status, _) = s
        .call(
            "POST",
            &format!("/api/v1/channels/{c}/chats/{}/notes", a.text_chat),
            Some(&a.operator_token),
            Some(json!({"body": "on it"})),
        )
        .await;
    assert_eq!(status, 201);
}

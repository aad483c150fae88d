//! SIP trunks per channel and staff SIP accounts (SIP issue, items 4 and 6).

mod common;

use common::start;
use denwa_store::Store;
use serde_json::json;

#[tokio::test]
async fn managers_configure_trunks_and_secrets_are_never_shown() {
    let s = start().await;
    let a = s.tenant("a", "050-1111-1111").await;
    let b = s.tenant("b", "050-2222-2222").await;
    let path = format!("/api/v1/channels/{}/trunks", a.channel);
    let tok = Some(a.owner_token.as_str());
    let (st, trunk) = s
        .call(
            "POST",
            &path,
            tok,
            Some(json!({
                "name": "Carrier",
                "allowed_sources": ["203.0.113.0/24", "127.0.0.1"],
                "outbound_proxy": "sip.carrier.example:5060",
                "outbound_username": "acct1",
                "outbound_password": "s3cret-pass",
                "caller_id": "050-1111-1111",
                "register": true,
                "transport": "tcp"
            })),
        )
        .await;
    assert_eq!(st, 201, "{trunk}");
    assert_eq!(trunk["caller_id"], "+815011111111");
    assert_eq!(trunk["has_outbound_password"], true);
    assert_eq!(trunk["transport"], "tcp");
    let text = trunk.to_string();
    assert!(!text.contains("s3cret-pass"), "{text}");
    let id = trunk["id"].as_i64().unwrap();

    // The SIP edge reads the secret; the API never shows it.
    let routes = s.store.trunk_routes().await.unwrap();
    let (_, secrets) = routes.iter().find(|(t, _)| t.id == id).unwrap();
    assert_eq!(secrets.outbound_password.as_deref(), Some("s3cret-pass"));
    let (_, list) = s.call("GET", &path, tok, None).await;
    assert!(!list.to_string().contains("s3cret-pass"));

    // Clearing with an empty string; registration then needs the proxy back.
    let (st, body) = s
        .call(
            "PATCH",
            &format!("{path}/{id}"),
            tok,
            Some(json!({"outbound_proxy": ""})),
        )
        .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (400, Some("invalid_field")),
        "{body}"
    );
    let (st, t) = s
        .call(
            "PATCH",
            &format!("{path}/{id}"),
            tok,
            Some(json!({"outbound_proxy": "", "register": false, "outbound_password": ""})),
        )
        .await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["outbound_proxy"], serde_json::Value::Null);
    assert_eq!(t["has_outbound_password"], false);

    for bad in [
        json!({"name": "x", "allowed_sources": ["not-an-ip"]}),
        json!({"name": "x", "allowed_sources": ["10.0.0.0/40"]}),
        json!({"name": "x", "outbound_proxy": "sip carrier"}),
        json!({"name": "x", "caller_id": "12"}),
        json!({"name": "x", "register": true}),
        json!({"allowed_sources": []}),
        json!({"name": "x", "transport": "sctp"}),
        json!({"name": "x", "colour": "red"}),
    ] {
        let (st, body) = s.call("POST", &path, tok, Some(bad.clone())).await;
        assert_eq!(st, 400, "{bad} → {body}");
    }
    let (st, _) = s
        .call("POST", &path, tok, Some(json!({"name": "Carrier"})))
        .await;
    assert_eq!(st, 409);

    // Operators and other channels cannot see or touch trunks.
    let (st, _) = s.call("GET", &path, Some(&a.operator_token), None).await;
    assert_eq!(st, 403);
    let (st, _) = s.call("GET", &path, Some(&b.owner_token), None).await;
    assert_eq!(st, 403);
    let other = format!("/api/v1/channels/{}/trunks/{id}", b.channel);
    let (st, _) = s.call("DELETE", &other, Some(&b.owner_token), None).await;
    assert_eq!(st, 404, "B's path cannot reach A's trunk");
    let (st, _) = s.call("DELETE", &format!("{path}/{id}"), tok, None).await;
    assert_eq!(st, 204);
    assert!(
        s.store
            .trunk_routes()
            .await
            .unwrap()
            .iter()
            .all(|(t, _)| t.id != id)
    );
}

#[tokio::test]
async fn echo_number_is_a_channel_setting() {
    let s = start().await;
    let a = s.tenant("a", "050-1111-1111").await;
    let path = format!("/api/v1/channels/{}", a.channel);
    let tok = Some(a.owner_token.as_str());
    let (_, channel) = s.call("GET", &path, tok, None).await;
    assert_eq!(channel["echo_number"], "9196");
    let (st, channel) = s
        .call("PATCH", &path, tok, Some(json!({"echo_number": "*43"})))
        .await;
    assert_eq!((st, channel["echo_number"].as_str()), (200, Some("*43")));
    for bad in ["", "12a", "1234567890123456"] {
        let (st, _) = s
            .call("PATCH", &path, tok, Some(json!({"echo_number": bad})))
            .await;
        assert_eq!(st, 400, "{bad}");
    }
}

#[tokio::test]
async fn staff_get_a_sip_account_for_their_softphone() {
    let s = start().await;
    let a = s.tenant("a", "050-1111-1111").await;
    let b = s.tenant("b", "050-2222-2222").await;
    let tok = Some(a.operator_token.as_str());
    let (st, _) = s.call("GET", "/api/v1/me/sip-account", tok, None).await;
    assert_eq!(st, 404);
    let (st, account) = s
        .call("PUT", "/api/v1/me/sip-account", tok, Some(json!({})))
        .await;
    assert_eq!(st, 200, "{account}");
    assert_eq!(account["username"], "op-a");
    let password = account["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 16);
    let (_, again) = s.call("GET", "/api/v1/me/sip-account", tok, None).await;
    assert_eq!(again["password"], password.as_str());
    let found = s.store.sip_account("op-a").await.unwrap().unwrap();
    assert_eq!((found.staff_id, found.password), (a.operator, password));

    // A username is unique across staff.
    let (st, _) = s
        .call(
            "PUT",
            "/api/v1/me/sip-account",
            Some(&b.operator_token),
            Some(json!({"username": "op-a"})),
        )
        .await;
    assert_eq!(st, 409);
    for bad in [
        json!({"username": "bad name"}),
        json!({"password": "short"}),
        json!({"pin": "1"}),
    ] {
        let (st, _) = s
            .call("PUT", "/api/v1/me/sip-account", tok, Some(bad.clone()))
            .await;
        assert_eq!(st, 400, "{bad}");
    }
    // Only the owner of the account hears about it.
    let (st, mine) = s
        .call(
            "PUT",
            "/api/v1/me/sip-account",
            tok,
            Some(json!({"username": "yu.tanaka", "password": "a-long-device-pass"})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(mine["username"], "yu.tanaka");
    assert!(s.store.sip_account("op-a").await.unwrap().is_none());
}

#[tokio::test]
async fn a_test_call_needs_a_manager_a_proxy_a_number_and_running_telephony() {
    let s = start().await;
    let a = s.tenant("a", "050-1111-1111").await;
    let b = s.tenant("b", "050-2222-2222").await;
    let path = format!("/api/v1/channels/{}/trunks", a.channel);
    let tok = Some(a.owner_token.as_str());
    let (_, bare) = s
        .call("POST", &path, tok, Some(json!({"name": "No proxy"})))
        .await;
    let (_, full) = s
        .call(
            "POST",
            &path,
            tok,
            Some(json!({"name": "Carrier", "outbound_proxy": "127.0.0.1:5999"})),
        )
        .await;
    let call = |id: &serde_json::Value| format!("{path}/{id}/test-call");
    let to = Some(json!({"to": "090-1234-5678"}));

    let (st, body) = s
        .call(
            "POST",
            &call(&full["id"]),
            Some(&a.operator_token),
            to.clone(),
        )
        .await;
    assert_eq!(st, 403, "operators may not place test calls: {body}");
    let other = format!(
        "/api/v1/channels/{}/trunks/{}/test-call",
        b.channel, full["id"]
    );
    let (st, _) = s
        .call("POST", &other, Some(&b.owner_token), to.clone())
        .await;
    assert_eq!(st, 404, "another channel's trunk");
    let (st, body) = s.call("POST", &call(&bare["id"]), tok, to.clone()).await;
    assert_eq!(
        (st, body["code"].as_str()),
        (422, Some("trunk_without_proxy"))
    );
    let (st, body) = s
        .call("POST", &call(&full["id"]), tok, Some(json!({"to": "12ab"})))
        .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (422, Some("invalid_phone_number"))
    );
    let (st, body) = s
        .call(
            "POST",
            &call(&full["id"]),
            tok,
            Some(json!({"to": "1", "x": 1})),
        )
        .await;
    assert_eq!(st, 400, "unknown fields are refused: {body}");
    // This server runs no SIP edge.
    let (st, body) = s.call("POST", &call(&full["id"]), tok, to).await;
    assert_eq!((st, body["code"].as_str()), (503, Some("telephony_off")));
}

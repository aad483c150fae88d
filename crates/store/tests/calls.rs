//! Call rows are a projection of the `call_*` events, written in the same transaction.

use denwa_core::EventKind;
use denwa_core::model::{CallDirection, CallOutcome, Medium, MissedReason, Role};
use denwa_store::{NewCall, NewChannel, SqliteStore, Store, StoreError};
use serde_json::json;

async fn setup() -> (tempfile::TempDir, SqliteStore, i64, i64, i64) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("calls.sqlite3"))
        .await
        .unwrap();
    let channel = store
        .create_channel(NewChannel {
            name: "C".into(),
            region: "JP".into(),
            time_zone: "Asia/Tokyo".into(),
            phone_numbers: vec!["050-1234-5678".into()],
        })
        .await
        .unwrap()
        .id;
    let a = store
        .create_staff("a@example.com", "A", "pw-123456")
        .await
        .unwrap();
    let b = store
        .create_staff("b@example.com", "B", "pw-123456")
        .await
        .unwrap();
    for s in [a.id, b.id] {
        store
            .add_member(channel, s, Role::Operator, true)
            .await
            .unwrap();
    }
    (dir, store, channel, a.id, b.id)
}

fn inbound(number: Option<&str>) -> NewCall {
    NewCall {
        direction: CallDirection::Inbound,
        medium: Medium::Phone,
        customer_number: number.map(str::to_owned),
        channel_number: Some("+815012345678".into()),
        customer_id: None,
        staff_id: None,
    }
}

#[tokio::test]
async fn unknown_caller_becomes_a_lead_and_known_caller_is_found() {
    let (_dir, store, channel, _, _) = setup().await;
    let first = store
        .open_call(channel, inbound(Some("+819011112222")))
        .await
        .unwrap();
    assert!(!first.known_customer);
    assert_eq!(first.customer.phones[0].number, "+819011112222");
    assert_eq!(first.chat.medium, Medium::Phone);
    let kinds: Vec<_> = first.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::CustomerCreated, EventKind::ChatOpened]);

    let second = store
        .open_call(channel, inbound(Some("+819011112222")))
        .await
        .unwrap();
    assert!(second.known_customer);
    assert_eq!(second.customer.id, first.customer.id);
    assert_ne!(
        second.chat.id, first.chat.id,
        "every call opens its own chat"
    );

    let withheld = store.open_call(channel, inbound(None)).await.unwrap();
    assert!(!withheld.known_customer);
    assert!(withheld.customer.phones.is_empty());
}

#[tokio::test]
async fn events_project_onto_the_call_and_staff_rows() {
    let (_dir, store, channel, a, b) = setup().await;
    let opened = store
        .open_call(channel, inbound(Some("+819011112222")))
        .await
        .unwrap();
    let call = opened.call;
    let rec = |kind, actor, data| store.record_call_event(channel, call, kind, actor, data);
    rec(EventKind::CallStarted, None, json!({})).await.unwrap();
    rec(EventKind::CallRinging, None, json!({"staff_ids": [a, b]}))
        .await
        .unwrap();
    rec(EventKind::CallDeclined, Some(b), json!({"staff_id": b}))
        .await
        .unwrap();
    rec(EventKind::CallAnswered, Some(a), json!({"staff_id": a}))
        .await
        .unwrap();
    rec(
        EventKind::CallParticipantJoined,
        Some(a),
        json!({"staff_id": a}),
    )
    .await
    .unwrap();
    rec(EventKind::CallHeld, Some(a), json!({"staff_id": a}))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    rec(EventKind::CallResumed, Some(a), json!({"held_by": a}))
        .await
        .unwrap();
    let ended = rec(
        EventKind::CallEnded,
        None,
        json!({"ended_by": "customer", "answered": true}),
    )
    .await
    .unwrap();
    assert_eq!(ended.chat_id, Some(opened.chat.id));
    assert_eq!(ended.data["call_record_id"], json!(call));

    let r = store.call_record(channel, call).await.unwrap();
    assert_eq!(r.outcome, Some(CallOutcome::Answered));
    assert_eq!(r.staff_id, Some(a));
    assert_eq!(r.participants, vec![a]);
    assert!(r.hold_ms >= 30, "hold {} ms", r.hold_ms);
    assert!(r.answered_at.is_some() && r.ended_at.is_some());
    assert_eq!(r.ended_by.as_deref(), Some("customer"));

    let staff = store.call_staff(channel, call).await.unwrap();
    let of = |s| staff.iter().find(|x| x.staff_id == s).unwrap();
    assert_eq!(of(a).outcome.as_deref(), Some("answered"));
    assert!(of(a).left_at.is_some(), "the end closes open legs");
    assert_eq!(of(b).outcome.as_deref(), Some("declined"));
    assert!(of(b).rung_at.is_some());

    // An ended call takes no more events; timeline has them all.
    let late = rec(EventKind::CallHeld, Some(a), json!({})).await;
    assert!(matches!(late, Err(StoreError::Conflict(_))), "{late:?}");
    let timeline = store.timeline(channel, opened.chat.id).await.unwrap();
    assert!(timeline.iter().any(|e| e.kind == EventKind::CallEnded));
    // Not a call event.
    let bad = rec(EventKind::NoteAdded, None, json!({})).await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");
}

#[tokio::test]
async fn missed_call_keeps_its_reason() {
    let (_dir, store, channel, _, _) = setup().await;
    let opened = store.open_call(channel, inbound(None)).await.unwrap();
    store
        .record_call_event(
            channel,
            opened.call,
            EventKind::CallMissed,
            None,
            json!({"missed_reason": "userLeft"}),
        )
        .await
        .unwrap();
    store
        .record_call_event(
            channel,
            opened.call,
            EventKind::CallEnded,
            None,
            json!({"ended_by": "customer", "answered": false}),
        )
        .await
        .unwrap();
    let r = store.call_record(channel, opened.call).await.unwrap();
    assert_eq!(r.outcome, Some(CallOutcome::Missed));
    assert_eq!(r.missed_reason, Some(MissedReason::UserLeft));
}

#[tokio::test]
async fn calls_left_live_by_a_crash_are_ended_at_restart() {
    let (dir, store, channel, a, _) = setup().await;
    let answered = store
        .open_call(channel, inbound(Some("+819011112222")))
        .await
        .unwrap();
    store
        .record_call_event(
            channel,
            answered.call,
            EventKind::CallAnswered,
            Some(a),
            json!({"staff_id": a}),
        )
        .await
        .unwrap();
    let ringing = store.open_call(channel, inbound(None)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(store.heartbeat_live_calls().await.unwrap(), 2);
    store.close().await;

    // The "next process".
    let store = SqliteStore::open(&dir.path().join("calls.sqlite3"))
        .await
        .unwrap();
    let events = store
        .end_interrupted_calls("server_restarted")
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.data["reason"] == "server_restarted")
    );
    let r = store.call_record(channel, answered.call).await.unwrap();
    assert_eq!(r.outcome, Some(CallOutcome::Answered));
    assert_eq!(r.end_reason.as_deref(), Some("server_restarted"));
    assert!(r.ended_at.unwrap() >= r.answered_at.unwrap());
    let r = store.call_record(channel, ringing.call).await.unwrap();
    assert_eq!(r.outcome, Some(CallOutcome::Missed));
    assert_eq!(r.missed_reason, Some(MissedReason::NoOperator));
    // Idempotent.
    assert!(store.end_interrupted_calls("x").await.unwrap().is_empty());
    // Another channel's id is not found.
    assert!(matches!(
        store.call_record(channel + 1, ringing.call).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn routing_is_stored_and_filled_with_hours_and_teams() {
    use denwa_core::routing::{RoutingConfig, RoutingMode, Rule};
    let (_dir, store, channel, a, _) = setup().await;
    let team = store
        .create_team(channel, "Support", &[a], None)
        .await
        .unwrap()
        .0;
    let config = RoutingConfig {
        mode: RoutingMode::Workflow(vec![Rule {
            conditions: vec![],
            team: Some(team.id),
            staff: None,
        }]),
        ring_timeout_secs: 20,
        ..RoutingConfig::default()
    };
    store.set_routing(channel, config, None).await.unwrap();
    let read = store.routing(channel).await.unwrap();
    assert_eq!(read.ring_timeout_secs, 20);
    assert_eq!(read.teams.len(), 1);
    assert_eq!(read.teams[0].members, vec![a]);
    assert!(matches!(read.mode, RoutingMode::Workflow(_)));
    // Another channel's team is refused.
    let bad = RoutingConfig {
        mode: RoutingMode::Workflow(vec![Rule {
            conditions: vec![],
            team: Some(team.id + 100),
            staff: None,
        }]),
        ..RoutingConfig::default()
    };
    assert!(matches!(
        store.set_routing(channel, bad, None).await,
        Err(StoreError::Invalid(_))
    ));
    let zero = RoutingConfig {
        ring_timeout_secs: 0,
        ..RoutingConfig::default()
    };
    assert!(store.set_routing(channel, zero, None).await.is_err());
}

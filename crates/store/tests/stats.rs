//! The statistics rollup agrees with the metric definitions computed from the call rows.

use chrono::{Duration, Utc};
use denwa_core::EventKind;
use denwa_core::model::{
    CallDirection, CallOutcome, CallRecord, CallStaffRecord, ChatState, Medium, MissedReason, Role,
};
use denwa_core::stats::{
    CallField, CallFilter, CallHistory, CmpOp, DashboardQuery, FilterValue, LocalSlot, Period,
    dashboard_of, time_zone,
};
use denwa_store::{CallRowQuery, NewCall, NewChannel, SqliteStore, Store};
use serde_json::json;

async fn setup() -> (tempfile::TempDir, SqliteStore, i64, i64) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("stats.sqlite3"))
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
        .create_staff("a@example.com", "Aiko", "pw-123456")
        .await
        .unwrap();
    store
        .add_member(channel, a.id, Role::Operator, true)
        .await
        .unwrap();
    (dir, store, channel, a.id)
}

fn inbound() -> NewCall {
    NewCall {
        direction: CallDirection::Inbound,
        medium: Medium::Phone,
        customer_number: Some("+819011112222".into()),
        channel_number: Some("+815012345678".into()),
        customer_id: None,
        staff_id: None,
    }
}

fn today_query() -> DashboardQuery {
    let today = LocalSlot::of(time_zone("Asia/Tokyo").unwrap(), Utc::now()).day;
    DashboardQuery {
        from: today - Duration::days(1),
        to: today + Duration::days(1),
        period: Period::Day,
        team: None,
        staff: None,
    }
}

async fn histories(store: &SqliteStore, channel: i64) -> Vec<CallHistory> {
    let now = Utc::now();
    let calls = store
        .calls_between(channel, now - Duration::days(2), now + Duration::days(1))
        .await
        .unwrap();
    let mut out = Vec::new();
    for c in calls {
        let staff = store.call_staff(channel, c.id).await.unwrap();
        let rows = store
            .call_rows(
                channel,
                &CallRowQuery {
                    from: c.started_at,
                    to: c.started_at + Duration::milliseconds(1),
                    filters: vec![CallFilter {
                        field: CallField::CallId,
                        op: CmpOp::Eq,
                        value: FilterValue::Int(c.id),
                    }],
                    after: None,
                    offset: 0,
                    limit: 1,
                },
            )
            .await
            .unwrap();
        let closed = rows[0]
            .wrap_up_ms
            .and_then(|w| Some(c.ended_at? + Duration::milliseconds(w)));
        out.push(CallHistory {
            call: c,
            staff,
            chat_closed_at: closed,
        });
    }
    out
}

#[tokio::test]
async fn live_calls_move_the_rollup_as_they_end_and_chats_close() {
    let (dir, store, channel, a) = setup().await;
    let q = today_query();
    assert_eq!(store.dashboard(channel, q).await.unwrap().totals.total, 0);

    // Answered call.
    let opened = store.open_call(channel, inbound()).await.unwrap();
    let rec = |call, kind, data| store.record_call_event(channel, call, kind, None, data);
    rec(
        opened.call,
        EventKind::CallRinging,
        json!({"staff_ids": [a]}),
    )
    .await
    .unwrap();
    rec(opened.call, EventKind::CallAnswered, json!({"staff_id": a}))
        .await
        .unwrap();
    rec(
        opened.call,
        EventKind::CallParticipantJoined,
        json!({"staff_id": a}),
    )
    .await
    .unwrap();
    // Live: counts nowhere.
    assert_eq!(store.dashboard(channel, q).await.unwrap().totals.total, 0);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    rec(
        opened.call,
        EventKind::CallEnded,
        json!({"ended_by": "customer", "answered": true}),
    )
    .await
    .unwrap();
    let d = store.dashboard(channel, q).await.unwrap();
    assert_eq!(d.totals.total, 1);
    assert_eq!(d.totals.inbound_answered, 1);
    assert_eq!(d.totals.avg_wrap_up_ms, None);
    assert_eq!(d.staff.len(), 1);
    assert_eq!(d.staff[0].answered, 1);

    // Missed call, each reason once.
    for reason in [
        MissedReason::NotInOperation,
        MissedReason::NoOperator,
        MissedReason::UserLeft,
    ] {
        let m = store.open_call(channel, inbound()).await.unwrap();
        rec(
            m.call,
            EventKind::CallMissed,
            json!({"missed_reason": reason.as_str()}),
        )
        .await
        .unwrap();
        rec(
            m.call,
            EventKind::CallEnded,
            json!({"ended_by": "customer"}),
        )
        .await
        .unwrap();
    }
    // Wrap-up: the answered call's chat closes.
    store
        .set_state(channel, opened.chat.id, ChatState::Closed, None, Some(a))
        .await
        .unwrap();
    let d = store.dashboard(channel, q).await.unwrap();
    assert_eq!(d.totals.total, 4);
    assert_eq!(d.totals.missed_by_reason.not_in_operation, 1);
    assert_eq!(d.totals.missed_by_reason.no_operator, 1);
    assert_eq!(d.totals.missed_by_reason.user_left, 1);
    assert!(d.totals.avg_wrap_up_ms.is_some());
    // Reopening and closing again does not count a second wrap-up.
    store
        .set_state(channel, opened.chat.id, ChatState::Opened, None, Some(a))
        .await
        .unwrap();
    store
        .set_state(channel, opened.chat.id, ChatState::Closed, None, Some(a))
        .await
        .unwrap();
    let again = store.dashboard(channel, q).await.unwrap();
    assert_eq!(again.totals, d.totals);

    // The rollup says what the definitions say over the rows.
    let tz = time_zone("Asia/Tokyo").unwrap();
    let reference = dashboard_of(&q, tz, &histories(&store, channel).await);
    assert_eq!(d, reference);

    // A new time zone (set behind the store's back: no API changes it yet) rebuilds the
    // rollup from the rows.
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("stats.sqlite3").display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE channels SET time_zone = 'America/New_York' WHERE id = ?")
        .bind(channel)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let ny = time_zone("America/New_York").unwrap();
    let today = LocalSlot::of(ny, Utc::now()).day;
    let q2 = DashboardQuery {
        from: today - Duration::days(1),
        to: today + Duration::days(1),
        ..q
    };
    let rebuilt = store.dashboard(channel, q2).await.unwrap();
    assert_eq!(rebuilt.time_zone, "America/New_York");
    assert_eq!(
        rebuilt,
        dashboard_of(&q2, ny, &histories(&store, channel).await)
    );
}

fn synthetic(channel: i64, staff: i64, i: i64) -> CallHistory {
    let start = Utc::now() - Duration::hours(20) + Duration::minutes(i * 3);
    let answered = i % 3 != 0;
    let call = CallRecord {
        id: 0,
        channel_id: channel,
        chat_id: 0,
        direction: if i % 5 == 0 {
            CallDirection::Outbound
        } else {
            CallDirection::Inbound
        },
        medium: Medium::Phone,
        customer_id: None,
        customer_number: Some(format!("+8190{:08}", i % 4)),
        channel_number: Some("+815012345678".into()),
        team_id: None,
        staff_id: answered.then_some(staff),
        started_at: start,
        answered_at: answered.then(|| start + Duration::seconds(i % 40)),
        ended_at: Some(start + Duration::seconds(100 + i)),
        hold_ms: 0,
        participants: if answered { vec![staff] } else { vec![] },
        outcome: Some(if answered {
            CallOutcome::Answered
        } else {
            CallOutcome::Missed
        }),
        missed_reason: (!answered).then_some(MissedReason::UserLeft),
        ended_by: Some("customer".into()),
        end_reason: None,
        recording: None,
    };
    let s = CallStaffRecord {
        call_id: 0,
        staff_id: staff,
        rung_at: Some(start),
        invited_by: None,
        joined_at: call.answered_at,
        left_at: call.ended_at,
        talk_ms: if answered { 90_000 } else { 0 },
        outcome: Some(if answered { "answered" } else { "missed" }.into()),
    };
    CallHistory {
        chat_closed_at: answered.then(|| start + Duration::seconds(400)),
        call,
        staff: vec![s],
    }
}

#[tokio::test]
async fn imported_history_matches_the_definitions_and_rows_filter() {
    let (_dir, store, channel, a) = setup().await;
    let calls: Vec<_> = (0..300).map(|i| synthetic(channel, a, i)).collect();
    assert_eq!(store.import_calls(channel, &calls).await.unwrap(), 300);
    let q = today_query();
    let d = store.dashboard(channel, q).await.unwrap();
    assert_eq!(d.totals.total, 300);
    let stored = histories(&store, channel).await;
    assert_eq!(stored.len(), 300);
    assert_eq!(
        d,
        dashboard_of(&q, time_zone("Asia/Tokyo").unwrap(), &stored)
    );

    // Filters and paging over the rows.
    let now = Utc::now();
    let base = CallRowQuery {
        from: now - Duration::days(2),
        to: now + Duration::days(1),
        filters: vec![],
        after: None,
        offset: 0,
        limit: 1000,
    };
    let all = store.call_rows(channel, &base).await.unwrap();
    assert_eq!(all.len(), 300);
    assert!(all.windows(2).all(|w| w[0].started_at <= w[1].started_at));
    assert_eq!(all[1].participants, vec!["Aiko".to_string()]);
    let outbound = store
        .call_rows(
            channel,
            &CallRowQuery {
                filters: vec![CallFilter {
                    field: CallField::Direction,
                    op: CmpOp::Eq,
                    value: FilterValue::Text("outbound".into()),
                }],
                ..base.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(outbound.len(), 60);
    let missed_null = store
        .call_rows(
            channel,
            &CallRowQuery {
                filters: vec![CallFilter {
                    field: CallField::MissedReason,
                    op: CmpOp::Eq,
                    value: FilterValue::Null,
                }],
                ..base.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(missed_null.len(), 200);
    let page = store
        .call_rows(
            channel,
            &CallRowQuery {
                after: Some((all[99].started_at, all[99].call_id)),
                limit: 10,
                ..base.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(page[0].call_id, all[100].call_id);
    let skipped = store
        .call_rows(
            channel,
            &CallRowQuery {
                offset: 295,
                ..base
            },
        )
        .await
        .unwrap();
    assert_eq!(skipped.len(), 5);
}

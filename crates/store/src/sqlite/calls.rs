//! Calls: the `calls` / `call_staff` rows, kept as a projection of each call's `call_*`
//! events in the same transaction as the event.

use chrono::{DateTime, Utc};
use denwa_core::model::{
    CallDirection, CallOutcome, CallRecord, CallRecordId, CallStaffRecord, ChannelId, ChatId,
    Medium, MissedReason, Settings, StaffId,
};
use denwa_core::routing::{RoutingConfig, RoutingMode, TeamRoute};
use denwa_core::{Event, EventKind};
use serde_json::{Value, json};
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::{
    begin_write, insert_event, load_channel, load_chat, load_customer, now_ms, to_dt, touch_chat,
};
use crate::{NewCall, OpenedCall, Result, StoreError};

pub(super) const CALL_COLUMNS: &str = "id, channel_id, chat_id, direction, medium, customer_id, \
     customer_number, channel_number, team_id, staff_id, started_at, answered_at, ended_at, \
     hold_ms, participants, outcome, missed_reason, ended_by, end_reason, recording";

pub(super) fn call_from_row(r: &sqlx::sqlite::SqliteRow) -> CallRecord {
    CallRecord {
        id: r.get("id"),
        channel_id: r.get("channel_id"),
        chat_id: r.get("chat_id"),
        direction: CallDirection::parse(r.get::<String, _>("direction").as_str())
            .unwrap_or(CallDirection::Inbound),
        medium: Medium::parse(r.get::<String, _>("medium").as_str()).unwrap_or(Medium::Phone),
        customer_id: r.get("customer_id"),
        customer_number: r.get("customer_number"),
        channel_number: r.get("channel_number"),
        team_id: r.get("team_id"),
        staff_id: r.get("staff_id"),
        started_at: to_dt(r.get("started_at")),
        answered_at: r.get::<Option<i64>, _>("answered_at").map(to_dt),
        ended_at: r.get::<Option<i64>, _>("ended_at").map(to_dt),
        hold_ms: r.get("hold_ms"),
        participants: serde_json::from_str(r.get::<String, _>("participants").as_str())
            .unwrap_or_default(),
        outcome: r
            .get::<Option<String>, _>("outcome")
            .and_then(|s| CallOutcome::parse(&s)),
        missed_reason: r
            .get::<Option<String>, _>("missed_reason")
            .and_then(|s| MissedReason::parse(&s)),
        ended_by: r.get("ended_by"),
        end_reason: r.get("end_reason"),
        recording: r.get("recording"),
    }
}

async fn load_call(
    conn: &mut SqliteConnection,
    channel: ChannelId,
    id: CallRecordId,
) -> Result<CallRecord> {
    let row = sqlx::query(&format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE id = ? AND channel_id = ?"
    ))
    .bind(id)
    .bind(channel)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound("call"))?;
    Ok(call_from_row(&row))
}

pub(super) async fn open_call(
    pool: &SqlitePool,
    channel: ChannelId,
    new: NewCall,
) -> Result<OpenedCall> {
    if new.medium == Medium::Chat {
        return Err(StoreError::Invalid("a chat cannot carry a call".into()));
    }
    let mut tx = begin_write(pool).await?;
    load_channel(&mut tx, channel).await?;
    let now = now_ms();
    let mut events = Vec::new();
    let existing = match (new.customer_id, new.customer_number.as_deref()) {
        (Some(id), _) => Some(load_customer(&mut tx, channel, id).await?.id),
        (None, Some(number)) => {
            sqlx::query_scalar(
                "SELECT customer_id FROM customer_phones WHERE channel_id = ? AND e164 = ?",
            )
            .bind(channel)
            .bind(number)
            .fetch_optional(&mut *tx)
            .await?
        }
        (None, None) => None,
    };
    let known_customer = existing.is_some();
    let customer_id = match existing {
        Some(id) => id,
        None => {
            // SPEC IN-6: an unknown caller becomes a lead carrying the number.
            let id = super::insert_lead(&mut tx, channel, now).await?;
            if let Some(number) = &new.customer_number {
                sqlx::query(
                    "INSERT INTO customer_phones (channel_id, e164, customer_id, mobile, position)
                     VALUES (?, ?, ?, ?, 0)",
                )
                .bind(channel)
                .bind(number)
                .bind(id)
                .bind(
                    denwa_core::E164::from_stored(number)
                        .map(|n| n.is_mobile())
                        .unwrap_or(false),
                )
                .execute(&mut *tx)
                .await?;
            }
            let customer = load_customer(&mut tx, channel, id).await?;
            events.push(
                insert_event(
                    &mut tx,
                    Some(channel),
                    None,
                    EventKind::CustomerCreated,
                    None,
                    json!({ "customer": customer }),
                )
                .await?,
            );
            id
        }
    };
    let chat_id: i64 = sqlx::query_scalar(
        "INSERT INTO chats (channel_id, customer_id, state, medium, source, assignee_id,
                            created_at, updated_at)
         VALUES (?, ?, 'opened', ?, 'phone', ?, ?, ?) RETURNING id",
    )
    .bind(channel)
    .bind(customer_id)
    .bind(new.medium.as_str())
    .bind(new.staff_id)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let call: i64 = sqlx::query_scalar(
        "INSERT INTO calls (channel_id, chat_id, direction, medium, customer_id, customer_number,
                            channel_number, staff_id, started_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(channel)
    .bind(chat_id)
    .bind(new.direction.as_str())
    .bind(new.medium.as_str())
    .bind(customer_id)
    .bind(&new.customer_number)
    .bind(&new.channel_number)
    .bind(new.staff_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    if new.direction == CallDirection::Outbound
        && let Some(staff) = new.staff_id
    {
        sqlx::query("INSERT INTO call_staff (call_id, staff_id, outcome) VALUES (?, ?, 'placed')")
            .bind(call)
            .bind(staff)
            .execute(&mut *tx)
            .await?;
    }
    let chat = load_chat(&mut tx, channel, chat_id).await?;
    events.push(
        insert_event(
            &mut tx,
            Some(channel),
            Some(chat_id),
            EventKind::ChatOpened,
            new.staff_id,
            json!({ "chat": chat, "call_record_id": call }),
        )
        .await?,
    );
    let customer = load_customer(&mut tx, channel, customer_id).await?;
    tx.commit().await?;
    Ok(OpenedCall {
        call,
        chat,
        customer,
        known_customer,
        events,
    })
}

fn staff_ids(v: &Value) -> Vec<StaffId> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

/// Closes a staff member's open stretch in the call (left, or the call ended).
async fn staff_left(
    conn: &mut SqliteConnection,
    call: CallRecordId,
    staff: Option<StaffId>,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE call_staff SET talk_ms = talk_ms + (? - last_joined_at), left_at = ?,
                last_joined_at = NULL
         WHERE call_id = ? AND last_joined_at IS NOT NULL AND (? IS NULL OR staff_id = ?)",
    )
    .bind(at)
    .bind(at)
    .bind(call)
    .bind(staff)
    .bind(staff)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn end_hold(conn: &mut SqliteConnection, call: CallRecordId, at: i64) -> Result<()> {
    sqlx::query(
        "UPDATE calls SET hold_ms = hold_ms + (? - hold_started_at), hold_started_at = NULL
         WHERE id = ? AND hold_started_at IS NOT NULL",
    )
    .bind(at)
    .bind(call)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Applies one event to the call's rows.
async fn project(
    conn: &mut SqliteConnection,
    call: &CallRecord,
    kind: EventKind,
    at: i64,
    data: &Value,
) -> Result<()> {
    let id = call.id;
    let staff = data.get("staff_id").and_then(Value::as_i64);
    match kind {
        EventKind::CallRinging => {
            // One statement for everyone rung: a call that rings 200 staff would otherwise
            // make 200 round trips to the database before its ring reaches the consoles.
            let rung = staff_ids(data.get("staff_ids").unwrap_or(&Value::Null));
            if !rung.is_empty() {
                sqlx::query(
                    "INSERT INTO call_staff (call_id, staff_id, rung_at)
                     SELECT ?, j.value, ? FROM json_each(?) AS j WHERE true
                     ON CONFLICT (call_id, staff_id) DO UPDATE
                     SET rung_at = COALESCE(rung_at, excluded.rung_at)",
                )
                .bind(id)
                .bind(at)
                .bind(serde_json::to_string(&rung).unwrap_or_else(|_| "[]".into()))
                .execute(&mut *conn)
                .await?;
            }
            if let Some(team) = data.get("team_id").and_then(Value::as_i64) {
                sqlx::query("UPDATE calls SET team_id = ? WHERE id = ?")
                    .bind(team)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        EventKind::CallInvited => {
            if let Some(s) = staff {
                sqlx::query(
                    "INSERT INTO call_staff (call_id, staff_id, rung_at, invited_by)
                     VALUES (?, ?, ?, ?)
                     ON CONFLICT (call_id, staff_id) DO UPDATE
                     SET rung_at = COALESCE(rung_at, excluded.rung_at),
                         invited_by = excluded.invited_by, outcome = NULL",
                )
                .bind(id)
                .bind(s)
                .bind(at)
                .bind(data.get("invited_by").and_then(Value::as_i64))
                .execute(&mut *conn)
                .await?;
            }
        }
        EventKind::CallDeclined | EventKind::CallInviteMissed => {
            let outcome = if kind == EventKind::CallDeclined {
                "declined"
            } else {
                "missed"
            };
            sqlx::query(
                "UPDATE call_staff SET outcome = ? WHERE call_id = ? AND staff_id = ?
                 AND joined_at IS NULL",
            )
            .bind(outcome)
            .bind(id)
            .bind(staff)
            .execute(&mut *conn)
            .await?;
        }
        EventKind::CallAnswered => {
            sqlx::query(
                "UPDATE calls SET answered_at = COALESCE(answered_at, ?),
                        staff_id = COALESCE(staff_id, ?) WHERE id = ?",
            )
            .bind(at)
            .bind(staff)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            if let Some(s) = staff {
                sqlx::query(
                    "INSERT INTO call_staff (call_id, staff_id, outcome) VALUES (?, ?, 'answered')
                     ON CONFLICT (call_id, staff_id) DO UPDATE SET outcome = 'answered'",
                )
                .bind(id)
                .bind(s)
                .execute(&mut *conn)
                .await?;
            }
        }
        EventKind::CallParticipantJoined => {
            if let Some(s) = staff {
                sqlx::query(
                    "INSERT INTO call_staff (call_id, staff_id, joined_at, last_joined_at, outcome)
                     VALUES (?, ?, ?, ?, 'joined')
                     ON CONFLICT (call_id, staff_id) DO UPDATE
                     SET joined_at = COALESCE(joined_at, excluded.joined_at),
                         last_joined_at = excluded.last_joined_at,
                         outcome = COALESCE(CASE WHEN outcome IN ('answered', 'placed')
                                                 THEN outcome END, 'joined')",
                )
                .bind(id)
                .bind(s)
                .bind(at)
                .bind(at)
                .execute(&mut *conn)
                .await?;
                if !call.participants.contains(&s) {
                    let mut p = call.participants.clone();
                    p.push(s);
                    sqlx::query("UPDATE calls SET participants = ? WHERE id = ?")
                        .bind(serde_json::to_string(&p).unwrap_or_else(|_| "[]".into()))
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                }
            }
        }
        EventKind::CallParticipantLeft if staff.is_some() => {
            staff_left(conn, id, staff, at).await?;
        }
        EventKind::CallHeld => {
            sqlx::query(
                "UPDATE calls SET hold_started_at = COALESCE(hold_started_at, ?) WHERE id = ?",
            )
            .bind(at)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
        EventKind::CallResumed => end_hold(conn, id, at).await?,
        EventKind::CallMissed => {
            sqlx::query("UPDATE calls SET outcome = 'missed', missed_reason = ? WHERE id = ?")
                .bind(data.get("missed_reason").and_then(Value::as_str))
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        EventKind::CallEnded => {
            end_hold(conn, id, at).await?;
            staff_left(conn, id, None, at).await?;
            // Anyone still ringing when the call ended missed it.
            sqlx::query(
                "UPDATE call_staff SET outcome = 'missed'
                 WHERE call_id = ? AND outcome IS NULL AND joined_at IS NULL",
            )
            .bind(id)
            .execute(&mut *conn)
            .await?;
            let outcome = data
                .get("outcome")
                .and_then(Value::as_str)
                .and_then(CallOutcome::parse)
                .map(CallOutcome::as_str);
            let answered = data.get("answered").and_then(Value::as_bool);
            sqlx::query(
                "UPDATE calls SET ended_at = ?, ended_by = ?, end_reason = ?,
                        missed_reason = COALESCE(missed_reason, ?),
                        outcome = COALESCE(?, outcome,
                            CASE WHEN ? = 1 OR (? IS NULL AND answered_at IS NOT NULL)
                                 THEN 'answered' ELSE 'missed' END)
                 WHERE id = ?",
            )
            .bind(at)
            .bind(data.get("ended_by").and_then(Value::as_str))
            .bind(data.get("reason").and_then(Value::as_str))
            .bind(data.get("missed_reason").and_then(Value::as_str))
            .bind(outcome)
            .bind(answered)
            .bind(answered)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            super::stats::call_ended(conn, id).await?;
        }
        _ => {}
    }
    Ok(())
}

pub(super) async fn record_call_event(
    pool: &SqlitePool,
    channel: ChannelId,
    call: CallRecordId,
    kind: EventKind,
    actor: Option<StaffId>,
    data: Value,
) -> Result<Event> {
    record_at(pool, channel, call, kind, actor, data, None).await
}

/// Stores the event; the projection takes `effective_at` (or the event's time).
async fn record_at(
    pool: &SqlitePool,
    channel: ChannelId,
    call: CallRecordId,
    kind: EventKind,
    actor: Option<StaffId>,
    data: Value,
    effective_at: Option<i64>,
) -> Result<Event> {
    let mut events =
        record_many(pool, channel, call, vec![(kind, actor, data)], effective_at).await?;
    events
        .pop()
        .ok_or_else(|| StoreError::Invalid("no event".into()))
}

/// Stores several events of one call in one transaction, in order (all or none).
pub(super) async fn record_many(
    pool: &SqlitePool,
    channel: ChannelId,
    call: CallRecordId,
    events: Vec<(EventKind, Option<StaffId>, Value)>,
    effective_at: Option<i64>,
) -> Result<Vec<Event>> {
    if let Some((kind, ..)) = events
        .iter()
        .find(|(k, ..)| !k.as_str().starts_with("call_"))
    {
        return Err(StoreError::Invalid(format!(
            "{} is not a call event",
            kind.as_str()
        )));
    }
    let mut tx = begin_write(pool).await?;
    let mut stored = Vec::with_capacity(events.len());
    for (kind, actor, mut data) in events {
        // Reloaded per event: the projection of the previous one may have changed it.
        let record = load_call(&mut tx, channel, call).await?;
        if record.ended_at.is_some() {
            return Err(StoreError::Conflict(format!("call {call} has ended")));
        }
        if let Some(obj) = data.as_object_mut() {
            obj.entry("call_record_id").or_insert(json!(call));
        }
        let event = insert_event(
            &mut tx,
            Some(channel),
            Some(record.chat_id),
            kind,
            actor,
            data,
        )
        .await?;
        let at = effective_at.unwrap_or_else(|| event.at.timestamp_millis());
        project(&mut tx, &record, kind, at, &event.data).await?;
        touch_chat(&mut tx, record.chat_id).await?;
        stored.push(event);
    }
    tx.commit().await?;
    Ok(stored)
}

/// Each member of the channel with their settings and SIP username, in one query.
pub(super) async fn ring_candidates(
    pool: &SqlitePool,
    channel: ChannelId,
) -> Result<Vec<(StaffId, Settings, Option<String>)>> {
    let rows = sqlx::query(
        "SELECT s.id, s.unassigned_call_notification, s.do_not_disturb, s.auto_mute_on_join,
                a.username
         FROM memberships m JOIN staff s ON s.id = m.staff_id
         LEFT JOIN sip_accounts a ON a.staff_id = s.id
         WHERE m.channel_id = ? ORDER BY s.id",
    )
    .bind(channel)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get("id"),
                Settings {
                    unassigned_call_notification: r.get::<i64, _>("unassigned_call_notification")
                        != 0,
                    do_not_disturb: r.get::<i64, _>("do_not_disturb") != 0,
                    auto_mute_on_join: r.get::<i64, _>("auto_mute_on_join") != 0,
                },
                r.get("username"),
            )
        })
        .collect())
}

pub(super) async fn heartbeat_live_calls(pool: &SqlitePool) -> Result<u64> {
    let done = sqlx::query("UPDATE calls SET alive_at = ? WHERE ended_at IS NULL")
        .bind(now_ms())
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

pub(super) async fn set_call_recording(
    pool: &SqlitePool,
    channel: ChannelId,
    call: CallRecordId,
    path: &str,
) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    let done = sqlx::query("UPDATE calls SET recording = ? WHERE id = ? AND channel_id = ?")
        .bind(path)
        .bind(call)
        .bind(channel)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("call"));
    }
    super::recordings::enqueue(&mut tx, channel, call).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn call_record(
    pool: &SqlitePool,
    channel: ChannelId,
    id: CallRecordId,
) -> Result<CallRecord> {
    let mut conn = pool.acquire().await?;
    load_call(&mut conn, channel, id).await
}

pub(super) async fn chat_calls(
    pool: &SqlitePool,
    channel: ChannelId,
    chat: ChatId,
) -> Result<Vec<CallRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE channel_id = ? AND chat_id = ? ORDER BY id"
    ))
    .bind(channel)
    .bind(chat)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(call_from_row).collect())
}

pub(super) async fn recent_calls(
    pool: &SqlitePool,
    channel: ChannelId,
    staff: StaffId,
    limit: u32,
) -> Result<Vec<CallRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {CALL_COLUMNS} FROM calls
         WHERE channel_id = ? AND customer_number IS NOT NULL
           AND id IN (SELECT call_id FROM call_staff WHERE staff_id = ?)
         ORDER BY started_at DESC, id DESC LIMIT ?"
    ))
    .bind(channel)
    .bind(staff)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(call_from_row).collect())
}

pub(super) async fn calls_between(
    pool: &SqlitePool,
    channel: ChannelId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<CallRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {CALL_COLUMNS} FROM calls
         WHERE channel_id = ? AND started_at >= ? AND started_at < ? ORDER BY started_at, id"
    ))
    .bind(channel)
    .bind(from.timestamp_millis())
    .bind(to.timestamp_millis())
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(call_from_row).collect())
}

pub(super) async fn call_staff(
    pool: &SqlitePool,
    channel: ChannelId,
    call: CallRecordId,
) -> Result<Vec<CallStaffRecord>> {
    let mut conn = pool.acquire().await?;
    load_call(&mut conn, channel, call).await?;
    let rows = sqlx::query(
        "SELECT call_id, staff_id, rung_at, invited_by, joined_at, left_at, talk_ms, outcome
         FROM call_staff WHERE call_id = ? ORDER BY COALESCE(joined_at, rung_at), staff_id",
    )
    .bind(call)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| CallStaffRecord {
            call_id: r.get("call_id"),
            staff_id: r.get("staff_id"),
            rung_at: r.get::<Option<i64>, _>("rung_at").map(to_dt),
            invited_by: r.get("invited_by"),
            joined_at: r.get::<Option<i64>, _>("joined_at").map(to_dt),
            left_at: r.get::<Option<i64>, _>("left_at").map(to_dt),
            talk_ms: r.get("talk_ms"),
            outcome: r.get("outcome"),
        })
        .collect())
}

pub(super) async fn end_interrupted_calls(pool: &SqlitePool, reason: &str) -> Result<Vec<Event>> {
    let live: Vec<(CallRecordId, ChannelId, Option<i64>)> = sqlx::query_as(
        "SELECT id, channel_id, alive_at FROM calls WHERE ended_at IS NULL ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    let mut events = Vec::new();
    for (id, channel, alive_at) in live {
        let record = call_record(pool, channel, id).await?;
        let answered = record.answered_at.is_some();
        // The process died at an unknown moment: the call's last heartbeat (or its last
        // known transition) is when it is taken to have ended.
        let started = record.started_at.timestamp_millis();
        let last_seen = [
            Some(started),
            alive_at,
            record.answered_at.map(|a| a.timestamp_millis()),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(started);
        let duration_ms = record
            .answered_at
            .map(|a| last_seen - a.timestamp_millis())
            .unwrap_or(0);
        let mut data = json!({
            "ended_by": "system",
            "reason": reason,
            "answered": answered,
            "duration_ms": duration_ms,
            "total_ms": last_seen - started,
            "last_seen_at": to_dt(last_seen),
        });
        if !answered {
            data["missed_reason"] = json!(MissedReason::NoOperator.as_str());
        }
        events.push(
            record_at(
                pool,
                channel,
                id,
                EventKind::CallEnded,
                None,
                data,
                Some(last_seen),
            )
            .await?,
        );
    }
    Ok(events)
}

pub(super) async fn routing(pool: &SqlitePool, channel: ChannelId) -> Result<RoutingConfig> {
    let mut conn = pool.acquire().await?;
    let raw: String = sqlx::query_scalar("SELECT routing FROM channels WHERE id = ?")
        .bind(channel)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("channel"))?;
    let mut config: RoutingConfig = serde_json::from_str(&raw)
        .map_err(|e| StoreError::Invalid(format!("stored routing of channel {channel}: {e}")))?;
    let hours: String = sqlx::query_scalar("SELECT business_hours FROM channels WHERE id = ?")
        .bind(channel)
        .fetch_one(&mut *conn)
        .await?;
    config.hours = serde_json::from_str(&hours).ok();
    config.teams = team_routes(&mut conn, channel).await?;
    Ok(config)
}

async fn team_routes(conn: &mut SqliteConnection, channel: ChannelId) -> Result<Vec<TeamRoute>> {
    let teams: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT t.id, m.staff_id FROM teams t JOIN team_members m ON m.team_id = t.id
         WHERE t.channel_id = ? ORDER BY t.id, m.staff_id",
    )
    .bind(channel)
    .fetch_all(&mut *conn)
    .await?;
    let mut routes: Vec<TeamRoute> = Vec::new();
    for (team, staff) in teams {
        match routes.last_mut() {
            Some(r) if r.id == team => r.members.push(staff),
            _ => routes.push(TeamRoute {
                id: team,
                members: vec![staff],
                hours: None,
            }),
        }
    }
    Ok(routes)
}

pub(super) async fn set_routing(
    pool: &SqlitePool,
    channel: ChannelId,
    mut config: RoutingConfig,
    actor: Option<StaffId>,
) -> Result<Event> {
    // Hours and teams are the channel's own; only the routing choices are stored.
    let mut tx = begin_write(pool).await?;
    load_channel(&mut tx, channel).await?;
    config.hours = None;
    config.teams = team_routes(&mut tx, channel).await?;
    config.validate()?;
    config.teams = Vec::new();
    if let RoutingMode::Workflow(rules) = &config.mode {
        for rule in rules {
            if let Some(team) = rule.team {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM teams WHERE id = ? AND channel_id = ?",
                )
                .bind(team)
                .bind(channel)
                .fetch_one(&mut *tx)
                .await?;
                if n == 0 {
                    return Err(StoreError::Invalid(format!(
                        "team {team} is not a team of this channel"
                    )));
                }
            }
            if let Some(staff) = rule.staff {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM memberships WHERE staff_id = ? AND channel_id = ?",
                )
                .bind(staff)
                .bind(channel)
                .fetch_one(&mut *tx)
                .await?;
                if n == 0 {
                    return Err(StoreError::Invalid(format!(
                        "staff {staff} is not a member of this channel"
                    )));
                }
            }
        }
    }
    let raw =
        serde_json::to_string(&config).map_err(|e| StoreError::Invalid(format!("routing: {e}")))?;
    sqlx::query("UPDATE channels SET routing = ? WHERE id = ?")
        .bind(&raw)
        .bind(channel)
        .execute(&mut *tx)
        .await?;
    let event = insert_event(
        &mut tx,
        Some(channel),
        None,
        EventKind::ChannelUpdated,
        actor,
        json!({ "routing": config }),
    )
    .await?;
    tx.commit().await?;
    Ok(event)
}

pub(super) async fn open_phone_chats(pool: &SqlitePool) -> Result<Vec<(StaffId, ChatId)>> {
    Ok(sqlx::query_as(
        "SELECT assignee_id, id FROM chats
         WHERE medium = 'phone' AND state = 'opened' AND assignee_id IS NOT NULL
           AND EXISTS (SELECT 1 FROM calls WHERE calls.chat_id = chats.id)",
    )
    .fetch_all(pool)
    .await?)
}

//! Statistics: the per-hour rollup of ended calls (`call_rollup`, `staff_rollup`), the
//! call rows of exports and the BI feed, and bulk import of call history.
//!
//! The rollup holds `denwa_core::stats::Tally` / `StaffTally` sums keyed by the local day
//! and hour of each call's start in the channel's time zone. It is kept in the same
//! transaction as the change that moves it: a call's `call_ended` event
//! ([`call_ended`]), its chat's first close after the end ([`chat_closed`], the wrap-up),
//! or an import. A channel whose time zone differs from the one its rollup was keyed in
//! (or that has none yet) is rebuilt from its call rows first ([`ensure_state`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use denwa_core::model::{
    CallDirection, CallRecord, CallStaffRecord, ChannelId, ChatId, StaffId, TeamId,
};
use denwa_core::stats::{
    CallField, CallFilter, CallHistory, CallRow, CmpOp, Dashboard, DashboardQuery, FilterValue,
    LocalSlot, StaffTally, Tally, build_dashboard, day_from_number, day_number, time_zone,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::calls::{CALL_COLUMNS, call_from_row};
use super::{begin_write, to_dt};
use crate::{CallRowQuery, Result, StoreError};

/// Rollup key of a call: local day number, hour, team (0 = none), staff (0 = none).
type SlotKey = (i64, u8, TeamId, StaffId);
/// Per-staff key: local day number, staff, team (0 = none).
type StaffKey = (i64, StaffId, TeamId);

/// Sums waiting to be added to the rollup tables.
#[derive(Default)]
struct Pending {
    slots: HashMap<SlotKey, Tally>,
    staff: HashMap<StaffKey, StaffTally>,
}

impl Pending {
    fn add_call(&mut self, tz: Tz, call: &CallRecord, staff: &[CallStaffRecord]) {
        let Some(t) = Tally::of_call(call, staff) else {
            return;
        };
        let slot = LocalSlot::of(tz, call.started_at);
        let day = day_number(slot.day);
        let team = call.team_id.unwrap_or(0);
        *self
            .slots
            .entry((day, slot.hour, team, call.staff_id.unwrap_or(0)))
            .or_default() += t;
        for (id, s) in StaffTally::of_call(call, staff) {
            *self.staff.entry((day, id, team)).or_default() += s;
        }
    }

    fn add_wrap_up(&mut self, tz: Tz, call: &CallRecord, closed: DateTime<Utc>) {
        let (Some(ended), slot) = (call.ended_at, LocalSlot::of(tz, call.started_at)) else {
            return;
        };
        if let Some(w) = Tally::wrap_up(ended, closed) {
            let key = (
                day_number(slot.day),
                slot.hour,
                call.team_id.unwrap_or(0),
                call.staff_id.unwrap_or(0),
            );
            *self.slots.entry(key).or_default() += w;
        }
    }

    async fn flush(self, conn: &mut SqliteConnection, channel: ChannelId) -> Result<()> {
        let slots: Vec<_> = self.slots.into_iter().collect();
        let fields = Tally::FIELDS;
        let set = fields
            .iter()
            .map(|f| format!("{f} = {f} + excluded.{f}"))
            .collect::<Vec<_>>()
            .join(", ");
        // 5 key columns + the sums per row, under SQLite's 32 766 bound variables.
        for chunk in slots.chunks(32_000 / (5 + fields.len())) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
                "INSERT INTO call_rollup (channel_id, day, hour, team_id, staff_id, {}) ",
                fields.join(", ")
            ));
            q.push_values(chunk, |mut b, ((day, hour, team, staff), t)| {
                b.push_bind(channel)
                    .push_bind(*day)
                    .push_bind(i64::from(*hour))
                    .push_bind(*team)
                    .push_bind(*staff);
                for v in t.values() {
                    b.push_bind(v);
                }
            });
            q.push(format!(
                " ON CONFLICT (channel_id, day, hour, team_id, staff_id) DO UPDATE SET {set}"
            ));
            q.build().execute(&mut *conn).await?;
        }
        let staff: Vec<_> = self.staff.into_iter().collect();
        let fields = StaffTally::FIELDS;
        let set = fields
            .iter()
            .map(|f| format!("{f} = {f} + excluded.{f}"))
            .collect::<Vec<_>>()
            .join(", ");
        for chunk in staff.chunks(32_000 / (4 + fields.len())) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
                "INSERT INTO staff_rollup (channel_id, day, staff_id, team_id, {}) ",
                fields.join(", ")
            ));
            q.push_values(chunk, |mut b, ((day, staff, team), t)| {
                b.push_bind(channel)
                    .push_bind(*day)
                    .push_bind(*staff)
                    .push_bind(*team);
                for v in t.values() {
                    b.push_bind(v);
                }
            });
            q.push(format!(
                " ON CONFLICT (channel_id, day, staff_id, team_id) DO UPDATE SET {set}"
            ));
            q.build().execute(&mut *conn).await?;
        }
        Ok(())
    }
}

async fn channel_tz(conn: &mut SqliteConnection, channel: ChannelId) -> Result<String> {
    sqlx::query_scalar("SELECT time_zone FROM channels WHERE id = ?")
        .bind(channel)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("channel"))
}

/// The time zone the channel's rollup is keyed in, rebuilding it first when the channel
/// has none yet or has moved to another zone. Call inside a write transaction.
pub(super) async fn ensure_state(conn: &mut SqliteConnection, channel: ChannelId) -> Result<Tz> {
    let wanted = channel_tz(conn, channel).await?;
    let have: Option<String> =
        sqlx::query_scalar("SELECT time_zone FROM stats_state WHERE channel_id = ?")
            .bind(channel)
            .fetch_optional(&mut *conn)
            .await?;
    let tz = time_zone(&wanted)?;
    if have.as_deref() != Some(wanted.as_str()) {
        rebuild(conn, channel, tz).await?;
    }
    Ok(tz)
}

/// Recomputes the channel's rollup from its call rows.
async fn rebuild(conn: &mut SqliteConnection, channel: ChannelId, tz: Tz) -> Result<()> {
    for table in ["call_rollup", "staff_rollup"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE channel_id = ?"))
            .bind(channel)
            .execute(&mut *conn)
            .await?;
    }
    let mut after = 0i64;
    loop {
        let rows = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS}, w.closed_at AS wrap_closed_at FROM calls
             LEFT JOIN call_wrap_up w ON w.call_id = calls.id
             WHERE channel_id = ? AND id > ? AND ended_at IS NOT NULL ORDER BY id LIMIT 20000"
        ))
        .bind(channel)
        .bind(after)
        .fetch_all(&mut *conn)
        .await?;
        let Some(last) = rows.last() else { break };
        let last_id: i64 = last.get("id");
        let staff = staff_rows(conn, channel, after, last_id).await?;
        let mut pending = Pending::default();
        for r in &rows {
            let call = call_from_row(r);
            let s = staff.get(&call.id).map(Vec::as_slice).unwrap_or(&[]);
            pending.add_call(tz, &call, s);
            if let Some(closed) = r.get::<Option<i64>, _>("wrap_closed_at") {
                pending.add_wrap_up(tz, &call, to_dt(closed));
            }
        }
        pending.flush(conn, channel).await?;
        after = last_id;
    }
    sqlx::query(
        "INSERT INTO stats_state (channel_id, time_zone) VALUES (?, ?)
         ON CONFLICT (channel_id) DO UPDATE SET time_zone = excluded.time_zone",
    )
    .bind(channel)
    .bind(tz.name())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Per-staff rows of the channel's calls with ids in `(after, last]`.
///
/// The unary `+` keeps SQLite off the `calls(channel_id, …)` index: with it the planner
/// walked every call of the channel to find one call's rows (5 ms at 16 000 calls, in
/// every call's ending transaction); the id range on `call_staff` finds them directly.
async fn staff_rows(
    conn: &mut SqliteConnection,
    channel: ChannelId,
    after: i64,
    last: i64,
) -> Result<HashMap<i64, Vec<CallStaffRecord>>> {
    let rows = sqlx::query(
        "SELECT s.call_id, s.staff_id, s.rung_at, s.invited_by, s.joined_at, s.left_at,
                s.talk_ms, s.outcome
         FROM call_staff s JOIN calls c ON c.id = s.call_id
         WHERE +c.channel_id = ? AND s.call_id > ? AND s.call_id <= ?",
    )
    .bind(channel)
    .bind(after)
    .bind(last)
    .fetch_all(&mut *conn)
    .await?;
    let mut map: HashMap<i64, Vec<CallStaffRecord>> = HashMap::new();
    for r in rows {
        let rec = CallStaffRecord {
            call_id: r.get("call_id"),
            staff_id: r.get("staff_id"),
            rung_at: r.get::<Option<i64>, _>("rung_at").map(to_dt),
            invited_by: r.get("invited_by"),
            joined_at: r.get::<Option<i64>, _>("joined_at").map(to_dt),
            left_at: r.get::<Option<i64>, _>("left_at").map(to_dt),
            talk_ms: r.get("talk_ms"),
            outcome: r.get("outcome"),
        };
        map.entry(rec.call_id).or_default().push(rec);
    }
    Ok(map)
}

/// Adds a call that just ended to the rollup (from the `call_ended` projection, in its
/// transaction, after the call's row was updated).
pub(super) async fn call_ended(conn: &mut SqliteConnection, call: i64) -> Result<()> {
    let row = sqlx::query(&format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = ?"))
        .bind(call)
        .fetch_one(&mut *conn)
        .await?;
    let record = call_from_row(&row);
    let had_state: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM stats_state WHERE channel_id = ?
                        AND time_zone = (SELECT time_zone FROM channels WHERE id = ?))",
    )
    .bind(record.channel_id)
    .bind(record.channel_id)
    .fetch_one(&mut *conn)
    .await?;
    let tz = ensure_state(conn, record.channel_id).await?;
    if !had_state {
        // The rebuild just counted this call from its row.
        return Ok(());
    }
    let staff = staff_rows(conn, record.channel_id, call - 1, call).await?;
    let mut pending = Pending::default();
    pending.add_call(
        tz,
        &record,
        staff.get(&call).map(Vec::as_slice).unwrap_or(&[]),
    );
    pending.flush(conn, record.channel_id).await
}

/// A chat was closed at `at` (ms): each of its ended calls without a wrap-up gets one.
pub(super) async fn chat_closed(conn: &mut SqliteConnection, chat: ChatId, at: i64) -> Result<()> {
    let rows = sqlx::query(&format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE chat_id = ? AND ended_at IS NOT NULL
         AND ended_at <= ? AND id NOT IN (SELECT call_id FROM call_wrap_up)"
    ))
    .bind(chat)
    .bind(at)
    .fetch_all(&mut *conn)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let channel: ChannelId = first.get("channel_id");
    let tz = ensure_state(conn, channel).await?;
    let mut pending = Pending::default();
    for r in &rows {
        let call = call_from_row(r);
        sqlx::query("INSERT INTO call_wrap_up (call_id, closed_at) VALUES (?, ?)")
            .bind(call.id)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        pending.add_wrap_up(tz, &call, to_dt(at));
    }
    pending.flush(conn, channel).await
}

pub(super) async fn dashboard(
    pool: &SqlitePool,
    channel: ChannelId,
    q: DashboardQuery,
) -> Result<Dashboard> {
    q.check()?;
    let mut conn = pool.acquire().await?;
    let tz_name = channel_tz(&mut conn, channel).await?;
    let current: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM stats_state WHERE channel_id = ? AND time_zone = ?)",
    )
    .bind(channel)
    .bind(&tz_name)
    .fetch_one(&mut *conn)
    .await?;
    drop(conn);
    if !current {
        let mut tx = begin_write(pool).await?;
        ensure_state(&mut tx, channel).await?;
        tx.commit().await?;
    }
    let (from, to) = (day_number(q.from), day_number(q.to));
    let sums = |fields: &[&str]| {
        fields
            .iter()
            .map(|f| format!("SUM({f})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut filter = String::new();
    if q.team.is_some() {
        filter.push_str(" AND team_id = ?");
    }
    if q.staff.is_some() {
        filter.push_str(" AND staff_id = ?");
    }
    let sql = format!(
        "SELECT day, hour, {} FROM call_rollup
         WHERE channel_id = ? AND day BETWEEN ? AND ?{filter} GROUP BY day, hour",
        sums(Tally::FIELDS)
    );
    let mut query = sqlx::query(&sql).bind(channel).bind(from).bind(to);
    if let Some(t) = q.team {
        query = query.bind(t);
    }
    if let Some(s) = q.staff {
        query = query.bind(s);
    }
    let rows = query.fetch_all(pool).await?;
    let slots = rows.iter().map(|r| {
        let values: Vec<i64> = (2..2 + Tally::FIELDS.len())
            .map(|i| r.get::<i64, _>(i))
            .collect();
        let slot = LocalSlot {
            day: day_from_number(r.get("day")),
            hour: u8::try_from(r.get::<i64, _>("hour")).unwrap_or(0),
        };
        (slot, Tally::from_values(&values))
    });
    let sql = format!(
        "SELECT staff_id, {} FROM staff_rollup
         WHERE channel_id = ? AND day BETWEEN ? AND ?{filter} GROUP BY staff_id",
        sums(StaffTally::FIELDS)
    );
    let mut query = sqlx::query(&sql).bind(channel).bind(from).bind(to);
    if let Some(t) = q.team {
        query = query.bind(t);
    }
    if let Some(s) = q.staff {
        query = query.bind(s);
    }
    let staff_rows = query.fetch_all(pool).await?;
    let staff = staff_rows.iter().map(|r| {
        let values: Vec<i64> = (1..1 + StaffTally::FIELDS.len())
            .map(|i| r.get::<i64, _>(i))
            .collect();
        (
            r.get::<i64, _>("staff_id"),
            StaffTally::from_values(&values),
        )
    });
    Ok(build_dashboard(&q, &tz_name, slots, staff))
}

fn field_sql(f: CallField) -> &'static str {
    match f {
        CallField::CallId => "c.id",
        CallField::ChatId => "c.chat_id",
        CallField::Direction => "c.direction",
        CallField::Medium => "c.medium",
        CallField::CustomerNumber => "c.customer_number",
        CallField::ChannelNumber => "c.channel_number",
        CallField::CustomerId => "c.customer_id",
        CallField::AssigneeId => "ch.assignee_id",
        CallField::TeamId => "c.team_id",
        CallField::StaffId => "c.staff_id",
        CallField::StartedAt => "c.started_at",
        CallField::AnsweredAt => "c.answered_at",
        CallField::EndedAt => "c.ended_at",
        CallField::RingingMs => "(COALESCE(c.answered_at, c.ended_at) - c.started_at)",
        CallField::TalkMs => "(c.ended_at - c.answered_at)",
        CallField::HoldMs => "c.hold_ms",
        CallField::Outcome => "c.outcome",
        CallField::MissedReason => "c.missed_reason",
    }
}

fn push_filter(q: &mut QueryBuilder<'_, Sqlite>, f: &CallFilter) -> Result<()> {
    let col = field_sql(f.field);
    let op = match f.op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "<>",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
    };
    match &f.value {
        FilterValue::Null => match f.op {
            CmpOp::Eq => {
                q.push(format!(" AND {col} IS NULL"));
            }
            CmpOp::Ne => {
                q.push(format!(" AND {col} IS NOT NULL"));
            }
            _ => {
                return Err(StoreError::Invalid(
                    "null can only be compared with eq or ne".into(),
                ));
            }
        },
        FilterValue::Int(v) => {
            q.push(format!(" AND {col} {op} ")).push_bind(*v);
        }
        FilterValue::Time(t) => {
            q.push(format!(" AND {col} {op} "))
                .push_bind(t.timestamp_millis());
        }
        FilterValue::Text(s) => {
            // `ne` keeps rows where the column is null, as OData's comparison does.
            if f.op == CmpOp::Ne {
                q.push(format!(" AND ({col} IS NULL OR {col} <> "))
                    .push_bind(s.clone())
                    .push(")");
            } else {
                q.push(format!(" AND {col} {op} ")).push_bind(s.clone());
            }
        }
    }
    Ok(())
}

pub(super) async fn call_rows(
    pool: &SqlitePool,
    channel: ChannelId,
    rq: &CallRowQuery,
) -> Result<Vec<CallRow>> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT c.id, c.chat_id, c.direction, c.medium, c.customer_number, c.channel_number,
                c.customer_id, cu.name AS customer_name, ch.assignee_id, sa.name AS assignee_name,
                c.team_id, t.name AS team_name, c.staff_id,
                (SELECT group_concat(tag, char(31)) FROM chat_tags WHERE chat_id = c.chat_id)
                    AS tags,
                c.started_at, c.answered_at, c.ended_at, c.hold_ms, c.participants, c.outcome,
                c.missed_reason, w.closed_at AS wrap_closed_at, c.recording
         FROM calls c JOIN chats ch ON ch.id = c.chat_id
         LEFT JOIN customers cu ON cu.id = c.customer_id
         LEFT JOIN staff sa ON sa.id = ch.assignee_id
         LEFT JOIN teams t ON t.id = c.team_id
         LEFT JOIN call_wrap_up w ON w.call_id = c.id
         WHERE c.channel_id = ",
    );
    q.push_bind(channel)
        .push(" AND c.started_at >= ")
        .push_bind(rq.from.timestamp_millis())
        .push(" AND c.started_at < ")
        .push_bind(rq.to.timestamp_millis());
    for f in &rq.filters {
        push_filter(&mut q, f)?;
    }
    if let Some((at, id)) = rq.after {
        q.push(" AND (c.started_at, c.id) > (")
            .push_bind(at.timestamp_millis())
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY c.started_at, c.id LIMIT ")
        .push_bind(i64::from(rq.limit))
        .push(" OFFSET ")
        .push_bind(i64::try_from(rq.offset).unwrap_or(i64::MAX));
    let rows = q.build().fetch_all(pool).await?;
    let names: HashMap<i64, String> = sqlx::query_as(
        "SELECT s.id, s.name FROM staff s JOIN memberships m ON m.staff_id = s.id
         WHERE m.channel_id = ?",
    )
    .bind(channel)
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    Ok(rows
        .iter()
        .map(|r| {
            let started: i64 = r.get("started_at");
            let answered: Option<i64> = r.get("answered_at");
            let ended: Option<i64> = r.get("ended_at");
            let direction = CallDirection::parse(r.get::<String, _>("direction").as_str())
                .unwrap_or(CallDirection::Inbound);
            let outcome = r
                .get::<Option<String>, _>("outcome")
                .and_then(|s| denwa_core::model::CallOutcome::parse(&s));
            let participants: Vec<i64> =
                serde_json::from_str(r.get::<String, _>("participants").as_str())
                    .unwrap_or_default();
            let wrap: Option<i64> = r.get("wrap_closed_at");
            CallRow {
                call_id: r.get("id"),
                chat_id: r.get("chat_id"),
                direction,
                medium: r.get("medium"),
                customer_number: r.get("customer_number"),
                channel_number: r.get("channel_number"),
                customer_id: r.get("customer_id"),
                customer_name: r.get("customer_name"),
                assignee_id: r.get("assignee_id"),
                assignee_name: r.get("assignee_name"),
                team_id: r.get("team_id"),
                team_name: r.get("team_name"),
                staff_id: r.get("staff_id"),
                tags: r
                    .get::<Option<String>, _>("tags")
                    .map(|t| t.split('\u{1f}').map(str::to_owned).collect())
                    .unwrap_or_default(),
                started_at: to_dt(started),
                answered_at: answered.map(to_dt),
                ended_at: ended.map(to_dt),
                ringing_ms: answered.or(ended).map(|a| (a - started).max(0)),
                talk_ms: match (answered, ended) {
                    (Some(a), Some(e)) => Some((e - a).max(0)),
                    _ => None,
                },
                hold_ms: r.get("hold_ms"),
                participants: participants
                    .iter()
                    .map(|id| names.get(id).cloned().unwrap_or_else(|| format!("#{id}")))
                    .collect(),
                outcome,
                missed_reason: r
                    .get::<Option<String>, _>("missed_reason")
                    .and_then(|s| denwa_core::model::MissedReason::parse(&s)),
                first_response_ms: match (direction, answered) {
                    (CallDirection::Inbound, Some(a))
                        if outcome == Some(denwa_core::model::CallOutcome::Answered) =>
                    {
                        Some((a - started).max(0))
                    }
                    _ => None,
                },
                wrap_up_ms: match (ended, wrap) {
                    (Some(e), Some(w)) => Some((w - e).max(0)),
                    _ => None,
                },
                recording: r.get("recording"),
            }
        })
        .collect())
}

/// Bulk import of ended calls (synthetic history for demos and benchmarks): chats,
/// customers for unseen numbers, call rows, per-staff rows, wrap-ups and the rollup, in
/// one transaction with multi-row inserts. No events are written.
pub(super) async fn import_calls(
    pool: &SqlitePool,
    channel: ChannelId,
    calls: &[CallHistory],
) -> Result<u64> {
    let mut tx = begin_write(pool).await?;
    let tz = ensure_state(&mut tx, channel).await?;
    let now = super::now_ms();
    // Customers by number: existing ones, then leads for the numbers not seen yet.
    let mut customers: HashMap<String, i64> =
        sqlx::query_as("SELECT e164, customer_id FROM customer_phones WHERE channel_id = ?")
            .bind(channel)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    let mut new_numbers: Vec<&str> = Vec::new();
    for c in calls {
        if c.call.ended_at.is_none() || c.call.channel_id != channel {
            return Err(StoreError::Invalid(
                "only ended calls of the channel can be imported".into(),
            ));
        }
        if let Some(n) = c.call.customer_number.as_deref()
            && !customers.contains_key(n)
            && !new_numbers.contains(&n)
        {
            new_numbers.push(n);
        }
    }
    let mut customer_id = next_id(&mut tx, "customers").await?;
    for chunk in new_numbers.chunks(4000) {
        let ids: Vec<(i64, &str)> = chunk
            .iter()
            .enumerate()
            .map(|(i, n)| (customer_id + i as i64, *n))
            .collect();
        customer_id += ids.len() as i64;
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO customers (id, channel_id, name, kind, created_at, updated_at) ",
        );
        q.push_values(&ids, |mut b, (id, _)| {
            b.push_bind(*id)
                .push_bind(channel)
                .push_bind("")
                .push_bind("lead")
                .push_bind(now)
                .push_bind(now);
        });
        q.build().execute(&mut *tx).await?;
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO customer_phones (channel_id, e164, customer_id, mobile, position) ",
        );
        q.push_values(&ids, |mut b, (id, n)| {
            b.push_bind(channel)
                .push_bind(*n)
                .push_bind(*id)
                .push_bind(
                    n.starts_with("+8190") || n.starts_with("+8180") || n.starts_with("+8170"),
                )
                .push_bind(0i64);
        });
        q.build().execute(&mut *tx).await?;
        for (id, n) in ids {
            customers.insert(n.to_owned(), id);
        }
    }
    let first_chat = next_id(&mut tx, "chats").await?;
    let first_call = next_id(&mut tx, "calls").await?;
    let mut pending = Pending::default();
    let ms = |t: DateTime<Utc>| t.timestamp_millis();
    let mut renumbered: Vec<CallHistory> = Vec::with_capacity(calls.len());
    for (i, h) in calls.iter().enumerate() {
        let mut h = h.clone();
        h.call.id = first_call + i as i64;
        h.call.chat_id = first_chat + i as i64;
        h.call.customer_id = h
            .call
            .customer_number
            .as_deref()
            .and_then(|n| customers.get(n).copied())
            .or(h.call.customer_id);
        for s in &mut h.staff {
            s.call_id = h.call.id;
        }
        pending.add_call(tz, &h.call, &h.staff);
        if let (Some(closed), Some(_)) = (h.chat_closed_at, h.call.ended_at) {
            pending.add_wrap_up(tz, &h.call, closed);
        }
        renumbered.push(h);
    }
    // A chat needs a customer: a withheld number gets one anonymous lead per import.
    let anonymous = if renumbered.iter().any(|h| h.call.customer_id.is_none()) {
        let id = super::insert_lead(&mut tx, channel, now).await?;
        Some(id)
    } else {
        None
    };
    // 20 columns per call row: 1500 rows stay under SQLite's 32 766 variables.
    for chunk in renumbered.chunks(1500) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO chats (id, channel_id, customer_id, state, medium, source, assignee_id,
                                team_id, preview, created_at, updated_at, closed_at) ",
        );
        q.push_values(chunk, |mut b, h| {
            let c = &h.call;
            let end = c.ended_at.map(ms).unwrap_or(ms(c.started_at));
            b.push_bind(c.chat_id)
                .push_bind(channel)
                .push_bind(c.customer_id.or(anonymous))
                .push_bind(if h.chat_closed_at.is_some() {
                    "closed"
                } else {
                    "opened"
                })
                .push_bind(c.medium.as_str())
                .push_bind("phone")
                .push_bind(c.staff_id)
                .push_bind(c.team_id)
                .push_bind(Option::<String>::None)
                .push_bind(ms(c.started_at))
                .push_bind(h.chat_closed_at.map(ms).unwrap_or(end))
                .push_bind(h.chat_closed_at.map(ms));
        });
        q.build().execute(&mut *tx).await?;
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO calls (id, channel_id, chat_id, direction, medium, customer_id,
                customer_number, channel_number, team_id, staff_id, started_at, answered_at,
                ended_at, hold_ms, participants, outcome, missed_reason, ended_by, end_reason,
                recording) ",
        );
        q.push_values(chunk, |mut b, h| {
            let c = &h.call;
            b.push_bind(c.id)
                .push_bind(channel)
                .push_bind(c.chat_id)
                .push_bind(c.direction.as_str())
                .push_bind(c.medium.as_str())
                .push_bind(c.customer_id.or(anonymous))
                .push_bind(c.customer_number.clone())
                .push_bind(c.channel_number.clone())
                .push_bind(c.team_id)
                .push_bind(c.staff_id)
                .push_bind(ms(c.started_at))
                .push_bind(c.answered_at.map(ms))
                .push_bind(c.ended_at.map(ms))
                .push_bind(c.hold_ms)
                .push_bind(serde_json::to_string(&c.participants).unwrap_or_else(|_| "[]".into()))
                .push_bind(c.outcome.map(|o| o.as_str()))
                .push_bind(c.missed_reason.map(|m| m.as_str()))
                .push_bind(c.ended_by.clone())
                .push_bind(c.end_reason.clone())
                .push_bind(c.recording.clone());
        });
        q.build().execute(&mut *tx).await?;
        let staff: Vec<&CallStaffRecord> = chunk.iter().flat_map(|h| h.staff.iter()).collect();
        for part in staff.chunks(3000) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO call_staff (call_id, staff_id, rung_at, invited_by, joined_at,
                                         left_at, talk_ms, outcome) ",
            );
            q.push_values(part, |mut b, s| {
                b.push_bind(s.call_id)
                    .push_bind(s.staff_id)
                    .push_bind(s.rung_at.map(ms))
                    .push_bind(s.invited_by)
                    .push_bind(s.joined_at.map(ms))
                    .push_bind(s.left_at.map(ms))
                    .push_bind(s.talk_ms)
                    .push_bind(s.outcome.clone());
            });
            q.build().execute(&mut *tx).await?;
        }
        let wraps: Vec<(i64, i64)> = chunk
            .iter()
            .filter_map(|h| {
                let closed = h.chat_closed_at?;
                (closed >= h.call.ended_at?).then(|| (h.call.id, ms(closed)))
            })
            .collect();
        for part in wraps.chunks(10_000) {
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO call_wrap_up (call_id, closed_at) ");
            q.push_values(part, |mut b, (id, at)| {
                b.push_bind(*id).push_bind(*at);
            });
            q.build().execute(&mut *tx).await?;
        }
    }
    pending.flush(&mut tx, channel).await?;
    tx.commit().await?;
    Ok(calls.len() as u64)
}

/// The id after the largest in `table` (a constant table name).
async fn next_id(conn: &mut SqliteConnection, table: &'static str) -> Result<i64> {
    let sql = format!("SELECT COALESCE(MAX(id), 0) + 1 FROM {table}");
    Ok(sqlx::query_scalar(&sql).fetch_one(&mut *conn).await?)
}

//! The embedded default: SQLite through sqlx, WAL journal, migrations at open.

mod calls;
mod contacts;
mod recordings;
mod search;
mod stats;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use denwa_core::model::{
    ApiKey, ApiKeyId, CallRecord, CallRecordId, CallStaffRecord, Channel, ChannelId, ChatId,
    ChatState, ChatSummary, Customer, CustomerBrief, CustomerId, CustomerKind, Medium, Member,
    Message, MessageKind, Phone, Role, Settings, Staff, StaffId, Team, TeamId, locale_for_region,
    preview,
};
use denwa_core::routing::RoutingConfig;
use denwa_core::trunk::{SourceRule, Trunk, TrunkId, TrunkSecrets, TrunkTransport, check_proxy};
use denwa_core::{BusinessHours, E164, Event, EventKind, Region};
use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};

use crate::secret::{hash_password, random_token, token_digest, verify_password};
use crate::{
    ChannelPatch, ChatCursor, ChatFilter, ChatPage, CustomerInput, Membership, NewCall, NewChannel,
    NewChat, OpenedCall, Result, SettingsPatch, SipAccount, Store, StoreError, TrunkInput,
};

/// Longest text accepted for a message or note (characters).
const MAX_BODY: usize = 10_000;
/// Longest name accepted for a customer, team, tag or channel (characters).
const MAX_NAME: usize = 200;

/// The SQLite store. Cheap to clone (a connection pool).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Stops the WAL checkpointer when the last clone is dropped.
    _checkpointer: Option<Arc<tokio::sync::oneshot::Sender<()>>>,
}

/// How often the background task copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] on a pool connection until the pool is
/// closed or the store dropped. SQLite's own automatic checkpoint runs inside whichever
/// commit crosses 1000 WAL pages and syncs the disk there: a call's ring waited 75 ms
/// behind one. A passive checkpoint never blocks writers or readers.
fn spawn_checkpointer(
    runtime: &tokio::runtime::Handle,
    pool: SqlitePool,
) -> Arc<tokio::sync::oneshot::Sender<()>> {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = tick.tick() => {}
            }
            if pool.is_closed() {
                break;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
                && !pool.is_closed()
            {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
        }
    });
    Arc::new(stop)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let mut options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // Outside a runtime (nothing to run the checkpointer on) SQLite keeps its own.
        let runtime = tokio::runtime::Handle::try_current().ok();
        if runtime.is_some() {
            // Checkpoints run in the background (`spawn_checkpointer`), not in commits.
            options = options.pragma("wal_autocheckpoint", "0");
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let checkpointer = runtime.map(|rt| spawn_checkpointer(&rt, pool.clone()));
        Ok(SqliteStore {
            pool,
            _checkpointer: checkpointer,
        })
    }

    /// Whether the database has no channel yet (a fresh data dir).
    pub async fn is_empty(&self) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM channels")
            .fetch_one(&self.pool)
            .await?;
        Ok(n == 0)
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn to_dt(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn check_name(what: &str, name: &str, allow_empty: bool) -> Result<String> {
    let name = name.trim();
    if name.is_empty() && !allow_empty {
        return Err(StoreError::Invalid(format!("{what} must not be empty")));
    }
    if name.chars().count() > MAX_NAME {
        return Err(StoreError::Invalid(format!(
            "{what} is longer than {MAX_NAME} characters"
        )));
    }
    Ok(name.to_owned())
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

async fn insert_event(
    conn: &mut SqliteConnection,
    channel: Option<ChannelId>,
    chat: Option<ChatId>,
    kind: EventKind,
    actor: Option<StaffId>,
    data: Value,
) -> Result<Event> {
    let at = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO events (channel_id, chat_id, kind, actor_staff_id, at, data)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(channel)
    .bind(chat)
    .bind(kind.as_str())
    .bind(actor)
    .bind(at)
    .bind(data.to_string())
    .fetch_one(&mut *conn)
    .await?;
    Ok(Event {
        id,
        channel_id: channel,
        chat_id: chat,
        kind,
        actor_staff_id: actor,
        at: to_dt(at),
        data,
    })
}

/// Starts a write transaction holding the write lock from its first statement.
///
/// A deferred transaction that reads and then writes cannot wait for another writer in
/// WAL mode: SQLite answers `SQLITE_BUSY` at once instead of calling the busy handler
/// (the snapshot would be stale). `BEGIN IMMEDIATE` takes the lock up front, so
/// concurrent writers queue on `busy_timeout` instead of failing.
async fn begin_write(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

/// Stores an event in the transaction and commits both: every change and its event land
/// together or not at all.
async fn commit_with_event(
    mut tx: sqlx::Transaction<'_, sqlx::Sqlite>,
    channel: Option<ChannelId>,
    chat: Option<ChatId>,
    kind: EventKind,
    actor: Option<StaffId>,
    data: Value,
) -> Result<Event> {
    let event = insert_event(&mut tx, channel, chat, kind, actor, data).await?;
    tx.commit().await?;
    Ok(event)
}

/// Channel-owned rows that are deleted by id.
#[derive(Clone, Copy)]
enum Scoped {
    Team,
    Trunk,
}

/// Deletes a row of the channel and records the event; another channel's id is not found.
async fn delete_in_channel(
    pool: &SqlitePool,
    what: Scoped,
    channel: ChannelId,
    id: i64,
    kind: EventKind,
    actor: Option<StaffId>,
    data: Value,
) -> Result<Event> {
    let (sql, name) = match what {
        Scoped::Team => ("DELETE FROM teams WHERE id = ? AND channel_id = ?", "team"),
        Scoped::Trunk => (
            "DELETE FROM trunks WHERE id = ? AND channel_id = ?",
            "trunk",
        ),
    };
    let mut tx = begin_write(pool).await?;
    let n = sqlx::query(sql)
        .bind(id)
        .bind(channel)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(name));
    }
    commit_with_event(tx, Some(channel), None, kind, actor, data).await
}

fn event_from_row(row: &sqlx::sqlite::SqliteRow) -> Option<Event> {
    let kind = EventKind::parse(row.get::<String, _>("kind").as_str())?;
    let data = serde_json::from_str(row.get::<String, _>("data").as_str()).ok()?;
    Some(Event {
        id: row.get("id"),
        channel_id: row.get("channel_id"),
        chat_id: row.get("chat_id"),
        kind,
        actor_staff_id: row.get("actor_staff_id"),
        at: to_dt(row.get("at")),
        data,
    })
}

async fn load_channel(conn: &mut SqliteConnection, id: ChannelId) -> Result<Channel> {
    let row = sqlx::query(
        "SELECT id, name, region, time_zone, ring_profile_fields, echo_number, locale FROM channels WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound("channel"))?;
    let numbers: Vec<String> =
        sqlx::query_scalar("SELECT e164 FROM channel_numbers WHERE channel_id = ? ORDER BY e164")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    let region: String = row.get("region");
    Ok(Channel {
        id,
        name: row.get("name"),
        locale: row
            .get::<Option<String>, _>("locale")
            .unwrap_or_else(|| locale_for_region(&region).to_owned()),
        region,
        time_zone: row.get("time_zone"),
        ring_profile_fields: serde_json::from_str(
            row.get::<String, _>("ring_profile_fields").as_str(),
        )
        .unwrap_or_default(),
        phone_numbers: numbers,
        echo_number: row.get("echo_number"),
    })
}

async fn channel_region(conn: &mut SqliteConnection, id: ChannelId) -> Result<Region> {
    let region: String = sqlx::query_scalar("SELECT region FROM channels WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("channel"))?;
    Ok(Region::from_str(&region)?)
}

async fn load_phones(
    conn: &mut SqliteConnection,
    customer: CustomerId,
    region: Region,
) -> Result<Vec<Phone>> {
    let rows = sqlx::query(
        "SELECT e164, mobile FROM customer_phones WHERE customer_id = ? ORDER BY position",
    )
    .bind(customer)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let number: String = r.get("e164");
            let display = E164::from_stored(&number)
                .map(|n| n.display(region))
                .unwrap_or_else(|| number.clone());
            Phone {
                number,
                display,
                mobile: r.get::<i64, _>("mobile") != 0,
            }
        })
        .collect())
}

async fn load_customer(
    conn: &mut SqliteConnection,
    channel: ChannelId,
    id: CustomerId,
) -> Result<Customer> {
    let region = channel_region(conn, channel).await?;
    let row = sqlx::query(
        "SELECT id, name, kind, blocked, profile, created_at, updated_at
         FROM customers WHERE id = ? AND channel_id = ?",
    )
    .bind(id)
    .bind(channel)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound("customer"))?;
    let phones = load_phones(conn, id, region).await?;
    Ok(Customer {
        id,
        name: row.get("name"),
        kind: CustomerKind::parse(row.get::<String, _>("kind").as_str())
            .unwrap_or(CustomerKind::Lead),
        blocked: row.get::<i64, _>("blocked") != 0,
        phones,
        profile: serde_json::from_str(row.get::<String, _>("profile").as_str()).unwrap_or_default(),
        created_at: to_dt(row.get("created_at")),
        updated_at: to_dt(row.get("updated_at")),
    })
}

async fn load_chat(
    conn: &mut SqliteConnection,
    channel: ChannelId,
    id: ChatId,
) -> Result<ChatSummary> {
    let row = sqlx::query(
        "SELECT c.id, c.state, c.medium, c.source, c.customer_id, c.assignee_id, c.team_id,
                c.snoozed_until, c.preview, c.created_at, c.updated_at,
                cu.name AS customer_name, cu.kind AS customer_kind
         FROM chats c JOIN customers cu ON cu.id = c.customer_id
         WHERE c.id = ? AND c.channel_id = ?",
    )
    .bind(id)
    .bind(channel)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound("chat"))?;
    let region = channel_region(conn, channel).await?;
    let customer_id: CustomerId = row.get("customer_id");
    let phones = load_phones(conn, customer_id, region).await?;
    let tags: Vec<String> =
        sqlx::query_scalar("SELECT tag FROM chat_tags WHERE chat_id = ? ORDER BY tag")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(ChatSummary {
        id,
        channel_id: channel,
        state: ChatState::parse(row.get::<String, _>("state").as_str())
            .unwrap_or(ChatState::Opened),
        medium: Medium::parse(row.get::<String, _>("medium").as_str()).unwrap_or(Medium::Chat),
        source: row.get("source"),
        customer: CustomerBrief {
            id: customer_id,
            name: row.get("customer_name"),
            kind: CustomerKind::parse(row.get::<String, _>("customer_kind").as_str())
                .unwrap_or(CustomerKind::Lead),
            phones,
        },
        assignee_id: row.get("assignee_id"),
        team_id: row.get("team_id"),
        tags,
        snoozed_until: row.get::<Option<i64>, _>("snoozed_until").map(to_dt),
        created_at: to_dt(row.get("created_at")),
        updated_at: to_dt(row.get("updated_at")),
        preview: row.get("preview"),
    })
}

async fn load_team(conn: &mut SqliteConnection, channel: ChannelId, id: TeamId) -> Result<Team> {
    let name: String = sqlx::query_scalar("SELECT name FROM teams WHERE id = ? AND channel_id = ?")
        .bind(id)
        .bind(channel)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("team"))?;
    let member_ids: Vec<StaffId> =
        sqlx::query_scalar("SELECT staff_id FROM team_members WHERE team_id = ? ORDER BY staff_id")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(Team {
        id,
        name,
        member_ids,
    })
}

async fn is_member(
    conn: &mut SqliteConnection,
    channel: ChannelId,
    staff: StaffId,
) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships WHERE channel_id = ? AND staff_id = ?",
    )
    .bind(channel)
    .bind(staff)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

async fn set_team_members(
    conn: &mut SqliteConnection,
    channel: ChannelId,
    team: TeamId,
    members: &[StaffId],
) -> Result<()> {
    for m in members {
        if !is_member(conn, channel, *m).await? {
            return Err(StoreError::Invalid(format!(
                "staff {m} is not a member of this channel"
            )));
        }
    }
    sqlx::query("DELETE FROM team_members WHERE team_id = ?")
        .bind(team)
        .execute(&mut *conn)
        .await?;
    for m in members {
        sqlx::query("INSERT OR IGNORE INTO team_members (team_id, staff_id) VALUES (?, ?)")
            .bind(team)
            .bind(m)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn touch_chat(conn: &mut SqliteConnection, chat: ChatId) -> Result<()> {
    sqlx::query("UPDATE chats SET updated_at = MAX(updated_at + 1, ?) WHERE id = ?")
        .bind(now_ms())
        .bind(chat)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Writes a customer's fields from `input` (phones replaced whole when given).
/// Inserts an empty lead (no name, no numbers) in `channel` at `now`; its id.
async fn insert_lead(conn: &mut SqliteConnection, channel: ChannelId, now: i64) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO customers (channel_id, name, kind, created_at, updated_at)
         VALUES (?, '', 'lead', ?, ?) RETURNING id",
    )
    .bind(channel)
    .bind(now)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

async fn apply_customer_input(
    conn: &mut SqliteConnection,
    channel: ChannelId,
    id: CustomerId,
    input: &CustomerInput,
) -> Result<()> {
    let region = channel_region(conn, channel).await?;
    if let Some(name) = &input.name {
        let name = check_name("name", name, true)?;
        sqlx::query("UPDATE customers SET name = ? WHERE id = ?")
            .bind(name)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    if let Some(kind) = input.kind {
        sqlx::query("UPDATE customers SET kind = ? WHERE id = ?")
            .bind(kind.as_str())
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    if let Some(blocked) = input.blocked {
        sqlx::query("UPDATE customers SET blocked = ? WHERE id = ?")
            .bind(blocked)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    if let Some(profile) = &input.profile {
        if profile.len() > 50 {
            return Err(StoreError::Invalid("at most 50 profile fields".into()));
        }
        for (k, v) in profile {
            check_name("profile field name", k, false)?;
            if v.chars().count() > 1000 {
                return Err(StoreError::Invalid(format!(
                    "profile field {k} is too long"
                )));
            }
        }
        sqlx::query("UPDATE customers SET profile = ? WHERE id = ?")
            .bind(serde_json::to_string(profile).unwrap_or_else(|_| "{}".into()))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    if let Some(phones) = &input.phones {
        if phones.len() > 20 {
            return Err(StoreError::Invalid("at most 20 phone numbers".into()));
        }
        sqlx::query("DELETE FROM customer_phones WHERE customer_id = ?")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        for (position, p) in phones.iter().enumerate() {
            let number = E164::parse(&p.number, region)?;
            let mobile = p.mobile.unwrap_or_else(|| number.is_mobile());
            let res = sqlx::query(
                "INSERT INTO customer_phones (channel_id, e164, customer_id, mobile, position)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(channel)
            .bind(number.as_str())
            .bind(id)
            .bind(mobile)
            .bind(position as i64)
            .execute(&mut *conn)
            .await;
            match res {
                Err(e) if unique_violation(&e) => {
                    return Err(StoreError::Conflict(format!(
                        "{} already belongs to another customer of this channel (or is listed twice)",
                        number.display(region)
                    )));
                }
                other => {
                    other?;
                }
            }
        }
    }
    sqlx::query("UPDATE customers SET updated_at = ? WHERE id = ?")
        .bind(now_ms())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn like_pattern(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

const TRUNK_COLUMNS: &str =
    "id, channel_id, name, allowed_sources, inbound_username, inbound_password,
     outbound_proxy, outbound_username, outbound_password, caller_id, register, transport";

fn trunk_from_row(r: &sqlx::sqlite::SqliteRow) -> (Trunk, TrunkSecrets) {
    let inbound_password: Option<String> = r.get("inbound_password");
    let outbound_password: Option<String> = r.get("outbound_password");
    let trunk = Trunk {
        id: r.get("id"),
        channel_id: r.get("channel_id"),
        name: r.get("name"),
        allowed_sources: serde_json::from_str(r.get::<String, _>("allowed_sources").as_str())
            .unwrap_or_default(),
        inbound_username: r.get("inbound_username"),
        outbound_proxy: r.get("outbound_proxy"),
        outbound_username: r.get("outbound_username"),
        has_outbound_password: outbound_password.is_some(),
        has_inbound_password: inbound_password.is_some(),
        caller_id: r.get("caller_id"),
        register: r.get::<i64, _>("register") != 0,
        transport: if r.get::<String, _>("transport") == "tcp" {
            TrunkTransport::Tcp
        } else {
            TrunkTransport::Udp
        },
    };
    (
        trunk,
        TrunkSecrets {
            inbound_password,
            outbound_password,
        },
    )
}

async fn load_trunk(conn: &mut SqliteConnection, channel: ChannelId, id: TrunkId) -> Result<Trunk> {
    let row = sqlx::query(&format!(
        "SELECT {TRUNK_COLUMNS} FROM trunks WHERE id = ? AND channel_id = ?"
    ))
    .bind(id)
    .bind(channel)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound("trunk"))?;
    Ok(trunk_from_row(&row).0)
}

/// An optional text setting: `""` clears it, anything else is trimmed and kept.
fn optional_text(what: &str, v: &str) -> Result<Option<String>> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().count() > MAX_NAME {
        return Err(StoreError::Invalid(format!("{what} is too long")));
    }
    Ok(Some(v.to_owned()))
}

async fn apply_trunk_input(
    conn: &mut SqliteConnection,
    channel: ChannelId,
    id: TrunkId,
    input: &TrunkInput,
) -> Result<()> {
    let region = channel_region(conn, channel).await?;
    let mut sets: Vec<(&str, Bind)> = Vec::new();
    if let Some(name) = &input.name {
        sets.push(("name", Bind::Text(check_name("trunk name", name, false)?)));
    }
    if let Some(sources) = &input.allowed_sources {
        if sources.len() > 100 {
            return Err(StoreError::Invalid("at most 100 allowed sources".into()));
        }
        let mut clean = Vec::with_capacity(sources.len());
        for src in sources {
            src.parse::<SourceRule>()?;
            clean.push(src.trim().to_owned());
        }
        sets.push((
            "allowed_sources",
            Bind::Text(serde_json::to_string(&clean).unwrap_or_else(|_| "[]".into())),
        ));
    }
    for (column, value) in [
        ("inbound_username", &input.inbound_username),
        ("inbound_password", &input.inbound_password),
        ("outbound_username", &input.outbound_username),
        ("outbound_password", &input.outbound_password),
    ] {
        if let Some(v) = value {
            sets.push((column, Bind::OptText(optional_text(column, v)?)));
        }
    }
    if let Some(proxy) = &input.outbound_proxy {
        let proxy = optional_text("outbound proxy", proxy)?;
        if let Some(p) = &proxy {
            check_proxy(p)?;
        }
        sets.push(("outbound_proxy", Bind::OptText(proxy)));
    }
    if let Some(caller_id) = &input.caller_id {
        let number = match optional_text("caller id", caller_id)? {
            Some(n) => Some(E164::parse(&n, region)?.as_str().to_owned()),
            None => None,
        };
        sets.push(("caller_id", Bind::OptText(number)));
    }
    if let Some(register) = input.register {
        sets.push(("register", Bind::Int(i64::from(register))));
    }
    if let Some(t) = input.transport {
        let t = match t {
            TrunkTransport::Udp => "udp",
            TrunkTransport::Tcp => "tcp",
        };
        sets.push(("transport", Bind::Text(t.into())));
    }
    for (column, value) in sets {
        // Column names come from the fixed list above, never from input.
        let q = format!("UPDATE trunks SET {column} = ? WHERE id = ?");
        let q = sqlx::query(&q);
        let q = match value {
            Bind::Int(i) => q.bind(i),
            Bind::Text(s) => q.bind(s),
            Bind::OptText(s) => q.bind(s),
        };
        let res = q.bind(id).execute(&mut *conn).await;
        if let Err(e) = &res
            && unique_violation(e)
        {
            return Err(StoreError::Conflict("a trunk with that name exists".into()));
        }
        res?;
    }
    let (register, proxy): (i64, Option<String>) =
        sqlx::query_as("SELECT register, outbound_proxy FROM trunks WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    if register != 0 && proxy.is_none() {
        return Err(StoreError::Invalid(
            "registering with the carrier needs an outbound proxy".into(),
        ));
    }
    Ok(())
}

fn check_dial_string(s: &str) -> Result<String> {
    let s = s.trim();
    if s.is_empty()
        || s.len() > 15
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
    {
        return Err(StoreError::Invalid(format!(
            "echo number {s:?}: up to 15 digits, * or #"
        )));
    }
    Ok(s.to_owned())
}

fn sip_account_from_row(r: &sqlx::sqlite::SqliteRow) -> SipAccount {
    SipAccount {
        staff_id: r.get("staff_id"),
        username: r.get("username"),
        password: r.get("password"),
    }
}

fn sip_username_ok(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 64
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_channel(&self, new: NewChannel) -> Result<Channel> {
        let region = Region::from_str(&new.region)?;
        denwa_core::hours::check_time_zone(&new.time_zone)?;
        let name = check_name("channel name", &new.name, false)?;
        let hours = BusinessHours::always_open(&new.time_zone);
        let mut tx = begin_write(&self.pool).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO channels (name, region, time_zone, business_hours, created_at)
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(name)
        .bind(region.code())
        .bind(&new.time_zone)
        .bind(serde_json::to_string(&hours).unwrap_or_default())
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        for n in &new.phone_numbers {
            let number = E164::parse(n, region)?;
            let res = sqlx::query("INSERT INTO channel_numbers (e164, channel_id) VALUES (?, ?)")
                .bind(number.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await;
            if let Err(e) = &res
                && unique_violation(e)
            {
                return Err(StoreError::Conflict(format!(
                    "{number} already belongs to a channel"
                )));
            }
            res?;
        }
        let channel = load_channel(&mut tx, id).await?;
        tx.commit().await?;
        Ok(channel)
    }

    async fn channel(&self, id: ChannelId) -> Result<Channel> {
        let mut conn = self.pool.acquire().await?;
        load_channel(&mut conn, id).await
    }

    async fn channels(&self) -> Result<Vec<Channel>> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM channels ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        let mut conn = self.pool.acquire().await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(load_channel(&mut conn, id).await?);
        }
        Ok(out)
    }

    async fn update_channel(
        &self,
        id: ChannelId,
        patch: ChannelPatch,
        actor: Option<StaffId>,
    ) -> Result<(Channel, Event)> {
        let mut tx = begin_write(&self.pool).await?;
        load_channel(&mut tx, id).await?;
        if let Some(name) = &patch.name {
            let name = check_name("channel name", name, false)?;
            sqlx::query("UPDATE channels SET name = ? WHERE id = ?")
                .bind(name)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(fields) = &patch.ring_profile_fields {
            if fields.len() > 3 {
                return Err(StoreError::Invalid(
                    "at most 3 profile fields are shown on ringing (SPEC IN-2)".into(),
                ));
            }
            let fields = fields
                .iter()
                .map(|f| check_name("profile field name", f, false))
                .collect::<Result<Vec<_>>>()?;
            sqlx::query("UPDATE channels SET ring_profile_fields = ? WHERE id = ?")
                .bind(serde_json::to_string(&fields).unwrap_or_else(|_| "[]".into()))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(locale) = &patch.locale {
            if !matches!(locale.as_str(), "ja" | "en") {
                return Err(StoreError::Invalid(format!(
                    "locale {locale:?}: expected \"ja\" or \"en\""
                )));
            }
            sqlx::query("UPDATE channels SET locale = ? WHERE id = ?")
                .bind(locale)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(number) = &patch.echo_number {
            sqlx::query("UPDATE channels SET echo_number = ? WHERE id = ?")
                .bind(check_dial_string(number)?)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let channel = load_channel(&mut tx, id).await?;
        let event = commit_with_event(
            tx,
            Some(id),
            None,
            EventKind::ChannelUpdated,
            actor,
            json!({ "channel": channel }),
        )
        .await?;
        Ok((channel, event))
    }

    async fn business_hours(&self, id: ChannelId) -> Result<BusinessHours> {
        let raw: String = sqlx::query_scalar("SELECT business_hours FROM channels WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("channel"))?;
        serde_json::from_str(&raw).map_err(|e| StoreError::Invalid(format!("stored hours: {e}")))
    }

    async fn set_business_hours(
        &self,
        id: ChannelId,
        hours: BusinessHours,
        actor: Option<StaffId>,
    ) -> Result<Event> {
        hours.validate()?;
        let mut tx = begin_write(&self.pool).await?;
        let changed = sqlx::query("UPDATE channels SET business_hours = ? WHERE id = ?")
            .bind(serde_json::to_string(&hours).unwrap_or_default())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound("channel"));
        }
        let event = commit_with_event(
            tx,
            Some(id),
            None,
            EventKind::BusinessHoursChanged,
            actor,
            json!({ "business_hours": hours }),
        )
        .await?;
        Ok(event)
    }

    async fn channel_by_number(&self, e164: &str) -> Result<Option<ChannelId>> {
        Ok(
            sqlx::query_scalar("SELECT channel_id FROM channel_numbers WHERE e164 = ?")
                .bind(e164)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn trunks(&self, channel: ChannelId) -> Result<Vec<Trunk>> {
        let rows = sqlx::query(&format!(
            "SELECT {TRUNK_COLUMNS} FROM trunks WHERE channel_id = ? ORDER BY id"
        ))
        .bind(channel)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| trunk_from_row(r).0).collect())
    }

    async fn trunk_routes(&self) -> Result<Vec<(Trunk, TrunkSecrets)>> {
        let rows = sqlx::query(&format!("SELECT {TRUNK_COLUMNS} FROM trunks ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(trunk_from_row).collect())
    }

    async fn create_trunk(
        &self,
        channel: ChannelId,
        input: TrunkInput,
        actor: Option<StaffId>,
    ) -> Result<(Trunk, Event)> {
        let name = input
            .name
            .as_deref()
            .ok_or_else(|| StoreError::Invalid("a trunk needs a name".into()))?;
        let name = check_name("trunk name", name, false)?;
        let mut tx = begin_write(&self.pool).await?;
        load_channel(&mut tx, channel).await?;
        let res = sqlx::query_scalar(
            "INSERT INTO trunks (channel_id, name, created_at) VALUES (?, ?, ?) RETURNING id",
        )
        .bind(channel)
        .bind(&name)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await;
        let id: i64 = match res {
            Err(e) if unique_violation(&e) => {
                return Err(StoreError::Conflict(format!("a trunk named {name} exists")));
            }
            other => other?,
        };
        apply_trunk_input(&mut tx, channel, id, &input).await?;
        let trunk = load_trunk(&mut tx, channel, id).await?;
        let event = commit_with_event(
            tx,
            Some(channel),
            None,
            EventKind::TrunkCreated,
            actor,
            json!({ "trunk": trunk }),
        )
        .await?;
        Ok((trunk, event))
    }

    async fn update_trunk(
        &self,
        channel: ChannelId,
        id: TrunkId,
        input: TrunkInput,
        actor: Option<StaffId>,
    ) -> Result<(Trunk, Event)> {
        let mut tx = begin_write(&self.pool).await?;
        load_trunk(&mut tx, channel, id).await?;
        apply_trunk_input(&mut tx, channel, id, &input).await?;
        let trunk = load_trunk(&mut tx, channel, id).await?;
        let event = commit_with_event(
            tx,
            Some(channel),
            None,
            EventKind::TrunkUpdated,
            actor,
            json!({ "trunk": trunk }),
        )
        .await?;
        Ok((trunk, event))
    }

    async fn delete_trunk(
        &self,
        channel: ChannelId,
        id: TrunkId,
        actor: Option<StaffId>,
    ) -> Result<Event> {
        let data = json!({ "trunk_id": id });
        delete_in_channel(
            &self.pool,
            Scoped::Trunk,
            channel,
            id,
            EventKind::TrunkDeleted,
            actor,
            data,
        )
        .await
    }

    async fn set_sip_account(
        &self,
        staff: StaffId,
        username: Option<&str>,
        password: Option<&str>,
    ) -> Result<(SipAccount, Event)> {
        let mut tx = begin_write(&self.pool).await?;
        let email: String = sqlx::query_scalar("SELECT email FROM staff WHERE id = ?")
            .bind(staff)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound("staff"))?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT username FROM sip_accounts WHERE staff_id = ?")
                .bind(staff)
                .fetch_optional(&mut *tx)
                .await?;
        let username = match (username, current) {
            (Some(u), _) => u.trim().to_owned(),
            (None, Some(c)) => c,
            (None, None) => {
                let local: String = email
                    .split('@')
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                    .collect();
                if local.is_empty() {
                    format!("staff{staff}")
                } else {
                    local
                }
            }
        };
        if !sip_username_ok(&username) {
            return Err(StoreError::Invalid(format!(
                "SIP username {username:?}: 1-64 of letters, digits, . - _ +"
            )));
        }
        let password = match password {
            Some(p) if p.chars().count() >= 8 && p.len() <= 128 => p.to_owned(),
            Some(_) => {
                return Err(StoreError::Invalid(
                    "SIP password must have 8 to 128 characters".into(),
                ));
            }
            None => random_token(12),
        };
        let res = sqlx::query(
            "INSERT INTO sip_accounts (staff_id, username, password, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (staff_id) DO UPDATE SET username = excluded.username,
                 password = excluded.password, updated_at = excluded.updated_at",
        )
        .bind(staff)
        .bind(&username)
        .bind(&password)
        .bind(now_ms())
        .execute(&mut *tx)
        .await;
        if let Err(e) = &res
            && unique_violation(e)
        {
            return Err(StoreError::Conflict(format!(
                "SIP username {username} is taken"
            )));
        }
        res?;
        let event = commit_with_event(
            tx,
            None,
            None,
            EventKind::SipAccountChanged,
            Some(staff),
            json!({ "staff_id": staff, "username": username }),
        )
        .await?;
        Ok((
            SipAccount {
                staff_id: staff,
                username,
                password,
            },
            event,
        ))
    }

    async fn sip_account(&self, username: &str) -> Result<Option<SipAccount>> {
        let row =
            sqlx::query("SELECT staff_id, username, password FROM sip_accounts WHERE username = ?")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.as_ref().map(sip_account_from_row))
    }

    async fn sip_account_of(&self, staff: StaffId) -> Result<Option<SipAccount>> {
        let row =
            sqlx::query("SELECT staff_id, username, password FROM sip_accounts WHERE staff_id = ?")
                .bind(staff)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.as_ref().map(sip_account_from_row))
    }

    async fn create_staff(&self, email: &str, name: &str, password: &str) -> Result<Staff> {
        let email = email.trim();
        if !email.contains('@') || email.len() > 254 {
            return Err(StoreError::Invalid(format!(
                "{email:?} is not an e-mail address"
            )));
        }
        if password.chars().count() < 8 {
            return Err(StoreError::Invalid(
                "password must have at least 8 characters".into(),
            ));
        }
        let name = check_name("name", name, false)?;
        let hash = hash_password(password).map_err(StoreError::Invalid)?;
        let res = sqlx::query_scalar(
            "INSERT INTO staff (email, name, password_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(email)
        .bind(&name)
        .bind(hash)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await;
        match res {
            Ok(id) => Ok(Staff {
                id,
                email: email.to_owned(),
                name,
            }),
            Err(e) if unique_violation(&e) => Err(StoreError::Conflict(format!(
                "{email} already has an account"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn staff_by_email(&self, email: &str) -> Result<Option<Staff>> {
        let row = sqlx::query("SELECT id, email, name FROM staff WHERE email = ?")
            .bind(email.trim())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Staff {
            id: r.get("id"),
            email: r.get("email"),
            name: r.get("name"),
        }))
    }

    async fn add_member(
        &self,
        channel: ChannelId,
        staff: StaffId,
        role: Role,
        operator_seat: bool,
    ) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        load_channel(&mut conn, channel).await?;
        let res = sqlx::query(
            "INSERT INTO memberships (channel_id, staff_id, role, operator_seat) VALUES (?, ?, ?, ?)
             ON CONFLICT (channel_id, staff_id) DO UPDATE SET role = excluded.role,
                 operator_seat = excluded.operator_seat",
        )
        .bind(channel)
        .bind(staff)
        .bind(role.as_str())
        .bind(operator_seat)
        .execute(&mut *conn)
        .await;
        match res {
            Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                Err(StoreError::NotFound("staff"))
            }
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    async fn verify_password(&self, email: &str, password: &str) -> Result<Option<Staff>> {
        let row = sqlx::query("SELECT id, email, name, password_hash FROM staff WHERE email = ?")
            .bind(email.trim())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            // Spend the same time as a real check so timing does not reveal accounts.
            let _ = verify_password(password, dummy_hash());
            return Ok(None);
        };
        let stored: String = row.get("password_hash");
        Ok(verify_password(password, &stored).then(|| Staff {
            id: row.get("id"),
            email: row.get("email"),
            name: row.get("name"),
        }))
    }

    async fn create_session(&self, staff: StaffId, ttl: chrono::Duration) -> Result<String> {
        let token = random_token(32);
        let now = now_ms();
        sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, staff_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(token_digest(&token))
        .bind(staff)
        .bind(now)
        .bind(now + ttl.num_milliseconds())
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    async fn session_staff(&self, token: &str) -> Result<Option<Staff>> {
        let row = sqlx::query(
            "SELECT s.id, s.email, s.name FROM sessions x JOIN staff s ON s.id = x.staff_id
             WHERE x.token_hash = ? AND x.expires_at > ?",
        )
        .bind(token_digest(token))
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| Staff {
            id: r.get("id"),
            email: r.get("email"),
            name: r.get("name"),
        }))
    }

    async fn delete_session(&self, token: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_digest(token))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn memberships(&self, staff: StaffId) -> Result<Vec<Membership>> {
        let rows = sqlx::query(
            "SELECT channel_id, role, operator_seat FROM memberships WHERE staff_id = ? ORDER BY channel_id",
        )
        .bind(staff)
        .fetch_all(&self.pool)
        .await?;
        let mut conn = self.pool.acquire().await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(Membership {
                channel: load_channel(&mut conn, r.get("channel_id")).await?,
                role: Role::parse(r.get::<String, _>("role").as_str()).unwrap_or(Role::Operator),
                operator_seat: r.get::<i64, _>("operator_seat") != 0,
            });
        }
        Ok(out)
    }

    async fn membership(&self, channel: ChannelId, staff: StaffId) -> Result<Option<(Role, bool)>> {
        let row = sqlx::query(
            "SELECT role, operator_seat FROM memberships WHERE channel_id = ? AND staff_id = ?",
        )
        .bind(channel)
        .bind(staff)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| {
            (
                Role::parse(r.get::<String, _>("role").as_str()).unwrap_or(Role::Operator),
                r.get::<i64, _>("operator_seat") != 0,
            )
        }))
    }

    async fn members(&self, channel: ChannelId) -> Result<Vec<Member>> {
        let rows = sqlx::query(
            "SELECT s.id, s.email, s.name, m.role, m.operator_seat,
                    (SELECT group_concat(tm.team_id) FROM team_members tm JOIN teams t ON t.id = tm.team_id
                     WHERE tm.staff_id = s.id AND t.channel_id = m.channel_id) AS team_ids
             FROM memberships m JOIN staff s ON s.id = m.staff_id
             WHERE m.channel_id = ? ORDER BY s.name",
        )
        .bind(channel)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Member {
                staff: Staff {
                    id: r.get("id"),
                    email: r.get("email"),
                    name: r.get("name"),
                },
                role: Role::parse(r.get::<String, _>("role").as_str()).unwrap_or(Role::Operator),
                operator_seat: r.get::<i64, _>("operator_seat") != 0,
                team_ids: r
                    .get::<Option<String>, _>("team_ids")
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|s| s.parse().ok())
                    .collect(),
            })
            .collect())
    }

    async fn settings(&self, staff: StaffId) -> Result<Settings> {
        let r = sqlx::query(
            "SELECT unassigned_call_notification, do_not_disturb, auto_mute_on_join FROM staff WHERE id = ?",
        )
        .bind(staff)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("staff"))?;
        Ok(Settings {
            unassigned_call_notification: r.get::<i64, _>("unassigned_call_notification") != 0,
            do_not_disturb: r.get::<i64, _>("do_not_disturb") != 0,
            auto_mute_on_join: r.get::<i64, _>("auto_mute_on_join") != 0,
        })
    }

    async fn update_settings(
        &self,
        staff: StaffId,
        patch: SettingsPatch,
    ) -> Result<(Settings, Event)> {
        let current = self.settings(staff).await?;
        let next = Settings {
            unassigned_call_notification: patch
                .unassigned_call_notification
                .unwrap_or(current.unassigned_call_notification),
            do_not_disturb: patch.do_not_disturb.unwrap_or(current.do_not_disturb),
            auto_mute_on_join: patch.auto_mute_on_join.unwrap_or(current.auto_mute_on_join),
        };
        let mut tx = begin_write(&self.pool).await?;
        sqlx::query(
            "UPDATE staff SET unassigned_call_notification = ?, do_not_disturb = ?, auto_mute_on_join = ?
             WHERE id = ?",
        )
        .bind(next.unassigned_call_notification)
        .bind(next.do_not_disturb)
        .bind(next.auto_mute_on_join)
        .bind(staff)
        .execute(&mut *tx)
        .await?;
        let event = commit_with_event(
            tx,
            None,
            None,
            EventKind::SettingsChanged,
            Some(staff),
            json!({ "staff_id": staff, "settings": next }),
        )
        .await?;
        Ok((next, event))
    }

    async fn teams(&self, channel: ChannelId) -> Result<Vec<Team>> {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM teams WHERE channel_id = ? ORDER BY name")
                .bind(channel)
                .fetch_all(&self.pool)
                .await?;
        let mut conn = self.pool.acquire().await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(load_team(&mut conn, channel, id).await?);
        }
        Ok(out)
    }

    async fn create_team(
        &self,
        channel: ChannelId,
        name: &str,
        members: &[StaffId],
        actor: Option<StaffId>,
    ) -> Result<(Team, Event)> {
        let name = check_name("team name", name, false)?;
        let mut tx = begin_write(&self.pool).await?;
        load_channel(&mut tx, channel).await?;
        let res =
            sqlx::query_scalar("INSERT INTO teams (channel_id, name) VALUES (?, ?) RETURNING id")
                .bind(channel)
                .bind(&name)
                .fetch_one(&mut *tx)
                .await;
        let id: i64 = match res {
            Err(e) if unique_violation(&e) => {
                return Err(StoreError::Conflict(format!("a team named {name} exists")));
            }
            other => other?,
        };
        set_team_members(&mut tx, channel, id, members).await?;
        let team = load_team(&mut tx, channel, id).await?;
        let event = commit_with_event(
            tx,
            Some(channel),
            None,
            EventKind::TeamCreated,
            actor,
            json!({ "team": team }),
        )
        .await?;
        Ok((team, event))
    }

    async fn update_team(
        &self,
        channel: ChannelId,
        team: TeamId,
        name: Option<&str>,
        members: Option<&[StaffId]>,
        actor: Option<StaffId>,
    ) -> Result<(Team, Event)> {
        let mut tx = begin_write(&self.pool).await?;
        load_team(&mut tx, channel, team).await?;
        if let Some(name) = name {
            let name = check_name("team name", name, false)?;
            let res = sqlx::query("UPDATE teams SET name = ? WHERE id = ?")
                .bind(&name)
                .bind(team)
                .execute(&mut *tx)
                .await;
            if let Err(e) = &res
                && unique_violation(e)
            {
                return Err(StoreError::Conflict(format!("a team named {name} exists")));
            }
            res?;
        }
        if let Some(members) = members {
            set_team_members(&mut tx, channel, team, members).await?;
        }
        let team = load_team(&mut tx, channel, team).await?;
        let event = commit_with_event(
            tx,
            Some(channel),
            None,
            EventKind::TeamUpdated,
            actor,
            json!({ "team": team }),
        )
        .await?;
        Ok((team, event))
    }

    async fn delete_team(
        &self,
        channel: ChannelId,
        team: TeamId,
        actor: Option<StaffId>,
    ) -> Result<Event> {
        let data = json!({ "team_id": team });
        delete_in_channel(
            &self.pool,
            Scoped::Team,
            channel,
            team,
            EventKind::TeamDeleted,
            actor,
            data,
        )
        .await
    }

    async fn tags(&self, channel: ChannelId) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT name FROM tags WHERE channel_id = ? ORDER BY name")
                .bind(channel)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn create_tag(&self, channel: ChannelId, name: &str) -> Result<String> {
        let name = check_name("tag", name, false)?;
        let mut conn = self.pool.acquire().await?;
        load_channel(&mut conn, channel).await?;
        sqlx::query("INSERT OR IGNORE INTO tags (channel_id, name) VALUES (?, ?)")
            .bind(channel)
            .bind(&name)
            .execute(&mut *conn)
            .await?;
        Ok(name)
    }

    async fn create_customer(
        &self,
        channel: ChannelId,
        input: CustomerInput,
        actor: Option<StaffId>,
    ) -> Result<(Customer, Event)> {
        let mut tx = begin_write(&self.pool).await?;
        load_channel(&mut tx, channel).await?;
        let now = now_ms();
        let id = insert_lead(&mut tx, channel, now).await?;
        apply_customer_input(&mut tx, channel, id, &input).await?;
        let customer = load_customer(&mut tx, channel, id).await?;
        let event = commit_with_event(
            tx,
            Some(channel),
            None,
            EventKind::CustomerCreated,
            actor,
            json!({ "customer": customer }),
        )
        .await?;
        Ok((customer, event))
    }

    async fn customer(&self, channel: ChannelId, id: CustomerId) -> Result<Customer> {
        let mut conn = self.pool.acquire().await?;
        load_customer(&mut conn, channel, id).await
    }

    async fn update_customer(
        &self,
        channel: ChannelId,
        id: CustomerId,
        input: CustomerInput,
        actor: Option<StaffId>,
    ) -> Result<(Customer, Event)> {
        let mut tx = begin_write(&self.pool).await?;
        load_customer(&mut tx, channel, id).await?;
        apply_customer_input(&mut tx, channel, id, &input).await?;
        let customer = load_customer(&mut tx, channel, id).await?;
        let event = commit_with_event(
            tx,
            Some(channel),
            None,
            EventKind::CustomerUpdated,
            actor,
            json!({ "customer": customer }),
        )
        .await?;
        Ok((customer, event))
    }

    async fn delete_customer(
        &self,
        channel: ChannelId,
        id: CustomerId,
        actor: Option<StaffId>,
    ) -> Result<Event> {
        let mut tx = begin_write(&self.pool).await?;
        load_customer(&mut tx, channel, id).await?;
        sqlx::query("DELETE FROM chats WHERE customer_id = ? AND channel_id = ?")
            .bind(id)
            .bind(channel)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM customers WHERE id = ? AND channel_id = ?")
            .bind(id)
            .bind(channel)
            .execute(&mut *tx)
            .await?;
        let event = commit_with_event(
            tx,
            Some(channel),
            None,
            EventKind::CustomerDeleted,
            actor,
            json!({ "customer_id": id }),
        )
        .await?;
        Ok(event)
    }

    async fn search_customers(
        &self,
        channel: ChannelId,
        query: &str,
        limit: u32,
    ) -> Result<Vec<Customer>> {
        let mut conn = self.pool.acquire().await?;
        let region = channel_region(&mut conn, channel).await?;
        let query = query.trim();
        let limit = i64::from(limit.clamp(1, 200));
        let ids: Vec<i64> = if query.is_empty() {
            sqlx::query_scalar(
                "SELECT id FROM customers WHERE channel_id = ? ORDER BY updated_at DESC, id DESC LIMIT ?",
            )
            .bind(channel)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        } else {
            // A number in any spelling matches exactly; a run of digits matches inside
            // stored numbers (national digits too: "1234" finds +81312345678).
            let exact = E164::parse(query, region)
                .ok()
                .map(|n| n.as_str().to_owned());
            let digits: String = query.chars().filter(|c| c.is_ascii_digit()).collect();
            let digits = digits.trim_start_matches('0');
            let digit_pattern = (digits.len() >= 3).then(|| like_pattern(digits));
            sqlx::query_scalar(
                "SELECT DISTINCT c.id FROM customers c
                 LEFT JOIN customer_phones p ON p.customer_id = c.id
                 WHERE c.channel_id = ?
                   AND (c.name LIKE ? ESCAPE '\\' OR p.e164 = ? OR p.e164 LIKE ? ESCAPE '\\')
                 ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
            )
            .bind(channel)
            .bind(like_pattern(query))
            .bind(exact)
            .bind(digit_pattern)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(load_customer(&mut conn, channel, id).await?);
        }
        Ok(out)
    }

    async fn customer_by_phone(&self, channel: ChannelId, e164: &str) -> Result<Option<Customer>> {
        let mut conn = self.pool.acquire().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT customer_id FROM customer_phones WHERE channel_id = ? AND e164 = ?",
        )
        .bind(channel)
        .bind(e164)
        .fetch_optional(&mut *conn)
        .await?;
        match id {
            Some(id) => Ok(Some(load_customer(&mut conn, channel, id).await?)),
            None => Ok(None),
        }
    }

    async fn import_contacts(
        &self,
        channel: ChannelId,
        file: &denwa_core::contacts::ContactFile,
        mode: crate::ImportMode,
        actor: Option<StaffId>,
    ) -> Result<(denwa_core::contacts::ImportPlan, Vec<Event>)> {
        contacts::import(&self.pool, channel, file, mode, actor).await
    }

    async fn create_chat(
        &self,
        channel: ChannelId,
        new: NewChat,
        actor: Option<StaffId>,
    ) -> Result<(ChatSummary, Vec<Event>)> {
        let source = check_name("source", &new.source, false)?;
        let mut tx = begin_write(&self.pool).await?;
        load_customer(&mut tx, channel, new.customer_id).await?;
        let now = now_ms();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO chats (channel_id, customer_id, state, medium, source, created_at, updated_at)
             VALUES (?, ?, 'opened', ?, ?, ?, ?) RETURNING id",
        )
        .bind(channel)
        .bind(new.customer_id)
        .bind(new.medium.as_str())
        .bind(source)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let chat = load_chat(&mut tx, channel, id).await?;
        let mut events = vec![
            insert_event(
                &mut tx,
                Some(channel),
                Some(id),
                EventKind::ChatOpened,
                actor,
                json!({ "chat": chat }),
            )
            .await?,
        ];
        if let Some(body) = new
            .first_message
            .as_deref()
            .filter(|b| !b.trim().is_empty())
        {
            let (_, event) =
                insert_message(&mut tx, channel, id, MessageKind::Customer, None, body).await?;
            events.push(event);
        }
        let chat = load_chat(&mut tx, channel, id).await?;
        tx.commit().await?;
        Ok((chat, events))
    }

    async fn chat(&self, channel: ChannelId, id: ChatId) -> Result<ChatSummary> {
        let mut conn = self.pool.acquire().await?;
        load_chat(&mut conn, channel, id).await
    }

    async fn list_chats(&self, channel: ChannelId, filter: ChatFilter) -> Result<ChatPage> {
        let mut conn = self.pool.acquire().await?;
        let region = channel_region(&mut conn, channel).await?;
        let limit = i64::from(filter.limit.clamp(1, 200));
        let mut sql = String::from("SELECT c.id, c.updated_at FROM chats c WHERE c.channel_id = ?");
        let mut binds: Vec<Bind> = vec![Bind::Int(channel)];
        if let Some(state) = filter.state {
            sql.push_str(" AND c.state = ?");
            binds.push(Bind::Text(state.as_str().into()));
        }
        match filter.assignee {
            Some(Some(staff)) => {
                sql.push_str(" AND c.assignee_id = ?");
                binds.push(Bind::Int(staff));
            }
            Some(None) => sql.push_str(" AND c.assignee_id IS NULL"),
            None => {}
        }
        if let Some(team) = filter.team {
            sql.push_str(" AND c.team_id = ?");
            binds.push(Bind::Int(team));
        }
        if let Some(tag) = filter.tag {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM chat_tags t WHERE t.chat_id = c.id AND t.tag = ?)",
            );
            binds.push(Bind::Text(tag));
        }
        if let Some(medium) = filter.medium {
            sql.push_str(" AND c.medium = ?");
            binds.push(Bind::Text(medium.as_str().into()));
        }
        if let Some(source) = filter.source {
            sql.push_str(" AND c.source = ?");
            binds.push(Bind::Text(source));
        }
        if let Some(customer) = filter.customer {
            sql.push_str(" AND c.customer_id = ?");
            binds.push(Bind::Int(customer));
        }
        if let Some(keyword) = filter
            .keyword
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            let pattern = like_pattern(keyword);
            let number = E164::parse(keyword, region)
                .ok()
                .map(|n| n.as_str().to_owned());
            match &filter.text_matches {
                // The search index found the chats whose text matches.
                Some(ids) => {
                    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
                    sql.push_str(&format!(" AND (c.id IN ({})", ids.join(",")));
                }
                None => {
                    sql.push_str(
                        " AND (EXISTS (SELECT 1 FROM messages m WHERE m.chat_id = c.id AND m.body LIKE ? ESCAPE '\\')",
                    );
                    binds.push(Bind::Text(pattern.clone()));
                }
            }
            sql.push_str(
                " OR EXISTS (SELECT 1 FROM customers cu WHERE cu.id = c.customer_id AND cu.name LIKE ? ESCAPE '\\')
                   OR EXISTS (SELECT 1 FROM customer_phones p WHERE p.customer_id = c.customer_id AND p.e164 = ?))",
            );
            binds.push(Bind::Text(pattern));
            binds.push(Bind::OptText(number));
        }
        if let Some(cursor) = filter.cursor {
            sql.push_str(" AND (c.updated_at < ? OR (c.updated_at = ? AND c.id < ?))");
            binds.push(Bind::Int(cursor.updated_at_ms));
            binds.push(Bind::Int(cursor.updated_at_ms));
            binds.push(Bind::Int(cursor.id));
        }
        sql.push_str(" ORDER BY c.updated_at DESC, c.id DESC LIMIT ?");
        binds.push(Bind::Int(limit + 1));
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = match b {
                Bind::Int(i) => q.bind(i),
                Bind::Text(s) => q.bind(s),
                Bind::OptText(s) => q.bind(s),
            };
        }
        let rows = q.fetch_all(&mut *conn).await?;
        let more = rows.len() as i64 > limit;
        let mut chats = Vec::with_capacity(rows.len());
        let mut next = None;
        for r in rows.iter().take(limit as usize) {
            let id: i64 = r.get("id");
            chats.push(load_chat(&mut conn, channel, id).await?);
            next = Some(ChatCursor {
                updated_at_ms: r.get("updated_at"),
                id,
            });
        }
        Ok(ChatPage {
            chats,
            next: if more { next } else { None },
        })
    }

    async fn timeline(&self, channel: ChannelId, id: ChatId) -> Result<Vec<Event>> {
        let mut conn = self.pool.acquire().await?;
        load_chat(&mut conn, channel, id).await?;
        let rows = sqlx::query(
            "SELECT id, channel_id, chat_id, kind, actor_staff_id, at, data FROM events
             WHERE chat_id = ? AND channel_id = ? ORDER BY id",
        )
        .bind(id)
        .bind(channel)
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows.iter().filter_map(event_from_row).collect())
    }

    async fn add_message(
        &self,
        channel: ChannelId,
        chat: ChatId,
        kind: MessageKind,
        author: Option<StaffId>,
        body: &str,
    ) -> Result<(Message, Event)> {
        let mut tx = begin_write(&self.pool).await?;
        load_chat(&mut tx, channel, chat).await?;
        let out = insert_message(&mut tx, channel, chat, kind, author, body).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn set_assignee(
        &self,
        channel: ChannelId,
        chat: ChatId,
        assignee: Option<StaffId>,
        actor: Option<StaffId>,
    ) -> Result<(ChatSummary, Event)> {
        let mut tx = begin_write(&self.pool).await?;
        load_chat(&mut tx, channel, chat).await?;
        if let Some(staff) = assignee
            && !is_member(&mut tx, channel, staff).await?
        {
            return Err(StoreError::Invalid(format!(
                "staff {staff} is not a member of this channel"
            )));
        }
        sqlx::query("UPDATE chats SET assignee_id = ? WHERE id = ?")
            .bind(assignee)
            .bind(chat)
            .execute(&mut *tx)
            .await?;
        chat_changed(tx, channel, chat, EventKind::AssigneeChanged, actor).await
    }

    async fn set_team(
        &self,
        channel: ChannelId,
        chat: ChatId,
        team: Option<TeamId>,
        actor: Option<StaffId>,
    ) -> Result<(ChatSummary, Event)> {
        let mut tx = begin_write(&self.pool).await?;
        load_chat(&mut tx, channel, chat).await?;
        if let Some(team) = team {
            load_team(&mut tx, channel, team).await?;
        }
        sqlx::query("UPDATE chats SET team_id = ? WHERE id = ?")
            .bind(team)
            .bind(chat)
            .execute(&mut *tx)
            .await?;
        chat_changed(tx, channel, chat, EventKind::TeamChanged, actor).await
    }

    async fn set_tags(
        &self,
        channel: ChannelId,
        chat: ChatId,
        tags: &[String],
        actor: Option<StaffId>,
    ) -> Result<(ChatSummary, Event)> {
        if tags.len() > 30 {
            return Err(StoreError::Invalid("at most 30 tags on a chat".into()));
        }
        let tags = tags
            .iter()
            .map(|t| check_name("tag", t, false))
            .collect::<Result<Vec<_>>>()?;
        let mut tx = begin_write(&self.pool).await?;
        load_chat(&mut tx, channel, chat).await?;
        sqlx::query("DELETE FROM chat_tags WHERE chat_id = ?")
            .bind(chat)
            .execute(&mut *tx)
            .await?;
        for tag in &tags {
            sqlx::query("INSERT OR IGNORE INTO tags (channel_id, name) VALUES (?, ?)")
                .bind(channel)
                .bind(tag)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT OR IGNORE INTO chat_tags (chat_id, tag) VALUES (?, ?)")
                .bind(chat)
                .bind(tag)
                .execute(&mut *tx)
                .await?;
        }
        chat_changed(tx, channel, chat, EventKind::TagsChanged, actor).await
    }

    async fn set_state(
        &self,
        channel: ChannelId,
        chat: ChatId,
        state: ChatState,
        snoozed_until: Option<DateTime<Utc>>,
        actor: Option<StaffId>,
    ) -> Result<(ChatSummary, Event)> {
        let snoozed_until = match (state, snoozed_until) {
            (ChatState::Snoozed, Some(t)) if t > Utc::now() => Some(t.timestamp_millis()),
            (ChatState::Snoozed, Some(_)) => {
                return Err(StoreError::Invalid(
                    "snoozed_until must be in the future".into(),
                ));
            }
            (ChatState::Snoozed, None) => {
                return Err(StoreError::Invalid("snoozing needs snoozed_until".into()));
            }
            (_, Some(_)) => {
                return Err(StoreError::Invalid(
                    "snoozed_until is only for the snoozed state".into(),
                ));
            }
            (_, None) => None,
        };
        let mut tx = begin_write(&self.pool).await?;
        load_chat(&mut tx, channel, chat).await?;
        let closed_at = (state == ChatState::Closed).then(now_ms);
        sqlx::query("UPDATE chats SET state = ?, snoozed_until = ?, closed_at = ? WHERE id = ?")
            .bind(state.as_str())
            .bind(snoozed_until)
            .bind(closed_at)
            .bind(chat)
            .execute(&mut *tx)
            .await?;
        if let Some(at) = closed_at {
            stats::chat_closed(&mut tx, chat, at).await?;
        }
        chat_changed(tx, channel, chat, EventKind::StateChanged, actor).await
    }

    async fn create_api_key(
        &self,
        channel: ChannelId,
        name: &str,
        actor: Option<StaffId>,
    ) -> Result<(ApiKey, String, Event)> {
        let name = check_name("key name", name, false)?;
        let access_key = format!("dk_{}", random_token(12));
        let secret = random_token(32);
        let mut tx = begin_write(&self.pool).await?;
        load_channel(&mut tx, channel).await?;
        let now = now_ms();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_keys (channel_id, name, access_key, secret_hash, created_at)
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(channel)
        .bind(&name)
        .bind(&access_key)
        .bind(token_digest(&secret))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let event = commit_with_event(
            tx,
            Some(channel),
            None,
            EventKind::ApiKeyCreated,
            actor,
            json!({ "api_key_id": id }),
        )
        .await?;
        let key = ApiKey {
            id,
            name,
            access_key,
            created_at: to_dt(now),
        };
        Ok((key, secret, event))
    }

    async fn api_keys(&self, channel: ChannelId) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, name, access_key, created_at FROM api_keys
             WHERE channel_id = ? AND revoked_at IS NULL ORDER BY id",
        )
        .bind(channel)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ApiKey {
                id: r.get("id"),
                name: r.get("name"),
                access_key: r.get("access_key"),
                created_at: to_dt(r.get("created_at")),
            })
            .collect())
    }

    async fn revoke_api_key(
        &self,
        channel: ChannelId,
        id: ApiKeyId,
        actor: Option<StaffId>,
    ) -> Result<Event> {
        let mut tx = begin_write(&self.pool).await?;
        let n = sqlx::query(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND channel_id = ? AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(id)
        .bind(channel)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("api key"));
        }
        let event = commit_with_event(
            tx,
            Some(channel),
            None,
            EventKind::ApiKeyRevoked,
            actor,
            json!({ "api_key_id": id }),
        )
        .await?;
        Ok(event)
    }

    async fn open_call(&self, channel: ChannelId, new: NewCall) -> Result<OpenedCall> {
        calls::open_call(&self.pool, channel, new).await
    }

    async fn record_call_event(
        &self,
        channel: ChannelId,
        call: CallRecordId,
        kind: EventKind,
        actor: Option<StaffId>,
        data: Value,
    ) -> Result<Event> {
        calls::record_call_event(&self.pool, channel, call, kind, actor, data).await
    }

    async fn record_call_events(
        &self,
        channel: ChannelId,
        call: CallRecordId,
        events: Vec<(EventKind, Option<StaffId>, Value)>,
    ) -> Result<Vec<Event>> {
        calls::record_many(&self.pool, channel, call, events, None).await
    }

    async fn ring_candidates(
        &self,
        channel: ChannelId,
    ) -> Result<Vec<(StaffId, Settings, Option<String>)>> {
        calls::ring_candidates(&self.pool, channel).await
    }

    async fn set_call_recording(
        &self,
        channel: ChannelId,
        call: CallRecordId,
        path: &str,
    ) -> Result<()> {
        calls::set_call_recording(&self.pool, channel, call, path).await
    }

    async fn recording_work(&self, limit: u32) -> Result<Vec<crate::RecordingWork>> {
        recordings::recording_work(&self.pool, limit).await
    }

    async fn recording(
        &self,
        channel: ChannelId,
        call: CallRecordId,
    ) -> Result<denwa_core::model::Recording> {
        recordings::recording(&self.pool, channel, call).await
    }

    async fn recording_mp3_ready(
        &self,
        call: CallRecordId,
        duration_ms: u64,
        mp3_bytes: u64,
    ) -> Result<Event> {
        recordings::mp3_ready(&self.pool, call, duration_ms, mp3_bytes).await
    }

    async fn recording_mp3_failed(&self, call: CallRecordId, error: &str) -> Result<()> {
        recordings::mp3_failed(&self.pool, call, error).await
    }

    async fn transcript_progress(
        &self,
        call: CallRecordId,
        done: u32,
        total: u32,
        starting: bool,
    ) -> Result<()> {
        recordings::transcript_progress(&self.pool, call, done, total, starting).await
    }

    async fn transcript_done(
        &self,
        call: CallRecordId,
        language: Option<&str>,
        lines: &[denwa_core::model::TranscriptLine],
    ) -> Result<Event> {
        recordings::transcript_done(&self.pool, call, language, lines).await
    }

    async fn transcript_failed(
        &self,
        call: CallRecordId,
        error: &str,
        give_up: bool,
    ) -> Result<Option<Event>> {
        recordings::transcript_failed(&self.pool, call, error, give_up).await
    }

    async fn transcript_off(&self, call: CallRecordId) -> Result<()> {
        recordings::transcript_off(&self.pool, call).await
    }

    async fn transcripts_after(
        &self,
        channel: ChannelId,
        after: CallRecordId,
        limit: u32,
    ) -> Result<Vec<(denwa_core::model::Recording, DateTime<Utc>)>> {
        recordings::transcripts_after(&self.pool, channel, after, limit).await
    }

    async fn call_record(&self, channel: ChannelId, id: CallRecordId) -> Result<CallRecord> {
        calls::call_record(&self.pool, channel, id).await
    }

    async fn recent_calls(
        &self,
        channel: ChannelId,
        staff: StaffId,
        limit: u32,
    ) -> Result<Vec<CallRecord>> {
        calls::recent_calls(&self.pool, channel, staff, limit).await
    }

    async fn chat_calls(&self, channel: ChannelId, chat: ChatId) -> Result<Vec<CallRecord>> {
        calls::chat_calls(&self.pool, channel, chat).await
    }

    async fn calls_between(
        &self,
        channel: ChannelId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CallRecord>> {
        calls::calls_between(&self.pool, channel, from, to).await
    }

    async fn call_staff(
        &self,
        channel: ChannelId,
        call: CallRecordId,
    ) -> Result<Vec<CallStaffRecord>> {
        calls::call_staff(&self.pool, channel, call).await
    }

    async fn end_interrupted_calls(&self, reason: &str) -> Result<Vec<Event>> {
        calls::end_interrupted_calls(&self.pool, reason).await
    }

    async fn heartbeat_live_calls(&self) -> Result<u64> {
        calls::heartbeat_live_calls(&self.pool).await
    }

    async fn messages_after(
        &self,
        channel: ChannelId,
        after: denwa_core::model::MessageId,
        limit: u32,
    ) -> Result<Vec<Message>> {
        search::messages_after(&self.pool, channel, after, limit).await
    }

    async fn message_count(&self, channel: ChannelId) -> Result<u64> {
        search::message_count(&self.pool, channel).await
    }

    async fn dashboard(
        &self,
        channel: ChannelId,
        q: denwa_core::stats::DashboardQuery,
    ) -> Result<denwa_core::stats::Dashboard> {
        stats::dashboard(&self.pool, channel, q).await
    }

    async fn call_rows(
        &self,
        channel: ChannelId,
        q: &crate::CallRowQuery,
    ) -> Result<Vec<denwa_core::stats::CallRow>> {
        stats::call_rows(&self.pool, channel, q).await
    }

    async fn import_calls(
        &self,
        channel: ChannelId,
        calls: &[denwa_core::stats::CallHistory],
    ) -> Result<u64> {
        stats::import_calls(&self.pool, channel, calls).await
    }

    async fn routing(&self, channel: ChannelId) -> Result<RoutingConfig> {
        calls::routing(&self.pool, channel).await
    }

    async fn set_routing(
        &self,
        channel: ChannelId,
        config: RoutingConfig,
        actor: Option<StaffId>,
    ) -> Result<Event> {
        calls::set_routing(&self.pool, channel, config, actor).await
    }

    async fn open_phone_chats(&self) -> Result<Vec<(StaffId, ChatId)>> {
        calls::open_phone_chats(&self.pool).await
    }

    async fn verify_api_key(&self, access_key: &str, secret: &str) -> Result<Option<ChannelId>> {
        let row = sqlx::query(
            "SELECT channel_id, secret_hash FROM api_keys WHERE access_key = ? AND revoked_at IS NULL",
        )
        .bind(access_key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|r| {
            let stored: String = r.get("secret_hash");
            constant_time_eq(stored.as_bytes(), token_digest(secret).as_bytes())
                .then(|| r.get("channel_id"))
        }))
    }
}

/// A hash of a random password, checked against when an e-mail is unknown.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_token(16)).unwrap_or_default())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

enum Bind {
    Int(i64),
    Text(String),
    OptText(Option<String>),
}

async fn insert_message(
    conn: &mut SqliteConnection,
    channel: ChannelId,
    chat: ChatId,
    kind: MessageKind,
    author: Option<StaffId>,
    body: &str,
) -> Result<(Message, Event)> {
    let body = body.trim();
    if body.is_empty() {
        return Err(StoreError::Invalid("the text must not be empty".into()));
    }
    if body.chars().count() > MAX_BODY {
        return Err(StoreError::Invalid(format!(
            "the text is longer than {MAX_BODY} characters"
        )));
    }
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (channel_id, chat_id, kind, author_staff_id, body, created_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(channel)
    .bind(chat)
    .bind(kind.as_str())
    .bind(author)
    .bind(body)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("UPDATE chats SET preview = ? WHERE id = ?")
        .bind(preview(body, 80))
        .bind(chat)
        .execute(&mut *conn)
        .await?;
    touch_chat(conn, chat).await?;
    let message = Message {
        id,
        chat_id: chat,
        kind,
        author_staff_id: author,
        body: body.to_owned(),
        created_at: to_dt(now),
    };
    let summary = load_chat(conn, channel, chat).await?;
    let event_kind = if kind == MessageKind::Note {
        EventKind::NoteAdded
    } else {
        EventKind::MessageSent
    };
    let event = insert_event(
        conn,
        Some(channel),
        Some(chat),
        event_kind,
        author,
        json!({ "message": message, "chat": summary }),
    )
    .await?;
    Ok((message, event))
}

/// Records a chat change: bumps its activity, stores the event with the chat's new
/// summary, commits.
async fn chat_changed(
    mut tx: sqlx::Transaction<'_, sqlx::Sqlite>,
    channel: ChannelId,
    chat: ChatId,
    kind: EventKind,
    actor: Option<StaffId>,
) -> Result<(ChatSummary, Event)> {
    touch_chat(&mut tx, chat).await?;
    let summary = load_chat(&mut tx, channel, chat).await?;
    let event = commit_with_event(
        tx,
        Some(channel),
        Some(chat),
        kind,
        actor,
        json!({ "chat": summary }),
    )
    .await?;
    Ok((summary, event))
}

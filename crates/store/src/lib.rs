//! Denwa's persistence.
//!
//! [`Store`] is the seam: the API and the call engine speak only to it. [`SqliteStore`]
//! is the embedded default (one file, WAL, migrations applied at open). A PostgreSQL
//! implementation plugs in behind the same trait: the trait speaks in domain types,
//! never in SQL or driver types.
//!
//! Every mutation is tenant-scoped by a [`ChannelId`] and records its domain
//! [`Event`]s in the same transaction as the change, returning them so the caller can
//! publish them.

mod secret;
mod sqlite;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use denwa_core::model::{
    ApiKey, ApiKeyId, CallDirection, CallRecord, CallRecordId, CallStaffRecord, Channel, ChannelId,
    ChatId, ChatState, ChatSummary, Customer, CustomerId, CustomerKind, Medium, Member, Message,
    MessageKind, Recording, Role, Settings, Staff, StaffId, Team, TeamId, TranscriptLine,
};
use denwa_core::routing::RoutingConfig;
use denwa_core::trunk::{Trunk, TrunkId, TrunkSecrets, TrunkTransport};
use denwa_core::{BusinessHours, CoreError, Event, EventKind};
use serde::Deserialize;

pub use secret::random_token;
pub use sqlite::SqliteStore;

/// A recording the worker has to finish (see [`Store::recording_work`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingWork {
    /// Its state.
    pub recording: Recording,
    /// Where the call's tracks are, relative to the recordings folder.
    pub path: String,
    /// When the call ended.
    pub ended_at: DateTime<Utc>,
    /// Why the call ended (`server_restarted` after a crash: the tracks are cut off).
    pub end_reason: Option<String>,
    /// Transcription attempts started so far.
    pub attempts: u32,
}

/// The crate's error type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such object in that channel (objects of other channels are not found either).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change would break a uniqueness rule (a number already owned, a duplicate name).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A phone number that cannot be read in the channel's region.
    #[error("{0}")]
    InvalidPhoneNumber(String),
    /// Input a domain rule refuses (too many ring fields, a bad time zone…).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The data changed since the caller last read it, so the change it asked for is no
    /// longer the one it saw (an import whose preview is out of date).
    #[error("{0}")]
    Stale(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed at open.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<CoreError> for StoreError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::InvalidPhoneNumber { .. } => StoreError::InvalidPhoneNumber(e.to_string()),
            other => StoreError::Invalid(other.to_string()),
        }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, StoreError>;

/// A new channel.
#[derive(Debug, Clone)]
pub struct NewChannel {
    /// Display name.
    pub name: String,
    /// ISO 3166 region, e.g. `JP`.
    pub region: String,
    /// IANA time zone, e.g. `Asia/Tokyo`.
    pub time_zone: String,
    /// Its phone numbers (DIDs), any spelling readable in `region`.
    pub phone_numbers: Vec<String>,
}

/// A change to channel settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    /// New name.
    pub name: Option<String>,
    /// Up to three customer profile fields shown on ringing (SPEC IN-2).
    pub ring_profile_fields: Option<Vec<String>>,
    /// The echo test number (digits, `*`, `#`; up to 15).
    pub echo_number: Option<String>,
    /// The channel's language, `ja` or `en`: the console's default and the language its
    /// calls are transcribed in (default: Japanese in Japan, English elsewhere).
    pub locale: Option<String>,
}

/// A change to a staff member's settings; `None` leaves a toggle as it is.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// SPEC IN-3.
    pub unassigned_call_notification: Option<bool>,
    /// SPEC AS-1.
    pub do_not_disturb: Option<bool>,
    /// SPEC RG-8.
    pub auto_mute_on_join: Option<bool>,
}

/// A phone number as typed, for a customer.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneInput {
    /// Any spelling readable in the channel's region.
    pub number: String,
    /// A mobile number; when absent the numbering plan decides.
    pub mobile: Option<bool>,
}

/// Fields of a customer to create or change; `None` leaves a field as it is
/// (on creation: empty name, lead, not blocked, no phones, no profile).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// Name.
    pub name: Option<String>,
    /// Lead or member.
    pub kind: Option<CustomerKind>,
    /// Blocked.
    pub blocked: Option<bool>,
    /// Replaces all phone numbers.
    pub phones: Option<Vec<PhoneInput>>,
    /// Replaces all profile fields.
    pub profile: Option<BTreeMap<String, String>>,
}

/// Fields of a trunk to create or change; `None` leaves a field as it is. To clear an
/// optional text field, send an empty string.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrunkInput {
    /// Name (required on creation).
    pub name: Option<String>,
    /// IP addresses or CIDR networks the carrier sends from.
    pub allowed_sources: Option<Vec<String>>,
    /// Username the carrier authenticates with.
    pub inbound_username: Option<String>,
    /// Password the carrier authenticates with.
    pub inbound_password: Option<String>,
    /// `host[:port]` of the carrier's SIP server.
    pub outbound_proxy: Option<String>,
    /// Username for the carrier's challenges.
    pub outbound_username: Option<String>,
    /// Password for the carrier's challenges.
    pub outbound_password: Option<String>,
    /// Caller ID for outbound calls (any spelling; stored E.164).
    pub caller_id: Option<String>,
    /// Keep a registration with the carrier.
    pub register: Option<bool>,
    /// `udp` or `tcp`.
    pub transport: Option<TrunkTransport>,
}

/// A staff member's SIP softphone account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SipAccount {
    /// The staff member.
    pub staff_id: StaffId,
    /// SIP username (the user part of their address of record).
    pub username: String,
    /// The device password.
    pub password: String,
}

/// What [`Store::import_contacts`] does with its plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportMode {
    /// Only plan: nothing changes.
    Preview,
    /// Plan and carry the plan out. With `expect` (a preview's
    /// [`digest`](denwa_core::contacts::ImportPlan::digest)) the plan must be that one.
    Apply {
        /// The digest the plan must have.
        expect: Option<String>,
    },
}

/// A new chat.
#[derive(Debug, Clone)]
pub struct NewChat {
    /// The customer.
    pub customer_id: CustomerId,
    /// Medium.
    pub medium: Medium,
    /// Where it came from (`phone`, `web`, `api`, `console`).
    pub source: String,
    /// A first customer message, if it starts with one.
    pub first_message: Option<String>,
}

/// Which chats to list (all conditions must hold).
#[derive(Debug, Clone, Default)]
pub struct ChatFilter {
    /// State.
    pub state: Option<ChatState>,
    /// Assignee: `Some(None)` means unassigned.
    pub assignee: Option<Option<StaffId>>,
    /// Team.
    pub team: Option<TeamId>,
    /// Has this tag.
    pub tag: Option<String>,
    /// Medium.
    pub medium: Option<Medium>,
    /// Came in through this integration (`phone`: SPEC AS-3).
    pub source: Option<String>,
    /// Customer.
    pub customer: Option<CustomerId>,
    /// Keyword in messages, notes, the customer's name or number.
    pub keyword: Option<String>,
    /// The chats whose messages or notes match the keyword, found by the search
    /// index; when set, message text is not matched with `LIKE` (the customer's name
    /// and number still are).
    pub text_matches: Option<Vec<ChatId>>,
    /// At most this many.
    pub limit: u32,
    /// Continue after this cursor (from a previous page).
    pub cursor: Option<ChatCursor>,
}

/// A position in the inbox order (latest activity first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatCursor {
    /// `updated_at` of the last chat seen, Unix ms.
    pub updated_at_ms: i64,
    /// Its id.
    pub id: ChatId,
}

impl ChatCursor {
    /// The opaque string form handed to clients.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.updated_at_ms, self.id)
    }

    /// Reads [`encode`](Self::encode)'s form.
    pub fn decode(s: &str) -> Option<ChatCursor> {
        let (t, id) = s.split_once('_')?;
        Some(ChatCursor {
            updated_at_ms: t.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

/// A page of chats.
#[derive(Debug, Clone)]
pub struct ChatPage {
    /// The chats, latest activity first.
    pub chats: Vec<ChatSummary>,
    /// Where the next page starts, if there is one.
    pub next: Option<ChatCursor>,
}

/// A staff member's membership of one channel.
#[derive(Debug, Clone)]
pub struct Membership {
    /// The channel.
    pub channel: Channel,
    /// Role there.
    pub role: Role,
    /// Operator seat there.
    pub operator_seat: bool,
}

/// The persistence seam of Denwa. Every channel-scoped method takes the channel first and
/// never reads or changes another channel's rows.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- channels
    /// Creates a channel with default business hours (always open) in its time zone.
    async fn create_channel(&self, new: NewChannel) -> Result<Channel>;
    /// One channel.
    async fn channel(&self, id: ChannelId) -> Result<Channel>;
    /// All channels, oldest first.
    async fn channels(&self) -> Result<Vec<Channel>>;
    /// Changes channel settings.
    async fn update_channel(
        &self,
        id: ChannelId,
        patch: ChannelPatch,
        actor: Option<StaffId>,
    ) -> Result<(Channel, Event)>;
    /// The channel's business hours.
    async fn business_hours(&self, id: ChannelId) -> Result<BusinessHours>;
    /// Replaces the channel's business hours.
    async fn set_business_hours(
        &self,
        id: ChannelId,
        hours: BusinessHours,
        actor: Option<StaffId>,
    ) -> Result<Event>;
    /// The channel owning a DID, if any.
    async fn channel_by_number(&self, e164: &str) -> Result<Option<ChannelId>>;

    // ---- trunks and SIP accounts
    /// The channel's trunks.
    async fn trunks(&self, channel: ChannelId) -> Result<Vec<Trunk>>;
    /// Every trunk of every channel with its secrets, for the SIP edge.
    async fn trunk_routes(&self) -> Result<Vec<(Trunk, TrunkSecrets)>>;
    /// Creates a trunk.
    async fn create_trunk(
        &self,
        channel: ChannelId,
        input: TrunkInput,
        actor: Option<StaffId>,
    ) -> Result<(Trunk, Event)>;
    /// Changes a trunk.
    async fn update_trunk(
        &self,
        channel: ChannelId,
        id: TrunkId,
        input: TrunkInput,
        actor: Option<StaffId>,
    ) -> Result<(Trunk, Event)>;
    /// Deletes a trunk.
    async fn delete_trunk(
        &self,
        channel: ChannelId,
        id: TrunkId,
        actor: Option<StaffId>,
    ) -> Result<Event>;
    /// Sets (or replaces) a staff member's SIP account; a `None` username keeps the
    /// current one (or derives one from the e-mail), a `None` password generates one.
    async fn set_sip_account(
        &self,
        staff: StaffId,
        username: Option<&str>,
        password: Option<&str>,
    ) -> Result<(SipAccount, Event)>;
    /// The SIP account with this username, for the registrar.
    async fn sip_account(&self, username: &str) -> Result<Option<SipAccount>>;
    /// A staff member's SIP account, if set.
    async fn sip_account_of(&self, staff: StaffId) -> Result<Option<SipAccount>>;

    // ---- staff and sessions
    /// Creates a staff account (the password is stored as an argon2id hash).
    async fn create_staff(&self, email: &str, name: &str, password: &str) -> Result<Staff>;
    /// A staff account by e-mail.
    async fn staff_by_email(&self, email: &str) -> Result<Option<Staff>>;
    /// Adds (or changes) a staff member's membership of a channel.
    async fn add_member(
        &self,
        channel: ChannelId,
        staff: StaffId,
        role: Role,
        operator_seat: bool,
    ) -> Result<()>;
    /// Checks a password; `None` when the e-mail or password is wrong.
    async fn verify_password(&self, email: &str, password: &str) -> Result<Option<Staff>>;
    /// Opens a session; returns the bearer token (only its hash is stored).
    async fn create_session(&self, staff: StaffId, ttl: chrono::Duration) -> Result<String>;
    /// The staff member behind a live session token.
    async fn session_staff(&self, token: &str) -> Result<Option<Staff>>;
    /// Ends a session.
    async fn delete_session(&self, token: &str) -> Result<()>;
    /// The staff member's channels.
    async fn memberships(&self, staff: StaffId) -> Result<Vec<Membership>>;
    /// The staff member's role and seat in one channel, if a member.
    async fn membership(&self, channel: ChannelId, staff: StaffId) -> Result<Option<(Role, bool)>>;
    /// The channel's staff.
    async fn members(&self, channel: ChannelId) -> Result<Vec<Member>>;
    /// A staff member's settings.
    async fn settings(&self, staff: StaffId) -> Result<Settings>;
    /// Changes a staff member's settings (a private event).
    async fn update_settings(
        &self,
        staff: StaffId,
        patch: SettingsPatch,
    ) -> Result<(Settings, Event)>;

    // ---- teams and tags
    /// The channel's teams.
    async fn teams(&self, channel: ChannelId) -> Result<Vec<Team>>;
    /// Creates a team; members must belong to the channel.
    async fn create_team(
        &self,
        channel: ChannelId,
        name: &str,
        members: &[StaffId],
        actor: Option<StaffId>,
    ) -> Result<(Team, Event)>;
    /// Renames a team and/or replaces its members.
    async fn update_team(
        &self,
        channel: ChannelId,
        team: TeamId,
        name: Option<&str>,
        members: Option<&[StaffId]>,
        actor: Option<StaffId>,
    ) -> Result<(Team, Event)>;
    /// Deletes a team (its chats become team-less).
    async fn delete_team(
        &self,
        channel: ChannelId,
        team: TeamId,
        actor: Option<StaffId>,
    ) -> Result<Event>;
    /// The channel's tags.
    async fn tags(&self, channel: ChannelId) -> Result<Vec<String>>;
    /// Adds a tag to the channel's list (idempotent).
    async fn create_tag(&self, channel: ChannelId, name: &str) -> Result<String>;

    // ---- customers
    /// Creates a customer.
    async fn create_customer(
        &self,
        channel: ChannelId,
        input: CustomerInput,
        actor: Option<StaffId>,
    ) -> Result<(Customer, Event)>;
    /// One customer.
    async fn customer(&self, channel: ChannelId, id: CustomerId) -> Result<Customer>;
    /// Changes a customer.
    async fn update_customer(
        &self,
        channel: ChannelId,
        id: CustomerId,
        input: CustomerInput,
        actor: Option<StaffId>,
    ) -> Result<(Customer, Event)>;
    /// Deletes a customer and their chats.
    async fn delete_customer(
        &self,
        channel: ChannelId,
        id: CustomerId,
        actor: Option<StaffId>,
    ) -> Result<Event>;
    /// Customers whose name contains `query`, or who own the number `query` spells
    /// (any spelling readable in the channel's region, or a run of its digits).
    async fn search_customers(
        &self,
        channel: ChannelId,
        query: &str,
        limit: u32,
    ) -> Result<Vec<Customer>>;
    /// The customer owning an E.164 number (SPEC IN-6).
    async fn customer_by_phone(&self, channel: ChannelId, e164: &str) -> Result<Option<Customer>>;
    /// Plans importing a staff member's contact file into the channel's contact list
    /// (SPEC OUT-6; see [`denwa_core::contacts::plan_import`]) against the list as it is
    /// now. [`ImportMode::Apply`] carries the plan out in one transaction — new leads
    /// (`customer_created`), the new numbers and empty names of the customers joined
    /// (`customer_updated`) — or, when `expect` is not the plan's digest, changes nothing
    /// and answers [`StoreError::Stale`]. Returns the plan (with the new leads' ids once
    /// applied) and the events to publish.
    async fn import_contacts(
        &self,
        channel: ChannelId,
        file: &denwa_core::contacts::ContactFile,
        mode: ImportMode,
        actor: Option<StaffId>,
    ) -> Result<(denwa_core::contacts::ImportPlan, Vec<Event>)>;

    // ---- chats
    /// Opens a chat (and its first customer message).
    async fn create_chat(
        &self,
        channel: ChannelId,
        new: NewChat,
        actor: Option<StaffId>,
    ) -> Result<(ChatSummary, Vec<Event>)>;
    /// One chat.
    async fn chat(&self, channel: ChannelId, id: ChatId) -> Result<ChatSummary>;
    /// Chats matching a filter, latest activity first.
    async fn list_chats(&self, channel: ChannelId, filter: ChatFilter) -> Result<ChatPage>;
    /// The chat's events, oldest first.
    async fn timeline(&self, channel: ChannelId, id: ChatId) -> Result<Vec<Event>>;
    /// Adds a message or an internal note.
    async fn add_message(
        &self,
        channel: ChannelId,
        chat: ChatId,
        kind: MessageKind,
        author: Option<StaffId>,
        body: &str,
    ) -> Result<(Message, Event)>;
    /// Assigns the chat to a staff member of the channel, or unassigns it.
    async fn set_assignee(
        &self,
        channel: ChannelId,
        chat: ChatId,
        assignee: Option<StaffId>,
        actor: Option<StaffId>,
    ) -> Result<(ChatSummary, Event)>;
    /// Sets the chat's team, or none.
    async fn set_team(
        &self,
        channel: ChannelId,
        chat: ChatId,
        team: Option<TeamId>,
        actor: Option<StaffId>,
    ) -> Result<(ChatSummary, Event)>;
    /// Replaces the chat's tags (unknown tags join the channel's list).
    async fn set_tags(
        &self,
        channel: ChannelId,
        chat: ChatId,
        tags: &[String],
        actor: Option<StaffId>,
    ) -> Result<(ChatSummary, Event)>;
    /// Opens, snoozes (until a time) or closes the chat.
    async fn set_state(
        &self,
        channel: ChannelId,
        chat: ChatId,
        state: ChatState,
        snoozed_until: Option<DateTime<Utc>>,
        actor: Option<StaffId>,
    ) -> Result<(ChatSummary, Event)>;

    // ---- API keys
    /// Creates an API key; returns it with its secret (shown once, stored hashed).
    async fn create_api_key(
        &self,
        channel: ChannelId,
        name: &str,
        actor: Option<StaffId>,
    ) -> Result<(ApiKey, String, Event)>;
    /// The channel's live API keys.
    async fn api_keys(&self, channel: ChannelId) -> Result<Vec<ApiKey>>;
    /// Revokes an API key.
    async fn revoke_api_key(
        &self,
        channel: ChannelId,
        id: ApiKeyId,
        actor: Option<StaffId>,
    ) -> Result<Event>;
    /// The channel of a live key whose secret matches.
    async fn verify_api_key(&self, access_key: &str, secret: &str) -> Result<Option<ChannelId>>;

    // ---- calls
    /// Opens a call with its phone chat in one transaction (SPEC IN-5, IN-6, OUT-3): finds
    /// the customer by number (or takes `customer_id`), creates a lead for an unknown or
    /// withheld number, opens a new `phone` chat, inserts the call row and stores
    /// `chat_opened` (and `customer_created` for a new lead).
    async fn open_call(&self, channel: ChannelId, new: NewCall) -> Result<OpenedCall>;
    /// Stores a `call_*` event on the call's chat and applies it to the call's row (and
    /// its per-staff rows) in the same transaction. `data` should carry what the event
    /// kind documents (see [`EventKind`](denwa_core::EventKind)).
    async fn record_call_event(
        &self,
        channel: ChannelId,
        call: CallRecordId,
        kind: EventKind,
        actor: Option<StaffId>,
        data: serde_json::Value,
    ) -> Result<Event>;
    /// Stores several `call_*` events of one call in one transaction, in order (see
    /// [`record_call_event`](Self::record_call_event)).
    async fn record_call_events(
        &self,
        channel: ChannelId,
        call: CallRecordId,
        events: Vec<(EventKind, Option<StaffId>, serde_json::Value)>,
    ) -> Result<Vec<Event>>;
    /// Every member of the channel with their settings and SIP username (ringing reads it
    /// for each call, in one query).
    async fn ring_candidates(
        &self,
        channel: ChannelId,
    ) -> Result<Vec<(StaffId, Settings, Option<String>)>>;
    /// Sets where a call's recording lives (relative to the recordings folder) and queues
    /// the call for its MP3 and transcript once it has ended (SPEC RC-1, RC-2).
    async fn set_call_recording(
        &self,
        channel: ChannelId,
        call: CallRecordId,
        path: &str,
    ) -> Result<()>;
    /// One call.
    async fn call_record(&self, channel: ChannelId, id: CallRecordId) -> Result<CallRecord>;
    /// The calls of a chat, oldest first.
    async fn chat_calls(&self, channel: ChannelId, chat: ChatId) -> Result<Vec<CallRecord>>;
    /// The latest calls `staff` placed, took part in or was rung for, newest first (at
    /// most `limit`), with a customer's number: the dialer's recent calls.
    async fn recent_calls(
        &self,
        channel: ChannelId,
        staff: StaffId,
        limit: u32,
    ) -> Result<Vec<CallRecord>>;
    /// Calls that started in `[from, to)`, oldest first.
    async fn calls_between(
        &self,
        channel: ChannelId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CallRecord>>;
    /// Each staff member's part in a call.
    async fn call_staff(
        &self,
        channel: ChannelId,
        call: CallRecordId,
    ) -> Result<Vec<CallStaffRecord>>;
    /// Ends every call still live in the store (a previous process died with them): each
    /// gets a `call_ended` event by the system with `reason` and is marked missed
    /// (`noOperator`) if nobody had answered. Returns the events, to publish.
    async fn end_interrupted_calls(&self, reason: &str) -> Result<Vec<Event>>;
    /// Marks every live call as still alive now (the server calls it every few seconds,
    /// so a crash can be dated); returns how many calls are live.
    async fn heartbeat_live_calls(&self) -> Result<u64>;

    // ---- recordings (SPEC RC-1, RC-2): the persisted queue of the work after a call
    /// Recordings whose call has ended and whose MP3 or transcript is still to be made
    /// (pending, or running when a previous process died), oldest call end first.
    async fn recording_work(&self, limit: u32) -> Result<Vec<RecordingWork>>;
    /// A call's recording and transcript.
    async fn recording(&self, channel: ChannelId, call: CallRecordId) -> Result<Recording>;
    /// The MP3 is made: stores `recording_ready` on the call's chat.
    async fn recording_mp3_ready(
        &self,
        call: CallRecordId,
        duration_ms: u64,
        mp3_bytes: u64,
    ) -> Result<Event>;
    /// The MP3 could not be made (the WAV tracks stay).
    async fn recording_mp3_failed(&self, call: CallRecordId, error: &str) -> Result<()>;
    /// Transcription is running with `done` of `total` tracks; `starting` counts an attempt.
    async fn transcript_progress(
        &self,
        call: CallRecordId,
        done: u32,
        total: u32,
        starting: bool,
    ) -> Result<()>;
    /// The transcript is made: stores it and `transcript_ready` on the call's chat.
    async fn transcript_done(
        &self,
        call: CallRecordId,
        language: Option<&str>,
        lines: &[TranscriptLine],
    ) -> Result<Event>;
    /// Transcription failed: queued again, or with `give_up` failed for good (stores
    /// `transcript_failed`).
    async fn transcript_failed(
        &self,
        call: CallRecordId,
        error: &str,
        give_up: bool,
    ) -> Result<Option<Event>>;
    /// This server has no transcriber: the recording is not transcribed.
    async fn transcript_off(&self, call: CallRecordId) -> Result<()>;
    /// A channel's finished transcripts with a call id above `after`, in call id order, at
    /// most `limit` (1–10 000), each with when it was made (search rebuilds read them).
    async fn transcripts_after(
        &self,
        channel: ChannelId,
        after: CallRecordId,
        limit: u32,
    ) -> Result<Vec<(Recording, DateTime<Utc>)>>;

    // ---- search
    /// A channel's messages and notes with an id above `after`, in id order, at most
    /// `limit` (1–10 000): the pages `denwa admin reindex` feeds the search index.
    async fn messages_after(
        &self,
        channel: ChannelId,
        after: denwa_core::model::MessageId,
        limit: u32,
    ) -> Result<Vec<Message>>;
    /// How many messages and notes a channel has.
    async fn message_count(&self, channel: ChannelId) -> Result<u64>;

    // ---- statistics (SPEC ST-1..ST-5; definitions in denwa_core::stats)
    /// The dashboard of a local date range (at most 90 days) from the rollup the store
    /// keeps of ended calls (rebuilt first when the channel's time zone changed).
    async fn dashboard(
        &self,
        channel: ChannelId,
        q: denwa_core::stats::DashboardQuery,
    ) -> Result<denwa_core::stats::Dashboard>;
    /// Call rows ("UserChat meet data") that started in `[q.from, q.to)` and pass
    /// `q.filters`, ordered by start then id.
    async fn call_rows(
        &self,
        channel: ChannelId,
        q: &CallRowQuery,
    ) -> Result<Vec<denwa_core::stats::CallRow>>;
    /// Imports ended calls (synthetic history): chats, leads for unseen numbers, call and
    /// per-staff rows and the rollup, in one transaction, without events. Ids in the
    /// records are replaced. Returns how many were imported.
    async fn import_calls(
        &self,
        channel: ChannelId,
        calls: &[denwa_core::stats::CallHistory],
    ) -> Result<u64>;

    /// The channel's call routing, with its business hours and teams filled in.
    async fn routing(&self, channel: ChannelId) -> Result<RoutingConfig>;
    /// Sets the channel's call routing (hours and teams given are ignored: the channel's
    /// own are used). Refuses rules naming another channel's team or staff.
    async fn set_routing(
        &self,
        channel: ChannelId,
        config: RoutingConfig,
        actor: Option<StaffId>,
    ) -> Result<Event>;
    /// Opened phone chats that had a call and have an assignee (SPEC AS-2, at start-up).
    async fn open_phone_chats(&self) -> Result<Vec<(StaffId, ChatId)>>;
}

/// Which call rows [`Store::call_rows`] reads.
#[derive(Debug, Clone)]
pub struct CallRowQuery {
    /// Calls that started at or after.
    pub from: DateTime<Utc>,
    /// Calls that started before.
    pub to: DateTime<Utc>,
    /// Conditions, all of which must hold.
    pub filters: Vec<denwa_core::stats::CallFilter>,
    /// Only rows after this (start, id) (keyset paging for streaming exports).
    pub after: Option<(DateTime<Utc>, CallRecordId)>,
    /// Rows to skip.
    pub offset: u64,
    /// Most rows returned.
    pub limit: u32,
}

/// A call to open (see [`Store::open_call`]).
#[derive(Debug, Clone)]
pub struct NewCall {
    /// Inbound or outbound.
    pub direction: CallDirection,
    /// `phone` for trunk calls.
    pub medium: Medium,
    /// The customer side's number in E.164 (`None`: withheld).
    pub customer_number: Option<String>,
    /// The channel's number in E.164.
    pub channel_number: Option<String>,
    /// The customer to use instead of looking the number up (outbound from a customer).
    pub customer_id: Option<CustomerId>,
    /// Who placed an outbound call (becomes the chat's assignee).
    pub staff_id: Option<StaffId>,
}

/// What [`Store::open_call`] did.
#[derive(Debug, Clone)]
pub struct OpenedCall {
    /// The call's row.
    pub call: CallRecordId,
    /// Its new phone chat.
    pub chat: ChatSummary,
    /// The customer (existing, or the lead just created).
    pub customer: Customer,
    /// Whether the customer existed before this call.
    pub known_customer: bool,
    /// Events to publish (`customer_created`, `chat_opened`).
    pub events: Vec<Event>,
}

//! The nouns of the product (SPEC glossary) as plain serialisable data.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A channel: one business (tenant).
pub type ChannelId = i64;
/// A staff member (operator/manager/owner).
pub type StaffId = i64;
/// A team of staff inside a channel.
pub type TeamId = i64;
/// A customer (or lead) in a channel's contact list.
pub type CustomerId = i64;
/// A chat (UserChat): one conversation with one customer.
pub type ChatId = i64;
/// A customer-facing message or an internal note.
pub type MessageId = i64;
/// A stored domain event.
pub type EventId = i64;
/// An integration API key.
pub type ApiKeyId = i64;

// The spelling is taken as `tt`, not `literal`: utoipa's `ToSchema` derive does not see a
// `literal` fragment inside `#[serde(rename = ...)]` and documented the Rust names.
macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $s:tt),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $s)] $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire and storage spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }

            /// Reads the wire and storage spelling.
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($s => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

str_enum!(
    /// A chat's state.
    ChatState {
        /// Waiting for or under work.
        Opened = "opened",
        /// Put aside until a time.
        Snoozed = "snoozed",
        /// Done.
        Closed = "closed",
    }
);

str_enum!(
    /// How a chat's conversation happens.
    Medium {
        /// Text chat.
        Chat = "chat",
        /// PSTN call over the SIP trunk.
        Phone = "phone",
        /// Voice Meet (WebRTC).
        Voice = "voice",
        /// Video Meet (WebRTC).
        Video = "video",
    }
);

str_enum!(
    /// A staff member's role in one channel.
    Role {
        /// Owns the channel: everything a manager can do, plus ownership.
        Owner = "owner",
        /// Manages settings, teams, API keys.
        Manager = "manager",
        /// Answers customers.
        Operator = "operator",
    }
);

impl Role {
    /// Whether this role may change channel settings, teams and API keys.
    pub fn can_manage(self) -> bool {
        matches!(self, Role::Owner | Role::Manager)
    }
}

str_enum!(
    /// Whether a customer is only a lead (created before anything else was known).
    CustomerKind {
        /// Created automatically or by hand before anything else is known.
        Lead = "lead",
        /// A known customer.
        Member = "member",
    }
);

str_enum!(
    /// Kinds of chat entries.
    MessageKind {
        /// Internal note between staff; the customer never sees it.
        Note = "note",
        /// Written by the customer.
        Customer = "customer",
        /// Written by staff to the customer.
        Staff = "staff",
    }
);

str_enum!(
    /// Why a call was missed (SPEC ST-2).
    MissedReason {
        /// Outside business hours.
        NotInOperation = "notInOperation",
        /// Nobody eligible, or nobody answered.
        NoOperator = "noOperator",
        /// The customer hung up while ringing.
        UserLeft = "userLeft",
    }
);

/// A channel as staff see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Channel {
    /// Id.
    pub id: ChannelId,
    /// Display name.
    pub name: String,
    /// ISO 3166 region whose numbering plan reads local numbers.
    pub region: String,
    /// IANA time zone of the business.
    pub time_zone: String,
    /// Default console language: `ja` or `en`.
    pub locale: String,
    /// Up to three customer profile fields shown when a call rings (SPEC IN-2).
    pub ring_profile_fields: Vec<String>,
    /// The channel's own phone numbers (DIDs), E.164.
    pub phone_numbers: Vec<String>,
    /// The echo test number callers dial to check audio (`9196` unless configured).
    pub echo_number: String,
}

/// The console language for a region: Japanese for Japan, English elsewhere.
pub fn locale_for_region(region: &str) -> &'static str {
    if region.eq_ignore_ascii_case("JP") {
        "ja"
    } else {
        "en"
    }
}

/// A staff member's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Staff {
    /// Id.
    pub id: StaffId,
    /// Login e-mail.
    pub email: String,
    /// Display name.
    pub name: String,
}

/// A staff member's own settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Settings {
    /// Ring me for calls nobody is assigned to (SPEC IN-3).
    pub unassigned_call_notification: bool,
    /// Do not disturb: never ring me (SPEC AS-1).
    pub do_not_disturb: bool,
    /// Join every call muted (SPEC RG-8).
    pub auto_mute_on_join: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            unassigned_call_notification: true,
            do_not_disturb: false,
            auto_mute_on_join: false,
        }
    }
}

/// A staff member's place in one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    /// Who.
    pub staff: Staff,
    /// Their role there.
    pub role: Role,
    /// Permission to place outbound calls (SPEC OUT-5).
    pub operator_seat: bool,
    /// Teams they belong to in this channel.
    pub team_ids: Vec<TeamId>,
}

/// A team inside a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Team {
    /// Id.
    pub id: TeamId,
    /// Name.
    pub name: String,
    /// Its staff.
    pub member_ids: Vec<StaffId>,
}

/// One of a customer's phone numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Phone {
    /// E.164.
    pub number: String,
    /// As written in the channel's region.
    pub display: String,
    /// A mobile number.
    pub mobile: bool,
}

/// A customer or lead in a channel's contact list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    /// Id.
    pub id: CustomerId,
    /// Name (may be empty for a lead known only by number).
    pub name: String,
    /// Lead or member.
    pub kind: CustomerKind,
    /// Blocked: calling them asks for confirmation (SPEC OUT-4).
    pub blocked: bool,
    /// Phone numbers.
    pub phones: Vec<Phone>,
    /// Custom profile fields.
    pub profile: BTreeMap<String, String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// The customer as a chat list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CustomerBrief {
    /// Id.
    pub id: CustomerId,
    /// Name.
    pub name: String,
    /// Lead or member.
    pub kind: CustomerKind,
    /// Phone numbers.
    pub phones: Vec<Phone>,
}

/// A chat as the inbox lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatSummary {
    /// Id.
    pub id: ChatId,
    /// Owning channel.
    pub channel_id: ChannelId,
    /// State.
    pub state: ChatState,
    /// Medium.
    pub medium: Medium,
    /// Where it came from: `phone`, `web`, `api`, `console`.
    pub source: String,
    /// The customer.
    pub customer: CustomerBrief,
    /// Assigned staff member.
    pub assignee_id: Option<StaffId>,
    /// Assigned team.
    pub team_id: Option<TeamId>,
    /// Tags.
    pub tags: Vec<String>,
    /// Until when it is snoozed.
    pub snoozed_until: Option<DateTime<Utc>>,
    /// Opened.
    pub created_at: DateTime<Utc>,
    /// Last activity.
    pub updated_at: DateTime<Utc>,
    /// The latest message or note, shortened.
    pub preview: Option<String>,
}

/// A customer-facing message or an internal note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    /// Id.
    pub id: MessageId,
    /// Chat.
    pub chat_id: ChatId,
    /// Note, customer or staff.
    pub kind: MessageKind,
    /// The staff author, for notes and staff messages.
    pub author_staff_id: Option<StaffId>,
    /// Text.
    pub body: String,
    /// Written.
    pub created_at: DateTime<Utc>,
}

/// An integration API key (the secret is never shown again after creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    /// Id.
    pub id: ApiKeyId,
    /// What it is for.
    pub name: String,
    /// The public half, sent as `x-access-key`.
    pub access_key: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Shortens a text to at most `max` characters for list previews.
pub fn preview(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let mut s: String = flat.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_their_spelling() {
        for s in ChatState::ALL {
            assert_eq!(ChatState::parse(s.as_str()), Some(*s));
        }
        for m in Medium::ALL {
            assert_eq!(Medium::parse(m.as_str()), Some(*m));
        }
        assert_eq!(MissedReason::UserLeft.as_str(), "userLeft");
        assert_eq!(
            serde_json::to_string(&MissedReason::NotInOperation).unwrap(),
            "\"notInOperation\""
        );
        assert_eq!(Medium::parse("fax"), None);
    }

    #[test]
    fn preview_shortens_on_characters() {
        assert_eq!(preview("a  b\nc", 10), "a b c");
        assert_eq!(preview("請求書の再発行をお願いします", 5), "請求書の…");
    }
}

/// A call's id in the store (durable; the switchboard's `CallId` is per process).
pub type CallRecordId = i64;

str_enum!(
    /// Which side placed a call.
    CallDirection {
        /// A customer called a channel number.
        Inbound = "inbound",
        /// Staff called a customer.
        Outbound = "outbound",
    }
);

str_enum!(
    /// How a call turned out (set when it ends; statistics count by it).
    CallOutcome {
        /// A staff member (inbound) or the callee (outbound) answered.
        Answered = "answered",
        /// Inbound, not answered: see `missed_reason`.
        Missed = "missed",
        /// Outbound: the callee was busy (486/600).
        Busy = "busy",
        /// Outbound: the callee declined (603).
        Declined = "declined",
        /// Outbound: nobody answered before the ring timeout (CANCEL sent).
        NoAnswer = "no_answer",
        /// Outbound: the carrier refused or failed (other 4xx/5xx/6xx, unreachable).
        Failed = "failed",
    }
);

impl CallOutcome {
    /// How an outgoing call turned out from the final SIP status of its INVITE: 486 and
    /// 600 busy, 603 declined, 408 (no response), 480 (temporarily unavailable) and 487
    /// (cancelled) no answer; anything else failed.
    #[must_use]
    pub fn from_sip_status(status: u16) -> CallOutcome {
        match status {
            200..=299 => CallOutcome::Answered,
            486 | 600 => CallOutcome::Busy,
            603 => CallOutcome::Declined,
            408 | 480 | 487 => CallOutcome::NoAnswer,
            _ => CallOutcome::Failed,
        }
    }
}

/// One call as the store keeps it: a projection of its `call_*` events, one row per call,
/// which statistics, exports and the BI feed read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallRecord {
    /// Id.
    pub id: CallRecordId,
    /// Channel.
    pub channel_id: ChannelId,
    /// The phone chat the call belongs to.
    pub chat_id: ChatId,
    /// Inbound or outbound.
    pub direction: CallDirection,
    /// `phone` for trunk calls.
    pub medium: Medium,
    /// The customer.
    pub customer_id: Option<CustomerId>,
    /// The customer side's number (caller inbound, callee outbound); `None` if withheld.
    pub customer_number: Option<String>,
    /// The channel's number (dialled inbound, caller ID outbound).
    pub channel_number: Option<String>,
    /// Team the call was routed to.
    pub team_id: Option<TeamId>,
    /// The first staff member connected (inbound) or who placed it (outbound).
    pub staff_id: Option<StaffId>,
    /// Arrival (inbound) or dialling (outbound).
    pub started_at: DateTime<Utc>,
    /// First staff connected (inbound) or the callee answered (outbound).
    pub answered_at: Option<DateTime<Utc>>,
    /// End; `None` while live.
    pub ended_at: Option<DateTime<Utc>>,
    /// Time the customer spent on hold.
    pub hold_ms: i64,
    /// Staff who joined, in order of joining.
    pub participants: Vec<StaffId>,
    /// `None` while live.
    pub outcome: Option<CallOutcome>,
    /// Why an inbound call was missed.
    pub missed_reason: Option<MissedReason>,
    /// `customer`, `staff` or `system`.
    pub ended_by: Option<String>,
    /// A machine-readable detail, e.g. `server_restarted`, `media_timeout`, `sip_486`.
    pub end_reason: Option<String>,
    /// Where its recording lives (relative to the data dir), when recorded.
    pub recording: Option<String>,
}

/// One staff member's part in one call (per-staff statistics, SPEC ST-4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallStaffRecord {
    /// The call.
    pub call_id: CallRecordId,
    /// Who.
    pub staff_id: StaffId,
    /// First rung (routing or invitation); `None` for an outbound caller.
    pub rung_at: Option<DateTime<Utc>>,
    /// Invited by this teammate.
    pub invited_by: Option<StaffId>,
    /// First joined.
    pub joined_at: Option<DateTime<Utc>>,
    /// Last left.
    pub left_at: Option<DateTime<Utc>>,
    /// Time in the call (sum over joins).
    pub talk_ms: i64,
    /// `answered` (took the call), `joined` (invited and joined), `declined`, `missed`,
    /// `placed` (outbound caller); `None` while still ringing.
    pub outcome: Option<String>,
}

str_enum!(
    /// Where a call's playable recording (the mixed track as MP3) stands (SPEC RC-2).
    RecordingState {
        /// The call is live, or its MP3 is being made.
        Pending = "pending",
        /// The MP3 can be played and downloaded.
        Ready = "ready",
        /// The MP3 could not be made (`error` says why); the WAV tracks are kept.
        Failed = "failed",
    }
);

str_enum!(
    /// Where a call's transcript stands (SPEC RC-1).
    TranscriptState {
        /// Waiting for the call to end or for the transcription worker.
        Pending = "pending",
        /// Being transcribed (`tracks_done` of `tracks_total`).
        Running = "running",
        /// Done: `lines` hold it.
        Done = "done",
        /// Transcription failed after its retries (`error` says why).
        Failed = "failed",
        /// No transcriber is configured on this server.
        Off = "off",
    }
);

/// A line of a call's transcript: who said it (known exactly: each leg is recorded on its
/// own track) and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TranscriptLine {
    /// `customer`, or the id of the staff member who said it.
    pub speaker: String,
    /// Start, in milliseconds from the start of the recording.
    pub offset_ms: u64,
    /// End, in milliseconds from the start of the recording.
    pub end_ms: u64,
    /// What was said.
    pub text: String,
}

/// A recorded call's recording and transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Recording {
    /// The call.
    pub call_id: CallRecordId,
    /// Its channel.
    pub channel_id: ChannelId,
    /// The call's phone chat.
    pub chat_id: ChatId,
    /// The MP3.
    pub mp3: RecordingState,
    /// Length of the recording, once the MP3 is made.
    pub duration_ms: Option<u64>,
    /// Size of the MP3 in bytes.
    pub mp3_bytes: Option<u64>,
    /// The transcript.
    pub transcript: TranscriptState,
    /// Legs transcribed so far (progress while `running`).
    pub tracks_done: u32,
    /// Legs to transcribe.
    pub tracks_total: u32,
    /// The language the transcript was asked for (ISO 639-1); `None`: the model detected it.
    pub language: Option<String>,
    /// Why the MP3 or the transcript failed, or the last retried error.
    pub error: Option<String>,
    /// The transcript, in time order; empty until `done`.
    pub lines: Vec<TranscriptLine>,
}

//! Domain events: every state change is one (DESIGN principle 3). They are stored, shown
//! in chat timelines and pushed to staff consoles.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::{ChannelId, ChatId, EventId, StaffId};

/// What happened. The spelling is the wire and storage name of the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A chat was opened (`data.chat`).
    ChatOpened,
    /// An internal note was added (`data.message`, `data.chat`).
    NoteAdded,
    /// A customer-facing message was sent or received (`data.message`, `data.chat`).
    MessageSent,
    /// The assignee changed (`data.chat`).
    AssigneeChanged,
    /// The team changed (`data.chat`).
    TeamChanged,
    /// The tags changed (`data.chat`).
    TagsChanged,
    /// Opened/snoozed/closed (`data.chat`).
    StateChanged,
    /// A customer was created (`data.customer`).
    CustomerCreated,
    /// A customer was changed (`data.customer`).
    CustomerUpdated,
    /// A customer was deleted (`data.customer_id`).
    CustomerDeleted,
    /// A team was created (`data.team`).
    TeamCreated,
    /// A team was changed (`data.team`).
    TeamUpdated,
    /// A team was deleted (`data.team_id`).
    TeamDeleted,
    /// Channel settings changed (`data.channel`).
    ChannelUpdated,
    /// Business hours changed (`data.business_hours`).
    BusinessHoursChanged,
    /// An API key was created (`data.api_key_id`).
    ApiKeyCreated,
    /// An API key was revoked (`data.api_key_id`).
    ApiKeyRevoked,
    /// A trunk was created (`data.trunk`).
    TrunkCreated,
    /// A trunk was changed (`data.trunk`).
    TrunkUpdated,
    /// A trunk was deleted (`data.trunk_id`).
    TrunkDeleted,
    /// A staff member's SIP softphone account was set (`data.staff_id`, `data.username`);
    /// private.
    SipAccountChanged,
    /// A staff member changed their own settings (`data.staff_id`, `data.settings`);
    /// pushed only to that staff member.
    SettingsChanged,
    /// A call arrived (`data.call_id`, `data.direction`, `data.medium`, `data.caller`,
    /// `data.dialled`, `data.customer_id`).
    CallStarted,
    /// Staff are rung for a call (`data.staff_ids`; `data.skipped`: who was not rung, as
    /// `[{reason, staff_ids}]` grouped by reason; `data.team_id`).
    CallRinging,
    /// A staff member declined a ringing call or invitation (`data.staff_id`).
    CallDeclined,
    /// A staff member answered (`data.staff_id`, `data.wait_ms`).
    CallAnswered,
    /// A teammate was invited (`data.staff_id`, `data.invited_by`).
    CallInvited,
    /// An invitation was not taken in time or the call ended first (`data.staff_id`,
    /// `data.invited_by`).
    CallInviteMissed,
    /// A staff member joined the call (`data.staff_id`, `data.muted`, `data.invited_by`).
    CallParticipantJoined,
    /// A staff member left the call (`data.staff_id`).
    CallParticipantLeft,
    /// A participant muted or unmuted (`data.staff_id`, `data.muted`).
    CallMuteChanged,
    /// The customer was put on hold (`data.staff_id`).
    CallHeld,
    /// The hold ended (`data.held_by`, `data.reason`: `resumed` or `holder_left`).
    CallResumed,
    /// The call was not answered (`data.missed_reason`).
    CallMissed,
    /// The call ended (`data.ended_by`: `customer`, `staff` or `system`,
    /// `data.ended_by_staff_id`, `data.duration_ms` talk time, `data.total_ms`,
    /// `data.answered`, `data.missed_reason`).
    CallEnded,
    /// A call's recording can be played (`data.call_id`, `data.duration_ms`,
    /// `data.mp3_bytes`); stored on the call's chat.
    RecordingReady,
    /// A call's transcript is ready (`data.call_id`, `data.language`, `data.lines`:
    /// [`TranscriptLine`](crate::model::TranscriptLine)s); the search index adds its lines.
    TranscriptReady,
    /// A call could not be transcribed, after retries (`data.call_id`, `data.error`).
    TranscriptFailed,
}

impl EventKind {
    /// The wire and storage name, e.g. `note_added`.
    pub fn as_str(self) -> String {
        // Serialising a unit variant to a JSON string cannot fail.
        let quoted = serde_json::to_string(&self).expect("unit enum serialises");
        quoted.trim_matches('"').to_owned()
    }

    /// Reads the wire and storage name.
    pub fn parse(s: &str) -> Option<EventKind> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    /// Whether only the acting staff member (not the whole channel) receives it.
    pub fn is_private(self) -> bool {
        matches!(
            self,
            EventKind::SettingsChanged | EventKind::SipAccountChanged
        )
    }
}

/// A stored domain event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Id, increasing in the order events were stored.
    pub id: EventId,
    /// The channel it belongs to; staff of other channels never see it. `None` for a
    /// private event, which only its actor receives.
    pub channel_id: Option<ChannelId>,
    /// The chat it belongs to, if any (its timeline shows it).
    pub chat_id: Option<ChatId>,
    /// What happened.
    pub kind: EventKind,
    /// Who did it (none for the system or an integration).
    pub actor_staff_id: Option<StaffId>,
    /// When.
    pub at: DateTime<Utc>,
    /// Kind-specific details.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        assert_eq!(EventKind::NoteAdded.as_str(), "note_added");
        assert_eq!(
            EventKind::parse("state_changed"),
            Some(EventKind::StateChanged)
        );
        assert_eq!(EventKind::parse("nope"), None);
        assert!(EventKind::SettingsChanged.is_private());
        assert!(!EventKind::ChatOpened.is_private());
        assert_eq!(
            EventKind::CallParticipantJoined.as_str(),
            "call_participant_joined"
        );
        assert_eq!(EventKind::parse("call_ended"), Some(EventKind::CallEnded));
        assert!(!EventKind::CallHeld.is_private());
        assert_eq!(EventKind::TranscriptReady.as_str(), "transcript_ready");
    }
}

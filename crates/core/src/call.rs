//! The call lifecycle: every live call of the server as one pure, Sans-IO state machine
//! (DESIGN principle 1, the str0m / quinn-proto shape).
//!
//! [`Switchboard`] owns every live call and the per-staff availability that routing
//! needs across channels (SPEC AS-1, AS-2, AS-5): who is in a call, who is being rung,
//! who still has an open phone chat, and each staff member's settings. It never reads a
//! clock, touches the store or a socket: the server feeds it facts ([`Input`]) with the
//! time, and carries out what it asks for ([`Effect`]).
//!
//! # Run loop (the server)
//!
//! ```text
//! loop {
//!     // 1. feed what happened (SIP, media, staff console), with the monotonic time
//!     switchboard.handle_input(now, input)?;     // Err: refuse the staff request (4xx)
//!     // 2. carry out every effect, in order
//!     while let Some(effect) = switchboard.poll_effect() { execute(effect) }
//!     // 3. sleep until the next input or the machine's deadline
//!     select! { input = inbox.recv() => …, _ = sleep_until(switchboard.poll_timeout()) => {
//!         switchboard.handle_timeout(now);        // then drain effects again
//!     }}
//! }
//! ```
//!
//! Before [`Input::IncomingCall`] the server has done the I/O the machine cannot do:
//! normalised the caller's number, found the customer or created a lead (SPEC IN-6),
//! opened the phone chat (IN-5: a missed call still has its chat), read the channel's
//! [`RoutingConfig`] and listed the staff members who are online in that channel. The
//! machine then decides hours, routing and eligibility and answers with effects.
//!
//! # Effects
//!
//! * [`Effect::Record`] for every transition: the server stores it as a domain event on
//!   the chat (its timeline shows call started, ringing whom, answered by, joined/left,
//!   mute, hold/resume, missed and why, ended with duration and who ended it) and
//!   publishes it.
//! * [`Effect::Ring`] / [`Effect::StopRinging`]: staff consoles show or drop the incoming
//!   call (with the caller's profile, SPEC IN-2).
//! * [`Effect::AnswerCaller`]: 200 OK to the trunk and the caller's leg into the room.
//! * [`Effect::ConnectStaff`] / [`Effect::DisconnectStaff`]: a staff leg joins or leaves
//!   the room (muted on join when the staff member's auto-mute is on, SPEC RG-8).
//! * [`Effect::TurnAway`]: the caller is not answered: play the announcement if one is
//!   configured, then drop the call.
//! * [`Effect::HangUpCaller`]: BYE to the caller (staff ended the call).
//! * [`Effect::SetMuted`], [`Effect::Hold`], [`Effect::Resume`], [`Effect::SendDtmf`]:
//!   room commands (SPEC RG-4, HD-1..3, RG-2).
//! * [`Effect::Assign`]: set the chat's team and/or assignee (workflow routing, automatic
//!   assignment of the answering staff member).
//! * [`Effect::Finished`]: the machine forgot the call; release whatever is left of it.
//!
//! Requests that cannot apply (accepting a call that no longer rings for you, muting in a
//! call you are not in…) return a [`CallError`] and change nothing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::event::EventKind;
use crate::model::{
    CallOutcome, ChannelId, ChatId, CustomerId, Medium, MissedReason, Settings, StaffId, TeamId,
};
use crate::phone::E164;
use crate::routing::{CallFacts, Decision, RoutingConfig};

/// At most this many participants in a call, the customer included (SPEC RG-3).
pub const MAX_PARTICIPANTS: usize = 10;

/// At most this many staff in a call, invited ones still ringing included (SPEC RG-3).
pub const MAX_STAFF: usize = MAX_PARTICIPANTS - 1;

/// The longest DTMF string one dialpad request may send.
pub const MAX_DTMF_DIGITS: usize = 32;

/// A live call, named by the server (e.g. a counter per process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call {}", self.0)
    }
}

/// A staff member who may be rung for a call, with their current settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Who.
    pub staff: StaffId,
    /// Their settings now (notification, do-not-disturb, auto-mute).
    pub settings: Settings,
}

/// A new inbound call, with everything the server looked up for it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingCall {
    /// The server's name for the call; unique among live calls.
    pub call: CallId,
    /// The channel whose number was dialled.
    pub channel: ChannelId,
    /// The phone chat the server opened for it (SPEC IN-5).
    pub chat: ChatId,
    /// `phone` for trunk calls; `voice`/`video` for customer Meets. `chat` is refused.
    pub medium: Medium,
    /// The caller's number; `None` when withheld.
    pub caller: Option<E164>,
    /// The channel number dialled, when the trunk says.
    pub dialled: Option<E164>,
    /// The customer the chat belongs to (existing, or the lead just created, SPEC IN-6).
    pub customer: CustomerId,
    /// Whether the caller matched an existing customer (not a lead created now).
    pub known_caller: bool,
    /// The customer's profile fields (for workflow conditions).
    pub profile: BTreeMap<String, String>,
    /// Wall-clock time of arrival (business hours and time-of-day rules read it).
    pub at: DateTime<Utc>,
    /// The channel's routing configuration now.
    pub routing: RoutingConfig,
    /// The channel's staff who are online now, with their settings.
    pub candidates: Vec<Candidate>,
}

/// A call a staff member places through the trunk (SPEC OUT-1), with what the server
/// looked up for it: the customer (found by number, or the lead just created) and the new
/// phone chat it opened (SPEC OUT-3: always a new chat).
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingCall {
    /// The server's name for the call; unique among live calls.
    pub call: CallId,
    /// The channel whose number is the caller ID.
    pub channel: ChannelId,
    /// The new phone chat.
    pub chat: ChatId,
    /// Who places it; they are connected at once and hear the far end's early media.
    pub staff: StaffId,
    /// The number called, E.164.
    pub callee: E164,
    /// The caller ID sent (the channel's number).
    pub caller_id: Option<E164>,
    /// The customer the chat belongs to.
    pub customer: CustomerId,
    /// Whether the number belonged to a customer already (not a lead created now).
    pub known_callee: bool,
    /// How long the far end may ring before the call is given up (CANCEL).
    pub ring_timeout: Duration,
}

/// What the server feeds the machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A call arrived (SPEC IN-1).
    IncomingCall(Box<IncomingCall>),
    /// A staff member places a call (SPEC OUT-1); the server sends the INVITE on
    /// [`Effect::Dial`].
    OutgoingCall(Box<OutgoingCall>),
    /// The far end of an outgoing call rings (180, or 183 with early media).
    CalleeRinging {
        /// The call.
        call: CallId,
        /// It sends early media (its ringing or an announcement): no local ringback.
        early_media: bool,
    },
    /// The far end of an outgoing call answered (200).
    CalleeAnswered {
        /// The call.
        call: CallId,
    },
    /// The far end of an outgoing call refused it, or the carrier failed it: the final
    /// SIP status (486 busy, 603 declined, 487 after our CANCEL, 408 no response, …).
    CalleeFailed {
        /// The call.
        call: CallId,
        /// The final status.
        status: u16,
    },
    /// A staff member's settings (at start-up, and whenever they change).
    Settings {
        /// Who.
        staff: StaffId,
        /// Their settings.
        settings: Settings,
    },
    /// A staff member is the assignee of an opened phone chat in which a call took place
    /// (at start-up, or after a manual assignment). Blocks new rings (SPEC AS-2).
    ActivePhoneChat {
        /// Assignee.
        staff: StaffId,
        /// The chat.
        chat: ChatId,
    },
    /// A phone chat was closed, snoozed or reassigned: its assignee is available again
    /// (SPEC AS-2).
    ChatReleased {
        /// The chat.
        chat: ChatId,
    },
    /// A staff member accepts a call ringing for them, or an invitation (SPEC AS-5).
    Accept {
        /// The call.
        call: CallId,
        /// Who.
        staff: StaffId,
    },
    /// A staff member declines a call or invitation ringing for them.
    Decline {
        /// The call.
        call: CallId,
        /// Who.
        staff: StaffId,
    },
    /// The caller hung up (BYE or CANCEL from the trunk, or the media timed out).
    CallerHungUp {
        /// The call.
        call: CallId,
    },
    /// A participant invites a teammate (SPEC RG-3). The server checks that the teammate
    /// belongs to the call's channel.
    Invite {
        /// The call.
        call: CallId,
        /// The inviting participant.
        by: StaffId,
        /// The invited teammate.
        staff: StaffId,
    },
    /// A participant leaves (SPEC RG-6).
    Leave {
        /// The call.
        call: CallId,
        /// Who.
        staff: StaffId,
    },
    /// A participant ends the call for everyone (SPEC RG-7).
    EndForEveryone {
        /// The call.
        call: CallId,
        /// Who.
        staff: StaffId,
    },
    /// A participant mutes or unmutes themselves (SPEC RG-4).
    SetMuted {
        /// The call.
        call: CallId,
        /// Who.
        staff: StaffId,
        /// Muted or not.
        muted: bool,
    },
    /// A participant puts the customer on hold (SPEC HD-1, HD-2).
    Hold {
        /// The call.
        call: CallId,
        /// Who.
        staff: StaffId,
    },
    /// A participant ends the hold (SPEC HD-2).
    Resume {
        /// The call.
        call: CallId,
        /// Who.
        staff: StaffId,
    },
    /// Digits from a participant's dialpad for the far end (SPEC RG-2).
    Dtmf {
        /// The call.
        call: CallId,
        /// Who.
        staff: StaffId,
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digits: String,
    },
}

/// A domain event for the store and the chat's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    /// The call.
    pub call: CallId,
    /// Its channel.
    pub channel: ChannelId,
    /// Its chat (the timeline that shows the event).
    pub chat: ChatId,
    /// What happened.
    pub kind: EventKind,
    /// Which staff member did it; `None` for the caller or the system.
    pub actor: Option<StaffId>,
    /// Details; always carries `call_id`.
    pub data: serde_json::Value,
}

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// The caller hung up.
    Customer,
    /// A staff member (the last one leaving, or ending for everyone).
    Staff(StaffId),
    /// Nobody: the call was missed (ring timeout, nobody eligible, closed).
    System,
}

/// What the machine asks the server to do. Carry them out in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Store and publish this domain event.
    Record(CallEvent),
    /// Show the incoming call to these staff (SPEC IN-2).
    Ring {
        /// The call.
        call: CallId,
        /// Who.
        staff: Vec<StaffId>,
        /// Set for an invitation (SPEC RG-3, MH-3 "Invited by").
        invited_by: Option<StaffId>,
    },
    /// Stop showing the call to these staff.
    StopRinging {
        /// The call.
        call: CallId,
        /// Who.
        staff: Vec<StaffId>,
    },
    /// Send the INVITE of an outgoing call to the trunk.
    Dial {
        /// The call.
        call: CallId,
    },
    /// Answer the caller (200 OK) and put their leg into the call's room; for an
    /// outgoing call, the callee answered: start recording and the hold music.
    AnswerCaller {
        /// The call.
        call: CallId,
    },
    /// Not answered: play the announcement (if any), then drop the caller.
    TurnAway {
        /// The call.
        call: CallId,
        /// Why it was missed.
        reason: MissedReason,
        /// The channel's announcement for unanswered callers.
        announcement: Option<String>,
    },
    /// Connect a staff member's leg to the call's room.
    ConnectStaff {
        /// The call.
        call: CallId,
        /// Who.
        staff: StaffId,
        /// Join muted (SPEC RG-8).
        muted: bool,
    },
    /// Take a staff member's leg out of the room.
    DisconnectStaff {
        /// The call.
        call: CallId,
        /// Who.
        staff: StaffId,
    },
    /// Hang up on the caller (BYE); an outgoing call not answered yet is cancelled
    /// (CANCEL).
    HangUpCaller {
        /// The call.
        call: CallId,
    },
    /// Mute or unmute a staff leg in the room.
    SetMuted {
        /// The call.
        call: CallId,
        /// Who.
        staff: StaffId,
        /// Muted or not.
        muted: bool,
    },
    /// The customer hears hold music; staff still hear each other (SPEC HD-1, HD-4).
    Hold {
        /// The call.
        call: CallId,
    },
    /// End the hold.
    Resume {
        /// The call.
        call: CallId,
    },
    /// Send DTMF to the caller's side (RFC 4733).
    SendDtmf {
        /// The call.
        call: CallId,
        /// The digits.
        digits: String,
    },
    /// Assign the chat to a team and/or a person (only the fields that are `Some`).
    Assign {
        /// The chat.
        chat: ChatId,
        /// Team.
        team: Option<TeamId>,
        /// Person.
        staff: Option<StaffId>,
    },
    /// The call is over and forgotten; release anything left of it.
    Finished {
        /// The call.
        call: CallId,
    },
}

/// Why a request was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No live call has this id (it ended, or never was).
    #[error("{0} is not a live call")]
    UnknownCall(CallId),
    /// The server reused the id of a live call.
    #[error("{0} is already live")]
    DuplicateCall(CallId),
    /// A call whose medium cannot be a call.
    #[error("a {0} chat cannot carry a call")]
    NotACall(Medium),
    /// The call (or an invitation to it) is not ringing for this staff member.
    #[error("{call} is not ringing for staff {staff}")]
    NotRinging {
        /// The call.
        call: CallId,
        /// Who asked.
        staff: StaffId,
    },
    /// The staff member is not a participant of the call.
    #[error("staff {staff} is not in {call}")]
    NotParticipant {
        /// The call.
        call: CallId,
        /// Who asked.
        staff: StaffId,
    },
    /// The teammate is already in the call or already invited to it.
    #[error("staff {staff} is already in or invited to {call}")]
    AlreadyInCall {
        /// The call.
        call: CallId,
        /// The teammate.
        staff: StaffId,
    },
    /// SPEC RG-3: the call already has 1 customer and 9 staff (or invitations).
    #[error("a call has at most {max} participants (1 customer and {} staff)", .max - 1)]
    TooManyParticipants {
        /// The limit, customer included.
        max: usize,
    },
    /// The teammate cannot be rung now.
    #[error("staff {staff} cannot be invited: {reason}")]
    Unavailable {
        /// The teammate.
        staff: StaffId,
        /// Why, e.g. `do not disturb`.
        reason: &'static str,
    },
    /// Hold and DTMF exist for phone calls only (SPEC HD-1).
    #[error("{what} is only for phone calls, not {medium}")]
    PhoneOnly {
        /// What was asked.
        what: &'static str,
        /// The call's medium.
        medium: Medium,
    },
    /// The customer is already on hold.
    #[error("{0} is already on hold")]
    AlreadyOnHold(CallId),
    /// The customer is not on hold.
    #[error("{0} is not on hold")]
    NotOnHold(CallId),
    /// Digits that are not DTMF.
    #[error("invalid DTMF {0:?} (1 to 32 of 0-9 * # A-D)")]
    InvalidDtmf(String),
    /// SPEC AS-5: one call at a time; the staff member is in another call.
    #[error("staff {staff} is already in {call}")]
    Busy {
        /// Who asked.
        staff: StaffId,
        /// The call they are in.
        call: CallId,
    },
    /// Hold, the dialpad and invitations wait until the far end answers.
    #[error("{0} is not answered yet")]
    NotAnswered(CallId),
    /// The input is for an outgoing call and this one is not (or the reverse).
    #[error("{0} is not an outgoing call")]
    NotOutgoing(CallId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Invitation {
    by: StaffId,
    deadline: Instant,
}

#[derive(Debug, Clone)]
struct Call {
    channel: ChannelId,
    chat: ChatId,
    medium: Medium,
    started: Instant,
    /// Set when a staff member answered.
    answered: Option<Instant>,
    /// While unanswered: when the ring gives up.
    ring_deadline: Option<Instant>,
    /// Staff being rung for the unanswered call.
    ringing: BTreeSet<StaffId>,
    invitations: BTreeMap<StaffId, Invitation>,
    /// Staff in the call and whether each is muted.
    participants: BTreeMap<StaffId, bool>,
    /// Who put the customer on hold.
    hold: Option<StaffId>,
    ring_timeout: Duration,
    announcement: Option<String>,
    auto_assign: bool,
    /// An outgoing call: who placed it.
    placed_by: Option<StaffId>,
    /// An outgoing call: the far end rang (recorded once).
    callee_rang: bool,
    /// How an outgoing call turned out, once known.
    outcome: Option<CallOutcome>,
}

#[derive(Debug, Clone, Default)]
struct StaffState {
    settings: Option<Settings>,
    /// The call they are in (SPEC AS-5: at most one).
    call: Option<CallId>,
    /// Calls ringing for them (routed or invitations).
    ringing: BTreeSet<CallId>,
    /// Opened phone chats assigned to them (SPEC AS-2).
    phone_chats: BTreeSet<ChatId>,
}

/// Every live call of the server and the staff availability routing needs. See the
/// module docs for the run loop.
#[derive(Debug, Default)]
pub struct Switchboard {
    calls: BTreeMap<CallId, Call>,
    staff: BTreeMap<StaffId, StaffState>,
    effects: VecDeque<Effect>,
}

/// Why a staff member would not be rung for a new call (SPEC IN-3, AS-1, AS-2), or
/// `None` when they would be.
pub fn ineligibility(
    settings: &Settings,
    in_call: bool,
    ringing: bool,
    open_phone_chat: bool,
) -> Option<&'static str> {
    if !settings.unassigned_call_notification {
        Some("unassigned call notification is off")
    } else if settings.do_not_disturb {
        Some("do not disturb")
    } else if in_call {
        Some("already in a call")
    } else if ringing {
        Some("a call is already ringing")
    } else if open_phone_chat {
        Some("an open phone chat")
    } else {
        None
    }
}

impl Switchboard {
    /// An empty switchboard.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one fact. Call for every input as it happens, then drain
    /// [`poll_effect`](Self::poll_effect). An `Err` changed nothing and queued nothing.
    pub fn handle_input(&mut self, now: Instant, input: Input) -> Result<(), CallError> {
        match input {
            Input::IncomingCall(ic) => self.incoming(now, *ic),
            Input::OutgoingCall(oc) => self.outgoing(now, *oc),
            Input::CalleeRinging { call, early_media } => {
                let c = self.outgoing_call(call)?;
                if c.answered.is_none() && !c.callee_rang {
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.callee_rang = true;
                    }
                    self.record(
                        call,
                        EventKind::CallRinging,
                        None,
                        json!({"staff_ids": [], "callee": true, "early_media": early_media}),
                    );
                }
                Ok(())
            }
            Input::CalleeAnswered { call } => self.callee_answered(now, call),
            Input::CalleeFailed { call, status } => {
                let c = self.outgoing_call(call)?;
                if c.answered.is_some() {
                    // A failure after the answer is the dialog ending.
                    self.end(now, call, EndedBy::Customer);
                } else {
                    self.give_up(
                        now,
                        call,
                        CallOutcome::from_sip_status(status),
                        Some(status),
                    );
                }
                Ok(())
            }
            Input::Settings { staff, settings } => {
                self.staff.entry(staff).or_default().settings = Some(settings);
                Ok(())
            }
            Input::ActivePhoneChat { staff, chat } => {
                self.staff
                    .entry(staff)
                    .or_default()
                    .phone_chats
                    .insert(chat);
                Ok(())
            }
            Input::ChatReleased { chat } => {
                let ids: Vec<StaffId> = self.staff.keys().copied().collect();
                for id in ids {
                    if let Some(s) = self.staff.get_mut(&id) {
                        s.phone_chats.remove(&chat);
                    }
                }
                Ok(())
            }
            Input::Accept { call, staff } => self.accept(now, call, staff),
            Input::Decline { call, staff } => self.decline(now, call, staff),
            Input::CallerHungUp { call } => {
                let c = self.get(call)?;
                if c.answered.is_some() {
                    self.end(now, call, EndedBy::Customer);
                } else if c.placed_by.is_some() {
                    self.give_up(now, call, CallOutcome::Failed, None);
                } else {
                    self.miss(now, call, MissedReason::UserLeft);
                }
                Ok(())
            }
            Input::Invite { call, by, staff } => self.invite(now, call, by, staff),
            Input::Leave { call, staff } => {
                self.participant(call, staff)?;
                self.leave(now, call, staff);
                Ok(())
            }
            Input::EndForEveryone { call, staff } => {
                self.participant(call, staff)?;
                self.end(now, call, EndedBy::Staff(staff));
                Ok(())
            }
            Input::SetMuted { call, staff, muted } => self.set_muted(call, staff, muted),
            Input::Hold { call, staff } => {
                self.answered_participant(call, staff)?;
                self.hold(call, staff)
            }
            Input::Resume { call, staff } => {
                let c = self.participant(call, staff)?;
                if c.hold.is_none() {
                    return Err(CallError::NotOnHold(call));
                }
                self.resume(call, Some(staff), "resumed");
                Ok(())
            }
            Input::Dtmf {
                call,
                staff,
                digits,
            } => {
                let c = self.answered_participant(call, staff)?;
                if c.medium != Medium::Phone {
                    return Err(CallError::PhoneOnly {
                        what: "the dialpad",
                        medium: c.medium,
                    });
                }
                let ok = !digits.is_empty()
                    && digits.len() <= MAX_DTMF_DIGITS
                    && digits
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b"*#ABCD".contains(&b));
                if !ok {
                    return Err(CallError::InvalidDtmf(digits));
                }
                self.effects.push_back(Effect::SendDtmf { call, digits });
                Ok(())
            }
        }
    }

    /// Fires due deadlines (ring timeouts, invitation timeouts). Call when the instant of
    /// [`poll_timeout`](Self::poll_timeout) has come; early or late is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            let Some(c) = self.calls.get(&id) else {
                continue;
            };
            if c.ring_deadline.is_some_and(|d| d <= now) {
                if c.placed_by.is_some() {
                    self.give_up(now, id, CallOutcome::NoAnswer, None);
                } else {
                    self.miss(now, id, MissedReason::NoOperator);
                }
                continue;
            }
            let due: Vec<StaffId> = c
                .invitations
                .iter()
                .filter(|(_, inv)| inv.deadline <= now)
                .map(|(s, _)| *s)
                .collect();
            for staff in due {
                self.drop_invitation(id, staff, EventKind::CallInviteMissed);
            }
        }
    }

    /// The earliest deadline, if any: call [`handle_timeout`](Self::handle_timeout) then.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.calls
            .values()
            .flat_map(|c| {
                c.ring_deadline
                    .into_iter()
                    .chain(c.invitations.values().map(|i| i.deadline))
            })
            .min()
    }

    /// The next effect to carry out; call after every `handle_*` until `None`.
    #[must_use]
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// Whether a call is live.
    #[must_use]
    pub fn is_live(&self, call: CallId) -> bool {
        self.calls.contains_key(&call)
    }

    /// The staff in a call and whether each is muted (empty for an unknown call).
    #[must_use]
    pub fn participants(&self, call: CallId) -> Vec<(StaffId, bool)> {
        self.calls
            .get(&call)
            .map(|c| c.participants.iter().map(|(s, m)| (*s, *m)).collect())
            .unwrap_or_default()
    }

    /// Who put the call's customer on hold, if anyone.
    #[must_use]
    pub fn on_hold_by(&self, call: CallId) -> Option<StaffId> {
        self.calls.get(&call).and_then(|c| c.hold)
    }

    /// Whether a live call is answered (an outgoing call may still ring).
    #[must_use]
    pub fn is_answered(&self, call: CallId) -> bool {
        self.calls.get(&call).is_some_and(|c| c.answered.is_some())
    }

    /// The call a staff member is in, if any (SPEC AS-5).
    #[must_use]
    pub fn call_of(&self, staff: StaffId) -> Option<CallId> {
        self.staff.get(&staff).and_then(|s| s.call)
    }

    // ----- transitions ----------------------------------------------------

    fn incoming(&mut self, now: Instant, ic: IncomingCall) -> Result<(), CallError> {
        if self.calls.contains_key(&ic.call) {
            return Err(CallError::DuplicateCall(ic.call));
        }
        if ic.medium == Medium::Chat {
            return Err(CallError::NotACall(ic.medium));
        }
        let id = ic.call;
        let routing = &ic.routing;
        self.calls.insert(
            id,
            Call {
                channel: ic.channel,
                chat: ic.chat,
                medium: ic.medium,
                started: now,
                answered: None,
                ring_deadline: None,
                ringing: BTreeSet::new(),
                invitations: BTreeMap::new(),
                participants: BTreeMap::new(),
                hold: None,
                ring_timeout: Duration::from_secs(u64::from(routing.ring_timeout_secs.max(1))),
                announcement: routing.announcement.clone(),
                auto_assign: routing.auto_assign,
                placed_by: None,
                callee_rang: false,
                outcome: None,
            },
        );
        for c in &ic.candidates {
            self.staff.entry(c.staff).or_default().settings = Some(c.settings);
        }
        self.record(
            id,
            EventKind::CallStarted,
            None,
            json!({
                "direction": "inbound",
                "medium": ic.medium,
                "caller": ic.caller,
                "dialled": ic.dialled,
                "customer_id": ic.customer,
                "known_caller": ic.known_caller,
            }),
        );
        let facts = CallFacts {
            dialled: ic.dialled.as_ref(),
            at: ic.at,
            known_caller: ic.known_caller,
            profile: &ic.profile,
        };
        let (team, person, targets) = match routing.decide(&facts) {
            Decision::Closed => {
                self.miss(now, id, MissedReason::NotInOperation);
                return Ok(());
            }
            Decision::Ring {
                team,
                staff,
                targets,
            } => (team, staff, targets),
        };
        if team.is_some() || person.is_some() {
            self.effects.push_back(Effect::Assign {
                chat: ic.chat,
                team,
                staff: person,
            });
        }
        let mut ring = Vec::new();
        // Who was not rung, grouped by why: one entry per reason keeps the event small
        // when a whole floor of staff is busy (it goes to every console of the channel).
        let mut skipped: BTreeMap<&'static str, Vec<StaffId>> = BTreeMap::new();
        for c in &ic.candidates {
            if !targets.includes(c.staff) || ring.contains(&c.staff) {
                continue;
            }
            let st = self.staff.get(&c.staff).cloned().unwrap_or_default();
            match ineligibility(
                &c.settings,
                st.call.is_some(),
                !st.ringing.is_empty(),
                !st.phone_chats.is_empty(),
            ) {
                None => ring.push(c.staff),
                Some(reason) => skipped.entry(reason).or_default().push(c.staff),
            }
        }
        let skipped: Vec<serde_json::Value> = skipped
            .into_iter()
            .map(|(reason, staff_ids)| json!({"reason": reason, "staff_ids": staff_ids}))
            .collect();
        if ring.is_empty() {
            if let Some(c) = self.calls.get_mut(&id) {
                c.ring_deadline = None;
            }
            self.record(
                id,
                EventKind::CallRinging,
                None,
                json!({"staff_ids": ring, "skipped": skipped, "team_id": team}),
            );
            self.miss(now, id, MissedReason::NoOperator);
            return Ok(());
        }
        for s in &ring {
            self.staff.entry(*s).or_default().ringing.insert(id);
        }
        if let Some(c) = self.calls.get_mut(&id) {
            c.ringing = ring.iter().copied().collect();
            c.ring_deadline = Some(now + c.ring_timeout);
        }
        self.record(
            id,
            EventKind::CallRinging,
            None,
            json!({"staff_ids": ring, "skipped": skipped, "team_id": team}),
        );
        self.effects.push_back(Effect::Ring {
            call: id,
            staff: ring,
            invited_by: None,
        });
        Ok(())
    }

    fn outgoing(&mut self, now: Instant, oc: OutgoingCall) -> Result<(), CallError> {
        if self.calls.contains_key(&oc.call) {
            return Err(CallError::DuplicateCall(oc.call));
        }
        // SPEC AS-5: one call at a time.
        if let Some(current) = self.call_of(oc.staff) {
            return Err(CallError::Busy {
                staff: oc.staff,
                call: current,
            });
        }
        let id = oc.call;
        let staff = oc.staff;
        self.calls.insert(
            id,
            Call {
                channel: oc.channel,
                chat: oc.chat,
                medium: Medium::Phone,
                started: now,
                answered: None,
                ring_deadline: Some(now + oc.ring_timeout),
                ringing: BTreeSet::new(),
                invitations: BTreeMap::new(),
                // Connected at once: they hear the ringback or the carrier's early media.
                participants: BTreeMap::from([(staff, false)]),
                hold: None,
                ring_timeout: oc.ring_timeout,
                announcement: None,
                auto_assign: false,
                placed_by: Some(staff),
                callee_rang: false,
                outcome: None,
            },
        );
        // Busy now: whatever else rang for them stops.
        let other: Vec<CallId> = self
            .staff
            .get(&staff)
            .map(|s| s.ringing.iter().copied().collect())
            .unwrap_or_default();
        for o in other {
            self.withdraw(now, o, staff);
        }
        let st = self.staff.entry(staff).or_default();
        st.call = Some(id);
        st.phone_chats.insert(oc.chat);
        self.record(
            id,
            EventKind::CallStarted,
            Some(staff),
            json!({
                "direction": "outbound",
                "medium": Medium::Phone,
                "callee": oc.callee,
                "caller_id": oc.caller_id,
                "customer_id": oc.customer,
                "known_callee": oc.known_callee,
                "placed_by": staff,
            }),
        );
        self.effects.push_back(Effect::Dial { call: id });
        self.effects.push_back(Effect::ConnectStaff {
            call: id,
            staff,
            muted: false,
        });
        Ok(())
    }

    fn callee_answered(&mut self, now: Instant, call: CallId) -> Result<(), CallError> {
        let c = self.outgoing_call(call)?;
        if c.answered.is_some() {
            return Ok(());
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return Err(CallError::UnknownCall(call));
        };
        c.answered = Some(now);
        c.ring_deadline = None;
        c.outcome = Some(CallOutcome::Answered);
        let wait_ms = now.duration_since(c.started).as_millis() as u64;
        let placed_by = c.placed_by;
        let staff: Vec<(StaffId, bool)> = c.participants.iter().map(|(s, m)| (*s, *m)).collect();
        self.effects.push_back(Effect::AnswerCaller { call });
        // No `staff_id`: the callee answered; the placer's own row says `placed`.
        self.record(
            call,
            EventKind::CallAnswered,
            None,
            json!({"by": "callee", "placed_by": placed_by, "wait_ms": wait_ms}),
        );
        for (s, muted) in staff {
            self.record(
                call,
                EventKind::CallParticipantJoined,
                Some(s),
                json!({"staff_id": s, "muted": muted, "invited_by": null}),
            );
        }
        Ok(())
    }

    /// An outgoing call ends before the far end answered: `outcome` says how.
    fn give_up(&mut self, now: Instant, call: CallId, outcome: CallOutcome, status: Option<u16>) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.ring_deadline = None;
        c.outcome = Some(outcome);
        let staff: Vec<StaffId> = std::mem::take(&mut c.participants).into_keys().collect();
        for s in staff {
            if let Some(st) = self.staff.get_mut(&s) {
                st.call = None;
            }
            self.effects
                .push_back(Effect::DisconnectStaff { call, staff: s });
        }
        // The INVITE is still pending unless the far end answered it with a failure.
        if status.is_none() {
            self.effects.push_back(Effect::HangUpCaller { call });
        }
        self.finish_with(now, call, EndedBy::System, None, status);
    }

    fn accept(&mut self, now: Instant, call: CallId, staff: StaffId) -> Result<(), CallError> {
        let c = self.get(call)?;
        let routed = c.answered.is_none() && c.ringing.contains(&staff);
        let invited = c.invitations.get(&staff).map(|i| i.by);
        if !routed && invited.is_none() {
            return Err(CallError::NotRinging { call, staff });
        }
        // SPEC AS-5: one call at a time; accepting drops the current one.
        if let Some(current) = self.call_of(staff).filter(|c| *c != call) {
            self.leave(now, current, staff);
        }
        // Everything else ringing for them stops: they are busy now.
        let other: Vec<CallId> = self
            .staff
            .get(&staff)
            .map(|s| s.ringing.iter().copied().filter(|c| *c != call).collect())
            .unwrap_or_default();
        for o in other {
            self.withdraw(now, o, staff);
        }
        let settings = self.settings_of(staff);
        let Some(c) = self.calls.get_mut(&call) else {
            return Ok(());
        };
        let chat = c.chat;
        let auto_assign = c.auto_assign;
        if routed {
            let others: Vec<StaffId> = c.ringing.iter().copied().filter(|s| *s != staff).collect();
            c.ringing.clear();
            c.ring_deadline = None;
            c.answered = Some(now);
            let wait_ms = now.duration_since(c.started).as_millis() as u64;
            c.participants.insert(staff, settings.auto_mute_on_join);
            for s in others.iter().chain([&staff]) {
                self.unring(*s, call);
            }
            if !others.is_empty() {
                self.effects.push_back(Effect::StopRinging {
                    call,
                    staff: others,
                });
            }
            self.effects.push_back(Effect::AnswerCaller { call });
            self.record(
                call,
                EventKind::CallAnswered,
                Some(staff),
                json!({"staff_id": staff, "wait_ms": wait_ms}),
            );
            if auto_assign {
                self.staff
                    .entry(staff)
                    .or_default()
                    .phone_chats
                    .insert(chat);
                self.effects.push_back(Effect::Assign {
                    chat,
                    team: None,
                    staff: Some(staff),
                });
            }
        } else {
            c.invitations.remove(&staff);
            c.participants.insert(staff, settings.auto_mute_on_join);
            self.unring(staff, call);
        }
        self.staff.entry(staff).or_default().call = Some(call);
        self.effects.push_back(Effect::ConnectStaff {
            call,
            staff,
            muted: settings.auto_mute_on_join,
        });
        self.record(
            call,
            EventKind::CallParticipantJoined,
            Some(staff),
            json!({"staff_id": staff, "muted": settings.auto_mute_on_join, "invited_by": invited}),
        );
        Ok(())
    }

    fn decline(&mut self, now: Instant, call: CallId, staff: StaffId) -> Result<(), CallError> {
        let c = self.get(call)?;
        if c.invitations.contains_key(&staff) {
            self.drop_invitation(call, staff, EventKind::CallDeclined);
            return Ok(());
        }
        if c.answered.is_some() || !c.ringing.contains(&staff) {
            return Err(CallError::NotRinging { call, staff });
        }
        if self.stop_routed_ring(call, staff, true) {
            self.miss(now, call, MissedReason::NoOperator);
        }
        Ok(())
    }

    /// Stops ringing `staff` for an unanswered call (declined, or busy elsewhere). When
    /// nobody is left ringing the call is missed: nobody answered.
    fn stop_routed_ring(&mut self, call: CallId, staff: StaffId, declined: bool) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        if !c.ringing.remove(&staff) {
            return false;
        }
        let nobody_left = c.ringing.is_empty();
        self.unring(staff, call);
        self.effects.push_back(Effect::StopRinging {
            call,
            staff: vec![staff],
        });
        if declined {
            self.record(
                call,
                EventKind::CallDeclined,
                Some(staff),
                json!({"staff_id": staff}),
            );
        }
        nobody_left
    }

    /// `staff` became busy: stop whatever else was ringing for them.
    fn withdraw(&mut self, now: Instant, call: CallId, staff: StaffId) {
        let invited = self
            .calls
            .get(&call)
            .is_some_and(|c| c.invitations.contains_key(&staff));
        if invited {
            self.drop_invitation(call, staff, EventKind::CallInviteMissed);
        } else if self.stop_routed_ring(call, staff, false) {
            self.miss(now, call, MissedReason::NoOperator);
        }
    }

    fn drop_invitation(&mut self, call: CallId, staff: StaffId, kind: EventKind) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(inv) = c.invitations.remove(&staff) else {
            return;
        };
        self.unring(staff, call);
        self.effects.push_back(Effect::StopRinging {
            call,
            staff: vec![staff],
        });
        let actor = (kind == EventKind::CallDeclined).then_some(staff);
        self.record(
            call,
            kind,
            actor,
            json!({"staff_id": staff, "invited_by": inv.by}),
        );
    }

    fn invite(
        &mut self,
        now: Instant,
        call: CallId,
        by: StaffId,
        staff: StaffId,
    ) -> Result<(), CallError> {
        let c = self.answered_participant(call, by)?;
        if c.participants.contains_key(&staff) || c.invitations.contains_key(&staff) {
            return Err(CallError::AlreadyInCall { call, staff });
        }
        if c.participants.len() + c.invitations.len() >= MAX_STAFF {
            return Err(CallError::TooManyParticipants {
                max: MAX_PARTICIPANTS,
            });
        }
        if self.settings_of(staff).do_not_disturb {
            return Err(CallError::Unavailable {
                staff,
                reason: "do not disturb",
            });
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return Err(CallError::UnknownCall(call));
        };
        let deadline = now + c.ring_timeout;
        c.invitations.insert(staff, Invitation { by, deadline });
        self.staff.entry(staff).or_default().ringing.insert(call);
        self.record(
            call,
            EventKind::CallInvited,
            Some(by),
            json!({"staff_id": staff, "invited_by": by}),
        );
        self.effects.push_back(Effect::Ring {
            call,
            staff: vec![staff],
            invited_by: Some(by),
        });
        Ok(())
    }

    fn leave(&mut self, now: Instant, call: CallId, staff: StaffId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.participants.remove(&staff).is_none() {
            return;
        }
        let was_holder = c.hold == Some(staff);
        let nobody_left = c.participants.is_empty();
        if let Some(s) = self.staff.get_mut(&staff) {
            s.call = None;
        }
        // SPEC HD-3: the holder leaving ends the hold.
        if was_holder && !nobody_left {
            self.resume(call, None, "holder_left");
        }
        self.effects
            .push_back(Effect::DisconnectStaff { call, staff });
        self.record(
            call,
            EventKind::CallParticipantLeft,
            Some(staff),
            json!({"staff_id": staff}),
        );
        // SPEC RG-6: the last staff member leaving ends the call.
        if nobody_left {
            self.end(now, call, EndedBy::Staff(staff));
        }
    }

    fn set_muted(&mut self, call: CallId, staff: StaffId, muted: bool) -> Result<(), CallError> {
        self.participant(call, staff)?;
        let Some(slot) = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.participants.get_mut(&staff))
        else {
            return Err(CallError::NotParticipant { call, staff });
        };
        if *slot == muted {
            return Ok(());
        }
        *slot = muted;
        self.effects
            .push_back(Effect::SetMuted { call, staff, muted });
        self.record(
            call,
            EventKind::CallMuteChanged,
            Some(staff),
            json!({"staff_id": staff, "muted": muted}),
        );
        Ok(())
    }

    fn hold(&mut self, call: CallId, staff: StaffId) -> Result<(), CallError> {
        let c = self.participant(call, staff)?;
        if c.medium != Medium::Phone {
            return Err(CallError::PhoneOnly {
                what: "hold",
                medium: c.medium,
            });
        }
        if c.hold.is_some() {
            return Err(CallError::AlreadyOnHold(call));
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.hold = Some(staff);
        }
        self.effects.push_back(Effect::Hold { call });
        self.record(
            call,
            EventKind::CallHeld,
            Some(staff),
            json!({"staff_id": staff}),
        );
        Ok(())
    }

    fn resume(&mut self, call: CallId, by: Option<StaffId>, reason: &str) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(holder) = c.hold.take() else {
            return;
        };
        self.effects.push_back(Effect::Resume { call });
        self.record(
            call,
            EventKind::CallResumed,
            by,
            json!({"held_by": holder, "reason": reason}),
        );
    }

    /// The call was not answered: stop every ring, turn the caller away (unless they
    /// left), record the missed call and its end.
    fn miss(&mut self, now: Instant, call: CallId, reason: MissedReason) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let ringing: Vec<StaffId> = std::mem::take(&mut c.ringing).into_iter().collect();
        c.ring_deadline = None;
        let announcement = c.announcement.clone();
        for s in &ringing {
            self.unring(*s, call);
        }
        if !ringing.is_empty() {
            self.effects.push_back(Effect::StopRinging {
                call,
                staff: ringing,
            });
        }
        if reason != MissedReason::UserLeft {
            self.effects.push_back(Effect::TurnAway {
                call,
                reason,
                announcement,
            });
        }
        self.record(
            call,
            EventKind::CallMissed,
            None,
            json!({"missed_reason": reason}),
        );
        let by = if reason == MissedReason::UserLeft {
            EndedBy::Customer
        } else {
            EndedBy::System
        };
        self.finish(now, call, by, Some(reason));
    }

    /// An answered call ends: every staff leg goes, the caller is hung up on unless they
    /// hung up themselves.
    fn end(&mut self, now: Instant, call: CallId, by: EndedBy) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.placed_by.is_some() && c.answered.is_none() {
            // The placer hung up while it rang: nobody answered.
            c.outcome = Some(CallOutcome::NoAnswer);
        }
        let staff: Vec<StaffId> = std::mem::take(&mut c.participants).into_keys().collect();
        for s in staff {
            if let Some(st) = self.staff.get_mut(&s) {
                st.call = None;
            }
            self.effects
                .push_back(Effect::DisconnectStaff { call, staff: s });
        }
        if by != EndedBy::Customer {
            self.effects.push_back(Effect::HangUpCaller { call });
        }
        self.finish(now, call, by, None);
    }

    fn finish(&mut self, now: Instant, call: CallId, by: EndedBy, missed: Option<MissedReason>) {
        self.finish_with(now, call, by, missed, None);
    }

    fn finish_with(
        &mut self,
        now: Instant,
        call: CallId,
        by: EndedBy,
        missed: Option<MissedReason>,
        sip_status: Option<u16>,
    ) {
        let invited: Vec<StaffId> = self
            .calls
            .get(&call)
            .map(|c| c.invitations.keys().copied().collect())
            .unwrap_or_default();
        for s in invited {
            self.drop_invitation(call, s, EventKind::CallInviteMissed);
        }
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let talk_ms = c
            .answered
            .map(|a| now.duration_since(a).as_millis() as u64)
            .unwrap_or(0);
        let total_ms = now.duration_since(c.started).as_millis() as u64;
        let (ended_by, ended_by_staff) = match by {
            EndedBy::Customer => ("customer", None),
            EndedBy::Staff(s) => ("staff", Some(s)),
            EndedBy::System => ("system", None),
        };
        let mut data = json!({
            "ended_by": ended_by,
            "ended_by_staff_id": ended_by_staff,
            "duration_ms": talk_ms,
            "total_ms": total_ms,
            "answered": c.answered.is_some(),
            "missed_reason": missed,
        });
        if c.placed_by.is_some() {
            let outcome = c.outcome.unwrap_or(if c.answered.is_some() {
                CallOutcome::Answered
            } else {
                CallOutcome::NoAnswer
            });
            data["direction"] = json!("outbound");
            data["outcome"] = json!(outcome);
            if let Some(status) = sip_status {
                data["sip_status"] = json!(status);
            }
        }
        self.record(call, EventKind::CallEnded, ended_by_staff, data);
        self.calls.remove(&call);
        self.effects.push_back(Effect::Finished { call });
    }

    // ----- helpers --------------------------------------------------------

    fn get(&self, call: CallId) -> Result<&Call, CallError> {
        self.calls.get(&call).ok_or(CallError::UnknownCall(call))
    }

    fn outgoing_call(&self, call: CallId) -> Result<&Call, CallError> {
        let c = self.get(call)?;
        if c.placed_by.is_some() {
            Ok(c)
        } else {
            Err(CallError::NotOutgoing(call))
        }
    }

    /// A participant of a call that is answered (an outgoing call may still ring).
    fn answered_participant(&self, call: CallId, staff: StaffId) -> Result<&Call, CallError> {
        let c = self.participant(call, staff)?;
        if c.answered.is_none() {
            return Err(CallError::NotAnswered(call));
        }
        Ok(c)
    }

    fn participant(&self, call: CallId, staff: StaffId) -> Result<&Call, CallError> {
        let c = self.get(call)?;
        if c.participants.contains_key(&staff) {
            Ok(c)
        } else {
            Err(CallError::NotParticipant { call, staff })
        }
    }

    fn settings_of(&self, staff: StaffId) -> Settings {
        self.staff
            .get(&staff)
            .and_then(|s| s.settings)
            .unwrap_or_default()
    }

    fn unring(&mut self, staff: StaffId, call: CallId) {
        if let Some(s) = self.staff.get_mut(&staff) {
            s.ringing.remove(&call);
        }
    }

    fn record(
        &mut self,
        call: CallId,
        kind: EventKind,
        actor: Option<StaffId>,
        mut data: serde_json::Value,
    ) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if let Some(obj) = data.as_object_mut() {
            obj.insert("call_id".to_owned(), json!(call.0));
            obj.insert("medium".to_owned(), json!(c.medium));
        }
        self.effects.push_back(Effect::Record(CallEvent {
            call,
            channel: c.channel,
            chat: c.chat,
            kind,
            actor,
            data,
        }));
    }
}

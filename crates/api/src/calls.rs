//! Calls from the console: accepting (with the browser's WebRTC offer), declining, the
//! in-call controls (SPEC RG-1..8, HD-1..4), a call's record, the channel's routing, and
//! staff presence (who has a console open, for ringing).
//!
//! The call engine lives in the server; the API reaches it through the [`CallControl`]
//! trait (the API crate has no sockets and no call state).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::StatusCode;
use denwa_core::model::{CallRecord, CallRecordId, CallStaffRecord, ChannelId, ChatId, StaffId};
use denwa_core::routing::RoutingConfig;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, StaffSession};

/// What a staff member asks of a live call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallAction {
    /// Take the ringing call or invitation; `sdp` is the browser's WebRTC offer (`None`
    /// only when the staff member answers on a SIP softphone instead).
    Accept {
        /// SDP offer.
        sdp: Option<String>,
    },
    /// Decline the ringing call or invitation.
    Decline,
    /// Invite a teammate (SPEC RG-3).
    Invite {
        /// The teammate.
        staff: StaffId,
    },
    /// Leave (SPEC RG-6).
    Leave,
    /// End for everyone (SPEC RG-7).
    End,
    /// Mute or unmute myself (SPEC RG-4).
    Mute {
        /// Muted or not.
        muted: bool,
    },
    /// Put the customer on hold (SPEC HD-1).
    Hold,
    /// End the hold (SPEC HD-2).
    Resume,
    /// Dialpad digits to the caller (SPEC RG-2).
    Dtmf {
        /// `0-9*#A-D`.
        digits: String,
    },
}

/// Why a call action was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRefused {
    /// HTTP status (404 no such live call, 409 state does not allow it, 422 bad input,
    /// 503 telephony not running).
    pub status: u16,
    /// Machine-readable code.
    pub code: &'static str,
    /// For people.
    pub message: String,
}

/// The server's call engine, from the API's side.
#[async_trait]
pub trait CallControl: Send + Sync {
    /// Carries out `action` by `staff` on the live call `call` of `channel`. Answers the
    /// SDP answer for an accepted browser leg.
    async fn act(
        &self,
        channel: ChannelId,
        staff: StaffId,
        call: CallRecordId,
        action: CallAction,
    ) -> Result<Option<String>, CallRefused>;

    /// The live calls that ring for, or include, `staff` now (a console that reloads).
    async fn live_for(&self, staff: StaffId) -> Vec<LiveCall>;

    /// Places a call for a staff member (SPEC OUT-1): opens its new phone chat, sends
    /// the INVITE through the trunk and connects the browser at once (it hears the
    /// ringback or early media). Answers once the INVITE is out and the browser leg is
    /// made; how the call turns out arrives as events.
    async fn place(&self, call: PlaceCall) -> Result<PlacedCall, CallRefused>;
}

/// A call a staff member asks to place, checked by the API (permission, number, blocked
/// confirmation, trunk).
#[derive(Debug, Clone)]
pub struct PlaceCall {
    /// The channel whose trunk and number are used.
    pub channel: ChannelId,
    /// Who calls.
    pub staff: StaffId,
    /// The number called.
    pub to: denwa_core::E164,
    /// The customer to file the call under (called from their page); `None`: whoever
    /// owns the number, else a new lead.
    pub customer_id: Option<denwa_core::model::CustomerId>,
    /// The chat the call was started from (SPEC OUT-3: the call gets a new chat; this
    /// one is noted on it).
    pub from_chat: Option<ChatId>,
    /// The INVITE's trunk, callee and caller ID.
    pub dial: crate::telephony::TrunkDial,
    /// The browser's SDP offer.
    pub sdp: String,
}

/// A call placed: the INVITE is out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlacedCall {
    /// The call (its record id).
    pub call_id: CallRecordId,
    /// Its new phone chat.
    pub chat_id: ChatId,
    /// The customer it is filed under.
    pub customer_id: denwa_core::model::CustomerId,
    /// The server's SDP answer for the browser.
    pub sdp: String,
}

/// A live call as one staff member's console needs it after a reload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LiveCall {
    /// The call (its record id).
    pub call_id: CallRecordId,
    /// Channel.
    pub channel_id: ChannelId,
    /// Its phone chat.
    pub chat_id: ChatId,
    /// `ringing` (for me), `invited` (me), or `joined` (I am in it).
    pub state: String,
    /// Staff in the call now.
    pub participants: Vec<StaffId>,
    /// Whether the customer is on hold.
    pub on_hold: bool,
    /// Details for the ring: caller, profile fields.
    #[schema(value_type = Object)]
    pub ring: serde_json::Value,
}

/// Staff with a console open (an authenticated WebSocket), counted per staff member.
#[derive(Debug, Default)]
pub struct Presence {
    open: Mutex<HashMap<StaffId, usize>>,
}

impl Presence {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StaffId, usize>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A console of `staff` connected.
    pub fn connected(&self, staff: StaffId) {
        *self.lock().entry(staff).or_default() += 1;
    }

    /// A console of `staff` disconnected.
    pub fn disconnected(&self, staff: StaffId) {
        let mut open = self.lock();
        if let Some(n) = open.get_mut(&staff) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&staff);
            }
        }
    }

    /// Whether `staff` has a console open.
    pub fn is_online(&self, staff: StaffId) -> bool {
        self.lock().contains_key(&staff)
    }
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(accept_call))
        .routes(routes!(decline_call))
        .routes(routes!(invite_to_call))
        .routes(routes!(leave_call))
        .routes(routes!(end_call))
        .routes(routes!(mute_in_call))
        .routes(routes!(hold_call))
        .routes(routes!(resume_call))
        .routes(routes!(dtmf_call))
        .routes(routes!(get_call))
        .routes(routes!(chat_calls))
        .routes(routes!(my_live_calls))
        .routes(routes!(get_routing, put_routing))
}

/// Accepting a call.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// The browser's SDP offer (one audio m-line, Opus). Leave out to answer on a
    /// registered SIP softphone instead.
    #[serde(default)]
    pub sdp: Option<String>,
}

/// An accepted call.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptAnswer {
    /// The server's SDP answer for the browser.
    pub sdp: Option<String>,
}

/// Inviting a teammate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    /// The teammate.
    pub staff_id: StaffId,
}

/// Muting.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MuteBody {
    /// Muted or not.
    pub muted: bool,
}

/// Dialpad digits.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DtmfBody {
    /// `0-9*#A-D`, at most 32.
    pub digits: String,
}

/// A call with each staff member's part.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallDetail {
    /// The call.
    pub call: CallRecord,
    /// Each staff member's part.
    pub staff: Vec<CallStaffRecord>,
}

async fn act(
    state: &AppState,
    session: &StaffSession,
    cid: ChannelId,
    id: CallRecordId,
    action: CallAction,
) -> Result<Option<String>, ApiError> {
    session.member_of(state, cid).await?;
    let calls = state.calls.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "telephony_off",
            "this server runs without telephony",
        )
    })?;
    calls
        .act(cid, session.staff.id, id, action)
        .await
        .map_err(|r| {
            ApiError::new(
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::CONFLICT),
                r.code,
                r.message,
            )
        })
}

/// No content.
fn done(_: Option<String>) -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Accept a ringing call or invitation (SPEC AS-5: drops any call I am in). With an SDP
/// offer the answer connects this browser; without, my registered softphone is used.
#[utoipa::path(post, path = "/api/v1/channels/{cid}/calls/{id}/accept", tag = "calls",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)),
    request_body = AcceptBody,
    responses((status = 200, body = AcceptAnswer), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn accept_call(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(ChannelId, CallRecordId)>,
    Json(body): Json<AcceptBody>,
) -> Result<axum::Json<AcceptAnswer>, ApiError> {
    if body.sdp.as_ref().is_some_and(|s| s.len() > 64 * 1024) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_sdp",
            "the SDP offer is larger than 64 KiB",
        ));
    }
    let sdp = act(
        &state,
        &session,
        cid,
        id,
        CallAction::Accept { sdp: body.sdp },
    )
    .await?;
    Ok(axum::Json(AcceptAnswer { sdp }))
}

macro_rules! simple_action {
    ($name:ident, $path:literal, $doc:literal, $action:expr) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "calls",
            security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)),
            responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
        async fn $name(
            State(state): State<AppState>,
            session: StaffSession,
            Path((cid, id)): Path<(ChannelId, CallRecordId)>,
        ) -> Result<StatusCode, ApiError> {
            act(&state, &session, cid, id, $action).await.map(done)
        }
    };
}

simple_action!(
    decline_call,
    "/api/v1/channels/{cid}/calls/{id}/decline",
    "Decline a call or invitation ringing for me.",
    CallAction::Decline
);
simple_action!(
    leave_call,
    "/api/v1/channels/{cid}/calls/{id}/leave",
    "Leave the call (SPEC RG-6); the last staff member leaving ends it.",
    CallAction::Leave
);
simple_action!(
    end_call,
    "/api/v1/channels/{cid}/calls/{id}/end",
    "End the call for everyone (SPEC RG-7).",
    CallAction::End
);
simple_action!(
    hold_call,
    "/api/v1/channels/{cid}/calls/{id}/hold",
    "Put the customer on hold: they hear music, staff still hear each other (SPEC HD-1).",
    CallAction::Hold
);
simple_action!(
    resume_call,
    "/api/v1/channels/{cid}/calls/{id}/resume",
    "End the hold (SPEC HD-2).",
    CallAction::Resume
);

/// Invite a teammate, who is rung and can join (SPEC RG-3: at most 10 participants).
#[utoipa::path(post, path = "/api/v1/channels/{cid}/calls/{id}/invite", tag = "calls",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)),
    request_body = InviteBody,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn invite_to_call(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(ChannelId, CallRecordId)>,
    Json(body): Json<InviteBody>,
) -> Result<StatusCode, ApiError> {
    let action = CallAction::Invite {
        staff: body.staff_id,
    };
    act(&state, &session, cid, id, action).await.map(done)
}

/// Mute or unmute myself (SPEC RG-4).
#[utoipa::path(post, path = "/api/v1/channels/{cid}/calls/{id}/mute", tag = "calls",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)),
    request_body = MuteBody,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn mute_in_call(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(ChannelId, CallRecordId)>,
    Json(body): Json<MuteBody>,
) -> Result<StatusCode, ApiError> {
    let action = CallAction::Mute { muted: body.muted };
    act(&state, &session, cid, id, action).await.map(done)
}

/// Send dialpad digits to the caller as RFC 4733 events (SPEC RG-2).
#[utoipa::path(post, path = "/api/v1/channels/{cid}/calls/{id}/dtmf", tag = "calls",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)),
    request_body = DtmfBody,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn dtmf_call(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(ChannelId, CallRecordId)>,
    Json(body): Json<DtmfBody>,
) -> Result<StatusCode, ApiError> {
    let action = CallAction::Dtmf {
        digits: body.digits,
    };
    act(&state, &session, cid, id, action).await.map(done)
}

/// A call's record and each staff member's part in it.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/calls/{id}", tag = "calls",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)),
    responses((status = 200, body = CallDetail), (status = 404, body = ErrorBody)))]
async fn get_call(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(ChannelId, CallRecordId)>,
) -> Result<axum::Json<CallDetail>, ApiError> {
    session.member_of(&state, cid).await?;
    let call = state.store.call_record(cid, id).await?;
    let staff = state.store.call_staff(cid, id).await?;
    Ok(axum::Json(CallDetail { call, staff }))
}

/// The calls of a chat, oldest first.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/chats/{chat}/calls", tag = "calls",
    security(("session" = [])), params(("cid" = i64, Path), ("chat" = i64, Path)),
    responses((status = 200, body = [CallRecord]), (status = 404, body = ErrorBody)))]
async fn chat_calls(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, chat)): Path<(ChannelId, ChatId)>,
) -> Result<axum::Json<Vec<CallRecord>>, ApiError> {
    session.member_of(&state, cid).await?;
    state.store.chat(cid, chat).await?;
    Ok(axum::Json(state.store.chat_calls(cid, chat).await?))
}

/// Calls ringing for me or that I am in now (for a console that reloads mid-call).
#[utoipa::path(get, path = "/api/v1/me/calls", tag = "calls", security(("session" = [])),
    responses((status = 200, body = [LiveCall])))]
async fn my_live_calls(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<axum::Json<Vec<LiveCall>>, ApiError> {
    Ok(axum::Json(match &state.calls {
        Some(calls) => calls.live_for(session.staff.id).await,
        None => Vec::new(),
    }))
}

/// The channel's call routing (SPEC IN-3, IN-4). `hours` and `teams` are filled from
/// the channel's business hours and teams.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/routing", tag = "calls",
    security(("session" = [])), params(("cid" = i64, Path)),
    responses((status = 200, body = RoutingConfig), (status = 404, body = ErrorBody)))]
async fn get_routing(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<ChannelId>,
) -> Result<axum::Json<RoutingConfig>, ApiError> {
    session.member_of(&state, cid).await?;
    Ok(axum::Json(state.store.routing(cid).await?))
}

/// Sets the channel's call routing (managers): `mode` is `"ring_all"` or
/// `{"workflow": [rules]}`; `ring_timeout_secs`, `announcement`, `auto_assign`.
#[utoipa::path(put, path = "/api/v1/channels/{cid}/routing", tag = "calls",
    security(("session" = [])), params(("cid" = i64, Path)), request_body = RoutingConfig,
    responses((status = 200, body = RoutingConfig), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn put_routing(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<ChannelId>,
    Json(config): Json<RoutingConfig>,
) -> Result<axum::Json<RoutingConfig>, ApiError> {
    session.manager_of(&state, cid).await?;
    let event = state
        .store
        .set_routing(cid, config, Some(session.staff.id))
        .await?;
    state.publish([event]);
    Ok(axum::Json(state.store.routing(cid).await?))
}

//! Calling customers from the console (SPEC OUT-1..5): the dialpad's number lookup and
//! placing a call.
//!
//! `GET /api/v1/channels/{cid}/dial-lookup?number=…` reads what is typed or pasted in
//! any common format with the channel's region and names the customer who owns the
//! number (OUT-2). `POST /api/v1/channels/{cid}/calls` checks the caller's seat (OUT-5),
//! the number, a blocked customer's confirmation (OUT-4) and the channel's trunk, then
//! hands the call to the call engine, which opens a **new** phone chat (OUT-3), sends
//! the INVITE and connects the browser at once.

use axum::extract::State;
use axum::http::StatusCode;
use denwa_core::model::{
    CallDirection, CallOutcome, CallRecordId, ChannelId, ChatId, CustomerId, CustomerKind,
};
use denwa_core::phone::{E164, Region};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::calls::{PlaceCall, PlacedCall};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, Query, StaffSession};
use crate::telephony::trunk_dial;

/// The longest number text looked up or dialled.
const MAX_NUMBER_LEN: usize = 64;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dial_lookup))
        .routes(routes!(place_call))
        .routes(routes!(recent_calls))
}

/// What to look up.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    /// The number as typed or pasted (`090-1234-5678`, `+81 90…`, `(03) 1234 5678`).
    pub number: String,
}

/// The customer a number belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct DialCustomer {
    /// Id.
    pub id: CustomerId,
    /// Name (empty for a lead nobody named).
    pub name: String,
    /// Lead or member.
    pub kind: CustomerKind,
    /// Blocked: calling asks for confirmation (SPEC OUT-4).
    pub blocked: bool,
}

/// A number read with the channel's region.
#[derive(Debug, Serialize, ToSchema)]
pub struct DialLookup {
    /// E.164, when the number is valid.
    pub e164: Option<String>,
    /// How the channel's region writes it (`090-1234-5678`).
    pub display: Option<String>,
    /// Why it is not a number that can be called.
    pub error: Option<String>,
    /// Whose number it is; `None`: calling it creates a lead.
    pub customer: Option<DialCustomer>,
}

async fn region_of(state: &AppState, cid: ChannelId) -> Result<Region, ApiError> {
    state
        .store
        .channel(cid)
        .await?
        .region
        .parse::<Region>()
        .map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_region",
                "the channel's region is not a known region",
            )
        })
}

/// Read a typed or pasted number with the channel's region and name its customer (any
/// member of the channel). A number that cannot be called answers 200 with `error`, so
/// the dialpad can say why while the user types.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/dial-lookup", tag = "calls",
    security(("session" = [])), params(("cid" = i64, Path), LookupQuery),
    responses((status = 200, body = DialLookup), (status = 403, body = ErrorBody)))]
async fn dial_lookup(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<ChannelId>,
    Query(q): Query<LookupQuery>,
) -> Result<axum::Json<DialLookup>, ApiError> {
    session.member_of(&state, cid).await?;
    let region = region_of(&state, cid).await?;
    if q.number.len() > MAX_NUMBER_LEN {
        return Ok(axum::Json(DialLookup {
            e164: None,
            display: None,
            error: Some(format!("longer than {MAX_NUMBER_LEN} characters")),
            customer: None,
        }));
    }
    let n = match E164::parse(&q.number, region) {
        Ok(n) => n,
        Err(e) => {
            return Ok(axum::Json(DialLookup {
                e164: None,
                display: None,
                error: Some(e.to_string()),
                customer: None,
            }));
        }
    };
    let customer = state
        .store
        .customer_by_phone(cid, n.as_str())
        .await?
        .map(|c| DialCustomer {
            id: c.id,
            name: c.name,
            kind: c.kind,
            blocked: c.blocked,
        });
    Ok(axum::Json(DialLookup {
        e164: Some(n.as_str().to_owned()),
        display: Some(n.display(region)),
        error: None,
        customer,
    }))
}

/// How many recent calls the dialer lists.
const RECENT_CALLS: u32 = 20;

/// One of my recent calls, to call back from the dialer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecentCall {
    /// The call.
    pub call_id: CallRecordId,
    /// Its chat.
    pub chat_id: ChatId,
    /// Inbound or outbound.
    pub direction: CallDirection,
    /// The customer's number, E.164.
    pub number: String,
    /// How the channel's region writes it.
    pub display: String,
    /// The customer.
    pub customer_id: Option<CustomerId>,
    /// Their name (empty for an unnamed lead).
    pub customer_name: String,
    /// When it started.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// How it turned out (`None` while live).
    pub outcome: Option<CallOutcome>,
}

/// My latest calls in this channel (placed, taken or rung for), newest first: the
/// dialer's recent calls, each with the customer's number to call back.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/recent-calls", tag = "calls",
    security(("session" = [])), params(("cid" = i64, Path)),
    responses((status = 200, body = [RecentCall]), (status = 403, body = ErrorBody)))]
async fn recent_calls(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<ChannelId>,
) -> Result<axum::Json<Vec<RecentCall>>, ApiError> {
    session.member_of(&state, cid).await?;
    let region = region_of(&state, cid).await?;
    let calls = state
        .store
        .recent_calls(cid, session.staff.id, RECENT_CALLS)
        .await?;
    let mut names: std::collections::HashMap<CustomerId, String> = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(calls.len());
    for c in calls {
        let Some(number) = c.customer_number else {
            continue;
        };
        let customer_name = match c.customer_id {
            Some(id) => match names.get(&id) {
                Some(n) => n.clone(),
                None => {
                    let n = state.store.customer(cid, id).await?.name;
                    names.insert(id, n.clone());
                    n
                }
            },
            None => String::new(),
        };
        let display =
            E164::from_stored(&number).map_or_else(|| number.clone(), |n| n.display(region));
        out.push(RecentCall {
            call_id: c.id,
            chat_id: c.chat_id,
            direction: c.direction,
            number,
            display,
            customer_id: c.customer_id,
            customer_name,
            started_at: c.started_at,
            outcome: c.outcome,
        });
    }
    Ok(axum::Json(out))
}

/// Placing a call.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceCallBody {
    /// The number, in any common format of the channel's region.
    pub to: String,
    /// The browser's SDP offer (one audio m-line, Opus).
    pub sdp: String,
    /// File the call under this customer (called from their page).
    #[serde(default)]
    pub customer_id: Option<CustomerId>,
    /// The chat the call is started from; the call still gets a new chat (SPEC OUT-3).
    #[serde(default)]
    pub from_chat_id: Option<ChatId>,
    /// Call even though the number belongs to a blocked customer (SPEC OUT-4).
    #[serde(default)]
    pub confirm_blocked: bool,
}

fn refusal(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, code, message.into())
}

/// Call a customer through the channel's trunk, with the channel's number as caller ID.
/// Needs an operator seat (403 `no_operator_seat`, SPEC OUT-5) and no other call (409
/// `already_in_call`, SPEC AS-5). A number of a blocked customer answers 409
/// `blocked_number` unless `confirm_blocked` (SPEC OUT-4). Answers 201 once the INVITE
/// is out and the browser is connected; ringing, the answer and how it ended (busy,
/// declined, no answer, failed) arrive as the call's events.
#[utoipa::path(post, path = "/api/v1/channels/{cid}/calls", tag = "calls",
    security(("session" = [])), params(("cid" = i64, Path)), request_body = PlaceCallBody,
    responses((status = 201, body = PlacedCall), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn place_call(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<ChannelId>,
    Json(body): Json<PlaceCallBody>,
) -> Result<(StatusCode, axum::Json<PlacedCall>), ApiError> {
    let (_, seat) = state
        .store
        .membership(cid, session.staff.id)
        .await?
        .ok_or_else(|| ApiError::forbidden("you are not a member of this channel"))?;
    if !seat {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "no_operator_seat",
            "calling out needs an operator seat; ask a manager of the channel for one",
        ));
    }
    if body.sdp.trim().is_empty() || body.sdp.len() > 64 * 1024 {
        return Err(refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_sdp",
            "sdp: the browser's SDP offer, at most 64 KiB",
        ));
    }
    let region = region_of(&state, cid).await?;
    if body.to.len() > MAX_NUMBER_LEN {
        return Err(refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone_number",
            format!("to: longer than {MAX_NUMBER_LEN} characters"),
        ));
    }
    let to = E164::parse(&body.to, region).map_err(|e| {
        refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone_number",
            format!("to: {e}"),
        )
    })?;
    let customer = match body.customer_id {
        Some(id) => Some(state.store.customer(cid, id).await?),
        None => state.store.customer_by_phone(cid, to.as_str()).await?,
    };
    if let Some(c) = customer.as_ref().filter(|c| c.blocked)
        && !body.confirm_blocked
    {
        let who = if c.name.is_empty() {
            to.display(region)
        } else {
            c.name.clone()
        };
        return Err(refusal(
            StatusCode::CONFLICT,
            "blocked_number",
            format!("{who} is blocked; confirm to call anyway"),
        ));
    }
    if let Some(chat) = body.from_chat_id {
        state.store.chat(cid, chat).await?;
    }
    let dial = trunk_dial(&state, cid, None, &to).await?;
    let calls = state.calls.as_ref().ok_or_else(|| {
        refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "telephony_off",
            "this server runs without telephony",
        )
    })?;
    let placed = calls
        .place(PlaceCall {
            channel: cid,
            staff: session.staff.id,
            to,
            customer_id: customer.map(|c| c.id),
            from_chat: body.from_chat_id,
            dial,
            sdp: body.sdp,
        })
        .await
        .map_err(|r| {
            ApiError::new(
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::CONFLICT),
                r.code,
                r.message,
            )
        })?;
    Ok((StatusCode::CREATED, axum::Json(placed)))
}

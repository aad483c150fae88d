//! `/api/v1`: the staff console. Every channel-scoped route checks that the signed-in
//! staff member belongs to the channel in the path; objects of other channels answer 404.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use denwa_core::BusinessHours;
use denwa_core::model::{
    ApiKey, Channel, ChatState, ChatSummary, Customer, Member, Message, Role, Settings, Staff,
    StaffId, Team, TeamId,
};
use denwa_core::trunk::{Trunk, TrunkId};
use denwa_store::{ChannelPatch, CustomerInput, SettingsPatch, SipAccount, TrunkInput};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::chats::{self, ChatDetail, ChatList, ChatQuery, CustomerQuery, NewChatBody, TextBody};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, Query, StaffSession};
use crate::telephony::{TestCallResult, trunk_dial};
use denwa_core::phone::{E164, Region};

/// How long a console session lasts.
const SESSION_DAYS: i64 = 14;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(update_settings))
        .routes(routes!(get_channel, update_channel))
        .routes(routes!(get_business_hours, put_business_hours))
        .routes(routes!(list_staff))
        .routes(routes!(update_member))
        .routes(routes!(list_teams, create_team))
        .routes(routes!(update_team, delete_team))
        .routes(routes!(list_tags, create_tag))
        .routes(routes!(list_chats, create_chat))
        .routes(routes!(get_chat))
        .routes(routes!(add_note))
        .routes(routes!(send_message))
        .routes(routes!(set_assignee))
        .routes(routes!(set_team))
        .routes(routes!(set_tags))
        .routes(routes!(set_state))
        .routes(routes!(list_customers, create_customer))
        .routes(routes!(get_customer, update_customer, delete_customer))
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
        .routes(routes!(list_trunks, create_trunk))
        .routes(routes!(update_trunk, delete_trunk))
        .routes(routes!(test_call))
        .routes(routes!(get_sip_account, put_sip_account))
}

/// Sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// E-mail.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginAnswer {
    /// Bearer token for `Authorization: Bearer …` and the WebSocket's `token` parameter.
    pub token: String,
    /// Who signed in.
    pub staff: Staff,
}

/// One of my channels.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyChannel {
    /// Channel id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// My role there.
    pub role: Role,
    /// My operator seat there.
    pub operator_seat: bool,
    /// The channel's console language.
    pub locale: String,
}

/// The signed-in staff member.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// Identity.
    pub staff: Staff,
    /// My settings.
    pub settings: Settings,
    /// My channels.
    pub channels: Vec<MyChannel>,
}

/// Sign in with e-mail and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = LoginAnswer), (status = 401, body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    Json(body): Json<LoginBody>,
) -> Result<axum::Json<LoginAnswer>, ApiError> {
    if body.email.len() > 254 || body.password.len() > 1024 {
        return Err(ApiError::unauthorized());
    }
    let staff = state
        .store
        .verify_password(&body.email, &body.password)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "wrong e-mail or password",
            )
        })?;
    let token = state
        .store
        .create_session(staff.id, chrono::Duration::days(SESSION_DAYS))
        .await?;
    Ok(axum::Json(LoginAnswer { token, staff }))
}

/// End this session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("session" = [])),
    responses((status = 204)))]
async fn logout(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<StatusCode, ApiError> {
    state.store.delete_session(&session.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who I am, my settings and my channels.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("session" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<axum::Json<Me>, ApiError> {
    let settings = state.store.settings(session.staff.id).await?;
    let channels = state
        .store
        .memberships(session.staff.id)
        .await?
        .into_iter()
        .map(|m| MyChannel {
            id: m.channel.id,
            name: m.channel.name,
            role: m.role,
            operator_seat: m.operator_seat,
            locale: m.channel.locale,
        })
        .collect();
    Ok(axum::Json(Me {
        staff: session.staff,
        settings,
        channels,
    }))
}

/// Change my settings (unassigned-call notification, do-not-disturb, auto-mute on join).
#[utoipa::path(patch, path = "/api/v1/me/settings", tag = "me", security(("session" = [])),
    request_body = SettingsPatch, responses((status = 200, body = Settings)))]
async fn update_settings(
    State(state): State<AppState>,
    session: StaffSession,
    Json(patch): Json<SettingsPatch>,
) -> Result<axum::Json<Settings>, ApiError> {
    let (settings, event) = state.store.update_settings(session.staff.id, patch).await?;
    state.publish([event]);
    Ok(axum::Json(settings))
}

/// A channel.
#[utoipa::path(get, path = "/api/v1/channels/{cid}", tag = "channels", security(("session" = [])),
    params(("cid" = i64, Path)), responses((status = 200, body = Channel), (status = 403, body = ErrorBody)))]
async fn get_channel(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
) -> Result<axum::Json<Channel>, ApiError> {
    session.member_of(&state, cid).await?;
    Ok(axum::Json(state.store.channel(cid).await?))
}

/// Change channel settings (managers).
#[utoipa::path(patch, path = "/api/v1/channels/{cid}", tag = "channels", security(("session" = [])),
    params(("cid" = i64, Path)), request_body = ChannelPatch, responses((status = 200, body = Channel)))]
async fn update_channel(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
    Json(patch): Json<ChannelPatch>,
) -> Result<axum::Json<Channel>, ApiError> {
    session.manager_of(&state, cid).await?;
    let (channel, event) = state
        .store
        .update_channel(cid, patch, Some(session.staff.id))
        .await?;
    state.publish([event]);
    Ok(axum::Json(channel))
}

/// The channel's business hours.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/business-hours", tag = "channels",
    security(("session" = [])), params(("cid" = i64, Path)), responses((status = 200, body = BusinessHours)))]
async fn get_business_hours(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
) -> Result<axum::Json<BusinessHours>, ApiError> {
    session.member_of(&state, cid).await?;
    Ok(axum::Json(state.store.business_hours(cid).await?))
}

/// Replace the channel's business hours (managers).
#[utoipa::path(put, path = "/api/v1/channels/{cid}/business-hours", tag = "channels",
    security(("session" = [])), params(("cid" = i64, Path)), request_body = BusinessHours,
    responses((status = 200, body = BusinessHours), (status = 400, body = ErrorBody)))]
async fn put_business_hours(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
    Json(hours): Json<BusinessHours>,
) -> Result<axum::Json<BusinessHours>, ApiError> {
    session.manager_of(&state, cid).await?;
    let event = state
        .store
        .set_business_hours(cid, hours.clone(), Some(session.staff.id))
        .await?;
    state.publish([event]);
    Ok(axum::Json(hours))
}

/// The channel's staff.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/staff", tag = "channels",
    security(("session" = [])), params(("cid" = i64, Path)), responses((status = 200, body = [Member])))]
async fn list_staff(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
) -> Result<axum::Json<Vec<Member>>, ApiError> {
    session.member_of(&state, cid).await?;
    Ok(axum::Json(state.store.members(cid).await?))
}

/// What to change about a member of the channel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    /// The operator seat: permission to call out (SPEC OUT-5).
    pub operator_seat: bool,
}

/// Give or take a member's operator seat (owners and managers). Answers the member.
#[utoipa::path(patch, path = "/api/v1/channels/{cid}/staff/{sid}", tag = "channels",
    security(("session" = [])), params(("cid" = i64, Path), ("sid" = i64, Path)),
    request_body = MemberPatch,
    responses((status = 200, body = Member), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_member(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, sid)): Path<(i64, i64)>,
    Json(patch): Json<MemberPatch>,
) -> Result<axum::Json<Member>, ApiError> {
    session.manager_of(&state, cid).await?;
    let (role, _) = state
        .store
        .membership(cid, sid)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    state
        .store
        .add_member(cid, sid, role, patch.operator_seat)
        .await?;
    state
        .store
        .members(cid)
        .await?
        .into_iter()
        .find(|m| m.staff.id == sid)
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("member"))
}

/// A team to create or change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamBody {
    /// Name (required on creation).
    pub name: Option<String>,
    /// Replaces the members.
    pub member_ids: Option<Vec<StaffId>>,
}

/// The channel's teams.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/teams", tag = "teams",
    security(("session" = [])), params(("cid" = i64, Path)), responses((status = 200, body = [Team])))]
async fn list_teams(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
) -> Result<axum::Json<Vec<Team>>, ApiError> {
    session.member_of(&state, cid).await?;
    Ok(axum::Json(state.store.teams(cid).await?))
}

/// Create a team (managers).
#[utoipa::path(post, path = "/api/v1/channels/{cid}/teams", tag = "teams",
    security(("session" = [])), params(("cid" = i64, Path)), request_body = TeamBody,
    responses((status = 201, body = Team),
        (status = 409, body = ErrorBody, description = "a team of that name exists")))]
async fn create_team(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
    Json(body): Json<TeamBody>,
) -> Result<(StatusCode, axum::Json<Team>), ApiError> {
    session.manager_of(&state, cid).await?;
    let name = body
        .name
        .ok_or_else(|| ApiError::bad_request("a team needs a name"))?;
    let (team, event) = state
        .store
        .create_team(
            cid,
            &name,
            body.member_ids.as_deref().unwrap_or_default(),
            Some(session.staff.id),
        )
        .await?;
    state.publish([event]);
    Ok((StatusCode::CREATED, axum::Json(team)))
}

/// Rename a team or replace its members (managers).
#[utoipa::path(patch, path = "/api/v1/channels/{cid}/teams/{tid}", tag = "teams",
    security(("session" = [])), params(("cid" = i64, Path), ("tid" = i64, Path)), request_body = TeamBody,
    responses((status = 200, body = Team)))]
async fn update_team(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, tid)): Path<(i64, TeamId)>,
    Json(body): Json<TeamBody>,
) -> Result<axum::Json<Team>, ApiError> {
    session.manager_of(&state, cid).await?;
    let (team, event) = state
        .store
        .update_team(
            cid,
            tid,
            body.name.as_deref(),
            body.member_ids.as_deref(),
            Some(session.staff.id),
        )
        .await?;
    state.publish([event]);
    Ok(axum::Json(team))
}

/// Delete a team (managers).
#[utoipa::path(delete, path = "/api/v1/channels/{cid}/teams/{tid}", tag = "teams",
    security(("session" = [])), params(("cid" = i64, Path), ("tid" = i64, Path)), responses((status = 204)))]
async fn delete_team(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, tid)): Path<(i64, TeamId)>,
) -> Result<StatusCode, ApiError> {
    session.manager_of(&state, cid).await?;
    let event = state
        .store
        .delete_team(cid, tid, Some(session.staff.id))
        .await?;
    state.publish([event]);
    Ok(StatusCode::NO_CONTENT)
}

/// A tag.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagBody {
    /// Name.
    pub name: String,
}

/// The channel's tags.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/tags", tag = "tags",
    security(("session" = [])), params(("cid" = i64, Path)), responses((status = 200, body = [TagBody])))]
async fn list_tags(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
) -> Result<axum::Json<Vec<TagBody>>, ApiError> {
    session.member_of(&state, cid).await?;
    let tags = state.store.tags(cid).await?;
    Ok(axum::Json(
        tags.into_iter().map(|name| TagBody { name }).collect(),
    ))
}

/// Add a tag to the channel's list.
#[utoipa::path(post, path = "/api/v1/channels/{cid}/tags", tag = "tags",
    security(("session" = [])), params(("cid" = i64, Path)), request_body = TagBody,
    responses((status = 201, body = TagBody)))]
async fn create_tag(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
    Json(body): Json<TagBody>,
) -> Result<(StatusCode, axum::Json<TagBody>), ApiError> {
    session.member_of(&state, cid).await?;
    let name = state.store.create_tag(cid, &body.name).await?;
    Ok((StatusCode::CREATED, axum::Json(TagBody { name })))
}

/// The inbox: chats with filters, latest activity first.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/chats", tag = "chats",
    security(("session" = [])), params(("cid" = i64, Path), ChatQuery),
    responses((status = 200, body = ChatList), (status = 400, body = ErrorBody)))]
async fn list_chats(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
    Query(q): Query<ChatQuery>,
) -> Result<axum::Json<ChatList>, ApiError> {
    session.member_of(&state, cid).await?;
    Ok(axum::Json(
        chats::list(&state, cid, q, Some(session.staff.id)).await?,
    ))
}

/// Open a chat with a customer.
#[utoipa::path(post, path = "/api/v1/channels/{cid}/chats", tag = "chats",
    security(("session" = [])), params(("cid" = i64, Path)), request_body = NewChatBody,
    responses((status = 201, body = ChatSummary),
        (status = 404, body = ErrorBody, description = "no such customer in the channel")))]
async fn create_chat(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
    Json(body): Json<NewChatBody>,
) -> Result<(StatusCode, axum::Json<ChatSummary>), ApiError> {
    session.member_of(&state, cid).await?;
    let chat = chats::create(&state, cid, body, "console", Some(session.staff.id)).await?;
    Ok((StatusCode::CREATED, axum::Json(chat)))
}

/// One chat with its customer and timeline.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/chats/{id}", tag = "chats",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)),
    responses((status = 200, body = ChatDetail), (status = 404, body = ErrorBody)))]
async fn get_chat(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(i64, i64)>,
) -> Result<axum::Json<ChatDetail>, ApiError> {
    session.member_of(&state, cid).await?;
    Ok(axum::Json(chats::detail(&state, cid, id).await?))
}

/// Add an internal note (staff only; the customer never sees it).
#[utoipa::path(post, path = "/api/v1/channels/{cid}/chats/{id}/notes", tag = "chats",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)), request_body = TextBody,
    responses((status = 201, body = Message)))]
async fn add_note(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(i64, i64)>,
    Json(body): Json<TextBody>,
) -> Result<(StatusCode, axum::Json<Message>), ApiError> {
    session.member_of(&state, cid).await?;
    let m = chats::add_note(&state, cid, id, &body.body, Some(session.staff.id)).await?;
    Ok((StatusCode::CREATED, axum::Json(m)))
}

/// Send a message to the customer. Refused for phone chats (SPEC IN-7).
#[utoipa::path(post, path = "/api/v1/channels/{cid}/chats/{id}/messages", tag = "chats",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)), request_body = TextBody,
    responses((status = 201, body = Message), (status = 422, body = ErrorBody)))]
async fn send_message(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(i64, i64)>,
    Json(body): Json<TextBody>,
) -> Result<(StatusCode, axum::Json<Message>), ApiError> {
    session.member_of(&state, cid).await?;
    let m = chats::send_message(&state, cid, id, &body.body, Some(session.staff.id)).await?;
    Ok((StatusCode::CREATED, axum::Json(m)))
}

/// The assignee to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssigneeBody {
    /// A staff member of the channel, or null to unassign.
    pub staff_id: Option<StaffId>,
}

/// Assign or unassign the chat.
#[utoipa::path(put, path = "/api/v1/channels/{cid}/chats/{id}/assignee", tag = "chats",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)), request_body = AssigneeBody,
    responses((status = 200, body = ChatSummary)))]
async fn set_assignee(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(i64, i64)>,
    Json(body): Json<AssigneeBody>,
) -> Result<axum::Json<ChatSummary>, ApiError> {
    session.member_of(&state, cid).await?;
    let (chat, event) = state
        .store
        .set_assignee(cid, id, body.staff_id, Some(session.staff.id))
        .await?;
    state.publish([event]);
    Ok(axum::Json(chat))
}

/// The team to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatTeamBody {
    /// A team of the channel, or null.
    pub team_id: Option<TeamId>,
}

/// Set or clear the chat's team.
#[utoipa::path(put, path = "/api/v1/channels/{cid}/chats/{id}/team", tag = "chats",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)), request_body = ChatTeamBody,
    responses((status = 200, body = ChatSummary)))]
async fn set_team(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(i64, i64)>,
    Json(body): Json<ChatTeamBody>,
) -> Result<axum::Json<ChatSummary>, ApiError> {
    session.member_of(&state, cid).await?;
    let (chat, event) = state
        .store
        .set_team(cid, id, body.team_id, Some(session.staff.id))
        .await?;
    state.publish([event]);
    Ok(axum::Json(chat))
}

/// The tags to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsBody {
    /// All tags of the chat (unknown ones join the channel's list).
    pub tags: Vec<String>,
}

/// Replace the chat's tags.
#[utoipa::path(put, path = "/api/v1/channels/{cid}/chats/{id}/tags", tag = "chats",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)), request_body = TagsBody,
    responses((status = 200, body = ChatSummary)))]
async fn set_tags(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(i64, i64)>,
    Json(body): Json<TagsBody>,
) -> Result<axum::Json<ChatSummary>, ApiError> {
    session.member_of(&state, cid).await?;
    let (chat, event) = state
        .store
        .set_tags(cid, id, &body.tags, Some(session.staff.id))
        .await?;
    state.publish([event]);
    Ok(axum::Json(chat))
}

/// The state to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateBody {
    /// `opened`, `snoozed` or `closed`.
    pub state: ChatState,
    /// For `snoozed`: until when (in the future).
    pub snoozed_until: Option<DateTime<Utc>>,
}

/// Open, snooze or close the chat.
#[utoipa::path(put, path = "/api/v1/channels/{cid}/chats/{id}/state", tag = "chats",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)), request_body = StateBody,
    responses((status = 200, body = ChatSummary), (status = 400, body = ErrorBody)))]
async fn set_state(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(i64, i64)>,
    Json(body): Json<StateBody>,
) -> Result<axum::Json<ChatSummary>, ApiError> {
    session.member_of(&state, cid).await?;
    let (chat, event) = state
        .store
        .set_state(
            cid,
            id,
            body.state,
            body.snoozed_until,
            Some(session.staff.id),
        )
        .await?;
    state.publish([event]);
    Ok(axum::Json(chat))
}

/// Contacts: search by name or any spelling of a number.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/customers", tag = "customers",
    security(("session" = [])), params(("cid" = i64, Path), CustomerQuery),
    responses((status = 200, body = [Customer])))]
async fn list_customers(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
    Query(q): Query<CustomerQuery>,
) -> Result<axum::Json<Vec<Customer>>, ApiError> {
    session.member_of(&state, cid).await?;
    let found = state
        .store
        .search_customers(cid, q.q.as_deref().unwrap_or(""), q.limit()?)
        .await?;
    Ok(axum::Json(found))
}

/// Add a customer (a lead unless `kind` says otherwise).
#[utoipa::path(post, path = "/api/v1/channels/{cid}/customers", tag = "customers",
    security(("session" = [])), params(("cid" = i64, Path)), request_body = CustomerInput,
    responses((status = 201, body = Customer), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_customer(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
    Json(input): Json<CustomerInput>,
) -> Result<(StatusCode, axum::Json<Customer>), ApiError> {
    session.member_of(&state, cid).await?;
    let (customer, event) = state
        .store
        .create_customer(cid, input, Some(session.staff.id))
        .await?;
    state.publish([event]);
    Ok((StatusCode::CREATED, axum::Json(customer)))
}

/// One customer.
#[utoipa::path(get, path = "/api/v1/channels/{cid}/customers/{id}", tag = "customers",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)),
    responses((status = 200, body = Customer), (status = 404, body = ErrorBody)))]
async fn get_customer(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(i64, i64)>,
) -> Result<axum::Json<Customer>, ApiError> {
    session.member_of(&state, cid).await?;
    Ok(axum::Json(state.store.customer(cid, id).await?))
}

/// Change a customer.
#[utoipa::path(patch, path = "/api/v1/channels/{cid}/customers/{id}", tag = "customers",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)), request_body = CustomerInput,
    responses((status = 200, body = Customer)))]
async fn update_customer(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(i64, i64)>,
    Json(input): Json<CustomerInput>,
) -> Result<axum::Json<Customer>, ApiError> {
    session.member_of(&state, cid).await?;
    let (customer, event) = state
        .store
        .update_customer(cid, id, input, Some(session.staff.id))
        .await?;
    state.publish([event]);
    Ok(axum::Json(customer))
}

/// Delete a customer and their chats.
#[utoipa::path(delete, path = "/api/v1/channels/{cid}/customers/{id}", tag = "customers",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)), responses((status = 204)))]
async fn delete_customer(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    session.member_of(&state, cid).await?;
    let event = state
        .store
        .delete_customer(cid, id, Some(session.staff.id))
        .await?;
    state.publish([event]);
    Ok(StatusCode::NO_CONTENT)
}

/// A new API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyBody {
    /// What it is for.
    pub name: String,
}

/// A created API key with its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    /// The key.
    pub key: ApiKey,
    /// The secret (`x-access-secret`); it is stored hashed and cannot be shown again.
    pub secret: String,
}

/// The channel's API keys (managers).
#[utoipa::path(get, path = "/api/v1/channels/{cid}/api-keys", tag = "api keys",
    security(("session" = [])), params(("cid" = i64, Path)), responses((status = 200, body = [ApiKey])))]
async fn list_api_keys(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
) -> Result<axum::Json<Vec<ApiKey>>, ApiError> {
    session.manager_of(&state, cid).await?;
    Ok(axum::Json(state.store.api_keys(cid).await?))
}

/// Create an API key (managers).
#[utoipa::path(post, path = "/api/v1/channels/{cid}/api-keys", tag = "api keys",
    security(("session" = [])), params(("cid" = i64, Path)), request_body = ApiKeyBody,
    responses((status = 201, body = ApiKeyCreated)))]
async fn create_api_key(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
    Json(body): Json<ApiKeyBody>,
) -> Result<(StatusCode, axum::Json<ApiKeyCreated>), ApiError> {
    session.manager_of(&state, cid).await?;
    let (key, secret, event) = state
        .store
        .create_api_key(cid, &body.name, Some(session.staff.id))
        .await?;
    state.publish([event]);
    Ok((
        StatusCode::CREATED,
        axum::Json(ApiKeyCreated { key, secret }),
    ))
}

/// Revoke an API key (managers).
#[utoipa::path(delete, path = "/api/v1/channels/{cid}/api-keys/{id}", tag = "api keys",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)), responses((status = 204)))]
async fn revoke_api_key(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    session.manager_of(&state, cid).await?;
    let event = state
        .store
        .revoke_api_key(cid, id, Some(session.staff.id))
        .await?;
    state.publish([event]);
    Ok(StatusCode::NO_CONTENT)
}

/// The channel's SIP trunks (managers).
#[utoipa::path(get, path = "/api/v1/channels/{cid}/trunks", tag = "trunks",
    security(("session" = [])), params(("cid" = i64, Path)), responses((status = 200, body = [Trunk])))]
async fn list_trunks(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
) -> Result<axum::Json<Vec<Trunk>>, ApiError> {
    session.manager_of(&state, cid).await?;
    Ok(axum::Json(state.store.trunks(cid).await?))
}

/// Add a SIP trunk (managers).
#[utoipa::path(post, path = "/api/v1/channels/{cid}/trunks", tag = "trunks",
    security(("session" = [])), params(("cid" = i64, Path)), request_body = TrunkInput,
    responses((status = 201, body = Trunk), (status = 400, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "a trunk of that name exists")))]
async fn create_trunk(
    State(state): State<AppState>,
    session: StaffSession,
    Path(cid): Path<i64>,
    Json(input): Json<TrunkInput>,
) -> Result<(StatusCode, axum::Json<Trunk>), ApiError> {
    session.manager_of(&state, cid).await?;
    let (trunk, event) = state
        .store
        .create_trunk(cid, input, Some(session.staff.id))
        .await?;
    state.publish([event]);
    Ok((StatusCode::CREATED, axum::Json(trunk)))
}

/// Change a SIP trunk (managers). Empty strings clear optional fields.
#[utoipa::path(patch, path = "/api/v1/channels/{cid}/trunks/{id}", tag = "trunks",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)), request_body = TrunkInput,
    responses((status = 200, body = Trunk)))]
async fn update_trunk(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(i64, TrunkId)>,
    Json(input): Json<TrunkInput>,
) -> Result<axum::Json<Trunk>, ApiError> {
    session.manager_of(&state, cid).await?;
    let (trunk, event) = state
        .store
        .update_trunk(cid, id, input, Some(session.staff.id))
        .await?;
    state.publish([event]);
    Ok(axum::Json(trunk))
}

/// Delete a SIP trunk (managers).
#[utoipa::path(delete, path = "/api/v1/channels/{cid}/trunks/{id}", tag = "trunks",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)), responses((status = 204)))]
async fn delete_trunk(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(i64, TrunkId)>,
) -> Result<StatusCode, ApiError> {
    session.manager_of(&state, cid).await?;
    let event = state
        .store
        .delete_trunk(cid, id, Some(session.staff.id))
        .await?;
    state.publish([event]);
    Ok(StatusCode::NO_CONTENT)
}

/// Body of a trunk test call.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TestCallBody {
    /// The number to call, in any spelling of the channel's region (`090-1234-5678`,
    /// `+81 90 …`).
    to: String,
}

/// Call a number through this trunk (managers). When answered, the callee hears an echo
/// test (their own voice back): outbound calling and two-way audio through the carrier
/// work. Answers once the call is answered or has failed.
#[utoipa::path(post, path = "/api/v1/channels/{cid}/trunks/{id}/test-call", tag = "trunks",
    security(("session" = [])), params(("cid" = i64, Path), ("id" = i64, Path)), request_body = TestCallBody,
    responses((status = 200, body = TestCallResult), (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn test_call(
    State(state): State<AppState>,
    session: StaffSession,
    Path((cid, id)): Path<(i64, TrunkId)>,
    Json(input): Json<TestCallBody>,
) -> Result<axum::Json<TestCallResult>, ApiError> {
    session.manager_of(&state, cid).await?;
    let channel = state.store.channel(cid).await?;
    let region = channel.region.parse::<Region>().map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_region",
            "the channel's region is not a known region",
        )
    })?;
    let to = E164::parse(&input.to, region).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone_number",
            format!("to: {e}"),
        )
    })?;
    let dial = trunk_dial(&state, cid, Some(id), &to).await?;
    let Some(telephony) = state.telephony.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "telephony_off",
            "SIP is not running on this server",
        ));
    };
    let result = telephony
        .test_call(dial)
        .await
        .map_err(|m| ApiError::new(StatusCode::BAD_GATEWAY, "trunk_unreachable", m))?;
    Ok(axum::Json(result))
}

/// My SIP softphone account (username and device password), if set.
#[utoipa::path(get, path = "/api/v1/me/sip-account", tag = "me", security(("session" = [])),
    responses((status = 200, body = SipAccount), (status = 404, body = ErrorBody)))]
async fn get_sip_account(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<axum::Json<SipAccount>, ApiError> {
    state
        .store
        .sip_account_of(session.staff.id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("SIP account"))
}

/// What to set on my SIP account.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SipAccountBody {
    /// Username; kept (or derived from the e-mail) when absent.
    pub username: Option<String>,
    /// Device password (8–128 characters); generated when absent.
    pub password: Option<String>,
}

/// Create or replace my SIP softphone account; answers with the password to enter in the
/// phone.
#[utoipa::path(put, path = "/api/v1/me/sip-account", tag = "me", security(("session" = [])),
    request_body = SipAccountBody, responses((status = 200, body = SipAccount), (status = 409, body = ErrorBody)))]
async fn put_sip_account(
    State(state): State<AppState>,
    session: StaffSession,
    Json(body): Json<SipAccountBody>,
) -> Result<axum::Json<SipAccount>, ApiError> {
    let (account, event) = state
        .store
        .set_sip_account(
            session.staff.id,
            body.username.as_deref(),
            body.password.as_deref(),
        )
        .await?;
    state.publish([event]);
    Ok(axum::Json(account))
}

//! `/open/v1`: integrations, authenticated by an API key pair (`x-access-key`,
//! `x-access-secret`). The channel is always the key's own channel.

use axum::extract::State;
use axum::http::StatusCode;
use denwa_core::model::{Channel, ChatSummary, Customer, Message};
use denwa_store::CustomerInput;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::chats::{self, ChatDetail, ChatList, ChatQuery, CustomerQuery, NewChatBody, TextBody};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiKeyChannel, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open_channel))
        .routes(routes!(open_list_chats, open_create_chat))
        .routes(routes!(open_get_chat))
        .routes(routes!(open_add_note))
        .routes(routes!(open_list_customers, open_create_customer))
        .routes(routes!(
            open_get_customer,
            open_update_customer,
            open_delete_customer
        ))
}

/// The key's channel.
#[utoipa::path(get, path = "/open/v1/channel", tag = "open",
    security(("access_key" = [], "access_secret" = [])),
    responses((status = 200, body = Channel), (status = 401, body = ErrorBody)))]
async fn open_channel(
    State(state): State<AppState>,
    ApiKeyChannel(cid): ApiKeyChannel,
) -> Result<axum::Json<Channel>, ApiError> {
    Ok(axum::Json(state.store.channel(cid).await?))
}

/// Chats with filters (as the console's list; `assignee=me` does not apply).
#[utoipa::path(get, path = "/open/v1/chats", tag = "open",
    security(("access_key" = [], "access_secret" = [])), params(ChatQuery),
    responses((status = 200, body = ChatList)))]
async fn open_list_chats(
    State(state): State<AppState>,
    ApiKeyChannel(cid): ApiKeyChannel,
    Query(q): Query<ChatQuery>,
) -> Result<axum::Json<ChatList>, ApiError> {
    Ok(axum::Json(chats::list(&state, cid, q, None).await?))
}

/// Open a chat (from an integration: a web form, another inbox…).
#[utoipa::path(post, path = "/open/v1/chats", tag = "open",
    security(("access_key" = [], "access_secret" = [])), request_body = NewChatBody,
    responses((status = 201, body = ChatSummary),
        (status = 404, body = ErrorBody, description = "no such customer in the channel")))]
async fn open_create_chat(
    State(state): State<AppState>,
    ApiKeyChannel(cid): ApiKeyChannel,
    Json(body): Json<NewChatBody>,
) -> Result<(StatusCode, axum::Json<ChatSummary>), ApiError> {
    let chat = chats::create(&state, cid, body, "api", None).await?;
    Ok((StatusCode::CREATED, axum::Json(chat)))
}

/// One chat with its customer and timeline.
#[utoipa::path(get, path = "/open/v1/chats/{id}", tag = "open",
    security(("access_key" = [], "access_secret" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = ChatDetail), (status = 404, body = ErrorBody)))]
async fn open_get_chat(
    State(state): State<AppState>,
    ApiKeyChannel(cid): ApiKeyChannel,
    Path(id): Path<i64>,
) -> Result<axum::Json<ChatDetail>, ApiError> {
    Ok(axum::Json(chats::detail(&state, cid, id).await?))
}

/// Add an internal note.
#[utoipa::path(post, path = "/open/v1/chats/{id}/notes", tag = "open",
    security(("access_key" = [], "access_secret" = [])), params(("id" = i64, Path)), request_body = TextBody,
    responses((status = 201, body = Message)))]
async fn open_add_note(
    State(state): State<AppState>,
    ApiKeyChannel(cid): ApiKeyChannel,
    Path(id): Path<i64>,
    Json(body): Json<TextBody>,
) -> Result<(StatusCode, axum::Json<Message>), ApiError> {
    let m = chats::add_note(&state, cid, id, &body.body, None).await?;
    Ok((StatusCode::CREATED, axum::Json(m)))
}

/// Contacts: search by name or any spelling of a number.
#[utoipa::path(get, path = "/open/v1/customers", tag = "open",
    security(("access_key" = [], "access_secret" = [])), params(CustomerQuery),
    responses((status = 200, body = [Customer])))]
async fn open_list_customers(
    State(state): State<AppState>,
    ApiKeyChannel(cid): ApiKeyChannel,
    Query(q): Query<CustomerQuery>,
) -> Result<axum::Json<Vec<Customer>>, ApiError> {
    let found = state
        .store
        .search_customers(cid, q.q.as_deref().unwrap_or(""), q.limit()?)
        .await?;
    Ok(axum::Json(found))
}

/// Add a customer.
#[utoipa::path(post, path = "/open/v1/customers", tag = "open",
    security(("access_key" = [], "access_secret" = [])), request_body = CustomerInput,
    responses((status = 201, body = Customer)))]
async fn open_create_customer(
    State(state): State<AppState>,
    ApiKeyChannel(cid): ApiKeyChannel,
    Json(input): Json<CustomerInput>,
) -> Result<(StatusCode, axum::Json<Customer>), ApiError> {
    let (customer, event) = state.store.create_customer(cid, input, None).await?;
    state.publish([event]);
    Ok((StatusCode::CREATED, axum::Json(customer)))
}

/// One customer.
#[utoipa::path(get, path = "/open/v1/customers/{id}", tag = "open",
    security(("access_key" = [], "access_secret" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Customer), (status = 404, body = ErrorBody)))]
async fn open_get_customer(
    State(state): State<AppState>,
    ApiKeyChannel(cid): ApiKeyChannel,
    Path(id): Path<i64>,
) -> Result<axum::Json<Customer>, ApiError> {
    Ok(axum::Json(state.store.customer(cid, id).await?))
}

/// Change a customer.
#[utoipa::path(patch, path = "/open/v1/customers/{id}", tag = "open",
    security(("access_key" = [], "access_secret" = [])), params(("id" = i64, Path)), request_body = CustomerInput,
    responses((status = 200, body = Customer)))]
async fn open_update_customer(
    State(state): State<AppState>,
    ApiKeyChannel(cid): ApiKeyChannel,
    Path(id): Path<i64>,
    Json(input): Json<CustomerInput>,
) -> Result<axum::Json<Customer>, ApiError> {
    let (customer, event) = state.store.update_customer(cid, id, input, None).await?;
    state.publish([event]);
    Ok(axum::Json(customer))
}

/// Delete a customer and their chats.
#[utoipa::path(delete, path = "/open/v1/customers/{id}", tag = "open",
    security(("access_key" = [], "access_secret" = [])), params(("id" = i64, Path)),
    responses((status = 204)))]
async fn open_delete_customer(
    State(state): State<AppState>,
    ApiKeyChannel(cid): ApiKeyChannel,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let event = state.store.delete_customer(cid, id, None).await?;
    state.publish([event]);
    Ok(StatusCode::NO_CONTENT)
}

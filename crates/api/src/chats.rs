//! Chat and customer operations shared by the console and the integrations API.

use denwa_core::Event;
use denwa_core::model::{
    ChannelId, ChatState, ChatSummary, Customer, CustomerId, Medium, Message, MessageKind, StaffId,
};
use denwa_store::{ChatCursor, ChatFilter, NewChat};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::ApiError;
use axum::http::StatusCode;

/// Filters of the chat list (all optional; all must hold).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChatQuery {
    /// `opened`, `snoozed` or `closed`.
    pub state: Option<String>,
    /// `me`, `none` (unassigned) or a staff id.
    pub assignee: Option<String>,
    /// Team id.
    pub team: Option<i64>,
    /// Tag name.
    pub tag: Option<String>,
    /// `chat`, `phone`, `voice` or `video`.
    pub medium: Option<String>,
    /// The integration a chat came in by (`phone`: SPEC AS-3).
    pub integration: Option<String>,
    /// Keyword in messages, notes, the customer's name or number.
    pub q: Option<String>,
    /// Customer id.
    pub customer: Option<i64>,
    /// Page size (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_before` of the previous page.
    pub before: Option<String>,
}

/// A page of chats.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatList {
    /// Latest activity first.
    pub chats: Vec<ChatSummary>,
    /// Pass as `before` for the next page; null on the last page.
    pub next_before: Option<String>,
    /// With `q`: the line of each listed chat that matched it, marked (none for a chat
    /// found by its customer's name or number).
    pub matches: Vec<crate::search::ChatMatch>,
}

/// A chat with its customer and timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatDetail {
    /// The chat.
    pub chat: ChatSummary,
    /// Its customer.
    pub customer: Customer,
    /// Every event of the chat, oldest first.
    pub timeline: Vec<Event>,
}

/// A new chat.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChatBody {
    /// The customer.
    pub customer_id: CustomerId,
    /// Medium (default `chat`).
    pub medium: Option<Medium>,
    /// A first customer message.
    pub first_message: Option<String>,
}

/// A text body (note or message).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextBody {
    /// The text.
    pub body: String,
}

/// Customer search.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    /// Name, or a number in any spelling, or a run of its digits.
    pub q: Option<String>,
    /// At most this many (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

impl CustomerQuery {
    /// The page size asked for; outside 1–200 a 400, as for chats.
    pub fn limit(&self) -> Result<u32, ApiError> {
        check_limit(self.limit).map(|l| l.unwrap_or(50))
    }
}

/// A page size given to a list: 1–200.
fn check_limit(limit: Option<u32>) -> Result<Option<u32>, ApiError> {
    if limit.is_some_and(|l| l == 0 || l > 200) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "limit must be between 1 and 200",
        ));
    }
    Ok(limit)
}

fn bad_value(name: &str, value: &str, expected: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_field",
        format!("{name}={value:?} is not valid; expected {expected}"),
    )
}

pub(crate) fn filter_from(q: ChatQuery, me: Option<StaffId>) -> Result<ChatFilter, ApiError> {
    let state = q
        .state
        .map(|s| {
            ChatState::parse(&s).ok_or_else(|| bad_value("state", &s, "opened, snoozed or closed"))
        })
        .transpose()?;
    let medium = q
        .medium
        .map(|s| {
            Medium::parse(&s).ok_or_else(|| bad_value("medium", &s, "chat, phone, voice or video"))
        })
        .transpose()?;
    let assignee = match q.assignee.as_deref() {
        None | Some("") => None,
        Some("none") => Some(None),
        Some("me") => match me {
            Some(me) => Some(Some(me)),
            None => {
                return Err(bad_value(
                    "assignee",
                    "me",
                    "none or a staff id (an API key is nobody)",
                ));
            }
        },
        Some(id) => {
            Some(Some(id.parse().map_err(|_| {
                bad_value("assignee", id, "me, none or a staff id")
            })?))
        }
    };
    let cursor = q
        .before
        .map(|b| {
            ChatCursor::decode(&b).ok_or_else(|| bad_value("before", &b, "a next_before value"))
        })
        .transpose()?;
    Ok(ChatFilter {
        state,
        assignee,
        team: q.team,
        tag: q.tag.filter(|t| !t.is_empty()),
        medium,
        source: q.integration.filter(|s| !s.is_empty()),
        customer: q.customer,
        keyword: q.q,
        text_matches: None,
        limit: q.limit.unwrap_or(50),
        cursor,
    })
}

pub(crate) async fn list(
    state: &AppState,
    channel: ChannelId,
    q: ChatQuery,
    me: Option<StaffId>,
) -> Result<ChatList, ApiError> {
    check_limit(q.limit)?;
    let mut filter = filter_from(q, me)?;
    let keyword = filter
        .keyword
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let hits = match (&state.search, keyword) {
        (Some(index), Some(keyword)) => {
            let hits = crate::search::matching_chats(index, channel, &keyword).await?;
            filter.text_matches = Some(hits.iter().map(|h| h.chat_id).collect());
            hits
        }
        _ => Vec::new(),
    };
    let page = state.store.list_chats(channel, filter).await?;
    let ids: Vec<i64> = page.chats.iter().map(|c| c.id).collect();
    Ok(ChatList {
        matches: crate::search::matches_for(&hits, &ids),
        chats: page.chats,
        next_before: page.next.map(|c| c.encode()),
    })
}

pub(crate) async fn detail(
    state: &AppState,
    channel: ChannelId,
    id: i64,
) -> Result<ChatDetail, ApiError> {
    let chat = state.store.chat(channel, id).await?;
    let customer = state.store.customer(channel, chat.customer.id).await?;
    let timeline = state.store.timeline(channel, id).await?;
    Ok(ChatDetail {
        chat,
        customer,
        timeline,
    })
}

pub(crate) async fn create(
    state: &AppState,
    channel: ChannelId,
    body: NewChatBody,
    source: &str,
    actor: Option<StaffId>,
) -> Result<ChatSummary, ApiError> {
    let (chat, events) = state
        .store
        .create_chat(
            channel,
            NewChat {
                customer_id: body.customer_id,
                medium: body.medium.unwrap_or(Medium::Chat),
                source: source.to_owned(),
                first_message: body.first_message,
            },
            actor,
        )
        .await?;
    state.publish(events);
    Ok(chat)
}

pub(crate) async fn add_note(
    state: &AppState,
    channel: ChannelId,
    chat: i64,
    body: &str,
    actor: Option<StaffId>,
) -> Result<Message, ApiError> {
    let (message, event) = state
        .store
        .add_message(channel, chat, MessageKind::Note, actor, body)
        .await?;
    state.publish([event]);
    Ok(message)
}

/// A staff message to the customer. Phone chats are internal only (SPEC IN-7): the
/// customer is on the phone, there is no text channel to reach them by.
pub(crate) async fn send_message(
    state: &AppState,
    channel: ChannelId,
    chat: i64,
    body: &str,
    actor: Option<StaffId>,
) -> Result<Message, ApiError> {
    let summary = state.store.chat(channel, chat).await?;
    if summary.medium == Medium::Phone {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "phone_chat_internal_only",
            "a phone chat allows internal notes only: the customer cannot receive messages in it (SPEC IN-7)",
        ));
    }
    let (message, event) = state
        .store
        .add_message(channel, chat, MessageKind::Staff, actor, body)
        .await?;
    state.publish([event]);
    Ok(message)
}

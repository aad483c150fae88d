//! Full-text search of the inbox (SPEC RC-3) over the `denwa-search` index.
//!
//! - **Feeding**: [`spawn_indexer`] follows the [`Bus`](crate::Bus): every stored
//!   `note_added` / `message_sent` event, and a `transcript_ready` event's lines
//!   (`data.call_id`, `data.lines`: [`TranscriptLine`]s), become index documents
//!   ([`documents_from_event`]), committed in batches.
//! - **Rebuilding**: [`rebuild`] replaces the index with every message and note of the
//!   store (`denwa admin reindex`; the server runs it at start when the index is empty).
//! - **Searching**: the chat list's `q` asks the index for the chats whose lines match
//!   ([`matching_chats`]); the store keeps matching the customer's name and number. Each
//!   listed chat that matched by a line comes back with that line as text spans
//!   ([`ChatMatch`]), so the console marks the match without building HTML.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use denwa_core::model::{ChannelId, ChatId, Message, MessageKind};
use denwa_core::{Event, EventKind};
use denwa_search::{CUSTOMER, Document, Hit, Index, Kind, TranscriptLine};
use denwa_store::Store;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::error::ApiError;
use axum::http::StatusCode;

/// The name of the event a finished transcription publishes.
pub const TRANSCRIPT_READY: &str = "transcript_ready";

/// How many chats one keyword search considers (the best by relevance).
pub const MAX_MATCHING_CHATS: usize = 500;

/// Characters of a matching line shown around the match.
const SNIPPET_CHARS: usize = 120;

/// The line of a chat that matched the keyword.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatMatch {
    /// The chat.
    pub chat_id: ChatId,
    /// `message`, `note` or `transcript`.
    pub kind: String,
    /// Who said or wrote it: `customer` or a staff id; null for integrations.
    pub speaker: Option<String>,
    /// For a transcript line, where it starts in the call's recording (ms).
    pub offset_ms: Option<u64>,
    /// When it was written or said.
    pub at: DateTime<Utc>,
    /// Up to 120 characters of the line around the match, in order; render each
    /// part's `text` as text, marking the parts with `mark`.
    pub snippet: Vec<SnippetPart>,
}

/// A piece of a matching line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SnippetPart {
    /// Verbatim text of the line (or `…` where it was cut).
    pub text: String,
    /// Whether this part matched the keyword.
    pub mark: bool,
}

impl ChatMatch {
    fn from_hit(hit: &Hit) -> ChatMatch {
        ChatMatch {
            chat_id: hit.chat_id,
            kind: hit.kind.as_str().to_owned(),
            speaker: hit.speaker.clone(),
            offset_ms: hit.offset_ms,
            at: Utc
                .timestamp_millis_opt(hit.created_ms)
                .single()
                .unwrap_or_default(),
            snippet: hit
                .snippet(SNIPPET_CHARS)
                .into_iter()
                .map(|s| SnippetPart {
                    text: s.text,
                    mark: s.mark,
                })
                .collect(),
        }
    }
}

/// The index document of a stored message or note.
pub fn message_document(channel: ChannelId, message: &Message) -> Document {
    let (kind, speaker) = match message.kind {
        MessageKind::Note => (Kind::Note, message.author_staff_id.map(|s| s.to_string())),
        MessageKind::Customer => (Kind::Message, Some(CUSTOMER.to_owned())),
        MessageKind::Staff => (
            Kind::Message,
            message.author_staff_id.map(|s| s.to_string()),
        ),
    };
    Document::message(
        channel,
        message.chat_id,
        message.id,
        kind,
        speaker,
        message.created_at.timestamp_millis(),
        message.body.clone(),
    )
}

#[derive(Deserialize)]
struct MessageData {
    message: Message,
}

#[derive(Deserialize)]
struct TranscriptData {
    call_id: i64,
    lines: Vec<TranscriptLine>,
}

/// The documents a stored event adds to the index: a note or message is one; a
/// `transcript_ready` event (`data.call_id`, `data.lines`) is one per line. Other
/// events add none.
pub fn documents_from_event(event: &Event) -> Vec<Document> {
    let (Some(channel), Some(chat)) = (event.channel_id, event.chat_id) else {
        return Vec::new();
    };
    match event.kind {
        EventKind::NoteAdded | EventKind::MessageSent => {
            match MessageData::deserialize(&event.data) {
                Ok(d) => vec![message_document(channel, &d.message)],
                Err(e) => {
                    tracing::warn!(event = event.id, error = %e, "a message event without its message; not indexed");
                    Vec::new()
                }
            }
        }
        kind if kind.as_str() == TRANSCRIPT_READY => {
            match TranscriptData::deserialize(&event.data) {
                Ok(d) => Document::transcript(
                    channel,
                    chat,
                    d.call_id,
                    event.at.timestamp_millis(),
                    &d.lines,
                ),
                Err(e) => {
                    tracing::warn!(event = event.id, error = %e, "a transcript event without its lines; not indexed");
                    Vec::new()
                }
            }
        }
        _ => Vec::new(),
    }
}

/// Indexes what the bus carries until the bus closes: each wake-up takes every event
/// waiting (up to 1 000) and commits them together.
pub fn spawn_indexer(
    index: Arc<Index>,
    mut events: broadcast::Receiver<Arc<Event>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let mut docs = Vec::new();
            match events.recv().await {
                Ok(e) => docs.extend(documents_from_event(&e)),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "the search indexer fell behind the event bus; run `denwa admin reindex` to index what it missed"
                    );
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
            while docs.len() < 1000 {
                match events.try_recv() {
                    Ok(e) => docs.extend(documents_from_event(&e)),
                    Err(_) => break,
                }
            }
            if docs.is_empty() {
                continue;
            }
            let index = index.clone();
            let result = tokio::task::spawn_blocking(move || {
                for d in &docs {
                    index.add(d)?;
                }
                index.commit()
            })
            .await;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "indexing for search failed"),
                Err(e) => tracing::error!(error = %e, "the search indexer panicked"),
            }
        }
    })
}

/// The chats of `channel` with a line matching `keyword`, best first, each with its
/// best line. Runs on the blocking pool (a search reads the index files).
pub async fn matching_chats(
    index: &Arc<Index>,
    channel: ChannelId,
    keyword: &str,
) -> Result<Vec<Hit>, ApiError> {
    let index = index.clone();
    let keyword = keyword.to_owned();
    let hits =
        tokio::task::spawn_blocking(move || index.search(channel, &keyword, MAX_MATCHING_CHATS))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "search panicked");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the search failed; it was logged",
                )
            })?;
    hits.map_err(|e| {
        tracing::error!(error = %e, "search failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "search_failed",
            "the search index could not be read; it was logged",
        )
    })
}

/// The matching line of each chat of a page that matched by one.
pub(crate) fn matches_for(hits: &[Hit], chats: &[ChatId]) -> Vec<ChatMatch> {
    let by_chat: HashMap<ChatId, &Hit> = hits.iter().map(|h| (h.chat_id, h)).collect();
    chats
        .iter()
        .filter_map(|c| by_chat.get(c))
        .map(|h| ChatMatch::from_hit(h))
        .collect()
}

/// Replaces the index with every message, note and transcript line in the store, channel
/// by channel;
/// `progress` hears the number indexed so far (from the indexing thread). Returns how
/// many lines were indexed.
pub async fn rebuild<P>(
    store: &dyn Store,
    index: Arc<Index>,
    progress: P,
) -> Result<u64, Box<dyn std::error::Error + Send + Sync>>
where
    P: FnMut(u64) + Send + 'static,
{
    let channels = store.channels().await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Document, String>>(4096);
    let indexing = tokio::task::spawn_blocking(move || {
        index.reindex(std::iter::from_fn(move || rx.blocking_recv()), progress)
    });
    'channels: for channel in channels {
        let mut after = 0;
        loop {
            let page = match store.messages_after(channel.id, after, 1000).await {
                Ok(p) => p,
                Err(e) => {
                    // The rebuild is abandoned; the old index stays.
                    let _ = tx.send(Err(e.to_string())).await;
                    break 'channels;
                }
            };
            let Some(last) = page.last() else {
                break;
            };
            after = last.id;
            for m in &page {
                if tx.send(Ok(message_document(channel.id, m))).await.is_err() {
                    // The indexing thread stopped; its error is reported below.
                    break 'channels;
                }
            }
        }
        // Then the lines of the channel's call transcripts.
        let mut after = 0;
        loop {
            let page = match store.transcripts_after(channel.id, after, 1000).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string())).await;
                    break 'channels;
                }
            };
            let Some((last, _)) = page.last() else {
                break;
            };
            after = last.call_id;
            for (r, at) in &page {
                let lines: Vec<TranscriptLine> = r
                    .lines
                    .iter()
                    .map(|l| TranscriptLine {
                        speaker: l.speaker.clone(),
                        offset_ms: l.offset_ms,
                        text: l.text.clone(),
                    })
                    .collect();
                for d in Document::transcript(
                    channel.id,
                    r.chat_id,
                    r.call_id,
                    at.timestamp_millis(),
                    &lines,
                ) {
                    if tx.send(Ok(d)).await.is_err() {
                        break 'channels;
                    }
                }
            }
        }
    }
    drop(tx);
    Ok(indexing.await??)
}

/// Lines the store holds across every channel (the total a rebuild indexes).
pub async fn count_lines(store: &dyn Store) -> Result<u64, denwa_store::StoreError> {
    let mut n = 0;
    for channel in store.channels().await? {
        n += store.message_count(channel.id).await?;
    }
    Ok(n)
}

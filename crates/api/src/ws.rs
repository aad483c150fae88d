//! `/api/v1/events`: the staff WebSocket. After authenticating with `?token=` it pushes
//! `{"type":"event","event":…}` for every event of the staff member's channels (and their
//! own private events), `{"type":"resync"}` when the client fell too far behind to be
//! sent every event (it should reload), and pings every 25 s.

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use denwa_core::Event;
use denwa_core::model::{ChannelId, StaffId};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// At most this many frames are written per flush, so a busy bus can't starve pings.
const MAX_BATCH: usize = 64;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::Query;

/// The WebSocket's query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// The session token from `/api/v1/auth/login`.
    token: String,
}

/// Whether a staff member in `channels` may receive `event`.
pub fn visible_to(event: &Event, staff: StaffId, channels: &HashSet<ChannelId>) -> bool {
    match event.channel_id {
        Some(c) => channels.contains(&c),
        None => event.actor_staff_id == Some(staff),
    }
}

pub(crate) async fn events(
    State(state): State<AppState>,
    Query(q): Query<EventsQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let staff = state
        .store
        .session_staff(&q.token)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let channels: HashSet<ChannelId> = state
        .store
        .memberships(staff.id)
        .await?
        .into_iter()
        .map(|m| m.channel.id)
        .collect();
    // Subscribe before the upgrade completes so nothing published meanwhile is lost.
    let rx = state.bus.subscribe();
    // A console sends next to nothing, and tungstenite zero-fills its whole read buffer
    // each time the socket is polled for input, which the loop below does after every
    // event it forwards: with the default 128 KiB, 200 consoles spent a quarter of the
    // server's CPU in memset during a burst of calls.
    Ok(upgrade
        .read_buffer_size(4 * 1024)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| serve(socket, state, staff.id, channels, rx)))
}

/// The `{"type":"event","event":…}` frame of an event, serialised once however many
/// consoles receive it: every WebSocket of the event's channel gets the same bytes (the
/// last frames are kept in a small table indexed by event id).
fn frame(event: &Event) -> Utf8Bytes {
    const SLOTS: usize = 256;
    type Slot = std::sync::Mutex<Option<(i64, Utf8Bytes)>>;
    static CACHE: std::sync::LazyLock<Vec<Slot>> =
        std::sync::LazyLock::new(|| (0..SLOTS).map(|_| std::sync::Mutex::new(None)).collect());
    let slot = &CACHE[event.id.rem_euclid(SLOTS as i64) as usize];
    if let Some((id, text)) = slot.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
        && *id == event.id
    {
        return text.clone();
    }
    #[derive(serde::Serialize)]
    struct Frame<'a> {
        r#type: &'static str,
        event: &'a Event,
    }
    let text = Utf8Bytes::from(
        serde_json::to_string(&Frame {
            r#type: "event",
            event,
        })
        .unwrap_or_else(|_| r#"{"type":"resync"}"#.to_owned()),
    );
    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((event.id, text.clone()));
    text
}

async fn serve(
    socket: WebSocket,
    state: AppState,
    staff: StaffId,
    channels: HashSet<ChannelId>,
    mut rx: tokio::sync::broadcast::Receiver<std::sync::Arc<Event>>,
) {
    state.metrics.websocket_opened();
    state.presence.connected(staff);
    let (mut tx, mut incoming) = socket.split();
    let mut ping = tokio::time::interval(Duration::from_secs(25));
    ping.tick().await;
    let hello = serde_json::json!({ "type": "hello", "staff_id": staff });
    if tx
        .send(Message::Text(Utf8Bytes::from(hello.to_string())))
        .await
        .is_err()
    {
        state.metrics.websocket_closed();
        state.presence.disconnected(staff);
        return;
    }
    loop {
        tokio::select! {
            received = rx.recv() => {
                // Events come in bursts (a call's start is several): queue every frame
                // already waiting and write them with one flush, not one write each.
                let mut next = Some(received);
                let mut queued = 0usize;
                let mut closed = false;
                while let Some(received) = next.take() {
                    let text = match received {
                        Ok(event) if visible_to(&event, staff, &channels) => Some(frame(&event)),
                        Ok(_) => None,
                        Err(RecvError::Lagged(_)) => {
                            Some(Utf8Bytes::from_static(r#"{"type":"resync"}"#))
                        }
                        Err(RecvError::Closed) => {
                            closed = true;
                            None
                        }
                    };
                    if let Some(text) = text {
                        if tx.feed(Message::Text(text)).await.is_err() {
                            closed = true;
                            break;
                        }
                        queued += 1;
                    }
                    if queued < MAX_BATCH && !closed {
                        next = match rx.try_recv() {
                            Ok(e) => Some(Ok(e)),
                            Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
                            Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
                            Err(TryRecvError::Empty) => None,
                        };
                    }
                }
                if (queued > 0 && tx.flush().await.is_err()) || closed {
                    break;
                }
            }
            message = incoming.next() => match message {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                // The console sends nothing we act on yet; pongs are handled by axum.
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if tx.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
    state.metrics.websocket_closed();
    state.presence.disconnected(staff);
}

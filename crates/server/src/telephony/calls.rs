//! The call service: one task that owns the `denwa_core::Switchboard` (the inbound call
//! lifecycle, pure) and carries out its effects — the store (call rows, the phone chat's
//! timeline), the bus (the consoles' ring and every transition), and the SIP edge (answer,
//! ring softphones, connect browser legs, hold, DTMF, hang up).
//!
//! Inputs come from the SIP edge ([`FromEdge`]: a routed call, the caller hanging up, a
//! softphone answering), from the API ([`CallControl`]: staff accepting with a WebRTC
//! offer, the in-call controls), from the bus (staff settings, phone chats closed) and
//! from the machine's own deadline.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use denwa_api::Bus;
use denwa_api::audio::{AudioKind, ChannelAudio};
use denwa_api::calls::{
    CallAction, CallControl, CallRefused, LiveCall, PlaceCall, PlacedCall, Presence,
};
use denwa_core::call::{CallError, CallId, Candidate, Effect, IncomingCall, Input, OutgoingCall};
use denwa_core::model::{
    CallDirection, CallRecordId, ChannelId, ChatId, ChatState, Medium, StaffId,
};
use denwa_core::{E164, Event, EventKind, Region, Switchboard};
use denwa_media::{HoldMusic, Prompt};
use denwa_sip::CallHandle;
use denwa_store::{NewCall, Store};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::telephony::audio::AudioCache;
use crate::telephony::edge::DialParams;

/// The dialog handle of a placed call before its INVITE is out (no edge call has it).
const NOT_DIALLED: CallHandle = CallHandle(u64::MAX);

/// What the SIP edge tells the call service.
#[derive(Debug)]
pub(crate) enum FromEdge {
    /// A call to a channel number was routed to `channel` (180 sent).
    Incoming {
        handle: CallHandle,
        channel: ChannelId,
        /// The caller's `From` user part (a number in any format, or `anonymous`).
        caller: Option<String>,
        /// The dialled channel number, E.164.
        dialled: String,
    },
    /// The caller hung up (CANCEL or BYE) or its media died.
    CallerGone { handle: CallHandle, reason: String },
    /// A staff softphone rung for the call answered (200).
    SoftphoneAnswered { handle: CallHandle, staff: StaffId },
    /// A staff softphone refused (486/603/…).
    SoftphoneRefused { handle: CallHandle, staff: StaffId },
    /// A staff softphone in the call hung up (BYE).
    SoftphoneLeft { handle: CallHandle, staff: StaffId },
    /// A staff softphone put the customer on hold (`sendonly`) or resumed.
    SoftphoneHold {
        handle: CallHandle,
        staff: StaffId,
        hold: bool,
    },
    /// A browser leg's media died (its console closed or lost the network).
    BrowserGone { handle: CallHandle, staff: StaffId },
    /// The far end of a call staff placed rings (180/183; `early_media`: with SDP).
    CalleeRinging {
        handle: CallHandle,
        early_media: bool,
    },
    /// The far end of a call staff placed answered.
    CalleeAnswered { handle: CallHandle },
    /// The far end of a call staff placed refused it, or the carrier failed it.
    CalleeFailed { handle: CallHandle, status: u16 },
}

/// What the call service asks of the SIP edge for a call.
#[derive(Debug)]
pub(crate) enum ToEdge {
    /// Ring these staff members' registered softphones (staff id, SIP username).
    Ring {
        handle: CallHandle,
        staff: Vec<(StaffId, String)>,
    },
    /// Stop ringing these staff members' softphones (CANCEL).
    StopRinging {
        handle: CallHandle,
        staff: Vec<StaffId>,
    },
    /// Answer the caller (200 OK) and start the call's room with the customer's leg
    /// (`hold_music`: the channel's own, else the built-in pattern).
    Answer {
        handle: CallHandle,
        record: Option<PathBuf>,
        hold_music: Option<HoldMusic>,
    },
    /// Put a staff member's answered softphone into the room.
    ConnectSoftphone {
        handle: CallHandle,
        staff: StaffId,
        muted: bool,
    },
    /// Answer a browser's WebRTC offer and put its leg into the room.
    ConnectBrowser {
        handle: CallHandle,
        staff: StaffId,
        muted: bool,
        offer: String,
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// Take a staff member's leg out of the room (BYE a softphone; close a browser leg).
    Disconnect { handle: CallHandle, staff: StaffId },
    /// BYE the caller and end the room.
    HangUp { handle: CallHandle },
    /// Do not answer: refuse the caller with `status` (after the announcement, if any,
    /// played as early media).
    TurnAway {
        handle: CallHandle,
        status: u16,
        announcement: Option<Prompt>,
    },
    /// Mute or unmute a staff leg.
    Mute {
        handle: CallHandle,
        staff: StaffId,
        muted: bool,
    },
    /// The customer hears hold music (staff keep hearing each other).
    Hold { handle: CallHandle },
    /// End the hold.
    Resume { handle: CallHandle },
    /// RFC 4733 digits to the caller.
    Dtmf { handle: CallHandle, digits: String },
    /// Place a call through a trunk (INVITE; the room starts with no customer); the
    /// reply is the new dialog's handle.
    Dial {
        params: DialParams,
        reply: oneshot::Sender<Result<CallHandle, String>>,
    },
}

enum Msg {
    Edge(FromEdge),
    Act {
        channel: ChannelId,
        staff: StaffId,
        call: CallRecordId,
        action: CallAction,
        reply: oneshot::Sender<Result<Option<String>, CallRefused>>,
    },
    LiveFor {
        staff: StaffId,
        reply: oneshot::Sender<Vec<LiveCall>>,
    },
    Place {
        call: Box<PlaceCall>,
        reply: oneshot::Sender<Result<PlacedCall, CallRefused>>,
    },
}

/// The API's handle on the call service.
pub(crate) struct CallService {
    tx: mpsc::UnboundedSender<Msg>,
}

/// The edge's handle for reporting to the call service.
#[derive(Clone)]
pub(crate) struct CallReports {
    tx: mpsc::UnboundedSender<Msg>,
}

impl CallReports {
    pub(crate) fn send(&self, m: FromEdge) {
        let _ = self.tx.send(Msg::Edge(m));
    }
}

fn refused(status: u16, code: &'static str, message: impl Into<String>) -> CallRefused {
    CallRefused {
        status,
        code,
        message: message.into(),
    }
}

impl CallService {
    /// Sends the service the message `make` builds around a reply slot and waits for the
    /// reply (20 s at most).
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, CallRefused>>) -> Msg,
    ) -> Result<T, CallRefused> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(make(reply))
            .map_err(|_| refused(503, "telephony_stopped", "the call service has stopped"))?;
        match tokio::time::timeout(Duration::from_secs(20), answer).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(refused(
                503,
                "telephony_stopped",
                "the call service stopped",
            )),
            Err(_) => Err(refused(
                504,
                "timeout",
                "the call engine did not answer in time",
            )),
        }
    }
}

#[async_trait]
impl CallControl for CallService {
    async fn act(
        &self,
        channel: ChannelId,
        staff: StaffId,
        call: CallRecordId,
        action: CallAction,
    ) -> Result<Option<String>, CallRefused> {
        self.ask(|reply| Msg::Act {
            channel,
            staff,
            call,
            action,
            reply,
        })
        .await
    }

    async fn live_for(&self, staff: StaffId) -> Vec<LiveCall> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Msg::LiveFor { staff, reply }).is_err() {
            return Vec::new();
        }
        answer.await.unwrap_or_default()
    }

    async fn place(&self, call: PlaceCall) -> Result<PlacedCall, CallRefused> {
        self.ask(|reply| Msg::Place {
            call: Box::new(call),
            reply,
        })
        .await
    }
}

/// Where announcements and recordings live, and which staff are reachable.
pub(crate) struct CallServiceConfig {
    /// Recordings directory (`--record-calls`), `None`: calls are not recorded.
    pub(crate) recordings: Option<PathBuf>,
    /// `<data>/announcements/<name>.wav` for the announcement a channel's routing names.
    pub(crate) announcements: PathBuf,
    /// Channels' uploaded audio (announcement, hold music); an uploaded announcement
    /// wins over the routing's named one.
    pub(crate) audio: Option<Arc<ChannelAudio>>,
    /// Staff consoles that are open.
    pub(crate) presence: Arc<Presence>,
    /// SIP usernames with a live registration (the edge keeps it).
    pub(crate) registered: Arc<std::sync::RwLock<BTreeSet<String>>>,
    /// How long a call staff place may ring before it is given up (`--ring-timeout`).
    pub(crate) dial_timeout: Duration,
}

/// A browser's SDP offer and where its answer goes.
type PendingOffer = (String, oneshot::Sender<Result<String, String>>);

struct LiveState {
    handle: CallHandle,
    channel: ChannelId,
    chat: ChatId,
    /// Staff being rung (routing or invitation) and whether it is an invitation.
    ringing: BTreeMap<StaffId, bool>,
    /// The ring details (caller, profile fields) consoles show.
    ring: Value,
    /// Staff whose leg is a softphone (else a browser).
    softphones: BTreeSet<StaffId>,
    /// SIP username of each channel member with a softphone account.
    sip_users: HashMap<StaffId, String>,
}

struct Service {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    metrics: Arc<denwa_api::metrics::Metrics>,
    edge: mpsc::UnboundedSender<ToEdge>,
    cfg: CallServiceConfig,
    board: Switchboard,
    live: HashMap<CallId, LiveState>,
    by_handle: HashMap<CallHandle, CallId>,
    /// Browser offers waiting for the machine's `ConnectStaff` (accept in progress).
    offers: HashMap<(CallId, StaffId), PendingOffer>,
    /// Announcements and hold music, decoded once per file version.
    audio: AudioCache,
    /// INVITEs of placed calls, waiting for the machine's `Dial`.
    dials: HashMap<CallId, DialParams>,
    /// A placed call whose INVITE could not be sent, and why (checked after a drain).
    dial_failed: Option<(CallId, String)>,
}

/// Starts the call service task. Returns the API's handle and the edge's.
pub(crate) async fn start(
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    metrics: Arc<denwa_api::metrics::Metrics>,
    edge: mpsc::UnboundedSender<ToEdge>,
    cfg: CallServiceConfig,
) -> anyhow::Result<(Arc<CallService>, CallReports)> {
    // A previous process may have died with calls up: end them with a clear reason.
    let ended = store.end_interrupted_calls("server_restarted").await?;
    if !ended.is_empty() {
        tracing::warn!(
            calls = ended.len(),
            "ended calls left live by the previous run"
        );
    }
    for e in ended {
        bus.publish(e);
    }
    let mut board = Switchboard::new();
    let now = Instant::now();
    for (staff, chat) in store.open_phone_chats().await? {
        let _ = board.handle_input(now, Input::ActivePhoneChat { staff, chat });
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let service = Service {
        store,
        bus: bus.clone(),
        metrics,
        edge,
        cfg,
        board,
        live: HashMap::new(),
        by_handle: HashMap::new(),
        offers: HashMap::new(),
        audio: AudioCache::default(),
        dials: HashMap::new(),
        dial_failed: None,
    };
    // Its own thread: on the shared runtime every store round trip of a call (each a
    // wake-up) queued behind the WebSocket tasks of every console, which a call's events
    // keep busy; 200 consoles made a ring wait tens of milliseconds for them.
    let events = bus.subscribe();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the call service's runtime")?;
    std::thread::Builder::new()
        .name("denwa-calls".into())
        .spawn(move || runtime.block_on(service.run(rx, events)))
        .context("starting the call service's thread")?;
    Ok((Arc::new(CallService { tx: tx.clone() }), CallReports { tx }))
}

fn call_error(e: &CallError) -> CallRefused {
    let (status, code) = match e {
        CallError::UnknownCall(_) => (404, "no_live_call"),
        CallError::NotRinging { .. } => (409, "not_ringing"),
        CallError::NotParticipant { .. } => (409, "not_in_call"),
        CallError::AlreadyInCall { .. } => (409, "already_in_call"),
        CallError::TooManyParticipants { .. } => (409, "call_full"),
        CallError::Unavailable { .. } => (409, "unavailable"),
        CallError::AlreadyOnHold(_) => (409, "already_on_hold"),
        CallError::NotOnHold(_) => (409, "not_on_hold"),
        CallError::InvalidDtmf(_) => (422, "invalid_dtmf"),
        CallError::Busy { .. } => (409, "already_in_call"),
        CallError::NotAnswered(_) => (409, "not_answered"),
        _ => (409, "refused"),
    };
    refused(status, code, e.to_string())
}

impl Service {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Msg>,
        mut events: tokio::sync::broadcast::Receiver<Arc<Event>>,
    ) {
        use tokio::sync::broadcast::error::RecvError;
        // The heartbeat dates a crash: a call cut off by one ends at its last beat, so a
        // second's granularity keeps the recovered durations honest.
        let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut bus_open = true;
        loop {
            let deadline = self.board.poll_timeout();
            tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => self.on_msg(m).await,
                    None => break,
                },
                e = events.recv(), if bus_open => match e {
                    Ok(e) => self.on_bus(&e).await,
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => bus_open = false,
                },
                _ = sleep_until(deadline) => {
                    self.board.handle_timeout(Instant::now());
                    self.drain().await;
                }
                _ = heartbeat.tick() => {
                    if !self.live.is_empty()
                        && let Err(e) = self.store.heartbeat_live_calls().await
                    {
                        tracing::warn!(error = %e, "call heartbeat failed");
                    }
                }
            }
        }
    }

    async fn on_bus(&mut self, e: &Event) {
        let now = Instant::now();
        match e.kind {
            EventKind::SettingsChanged => {
                let (Some(staff), Some(settings)) = (
                    e.data.get("staff_id").and_then(Value::as_i64),
                    e.data
                        .get("settings")
                        .and_then(|s| serde_json::from_value(s.clone()).ok()),
                ) else {
                    return;
                };
                let _ = self
                    .board
                    .handle_input(now, Input::Settings { staff, settings });
            }
            EventKind::StateChanged | EventKind::AssigneeChanged => {
                let Some(chat) = e.data.get("chat") else {
                    return;
                };
                let (Some(id), medium, state, assignee) = (
                    chat.get("id").and_then(Value::as_i64),
                    chat.get("medium").and_then(Value::as_str),
                    chat.get("state").and_then(Value::as_str),
                    chat.get("assignee_id").and_then(Value::as_i64),
                ) else {
                    return;
                };
                if medium != Some(Medium::Phone.as_str()) {
                    return;
                }
                let _ = self
                    .board
                    .handle_input(now, Input::ChatReleased { chat: id });
                if state == Some(ChatState::Opened.as_str())
                    && let Some(staff) = assignee
                {
                    let _ = self
                        .board
                        .handle_input(now, Input::ActivePhoneChat { staff, chat: id });
                }
            }
            _ => {}
        }
    }

    async fn on_msg(&mut self, m: Msg) {
        match m {
            Msg::Edge(e) => self.on_edge(e).await,
            Msg::Act {
                channel,
                staff,
                call,
                action,
                reply,
            } => {
                let r = self.act(channel, staff, call, action).await;
                let _ = reply.send(r);
            }
            Msg::LiveFor { staff, reply } => {
                let _ = reply.send(self.live_for(staff));
            }
            Msg::Place { call, reply } => {
                let r = self.place(*call).await;
                let _ = reply.send(r);
            }
        }
    }

    fn live_for(&self, staff: StaffId) -> Vec<LiveCall> {
        let mut out = Vec::new();
        for (id, l) in &self.live {
            let participants: Vec<StaffId> = self
                .board
                .participants(*id)
                .into_iter()
                .map(|(s, _)| s)
                .collect();
            let state = if participants.contains(&staff) {
                if self.board.is_answered(*id) {
                    "joined"
                } else {
                    "dialing"
                }
            } else {
                match l.ringing.get(&staff) {
                    Some(true) => "invited",
                    Some(false) => "ringing",
                    None => continue,
                }
            };
            out.push(LiveCall {
                call_id: id.0 as CallRecordId,
                channel_id: l.channel,
                chat_id: l.chat,
                state: state.to_owned(),
                participants,
                on_hold: self.board.on_hold_by(*id).is_some(),
                ring: l.ring.clone(),
            });
        }
        out
    }

    async fn on_edge(&mut self, e: FromEdge) {
        let now = Instant::now();
        match e {
            FromEdge::Incoming {
                handle,
                channel,
                caller,
                dialled,
            } => {
                if let Err(err) = self.incoming(handle, channel, caller, dialled).await {
                    tracing::error!(call = handle.0, error = %err, "cannot take the call");
                    let _ = self.edge.send(ToEdge::TurnAway {
                        handle,
                        status: 500,
                        announcement: None,
                    });
                }
            }
            FromEdge::CallerGone { handle, reason } => {
                if let Some(&call) = self.by_handle.get(&handle) {
                    tracing::info!(call = call.0, %reason, "caller gone");
                    let _ = self.board.handle_input(now, Input::CallerHungUp { call });
                    self.drain().await;
                }
            }
            FromEdge::SoftphoneAnswered { handle, staff } => {
                let Some(&call) = self.by_handle.get(&handle) else {
                    let _ = self.edge.send(ToEdge::Disconnect { handle, staff });
                    return;
                };
                if let Some(l) = self.live.get_mut(&call) {
                    l.softphones.insert(staff);
                }
                if let Err(e) = self.board.handle_input(now, Input::Accept { call, staff }) {
                    tracing::info!(call = call.0, staff, error = %e, "softphone answer refused");
                    if let Some(l) = self.live.get_mut(&call) {
                        l.softphones.remove(&staff);
                    }
                    let _ = self.edge.send(ToEdge::Disconnect { handle, staff });
                }
                self.drain().await;
            }
            FromEdge::SoftphoneRefused { handle, staff } => {
                if let Some(&call) = self.by_handle.get(&handle) {
                    // Other devices of the staff member (the console) may still answer:
                    // only a refusal when nothing else rings for them would be a decline.
                    let console_open = self.cfg.presence.is_online(staff);
                    if !console_open {
                        let _ = self.board.handle_input(now, Input::Decline { call, staff });
                        self.drain().await;
                    }
                }
            }
            FromEdge::SoftphoneLeft { handle, staff } | FromEdge::BrowserGone { handle, staff } => {
                if let Some(&call) = self.by_handle.get(&handle) {
                    let _ = self.board.handle_input(now, Input::Leave { call, staff });
                    self.drain().await;
                }
            }
            FromEdge::CalleeRinging {
                handle,
                early_media,
            } => {
                self.callee(handle, |call| Input::CalleeRinging { call, early_media })
                    .await;
            }
            FromEdge::CalleeAnswered { handle } => {
                self.callee(handle, |call| Input::CalleeAnswered { call })
                    .await;
            }
            FromEdge::CalleeFailed { handle, status } => {
                self.callee(handle, |call| Input::CalleeFailed { call, status })
                    .await;
            }
            FromEdge::SoftphoneHold {
                handle,
                staff,
                hold,
            } => {
                if let Some(&call) = self.by_handle.get(&handle) {
                    let input = if hold {
                        Input::Hold { call, staff }
                    } else {
                        Input::Resume { call, staff }
                    };
                    if let Err(e) = self.board.handle_input(now, input) {
                        tracing::debug!(call = call.0, error = %e, "softphone hold ignored");
                    }
                    self.drain().await;
                }
            }
        }
    }

    /// Feeds what the far end of a placed call did.
    async fn callee(&mut self, handle: CallHandle, input: impl FnOnce(CallId) -> Input) {
        let Some(&call) = self.by_handle.get(&handle) else {
            return;
        };
        if let Err(e) = self.board.handle_input(Instant::now(), input(call)) {
            tracing::debug!(call = call.0, error = %e, "far end's report ignored");
        }
        self.drain().await;
    }

    /// Places a staff member's call: the store opens its chat (a lead for an unknown
    /// number), the machine dials and connects the browser.
    async fn place(&mut self, req: PlaceCall) -> Result<PlacedCall, CallRefused> {
        let staff = req.staff;
        // SPEC AS-5, checked before anything is stored.
        if let Some(current) = self.board.call_of(staff) {
            return Err(call_error(&CallError::Busy {
                staff,
                call: current,
            }));
        }
        let store_error = |e: denwa_store::StoreError| refused(500, "store", e.to_string());
        let caller_id = req.dial.caller_id.clone();
        let params = DialParams::resolve(req.dial)
            .await
            .map_err(|m| refused(502, "trunk_unreachable", m))?;
        let info = self.store.channel(req.channel).await.map_err(store_error)?;
        let region: Region = info.region.parse().unwrap_or(Region::JP);
        let opened = self
            .store
            .open_call(
                req.channel,
                NewCall {
                    direction: CallDirection::Outbound,
                    medium: Medium::Phone,
                    customer_number: Some(req.to.as_str().to_owned()),
                    channel_number: Some(caller_id.clone()),
                    customer_id: req.customer_id,
                    staff_id: Some(staff),
                },
            )
            .await
            .map_err(store_error)?;
        self.publish(opened.events.clone());
        let call = CallId(opened.call as u64);
        let ring = json!({
            "call_id": opened.call,
            "channel_id": req.channel,
            "chat_id": opened.chat.id,
            "direction": "outbound",
            "customer": {
                "id": opened.customer.id,
                "name": opened.customer.name,
                "kind": opened.customer.kind,
                "known": opened.known_customer,
            },
            "caller": req.to.as_str(),
            "caller_display": req.to.display(region),
            "dialled": caller_id,
            "placed_by": staff,
            "from_chat_id": req.from_chat,
            "profile_fields": [],
        });
        self.live.insert(
            call,
            LiveState {
                handle: NOT_DIALLED,
                channel: req.channel,
                chat: opened.chat.id,
                ringing: BTreeMap::new(),
                ring,
                softphones: BTreeSet::new(),
                sip_users: HashMap::new(),
            },
        );
        self.dials.insert(call, params);
        let (tx, answer) = oneshot::channel();
        self.offers.insert((call, staff), (req.sdp, tx));
        let input = Input::OutgoingCall(Box::new(OutgoingCall {
            call,
            channel: req.channel,
            chat: opened.chat.id,
            staff,
            callee: req.to.clone(),
            caller_id: E164::from_stored(&caller_id),
            customer: opened.customer.id,
            known_callee: opened.known_customer,
            ring_timeout: self.cfg.dial_timeout,
        }));
        if let Err(e) = self.board.handle_input(Instant::now(), input) {
            // Cannot happen after the check above (one task owns the machine); kept safe.
            self.live.remove(&call);
            self.dials.remove(&call);
            self.offers.remove(&(call, staff));
            return Err(call_error(&e));
        }
        self.drain().await;
        if let Some((failed, why)) = self.dial_failed.take() {
            tracing::warn!(call = failed.0, %why, "the INVITE could not be sent");
            let _ = self.board.handle_input(
                Instant::now(),
                Input::CalleeFailed {
                    call: failed,
                    status: 503,
                },
            );
            self.drain().await;
            return Err(refused(502, "dial_failed", why));
        }
        let sdp = match tokio::time::timeout(Duration::from_secs(10), answer).await {
            Ok(Ok(Ok(sdp))) => sdp,
            Ok(Ok(Err(why))) => {
                // No browser leg: the call cannot be heard; give it up.
                let _ = self
                    .board
                    .handle_input(Instant::now(), Input::Leave { call, staff });
                self.drain().await;
                return Err(refused(422, "webrtc_failed", why));
            }
            _ => {
                let _ = self
                    .board
                    .handle_input(Instant::now(), Input::Leave { call, staff });
                self.drain().await;
                return Err(refused(
                    503,
                    "webrtc_failed",
                    "no answer from the media engine",
                ));
            }
        };
        Ok(PlacedCall {
            call_id: opened.call,
            chat_id: opened.chat.id,
            customer_id: opened.customer.id,
            sdp,
        })
    }

    async fn incoming(
        &mut self,
        handle: CallHandle,
        channel: ChannelId,
        caller: Option<String>,
        dialled: String,
    ) -> anyhow::Result<()> {
        // The routing and the ring candidates don't depend on the new chat: they are read
        // on other connections while the call's chat is opened (each store round trip is
        // a thread hand-off, and the ring waits for all of them).
        let store = &self.store;
        let open = async {
            let info = store.channel(channel).await?;
            let region: Region = info.region.parse().unwrap_or(Region::JP);
            let caller = caller
                .filter(|c| !c.eq_ignore_ascii_case("anonymous"))
                .and_then(|c| E164::parse(&c, region).ok());
            let opened = store
                .open_call(
                    channel,
                    NewCall {
                        direction: CallDirection::Inbound,
                        medium: Medium::Phone,
                        customer_number: caller.as_ref().map(|c| c.as_str().to_owned()),
                        channel_number: Some(dialled.clone()),
                        customer_id: None,
                        staff_id: None,
                    },
                )
                .await?;
            anyhow::Ok((info, region, caller, opened))
        };
        let (opened, routing, members) =
            tokio::join!(open, store.routing(channel), store.ring_candidates(channel));
        let (info, region, caller, opened) = opened?;
        self.publish(opened.events.clone());
        let (routing, members) = (routing?, members?);
        let registered = self
            .cfg
            .registered
            .read()
            .map(|r| r.clone())
            .unwrap_or_default();
        let mut candidates = Vec::new();
        let mut sip_users = HashMap::new();
        for (staff, settings, username) in members {
            let softphone = username
                .map(|u| u.to_ascii_lowercase())
                .filter(|u| registered.contains(u));
            let online = self.cfg.presence.is_online(staff) || softphone.is_some();
            if let Some(u) = softphone {
                sip_users.insert(staff, u);
            }
            if online {
                candidates.push(Candidate { staff, settings });
            }
        }
        let profile = opened.customer.profile.clone();
        // In the order the channel chose them (SPEC IN-2).
        let shown: Vec<Value> = info
            .ring_profile_fields
            .iter()
            .map(|f| json!({"field": f, "value": profile.get(f).cloned().unwrap_or_default()}))
            .collect();
        let ring = json!({
            "call_id": opened.call,
            "channel_id": channel,
            "chat_id": opened.chat.id,
            "customer": {
                "id": opened.customer.id,
                "name": opened.customer.name,
                "kind": opened.customer.kind,
                "known": opened.known_customer,
            },
            "caller": caller.as_ref().map(|c| c.as_str()),
            "caller_display": caller.as_ref().map(|c| c.display(region)),
            "dialled": dialled,
            "profile_fields": shown,
        });
        let call = CallId(opened.call as u64);
        self.live.insert(
            call,
            LiveState {
                handle,
                channel,
                chat: opened.chat.id,
                ringing: BTreeMap::new(),
                ring,
                softphones: BTreeSet::new(),
                sip_users,
            },
        );
        self.by_handle.insert(handle, call);
        let dialled = E164::from_stored(&dialled);
        let input = Input::IncomingCall(Box::new(IncomingCall {
            call,
            channel,
            chat: opened.chat.id,
            medium: Medium::Phone,
            caller,
            dialled,
            customer: opened.customer.id,
            known_caller: opened.known_customer,
            profile,
            at: chrono::Utc::now(),
            routing,
            candidates,
        }));
        if let Err(e) = self.board.handle_input(Instant::now(), input) {
            anyhow::bail!("the switchboard refused the call: {e}");
        }
        self.drain().await;
        Ok(())
    }

    async fn act(
        &mut self,
        channel: ChannelId,
        staff: StaffId,
        record: CallRecordId,
        action: CallAction,
    ) -> Result<Option<String>, CallRefused> {
        let call = CallId(u64::try_from(record).unwrap_or(u64::MAX));
        match self.live.get(&call) {
            Some(l) if l.channel == channel => {}
            _ => {
                return Err(refused(
                    404,
                    "no_live_call",
                    format!("call {record} is not live"),
                ));
            }
        }
        let now = Instant::now();
        let mut answer = None;
        let input = match action {
            CallAction::Accept { sdp } => {
                let Some(offer) = sdp else {
                    return Err(refused(
                        422,
                        "sdp_required",
                        "accepting in the console needs the browser's SDP offer; a softphone \
                         answers by picking up",
                    ));
                };
                let (tx, rx) = oneshot::channel();
                self.offers.insert((call, staff), (offer, tx));
                answer = Some(rx);
                Input::Accept { call, staff }
            }
            CallAction::Decline => Input::Decline { call, staff },
            CallAction::Invite { staff: invitee } => {
                let member = self
                    .store
                    .membership(channel, invitee)
                    .await
                    .map_err(|e| refused(500, "store", e.to_string()))?;
                if member.is_none() {
                    return Err(refused(
                        422,
                        "not_a_member",
                        format!("staff {invitee} is not a member of this channel"),
                    ));
                }
                if !self.cfg.presence.is_online(invitee)
                    && !self
                        .live
                        .get(&call)
                        .is_some_and(|l| l.sip_users.contains_key(&invitee))
                {
                    return Err(refused(
                        409,
                        "offline",
                        format!("staff {invitee} has no console open and no softphone registered"),
                    ));
                }
                if let Ok(settings) = self.store.settings(invitee).await {
                    let _ = self.board.handle_input(
                        now,
                        Input::Settings {
                            staff: invitee,
                            settings,
                        },
                    );
                }
                Input::Invite {
                    call,
                    by: staff,
                    staff: invitee,
                }
            }
            CallAction::Leave => Input::Leave { call, staff },
            CallAction::End => Input::EndForEveryone { call, staff },
            CallAction::Mute { muted } => Input::SetMuted { call, staff, muted },
            CallAction::Hold => Input::Hold { call, staff },
            CallAction::Resume => Input::Resume { call, staff },
            CallAction::Dtmf { digits } => Input::Dtmf {
                call,
                staff,
                digits,
            },
        };
        if let Err(e) = self.board.handle_input(now, input) {
            self.offers.remove(&(call, staff));
            return Err(call_error(&e));
        }
        self.drain().await;
        // A pending offer the machine did not connect (cannot happen for a successful
        // accept; kept safe) is refused rather than left hanging.
        if let Some((_, tx)) = self.offers.remove(&(call, staff)) {
            let _ = tx.send(Err("the call did not connect you".to_owned()));
        }
        match answer {
            None => Ok(None),
            Some(rx) => match tokio::time::timeout(Duration::from_secs(10), rx).await {
                Ok(Ok(Ok(sdp))) => Ok(Some(sdp)),
                Ok(Ok(Err(why))) => {
                    // The leg could not be made: take the staff member out again.
                    let _ = self
                        .board
                        .handle_input(Instant::now(), Input::Leave { call, staff });
                    self.drain().await;
                    Err(refused(422, "webrtc_failed", why))
                }
                _ => Err(refused(
                    503,
                    "webrtc_failed",
                    "no answer from the media engine",
                )),
            },
        }
    }

    fn publish(&self, events: impl IntoIterator<Item = Event>) {
        for e in events {
            self.metrics.event_published();
            self.bus.publish(e);
        }
    }

    /// Carries out every effect the machine queued, in order. Consecutive events of one
    /// call are stored in one transaction, except that a batch ends with an event that
    /// rings someone: consoles show the ring as soon as it is stored, not after what
    /// follows it (a call nobody can take is missed and ended in the same drain).
    async fn drain(&mut self) {
        let mut pending: Vec<Effect> = Vec::new();
        while let Some(effect) = self.board.poll_effect() {
            pending.push(effect);
        }
        let mut effects = pending.into_iter().peekable();
        while let Some(effect) = effects.next() {
            let Effect::Record(first) = effect else {
                self.execute(effect).await;
                continue;
            };
            let mut batch = vec![first];
            while let Some(Effect::Record(next)) = effects.peek() {
                let rang = batch.last().is_some_and(|e| {
                    matches!(e.kind, EventKind::CallRinging | EventKind::CallInvited)
                });
                if next.call != batch[0].call || rang {
                    break;
                }
                if let Some(Effect::Record(next)) = effects.next() {
                    batch.push(next);
                }
            }
            self.record(batch).await;
        }
    }

    /// Stores and publishes call events of one call (ring details added to rings).
    async fn record(&mut self, batch: Vec<denwa_core::call::CallEvent>) {
        let call = batch[0].call;
        let Some(l) = self.live.get(&call) else {
            return;
        };
        let channel = l.channel;
        let events = batch
            .into_iter()
            .map(|ev| {
                let mut data = ev.data;
                let placed = ev.kind == EventKind::CallStarted && l.ring["direction"] == "outbound";
                if placed || ev.kind == EventKind::CallRinging || ev.kind == EventKind::CallInvited
                {
                    data["ring"] = l.ring.clone();
                }
                (ev.kind, ev.actor, data)
            })
            .collect();
        match self
            .store
            .record_call_events(channel, call.0 as CallRecordId, events)
            .await
        {
            Ok(stored) => self.publish(stored),
            Err(e) => tracing::error!(call = call.0, error = %e, "storing call events failed"),
        }
    }

    async fn execute(&mut self, effect: Effect) {
        match effect {
            Effect::Record(ev) => self.record(vec![ev]).await,
            Effect::Dial { call } => {
                let Some(params) = self.dials.remove(&call) else {
                    return;
                };
                let (reply, handle) = oneshot::channel();
                let _ = self.edge.send(ToEdge::Dial { params, reply });
                match handle.await {
                    Ok(Ok(handle)) => {
                        if let Some(l) = self.live.get_mut(&call) {
                            l.handle = handle;
                            self.by_handle.insert(handle, call);
                        }
                    }
                    Ok(Err(why)) => self.dial_failed = Some((call, why)),
                    Err(_) => self.dial_failed = Some((call, "the SIP edge stopped".to_owned())),
                }
            }
            Effect::Ring {
                call,
                staff,
                invited_by,
            } => {
                let Some(l) = self.live.get_mut(&call) else {
                    return;
                };
                let mut phones = Vec::new();
                for s in staff {
                    l.ringing.insert(s, invited_by.is_some());
                    if let Some(u) = l.sip_users.get(&s) {
                        phones.push((s, u.clone()));
                    }
                }
                if !phones.is_empty() {
                    let _ = self.edge.send(ToEdge::Ring {
                        handle: l.handle,
                        staff: phones,
                    });
                }
            }
            Effect::StopRinging { call, staff } => {
                let Some(l) = self.live.get_mut(&call) else {
                    return;
                };
                for s in &staff {
                    l.ringing.remove(s);
                }
                let _ = self.edge.send(ToEdge::StopRinging {
                    handle: l.handle,
                    staff,
                });
            }
            Effect::AnswerCaller { call } => {
                let Some(l) = self.live.get(&call) else {
                    return;
                };
                let record = self.cfg.recordings.as_ref().map(|dir| {
                    let at = chrono::Utc::now();
                    dir.join(at.format("%Y-%m-%d").to_string()).join(format!(
                        "{}-call{}",
                        at.format("%H%M%S%3f"),
                        call.0
                    ))
                });
                if let (Some(path), Some(root)) = (&record, &self.cfg.recordings)
                    && let Ok(rel) = path.strip_prefix(root)
                    && let Err(e) = self
                        .store
                        .set_call_recording(
                            l.channel,
                            call.0 as CallRecordId,
                            &rel.to_string_lossy(),
                        )
                        .await
                {
                    tracing::warn!(call = call.0, error = %e, "cannot note the recording");
                }
                let (handle, channel) = (l.handle, l.channel);
                let hold_music = match self.channel_audio(channel, AudioKind::HoldMusic) {
                    Some(path) => self.audio.load(&path).await,
                    None => None,
                }
                .and_then(|samples| HoldMusic::shared(samples).ok());
                let _ = self.edge.send(ToEdge::Answer {
                    handle,
                    record,
                    hold_music,
                });
            }
            Effect::TurnAway {
                call,
                reason,
                announcement,
            } => {
                let Some(l) = self.live.get(&call) else {
                    return;
                };
                let (handle, channel) = (l.handle, l.channel);
                // The channel's uploaded announcement, else the file the routing names.
                let uploaded = self.channel_audio(channel, AudioKind::Announcement);
                let named = announcement
                    .filter(|name| {
                        !name.is_empty()
                            && name
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    })
                    .map(|name| self.cfg.announcements.join(format!("{name}.wav")));
                let mut prompt = None;
                for path in uploaded.into_iter().chain(named) {
                    // A missing or unusable file gives way to the next one.
                    if let Some(samples) = self.audio.load(&path).await {
                        prompt = Prompt::new(samples).ok();
                        break;
                    }
                }
                tracing::info!(call = call.0, reason = %reason, announced = prompt.is_some(), "call not answered");
                let _ = self.edge.send(ToEdge::TurnAway {
                    handle,
                    status: 480,
                    announcement: prompt,
                });
            }
            Effect::ConnectStaff { call, staff, muted } => {
                let Some(l) = self.live.get_mut(&call) else {
                    return;
                };
                l.ringing.remove(&staff);
                let handle = l.handle;
                if let Some((offer, reply)) = self.offers.remove(&(call, staff)) {
                    l.softphones.remove(&staff);
                    let _ = self.edge.send(ToEdge::ConnectBrowser {
                        handle,
                        staff,
                        muted,
                        offer,
                        reply,
                    });
                } else if l.softphones.contains(&staff) {
                    let _ = self.edge.send(ToEdge::ConnectSoftphone {
                        handle,
                        staff,
                        muted,
                    });
                } else {
                    tracing::warn!(call = call.0, staff, "connect without a leg");
                }
            }
            Effect::DisconnectStaff { call, staff } => {
                if let Some(l) = self.live.get_mut(&call) {
                    l.softphones.remove(&staff);
                    let _ = self.edge.send(ToEdge::Disconnect {
                        handle: l.handle,
                        staff,
                    });
                }
            }
            Effect::HangUpCaller { call } => {
                if let Some(l) = self.live.get(&call) {
                    let _ = self.edge.send(ToEdge::HangUp { handle: l.handle });
                }
            }
            Effect::SetMuted { call, staff, muted } => {
                if let Some(l) = self.live.get(&call) {
                    let _ = self.edge.send(ToEdge::Mute {
                        handle: l.handle,
                        staff,
                        muted,
                    });
                }
            }
            Effect::Hold { call } => {
                if let Some(l) = self.live.get(&call) {
                    let _ = self.edge.send(ToEdge::Hold { handle: l.handle });
                }
            }
            Effect::Resume { call } => {
                if let Some(l) = self.live.get(&call) {
                    let _ = self.edge.send(ToEdge::Resume { handle: l.handle });
                }
            }
            Effect::SendDtmf { call, digits } => {
                if let Some(l) = self.live.get(&call) {
                    let _ = self.edge.send(ToEdge::Dtmf {
                        handle: l.handle,
                        digits,
                    });
                }
            }
            Effect::Assign { chat, team, staff } => {
                let Some(channel) = self
                    .live
                    .values()
                    .find(|l| l.chat == chat)
                    .map(|l| l.channel)
                else {
                    return;
                };
                if let Some(team) = team {
                    match self.store.set_team(channel, chat, Some(team), None).await {
                        Ok((_, e)) => self.publish([e]),
                        Err(e) => tracing::warn!(chat, error = %e, "assigning the team failed"),
                    }
                }
                if let Some(staff) = staff {
                    match self
                        .store
                        .set_assignee(channel, chat, Some(staff), None)
                        .await
                    {
                        Ok((_, e)) => self.publish([e]),
                        Err(e) => tracing::warn!(chat, error = %e, "assigning the chat failed"),
                    }
                }
            }
            Effect::Finished { call } => {
                self.dials.remove(&call);
                if let Some(l) = self.live.remove(&call) {
                    self.by_handle.remove(&l.handle);
                    self.offers.retain(|(c, _), _| *c != call);
                    let _ = self.edge.send(ToEdge::HangUp { handle: l.handle });
                }
            }
        }
    }
}

impl Service {
    /// Where the channel's uploaded file of `kind` would be.
    fn channel_audio(&self, channel: ChannelId, kind: AudioKind) -> Option<PathBuf> {
        self.cfg.audio.as_ref().map(|a| a.path(channel, kind))
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

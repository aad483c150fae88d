//! The SIP user agent: transactions, dialogs (UAS and UAC), session timers,
//! registrar and registering client, all behind one Sans-IO [`Endpoint`].
//!
//! # Run loop
//! ```text
//! loop {
//!     match endpoint.poll_output() {
//!         Output::Transmit(t) => socket.send_to(&t.bytes, t.to),
//!         Output::Event(e)    => app.handle(e),          // may call answer(), bye(), …
//!         Output::Timeout(at) => { wait for a datagram or `at`;
//!                                  endpoint.handle_input(now, …) or endpoint.handle_timeout(now) }
//!     }
//! }
//! ```
//! The endpoint only ever sends to the address a request came from (like
//! `rport`, RFC 3581) or to the address the application named; it resolves
//! nothing itself.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::auth::Challenge;
use crate::error::Error;
use crate::headers::{CSeq, NameAddr, Via};
use crate::message::{Headers, Message, Method, Request, Response, SipHeaders};
use crate::rate_limit::{RateLimitConfig, RateLimiter, Verdict};
use crate::registrar::{Binding, RegisterOutcome, Registrar, RegistrarConfig};
use crate::sdp::{self, AudioConfig, NegotiatedAudio, SessionDescription};
use crate::timer::TimerQueue;
use crate::transaction::{ClientTx, ServerTx, Timers, Transport, TxAction, TxKey, to_tag_of};

/// Methods we implement, for `Allow` (RFC 3261 §20.5).
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REGISTER";
/// Extensions we support (RFC 4028 session timers).
const SUPPORTED: &str = "timer";
/// RFC 4028 §4: the smallest session interval we accept.
const MIN_SE_FLOOR: u32 = 90;

/// Endpoint configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our SIP address as peers should see it: goes into `Via` and `Contact`.
    pub local_addr: SocketAddr,
    /// User part of our `Contact` URI.
    pub contact_user: String,
    /// `User-Agent` / `Server` header value.
    pub user_agent: String,
    /// T1, T2, T4.
    pub timers: Timers,
    /// Datagrams larger than this are dropped unparsed.
    pub max_message_size: usize,
    /// Per-source limit on new INVITEs; excess gets 503 + Retry-After.
    pub invite_rate: RateLimitConfig,
    /// Upper bound on concurrent server transactions; beyond it new
    /// requests get a stateless 503 (bounds memory under floods).
    pub max_server_transactions: usize,
    /// Session interval we ask for / accept at most (RFC 4028), seconds.
    pub session_expires: u32,
    /// Our Min-SE (RFC 4028 §5), at least 90 seconds.
    pub min_se: u32,
    /// Registrar role; `None` answers REGISTER with 405.
    pub registrar: Option<RegistrarConfig>,
    /// Seed for tags, branches and Call-IDs (the shell passes OS randomness;
    /// tests pass a constant for determinism).
    pub seed: u64,
}

impl Config {
    /// Defaults around a local address.
    #[must_use]
    pub fn new(local_addr: SocketAddr, seed: u64) -> Self {
        Self {
            local_addr,
            contact_user: "denwa".into(),
            user_agent: "Denwa".into(),
            timers: Timers::default(),
            max_message_size: 65_535,
            invite_rate: RateLimitConfig::default(),
            max_server_transactions: 10_000,
            session_expires: 1800,
            min_se: MIN_SE_FLOOR,
            registrar: None,
            seed,
        }
    }
}

/// Bytes the shell received.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// One UDP datagram, or one TCP message framed with
    /// [`crate::message::message_length`].
    Datagram {
        /// Remote address.
        from: SocketAddr,
        /// Local address it arrived on.
        to: SocketAddr,
        /// Transport it came over.
        transport: Transport,
        /// The message.
        bytes: &'a [u8],
    },
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// Transport to use (TCP: the connection to `to`, opened if needed).
    pub transport: Transport,
    /// Wire bytes.
    pub bytes: Vec<u8>,
}

/// Opaque handle for one call (one INVITE dialog), inbound or outbound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(pub u64);

/// Opaque handle for one client registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistrationHandle(pub u64);

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// The far end sent BYE.
    RemoteBye,
    /// Our 2xx was never ACKed within 64·T1 (RFC 3261 §13.3.1.4); we sent BYE.
    AckTimeout,
    /// RFC 4028: no session refresh arrived in time; we sent BYE.
    SessionExpired,
    /// The answer to our offer had no common codec; we sent ACK then BYE.
    NoCommonCodec,
    /// A 2xx arrived after we had cancelled (CANCEL lost the race); we sent ACK then BYE.
    CancelledAfterAnswer,
    /// An in-dialog request we sent timed out or got 408/481 (RFC 3261 §12.2.1.2).
    DialogLost,
}

/// Something the application must know about.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// Events happen a few times per call, not per packet: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// A new inbound INVITE. A 100 Trying was sent. Reply with
    /// [`Endpoint::ringing`], [`Endpoint::answer`] or [`Endpoint::reject`].
    IncomingCall {
        /// The call.
        call: CallHandle,
        /// Caller (`From`).
        from: NameAddr,
        /// Callee (`To`).
        to: NameAddr,
        /// Request-URI (the dialled number for trunks).
        request_uri: String,
        /// The SDP offer, if the INVITE had one.
        offer: Option<SessionDescription>,
        /// Source address.
        source: SocketAddr,
        /// Every header of the INVITE (for `P-Asserted-Identity`,
        /// `Diversion`, … that routing may want).
        headers: Headers,
    },
    /// The caller cancelled before we sent a final response; 487 was sent (RFC 3261 §9.2).
    CallCancelled {
        /// The call.
        call: CallHandle,
    },
    /// The ACK for our 2xx arrived: media may flow both ways. With a
    /// late offer (INVITE without SDP) `audio` is the negotiated result.
    CallConfirmed {
        /// The call.
        call: CallHandle,
        /// Negotiation result when the ACK carried the answer.
        audio: Option<NegotiatedAudio>,
    },
    /// Outbound call: a provisional response (180, 183 with early media).
    CallProgress {
        /// The call.
        call: CallHandle,
        /// Status code.
        status: u16,
        /// Early media parameters when the 1xx carried SDP.
        early_media: Option<NegotiatedAudio>,
    },
    /// Outbound call answered; ACK was sent.
    CallAnswered {
        /// The call.
        call: CallHandle,
        /// Negotiated audio.
        audio: NegotiatedAudio,
    },
    /// Outbound call failed with a final status (408 for timer B, 487 after
    /// our CANCEL, 401/407 when authentication failed).
    CallFailed {
        /// The call.
        call: CallHandle,
        /// Final status.
        status: u16,
    },
    /// An established call ended for a reason other than our own `bye`.
    CallEnded {
        /// The call.
        call: CallHandle,
        /// Why.
        reason: EndReason,
    },
    /// The far end changed the session (re-INVITE/UPDATE with SDP,
    /// RFC 3311), e.g. hold (`audio.remote_hold`) or unhold. Already answered.
    SessionModified {
        /// The call.
        call: CallHandle,
        /// New parameters.
        audio: NegotiatedAudio,
    },
    /// Our re-INVITE ([`Endpoint::update_session`]) was refused; the previous
    /// session stays in force (RFC 3261 §14.1). Glare (491) is retried
    /// automatically after the §14.1 random wait; this event reports 491
    /// only after three retries.
    SessionUpdateFailed {
        /// The call.
        call: CallHandle,
        /// Final status.
        status: u16,
    },
    /// DTMF received by SIP INFO (`application/dtmf-relay`).
    Dtmf {
        /// The call.
        call: CallHandle,
        /// `0-9`, `*`, `#`, `A-D`.
        digit: char,
    },
    /// Our registration succeeded (or was refreshed).
    Registered {
        /// The registration.
        registration: RegistrationHandle,
        /// Granted expiry in seconds.
        expires: u32,
    },
    /// Our registration failed; the endpoint retries after a minute.
    RegistrationFailed {
        /// The registration.
        registration: RegistrationHandle,
        /// Final status (408 on timeout).
        status: u16,
    },
    /// Registrar: the bindings of an address-of-record changed.
    BindingsChanged {
        /// Normalised AOR (`sip:user@host`).
        aor: String,
        /// The current bindings.
        bindings: Vec<Binding>,
    },
    /// Registrar: a binding lapsed.
    BindingExpired {
        /// Normalised AOR.
        aor: String,
        /// The contact URI.
        contact: String,
    },
    /// A new INVITE from this source was refused with 503 by the rate limiter.
    InviteRateLimited {
        /// The source address.
        source: IpAddr,
        /// The `Retry-After` we sent.
        retry_after_s: u32,
    },
}

/// What [`Endpoint::poll_output`] returns.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // see `Event`
pub enum Output {
    /// Send these bytes.
    Transmit(Transmit),
    /// Tell the application.
    Event(Event),
    /// Nothing more to do now; call [`Endpoint::handle_timeout`] at this instant
    /// (or earlier input). Always the last output of a batch.
    Timeout(Instant),
}

/// Parameters of an outbound call.
#[derive(Debug, Clone)]
pub struct InviteParams {
    /// Request-URI and `To`, e.g. `sip:+81312345678@trunk.example`.
    pub to_uri: String,
    /// `From` URI, e.g. `sip:+81398765432@denwa.example`.
    pub from_uri: String,
    /// Optional display name for `From`.
    pub from_display: Option<String>,
    /// Where to send (the trunk's address).
    pub target: SocketAddr,
    /// Transport.
    pub transport: Transport,
    /// Our audio (the offer is built from it).
    pub audio: AudioConfig,
    /// Digest credentials (user, password) for 401/407.
    pub credentials: Option<(String, String)>,
}

/// Parameters of a client registration.
#[derive(Debug, Clone)]
pub struct RegisterParams {
    /// Address-of-record, e.g. `sip:denwa@trunk.example`.
    pub aor: String,
    /// Registrar's address.
    pub registrar: SocketAddr,
    /// Registrar's URI (Request-URI), e.g. `sip:trunk.example`.
    pub registrar_uri: String,
    /// Transport.
    pub transport: Transport,
    /// Requested expiry in seconds.
    pub expires: u32,
    /// Digest credentials (user, password).
    pub credentials: Option<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// The INVITE (or re-sent INVITE after auth) of an outbound call.
    CallInvite(CallHandle),
    /// An in-dialog non-INVITE request (BYE, UPDATE, INFO).
    CallRequest(CallHandle),
    /// A CANCEL: its response says nothing about the dialog (§9.1).
    Cancel,
    /// A re-INVITE we sent (RFC 3261 §14.1).
    CallReinvite(CallHandle),
    Registration(RegistrationHandle),
}

#[derive(Debug, Clone)]
struct Dialog {
    call_id: String,
    local_tag: String,
    remote_tag: Option<String>,
    local_uri: NameAddr,
    remote_uri: NameAddr,
    remote_target: String,
    route_set: Vec<String>,
    local_seq: u32,
    remote_seq: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// UAS: INVITE received, no final response yet. UAC: INVITE sent.
    Early,
    /// UAS: 2xx sent, waiting for ACK. UAC: never (goes straight to Confirmed).
    Accepted,
    Confirmed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Uas,
    Uac,
}

#[derive(Debug)]
struct SessionTimer {
    interval: u32,
    we_refresh: bool,
    refresh_at: Option<Instant>,
    expire_at: Option<Instant>,
}

#[derive(Debug)]
struct Call {
    role: Role,
    state: CallState,
    dialog: Dialog,
    peer: SocketAddr,
    transport: Transport,
    /// UAS: the server transaction of the initial INVITE. UAC: the current client INVITE.
    invite_tx: TxKey,
    /// UAS: the INVITE request (responses are built from it). UAC: the INVITE we sent.
    invite: Request,
    remote_offer: Option<SessionDescription>,
    local_audio: Option<AudioConfig>,
    local_sdp: Option<SessionDescription>,
    negotiated: Option<NegotiatedAudio>,
    /// Server transaction of the last (re-)INVITE answered 2xx, awaiting ACK.
    pending_ack: Option<(TxKey, bool)>,
    /// UAC.
    credentials: Option<(String, String)>,
    auth_attempts: u32,
    cancel_requested: bool,
    cancel_sent: bool,
    ack_bytes: Option<Vec<u8>>,
    session_timer: Option<SessionTimer>,
    /// UAS: what the caller asked for in the INVITE (Session-Expires, refresher, supports timer).
    session_request: Option<(u32, Option<String>, bool)>,
    /// Whether the peer listed UPDATE in `Allow` (RFC 4028 refresh method).
    peer_allows_update: bool,
    /// Our re-INVITE in progress.
    reinvite: Option<Reinvite>,
    /// CSeq and bytes of the ACK for our last re-INVITE's 2xx (re-sent on retransmits).
    reinvite_ack: Option<(u32, Vec<u8>)>,
    /// A re-INVITE refused with 491, to be sent again at this instant.
    reinvite_retry: Option<(Instant, Reinvite)>,
}

impl Call {
    /// The earliest of the session timer's refresh or expiry and the glare retry.
    fn deadline(&self) -> Option<Instant> {
        let st = self.session_timer.as_ref();
        [
            st.and_then(|s| s.refresh_at),
            st.and_then(|s| s.expire_at),
            self.reinvite_retry.as_ref().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

#[derive(Debug)]
struct Reinvite {
    seq: u32,
    audio: AudioConfig,
    offer: SessionDescription,
    /// A session refresh: no event on success.
    refresh: bool,
    /// How many times this offer was already refused with 491.
    attempt: u32,
}

/// How often a re-INVITE refused with 491 is retried (RFC 3261 §14.1).
const MAX_GLARE_RETRIES: u32 = 3;

#[derive(Debug)]
struct Registration {
    params: RegisterParams,
    call_id: String,
    from_tag: String,
    cseq: u32,
    auth_attempts: u32,
    refresh_at: Option<Instant>,
    tx: Option<TxKey>,
    expires: u32,
}

impl Registration {
    /// The next refresh (or retry); none while a REGISTER is in flight.
    fn deadline(&self) -> Option<Instant> {
        self.refresh_at.filter(|_| self.tx.is_none())
    }
}

/// Who owns a deadline in the endpoint's [`TimerQueue`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum TimerKey {
    /// A transaction's earliest RFC 3261 §17 timer.
    Tx(TxKey),
    /// A call's session-timer refresh or expiry (RFC 4028) or glare retry (§14.1).
    Call(CallHandle),
    /// A registration's refresh (or retry after failure).
    Registration(RegistrationHandle),
    /// The registrar's next binding expiry or nonce sweep.
    Registrar,
}

/// The Sans-IO SIP endpoint. See the module docs for the run loop.
///
/// Cost: every deadline lives in one heap ([`TimerQueue`]), so
/// [`Endpoint::poll_timeout`] is O(1) and [`Endpoint::handle_timeout`] touches
/// only what is due, O(log n) each; a message costs hash lookups of its own
/// transaction and dialog. Nothing scans all transactions or calls.
#[derive(Debug)]
pub struct Endpoint {
    cfg: Config,
    rng: u64,
    last_now: Instant,
    client_txs: HashMap<TxKey, (ClientTx, Owner)>,
    server_txs: HashMap<TxKey, (ServerTx, Option<CallHandle>)>,
    /// Boxed: a `Call` is ~1.8 KB, and a table of inline values holds that for every
    /// empty slot too (up to half the table after it grows), and twice while it grows.
    calls: HashMap<CallHandle, Box<Call>>,
    dialogs: HashMap<(String, String), CallHandle>,
    registrations: HashMap<RegistrationHandle, Registration>,
    registrar: Option<Registrar>,
    /// Latest REGISTER the registrar handled: its nonces are swept 2·lifetime later.
    registrar_used_at: Option<Instant>,
    limiter: RateLimiter,
    queue: VecDeque<Output>,
    timers: TimerQueue<TimerKey>,
    next_id: u64,
}

fn header_seconds(v: Option<&str>) -> Option<u32> {
    v?.split(';').next()?.trim().parse().ok()
}

impl Endpoint {
    /// A new endpoint. `now` anchors the idle timeout reported before any
    /// input arrives (the endpoint never reads a clock itself).
    #[must_use]
    pub fn new(cfg: Config, now: Instant) -> Self {
        let registrar = cfg.registrar.clone().map(Registrar::new);
        let limiter = RateLimiter::new(cfg.invite_rate);
        let rng = cfg.seed ^ 0x9E37_79B9_7F4A_7C15;
        Self {
            cfg,
            rng,
            last_now: now,
            client_txs: HashMap::new(),
            server_txs: HashMap::new(),
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            registrations: HashMap::new(),
            registrar,
            registrar_used_at: None,
            limiter,
            queue: VecDeque::new(),
            timers: TimerQueue::new(),
            next_id: 1,
        }
    }

    // ----- run loop -------------------------------------------------------

    /// Feeds received bytes. Call for every datagram (or framed TCP message)
    /// as soon as it arrives, then drain [`Endpoint::poll_output`].
    ///
    /// Oversized or unparseable input is dropped; a request whose mandatory
    /// headers are bad gets 400 when it can be answered at all. Never panics.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        self.last_now = self.last_now.max(now);
        let Input::Datagram {
            from,
            to: _,
            transport,
            bytes,
        } = input;
        if bytes.len() > self.cfg.max_message_size {
            return;
        }
        // Keep-alive CRLFs (RFC 5626 §3.5.1) carry no message.
        if bytes.iter().all(|b| *b == b'\r' || *b == b'\n') {
            return;
        }
        match Message::parse(bytes) {
            Ok(Message::Request(req)) => self.on_request(now, req, from, transport),
            Ok(Message::Response(resp)) => self.on_response(now, resp),
            Err(_) => {}
        }
    }

    /// Fires due timers. Call when the instant of the last
    /// [`Output::Timeout`] has come (calling early or late is harmless).
    ///
    /// Only owners whose deadline is at or before `now` are touched, earliest
    /// first. A timer armed while this runs (e.g. a zero-length TCP linger
    /// timer) fires on the next call, which [`Endpoint::poll_timeout`]
    /// announces at once.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        let mark = self.timers.mark();
        while let Some(key) = self.timers.pop_due(now, mark) {
            match key {
                TimerKey::Tx(key) if key.server => {
                    if let Some((tx, owner)) = self.server_txs.get_mut(&key) {
                        let owner = *owner;
                        let (peer, transport) = (tx.peer, tx.transport);
                        let actions = tx.on_timeout(now);
                        self.server_actions(now, owner, peer, transport, actions);
                    }
                    self.sync_server_tx(&key);
                }
                TimerKey::Tx(key) => {
                    if let Some((tx, owner)) = self.client_txs.get_mut(&key) {
                        let owner = *owner;
                        let (peer, transport) = (tx.peer, tx.transport);
                        let actions = tx.on_timeout(now);
                        self.client_actions(now, owner, peer, transport, actions);
                    }
                    self.sync_client_tx(&key);
                }
                TimerKey::Call(call) => {
                    self.glare_retry(now, call);
                    self.session_timer_due(now, call);
                    self.sync_call_timer(call);
                }
                TimerKey::Registration(h) => {
                    self.registration_due(now, h);
                    self.sync_registration_timer(h);
                }
                TimerKey::Registrar => self.registrar_due(now),
            }
        }
    }

    /// Next output. Call after every `handle_*` and command until it returns
    /// [`Output::Timeout`], which tells when to call
    /// [`Endpoint::handle_timeout`]. With no timer pending the timeout is an
    /// hour ahead of the last known `now`.
    #[must_use]
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.queue.pop_front() {
            return o;
        }
        let fallback = self.last_now + Duration::from_secs(3600);
        Output::Timeout(self.poll_timeout().unwrap_or(fallback))
    }

    /// The earliest pending timer, if any. O(1).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Replaces the registrar's accounts (username → password), e.g. after staff changed
    /// their SIP account. No effect without a registrar.
    pub fn set_registrar_users(&mut self, users: HashMap<String, String>) {
        if let Some(r) = self.registrar.as_mut() {
            r.set_users(users);
        }
    }

    /// Registrar bindings of an AOR (empty without a registrar).
    #[must_use]
    pub fn lookup_bindings(&self, aor: &str, now: Instant) -> Vec<Binding> {
        self.registrar
            .as_ref()
            .map(|r| r.lookup(aor, now))
            .unwrap_or_default()
    }

    /// Number of live calls (for metrics and tests).
    #[must_use]
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    // ----- UAS commands ----------------------------------------------------

    /// Sends 180 Ringing, or 183 Session Progress with an SDP answer for early
    /// media when `early_media` is given (RFC 3261 §13.3.1.1, RFC 3960).
    /// Call after [`Event::IncomingCall`], before the final response.
    ///
    /// # Errors
    /// [`Error::UnknownCall`], [`Error::InvalidState`] after a final response,
    /// [`Error::Sdp`] when early media cannot be negotiated.
    pub fn ringing(
        &mut self,
        now: Instant,
        call: CallHandle,
        early_media: Option<AudioConfig>,
    ) -> Result<Option<NegotiatedAudio>, Error> {
        self.last_now = self.last_now.max(now);
        self.uas_early(call)?;
        let (status, neg) = match early_media {
            Some(audio) => {
                let neg = self.negotiate_uas(call, audio)?;
                (183, neg)
            }
            None => (180, None),
        };
        let mut resp = self.uas_response(call, status)?;
        if status == 183 {
            self.attach_local_sdp(call, &mut resp);
        }
        self.respond_invite(now, call, &resp);
        Ok(neg)
    }

    /// Answers with 200 OK. With an SDP offer in the INVITE the answer is
    /// negotiated from `audio` (RFC 3264 §6); without one, the 200 carries our
    /// offer and the answer arrives with the ACK ([`Event::CallConfirmed`]).
    /// Honours RFC 4028 session timers. Call once, after [`Event::IncomingCall`].
    ///
    /// # Errors
    /// [`Error::Sdp`] with [`sdp::SdpError::NoCommonCodec`] when the offer
    /// has no codec we accept: the caller then uses `reject(call, 488)`.
    pub fn answer(
        &mut self,
        now: Instant,
        call: CallHandle,
        audio: AudioConfig,
    ) -> Result<Option<NegotiatedAudio>, Error> {
        self.last_now = self.last_now.max(now);
        self.uas_early(call)?;
        let neg = if self
            .calls
            .get(&call)
            .is_some_and(|c| c.negotiated.is_some())
        {
            // Early media already negotiated: the 200 repeats that answer.
            self.calls.get(&call).and_then(|c| c.negotiated.clone())
        } else {
            self.negotiate_uas(call, audio)?
        };
        let mut resp = self.uas_response(call, 200)?;
        self.attach_local_sdp(call, &mut resp);
        self.add_session_timer_to_answer(now, call, &mut resp);
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Accepted;
            c.pending_ack = Some((c.invite_tx.clone(), true));
        }
        self.respond_invite(now, call, &resp);
        Ok(neg)
    }

    /// Rejects an inbound call with a final status 300–699 (404, 480, 486,
    /// 488, 603, …). Call instead of `answer`.
    ///
    /// # Errors
    /// [`Error::InvalidStatus`] for a status below 300, [`Error::UnknownCall`],
    /// [`Error::InvalidState`] after a final response.
    pub fn reject(&mut self, now: Instant, call: CallHandle, status: u16) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        if !(300..=699).contains(&status) {
            return Err(Error::InvalidStatus(status));
        }
        self.uas_early(call)?;
        let mut resp = self.uas_response(call, status)?;
        if status == 488 {
            resp.headers
                .push("Warning", "304 denwa \"Media type not available\"");
        }
        self.respond_invite(now, call, &resp);
        self.remove_call(call);
        Ok(())
    }

    /// Refuses an inbound INVITE with 407 Proxy Authentication Required carrying
    /// `challenges` (RFC 3261 §22.3; several for RFC 8760, preferred first). The caller
    /// may send a new INVITE with `Proxy-Authorization`, which arrives as a new
    /// [`Event::IncomingCall`] whose `headers` hold the credentials for the application
    /// to check ([`crate::auth::Credentials::verify`]).
    ///
    /// # Errors
    /// As [`Endpoint::reject`].
    pub fn challenge(
        &mut self,
        now: Instant,
        call: CallHandle,
        challenges: &[crate::auth::Challenge],
    ) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        self.uas_early(call)?;
        let mut resp = self.uas_response(call, 407)?;
        for c in challenges {
            resp.headers.push("Proxy-Authenticate", c.to_header());
        }
        self.respond_invite(now, call, &resp);
        self.remove_call(call);
        Ok(())
    }

    // ----- UAC commands ----------------------------------------------------

    /// Places an outbound call: sends INVITE with an SDP offer built from
    /// `params.audio` (RFC 3261 §13.2.1). Progress arrives as
    /// [`Event::CallProgress`], then [`Event::CallAnswered`] or
    /// [`Event::CallFailed`]. 401/407 are answered once with digest
    /// credentials (RFC 3261 §22.2, RFC 8760).
    ///
    /// # Errors
    /// [`Error::InvalidUri`] when a URI is not `sip:`/`sips:`/`tel:`.
    pub fn invite(&mut self, now: Instant, params: InviteParams) -> Result<CallHandle, Error> {
        self.last_now = self.last_now.max(now);
        for u in [&params.to_uri, &params.from_uri] {
            if crate::headers::uri_parts(u).is_none() {
                return Err(Error::InvalidUri(u.clone()));
            }
        }
        let call = CallHandle(self.alloc_id());
        let local_tag = self.random_token();
        let call_id = format!("{}@denwa", self.random_token());
        let mut from = NameAddr::new(params.from_uri.clone());
        from.display = params.from_display.clone();
        let session_id = self.random() >> 2;
        let offer = sdp::create_offer(&params.audio, session_id, 1);
        let dialog = Dialog {
            call_id,
            local_tag: local_tag.clone(),
            remote_tag: None,
            local_uri: from,
            remote_uri: NameAddr::new(params.to_uri.clone()),
            remote_target: params.to_uri.clone(),
            route_set: Vec::new(),
            local_seq: 1,
            remote_seq: None,
        };
        let mut req = self.dialog_request(&dialog, Method::Invite, params.transport);
        req.headers.push("Supported", SUPPORTED);
        req.headers.push("Allow", ALLOW);
        req.headers.push("Content-Type", "application/sdp");
        req.body = offer.to_bytes();
        let key = Self::key_for(&req, false);
        self.calls.insert(
            call,
            Box::new(Call {
                role: Role::Uac,
                state: CallState::Early,
                dialog,
                peer: params.target,
                transport: params.transport,
                invite_tx: key.clone(),
                invite: req.clone(),
                remote_offer: None,
                local_audio: Some(params.audio.clone()),
                local_sdp: Some(offer),
                negotiated: None,
                pending_ack: None,
                credentials: params.credentials.clone(),
                auth_attempts: 0,
                cancel_requested: false,
                cancel_sent: false,
                ack_bytes: None,
                session_timer: None,
                session_request: None,
                peer_allows_update: false,
                reinvite: None,
                reinvite_ack: None,
                reinvite_retry: None,
            }),
        );
        self.dialogs.insert(self.dialog_key_local(call), call);
        self.start_client(
            now,
            req,
            params.target,
            params.transport,
            Owner::CallInvite(call),
        );
        Ok(call)
    }

    /// Cancels an outbound call that has no final response yet (RFC 3261
    /// §9.1). If no provisional response has arrived the CANCEL waits for
    /// one. The outcome is [`Event::CallFailed`] with 487, or — if the 200
    /// wins the race — ACK + BYE and [`Event::CallEnded`] with
    /// [`EndReason::CancelledAfterAnswer`].
    ///
    /// # Errors
    /// [`Error::UnknownCall`]; [`Error::InvalidState`] for inbound or
    /// established calls (use `reject`/`bye`).
    pub fn cancel(&mut self, now: Instant, call: CallHandle) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        let c = self.calls.get_mut(&call).ok_or(Error::UnknownCall)?;
        if c.role != Role::Uac || c.state != CallState::Early {
            return Err(Error::InvalidState(
                "cancel needs an outbound call without final response",
            ));
        }
        c.cancel_requested = true;
        let proceeding = self
            .client_txs
            .get(&c.invite_tx)
            .is_some_and(|(tx, _)| tx.is_proceeding());
        if proceeding {
            self.send_cancel(now, call);
        }
        Ok(())
    }

    /// Ends an established call with BYE (RFC 3261 §15.1.1). The call is
    /// gone immediately; no further event is emitted for it. Also valid while
    /// an inbound call waits for the ACK of our 2xx.
    ///
    /// # Errors
    /// [`Error::UnknownCall`], [`Error::InvalidState`] for early calls (use
    /// `cancel` or `reject`).
    pub fn bye(&mut self, now: Instant, call: CallHandle) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        let c = self.calls.get(&call).ok_or(Error::UnknownCall)?;
        if c.state == CallState::Early {
            return Err(Error::InvalidState("bye needs an answered call"));
        }
        self.send_bye(now, call);
        self.remove_call(call);
        Ok(())
    }

    /// Changes our side of an established call with a re-INVITE (RFC 3261
    /// §14.1, RFC 3264 §8): e.g. `audio.direction = SendOnly` to hold the
    /// peer, `SendRecv` to resume, or a new RTP address. The outcome is
    /// [`Event::SessionModified`] or [`Event::SessionUpdateFailed`].
    ///
    /// # Errors
    /// [`Error::UnknownCall`]; [`Error::InvalidState`] before the call is
    /// confirmed or while another re-INVITE is in progress.
    pub fn update_session(
        &mut self,
        now: Instant,
        call: CallHandle,
        audio: AudioConfig,
    ) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        let c = self.calls.get(&call).ok_or(Error::UnknownCall)?;
        if c.state != CallState::Confirmed
            || c.pending_ack.is_some()
            || c.reinvite.is_some()
            || c.reinvite_retry.is_some()
        {
            return Err(Error::InvalidState(
                "re-INVITE needs a confirmed call with no offer/answer in progress",
            ));
        }
        let (sid, ver) = c
            .local_sdp
            .as_ref()
            .map_or((1, 1), |s| (s.session_id, s.session_version + 1));
        let offer = sdp::create_offer(&audio, sid, ver);
        self.send_reinvite(now, call, audio, offer, false, 0);
        Ok(())
    }

    /// Sends one DTMF digit by SIP INFO (`application/dtmf-relay`), for
    /// peers that do not take RFC 4733 in RTP.
    ///
    /// # Errors
    /// [`Error::UnknownCall`], [`Error::InvalidState`] for an unconfirmed
    /// call or a digit outside `0-9 * # A-D`.
    pub fn send_dtmf_info(
        &mut self,
        now: Instant,
        call: CallHandle,
        digit: char,
        duration_ms: u32,
    ) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        let digit = digit.to_ascii_uppercase();
        if !matches!(digit, '0'..='9' | '*' | '#' | 'A'..='D') {
            return Err(Error::InvalidState("not a DTMF digit"));
        }
        let c = self.calls.get_mut(&call).ok_or(Error::UnknownCall)?;
        if c.state != CallState::Confirmed {
            return Err(Error::InvalidState("INFO needs a confirmed call"));
        }
        c.dialog.local_seq += 1;
        let d = c.dialog.clone();
        let (peer, tp) = (c.peer, c.transport);
        let mut req = self.dialog_request(&d, Method::Info, tp);
        req.headers.push("Content-Type", "application/dtmf-relay");
        req.body = format!("Signal={digit}\r\nDuration={duration_ms}\r\n").into_bytes();
        self.start_client(now, req, peer, tp, Owner::CallRequest(call));
        Ok(())
    }

    /// Starts (or restarts) registering `params.aor` with a registrar
    /// (RFC 3261 §10.2). Refreshes run automatically at half the granted
    /// expiry; see [`Event::Registered`] / [`Event::RegistrationFailed`].
    pub fn register(&mut self, now: Instant, params: RegisterParams) -> RegistrationHandle {
        self.last_now = self.last_now.max(now);
        let h = RegistrationHandle(self.alloc_id());
        let reg = Registration {
            call_id: format!("{}@denwa", self.random_token()),
            from_tag: self.random_token(),
            cseq: 0,
            auth_attempts: 0,
            refresh_at: None,
            tx: None,
            expires: params.expires,
            params,
        };
        self.registrations.insert(h, reg);
        self.send_register(now, h, None);
        h
    }

    /// Removes a registration (REGISTER with `Expires: 0`, §10.2.2).
    ///
    /// # Errors
    /// [`Error::UnknownRegistration`].
    pub fn unregister(
        &mut self,
        now: Instant,
        registration: RegistrationHandle,
    ) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        let reg = self
            .registrations
            .get_mut(&registration)
            .ok_or(Error::UnknownRegistration)?;
        reg.expires = 0;
        reg.refresh_at = None;
        reg.auth_attempts = 0;
        self.send_register(now, registration, None);
        Ok(())
    }

    // ----- inbound requests --------------------------------------------------

    fn on_request(&mut self, now: Instant, req: Request, from: SocketAddr, transport: Transport) {
        if let Err(_e) = req.validate() {
            if req.method != Method::Ack && req.top_via().is_some() {
                let resp = req.response(400, None);
                self.send_raw(from, transport, resp.to_bytes());
            }
            return;
        }
        // validate() guarantees a top Via with a branch.
        let Some(branch) = req.top_via().and_then(|v| v.branch().map(str::to_owned)) else {
            return;
        };
        let key = TxKey::new(&branch, &req.method, true);
        if let Some((tx, owner)) = self.server_txs.get_mut(&key) {
            let owner = *owner;
            let (peer, tp) = (tx.peer, tx.transport);
            let actions = tx.on_request(now, req);
            self.server_actions(now, owner, peer, tp, actions);
            self.sync_server_tx(&key);
            return;
        }
        if req.method == Method::Ack {
            self.on_2xx_ack(now, req);
            return;
        }
        if self.server_txs.len() >= self.cfg.max_server_transactions {
            let mut resp = req.response(503, Some(&self.random_token()));
            resp.headers.push("Retry-After", "5");
            self.send_raw(from, transport, resp.to_bytes());
            return;
        }
        if req
            .headers
            .get("Max-Forwards")
            .is_some_and(|m| m.trim() == "0")
        {
            self.stateless(from, transport, &req, 483);
            return;
        }
        if req.method == Method::Cancel {
            self.on_cancel(now, req, &branch, from, transport);
            return;
        }
        let in_dialog = req.header_to().is_some_and(|t| t.tag().is_some());
        if in_dialog {
            self.on_in_dialog(now, req, key, from, transport);
            return;
        }
        match req.method {
            Method::Invite => self.on_new_invite(now, req, key, from, transport),
            Method::Options => {
                let mut resp = self.local_response(&req, 200);
                resp.headers.push("Accept", "application/sdp");
                self.new_server_tx_respond(now, key, req, from, transport, None, &resp);
            }
            Method::Register => self.on_register(now, req, key, from, transport),
            Method::Bye | Method::Update | Method::Info | Method::Prack => {
                let resp = req.response(481, Some(&self.random_token()));
                self.new_server_tx_respond(now, key, req, from, transport, None, &resp);
            }
            _ => {
                let mut resp = req.response(405, Some(&self.random_token()));
                resp.headers.push("Allow", ALLOW);
                self.new_server_tx_respond(now, key, req, from, transport, None, &resp);
            }
        }
    }

    fn stateless(&mut self, to: SocketAddr, transport: Transport, req: &Request, status: u16) {
        let tag = self.random_token();
        let resp = req.response(status, Some(&tag));
        self.send_raw(to, transport, resp.to_bytes());
    }

    fn on_new_invite(
        &mut self,
        now: Instant,
        req: Request,
        key: TxKey,
        from: SocketAddr,
        transport: Transport,
    ) {
        if let Verdict::Reject { retry_after_s } = self.limiter.check(now, from.ip()) {
            let mut resp = req.response(503, Some(&self.random_token()));
            resp.headers.push("Retry-After", retry_after_s.to_string());
            self.new_server_tx_respond(now, key, req, from, transport, None, &resp);
            self.queue
                .push_back(Output::Event(Event::InviteRateLimited {
                    source: from.ip(),
                    retry_after_s,
                }));
            return;
        }
        // RFC 3261 §8.2.2.3: unknown required extensions → 420.
        let unsupported: Vec<&str> = req
            .headers
            .get_all("Require")
            .into_iter()
            .filter(|r| !r.eq_ignore_ascii_case("timer"))
            .collect();
        if !unsupported.is_empty() {
            let mut resp = req.response(420, Some(&self.random_token()));
            resp.headers.push("Unsupported", unsupported.join(", "));
            self.new_server_tx_respond(now, key, req, from, transport, None, &resp);
            return;
        }
        // RFC 4028 §8.1: too small an interval → 422 with our Min-SE.
        let se = header_seconds(req.headers.get("Session-Expires"));
        let min_se = self.cfg.min_se.max(MIN_SE_FLOOR);
        if se.is_some_and(|s| s < min_se) {
            let mut resp = req.response(422, Some(&self.random_token()));
            resp.headers.push("Min-SE", min_se.to_string());
            self.new_server_tx_respond(now, key, req, from, transport, None, &resp);
            return;
        }
        let contact = req
            .headers
            .get_all("Contact")
            .first()
            .and_then(|c| NameAddr::parse(c));
        let (Some(from_h), Some(to_h), Some(contact), Some(cseq), Some(call_id)) = (
            req.header_from(),
            req.header_to(),
            contact,
            req.cseq(),
            req.call_id().map(str::to_owned),
        ) else {
            let resp = req.response(400, Some(&self.random_token()));
            self.new_server_tx_respond(now, key, req, from, transport, None, &resp);
            return;
        };
        let offer = if req.body.is_empty() {
            None
        } else {
            match SessionDescription::parse(&req.body) {
                Ok(o) => Some(o),
                Err(_) => {
                    let resp = req.response(400, Some(&self.random_token()));
                    self.new_server_tx_respond(now, key, req, from, transport, None, &resp);
                    return;
                }
            }
        };
        let call = CallHandle(self.alloc_id());
        let local_tag = self.random_token();
        let session_request = se.map(|s| {
            let refresher = req.headers.get("Session-Expires").and_then(refresher_param);
            (s, refresher, supports_timer(&req))
        });
        let dialog = Dialog {
            call_id,
            local_tag,
            remote_tag: from_h.tag().map(str::to_owned),
            local_uri: NameAddr {
                params: Vec::new(),
                ..to_h.clone()
            },
            remote_uri: NameAddr {
                params: Vec::new(),
                ..from_h.clone()
            },
            remote_target: contact.uri,
            route_set: req
                .headers
                .get_all("Record-Route")
                .into_iter()
                .map(str::to_owned)
                .collect(),
            local_seq: 1,
            remote_seq: Some(cseq.seq),
        };
        self.calls.insert(
            call,
            Box::new(Call {
                role: Role::Uas,
                state: CallState::Early,
                dialog,
                peer: from,
                transport,
                invite_tx: key.clone(),
                invite: req.clone(),
                remote_offer: offer.clone(),
                local_audio: None,
                local_sdp: None,
                negotiated: None,
                pending_ack: None,
                credentials: None,
                auth_attempts: 0,
                cancel_requested: false,
                cancel_sent: false,
                ack_bytes: None,
                session_timer: None,
                session_request: session_request
                    .or_else(|| supports_timer(&req).then_some((0, None, true))),
                peer_allows_update: allows_update(&req.headers),
                reinvite: None,
                reinvite_ack: None,
                reinvite_retry: None,
            }),
        );
        self.dialogs.insert(self.dialog_key_local(call), call);
        let trying = req.response(100, None);
        let request_uri = req.uri.clone();
        let headers = req.headers.clone();
        self.new_server_tx_respond(now, key, req, from, transport, Some(call), &trying);
        self.queue.push_back(Output::Event(Event::IncomingCall {
            call,
            from: from_h,
            to: to_h,
            request_uri,
            offer,
            source: from,
            headers,
        }));
    }

    fn on_cancel(
        &mut self,
        now: Instant,
        req: Request,
        branch: &str,
        from: SocketAddr,
        transport: Transport,
    ) {
        let key = TxKey::new(branch, &Method::Cancel, true);
        let invite_key = TxKey::new(branch, &Method::Invite, true);
        let Some((itx, owner)) = self.server_txs.get(&invite_key) else {
            // §9.2: no matching transaction → 481.
            let resp = req.response(481, Some(&self.random_token()));
            self.new_server_tx_respond(now, key, req, from, transport, None, &resp);
            return;
        };
        let (finalised, owner) = (itx.has_final(), *owner);
        let tag = owner
            .and_then(|c| self.calls.get(&c))
            .map(|c| c.dialog.local_tag.clone())
            .unwrap_or_else(|| self.random_token());
        let ok = req.response(200, Some(&tag));
        self.new_server_tx_respond(now, key, req, from, transport, None, &ok);
        if finalised {
            return; // CANCEL lost the race with our final response: no effect.
        }
        if let Some(call) = owner {
            if let Ok(resp) = self.uas_response(call, 487) {
                self.respond_invite(now, call, &resp);
            }
            self.remove_call(call);
            self.queue
                .push_back(Output::Event(Event::CallCancelled { call }));
        }
    }

    fn on_register(
        &mut self,
        now: Instant,
        req: Request,
        key: TxKey,
        from: SocketAddr,
        transport: Transport,
    ) {
        let nonce = format!("{:016x}{:016x}", self.random(), self.random());
        let tag = self.random_token();
        let Some(reg) = &mut self.registrar else {
            let mut resp = req.response(405, Some(&tag));
            resp.headers.push("Allow", ALLOW);
            self.new_server_tx_respond(now, key, req, from, transport, None, &resp);
            return;
        };
        let (resp, outcome) = reg.handle(now, &req, from, transport, nonce, &tag);
        self.registrar_used_at = Some(now);
        self.sync_registrar_timer(now);
        self.new_server_tx_respond(now, key, req, from, transport, None, &resp);
        if let RegisterOutcome::Updated { aor, bindings } = outcome {
            self.queue
                .push_back(Output::Event(Event::BindingsChanged { aor, bindings }));
        }
    }

    fn on_in_dialog(
        &mut self,
        now: Instant,
        req: Request,
        key: TxKey,
        from: SocketAddr,
        transport: Transport,
    ) {
        let local_tag = req
            .header_to()
            .and_then(|t| t.tag().map(str::to_owned))
            .unwrap_or_default();
        let dk = (req.call_id().unwrap_or("").to_owned(), local_tag);
        let Some(&call) = self.dialogs.get(&dk) else {
            // §12.2.2: no dialog → 481 (an OPTIONS keep-alive still gets 200).
            let status = if req.method == Method::Options {
                200
            } else {
                481
            };
            let resp = self.local_response(&req, status);
            self.new_server_tx_respond(now, key, req, from, transport, None, &resp);
            return;
        };
        let seq = req.cseq().map_or(0, |c| c.seq);
        if let Some(c) = self.calls.get_mut(&call) {
            // §12.2.2: lower CSeq than the last one is out of order → 500.
            if c.dialog.remote_seq.is_some_and(|r| seq <= r) && req.method != Method::Ack {
                let resp = req.response(500, None);
                self.new_server_tx_respond(now, key, req, from, transport, Some(call), &resp);
                return;
            }
            c.dialog.remote_seq = Some(seq);
            if c.dialog.remote_tag.is_none() {
                c.dialog.remote_tag = req.header_from().and_then(|f| f.tag().map(str::to_owned));
            }
        }
        match req.method {
            Method::Bye => {
                let resp = req.response(200, None);
                self.new_server_tx_respond(now, key, req, from, transport, Some(call), &resp);
                self.remove_call(call);
                self.queue.push_back(Output::Event(Event::CallEnded {
                    call,
                    reason: EndReason::RemoteBye,
                }));
            }
            Method::Invite | Method::Update => {
                self.on_session_update(now, call, req, key, from, transport)
            }
            Method::Info => {
                let digit = dtmf_relay_digit(&req);
                let resp = req.response(200, None);
                self.new_server_tx_respond(now, key, req, from, transport, Some(call), &resp);
                if let Some(digit) = digit {
                    self.queue
                        .push_back(Output::Event(Event::Dtmf { call, digit }));
                }
            }
            Method::Options => {
                let resp = self.local_response(&req, 200);
                self.new_server_tx_respond(now, key, req, from, transport, Some(call), &resp);
            }
            _ => {
                let mut resp = req.response(405, None);
                resp.headers.push("Allow", ALLOW);
                self.new_server_tx_respond(now, key, req, from, transport, Some(call), &resp);
            }
        }
    }

    /// re-INVITE (RFC 3261 §14.2) or UPDATE (RFC 3311 §5.2): answered at once
    /// from the call's audio configuration; also a session refresh (RFC 4028).
    fn on_session_update(
        &mut self,
        now: Instant,
        call: CallHandle,
        req: Request,
        key: TxKey,
        from: SocketAddr,
        transport: Transport,
    ) {
        let is_invite = req.method == Method::Invite;
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let confirmed = c.state == CallState::Confirmed;
        let pending = c.pending_ack.is_some();
        if is_invite && c.reinvite.is_some() {
            // §14.2: glare with our own re-INVITE.
            let resp = req.response(491, None);
            self.new_server_tx_respond(now, key, req, from, transport, Some(call), &resp);
            return;
        }
        if is_invite && (!confirmed || pending) {
            // §14.2: an INVITE while one is in progress → 491 (500 when ours is UAS-side pending).
            let resp = req.response(if pending { 500 } else { 491 }, None);
            self.new_server_tx_respond(now, key, req, from, transport, Some(call), &resp);
            return;
        }
        if let Some(contact) = req
            .headers
            .get_all("Contact")
            .first()
            .and_then(|v| NameAddr::parse(v))
            && let Some(c) = self.calls.get_mut(&call)
        {
            c.dialog.remote_target = contact.uri;
        }
        let mut modified = None;
        let mut resp = req.response(200, None);
        if !req.body.is_empty() {
            let parsed = SessionDescription::parse(&req.body);
            let Some(c) = self.calls.get_mut(&call) else {
                return;
            };
            let result = match (&parsed, &c.local_audio) {
                (Ok(offer), Some(audio)) => {
                    let (sid, ver) = c
                        .local_sdp
                        .as_ref()
                        .map_or((1, 1), |s| (s.session_id, s.session_version + 1));
                    sdp::answer_offer(offer, audio, sid, ver).map_err(Some)
                }
                (Err(_), _) => Err(None),
                (Ok(_), None) => Err(Some(sdp::SdpError::NoCommonCodec)),
            };
            match result {
                Ok((answer, neg)) => {
                    // RFC 3264 §8: keep the version if nothing changed.
                    let answer = match &c.local_sdp {
                        Some(old) if same_session(old, &answer) => old.clone(),
                        _ => answer,
                    };
                    resp.headers.push("Content-Type", "application/sdp");
                    resp.body = answer.to_bytes();
                    c.local_sdp = Some(answer);
                    c.remote_offer = parsed.ok();
                    c.negotiated = Some(neg.clone());
                    modified = Some(neg);
                }
                Err(e) => {
                    // 488 keeps the old session (RFC 3261 §14.2); garbage → 400.
                    let status = if e.is_some() { 488 } else { 400 };
                    let resp = req.response(status, None);
                    self.new_server_tx_respond(now, key, req, from, transport, Some(call), &resp);
                    return;
                }
            }
        } else if is_invite && let Some(c) = self.calls.get(&call) {
            // Offerless re-INVITE: our 2xx carries an offer, the ACK the answer.
            if let Some(sd) = &c.local_sdp {
                resp.headers.push("Content-Type", "application/sdp");
                resp.body = sd.to_bytes();
            }
        }
        self.add_contact(&mut resp);
        resp.headers.push("Allow", ALLOW);
        resp.headers.push("Supported", SUPPORTED);
        // RFC 4028 §10: any successful refresh restarts the timer.
        let se = header_seconds(req.headers.get("Session-Expires"));
        let refresher = req.headers.get("Session-Expires").and_then(refresher_param);
        self.refresh_session_timer(now, call, se, refresher.as_deref(), &mut resp);
        if is_invite && let Some(c) = self.calls.get_mut(&call) {
            c.pending_ack = Some((key.clone(), false));
        }
        self.new_server_tx_respond(now, key, req, from, transport, Some(call), &resp);
        if let Some(audio) = modified {
            self.queue
                .push_back(Output::Event(Event::SessionModified { call, audio }));
        }
    }

    fn on_2xx_ack(&mut self, now: Instant, req: Request) {
        let local_tag = req
            .header_to()
            .and_then(|t| t.tag().map(str::to_owned))
            .unwrap_or_default();
        let dk = (req.call_id().unwrap_or("").to_owned(), local_tag);
        let Some(&call) = self.dialogs.get(&dk) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some((tx_key, initial)) = c.pending_ack.take() else {
            return;
        };
        let ack_seq = req.cseq().map_or(0, |s| s.seq);
        let invite_seq = self
            .server_txs
            .get(&tx_key)
            .and_then(|(tx, _)| tx.cseq)
            .unwrap_or(ack_seq);
        if ack_seq != invite_seq {
            c.pending_ack = Some((tx_key, initial));
            return;
        }
        if let Some((tx, _)) = self.server_txs.get_mut(&tx_key) {
            tx.on_2xx_ack();
        }
        self.sync_server_tx(&tx_key);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let mut audio = None;
        if !req.body.is_empty()
            && let (Ok(answer), Some(local)) =
                (SessionDescription::parse(&req.body), &c.local_audio)
            && let Ok(neg) = sdp::process_answer(&answer, local)
        {
            c.negotiated = Some(neg.clone());
            audio = Some(neg);
        }
        if initial {
            c.state = CallState::Confirmed;
            self.start_session_timer(now, call);
            self.queue
                .push_back(Output::Event(Event::CallConfirmed { call, audio }));
        } else if let Some(audio) = audio {
            self.queue
                .push_back(Output::Event(Event::SessionModified { call, audio }));
        }
    }

    // ----- inbound responses -------------------------------------------------

    fn on_response(&mut self, now: Instant, resp: Response) {
        let (Some(via), Some(cseq)) = (resp.top_via(), resp.cseq()) else {
            return;
        };
        let Some(branch) = via.branch() else { return };
        let key = TxKey::new(branch, &cseq.method, false);
        let Some((tx, owner)) = self.client_txs.get_mut(&key) else {
            return;
        };
        let owner = *owner;
        let (peer, transport) = (tx.peer, tx.transport);
        let actions = tx.on_response(now, resp);
        self.client_actions(now, owner, peer, transport, actions);
        self.sync_client_tx(&key);
    }

    fn client_actions(
        &mut self,
        now: Instant,
        owner: Owner,
        peer: SocketAddr,
        transport: Transport,
        actions: Vec<TxAction>,
    ) {
        for a in actions {
            match a {
                TxAction::Send(bytes) => self.send_raw(peer, transport, bytes),
                TxAction::Deliver(resp) => self.deliver(now, owner, resp),
                TxAction::Timeout => {
                    let mut resp = Response {
                        status: 408,
                        reason: "Request Timeout".into(),
                        headers: Headers::new(),
                        body: Vec::new(),
                    };
                    resp.headers.push("X-Denwa-Local", "timeout");
                    self.deliver(now, owner, resp);
                }
                TxAction::AckReceived(_) => {}
            }
        }
    }

    fn server_actions(
        &mut self,
        now: Instant,
        owner: Option<CallHandle>,
        peer: SocketAddr,
        transport: Transport,
        actions: Vec<TxAction>,
    ) {
        for a in actions {
            match a {
                TxAction::Send(bytes) => self.send_raw(peer, transport, bytes),
                TxAction::AckReceived(ack) => self.on_2xx_ack(now, ack),
                TxAction::Timeout => {
                    // Timer H: for a 2xx this is the §13.3.1.4 give-up.
                    let Some(call) = owner else { continue };
                    let waiting = self
                        .calls
                        .get(&call)
                        .is_some_and(|c| c.pending_ack.is_some());
                    if waiting {
                        self.send_bye(now, call);
                        self.remove_call(call);
                        self.queue.push_back(Output::Event(Event::CallEnded {
                            call,
                            reason: EndReason::AckTimeout,
                        }));
                    }
                }
                TxAction::Deliver(_) => {}
            }
        }
    }

    fn deliver(&mut self, now: Instant, owner: Owner, resp: Response) {
        match owner {
            Owner::CallInvite(call) => self.on_invite_response(now, call, resp),
            Owner::CallRequest(call) => {
                // §12.2.1.2: 481/408 to an in-dialog request ends the dialog.
                if matches!(resp.status, 408 | 481) && self.calls.contains_key(&call) {
                    self.remove_call(call);
                    self.queue.push_back(Output::Event(Event::CallEnded {
                        call,
                        reason: EndReason::DialogLost,
                    }));
                }
            }
            Owner::Cancel => {}
            Owner::CallReinvite(call) => self.on_reinvite_response(now, call, resp),
            Owner::Registration(h) => {
                self.on_register_response(now, h, resp);
                self.sync_registration_timer(h);
            }
        }
    }

    /// Responses to our re-INVITE (RFC 3261 §14.1).
    fn on_reinvite_response(&mut self, now: Instant, call: CallHandle, resp: Response) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let seq = resp.cseq().map_or(0, |s| s.seq);
        if resp.status < 200 {
            return;
        }
        if resp.status < 300 {
            let Some(re) = c.reinvite.take_if(|r| r.seq == seq) else {
                // §13.2.2.4: a retransmitted 2xx gets the same ACK again.
                if let Some((ack_seq, ack)) = &c.reinvite_ack
                    && *ack_seq == seq
                {
                    let (ack, peer, tp) = (ack.clone(), c.peer, c.transport);
                    self.send_raw(peer, tp, ack);
                }
                return;
            };
            if let Some(contact) = resp
                .headers
                .get_all("Contact")
                .first()
                .and_then(|v| NameAddr::parse(v))
            {
                c.dialog.remote_target = contact.uri;
            }
            let mut d = c.dialog.clone();
            d.local_seq = seq;
            let (peer, tp) = (c.peer, c.transport);
            let ack = self.dialog_request(&d, Method::Ack, tp).to_bytes();
            self.send_raw(peer, tp, ack.clone());
            let Some(c) = self.calls.get_mut(&call) else {
                return;
            };
            c.reinvite_ack = Some((seq, ack));
            let neg = SessionDescription::parse(&resp.body)
                .ok()
                .and_then(|a| sdp::process_answer(&a, &re.audio).ok());
            let Some(audio) = neg else {
                self.send_bye(now, call);
                self.remove_call(call);
                self.queue.push_back(Output::Event(Event::CallEnded {
                    call,
                    reason: EndReason::NoCommonCodec,
                }));
                return;
            };
            c.local_sdp = Some(re.offer);
            c.local_audio = Some(re.audio);
            c.negotiated = Some(audio.clone());
            if let Some(se) = header_seconds(resp.headers.get("Session-Expires"))
                && let Some(st) = c.session_timer.as_mut()
            {
                st.interval = se.max(MIN_SE_FLOOR);
                // Relative to our re-INVITE: `uac` is us.
                if let Some(r) = resp
                    .headers
                    .get("Session-Expires")
                    .and_then(refresher_param)
                {
                    st.we_refresh = r == "uac";
                }
            }
            self.start_session_timer(now, call);
            if !re.refresh {
                self.queue
                    .push_back(Output::Event(Event::SessionModified { call, audio }));
            }
            return;
        }
        if c.reinvite.as_ref().is_none_or(|r| r.seq != seq) {
            return;
        }
        if resp.status == 491
            && let Some(re) = c.reinvite.take_if(|r| r.attempt < MAX_GLARE_RETRIES)
        {
            // §14.1: glare. The owner of the Call-ID (the dialog's UAC) waits
            // 2.1–4 s, the other side 0–2 s, then tries again.
            let owner = c.role == Role::Uac;
            let jitter = self.random() % 1000;
            let ms = if owner {
                2100 + jitter * 19 / 10
            } else {
                jitter * 2
            };
            if let Some(c) = self.calls.get_mut(&call) {
                c.reinvite_retry = Some((now + Duration::from_millis(ms), re));
            }
            self.sync_call_timer(call);
            return;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let refresh = c.reinvite.take().is_some_and(|r| r.refresh);
        if matches!(resp.status, 408 | 481) {
            // §14.1: the dialog is gone.
            if resp.status == 408 {
                self.send_bye(now, call);
            }
            self.remove_call(call);
            self.queue.push_back(Output::Event(Event::CallEnded {
                call,
                reason: EndReason::DialogLost,
            }));
        } else if !refresh {
            // The old session stays in force (§14.1).
            self.queue
                .push_back(Output::Event(Event::SessionUpdateFailed {
                    call,
                    status: resp.status,
                }));
        }
    }

    fn send_reinvite(
        &mut self,
        now: Instant,
        call: CallHandle,
        audio: AudioConfig,
        offer: SessionDescription,
        refresh: bool,
        attempt: u32,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.dialog.local_seq += 1;
        let seq = c.dialog.local_seq;
        let d = c.dialog.clone();
        let (peer, tp) = (c.peer, c.transport);
        let se = c
            .session_timer
            .as_ref()
            .map(|st| (st.interval, st.we_refresh));
        c.reinvite = Some(Reinvite {
            seq,
            audio,
            offer: offer.clone(),
            refresh,
            attempt,
        });
        let mut req = self.dialog_request(&d, Method::Invite, tp);
        req.headers.push("Allow", ALLOW);
        req.headers.push("Supported", SUPPORTED);
        if let Some((interval, we_refresh)) = se {
            // RFC 4028 §7.4: keep the refresher role as negotiated.
            // RFC 4028 §7.4: the parameter is relative to this request, whose UAC we are.
            let r = if we_refresh { "uac" } else { "uas" };
            req.headers
                .push("Session-Expires", format!("{interval};refresher={r}"));
        }
        req.headers.push("Content-Type", "application/sdp");
        req.body = offer.to_bytes();
        self.start_client(now, req, peer, tp, Owner::CallReinvite(call));
    }

    fn on_invite_response(&mut self, now: Instant, call: CallHandle, resp: Response) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let status = resp.status;
        if status < 200 {
            if status == 100 {
                // fall through to the pending-CANCEL check only
            } else {
                if c.dialog.remote_tag.is_none() {
                    c.dialog.remote_tag = to_tag_of(&resp);
                }
                let early_media = if resp.body.is_empty() {
                    None
                } else {
                    let local = c.local_audio.clone();
                    SessionDescription::parse(&resp.body)
                        .ok()
                        .and_then(|a| sdp::process_answer(&a, local.as_ref()?).ok())
                };
                if early_media.is_some() {
                    c.negotiated.clone_from(&early_media);
                }
                self.queue.push_back(Output::Event(Event::CallProgress {
                    call,
                    status,
                    early_media,
                }));
            }
            let cancel_now = self
                .calls
                .get(&call)
                .is_some_and(|c| c.cancel_requested && !c.cancel_sent);
            if cancel_now {
                self.send_cancel(now, call);
            }
            return;
        }
        if status < 300 {
            self.on_invite_2xx(now, call, resp);
            return;
        }
        if matches!(status, 401 | 407) && c.state == CallState::Early && !c.cancel_requested {
            let header = if status == 401 {
                "WWW-Authenticate"
            } else {
                "Proxy-Authenticate"
            };
            let challenge = Challenge::best(resp.headers.values(header));
            if let (Some(ch), Some((user, pass))) = (challenge, c.credentials.clone())
                && c.auth_attempts < 2
                && (c.auth_attempts == 0 || ch.stale)
            {
                c.auth_attempts += 1;
                let cnonce = format!("{:016x}", self.random());
                let Some(c) = self.calls.get_mut(&call) else {
                    return;
                };
                let mut req = c.invite.clone();
                let creds = ch.authorize(&user, &pass, "INVITE", &req.uri, &cnonce, 1);
                let auth_header = if status == 401 {
                    "Authorization"
                } else {
                    "Proxy-Authorization"
                };
                req.headers.set(auth_header, creds.to_header());
                c.dialog.local_seq += 1;
                let seq = c.dialog.local_seq;
                req.headers.set(
                    "CSeq",
                    CSeq {
                        seq,
                        method: Method::Invite,
                    }
                    .to_string(),
                );
                let (peer, transport) = (c.peer, c.transport);
                let via = self.new_via(transport);
                req.headers.set("Via", via);
                let key = Self::key_for(&req, false);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.invite_tx = key;
                    c.invite = req.clone();
                }
                self.start_client(now, req, peer, transport, Owner::CallInvite(call));
                return;
            }
        }
        if c.state == CallState::Early {
            self.remove_call(call);
            self.queue
                .push_back(Output::Event(Event::CallFailed { call, status }));
        }
    }

    fn on_invite_2xx(&mut self, now: Instant, call: CallHandle, resp: Response) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.state == CallState::Confirmed {
            // §13.2.2.4: a retransmitted 2xx gets the same ACK again.
            if let Some(ack) = c.ack_bytes.clone() {
                let (peer, tp) = (c.peer, c.transport);
                self.send_raw(peer, tp, ack);
            }
            return;
        }
        let old_key = self.dialog_key_local(call);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.dialog.remote_tag = to_tag_of(&resp);
        if let Some(contact) = resp
            .headers
            .get_all("Contact")
            .first()
            .and_then(|v| NameAddr::parse(v))
        {
            c.dialog.remote_target = contact.uri;
        }
        // §12.1.2: UAC route set is Record-Route reversed.
        c.dialog.route_set = resp
            .headers
            .get_all("Record-Route")
            .into_iter()
            .rev()
            .map(str::to_owned)
            .collect();
        c.state = CallState::Confirmed;
        let ack = self.build_2xx_ack(call);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let ack_bytes = ack.to_bytes();
        c.ack_bytes = Some(ack_bytes.clone());
        let (peer, tp) = (c.peer, c.transport);
        self.send_raw(peer, tp, ack_bytes);
        self.dialogs.remove(&old_key);
        self.dialogs.insert(self.dialog_key_local(call), call);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.cancel_requested {
            self.send_bye(now, call);
            self.remove_call(call);
            self.queue.push_back(Output::Event(Event::CallEnded {
                call,
                reason: EndReason::CancelledAfterAnswer,
            }));
            return;
        }
        let neg = SessionDescription::parse(&resp.body)
            .ok()
            .and_then(|a| sdp::process_answer(&a, c.local_audio.as_ref()?).ok())
            .or_else(|| c.negotiated.clone());
        let Some(audio) = neg else {
            self.send_bye(now, call);
            self.remove_call(call);
            self.queue.push_back(Output::Event(Event::CallEnded {
                call,
                reason: EndReason::NoCommonCodec,
            }));
            return;
        };
        c.negotiated = Some(audio.clone());
        c.peer_allows_update = allows_update(&resp.headers);
        // RFC 4028 §7.2: the 2xx says who refreshes.
        if let Some(se) = header_seconds(resp.headers.get("Session-Expires")) {
            let refresher_uas = resp
                .headers
                .get("Session-Expires")
                .and_then(refresher_param)
                .is_some_and(|r| r == "uas");
            c.session_timer = Some(SessionTimer {
                interval: se.max(MIN_SE_FLOOR),
                we_refresh: !refresher_uas,
                refresh_at: None,
                expire_at: None,
            });
            self.start_session_timer(now, call);
        }
        self.queue
            .push_back(Output::Event(Event::CallAnswered { call, audio }));
    }

    fn on_register_response(&mut self, now: Instant, h: RegistrationHandle, resp: Response) {
        let Some(tp) = self.registrations.get(&h).map(|r| r.params.transport) else {
            return;
        };
        let ours = self.contact_uri(tp);
        let Some(reg) = self.registrations.get_mut(&h) else {
            return;
        };
        let status = resp.status;
        if status < 200 {
            return;
        }
        reg.tx = None;
        if status < 300 {
            reg.auth_attempts = 0;
            if reg.expires == 0 {
                self.registrations.remove(&h);
                return;
            }
            // §10.2.4: the granted expiry is on our Contact, else Expires.
            let granted = resp
                .headers
                .get_all("Contact")
                .into_iter()
                .filter_map(NameAddr::parse)
                .find(|c| c.uri == ours)
                .and_then(|c| c.param("expires").and_then(|e| e.parse().ok()))
                .or_else(|| header_seconds(resp.headers.get("Expires")))
                .unwrap_or(reg.expires);
            let Some(reg) = self.registrations.get_mut(&h) else {
                return;
            };
            reg.refresh_at = Some(now + Duration::from_secs(u64::from(granted.max(2) / 2)));
            self.queue.push_back(Output::Event(Event::Registered {
                registration: h,
                expires: granted,
            }));
            return;
        }
        if matches!(status, 401 | 407) {
            let header = if status == 401 {
                "WWW-Authenticate"
            } else {
                "Proxy-Authenticate"
            };
            if let (Some(ch), Some(_)) = (
                Challenge::best(resp.headers.values(header)),
                &reg.params.credentials,
            ) && reg.auth_attempts < 2
                && (reg.auth_attempts == 0 || ch.stale)
            {
                reg.auth_attempts += 1;
                self.send_register(now, h, Some((status, ch)));
                return;
            }
        }
        if status == 423
            && let Some(min) = header_seconds(resp.headers.get("Min-Expires"))
            && reg.expires < min
        {
            reg.expires = min;
            reg.auth_attempts = 0;
            self.send_register(now, h, None);
            return;
        }
        reg.auth_attempts = 0;
        reg.refresh_at = Some(now + Duration::from_secs(60));
        self.queue
            .push_back(Output::Event(Event::RegistrationFailed {
                registration: h,
                status,
            }));
    }

    // ----- timers ------------------------------------------------------------

    fn start_session_timer(&mut self, now: Instant, call: CallHandle) {
        let Some(st) = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.session_timer.as_mut())
        else {
            return;
        };
        let interval = Duration::from_secs(u64::from(st.interval));
        if st.we_refresh {
            st.refresh_at = Some(now + interval / 2);
            st.expire_at = None;
        } else {
            // RFC 4028 §10: BYE at interval − min(32, interval/3) without refresh.
            let margin = Duration::from_secs(u64::from((st.interval / 3).min(32)));
            st.expire_at = Some(now + interval - margin);
            st.refresh_at = None;
        }
        self.sync_call_timer(call);
    }

    /// Re-sends a re-INVITE refused with 491 once its wait is over.
    fn glare_retry(&mut self, now: Instant, call: CallHandle) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some((_, re)) = c.reinvite_retry.take_if(|(at, _)| *at <= now) else {
            return;
        };
        if c.state == CallState::Confirmed && c.reinvite.is_none() && c.pending_ack.is_none() {
            self.send_reinvite(now, call, re.audio, re.offer, re.refresh, re.attempt + 1);
        } else if !re.refresh {
            self.queue
                .push_back(Output::Event(Event::SessionUpdateFailed {
                    call,
                    status: 491,
                }));
        }
    }

    /// RFC 4028: refreshes the session or ends it when its timer is due.
    fn session_timer_due(&mut self, now: Instant, call: CallHandle) {
        let Some(st) = self.calls.get(&call).and_then(|c| c.session_timer.as_ref()) else {
            return;
        };
        let refresh = st.refresh_at.is_some_and(|t| t <= now);
        let expire = st.expire_at.is_some_and(|t| t <= now);
        if refresh {
            self.refresh_session(now, call);
        }
        if expire {
            self.send_bye(now, call);
            self.remove_call(call);
            self.queue.push_back(Output::Event(Event::CallEnded {
                call,
                reason: EndReason::SessionExpired,
            }));
        }
    }

    fn refresh_session(&mut self, now: Instant, call: CallHandle) {
        // RFC 4028 §7.4/§9: refresh with UPDATE carrying no SDP (RFC 3311).
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if !c.peer_allows_update {
            // The peer did not list UPDATE: refresh with a re-INVITE
            // carrying the unchanged session (RFC 4028 §7.4, RFC 3264 §8).
            let (Some(audio), Some(sd)) = (c.local_audio.clone(), c.local_sdp.clone()) else {
                return;
            };
            if c.reinvite.is_some() || c.reinvite_retry.is_some() {
                return;
            }
            if let Some(st) = c.session_timer.as_mut() {
                st.refresh_at = None;
            }
            self.send_reinvite(now, call, audio, sd, true, 0);
            return;
        }
        c.dialog.local_seq += 1;
        let dialog = c.dialog.clone();
        let (peer, tp) = (c.peer, c.transport);
        let interval = c
            .session_timer
            .as_ref()
            .map_or(self.cfg.session_expires, |s| s.interval);
        // RFC 4028 §7.4: `uac` names the sender of this request, the refresher.
        let refresher = "uac";
        let mut req = self.dialog_request(&dialog, Method::Update, tp);
        req.headers.push(
            "Session-Expires",
            format!("{interval};refresher={refresher}"),
        );
        req.headers.push("Supported", SUPPORTED);
        self.start_client(now, req, peer, tp, Owner::CallRequest(call));
        self.start_session_timer(now, call);
    }

    fn registration_due(&mut self, now: Instant, h: RegistrationHandle) {
        let Some(r) = self.registrations.get_mut(&h) else {
            return;
        };
        if r.tx.is_none() && r.refresh_at.is_some_and(|t| t <= now) {
            r.refresh_at = None;
            self.send_register(now, h, None);
        }
    }

    // ----- helpers -----------------------------------------------------------

    fn alloc_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// splitmix64.
    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn random_token(&mut self) -> String {
        format!("{:012x}", self.random() & 0xFFFF_FFFF_FFFF)
    }

    fn new_via(&mut self, transport: Transport) -> String {
        let branch = format!("z9hG4bK{:016x}", self.random());
        Via {
            transport: transport.as_str().into(),
            sent_by: self.cfg.local_addr.to_string(),
            params: vec![("branch".into(), Some(branch)), ("rport".into(), None)],
        }
        .to_string()
    }

    fn contact_uri(&self, transport: Transport) -> String {
        let tp = if transport == Transport::Tcp {
            ";transport=tcp"
        } else {
            ""
        };
        format!("sip:{}@{}{tp}", self.cfg.contact_user, self.cfg.local_addr)
    }

    fn add_contact(&self, resp: &mut Response) {
        let tp = if resp
            .top_via()
            .is_some_and(|v| v.transport.eq_ignore_ascii_case("TCP"))
        {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        resp.headers
            .push("Contact", format!("<{}>", self.contact_uri(tp)));
    }

    fn key_for(req: &Request, server: bool) -> TxKey {
        let branch = req
            .top_via()
            .and_then(|v| v.branch().map(str::to_owned))
            .unwrap_or_default();
        TxKey::new(&branch, &req.method, server)
    }

    fn dialog_key_local(&self, call: CallHandle) -> (String, String) {
        self.calls
            .get(&call)
            .map(|c| (c.dialog.call_id.clone(), c.dialog.local_tag.clone()))
            .unwrap_or_default()
    }

    /// A request within (or creating) a dialog, RFC 3261 §12.2.1.1 / §8.1.1.
    fn dialog_request(&mut self, d: &Dialog, method: Method, transport: Transport) -> Request {
        let mut req = Request {
            method: method.clone(),
            uri: d.remote_target.clone(),
            headers: Headers::new(),
            body: Vec::new(),
        };
        let via = self.new_via(transport);
        req.headers.push("Via", via);
        for r in &d.route_set {
            req.headers.push("Route", r.clone());
        }
        req.headers.push("Max-Forwards", "70");
        let mut from = d.local_uri.clone();
        from.set_param("tag", Some(&d.local_tag));
        req.headers.push("From", from.to_string());
        let mut to = d.remote_uri.clone();
        if let Some(t) = &d.remote_tag {
            to.set_param("tag", Some(t));
        }
        req.headers.push("To", to.to_string());
        req.headers.push("Call-ID", d.call_id.clone());
        req.headers.push(
            "CSeq",
            CSeq {
                seq: d.local_seq,
                method,
            }
            .to_string(),
        );
        if matches!(req.method, Method::Invite | Method::Update) {
            req.headers
                .push("Contact", format!("<{}>", self.contact_uri(transport)));
        }
        req.headers.push("User-Agent", self.cfg.user_agent.clone());
        req
    }

    /// The ACK for a 2xx (RFC 3261 §13.2.2.4): new branch, INVITE's CSeq number.
    fn build_2xx_ack(&mut self, call: CallHandle) -> Request {
        let Some(c) = self.calls.get(&call) else {
            return Request {
                method: Method::Ack,
                uri: String::new(),
                headers: Headers::new(),
                body: Vec::new(),
            };
        };
        let mut d = c.dialog.clone();
        d.local_seq = c.invite.cseq().map_or(d.local_seq, |s| s.seq);
        let tp = c.transport;
        self.dialog_request(&d, Method::Ack, tp)
    }

    fn start_client(
        &mut self,
        now: Instant,
        req: Request,
        peer: SocketAddr,
        transport: Transport,
        owner: Owner,
    ) {
        let key = Self::key_for(&req, false);
        let (tx, bytes) = ClientTx::start(now, req, peer, transport, self.cfg.timers);
        self.timers.set(&TimerKey::Tx(key.clone()), tx.deadline());
        self.client_txs.insert(key, (tx, owner));
        self.send_raw(peer, transport, bytes);
    }

    fn send_raw(&mut self, to: SocketAddr, transport: Transport, bytes: Vec<u8>) {
        self.queue.push_back(Output::Transmit(Transmit {
            to,
            transport,
            bytes,
        }));
    }

    #[allow(clippy::too_many_arguments)]
    fn new_server_tx_respond(
        &mut self,
        now: Instant,
        key: TxKey,
        req: Request,
        from: SocketAddr,
        transport: Transport,
        owner: Option<CallHandle>,
        resp: &Response,
    ) {
        let mut tx = ServerTx::new(req, from, transport, self.cfg.timers);
        let actions = tx.respond(now, resp);
        self.server_txs.insert(key.clone(), (tx, owner));
        self.server_actions(now, owner, from, transport, actions);
        self.sync_server_tx(&key);
    }

    fn local_response(&mut self, req: &Request, status: u16) -> Response {
        let tag = self.random_token();
        let mut resp = req.response(status, Some(&tag));
        resp.headers.push("Allow", ALLOW);
        resp.headers.push("Supported", SUPPORTED);
        resp.headers.push("Server", self.cfg.user_agent.clone());
        resp
    }

    fn uas_early(&self, call: CallHandle) -> Result<&Call, Error> {
        let c = self.calls.get(&call).ok_or(Error::UnknownCall)?;
        if c.role != Role::Uas || c.state != CallState::Early {
            return Err(Error::InvalidState("the call already has a final response"));
        }
        Ok(c)
    }

    fn uas_response(&self, call: CallHandle, status: u16) -> Result<Response, Error> {
        let c = self.calls.get(&call).ok_or(Error::UnknownCall)?;
        let mut resp = c.invite.response(status, Some(&c.dialog.local_tag));
        if (101..300).contains(&status) {
            // §12.1.1: dialog-forming responses copy Record-Route and add Contact.
            for rr in c.invite.headers.get_all("Record-Route") {
                resp.headers.push("Record-Route", rr);
            }
            self.add_contact(&mut resp);
        }
        if status >= 200 {
            resp.headers.push("Allow", ALLOW);
            resp.headers.push("Supported", SUPPORTED);
        }
        resp.headers.push("Server", self.cfg.user_agent.clone());
        Ok(resp)
    }

    fn negotiate_uas(
        &mut self,
        call: CallHandle,
        audio: AudioConfig,
    ) -> Result<Option<NegotiatedAudio>, Error> {
        let session_id = self.random() >> 2;
        let c = self.calls.get_mut(&call).ok_or(Error::UnknownCall)?;
        match &c.remote_offer {
            Some(offer) => {
                let (answer, neg) = sdp::answer_offer(offer, &audio, session_id, 1)?;
                c.local_sdp = Some(answer);
                c.negotiated = Some(neg.clone());
                c.local_audio = Some(audio);
                Ok(Some(neg))
            }
            None => {
                c.local_sdp = Some(sdp::create_offer(&audio, session_id, 1));
                c.local_audio = Some(audio);
                Ok(None)
            }
        }
    }

    fn attach_local_sdp(&self, call: CallHandle, resp: &mut Response) {
        if let Some(sd) = self.calls.get(&call).and_then(|c| c.local_sdp.as_ref()) {
            resp.headers.push("Content-Type", "application/sdp");
            resp.body = sd.to_bytes();
        }
    }

    /// RFC 4028 §9: decide the interval and refresher for the 2xx.
    fn add_session_timer_to_answer(
        &mut self,
        _now: Instant,
        call: CallHandle,
        resp: &mut Response,
    ) {
        let cfg_se = self
            .cfg
            .session_expires
            .max(self.cfg.min_se)
            .max(MIN_SE_FLOOR);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some((asked, refresher, uac_supports)) = c.session_request.clone() else {
            return;
        };
        let interval = if asked == 0 {
            cfg_se
        } else {
            asked.min(cfg_se)
        };
        // Prefer the caller to refresh; honour an explicit choice.
        let we_refresh = match refresher.as_deref() {
            Some("uas") => true,
            Some(_) => false,
            None => !uac_supports,
        };
        let r = if we_refresh { "uas" } else { "uac" };
        resp.headers
            .push("Session-Expires", format!("{interval};refresher={r}"));
        if uac_supports {
            resp.headers.push("Require", "timer");
        }
        c.session_timer = Some(SessionTimer {
            interval,
            we_refresh,
            refresh_at: None,
            expire_at: None,
        });
    }

    fn refresh_session_timer(
        &mut self,
        now: Instant,
        call: CallHandle,
        se: Option<u32>,
        refresher: Option<&str>,
        resp: &mut Response,
    ) {
        let Some(st) = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.session_timer.as_mut())
        else {
            return;
        };
        if let Some(se) = se {
            st.interval = se.max(MIN_SE_FLOOR);
        }
        // The peer's request may hand the refresher role over (RFC 4028 §9):
        // `uac` is the peer itself, `uas` is us.
        match refresher {
            Some("uac") => st.we_refresh = false,
            Some("uas") => st.we_refresh = true,
            _ => {}
        }
        let r = if st.we_refresh { "uas" } else { "uac" };
        resp.headers
            .push("Session-Expires", format!("{};refresher={r}", st.interval));
        self.start_session_timer(now, call);
    }

    fn respond_invite(&mut self, now: Instant, call: CallHandle, resp: &Response) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let key = c.invite_tx.clone();
        let Some((tx, owner)) = self.server_txs.get_mut(&key) else {
            return;
        };
        let owner = *owner;
        let (peer, tp) = (tx.peer, tx.transport);
        let actions = tx.respond(now, resp);
        self.server_actions(now, owner, peer, tp, actions);
        self.sync_server_tx(&key);
    }

    fn send_cancel(&mut self, now: Instant, call: CallHandle) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.cancel_sent = true;
        // §9.1: same Request-URI, Call-ID, From, To, CSeq number and top Via as the INVITE.
        let inv = &c.invite;
        let mut req = Request {
            method: Method::Cancel,
            uri: inv.uri.clone(),
            headers: Headers::new(),
            body: Vec::new(),
        };
        if let Some(v) = inv.headers.get_all("Via").first() {
            req.headers.push("Via", *v);
        }
        for r in inv.headers.get_all("Route") {
            req.headers.push("Route", r);
        }
        req.headers.push("Max-Forwards", "70");
        for h in ["From", "To", "Call-ID"] {
            if let Some(v) = inv.headers.get(h) {
                req.headers.push(h, v);
            }
        }
        let seq = inv.cseq().map_or(1, |s| s.seq);
        req.headers.push(
            "CSeq",
            CSeq {
                seq,
                method: Method::Cancel,
            }
            .to_string(),
        );
        let (peer, tp) = (c.peer, c.transport);
        self.start_client(now, req, peer, tp, Owner::Cancel);
    }

    fn send_bye(&mut self, now: Instant, call: CallHandle) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.dialog.local_seq += 1;
        let d = c.dialog.clone();
        let (peer, tp) = (c.peer, c.transport);
        let req = self.dialog_request(&d, Method::Bye, tp);
        self.start_client(now, req, peer, tp, Owner::CallRequest(call));
    }

    fn send_register(
        &mut self,
        now: Instant,
        h: RegistrationHandle,
        challenge: Option<(u16, Challenge)>,
    ) {
        let cnonce = format!("{:016x}", self.random());
        let via = {
            let tp = self
                .registrations
                .get(&h)
                .map_or(Transport::Udp, |r| r.params.transport);
            self.new_via(tp)
        };
        let ua = self.cfg.user_agent.clone();
        let Some(tp) = self.registrations.get(&h).map(|r| r.params.transport) else {
            return;
        };
        let contact = self.contact_uri(tp);
        let Some(reg) = self.registrations.get_mut(&h) else {
            return;
        };
        reg.cseq += 1;
        let p = &reg.params;
        let mut req = Request {
            method: Method::Register,
            uri: p.registrar_uri.clone(),
            headers: Headers::new(),
            body: Vec::new(),
        };
        req.headers.push("Via", via);
        req.headers.push("Max-Forwards", "70");
        req.headers
            .push("From", format!("<{}>;tag={}", p.aor, reg.from_tag));
        req.headers.push("To", format!("<{}>", p.aor));
        req.headers.push("Call-ID", reg.call_id.clone());
        req.headers.push(
            "CSeq",
            CSeq {
                seq: reg.cseq,
                method: Method::Register,
            }
            .to_string(),
        );
        req.headers.push("Contact", format!("<{contact}>"));
        req.headers.push("Expires", reg.expires.to_string());
        req.headers.push("User-Agent", ua);
        if let (Some((status, ch)), Some((user, pass))) = (challenge, &p.credentials) {
            let creds = ch.authorize(user, pass, "REGISTER", &p.registrar_uri, &cnonce, 1);
            let name = if status == 401 {
                "Authorization"
            } else {
                "Proxy-Authorization"
            };
            req.headers.push(name, creds.to_header());
        }
        let (peer, tp) = (p.registrar, p.transport);
        let key = Self::key_for(&req, false);
        reg.tx = Some(key);
        self.start_client(now, req, peer, tp, Owner::Registration(h));
        self.sync_registration_timer(h);
    }

    fn remove_call(&mut self, call: CallHandle) {
        if let Some(c) = self.calls.remove(&call) {
            self.dialogs.remove(&(c.dialog.call_id, c.dialog.local_tag));
        }
        self.timers.set(&TimerKey::Call(call), None);
    }

    // ----- timer queue bookkeeping: call after any change to an owner's deadline --

    /// Re-arms a client transaction's timer, or drops the transaction once terminated.
    fn sync_client_tx(&mut self, key: &TxKey) {
        let deadline = match self.client_txs.get(key) {
            Some((tx, _)) if tx.is_terminated() => {
                self.client_txs.remove(key);
                None
            }
            Some((tx, _)) => tx.deadline(),
            None => None,
        };
        self.timers.set(&TimerKey::Tx(key.clone()), deadline);
    }

    /// Re-arms a server transaction's timer, or drops the transaction once terminated.
    fn sync_server_tx(&mut self, key: &TxKey) {
        let deadline = match self.server_txs.get(key) {
            Some((tx, _)) if tx.is_terminated() => {
                self.server_txs.remove(key);
                None
            }
            Some((tx, _)) => tx.deadline(),
            None => None,
        };
        self.timers.set(&TimerKey::Tx(key.clone()), deadline);
    }

    fn sync_call_timer(&mut self, call: CallHandle) {
        let deadline = self.calls.get(&call).and_then(|c| c.deadline());
        self.timers.set(&TimerKey::Call(call), deadline);
    }

    fn sync_registration_timer(&mut self, h: RegistrationHandle) {
        let deadline = self.registrations.get(&h).and_then(Registration::deadline);
        self.timers.set(&TimerKey::Registration(h), deadline);
    }

    /// Test check: the queue holds exactly each owner's own deadline, and no
    /// terminated transaction is kept.
    #[cfg(test)]
    fn assert_timers_consistent(&self) {
        let mut armed = 0;
        let mut check = |key: TimerKey, deadline: Option<Instant>| {
            assert_eq!(self.timers.deadline(&key), deadline, "{key:?}");
            armed += usize::from(deadline.is_some());
        };
        for (k, (tx, _)) in &self.client_txs {
            assert!(!tx.is_terminated(), "terminated {k:?} kept");
            check(TimerKey::Tx(k.clone()), tx.deadline());
        }
        for (k, (tx, _)) in &self.server_txs {
            assert!(!tx.is_terminated(), "terminated {k:?} kept");
            check(TimerKey::Tx(k.clone()), tx.deadline());
        }
        for (h, c) in &self.calls {
            check(TimerKey::Call(*h), c.deadline());
        }
        for (h, r) in &self.registrations {
            check(TimerKey::Registration(*h), r.deadline());
        }
        let registrar = usize::from(self.timers.deadline(&TimerKey::Registrar).is_some());
        assert_eq!(self.timers.len(), armed + registrar, "no orphan timers");
    }

    /// The registrar's next binding expiry, or the sweep of the nonces of the
    /// latest REGISTER (they live at most 2·`nonce_lifetime`).
    fn sync_registrar_timer(&mut self, now: Instant) {
        let Some(reg) = &self.registrar else {
            return;
        };
        let sweep = self
            .registrar_used_at
            .zip(self.cfg.registrar.as_ref())
            .map(|(at, c)| at + c.nonce_lifetime * 2)
            .filter(|at| *at > now);
        let deadline = [reg.deadline(), sweep].into_iter().flatten().min();
        self.timers.set(&TimerKey::Registrar, deadline);
    }

    fn registrar_due(&mut self, now: Instant) {
        if let Some(reg) = &mut self.registrar {
            for (aor, contact) in reg.expire(now) {
                self.queue
                    .push_back(Output::Event(Event::BindingExpired { aor, contact }));
            }
        }
        self.sync_registrar_timer(now);
    }
}

/// The `refresher` parameter of a `Session-Expires` value, lower case.
fn refresher_param(value: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("refresher")
            .then(|| v.trim().to_ascii_lowercase())
    })
}

fn allows_update(headers: &Headers) -> bool {
    headers
        .get_all("Allow")
        .into_iter()
        .any(|m| m.eq_ignore_ascii_case("UPDATE"))
}

fn supports_timer(req: &Request) -> bool {
    req.headers
        .get_all("Supported")
        .into_iter()
        .chain(req.headers.get_all("Require"))
        .any(|s| s.eq_ignore_ascii_case("timer"))
}

/// Two descriptions are the same session if everything but the version matches.
fn same_session(a: &SessionDescription, b: &SessionDescription) -> bool {
    let mut b2 = b.clone();
    b2.session_version = a.session_version;
    b2.session_id = a.session_id;
    *a == b2
}

/// `Signal=5` in an `application/dtmf-relay` INFO body.
fn dtmf_relay_digit(req: &Request) -> Option<char> {
    let ct = req.headers.get("Content-Type")?;
    if !ct.trim().eq_ignore_ascii_case("application/dtmf-relay") {
        return None;
    }
    let body = std::str::from_utf8(&req.body).ok()?;
    body.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("Signal") {
            return None;
        }
        let v = v.trim();
        let mut chars = v.chars();
        let c = chars.next()?.to_ascii_uppercase();
        if chars.next().is_some() {
            return match v {
                "10" => Some('*'),
                "11" => Some('#'),
                _ => None,
            };
        }
        matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUNK: &str = "192.0.2.20:5060";
    const OFFER: &str = "v=0\r\no=t 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n\
                         m=audio 40000 RTP/AVP 0\r\n";

    fn audio() -> AudioConfig {
        AudioConfig {
            rtp_address: "198.51.100.10:30000".parse().expect("literal"),
            codecs: vec![sdp::Codec::Pcmu],
            telephone_event: false,
            ptime: Some(20),
            direction: sdp::Direction::SendRecv,
        }
    }

    fn request(
        method: &str,
        branch: &str,
        call_id: &str,
        to_tag: &str,
        cseq: u32,
        extra: &str,
    ) -> Vec<u8> {
        let (ct, body) = if method == "INVITE" {
            ("Content-Type: application/sdp\r\n", OFFER)
        } else {
            ("", "")
        };
        let to_tag = if to_tag.is_empty() {
            String::new()
        } else {
            format!(";tag={to_tag}")
        };
        format!(
            "{method} sip:+81312345678@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch={branch}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+819011112222@192.0.2.20>;tag=t{call_id}\r\n\
             To: <sip:+81312345678@198.51.100.10>{to_tag}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
             Contact: <sip:c@{TRUNK}>\r\n{extra}{ct}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// A mixed inbound workload on a virtual clock (answered, ACKed, unACKed,
    /// rejected and hung-up calls, session timers, OPTIONS), checking after
    /// every step that the queue holds exactly every owner's deadline.
    #[test]
    fn timer_queue_tracks_every_owner_through_a_mixed_workload() {
        let t0 = Instant::now();
        let mut cfg = Config::new("198.51.100.10:5060".parse().expect("literal"), 3);
        cfg.invite_rate = RateLimitConfig {
            burst: 10_000,
            per_second: 10_000.0,
            ..RateLimitConfig::default()
        };
        let mut ep = Endpoint::new(cfg, t0);
        let from: SocketAddr = TRUNK.parse().expect("literal");
        let mut now = t0;
        let mut tags: HashMap<String, String> = HashMap::new();
        let feed = |ep: &mut Endpoint, now: Instant, bytes: &[u8]| {
            ep.handle_input(
                now,
                Input::Datagram {
                    from,
                    to: from,
                    transport: Transport::Udp,
                    bytes,
                },
            );
        };
        for step in 0..3000u32 {
            now += Duration::from_millis(20);
            let id = format!("c{}", step / 10);
            match step % 10 {
                0 => {
                    let extra = if step % 20 == 0 {
                        "Session-Expires: 90;refresher=uac\r\nSupported: timer\r\n"
                    } else {
                        ""
                    };
                    feed(
                        &mut ep,
                        now,
                        &request("INVITE", &format!("z9hG4bKi{id}"), &id, "", 1, extra),
                    );
                }
                3 if step % 30 == 3 => {
                    feed(
                        &mut ep,
                        now,
                        &request("OPTIONS", &format!("z9hG4bKo{id}"), &id, "", 1, ""),
                    );
                }
                5 if step % 40 != 5 => {
                    if let Some(tag) = tags.get(&id) {
                        feed(
                            &mut ep,
                            now,
                            &request("ACK", &format!("z9hG4bKa{id}"), &id, tag, 1, ""),
                        );
                    }
                }
                7 if step % 70 == 7 => {
                    // A retransmitted INVITE: absorbed, or the last response re-sent.
                    feed(
                        &mut ep,
                        now,
                        &request("INVITE", &format!("z9hG4bKi{id}"), &id, "", 1, ""),
                    );
                }
                9 if step % 50 == 9 => {
                    if let Some(tag) = tags.get(&id) {
                        feed(
                            &mut ep,
                            now,
                            &request("BYE", &format!("z9hG4bKb{id}"), &id, tag, 2, ""),
                        );
                    }
                }
                _ => {}
            }
            ep.assert_timers_consistent();
            while let Some(at) = ep.poll_timeout().filter(|at| *at <= now) {
                ep.handle_timeout(at.max(now));
                ep.assert_timers_consistent();
            }
            loop {
                match ep.poll_output() {
                    Output::Event(Event::IncomingCall { call, .. }) => {
                        let n = call.0;
                        if n % 7 == 0 {
                            ep.reject(now, call, 486).expect("early call");
                        } else {
                            ep.answer(now, call, audio()).expect("codec matches");
                        }
                        let tag = ep.calls.get(&call).map(|c| c.dialog.local_tag.clone());
                        if let Some(tag) = tag {
                            tags.insert(id.clone(), tag);
                        }
                    }
                    Output::Timeout(_) => break,
                    _ => {}
                }
                ep.assert_timers_consistent();
            }
        }
        // Let everything run out: the session timers end the ACKed calls
        // that are left and every transaction lingers out.
        for _ in 0..10_000 {
            let Some(at) = ep.poll_timeout() else { break };
            ep.handle_timeout(at);
            while !matches!(ep.poll_output(), Output::Timeout(_)) {}
            ep.assert_timers_consistent();
        }
        assert!(ep.client_txs.is_empty() && ep.server_txs.is_empty());
        assert_eq!(ep.timers.len(), 0);
    }
}

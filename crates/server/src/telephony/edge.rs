//! The SIP edge task: drives the Sans-IO endpoint from the sockets and the clock, and is
//! the application side of every call (routing, ringing, the echo test, timers).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use denwa_api::telephony::{Telephony, TestCallResult, TrunkDial};
use denwa_core::trunk::TrunkTransport;
use denwa_media::{LegConfig, LegMode, Role};
use denwa_sip::auth::{Algorithm, Challenge};
use denwa_sip::rate_limit::RateLimitConfig;
use denwa_sip::registrar::{Binding, RegistrarConfig};
use denwa_sip::sdp::{AudioConfig, Codec as SipCodec, Direction, NegotiatedAudio};
use denwa_sip::{
    CallHandle, Config, Endpoint, Error as SipError, Event, Input, InviteParams, Output,
    RegisterParams, RegistrationHandle, Transport,
};
use denwa_store::Store;
use tokio::sync::{mpsc, oneshot, watch};

use super::TelephonyConfig;
use super::calls::{CallReports, FromEdge, ToEdge};
use super::media::{
    CallCommand, LegKey, MediaMetrics, MediaNotice, MediaRuntime, PortPool, RtpPair, StartLeg,
    StartMedia, randomise,
};
use super::routing::{REALM, Route, Router};
use super::transport::{Received, SipIo};

mod inbound;
mod placed;

pub(crate) use inbound::Inbound;

/// Most messages fed to the endpoint before its output is drained.
const INPUT_BATCH: usize = 64;

/// Every staff SIP account (username → password) of every channel's members, for the
/// registrar. Read once at start.
pub(crate) async fn load_sip_accounts(
    store: &dyn Store,
) -> anyhow::Result<HashMap<String, String>> {
    let mut users = HashMap::new();
    for channel in store.channels().await? {
        for member in store.members(channel.id).await? {
            if let Some(account) = store.sip_account_of(member.staff.id).await? {
                users.insert(account.username, account.password);
            }
        }
    }
    Ok(users)
}

/// A carrier registration to keep alive (a trunk with `register`).
#[derive(Debug, Clone)]
pub(crate) struct TrunkRegistration {
    trunk: String,
    params: RegisterParams,
}

impl TrunkRegistration {
    /// Whether both ask the same registration of the same carrier.
    fn same(&self, o: &TrunkRegistration) -> bool {
        let (a, b) = (&self.params, &o.params);
        self.trunk == o.trunk
            && a.aor == b.aor
            && a.registrar == b.registrar
            && a.registrar_uri == b.registrar_uri
            && a.transport == b.transport
            && a.expires == b.expires
            && a.credentials == b.credentials
    }
}

/// Staff SIP accounts and trunk registrations, read again after a change.
#[derive(Clone)]
pub(crate) struct Reload {
    pub(crate) users: HashMap<String, String>,
    pub(crate) trunks: Vec<TrunkRegistration>,
}

/// Keeps the edge's SIP accounts and trunk registrations in step with the store: reads
/// them when the API reports a change of trunks or SIP accounts, and every 30 s for
/// changes made with `denwa admin` (another process); sends what changed.
pub(crate) async fn watch_config(
    store: Arc<dyn Store>,
    mut events: tokio::sync::broadcast::Receiver<Arc<denwa_core::Event>>,
    reloads: mpsc::UnboundedSender<Reload>,
    mut last: Reload,
) {
    use denwa_core::event::EventKind;
    use tokio::sync::broadcast::error::RecvError;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
    tick.tick().await;
    let mut bus_open = true;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            e = events.recv(), if bus_open => match e {
                Ok(e) if matches!(
                    e.kind,
                    EventKind::SipAccountChanged
                        | EventKind::TrunkCreated
                        | EventKind::TrunkUpdated
                        | EventKind::TrunkDeleted
                ) => {}
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => {
                    bus_open = false;
                    continue;
                }
            },
            () = reloads.closed() => return,
        }
        let users = match load_sip_accounts(store.as_ref()).await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "reading SIP accounts failed; keeping the old ones");
                continue;
            }
        };
        let trunks = match trunk_registrations(store.as_ref()).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "reading trunks failed; keeping the old ones");
                continue;
            }
        };
        let same_trunks = trunks.len() == last.trunks.len()
            && trunks.iter().all(|t| last.trunks.iter().any(|o| o.same(t)));
        if users == last.users && same_trunks {
            continue;
        }
        last = Reload {
            users: users.clone(),
            trunks: trunks.clone(),
        };
        if reloads.send(Reload { users, trunks }).is_err() {
            return;
        }
    }
}

/// Default registration interval asked of carriers (RFC 3261 §10.2.1.1 suggests 3600 s).
const TRUNK_EXPIRES: u32 = 3600;

/// The registrations of every trunk with `register` and an outbound proxy. The proxy
/// host is resolved here, once at start.
pub(crate) async fn trunk_registrations(
    store: &dyn Store,
) -> anyhow::Result<Vec<TrunkRegistration>> {
    let mut out = Vec::new();
    for (trunk, secrets) in store.trunk_routes().await? {
        let Some(proxy) = trunk.outbound_proxy.as_deref().filter(|_| trunk.register) else {
            continue;
        };
        let (host, target) = match resolve_proxy(proxy).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(trunk = %trunk.name, %proxy, error = %e, "cannot resolve the trunk's proxy; not registering");
                continue;
            }
        };
        let user = trunk
            .outbound_username
            .clone()
            .unwrap_or_else(|| "denwa".to_owned());
        let credentials = secrets
            .outbound_password
            .map(|password| (user.clone(), password));
        out.push(TrunkRegistration {
            trunk: trunk.name.clone(),
            params: RegisterParams {
                aor: format!("sip:{user}@{host}"),
                registrar: target,
                registrar_uri: format!("sip:{host}"),
                transport: match trunk.transport {
                    TrunkTransport::Udp => Transport::Udp,
                    TrunkTransport::Tcp => Transport::Tcp,
                },
                expires: TRUNK_EXPIRES,
                credentials,
            },
        });
    }
    Ok(out)
}

/// `host[:port]` (checked by `denwa_core::trunk::check_proxy`) → (host, address).
async fn resolve_proxy(proxy: &str) -> anyhow::Result<(String, SocketAddr)> {
    let proxy = proxy.trim();
    let (host, port) = if let Some(rest) = proxy.strip_prefix('[') {
        let (h, after) = rest.split_once(']').context("unclosed [")?;
        (h.to_owned(), after.strip_prefix(':'))
    } else {
        match proxy.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_owned(), Some(p)),
            _ => (proxy.to_owned(), None),
        }
    };
    let port: u16 = port.map_or(Ok(5060), str::parse)?;
    let addr = tokio::net::lookup_host((host.as_str(), port))
        .await?
        .next()
        .context("no address")?;
    let shown = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok((shown, addr))
}

/// The application's side of one SIP dialog: an inbound call, or our INVITE to a staff
/// softphone on behalf of one.
enum CallState {
    /// Waiting for the routing decision (a store lookup).
    Routing,
    /// A call to a channel number, run by the call service (180 sent; staff rung; then
    /// answered into a room that staff legs join and leave).
    Inbound(Box<Inbound>),
    /// The echo test: answered; the server hangs up at `until`. `pending` holds the
    /// RTP sockets of a call whose SDP answer comes with the ACK (late offer).
    Echo {
        until: Instant,
        pending: Option<RtpPair>,
    },
    /// Our INVITE to staff member `staff`'s softphone for the inbound call `parent`;
    /// `pair` is the RTP socket pair our offer names.
    Fork {
        parent: CallHandle,
        staff: i64,
        pair: Option<RtpPair>,
    },
    /// The softphone answered; `leg` waits for the call service to connect it (then it
    /// is in `parent`'s room).
    StaffPhone {
        parent: CallHandle,
        staff: i64,
        leg: Option<StartLeg>,
    },
    /// A call to a channel number that is not answered: its announcement plays as early
    /// media (183), then the caller gets `status` — when the media reports the prompt's
    /// end, or at `until` at the latest.
    Announcing { status: u16, until: Instant },
    /// A trunk test call we placed (API): CANCEL at `until` unless answered; the answer
    /// connects the callee to the echo test.
    Outbound {
        until: Instant,
        pair: Option<RtpPair>,
        reply: Option<oneshot::Sender<TestCallResult>>,
    },
}

/// What the API asks of the edge.
pub(crate) enum EdgeCommand {
    /// Place a trunk test call; `reply` gets the outcome.
    TestCall {
        params: DialParams,
        reply: oneshot::Sender<TestCallResult>,
    },
}

/// An INVITE through a trunk, resolved (everything but our audio, which the edge picks).
pub(crate) struct DialParams {
    pub(crate) to_uri: String,
    pub(crate) from_uri: String,
    pub(crate) target: SocketAddr,
    pub(crate) transport: Transport,
    pub(crate) credentials: Option<(String, String)>,
}

impl std::fmt::Debug for DialParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("DialParams")
            .field("to_uri", &self.to_uri)
            .field("from_uri", &self.from_uri)
            .field("target", &self.target)
            .field("transport", &self.transport)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl DialParams {
    /// Resolves the trunk's proxy: `sip:<number>@<proxy>;user=phone` for the callee and
    /// the caller ID.
    pub(crate) async fn resolve(call: TrunkDial) -> Result<DialParams, String> {
        let (host, target) = resolve_proxy(&call.proxy)
            .await
            .map_err(|e| format!("cannot resolve the trunk's proxy {}: {e}", call.proxy))?;
        Ok(DialParams {
            to_uri: format!("sip:{}@{host};user=phone", call.to),
            from_uri: format!("sip:{}@{host};user=phone", call.caller_id),
            target,
            transport: match call.transport {
                TrunkTransport::Udp => Transport::Udp,
                TrunkTransport::Tcp => Transport::Tcp,
            },
            credentials: call.credentials,
        })
    }
}

/// The API's handle on the edge.
pub(crate) struct EdgeHandle {
    pub(crate) commands: mpsc::UnboundedSender<EdgeCommand>,
    /// How long a test call may ring (the edge's ring timeout) before it is given up.
    pub(crate) ring_timeout: std::time::Duration,
}

#[async_trait::async_trait]
impl Telephony for EdgeHandle {
    async fn test_call(&self, call: TrunkDial) -> Result<TestCallResult, String> {
        let params = DialParams::resolve(call).await?;
        let (reply, outcome) = oneshot::channel();
        self.commands
            .send(EdgeCommand::TestCall { params, reply })
            .map_err(|_| "the SIP edge has stopped".to_owned())?;
        // The edge answers by the ring timeout; the margin covers a slow final response.
        match tokio::time::timeout(
            self.ring_timeout + std::time::Duration::from_secs(40),
            outcome,
        )
        .await
        {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(_)) => Err("the SIP edge stopped during the call".to_owned()),
            Err(_) => Err("no final answer from the carrier".to_owned()),
        }
    }
}

struct AppCall {
    state: CallState,
    source: SocketAddr,
    /// The caller (`From`) of an inbound call: shown on the softphones it rings.
    from: Option<denwa_sip::headers::NameAddr>,
    /// The INVITE carried an SDP offer (early media can answer it; RFC 3261 §13.2.1).
    offer: bool,
}

enum Wake {
    Stop,
    Command(EdgeCommand),
    Call(ToEdge),
    Reload(Reload),
    Net(Received),
    Routed(CallHandle, Route),
    Media(MediaNotice),
    Timer,
}

/// The edge: one endpoint, its sockets, the calls, the media runtime.
pub(crate) struct Edge {
    cfg: TelephonyConfig,
    ep: Endpoint,
    io: SipIo,
    router: Arc<Router>,
    calls: HashMap<CallHandle, AppCall>,
    ports: PortPool,
    media: MediaRuntime,
    notices: mpsc::UnboundedReceiver<MediaNotice>,
    routes_tx: mpsc::UnboundedSender<(CallHandle, Route)>,
    routes_rx: mpsc::UnboundedReceiver<(CallHandle, Route)>,
    registrations: HashMap<RegistrationHandle, TrunkRegistration>,
    reloads: mpsc::UnboundedReceiver<Reload>,
    /// The registrar's current bindings by AOR (`sip:user@host`), from its events.
    bindings: HashMap<String, Vec<Binding>>,
    /// Call deadlines (ring timeout, echo limit) by time; stale entries are skipped.
    deadlines: BinaryHeap<Reverse<(Instant, CallHandle)>>,
    commands: mpsc::UnboundedReceiver<EdgeCommand>,
    /// The call service: what happened to calls it runs.
    reports: CallReports,
    /// The call service's commands.
    to_edge: mpsc::UnboundedReceiver<ToEdge>,
    /// SIP usernames with a live registration (read by the call service for ringing).
    registered: Arc<std::sync::RwLock<std::collections::BTreeSet<String>>>,
}

/// The local address the kernel would use to reach `peer` (a UDP `connect` sends nothing).
fn local_ip_towards(peer: SocketAddr) -> Option<IpAddr> {
    let any: IpAddr = if peer.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    let s = std::net::UdpSocket::bind((any, 0)).ok()?;
    s.connect(peer).ok()?;
    Some(s.local_addr().ok()?.ip())
}

impl Edge {
    #[allow(clippy::too_many_arguments)] // the edge's wiring, each a distinct channel
    pub(crate) fn new(
        cfg: TelephonyConfig,
        io: SipIo,
        store: Arc<dyn Store>,
        initial: Reload,
        media_metrics: MediaMetrics,
        commands: mpsc::UnboundedReceiver<EdgeCommand>,
        reloads: mpsc::UnboundedReceiver<Reload>,
        calls: (CallReports, mpsc::UnboundedReceiver<ToEdge>),
        registered: Arc<std::sync::RwLock<std::collections::BTreeSet<String>>>,
    ) -> anyhow::Result<Edge> {
        let Reload { users, trunks } = initial;
        let bound = io.local_addr();
        let advertised = match (cfg.public_ip, bound.ip()) {
            (Some(ip), _) => ip,
            (None, ip) if !ip.is_unspecified() => ip,
            (None, _) => {
                tracing::warn!(
                    "SIP listens on all addresses without --sip-public-ip: Via and Contact say \
                     127.0.0.1, which only local peers can use"
                );
                Ipv4Addr::LOCALHOST.into()
            }
        };
        let mut sip = Config::new(SocketAddr::new(advertised, bound.port()), rand::random());
        sip.user_agent = format!("Denwa/{}", env!("CARGO_PKG_VERSION"));
        sip.invite_rate = RateLimitConfig {
            burst: (cfg.invite_rate * 4.0).ceil().max(1.0) as u32,
            per_second: cfg.invite_rate,
            ..RateLimitConfig::default()
        };
        sip.max_server_transactions = cfg.max_transactions;
        let accounts = users.len();
        let mut registrar = RegistrarConfig::new(REALM);
        registrar.users = users;
        if cfg.digest_md5_only {
            registrar.algorithm = Algorithm::Md5;
        }
        sip.registrar = Some(registrar);
        let now = Instant::now();
        let mut ep = Endpoint::new(sip, now);
        let mut registrations = HashMap::new();
        for t in trunks {
            tracing::info!(trunk = %t.trunk, aor = %t.params.aor, registrar = %t.params.registrar, "registering with the carrier");
            let h = ep.register(now, t.params.clone());
            registrations.insert(h, t);
        }
        let ports = PortPool::new(bound.ip(), cfg.rtp_ports);
        let threads = cfg.media_threads;
        let (notice_tx, notices) = mpsc::unbounded_channel();
        let media = MediaRuntime::start(threads, notice_tx, media_metrics)?;
        let (routes_tx, routes_rx) = mpsc::unbounded_channel();
        tracing::info!(
            sip = %bound,
            advertised = %advertised,
            rtp_ports = %format!("{}-{}", cfg.rtp_ports.0, cfg.rtp_ports.1),
            media_threads = threads,
            sip_accounts = accounts,
            "SIP edge listening on UDP and TCP"
        );
        Ok(Edge {
            cfg,
            ep,
            io,
            router: Arc::new(Router::new(store)),
            calls: HashMap::new(),
            ports,
            media,
            notices,
            routes_tx,
            routes_rx,
            registrations,
            reloads,
            bindings: HashMap::new(),
            deadlines: BinaryHeap::new(),
            commands,
            reports: calls.0,
            to_edge: calls.1,
            registered,
        })
    }

    /// Runs until `stop` turns true (or its sender is dropped), then ends every call.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let local = self.io.local_addr();
        loop {
            let ep_at = self.drain().await;
            let at = self.next_deadline().map_or(ep_at, |a| a.min(ep_at));
            let wake = tokio::select! {
                r = stop.changed() => if r.is_err() || *stop.borrow() { Wake::Stop } else { continue },
                m = self.io.recv() => Wake::Net(m),
                Some((call, r)) = self.routes_rx.recv() => Wake::Routed(call, r),
                Some(n) = self.notices.recv() => Wake::Media(n),
                Some(c) = self.commands.recv() => Wake::Command(c),
                Some(c) = self.to_edge.recv() => Wake::Call(c),
                Some(r) = self.reloads.recv() => Wake::Reload(r),
                _ = tokio::time::sleep_until(at.into()) => Wake::Timer,
            };
            let now = Instant::now();
            match wake {
                Wake::Stop => break,
                Wake::Net(first) => {
                    let mut next = Some(first);
                    let mut fed = 0;
                    while let Some(m) = next {
                        self.ep.handle_input(
                            now,
                            Input::Datagram {
                                from: m.from,
                                to: local,
                                transport: m.transport,
                                bytes: &m.bytes,
                            },
                        );
                        fed += 1;
                        next = if fed < INPUT_BATCH {
                            self.io.try_recv()
                        } else {
                            None
                        };
                    }
                }
                Wake::Routed(call, r) => self.on_route(now, call, r),
                Wake::Media(n) => self.on_media(now, n),
                Wake::Reload(r) => self.reload(now, r),
                Wake::Command(EdgeCommand::TestCall { params, reply }) => {
                    self.place_test_call(now, params, reply);
                }
                Wake::Call(c) => self.on_call_command(now, c),
                Wake::Timer => {
                    self.ep.handle_timeout(now);
                    self.app_timers(now);
                }
            }
        }
        self.end_all(Instant::now());
        self.drain().await;
        let media = self.media;
        let _ = tokio::task::spawn_blocking(move || media.shutdown()).await;
        tracing::info!("SIP edge stopped");
    }

    /// Sends what the endpoint queued and handles its events; returns its next deadline.
    async fn drain(&mut self) -> Instant {
        loop {
            match self.ep.poll_output() {
                Output::Transmit(t) => self.io.send(t.to, t.transport, t.bytes).await,
                Output::Event(e) => self.on_event(e),
                Output::Timeout(at) => return at,
            }
        }
    }

    /// The deadline a call's state has (ring timeout, echo limit), if any.
    fn deadline_of(&self, call: CallHandle) -> Option<Instant> {
        match &self.calls.get(&call)?.state {
            CallState::Echo { until, .. }
            | CallState::Outbound { until, .. }
            | CallState::Announcing { until, .. } => Some(*until),
            _ => None,
        }
    }

    /// Remembers that `call` has a deadline at `until` (its state says so).
    fn arm(&mut self, call: CallHandle, until: Instant) {
        self.deadlines.push(Reverse((until, call)));
    }

    /// The earliest call deadline. Entries whose call is gone or moved on are dropped
    /// here, so a wake-up costs O(log n), not a scan of every call.
    fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, call))) = self.deadlines.peek() {
            if self.deadline_of(call) == Some(at) {
                return Some(at);
            }
            self.deadlines.pop();
        }
        None
    }

    fn on_event(&mut self, e: Event) {
        let now = Instant::now();
        match e {
            Event::IncomingCall {
                call,
                from,
                request_uri,
                source,
                headers,
                offer,
                ..
            } => {
                tracing::info!(call = call.0, %source, from = %from.uri, to = %request_uri, "incoming call");
                self.calls.insert(
                    call,
                    AppCall {
                        state: CallState::Routing,
                        source,
                        from: Some(from),
                        offer: offer.is_some(),
                    },
                );
                let router = self.router.clone();
                let tx = self.routes_tx.clone();
                let auth = headers
                    .get("Proxy-Authorization")
                    .or_else(|| headers.get("Authorization"))
                    .map(str::to_owned);
                tokio::spawn(async move {
                    let r = router
                        .route(source.ip(), &request_uri, auth.as_deref())
                        .await;
                    let _ = tx.send((call, r));
                });
            }
            Event::CallCancelled { call } => {
                tracing::info!(call = call.0, "caller cancelled (487)");
                self.caller_gone(now, call, "the caller cancelled");
            }
            Event::CallConfirmed { call, audio } => self.on_confirmed(now, call, audio),
            Event::CallProgress {
                call,
                status,
                early_media,
            } => {
                if self.is_placed(call) {
                    self.on_dial_progress(call, status, early_media.as_ref());
                } else {
                    tracing::debug!(call = call.0, status, "softphone progress");
                }
            }
            Event::CallAnswered { call, audio } => {
                if self.is_test_call(call) {
                    self.on_test_call_answered(now, call, &audio);
                } else if self.is_placed(call) {
                    self.on_dial_answered(now, call, &audio);
                } else {
                    self.on_fork_answered(now, call, &audio);
                }
            }
            Event::CallFailed { call, status } => {
                if self.is_test_call(call) {
                    tracing::info!(call = call.0, status, "test call failed");
                    self.finish_test_call(call, "failed", status);
                    self.calls.remove(&call);
                } else if self.is_placed(call) {
                    self.on_dial_failed(call, status);
                } else {
                    self.on_fork_failed(now, call, status);
                }
            }
            Event::CallEnded { call, reason } => {
                tracing::info!(call = call.0, ?reason, "call ended");
                self.end_call(now, call, "the other side hung up");
            }
            Event::Dtmf { call, digit } if self.is_inbound(call) => {
                tracing::info!(call = call.0, digit = %digit, via = "info", "dtmf");
            }
            Event::SessionModified { call, audio } => {
                tracing::info!(
                    call = call.0,
                    hold = audio.remote_hold,
                    "session modified by the far end"
                );
                self.on_session_modified(call, &audio);
            }
            Event::Dtmf { call, digit } => {
                tracing::info!(call = call.0, digit = %digit, via = "info", "dtmf");
            }
            Event::BindingsChanged { aor, bindings } => {
                tracing::info!(%aor, contacts = bindings.len(), "SIP registration");
                if bindings.is_empty() {
                    self.bindings.remove(&aor);
                } else {
                    self.bindings.insert(aor, bindings);
                }
                self.publish_registered(now);
            }
            Event::BindingExpired { aor, contact } => {
                tracing::info!(%aor, %contact, "SIP registration expired");
                if let Some(list) = self.bindings.get_mut(&aor) {
                    list.retain(|b| b.contact != contact);
                    if list.is_empty() {
                        self.bindings.remove(&aor);
                    }
                }
                self.publish_registered(now);
            }
            Event::InviteRateLimited {
                source,
                retry_after_s,
            } => {
                tracing::warn!(%source, retry_after_s, "INVITE rate limit: 503");
            }
            Event::Registered {
                registration,
                expires,
            } => {
                let trunk = self
                    .registrations
                    .get(&registration)
                    .map_or("?", |t| t.trunk.as_str());
                tracing::info!(%trunk, expires, "trunk registered");
            }
            Event::RegistrationFailed {
                registration,
                status,
            } => {
                let trunk = self
                    .registrations
                    .get(&registration)
                    .map_or("?", |t| t.trunk.as_str());
                tracing::warn!(%trunk, status, "trunk registration failed; retrying in a minute");
            }
            other => tracing::debug!(event = ?other, "SIP event"),
        }
    }

    /// New SIP accounts and trunk registrations from the store: the registrar takes the
    /// accounts; registrations that are no longer wanted are removed, new ones started.
    fn reload(&mut self, now: Instant, r: Reload) {
        tracing::info!(
            sip_accounts = r.users.len(),
            trunk_registrations = r.trunks.len(),
            "SIP accounts and trunks reloaded"
        );
        self.ep.set_registrar_users(r.users);
        let gone: Vec<RegistrationHandle> = self
            .registrations
            .iter()
            .filter(|(_, old)| !r.trunks.iter().any(|t| t.same(old)))
            .map(|(h, _)| *h)
            .collect();
        for h in gone {
            if let Some(old) = self.registrations.remove(&h) {
                tracing::info!(trunk = %old.trunk, "trunk registration removed");
                let _ = self.ep.unregister(now, h);
            }
        }
        for t in r.trunks {
            if self.registrations.values().any(|old| old.same(&t)) {
                continue;
            }
            tracing::info!(trunk = %t.trunk, aor = %t.params.aor, registrar = %t.params.registrar, "registering with the carrier");
            let h = self.ep.register(now, t.params.clone());
            self.registrations.insert(h, t);
        }
    }

    /// The live bindings of a staff SIP username, whatever host its phone registered with.
    fn bindings_of(&self, username: &str, now: Instant) -> Vec<Binding> {
        let username = username.to_ascii_lowercase();
        self.bindings
            .iter()
            .filter(|(aor, _)| {
                aor.strip_prefix("sip:")
                    .and_then(|rest| rest.split_once('@'))
                    .is_some_and(|(user, _)| user == username)
            })
            .flat_map(|(_, list)| list.iter().filter(|b| b.expires_at > now).cloned())
            .collect()
    }

    fn on_route(&mut self, now: Instant, call: CallHandle, route: Route) {
        let Some(app) = self.calls.get(&call) else {
            return; // cancelled or ended while the store was asked
        };
        let source = app.source;
        match route {
            Route::Reject { status, why } => {
                tracing::info!(call = call.0, status, why, "call refused");
                let _ = self.ep.reject(now, call, status);
                self.calls.remove(&call);
            }
            Route::Challenge { nonce, stale } => {
                tracing::info!(call = call.0, %source, stale, "trunk digest challenge (407)");
                let challenges: Vec<Challenge> = self
                    .digest_algorithms()
                    .iter()
                    .map(|&algorithm| Challenge {
                        realm: REALM.to_owned(),
                        nonce: nonce.clone(),
                        opaque: None,
                        algorithm,
                        qop_auth: true,
                        stale,
                    })
                    .collect();
                let _ = self.ep.challenge(now, call, &challenges);
                self.calls.remove(&call);
            }
            Route::Did {
                channel,
                number,
                staff_sip: _,
            } => self.inbound_routed(now, call, channel, number),
            Route::Echo { channel } => self.answer_echo(now, call, channel, source),
        }
    }

    /// Digest algorithms we challenge with, preferred first (RFC 8760), as the registrar.
    fn digest_algorithms(&self) -> &'static [Algorithm] {
        if self.cfg.digest_md5_only {
            &[Algorithm::Md5]
        } else {
            &[Algorithm::Sha256, Algorithm::Md5]
        }
    }

    /// Our audio for an SDP offer or answer on a port of ours.
    fn offer(&self, peer: SocketAddr, port: u16) -> AudioConfig {
        AudioConfig {
            rtp_address: SocketAddr::new(self.media_ip(peer), port),
            codecs: vec![SipCodec::Pcmu, SipCodec::Pcma],
            telephone_event: true,
            ptime: Some(20),
            direction: Direction::SendRecv,
        }
    }

    fn media_ip(&self, peer: SocketAddr) -> IpAddr {
        if let Some(ip) = self.cfg.public_ip {
            return ip;
        }
        let bound = self.io.local_addr().ip();
        if !bound.is_unspecified() {
            return bound;
        }
        local_ip_towards(peer).unwrap_or(Ipv4Addr::LOCALHOST.into())
    }

    fn answer_echo(&mut self, now: Instant, call: CallHandle, channel: i64, source: SocketAddr) {
        let Some(pair) = self.ports.allocate() else {
            tracing::warn!(call = call.0, "no free RTP port pair: 503");
            let _ = self.ep.reject(now, call, 503);
            self.calls.remove(&call);
            return;
        };
        let audio = self.offer(source, pair.port());
        let until = now + self.cfg.echo_max;
        // 180 first, as a phone that picks up at once does: carriers and load tools time
        // INVITE → 180 (post-dial delay) separately from the answer.
        if let Err(e) = self.ep.ringing(now, call, None) {
            tracing::debug!(call = call.0, error = %e, "cannot ring");
        }
        match self.ep.answer(now, call, audio) {
            Ok(Some(neg)) => {
                tracing::info!(call = call.0, channel, codec = ?neg.codec, remote = %neg.remote_rtp, "echo test answered");
                if let Some(app) = self.calls.get_mut(&call) {
                    app.state = CallState::Echo {
                        until,
                        pending: None,
                    };
                    self.arm(call, until);
                }
                self.start_echo_media(call, pair, &neg);
            }
            Ok(None) => {
                tracing::info!(
                    call = call.0,
                    channel,
                    "echo test answered with our offer (late offer)"
                );
                if let Some(app) = self.calls.get_mut(&call) {
                    app.state = CallState::Echo {
                        until,
                        pending: Some(pair),
                    };
                    self.arm(call, until);
                }
            }
            Err(SipError::Sdp(e)) => {
                tracing::info!(call = call.0, error = %e, "no common codec: 488");
                let _ = self.ep.reject(now, call, 488);
                self.calls.remove(&call);
            }
            Err(e) => {
                tracing::debug!(call = call.0, error = %e, "cannot answer");
                self.calls.remove(&call);
            }
        }
    }

    /// The room's view of a negotiated SIP leg; `None` for a codec the room cannot play
    /// (we only offer and accept G.711 on SIP legs).
    fn leg_config(&self, call: CallHandle, role: Role, neg: &NegotiatedAudio) -> Option<LegConfig> {
        let codec = match neg.codec {
            SipCodec::Pcmu => denwa_media::Codec::Pcmu,
            SipCodec::Pcma => denwa_media::Codec::Pcma,
            other => {
                tracing::warn!(call = call.0, codec = ?other, "negotiated a codec a SIP leg cannot play");
                return None;
            }
        };
        let mut leg = LegConfig::new(role, codec);
        leg.payload_type = neg.payload_type;
        leg.telephone_event = neg.telephone_event_pt;
        leg.remote_rtp = Some(neg.remote_rtp);
        // Phones and trunks behind NAT send from elsewhere than their SDP says.
        leg.symmetric_rtp = true;
        leg.inactivity_timeout = self.cfg.media_timeout;
        leg.cname = format!("denwa-{}@{}", call.0, self.io.local_addr().ip());
        randomise(&mut leg);
        Some(leg)
    }

    fn start_echo_media(&mut self, call: CallHandle, pair: RtpPair, neg: &NegotiatedAudio) {
        let Some(mut leg) = self.leg_config(call, Role::Customer, neg) else {
            self.hang_up(Instant::now(), call, "unsupported codec");
            return;
        };
        leg.mode = LegMode::Echo;
        self.media.start_call(StartMedia {
            call,
            legs: vec![StartLeg {
                key: LegKey::Dialog(call),
                sockets: pair,
                config: leg,
            }],
            record: None,
        });
    }

    /// The ACK for our 2xx to an inbound call: starts the echo or the bridge when the
    /// answer to our offer came with it (late offer).
    fn on_confirmed(&mut self, now: Instant, call: CallHandle, audio: Option<NegotiatedAudio>) {
        let Some(app) = self.calls.get_mut(&call) else {
            return;
        };
        match &mut app.state {
            CallState::Echo { pending, .. } => match (pending.take(), audio) {
                (Some(pair), Some(neg)) => self.start_echo_media(call, pair, &neg),
                (Some(_), None) => {
                    tracing::info!(call = call.0, "late offer without an answer in the ACK");
                    self.hang_up(now, call, "no SDP answer");
                }
                (None, _) => tracing::debug!(call = call.0, "call confirmed (ACK)"),
            },
            CallState::Inbound(_) => self.inbound_confirmed(now, call, audio),
            _ => tracing::debug!(call = call.0, "call confirmed (ACK)"),
        }
    }

    /// Places a trunk test call: an INVITE to the carrier with our G.711 offer.
    fn place_test_call(
        &mut self,
        now: Instant,
        p: DialParams,
        reply: oneshot::Sender<TestCallResult>,
    ) {
        let failed = |status| TestCallResult {
            result: "failed".to_owned(),
            sip_status: status,
        };
        let Some(pair) = self.ports.allocate() else {
            tracing::warn!("no free RTP port pair for a test call");
            let _ = reply.send(failed(503));
            return;
        };
        let params = InviteParams {
            to_uri: p.to_uri.clone(),
            from_uri: p.from_uri,
            from_display: None,
            target: p.target,
            transport: p.transport,
            audio: self.offer(p.target, pair.port()),
            credentials: p.credentials,
        };
        match self.ep.invite(now, params) {
            Ok(call) => {
                tracing::info!(call = call.0, to = %p.to_uri, via = %p.target, "trunk test call");
                let until = now + self.cfg.ring_timeout;
                self.calls.insert(
                    call,
                    AppCall {
                        state: CallState::Outbound {
                            until,
                            pair: Some(pair),
                            reply: Some(reply),
                        },
                        source: p.target,
                        from: None,
                        offer: false,
                    },
                );
                self.arm(call, until);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot place the test call");
                let _ = reply.send(failed(500));
            }
        }
    }

    fn is_test_call(&self, call: CallHandle) -> bool {
        matches!(
            self.calls.get(&call).map(|c| &c.state),
            Some(CallState::Outbound { .. })
        )
    }

    /// Tells the API how the test call went (once).
    fn finish_test_call(&mut self, call: CallHandle, result: &str, status: u16) {
        if let Some(AppCall {
            state: CallState::Outbound { reply, .. },
            ..
        }) = self.calls.get_mut(&call)
            && let Some(reply) = reply.take()
        {
            let _ = reply.send(TestCallResult {
                result: result.to_owned(),
                sip_status: status,
            });
        }
    }

    /// The callee answered the test call: they hear the echo test.
    fn on_test_call_answered(&mut self, now: Instant, call: CallHandle, neg: &NegotiatedAudio) {
        self.finish_test_call(call, "answered", 200);
        let pair = match self.calls.get_mut(&call) {
            Some(AppCall {
                state: CallState::Outbound { pair, .. },
                ..
            }) => pair.take(),
            _ => None,
        };
        let Some(pair) = pair else {
            return;
        };
        tracing::info!(call = call.0, codec = ?neg.codec, remote = %neg.remote_rtp, "test call answered: echo test");
        if let Some(app) = self.calls.get_mut(&call) {
            let until = now + self.cfg.echo_max;
            app.state = CallState::Echo {
                until,
                pending: None,
            };
            self.arm(call, until);
        }
        self.start_echo_media(call, pair, neg);
    }

    /// A re-INVITE/UPDATE changed a running call: follow a moved far end; a staff
    /// softphone that holds (`sendonly`/`inactive`) or resumes tells the call service
    /// (SPEC HD-1, HD-2).
    fn on_session_modified(&mut self, call: CallHandle, audio: &NegotiatedAudio) {
        let (room, key, staff) = match self.calls.get(&call).map(|c| &c.state) {
            Some(CallState::StaffPhone {
                parent,
                staff,
                leg: None,
            }) => (*parent, LegKey::Staff(*staff), Some(*staff)),
            Some(CallState::Inbound(_)) => (call, LegKey::Dialog(call), None),
            Some(CallState::Echo { pending: None, .. }) => (call, LegKey::Dialog(call), None),
            _ => return,
        };
        self.media.command(
            room,
            CallCommand::Remote {
                key,
                rtp: audio.remote_rtp,
            },
        );
        if let Some(staff) = staff {
            self.reports.send(FromEdge::SoftphoneHold {
                handle: room,
                staff,
                hold: audio.remote_hold,
            });
        }
    }

    /// A softphone refused or never answered.
    fn on_fork_failed(&mut self, _now: Instant, fork: CallHandle, status: u16) {
        let Some(AppCall {
            state: CallState::Fork { parent, staff, .. },
            ..
        }) = self.calls.remove(&fork)
        else {
            tracing::debug!(call = fork.0, status, "outbound call failed");
            return;
        };
        tracing::info!(
            call = parent.0,
            fork = fork.0,
            staff,
            status,
            "a softphone did not answer"
        );
        if let Some(AppCall {
            state: CallState::Inbound(inb),
            ..
        }) = self.calls.get_mut(&parent)
        {
            inb.forks.retain(|&(_, f)| f != fork);
        }
        if status != 487 {
            self.reports.send(FromEdge::SoftphoneRefused {
                handle: parent,
                staff,
            });
        }
    }

    fn on_media(&mut self, now: Instant, notice: MediaNotice) {
        match notice {
            MediaNotice::PromptFinished { call } => self.announced(now, call),
            MediaNotice::Ended { call, .. } if self.is_announcing(call) => {
                self.announced(now, call);
            }
            MediaNotice::Ended { call, reason } => {
                if self.is_inbound(call) {
                    self.cancel_if_ringing(now, call);
                    self.caller_gone(now, call, &reason);
                    self.hang_up(now, call, &reason);
                } else if self.calls.contains_key(&call) {
                    self.hang_up(now, call, &reason);
                }
            }
            MediaNotice::LegEnded { call, key, reason } => self.leg_ended(now, call, key, &reason),
        }
    }

    fn app_timers(&mut self, now: Instant) {
        let mut due = Vec::new();
        while let Some(at) = self.next_deadline().filter(|&at| at <= now) {
            if let Some(Reverse((_, call))) = self.deadlines.pop() {
                debug_assert_eq!(self.deadline_of(call), Some(at));
                due.push(call);
            }
        }
        for call in due {
            match self.calls.get(&call).map(|c| &c.state) {
                Some(CallState::Echo { .. }) => {
                    self.hang_up(now, call, "maximum echo test duration");
                }
                Some(CallState::Announcing { .. }) => {
                    tracing::warn!(call = call.0, "announcement did not end in time");
                    self.announced(now, call);
                }
                Some(CallState::Outbound { .. }) => {
                    tracing::info!(call = call.0, "test call not answered: CANCEL");
                    let _ = self.ep.cancel(now, call);
                    self.finish_test_call(call, "failed", 408);
                    self.calls.remove(&call);
                }
                _ => {}
            }
        }
    }

    /// The far end of `call` ended it (BYE, or the endpoint gave up on the dialog).
    fn end_call(&mut self, now: Instant, call: CallHandle, reason: &str) {
        match self.calls.get(&call).map(|c| &c.state) {
            Some(CallState::Inbound(_)) => self.caller_gone(now, call, reason),
            Some(CallState::StaffPhone { parent, staff, .. }) => {
                let (parent, staff) = (*parent, *staff);
                self.calls.remove(&call);
                self.media
                    .command(parent, CallCommand::RemoveLeg(LegKey::Staff(staff)));
                self.reports.send(FromEdge::SoftphoneLeft {
                    handle: parent,
                    staff,
                });
            }
            _ => self.forget(call),
        }
    }

    /// Ends an answered call with BYE and stops its media (an inbound call's staff
    /// softphones are hung up too).
    fn hang_up(&mut self, now: Instant, call: CallHandle, reason: &str) {
        tracing::info!(call = call.0, reason, "hanging up (BYE)");
        if let Err(e) = self.ep.bye(now, call) {
            tracing::debug!(call = call.0, error = %e, "BYE not sent");
        }
        self.forget(call);
    }

    fn forget(&mut self, call: CallHandle) {
        let now = Instant::now();
        if let Some(app) = self.calls.remove(&call) {
            match app.state {
                CallState::Inbound(inb) => {
                    self.release_staff(now, &inb);
                    self.media.stop_call(call);
                }
                CallState::StaffPhone { .. } | CallState::Fork { .. } => {}
                _ => self.media.stop_call(call),
            }
        }
    }

    /// Shutdown: BYE to answered calls, CANCEL to ringing softphones, 503 to the other
    /// callers, trunk registrations removed.
    fn end_all(&mut self, now: Instant) {
        for h in self.registrations.keys().copied().collect::<Vec<_>>() {
            let _ = self.ep.unregister(now, h);
        }
        let calls: Vec<CallHandle> = self.calls.keys().copied().collect();
        for call in calls {
            match self.calls.get(&call).map(|c| &c.state) {
                Some(CallState::Echo { .. } | CallState::StaffPhone { .. }) => {
                    self.hang_up(now, call, "server shutting down");
                }
                Some(CallState::Inbound(inb)) if inb.answered => {
                    self.hang_up(now, call, "server shutting down");
                }
                Some(CallState::Inbound(inb)) if inb.placed => {
                    let _ = self.ep.cancel(now, call);
                    self.forget(call);
                }
                Some(CallState::Fork { .. }) => {
                    let _ = self.ep.cancel(now, call);
                    self.forget(call);
                }
                Some(CallState::Outbound { .. }) => {
                    let _ = self.ep.cancel(now, call);
                    self.finish_test_call(call, "failed", 503);
                    self.forget(call);
                }
                Some(_) => {
                    let _ = self.ep.reject(now, call, 503);
                    self.forget(call);
                }
                None => {}
            }
        }
    }
}

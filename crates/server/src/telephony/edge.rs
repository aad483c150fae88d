//! The SIP edge task: drives the Sans-IO endpoint from the sockets and the clock, and is
//! the application side of every call (routing, ringing, the echo test, timers).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use denwa_core::trunk::TrunkTransport;
use denwa_media::{LegConfig, LegMode, Role};
use denwa_sip::rate_limit::RateLimitConfig;
use denwa_sip::registrar::RegistrarConfig;
use denwa_sip::sdp::{AudioConfig, Codec as SipCodec, Direction, NegotiatedAudio};
use denwa_sip::{
    CallHandle, Config, Endpoint, Error as SipError, Event, Input, Output, RegisterParams,
    RegistrationHandle, Transport,
};
use denwa_store::Store;
use tokio::sync::{mpsc, watch};

use super::TelephonyConfig;
use super::media::{MediaNotice, MediaRuntime, PortPool, RtpPair, StartMedia, randomise};
use super::routing::{Route, Router};
use super::transport::{Received, SipIo};

/// Most messages fed to the endpoint before its output is drained (one timer scan per batch).
const INPUT_BATCH: usize = 64;
/// Endpoint timers are fired in batches at most this often: SIP timers are hundreds of
/// milliseconds long, and each `handle_timeout` looks at every transaction.
const TIMER_GRANULARITY: std::time::Duration = std::time::Duration::from_millis(10);

/// Digest realm of the registrar for staff SIP softphones.
const REALM: &str = "denwa";

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

/// The application's side of one inbound call.
enum CallState {
    /// Waiting for the routing decision (a store lookup).
    Routing,
    /// 180 sent for a DID; nobody can answer yet, so 480 at `until`.
    Ringing { until: Instant },
    /// The echo test: answered; the server hangs up at `until`. `pending` holds the
    /// RTP sockets of a call whose SDP answer comes with the ACK (late offer).
    Echo {
        until: Instant,
        pending: Option<RtpPair>,
    },
}

struct AppCall {
    state: CallState,
    source: SocketAddr,
}

enum Wake {
    Stop,
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
    registrations: HashMap<RegistrationHandle, String>,
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
    pub(crate) fn new(
        cfg: TelephonyConfig,
        io: SipIo,
        store: Arc<dyn Store>,
        users: HashMap<String, String>,
        trunks: Vec<TrunkRegistration>,
    ) -> anyhow::Result<Edge> {
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
            registrar.algorithm = denwa_sip::auth::Algorithm::Md5;
        }
        sip.registrar = Some(registrar);
        let now = Instant::now();
        let mut ep = Endpoint::new(sip, now);
        let mut registrations = HashMap::new();
        for t in trunks {
            tracing::info!(trunk = %t.trunk, aor = %t.params.aor, registrar = %t.params.registrar, "registering with the carrier");
            let h = ep.register(now, t.params);
            registrations.insert(h, t.trunk);
        }
        let ports = PortPool::new(bound.ip(), cfg.rtp_ports);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (notice_tx, notices) = mpsc::unbounded_channel();
        let media = MediaRuntime::start(threads, notice_tx)?;
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
        })
    }

    /// Runs until `stop` turns true (or its sender is dropped), then ends every call.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let local = self.io.local_addr();
        let mut last_timer = Instant::now();
        loop {
            let ep_at = self.drain().await.max(last_timer + TIMER_GRANULARITY);
            let at = self.next_deadline().map_or(ep_at, |a| a.min(ep_at));
            let wake = tokio::select! {
                r = stop.changed() => if r.is_err() || *stop.borrow() { Wake::Stop } else { continue },
                m = self.io.recv() => Wake::Net(m),
                Some((call, r)) = self.routes_rx.recv() => Wake::Routed(call, r),
                Some(n) = self.notices.recv() => Wake::Media(n),
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
                Wake::Timer => {
                    last_timer = now;
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

    fn next_deadline(&self) -> Option<Instant> {
        self.calls
            .values()
            .filter_map(|c| match &c.state {
                CallState::Routing => None,
                CallState::Ringing { until } | CallState::Echo { until, .. } => Some(*until),
            })
            .min()
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::IncomingCall {
                call,
                from,
                request_uri,
                source,
                ..
            } => {
                tracing::info!(call = call.0, %source, from = %from.uri, to = %request_uri, "incoming call");
                self.calls.insert(
                    call,
                    AppCall {
                        state: CallState::Routing,
                        source,
                    },
                );
                let router = self.router.clone();
                let tx = self.routes_tx.clone();
                tokio::spawn(async move {
                    let r = router.route(source.ip(), &request_uri).await;
                    let _ = tx.send((call, r));
                });
            }
            Event::CallCancelled { call } => {
                tracing::info!(call = call.0, "caller cancelled (487)");
                self.forget(call);
            }
            Event::CallConfirmed { call, audio } => {
                let pending = match self.calls.get_mut(&call) {
                    Some(AppCall {
                        state: CallState::Echo { pending, .. },
                        ..
                    }) => pending.take(),
                    _ => None,
                };
                match (pending, audio) {
                    (Some(pair), Some(neg)) => self.start_echo_media(call, pair, &neg),
                    (Some(_), None) => {
                        tracing::info!(call = call.0, "late offer without an answer in the ACK");
                        self.hang_up(Instant::now(), call, "no SDP answer");
                    }
                    _ => tracing::debug!(call = call.0, "call confirmed (ACK)"),
                }
            }
            Event::CallEnded { call, reason } => {
                tracing::info!(call = call.0, ?reason, "call ended");
                self.forget(call);
            }
            Event::SessionModified { call, audio } => {
                tracing::info!(
                    call = call.0,
                    hold = audio.remote_hold,
                    "session modified by the far end"
                );
            }
            Event::Dtmf { call, digit } => {
                tracing::info!(call = call.0, digit = %digit, via = "info", "dtmf");
            }
            Event::BindingsChanged { aor, bindings } => {
                tracing::info!(%aor, contacts = bindings.len(), "SIP registration");
            }
            Event::BindingExpired { aor, contact } => {
                tracing::info!(%aor, %contact, "SIP registration expired");
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
                    .map_or("?", String::as_str);
                tracing::info!(%trunk, expires, "trunk registered");
            }
            Event::RegistrationFailed {
                registration,
                status,
            } => {
                let trunk = self
                    .registrations
                    .get(&registration)
                    .map_or("?", String::as_str);
                tracing::warn!(%trunk, status, "trunk registration failed; retrying in a minute");
            }
            other => tracing::debug!(event = ?other, "SIP event"),
        }
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
            Route::Did { channel, number } => {
                // Until the call lifecycle routes calls to staff, nobody can answer:
                // ring, then 480 at the ring timeout (CANCEL gets 487 meanwhile).
                tracing::info!(call = call.0, channel, %number, "call to a channel number ringing; no staff routing yet");
                match self.ep.ringing(now, call, None) {
                    Ok(_) => {
                        if let Some(app) = self.calls.get_mut(&call) {
                            app.state = CallState::Ringing {
                                until: now + self.cfg.ring_timeout,
                            };
                        }
                    }
                    Err(e) => {
                        tracing::debug!(call = call.0, error = %e, "cannot ring");
                        self.calls.remove(&call);
                    }
                }
            }
            Route::Echo { channel } => self.answer_echo(now, call, channel, source),
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
        let audio = AudioConfig {
            rtp_address: SocketAddr::new(self.media_ip(source), pair.port()),
            codecs: vec![SipCodec::Pcmu, SipCodec::Pcma],
            telephone_event: true,
            ptime: Some(20),
            direction: Direction::SendRecv,
        };
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

    fn start_echo_media(&mut self, call: CallHandle, pair: RtpPair, neg: &NegotiatedAudio) {
        let codec = match neg.codec {
            SipCodec::Pcmu => denwa_media::Codec::Pcmu,
            SipCodec::Pcma => denwa_media::Codec::Pcma,
            other => {
                // We only offer/accept G.711 on trunk legs.
                tracing::warn!(call = call.0, codec = ?other, "negotiated a codec the echo leg cannot play");
                self.hang_up(Instant::now(), call, "unsupported codec");
                return;
            }
        };
        let mut leg = LegConfig::new(Role::Customer, codec);
        leg.mode = LegMode::Echo;
        leg.payload_type = neg.payload_type;
        leg.telephone_event = neg.telephone_event_pt;
        leg.remote_rtp = Some(neg.remote_rtp);
        leg.symmetric_rtp = true;
        leg.inactivity_timeout = self.cfg.media_timeout;
        leg.cname = format!("denwa-{}@{}", call.0, self.io.local_addr().ip());
        randomise(&mut leg);
        self.media.start_call(StartMedia {
            call,
            sockets: pair,
            leg,
        });
    }

    fn on_media(&mut self, now: Instant, notice: MediaNotice) {
        match notice {
            MediaNotice::Ended { call, reason } => {
                if self.calls.contains_key(&call) {
                    self.hang_up(now, call, &reason);
                }
            }
        }
    }

    fn app_timers(&mut self, now: Instant) {
        let due: Vec<CallHandle> = self
            .calls
            .iter()
            .filter(|(_, c)| match &c.state {
                CallState::Routing => false,
                CallState::Ringing { until } | CallState::Echo { until, .. } => *until <= now,
            })
            .map(|(h, _)| *h)
            .collect();
        for call in due {
            match self.calls.get(&call).map(|c| &c.state) {
                Some(CallState::Ringing { .. }) => {
                    tracing::info!(call = call.0, "ring timeout: 480");
                    let _ = self.ep.reject(now, call, 480);
                    self.calls.remove(&call);
                }
                Some(CallState::Echo { .. }) => {
                    self.hang_up(now, call, "maximum echo test duration");
                }
                _ => {}
            }
        }
    }

    /// Ends an answered call with BYE and stops its media.
    fn hang_up(&mut self, now: Instant, call: CallHandle, reason: &str) {
        tracing::info!(call = call.0, reason, "hanging up (BYE)");
        if let Err(e) = self.ep.bye(now, call) {
            tracing::debug!(call = call.0, error = %e, "BYE not sent");
        }
        self.forget(call);
    }

    fn forget(&mut self, call: CallHandle) {
        self.calls.remove(&call);
        self.media.stop_call(call);
    }

    /// Shutdown: BYE to answered calls, 503 to the others, trunk registrations removed.
    fn end_all(&mut self, now: Instant) {
        for h in self.registrations.keys().copied().collect::<Vec<_>>() {
            let _ = self.ep.unregister(now, h);
        }
        let calls: Vec<CallHandle> = self.calls.keys().copied().collect();
        for call in calls {
            match self.calls.get(&call).map(|c| &c.state) {
                Some(CallState::Echo { .. }) => self.hang_up(now, call, "server shutting down"),
                Some(_) => {
                    let _ = self.ep.reject(now, call, 503);
                    self.forget(call);
                }
                None => {}
            }
        }
    }
}

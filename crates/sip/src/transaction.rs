//! RFC 3261 §17 transaction state machines, with the RFC 6026 `Accepted`
//! states for INVITE.
//!
//! Four machines: INVITE client (§17.1.1), non-INVITE client (§17.1.2),
//! INVITE server (§17.2.1) and non-INVITE server (§17.2.2). They are pure:
//! every method takes `now` and returns actions for the endpoint to
//! carry out. On a reliable transport (TCP) no retransmission timer runs and
//! the "linger" timers (D, I, J, K) are zero, as the RFC prescribes.
//!
//! One deliberate merge: the UAS core's 2xx retransmission (§13.3.1.4) runs
//! inside the INVITE server transaction's `Accepted` state, driven by timer
//! G's schedule and given up after 64·T1 (the value of timer H), which is
//! exactly the lifetime of RFC 6026 timer L.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::headers::{CSeq, NameAddr};
use crate::message::{Headers, Method, Request, Response, SipHeaders};

/// The transport a message travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, retransmission timers run (RFC 3261 §17.1.1.2).
    Udp,
    /// TCP: reliable, no retransmission; the shell frames the stream with
    /// [`crate::message::message_length`].
    Tcp,
}

impl Transport {
    /// Whether the transport is reliable (RFC 3261 §18).
    #[must_use]
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }

    /// The token used in `Via`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// The RFC 3261 §17.1.1.1 timer base values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate, 500 ms by default.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, 5 s.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64·T1: timers B, F, H, J (unreliable), L and M.
    #[must_use]
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

/// The named timers of RFC 3261 §17 and RFC 6026.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// INVITE request retransmit (client, unreliable).
    A,
    /// INVITE transaction timeout (client).
    B,
    /// Wait for response retransmits (client INVITE, Completed).
    D,
    /// Non-INVITE request retransmit (client, unreliable).
    E,
    /// Non-INVITE transaction timeout (client).
    F,
    /// INVITE final response retransmit (server, unreliable). Also drives the
    /// 2xx retransmission in `Accepted`.
    G,
    /// Wait for ACK (server INVITE); for 2xx the §13.3.1.4 give-up.
    H,
    /// Wait for ACK retransmits (server INVITE, Confirmed).
    I,
    /// Wait for request retransmits (server non-INVITE, Completed).
    J,
    /// Wait for response retransmits (client non-INVITE, Completed).
    K,
    /// Wait for INVITE retransmits after 2xx (server, RFC 6026).
    L,
    /// Wait for 2xx retransmits (client, RFC 6026).
    M,
}

/// What the endpoint must do after feeding a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TxAction {
    /// Send these bytes to the transaction's peer.
    Send(Vec<u8>),
    /// Client: pass this response up to the transaction user.
    Deliver(Response),
    /// Server INVITE: the ACK for our 2xx arrived (passed to the dialog).
    AckReceived(Request),
    /// Client: timer B or F fired with no final response (treat as 408).
    /// Server INVITE: timer H fired, no ACK for a non-2xx (or 2xx) response.
    Timeout,
}

/// The key identifying a transaction (RFC 3261 §17.1.3, §17.2.3): the
/// branch plus the method, with ACK folded onto INVITE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TxKey {
    pub(crate) branch: String,
    pub(crate) method: Method,
    pub(crate) server: bool,
}

impl TxKey {
    pub(crate) fn new(branch: &str, method: &Method, server: bool) -> Self {
        let method = if *method == Method::Ack {
            Method::Invite
        } else {
            method.clone()
        };
        Self {
            branch: branch.to_owned(),
            method,
            server,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Client INVITE before any response / client non-INVITE `Trying`.
    Calling,
    /// Client or server `Proceeding` (server non-INVITE: also `Trying`).
    Proceeding,
    Completed,
    /// Server INVITE after ACK for a non-2xx.
    Confirmed,
    /// RFC 6026: after a 2xx.
    Accepted,
    Terminated,
}

#[derive(Debug)]
struct TimerSet {
    timers: Vec<(Timer, Instant)>,
}

impl TimerSet {
    fn new() -> Self {
        Self { timers: Vec::new() }
    }
    fn set(&mut self, t: Timer, at: Instant) {
        self.cancel(t);
        self.timers.push((t, at));
    }
    fn cancel(&mut self, t: Timer) {
        self.timers.retain(|(k, _)| *k != t);
    }
    fn clear(&mut self) {
        self.timers.clear();
    }
    fn next(&self) -> Option<Instant> {
        self.timers.iter().map(|(_, at)| *at).min()
    }
    /// Removes and returns the earliest timer due at `now` (the one set
    /// first on a tie).
    fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let (i, _) = self
            .timers
            .iter()
            .enumerate()
            .filter(|(_, (_, at))| *at <= now)
            .min_by_key(|(_, (_, at))| *at)?;
        Some(self.timers.remove(i).0)
    }
}

/// A client transaction (RFC 3261 §17.1).
#[derive(Debug)]
pub(crate) struct ClientTx {
    pub(crate) request: Request,
    pub(crate) peer: SocketAddr,
    pub(crate) transport: Transport,
    bytes: Vec<u8>,
    state: State,
    timers: TimerSet,
    interval: Duration,
    ack: Option<Vec<u8>>,
    cfg: Timers,
}

impl ClientTx {
    /// Starts the transaction; the returned bytes must be sent now.
    pub(crate) fn start(
        now: Instant,
        request: Request,
        peer: SocketAddr,
        transport: Transport,
        cfg: Timers,
    ) -> (Self, Vec<u8>) {
        let bytes = request.to_bytes();
        let mut timers = TimerSet::new();
        let invite = request.method == Method::Invite;
        if !transport.is_reliable() {
            timers.set(if invite { Timer::A } else { Timer::E }, now + cfg.t1);
        }
        timers.set(if invite { Timer::B } else { Timer::F }, now + cfg.t1x64());
        let tx = Self {
            request,
            peer,
            transport,
            bytes: bytes.clone(),
            state: State::Calling,
            timers,
            interval: cfg.t1,
            ack: None,
            cfg,
        };
        (tx, bytes)
    }

    fn invite(&self) -> bool {
        self.request.method == Method::Invite
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// Whether a provisional response has been received (CANCEL may be sent, §9.1).
    pub(crate) fn is_proceeding(&self) -> bool {
        self.state == State::Proceeding
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Feeds a response whose branch matched this transaction.
    pub(crate) fn on_response(&mut self, now: Instant, resp: Response) -> Vec<TxAction> {
        let mut out = Vec::new();
        let provisional = resp.status < 200;
        match (self.invite(), self.state) {
            (true, State::Calling | State::Proceeding) => {
                if provisional {
                    // §17.1.1.2: stop A; B only applies in Calling.
                    self.state = State::Proceeding;
                    self.timers.cancel(Timer::A);
                    self.timers.cancel(Timer::B);
                    out.push(TxAction::Deliver(resp));
                } else if resp.status < 300 {
                    // RFC 6026 §8.4: Accepted, timer M absorbs 2xx retransmits
                    // (each is still passed up so the TU re-sends its ACK).
                    self.state = State::Accepted;
                    self.timers.clear();
                    self.timers.set(Timer::M, now + self.cfg.t1x64());
                    out.push(TxAction::Deliver(resp));
                } else {
                    let ack = self.build_ack(&resp).to_bytes();
                    out.push(TxAction::Send(ack.clone()));
                    self.ack = Some(ack);
                    self.state = State::Completed;
                    self.timers.clear();
                    let d = if self.transport.is_reliable() {
                        Duration::ZERO
                    } else {
                        Duration::from_secs(32)
                    };
                    self.timers.set(Timer::D, now + d);
                    out.push(TxAction::Deliver(resp));
                }
            }
            (true, State::Accepted) if (200..300).contains(&resp.status) => {
                out.push(TxAction::Deliver(resp))
            }
            (true, State::Completed) if resp.status >= 300 => {
                // §17.1.1.2: retransmitted final response → re-send ACK, do not pass up.
                if let Some(ack) = &self.ack {
                    out.push(TxAction::Send(ack.clone()));
                }
            }
            (false, State::Calling | State::Proceeding) => {
                if provisional {
                    self.state = State::Proceeding;
                    out.push(TxAction::Deliver(resp));
                } else {
                    self.state = State::Completed;
                    self.timers.clear();
                    let k = if self.transport.is_reliable() {
                        Duration::ZERO
                    } else {
                        self.cfg.t4
                    };
                    self.timers.set(Timer::K, now + k);
                    out.push(TxAction::Deliver(resp));
                }
            }
            _ => {} // absorbed retransmission
        }
        out
    }

    /// Fires every due timer.
    pub(crate) fn on_timeout(&mut self, now: Instant) -> Vec<TxAction> {
        let mut out = Vec::new();
        while let Some(t) = self.timers.pop_due(now) {
            match t {
                Timer::A => {
                    out.push(TxAction::Send(self.bytes.clone()));
                    self.interval *= 2;
                    self.timers.set(Timer::A, now + self.interval);
                }
                Timer::E => {
                    out.push(TxAction::Send(self.bytes.clone()));
                    self.interval = if self.state == State::Proceeding {
                        self.cfg.t2
                    } else {
                        (self.interval * 2).min(self.cfg.t2)
                    };
                    self.timers.set(Timer::E, now + self.interval);
                }
                Timer::B | Timer::F => {
                    self.state = State::Terminated;
                    self.timers.clear();
                    out.push(TxAction::Timeout);
                }
                _ => {
                    self.state = State::Terminated;
                    self.timers.clear();
                }
            }
        }
        out
    }

    /// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3).
    fn build_ack(&self, resp: &Response) -> Request {
        let mut headers = Headers::new();
        if let Some(via) = self.request.headers.get_all("Via").first() {
            headers.push("Via", *via);
        }
        for r in self.request.headers.get_all("Route") {
            headers.push("Route", r);
        }
        headers.push("Max-Forwards", "70");
        if let Some(v) = self.request.headers.get("From") {
            headers.push("From", v);
        }
        let to = resp
            .headers
            .get("To")
            .or_else(|| self.request.headers.get("To"))
            .unwrap_or("");
        headers.push("To", to);
        if let Some(v) = self.request.call_id() {
            headers.push("Call-ID", v);
        }
        let seq = self.request.cseq().map_or(1, |c| c.seq);
        headers.push(
            "CSeq",
            CSeq {
                seq,
                method: Method::Ack,
            }
            .to_string(),
        );
        Request {
            method: Method::Ack,
            uri: self.request.uri.clone(),
            headers,
            body: Vec::new(),
        }
    }
}

/// A server transaction (RFC 3261 §17.2).
///
/// It keeps only what its state machine needs: not the request (the TU keeps
/// what it wants of it), and the last response's bytes only while they may
/// have to be re-sent. A finished UDP transaction lingers 32 s, so at
/// thousands of calls per second this is most of the endpoint's memory.
#[derive(Debug)]
pub(crate) struct ServerTx {
    method: Method,
    /// The request's CSeq number (the 2xx ACK must carry the INVITE's, §13.2.2.4).
    pub(crate) cseq: Option<u32>,
    pub(crate) peer: SocketAddr,
    pub(crate) transport: Transport,
    state: State,
    /// Status and bytes of the last response sent; the bytes are dropped
    /// once no retransmission can need them.
    last_response: Option<(u16, Vec<u8>)>,
    timers: TimerSet,
    interval: Duration,
    cfg: Timers,
}

impl ServerTx {
    pub(crate) fn new(
        request: Request,
        peer: SocketAddr,
        transport: Transport,
        cfg: Timers,
    ) -> Self {
        Self {
            cseq: request.cseq().map(|c| c.seq),
            method: request.method,
            peer,
            transport,
            state: State::Proceeding,
            last_response: None,
            timers: TimerSet::new(),
            interval: cfg.t1,
            cfg,
        }
    }

    fn invite(&self) -> bool {
        self.method == Method::Invite
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// Drops the last response's bytes: nothing will re-send them any more
    /// (ACK received, or a 2xx no longer retransmitted).
    fn forget_response(&mut self) {
        if let Some((_, bytes)) = &mut self.last_response {
            *bytes = Vec::new();
        }
    }

    /// Whether a final response has been sent.
    pub(crate) fn has_final(&self) -> bool {
        self.last_response.as_ref().is_some_and(|(s, _)| *s >= 200)
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// A request matching this transaction arrived again (retransmission),
    /// or the ACK for an INVITE.
    pub(crate) fn on_request(&mut self, now: Instant, req: Request) -> Vec<TxAction> {
        let mut out = Vec::new();
        if req.method == Method::Ack {
            match self.state {
                State::Completed => {
                    // §17.2.1: ACK for non-2xx → Confirmed, timer I.
                    self.state = State::Confirmed;
                    self.timers.clear();
                    self.forget_response();
                    let i = if self.transport.is_reliable() {
                        Duration::ZERO
                    } else {
                        self.cfg.t4
                    };
                    self.timers.set(Timer::I, now + i);
                }
                State::Accepted => {
                    // The 2xx ACK normally has its own branch and never gets
                    // here; a peer reusing the INVITE branch is tolerated.
                    self.timers.cancel(Timer::G);
                    self.timers.cancel(Timer::H);
                    self.forget_response();
                    out.push(TxAction::AckReceived(req));
                }
                _ => {}
            }
            return out;
        }
        match self.state {
            // §17.2.1 / §17.2.2: re-send the most recent response.
            State::Proceeding | State::Completed => {
                if let Some((_, bytes)) = &self.last_response {
                    out.push(TxAction::Send(bytes.clone()));
                }
            }
            // RFC 6026 §7.1: INVITE retransmits in Accepted are absorbed.
            _ => {}
        }
        out
    }

    /// The 2xx ACK (its own branch) arrived for the dialog this transaction
    /// created: stop retransmitting the 2xx.
    pub(crate) fn on_2xx_ack(&mut self) {
        if self.state == State::Accepted {
            self.timers.cancel(Timer::G);
            self.timers.cancel(Timer::H);
            self.forget_response();
        }
    }

    /// The TU sends a response through this transaction.
    pub(crate) fn respond(&mut self, now: Instant, resp: &Response) -> Vec<TxAction> {
        if !matches!(self.state, State::Proceeding) {
            return Vec::new(); // a final response was already sent
        }
        let bytes = resp.to_bytes();
        self.last_response = Some((resp.status, bytes.clone()));
        let reliable = self.transport.is_reliable();
        let x64 = self.cfg.t1x64();
        if resp.status >= 200 {
            self.timers.clear();
            if self.invite() {
                if resp.status < 300 {
                    self.state = State::Accepted;
                    // §13.3.1.4: the 2xx is retransmitted until ACK (only on
                    // an unreliable transport), giving up after 64·T1 on any
                    // transport. H is set before L so it fires first on a tie.
                    if !reliable {
                        self.timers.set(Timer::G, now + self.cfg.t1);
                    }
                    self.timers.set(Timer::H, now + x64);
                    self.timers.set(Timer::L, now + x64);
                } else {
                    self.state = State::Completed;
                    if !reliable {
                        self.timers.set(Timer::G, now + self.cfg.t1);
                    }
                    self.timers.set(Timer::H, now + x64);
                }
            } else {
                self.state = State::Completed;
                self.timers
                    .set(Timer::J, now + if reliable { Duration::ZERO } else { x64 });
            }
        }
        vec![TxAction::Send(bytes)]
    }

    pub(crate) fn on_timeout(&mut self, now: Instant) -> Vec<TxAction> {
        let mut out = Vec::new();
        while let Some(t) = self.timers.pop_due(now) {
            match t {
                Timer::G => {
                    if let Some((_, bytes)) = &self.last_response {
                        out.push(TxAction::Send(bytes.clone()));
                    }
                    self.interval = (self.interval * 2).min(self.cfg.t2);
                    self.timers.set(Timer::G, now + self.interval);
                }
                Timer::H => {
                    self.timers.cancel(Timer::G);
                    self.forget_response();
                    if self.state == State::Completed {
                        self.state = State::Terminated;
                        self.timers.clear();
                    }
                    out.push(TxAction::Timeout);
                }
                _ => {
                    self.state = State::Terminated;
                    self.timers.clear();
                }
            }
        }
        out
    }
}

/// Adds the tag to `To` of a request-derived response if missing.
pub(crate) fn to_tag_of(resp: &Response) -> Option<String> {
    resp.headers
        .get("To")
        .and_then(NameAddr::parse)
        .and_then(|t| t.tag().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn invite() -> Request {
        let raw = "INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP a:5060;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n\
                   To: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n";
        match Message::parse(raw.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("bad fixture: {other:?}"),
        }
    }

    fn peer() -> SocketAddr {
        "192.0.2.1:5060".parse().expect("literal")
    }

    #[test]
    fn timer_a_doubles_until_timer_b() {
        let t0 = Instant::now();
        let cfg = Timers::default();
        let (mut tx, _) = ClientTx::start(t0, invite(), peer(), Transport::Udp, cfg);
        let mut sends = Vec::new();
        let mut now = t0;
        while !tx.is_terminated() {
            now = tx.deadline().expect("timers run until termination");
            for a in tx.on_timeout(now) {
                if let TxAction::Send(_) = a {
                    sends.push(now - t0);
                }
            }
        }
        let ms: Vec<u128> = sends.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(now - t0, Duration::from_secs(32));
    }

    #[test]
    fn tcp_client_never_retransmits() {
        let t0 = Instant::now();
        let (mut tx, _) = ClientTx::start(t0, invite(), peer(), Transport::Tcp, Timers::default());
        let acts = tx.on_timeout(t0 + Duration::from_secs(32));
        assert_eq!(acts, vec![TxAction::Timeout]);
    }

    #[test]
    fn server_non2xx_retransmits_with_timer_g_capped_at_t2() {
        let t0 = Instant::now();
        let mut tx = ServerTx::new(invite(), peer(), Transport::Udp, Timers::default());
        let resp = invite().response(486, Some("x"));
        tx.respond(t0, &resp);
        let mut times = Vec::new();
        while let Some(at) = tx.deadline() {
            for a in tx.on_timeout(at) {
                match a {
                    TxAction::Send(_) => times.push((at - t0).as_millis()),
                    TxAction::Timeout => times.push(0),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        assert_eq!(
            times,
            vec![
                500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500, 0
            ]
        );
    }

    fn options() -> Request {
        let raw = "OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP a:5060;branch=z9hG4bK2\r\nFrom: <sip:a@h>;tag=1\r\n\
                   To: <sip:b@h>\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\n\r\n";
        match Message::parse(raw.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("bad fixture: {other:?}"),
        }
    }

    /// Runs timers until the transaction terminates; returns when it did.
    fn lifetime_client(tx: &mut ClientTx, t0: Instant) -> Duration {
        while let Some(at) = tx.deadline() {
            tx.on_timeout(at);
            if tx.is_terminated() {
                return at - t0;
            }
        }
        panic!("transaction never terminated");
    }

    fn lifetime_server(tx: &mut ServerTx, t0: Instant) -> Duration {
        while let Some(at) = tx.deadline() {
            tx.on_timeout(at);
            if tx.is_terminated() {
                return at - t0;
            }
        }
        panic!("transaction never terminated");
    }

    #[test]
    fn timer_d_absorbs_final_retransmissions_32s_on_udp_and_0_on_tcp() {
        for (transport, expected) in [(Transport::Udp, 32), (Transport::Tcp, 0)] {
            let t0 = Instant::now();
            let (mut tx, _) = ClientTx::start(t0, invite(), peer(), transport, Timers::default());
            let busy = invite().response(486, Some("x"));
            let acts = tx.on_response(t0, busy.clone());
            assert!(matches!(
                acts.as_slice(),
                [TxAction::Send(_), TxAction::Deliver(_)]
            ));
            if transport == Transport::Udp {
                let again = tx.on_response(t0 + Duration::from_secs(1), busy);
                assert!(
                    matches!(again.as_slice(), [TxAction::Send(_)]),
                    "re-ACK, not re-delivered"
                );
            }
            assert_eq!(lifetime_client(&mut tx, t0), Duration::from_secs(expected));
        }
    }

    #[test]
    fn timer_k_lingers_t4_on_udp_and_0_on_tcp() {
        for (transport, expected) in [(Transport::Udp, 5), (Transport::Tcp, 0)] {
            let t0 = Instant::now();
            let (mut tx, _) = ClientTx::start(t0, options(), peer(), transport, Timers::default());
            let ok = options().response(200, Some("x"));
            assert_eq!(tx.on_response(t0, ok.clone()).len(), 1);
            assert!(tx.on_response(t0, ok).is_empty(), "retransmission absorbed");
            assert_eq!(lifetime_client(&mut tx, t0), Duration::from_secs(expected));
        }
    }

    #[test]
    fn timer_e_uses_t2_once_proceeding() {
        let t0 = Instant::now();
        let (mut tx, _) = ClientTx::start(t0, options(), peer(), Transport::Udp, Timers::default());
        tx.on_response(t0, options().response(100, None));
        let first = tx.deadline().expect("E and F run");
        tx.on_timeout(first);
        assert_eq!(
            tx.deadline().map(|d| d - first),
            Some(Duration::from_secs(4))
        );
    }

    #[test]
    fn timer_i_lingers_t4_after_ack_on_udp_and_0_on_tcp() {
        for (transport, expected) in [(Transport::Udp, 5), (Transport::Tcp, 0)] {
            let t0 = Instant::now();
            let mut tx = ServerTx::new(invite(), peer(), transport, Timers::default());
            tx.respond(t0, &invite().response(603, Some("x")));
            let mut ack = invite();
            ack.method = Method::Ack;
            assert!(tx.on_request(t0, ack.clone()).is_empty());
            assert!(
                tx.on_request(t0, ack).is_empty(),
                "ACK retransmission absorbed"
            );
            assert_eq!(lifetime_server(&mut tx, t0), Duration::from_secs(expected));
        }
    }

    #[test]
    fn timer_j_lingers_64_t1_on_udp_and_0_on_tcp_and_resends_the_response() {
        for (transport, expected) in [(Transport::Udp, 32), (Transport::Tcp, 0)] {
            let t0 = Instant::now();
            let mut tx = ServerTx::new(options(), peer(), transport, Timers::default());
            tx.respond(t0, &options().response(200, Some("x")));
            if transport == Transport::Udp {
                let again = tx.on_request(t0 + Duration::from_secs(1), options());
                assert!(matches!(again.as_slice(), [TxAction::Send(_)]));
            }
            assert_eq!(lifetime_server(&mut tx, t0), Duration::from_secs(expected));
        }
    }

    #[test]
    fn lingering_server_transactions_keep_response_bytes_only_while_needed() {
        let t0 = Instant::now();
        let bytes = |tx: &ServerTx| tx.last_response.as_ref().map_or(0, |(_, b)| b.len());
        // 2xx: retransmitted on G until the ACK, then only absorbs INVITEs for 64·T1.
        let mut tx = ServerTx::new(invite(), peer(), Transport::Udp, Timers::default());
        tx.respond(t0, &invite().response(200, Some("x")));
        assert!(bytes(&tx) > 0);
        tx.on_2xx_ack();
        assert_eq!(bytes(&tx), 0, "ACKed 2xx is never re-sent");
        assert!(tx.has_final(), "the status stays");
        assert!(tx.on_request(t0, invite()).is_empty());
        assert_eq!(tx.deadline(), Some(t0 + Duration::from_secs(32)), "timer L");
        // Non-2xx: re-sent on a retransmitted INVITE until the ACK, not after it.
        let mut tx = ServerTx::new(invite(), peer(), Transport::Udp, Timers::default());
        tx.respond(t0, &invite().response(486, Some("x")));
        assert!(
            matches!(tx.on_request(t0, invite()).as_slice(), [TxAction::Send(b)] if !b.is_empty())
        );
        let mut ack = invite();
        ack.method = Method::Ack;
        tx.on_request(t0, ack);
        assert_eq!(bytes(&tx), 0);
        assert!(tx.on_request(t0, invite()).is_empty());
        // Non-INVITE: the final response is re-sent for the whole of timer J.
        let mut tx = ServerTx::new(options(), peer(), Transport::Udp, Timers::default());
        tx.respond(t0, &options().response(200, Some("x")));
        let late = tx.on_request(t0 + Duration::from_secs(31), options());
        assert!(matches!(late.as_slice(), [TxAction::Send(b)] if !b.is_empty()));
        assert_eq!(tx.cseq, Some(1));
    }

    #[test]
    fn invite_server_absorbs_retransmits_after_2xx_until_timer_l() {
        let t0 = Instant::now();
        let mut tx = ServerTx::new(invite(), peer(), Transport::Tcp, Timers::default());
        tx.respond(t0, &invite().response(200, Some("x")));
        assert!(tx.on_request(t0, invite()).is_empty());
        tx.on_2xx_ack();
        assert_eq!(lifetime_server(&mut tx, t0), Duration::from_secs(32));
    }
}

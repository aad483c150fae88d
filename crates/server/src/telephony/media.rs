//! The media runtime: RTP/RTCP sockets from the configured port range and media threads
//! (one per core) that own the `denwa_media::Room` of each of their calls.
//!
//! Each media thread runs a single-threaded tokio runtime; each call is one task on it
//! that owns its room and the sockets of its legs, ticks the room every 20 ms when its
//! thread's ticker (a plain thread, 1 ms slots) wakes it (reading what its SIP legs
//! received just before: those sockets wake nothing), hands recorded frames to its
//! thread's recording writer (a plain thread that owns the WAV files), and stops on
//! command. On the 20 ms path threads share only the metrics' atomic counters, the
//! ticker's wake-ups and the writer's queue (a short lock; never waits on the disk).

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use denwa_media::{
    Channel, Event, FRAME_SAMPLES, HoldMusic, INTERNAL_RATE, LegConfig, LegId, Prompt, Room, TICK,
    WavWriter,
};
use denwa_sip::CallHandle;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage, sockopt};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

/// What the media side tells the SIP edge.
#[derive(Debug)]
pub(crate) enum MediaNotice {
    /// The call's media stopped (the customer's leg went quiet or sent RTCP BYE, or the
    /// room could not start): hang up every leg.
    Ended { call: CallHandle, reason: String },
    /// One staff leg's media stopped (a softphone went quiet, a browser closed or lost
    /// its network): that leg is out of the room; the call goes on.
    LegEnded {
        call: CallHandle,
        key: LegKey,
        reason: String,
    },
    /// The prompt started with [`CallCommand::Play`] has been played to its end.
    PromptFinished { call: CallHandle },
}

/// Names a leg of a room for the edge: the SIP dialog it carries, or the staff member
/// whose leg it is in a call the call service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum LegKey {
    /// A SIP dialog's leg (the caller; the echo test; a test call).
    Dialog(CallHandle),
    /// A staff member's leg (softphone or browser).
    Staff(i64),
}

/// A bound RTP/RTCP socket pair (even port, port + 1).
#[derive(Debug)]
pub(crate) struct RtpPair {
    rtp: StdUdpSocket,
    rtcp: StdUdpSocket,
    port: u16,
}

impl RtpPair {
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The RTP socket alone (a browser leg needs one socket; the RTCP port is freed).
    pub(crate) fn into_rtp(self) -> (StdUdpSocket, u16) {
        (self.rtp, self.port)
    }
}

/// Hands out RTP/RTCP port pairs from the configured range. A pair is free when both
/// ports bind; ports held by running calls (or anyone else) are skipped.
#[derive(Debug)]
pub(crate) struct PortPool {
    ip: IpAddr,
    first: u16,
    pairs: u16,
    next: u16,
}

impl PortPool {
    /// A pool over `lo..=hi` (checked by `parse_port_range`: at least one pair).
    pub(crate) fn new(ip: IpAddr, (lo, hi): (u16, u16)) -> PortPool {
        let first = lo + lo % 2;
        // Every pair p has rtp = first + 2p and rtcp = first + 2p + 1 <= hi.
        let pairs = hi.saturating_sub(first).div_ceil(2).max(1);
        PortPool {
            ip,
            first,
            pairs,
            next: 0,
        }
    }

    /// The next free pair, or `None` when every pair of the range is taken.
    pub(crate) fn allocate(&mut self) -> Option<RtpPair> {
        for _ in 0..self.pairs {
            let p = self.next;
            self.next = (self.next + 1) % self.pairs;
            let port = self.first + 2 * p;
            let Ok(rtp) = StdUdpSocket::bind(SocketAddr::new(self.ip, port)) else {
                continue;
            };
            let Ok(rtcp) = StdUdpSocket::bind(SocketAddr::new(self.ip, port + 1)) else {
                continue;
            };
            if rtp.set_nonblocking(true).is_err() || rtcp.set_nonblocking(true).is_err() {
                continue;
            }
            return Some(RtpPair { rtp, rtcp, port });
        }
        None
    }
}

/// One leg of a call's room: its sockets and what the SDP negotiated.
#[derive(Debug)]
pub(crate) struct StartLeg {
    /// How the edge names this leg in later commands.
    pub(crate) key: LegKey,
    pub(crate) sockets: RtpPair,
    pub(crate) config: LegConfig,
}

/// A browser's WebRTC leg to add to a running room: the answered `str0m` peer and the
/// UDP socket its one ICE candidate names.
pub(crate) struct StartBrowser {
    pub(crate) key: LegKey,
    pub(crate) leg: denwa_webrtc::BrowserLeg,
    pub(crate) socket: StdUdpSocket,
    pub(crate) config: LegConfig,
    pub(crate) muted: bool,
}

impl std::fmt::Debug for StartBrowser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartBrowser")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// One call's media, to start on a media thread: a room with its legs (one for the echo
/// test, two for a bridged call; none for a call staff place, whose customer joins with
/// [`CallCommand::AddCustomer`]).
#[derive(Debug)]
pub(crate) struct StartMedia {
    /// The room's key: the customer's dialog of the call.
    pub(crate) call: CallHandle,
    /// The first, when there is one, is the customer's.
    pub(crate) legs: Vec<StartLeg>,
    /// Write one WAV track per leg plus a mixed track into this directory.
    pub(crate) record: Option<PathBuf>,
}

/// Counters of the media threads, on `/metrics`.
#[derive(Debug, Clone, Default)]
pub(crate) struct MediaMetrics {
    ticks: Counter,
    late: Family<LateLabels, Counter>,
    /// The family's counters in `LATE_OVER` order, looked up once: the tick path bumps
    /// them without taking the family's lock.
    late_by: [Counter; LATE_OVER.len()],
    received: Counter,
    sent: Counter,
    lost: Counter,
    legs: Gauge,
    recording_dropped: Counter,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LateLabels {
    over: &'static str,
}

/// Tick lateness thresholds counted on `/metrics` (a tick is late when the room's work
/// for it finished this long after its scheduled instant).
const LATE_OVER: [(Duration, &str); 4] = [
    (Duration::from_millis(1), "1ms"),
    (Duration::from_millis(2), "2ms"),
    (Duration::from_millis(5), "5ms"),
    (Duration::from_millis(20), "20ms"),
];

impl MediaMetrics {
    /// Fresh counters, registered with the server's metrics.
    pub(crate) fn register(metrics: &denwa_api::metrics::Metrics) -> MediaMetrics {
        let mut m = MediaMetrics::default();
        metrics.register(
            "media_ticks",
            "20 ms media ticks run (one per room per tick)",
            m.ticks.clone(),
        );
        metrics.register(
            "media_ticks_late",
            "Media ticks that finished later than `over` after their scheduled instant",
            m.late.clone(),
        );
        metrics.register(
            "media_rtp_received",
            "RTP packets received from legs",
            m.received.clone(),
        );
        metrics.register("media_rtp_sent", "RTP packets sent to legs", m.sent.clone());
        metrics.register(
            "media_rtp_lost",
            "RTP packets lost on the way to us (sequence gaps, RFC 3550 A.3)",
            m.lost.clone(),
        );
        metrics.register("media_legs", "Media legs running now", m.legs.clone());
        metrics.register(
            "media_recording_frames_dropped",
            "Recorded ticks dropped because the media thread's recording writer was behind",
            m.recording_dropped.clone(),
        );
        // Present from the start, so a scrape before the first late tick reads 0.
        m.late_by = LATE_OVER.map(|(_, over)| m.late.get_or_create(&LateLabels { over }).clone());
        m
    }
}

enum Command {
    Start(Box<StartMedia>),
    Call(CallHandle, CallCommand),
}

/// A change to a running call's room.
#[derive(Debug)]
pub(crate) enum CallCommand {
    /// End the call's media (its sockets close).
    Stop,
    /// The customer (the room's first leg) hears hold music; staff keep hearing each other.
    Hold,
    /// Back from hold.
    Unhold,
    /// The far end of a leg moved its media to `rtp` (re-INVITE/UPDATE).
    Remote { key: LegKey, rtp: SocketAddr },
    /// A SIP leg joins the room (`muted`: SPEC RG-8).
    AddLeg { leg: Box<StartLeg>, muted: bool },
    /// A browser leg joins the room.
    AddBrowser(Box<StartBrowser>),
    /// A leg leaves the room (its sockets close).
    RemoveLeg(LegKey),
    /// Mute or unmute a leg (SPEC RG-4).
    Mute { key: LegKey, muted: bool },
    /// Send RFC 4733 digits to the customer (the room's first leg).
    Dtmf(String),
    /// Play a prompt once to the customer (the room's first leg); its end is reported
    /// with [`MediaNotice::PromptFinished`].
    Play(Prompt),
    /// The customer hears this music while on hold (the channel's own file; 16 kHz mono)
    /// instead of the built-in pattern.
    HoldMusic(HoldMusic),
    /// The customer's leg joins a room started without one (a call a staff member
    /// placed: the far end answered, or sent early media). It becomes the first leg.
    AddCustomer(Box<StartLeg>),
    /// Start recording now (a call placed by staff is recorded from the answer): one
    /// track per leg in the room plus the mix.
    Record(PathBuf),
}

/// The media threads, from the SIP edge's side.
pub(crate) struct MediaRuntime {
    shards: Vec<mpsc::UnboundedSender<Command>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    writers: Vec<RecordWriter>,
    tickers: Vec<Ticker>,
    next: usize,
    placement: HashMap<CallHandle, usize>,
}

impl MediaRuntime {
    /// Starts `threads` media threads; notices go to `notices`.
    pub(crate) fn start(
        threads: usize,
        notices: mpsc::UnboundedSender<MediaNotice>,
        metrics: MediaMetrics,
    ) -> anyhow::Result<MediaRuntime> {
        let mut shards = Vec::new();
        let mut handles = Vec::new();
        let mut writers = Vec::new();
        let mut tickers = Vec::new();
        for i in 0..threads.max(1) {
            let (tx, rx) = mpsc::unbounded_channel();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let notices = notices.clone();
            let metrics = metrics.clone();
            let writer = RecordWriter::start(i)?;
            let queue = writer.queue.clone();
            let ticker = Ticker::start(i)?;
            let clock = ticker.clock.clone();
            let handle = std::thread::Builder::new()
                .name(format!("denwa-media-{i}"))
                .spawn(move || {
                    let local = tokio::task::LocalSet::new();
                    local.block_on(&runtime, shard(rx, notices, metrics, queue, clock));
                })?;
            shards.push(tx);
            handles.push(handle);
            writers.push(writer);
            tickers.push(ticker);
        }
        Ok(MediaRuntime {
            shards,
            threads: handles,
            writers,
            tickers,
            next: 0,
            placement: HashMap::new(),
        })
    }

    /// Starts a call's media on the next thread (round robin).
    pub(crate) fn start_call(&mut self, start: StartMedia) {
        let shard = self.next % self.shards.len();
        self.next = self.next.wrapping_add(1);
        self.placement.insert(start.call, shard);
        let _ = self.shards[shard].send(Command::Start(Box::new(start)));
    }

    /// Stops a call's media (its sockets close, freeing the ports).
    pub(crate) fn stop_call(&mut self, call: CallHandle) {
        if let Some(shard) = self.placement.remove(&call) {
            let _ = self.shards[shard].send(Command::Call(call, CallCommand::Stop));
        }
    }

    /// Changes a running call's room (legs joining and leaving, hold, mute, DTMF, a
    /// moved far end).
    pub(crate) fn command(&self, call: CallHandle, cmd: CallCommand) {
        if let Some(&shard) = self.placement.get(&call) {
            let _ = self.shards[shard].send(Command::Call(call, cmd));
        }
    }

    /// Stops every call and joins the threads.
    pub(crate) fn shutdown(self) {
        drop(self.shards);
        for t in self.threads {
            let _ = t.join();
        }
        // The calls have handed over their last frames: finish every track.
        for w in self.writers {
            w.stop();
        }
        for t in self.tickers {
            t.stop();
        }
    }
}

async fn shard(
    mut commands: mpsc::UnboundedReceiver<Command>,
    notices: mpsc::UnboundedSender<MediaNotice>,
    metrics: MediaMetrics,
    recordings: Arc<RecordQueue>,
    clock: Arc<TickClock>,
) {
    // Boxed: a channel's first block holds 32 values, so a 64-byte command cost each call
    // 2 KiB; commands are rare (hold, mute, a leg joining), their allocation is not.
    let mut running: HashMap<CallHandle, mpsc::UnboundedSender<Box<CallCommand>>> = HashMap::new();
    while let Some(cmd) = commands.recv().await {
        running.retain(|_, call| !call.is_closed());
        match cmd {
            Command::Start(start) => {
                let (tx, rx) = mpsc::unbounded_channel();
                running.insert(start.call, tx);
                tokio::task::spawn_local(run_call(
                    *start,
                    rx,
                    notices.clone(),
                    metrics.clone(),
                    recordings.clone(),
                    clock.clone(),
                ));
            }
            Command::Call(call, CallCommand::Stop) => {
                if let Some(tx) = running.remove(&call) {
                    let _ = tx.send(Box::new(CallCommand::Stop));
                }
            }
            Command::Call(call, cmd) => {
                if let Some(tx) = running.get(&call) {
                    let _ = tx.send(Box::new(cmd));
                }
            }
        }
    }
    // The edge is gone: stop every call and let their tasks finish.
    for (_, call) in running.drain() {
        let _ = call.send(Box::new(CallCommand::Stop));
    }
    tokio::task::yield_now().await;
}

/// NTP time now (RFC 3550 §4: seconds since 1900 in the high 32 bits).
fn ntp_now() -> u64 {
    const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// Largest datagram a call receives or sends (RTP/RTCP; a browser's SRTP and DTLS).
const DATAGRAM_BUFFER: usize = 2048;

thread_local! {
    /// A media thread's batched receive state for SIP legs ([`receive_sip`]).
    static SIP_RECEIVER: std::cell::RefCell<SipReceiver> =
        std::cell::RefCell::new(SipReceiver::new());
    /// A media thread's receive buffer for browser legs, shared by its calls: a call
    /// fills it and handles the datagram within one poll, so no other call runs in
    /// between (4 KiB less per call than a pair of buffers in each call task).
    static RECEIVE_BUFFER: std::cell::RefCell<[u8; DATAGRAM_BUFFER]> =
        const { std::cell::RefCell::new([0; DATAGRAM_BUFFER]) };
    /// A media thread's transmit buffer, shared the same way (see [`send_all`]).
    static TRANSMIT_BUFFER: std::cell::RefCell<[u8; DATAGRAM_BUFFER]> =
        const { std::cell::RefCell::new([0; DATAGRAM_BUFFER]) };
}

/// A leg as the call task runs it.
struct RunningLeg {
    id: LegId,
    key: LegKey,
    io: LegIo,
    /// Counters already added to the metrics (received, sent, lost).
    reported: (u64, u64, u64),
}

/// A leg's sockets.
enum LegIo {
    /// Plain RTP and RTCP (SIP legs): not registered with the runtime's reactor; the
    /// call reads them once per tick (see [`receive_sip`]).
    Rtp {
        rtp: StdUdpSocket,
        rtcp: StdUdpSocket,
    },
    /// A browser's WebRTC peer (ICE, DTLS-SRTP and RTCP are `str0m`'s) on one socket.
    Browser {
        leg: Box<denwa_webrtc::BrowserLeg>,
        socket: UdpSocket,
        local: SocketAddr,
        /// When the peer wants `handle_timeout`.
        timeout: Instant,
    },
}

/// A datagram that arrived on a browser leg's socket.
struct Arrival {
    leg: usize,
    len: usize,
    from: SocketAddr,
}

/// Waits for the next datagram on any browser leg's socket (at most ten legs: polling
/// them all on a wake-up is cheaper than a task per socket). SIP legs' sockets are read
/// at the tick instead ([`receive_sip`]).
fn poll_arrival(
    cx: &mut std::task::Context<'_>,
    legs: &[RunningLeg],
    buf: &mut [u8],
) -> std::task::Poll<Arrival> {
    use std::task::Poll;
    for (i, leg) in legs.iter().enumerate() {
        let LegIo::Browser { socket, .. } = &leg.io else {
            continue;
        };
        let mut rb = tokio::io::ReadBuf::new(buf);
        // An error (ICMP port unreachable on Linux, say) is per datagram: go on.
        while let Poll::Ready(r) = socket.poll_recv_from(cx, &mut rb) {
            if let Ok(from) = r {
                return Poll::Ready(Arrival {
                    leg: i,
                    len: rb.filled().len(),
                    from,
                });
            }
            rb.clear();
        }
    }
    Poll::Pending
}

/// Hands the room what every SIP leg's RTP socket (and, when `rtcp_too`, RTCP socket)
/// received. Malformed or foreign packets are counted by the room and dropped.
fn receive_sip_legs(room: &mut Room, legs: &[RunningLeg], rx: &mut SipReceiver, rtcp_too: bool) {
    for leg in legs {
        let LegIo::Rtp { rtp, rtcp } = &leg.io else {
            continue;
        };
        receive_sip(rtp, rx, |at, from, data| {
            let _ = room.handle_rtp(at, leg.id, from, data);
        });
        if rtcp_too {
            receive_sip(rtcp, rx, |at, from, data| {
                let _ = room.handle_rtcp(at, leg.id, from, data);
            });
        }
    }
}

/// Datagrams one `recvmmsg` takes from a SIP leg's socket at most (a socket gets one
/// packet per 20 ms; more are queued only after a burst).
const RECEIVE_BATCH: usize = 8;
/// A SIP leg's RTCP socket is read every this many ticks (reports come every ~5 s; 200 ms
/// late is nothing to them, and it spares one system call per leg and tick).
const RTCP_EVERY_TICKS: u32 = 10;

/// A media thread's batched receive state for SIP legs, shared by its calls like
/// [`RECEIVE_BUFFER`]: `recvmmsg` headers with room for each datagram's kernel arrival
/// time (`SO_TIMESTAMPNS`), and the datagrams' buffers.
struct SipReceiver {
    headers: MultiHeaders<SockaddrStorage>,
    buffers: Box<[[u8; DATAGRAM_BUFFER]; RECEIVE_BATCH]>,
}

impl SipReceiver {
    fn new() -> SipReceiver {
        SipReceiver {
            headers: MultiHeaders::preallocate(
                RECEIVE_BATCH,
                Some(nix::cmsg_space!(nix::sys::time::TimeSpec)),
            ),
            buffers: Box::new([[0; DATAGRAM_BUFFER]; RECEIVE_BATCH]),
        }
    }
}

/// Turns on kernel arrival times for a SIP leg's socket. Packets are read at the tick,
/// up to 20 ms after they arrived; the jitter statistics and the jitter buffer need when
/// they arrived. Without it (not Linux, say) the read time stands in.
fn stamp_arrivals(socket: &StdUdpSocket) {
    if let Err(e) = nix::sys::socket::setsockopt(socket, sockopt::ReceiveTimestampns, &true) {
        tracing::debug!(error = %e, "no kernel receive timestamps on a media socket");
    }
}

/// The monotonic instant of a kernel (wall-clock) timestamp, given a wall-clock and a
/// monotonic reading taken together; never later than that reading.
fn arrival_instant(stamp: Option<SystemTime>, wall: SystemTime, mono: Instant) -> Instant {
    match stamp.and_then(|s| wall.duration_since(s).ok()) {
        Some(ago) => mono.checked_sub(ago).unwrap_or(mono),
        None => mono,
    }
}

/// Reads every datagram waiting on one SIP leg socket (one `recvmmsg` per batch, so
/// usually one system call) and hands each to `handle` with its arrival time and source.
fn receive_sip(
    socket: &StdUdpSocket,
    rx: &mut SipReceiver,
    mut handle: impl FnMut(Instant, SocketAddr, &[u8]),
) {
    use std::os::fd::AsRawFd;
    // An error is per datagram (ICMP port unreachable on Linux, say): a few are skipped,
    // but a socket that keeps failing waits for the next tick.
    for _ in 0..4 {
        let SipReceiver { headers, buffers } = rx;
        let mut slices = buffers.each_mut().map(|b| [std::io::IoSliceMut::new(b)]);
        let received = nix::sys::socket::recvmmsg(
            socket.as_raw_fd(),
            headers,
            slices.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        );
        let batch = match received {
            Ok(batch) => batch,
            Err(nix::errno::Errno::EAGAIN) => return,
            Err(_) => continue,
        };
        let (wall, mono) = (SystemTime::now(), Instant::now());
        let mut n = 0;
        for msg in batch {
            n += 1;
            let from = msg.address.as_ref().and_then(|a| {
                a.as_sockaddr_in()
                    .map(|a| SocketAddr::from(*a))
                    .or_else(|| a.as_sockaddr_in6().map(|a| SocketAddr::from(*a)))
            });
            let stamp = msg.cmsgs().ok().and_then(|mut c| {
                c.find_map(|c| match c {
                    ControlMessageOwned::ScmTimestampns(ts) => Some(
                        UNIX_EPOCH
                            + Duration::new(
                                u64::try_from(ts.tv_sec()).unwrap_or(0),
                                u32::try_from(ts.tv_nsec()).unwrap_or(0),
                            ),
                    ),
                    _ => None,
                })
            });
            let data = msg.iovs().next().unwrap_or(&[]);
            if let Some(from) = from {
                handle(arrival_instant(stamp, wall, mono), from, data);
            }
        }
        if n < RECEIVE_BATCH {
            return;
        }
    }
}

/// The earliest instant a browser leg wants to be woken at.
fn browser_deadline(legs: &[RunningLeg]) -> Option<Instant> {
    legs.iter()
        .filter_map(|l| match &l.io {
            LegIo::Browser { timeout, .. } => Some(*timeout),
            LegIo::Rtp { .. } => None,
        })
        .min()
}

/// A leg that must leave the room, and why.
type Gone = (LegKey, String);

/// Runs a browser leg's output: datagrams out, its media into the room, its next
/// timeout. Returns why the leg is gone, if it is.
fn drive_browser(room: &mut Room, leg: &mut RunningLeg, now: Instant) -> Option<String> {
    let LegIo::Browser {
        leg: peer,
        socket,
        timeout,
        ..
    } = &mut leg.io
    else {
        return None;
    };
    loop {
        match peer.poll_output() {
            Ok(denwa_webrtc::Output::Timeout(at)) => {
                *timeout = at;
                return None;
            }
            Ok(denwa_webrtc::Output::Transmit(t)) => {
                let _ = socket.try_send_to(&t.contents, t.destination);
            }
            Ok(denwa_webrtc::Output::Event(denwa_webrtc::Event::Media(m))) => {
                // Malformed or foreign packets are counted by the room and dropped.
                let _ = room.handle_media(now, leg.id, m.header, &m.payload);
            }
            Ok(denwa_webrtc::Output::Event(denwa_webrtc::Event::Connected)) => {
                tracing::info!(leg = leg.id.get(), "browser leg connected (ICE + DTLS)");
            }
            Ok(denwa_webrtc::Output::Event(e)) => {
                if !peer.is_alive() {
                    return Some(format!("browser leg closed ({e:?})"));
                }
                tracing::debug!(leg = leg.id.get(), event = ?e, "browser leg");
            }
            Err(e) => return Some(format!("browser leg failed: {e}")),
        }
    }
}

/// Starts a SIP leg in the room.
fn add_sip_leg(room: &mut Room, now: Instant, leg: StartLeg) -> Result<RunningLeg, String> {
    let RtpPair { rtp, rtcp, port } = leg.sockets;
    stamp_arrivals(&rtp);
    stamp_arrivals(&rtcp);
    let id = room
        .add_leg(now, leg.config)
        .map_err(|e| format!("media leg: {e}"))?;
    tracing::debug!(key = ?leg.key, port, "media leg started");
    Ok(RunningLeg {
        id,
        key: leg.key,
        io: LegIo::Rtp { rtp, rtcp },
        reported: (0, 0, 0),
    })
}

/// Starts a browser leg in the room.
fn add_browser_leg(room: &mut Room, now: Instant, b: StartBrowser) -> Result<RunningLeg, String> {
    let socket = UdpSocket::from_std(b.socket).map_err(|e| format!("browser socket: {e}"))?;
    let local = b.leg.local_addr();
    let id = room
        .add_leg(now, b.config)
        .map_err(|e| format!("browser leg: {e}"))?;
    if b.muted {
        let _ = room.set_muted(id, true);
    }
    tracing::debug!(key = ?b.key, %local, "browser leg started");
    Ok(RunningLeg {
        id,
        key: b.key,
        io: LegIo::Browser {
            leg: Box::new(b.leg),
            socket,
            local,
            timeout: now,
        },
        reported: (0, 0, 0),
    })
}

/// One call: owns its room and sockets until stopped or its media times out.
async fn run_call(
    start: StartMedia,
    mut commands: mpsc::UnboundedReceiver<Box<CallCommand>>,
    notices: mpsc::UnboundedSender<MediaNotice>,
    metrics: MediaMetrics,
    recordings: Arc<RecordQueue>,
    clock: Arc<TickClock>,
) {
    let call = start.call;
    let ended = |reason: String| {
        let _ = notices.send(MediaNotice::Ended { call, reason });
    };
    let now = Instant::now();
    let mut room = Room::new(now);
    room.set_ntp_anchor(now, ntp_now());
    let mut legs: Vec<RunningLeg> = Vec::with_capacity(start.legs.len());
    for leg in start.legs {
        match add_sip_leg(&mut room, now, leg) {
            Ok(l) => legs.push(l),
            Err(e) => return ended(e),
        }
    }
    metrics.legs.inc_by(legs.len() as i64);
    // Whether legs[0] is the customer's: a room a staff member's call starts has none
    // until the far end answers.
    let mut has_customer = !legs.is_empty();
    let open_recorder = |dir: PathBuf, legs: &[RunningLeg], has_customer: bool| {
        tracing::info!(call = call.0, dir = %dir.display(), "recording");
        let tracks = legs
            .iter()
            .enumerate()
            .map(|(i, l)| (l.id, track_label(l.key, has_customer && i == 0)))
            .collect();
        RecordTap::open(recordings.clone(), call, dir, tracks)
    };
    let mut recorder = start
        .record
        .map(|dir| open_recorder(dir, &legs, has_customer));
    // The call ticks in one of the thread's 1 ms slots, woken by the thread's ticker.
    let phase = clock.join();
    let mut ticks = phase.wake.clone();
    // The first tick a period or more from now (like the interval it replaces); the
    // ticker, idle until this call, looks again within a period.
    let mut next_tick = phase.first_after(Instant::now() + TICK);
    let mut tick_count: u32 = 0;
    let mut wakes: u32 = 0;
    let mut gone: Vec<Gone> = Vec::new();
    let reason = loop {
        let browser_at = browser_deadline(&legs);
        tokio::select! {
            c = commands.recv() => match c.map(|c| *c) {
                None | Some(CallCommand::Stop) => break None,
                Some(CallCommand::AddCustomer(leg)) if !has_customer => {
                    match add_sip_leg(&mut room, Instant::now(), *leg) {
                        Ok(l) => {
                            tracing::info!(call = call.0, "customer leg joined the room");
                            if let Some(rec) = recorder.as_mut() {
                                rec.add_track(l.id, "customer".to_owned());
                            }
                            legs.insert(0, l);
                            metrics.legs.inc();
                            has_customer = true;
                        }
                        Err(e) => break Some(e),
                    }
                }
                Some(CallCommand::Record(dir)) => {
                    if recorder.is_none() {
                        recorder = Some(open_recorder(dir, &legs, has_customer));
                    }
                }
                Some(cmd) => {
                    let customer = if has_customer { legs.first().map(|l| l.id) } else { None };
                    apply(&mut room, &mut legs, call, cmd, customer, &metrics, recorder.as_mut());
                }
            },
            a = std::future::poll_fn(|cx| {
                RECEIVE_BUFFER.with_borrow_mut(|buf| poll_arrival(cx, &legs, buf))
            }) => {
                let now = Instant::now();
                // Still this datagram: nothing ran on the thread since it was received.
                RECEIVE_BUFFER.with_borrow(|buf| {
                    let data = &buf[..a.len];
                    let leg = &mut legs[a.leg];
                    if let LegIo::Browser { leg: peer, local, .. } = &mut leg.io {
                        let _ = peer.handle_input(now, a.from, *local, data);
                    }
                    if let Some(why) = drive_browser(&mut room, leg, now) {
                        gone.push((leg.key, why));
                    }
                });
            }
            _ = sleep_until_opt(browser_at) => {
                let now = Instant::now();
                for leg in legs.iter_mut() {
                    if let LegIo::Browser { leg: peer, timeout, .. } = &mut leg.io
                        && *timeout <= now
                    {
                        let failed = peer.handle_timeout(now).err();
                        let why = drive_browser(&mut room, leg, now)
                            .or(failed.map(|e| format!("browser leg failed: {e}")));
                        if let Some(why) = why {
                            gone.push((leg.key, why));
                        }
                    }
                }
            }
            _ = ticks.changed() => {
                // What the SIP legs received since the last tick, just before the room
                // plays it out (their sockets wake nothing: one read per tick).
                wakes = wakes.wrapping_add(1);
                let rtcp_too = wakes.is_multiple_of(RTCP_EVERY_TICKS);
                SIP_RECEIVER.with_borrow_mut(|rx| receive_sip_legs(&mut room, &legs, rx, rtcp_too));
                // Behind schedule (a loaded machine): tick once per missed period so the
                // room keeps pace with the senders (denwa-media's `tick` contract).
                while next_tick <= Instant::now() {
                    let at = next_tick;
                    next_tick += TICK;
                    room.tick(at);
                    if let Some(rec) = recorder.as_mut()
                        && !rec.hand_over(&room)
                    {
                        metrics.recording_dropped.inc();
                    }
                    // Lateness: when the tick's room work is done, against its scheduled
                    // instant (not against when the ticker woke us).
                    let late = Instant::now().saturating_duration_since(at);
                    metrics.ticks.inc();
                    for ((limit, _), counter) in LATE_OVER.iter().zip(&metrics.late_by) {
                        if late > *limit {
                            counter.inc();
                        }
                    }
                    tick_count = tick_count.wrapping_add(1);
                    if tick_count.is_multiple_of(50) {
                        report_counts(&room, &mut legs, &metrics);
                    }
                }
            }
        }
        TRANSMIT_BUFFER.with_borrow_mut(|out| send_all(&mut room, &mut legs, out, &mut gone));
        if let Some(reason) = drain_events(&mut room, call, &legs, &mut gone, &notices) {
            break Some(reason);
        }
        // Legs that are gone leave the room; the customer's leg (the first) ends the call.
        let mut end = None;
        for (key, why) in gone.drain(..) {
            if has_customer && legs.first().is_some_and(|l| l.key == key) {
                end = Some(why);
                break;
            }
            if remove_leg(&mut room, &mut legs, key, &metrics) {
                tracing::info!(call = call.0, ?key, %why, "leg left the room");
                let _ = notices.send(MediaNotice::LegEnded {
                    call,
                    key,
                    reason: why,
                });
            }
        }
        if end.is_some() {
            break end;
        }
    };
    report_counts(&room, &mut legs, &metrics);
    metrics.legs.dec_by(legs.len() as i64);
    if let Some(rec) = recorder {
        rec.close();
    }
    for leg in &mut legs {
        if let LegIo::Browser { leg: peer, .. } = &mut leg.io {
            let _ = peer.close();
        }
        if let Ok(stats) = room.leg_stats(leg.id) {
            tracing::info!(
                call = call.0,
                key = ?leg.key,
                received = stats.packets_received,
                lost = stats.packets_lost,
                jitter_ms = stats.jitter.as_secs_f64() * 1000.0,
                sent = stats.packets_sent,
                rejected = stats.rejected,
                "media ended"
            );
        }
    }
    if let Some(reason) = reason {
        ended(reason);
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The recording track label of a leg: `customer` for the room's first leg of a call,
/// `staff-<id>` for a staff member's, `leg-<dialog>` otherwise.
fn track_label(key: LegKey, first: bool) -> String {
    match key {
        LegKey::Staff(id) => format!("staff-{id}"),
        LegKey::Dialog(_) if first => "customer".to_owned(),
        LegKey::Dialog(d) => format!("dialog-{}", d.0),
    }
}

/// Takes a leg out of the room; `false` when there was no such leg.
fn remove_leg(
    room: &mut Room,
    legs: &mut Vec<RunningLeg>,
    key: LegKey,
    metrics: &MediaMetrics,
) -> bool {
    let Some(i) = legs.iter().position(|l| l.key == key) else {
        return false;
    };
    report_counts(room, &mut legs[i..=i], metrics);
    let mut leg = legs.remove(i);
    if let LegIo::Browser { leg: peer, .. } = &mut leg.io {
        let _ = peer.close();
    }
    let _ = room.remove_leg(leg.id);
    metrics.legs.dec();
    true
}

/// The tick period is cut into this many 1 ms slots; each call ticks in one of them.
const SLOTS: usize = 20;
const SLOT: Duration = Duration::from_millis(1);

/// A media thread's tick clock, shared by its ticker thread and its calls: slot `k`
/// (counted from `base`) is the instant `base + k ms`, and belongs to the calls whose
/// phase is `k % 20`.
struct TickClock {
    base: Instant,
    /// Per phase: the last slot announced (the calls of that phase wait on it).
    wake: Vec<watch::Sender<u64>>,
    /// Calls per phase (a new call takes the least loaded one).
    load: Mutex<[u32; SLOTS]>,
    calls: AtomicUsize,
    stopped: AtomicBool,
}

/// A call's place on its thread's tick clock; leaving frees the phase.
struct Phase {
    clock: Arc<TickClock>,
    phase: usize,
    wake: watch::Receiver<u64>,
}

impl TickClock {
    fn join(self: &Arc<Self>) -> Phase {
        let phase = {
            let mut load = self.load.lock().unwrap_or_else(|p| p.into_inner());
            let (phase, _) = load
                .iter()
                .enumerate()
                .min_by_key(|(_, n)| **n)
                .unwrap_or((0, &0)); // SLOTS > 0
            load[phase] += 1;
            phase
        };
        self.calls.fetch_add(1, Ordering::Relaxed);
        // A fresh receiver has seen the current value: it waits for the next slot.
        let wake = self.wake[phase].subscribe();
        Phase {
            clock: self.clone(),
            phase,
            wake,
        }
    }
}

impl Phase {
    /// The first instant of this phase's slots after `now` (slots are whole ms from
    /// `base`, so SLOT is 1 ms).
    fn first_after(&self, now: Instant) -> Instant {
        let base = self.clock.base;
        let since = now.saturating_duration_since(base);
        let periods = (since.as_nanos() / TICK.as_nanos()) as u64;
        let mut at = base + Duration::from_millis(20 * periods + self.phase as u64);
        while at <= now {
            at += TICK;
        }
        at
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        let mut load = self.clock.load.lock().unwrap_or_else(|p| p.into_inner());
        load[self.phase] = load[self.phase].saturating_sub(1);
        self.clock.calls.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A media thread's ticker: a plain thread that sleeps to each 1 ms slot boundary with
/// `std::thread::sleep` (a high-resolution timer; tokio's timer wheel has 1 ms granularity
/// and rounds up, so a tick would fire up to ~2 ms after its instant) and wakes the calls
/// of that slot's phase. A 20 ms period is thus shared evenly by the thread's calls, and
/// a call's tick starts within tens of µs of its instant unless the thread is busy.
struct Ticker {
    clock: Arc<TickClock>,
    thread: std::thread::JoinHandle<()>,
}

impl Ticker {
    fn start(i: usize) -> std::io::Result<Ticker> {
        let clock = Arc::new(TickClock {
            base: Instant::now(),
            wake: (0..SLOTS).map(|_| watch::channel(0).0).collect(),
            load: Mutex::new([0; SLOTS]),
            calls: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
        });
        let c = clock.clone();
        // Named like the media thread: its CPU counts as the media thread's.
        let thread = std::thread::Builder::new()
            .name(format!("denwa-media-t{i}"))
            .spawn(move || run_ticker(&c))?;
        Ok(Ticker { clock, thread })
    }

    fn stop(self) {
        self.clock.stopped.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

fn run_ticker(clock: &TickClock) {
    let slot_ns = SLOT.as_nanos();
    let mut next: u64 = 1;
    while !clock.stopped.load(Ordering::Relaxed) {
        let at = clock.base + Duration::from_millis(next);
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        // Every slot whose instant has passed (a late wake-up announces the missed ones).
        let now = Instant::now();
        let upto = (now.saturating_duration_since(clock.base).as_nanos() / slot_ns) as u64;
        if clock.calls.load(Ordering::Relaxed) == 0 {
            // No calls: nothing to wake; look again in a period (a call's first tick is a
            // period or more after it joins, so it is never skipped).
            next = upto + SLOTS as u64;
            continue;
        }
        while next <= upto {
            clock.wake[(next % SLOTS as u64) as usize].send_replace(next);
            next += 1;
        }
    }
}

/// Applies an edge command to the room; `customer` is the customer's leg (the first),
/// when the room has one.
fn apply(
    room: &mut Room,
    legs: &mut Vec<RunningLeg>,
    call: CallHandle,
    cmd: CallCommand,
    customer: Option<LegId>,
    metrics: &MediaMetrics,
    recorder: Option<&mut RecordTap>,
) {
    let leg_of =
        |legs: &[RunningLeg], key: LegKey| legs.iter().find(|l| l.key == key).map(|l| l.id);
    let now = Instant::now();
    let what = format!("{cmd:?}");
    let result: Result<(), String> = match cmd {
        CallCommand::Stop | CallCommand::Record(_) => Ok(()),
        CallCommand::AddCustomer(_) => Err("the room already has a customer".to_owned()),
        CallCommand::Hold => {
            let by = legs
                .iter()
                .skip(1)
                .find(|l| matches!(l.key, LegKey::Staff(_)))
                .or(legs.get(1))
                .map(|l| l.id);
            match (customer, by) {
                (Some(c), Some(b)) => room.hold(c, b).map_err(|e| e.to_string()),
                _ => Err("no staff leg to hold for".to_owned()),
            }
        }
        CallCommand::Unhold => {
            room.unhold();
            Ok(())
        }
        CallCommand::Remote { key, rtp } => match leg_of(legs, key) {
            Some(leg) => room.set_remote(leg, rtp).map_err(|e| e.to_string()),
            None => Ok(()),
        },
        CallCommand::AddLeg { leg, muted } => {
            let key = leg.key;
            match add_sip_leg(room, now, *leg) {
                Ok(l) => {
                    if muted {
                        let _ = room.set_muted(l.id, true);
                    }
                    if let Some(rec) = recorder {
                        rec.add_track(l.id, track_label(key, false));
                    }
                    legs.push(l);
                    metrics.legs.inc();
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        CallCommand::AddBrowser(b) => {
            let key = b.key;
            match add_browser_leg(room, now, *b) {
                Ok(mut l) => {
                    if let Some(rec) = recorder {
                        rec.add_track(l.id, track_label(key, false));
                    }
                    let failed = drive_browser(room, &mut l, now);
                    legs.push(l);
                    metrics.legs.inc();
                    match failed {
                        Some(why) => Err(why),
                        None => Ok(()),
                    }
                }
                Err(e) => Err(e),
            }
        }
        CallCommand::RemoveLeg(key) => {
            remove_leg(room, legs, key, metrics);
            Ok(())
        }
        CallCommand::Mute { key, muted } => match leg_of(legs, key) {
            Some(leg) => room.set_muted(leg, muted).map_err(|e| e.to_string()),
            None => Err("no such leg".to_owned()),
        },
        CallCommand::Dtmf(digits) => match customer {
            Some(customer) => room
                .send_dtmf(customer, &digits, DTMF_DURATION)
                .map_err(|e| e.to_string()),
            None => Err("no customer leg".to_owned()),
        },
        CallCommand::Play(prompt) => match customer {
            Some(customer) => room.play(customer, prompt).map_err(|e| e.to_string()),
            None => Err("no customer leg".to_owned()),
        },
        CallCommand::HoldMusic(music) => {
            room.set_hold_music(music);
            Ok(())
        }
    };
    match result {
        Ok(()) => tracing::info!(call = call.0, cmd = %what, "media changed"),
        Err(e) => tracing::warn!(call = call.0, cmd = %what, error = %e, "media change refused"),
    }
}

/// How long each dialpad digit is held (RFC 4733 events; 100 ms is what phones send).
const DTMF_DURATION: Duration = Duration::from_millis(100);

/// Sends what the room queued, each datagram on its leg's socket (a browser leg's
/// through its WebRTC peer, which encrypts it).
fn send_all(room: &mut Room, legs: &mut [RunningLeg], out: &mut [u8], gone: &mut Vec<Gone>) {
    let now = Instant::now();
    let mut browsers_fed = false;
    while let Some(t) = room.poll_transmit(out) {
        let Some(leg) = legs.iter_mut().find(|l| l.id == t.leg) else {
            continue;
        };
        match &mut leg.io {
            LegIo::Rtp { rtp, rtcp } => {
                let Some(to) = t.destination else { continue };
                let socket = match t.channel {
                    Channel::Rtp => rtp,
                    Channel::Rtcp => rtcp,
                };
                // Media is not retransmitted: a full socket buffer drops the packet.
                let _ = socket.send_to(&out[..t.len], to);
            }
            LegIo::Browser { leg: peer, .. } => {
                if t.channel == Channel::Rtp && peer.is_connected() {
                    let _ = peer.send_rtp(now, &out[..t.len]);
                    browsers_fed = true;
                }
            }
        }
    }
    if browsers_fed {
        for leg in legs.iter_mut() {
            if matches!(leg.io, LegIo::Browser { .. })
                && let Some(why) = drive_browser(room, leg, now)
            {
                gone.push((leg.key, why));
            }
        }
    }
}

/// Adds what the legs counted since the last report to the metrics.
fn report_counts(room: &Room, legs: &mut [RunningLeg], metrics: &MediaMetrics) {
    for leg in legs {
        let Ok(s) = room.leg_stats(leg.id) else {
            continue;
        };
        let now = (
            s.packets_received,
            u64::from(s.packets_sent),
            u64::try_from(s.packets_lost).unwrap_or(0),
        );
        // Counters restart with a new far-end SSRC: count from there.
        metrics
            .received
            .inc_by(now.0.saturating_sub(leg.reported.0));
        metrics.sent.inc_by(now.1.saturating_sub(leg.reported.1));
        metrics.lost.inc_by(now.2.saturating_sub(leg.reported.2));
        leg.reported = now;
    }
}

/// Recorded ticks a media thread may have waiting for its writer; beyond this the writer
/// is behind (a slow disk) and further ticks are dropped (and counted) rather than stall
/// the 20 ms path or grow without bound. 4096 ticks: 80 ms of 200 calls, ~8 MB at most.
const RECORD_BACKLOG: usize = 4096;
/// Write buffer per track: a few frames, then one `write`; the header is rewritten and
/// the file flushed every second of audio anyway (crash safety, [`WavWriter`]).
const TRACK_BUFFER: usize = 2048;

/// What a call task hands its media thread's recording writer.
enum RecordMsg {
    /// A recorded call starts: create `dir` and one track per leg (these labels) plus
    /// the mix.
    Open {
        key: u64,
        call: CallHandle,
        dir: PathBuf,
        tracks: Vec<String>,
    },
    /// A leg joined: a new track from now on.
    AddTrack { key: u64, label: String },
    /// One tick: the mix, then each present track's frame (`present`: bit i = track i).
    Frame {
        key: u64,
        present: u32,
        samples: Vec<i16>,
    },
    /// The call ended: finish its tracks.
    Close { key: u64 },
}

/// The queue between a media thread's calls and its recording writer. Opening and
/// closing always get in; frames only while fewer than [`RECORD_BACKLOG`] wait.
#[derive(Default)]
struct RecordQueue {
    state: Mutex<RecordState>,
    ready: Condvar,
}

#[derive(Default)]
struct RecordState {
    msgs: VecDeque<RecordMsg>,
    frames: usize,
    /// Frame buffers the writer is done with, for the next ticks (no allocation per tick).
    spare: Vec<Vec<i16>>,
    next_key: u64,
    stopped: bool,
}

impl RecordQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, RecordState> {
        // A poisoned lock means the writer panicked (a bug); the queue itself is still sound.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, msg: RecordMsg) {
        let mut q = self.lock();
        // The writer looks at the queue every tick period by itself (one wake-up per
        // period for all the thread's calls, not one per frame); it is woken early only
        // to open or close a recording, or when the backlog is half full.
        let wake = match msg {
            RecordMsg::Frame { .. } => {
                q.frames += 1;
                q.frames == RECORD_BACKLOG / 2
            }
            _ => true,
        };
        q.msgs.push_back(msg);
        drop(q);
        if wake {
            self.ready.notify_one();
        }
    }
}

/// A media thread's recording writer: a plain thread that owns the WAV tracks of the
/// thread's recorded calls, so file writes (and each second's header rewrite and flush)
/// never run on the 20 ms path.
struct RecordWriter {
    queue: Arc<RecordQueue>,
    thread: std::thread::JoinHandle<()>,
}

impl RecordWriter {
    fn start(i: usize) -> std::io::Result<RecordWriter> {
        let queue = Arc::new(RecordQueue::default());
        let q = queue.clone();
        // Named like the media thread so that per-thread CPU accounting of the media
        // threads (bench/media_load.sh) includes the recording work.
        let thread = std::thread::Builder::new()
            .name(format!("denwa-media-w{i}"))
            .spawn(move || write_recordings(&q))?;
        Ok(RecordWriter { queue, thread })
    }

    /// Finishes every open track and joins the thread.
    fn stop(self) {
        self.queue.lock().stopped = true;
        self.queue.ready.notify_one();
        let _ = self.thread.join();
    }
}

fn write_recordings(queue: &RecordQueue) {
    let mut open: HashMap<u64, (CallHandle, Recorder)> = HashMap::new();
    let mut batch = VecDeque::new();
    let mut spare = Vec::new();
    loop {
        {
            let mut q = queue.lock();
            // Keep a few buffers for the calls' next ticks; the rest are freed.
            while q.spare.len() < 256
                && let Some(b) = spare.pop()
            {
                q.spare.push(b);
            }
            spare.clear();
            if q.msgs.is_empty() && !q.stopped {
                q = queue
                    .ready
                    .wait_timeout(q, TICK)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            if q.msgs.is_empty() && q.stopped {
                break;
            }
            std::mem::swap(&mut q.msgs, &mut batch);
            q.frames = 0;
        }
        for msg in batch.drain(..) {
            match msg {
                RecordMsg::Open {
                    key,
                    call,
                    dir,
                    tracks,
                } => match Recorder::create(&dir, &tracks) {
                    Ok(r) => {
                        open.insert(key, (call, r));
                    }
                    Err(e) => {
                        // The call goes on unrecorded rather than failing; the log says why.
                        tracing::error!(call = call.0, dir = %dir.display(), error = %e, "cannot record");
                    }
                },
                RecordMsg::AddTrack { key, label } => {
                    if let Some((call, rec)) = open.get_mut(&key)
                        && let Err(e) = rec.add_track(&label)
                    {
                        tracing::error!(call = call.0, error = %e, "cannot record a new leg");
                    }
                }
                RecordMsg::Frame {
                    key,
                    present,
                    samples,
                } => {
                    if let Some((call, rec)) = open.get_mut(&key)
                        && let Err(e) = rec.write(present, &samples)
                    {
                        tracing::error!(call = call.0, error = %e, "recording stopped");
                        open.remove(&key);
                    }
                    spare.push(samples);
                }
                RecordMsg::Close { key } => {
                    if let Some((call, rec)) = open.remove(&key)
                        && let Err(e) = rec.finish()
                    {
                        tracing::error!(call = call.0, error = %e, "finishing the recording");
                    }
                }
            }
        }
    }
    for (_, (call, rec)) in open {
        if let Err(e) = rec.finish() {
            tracing::error!(call = call.0, error = %e, "finishing the recording");
        }
    }
}

/// A call task's end of its recording: hands each tick's frames to the writer.
struct RecordTap {
    queue: Arc<RecordQueue>,
    key: u64,
    /// The room's legs in join order: track i is leg-{i+1}.wav.
    tracks: Vec<LegId>,
}

/// Most tracks a recording has (legs that joined, in order; the `present` bits).
const MAX_TRACKS: usize = 32;

impl RecordTap {
    fn open(
        queue: Arc<RecordQueue>,
        call: CallHandle,
        dir: PathBuf,
        tracks: Vec<(LegId, String)>,
    ) -> Self {
        let (tracks, labels): (Vec<LegId>, Vec<String>) = tracks.into_iter().unzip();
        let key = {
            let mut q = queue.lock();
            q.next_key += 1;
            q.next_key
        };
        queue.push(RecordMsg::Open {
            key,
            call,
            dir,
            tracks: labels,
        });
        RecordTap { queue, key, tracks }
    }

    /// A leg joined the room: it gets its own track from now on.
    fn add_track(&mut self, leg: LegId, label: String) {
        if self.tracks.len() >= MAX_TRACKS {
            tracing::warn!(
                leg = leg.get(),
                "too many tracks; this leg is only in the mix"
            );
            return;
        }
        self.tracks.push(leg);
        self.queue.push(RecordMsg::AddTrack {
            key: self.key,
            label,
        });
    }

    /// Hands this tick's frames to the writer; `false` when the writer is behind and
    /// the tick was dropped. Call right after `Room::tick`; never blocks on the disk.
    fn hand_over(&mut self, room: &Room) -> bool {
        let rec = room.recording();
        let mixed = rec.mixed();
        let mut samples = {
            let mut q = self.queue.lock();
            if q.frames >= RECORD_BACKLOG {
                return false;
            }
            q.spare.pop().unwrap_or_default()
        };
        samples.clear();
        // Exactly the mix and one frame per track (growing by doubling would leave a
        // third of each buffer unused: ~650 bytes per call in flight or spare).
        samples.reserve_exact(FRAME_SAMPLES * (1 + self.tracks.len()));
        samples.extend_from_slice(mixed);
        let mut present = 0u32;
        for (i, id) in self.tracks.iter().enumerate() {
            if let Some((_, frame)) = rec.tracks().find(|(l, _)| l == id) {
                present |= 1 << i;
                samples.extend_from_slice(frame);
            }
        }
        self.queue.push(RecordMsg::Frame {
            key: self.key,
            present,
            samples,
        });
        true
    }

    /// The call ended: the writer finishes the tracks.
    fn close(self) {
        self.queue.push(RecordMsg::Close { key: self.key });
    }
}

/// The call's recording: one WAV track per leg (in join order) and the mixed track,
/// written every tick at the internal rate (SPEC RC-1; hold music never enters them).
/// `tracks.json` names each track's speaker and when it starts in the mix (ms).
struct Recorder {
    dir: PathBuf,
    tracks: Vec<WavWriter<BufWriter<File>>>,
    /// Per track: (label, start in ms from the mix's start).
    labels: Vec<(String, u64)>,
    mixed: WavWriter<BufWriter<File>>,
    /// Ticks written to the mix.
    ticks: u64,
}

fn open_track(dir: &Path, name: &str) -> anyhow::Result<WavWriter<BufWriter<File>>> {
    let path = dir.join(name);
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    Ok(WavWriter::new(
        BufWriter::with_capacity(TRACK_BUFFER, file),
        INTERNAL_RATE,
    )?)
}

impl Recorder {
    fn create(dir: &Path, labels: &[String]) -> anyhow::Result<Recorder> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut rec = Recorder {
            dir: dir.to_owned(),
            tracks: Vec::with_capacity(labels.len()),
            labels: Vec::with_capacity(labels.len()),
            mixed: open_track(dir, "mixed.wav")?,
            ticks: 0,
        };
        for label in labels {
            rec.add_track(label)?;
        }
        Ok(rec)
    }

    /// A new track (a leg that joined), starting at the current tick.
    fn add_track(&mut self, label: &str) -> anyhow::Result<()> {
        let n = self.tracks.len() + 1;
        self.tracks
            .push(open_track(&self.dir, &format!("leg-{n}.wav"))?);
        self.labels.push((label.to_owned(), self.ticks * 20));
        write_index(&self.dir, &self.labels, false)
    }

    /// One tick: `samples` holds the mix, then the frame of each track in `present`.
    fn write(&mut self, present: u32, samples: &[i16]) -> anyhow::Result<()> {
        self.ticks += 1;
        let n = FRAME_SAMPLES;
        let mut frames = samples.chunks_exact(n);
        if let Some(mixed) = frames.next() {
            self.mixed.write_samples(mixed)?;
        }
        for (i, w) in self.tracks.iter_mut().enumerate() {
            if present & (1 << i) != 0
                && let Some(frame) = frames.next()
            {
                w.write_samples(frame)?;
            }
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        for w in self.tracks {
            w.finish()?.flush()?;
        }
        self.mixed.finish()?.flush()?;
        write_index(&self.dir, &self.labels, true)
    }
}

/// Rewrites a recording's `tracks.json` (atomically: a crash leaves the old or the new
/// one); `complete` once every track is finished (the recordings worker waits for it).
fn write_index(dir: &Path, labels: &[(String, u64)], complete: bool) -> anyhow::Result<()> {
    let tracks: Vec<serde_json::Value> = labels
        .iter()
        .enumerate()
        .map(|(i, (label, start))| {
            serde_json::json!({
                "file": format!("leg-{}.wav", i + 1),
                "speaker": label,
                "start_ms": start,
            })
        })
        .collect();
    let body = serde_json::json!({
        "mixed": "mixed.wav",
        "sample_rate": INTERNAL_RATE,
        "tracks": tracks,
        "complete": complete,
    });
    let tmp = dir.join("tracks.json.tmp");
    std::fs::write(&tmp, body.to_string())?;
    std::fs::rename(&tmp, dir.join("tracks.json"))?;
    Ok(())
}

/// Logs the room's events; returns a reason when the call must end (the customer's
/// media stopped). A staff leg whose media stopped is put on `gone`.
fn drain_events(
    room: &mut Room,
    call: CallHandle,
    legs: &[RunningLeg],
    gone: &mut Vec<Gone>,
    notices: &mpsc::UnboundedSender<MediaNotice>,
) -> Option<String> {
    let mut end = None;
    while let Some(e) = room.poll_event() {
        match e {
            Event::Dtmf {
                digit, duration, ..
            } => {
                tracing::info!(
                    call = call.0,
                    digit = %digit.as_char(),
                    duration_ms = duration.as_millis() as u64,
                    "dtmf"
                );
            }
            Event::Latched { remote, .. } => {
                tracing::debug!(call = call.0, %remote, "RTP latched");
            }
            Event::SsrcChanged { ssrc, .. } => {
                tracing::debug!(call = call.0, ssrc, "far end changed SSRC");
            }
            Event::MediaTimeout { leg, reason } => {
                let why = match reason {
                    denwa_media::InactivityReason::NoMedia { idle } => {
                        format!("no media for {} s", idle.as_secs())
                    }
                    denwa_media::InactivityReason::Bye => "RTCP BYE".to_owned(),
                };
                let key = legs.iter().find(|l| l.id == leg).map(|l| l.key);
                match key {
                    Some(key @ LegKey::Staff(_)) => gone.push((key, why)),
                    _ => end = Some(why),
                }
            }
            Event::PromptFinished { .. } => {
                tracing::debug!(call = call.0, "prompt played");
                let _ = notices.send(MediaNotice::PromptFinished { call });
            }
            _ => {}
        }
    }
    end
}

/// Random RTP identifiers for a new leg (RFC 3550 §5.1, §8.1).
pub(crate) fn randomise(leg: &mut LegConfig) {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    leg.ssrc = rng.r#gen();
    leg.initial_sequence = rng.r#gen();
    leg.initial_timestamp = rng.r#gen();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_tick_counters_are_the_ones_on_metrics() {
        let metrics = denwa_api::metrics::Metrics::new();
        let m = MediaMetrics::register(&metrics);
        let text = metrics.encode();
        assert!(
            text.contains("denwa_media_ticks_late_total{over=\"2ms\"} 0"),
            "{text}"
        );
        m.late_by[1].inc();
        let text = metrics.encode();
        assert!(
            text.contains("denwa_media_ticks_late_total{over=\"2ms\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("denwa_media_ticks_late_total{over=\"1ms\"} 0"),
            "{text}"
        );
    }

    #[test]
    fn a_tick_reads_every_waiting_datagram_with_its_source_and_kernel_arrival_time() {
        let socket = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        stamp_arrivals(&socket);
        let to = socket.local_addr().unwrap();
        let a = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        let b = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        let mut rx = SipReceiver::new();
        let mut got = Vec::new();
        // Nothing waiting: no datagram, no error.
        receive_sip(&socket, &mut rx, |_, from, data| {
            got.push((from, data.to_vec()))
        });
        assert!(got.is_empty());

        // Linux turns receive timestamps on lazily: the first socket that asks schedules
        // the switch on a work queue, and until it runs the kernel stamps a datagram when
        // it is read ("race between timestamp enabling and packet receiving"). On a busy
        // machine that takes a while, so wait until one datagram comes back stamped with
        // its arrival, at most 5 s.
        let warm_until = Instant::now() + Duration::from_secs(5);
        loop {
            a.send_to(&[0; 172], to).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            let mut stamped = None;
            receive_sip(&socket, &mut rx, |at, _, _| stamped = Some(at));
            let read_at = Instant::now();
            if stamped.is_some_and(|at| at + Duration::from_millis(10) <= read_at) {
                break;
            }
            assert!(
                Instant::now() < warm_until,
                "the kernel never stamped an arrival"
            );
        }

        // More than one batch waits (as after a burst), from two sources, and they are
        // read 30 ms after they arrived.
        let sent_at = Instant::now();
        let n = RECEIVE_BATCH + 3;
        for i in 0..n {
            let from = if i % 2 == 0 { &a } else { &b };
            from.send_to(&[i as u8; 172], to).unwrap();
        }
        let sent_by = Instant::now();
        std::thread::sleep(Duration::from_millis(30));
        let mut arrivals = Vec::new();
        receive_sip(&socket, &mut rx, |at, from, data| {
            arrivals.push(at);
            got.push((from, data.to_vec()));
        });
        assert_eq!(got.len(), n);
        for (i, (from, data)) in got.iter().enumerate() {
            let expect = if i % 2 == 0 { &a } else { &b };
            assert_eq!(*from, expect.local_addr().unwrap());
            assert_eq!(data, &vec![i as u8; 172]);
        }
        // The kernel's arrival time, not the read 30 ms later (a little slack for the
        // wall clock and the monotonic clock read one after the other).
        for at in arrivals {
            assert!(
                at + Duration::from_millis(2) >= sent_at,
                "{at:?} {sent_at:?}"
            );
            assert!(
                at <= sent_by + Duration::from_millis(10),
                "{at:?} {sent_by:?}"
            );
        }
    }

    #[test]
    fn an_arrival_stamp_maps_onto_the_monotonic_clock_and_never_into_the_future() {
        let (wall, mono) = (SystemTime::now(), Instant::now());
        let ago = wall - Duration::from_millis(15);
        assert_eq!(
            arrival_instant(Some(ago), wall, mono),
            mono - Duration::from_millis(15)
        );
        // A stamp after the reading (the wall clock stepped) or none: the reading.
        let ahead = wall + Duration::from_secs(3);
        assert_eq!(arrival_instant(Some(ahead), wall, mono), mono);
        assert_eq!(arrival_instant(None, wall, mono), mono);
    }

    #[test]
    fn port_pairs_stay_inside_the_range_and_skip_busy_ports() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        // Find a free block of 6 ports.
        let base = (41_000..60_000)
            .step_by(8)
            .find(|b| (0..6).all(|i| StdUdpSocket::bind((ip, b + i)).is_ok()))
            .unwrap();
        let busy = StdUdpSocket::bind((ip, base + 2)).unwrap();
        let mut pool = PortPool::new(ip, (base + 1, base + 5));
        // Even ports in range: base+2 (busy), base+4 (with base+5).
        let a = pool.allocate().unwrap();
        assert_eq!(a.port(), base + 4);
        assert!(pool.allocate().is_none());
        drop(busy);
        let b = pool.allocate().unwrap();
        assert_eq!(b.port(), base + 2);
    }
}

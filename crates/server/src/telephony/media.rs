//! The media runtime: RTP/RTCP sockets from the configured port range and media threads
//! (one per core) that own the `denwa_media::Room` of each of their calls.
//!
//! Each media thread runs a single-threaded tokio runtime; each call is one task on it
//! that owns its room and the sockets of its legs, ticks the room every 20 ms when its
//! thread's ticker (a plain thread, 1 ms slots) wakes it, hands recorded frames to its
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
    Channel, Event, FRAME_SAMPLES, INTERNAL_RATE, LegConfig, LegId, Room, TICK, WavWriter,
};
use denwa_sip::CallHandle;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

/// What the media side tells the SIP edge.
#[derive(Debug)]
pub(crate) enum MediaNotice {
    /// The call's media stopped (a leg's inactivity or RTCP BYE): hang up every leg.
    Ended { call: CallHandle, reason: String },
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
    /// The SIP dialog of this leg (for logs; the room itself is keyed by `StartMedia::call`).
    pub(crate) dialog: CallHandle,
    pub(crate) sockets: RtpPair,
    pub(crate) config: LegConfig,
}

/// One call's media, to start on a media thread: a room with its legs (one for the echo
/// test, two for a bridged call).
#[derive(Debug)]
pub(crate) struct StartMedia {
    /// The room's key: the inbound dialog of the call.
    pub(crate) call: CallHandle,
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
#[derive(Debug, Clone, Copy)]
pub(crate) enum CallCommand {
    /// End the call's media (its sockets close).
    Stop,
    /// The staff dialog `by` put the customer on hold: the customer hears hold music.
    Hold { by: CallHandle },
    /// Back from hold.
    Unhold,
    /// The far end of `dialog` moved its media to `rtp` (re-INVITE/UPDATE).
    Remote { dialog: CallHandle, rtp: SocketAddr },
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

    /// Changes a running call's room (hold, a moved far end).
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
    let mut running: HashMap<CallHandle, mpsc::UnboundedSender<CallCommand>> = HashMap::new();
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
                    let _ = tx.send(CallCommand::Stop);
                }
            }
            Command::Call(call, cmd) => {
                if let Some(tx) = running.get(&call) {
                    let _ = tx.send(cmd);
                }
            }
        }
    }
    // The edge is gone: stop every call and let their tasks finish.
    for (_, call) in running.drain() {
        let _ = call.send(CallCommand::Stop);
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

/// A leg as the call task runs it.
struct RunningLeg {
    id: LegId,
    dialog: CallHandle,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    /// Counters already added to the metrics (received, sent, lost).
    reported: (u64, u64, u64),
}

/// A datagram that arrived on one of the call's sockets.
struct Arrival {
    leg: usize,
    channel: Channel,
    len: usize,
    from: SocketAddr,
}

/// Waits for the next datagram on any socket of the call (at most ten legs, two sockets
/// each: polling them all on a wake-up is cheaper than a task per socket).
fn poll_arrival(
    cx: &mut std::task::Context<'_>,
    legs: &[RunningLeg],
    buf: &mut [u8],
) -> std::task::Poll<Arrival> {
    use std::task::Poll;
    for (i, leg) in legs.iter().enumerate() {
        for (channel, socket) in [(Channel::Rtp, &leg.rtp), (Channel::Rtcp, &leg.rtcp)] {
            let mut rb = tokio::io::ReadBuf::new(buf);
            // An error (ICMP port unreachable on Linux, say) is per datagram: go on.
            while let Poll::Ready(r) = socket.poll_recv_from(cx, &mut rb) {
                if let Ok(from) = r {
                    return Poll::Ready(Arrival {
                        leg: i,
                        channel,
                        len: rb.filled().len(),
                        from,
                    });
                }
                rb.clear();
            }
        }
    }
    Poll::Pending
}

/// One call: owns its room and sockets until stopped or its media times out.
async fn run_call(
    start: StartMedia,
    mut commands: mpsc::UnboundedReceiver<CallCommand>,
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
    let mut legs = Vec::with_capacity(start.legs.len());
    for leg in start.legs {
        let port = leg.sockets.port;
        let (rtp, rtcp) = match (
            UdpSocket::from_std(leg.sockets.rtp),
            UdpSocket::from_std(leg.sockets.rtcp),
        ) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return ended(format!("media sockets: {e}")),
        };
        let id = match room.add_leg(now, leg.config) {
            Ok(l) => l,
            Err(e) => return ended(format!("media leg: {e}")),
        };
        tracing::debug!(
            call = call.0,
            dialog = leg.dialog.0,
            port,
            "media leg started"
        );
        legs.push(RunningLeg {
            id,
            dialog: leg.dialog,
            rtp,
            rtcp,
            reported: (0, 0, 0),
        });
    }
    metrics.legs.inc_by(legs.len() as i64);
    let mut recorder = start.record.map(|dir| {
        tracing::info!(call = call.0, dir = %dir.display(), "recording");
        let tracks = legs.iter().map(|l| l.id).collect();
        RecordTap::open(recordings, call, dir, tracks)
    });
    // The call ticks in one of the thread's 1 ms slots, woken by the thread's ticker.
    let phase = clock.join();
    let mut ticks = phase.wake.clone();
    // The first tick a period or more from now (like the interval it replaces); the
    // ticker, idle until this call, looks again within a period.
    let mut next_tick = phase.first_after(Instant::now() + TICK);
    let mut buf = vec![0u8; 2048];
    let mut out = vec![0u8; 2048];
    let mut tick_count: u32 = 0;
    let reason = loop {
        tokio::select! {
            c = commands.recv() => match c {
                None | Some(CallCommand::Stop) => break None,
                Some(cmd) => apply(&mut room, &legs, call, cmd),
            },
            a = std::future::poll_fn(|cx| poll_arrival(cx, &legs, &mut buf)) => {
                let leg = legs[a.leg].id;
                let data = &buf[..a.len];
                // Malformed or foreign packets are counted by the room and dropped.
                let _ = match a.channel {
                    Channel::Rtp => room.handle_rtp(Instant::now(), leg, a.from, data),
                    Channel::Rtcp => room.handle_rtcp(Instant::now(), leg, a.from, data),
                };
            }
            _ = ticks.changed() => {
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
        send_all(&mut room, &legs, &mut out);
        if let Some(reason) = drain_events(&mut room, call) {
            break Some(reason);
        }
    };
    report_counts(&room, &mut legs, &metrics);
    metrics.legs.dec_by(legs.len() as i64);
    if let Some(rec) = recorder {
        rec.close();
    }
    for leg in &legs {
        if let Ok(stats) = room.leg_stats(leg.id) {
            tracing::info!(
                call = call.0,
                dialog = leg.dialog.0,
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

/// Applies an edge command to the room (the first leg is the customer's).
fn apply(room: &mut Room, legs: &[RunningLeg], call: CallHandle, cmd: CallCommand) {
    let leg_of = |dialog: CallHandle| legs.iter().find(|l| l.dialog == dialog).map(|l| l.id);
    let result = match cmd {
        CallCommand::Stop => Ok(()),
        CallCommand::Hold { by } => match (legs.first(), leg_of(by)) {
            (Some(customer), Some(by)) => room.hold(customer.id, by),
            _ => Ok(()),
        },
        CallCommand::Unhold => {
            room.unhold();
            Ok(())
        }
        CallCommand::Remote { dialog, rtp } => match leg_of(dialog) {
            Some(leg) => room.set_remote(leg, rtp),
            None => Ok(()),
        },
    };
    match result {
        Ok(()) => tracing::info!(call = call.0, ?cmd, "media changed"),
        Err(e) => tracing::warn!(call = call.0, ?cmd, error = %e, "media change refused"),
    }
}

/// Sends what the room queued, each datagram on its leg's socket.
fn send_all(room: &mut Room, legs: &[RunningLeg], out: &mut [u8]) {
    while let Some(t) = room.poll_transmit(out) {
        let Some(to) = t.destination else { continue };
        let Some(leg) = legs.iter().find(|l| l.id == t.leg) else {
            continue;
        };
        let socket = match t.channel {
            Channel::Rtp => &leg.rtp,
            Channel::Rtcp => &leg.rtcp,
        };
        // Media is not retransmitted: a full socket buffer drops the packet.
        let _ = socket.try_send_to(&out[..t.len], to);
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
    /// A recorded call starts: create `dir` and one track per leg plus the mix.
    Open {
        key: u64,
        call: CallHandle,
        dir: PathBuf,
        tracks: usize,
    },
    /// One tick: the mix, then each present track's frame (`present`: bit i = track i).
    Frame {
        key: u64,
        present: u16,
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
                } => match Recorder::create(&dir, tracks) {
                    Ok(r) => {
                        open.insert(key, (call, r));
                    }
                    Err(e) => {
                        // The call goes on unrecorded rather than failing; the log says why.
                        tracing::error!(call = call.0, dir = %dir.display(), error = %e, "cannot record");
                    }
                },
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

impl RecordTap {
    fn open(queue: Arc<RecordQueue>, call: CallHandle, dir: PathBuf, tracks: Vec<LegId>) -> Self {
        let key = {
            let mut q = queue.lock();
            q.next_key += 1;
            q.next_key
        };
        queue.push(RecordMsg::Open {
            key,
            call,
            dir,
            tracks: tracks.len(),
        });
        RecordTap { queue, key, tracks }
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
        samples.extend_from_slice(mixed);
        let mut present = 0u16;
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
struct Recorder {
    tracks: Vec<WavWriter<BufWriter<File>>>,
    mixed: WavWriter<BufWriter<File>>,
}

impl Recorder {
    fn create(dir: &Path, tracks: usize) -> anyhow::Result<Recorder> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let open = |name: String| -> anyhow::Result<WavWriter<BufWriter<File>>> {
            let path = dir.join(name);
            let file =
                File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            Ok(WavWriter::new(
                BufWriter::with_capacity(TRACK_BUFFER, file),
                INTERNAL_RATE,
            )?)
        };
        let mut writers = Vec::with_capacity(tracks);
        for i in 0..tracks {
            writers.push(open(format!("leg-{}.wav", i + 1))?);
        }
        Ok(Recorder {
            tracks: writers,
            mixed: open("mixed.wav".to_owned())?,
        })
    }

    /// One tick: `samples` holds the mix, then the frame of each track in `present`.
    fn write(&mut self, present: u16, samples: &[i16]) -> anyhow::Result<()> {
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
        Ok(())
    }
}

/// Logs the room's events; returns a reason when the call must end.
fn drain_events(room: &mut Room, call: CallHandle) -> Option<String> {
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
            Event::MediaTimeout { reason, .. } => {
                let why = match reason {
                    denwa_media::InactivityReason::NoMedia { idle } => {
                        format!("no media for {} s", idle.as_secs())
                    }
                    denwa_media::InactivityReason::Bye => "RTCP BYE".to_owned(),
                };
                end = Some(why);
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

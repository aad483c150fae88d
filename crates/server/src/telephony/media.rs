//! The media runtime: RTP/RTCP sockets from the configured port range and media threads
//! (one per core) that own the `denwa_media::Room` of each of their calls.
//!
//! Each media thread runs a single-threaded tokio runtime; each call is one task on it
//! that owns its room and its two sockets, ticks the room every 20 ms and reacts to
//! commands sent over a channel. Nothing on the 20 ms path is shared between threads.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use denwa_media::{Channel, Event, LegConfig, LegId, Room, TICK};
use denwa_sip::CallHandle;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// What the media side tells the SIP edge.
#[derive(Debug)]
pub(crate) enum MediaNotice {
    /// The call's media stopped (inactivity or RTCP BYE): hang up.
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

/// One call's media, to start on a media thread.
#[derive(Debug)]
pub(crate) struct StartMedia {
    pub(crate) call: CallHandle,
    pub(crate) sockets: RtpPair,
    pub(crate) leg: LegConfig,
}

enum Command {
    Start(Box<StartMedia>),
    Stop(CallHandle),
}

/// The media threads, from the SIP edge's side.
pub(crate) struct MediaRuntime {
    shards: Vec<mpsc::UnboundedSender<Command>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    next: usize,
    placement: HashMap<CallHandle, usize>,
}

impl MediaRuntime {
    /// Starts `threads` media threads; notices go to `notices`.
    pub(crate) fn start(
        threads: usize,
        notices: mpsc::UnboundedSender<MediaNotice>,
    ) -> anyhow::Result<MediaRuntime> {
        let mut shards = Vec::new();
        let mut handles = Vec::new();
        for i in 0..threads.max(1) {
            let (tx, rx) = mpsc::unbounded_channel();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let notices = notices.clone();
            let handle = std::thread::Builder::new()
                .name(format!("denwa-media-{i}"))
                .spawn(move || {
                    let local = tokio::task::LocalSet::new();
                    local.block_on(&runtime, shard(rx, notices));
                })?;
            shards.push(tx);
            handles.push(handle);
        }
        Ok(MediaRuntime {
            shards,
            threads: handles,
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
            let _ = self.shards[shard].send(Command::Stop(call));
        }
    }

    /// Stops every call and joins the threads.
    pub(crate) fn shutdown(self) {
        drop(self.shards);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

async fn shard(
    mut commands: mpsc::UnboundedReceiver<Command>,
    notices: mpsc::UnboundedSender<MediaNotice>,
) {
    let mut running: HashMap<CallHandle, oneshot::Sender<()>> = HashMap::new();
    while let Some(cmd) = commands.recv().await {
        running.retain(|_, stop| !stop.is_closed());
        match cmd {
            Command::Start(start) => {
                let (stop_tx, stop_rx) = oneshot::channel();
                running.insert(start.call, stop_tx);
                tokio::task::spawn_local(run_call(*start, stop_rx, notices.clone()));
            }
            Command::Stop(call) => {
                if let Some(stop) = running.remove(&call) {
                    let _ = stop.send(());
                }
            }
        }
    }
    // The edge is gone: stop every call and let their tasks finish.
    for (_, stop) in running.drain() {
        let _ = stop.send(());
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

/// One call: owns its room and sockets until stopped or its media times out.
async fn run_call(
    start: StartMedia,
    mut stop: oneshot::Receiver<()>,
    notices: mpsc::UnboundedSender<MediaNotice>,
) {
    let call = start.call;
    let port = start.sockets.port;
    let (rtp, rtcp) = match (
        UdpSocket::from_std(start.sockets.rtp),
        UdpSocket::from_std(start.sockets.rtcp),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            let _ = notices.send(MediaNotice::Ended {
                call,
                reason: format!("media sockets: {e}"),
            });
            return;
        }
    };
    let now = Instant::now();
    let mut room = Room::new(now);
    room.set_ntp_anchor(now, ntp_now());
    let leg = match room.add_leg(now, start.leg) {
        Ok(l) => l,
        Err(e) => {
            let _ = notices.send(MediaNotice::Ended {
                call,
                reason: format!("media leg: {e}"),
            });
            return;
        }
    };
    tracing::debug!(call = call.0, port, "media started");
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK);
    // Behind schedule (a loaded machine): tick once per missed period so the room keeps
    // pace with the senders (denwa-media's `tick` contract).
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut rtp_buf = vec![0u8; 2048];
    let mut rtcp_buf = vec![0u8; 2048];
    let mut out = vec![0u8; 2048];
    let ended = loop {
        tokio::select! {
            _ = &mut stop => break None,
            r = rtp.recv_from(&mut rtp_buf) => {
                if let Ok((n, from)) = r {
                    // Malformed or foreign packets are counted by the room and dropped.
                    let _ = room.handle_rtp(Instant::now(), leg, from, &rtp_buf[..n]);
                }
            }
            r = rtcp.recv_from(&mut rtcp_buf) => {
                if let Ok((n, from)) = r {
                    let _ = room.handle_rtcp(Instant::now(), leg, from, &rtcp_buf[..n]);
                }
            }
            at = ticks.tick() => room.tick(at.into_std()),
        }
        while let Some(t) = room.poll_transmit(&mut out) {
            let Some(to) = t.destination else { continue };
            let socket = match t.channel {
                Channel::Rtp => &rtp,
                Channel::Rtcp => &rtcp,
            };
            // Media is not retransmitted: a full socket buffer drops the packet.
            let _ = socket.try_send_to(&out[..t.len], to);
        }
        if let Some(reason) = drain_events(&mut room, call, leg) {
            break Some(reason);
        }
    };
    if let Ok(stats) = room.leg_stats(leg) {
        tracing::info!(
            call = call.0,
            received = stats.packets_received,
            lost = stats.packets_lost,
            jitter_ms = stats.jitter.as_secs_f64() * 1000.0,
            sent = stats.packets_sent,
            rejected = stats.rejected,
            "media ended"
        );
    }
    if let Some(reason) = ended {
        let _ = notices.send(MediaNotice::Ended { call, reason });
    }
}

/// Logs the room's events; returns a reason when the call must end.
fn drain_events(room: &mut Room, call: CallHandle, leg: LegId) -> Option<String> {
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
            Event::MediaTimeout { leg: l, reason } if l == leg => {
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

//! The telephony edge: the only place where SIP and RTP meet sockets, clocks and threads.
//!
//! * [`edge`]: one tokio task owns the Sans-IO `denwa_sip::Endpoint`, the SIP UDP socket
//!   and TCP listener/connections ([`transport`]), routes inbound INVITEs ([`routing`])
//!   and keeps the application side of each call (ringing, echo test, timers).
//! * [`media`]: media threads (one per core), each owning the `denwa_media::Room`s of its
//!   calls and their RTP/RTCP sockets; commands arrive over channels, nothing on the
//!   20 ms path is shared.
//! * [`calls`]: the call service, one task owning the `denwa_core::Switchboard` (the
//!   inbound call lifecycle) and carrying out its effects on the store, the bus and the
//!   edge.

mod audio;
mod calls;
mod edge;
mod media;
mod routing;
mod transport;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use denwa_store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Settings of the SIP/RTP edge (from `denwa serve` flags, env or TOML).
#[derive(Debug, Clone)]
pub(crate) struct TelephonyConfig {
    /// UDP and TCP address for SIP.
    pub(crate) sip: SocketAddr,
    /// Whether `sip` was given explicitly (then failing to bind it is fatal; the default
    /// address being busy only disables SIP with a warning).
    pub(crate) sip_explicit: bool,
    /// Address peers should reach us at (Via, Contact, SDP `c=`).
    pub(crate) public_ip: Option<IpAddr>,
    /// RTP port range, inclusive; each call takes an even port and the next one (RTCP).
    pub(crate) rtp_ports: (u16, u16),
    /// How long a call to a DID rings before 480 (nobody can answer yet).
    pub(crate) ring_timeout: Duration,
    /// Longest echo test call; then the server hangs up.
    pub(crate) echo_max: Duration,
    /// No RTP/RTCP for this long ends the call (BYE).
    pub(crate) media_timeout: Duration,
    /// New INVITEs accepted per second from one source address (burst: 4 s worth).
    pub(crate) invite_rate: f64,
    /// Digest challenges with MD5 only (the default; else SHA-256, then MD5).
    pub(crate) digest_md5_only: bool,
    /// Cap on concurrent SIP server transactions (stateless 503 beyond).
    pub(crate) max_transactions: usize,
    /// Media threads.
    pub(crate) media_threads: usize,
    /// Where bridged calls are recorded; `None`: not recorded.
    pub(crate) recordings: Option<PathBuf>,
    /// Where a channel's announcements live (`<name>.wav`).
    pub(crate) announcements: PathBuf,
}

/// Parses `20000-20999` into an inclusive range with at least one even/odd pair.
pub(crate) fn parse_port_range(s: &str) -> anyhow::Result<(u16, u16)> {
    let (lo, hi) = s
        .trim()
        .split_once('-')
        .with_context(|| format!("RTP port range {s:?}: expected LOW-HIGH, e.g. 20000-20999"))?;
    let lo: u16 = lo
        .trim()
        .parse()
        .with_context(|| format!("RTP port range {s:?}: bad low port"))?;
    let hi: u16 = hi
        .trim()
        .parse()
        .with_context(|| format!("RTP port range {s:?}: bad high port"))?;
    let first_even = lo + lo % 2;
    anyhow::ensure!(
        lo > 0 && first_even < hi,
        "RTP port range {s:?} must hold at least one even port and the one after it"
    );
    Ok((lo, hi))
}

/// The running edge.
pub(crate) struct Telephony {
    task: JoinHandle<()>,
    handle: Arc<edge::EdgeHandle>,
    calls: Arc<calls::CallService>,
}

impl Telephony {
    /// Binds the SIP sockets and starts the edge and the media threads. `stop` turning
    /// `true` ends calls (BYE / 503) and stops everything.
    pub(crate) async fn start(
        cfg: TelephonyConfig,
        store: Arc<dyn Store>,
        state: &denwa_api::AppState,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Option<Telephony>> {
        let metrics = state.metrics.as_ref();
        let events = state.bus.subscribe();
        let io = match transport::SipIo::bind(cfg.sip).await {
            Ok(io) => io,
            Err(e) if !cfg.sip_explicit => {
                tracing::warn!(addr = %cfg.sip, error = %e,
                    "cannot bind the default SIP address; serving without SIP (set --sip)");
                return Ok(None);
            }
            Err(e) => return Err(e).with_context(|| format!("binding SIP on {}", cfg.sip)),
        };
        let users = edge::load_sip_accounts(store.as_ref()).await?;
        let trunks = edge::trunk_registrations(store.as_ref()).await?;
        let media_metrics = media::MediaMetrics::register(metrics);
        let (commands, rx) = tokio::sync::mpsc::unbounded_channel();
        let handle = Arc::new(edge::EdgeHandle {
            commands,
            ring_timeout: cfg.ring_timeout,
        });
        let (reload_tx, reloads) = tokio::sync::mpsc::unbounded_channel();
        let initial = edge::Reload { users, trunks };
        tokio::spawn(edge::watch_config(
            store.clone(),
            events,
            reload_tx,
            initial.clone(),
        ));
        let registered = Arc::default();
        let (to_edge, to_edge_rx) = tokio::sync::mpsc::unbounded_channel();
        let (service, reports) = calls::start(
            store.clone(),
            state.bus.clone(),
            state.metrics.clone(),
            to_edge,
            calls::CallServiceConfig {
                recordings: cfg.recordings.clone(),
                announcements: cfg.announcements.clone(),
                audio: state.audio.clone(),
                presence: state.presence.clone(),
                registered: Arc::clone(&registered),
                dial_timeout: cfg.ring_timeout,
            },
        )
        .await?;
        let edge = edge::Edge::new(
            cfg,
            io,
            store,
            initial,
            media_metrics,
            rx,
            reloads,
            (reports, to_edge_rx),
            registered,
        )?;
        let task = tokio::spawn(edge.run(stop));
        Ok(Some(Telephony {
            task,
            handle,
            calls: service,
        }))
    }

    /// The API's handle on the edge (trunk test calls).
    pub(crate) fn handle(&self) -> Arc<dyn denwa_api::telephony::Telephony> {
        self.handle.clone()
    }

    /// The API's handle on the call service (accept, in-call controls).
    pub(crate) fn calls(&self) -> Arc<dyn denwa_api::calls::CallControl> {
        self.calls.clone()
    }

    /// Waits until the edge has ended its calls and stopped.
    pub(crate) async fn join(self) {
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the SIP edge task failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("20000-20999").unwrap(), (20000, 20999));
        assert_eq!(parse_port_range(" 3-5 ").unwrap(), (3, 5));
        for bad in [
            "",
            "20000",
            "a-b",
            "5-5",
            "4-4",
            "3-4",
            "0-10",
            "20001-20002",
            "9-70000",
        ] {
            assert!(parse_port_range(bad).is_err(), "{bad}");
        }
    }
}

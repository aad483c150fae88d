//! Inbound routing at the edge: which channel a trunk INVITE belongs to, and what it dials.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use denwa_core::model::ChannelId;
use denwa_core::phone::{E164, Region};
use denwa_core::trunk::SourceRule;
use denwa_sip::auth::{Algorithm, Credentials};
use denwa_store::Store;
use tokio::sync::Mutex;

/// What to do with an inbound INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// The channel's echo test number (SPEC: what admins use to check a trunk).
    Echo { channel: ChannelId },
    /// One of the channel's numbers (DIDs); `staff_sip` are the SIP usernames of the
    /// channel's members (whose registered softphones ring).
    Did {
        channel: ChannelId,
        number: String,
        staff_sip: Vec<String>,
    },
    /// The source is no trunk's, but trunks accept digest: 407 with this nonce (RFC 3261
    /// §22.3); `stale` when the credentials were right but the nonce had expired.
    Challenge { nonce: String, stale: bool },
    /// Refuse with this status (403 unknown source or wrong credentials, 404 unknown
    /// number, 500 store failure).
    Reject { status: u16, why: &'static str },
}

/// Digest realm of trunk authentication (and of the softphone registrar).
pub(crate) const REALM: &str = "denwa";

/// How long a nonce we issued stays good.
const NONCE_LIFETIME_S: u64 = 300;

/// Stateless nonces: the issue time and a keyed hash of it, so any nonce we issued can be
/// checked (and aged) without remembering it. The key is drawn at start.
pub(crate) struct Nonces {
    key: String,
}

impl Nonces {
    pub(crate) fn new() -> Nonces {
        Nonces {
            key: format!("{:032x}", rand::random::<u128>()),
        }
    }

    fn mac(&self, issued: &str) -> String {
        Algorithm::Sha256.hex(&format!("{}:{issued}", self.key))[..32].to_owned()
    }

    /// A nonce issued at `now_s` (Unix seconds).
    pub(crate) fn issue(&self, now_s: u64) -> String {
        let issued = format!("{now_s:012x}");
        let mac = self.mac(&issued);
        format!("{issued}{mac}")
    }

    /// Whether `nonce` is ours and younger than the lifetime.
    pub(crate) fn fresh(&self, nonce: &str, now_s: u64) -> bool {
        let (Some(issued), Some(mac)) = (nonce.get(..12), nonce.get(12..)) else {
            return false;
        };
        let Ok(at) = u64::from_str_radix(issued, 16) else {
            return false;
        };
        mac == self.mac(issued) && now_s.saturating_sub(at) < NONCE_LIFETIME_S && at <= now_s + 5
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The user part of a Request-URI (`sip:`, `sips:`) or the number of a `tel:` URI,
/// without its parameters (`;phone-context=…`, RFC 3966) and visual separators.
fn dialled(request_uri: &str) -> Option<String> {
    let (scheme, rest) = request_uri.trim().split_once(':')?;
    let user = if scheme.eq_ignore_ascii_case("tel") {
        rest
    } else if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        // The user part ends at the last '@' before any header part ('?').
        let rest = rest.split('?').next().unwrap_or(rest);
        rest.rsplit_once('@')?.0
    } else {
        return None;
    };
    let user = user.split([';', ':']).next().unwrap_or(user);
    let user: String = user
        .chars()
        .filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' '))
        .collect();
    (!user.is_empty()).then_some(user)
}

/// How long a snapshot of trunks and channels serves routing before it is read again (in
/// the background, while INVITEs go on being routed with it): a burst of INVITEs costs no
/// database round trip each.
const SNAPSHOT_TTL: Duration = Duration::from_secs(1);
/// The oldest snapshot an INVITE is routed with; older, the INVITE waits for a fresh read.
/// Trunk and number changes apply within this time.
const SNAPSHOT_MAX_AGE: Duration = Duration::from_secs(2);

struct ChannelInfo {
    echo_number: String,
    region: Option<Region>,
    numbers: HashSet<String>,
    staff_sip: Vec<String>,
}

struct TrunkRoute {
    sources: Vec<SourceRule>,
    channel: ChannelId,
    /// Inbound digest credentials (username, password), if the trunk has them.
    inbound: Option<(String, String)>,
}

/// What routing needs from the store: each trunk's allowed sources, inbound credentials
/// and channel, each channel's echo number, region, numbers and its members' SIP usernames.
struct Snapshot {
    trunks: Vec<TrunkRoute>,
    channels: HashMap<ChannelId, ChannelInfo>,
}

/// Routes inbound INVITEs from a periodically refreshed snapshot of the store.
pub(crate) struct Router {
    store: Arc<dyn Store>,
    snapshot: std::sync::RwLock<Option<(Instant, Arc<Snapshot>)>>,
    /// Serialises reads of the store, so a burst of INVITEs makes one read, not one each.
    loading: Mutex<()>,
    /// A background refresh is running.
    refreshing: AtomicBool,
    nonces: Nonces,
}

impl Router {
    pub(crate) fn new(store: Arc<dyn Store>) -> Router {
        Router {
            store,
            snapshot: std::sync::RwLock::new(None),
            loading: Mutex::new(()),
            refreshing: AtomicBool::new(false),
            nonces: Nonces::new(),
        }
    }

    fn current(&self) -> Option<(Instant, Arc<Snapshot>)> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The snapshot to route with. A stale one (older than [`SNAPSHOT_TTL`]) still serves
    /// while a background task reads the next: the ring of the INVITE that happens to
    /// come at expiry must not wait for the store (it did, ~20 ms every 2 s at 200 staff).
    async fn snapshot(self: &Arc<Self>) -> anyhow::Result<Arc<Snapshot>> {
        match self.current() {
            Some((at, snap)) if at.elapsed() < SNAPSHOT_TTL => Ok(snap),
            Some((at, snap)) if at.elapsed() < SNAPSHOT_MAX_AGE => {
                if !self.refreshing.swap(true, Ordering::AcqRel) {
                    let router = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = router.reload().await {
                            tracing::warn!(error = %e, "refreshing the routing snapshot failed");
                        }
                        router.refreshing.store(false, Ordering::Release);
                    });
                }
                Ok(snap)
            }
            _ => self.reload().await,
        }
    }

    /// Reads trunks and channels from the store into a new snapshot (unless another read
    /// finished while this one waited its turn).
    async fn reload(&self) -> anyhow::Result<Arc<Snapshot>> {
        let asked = Instant::now();
        let _one_at_a_time = self.loading.lock().await;
        if let Some((at, snap)) = self.current()
            && at >= asked
        {
            return Ok(snap);
        }
        let read_at = Instant::now();
        let mut trunks = Vec::new();
        for (trunk, secrets) in self.store.trunk_routes().await? {
            let sources = trunk
                .allowed_sources
                .iter()
                .filter_map(|s| s.parse::<SourceRule>().ok())
                .collect();
            trunks.push(TrunkRoute {
                sources,
                channel: trunk.channel_id,
                inbound: trunk.inbound_username.zip(secrets.inbound_password),
            });
        }
        let mut channels = HashMap::new();
        for ch in self.store.channels().await? {
            // One query for the members' SIP usernames (it was one per member).
            let staff_sip = self
                .store
                .ring_candidates(ch.id)
                .await?
                .into_iter()
                .filter_map(|(_, _, username)| username)
                .collect();
            channels.insert(
                ch.id,
                ChannelInfo {
                    echo_number: ch.echo_number,
                    region: ch.region.parse().ok(),
                    numbers: ch.phone_numbers.into_iter().collect(),
                    staff_sip,
                },
            );
        }
        let snap = Arc::new(Snapshot { trunks, channels });
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Some((read_at, snap.clone()));
        Ok(snap)
    }

    /// Decides the route of an INVITE from `source` to `request_uri`: the source must be
    /// allowed by a trunk, or `auth` (its `Proxy-Authorization`) must pass a trunk's
    /// inbound digest; the dialled user, normalised with the trunk channel's region, must
    /// be that channel's echo number or one of its numbers (DIDs).
    pub(crate) async fn route(
        self: &Arc<Self>,
        source: IpAddr,
        request_uri: &str,
        auth: Option<&str>,
    ) -> Route {
        match self.snapshot().await {
            Ok(snap) => decide(&snap, source, request_uri, auth, &self.nonces, unix_now()),
            Err(e) => {
                tracing::error!(error = %e, "reading trunks for routing failed");
                Route::Reject {
                    status: 500,
                    why: "store error",
                }
            }
        }
    }
}

/// Which channels a request may reach: those of the trunks allowing its source, else that
/// of the trunk whose inbound digest it passes.
fn authorise(
    snap: &Snapshot,
    source: IpAddr,
    auth: Option<&str>,
    nonces: &Nonces,
    now_s: u64,
) -> Result<Vec<ChannelId>, Route> {
    let mut channels: Vec<ChannelId> = snap
        .trunks
        .iter()
        .filter(|t| t.sources.iter().any(|r| r.contains(source)))
        .map(|t| t.channel)
        .collect();
    channels.sort_unstable();
    channels.dedup();
    if !channels.is_empty() {
        return Ok(channels);
    }
    let forbidden = |why| Route::Reject { status: 403, why };
    if !snap.trunks.iter().any(|t| t.inbound.is_some()) {
        return Err(forbidden("source not allowed by any trunk"));
    }
    let Some(creds) = auth
        .and_then(Credentials::parse)
        .filter(|c| c.realm == REALM)
    else {
        return Err(Route::Challenge {
            nonce: nonces.issue(now_s),
            stale: false,
        });
    };
    let Some((trunk, password)) = snap.trunks.iter().find_map(|t| {
        t.inbound
            .as_ref()
            .filter(|(user, _)| *user == creds.username)
            .map(|(_, pw)| (t, pw))
    }) else {
        return Err(forbidden("no trunk has these inbound credentials"));
    };
    if !creds.verify(password, "INVITE") {
        return Err(forbidden("wrong trunk credentials"));
    }
    if !nonces.fresh(&creds.nonce, now_s) {
        return Err(Route::Challenge {
            nonce: nonces.issue(now_s),
            stale: true,
        });
    }
    Ok(vec![trunk.channel])
}

fn decide(
    snap: &Snapshot,
    source: IpAddr,
    request_uri: &str,
    auth: Option<&str>,
    nonces: &Nonces,
    now_s: u64,
) -> Route {
    let channels = match authorise(snap, source, auth, nonces, now_s) {
        Ok(c) => c,
        Err(route) => return route,
    };
    let Some(user) = dialled(request_uri) else {
        return Route::Reject {
            status: 404,
            why: "no number in the Request-URI",
        };
    };
    for channel in channels {
        let Some(ch) = snap.channels.get(&channel) else {
            continue;
        };
        if user == ch.echo_number {
            return Route::Echo { channel };
        }
        let Some(number) = ch.region.and_then(|r| E164::parse(&user, r).ok()) else {
            continue;
        };
        if ch.numbers.contains(number.as_str()) {
            return Route::Did {
                channel,
                number: number.as_str().to_owned(),
                staff_sip: ch.staff_sip.clone(),
            };
        }
    }
    Route::Reject {
        status: 404,
        why: "not a number of the trunk's channel",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        let mut channels = HashMap::new();
        channels.insert(
            1,
            ChannelInfo {
                echo_number: "9196".into(),
                region: Some(Region::JP),
                numbers: ["+815012345678".to_owned()].into_iter().collect(),
                staff_sip: vec!["sato".into()],
            },
        );
        channels.insert(
            2,
            ChannelInfo {
                echo_number: "1234".into(),
                region: Some(Region::JP),
                numbers: ["+81312345678".to_owned()].into_iter().collect(),
                staff_sip: Vec::new(),
            },
        );
        Snapshot {
            trunks: vec![
                TrunkRoute {
                    sources: vec!["127.0.0.1".parse().unwrap()],
                    channel: 1,
                    inbound: None,
                },
                TrunkRoute {
                    sources: vec!["203.0.113.0/24".parse().unwrap()],
                    channel: 2,
                    inbound: Some(("carrier2".into(), "pw2".into())),
                },
            ],
            channels,
        }
    }

    fn decide_ip(s: &Snapshot, source: IpAddr, uri: &str) -> Route {
        decide(s, source, uri, None, &Nonces::new(), 1_000_000)
    }

    #[test]
    fn routes_follow_the_trunk_of_the_source() {
        let s = snapshot();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let carrier: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            decide_ip(&s, local, "sip:9196@x"),
            Route::Echo { channel: 1 }
        );
        assert_eq!(
            decide_ip(&s, local, "sip:050-1234-5678@x"),
            Route::Did {
                channel: 1,
                number: "+815012345678".into(),
                staff_sip: vec!["sato".into()],
            }
        );
        // Another channel's number or echo number is not reachable through this trunk.
        assert!(matches!(
            decide_ip(&s, local, "sip:0312345678@x"),
            Route::Reject { status: 404, .. }
        ));
        assert!(matches!(
            decide_ip(&s, local, "sip:1234@x"),
            Route::Reject { status: 404, .. }
        ));
        assert_eq!(
            decide_ip(&s, carrier, "sip:1234@x"),
            Route::Echo { channel: 2 }
        );
        // An unknown source is challenged, since trunk 2 accepts digest ...
        assert!(matches!(
            decide_ip(&s, "198.51.100.1".parse().unwrap(), "sip:9196@x"),
            Route::Challenge { stale: false, .. }
        ));
        // ... and refused where no trunk does.
        let mut ip_only = snapshot();
        ip_only.trunks[1].inbound = None;
        assert!(matches!(
            decide_ip(&ip_only, "198.51.100.1".parse().unwrap(), "sip:9196@x"),
            Route::Reject { status: 403, .. }
        ));
        assert!(matches!(
            decide_ip(&s, local, "sip:x"),
            Route::Reject { status: 404, .. }
        ));
    }

    #[test]
    fn dialled_numbers() {
        assert_eq!(dialled("sip:9196@10.0.0.1:5060").as_deref(), Some("9196"));
        assert_eq!(
            dialled("sip:050-1234-5678;phone-context=+81@h;user=phone").as_deref(),
            Some("05012345678")
        );
        assert_eq!(
            dialled("sip:+815012345678@h").as_deref(),
            Some("+815012345678")
        );
        assert_eq!(
            dialled("tel:+81-50-1234-5678").as_deref(),
            Some("+815012345678")
        );
        assert_eq!(dialled("sip:u:secret@h").as_deref(), Some("u"));
        assert_eq!(dialled("sip:h"), None);
        assert_eq!(dialled("sip:@h"), None);
        assert_eq!(dialled("http://x"), None);
    }

    #[test]
    fn trunk_digest_lets_an_unknown_source_reach_that_trunks_channel_only() {
        use denwa_sip::auth::Challenge;
        let s = snapshot();
        let nonces = Nonces::new();
        let now = 1_000_000;
        let src: IpAddr = "198.51.100.1".parse().unwrap();
        let uri = "sip:1234@denwa.example";
        let Route::Challenge { nonce, stale } = decide(&s, src, uri, None, &nonces, now) else {
            panic!("expected a challenge");
        };
        assert!(!stale);
        let answer = |user: &str, pw: &str, nonce: &str| {
            let c = Challenge {
                realm: REALM.into(),
                nonce: nonce.into(),
                opaque: None,
                algorithm: Algorithm::Md5,
                qop_auth: true,
                stale: false,
            };
            c.authorize(user, pw, "INVITE", uri, "cn", 1).to_header()
        };
        let good = answer("carrier2", "pw2", &nonce);
        assert_eq!(
            decide(&s, src, uri, Some(&good), &nonces, now + 10),
            Route::Echo { channel: 2 }
        );
        // Channel 1's echo number is not reachable with channel 2's trunk credentials.
        assert!(matches!(
            decide(&s, src, "sip:9196@x", Some(&good), &nonces, now),
            Route::Reject { status: 404, .. }
        ));
        for bad in [
            answer("carrier2", "nope", &nonce),
            answer("someone", "pw2", &nonce),
        ] {
            assert!(matches!(
                decide(&s, src, uri, Some(&bad), &nonces, now),
                Route::Reject { status: 403, .. }
            ));
        }
        // Right credentials on an old nonce, or on a nonce we never issued: stale.
        assert!(matches!(
            decide(
                &s,
                src,
                uri,
                Some(&good),
                &nonces,
                now + NONCE_LIFETIME_S + 1
            ),
            Route::Challenge { stale: true, .. }
        ));
        let forged = answer("carrier2", "pw2", &format!("{now:012x}{}", "0".repeat(32)));
        assert!(matches!(
            decide(&s, src, uri, Some(&forged), &nonces, now),
            Route::Challenge { stale: true, .. }
        ));
        assert!(!Nonces::new().fresh(&nonce, now), "another key's nonce");
    }
}

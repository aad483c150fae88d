//! Inbound routing at the edge: which channel a trunk INVITE belongs to, and what it dials.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use denwa_core::model::ChannelId;
use denwa_core::phone::{E164, Region};
use denwa_core::trunk::SourceRule;
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
    /// Refuse with this status (403 unknown source, 404 unknown number, 500 store failure).
    Reject { status: u16, why: &'static str },
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

/// How long a snapshot of trunks and channels serves routing before it is read again:
/// trunk and number changes apply within this time, and a burst of INVITEs costs no
/// database round trip each.
const SNAPSHOT_TTL: Duration = Duration::from_secs(2);

struct ChannelInfo {
    echo_number: String,
    region: Option<Region>,
    numbers: HashSet<String>,
    staff_sip: Vec<String>,
}

/// What routing needs from the store: each trunk's allowed sources and channel, each
/// channel's echo number, region, numbers and its members' SIP usernames.
struct Snapshot {
    trunks: Vec<(Vec<SourceRule>, ChannelId)>,
    channels: HashMap<ChannelId, ChannelInfo>,
}

/// Routes inbound INVITEs from a periodically refreshed snapshot of the store.
pub(crate) struct Router {
    store: Arc<dyn Store>,
    snapshot: Mutex<Option<(Instant, Arc<Snapshot>)>>,
}

impl Router {
    pub(crate) fn new(store: Arc<dyn Store>) -> Router {
        Router {
            store,
            snapshot: Mutex::new(None),
        }
    }

    async fn snapshot(&self) -> anyhow::Result<Arc<Snapshot>> {
        let mut guard = self.snapshot.lock().await;
        if let Some((at, snap)) = guard.as_ref()
            && at.elapsed() < SNAPSHOT_TTL
        {
            return Ok(snap.clone());
        }
        let mut trunks = Vec::new();
        for (trunk, _) in self.store.trunk_routes().await? {
            let rules = trunk
                .allowed_sources
                .iter()
                .filter_map(|s| s.parse::<SourceRule>().ok())
                .collect();
            trunks.push((rules, trunk.channel_id));
        }
        let mut channels = HashMap::new();
        for ch in self.store.channels().await? {
            let mut staff_sip = Vec::new();
            for member in self.store.members(ch.id).await? {
                if let Some(account) = self.store.sip_account_of(member.staff.id).await? {
                    staff_sip.push(account.username);
                }
            }
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
        *guard = Some((Instant::now(), snap.clone()));
        Ok(snap)
    }

    /// Decides the route of an INVITE from `source` to `request_uri`: the source must be
    /// allowed by a trunk; the dialled user, normalised with the trunk channel's region,
    /// must be that channel's echo number or one of its numbers (DIDs).
    pub(crate) async fn route(&self, source: IpAddr, request_uri: &str) -> Route {
        match self.snapshot().await {
            Ok(snap) => decide(&snap, source, request_uri),
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

fn decide(snap: &Snapshot, source: IpAddr, request_uri: &str) -> Route {
    let mut channels: Vec<ChannelId> = snap
        .trunks
        .iter()
        .filter(|(rules, _)| rules.iter().any(|r| r.contains(source)))
        .map(|(_, c)| *c)
        .collect();
    channels.sort_unstable();
    channels.dedup();
    if channels.is_empty() {
        return Route::Reject {
            status: 403,
            why: "source not allowed by any trunk",
        };
    }
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
                (vec!["127.0.0.1".parse().unwrap()], 1),
                (vec!["203.0.113.0/24".parse().unwrap()], 2),
            ],
            channels,
        }
    }

    #[test]
    fn routes_follow_the_trunk_of_the_source() {
        let s = snapshot();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let carrier: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(decide(&s, local, "sip:9196@x"), Route::Echo { channel: 1 });
        assert_eq!(
            decide(&s, local, "sip:050-1234-5678@x"),
            Route::Did {
                channel: 1,
                number: "+815012345678".into(),
                staff_sip: vec!["sato".into()],
            }
        );
        // Another channel's number or echo number is not reachable through this trunk.
        assert!(matches!(
            decide(&s, local, "sip:0312345678@x"),
            Route::Reject { status: 404, .. }
        ));
        assert!(matches!(
            decide(&s, local, "sip:1234@x"),
            Route::Reject { status: 404, .. }
        ));
        assert_eq!(
            decide(&s, carrier, "sip:1234@x"),
            Route::Echo { channel: 2 }
        );
        assert!(matches!(
            decide(&s, "198.51.100.1".parse().unwrap(), "sip:9196@x"),
            Route::Reject { status: 403, .. }
        ));
        assert!(matches!(
            decide(&s, local, "sip:x"),
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
}

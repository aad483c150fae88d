//! Inbound routing at the edge: which channel a trunk INVITE belongs to, and what it dials.

use std::net::IpAddr;

use denwa_core::model::ChannelId;
use denwa_core::phone::{E164, Region};
use denwa_core::trunk::SourceRule;
use denwa_store::Store;

/// What to do with an inbound INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// The channel's echo test number (SPEC: what admins use to check a trunk).
    Echo { channel: ChannelId },
    /// One of the channel's numbers (DIDs).
    Did { channel: ChannelId, number: String },
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

/// Decides the route of an INVITE from `source` to `request_uri`: the source must be
/// allowed by a trunk; the dialled user, normalised with the trunk channel's region, must
/// be that channel's echo number or one of its DIDs.
pub(crate) async fn route(store: &dyn Store, source: IpAddr, request_uri: &str) -> Route {
    match route_inner(store, source, request_uri).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "routing an INVITE failed");
            Route::Reject {
                status: 500,
                why: "store error",
            }
        }
    }
}

async fn route_inner(
    store: &dyn Store,
    source: IpAddr,
    request_uri: &str,
) -> anyhow::Result<Route> {
    let trunks = store.trunk_routes().await?;
    let mut channels: Vec<ChannelId> = trunks
        .iter()
        .filter(|(t, _)| {
            t.allowed_sources.iter().any(|s| {
                s.parse::<SourceRule>()
                    .map(|r| r.contains(source))
                    .unwrap_or(false)
            })
        })
        .map(|(t, _)| t.channel_id)
        .collect();
    channels.dedup();
    if channels.is_empty() {
        return Ok(Route::Reject {
            status: 403,
            why: "source not allowed by any trunk",
        });
    }
    let Some(user) = dialled(request_uri) else {
        return Ok(Route::Reject {
            status: 404,
            why: "no number in the Request-URI",
        });
    };
    for channel in channels {
        let ch = store.channel(channel).await?;
        if user == ch.echo_number {
            return Ok(Route::Echo { channel });
        }
        let Ok(region) = ch.region.parse::<Region>() else {
            continue;
        };
        let Ok(number) = E164::parse(&user, region) else {
            continue;
        };
        if store.channel_by_number(number.as_str()).await? == Some(channel) {
            return Ok(Route::Did {
                channel,
                number: number.as_str().to_owned(),
            });
        }
    }
    Ok(Route::Reject {
        status: 404,
        why: "not a number of the trunk's channel",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

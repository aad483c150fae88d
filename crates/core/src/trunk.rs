//! SIP trunks: how a channel's carrier reaches Denwa and how Denwa calls out through it.

use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::CoreError;
use crate::model::ChannelId;

/// A trunk id.
pub type TrunkId = i64;

/// SIP transport towards the carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TrunkTransport {
    /// UDP (RFC 3261 §18.1; large requests switch to TCP).
    Udp,
    /// TCP.
    Tcp,
}

/// A channel's SIP trunk as managers see it (secrets are never shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Trunk {
    /// Id.
    pub id: TrunkId,
    /// The channel whose numbers it carries.
    pub channel_id: ChannelId,
    /// Name, e.g. the carrier's.
    pub name: String,
    /// Addresses (`203.0.113.7`) or networks (`203.0.113.0/24`) the carrier sends from;
    /// INVITEs to the channel's numbers from elsewhere are refused unless they pass
    /// digest authentication with the inbound credentials.
    pub allowed_sources: Vec<String>,
    /// Username the carrier authenticates with (digest), if it does.
    pub inbound_username: Option<String>,
    /// `host[:port]` of the carrier's SIP server for outbound calls and registration.
    pub outbound_proxy: Option<String>,
    /// Username for the carrier's digest challenges (outbound calls, registration).
    pub outbound_username: Option<String>,
    /// Whether an outbound password is set.
    pub has_outbound_password: bool,
    /// Whether an inbound password is set.
    pub has_inbound_password: bool,
    /// Caller ID (E.164) for outbound calls; the channel's first number when absent.
    pub caller_id: Option<String>,
    /// Keep a registration with the carrier (trunks that deliver calls to a registered contact).
    pub register: bool,
    /// Transport towards the carrier.
    pub transport: TrunkTransport,
}

/// The secrets of a trunk, for the SIP edge only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkSecrets {
    /// Password the carrier's inbound digest must match.
    pub inbound_password: Option<String>,
    /// Password for the carrier's challenges.
    pub outbound_password: Option<String>,
}

/// An address or a network (CIDR) allowed to send trunk traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRule {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for SourceRule {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || CoreError::InvalidTrunk(format!("{s:?} is not an IP address or network (CIDR)"));
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(SourceRule { network, prefix })
    }
}

impl SourceRule {
    /// Whether `addr` is inside this rule (IPv4-mapped IPv6 addresses match IPv4 rules).
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
            v4 => v4,
        };
        match (self.network, addr) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Checks `host[:port]` of an outbound proxy.
pub fn check_proxy(s: &str) -> Result<(), CoreError> {
    let bad = |why: &str| CoreError::InvalidTrunk(format!("outbound proxy {s:?}: {why}"));
    let s = s.trim();
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        (h, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (s, None),
        }
    };
    if host.is_empty()
        || host.len() > 253
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
    {
        return Err(bad("expected host or host:port"));
    }
    if let Some(p) = port {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("bad port"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_rules_match_addresses_and_networks() {
        let one: SourceRule = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(one.contains("::ffff:127.0.0.1".parse().unwrap()));
        let net: SourceRule = "203.0.113.0/24".parse().unwrap();
        assert!(net.contains("203.0.113.200".parse().unwrap()));
        assert!(!net.contains("203.0.114.1".parse().unwrap()));
        let all: SourceRule = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: SourceRule = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8::1".parse().unwrap()));
        assert!(!v6.contains("127.0.0.1".parse().unwrap()));
        for bad in ["", "localhost", "10.0.0.0/33", "1.2.3.4/x", "::/129"] {
            assert!(bad.parse::<SourceRule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn proxies() {
        for ok in [
            "sip.carrier.jp",
            "sip.carrier.jp:5060",
            "203.0.113.7:5080",
            "[2001:db8::1]:5060",
            "2001:db8::1",
        ] {
            check_proxy(ok).unwrap();
        }
        for bad in ["", "sip carrier", "host:0", "host:99999", "[::1", "a/b"] {
            assert!(check_proxy(bad).is_err(), "{bad}");
        }
    }
}

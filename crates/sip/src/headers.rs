//! Structured views of the headers the protocol core relies on:
//! `Via` (RFC 3261 §20.42), name-addr headers `From`/`To`/`Contact`/`Route`
//! (§20.10, §20.20, §20.39), `CSeq` (§20.16) and SIP URIs (§19.1).

use std::fmt;

use crate::message::{Method, is_token};

/// A `;name=value` or `;name` parameter list.
pub type Params = Vec<(String, Option<String>)>;

fn parse_params(s: &str) -> Option<Params> {
    let mut out = Vec::new();
    for p in s.split(';') {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        match p.split_once('=') {
            Some((k, v)) => {
                let k = k.trim();
                if !is_token(k) {
                    return None;
                }
                out.push((k.to_owned(), Some(v.trim().to_owned())));
            }
            None => {
                if !is_token(p) {
                    return None;
                }
                out.push((p.to_owned(), None));
            }
        }
    }
    Some(out)
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &Params) -> fmt::Result {
    for (k, v) in params {
        match v {
            Some(v) => write!(f, ";{k}={v}")?,
            None => write!(f, ";{k}")?,
        }
    }
    Ok(())
}

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_deref().unwrap_or(""))
}

/// One `Via` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport token, e.g. `UDP`, `TCP`.
    pub transport: String,
    /// `host[:port]` the sender listens on.
    pub sent_by: String,
    /// Parameters (`branch`, `received`, `rport`, …).
    pub params: Params,
}

impl Via {
    /// Parses `SIP/2.0/UDP host:port;branch=…`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Via> {
        let s = s.trim();
        let (proto, rest) = s.split_once(|c: char| c.is_ascii_whitespace())?;
        let mut p = proto.split('/');
        let (Some(name), Some(version), Some(transport), None) =
            (p.next(), p.next(), p.next(), p.next())
        else {
            return None;
        };
        if !name.trim().eq_ignore_ascii_case("SIP")
            || version.trim() != "2.0"
            || !is_token(transport.trim())
        {
            return None;
        }
        let rest = rest.trim_start();
        let (sent_by, params) = rest.split_once(';').unwrap_or((rest, ""));
        let sent_by = sent_by.trim();
        if sent_by.is_empty() || sent_by.contains(char::is_whitespace) {
            return None;
        }
        Some(Via {
            transport: transport.trim().to_ascii_uppercase(),
            sent_by: sent_by.to_owned(),
            params: parse_params(params)?,
        })
    }

    /// The `branch` parameter (transaction id, RFC 3261 §8.1.1.7).
    #[must_use]
    pub fn branch(&self) -> Option<&str> {
        param(&self.params, "branch").filter(|b| !b.is_empty())
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.sent_by)?;
        write_params(f, &self.params)
    }
}

/// A name-addr or addr-spec with header parameters: `From`, `To`,
/// `Contact`, `Route`, `Record-Route`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name without quotes, if any.
    pub display: Option<String>,
    /// The URI.
    pub uri: String,
    /// Header parameters (`tag`, `expires`, `lr` is a URI param inside `<>`).
    pub params: Params,
}

impl NameAddr {
    /// A bare `<uri>`.
    #[must_use]
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            display: None,
            uri: uri.into(),
            params: Vec::new(),
        }
    }

    /// Parses `"Name" <sip:u@h>;tag=x`, `Name <sip:u@h>` or `sip:u@h;tag=x`.
    #[must_use]
    pub fn parse(s: &str) -> Option<NameAddr> {
        let s = s.trim();
        if let Some(lt) = find_unquoted(s, '<') {
            let display = s[..lt].trim();
            let after = &s[lt + 1..];
            let gt = after.find('>')?;
            let uri = after[..gt].trim();
            let display = if display.is_empty() {
                None
            } else if let Some(q) = display.strip_prefix('"') {
                Some(
                    q.strip_suffix('"')?
                        .replace("\\\"", "\"")
                        .replace("\\\\", "\\"),
                )
            } else {
                Some(display.to_owned())
            };
            if uri.is_empty() || !uri.contains(':') {
                return None;
            }
            let rest = after[gt + 1..].trim();
            if !(rest.is_empty() || rest.starts_with(';')) {
                return None;
            }
            Some(NameAddr {
                display,
                uri: uri.to_owned(),
                params: parse_params(rest)?,
            })
        } else {
            // addr-spec form: parameters after the URI belong to the header.
            let (uri, params) = s.split_once(';').unwrap_or((s, ""));
            let uri = uri.trim();
            if uri.is_empty()
                || !uri.contains(':')
                || uri.contains(char::is_whitespace)
                || uri.contains('"')
            {
                return None;
            }
            Some(NameAddr {
                display: None,
                uri: uri.to_owned(),
                params: parse_params(params)?,
            })
        }
    }

    /// The `tag` parameter (RFC 3261 §19.3).
    #[must_use]
    pub fn tag(&self) -> Option<&str> {
        param(&self.params, "tag").filter(|t| !t.is_empty())
    }

    /// A header parameter by name (`""` for a flag parameter).
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.params, name)
    }

    /// Sets (or replaces) a header parameter.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        self.params.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.params
            .push((name.to_owned(), value.map(str::to_owned)));
    }
}

fn find_unquoted(s: &str, needle: char) -> Option<usize> {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && in_quote {
            escaped = true;
        } else if c == '"' {
            in_quote = !in_quote;
        } else if c == needle && !in_quote {
            return Some(i);
        }
    }
    None
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "\"{}\" ", d.replace('\\', "\\\\").replace('"', "\\\""))?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

/// The `CSeq` header: sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number (< 2^31, RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// Method.
    pub method: Method,
}

impl CSeq {
    /// Parses `314159 INVITE`.
    #[must_use]
    pub fn parse(s: &str) -> Option<CSeq> {
        let mut it = s.split_whitespace();
        let (Some(n), Some(m), None) = (it.next(), it.next(), it.next()) else {
            return None;
        };
        if !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(CSeq {
            seq: n.parse().ok()?,
            method: Method::parse(m)?,
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// The parts of a `sip:`/`sips:`/`tel:` URI the core needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriParts<'a> {
    /// `sip`, `sips` or `tel`.
    pub scheme: &'a str,
    /// User part, if any.
    pub user: Option<&'a str>,
    /// Host (or the number for `tel:`), without port.
    pub host: &'a str,
    /// Port, if present.
    pub port: Option<u16>,
}

/// Splits a URI into scheme, user, host and port (RFC 3261 §19.1.1).
#[must_use]
pub fn uri_parts(uri: &str) -> Option<UriParts<'_>> {
    let (scheme, rest) = uri.split_once(':')?;
    if !scheme.eq_ignore_ascii_case("sip")
        && !scheme.eq_ignore_ascii_case("sips")
        && !scheme.eq_ignore_ascii_case("tel")
    {
        return None;
    }
    let rest = rest.split([';', '?']).next().unwrap_or("");
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u.split(':').next().unwrap_or(u)), h),
        None => (None, rest),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, p) = v6.split_once(']')?;
        (h, p.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    Some(UriParts {
        scheme,
        user,
        host,
        port,
    })
}

/// The address-of-record key for a URI: `sip:user@host` in lower case, no
/// port or parameters (RFC 3261 §10.3 step 5, simplified).
#[must_use]
pub fn aor_key(uri: &str) -> Option<String> {
    let p = uri_parts(uri)?;
    Some(match p.user {
        Some(u) => format!("sip:{}@{}", u, p.host).to_ascii_lowercase(),
        None => format!("sip:{}", p.host).to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_params_round_trips() {
        let v = Via::parse("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport").expect("valid");
        assert_eq!(v.branch(), Some("z9hG4bKabc"));
        assert_eq!(Via::parse(&v.to_string()), Some(v));
    }

    #[test]
    fn name_addr_forms() {
        let a = NameAddr::parse("\"A \\\"B\\\"\" <sip:a@b;lr>;tag=1").expect("valid");
        assert_eq!(a.display.as_deref(), Some("A \"B\""));
        assert_eq!(a.uri, "sip:a@b;lr");
        assert_eq!(a.tag(), Some("1"));
        assert_eq!(NameAddr::parse(&a.to_string()), Some(a));
        let b = NameAddr::parse("sip:x@y;tag=9").expect("valid");
        assert_eq!((b.uri.as_str(), b.tag()), ("sip:x@y", Some("9")));
        assert!(NameAddr::parse("<sip:x@y").is_none());
    }

    #[test]
    fn uri_parts_and_aor() {
        let p = uri_parts("sip:alice:pw@[::1]:5070;transport=tcp").expect("valid");
        assert_eq!((p.user, p.host, p.port), (Some("alice"), "::1", Some(5070)));
        assert_eq!(
            aor_key("sip:Alice@Example.com:5060;x=y").as_deref(),
            Some("sip:alice@example.com")
        );
    }
}

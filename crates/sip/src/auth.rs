//! HTTP Digest authentication for SIP (RFC 3261 §22, RFC 7616 computation,
//! RFC 8760 SHA-256 for SIP). Only `qop=auth` (or no qop) is supported.

use std::fmt::Write as _;

use md5::Md5;
use sha2::{Digest as _, Sha256};

/// Digest hash algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// MD5 (RFC 2617), the default when `algorithm` is absent.
    Md5,
    /// SHA-256 (RFC 8760).
    Sha256,
}

impl Algorithm {
    /// The token used in `algorithm=`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn parse(s: &str) -> Option<Algorithm> {
        if s.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    /// Lower-case hex digest of `data`.
    #[must_use]
    pub fn hex(self, data: &str) -> String {
        let mut out = String::with_capacity(64);
        match self {
            Algorithm::Md5 => Md5::digest(data.as_bytes()).iter().for_each(|b| {
                let _ = write!(out, "{b:02x}");
            }),
            Algorithm::Sha256 => Sha256::digest(data.as_bytes()).iter().for_each(|b| {
                let _ = write!(out, "{b:02x}");
            }),
        }
        out
    }
}

/// Splits `k=v, k="v, w"` into pairs; quotes removed.
fn parse_kv(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let (k, after) = rest.split_once('=')?;
        let k = k.trim().trim_start_matches(',').trim();
        if k.is_empty() || k.contains(char::is_whitespace) {
            return None;
        }
        let after = after.trim_start();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            let mut val = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    _ => val.push(c),
                }
            }
            let end = end?;
            (val, &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        out.push((k.to_ascii_lowercase(), v));
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(out)
}

fn get<'a>(kv: &'a [(String, String)], k: &str) -> Option<&'a str> {
    kv.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// A `WWW-Authenticate` / `Proxy-Authenticate` challenge (RFC 3261 §22.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Protection realm.
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Opaque value to echo.
    pub opaque: Option<String>,
    /// Hash algorithm.
    pub algorithm: Algorithm,
    /// Whether the server offers `qop=auth`.
    pub qop_auth: bool,
    /// `stale=true`: the nonce expired but the credentials were right.
    pub stale: bool,
}

impl Challenge {
    /// Parses `Digest realm="…", nonce="…", …`. Returns `None` for other
    /// schemes, unknown algorithms or a `qop` without `auth`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Challenge> {
        let (scheme, rest) = s.trim().split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let kv = parse_kv(rest)?;
        let algorithm = match get(&kv, "algorithm") {
            Some(a) => Algorithm::parse(a)?,
            None => Algorithm::Md5,
        };
        let qop_auth = match get(&kv, "qop") {
            Some(q) => {
                if !q.split(',').any(|x| x.trim().eq_ignore_ascii_case("auth")) {
                    return None;
                }
                true
            }
            None => false,
        };
        Some(Challenge {
            realm: get(&kv, "realm")?.to_owned(),
            nonce: get(&kv, "nonce")?.to_owned(),
            opaque: get(&kv, "opaque").map(str::to_owned),
            algorithm,
            qop_auth,
            stale: get(&kv, "stale").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        })
    }

    /// Prints the header value.
    #[must_use]
    pub fn to_header(&self) -> String {
        let mut s = format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm={}",
            self.realm,
            self.nonce,
            self.algorithm.as_str()
        );
        if self.qop_auth {
            s.push_str(", qop=\"auth\"");
        }
        if let Some(o) = &self.opaque {
            let _ = write!(s, ", opaque=\"{o}\"");
        }
        if self.stale {
            s.push_str(", stale=TRUE");
        }
        s
    }

    /// Picks the best challenge among several header values: SHA-256 over
    /// MD5 (RFC 8760 §2.4), first one wins otherwise.
    #[must_use]
    pub fn best<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
        let all: Vec<Challenge> = values.into_iter().filter_map(Challenge::parse).collect();
        all.iter()
            .find(|c| c.algorithm == Algorithm::Sha256)
            .or_else(|| all.first())
            .cloned()
    }

    /// Computes the `Authorization` / `Proxy-Authorization` value for a
    /// request (RFC 7616 §3.4.1). `cnonce` must be fresh per request and
    /// `nc` counts uses of this nonce.
    #[must_use]
    pub fn authorize(
        &self,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> Credentials {
        let ha1 = self
            .algorithm
            .hex(&format!("{user}:{}:{password}", self.realm));
        let qop = self
            .qop_auth
            .then(|| ("auth".to_owned(), cnonce.to_owned(), nc));
        let response = response_hash(self.algorithm, &ha1, &self.nonce, method, uri, qop.as_ref());
        Credentials {
            username: user.to_owned(),
            realm: self.realm.clone(),
            nonce: self.nonce.clone(),
            uri: uri.to_owned(),
            response,
            algorithm: self.algorithm,
            opaque: self.opaque.clone(),
            qop,
        }
    }
}

fn response_hash(
    alg: Algorithm,
    ha1: &str,
    nonce: &str,
    method: &str,
    uri: &str,
    qop: Option<&(String, String, u32)>,
) -> String {
    let ha2 = alg.hex(&format!("{method}:{uri}"));
    match qop {
        Some((q, cnonce, nc)) => alg.hex(&format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:{q}:{ha2}")),
        None => alg.hex(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// An `Authorization` / `Proxy-Authorization` value (RFC 3261 §22.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Realm from the challenge.
    pub realm: String,
    /// Nonce from the challenge.
    pub nonce: String,
    /// The digest-uri (Request-URI of the request).
    pub uri: String,
    /// The response hash.
    pub response: String,
    /// Hash algorithm.
    pub algorithm: Algorithm,
    /// Echoed opaque.
    pub opaque: Option<String>,
    /// (qop, cnonce, nc) when qop is used.
    pub qop: Option<(String, String, u32)>,
}

impl Credentials {
    /// Parses a `Digest username="…", …` header value.
    #[must_use]
    pub fn parse(s: &str) -> Option<Credentials> {
        let (scheme, rest) = s.trim().split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let kv = parse_kv(rest)?;
        let qop = match get(&kv, "qop") {
            Some(q) => Some((
                q.to_owned(),
                get(&kv, "cnonce")?.to_owned(),
                u32::from_str_radix(get(&kv, "nc")?, 16).ok()?,
            )),
            None => None,
        };
        Some(Credentials {
            username: get(&kv, "username")?.to_owned(),
            realm: get(&kv, "realm")?.to_owned(),
            nonce: get(&kv, "nonce")?.to_owned(),
            uri: get(&kv, "uri")?.to_owned(),
            response: get(&kv, "response")?.to_ascii_lowercase(),
            algorithm: match get(&kv, "algorithm") {
                Some(a) => Algorithm::parse(a)?,
                None => Algorithm::Md5,
            },
            opaque: get(&kv, "opaque").map(str::to_owned),
            qop,
        })
    }

    /// Prints the header value.
    #[must_use]
    pub fn to_header(&self) -> String {
        let mut s = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}",
            self.username,
            self.realm,
            self.nonce,
            self.uri,
            self.response,
            self.algorithm.as_str()
        );
        if let Some((q, cnonce, nc)) = &self.qop {
            let _ = write!(s, ", qop={q}, cnonce=\"{cnonce}\", nc={nc:08x}");
        }
        if let Some(o) = &self.opaque {
            let _ = write!(s, ", opaque=\"{o}\"");
        }
        s
    }

    /// Verifies the response against the password (server side).
    #[must_use]
    pub fn verify(&self, password: &str, method: &str) -> bool {
        let ha1 = self
            .algorithm
            .hex(&format!("{}:{}:{password}", self.username, self.realm));
        let expected = response_hash(
            self.algorithm,
            &ha1,
            &self.nonce,
            method,
            &self.uri,
            self.qop.as_ref(),
        );
        // Constant-time comparison: do not leak the matching prefix length.
        expected.len() == self.response.len()
            && expected
                .bytes()
                .zip(self.response.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_md5_example_vector() {
        // RFC 2617 §3.5 example (HTTP, but the computation is identical).
        let c = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .expect("valid");
        let cred = c.authorize(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
            1,
        );
        assert_eq!(cred.response, "6629fae49393a05397450978507c4ef1");
        let back = Credentials::parse(&cred.to_header()).expect("valid");
        assert_eq!(back, cred);
        assert!(back.verify("Circle Of Life", "GET"));
        assert!(!back.verify("circle of life", "GET"));
    }

    #[test]
    fn rfc7616_sha256_example_vector() {
        let c = Challenge::parse(
            "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        )
        .expect("valid");
        let cred = c.authorize(
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            1,
        );
        assert_eq!(
            cred.response,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn sha256_is_preferred_over_md5() {
        let best = Challenge::best([
            "Digest realm=\"a\", nonce=\"n\"",
            "Digest realm=\"a\", nonce=\"n\", algorithm=SHA-256",
        ])
        .expect("one parses");
        assert_eq!(best.algorithm, Algorithm::Sha256);
    }
}

//! Registrar core (RFC 3261 §10.3): digest challenge and verification,
//! binding bookkeeping on the `now` the caller passes in.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::auth::{Algorithm, Challenge, Credentials};
use crate::headers::{NameAddr, aor_key};
use crate::message::{Request, Response, SipHeaders};
use crate::transaction::Transport;

/// Registrar settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Digest realm.
    pub realm: String,
    /// user name → password. Users not listed are refused (403).
    pub users: HashMap<String, String>,
    /// Algorithm of the challenge (SHA-256 and MD5 are both offered when this is SHA-256).
    pub algorithm: Algorithm,
    /// Shortest accepted expiry; shorter gets 423 (§10.3 step 7).
    pub min_expires: u32,
    /// Longest granted expiry; longer is cut down.
    pub max_expires: u32,
    /// Expiry when the request names none.
    pub default_expires: u32,
    /// How long a nonce stays valid before `stale=true`.
    pub nonce_lifetime: Duration,
}

impl RegistrarConfig {
    /// A registrar for `realm` with sane expiry limits (60 s … 3600 s).
    #[must_use]
    pub fn new(realm: impl Into<String>) -> Self {
        Self {
            realm: realm.into(),
            users: HashMap::new(),
            algorithm: Algorithm::Sha256,
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            nonce_lifetime: Duration::from_secs(300),
        }
    }
}

/// One contact bound to an address-of-record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The contact URI.
    pub contact: String,
    /// Where the REGISTER came from (send requests here: NAT-friendly).
    pub source: SocketAddr,
    /// Its transport.
    pub transport: Transport,
    /// When the binding lapses.
    pub expires_at: Instant,
    /// Call-ID of the registering UA (§10.3 step 7).
    pub call_id: String,
    /// Its last CSeq.
    pub cseq: u32,
}

/// What the registrar did with a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegisterOutcome {
    /// Bindings changed for this AOR (current list after the change).
    Updated { aor: String, bindings: Vec<Binding> },
    /// Challenge, refusal or error: nothing changed.
    Unchanged,
}

/// Registrar state.
#[derive(Debug)]
pub struct Registrar {
    cfg: RegistrarConfig,
    bindings: HashMap<String, Vec<Binding>>,
    nonces: HashMap<String, Instant>,
}

impl Registrar {
    /// A registrar with no bindings.
    #[must_use]
    pub fn new(cfg: RegistrarConfig) -> Self {
        Self {
            cfg,
            bindings: HashMap::new(),
            nonces: HashMap::new(),
        }
    }

    /// Replaces the accounts (username → password). Bindings stay until they lapse or
    /// their phone unregisters; a changed password applies to the next REGISTER.
    pub fn set_users(&mut self, users: HashMap<String, String>) {
        self.cfg.users = users;
    }

    /// The live bindings of an address-of-record at `now`.
    #[must_use]
    pub fn lookup(&self, aor: &str, now: Instant) -> Vec<Binding> {
        let Some(key) = aor_key(aor) else {
            return Vec::new();
        };
        self.bindings
            .get(&key)
            .map(|v| v.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default()
    }

    /// Earliest binding or nonce expiry.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.bindings.values().flatten().map(|b| b.expires_at).min()
    }

    /// Drops lapsed bindings and nonces; returns (aor, contact) of each lapsed binding.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<(String, String)> {
        let mut gone = Vec::new();
        for (aor, list) in &mut self.bindings {
            list.retain(|b| {
                let keep = b.expires_at > now;
                if !keep {
                    gone.push((aor.clone(), b.contact.clone()));
                }
                keep
            });
        }
        self.bindings.retain(|_, l| !l.is_empty());
        let life = self.cfg.nonce_lifetime;
        self.nonces
            .retain(|_, at| now.saturating_duration_since(*at) < life * 2);
        gone
    }

    fn challenge(&mut self, now: Instant, req: &Request, nonce: String, stale: bool) -> Response {
        self.nonces.insert(nonce.clone(), now);
        let mut resp = req.response(401, Some(&nonce[..8.min(nonce.len())]));
        let algs: &[Algorithm] = match self.cfg.algorithm {
            Algorithm::Sha256 => &[Algorithm::Sha256, Algorithm::Md5],
            Algorithm::Md5 => &[Algorithm::Md5],
        };
        for alg in algs {
            let c = Challenge {
                realm: self.cfg.realm.clone(),
                nonce: nonce.clone(),
                opaque: None,
                algorithm: *alg,
                qop_auth: true,
                stale,
            };
            resp.headers.push("WWW-Authenticate", c.to_header());
        }
        resp
    }

    /// Handles one REGISTER (its server transaction already exists).
    /// `nonce` is a fresh random value the endpoint supplies; `tag` the To tag.
    pub(crate) fn handle(
        &mut self,
        now: Instant,
        req: &Request,
        source: SocketAddr,
        transport: Transport,
        nonce: String,
        tag: &str,
    ) -> (Response, RegisterOutcome) {
        let Some(to) = req.header_to() else {
            return (req.response(400, Some(tag)), RegisterOutcome::Unchanged);
        };
        let Some(aor) = aor_key(&to.uri) else {
            return (req.response(404, Some(tag)), RegisterOutcome::Unchanged);
        };
        // §10.3 step 3: authenticate.
        let creds = req
            .headers
            .values("Authorization")
            .into_iter()
            .filter_map(Credentials::parse)
            .find(|c| c.realm == self.cfg.realm);
        let Some(creds) = creds else {
            return (
                self.challenge(now, req, nonce, false),
                RegisterOutcome::Unchanged,
            );
        };
        let issued = self.nonces.get(&creds.nonce).copied();
        let fresh =
            issued.is_some_and(|at| now.saturating_duration_since(at) < self.cfg.nonce_lifetime);
        let password = self.cfg.users.get(&creds.username).cloned();
        let Some(password) = password else {
            return (req.response(403, Some(tag)), RegisterOutcome::Unchanged);
        };
        if !creds.verify(&password, req.method.as_str()) {
            return (req.response(403, Some(tag)), RegisterOutcome::Unchanged);
        }
        if !fresh {
            return (
                self.challenge(now, req, nonce, true),
                RegisterOutcome::Unchanged,
            );
        }
        // §10.3 step 6: the user may only register its own AOR.
        let user_matches = crate::headers::uri_parts(&to.uri)
            .and_then(|p| p.user)
            .is_some_and(|u| u == creds.username);
        if !user_matches {
            return (req.response(403, Some(tag)), RegisterOutcome::Unchanged);
        }
        let call_id = req.call_id().unwrap_or("").to_owned();
        let cseq = req.cseq().map_or(0, |c| c.seq);
        let default_exp = req
            .headers
            .get("Expires")
            .and_then(|e| e.trim().parse::<u32>().ok())
            .unwrap_or(self.cfg.default_expires);
        let contacts = req.headers.get_all("Contact");
        let list = self.bindings.entry(aor.clone()).or_default();
        if contacts.len() == 1 && contacts[0].trim() == "*" {
            // §10.3 step 6: wildcard only with Expires: 0.
            if default_exp != 0 {
                return (req.response(400, Some(tag)), RegisterOutcome::Unchanged);
            }
            list.clear();
        } else {
            let mut parsed = Vec::new();
            for c in &contacts {
                let Some(na) = NameAddr::parse(c) else {
                    return (req.response(400, Some(tag)), RegisterOutcome::Unchanged);
                };
                let exp = na
                    .param("expires")
                    .and_then(|e| e.parse::<u32>().ok())
                    .unwrap_or(default_exp);
                if exp != 0 && exp < self.cfg.min_expires {
                    let mut r = req.response(423, Some(tag));
                    r.headers
                        .push("Min-Expires", self.cfg.min_expires.to_string());
                    return (r, RegisterOutcome::Unchanged);
                }
                parsed.push((na.uri, exp.min(self.cfg.max_expires)));
            }
            for (uri, exp) in parsed {
                if let Some(old) = list.iter().find(|b| b.contact == uri) {
                    // §10.3 step 7: an older CSeq from the same Call-ID is out of order.
                    if old.call_id == call_id && old.cseq >= cseq {
                        return (req.response(500, Some(tag)), RegisterOutcome::Unchanged);
                    }
                }
                list.retain(|b| b.contact != uri);
                if exp > 0 {
                    list.push(Binding {
                        contact: uri,
                        source,
                        transport,
                        expires_at: now + Duration::from_secs(u64::from(exp)),
                        call_id: call_id.clone(),
                        cseq,
                    });
                }
            }
        }
        // §10.3 step 8: 200 lists every current binding with its remaining expiry.
        let current: Vec<Binding> = list.clone();
        let mut resp = req.response(200, Some(tag));
        for b in &current {
            let left = b.expires_at.saturating_duration_since(now).as_secs();
            resp.headers
                .push("Contact", format!("<{}>;expires={left}", b.contact));
        }
        self.bindings.retain(|_, l| !l.is_empty());
        (
            resp,
            RegisterOutcome::Updated {
                aor,
                bindings: current,
            },
        )
    }
}

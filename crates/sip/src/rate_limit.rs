//! Per-source token bucket for new INVITEs (robustness against floods and
//! toll-fraud scanners). Time is always passed in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Token bucket parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    /// Bucket size: how many INVITEs a source may send in a burst.
    pub burst: u32,
    /// Sustained rate, INVITEs per second.
    pub per_second: f64,
    /// Sources idle longer than this are forgotten (bounds memory).
    pub idle_forget: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            burst: 20,
            per_second: 5.0,
            idle_forget: Duration::from_secs(300),
        }
    }
}

/// The limiter's answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Refuse with 503 and `Retry-After` of this many seconds (RFC 3261 §21.5.4, §20.33).
    Reject {
        /// Seconds until a token is available again (at least 1).
        retry_after_s: u32,
    },
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets keyed by source IP address.
#[derive(Debug)]
pub struct RateLimiter {
    cfg: RateLimitConfig,
    buckets: HashMap<IpAddr, Bucket>,
    last_sweep: Option<Instant>,
}

impl RateLimiter {
    /// A limiter with the given parameters.
    #[must_use]
    pub fn new(cfg: RateLimitConfig) -> Self {
        Self {
            cfg,
            buckets: HashMap::new(),
            last_sweep: None,
        }
    }

    /// Takes one token for `source` at `now`. Call once per new
    /// (out-of-dialog) INVITE, before any other work.
    #[must_use]
    pub fn check(&mut self, now: Instant, source: IpAddr) -> Verdict {
        self.sweep(now);
        let cap = f64::from(self.cfg.burst.max(1));
        let b = self.buckets.entry(source).or_insert(Bucket {
            tokens: cap,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.cfg.per_second).min(cap);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Verdict::Allow
        } else if self.cfg.per_second <= 0.0 {
            Verdict::Reject {
                retry_after_s: 3600,
            }
        } else {
            let wait = ((1.0 - b.tokens) / self.cfg.per_second).ceil();
            // Bounded by construction: (1 - tokens) <= 1 and the rate is > 0;
            // the clamp keeps absurdly small rates within u32.
            Verdict::Reject {
                retry_after_s: wait.clamp(1.0, 86_400.0) as u32,
            }
        }
    }

    /// Number of sources currently tracked.
    #[must_use]
    pub fn tracked_sources(&self) -> usize {
        self.buckets.len()
    }

    fn sweep(&mut self, now: Instant) {
        let due = self
            .last_sweep
            .is_none_or(|t| now.saturating_duration_since(t) >= self.cfg.idle_forget);
        if due {
            let idle = self.cfg.idle_forget;
            self.buckets
                .retain(|_, b| now.saturating_duration_since(b.last) < idle);
            self.last_sweep = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_reject_then_refill() {
        let mut rl = RateLimiter::new(RateLimitConfig {
            burst: 2,
            per_second: 0.5,
            idle_forget: Duration::from_secs(60),
        });
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.9".parse().expect("literal");
        assert_eq!(rl.check(t0, ip), Verdict::Allow);
        assert_eq!(rl.check(t0, ip), Verdict::Allow);
        assert_eq!(rl.check(t0, ip), Verdict::Reject { retry_after_s: 2 });
        let other: IpAddr = "192.0.2.10".parse().expect("literal");
        assert_eq!(
            rl.check(t0, other),
            Verdict::Allow,
            "buckets are per source"
        );
        assert_eq!(rl.check(t0 + Duration::from_secs(2), ip), Verdict::Allow);
    }
}

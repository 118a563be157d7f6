//! Per-key rate limits: GCRA (the generic cell rate algorithm), which is a
//! leaky bucket stored as one timestamp per key. Smooth, allows a burst up to
//! the whole limit, and needs one atomic read-modify-write per check, which is
//! why the same algorithm also fits a Redis Lua script for many processes.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::error::StoreError;

/// `limit` requests per `period`, e.g. `1000/hour`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    pub limit: u32,
    pub period_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate limit {0:?}: expected '<count>/<period>' such as '1000/hour', '10/second' or '500/15m'")]
pub struct RateLimitParseError(pub String);

impl RateLimitParseError {
    pub fn code(&self) -> &'static str {
        "invalid_argument"
    }
}

impl RateLimit {
    pub fn new(limit: u32, period: Duration) -> Option<Self> {
        let period_ms = crate::duration::as_millis(period);
        (limit > 0 && period_ms > 0).then_some(Self { limit, period_ms })
    }

    /// Milliseconds between two requests at the steady rate (at least 1).
    fn emission_interval(&self) -> i64 {
        (self.period_ms / i64::from(self.limit)).max(1)
    }

    pub fn period_secs(&self) -> i64 {
        (self.period_ms + 999) / 1000
    }
}

impl FromStr for RateLimit {
    type Err = RateLimitParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || RateLimitParseError(text.chars().take(64).collect());
        let (count, period) = text.trim().split_once('/').ok_or_else(err)?;
        let limit: u32 = count.trim().parse().map_err(|_| err())?;
        let period = match period.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86_400),
            other => crate::duration::parse(other).map_err(|_| err())?,
        };
        Self::new(limit, period).ok_or_else(err)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period_ms {
            1_000 => "second".to_owned(),
            60_000 => "minute".to_owned(),
            3_600_000 => "hour".to_owned(),
            86_400_000 => "day".to_owned(),
            ms => crate::duration::format(Duration::from_millis(ms.unsigned_abs())),
        };
        write!(f, "{}/{unit}", self.limit)
    }
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RateLimit({self})")
    }
}

impl Serialize for RateLimit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The answer to one rate-limit check, with what the IETF RateLimit headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: RateLimit,
    /// Requests still allowed right now (after this one, if it was allowed).
    pub remaining: u32,
    /// Seconds until the allowance is full again.
    pub reset_secs: i64,
    /// Seconds until the next request would be allowed (0 when allowed).
    pub retry_after_secs: i64,
}

/// One GCRA step: given the stored theoretical arrival time (`tat`), decide and
/// return the new `tat` to store. Pure, so the memory and Redis limiters share it
/// (the Redis script mirrors these lines).
pub fn gcra(limit: &RateLimit, stored_tat: Option<Millis>, now: Millis) -> (RateDecision, Millis) {
    let interval = limit.emission_interval();
    let tat = stored_tat.map_or(now, |t| t.max(now));
    let new_tat = tat.saturating_add(interval);
    let allow_at = new_tat.saturating_sub(limit.period_ms);
    let ceil_secs = |ms: i64| (ms.max(0) + 999) / 1000;
    if allow_at > now {
        let decision = RateDecision {
            allowed: false,
            limit: *limit,
            remaining: 0,
            reset_secs: ceil_secs(tat - now),
            retry_after_secs: ceil_secs(allow_at - now).max(1),
        };
        return (decision, tat);
    }
    let remaining = (now - allow_at) / interval;
    let decision = RateDecision {
        allowed: true,
        limit: *limit,
        remaining: u32::try_from(remaining.clamp(0, i64::from(limit.limit))).unwrap_or(0),
        reset_secs: ceil_secs(new_tat - now),
        retry_after_secs: 0,
    };
    (decision, new_tat)
}

/// Where rate-limit state lives: memory for one process, Redis for many.
pub trait RateLimiter: Send + Sync + fmt::Debug {
    fn check(
        &self,
        bucket: &str,
        limit: &RateLimit,
        now: Millis,
    ) -> Result<RateDecision, StoreError>;

    /// True when `check` is answered from this process's memory, with no
    /// network round trip.
    fn is_local(&self) -> bool {
        false
    }
}

/// In-process GCRA. Memory stays bounded: buckets whose allowance is full
/// again carry no information and are pruned.
#[derive(Debug, Default)]
pub struct MemoryRateLimiter {
    buckets: Mutex<HashMap<String, Millis>>,
}

/// Prune once the map grows past this many buckets.
const PRUNE_AT: usize = 65_536;

impl MemoryRateLimiter {
    pub fn new() -> Self {
        Self::default()
    }
}

impl RateLimiter for MemoryRateLimiter {
    fn is_local(&self) -> bool {
        true
    }

    fn check(
        &self,
        bucket: &str,
        limit: &RateLimit,
        now: Millis,
    ) -> Result<RateDecision, StoreError> {
        let mut buckets = self.buckets.lock();
        let (decision, tat) = gcra(limit, buckets.get(bucket).copied(), now);
        if let Some(slot) = buckets.get_mut(bucket) {
            *slot = tat;
        } else {
            if buckets.len() >= PRUNE_AT {
                buckets.retain(|_, t| *t > now);
            }
            buckets.insert(bucket.to_owned(), tat);
        }
        Ok(decision)
    }
}

/// Opens a limiter by URL: `memory://` (this process only) or `redis://…`.
pub fn open(url: &str) -> Result<std::sync::Arc<dyn RateLimiter>, StoreError> {
    if url == "memory://" {
        return Ok(std::sync::Arc::new(MemoryRateLimiter::new()));
    }
    #[cfg(feature = "redis")]
    if url.starts_with("redis://")
        || url.starts_with("rediss://")
        || url.starts_with("redis+unix://")
    {
        return Ok(std::sync::Arc::new(crate::redis::RedisRateLimiter::open(
            url,
        )?));
    }
    Err(StoreError::unsupported_url(url))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let r: RateLimit = "1000/hour".parse().unwrap();
        assert_eq!(r.limit, 1000);
        assert_eq!(r.period_ms, 3_600_000);
        assert_eq!(r.to_string(), "1000/hour");
        assert_eq!(
            "10/s".parse::<RateLimit>().unwrap().to_string(),
            "10/second"
        );
        assert_eq!("500/15m".parse::<RateLimit>().unwrap().period_ms, 900_000);
        for bad in ["", "1000", "0/hour", "-1/hour", "x/hour", "10/fortnightish"] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn burst_up_to_limit_then_smooth() {
        let limiter = MemoryRateLimiter::new();
        let limit: RateLimit = "10/minute".parse().unwrap();
        let t0 = 1_000_000;
        for i in 0..10 {
            let d = limiter.check("k", &limit, t0).unwrap();
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 9 - i);
        }
        let denied = limiter.check("k", &limit, t0).unwrap();
        assert!(!denied.allowed);
        assert_eq!(denied.retry_after_secs, 6);
        // One emission interval (6 s) later, exactly one more is allowed.
        assert!(limiter.check("k", &limit, t0 + 6_000).unwrap().allowed);
        assert!(!limiter.check("k", &limit, t0 + 6_000).unwrap().allowed);
        // Other buckets are independent.
        assert!(limiter.check("other", &limit, t0).unwrap().allowed);
    }

    #[test]
    fn admits_exactly_limit_per_window_under_steady_load() {
        let limiter = MemoryRateLimiter::new();
        let limit: RateLimit = "100/second".parse().unwrap();
        let admitted = (0..10_000)
            .filter(|i| limiter.check("k", &limit, i / 10).unwrap().allowed)
            .count();
        // 1000 ms of traffic (t = 0..=999): the burst of 100 at t = 0, then one
        // per 10 ms emission interval at t = 10, 20, …, 990.
        assert_eq!(admitted, 100 + 99);
    }
}

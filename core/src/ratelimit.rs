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

use std::sync::Arc;

use crate::clock::{self, Clock, Millis};
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

    /// Whole milliseconds between two requests at the steady rate (at least
    /// 1), as the Redis script computes it on Redis's millisecond clock. The
    /// in-memory limiter does not round: see [`gcra_exact`].
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

/// One GCRA step on a millisecond clock: given the stored theoretical arrival
/// time (`tat`), decide and return the new `tat` to store. The Redis limiter
/// answers with it (its script mirrors these lines); the interval is rounded
/// down to whole milliseconds, at least one.
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

/// One GCRA step on a nanosecond timeline with no rounding at all, for the
/// in-memory limiter. Times are kept multiplied by the limit, so the emission
/// interval `period / limit` is the integer `period` and `1000/hour`,
/// `3/second` or `5000/second` admit exactly what they advertise (a
/// millisecond interval would round `3/second` to 333 ms and floor
/// `5000/second` at 1000 a second). `stored` and the returned `tat` are on
/// that scaled timeline; `now_ns` is a monotonic reading.
pub fn gcra_exact(limit: &RateLimit, stored: Option<i128>, now_ns: i64) -> (RateDecision, i128) {
    let n = i128::from(limit.limit);
    // The interval, scaled: period / n nanoseconds, times n.
    let interval = i128::from(limit.period_ms) * 1_000_000;
    let now = i128::from(now_ns) * n;
    let tat = stored.map_or(now, |t| t.max(now));
    let new_tat = tat + interval;
    let allow_at = new_tat - interval * n;
    let scaled_second = n * 1_000_000_000;
    let ceil_secs = |scaled: i128| {
        i64::try_from((scaled.max(0) + scaled_second - 1) / scaled_second).unwrap_or(i64::MAX)
    };
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
        remaining: u32::try_from(remaining.clamp(0, n)).unwrap_or(0),
        reset_secs: ceil_secs(new_tat - now),
        retry_after_secs: 0,
    };
    (decision, new_tat)
}

/// Where rate-limit state lives: memory for one process, Redis for many.
pub trait RateLimiter: Send + Sync + fmt::Debug {
    /// Counts one request against `bucket` and decides. `now` is the gate's
    /// wall clock; a limiter with a clock of its own (the in-memory one's
    /// monotonic clock, Redis's server clock) may ignore it.
    fn check(
        &self,
        bucket: &str,
        limit: &RateLimit,
        now: Millis,
    ) -> Result<RateDecision, StoreError>;

    /// What `check` would answer now, without counting anything; `None`
    /// when this limiter cannot tell without counting.
    fn peek(
        &self,
        _bucket: &str,
        _limit: &RateLimit,
        _now: Millis,
    ) -> Result<Option<RateDecision>, StoreError> {
        Ok(None)
    }

    /// True when `check` is answered from this process's memory, with no
    /// network round trip.
    fn is_local(&self) -> bool {
        false
    }
}

/// In-process GCRA ([`gcra_exact`]) on a monotonic clock, so setting the
/// wall clock neither refuses nor refills anyone. Memory stays bounded:
/// buckets whose allowance is full again carry no information and are pruned.
#[derive(Debug)]
pub struct MemoryRateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
    clock: Arc<dyn Clock>,
}

/// A bucket's scaled theoretical arrival time and the limit it is scaled by.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tat: i128,
    per: u32,
}

impl Bucket {
    /// The stored time on the timeline of `limit`: a key whose limit was
    /// changed keeps its place in time, not its scaled number.
    fn tat_for(self, limit: &RateLimit) -> i128 {
        if self.per == limit.limit {
            self.tat
        } else {
            self.tat * i128::from(limit.limit) / i128::from(self.per.max(1))
        }
    }
}

/// Prune once the map grows past this many buckets.
const PRUNE_AT: usize = 65_536;

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::with_clock(clock::system())
    }
}

impl MemoryRateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A limiter reading `clock`'s monotonic time (tests move it by hand).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            buckets: Mutex::default(),
            clock,
        }
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
        _wall_clock: Millis,
    ) -> Result<RateDecision, StoreError> {
        let now_ns = self.clock.monotonic_ns();
        let mut buckets = self.buckets.lock();
        let stored = buckets.get(bucket).map(|b| b.tat_for(limit));
        let (decision, tat) = gcra_exact(limit, stored, now_ns);
        let entry = Bucket {
            tat,
            per: limit.limit,
        };
        if let Some(slot) = buckets.get_mut(bucket) {
            *slot = entry;
        } else {
            if buckets.len() >= PRUNE_AT {
                let now = i128::from(now_ns);
                buckets.retain(|_, b| b.tat > now * i128::from(b.per));
            }
            buckets.insert(bucket.to_owned(), entry);
        }
        Ok(decision)
    }

    fn peek(
        &self,
        bucket: &str,
        limit: &RateLimit,
        _wall_clock: Millis,
    ) -> Result<Option<RateDecision>, StoreError> {
        let now_ns = self.clock.monotonic_ns();
        let stored = self.buckets.lock().get(bucket).map(|b| b.tat_for(limit));
        Ok(Some(gcra_exact(limit, stored, now_ns).0))
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

    use crate::clock::ManualClock;

    fn manual() -> (Arc<ManualClock>, MemoryRateLimiter) {
        let clock = ManualClock::new(1_000_000);
        let limiter = MemoryRateLimiter::with_clock(clock.clone());
        (clock, limiter)
    }

    /// The map is pruned only at its bound, and only of buckets that are full
    /// again (a bucket that is full again answers exactly like a missing
    /// one); a bucket still spent keeps its state, so pruning never resets a
    /// limit.
    #[test]
    fn pruning_at_the_bound_drops_only_buckets_that_are_full_again() {
        let (clock, limiter) = manual();
        let limit: RateLimit = "10/minute".parse().unwrap();
        let t0 = clock.now_ms();
        for _ in 0..10 {
            assert!(limiter.check("live", &limit, t0).unwrap().allowed);
        }
        for i in 1..PRUNE_AT {
            assert!(
                limiter
                    .check(&format!("idle {i}"), &limit, t0)
                    .unwrap()
                    .allowed
            );
        }
        // Nothing is pruned below the bound.
        assert_eq!(limiter.buckets.lock().len(), PRUNE_AT);
        // One emission interval (6 s) later every idle bucket is exactly full
        // again; "live" has regained one request of ten.
        clock.advance_ms(6_000);
        assert!(limiter.check("new", &limit, t0).unwrap().allowed);
        let mut left: Vec<String> = limiter.buckets.lock().keys().cloned().collect();
        left.sort();
        assert_eq!(left, ["live", "new"]);
        let live = limiter.check("live", &limit, t0).unwrap();
        assert!(live.allowed);
        assert_eq!(live.remaining, 0);
        assert!(!limiter.check("live", &limit, t0).unwrap().allowed);
    }

    #[test]
    fn burst_up_to_limit_then_smooth() {
        let (clock, limiter) = manual();
        let limit: RateLimit = "10/minute".parse().unwrap();
        let t0 = clock.now_ms();
        for i in 0..10 {
            let d = limiter.check("k", &limit, t0).unwrap();
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 9 - i);
        }
        let denied = limiter.check("k", &limit, t0).unwrap();
        assert!(!denied.allowed);
        assert_eq!(denied.retry_after_secs, 6);
        // One emission interval (6 s) later, exactly one more is allowed.
        clock.advance_ms(5_999);
        assert!(!limiter.check("k", &limit, t0).unwrap().allowed);
        clock.advance_ms(1);
        assert!(limiter.check("k", &limit, t0).unwrap().allowed);
        assert!(!limiter.check("k", &limit, t0).unwrap().allowed);
        // Other buckets are independent.
        assert!(limiter.check("other", &limit, t0).unwrap().allowed);
    }

    #[test]
    fn admits_exactly_limit_per_window_under_steady_load() {
        let (clock, limiter) = manual();
        let limit: RateLimit = "100/second".parse().unwrap();
        let admitted = (0..10_000)
            .filter(|_| {
                let allowed = limiter.check("k", &limit, 0).unwrap().allowed;
                clock.advance_ns(100_000);
                allowed
            })
            .count();
        // 1000 ms of traffic (t = 0..=999.9): the burst of 100 at t = 0, then
        // one per 10 ms emission interval at t = 10, 20, …, 990.
        assert_eq!(admitted, 100 + 99);
    }

    /// Drains `bucket` at each of `steps` instants `step_ns` apart, after the
    /// initial burst; returns how many requests were admitted after it.
    fn admitted_after_burst(limit: &str, step_ns: i64, steps: usize) -> usize {
        let (clock, limiter) = manual();
        let limit: RateLimit = limit.parse().unwrap();
        let burst = (0..)
            .take_while(|_| limiter.check("k", &limit, 0).unwrap().allowed)
            .count();
        assert_eq!(burst, limit.limit as usize);
        (0..steps)
            .map(|_| {
                clock.advance_ns(step_ns);
                (0..)
                    .take_while(|_| limiter.check("k", &limit, 0).unwrap().allowed)
                    .count()
            })
            .sum()
    }

    #[test]
    fn intervals_below_a_millisecond_are_not_floored() {
        // 5000/second is one request each 0.2 ms: a 1 ms floor admitted 1000.
        assert_eq!(admitted_after_burst("5000/second", 1_000_000, 1_000), 5_000);
        // Finer than a microsecond, too.
        // And below a microsecond: 1 000 000/second is one each 1000 ns.
        assert_eq!(admitted_after_burst("1000000/second", 2_500, 40), 100);
    }

    #[test]
    fn intervals_that_are_no_whole_millisecond_are_not_rounded() {
        // 3/second: 333.33… ms, not 333 ms (which admits 3006 in 1000 s).
        assert_eq!(admitted_after_burst("3/second", 10_000_000, 100_000), 3_000);
        // 7/day: 12342857.142… ms.
        assert_eq!(
            admitted_after_burst("7/day", 3_600_000_000_000, 24 * 70),
            490
        );
    }

    #[test]
    fn setting_the_wall_clock_neither_refuses_nor_refills() {
        let (clock, limiter) = manual();
        let limit: RateLimit = "2/minute".parse().unwrap();
        assert!(limiter.check("k", &limit, clock.now_ms()).unwrap().allowed);
        assert!(limiter.check("k", &limit, clock.now_ms()).unwrap().allowed);
        // An hour forward on the wall clock is no hour of waiting.
        clock.set_ms(clock.now_ms() + 3_600_000);
        assert!(!limiter.check("k", &limit, clock.now_ms()).unwrap().allowed);
        // An hour back does not hold the key for an hour.
        clock.set_ms(clock.now_ms() - 7_200_000);
        clock.advance_ns(30_000_000_000);
        assert!(limiter.check("k", &limit, clock.now_ms()).unwrap().allowed);
    }

    #[test]
    fn peeking_counts_nothing() {
        let (_clock, limiter) = manual();
        let limit: RateLimit = "2/minute".parse().unwrap();
        for _ in 0..5 {
            let d = limiter.peek("k", &limit, 0).unwrap().unwrap();
            assert!(d.allowed);
            assert_eq!(d.remaining, 1);
        }
        assert!(limiter.check("k", &limit, 0).unwrap().allowed);
        assert!(limiter.check("k", &limit, 0).unwrap().allowed);
        assert!(!limiter.peek("k", &limit, 0).unwrap().unwrap().allowed);
    }

    #[test]
    fn a_changed_limit_keeps_the_bucket_in_time() {
        let (clock, limiter) = manual();
        let slow: RateLimit = "2/minute".parse().unwrap();
        let fast: RateLimit = "4/minute".parse().unwrap();
        assert!(limiter.check("k", &slow, 0).unwrap().allowed);
        assert!(limiter.check("k", &slow, 0).unwrap().allowed);
        assert!(!limiter.check("k", &slow, 0).unwrap().allowed);
        // The bucket is 60 s ahead in time under either limit; 4/minute
        // admits one more once that is within 60 - 15 s.
        assert!(!limiter.check("k", &fast, 0).unwrap().allowed);
        clock.advance_ms(14_999);
        assert!(!limiter.check("k", &fast, 0).unwrap().allowed);
        clock.advance_ms(1);
        assert!(limiter.check("k", &fast, 0).unwrap().allowed);
    }

    #[test]
    fn exact_and_millisecond_steps_agree_on_whole_millisecond_intervals() {
        let limit: RateLimit = "5/second".parse().unwrap();
        let (mut ms_tat, mut ns_tat) = (None, None);
        let mut now = 0i64;
        for step in 0..500 {
            now += [0, 1, 7, 150, 199, 200, 1000][step % 7];
            let (a, t) = gcra(&limit, ms_tat, now);
            ms_tat = Some(t);
            let (b, t) = gcra_exact(&limit, ns_tat, now * 1_000_000);
            ns_tat = Some(t);
            assert_eq!(a, b, "step {step}");
        }
    }
}

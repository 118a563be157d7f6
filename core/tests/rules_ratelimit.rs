//! The rate-limit rules, one statement per test: what a limit is, how it is
//! written and read, the exact numbers one GCRA step reports, that pruning
//! never resets a live bucket, and which limiter a URL opens. Written so that
//! breaking any one rule in `core/src/ratelimit.rs` fails a test
//! (`scripts/mutants.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use gatepass_core::clock::ManualClock;
use gatepass_core::error::StoreError;
use gatepass_core::ratelimit::{
    gcra, open, MemoryRateLimiter, RateDecision, RateLimit, RateLimitParseError, RateLimiter,
};

const T0: i64 = 1_800_000_000_000;

fn limit(text: &str) -> RateLimit {
    text.parse().unwrap()
}

#[test]
fn a_limit_needs_at_least_one_request_and_one_millisecond() {
    let one = RateLimit::new(1, Duration::from_millis(1)).unwrap();
    assert_eq!((one.limit, one.period_ms), (1, 1));
    assert_eq!(RateLimit::new(0, Duration::from_secs(1)), None);
    assert_eq!(RateLimit::new(1, Duration::ZERO), None);
    assert_eq!(RateLimit::new(1, Duration::from_micros(999)), None);
    assert_eq!(RateLimit::new(0, Duration::ZERO), None);
}

#[test]
fn every_unit_spelling_is_read_and_printed_by_its_name() {
    for (text, period_ms, shown) in [
        ("10/s", 1_000, "10/second"),
        ("10/sec", 1_000, "10/second"),
        ("10/second", 1_000, "10/second"),
        ("10/m", 60_000, "10/minute"),
        ("10/min", 60_000, "10/minute"),
        ("10/minute", 60_000, "10/minute"),
        ("10/h", 3_600_000, "10/hour"),
        ("10/hour", 3_600_000, "10/hour"),
        ("10/d", 86_400_000, "10/day"),
        ("10/day", 86_400_000, "10/day"),
        (" 7 / 15m ", 900_000, "7/15m"),
        ("7/1500ms", 1_500, "7/1s500ms"),
    ] {
        let r = limit(text);
        let count: u32 = text.split('/').next().unwrap().trim().parse().unwrap();
        assert_eq!((r.limit, r.period_ms), (count, period_ms), "{text}");
        assert_eq!(r.to_string(), shown, "{text}");
        assert_eq!(format!("{r:?}"), format!("RateLimit({shown})"));
        assert_eq!(limit(shown), r, "{shown} reads back");
    }
}

#[test]
fn a_malformed_limit_is_refused_naming_at_most_64_characters() {
    for bad in [
        "",
        "10",
        "0/hour",
        "-1/hour",
        "x/hour",
        "10/fortnightish",
        "10/0s",
    ] {
        let e = bad.parse::<RateLimit>().unwrap_err();
        assert_eq!(e, RateLimitParseError(bad.to_owned()), "{bad}");
        assert_eq!(e.code(), "invalid_argument");
    }
    let long = format!("10/{}", "x".repeat(100));
    assert_eq!(long.parse::<RateLimit>().unwrap_err().0.chars().count(), 64);
}

#[test]
fn limits_serialise_as_their_text() {
    let json = serde_json::to_string(&limit("1000/hour")).unwrap();
    assert_eq!(json, r#""1000/hour""#);
    assert_eq!(
        serde_json::from_str::<RateLimit>(&json).unwrap(),
        limit("1000/hour")
    );
    assert!(serde_json::from_str::<RateLimit>(r#""0/hour""#).is_err());
}

#[test]
fn the_window_in_whole_seconds_rounds_up() {
    assert_eq!(limit("10/second").period_secs(), 1);
    assert_eq!(limit("10/1500ms").period_secs(), 2);
    assert_eq!(limit("10/1001ms").period_secs(), 2);
    assert_eq!(limit("10/999ms").period_secs(), 1);
    assert_eq!(limit("10/15m").period_secs(), 900);
    assert_eq!(limit("10/day").period_secs(), 86_400);
}

fn step(l: &RateLimit, tat: Option<i64>, now: i64) -> (RateDecision, i64) {
    gcra(l, tat, now)
}

#[test]
fn a_burst_reports_exact_remaining_and_reset_then_a_denial_with_retry_after() {
    // 10/minute: one request every 6 s at the steady rate.
    let l = limit("10/minute");
    let mut tat = None;
    for i in 0..10_i64 {
        let (d, next) = step(&l, tat, T0);
        assert!(d.allowed, "request {i}");
        assert_eq!(d.limit, l);
        assert_eq!(i64::from(d.remaining), 9 - i, "request {i}");
        assert_eq!(d.reset_secs, 6 * (i + 1), "request {i}");
        assert_eq!(d.retry_after_secs, 0);
        assert_eq!(next, T0 + 6_000 * (i + 1));
        tat = Some(next);
    }
    let (denied, kept) = step(&l, tat, T0);
    assert_eq!(
        denied,
        RateDecision {
            allowed: false,
            limit: l,
            remaining: 0,
            reset_secs: 60,
            retry_after_secs: 6,
        }
    );
    // A denial does not move the stored time.
    assert_eq!(kept, T0 + 60_000);
    // 2.5 s later: retry in 3.5 s → 4, reset in 57.5 s → 58.
    let (later, _) = step(&l, tat, T0 + 2_500);
    assert!(!later.allowed);
    assert_eq!((later.retry_after_secs, later.reset_secs), (4, 58));
    // Exactly one interval later, exactly one more.
    let (d, next) = step(&l, tat, T0 + 6_000);
    assert!(d.allowed);
    assert_eq!((d.remaining, d.reset_secs), (0, 60));
    assert_eq!(next, T0 + 66_000);
    // One millisecond short of it, not yet.
    assert!(!step(&l, tat, T0 + 5_999).0.allowed);
    assert_eq!(step(&l, tat, T0 + 5_999).0.retry_after_secs, 1);
}

#[test]
fn a_stored_time_in_the_past_counts_as_a_full_allowance() {
    let l = limit("10/minute");
    let fresh = step(&l, None, T0);
    assert_eq!(step(&l, Some(T0 - 1_000_000), T0), fresh);
    assert_eq!(fresh.0.remaining, 9);
    assert_eq!(fresh.1, T0 + 6_000);
}

#[test]
fn uneven_intervals_round_reset_up_and_remaining_down() {
    // 3 per 10 s: an interval of 3333 ms.
    let l = limit("3/10s");
    let (d, tat) = step(&l, None, T0);
    assert!(d.allowed);
    assert_eq!((d.remaining, d.reset_secs), (2, 4));
    assert_eq!(tat, T0 + 3_333);
    let (d, tat) = step(&l, Some(tat), T0 + 1);
    assert_eq!((d.remaining, d.reset_secs), (1, 7));
    assert_eq!(tat, T0 + 6_666);
}

#[test]
fn remaining_never_exceeds_the_limit() {
    // 600 per second rounds the interval down to 1 ms; the count that the
    // interval would suggest (999) is clamped to the limit.
    let l = limit("600/second");
    let (d, tat) = step(&l, None, T0);
    assert!(d.allowed);
    assert_eq!(d.remaining, 600);
    assert_eq!(tat, T0 + 1);
    // More requests than milliseconds in the period: the interval is 1 ms.
    let l = RateLimit::new(5_000, Duration::from_millis(10)).unwrap();
    let (d, tat) = step(&l, None, T0);
    assert_eq!((d.remaining, tat), (9, T0 + 1));
}

#[test]
fn the_memory_limiter_keeps_one_bucket_per_name() {
    // The limiter runs on its clock's monotonic time; the wall-clock argument
    // is only for limiters that have no clock of their own.
    let clock = ManualClock::new(T0);
    let limiter = MemoryRateLimiter::with_clock(clock.clone());
    let l = limit("2/minute");
    assert!(limiter.is_local());
    assert_eq!(limiter.check("a", &l, T0).unwrap().remaining, 1);
    assert_eq!(limiter.check("a", &l, T0).unwrap().remaining, 0);
    assert!(!limiter.check("a", &l, T0).unwrap().allowed);
    assert_eq!(limiter.check("b", &l, T0).unwrap().remaining, 1);
    // Each check agrees with one pure GCRA step on the stored time.
    let (expected, _) = gcra(&l, Some(T0 + 60_000), T0 + 1_000);
    clock.advance_ms(1_000);
    assert_eq!(limiter.check("a", &l, T0 + 1_000).unwrap(), expected);
}

#[test]
fn pruning_at_the_bound_never_resets_a_live_bucket() {
    // Past its bound (65,536 buckets) the limiter drops buckets whose
    // allowance is full again; a bucket that is still limited must survive.
    let clock = ManualClock::new(T0);
    let limiter = MemoryRateLimiter::with_clock(clock.clone());
    let hourly = limit("1/hour");
    let brief = limit("1/second");
    assert!(limiter.check("live", &hourly, T0).unwrap().allowed);
    assert!(!limiter.check("live", &hourly, T0).unwrap().allowed);
    // Exactly at the bound: `live` and 65,535 others.
    for i in 1..65_536 {
        limiter.check(&format!("idle{i}"), &brief, T0).unwrap();
    }
    // Ten seconds on, every `idle` bucket is full again, `live` is not; a
    // new bucket now makes the limiter prune.
    let later = T0 + 10_000;
    clock.advance_ms(10_000);
    for i in 0..3 {
        assert!(
            limiter
                .check(&format!("new{i}"), &brief, later)
                .unwrap()
                .allowed
        );
    }
    let d = limiter.check("live", &hourly, later).unwrap();
    assert!(!d.allowed, "a live bucket was reset by pruning");
    assert_eq!(d.retry_after_secs, 3_590);
    // A pruned bucket behaves as a fresh one, as it would have anyway.
    assert_eq!(
        limiter.check("idle1", &brief, later).unwrap(),
        gcra(&brief, None, later).0
    );
}

#[derive(Debug)]
struct Remote;

impl RateLimiter for Remote {
    fn check(&self, _: &str, l: &RateLimit, now: i64) -> Result<RateDecision, StoreError> {
        Ok(gcra(l, None, now).0)
    }
}

#[test]
fn a_limiter_is_remote_unless_it_says_otherwise() {
    assert!(!Remote.is_local());
    assert!(MemoryRateLimiter::new().is_local());
}

#[test]
fn the_url_chooses_the_limiter() {
    assert!(open("memory://").unwrap().is_local());
    let unsupported = open("memcached://host").unwrap_err();
    assert_eq!(unsupported, StoreError::UnsupportedUrl("memcached".into()));
    assert!(matches!(
        open("memory://x").unwrap_err(),
        StoreError::UnsupportedUrl(_)
    ));
    // Each Redis spelling goes to Redis (which is not listening here), never
    // to "unsupported".
    for url in [
        "redis://127.0.0.1:1",
        "rediss://127.0.0.1:1",
        "redis+unix:///nonexistent/gatepass-test.sock",
    ] {
        match open(url) {
            Ok(l) => assert!(!l.is_local(), "{url}"),
            Err(e) => assert!(!matches!(e, StoreError::UnsupportedUrl(_)), "{url}: {e}"),
        }
    }
}

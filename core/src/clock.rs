//! Time source. Every time-dependent rule (expiry, grace periods, rate limits,
//! webhook timestamp windows) reads the clock through this trait so tests can
//! move time by hand instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The latest time gatepass accepts or stores: 9999-12-31T23:59:59.999Z.
/// Python's `datetime` ends there (JavaScript's `Date` later), so every time
/// the core keeps can be shown as a date in every binding; a later expiry is
/// refused when it is set rather than breaking every read of the key.
pub const MAX_MILLIS: Millis = 253_402_300_799_999;

pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Current time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> Millis;

    /// Current time in whole seconds since the Unix epoch.
    fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Nanoseconds on a clock that never steps: for measuring intervals
    /// (rate limits), where a wall clock set back by an operator or NTP would
    /// refuse every limited key until it caught up, and one set forward would
    /// grant every key a fresh burst. Only differences are meaningful. The
    /// default is the operating system's monotonic clock.
    fn monotonic_ns(&self) -> i64 {
        // i64 nanoseconds last 292 years of uptime.
        i64::try_from(monotonic_origin().elapsed().as_nanos()).unwrap_or(i64::MAX)
    }
}

/// The origin of the default [`Clock::monotonic_ns`]: the first time it is read.
fn monotonic_origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            // A clock set before 1970 is a broken machine; treat it as the epoch
            // rather than panicking inside a request.
            Err(_) => 0,
        }
    }
}

/// A clock that only moves when told to; for tests. Its wall and monotonic
/// readings move together as time passes ([`advance_ms`](Self::advance_ms)),
/// and apart when the wall clock is set ([`set_ms`](Self::set_ms)), as on a
/// real machine.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
    monotonic_ns: AtomicI64,
}

impl ManualClock {
    pub fn new(now_ms: Millis) -> Arc<Self> {
        Arc::new(Self {
            now: AtomicI64::new(now_ms),
            monotonic_ns: AtomicI64::new(0),
        })
    }

    /// Sets the wall clock, as an operator or NTP step would; monotonic time
    /// does not move.
    pub fn set_ms(&self, now_ms: Millis) {
        self.now.store(now_ms, Ordering::SeqCst);
    }

    /// Lets `by` milliseconds pass. A negative `by` sets the wall clock back
    /// without moving monotonic time, which never goes back.
    pub fn advance_ms(&self, by: Millis) {
        self.now.fetch_add(by, Ordering::SeqCst);
        if by > 0 {
            self.advance_ns(by.saturating_mul(1_000_000));
        }
    }

    /// Lets `by` nanoseconds of monotonic time pass (the wall clock, in whole
    /// milliseconds, stays): for limits finer than a millisecond.
    pub fn advance_ns(&self, by: i64) {
        self.monotonic_ns.fetch_add(by.max(0), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }

    fn monotonic_ns(&self) -> i64 {
        self.monotonic_ns.load(Ordering::SeqCst)
    }
}

/// The default shared clock.
pub fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

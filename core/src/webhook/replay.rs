//! Replay protection: remember which messages were already accepted.
//!
//! A verified webhook can be captured and re-sent inside its timestamp
//! window. A `ReplayGuard` records each accepted message's keys for as long
//! as the message could still be accepted, and refuses a second delivery.
//! The keys are built by the verifier from what the signature covers (never
//! from an unsigned header, which a replayer could change) and from the
//! verifier's secrets (so verifiers with different secrets sharing one guard
//! never collide): one key per secret, see `WebhookVerifier`. The verifier
//! only consults the guard *after* the signature verified, so unauthenticated
//! traffic can neither fill the guard nor pre-empt a genuine message.

use std::collections::{BTreeSet, HashMap};

use parking_lot::Mutex;

use super::error::ReplayGuardError;

/// A store of recently accepted message keys. Implementations must make the
/// check-and-insert atomic: two concurrent deliveries of the same key must
/// not both see "first time". A network store (Redis `SET key 1 NX EX ttl`)
/// fits this shape; its failures are reported as errors and the verifier then
/// refuses the message (fail closed).
pub trait ReplayGuard: Send + Sync {
    /// One message known by several keys: if none of `keys` is remembered,
    /// remember all of them until `now_secs + ttl_secs` and return
    /// `Ok(true)`; if any is, return `Ok(false)` (a repeat). Atomic as a
    /// whole: of two concurrent calls whose key sets overlap, at most one
    /// sees "first time".
    fn check_and_remember_all(
        &self,
        keys: &[&str],
        now_secs: i64,
        ttl_secs: i64,
    ) -> Result<bool, ReplayGuardError>;

    /// Record `key` until `now_secs + ttl_secs`. Returns `Ok(true)` the first
    /// time a key is seen within its lifetime, `Ok(false)` for a repeat.
    fn check_and_remember(
        &self,
        key: &str,
        now_secs: i64,
        ttl_secs: i64,
    ) -> Result<bool, ReplayGuardError> {
        self.check_and_remember_all(&[key], now_secs, ttl_secs)
    }
}

/// In-process replay guard with bounded memory.
///
/// Entries expire after their TTL. When `capacity` live entries exist, the one
/// closest to expiry is evicted to make room: memory stays bounded and genuine
/// traffic is never refused, at the cost that a flood of *valid, distinct*
/// messages beyond the capacity within one window shortens how long the
/// oldest are remembered. Size the capacity above the peak number of
/// webhooks per window. For several processes use a shared store.
#[derive(Debug)]
pub struct MemoryReplayGuard {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// key -> expiry (unix seconds)
    by_key: HashMap<String, i64>,
    /// (expiry, key), ordered so the soonest expiry is first
    by_expiry: BTreeSet<(i64, String)>,
}

impl Entries {
    fn remove_expired(&mut self, now: i64) {
        while let Some((exp, _)) = self.by_expiry.first() {
            if *exp > now {
                break;
            }
            if let Some((_, key)) = self.by_expiry.pop_first() {
                self.by_key.remove(&key);
            }
        }
    }
}

impl MemoryReplayGuard {
    /// Default number of remembered keys (~100k keys ≈ tens of MiB at most).
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// A guard remembering at most `capacity` keys (at least one).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Entries::default()),
        }
    }

    /// Number of keys currently remembered (including not yet purged expired ones).
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.lock().by_key.len()
    }

    /// True when nothing is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Opens a replay guard by URL: `memory://` (this process only, default
/// capacity) or `redis://…` (shared by every process using the server).
pub fn open(url: &str) -> Result<std::sync::Arc<dyn ReplayGuard>, crate::error::StoreError> {
    if url == "memory://" {
        return Ok(std::sync::Arc::new(MemoryReplayGuard::default()));
    }
    #[cfg(feature = "redis")]
    if url.starts_with("redis://")
        || url.starts_with("rediss://")
        || url.starts_with("redis+unix://")
    {
        return Ok(std::sync::Arc::new(crate::redis::RedisReplayGuard::open(
            url,
        )?));
    }
    Err(crate::error::StoreError::unsupported_url(url))
}

impl Default for MemoryReplayGuard {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl ReplayGuard for MemoryReplayGuard {
    fn check_and_remember_all(
        &self,
        keys: &[&str],
        now_secs: i64,
        ttl_secs: i64,
    ) -> Result<bool, ReplayGuardError> {
        let mut e = self.inner.lock();
        e.remove_expired(now_secs);
        if keys.iter().any(|k| e.by_key.contains_key(*k)) {
            return Ok(false);
        }
        let expiry = now_secs.saturating_add(ttl_secs.max(1));
        for key in keys {
            if e.by_key.contains_key(*key) {
                continue; // listed twice
            }
            while e.by_key.len() >= self.capacity {
                match e.by_expiry.pop_first() {
                    Some((_, evicted)) => {
                        e.by_key.remove(&evicted);
                    }
                    None => break,
                }
            }
            e.by_key.insert((*key).to_owned(), expiry);
            e.by_expiry.insert((expiry, (*key).to_owned()));
        }
        Ok(true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn remembers_for_ttl_then_forgets() {
        let g = MemoryReplayGuard::new(10);
        assert!(g.check_and_remember("a", 100, 300).unwrap());
        assert!(!g.check_and_remember("a", 399, 300).unwrap());
        assert!(g.check_and_remember("a", 400, 300).unwrap());
    }

    #[test]
    fn capacity_bounds_memory() {
        let g = MemoryReplayGuard::new(3);
        for (i, k) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            assert!(g
                .check_and_remember(k, 0, 100 + i64::try_from(i).unwrap())
                .unwrap());
        }
        assert_eq!(g.len(), 3);
        // the soonest-expiring were evicted, the newest kept
        assert!(!g.check_and_remember("e", 0, 100).unwrap());
        assert!(g.check_and_remember("a", 0, 100).unwrap());
    }

    #[test]
    fn a_message_is_a_repeat_if_any_of_its_keys_is_known() {
        let g = MemoryReplayGuard::new(10);
        assert!(g.check_and_remember_all(&["a", "b"], 0, 100).unwrap());
        assert_eq!(g.len(), 2);
        // overlapping in one key: a repeat, and nothing new is remembered
        assert!(!g.check_and_remember_all(&["b", "c"], 1, 100).unwrap());
        assert!(!g.check_and_remember_all(&["x", "a"], 1, 100).unwrap());
        assert_eq!(g.len(), 2);
        assert!(g.check_and_remember_all(&["c", "c"], 1, 100).unwrap());
        assert_eq!(g.len(), 3);
        assert!(g.check_and_remember_all(&[], 1, 100).unwrap());
    }

    #[test]
    fn concurrent_first_sight_is_unique() {
        let g = std::sync::Arc::new(MemoryReplayGuard::default());
        let firsts: usize = (0..8)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || usize::from(g.check_and_remember("k", 0, 60).unwrap()))
            })
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(firsts, 1);
    }
}

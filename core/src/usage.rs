//! Usage counting: every valid request adds one to its key's count and moves
//! `last_used_at`. Counts are batched in memory and written additively by a
//! background thread — every second (also while the process is idle) and at
//! once when the batch grows large — and before reads and at shutdown, so a
//! clean shutdown loses none, processes never overwrite each other's counts,
//! and no request waits for the store's write.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::clock::Millis;
use crate::error::StoreError;
use crate::store::{Store, UsageDelta};

/// Pending usage is written at least this often…
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// …or once this many requests have been counted.
pub const FLUSH_BATCH: u64 = 1_000;

#[derive(Debug)]
struct Pending {
    deltas: HashMap<String, (u64, Millis)>,
    total: u64,
    /// Monotonic, so a test clock or a wall-clock jump cannot stall flushing.
    last_flush: Instant,
}

impl Pending {
    fn add(&mut self, id: &str, count: u64, last: Millis) {
        // get_mut first: the hot path, a key already in the batch, allocates nothing.
        if let Some(slot) = self.deltas.get_mut(id) {
            slot.0 += count;
            slot.1 = slot.1.max(last);
        } else {
            self.deltas.insert(id.to_owned(), (count, last));
        }
        self.total += count;
    }
}

/// Wakes the flusher thread early. Kept apart from the recorder so the
/// thread can wait without keeping the recorder alive.
#[derive(Debug, Default)]
struct Wake {
    requested: Mutex<bool>,
    condvar: Condvar,
}

impl Wake {
    fn request(&self) {
        *self.requested.lock() = true;
        self.condvar.notify_one();
    }
}

#[derive(Debug)]
pub struct UsageRecorder {
    store: Arc<dyn Store>,
    pending: Mutex<Pending>,
    /// Held for a whole flush, from taking the batch to its commit, so a
    /// `flush` that returns has also seen the background thread's batch
    /// reach the store (not merely leave `pending`).
    flushing: Mutex<()>,
    wake: Arc<Wake>,
    /// False when no thread could be started: then requests flush inline.
    threaded: AtomicBool,
}

impl UsageRecorder {
    /// Creates the recorder and its flusher thread; the thread ends once the
    /// recorder is dropped.
    pub fn start(store: Arc<dyn Store>) -> Arc<Self> {
        let recorder = Arc::new(Self {
            store,
            pending: Mutex::new(Pending {
                deltas: HashMap::new(),
                total: 0,
                last_flush: Instant::now(),
            }),
            flushing: Mutex::new(()),
            wake: Arc::new(Wake::default()),
            threaded: AtomicBool::new(false),
        });
        let (weak, wake) = (Arc::downgrade(&recorder), Arc::clone(&recorder.wake));
        let spawned = std::thread::Builder::new()
            .name("gatepass-usage".into())
            .spawn(move || flush_in_background(&weak, &wake));
        recorder.threaded.store(spawned.is_ok(), Ordering::Release);
        recorder
    }

    /// True when [`record`](Self::record) only counts in memory (a thread
    /// writes the counts); false when it may write to the store itself.
    pub fn records_in_memory(&self) -> bool {
        self.threaded.load(Ordering::Acquire)
    }

    /// Counts one request.
    pub fn record(&self, id: &str, now: Millis) -> Result<(), StoreError> {
        let threaded = self.threaded.load(Ordering::Acquire);
        let due = {
            let mut pending = self.pending.lock();
            pending.add(id, 1, now);
            // With a thread, time is its business: no clock read per request.
            pending.total >= FLUSH_BATCH
                || (!threaded && pending.last_flush.elapsed() >= FLUSH_INTERVAL)
        };
        if !due {
            return Ok(());
        }
        if threaded {
            self.wake.request();
            Ok(())
        } else {
            self.flush()
        }
    }

    /// Writes everything counted so far. On failure the counts are kept for
    /// the next attempt.
    pub fn flush(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.flushing.lock();
        let batch = {
            let mut pending = self.pending.lock();
            pending.last_flush = Instant::now();
            if pending.deltas.is_empty() {
                return Ok(());
            }
            pending.total = 0;
            std::mem::take(&mut pending.deltas)
        };
        let deltas: Vec<UsageDelta> = batch
            .iter()
            .map(|(id, &(count, last))| UsageDelta {
                key_id: id.clone(),
                count,
                last_used_at: last,
            })
            .collect();
        self.store.add_usage(&deltas).inspect_err(|_| {
            let mut pending = self.pending.lock();
            for (id, (count, last)) in &batch {
                pending.add(id, *count, *last);
            }
        })
    }
}

fn flush_in_background(recorder: &Weak<UsageRecorder>, wake: &Wake) {
    loop {
        {
            let mut requested = wake.requested.lock();
            if !*requested {
                wake.condvar.wait_for(&mut requested, FLUSH_INTERVAL);
            }
            *requested = false;
        }
        let Some(recorder) = recorder.upgrade() else {
            return;
        };
        // A failure keeps the counts for the next attempt; nothing to report here.
        let _ = recorder.flush();
    }
}

impl Drop for UsageRecorder {
    fn drop(&mut self) {
        // Nothing can be reported from drop; callers who need the error call
        // `flush` before dropping.
        let _ = self.flush();
        // Let the thread see that the recorder is gone and exit now.
        self.wake.request();
    }
}

//! Usage counting: every valid request adds one to its key's count and moves
//! `last_used_at`. Counts are batched in memory and written additively, on an
//! interval (also while the process is idle), when the batch is large, before
//! reads, and at shutdown, so a clean shutdown loses none and processes never
//! overwrite each other's counts.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

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

#[derive(Debug)]
pub struct UsageRecorder {
    store: Arc<dyn Store>,
    pending: Mutex<Pending>,
}

impl UsageRecorder {
    /// Creates the recorder and a background thread that flushes it every
    /// [`FLUSH_INTERVAL`]; the thread ends once the recorder is dropped.
    pub fn start(store: Arc<dyn Store>) -> Arc<Self> {
        let recorder = Arc::new(Self {
            store,
            pending: Mutex::new(Pending {
                deltas: HashMap::new(),
                total: 0,
                last_flush: Instant::now(),
            }),
        });
        let weak = Arc::downgrade(&recorder);
        // Without the thread, counts still reach the store on the next busy
        // request, on reads and at shutdown; only idle flushing is lost.
        let _ = std::thread::Builder::new()
            .name("gatepass-usage".into())
            .spawn(move || flush_periodically(&weak));
        recorder
    }

    /// Counts one request; writes the batch when it is due.
    pub fn record(&self, id: &str, now: Millis) -> Result<(), StoreError> {
        let due = {
            let mut pending = self.pending.lock();
            pending.add(id, 1, now);
            pending.total >= FLUSH_BATCH || pending.last_flush.elapsed() >= FLUSH_INTERVAL
        };
        if due {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes everything counted so far. On failure the counts are kept for
    /// the next attempt.
    pub fn flush(&self) -> Result<(), StoreError> {
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

fn flush_periodically(recorder: &Weak<UsageRecorder>) {
    loop {
        std::thread::sleep(FLUSH_INTERVAL);
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
    }
}

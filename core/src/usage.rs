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

use crate::clock::{self, Clock, Millis};
use crate::error::StoreError;
use crate::history::{HistorySettings, HourCounts, Step, SLOTS};
use crate::store::{Store, UsageDelta};

/// Pending usage is written at least this often…
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// …or once this many requests have been counted.
pub const FLUSH_BATCH: u64 = 1_000;
/// History is rolled up and pruned this long after the recorder starts…
pub const COMPACT_FIRST: Duration = Duration::from_secs(10);
/// …and then this often, by every process (the stores make that safe).
pub const COMPACT_EVERY: Duration = Duration::from_secs(3_600);

const VALID: usize = 0;

/// What one key did since the last flush.
#[derive(Debug)]
struct KeyCounts {
    valid: u64,
    last_used_at: Millis,
    /// Hours in the order first seen; nearly always one, and the current
    /// hour is the last, so counting looks at one entry.
    hours: Vec<HourCounts>,
}

impl KeyCounts {
    fn new() -> Self {
        Self {
            valid: 0,
            last_used_at: Millis::MIN,
            hours: Vec::new(),
        }
    }

    fn add(&mut self, slot: usize, hour: Millis, count: u64) {
        let entry = match self.hours.last_mut() {
            Some(last) if last.start == hour => Some(last),
            // An earlier hour again: the clock was set back, or the batch
            // went back after a failed write.
            _ => self.hours.iter_mut().rev().find(|h| h.start == hour),
        };
        match entry {
            Some(h) => h.counts[slot] += count,
            None => {
                let mut counts = [0; SLOTS];
                counts[slot] = count;
                self.hours.push(HourCounts {
                    start: hour,
                    counts,
                });
            }
        }
    }
}

#[derive(Debug)]
struct Pending {
    deltas: HashMap<String, KeyCounts>,
    total: u64,
    /// Monotonic, so a test clock or a wall-clock jump cannot stall flushing.
    last_flush: Instant,
}

impl Pending {
    /// Counts `count` requests of outcome `slot` at `at`.
    fn add(&mut self, id: &str, slot: usize, at: Millis, count: u64) {
        let hour = Step::Hour.floor(at);
        // get_mut first: the hot path, a key already in the batch, allocates nothing.
        let key = match self.deltas.get_mut(id) {
            Some(key) => key,
            None => self
                .deltas
                .entry(id.to_owned())
                .or_insert_with(KeyCounts::new),
        };
        key.add(slot, hour, count);
        if slot == VALID {
            key.valid += count;
            key.last_used_at = key.last_used_at.max(at);
        }
        self.total += count;
    }

    /// Puts a batch that could not be written back.
    fn restore(&mut self, batch: Vec<UsageDelta>) {
        for delta in batch {
            let key = self
                .deltas
                .entry(delta.key_id)
                .or_insert_with(KeyCounts::new);
            key.valid += delta.count;
            if delta.count > 0 {
                key.last_used_at = key.last_used_at.max(delta.last_used_at);
            }
            for hour in delta.hours {
                for (slot, &n) in hour.counts.iter().enumerate() {
                    if n > 0 {
                        key.add(slot, hour.start, n);
                        self.total += n;
                    }
                }
            }
        }
    }
}

/// When and how history is rolled up and pruned.
#[derive(Debug)]
struct Compaction {
    settings: HistorySettings,
    clock: Arc<dyn Clock>,
    /// Monotonic: the next background run.
    next_at: Instant,
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
    compaction: Mutex<Compaction>,
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
            compaction: Mutex::new(Compaction {
                settings: HistorySettings::default(),
                clock: clock::system(),
                next_at: Instant::now() + COMPACT_FIRST,
            }),
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

    /// Rolls up and prunes by `clock` and `settings` from now on.
    pub fn set_history(&self, settings: HistorySettings, clock: Arc<dyn Clock>) {
        let mut compaction = self.compaction.lock();
        compaction.settings = settings;
        compaction.clock = clock;
    }

    pub fn history_settings(&self) -> HistorySettings {
        self.compaction.lock().settings
    }

    /// Counts one valid request.
    pub fn record(&self, id: &str, now: Millis) -> Result<(), StoreError> {
        let threaded = self.threaded.load(Ordering::Acquire);
        let due = {
            let mut pending = self.pending.lock();
            pending.add(id, VALID, now, 1);
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

    /// Counts one refusal of a known key (`slot` as in [`crate::history::COUNTED`]).
    /// Never writes, whatever the batch size: a refusal answers without I/O.
    pub fn refused(&self, id: &str, slot: usize, now: Millis) {
        if slot == VALID || slot >= SLOTS {
            return;
        }
        let due = {
            let mut pending = self.pending.lock();
            pending.add(id, slot, now, 1);
            pending.total >= FLUSH_BATCH
        };
        if due && self.threaded.load(Ordering::Acquire) {
            self.wake.request();
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
            .into_iter()
            .map(|(key_id, counts)| UsageDelta {
                key_id,
                count: counts.valid,
                last_used_at: counts.last_used_at,
                hours: counts.hours,
            })
            .collect();
        self.store
            .add_usage(&deltas)
            .inspect_err(|_| self.pending.lock().restore(deltas))
    }

    /// Rolls hourly history up into days and prunes it, as of the clock
    /// given to [`set_history`](Self::set_history).
    pub fn compact(&self) -> Result<(), StoreError> {
        let (settings, now) = {
            let compaction = self.compaction.lock();
            (compaction.settings, compaction.clock.now_ms())
        };
        self.store
            .compact_usage(settings.hourly_before(now), settings.keep_after(now))
    }

    /// [`compact`](Self::compact) when its time has come (background thread).
    fn compact_if_due(&self) {
        let due = {
            let mut compaction = self.compaction.lock();
            let now = Instant::now();
            let due = now >= compaction.next_at;
            if due {
                compaction.next_at = now + COMPACT_EVERY;
            }
            due
        };
        if due {
            // A failure is retried at the next run; the history only grows
            // a little meanwhile.
            let _ = self.compact();
        }
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
        recorder.compact_if_due();
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::history::{DAY, HOUR};
    use crate::store::MemoryStore;

    /// The flusher thread's turn: nothing before the time comes, one
    /// rollup by the recorder's clock and settings when it has.
    #[test]
    fn the_background_turn_rolls_up_by_the_given_clock_once_due() {
        let store = Arc::new(MemoryStore::new());
        let gate = crate::Gate::new(
            Arc::clone(&store) as Arc<dyn Store>,
            crate::Policy::default(),
        );
        let key = gate
            .issue(crate::IssueRequest {
                name: "k".into(),
                ..Default::default()
            })
            .unwrap()
            .key;
        let recorder = UsageRecorder::start(Arc::clone(&store) as Arc<dyn Store>);
        let clock = ManualClock::new(100 * DAY + HOUR);
        recorder.set_history(HistorySettings::default(), clock.clone());
        recorder.record(&key.id, 100 * DAY + HOUR).unwrap();
        recorder.flush().unwrap();
        let hourly = |s: &MemoryStore| {
            s.usage_history(&key.id, 0, 200 * DAY)
                .unwrap()
                .iter()
                .map(|r| r.step)
                .collect::<Vec<_>>()
        };
        assert_eq!(hourly(&store), vec![Step::Hour]);
        clock.set_ms(140 * DAY);
        recorder.compaction.lock().next_at = Instant::now() + Duration::from_secs(3_600);
        recorder.compact_if_due();
        assert_eq!(hourly(&store), vec![Step::Hour], "not due yet");
        recorder.compaction.lock().next_at = Instant::now();
        recorder.compact_if_due();
        assert_eq!(hourly(&store), vec![Step::Day]);
        assert!(recorder.compaction.lock().next_at > Instant::now());
    }
}

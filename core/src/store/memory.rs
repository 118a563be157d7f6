//! `memory://`: keys in process memory, for tests and single-process demos.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::{Change, Found, PolicyRecord, Store, UsageDelta};
use crate::audit::{self, Event, EventFilter, StoredEvent};
use crate::clock::Millis;
use crate::error::{GateError, StoreError};
use crate::history::{HistoryRow, RowKey, Step, TotalsRow, COUNTED};
use crate::key::{KeyRecord, ListQuery};
use crate::token::TokenDigest;

#[derive(Debug, Default)]
struct Inner {
    keys: HashMap<String, Arc<KeyRecord>>,
    /// digest → (key id, when this secret stops working)
    secrets: HashMap<TokenDigest, (String, Option<Millis>)>,
    /// key id → usage history rows.
    history: HashMap<String, BTreeMap<RowKey, u64>>,
}

/// The audit trail, apart from the keys: appended to while the keys' write
/// lock is held (so a change and its event are seen together), and pruned
/// under this lock alone, so a prune never holds up a verification.
#[derive(Debug, Default)]
struct Events {
    /// Ascending by sequence number.
    log: Vec<StoredEvent>,
    next_seq: i64,
}

impl Events {
    fn push(&mut self, event: &Event) {
        self.next_seq += 1;
        self.log.push(StoredEvent {
            seq: self.next_seq,
            event: event.clone(),
        });
    }
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
    events: Mutex<Events>,
    epoch: AtomicU64,
    policy: RwLock<Option<PolicyRecord>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::Release);
    }
}

fn apply(
    inner: &mut Inner,
    events: &Mutex<Events>,
    id: &str,
    change: Change<'_>,
) -> Result<(KeyRecord, bool), GateError> {
    let current = inner
        .keys
        .get(id)
        .ok_or_else(|| GateError::NotFound(id.to_owned()))?;
    let mut next = KeyRecord::clone(current);
    let Some(event) = change(&mut next)? else {
        return Ok((next, false));
    };
    inner.keys.insert(id.to_owned(), Arc::new(next.clone()));
    events.lock().push(&event);
    Ok((next, true))
}

impl Store for MemoryStore {
    fn insert(
        &self,
        key: &KeyRecord,
        digest: &TokenDigest,
        event: &Event,
    ) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        inner.keys.insert(key.id.clone(), Arc::new(key.clone()));
        inner.secrets.insert(*digest, (key.id.clone(), None));
        self.events.lock().push(event);
        drop(inner);
        self.bump();
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.inner.read().keys.get(id).map(|k| KeyRecord::clone(k)))
    }

    fn find(&self, digest: &TokenDigest) -> Result<Option<Found>, StoreError> {
        let inner = self.inner.read();
        Ok(inner.secrets.get(digest).and_then(|(id, until)| {
            inner.keys.get(id).map(|key| Found {
                key: Arc::clone(key),
                secret_expires_at: *until,
            })
        }))
    }

    fn list(&self, q: &ListQuery) -> Result<Vec<KeyRecord>, StoreError> {
        let inner = self.inner.read();
        let mut keys: Vec<&Arc<KeyRecord>> = inner
            .keys
            .values()
            .filter(|k| {
                q.subject
                    .as_ref()
                    .is_none_or(|s| k.subject.as_ref() == Some(s))
            })
            .filter(|k| q.kind.as_ref().is_none_or(|kind| &k.kind == kind))
            .filter(|k| q.status.is_none_or(|s| k.status == s))
            .filter(|k| q.expiry.is_none_or(|e| e.keeps(k)))
            .filter(|k| {
                q.after
                    .as_ref()
                    .is_none_or(|c| (k.created_at, k.id.as_str()) > (c.created_at, c.id.as_str()))
            })
            .collect();
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys
            .into_iter()
            .take(q.limit)
            .map(|k| KeyRecord::clone(k))
            .collect())
    }

    fn modify(&self, id: &str, change: Change<'_>) -> Result<KeyRecord, GateError> {
        let result = apply(&mut self.inner.write(), &self.events, id, change).map(|(k, _)| k);
        self.bump();
        result
    }

    fn rotate(
        &self,
        id: &str,
        new_digest: &TokenDigest,
        old_until: Millis,
        change: Change<'_>,
    ) -> Result<KeyRecord, GateError> {
        let mut inner = self.inner.write();
        let (record, changed) = apply(&mut inner, &self.events, id, change)?;
        if !changed {
            return Ok(record);
        }
        for (key_id, until) in inner.secrets.values_mut() {
            if key_id == id {
                *until = Some(until.map_or(old_until, |u| u.min(old_until)));
            }
        }
        inner.secrets.insert(*new_digest, (id.to_owned(), None));
        drop(inner);
        self.bump();
        Ok(record)
    }

    fn delete(&self, id: &str, event: &Event) -> Result<bool, StoreError> {
        let mut inner = self.inner.write();
        let existed = inner.keys.remove(id).is_some();
        inner.history.remove(id);
        inner.secrets.retain(|_, (key_id, _)| key_id != id);
        if existed {
            self.events.lock().push(event);
        }
        drop(inner);
        self.bump();
        Ok(existed)
    }

    fn events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let events = self.events.lock();
        Ok(events
            .log
            .iter()
            .rev()
            .filter(|e| audit::matches(filter, e.seq, &e.event))
            .take(filter.limit)
            .cloned()
            .collect())
    }

    fn prune_events(&self, before: Millis, batch: usize) -> Result<u64, StoreError> {
        let mut events = self.events.lock();
        let mut removed = 0usize;
        events.log.retain(|e| {
            let drop = removed < batch && e.event.at < before;
            removed += usize::from(drop);
            !drop
        });
        Ok(removed as u64)
    }

    fn add_usage(&self, batch: &[UsageDelta]) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        for d in batch {
            let Some(k) = inner.keys.get_mut(&d.key_id) else {
                continue;
            };
            if d.count > 0 {
                let k = Arc::make_mut(k);
                k.usage_count = k.usage_count.saturating_add(d.count);
                k.last_used_at = Some(
                    k.last_used_at
                        .map_or(d.last_used_at, |t| t.max(d.last_used_at)),
                );
            }
            let rows = inner.history.entry(d.key_id.clone()).or_default();
            for hour in &d.hours {
                for (slot, &n) in hour.counts.iter().enumerate() {
                    if n > 0 {
                        let row = rows.entry((Step::Hour, hour.start, slot)).or_insert(0);
                        *row = row.saturating_add(n);
                    }
                }
            }
        }
        Ok(())
    }

    fn usage_history(
        &self,
        key_id: &str,
        since: Millis,
        until: Millis,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        let inner = self.inner.read();
        Ok(inner
            .history
            .get(key_id)
            .into_iter()
            .flatten()
            .filter(|((_, start, _), _)| (since..until).contains(start))
            .map(|(&(step, start, slot), &n)| HistoryRow {
                step,
                start,
                outcome: COUNTED[slot].code().to_owned(),
                n,
            })
            .collect())
    }

    fn usage_totals(
        &self,
        key_ids: &[String],
        since: Millis,
    ) -> Result<Vec<TotalsRow>, StoreError> {
        let inner = self.inner.read();
        let mut sums: BTreeMap<(&str, usize), (u64, Millis)> = BTreeMap::new();
        for id in key_ids {
            for (&(_, start, slot), &n) in inner.history.get(id).into_iter().flatten() {
                if start >= since {
                    let sum = sums.entry((id, slot)).or_insert((0, start));
                    sum.0 = sum.0.saturating_add(n);
                    sum.1 = sum.1.max(start);
                }
            }
        }
        Ok(sums
            .into_iter()
            .map(|((key_id, slot), (n, last))| TotalsRow {
                key_id: key_id.to_owned(),
                outcome: COUNTED[slot].code().to_owned(),
                n,
                last,
            })
            .collect())
    }

    fn compact_usage(&self, hourly_before: Millis, keep_after: Millis) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        for rows in inner.history.values_mut() {
            let old: Vec<(RowKey, u64)> = rows
                .range(..(Step::Hour, hourly_before, 0))
                .map(|(k, n)| (*k, *n))
                .collect();
            for ((_, start, slot), n) in old {
                rows.remove(&(Step::Hour, start, slot));
                let day = rows
                    .entry((Step::Day, Step::Day.floor(start), slot))
                    .or_insert(0);
                *day = day.saturating_add(n);
            }
            rows.retain(|(_, start, _), _| *start >= keep_after);
        }
        inner.history.retain(|_, rows| !rows.is_empty());
        Ok(())
    }

    fn consume_credit(&self, id: &str) -> Result<Option<u64>, StoreError> {
        let mut inner = self.inner.write();
        let Some(k) = inner.keys.get_mut(id) else {
            return Ok(None);
        };
        match k.remaining {
            Some(n) if n > 0 => {
                Arc::make_mut(k).remaining = Some(n - 1);
                Ok(Some(n - 1))
            }
            _ => Ok(None),
        }
    }

    fn epoch(&self) -> Result<u64, StoreError> {
        Ok(self.epoch.load(Ordering::Acquire))
    }

    fn epoch_now(&self) -> Option<u64> {
        Some(self.epoch.load(Ordering::Acquire))
    }

    fn recorded_policy(&self) -> Result<Option<PolicyRecord>, StoreError> {
        Ok(self.policy.read().clone())
    }

    fn record_policy(&self, record: &PolicyRecord) -> Result<(), StoreError> {
        *self.policy.write() = Some(record.clone());
        Ok(())
    }
}

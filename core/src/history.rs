//! Usage history: per key and hour, how many verifications were valid and
//! how many were refused for each reason that names a key. A revoked or
//! expired key that is still being tried is the first sign of misuse an
//! owner can see, so refusals are kept next to the valid count.
//!
//! Counts are kept in memory by the usage recorder and written with its
//! batches (see `usage.rs`), added to what other processes wrote, in the same
//! transaction as `usage_count`: after a clean shutdown the hourly valid
//! counts add up to `usage_count` exactly. Hourly rows older than
//! [`HistorySettings::hourly_for`] are rolled up into daily rows, and rows
//! older than [`HistorySettings::retention`] are deleted, by the background
//! flusher — never on the verification path. Days are UTC days.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::clock::Millis;
use crate::duration;
use crate::error::GateError;
use crate::outcome::Outcome;

pub const HOUR: Millis = 3_600_000;
pub const DAY: Millis = 24 * HOUR;
/// Most buckets one [`crate::Gate::usage`] answer holds (83 days by hour,
/// five and a half years by day).
pub const MAX_BUCKETS: usize = 2_000;
/// Most keys one [`crate::Gate::usage_totals`] call takes.
pub const MAX_TOTALS_KEYS: usize = 1_000;
/// Hourly rows are kept this long by default: a month of hourly charts, the
/// window the tokens page shows.
pub const DEFAULT_HOURLY_FOR: Duration = Duration::from_secs(30 * 86_400);
/// History is kept this long by default (daily rows past `hourly_for`).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(365 * 86_400);

/// The outcomes counted, in the order of a count array: `valid` first, then
/// each refusal that names a key (the refusals before a key is found —
/// malformed, unknown — have no key to count against).
pub const COUNTED: [Outcome; SLOTS] = [
    Outcome::Valid,
    Outcome::Inactive,
    Outcome::Revoked,
    Outcome::Expired,
    Outcome::ForbiddenResource,
    Outcome::InsufficientScope,
    Outcome::RateLimited,
    Outcome::UsageExceeded,
];
pub const SLOTS: usize = 8;

/// The index of `outcome` in a count array, `None` for outcomes not counted.
pub fn slot(outcome: Outcome) -> Option<usize> {
    COUNTED.iter().position(|o| *o == outcome)
}

/// The index of an outcome code as stored, `None` for a code not counted.
pub fn slot_of_code(code: &str) -> Option<usize> {
    COUNTED.iter().position(|o| o.code() == code)
}

/// The width of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Hour,
    Day,
}

impl Step {
    pub fn millis(self) -> Millis {
        match self {
            Self::Hour => HOUR,
            Self::Day => DAY,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    /// `"hour"` or `"day"`.
    pub fn parse(text: &str) -> Result<Self, GateError> {
        match text {
            "hour" => Ok(Self::Hour),
            "day" => Ok(Self::Day),
            _ => Err(GateError::InvalidArgument(
                "step must be \"hour\" or \"day\"".into(),
            )),
        }
    }

    /// The start of the bucket holding `t`.
    pub fn floor(self, t: Millis) -> Millis {
        t - t.rem_euclid(self.millis())
    }
}

/// The range and width of a [`crate::Gate::usage`] answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageQuery {
    pub since: Millis,
    pub until: Millis,
    pub step: Step,
}

/// One bucket of a key's history: `[start, start + step)`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct UsageBucket {
    pub start: Millis,
    pub valid: u64,
    /// Outcome code → count; codes with no refusals are left out.
    pub refused: BTreeMap<String, u64>,
}

/// A key's history summed over a period (the cards of a page).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct UsageTotals {
    pub valid: u64,
    pub refused: BTreeMap<String, u64>,
    /// The start of the latest bucket with a refusal.
    pub last_refused_at: Option<Millis>,
}

/// How long history is kept at which width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistorySettings {
    /// Hourly rows older than this become daily rows.
    pub hourly_for: Duration,
    /// Rows older than this are deleted.
    pub retention: Duration,
}

impl Default for HistorySettings {
    fn default() -> Self {
        Self {
            hourly_for: DEFAULT_HOURLY_FOR,
            retention: DEFAULT_RETENTION,
        }
    }
}

impl HistorySettings {
    /// Refuses settings that would roll up hours after deleting them, or
    /// keep nothing.
    pub fn new(hourly_for: Duration, retention: Duration) -> Result<Self, GateError> {
        duration::check("usage hourly_for", hourly_for)?;
        duration::check("usage retention", retention)?;
        if hourly_for < Duration::from_secs(3_600) {
            return Err(GateError::InvalidArgument(
                "usage history must be kept by hour for at least 1h".into(),
            ));
        }
        if retention < hourly_for {
            return Err(GateError::InvalidArgument(
                "usage retention must be at least as long as hourly_for".into(),
            ));
        }
        Ok(Self {
            hourly_for,
            retention,
        })
    }

    /// Hourly rows starting before this are rolled up: whole UTC days only,
    /// so a day is never half hourly, half daily.
    pub fn hourly_before(&self, now: Millis) -> Millis {
        Step::Day.floor(now.saturating_sub(duration::as_millis(self.hourly_for)))
    }

    /// Rows starting before this are deleted.
    pub fn keep_after(&self, now: Millis) -> Millis {
        Step::Day.floor(now.saturating_sub(duration::as_millis(self.retention)))
    }
}

/// Counts of one key in one hour, as the recorder batches them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourCounts {
    pub start: Millis,
    /// Indexed as [`COUNTED`].
    pub counts: [u64; SLOTS],
}

/// One stored row: `n` verifications of one outcome in one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub step: Step,
    pub start: Millis,
    pub outcome: String,
    pub n: u64,
}

/// The totals of one key as a store sums them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotalsRow {
    pub key_id: String,
    pub outcome: String,
    pub n: u64,
    /// The start of the latest bucket with this outcome.
    pub last: Millis,
}

/// The default range of a usage query with no `since`: the last 30 days
/// by day (the page's chart), the last 24 hours by hour, the current day or
/// hour included.
pub const DEFAULT_DAYS: Millis = 30;
pub const DEFAULT_HOURS: Millis = 24;

impl UsageQuery {
    /// The one rule for a usage query made from optional arguments, used by
    /// the bindings' `gate.usage`, the management API and the CLI, so the
    /// same store and clock give the same buckets everywhere: `until`
    /// defaults to the end of the bucket holding `now` (the current day's or
    /// hour's requests show, and the range is whole buckets), `since` to
    /// [`DEFAULT_DAYS`] days (by day) or [`DEFAULT_HOURS`] hours (by hour)
    /// before `until`.
    pub fn recent(since: Option<Millis>, until: Option<Millis>, step: Step, now: Millis) -> Self {
        let until = until.unwrap_or_else(|| Self::current_end(step, now));
        let back = match step {
            Step::Day => DEFAULT_DAYS * DAY,
            Step::Hour => DEFAULT_HOURS * HOUR,
        };
        Self {
            since: since.unwrap_or_else(|| until.saturating_sub(back)),
            until,
            step,
        }
    }

    /// The end of the bucket holding `now`: where a range with no `until`
    /// ends, so that a caller choosing only the length (the CLI's `--days`)
    /// ends it where [`UsageQuery::recent`] does.
    pub fn current_end(step: Step, now: Millis) -> Millis {
        step.floor(now).saturating_add(step.millis())
    }

    /// The buckets this query answers with, checked against the bounds and
    /// the hours still kept (`hourly_before`). Hourly buckets are refused
    /// for a range that has been rolled up to days: a day's total spread
    /// over its hours would be made up, and a zero there would be false.
    pub(crate) fn bucket_starts(&self, hourly_before: Millis) -> Result<Vec<Millis>, GateError> {
        if self.until <= self.since {
            return Err(GateError::InvalidArgument(
                "usage: until must be after since".into(),
            ));
        }
        let width = self.step.millis();
        let first = self.step.floor(self.since);
        let count = (self.until - first).div_euclid(width)
            + i64::from((self.until - first).rem_euclid(width) != 0);
        if count > MAX_BUCKETS as i64 {
            return Err(GateError::InvalidArgument(format!(
                "usage: at most {MAX_BUCKETS} buckets per query ({} days by hour, {} days by day)",
                MAX_BUCKETS as i64 * HOUR / DAY,
                MAX_BUCKETS
            )));
        }
        if self.step == Step::Hour && first < hourly_before {
            return Err(GateError::InvalidArgument(
                "usage: hourly history before this range's start has been rolled up to days; \
                 ask for step \"day\", or a later since"
                    .into(),
            ));
        }
        Ok((0..count).map(|i| first + i * width).collect())
    }
}

/// Dense buckets for `query` from stored rows (hourly and daily alike; rows
/// outside the range are ignored).
pub(crate) fn buckets(
    query: &UsageQuery,
    starts: &[Millis],
    rows: &[HistoryRow],
) -> Vec<UsageBucket> {
    let mut out: Vec<UsageBucket> = starts
        .iter()
        .map(|&start| UsageBucket {
            start,
            ..UsageBucket::default()
        })
        .collect();
    let (Some(&first), width) = (starts.first(), query.step.millis()) else {
        return out;
    };
    for row in rows {
        // A daily row never goes into an hourly bucket (see bucket_starts).
        if row.step > query.step || row.start < first {
            continue;
        }
        let index = (row.start - first).div_euclid(width);
        let Some(bucket) = usize::try_from(index).ok().and_then(|i| out.get_mut(i)) else {
            continue;
        };
        if row.outcome == Outcome::Valid.code() {
            bucket.valid = bucket.valid.saturating_add(row.n);
        } else if slot_of_code(&row.outcome).is_some() {
            let n = bucket.refused.entry(row.outcome.clone()).or_insert(0);
            *n = n.saturating_add(row.n);
        }
    }
    out
}

/// A history row's place in the memory store: (width, bucket start, slot).
pub(crate) type RowKey = (Step, Millis, usize);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_dense_ascending_and_bounded() {
        let q = UsageQuery {
            since: 5 * DAY + 30 * 60_000,
            until: 5 * DAY + 3 * HOUR,
            step: Step::Hour,
        };
        let starts = q.bucket_starts(0).unwrap();
        assert_eq!(starts, vec![5 * DAY, 5 * DAY + HOUR, 5 * DAY + 2 * HOUR]);
        let rows = vec![
            HistoryRow {
                step: Step::Hour,
                start: 5 * DAY + HOUR,
                outcome: "valid".into(),
                n: 3,
            },
            HistoryRow {
                step: Step::Hour,
                start: 5 * DAY + HOUR,
                outcome: "revoked".into(),
                n: 2,
            },
            HistoryRow {
                step: Step::Day,
                start: 5 * DAY,
                outcome: "valid".into(),
                n: 100,
            },
        ];
        let b = buckets(&q, &starts, &rows);
        assert_eq!(b.len(), 3);
        assert_eq!((b[0].valid, b[1].valid, b[2].valid), (0, 3, 0));
        assert_eq!(b[1].refused.get("revoked"), Some(&2));
        let by_day = UsageQuery {
            step: Step::Day,
            ..q
        };
        let starts = by_day.bucket_starts(0).unwrap();
        assert_eq!(starts, vec![5 * DAY]);
        assert_eq!(buckets(&by_day, &starts, &rows)[0].valid, 103);

        let too_many = UsageQuery {
            since: 0,
            until: (MAX_BUCKETS as i64 + 1) * HOUR,
            step: Step::Hour,
        };
        assert!(too_many.bucket_starts(0).is_err());
        let just = UsageQuery {
            until: MAX_BUCKETS as i64 * HOUR,
            ..too_many
        };
        assert_eq!(just.bucket_starts(0).unwrap().len(), MAX_BUCKETS);
        let backwards = UsageQuery {
            since: HOUR,
            until: HOUR,
            step: Step::Day,
        };
        assert!(backwards.bucket_starts(0).is_err());
    }

    #[test]
    fn hours_that_were_rolled_up_are_refused_not_made_up() {
        let q = UsageQuery {
            since: 10 * DAY,
            until: 12 * DAY,
            step: Step::Hour,
        };
        assert!(q.bucket_starts(11 * DAY).is_err());
        assert_eq!(q.bucket_starts(10 * DAY).unwrap().len(), 48);
        let by_day = UsageQuery {
            step: Step::Day,
            ..q
        };
        assert_eq!(by_day.bucket_starts(11 * DAY).unwrap().len(), 2);
    }

    #[test]
    fn the_default_range_is_whole_buckets_ending_with_the_current_one() {
        let now = 20 * DAY + 10 * HOUR + 30 * 60_000;
        let days = UsageQuery::recent(None, None, Step::Day, now);
        let starts = days.bucket_starts(0).unwrap();
        assert_eq!(starts.len(), DEFAULT_DAYS as usize);
        assert_eq!(starts.last(), Some(&(20 * DAY)));
        assert_eq!(starts.first(), Some(&(20 * DAY - 29 * DAY)));
        let hours = UsageQuery::recent(None, None, Step::Hour, now);
        let starts = hours.bucket_starts(0).unwrap();
        assert_eq!(starts.len(), DEFAULT_HOURS as usize);
        assert_eq!(starts.last(), Some(&(20 * DAY + 10 * HOUR)));
        // On a bucket's edge the bucket just begun is the current one.
        let edge = UsageQuery::recent(None, None, Step::Hour, 20 * DAY);
        assert_eq!(edge.bucket_starts(0).unwrap().last(), Some(&(20 * DAY)));
        // A given `since` or `until` is kept as given.
        let given = UsageQuery::recent(Some(DAY), Some(3 * DAY), Step::Day, now);
        assert_eq!((given.since, given.until), (DAY, 3 * DAY));
        assert_eq!(UsageQuery::current_end(Step::Day, now), 21 * DAY);
    }

    #[test]
    fn settings_cut_on_utc_days_and_refuse_nonsense() {
        let s = HistorySettings::new(Duration::from_secs(86_400), Duration::from_secs(3 * 86_400))
            .unwrap();
        let now = 10 * DAY + 5 * HOUR;
        assert_eq!(s.hourly_before(now), 9 * DAY);
        assert_eq!(s.keep_after(now), 7 * DAY);
        assert!(
            HistorySettings::new(Duration::from_secs(60), Duration::from_secs(86_400)).is_err()
        );
        assert!(
            HistorySettings::new(Duration::from_secs(86_400), Duration::from_secs(3_600)).is_err()
        );
        assert_eq!(Step::Hour.floor(-1), -HOUR);
        assert_eq!(slot(Outcome::Valid), Some(0));
        assert_eq!(slot(Outcome::UnknownKey), None);
        assert_eq!(slot_of_code("usage_exceeded"), Some(7));
    }
}

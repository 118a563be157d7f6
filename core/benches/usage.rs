//! Usage history: reading 30 days of one key's hourly history (by hour and
//! by day), and the cost of one flush with 10 000 active keys with the
//! history and without it (the batch as it was before), on SQLite and, when
//! `GATEPASS_TEST_POSTGRES_URL` is set, on a fresh Postgres schema.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use gatepass_core::history::{HourCounts, Step, UsageQuery, DAY, HOUR, SLOTS};
use gatepass_core::store::{self, Store, UsageDelta};
use gatepass_core::{Gate, IssueRequest};

const ACTIVE_KEYS: usize = 10_000;

fn urls() -> Vec<(&'static str, String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:///{}", dir.path().join("usage.db").display());
    let mut urls = vec![("sqlite", sqlite, Some(dir))];
    if let Ok(base) = std::env::var("GATEPASS_TEST_POSTGRES_URL") {
        let mut bytes = [0u8; 6];
        getrandom::fill(&mut bytes).unwrap();
        let schema = format!("gp_bench_{}", hex::encode(bytes));
        let mut client = postgres::Client::connect(&base, postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        urls.push((
            "postgres",
            format!("{base}{sep}options=-csearch_path%3D{schema}"),
            None,
        ));
    }
    urls
}

fn issue(gate: &Gate, name: &str) -> String {
    gate.issue(IssueRequest {
        name: name.into(),
        ..Default::default()
    })
    .unwrap()
    .key
    .id
}

fn counts(valid: u64, revoked: u64) -> [u64; SLOTS] {
    let mut c = [0; SLOTS];
    c[0] = valid;
    c[2] = revoked;
    c
}

fn history(c: &mut Criterion) {
    let mut group = c.benchmark_group("usage_history");
    for (name, url, _dir) in urls() {
        let gate = Gate::open(&url, None).unwrap();
        let store = store::open(&url).unwrap();
        let now = gate.now();
        let id = issue(&gate, "busy");
        // 30 days of hours, each used, one in four with refusals too.
        let first = Step::Hour.floor(now) - 30 * DAY;
        let hours: Vec<HourCounts> = (0..30 * 24 + 1)
            .map(|i| HourCounts {
                start: first + i * HOUR,
                counts: counts(100 + i as u64 % 7, u64::from(i % 4 == 0)),
            })
            .collect();
        let total: u64 = hours.iter().map(|h| h.counts[0]).sum();
        store
            .add_usage(&[UsageDelta {
                key_id: id.clone(),
                count: total,
                last_used_at: now,
                hours,
            }])
            .unwrap();
        for (step, label) in [(Step::Hour, "30d_by_hour"), (Step::Day, "30d_by_day")] {
            let query = UsageQuery::recent(Some(now - 30 * DAY), Some(now), step, now);
            let answer = gate.usage(&id, &query).unwrap();
            assert_eq!(answer.iter().map(|b| b.valid).sum::<u64>(), total);
            group.bench_function(format!("{name}_{label}"), |b| {
                b.iter(|| gate.usage(black_box(&id), &query).unwrap())
            });
        }
    }
    group.finish();
}

/// One flush as the recorder hands it to the store: 10 000 keys, one valid
/// request each in the current hour (and a refusal for one key in ten), with
/// the history rows and without them. After the first round the rows exist,
/// so this is the steady state within an hour: updates, not inserts.
fn flush(c: &mut Criterion) {
    let mut group = c.benchmark_group("usage_flush");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for (name, url, _dir) in urls() {
        let gate = Gate::open(&url, None).unwrap();
        let store: Arc<dyn Store> = store::open(&url).unwrap();
        let ids: Vec<String> = (0..ACTIVE_KEYS)
            .map(|i| issue(&gate, &format!("k{i}")))
            .collect();
        let now = gate.now();
        let hour = Step::Hour.floor(now);
        let batch = |with_history: bool| -> Vec<UsageDelta> {
            ids.iter()
                .enumerate()
                .map(|(i, id)| UsageDelta {
                    key_id: id.clone(),
                    count: 1,
                    last_used_at: now,
                    hours: if with_history {
                        vec![HourCounts {
                            start: hour,
                            counts: counts(1, u64::from(i % 10 == 0)),
                        }]
                    } else {
                        Vec::new()
                    },
                })
                .collect()
        };
        for (label, with_history) in [("with_history", true), ("counts_only", false)] {
            let deltas = batch(with_history);
            store.add_usage(&deltas).unwrap();
            group.bench_function(format!("{name}_10k_keys_{label}"), |b| {
                b.iter_custom(|rounds| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..rounds {
                        let start = Instant::now();
                        store.add_usage(black_box(&deltas)).unwrap();
                        spent += start.elapsed();
                    }
                    spent
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, history, flush);
criterion_main!(benches);

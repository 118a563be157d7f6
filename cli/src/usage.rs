//! `gatepass usage KEY`: a key's request history, as a bar chart in the
//! terminal or buckets in `--json`.

use std::collections::BTreeMap;

use gatepass_core::history::{Step, UsageBucket, UsageQuery, DAY};

use crate::args::UsageArgs;
use crate::json::Json;
use crate::output::Output;
use crate::time::{day, iso, short};
use crate::{Context, Failure, EXIT_OK};

/// Widest bar, in terminal cells.
const BAR_CELLS: u64 = 40;
/// A cell split in eighths: a bar's last cell shows the remainder.
const EIGHTHS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

pub fn run(ctx: &Context<'_>, a: &UsageArgs, o: &mut Output<'_>) -> Result<i32, Failure> {
    let step = Step::parse(&a.step).map_err(|e| ctx.failure(&e))?;
    let key = ctx.gate.get(&a.key_id).map_err(|e| ctx.failure(&e))?;
    if a.days == Some(0) {
        return Err(Failure::coded(
            "invalid_argument",
            "--days must be at least 1".into(),
        ));
    }
    // The range is the core's default (the one every binding and the
    // management API use); `--days` only changes its length.
    let now = ctx.gate.now();
    let until = UsageQuery::current_end(step, now);
    let since = a
        .days
        .map(|days| until.saturating_sub(i64::from(days).saturating_mul(DAY)));
    let query = UsageQuery::recent(since, Some(until), step, now);
    let buckets = ctx
        .gate
        .usage(&key.id, &query)
        .map_err(|e| ctx.failure(&e))?;
    let data = Json::object([
        ("key_id", key.id.as_str().into()),
        ("step", step.as_str().into()),
        ("since", iso(query.since).into()),
        ("until", iso(query.until).into()),
        (
            "buckets",
            Json::Array(buckets.iter().map(bucket_json).collect()),
        ),
    ]);
    let title = format!(
        "{} ({}): requests by {}, UTC",
        key.id,
        key.name,
        step.as_str()
    );
    o.emit(&data, &format!("{title}\n{}", chart(&buckets, step)));
    Ok(EXIT_OK)
}

fn refused_json(refused: &BTreeMap<String, u64>) -> Json {
    Json::Object(
        refused
            .iter()
            .map(|(code, n)| (code.clone(), (*n).into()))
            .collect(),
    )
}

fn bucket_json(b: &UsageBucket) -> Json {
    Json::object([
        ("start", iso(b.start).into()),
        ("valid", b.valid.into()),
        ("refused", refused_json(&b.refused)),
    ])
}

fn refusals_text(refused: &BTreeMap<String, u64>) -> String {
    refused
        .iter()
        .map(|(code, n)| format!("{code} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `cells` eighths of a cell as block characters.
fn bar(eighths: u64) -> String {
    let full = usize::try_from(eighths / 8).unwrap_or(0);
    let rest = usize::try_from(eighths % 8).unwrap_or(0);
    "█".repeat(full) + EIGHTHS.get(rest).copied().unwrap_or("")
}

/// One line per bucket: its start, a bar for the requests it counted
/// (valid and refused), the valid count and the refusals by outcome.
#[must_use]
pub fn chart(buckets: &[UsageBucket], step: Step) -> String {
    let total = |b: &UsageBucket| b.valid + b.refused.values().sum::<u64>();
    let most = buckets.iter().map(total).max().unwrap_or(0);
    let label = |start| match step {
        Step::Hour => short(start),
        Step::Day => day(start),
    };
    let width = usize::try_from(BAR_CELLS).unwrap_or(40);
    let mut lines: Vec<String> = buckets
        .iter()
        .map(|b| {
            let n = total(b);
            // Any request at all shows at least an eighth of a cell.
            let eighths = if n == 0 || most == 0 {
                0
            } else {
                (n.saturating_mul(BAR_CELLS * 8) / most).max(1)
            };
            let mut line = format!(
                "{}  {:<width$}  {:>6}",
                label(b.start),
                bar(eighths),
                b.valid
            );
            if !b.refused.is_empty() {
                line.push_str(&format!("  refused: {}", refusals_text(&b.refused)));
            }
            line.trim_end().to_owned()
        })
        .collect();
    let valid: u64 = buckets.iter().map(|b| b.valid).sum();
    let mut refused: BTreeMap<String, u64> = BTreeMap::new();
    for b in buckets {
        for (code, n) in &b.refused {
            *refused.entry(code.clone()).or_default() += n;
        }
    }
    let refused_sum: u64 = refused.values().sum();
    let mut total_line = format!("total: {valid} valid, {refused_sum} refused");
    if !refused.is_empty() {
        total_line.push_str(&format!(" ({})", refusals_text(&refused)));
    }
    lines.push(total_line);
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_scaled_to_the_busiest_bucket_in_eighths() {
        let bucket = |start, valid, refused: &[(&str, u64)]| UsageBucket {
            start,
            valid,
            refused: refused.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect(),
        };
        let day = 86_400_000;
        let text = chart(
            &[
                bucket(0, 80, &[]),
                bucket(day, 0, &[]),
                bucket(2 * day, 1, &[("rate_limited", 3)]),
                bucket(3 * day, 160, &[]),
            ],
            Step::Day,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!("1970-01-01  {}{}      80", "█".repeat(20), " ".repeat(20))
        );
        assert_eq!(lines[1], format!("1970-01-02  {}       0", " ".repeat(40)));
        // 4 of 160 requests: 8 eighths, one full cell.
        assert_eq!(
            lines[2],
            format!(
                "1970-01-03  █{}       1  refused: rate_limited 3",
                " ".repeat(39)
            )
        );
        assert_eq!(lines[3], format!("1970-01-04  {}     160", "█".repeat(40)));
        assert_eq!(lines[4], "total: 241 valid, 3 refused (rate_limited 3)");
        assert_eq!(bar(13), "█▋");
    }
}

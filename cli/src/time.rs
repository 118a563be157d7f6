//! Times as the command line shows and reads them: UTC, ISO 8601.
//! Written out as Python's `datetime.isoformat()` did in the first CLI
//! (`2026-05-01T12:00:00Z`, or `…:00.250000Z` when there are milliseconds),
//! so `--json` output keeps its shape.

use gatepass_core::clock::Millis;

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 → (year, month, day), for any day (proleptic
/// Gregorian; H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are small and positive by construction.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// (year, month, day) → days since 1970-01-01 (`days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (m, d) = (i64::from(month), i64::from(day));
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
}

fn parts(at: Millis) -> Parts {
    let days = at.div_euclid(MS_PER_DAY);
    let ms = at.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    Parts {
        year,
        month,
        day,
        hour: ms / 3_600_000,
        minute: ms / 60_000 % 60,
        second: ms / 1000 % 60,
        millis: ms % 1000,
    }
}

/// `2026-05-01T12:00:00Z`; milliseconds, when there are any, as Python
/// writes microseconds (`…:00.250000Z`).
#[must_use]
pub fn iso(at: Millis) -> String {
    let p = parts(at);
    let fraction = if p.millis == 0 {
        String::new()
    } else {
        format!(".{:03}000", p.millis)
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}Z",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    )
}

/// `2026-05-01 12:00`, for tables.
#[must_use]
pub fn short(at: Millis) -> String {
    let p = parts(at);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        p.year, p.month, p.day, p.hour, p.minute
    )
}

/// `2026-05-01 12:00:30`, for events.
#[must_use]
pub fn seconds(at: Millis) -> String {
    let p = parts(at);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    )
}

/// `2026-05-01`, for daily buckets.
#[must_use]
pub fn day(at: Millis) -> String {
    let p = parts(at);
    format!("{:04}-{:02}-{:02}", p.year, p.month, p.day)
}

fn number(text: &str, digits: usize) -> Option<i64> {
    if text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

/// Reads an ISO 8601 time: `2026-05-01`, `2026-05-01T12:00`,
/// `2026-05-01 12:00:30.5`, with `Z` or `±HH:MM` (UTC when there is no zone).
pub fn parse(text: &str) -> Result<Millis, String> {
    let bad = || format!("not an ISO 8601 time: {text:?}");
    let t = text.trim();
    if !t.is_ascii() || t.len() < 10 {
        return Err(bad());
    }
    let (date, rest) = t.split_at(10);
    let mut fields = date.split('-');
    let (Some(y), Some(m), Some(d), None) = (
        fields.next().and_then(|s| number(s, 4)),
        fields.next().and_then(|s| number(s, 2)),
        fields.next().and_then(|s| number(s, 2)),
        fields.next(),
    ) else {
        return Err(bad());
    };
    let month = u32::try_from(m).map_err(|_| bad())?;
    let day = u32::try_from(d).map_err(|_| bad())?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(y, month) {
        return Err(bad());
    }
    let mut ms = days_from_civil(y, month, day) * MS_PER_DAY;
    let mut rest = rest;
    if let Some(time) = rest.strip_prefix(['T', 't', ' ']) {
        let end = time.find(['Z', 'z', '+', '-']).unwrap_or(time.len());
        let (clock, zone) = time.split_at(end);
        ms += parse_clock(clock).ok_or_else(bad)?;
        rest = zone;
    }
    match rest {
        "" | "Z" | "z" => Ok(ms),
        zone => {
            let sign = if zone.starts_with('-') { 1 } else { -1 };
            let offset = zone.get(1..).ok_or_else(bad)?;
            let (h, m) = offset.split_once(':').ok_or_else(bad)?;
            let (Some(h), Some(m)) = (number(h, 2), number(m, 2)) else {
                return Err(bad());
            };
            if h > 23 || m > 59 || !zone.starts_with(['+', '-']) {
                return Err(bad());
            }
            Ok(ms + sign * (h * 3_600_000 + m * 60_000))
        }
    }
}

fn parse_clock(clock: &str) -> Option<i64> {
    let mut fields = clock.split(':');
    let hour = number(fields.next()?, 2)?;
    let minute = number(fields.next()?, 2)?;
    let (second, millis) = match fields.next() {
        None => (0, 0),
        Some(s) => {
            let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
            let second = number(whole, 2)?;
            let millis = if fraction.is_empty() {
                0
            } else if fraction.bytes().all(|b| b.is_ascii_digit()) && fraction.len() <= 6 {
                let padded = format!("{fraction:0<3}");
                padded.get(..3)?.parse::<i64>().ok()?
            } else {
                return None;
            };
            (second, millis)
        }
    };
    if fields.next().is_some() || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(((hour * 60 + minute) * 60 + second) * 1000 + millis)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_python_isoformat() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(1_714_564_800_250), "2024-05-01T12:00:00.250000Z");
        assert_eq!(short(1_714_564_800_250), "2024-05-01 12:00");
        assert_eq!(iso(-1), "1969-12-31T23:59:59.999000Z");
        assert_eq!(iso(253_402_300_799_999), "9999-12-31T23:59:59.999000Z");
    }

    #[test]
    fn parses_what_it_writes_and_common_forms() {
        for at in [0, 1_714_564_800_250, 951_782_400_000, 253_402_300_799_999] {
            assert_eq!(parse(&iso(at)), Ok(at));
        }
        assert_eq!(parse("2024-05-01"), Ok(1_714_521_600_000));
        assert_eq!(parse("2024-05-01 12:00"), Ok(1_714_564_800_000));
        assert_eq!(parse("2024-05-01T14:00:00+02:00"), Ok(1_714_564_800_000));
        assert_eq!(parse("2024-05-01T11:00-01:00"), Ok(1_714_564_800_000));
        for bad in [
            "soon",
            "2024-13-01",
            "2023-02-29",
            "2024-05-01T25:00",
            "2024-05-01T12:00+2",
            "2024-05-01X",
            "２０２４-05-01",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

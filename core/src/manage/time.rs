//! RFC 3339 times for the management API: what a browser's `Date`, Python's
//! `datetime.isoformat()` and every JSON client read and write. Written out
//! here (days from the civil date, as in Howard Hinnant's `chrono`
//! algorithms) because the core keeps times as milliseconds and needs only
//! these two conversions, over the range every binding can show as a date.

use crate::clock::{Millis, MAX_MILLIS};

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `2026-11-29T11:17:37.123Z`: UTC, always with milliseconds, so every
/// answer has one shape.
#[must_use]
pub fn format(ms: Millis) -> String {
    let ms = ms.clamp(0, MAX_MILLIS);
    let (year, month, day) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    let of_day = ms.rem_euclid(MS_PER_DAY);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3_600_000,
        of_day / 60_000 % 60,
        of_day / 1000 % 60,
        of_day % 1000
    )
}

/// The start (midnight UTC) of the day that holds `ms`.
#[must_use]
pub fn start_of_day(ms: Millis) -> Millis {
    ms - ms.rem_euclid(MS_PER_DAY)
}

/// Reads an RFC 3339 date-time (`2026-11-29T11:17:37Z`,
/// `2026-11-29T12:17:37.5+01:00`). Fractions finer than a millisecond are
/// dropped; a leap second, a date before 1970 or after 9999 is refused.
#[must_use]
pub fn parse(text: &str) -> Option<Millis> {
    let b = text.as_bytes();
    if b.len() < 20 || b.len() > 40 {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let at = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if at(i, b".") {
        i += 1;
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        for k in 0..3 {
            millis = millis * 10
                + if k < digits {
                    num(i + k..i + k + 1)?
                } else {
                    0
                };
        }
        i += digits;
    }
    let offset_minutes = match b.get(i) {
        Some(b'Z' | b'z') if b.len() == i + 1 => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && at(i + 3, b":") => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let ms = days_from_civil(year, month, day) * MS_PER_DAY
        + ((hour * 60 + minute - offset_minutes) * 60 + second) * 1000
        + millis;
    (0..=MAX_MILLIS).contains(&ms).then_some(ms)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_reads_back() {
        assert_eq!(format(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format(MAX_MILLIS), "9999-12-31T23:59:59.999Z");
        assert_eq!(format(1_795_951_057_123), "2026-11-29T11:17:37.123Z");
        for ms in [0, 1, 951_782_400_000, 1_795_951_057_123, MAX_MILLIS] {
            assert_eq!(parse(&format(ms)), Some(ms), "{ms}");
        }
        // Every day of a few leap and common years round-trips.
        let start = days_from_civil(1999, 12, 1);
        for d in start..start + 3 * 366 {
            let ms = d * MS_PER_DAY + 45_296_789;
            assert_eq!(parse(&format(ms)), Some(ms), "{}", format(ms));
        }
    }

    #[test]
    fn reads_offsets_and_fractions() {
        let utc = parse("2026-11-29T11:17:37Z").unwrap();
        assert_eq!(parse("2026-11-29T12:17:37+01:00"), Some(utc));
        assert_eq!(parse("2026-11-29T06:47:37-04:30"), Some(utc));
        assert_eq!(parse("2026-11-29t11:17:37z"), Some(utc));
        assert_eq!(parse("2026-11-29T11:17:37.5Z"), Some(utc + 500));
        assert_eq!(parse("2026-11-29T11:17:37.123456789Z"), Some(utc + 123));
        assert_eq!(start_of_day(utc), parse("2026-11-29T00:00:00Z").unwrap());
    }

    #[test]
    fn refuses_what_is_not_a_date_time() {
        for bad in [
            "",
            "2026-11-29",
            "2026-11-29T11:17:37",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-29T24:00:00Z",
            "2026-11-29T11:60:00Z",
            "2026-11-29T11:17:60Z",
            "2026-11-29T11:17:37.Z",
            "2026-11-29T11:17:37.1234567890Z",
            "2026-11-29T11:17:37+1:00",
            "2026-11-29T11:17:37+01:00x",
            "2026-11-29T11:17:37Zx",
            "1969-12-31T23:59:59Z",
            "+2026-11-29T11:17:37Z",
            "2026-11-29 11:17:37Z",
            "２026-11-29T11:17:37Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}

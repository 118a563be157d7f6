//! Human durations (`"90d"`, `"1h"`, `"30m"`), shared by the policy, the
//! lifecycle calls and every binding so `"90d"` means the same thing everywhere.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {problem}")]
pub struct DurationError {
    pub text: String,
    pub problem: String,
}

impl DurationError {
    pub fn code(&self) -> &'static str {
        "invalid_argument"
    }
}

/// The longest duration gatepass accepts anywhere (a lifetime, a grace
/// period, a rate-limit window): 36 525 days, a hundred years. Longer is
/// never meant, and refusing it here keeps every time computed from a
/// duration (`now + expires_in`) inside the range every binding can show
/// as a date.
pub const MAX: Duration = Duration::from_secs(36_525 * 86_400);

/// Refuses a duration longer than [`MAX`]; `field` names it in the message.
pub fn check(field: &str, d: Duration) -> Result<Duration, DurationError> {
    if d > MAX {
        return Err(DurationError {
            text: format(d),
            problem: format!("{field} may be at most 36525 days (100 years)"),
        });
    }
    Ok(d)
}

/// Parses `"90d"`, `"12h"`, `"1h 30m"`, `"3600s"`, `"2w"`, at most [`MAX`].
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    let err = |problem: String| DurationError {
        text: text.chars().take(64).collect(),
        problem,
    };
    if trimmed.is_empty() || trimmed.len() > 64 {
        return Err(err("expected a duration such as \"90d\" or \"1h\"".into()));
    }
    let d = humantime::parse_duration(trimmed).map_err(|e| err(e.to_string()))?;
    if d > MAX {
        return Err(err(
            "longer than the maximum of 36525 days (100 years)".into()
        ));
    }
    Ok(d)
}

/// The one duration rule of every binding: a duration is a string with a
/// unit (`"300s"`, `"5m"`, `"90d"`; Python's `timedelta` carries its unit
/// too). A bare number is refused with this error rather than read as
/// seconds in one language and milliseconds in the other, where
/// `tolerance=300` would be five minutes in Python and 0.3 s in Node.
pub fn bare_number(field: &str, value: f64) -> DurationError {
    DurationError {
        text: if value.is_finite() {
            format!("{value}")
        } else {
            "(not a number)".to_owned()
        },
        problem: format!(
            "{field} needs a unit, such as \"300s\", \"5m\" or \"90d\": a bare number is not a duration"
        ),
    }
}

/// Milliseconds in `d`, saturating rather than overflowing.
pub fn as_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Formats a duration compactly for messages and round-trips (`"90days"`).
pub fn format(d: Duration) -> String {
    humantime::format_duration(d).to_string().replace(' ', "")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse("90d").unwrap(), Duration::from_secs(90 * 86_400));
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(parse("").is_err());
        assert!(parse("soon").is_err());
        assert!(parse("-1d").is_err());
        // A number without a unit is refused, in text as in a binding's number.
        assert!(parse("300").is_err());
        let e = bare_number("tolerance", 300.0);
        assert_eq!(e.code(), "invalid_argument");
        assert!(e.to_string().contains("\"300s\""), "{e}");
    }

    #[test]
    fn refuses_more_than_a_hundred_years() {
        assert_eq!(parse("36525d").unwrap(), MAX);
        let e = parse("36526d").unwrap_err();
        assert!(e.to_string().contains("100 years"), "{e}");
        assert!(parse("3000000d").is_err());
        // humantime's own overflow is an error too, not a panic.
        assert!(parse("99999999999999999999y").is_err());
        assert!(check("grace", MAX).is_ok());
        assert!(check("grace", MAX + Duration::from_millis(1)).is_err());
    }
}

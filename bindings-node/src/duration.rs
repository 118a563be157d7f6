//! Durations from JavaScript: a string with a unit that the core parses
//! (`"90d"`, `"1h 30m"`). A number is refused (the core's duration rule).

use std::time::Duration;

use napi::Either;

use crate::error::NodeError;

pub type DurationArg = Either<String, f64>;

pub fn parse(field: &str, value: &DurationArg) -> Result<Duration, NodeError> {
    match value {
        Either::A(text) => Ok(gatepass_core::duration::parse(text)?),
        // The core's one duration rule: a number has no unit, so it is
        // refused rather than read as milliseconds here and seconds in Python.
        Either::B(number) => Err(gatepass_core::duration::bare_number(field, *number).into()),
    }
}

/// A point in time given as Unix milliseconds (`index.js` turns `Date`s into them).
pub fn millis(field: &str, value: f64) -> Result<i64, NodeError> {
    if value.is_finite() && value.abs() <= 8.64e15 {
        Ok(value.round() as i64)
    } else {
        Err(NodeError::invalid_argument(format!(
            "{field} must be a valid Date or Unix milliseconds"
        )))
    }
}

//! Durations from JavaScript: a string the core parses (`"90d"`, `"1h 30m"`)
//! or a number of milliseconds.

use std::time::Duration;

use napi::Either;

use crate::error::NodeError;

pub type DurationArg = Either<String, f64>;

pub fn parse(field: &str, value: &DurationArg) -> Result<Duration, NodeError> {
    match value {
        Either::A(text) => Ok(gatepass_core::duration::parse(text)?),
        Either::B(ms) if ms.is_finite() && *ms >= 0.0 && *ms <= 1e15 => {
            // Whole milliseconds: the core's times are Unix milliseconds.
            Ok(Duration::from_millis(ms.round() as u64))
        }
        Either::B(_) => Err(NodeError::invalid_argument(format!(
            "{field} must be a duration such as \"90d\" or a non-negative number of milliseconds"
        ))),
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

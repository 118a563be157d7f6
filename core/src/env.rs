//! The environment variables every binding and tool reads, with their
//! defaults, decided here once so Python, Node and the CLI read the same
//! names the same way: `GATEPASS_STORE`, `GATEPASS_POLICY`,
//! `GATEPASS_RATE_LIMITER` and `GATEPASS_REPLAY_GUARD`. An argument given in
//! code always wins over the environment; an empty variable counts as unset.

use crate::policy::{Policy, PolicyError};

/// The store URL when none is given.
pub const STORE: &str = "GATEPASS_STORE";
/// A policy file (`.toml` or `.json`) when no policy is given.
pub const POLICY: &str = "GATEPASS_POLICY";
/// Where rate limits are counted when no limiter is given (`redis://…`).
pub const RATE_LIMITER: &str = "GATEPASS_RATE_LIMITER";
/// The replay guard a webhook verifier uses when asked for one without a
/// URL (`redis://…`; default: this process's memory).
pub const REPLAY_GUARD: &str = "GATEPASS_REPLAY_GUARD";

/// How long the audit trail keeps events (`"365d"`, or `never`).
pub const EVENTS_RETENTION: &str = "GATEPASS_EVENTS_RETENTION";
/// How long usage history is kept by hour before it is rolled up into days
/// (a duration such as `"30d"`; default 30 days).
pub const USAGE_HOURLY_FOR: &str = "GATEPASS_USAGE_HOURLY_FOR";
/// How long usage history is kept at all (default 365 days).
pub const USAGE_RETENTION: &str = "GATEPASS_USAGE_RETENTION";

/// The embedded default: `gatepass.db` in the working directory.
pub const DEFAULT_STORE_URL: &str = "sqlite:///gatepass.db";

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `given`, else `$GATEPASS_STORE`, else `sqlite:///gatepass.db`.
#[must_use]
pub fn store_url(given: Option<&str>) -> String {
    given
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .or_else(|| var(STORE))
        .unwrap_or_else(|| DEFAULT_STORE_URL.to_owned())
}

/// `given`, else `$GATEPASS_RATE_LIMITER`, else none (this process's memory).
#[must_use]
pub fn rate_limiter_url(given: Option<&str>) -> Option<String> {
    given
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .or_else(|| var(RATE_LIMITER))
}

/// `$GATEPASS_REPLAY_GUARD`, for a verifier asked for a replay guard
/// without a URL; none means this process's memory.
#[must_use]
pub fn replay_guard_url() -> Option<String> {
    var(REPLAY_GUARD)
}

/// The file `$GATEPASS_POLICY` names, if set (and not empty): what a tool
/// reports as the source of the policy in force.
#[must_use]
pub fn policy_path() -> Option<String> {
    var(POLICY)
}

/// The policy in the file `$GATEPASS_POLICY` names (JSON for a `.json`
/// file, TOML otherwise), or none when the variable is unset. A file that
/// cannot be read or parsed is an error naming the variable: a deployment
/// that sets it must not run without the policy it meant.
pub fn policy() -> Result<Option<Policy>, PolicyError> {
    let Some(path) = policy_path() else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| PolicyError {
        field: POLICY.to_owned(),
        problem: format!("cannot read the policy file {path:?}: {e}"),
    })?;
    let parsed = if path.to_ascii_lowercase().ends_with(".json") {
        Policy::from_json(&text)
    } else {
        Policy::from_toml(&text)
    };
    parsed.map(Some).map_err(|e| PolicyError {
        field: format!("{POLICY} ({path}): {}", e.field),
        problem: e.problem,
    })
}

/// `$GATEPASS_EVENTS_RETENTION` as a duration with units (`"90d"`), `never`
/// (keep events forever, `None`), or unset: the default of one year. A value
/// that does not parse is an error naming the variable: silently keeping
/// events longer (or shorter) than a deployment asked would be worse.
pub fn events_retention() -> Result<Option<std::time::Duration>, crate::GateError> {
    let Some(text) = var(EVENTS_RETENTION) else {
        return Ok(Some(crate::audit::DEFAULT_RETENTION));
    };
    if text.trim().eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    crate::duration::parse(&text)
        .map(Some)
        .map_err(|e| crate::GateError::InvalidArgument(format!("{EVENTS_RETENTION}: {e}")))
}

/// The usage history settings `$GATEPASS_USAGE_HOURLY_FOR` and
/// `$GATEPASS_USAGE_RETENTION` ask for, each defaulting on its own. A value
/// that does not parse is an error naming the variable, never a silent
/// default: history deleted early cannot be brought back.
pub fn usage_history() -> Result<crate::history::HistorySettings, crate::GateError> {
    use crate::history::{HistorySettings, DEFAULT_HOURLY_FOR, DEFAULT_RETENTION};
    let read = |name: &str, default| match var(name) {
        None => Ok(default),
        Some(text) => crate::duration::parse(&text)
            .map_err(|e| crate::GateError::InvalidArgument(format!("{name}: {e}"))),
    };
    let hourly_for = read(USAGE_HOURLY_FOR, DEFAULT_HOURLY_FOR)?;
    let retention = match var(USAGE_RETENTION) {
        // A longer hourly period alone stretches the default retention with it.
        None => DEFAULT_RETENTION.max(hourly_for),
        Some(_) => read(USAGE_RETENTION, DEFAULT_RETENTION)?,
    };
    HistorySettings::new(hourly_for, retention).map_err(|e| {
        crate::GateError::InvalidArgument(format!("{USAGE_HOURLY_FOR}/{USAGE_RETENTION}: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_value_wins_and_empty_counts_as_unset() {
        assert_eq!(store_url(Some("memory://")), "memory://");
        assert_eq!(
            rate_limiter_url(Some("memory://")).as_deref(),
            Some("memory://")
        );
        // Empty arguments fall through to the environment or the default.
        if std::env::var(STORE).is_err() {
            assert_eq!(store_url(Some("")), DEFAULT_STORE_URL);
            assert_eq!(store_url(None), DEFAULT_STORE_URL);
        }
    }
}

//! The environment variables every binding and tool reads, with their
//! defaults, decided here once so Python, Node and the CLI read the same
//! names the same way: `GATEPASS_STORE`, `GATEPASS_POLICY`,
//! `GATEPASS_RATE_LIMITER` and `GATEPASS_REPLAY_GUARD`. An argument given in
//! code always wins over the environment; an empty variable counts as unset.

use crate::clock::Millis;
use crate::error::GateError;
use crate::policy::{Policy, PolicyError};
use crate::store::{PolicyRecord, Store};

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

/// The file a tool looks for in its working directory when neither code
/// nor `$GATEPASS_POLICY` gives a policy.
pub const POLICY_FILE: &str = "gatepass.toml";

/// Where the policy in force came from. Every message about a kind or a
/// token prefix the policy does not know names it, because the usual cause
/// is a process running under another policy than the app's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// Given in code (or on a command line) when the gate was opened.
    Argument,
    /// The file `$GATEPASS_POLICY` names.
    Env(String),
    /// `./gatepass.toml` in the working directory (the path as found).
    File(String),
    /// None given: the policy recorded in the store by the last process that
    /// opened it with one.
    Store,
    /// None given and none recorded: one kind `default`, token prefix `gp`.
    Default,
}

impl PolicySource {
    /// Given explicitly (in code, `$GATEPASS_POLICY` or `./gatepass.toml`):
    /// such a policy wins and is recorded in the store.
    #[must_use]
    pub fn is_explicit(&self) -> bool {
        matches!(self, Self::Argument | Self::Env(_) | Self::File(_))
    }
}

impl std::fmt::Display for PolicySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Argument => f.write_str("passed explicitly (in code, or --policy)"),
            Self::Env(path) => write!(f, "${POLICY}={path}"),
            Self::File(path) => write!(f, "{path} in the working directory"),
            Self::Store => f.write_str("the policy recorded in the store"),
            Self::Default => f.write_str(
                "no policy (none given, none in $GATEPASS_POLICY, ./gatepass.toml or the store): \
                 the default single kind \"default\", token prefix gp",
            ),
        }
    }
}

/// Reads a policy file: JSON for a `.json` file, TOML otherwise. Errors name
/// `field` (where the path came from) and the path.
fn read_policy_file(path: &str, field: &str) -> Result<Policy, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
        field: field.to_owned(),
        problem: format!("cannot read the policy file {path:?}: {e}"),
    })?;
    let parsed = if path.to_ascii_lowercase().ends_with(".json") {
        Policy::from_json(&text)
    } else {
        Policy::from_toml(&text)
    };
    parsed.map_err(|e| PolicyError {
        field: format!("{field} ({path}): {}", e.field),
        problem: e.problem,
    })
}

/// The policy in the file `$GATEPASS_POLICY` names (JSON for a `.json`
/// file, TOML otherwise), or none when the variable is unset. A file that
/// cannot be read or parsed is an error naming the variable: a deployment
/// that sets it must not run without the policy it meant.
pub fn policy() -> Result<Option<Policy>, PolicyError> {
    policy_path()
        .map(|path| read_policy_file(&path, POLICY))
        .transpose()
}

/// The policy a gate opened without one finds outside the store:
/// `$GATEPASS_POLICY`, else `./gatepass.toml`, else none (then the store's
/// recorded policy, else the default, see [`crate::Gate::open`]). A file
/// that is named or present but unreadable or invalid is an error, never
/// skipped: running under another policy than the one meant is worse than
/// not starting.
pub fn discover_policy() -> Result<Option<(Policy, PolicySource)>, PolicyError> {
    if let Some(path) = policy_path() {
        return read_policy_file(&path, POLICY).map(|p| Some((p, PolicySource::Env(path))));
    }
    let local = std::path::Path::new(".").join(POLICY_FILE);
    if local.is_file() {
        let path = local.to_string_lossy().into_owned();
        return read_policy_file(&path, POLICY_FILE).map(|p| Some((p, PolicySource::File(path))));
    }
    Ok(None)
}

/// Where a gate's policy came from, and what differed from the store's
/// record when it was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOrigin {
    pub source: PolicySource,
    /// Set when an explicit policy differed from the one recorded in the
    /// store (a rolling deploy, or a process started with another file), or
    /// could not be compared with it or recorded: says what and why. Never
    /// stops the gate opening; the bindings log it as a warning.
    pub mismatch: Option<String>,
}

/// Who records a policy: this process, and the user running it when the
/// environment says.
fn recorder() -> String {
    let pid = std::process::id();
    let user = ["USER", "USERNAME"].iter().find_map(|v| var(v)).map(|u| {
        u.chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect::<String>()
    });
    match user {
        Some(u) => format!("user:{u} process:{pid}"),
        None => format!("process:{pid}"),
    }
}

fn rfc3339(at: Millis) -> String {
    // Read from the store: clamped to what humantime formats (years 1970 to 9999).
    let at = u64::try_from(at.clamp(0, crate::clock::MAX_MILLIS)).unwrap_or(0);
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The kinds of a policy as people read them: `personal (lb_pat), channel (lb_ch)`.
#[must_use]
pub fn kinds_text(policy: &Policy) -> String {
    policy
        .kinds()
        .iter()
        .map(|k| format!("{} ({})", k.name, k.prefix))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What differs between the given policy and the recorded one, in a line.
fn difference(given: &Policy, source: &PolicySource, recorded: &PolicyRecord) -> String {
    let then = format!(
        "recorded by {} at {} from {}",
        recorded.recorded_by,
        rfc3339(recorded.recorded_at),
        recorded.source
    );
    let what = match Policy::from_json(&recorded.document) {
        Ok(old) if kinds_text(&old) != kinds_text(given) => format!(
            "kinds {} here, {} recorded",
            kinds_text(given),
            kinds_text(&old)
        ),
        Ok(_) => "same kinds and prefixes, other rules differ".to_owned(),
        Err(e) => format!("the recorded one cannot be read by this version: {e}"),
    };
    format!("the policy in force ({source}) differs from the one in the store ({then}): {what}")
}

/// Records `policy` as the store's policy. The one place a policy change is
/// written, so it is where an audit event for the change belongs.
fn record_policy_change(
    store: &dyn Store,
    policy: &Policy,
    source: &PolicySource,
    now: Millis,
) -> Result<(), GateError> {
    store.record_policy(&PolicyRecord {
        document: policy.to_canonical_json(),
        source: source.to_string(),
        recorded_by: recorder(),
        recorded_at: now,
    })?;
    Ok(())
}

/// The policy a gate over `store` works under, and where it came from:
/// `given`, else [`discover_policy`], else the policy recorded in the
/// store, else the default. An explicit policy is compared with the
/// recorded one and recorded when it differs (or none is recorded); a
/// difference, or a store that cannot be read or written, is reported in
/// [`PolicyOrigin::mismatch`] and never stops the gate opening, so old and
/// new processes of a rolling deploy both run. Without an explicit policy,
/// a store that cannot be read is an error: guessing the default is how a
/// tool ends up issuing keys of the wrong kind.
pub fn resolve_policy(
    store: &dyn Store,
    given: Option<Policy>,
    now: Millis,
) -> Result<(Policy, PolicyOrigin), GateError> {
    let explicit = match given {
        Some(p) => Some((p, PolicySource::Argument)),
        None => discover_policy()?,
    };
    let Some((policy, source)) = explicit else {
        let Some(recorded) = store.recorded_policy()? else {
            return Ok((
                Policy::default(),
                PolicyOrigin {
                    source: PolicySource::Default,
                    mismatch: None,
                },
            ));
        };
        let policy = Policy::from_json(&recorded.document).map_err(|e| PolicyError {
            field: format!("the policy recorded in the store ({})", e.field),
            problem: format!(
                "{}; give the policy explicitly (${POLICY} or ./{POLICY_FILE})",
                e.problem
            ),
        })?;
        return Ok((
            policy,
            PolicyOrigin {
                source: PolicySource::Store,
                mismatch: None,
            },
        ));
    };
    let mismatch = match store.recorded_policy() {
        // Compared as canonical documents: the order implications were
        // written in, comments and spelt-out defaults change nothing.
        Ok(Some(recorded))
            if Policy::from_json(&recorded.document)
                .is_ok_and(|p| p.to_canonical_json() == policy.to_canonical_json()) =>
        {
            None
        }
        Ok(recorded) => {
            let report = recorded.as_ref().map(|r| difference(&policy, &source, r));
            match record_policy_change(store, &policy, &source, now) {
                Ok(()) => report.map(|r| r + "; this process uses the one in force and has recorded it"),
                Err(e) => Some(format!(
                    "{}could not record the policy in the store: {e}",
                    report.map(|r| r + "; ").unwrap_or_default()
                )),
            }
        }
        Err(e) => Some(format!(
            "could not compare the policy in force ({source}) with the one recorded in the store: {e}"
        )),
    };
    Ok((policy, PolicyOrigin { source, mismatch }))
}

/// `$GATEPASS_EVENTS_RETENTION` as a duration with units (`"90d"`), `never`
/// (keep events forever, `None`), or unset: the default of one year. A value
/// that does not parse is an error naming the variable: silently keeping
/// events longer (or shorter) than a deployment asked would be worse.
pub fn events_retention() -> Result<Option<std::time::Duration>, crate::GateError> {
    parse_events_retention(var(EVENTS_RETENTION).as_deref())
}

/// [`events_retention`] for the variable's value (`None`: unset).
fn parse_events_retention(
    text: Option<&str>,
) -> Result<Option<std::time::Duration>, crate::GateError> {
    let Some(text) = text else {
        return Ok(Some(crate::audit::DEFAULT_RETENTION));
    };
    if text.trim().eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    crate::duration::parse(text)
        .map(Some)
        .map_err(|e| crate::GateError::InvalidArgument(format!("{EVENTS_RETENTION}: {e}")))
}

/// The usage history settings `$GATEPASS_USAGE_HOURLY_FOR` and
/// `$GATEPASS_USAGE_RETENTION` ask for, each defaulting on its own. A value
/// that does not parse is an error naming the variable, never a silent
/// default: history deleted early cannot be brought back.
pub fn usage_history() -> Result<crate::history::HistorySettings, crate::GateError> {
    usage_history_from(var(USAGE_HOURLY_FOR), var(USAGE_RETENTION))
}

fn usage_history_from(
    hourly_for: Option<String>,
    retention: Option<String>,
) -> Result<crate::history::HistorySettings, crate::GateError> {
    use crate::history::{HistorySettings, DEFAULT_HOURLY_FOR, DEFAULT_RETENTION};
    let parse = |name: &str, text: &str| {
        crate::duration::parse(text)
            .map_err(|e| crate::GateError::InvalidArgument(format!("{name}: {e}")))
    };
    let hourly_for = match hourly_for {
        None => DEFAULT_HOURLY_FOR,
        Some(text) => parse(USAGE_HOURLY_FOR, &text)?,
    };
    let retention = match retention {
        // A longer hourly period alone stretches the default retention with it.
        None => DEFAULT_RETENTION.max(hourly_for),
        Some(text) => parse(USAGE_RETENTION, &text)?,
    };
    HistorySettings::new(hourly_for, retention).map_err(|e| {
        crate::GateError::InvalidArgument(format!("{USAGE_HOURLY_FOR}/{USAGE_RETENTION}: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_retention_reads_durations_and_never() {
        let day = std::time::Duration::from_secs(86_400);
        assert_eq!(
            parse_events_retention(None).ok(),
            Some(Some(crate::audit::DEFAULT_RETENTION))
        );
        assert_eq!(
            parse_events_retention(Some("30d")).ok(),
            Some(Some(30 * day))
        );
        assert_eq!(parse_events_retention(Some(" Never ")).ok(), Some(None));
        for bad in ["30", "forever", "-1d", "99999999d"] {
            let e = parse_events_retention(Some(bad))
                .err()
                .map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|m| m.contains(EVENTS_RETENTION)),
                "{bad}: {e:?}"
            );
        }
    }

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

    #[test]
    #[allow(clippy::unwrap_used)]
    fn usage_history_settings_default_each_alone_and_refuse_nonsense() {
        use std::time::Duration;
        let days = |n: u64| Duration::from_secs(n * 86_400);
        let s = usage_history_from(None, None).unwrap();
        assert_eq!((s.hourly_for, s.retention), (days(30), days(365)));
        let s = usage_history_from(Some("7d".into()), None).unwrap();
        assert_eq!((s.hourly_for, s.retention), (days(7), days(365)));
        let s = usage_history_from(Some("400d".into()), None).unwrap();
        assert_eq!(s.retention, days(400));
        let s = usage_history_from(None, Some("90d".into())).unwrap();
        assert_eq!((s.hourly_for, s.retention), (days(30), days(90)));
        let e = usage_history_from(Some("soon".into()), None).unwrap_err();
        assert!(e.to_string().contains(USAGE_HOURLY_FOR), "{e}");
        let e = usage_history_from(Some("90".into()), None).unwrap_err();
        assert!(e.to_string().contains(USAGE_HOURLY_FOR), "{e}");
        let e = usage_history_from(Some("30d".into()), Some("7d".into())).unwrap_err();
        assert!(e.to_string().contains(USAGE_RETENTION), "{e}");
    }
}

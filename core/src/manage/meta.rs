//! `GET meta`: what the create dialog may offer this principal.

use std::time::Duration;

use serde_json::{json, Value};

use super::keys::{default_kind, permitted_kinds, MAX_PAGE, MAX_SCOPES};
use super::{http, Principal, Response, MAX_BODY_BYTES};

use crate::gate::{Gate, MAX_NAME_LEN};
use crate::policy::{Kind, Policy};
use crate::scope::Scope;

/// The scopes a principal may choose for a key of `kind`: the catalogue's
/// scopes within the kind's patterns and the principal's ceiling; without a
/// catalogue, the narrower of the two lists of patterns. `any` is true when
/// nothing narrows the choice (no catalogue, no kind patterns, no ceiling):
/// any well-formed scope may be typed in.
fn choosable(policy: &Policy, kind: &Kind, ceiling: Option<&[Scope]>) -> (Vec<String>, bool) {
    let within =
        |s: &Scope, list: Option<&[Scope]>| list.is_none_or(|l| l.iter().any(|p| p.covers(s)));
    let allowed = kind.allowed.as_deref();
    let scopes: Vec<&Scope> = if !policy.catalogue.is_empty() {
        policy
            .catalogue
            .iter()
            .filter(|s| within(s, allowed) && within(s, ceiling))
            .collect()
    } else {
        match (allowed, ceiling) {
            (None, None) => return (Vec::new(), true),
            (Some(a), None) => a.iter().collect(),
            (None, Some(c)) => c.iter().collect(),
            (Some(a), Some(c)) => c.iter().filter(|s| within(s, Some(a))).collect(),
        }
    };
    (scopes.iter().map(ToString::to_string).collect(), false)
}

/// A duration in its largest whole unit (`"90d"`, `"12h"`, `"90s"`), as
/// people write them in a policy and as [`crate::duration::parse`] reads
/// them back; never months, whose length varies.
#[must_use]
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= size && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

pub(super) fn meta(gate: &Gate, principal: &Principal) -> Response {
    let policy = gate.policy();
    let kinds: Vec<Value> = permitted_kinds(gate, principal)
        .into_iter()
        .map(|kind| {
            let (scopes, any_scope) = choosable(policy, kind, principal.scope_ceiling.as_deref());
            json!({
                "name": kind.name,
                "prefix": kind.prefix,
                "scopes": scopes,
                "any_scope": any_scope,
                // The policy has no default scopes: a key is given what the
                // dialog chooses, and none when nothing is chosen.
                "default_scopes": [],
                "default_lifetime": kind.default_lifetime.map(format_duration),
                "max_lifetime": kind.max_lifetime.map(format_duration),
                "rate_limit": kind.rate_limit.map(|r| r.to_string()),
            })
        })
        .collect();
    http::json(
        200,
        &json!({
            "operator": principal.is_operator(),
            "default_kind": default_kind(gate, principal).map(|k| k.name.clone()),
            "kinds": kinds,
            "limits": {
                "name": MAX_NAME_LEN,
                "scopes": MAX_SCOPES,
                "page": MAX_PAGE,
                "body": MAX_BODY_BYTES,
            },
        }),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_back_as_they_are_shown() {
        for (text, shown) in [
            ("90d", "90d"),
            ("365d", "365d"),
            ("36h", "36h"),
            ("1h 30m", "90m"),
            ("90s", "90s"),
            ("1500ms", "1500ms"),
            ("2w", "14d"),
        ] {
            let d = crate::duration::parse(text).unwrap();
            assert_eq!(format_duration(d), shown, "{text}");
            assert_eq!(crate::duration::parse(shown).unwrap(), d, "{text}");
        }
        assert_eq!(format_duration(Duration::ZERO), "0ms");
    }
}

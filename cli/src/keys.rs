//! `gatepass keys …`: issue, list, show and change keys.

use std::time::Duration;

use gatepass_core::duration;
use gatepass_core::gate::{IssueRequest, Issued};
use gatepass_core::key::{KeyRecord, Status};
use gatepass_core::ratelimit::RateLimit;
use gatepass_core::scope;

use crate::args::{IssueArgs, KeysCommand, ListArgs, RotateArgs};
use crate::json::Json;
use crate::output::{table, Output};
use crate::time::{iso, short};
use crate::{Context, Failure, EXIT_OK};

/// Page size when `--all` walks every page.
const ALL_PAGE_SIZE: usize = 500;

pub fn run(ctx: &Context<'_>, action: &KeysCommand, o: &mut Output<'_>) -> Result<i32, Failure> {
    let gate = ctx.gate;
    let fail = |e: gatepass_core::GateError| ctx.failure(&e);
    match action {
        KeysCommand::Issue(a) => {
            let issued = gate.issue_as(issue_request(a)?, ctx.actor).map_err(fail)?;
            show_issued(&issued, o, "Issued");
        }
        KeysCommand::List(a) => list(ctx, a, o)?,
        KeysCommand::Show(a) => {
            let key = gate.get(&a.key_id).map_err(fail)?;
            o.emit(&key_json(&key), &key_details(&key));
        }
        KeysCommand::Rotate(RotateArgs { key_id, grace }) => {
            let grace = match grace {
                Some(g) => duration::parse(g).map_err(|e| Failure::from_core(&e))?,
                None => Duration::ZERO,
            };
            let issued = gate.rotate_as(key_id, grace, ctx.actor).map_err(fail)?;
            show_issued(&issued, o, "Rotated");
        }
        KeysCommand::Revoke(a) => changed(
            gate.revoke_as(&a.key_id, ctx.actor).map_err(fail)?,
            "Revoked",
            o,
        ),
        KeysCommand::Deactivate(a) => changed(
            gate.deactivate_as(&a.key_id, ctx.actor).map_err(fail)?,
            "Deactivated",
            o,
        ),
        KeysCommand::Activate(a) => {
            changed(
                gate.activate_as(&a.key_id, ctx.actor).map_err(fail)?,
                "Activated",
                o,
            );
        }
        KeysCommand::Delete(a) => {
            gate.delete_as(&a.key_id, ctx.actor).map_err(fail)?;
            o.emit(
                &Json::object([("deleted", a.key_id.as_str().into())]),
                &format!("Deleted {}.", a.key_id),
            );
        }
    }
    Ok(EXIT_OK)
}

/// `--scope a,b --scope c` → `[a, b, c]`.
pub fn split_scopes<'a>(values: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    values
        .into_iter()
        .flat_map(|v| {
            v.replace(',', " ")
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn issue_request(a: &IssueArgs) -> Result<IssueRequest, Failure> {
    let scopes = split_scopes(a.scopes.iter().flatten());
    let remaining = match a.remaining {
        Some(n) if n < 0 => {
            return Err(Failure::coded(
                "invalid_argument",
                "remaining must be a non-negative integer".into(),
            ))
        }
        // Past u64 it is past the core's bound too: the core refuses it.
        Some(n) => Some(u64::try_from(n).unwrap_or(u64::MAX)),
        None => None,
    };
    Ok(IssueRequest {
        name: a.name.clone(),
        kind: a.kind.clone(),
        scopes: scope::parse_list(&scopes).map_err(|e| Failure::from_core(&e))?,
        subject: a.subject.clone(),
        resource: a.resource.clone(),
        metadata: a.metadata.clone().unwrap_or_default(),
        expires_in: a
            .expires_in
            .as_deref()
            .map(duration::parse)
            .transpose()
            .map_err(|e| Failure::from_core(&e))?,
        expires_at: a.expires_at,
        rate_limit: a
            .rate_limit
            .as_deref()
            .map(str::parse::<RateLimit>)
            .transpose()
            .map_err(|e| Failure::from_core(&e))?,
        remaining,
    })
}

fn show_issued(issued: &Issued, o: &mut Output<'_>, verb: &str) {
    let key = &issued.key;
    let token = issued.token.expose();
    let text = format!(
        "{verb} {} ({}).\nToken (shown once, store it now):\n\n    {token}\n\n{}",
        key.id,
        key.name,
        key_details(key)
    );
    let data = Json::object([("token", token.into()), ("key", key_json(key))]);
    o.emit(&data, &text);
}

fn changed(key: KeyRecord, verb: &str, o: &mut Output<'_>) {
    let text = format!(
        "{verb} {} ({}); status: {}.",
        key.id,
        key.name,
        key.status.as_str()
    );
    o.emit(&key_json(&key), &text);
}

fn list(ctx: &Context<'_>, a: &ListArgs, o: &mut Output<'_>) -> Result<(), Failure> {
    let status = a
        .status
        .as_deref()
        .map(str::parse::<Status>)
        .transpose()
        .map_err(|e| Failure::coded("invalid_argument", e))?;
    let fetch = |after: Option<&str>, limit: usize| {
        ctx.gate
            .list(a.subject.clone(), a.kind.clone(), status, after, limit)
            .map_err(|e| ctx.failure(&e))
    };
    let (keys, next) = if a.all {
        let mut keys = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = fetch(after.as_deref(), ALL_PAGE_SIZE)?;
            keys.extend(page.keys);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        (keys, None)
    } else {
        let page = fetch(a.after.as_deref(), a.limit)?;
        (page.keys, page.next)
    };
    let mut text = if keys.is_empty() {
        "No keys.".to_owned()
    } else {
        keys_table(&keys)
    };
    if let Some(next) = &next {
        text.push_str(&format!("\n\nMore: --after {next}"));
    }
    let data = Json::object([
        ("keys", Json::Array(keys.iter().map(key_json).collect())),
        ("next", next.clone().into()),
    ]);
    o.emit(&data, &text);
    Ok(())
}

fn when(at: Option<i64>) -> String {
    at.map_or_else(|| "-".to_owned(), short)
}

fn keys_table(keys: &[KeyRecord]) -> String {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            let name = if k.name.chars().count() <= 32 {
                k.name.clone()
            } else {
                k.name.chars().take(31).collect::<String>() + "…"
            };
            vec![
                k.id.clone(),
                name,
                format!("{}…", k.start),
                k.status.as_str().to_owned(),
                short(k.created_at),
                when(k.expires_at),
                k.usage_count.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "ID", "NAME", "START", "STATUS", "CREATED", "EXPIRES", "USAGE",
        ],
        &rows,
    )
}

/// A key record as `--json` shows it. Never holds a secret.
pub fn key_json(key: &KeyRecord) -> Json {
    let time = |at: Option<i64>| Json::from(at.map(iso));
    let rate = |r: Option<RateLimit>| Json::from(r.map(|r| r.to_string()));
    Json::object([
        ("id", key.id.as_str().into()),
        ("name", key.name.as_str().into()),
        ("kind", key.kind.as_str().into()),
        ("start", key.start.as_str().into()),
        (
            "scopes",
            Json::from(
                key.scopes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            ),
        ),
        ("subject", key.subject.clone().into()),
        ("resource", key.resource.clone().into()),
        (
            "metadata",
            Json::from(&serde_json::Value::Object(key.metadata.clone())),
        ),
        ("status", key.status.as_str().into()),
        ("created_at", iso(key.created_at).into()),
        ("updated_at", iso(key.updated_at).into()),
        ("expires_at", time(key.expires_at)),
        ("revoked_at", time(key.revoked_at)),
        ("last_used_at", time(key.last_used_at)),
        ("usage_count", key.usage_count.into()),
        ("rate_limit", rate(key.rate_limit)),
        ("remaining", key.remaining.into()),
        ("effective_rate_limit", rate(key.effective_rate_limit)),
    ])
}

/// The limit that applies, so a key under its kind's default does not read
/// as unlimited; the core decides which one that is.
fn rate_limit_text(key: &KeyRecord) -> String {
    match (key.effective_rate_limit, key.rate_limit) {
        (None, _) => "-".into(),
        (Some(effective), None) => format!("{effective} (default of kind {})", key.kind),
        (Some(effective), Some(_)) => effective.to_string(),
    }
}

/// `name:         value` lines, one per field.
pub fn key_details(key: &KeyRecord) -> String {
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let scopes = key
        .scopes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let metadata = if key.metadata.is_empty() {
        "-".to_owned()
    } else {
        Json::from(&serde_json::Value::Object(key.metadata.clone())).compact()
    };
    let fields: [(&str, String); 17] = [
        ("id", key.id.clone()),
        ("name", key.name.clone()),
        ("kind", key.kind.clone()),
        ("start", key.start.clone()),
        ("status", key.status.as_str().to_owned()),
        (
            "scopes",
            if scopes.is_empty() {
                "-".into()
            } else {
                scopes
            },
        ),
        ("subject", dash(key.subject.clone())),
        ("resource", dash(key.resource.clone())),
        ("created_at", iso(key.created_at)),
        ("updated_at", iso(key.updated_at)),
        ("expires_at", dash(key.expires_at.map(iso))),
        ("revoked_at", dash(key.revoked_at.map(iso))),
        ("last_used_at", dash(key.last_used_at.map(iso))),
        ("usage_count", key.usage_count.to_string()),
        ("rate_limit", rate_limit_text(key)),
        ("remaining", dash(key.remaining.map(|r| r.to_string()))),
        ("metadata", metadata),
    ];
    fields
        .iter()
        .map(|(name, value)| format!("{:<14}{value}", format!("{name}:")))
        .collect::<Vec<_>>()
        .join("\n")
}

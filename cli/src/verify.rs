//! `gatepass verify`: checks a token as a route would, without spending
//! anything unless `--spend` is given.

use std::io::BufRead;

use gatepass_core::outcome::Verification;
use gatepass_core::scope::{Requirement, ScopeSpec};

use crate::args::VerifyArgs;
use crate::json::Json;
use crate::keys::{key_json, split_scopes};
use crate::output::Output;
use crate::{Context, Failure, EXIT_OK, EXIT_REJECTED};

/// The environment variable a token can come from, out of the process list.
const TOKEN_VAR: &str = "GATEPASS_TOKEN";

fn requirement(a: &VerifyArgs) -> Result<Requirement, Failure> {
    let scopes = a.scopes.as_deref().map(str::trim).map(|s| {
        let padded = format!(" {s} ");
        if padded.contains(" and ") || padded.contains(" or ") || s.contains('(') {
            ScopeSpec::Expr(s.to_owned())
        } else {
            ScopeSpec::List(split_scopes([&s.to_owned()]))
        }
    });
    let any = a.any_scopes.as_ref().map(|s| split_scopes([s]));
    Requirement::from_args(scopes, any.as_deref()).map_err(|e| Failure::from_core(&e))
}

pub fn run(
    ctx: &Context<'_>,
    a: &VerifyArgs,
    stdin: &mut dyn BufRead,
    o: &mut Output<'_>,
) -> Result<i32, Failure> {
    let credential = match a.credential.as_deref() {
        Some("-") => {
            let mut line = String::new();
            stdin
                .read_line(&mut line)
                .map_err(|e| Failure::io(&e, "<stdin>"))?;
            Some(line.trim().to_owned())
        }
        Some(given) => Some(given.to_owned()),
        None => std::env::var(TOKEN_VAR).ok(),
    };
    let requirement = requirement(a)?;
    let header = credential.as_deref().map(str::as_bytes);
    let resource = a.resource.as_deref();
    // Checking a production key by hand must not use up its limits.
    let v = if a.spend {
        ctx.gate.verify(header, &requirement, resource)
    } else {
        ctx.gate
            .verify_without_spending(header, &requirement, resource)
    }
    .map_err(|e| ctx.failure(&e))?;
    let (data, text) = describe(ctx, &v);
    o.emit(&data, &text);
    Ok(if v.ok() { EXIT_OK } else { EXIT_REJECTED })
}

fn describe(ctx: &Context<'_>, v: &Verification) -> (Json, String) {
    let headers = Json::Object(
        v.headers()
            .into_iter()
            .map(|(name, value)| (name, value.into()))
            .collect(),
    );
    let problem = v.problem().map_or(Json::Null, |p| {
        let mut body = Json::object([
            ("type", p.type_.into()),
            ("title", p.title.into()),
            ("status", u64::from(p.status).into()),
            ("detail", p.detail.as_str().into()),
            ("code", p.code.into()),
        ]);
        if !p.missing_scopes.is_empty() {
            body.push("missing_scopes", p.missing_scopes.clone().into());
        }
        body
    });
    let mut data = Json::object([
        ("ok", v.ok().into()),
        ("code", v.code().into()),
        ("status", u64::from(v.status()).into()),
        ("headers", headers),
        (
            "missing_scopes",
            v.missing_scopes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .into(),
        ),
        ("problem", problem),
        ("key", v.key.as_deref().map_or(Json::Null, key_json)),
    ]);
    let text = match v.key.as_deref() {
        Some(key) if v.ok() => {
            let scopes = key
                .scopes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ");
            let scopes = if scopes.is_empty() {
                "-".into()
            } else {
                scopes
            };
            format!("valid: {} ({}), scopes: {scopes}", key.id, key.name)
        }
        key => {
            let mut text = format!("{} ({}): {}", v.code(), v.status(), v.detail);
            if v.code() == "malformed_token" && v.detail.contains("prefix") {
                // Most often the wrong policy, not a bad token: say which one.
                let prefixes = ctx
                    .gate
                    .policy()
                    .kinds()
                    .iter()
                    .map(|k| k.prefix.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                data.push("policy", ctx.policy_source.into());
                text.push_str(&format!(
                    "\npolicy in force: {}; token prefixes it knows: {prefixes}",
                    ctx.policy_source
                ));
            }
            if let Some(key) = key {
                text.push_str(&format!("\nkey: {} ({})", key.id, key.name));
            }
            text
        }
    };
    (data, text)
}

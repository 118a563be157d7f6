//! `gatepass webhook …`: make a secret, sign a body, verify a delivery.

use std::io::BufRead;

use gatepass_core::webhook::{
    generate_secret, Headers, Scheme, SignOptions, VerifierOptions, WebhookSigner, WebhookVerifier,
};
use gatepass_core::{clock, duration};

use crate::args::WebhookCommand;
use crate::json::Json;
use crate::output::Output;
use crate::{Failure, EXIT_OK, EXIT_REJECTED};

/// The environment variable secrets can come from (comma-separated for
/// several), out of the process list.
const SECRET_VAR: &str = "GATEPASS_WEBHOOK_SECRET";

fn scheme(name: &str) -> Result<Scheme, Failure> {
    name.parse::<Scheme>().map_err(|e| Failure::from_core(&e))
}

fn secrets(given: &[String]) -> Result<Vec<String>, Failure> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let from_env: Vec<String> = std::env::var(SECRET_VAR)
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    // An empty list (unset, empty, or only commas) is a usage error here, so
    // callers can take the first secret without checking.
    match from_env.is_empty() {
        false => Ok(from_env),
        true => Err(Failure::Usage(format!(
            "a secret is needed: --secret or ${SECRET_VAR}"
        ))),
    }
}

fn body(path: Option<&str>, stdin: &mut dyn BufRead) -> Result<Vec<u8>, Failure> {
    match path {
        None | Some("-") => {
            let mut body = Vec::new();
            stdin
                .read_to_end(&mut body)
                .map_err(|e| Failure::io(&e, "<stdin>"))?;
            Ok(body)
        }
        Some(path) => std::fs::read(path).map_err(|e| Failure::io(&e, path)),
    }
}

pub fn run(
    action: &WebhookCommand,
    stdin: &mut dyn BufRead,
    o: &mut Output<'_>,
) -> Result<i32, Failure> {
    let core = |e: &dyn gatepass_core::Coded| Failure::coded(e.code(), e.to_string());
    match action {
        WebhookCommand::Secret(a) => {
            let secret = generate_secret(scheme(&a.scheme)?).map_err(|e| core(&e))?;
            let data = Json::object([
                ("scheme", a.scheme.as_str().into()),
                ("secret", secret.as_str().into()),
            ]);
            o.emit(&data, &secret);
        }
        WebhookCommand::Sign(a) => {
            let secret = secrets(&a.secret)?;
            let body = body(a.body_file.as_deref(), stdin)?;
            let first = secret
                .first()
                .ok_or_else(|| Failure::Usage("a secret is needed".to_owned()))?;
            let signer = WebhookSigner::new(scheme(&a.scheme)?, first, clock::system())
                .map_err(|e| core(&e))?;
            let headers = signer
                .sign(
                    &body,
                    SignOptions {
                        id: a.id.clone(),
                        timestamp: a.timestamp,
                        url: a.url.clone(),
                    },
                )
                .map_err(|e| core(&e))?;
            let text = headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("\n");
            let data = Json::object([(
                "headers",
                Json::Object(headers.into_iter().map(|(k, v)| (k, v.into())).collect()),
            )]);
            o.emit(&data, &text);
        }
        WebhookCommand::Verify(a) => {
            let mut options = VerifierOptions::default();
            if let Some(t) = a.tolerance.as_deref() {
                options.tolerance =
                    if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("off") {
                        None
                    } else {
                        Some(duration::parse(t).map_err(|e| core(&e))?)
                    };
            }
            let verifier = WebhookVerifier::new(scheme(&a.scheme)?, &secrets(&a.secret)?, options)
                .map_err(|e| core(&e))?;
            let body = body(a.body_file.as_deref(), stdin)?;
            let headers = Headers::from_pairs(a.header.iter().map(|(k, v)| (k, v.as_bytes())));
            match verifier.verify(&body, &headers, a.url.as_deref()) {
                Ok(msg) => {
                    let scheme = msg.scheme.as_str();
                    let data = Json::object([
                        ("ok", true.into()),
                        ("scheme", scheme.into()),
                        ("id", msg.id.clone().into()),
                        ("timestamp", msg.timestamp.into()),
                    ]);
                    let id = msg
                        .id
                        .as_deref()
                        .map(|id| format!(" {id}"))
                        .unwrap_or_default();
                    o.emit(&data, &format!("valid {scheme} webhook{id}"));
                }
                Err(e) => {
                    let data = Json::object([
                        ("ok", false.into()),
                        ("code", e.code().into()),
                        ("message", e.to_string().into()),
                    ]);
                    o.emit(&data, &format!("{}: {e}", e.code()));
                    return Ok(EXIT_REJECTED);
                }
            }
        }
    }
    Ok(EXIT_OK)
}

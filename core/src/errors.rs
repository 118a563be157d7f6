//! The one table of error codes and the HTTP rendering of every error that
//! can reach a client.
//!
//! Every failure gatepass reports has a stable code. This module says, once,
//! what each code means over HTTP (status, title, headers, RFC 9457 body) and
//! which error class a binding raises for it, so Python and Node build their
//! exception classes from the same rows and every framework helper answers
//! the same request with the same bytes. Verification outcomes are rendered by
//! [`crate::outcome::Verification::http`] (their headers depend on the
//! verification); their rows here must agree with it, and a test checks that.
//!
//! Server-side failures (a store that is down, a misconfiguration, a bug) are
//! answered with a fixed, generic detail: the backend's own message (a host
//! name, a driver's error text) goes to the exception and the log, never to
//! the client.

use crate::duration::DurationError;
use crate::error::{GateError, StoreError};
use crate::outcome::{HttpResponse, Outcome, Problem};
use crate::policy::PolicyError;
use crate::ratelimit::RateLimitParseError;
use crate::scope::ScopeError;
use crate::webhook::{ReplayGuardError, Scheme, WebhookConfigError, WebhookError};

/// One row of the code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    /// The stable code (`not_found`, `invalid_signature`, …).
    pub code: &'static str,
    /// The HTTP status a framework answers with.
    pub status: u16,
    /// The error class a binding raises, identical in every language.
    pub class: &'static str,
    /// The class it derives from (`GatepassError` at the root).
    pub parent: &'static str,
    /// The RFC 9457 `title` (the status's reason phrase).
    pub title: &'static str,
    /// For server-side failures: the only `detail` a client ever sees.
    pub public_detail: Option<&'static str>,
}

/// The root of every binding's error classes.
pub const ROOT_CLASS: &str = "GatepassError";

/// `Retry-After` (seconds) on a 503: a restarting Postgres or a Redis
/// failover is usually back within seconds, and webhook senders retry.
pub const RETRY_AFTER_SECS: &str = "1";

/// The realm of the challenge sent with a 401 webhook answer.
pub const WEBHOOK_REALM: &str = "webhook";

const fn row(
    code: &'static str,
    status: u16,
    class: &'static str,
    parent: &'static str,
) -> ErrorCode {
    ErrorCode {
        code,
        status,
        class,
        parent,
        title: reason(status),
        public_detail: None,
    }
}

const fn server(
    code: &'static str,
    status: u16,
    class: &'static str,
    public_detail: &'static str,
) -> ErrorCode {
    ErrorCode {
        code,
        status,
        class,
        parent: ROOT_CLASS,
        title: reason(status),
        public_detail: Some(public_detail),
    }
}

const fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

const AUTH: &str = "AuthError";

/// Every code gatepass reports, in one place.
pub const CODES: &[ErrorCode] = &[
    // Verification outcomes (`authenticate` raises them; `verify` returns them).
    row("invalid_request", 400, "BadRequest", AUTH),
    row("missing_credentials", 401, "Unauthorized", AUTH),
    row("malformed_token", 401, "Unauthorized", AUTH),
    row("unknown_key", 401, "Unauthorized", AUTH),
    row("inactive", 401, "Unauthorized", AUTH),
    row("revoked", 401, "Unauthorized", AUTH),
    row("expired", 401, "Unauthorized", AUTH),
    row("forbidden_resource", 403, "Forbidden", AUTH),
    row("insufficient_scope", 403, "Forbidden", AUTH),
    row("rate_limited", 429, "RateLimited", AUTH),
    row("usage_exceeded", 429, "RateLimited", AUTH),
    // Webhooks: a malformed delivery is 400; one that does not prove its
    // origin is 401 (with a challenge, as RFC 9110 requires); a replay is a
    // conflict with a delivery already accepted.
    row("missing_header", 400, "WebhookError", ROOT_CLASS),
    row("invalid_header", 400, "WebhookError", ROOT_CLASS),
    row("timestamp_too_old", 401, "WebhookError", ROOT_CLASS),
    row("timestamp_too_new", 401, "WebhookError", ROOT_CLASS),
    row("invalid_signature", 401, "WebhookError", ROOT_CLASS),
    row("replayed", 409, "WebhookError", ROOT_CLASS),
    server(
        "replay_guard_failed",
        503,
        "WebhookError",
        "the webhook could not be checked for replays; retry later",
    ),
    // Key management.
    row("not_found", 404, "NotFound", ROOT_CLASS),
    row("invalid_state", 409, "InvalidState", ROOT_CLASS),
    row("invalid_argument", 400, "InvalidArgument", ROOT_CLASS),
    row("unknown_kind", 400, "InvalidArgument", ROOT_CLASS),
    row("lifetime_exceeded", 400, "InvalidArgument", ROOT_CLASS),
    row("invalid_scope", 400, "InvalidArgument", ROOT_CLASS),
    row(
        "invalid_scope_expression",
        400,
        "InvalidArgument",
        ROOT_CLASS,
    ),
    row("unknown_scope", 400, "InvalidArgument", ROOT_CLASS),
    row("scope_not_allowed", 400, "InvalidArgument", ROOT_CLASS),
    // The management API's answers to requests it refuses before (or
    // instead of) a lifecycle call. They are rendered by `manage::handle` and
    // never raised by a binding; `InvalidArgument` is the class a binding
    // would raise for a request it was handed.
    row("login_required", 401, "InvalidArgument", ROOT_CLASS),
    row("cross_origin", 403, "InvalidArgument", ROOT_CLASS),
    row("kind_not_permitted", 403, "InvalidArgument", ROOT_CLASS),
    row("scope_not_permitted", 403, "InvalidArgument", ROOT_CLASS),
    row("method_not_allowed", 405, "InvalidArgument", ROOT_CLASS),
    row("body_too_large", 413, "InvalidArgument", ROOT_CLASS),
    row("unsupported_media_type", 415, "InvalidArgument", ROOT_CLASS),
    row("invalid_body", 400, "InvalidArgument", ROOT_CLASS),
    // The server's own trouble: generic bodies, details in the exception.
    server(
        "store_unavailable",
        503,
        "StoreError",
        "the key store is unavailable; retry later",
    ),
    server(
        "store_corrupt",
        503,
        "StoreError",
        "the key store cannot be read; retry later",
    ),
    server(
        "config_error",
        500,
        "ConfigError",
        "the server's gatepass configuration is invalid",
    ),
    server(
        "closed",
        500,
        ROOT_CLASS,
        "the server's gatepass instance was closed",
    ),
    server(
        INTERNAL_ERROR,
        500,
        ROOT_CLASS,
        "gatepass hit an internal error",
    ),
];

/// The code of a failure inside gatepass that is never the caller's fault.
pub const INTERNAL_ERROR: &str = "internal_error";

/// The row for `code`; an unknown code (a newer core than the binding, a bug)
/// is treated as `internal_error`.
#[must_use]
pub fn lookup(code: &str) -> &'static ErrorCode {
    CODES
        .iter()
        .find(|row| row.code == code)
        .or_else(|| CODES.iter().find(|row| row.code == INTERNAL_ERROR))
        .unwrap_or(&INTERNAL)
}

const INTERNAL: ErrorCode = server(INTERNAL_ERROR, 500, ROOT_CLASS, "internal error");

/// Every class a binding must define, parents before children, root first.
#[must_use]
pub fn classes() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = vec![(ROOT_CLASS, "")];
    // The auth parent has no code of its own but is a class users catch.
    out.push((AUTH, ROOT_CLASS));
    for row in CODES {
        if !out.iter().any(|(c, _)| *c == row.class) {
            out.push((row.class, row.parent));
        }
    }
    out
}

/// An error with a stable code, rendered over HTTP from the table.
pub trait Coded: std::fmt::Display {
    /// The stable code, identical in every binding.
    fn code(&self) -> &'static str;

    /// Status, headers and RFC 9457 body for this error.
    fn http(&self) -> HttpResponse {
        render(self.code(), &self.to_string(), None)
    }
}

macro_rules! coded {
    ($($ty:ty),* $(,)?) => {
        $(impl Coded for $ty {
            fn code(&self) -> &'static str {
                <$ty>::code(self)
            }
        })*
    };
}

coded!(
    GateError,
    StoreError,
    ScopeError,
    PolicyError,
    DurationError,
    RateLimitParseError,
    WebhookConfigError,
);

impl Coded for WebhookError {
    fn code(&self) -> &'static str {
        WebhookError::code(self)
    }
}

impl Coded for ReplayGuardError {
    fn code(&self) -> &'static str {
        "replay_guard_failed"
    }
}

/// The answer to a webhook `scheme` refused with `err`: like
/// [`Coded::http`], plus the challenge a 401 carries for that scheme.
#[must_use]
pub fn webhook_http(err: &WebhookError, scheme: Scheme) -> HttpResponse {
    render(err.code(), &err.to_string(), Some(scheme))
}

/// Renders `code` with `detail` (the error's message). `webhook` is the
/// scheme of the verifier that refused the request, for the 401 challenge.
///
/// A 401 always carries `WWW-Authenticate` (RFC 9110 §15.5.2): for the
/// `token` scheme, which reads a shared token from `Authorization`, the
/// RFC 6750 `Bearer` challenge (with `error="invalid_token"` once a token
/// was sent); for signature schemes, a `Signature` challenge naming the
/// scheme, which tells a person reading the answer what was expected.
/// A 503 carries `Retry-After`.
#[must_use]
pub fn render(code: &str, detail: &str, webhook: Option<Scheme>) -> HttpResponse {
    let row = lookup(code);
    let mut headers = Vec::new();
    // Only a webhook's 401 has a scheme to challenge with: the management
    // API's `login_required` stands for the host's own login (a session
    // cookie, usually), which no standard challenge names.
    if row.status == 401 && (row.class == "WebhookError" || webhook.is_some()) {
        let value = match webhook {
            Some(Scheme::Token) | None => {
                let mut v = format!("Bearer realm=\"{WEBHOOK_REALM}\"");
                if row.code == "invalid_signature" {
                    v.push_str(", error=\"invalid_token\"");
                }
                v
            }
            Some(scheme) => format!(
                "Signature realm=\"{WEBHOOK_REALM}\", scheme=\"{}\"",
                scheme.as_str()
            ),
        };
        headers.push(("WWW-Authenticate".to_owned(), value));
    }
    if row.status == 503 {
        headers.push(("Retry-After".to_owned(), RETRY_AFTER_SECS.to_owned()));
    }
    HttpResponse {
        status: row.status,
        headers,
        problem: Some(Problem {
            type_: "about:blank",
            title: row.title,
            status: row.status,
            detail: row
                .public_detail
                .map_or_else(|| detail.to_owned(), str::to_owned),
            code: row.code,
            missing_scopes: Vec::new(),
        }),
    }
}

/// The table row of a verification outcome (`valid` has none).
#[must_use]
pub fn outcome_row(outcome: Outcome) -> Option<&'static ErrorCode> {
    CODES.iter().find(|row| row.code == outcome.code())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_titled() {
        for (i, row) in CODES.iter().enumerate() {
            assert!(
                CODES[..i].iter().all(|r| r.code != row.code),
                "{} twice",
                row.code
            );
            assert_ne!(row.title, "", "{}", row.code);
            // Every server-side failure hides its detail.
            assert_eq!(
                row.status >= 500,
                row.public_detail.is_some(),
                "{}",
                row.code
            );
        }
    }

    #[test]
    fn outcome_rows_agree_with_the_outcome_rendering() {
        for outcome in Outcome::ALL {
            match outcome_row(outcome) {
                None => assert_eq!(outcome, Outcome::Valid),
                Some(row) => {
                    assert_eq!(row.status, outcome.status(), "{}", row.code);
                    assert_eq!(row.parent, AUTH, "{}", row.code);
                }
            }
        }
    }

    #[test]
    fn every_parent_is_a_class() {
        let classes = classes();
        for (class, parent) in &classes {
            if *class != ROOT_CLASS {
                assert!(
                    classes.iter().any(|(c, _)| c == parent),
                    "{class}'s parent {parent}"
                );
            }
        }
    }

    #[test]
    fn store_failure_body_never_holds_the_backend_text() {
        let e = StoreError::unavailable("connection to db.internal:5432 refused");
        let http = e.http();
        assert_eq!(http.status, 503);
        let body = http.problem.unwrap().to_json();
        assert!(!body.contains("db.internal"), "{body}");
        assert!(http
            .headers
            .contains(&("Retry-After".to_owned(), "1".to_owned())));
        // The message keeps it, for the log.
        assert!(e.to_string().contains("db.internal"));
    }

    #[test]
    fn a_wrong_shared_token_is_a_challenged_401() {
        let http = webhook_http(&WebhookError::InvalidSignature, Scheme::Token);
        assert_eq!(http.status, 401);
        assert_eq!(
            http.headers,
            vec![(
                "WWW-Authenticate".to_owned(),
                "Bearer realm=\"webhook\", error=\"invalid_token\"".to_owned()
            )]
        );
    }

    #[test]
    fn unknown_codes_render_as_internal_errors() {
        let http = render("no_such_code", "secret detail", None);
        assert_eq!(http.status, 500);
        let problem = http.problem.unwrap();
        assert_eq!(problem.code, INTERNAL_ERROR);
        assert_ne!(problem.detail, "secret detail");
    }
}

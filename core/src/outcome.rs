//! Verification outcomes and their HTTP rendering, as data, so
//! every binding and framework answers a failed request with the same status,
//! headers and RFC 9457 problem body.

use std::sync::Arc;

use serde::Serialize;

use crate::key::KeyRecord;
use crate::ratelimit::RateDecision;
use crate::scope::Scope;

/// What `verify` concluded. The codes are identical in every binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Valid,
    MissingCredentials,
    InvalidRequest,
    MalformedToken,
    UnknownKey,
    Inactive,
    Revoked,
    Expired,
    ForbiddenResource,
    InsufficientScope,
    RateLimited,
    UsageExceeded,
}

impl Outcome {
    pub const ALL: [Outcome; 12] = [
        Self::Valid,
        Self::MissingCredentials,
        Self::InvalidRequest,
        Self::MalformedToken,
        Self::UnknownKey,
        Self::Inactive,
        Self::Revoked,
        Self::Expired,
        Self::ForbiddenResource,
        Self::InsufficientScope,
        Self::RateLimited,
        Self::UsageExceeded,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::MissingCredentials => "missing_credentials",
            Self::InvalidRequest => "invalid_request",
            Self::MalformedToken => "malformed_token",
            Self::UnknownKey => "unknown_key",
            Self::Inactive => "inactive",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::ForbiddenResource => "forbidden_resource",
            Self::InsufficientScope => "insufficient_scope",
            Self::RateLimited => "rate_limited",
            Self::UsageExceeded => "usage_exceeded",
        }
    }

    /// HTTP status for a failure; 200 for `valid` (the handler decides).
    pub fn status(self) -> u16 {
        match self {
            Self::Valid => 200,
            Self::InvalidRequest => 400,
            Self::MissingCredentials
            | Self::MalformedToken
            | Self::UnknownKey
            | Self::Inactive
            | Self::Revoked
            | Self::Expired => 401,
            Self::ForbiddenResource | Self::InsufficientScope => 403,
            Self::RateLimited | Self::UsageExceeded => 429,
        }
    }

    fn title(self) -> &'static str {
        match self.status() {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            429 => "Too Many Requests",
            _ => "OK",
        }
    }

    /// True for the outcomes that tell a token holder what became of the key
    /// the token names, including whether it ever existed: what the policy's
    /// `disclose_key_state = false` answers alike.
    pub fn tells_key_state(self) -> bool {
        matches!(
            self,
            Self::UnknownKey | Self::Inactive | Self::Revoked | Self::Expired
        )
    }

    /// The RFC 6750 `error` attribute for the challenge, if any.
    fn bearer_error(self) -> Option<&'static str> {
        match self {
            Self::InvalidRequest => Some("invalid_request"),
            Self::MalformedToken
            | Self::UnknownKey
            | Self::Inactive
            | Self::Revoked
            | Self::Expired => Some("invalid_token"),
            Self::InsufficientScope => Some("insufficient_scope"),
            _ => None,
        }
    }
}

/// The code a client is told, in place of `unknown_key`, `inactive`,
/// `revoked` and `expired`, when the policy does not disclose key state.
pub const INVALID_TOKEN: &str = "invalid_token";
/// The detail that goes with [`INVALID_TOKEN`].
pub const INVALID_TOKEN_DETAIL: &str = "the token is not valid";

/// How the deployment answers clients; taken from the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub schemes: Vec<Arc<str>>,
    /// The policy's `disclose_key_state`: when false, the four outcomes that
    /// tell what became of a key are rendered as one `invalid_token` answer.
    pub disclose_key_state: bool,
}

/// The result of one `verify`.
#[derive(Debug, Clone)]
pub struct Verification {
    pub outcome: Outcome,
    /// A human explanation that never contains the token.
    pub detail: String,
    /// The key, once it was found (also on most failures after lookup).
    pub key: Option<Arc<KeyRecord>>,
    pub missing_scopes: Vec<Scope>,
    pub rate: Option<RateDecision>,
    /// The accepted scheme the client used, if any (`Bearer`, `Token`).
    pub scheme: Option<Arc<str>>,
    pub challenge: Arc<Challenge>,
}

/// An RFC 9457 problem details body with gatepass's stable `code` member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    pub code: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_scopes: Vec<String>,
}

/// Everything a framework needs to answer: status, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// `None` for `valid`.
    pub problem: Option<Problem>,
}

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// RFC 9110 quoted-string content: our own texts, but never trust them to be
/// free of `"` or `\`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
    out
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.outcome == Outcome::Valid
    }

    /// The precise outcome code, for the application, its logs and events;
    /// the client may be told [`public_code`](Self::public_code) instead.
    pub fn code(&self) -> &'static str {
        self.outcome.code()
    }

    /// True when the answer hides which of `unknown_key`, `inactive`,
    /// `revoked` or `expired` this is (the policy's `disclose_key_state`).
    pub fn conceals_key_state(&self) -> bool {
        !self.challenge.disclose_key_state && self.outcome.tells_key_state()
    }

    /// The code the client is told in the problem body: [`code`](Self::code),
    /// or `invalid_token` when the key's state is not disclosed.
    pub fn public_code(&self) -> &'static str {
        if self.conceals_key_state() {
            INVALID_TOKEN
        } else {
            self.code()
        }
    }

    /// The detail the client is told, in the problem body and the challenge's
    /// `error_description`; [`Verification::detail`] keeps the precise one.
    pub fn public_detail(&self) -> &str {
        if self.conceals_key_state() {
            INVALID_TOKEN_DETAIL
        } else {
            &self.detail
        }
    }

    pub fn status(&self) -> u16 {
        self.outcome.status()
    }

    /// Response headers: RateLimit headers whenever a limit applied, the
    /// challenge on 400/401/403-scope, `Retry-After` on `rate_limited`.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut headers = Vec::new();
        // Only challenges name the realm: a valid request allocates nothing here.
        let realm = || quote(&self.challenge.realm);
        match self.outcome {
            Outcome::MissingCredentials => {
                let challenges: Vec<String> = self
                    .challenge
                    .schemes
                    .iter()
                    .map(|s| format!("{s} realm={}", realm()))
                    .collect();
                headers.push(("WWW-Authenticate".into(), challenges.join(", ")));
            }
            o => {
                if let Some(error) = o.bearer_error() {
                    let scheme = self
                        .scheme
                        .as_deref()
                        .or(self.challenge.schemes.first().map(|s| &**s))
                        .unwrap_or("Bearer");
                    let mut value = format!("{scheme} realm={}, error=\"{error}\"", realm());
                    if o == Outcome::InsufficientScope {
                        let scopes: Vec<String> = self
                            .missing_scopes
                            .iter()
                            .map(ToString::to_string)
                            .collect();
                        value.push_str(&format!(", scope={}", quote(&scopes.join(" "))));
                    } else {
                        value.push_str(&format!(
                            ", error_description={}",
                            quote(self.public_detail())
                        ));
                    }
                    headers.push(("WWW-Authenticate".into(), value));
                }
            }
        }
        if let Some(rate) = &self.rate {
            if self.outcome == Outcome::RateLimited {
                headers.push(("Retry-After".into(), rate.retry_after_secs.to_string()));
            }
            // draft-ietf-httpapi-ratelimit-headers (structured-field form).
            headers.push((
                "RateLimit-Policy".into(),
                format!(
                    "\"key\";q={};w={}",
                    rate.limit.limit,
                    rate.limit.period_secs()
                ),
            ));
            headers.push((
                "RateLimit".into(),
                format!("\"key\";r={};t={}", rate.remaining, rate.reset_secs),
            ));
        }
        headers
    }

    /// The RFC 9457 body for a failure; `None` when valid.
    pub fn problem(&self) -> Option<Problem> {
        (!self.ok()).then(|| Problem {
            type_: "about:blank",
            title: self.outcome.title(),
            status: self.status(),
            detail: self.public_detail().to_owned(),
            code: self.public_code(),
            missing_scopes: self
                .missing_scopes
                .iter()
                .map(ToString::to_string)
                .collect(),
        })
    }

    pub fn http(&self) -> HttpResponse {
        HttpResponse {
            status: self.status(),
            headers: self.headers(),
            problem: self.problem(),
        }
    }
}

impl Problem {
    pub fn to_json(&self) -> String {
        // Serialising a struct of strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

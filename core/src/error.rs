//! Errors of the key-management side of gatepass. Each variant has a stable
//! `code()` that every binding exposes unchanged; messages never contain a
//! token or a secret.

use crate::duration::DurationError;
use crate::policy::PolicyError;
use crate::ratelimit::RateLimitParseError;
use crate::scope::ScopeError;

/// A failure of the storage backend (SQLite, and later Postgres/Redis).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported URL scheme {0:?}: expected memory://, sqlite:///relative.db, sqlite:////absolute/path.db, postgres://… or (for rate limits) redis://…"
    )]
    UnsupportedUrl(String),
    #[error("invalid {0} URL")]
    InvalidUrl(&'static str),
    /// A URL option gatepass reads itself (`sslmode`, `sslrootcert`) is
    /// missing, unknown or unusable. The message names the option, never the
    /// URL, which may hold a password.
    #[error("invalid store option: {0}")]
    InvalidOption(String),
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("the store holds data gatepass cannot read: {0}")]
    Corrupt(String),
    #[error(
        "the store's schema version {found} is newer than this gatepass understands ({supported})"
    )]
    SchemaTooNew { found: i64, supported: i64 },
}

impl StoreError {
    /// For a URL no backend accepts. Only the scheme is kept: the rest of
    /// the URL may carry a password.
    pub fn unsupported_url(url: &str) -> Self {
        Self::UnsupportedUrl(
            url.split("://")
                .next()
                .unwrap_or_default()
                .chars()
                .take(16)
                .collect(),
        )
    }

    /// A backend's failure, described by its own message.
    pub fn unavailable(e: impl std::fmt::Display) -> Self {
        Self::Unavailable(e.to_string())
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedUrl(_) | Self::InvalidUrl(_) | Self::InvalidOption(_) => {
                "config_error"
            }
            Self::Unavailable(_) => "store_unavailable",
            Self::Corrupt(_) | Self::SchemaTooNew { .. } => "store_corrupt",
        }
    }
}

/// Errors from lifecycle calls and configuration. Verification outcomes are
/// not errors: see [`crate::outcome::Outcome`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    #[error("no key with id {0:?}")]
    NotFound(String),
    #[error("key {id} is {status}; cannot {action}")]
    InvalidState {
        id: String,
        status: &'static str,
        action: &'static str,
    },
    #[error("{0}")]
    InvalidArgument(String),
    /// `policy` says where the policy in force came from and its kinds
    /// ([`crate::Gate::policy_summary`]): most often the process runs under
    /// another policy than the app's.
    #[error("unknown key kind {kind:?} ({policy})")]
    UnknownKind { kind: String, policy: String },
    #[error("requested lifetime exceeds the maximum for kind {kind:?} ({max})")]
    LifetimeExceeded { kind: String, max: String },
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl GateError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::InvalidState { .. } => "invalid_state",
            Self::InvalidArgument(_) => "invalid_argument",
            Self::UnknownKind { .. } => "unknown_kind",
            Self::LifetimeExceeded { .. } => "lifetime_exceeded",
            Self::Scope(e) => e.code(),
            Self::Policy(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }
}

impl From<DurationError> for GateError {
    fn from(e: DurationError) -> Self {
        Self::InvalidArgument(e.to_string())
    }
}

impl From<RateLimitParseError> for GateError {
    fn from(e: RateLimitParseError) -> Self {
        Self::InvalidArgument(e.to_string())
    }
}

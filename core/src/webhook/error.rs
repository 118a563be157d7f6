//! Failure types for webhook verification and configuration.
//!
//! Every variant carries a stable `code()` that the Python and Node bindings
//! expose unchanged. Messages name the offending header and say what is wrong
//! with its *shape*; they never echo a secret, a received value, or the
//! signature we expected, so they are safe to log and to return to a caller.

/// Why a webhook request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// A header the scheme needs is absent (or present but empty).
    #[error("missing webhook header `{header}`")]
    MissingHeader {
        /// Lower-case name of the header.
        header: &'static str,
    },
    /// A header is present but not of the form the scheme defines.
    #[error("invalid webhook header `{header}`: {reason}")]
    InvalidHeader {
        /// Lower-case name of the header.
        header: &'static str,
        /// What is wrong with its shape (never its content).
        reason: &'static str,
    },
    /// The signed timestamp is older than the tolerance allows.
    #[error("webhook timestamp is too old")]
    TimestampTooOld,
    /// The signed timestamp is further in the future than the tolerance allows.
    #[error("webhook timestamp is too new")]
    TimestampTooNew,
    /// No received signature matches any configured secret.
    #[error("no webhook signature matches")]
    InvalidSignature,
    /// The message id (or signature) was already accepted within the window.
    #[error("webhook was already received")]
    Replayed,
    /// The replay guard's store could not answer; the request is refused
    /// (fail closed) rather than risk accepting a replay.
    #[error("webhook replay guard failed: {0}")]
    ReplayGuardFailed(#[from] ReplayGuardError),
    /// The caller used the API wrongly (e.g. `twilio` without a URL). This is
    /// a programmer error, reported with the config code.
    #[error(transparent)]
    Config(#[from] WebhookConfigError),
}

impl WebhookError {
    /// Stable machine-readable code, identical in every binding.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader { .. } => "missing_header",
            Self::InvalidHeader { .. } => "invalid_header",
            Self::TimestampTooOld => "timestamp_too_old",
            Self::TimestampTooNew => "timestamp_too_new",
            Self::InvalidSignature => "invalid_signature",
            Self::Replayed => "replayed",
            Self::ReplayGuardFailed(_) => "replay_guard_failed",
            Self::Config(e) => e.code(),
        }
    }

    pub(crate) fn invalid(header: &'static str, reason: &'static str) -> Self {
        Self::InvalidHeader { header, reason }
    }
}

/// A verifier or signer was configured wrongly. Raised at construction (or
/// for a missing argument at call time), never because of request content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookConfigError {
    /// The scheme name is not one of the supported schemes.
    #[error("unknown webhook scheme `{0}`")]
    UnknownScheme(String),
    /// A verifier needs at least one secret.
    #[error("at least one webhook secret is required")]
    NoSecrets,
    /// More secrets than a verifier accepts (bounds the work per request).
    #[error("too many webhook secrets (at most {max})")]
    TooManySecrets {
        /// The limit.
        max: usize,
    },
    /// A secret is empty or not in the scheme's encoding. The secret itself
    /// is never included.
    #[error("invalid webhook secret: {reason}")]
    InvalidSecret {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `twilio` signs the full request URL, so verify and sign need it.
    #[error("the `{scheme}` scheme needs the request URL")]
    UrlRequired {
        /// Scheme name.
        scheme: &'static str,
    },
    /// A signing option is out of range or cannot be put in a header.
    #[error("invalid signing option `{field}`: {reason}")]
    InvalidSignOption {
        /// Option name.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A verifier or signer option is not valid (e.g. `header` that is not a
    /// header name, or given for a scheme that has no use for it).
    #[error("invalid webhook option `{option}`: {reason}")]
    InvalidOption {
        /// Option name.
        option: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The scheme signs with a private key and verifies with its public
    /// key, so it has a key pair rather than one shared secret.
    #[error("the `{scheme}` scheme uses a key pair: use generate_keypair")]
    KeyPairScheme {
        /// Scheme name.
        scheme: &'static str,
    },
    /// The operating system's random number generator failed.
    #[error("the system random number generator is unavailable")]
    RandomUnavailable,
}

impl WebhookConfigError {
    /// Stable machine-readable code; every configuration error shares it so the
    /// bindings raise one `ConfigError` type.
    #[must_use]
    pub fn code(&self) -> &'static str {
        "config_error"
    }
}

/// A replay guard's backing store failed (e.g. Redis unreachable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReplayGuardError {
    /// Description of the store failure; must not contain secrets.
    pub message: String,
}

impl ReplayGuardError {
    /// Wrap a store failure description.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

//! Webhook verification and signing (DESIGN.md §9), byte-compatible with the
//! official libraries of each scheme.
//!
//! - [`WebhookVerifier`] checks raw body bytes + headers (+ URL for Twilio)
//!   against one or more secrets, with a two-sided timestamp window, strict
//!   bounded header parsing, constant-time comparison of decoded MAC bytes,
//!   and an optional [`ReplayGuard`].
//! - [`WebhookSigner`] produces the headers a receiver reads.
//! - [`generate_secret`] makes a new secret in the scheme's usual shape.
//!
//! One module per scheme; shared parsing in `parse`, key handling in `secret`.

mod error;
mod github;
mod headers;
mod parse;
mod replay;
mod scheme;
mod secret;
mod shopify;
mod signer;
mod slack;
mod standard;
mod stripe;
mod token;
mod twilio;
mod verifier;

pub use error::{ReplayGuardError, WebhookConfigError, WebhookError};
pub use headers::Headers;
pub use parse::{MAX_HEADER_LEN, MAX_ID_LEN, MAX_SIGNATURES};
pub use replay::{open as open_replay_guard, MemoryReplayGuard, ReplayGuard};
pub use scheme::Scheme;
pub use secret::generate_secret;
pub use signer::{SignOptions, WebhookSigner};
pub use verifier::{
    VerifiedWebhook, VerifierOptions, WebhookVerifier, DEFAULT_TOLERANCE, MAX_SECRETS,
};

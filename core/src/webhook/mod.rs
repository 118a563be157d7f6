//! Webhook verification and signing, byte-compatible with the
//! official libraries of each scheme.
//!
//! - [`WebhookVerifier`] checks raw body bytes + headers (+ URL for Twilio)
//!   against one or more secrets, with a two-sided timestamp window, strict
//!   bounded header parsing, constant-time comparison of decoded MAC bytes,
//!   and an optional [`ReplayGuard`].
//! - [`WebhookSigner`] produces the headers a receiver reads.
//! - [`generate_secret`] makes a new secret in the scheme's usual shape;
//!   [`generate_keypair`] a signing/verifying key pair for the Ed25519
//!   schemes, [`public_key`] the verifying half of a signing key.
//! - [`meta_challenge`] answers Meta's `GET` subscription handshake.
//!
//! One module per scheme; shared parsing in `parse`, key handling in `secret`.

mod chatwoot;
mod discord;
mod ed25519;
mod error;
mod github;
mod headers;
mod intercom;
mod line;
mod meta;
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
pub use meta::{meta_challenge, MAX_CHALLENGE_LEN};
pub use parse::{MAX_HEADER_LEN, MAX_ID_LEN, MAX_SIGNATURES};
pub use replay::{open as open_replay_guard, MemoryReplayGuard, ReplayGuard};
pub use scheme::Scheme;
pub use secret::{generate_keypair, generate_secret, public_key};
pub use signer::{SignOptions, WebhookSigner};
pub use verifier::{
    VerifiedWebhook, VerifierOptions, WebhookVerifier, DEFAULT_TOLERANCE, MAX_SECRETS,
};

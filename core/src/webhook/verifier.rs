//! `WebhookVerifier`: one scheme, one or more secrets, one policy.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::clock::{self, Clock};

use super::ed25519::PublicKey;
use super::error::{WebhookConfigError, WebhookError};
use super::github::{self, GithubKey};
use super::headers::Headers;
use super::replay::ReplayGuard;
use super::scheme::Scheme;
use super::secret::{HmacSha1, HmacSha256, MacKey, TokenDigest};
use super::standard::StandardKey;
use super::{
    chatwoot, discord, intercom, line, meta, shopify, slack, standard, stripe, token, twilio,
};

/// Default timestamp tolerance, as in every official library: 5 minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// Most secrets one verifier holds; each costs one HMAC per failed request.
pub const MAX_SECRETS: usize = 16;

/// How a verifier judges requests beyond the signature itself.
#[derive(Clone)]
pub struct VerifierOptions {
    /// Largest accepted distance between the signed timestamp and now, in
    /// either direction (whole seconds; inclusive). `None` turns the check off
    /// and must be asked for explicitly: without it a captured request can be
    /// replayed forever. Only `standard`, `stripe` and `slack` sign a
    /// timestamp; the other schemes ignore this except as the replay guard's
    /// retention.
    pub tolerance: Option<Duration>,
    /// Accept GitHub's legacy `X-Hub-Signature: sha1=…` when the sha256 header
    /// is absent. Off by default.
    pub allow_sha1: bool,
    /// Time source for the tolerance window and the replay guard.
    pub clock: Arc<dyn Clock>,
    /// Refuse a second delivery of an already accepted message.
    pub replay_guard: Option<Arc<dyn ReplayGuard>>,
    /// `token` only: the header carrying the shared token, compared whole
    /// (Telegram: `X-Telegram-Bot-Api-Secret-Token`). `None`:
    /// `Authorization`, with an optional `Token`/`Bearer` prefix.
    pub header: Option<String>,
}

impl Default for VerifierOptions {
    fn default() -> Self {
        Self {
            tolerance: Some(DEFAULT_TOLERANCE),
            allow_sha1: false,
            clock: clock::system(),
            replay_guard: None,
            header: None,
        }
    }
}

impl fmt::Debug for VerifierOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierOptions")
            .field("tolerance", &self.tolerance)
            .field("allow_sha1", &self.allow_sha1)
            .field("clock", &self.clock)
            .field("replay_guard", &self.replay_guard.is_some())
            .field("header", &self.header)
            .finish()
    }
}

/// What a verified webhook carried, as far as its scheme tells.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct VerifiedWebhook {
    /// Message id: `webhook-id`/`svix-id`, `X-GitHub-Delivery`,
    /// `X-Shopify-Webhook-Id`, `I-Twilio-Idempotency-Token`,
    /// `X-Chatwoot-Delivery`; `None` for schemes or requests without one.
    /// Only the Standard Webhooks id is signed: the others are whatever the
    /// request carried, so they are no idempotency key (the replay guard
    /// does not use them).
    pub id: Option<String>,
    /// Signed Unix timestamp (`standard`, `stripe`, `slack`, `discord`,
    /// `chatwoot`).
    pub timestamp: Option<i64>,
    /// The scheme that verified it.
    pub scheme: Scheme,
}

/// Per-request inputs shared by the scheme modules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) now: i64,
    pub(crate) tolerance: Option<i64>,
    pub(crate) url: Option<&'a str>,
    /// A replay guard is configured: only then do the scheme modules digest
    /// what was signed, so plain verification hashes the body once (the MAC).
    pub(crate) guarded: bool,
}

impl Ctx<'_> {
    /// The replay guard's digest of the signed content, given as the parts
    /// the scheme signs (each length-prefixed, so no two different part
    /// lists hash alike); `None` when no guard is configured.
    pub(crate) fn signed_digest(&self, parts: &[&[u8]]) -> Option<[u8; 32]> {
        self.guarded.then(|| {
            let mut h = Sha256::new();
            h.update(b"gatepass replay content v1");
            for part in parts {
                h.update((part.len() as u64).to_be_bytes());
                h.update(part);
            }
            h.finalize().into()
        })
    }
}

/// A scheme module's verdict before the replay guard.
#[derive(Debug)]
pub(crate) struct Checked {
    pub(crate) id: Option<String>,
    pub(crate) timestamp: Option<i64>,
    /// Digest of what the signature covers ([`Ctx::signed_digest`]): the
    /// replay guard's key material. Never an unsigned header: a replay guard
    /// keyed on something the sender did not sign is bypassed by changing it.
    /// `None` without a guard, and for schemes that cannot be guarded.
    pub(crate) replay: Option<[u8; 32]>,
}

#[derive(Debug)]
enum Keys {
    Standard(Vec<StandardKey>),
    Stripe(Vec<MacKey<HmacSha256>>),
    Github(Vec<GithubKey>),
    Slack(Vec<MacKey<HmacSha256>>),
    Shopify(Vec<MacKey<HmacSha256>>),
    Twilio(Vec<MacKey<HmacSha1>>),
    Token(Vec<TokenDigest>, &'static [&'static str; 1]),
    Meta(Vec<MacKey<HmacSha256>>),
    Line(Vec<MacKey<HmacSha256>>),
    Discord(Vec<PublicKey>),
    Intercom(Vec<MacKey<HmacSha1>>),
    Chatwoot(Vec<MacKey<HmacSha256>>),
}

/// Verifies incoming webhooks of one scheme against one or more secrets
/// (several at once during rotation: the request is accepted if any secret
/// signed it). Keys are derived once here; `verify` does no key setup and no
/// allocation proportional to the body.
#[derive(Debug)]
pub struct WebhookVerifier {
    scheme: Scheme,
    keys: Keys,
    identities: Identities,
    options: VerifierOptions,
}

/// One replay-guard identity per secret: a one-way name derived from the
/// secret (an HMAC of a fixed label under it), the same in every process.
///
/// A message's replay keys are `scheme:H(identity, signed content)` for
/// *every* secret of the verifier, all remembered together, and a message is
/// a replay if *any* of them is remembered. So verifiers with different
/// secrets never collide in a shared guard, and a message accepted before a
/// rotation is still recognised after it as long as one secret it was
/// accepted under is still in the list: adding a secret opens no window, nor
/// does removing one that another remaining secret overlapped with.
struct Identities(Vec<[u8; 32]>);

impl Identities {
    fn new(mut ids: Vec<[u8; 32]>) -> Self {
        ids.sort_unstable();
        ids.dedup();
        Self(ids)
    }

    fn keys(&self, scheme: Scheme, digest: &[u8; 32]) -> Vec<String> {
        self.0
            .iter()
            .map(|id| {
                let mut h = Sha256::new();
                h.update(b"gatepass replay key v1");
                h.update(id);
                h.update(digest);
                format!("{}:{}", scheme.as_str(), hex::encode(h.finalize()))
            })
            .collect()
    }
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identities({})", self.0.len())
    }
}

fn keys_of<K>(
    secrets: &[impl AsRef<str>],
    make: impl Fn(&str) -> Result<K, WebhookConfigError>,
) -> Result<Vec<K>, WebhookConfigError> {
    secrets.iter().map(|s| make(s.as_ref())).collect()
}

impl WebhookVerifier {
    /// Build a verifier. Fails on an empty secret list, more than
    /// `MAX_SECRETS`, or a secret not in the scheme's encoding.
    pub fn new(
        scheme: Scheme,
        secrets: &[impl AsRef<str>],
        options: VerifierOptions,
    ) -> Result<Self, WebhookConfigError> {
        if secrets.is_empty() {
            return Err(WebhookConfigError::NoSecrets);
        }
        if secrets.len() > MAX_SECRETS {
            return Err(WebhookConfigError::TooManySecrets { max: MAX_SECRETS });
        }
        let keys = match scheme {
            Scheme::Standard => Keys::Standard(keys_of(secrets, standard::key)?),
            Scheme::Stripe => Keys::Stripe(keys_of(secrets, stripe::key)?),
            Scheme::Github => {
                Keys::Github(keys_of(secrets, |s| github::key(s, options.allow_sha1))?)
            }
            Scheme::Slack => Keys::Slack(keys_of(secrets, slack::key)?),
            Scheme::Shopify => Keys::Shopify(keys_of(secrets, shopify::key)?),
            Scheme::Twilio => Keys::Twilio(keys_of(secrets, twilio::key)?),
            Scheme::Token => {
                let header =
                    token::header_name(options.header.as_deref().unwrap_or(token::HEADER))?;
                Keys::Token(keys_of(secrets, token::key)?, header)
            }
            Scheme::Meta => Keys::Meta(keys_of(secrets, meta::key)?),
            Scheme::Line => Keys::Line(keys_of(secrets, line::key)?),
            Scheme::Discord => Keys::Discord(keys_of(secrets, discord::key)?),
            Scheme::Intercom => Keys::Intercom(keys_of(secrets, intercom::key)?),
            Scheme::Chatwoot => Keys::Chatwoot(keys_of(secrets, chatwoot::key)?),
        };
        if options.header.is_some() && scheme != Scheme::Token {
            return Err(WebhookConfigError::InvalidOption {
                option: "header",
                reason: "only the `token` scheme takes a header name",
            });
        }
        let identities = Identities::new(match &keys {
            Keys::Standard(k) => k.iter().map(|k| k.replay_identity(scheme)).collect(),
            Keys::Stripe(k)
            | Keys::Slack(k)
            | Keys::Shopify(k)
            | Keys::Meta(k)
            | Keys::Line(k)
            | Keys::Chatwoot(k) => k.iter().map(|k| k.replay_identity(scheme)).collect(),
            Keys::Github(k) => k.iter().map(|k| k.replay_identity(scheme)).collect(),
            Keys::Twilio(k) | Keys::Intercom(k) => {
                k.iter().map(|k| k.replay_identity(scheme)).collect()
            }
            Keys::Discord(k) => k.iter().map(|k| k.replay_identity(scheme)).collect(),
            // A shared token is the same on every request: nothing to guard.
            Keys::Token(..) => Vec::new(),
        });
        Ok(Self {
            scheme,
            keys,
            identities,
            options,
        })
    }

    /// The scheme this verifier checks.
    #[must_use]
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Every request header this verifier reads, lower-cased: the scheme's
    /// [`Scheme::header_names`], or for `token` the configured header.
    #[must_use]
    pub fn header_names(&self) -> &'static [&'static str] {
        match &self.keys {
            Keys::Token(_, header) => &header[..],
            _ => self.scheme.header_names(),
        }
    }

    /// The options it was built with.
    #[must_use]
    pub fn options(&self) -> &VerifierOptions {
        &self.options
    }

    fn tolerance_secs(&self) -> Option<i64> {
        self.options
            .tolerance
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }

    /// Verify one request: the raw body bytes exactly as received (never
    /// re-serialised JSON), its headers, and — for `twilio` only — the full
    /// URL the request was made to.
    ///
    /// Order: headers present → headers well-formed → timestamp window →
    /// signature → replay guard. The replay guard is consulted only for
    /// requests whose signature verified.
    pub fn verify(
        &self,
        body: &[u8],
        headers: &Headers,
        url: Option<&str>,
    ) -> Result<VerifiedWebhook, WebhookError> {
        let now = self.options.clock.now_secs();
        let tolerance = self.tolerance_secs();
        let ctx = Ctx {
            now,
            tolerance,
            url,
            guarded: self.options.replay_guard.is_some(),
        };
        let checked = match &self.keys {
            Keys::Standard(k) => standard::verify(k, body, headers, &ctx),
            Keys::Stripe(k) => stripe::verify(k, body, headers, &ctx),
            Keys::Github(k) => github::verify(k, self.options.allow_sha1, body, headers, &ctx),
            Keys::Slack(k) => slack::verify(k, body, headers, &ctx),
            Keys::Shopify(k) => shopify::verify(k, body, headers, &ctx),
            Keys::Twilio(k) => twilio::verify(k, body, headers, &ctx),
            Keys::Token(k, header) => token::verify(k, header[0], headers),
            Keys::Meta(k) => meta::verify(k, body, headers, &ctx),
            Keys::Line(k) => line::verify(k, body, headers, &ctx),
            Keys::Discord(k) => discord::verify(k, body, headers, &ctx),
            Keys::Intercom(k) => intercom::verify(k, body, headers, &ctx),
            Keys::Chatwoot(k) => chatwoot::verify(k, body, headers, &ctx),
        }?;
        if let (Some(guard), Some(digest)) = (&self.options.replay_guard, checked.replay) {
            let ttl = replay_ttl(checked.timestamp, now, tolerance);
            let keys = self.identities.keys(self.scheme, &digest);
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            if !guard.check_and_remember_all(&keys, now, ttl)? {
                return Err(WebhookError::Replayed);
            }
        }
        Ok(VerifiedWebhook {
            id: checked.id,
            timestamp: checked.timestamp,
            scheme: self.scheme,
        })
    }
}

/// How long the replay guard must remember a message: until its timestamp
/// leaves the window (after which the window itself rejects it), or, for
/// schemes without a signed timestamp or with the window off, for the
/// tolerance (default 300 s).
fn replay_ttl(timestamp: Option<i64>, now: i64, tolerance: Option<i64>) -> i64 {
    let default = i64::try_from(DEFAULT_TOLERANCE.as_secs()).unwrap_or(300);
    match (timestamp, tolerance) {
        (Some(ts), Some(tol)) => ts
            .saturating_add(tol)
            .saturating_sub(now)
            .saturating_add(1)
            .max(1),
        (_, tol) => tol.unwrap_or(default).max(1),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::webhook::replay::MemoryReplayGuard;
    use crate::webhook::{SignOptions, WebhookSigner};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn setup(guard: bool) -> (Arc<ManualClock>, WebhookVerifier, WebhookSigner) {
        let clock = ManualClock::new(1_700_000_000_000);
        let options = VerifierOptions {
            clock: clock.clone(),
            replay_guard: guard
                .then(|| Arc::new(MemoryReplayGuard::new(100)) as Arc<dyn ReplayGuard>),
            ..VerifierOptions::default()
        };
        let v = WebhookVerifier::new(Scheme::Standard, &[SECRET], options).unwrap();
        let s = WebhookSigner::new(Scheme::Standard, SECRET, clock.clone()).unwrap();
        (clock, v, s)
    }

    #[test]
    fn config_errors() {
        let none: [&str; 0] = [];
        let e =
            WebhookVerifier::new(Scheme::Standard, &none, VerifierOptions::default()).unwrap_err();
        assert_eq!(e, WebhookConfigError::NoSecrets);
        let many = vec![SECRET; MAX_SECRETS + 1];
        let e =
            WebhookVerifier::new(Scheme::Standard, &many, VerifierOptions::default()).unwrap_err();
        assert_eq!(e.code(), "config_error");
        for scheme in Scheme::ALL {
            let e = WebhookVerifier::new(scheme, &[""], VerifierOptions::default()).unwrap_err();
            assert_eq!(e.code(), "config_error");
        }
    }

    #[test]
    fn replay_guard_rejects_second_delivery_only_after_verification() {
        let (clock, v, s) = setup(true);
        let body = b"{}";
        let h = Headers::from_pairs(
            s.sign(
                body,
                SignOptions {
                    id: Some("msg_1".into()),
                    ..Default::default()
                },
            )
            .unwrap(),
        );
        // a forged request with the same id must not burn the id
        let forged = Headers::from_pairs([
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", "1700000000"),
            (
                "webhook-signature",
                "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            ),
        ]);
        assert_eq!(
            v.verify(body, &forged, None).unwrap_err().code(),
            "invalid_signature"
        );
        let ok = v.verify(body, &h, None).unwrap();
        assert_eq!(ok.id.as_deref(), Some("msg_1"));
        assert_eq!(ok.timestamp, Some(1_700_000_000));
        assert_eq!(v.verify(body, &h, None).unwrap_err().code(), "replayed");
        clock.advance_ms(301_000);
        assert_eq!(
            v.verify(body, &h, None).unwrap_err().code(),
            "timestamp_too_old"
        );
    }

    #[test]
    fn replay_guard_keys_on_the_mac_without_an_id() {
        let clock = ManualClock::new(1_700_000_000_000);
        let options = VerifierOptions {
            clock: clock.clone(),
            replay_guard: Some(Arc::new(MemoryReplayGuard::new(100))),
            ..VerifierOptions::default()
        };
        let v = WebhookVerifier::new(Scheme::Stripe, &["whsec_x"], options).unwrap();
        let s = WebhookSigner::new(Scheme::Stripe, "whsec_x", clock.clone()).unwrap();
        let h1 = Headers::from_pairs(s.sign(b"a", SignOptions::default()).unwrap());
        let h2 = Headers::from_pairs(s.sign(b"b", SignOptions::default()).unwrap());
        assert!(v.verify(b"a", &h1, None).is_ok());
        assert!(v.verify(b"b", &h2, None).is_ok());
        assert_eq!(v.verify(b"a", &h1, None).unwrap_err().code(), "replayed");
    }

    #[test]
    fn tolerance_both_ways_and_off() {
        let (clock, v, s) = setup(false);
        let h = Headers::from_pairs(s.sign(b"x", SignOptions::default()).unwrap());
        clock.advance_ms(300_000);
        assert!(v.verify(b"x", &h, None).is_ok());
        clock.advance_ms(1_000);
        assert_eq!(
            v.verify(b"x", &h, None).unwrap_err(),
            WebhookError::TimestampTooOld
        );
        clock.advance_ms(-602_000);
        assert_eq!(
            v.verify(b"x", &h, None).unwrap_err(),
            WebhookError::TimestampTooNew
        );
        let off = WebhookVerifier::new(
            Scheme::Standard,
            &[SECRET],
            VerifierOptions {
                tolerance: None,
                clock: clock.clone(),
                ..VerifierOptions::default()
            },
        )
        .unwrap();
        clock.set_ms(0);
        assert!(off.verify(b"x", &h, None).is_ok());
    }

    #[test]
    fn replay_ttl_covers_the_window() {
        assert_eq!(replay_ttl(Some(1000), 1000, Some(300)), 301);
        assert_eq!(replay_ttl(Some(1300), 1000, Some(300)), 601);
        assert_eq!(replay_ttl(Some(700), 1000, Some(300)), 1);
        assert_eq!(replay_ttl(None, 1000, Some(60)), 60);
        assert_eq!(replay_ttl(Some(5), 1000, None), 300);
    }

    #[test]
    fn debug_redacts_secrets() {
        let (_, v, s) = setup(true);
        let dbg = format!("{v:?} {s:?}");
        assert!(!dbg.contains("MfKQ9r8G"));
        assert!(dbg.contains("redacted"));
    }
}

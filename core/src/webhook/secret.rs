//! Secret handling: precomputed HMAC keys, the shared-token digest, secret
//! decoding and generation.
//!
//! Security properties:
//! - A verifier keys its HMAC once, at construction, and clones the keyed
//!   state per request, so the key schedule is not redone per message and the
//!   raw secret bytes need not be kept at all.
//! - Raw secret bytes only ever live in `Zeroizing` buffers and are wiped as
//!   soon as the keyed state exists.
//! - The keyed HMAC state (hashed inner/outer pads) is key-equivalent. The
//!   `hmac` 0.12 / `sha2` 0.10 crates offer no `Zeroize` for it, so on drop we
//!   overwrite it in place with state keyed by zeros and pass it through
//!   `black_box` so the store is not optimised away: a best-effort wipe
//!   without `unsafe` (which the workspace denies).
//! - `Debug` never prints key material.

use std::fmt;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use hmac::digest::{KeyInit, Mac};
use hmac::Hmac;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, Zeroizing};

use super::error::WebhookConfigError;
use super::scheme::Scheme;

pub(crate) type HmacSha256 = Hmac<Sha256>;
pub(crate) type HmacSha1 = Hmac<Sha1>;

/// Prefix of Standard Webhooks / Svix (and Stripe) secrets.
pub(crate) const WHSEC_PREFIX: &str = "whsec_";

/// A keyed HMAC ready to be cloned per message.
pub(crate) struct MacKey<M: Mac + KeyInit + Clone> {
    mac: M,
}

impl<M: Mac + KeyInit + Clone> MacKey<M> {
    /// Key an HMAC. HMAC accepts keys of any length, so this cannot fail for
    /// the `Hmac<_>` types used here; an error is still mapped, not unwrapped.
    pub(crate) fn new(key: &[u8]) -> Result<Self, WebhookConfigError> {
        let mac =
            <M as KeyInit>::new_from_slice(key).map_err(|_| WebhookConfigError::InvalidSecret {
                reason: "key length not accepted by HMAC",
            })?;
        Ok(Self { mac })
    }

    /// A fresh keyed state to feed one message into.
    #[inline]
    pub(crate) fn start(&self) -> M {
        self.mac.clone()
    }

    /// The MAC of `parts` fed in order. `N` must be the MAC's output size;
    /// the bound checks that at compile time, so a wrong length cannot panic.
    #[inline]
    pub(crate) fn mac_of<const N: usize>(&self, parts: &[&[u8]]) -> [u8; N]
    where
        hmac::digest::Output<M>: Into<[u8; N]>,
    {
        let mut m = self.start();
        for part in parts {
            m.update(part);
        }
        m.finalize().into_bytes().into()
    }

    /// The replay guard's name for this key: the same in every process, and
    /// one-way (an HMAC of a fixed label, hashed), so the guard's store never
    /// holds anything from which the secret could be recovered.
    pub(crate) fn replay_identity(&self, scheme: Scheme) -> [u8; 32] {
        let mut m = self.start();
        m.update(b"gatepass replay-guard identity v1\0");
        m.update(scheme.as_str().as_bytes());
        Sha256::digest(m.finalize().into_bytes()).into()
    }
}

impl<M: Mac + KeyInit + Clone> Drop for MacKey<M> {
    fn drop(&mut self) {
        if let Ok(blank) = <M as KeyInit>::new_from_slice(&[0u8; 32]) {
            self.mac = blank;
            std::hint::black_box(&self.mac);
        }
    }
}

impl<M: Mac + KeyInit + Clone> fmt::Debug for MacKey<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey([redacted])")
    }
}

/// SHA-256 digest of a shared token. Comparing digests in constant time
/// hides both the token's bytes and its length from timing.
pub(crate) struct TokenDigest([u8; 32]);

impl TokenDigest {
    pub(crate) fn of(token: &[u8]) -> Self {
        Self(Sha256::digest(token).into())
    }

    pub(crate) fn ct_eq(&self, other: &Self) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

impl Drop for TokenDigest {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenDigest([redacted])")
    }
}

/// A secret kept as text (the `token` scheme's signer must echo it): wiped on
/// drop, redacted in `Debug`.
pub(crate) struct SecretString(Zeroizing<String>);

impl SecretString {
    pub(crate) fn new(s: &str) -> Self {
        Self(Zeroizing::new(s.to_owned()))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

/// Base64 with the standard alphabet that accepts padded and unpadded input,
/// and ignores non-zero trailing bits, as the official Standard Webhooks
/// libraries do for secrets (their own tests use such secrets), while still
/// rejecting any character outside the alphabet.
pub(crate) const B64_SECRET: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decode a Standard Webhooks secret: optional `whsec_` prefix, then base64.
pub(crate) fn decode_standard_secret(
    secret: &str,
) -> Result<Zeroizing<Vec<u8>>, WebhookConfigError> {
    let encoded = secret.strip_prefix(WHSEC_PREFIX).unwrap_or(secret);
    if encoded.is_empty() {
        return Err(WebhookConfigError::InvalidSecret {
            reason: "secret is empty",
        });
    }
    let key = Zeroizing::new(B64_SECRET.decode(encoded).map_err(|_| {
        WebhookConfigError::InvalidSecret {
            reason: "standard secrets are `whsec_` followed by base64",
        }
    })?);
    if key.is_empty() {
        return Err(WebhookConfigError::InvalidSecret {
            reason: "secret is empty",
        });
    }
    Ok(key)
}

/// Secrets used verbatim as HMAC keys (Stripe, GitHub, Slack, Shopify,
/// Twilio) or compared as tokens must at least not be empty.
pub(crate) fn raw_secret(secret: &str) -> Result<&[u8], WebhookConfigError> {
    if secret.is_empty() {
        return Err(WebhookConfigError::InvalidSecret {
            reason: "secret is empty",
        });
    }
    Ok(secret.as_bytes())
}

/// Fill `buf` from the operating system's CSPRNG.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), WebhookConfigError> {
    getrandom::fill(buf).map_err(|_| WebhookConfigError::RandomUnavailable)
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` characters drawn uniformly from base62 (rejection sampling, so no
/// modulo bias).
pub(crate) fn random_base62(len: usize) -> Result<String, WebhookConfigError> {
    let mut out = String::with_capacity(len);
    let mut pool = Zeroizing::new([0u8; 64]);
    while out.len() < len {
        random_bytes(&mut pool[..])?;
        for &b in pool.iter() {
            // 248 = 4 * 62: bytes at or above it would bias the draw.
            if b < 248 {
                out.push(char::from(BASE62[usize::from(b % 62)]));
                if out.len() == len {
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// A new random secret in the form the scheme's senders use.
///
/// - `standard`: `whsec_` + base64 of 32 random bytes (Standard Webhooks).
/// - `stripe`: `whsec_` + 32 base62 characters (Stripe's shape; the whole
///   string is the HMAC key, ~190 bits).
/// - `discord`: none; it has a key pair (see [`generate_keypair`]).
/// - every other scheme: 64 lower-case hex characters (256 bits).
///
/// Fails if the operating system's CSPRNG is unavailable, or for `discord`.
pub fn generate_secret(scheme: Scheme) -> Result<String, WebhookConfigError> {
    match scheme {
        Scheme::Discord => Err(WebhookConfigError::KeyPairScheme {
            scheme: scheme.as_str(),
        }),
        Scheme::Standard => {
            let mut key = Zeroizing::new([0u8; 32]);
            random_bytes(&mut key[..])?;
            Ok(format!(
                "{WHSEC_PREFIX}{}",
                base64::engine::general_purpose::STANDARD.encode(&key[..])
            ))
        }
        Scheme::Stripe => Ok(format!("{WHSEC_PREFIX}{}", random_base62(32)?)),
        Scheme::Github
        | Scheme::Slack
        | Scheme::Shopify
        | Scheme::Twilio
        | Scheme::Token
        | Scheme::Meta
        | Scheme::Line
        | Scheme::Intercom
        | Scheme::Chatwoot => {
            let mut key = Zeroizing::new([0u8; 32]);
            random_bytes(&mut key[..])?;
            Ok(hex::encode(&key[..]))
        }
    }
}

/// A new Ed25519 key pair, `(signing key, verifying key)`, in the scheme's
/// encoding: `standard` gives `whsk_…` (base64 of `seed || public key`) and
/// `whpk_…`; `discord` gives hex (the 32-byte seed, and the public key as the
/// developer portal shows it). The signing key goes to the sender's
/// `WebhookSigner`, the verifying key to receivers' `WebhookVerifier`.
pub fn generate_keypair(scheme: Scheme) -> Result<(String, String), WebhookConfigError> {
    let key = super::ed25519::PrivateKey::generate()?;
    match scheme {
        Scheme::Standard => Ok((
            super::standard::secret_key(&key),
            super::standard::public_key(&key),
        )),
        Scheme::Discord => Ok((
            hex::encode(&key.seed()[..]),
            super::discord::public_key(&key),
        )),
        _ => Err(WebhookConfigError::InvalidOption {
            option: "scheme",
            reason: "key pairs exist only for `standard` (v1a) and `discord`",
        }),
    }
}

/// The verifying key for a signing key made by [`generate_keypair`] (or
/// given by the sender): `whpk_…` for a `standard` `whsk_…` key, hex for a
/// `discord` seed. What a sender publishes for its receivers.
pub fn public_key(scheme: Scheme, signing_key: &str) -> Result<String, WebhookConfigError> {
    match scheme {
        Scheme::Standard => match super::standard::signing_key(signing_key)? {
            super::standard::StandardSigningKey::Ed25519(k) => Ok(super::standard::public_key(&k)),
            super::standard::StandardSigningKey::Hmac(_) => {
                Err(WebhookConfigError::InvalidSecret {
                    reason: "only a `whsk_` key has a public key",
                })
            }
        },
        Scheme::Discord => Ok(super::discord::public_key(&super::discord::signing_key(
            signing_key,
        )?)),
        _ => Err(WebhookConfigError::InvalidOption {
            option: "scheme",
            reason: "key pairs exist only for `standard` (v1a) and `discord`",
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn standard_secret_accepts_prefix_padding_variants() {
        let a = decode_standard_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let b = decode_standard_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(*a, *b);
        // one and two padding characters, with and without them
        let c = decode_standard_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS").unwrap();
        let d = decode_standard_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS=").unwrap();
        assert_eq!(*c, *d);
        let e = decode_standard_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr").unwrap();
        let f = decode_standard_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr==").unwrap();
        assert_eq!(*e, *f);
    }

    #[test]
    fn standard_secret_rejects_empty_and_junk() {
        for bad in [
            "",
            "whsec_",
            "whsec_!!!!",
            "whsec_abcd efgh",
            "whsec_abc=junk",
        ] {
            let err = decode_standard_secret(bad).unwrap_err();
            assert_eq!(err.code(), "config_error");
            assert!(!err.to_string().contains("!!!!"));
        }
    }

    #[test]
    fn generated_secrets_have_the_documented_shape() {
        let s = generate_secret(Scheme::Standard).unwrap();
        assert!(s.starts_with("whsec_"));
        assert_eq!(decode_standard_secret(&s).unwrap().len(), 32);
        let s = generate_secret(Scheme::Stripe).unwrap();
        assert_eq!(s.len(), 6 + 32);
        assert!(s[6..].bytes().all(|b| b.is_ascii_alphanumeric()));
        let s = generate_secret(Scheme::Github).unwrap();
        assert_eq!(s.len(), 64);
        assert!(s.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(generate_secret(Scheme::Token).unwrap(), s);
    }

    #[test]
    fn debug_is_redacted() {
        let k = MacKey::<HmacSha256>::new(b"super-secret").unwrap();
        assert_eq!(format!("{k:?}"), "MacKey([redacted])");
        let t = TokenDigest::of(b"super-secret");
        assert_eq!(format!("{t:?}"), "TokenDigest([redacted])");
    }
}

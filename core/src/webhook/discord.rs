//! Discord interactions: `X-Signature-Ed25519: <hex>` (64-byte signature) and
//! `X-Signature-Timestamp`, an Ed25519 signature over `{timestamp}{body}`
//! with the application's private key; the receiver holds the public key,
//! given as hex in the developer portal.
//!
//! Verification is strict (see `ed25519`). Discord's own libraries check no
//! timestamp window; we do (the timestamp is Unix seconds and signed), so a
//! captured interaction cannot be replayed after the window. Discord sends no
//! message id; the replay guard, when configured, keys on the signature,
//! which is unique per (timestamp, body) since Ed25519 is deterministic and
//! strict verification admits no second encoding of it.

use super::ed25519::{PrivateKey, PublicKey, SIGNATURE_LEN};
use super::error::{WebhookConfigError, WebhookError};
use super::headers::Headers;
use super::parse::{self, Decoded};
use super::verifier::{Checked, Ctx};

pub(crate) const HEADER_SIG: &str = "x-signature-ed25519";
pub(crate) const HEADER_TS: &str = "x-signature-timestamp";

/// A verifier's key: the application's public key, 64 hex characters.
pub(crate) fn key(public_hex: &str) -> Result<PublicKey, WebhookConfigError> {
    PublicKey::from_bytes(&hex_bytes(
        public_hex,
        "the Discord public key is 64 hex characters",
    )?)
}

/// A signer's key: the 32-byte seed (64 hex characters) or the 64-byte
/// key pair (128 hex characters).
pub(crate) fn signing_key(private_hex: &str) -> Result<PrivateKey, WebhookConfigError> {
    PrivateKey::from_bytes(&hex_bytes(
        private_hex,
        "a Discord signing key is a hex Ed25519 seed or key pair",
    )?)
}

fn hex_bytes(
    s: &str,
    reason: &'static str,
) -> Result<zeroize::Zeroizing<Vec<u8>>, WebhookConfigError> {
    if s.is_empty() {
        return Err(WebhookConfigError::InvalidSecret {
            reason: "secret is empty",
        });
    }
    hex::decode(s)
        .map(zeroize::Zeroizing::new)
        .map_err(|_| WebhookConfigError::InvalidSecret { reason })
}

pub(crate) fn verify(
    keys: &[PublicKey],
    body: &[u8],
    headers: &Headers,
    ctx: &Ctx<'_>,
) -> Result<Checked, WebhookError> {
    let sig_raw = parse::required(headers, HEADER_SIG)?;
    let ts_raw = parse::required(headers, HEADER_TS)?;
    let ts = parse::unix_seconds(ts_raw, HEADER_TS)?;
    let sig = match parse::hex_mac::<SIGNATURE_LEN>(sig_raw)
        .map_err(|r| WebhookError::invalid(HEADER_SIG, r))?
    {
        Decoded::Mac(sig) => sig,
        Decoded::WrongLength => {
            return Err(WebhookError::invalid(
                HEADER_SIG,
                "signature is not 64 bytes of hex",
            ))
        }
    };
    parse::check_window(ts, ctx.now, ctx.tolerance)?;
    let mut message = Vec::with_capacity(ts_raw.len() + body.len());
    message.extend_from_slice(ts_raw);
    message.extend_from_slice(body);
    if keys.iter().any(|k| k.verify(&message, &sig)) {
        Ok(Checked {
            id: None,
            timestamp: Some(ts),
            replay: ctx.signed_digest(&[ts_raw, body]),
        })
    } else {
        Err(WebhookError::InvalidSignature)
    }
}

pub(crate) fn sign(key: &PrivateKey, body: &[u8], ts: i64) -> Vec<(String, String)> {
    let ts = ts.to_string();
    let mut message = Vec::with_capacity(ts.len() + body.len());
    message.extend_from_slice(ts.as_bytes());
    message.extend_from_slice(body);
    vec![
        (
            "X-Signature-Ed25519".to_owned(),
            hex::encode(key.sign(&message)),
        ),
        ("X-Signature-Timestamp".to_owned(), ts),
    ]
}

/// The public key to give receivers, as Discord shows it: hex.
pub(crate) fn public_key(key: &PrivateKey) -> String {
    hex::encode(key.public())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const TS: i64 = 1_700_000_000;

    fn ctx() -> Ctx<'static> {
        Ctx {
            now: TS,
            tolerance: Some(300),
            url: None,
            guarded: false,
        }
    }

    fn code<N: AsRef<str>>(pairs: &[(N, String)], body: &[u8]) -> &'static str {
        let sk = signing_key(SEED).unwrap();
        let k = [key(&public_key(&sk)).unwrap()];
        let h = Headers::from_pairs(pairs.iter().map(|(n, v)| (n.as_ref(), v.as_str())));
        verify(&k, body, &h, &ctx())
            .map(|_| "valid")
            .unwrap_or_else(|e| e.code())
    }

    #[test]
    fn round_trip_and_parsing() {
        let sk = signing_key(SEED).unwrap();
        let h = sign(&sk, b"{\"type\":1}", TS);
        assert_eq!(code(&h, b"{\"type\":1}"), "valid");
        assert_eq!(code(&h, b"{\"type\":2}"), "invalid_signature");
        let sig = h[0].1.clone();
        let ts = ("X-Signature-Timestamp", TS.to_string());
        let with = |s: String| vec![("X-Signature-Ed25519", s), ts.clone()];
        assert_eq!(code(&with(sig.to_uppercase()), b"{\"type\":1}"), "valid");
        assert_eq!(
            code(&with(sig[2..].to_owned()), b"{\"type\":1}"),
            "invalid_header"
        );
        assert_eq!(
            code(&with(format!("{sig}x")), b"{\"type\":1}"),
            "invalid_header"
        );
        assert_eq!(
            code(&with(format!("{sig}00")), b"{\"type\":1}"),
            "invalid_header"
        );
        assert_eq!(code(std::slice::from_ref(&ts), b""), "missing_header");
        let old = vec![
            ("X-Signature-Ed25519", sig),
            ("X-Signature-Timestamp", (TS - 301).to_string()),
        ];
        assert_eq!(code(&old, b"{\"type\":1}"), "timestamp_too_old");
    }

    #[test]
    fn key_formats() {
        assert!(key("").is_err());
        assert!(key("zz").is_err());
        assert!(key(&"ab".repeat(31)).is_err());
        assert!(signing_key(&"ab".repeat(33)).is_err());
        let sk = signing_key(SEED).unwrap();
        let pair = hex::encode(&sk.keypair_bytes()[..]);
        assert_eq!(public_key(&signing_key(&pair).unwrap()), public_key(&sk));
    }
}

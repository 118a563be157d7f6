//! Intercom: `X-Hub-Signature: sha1=<hex>`, HMAC-SHA1 of the body keyed by
//! the app's client secret.
//!
//! Intercom signs no timestamp and sends no message id in a header, so the
//! replay guard, when configured, keys on the verified MAC. SHA-1 is what
//! Intercom sends; as an HMAC it is not broken by SHA-1's collisions.

use super::error::{WebhookConfigError, WebhookError};
use super::github::one_signature;
use super::headers::Headers;
use super::parse;
use super::secret::{raw_secret, HmacSha1, MacKey};
use super::verifier::{Checked, Ctx};

pub(crate) const HEADER: &str = "x-hub-signature";

pub(crate) fn key(secret: &str) -> Result<MacKey<HmacSha1>, WebhookConfigError> {
    MacKey::new(raw_secret(secret)?)
}

fn mac(key: &MacKey<HmacSha1>, body: &[u8]) -> [u8; 20] {
    key.mac_of(&[body])
}

pub(crate) fn verify(
    keys: &[MacKey<HmacSha1>],
    body: &[u8],
    headers: &Headers,
    ctx: &Ctx<'_>,
) -> Result<Checked, WebhookError> {
    let c = one_signature::<20>(parse::required(headers, HEADER)?, b"sha1=", HEADER)?;
    if !c.matched_by(keys, |k| mac(k, body)) {
        return Err(WebhookError::InvalidSignature);
    }
    Ok(Checked {
        id: None,
        timestamp: None,
        replay: ctx.signed_digest(&[body]),
    })
}

pub(crate) fn sign(key: &MacKey<HmacSha1>, body: &[u8]) -> Vec<(String, String)> {
    vec![(
        "X-Hub-Signature".to_owned(),
        format!("sha1={}", hex::encode(mac(key, body))),
    )]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn code(body: &[u8], sig: &str) -> &'static str {
        let k = [key("client-secret").unwrap()];
        let h = Headers::from_pairs([("X-Hub-Signature", sig)]);
        let ctx = Ctx {
            now: 0,
            tolerance: Some(300),
            url: None,
            guarded: false,
        };
        verify(&k, body, &h, &ctx)
            .map(|_| "valid")
            .unwrap_or_else(|e| e.code())
    }

    #[test]
    fn round_trip_and_parsing() {
        let k = key("client-secret").unwrap();
        let sig = sign(&k, b"{}").remove(0).1;
        assert!(sig.starts_with("sha1=") && sig.len() == 45);
        assert_eq!(code(b"{}", &sig), "valid");
        assert_eq!(code(b"{ }", &sig), "invalid_signature");
        assert_eq!(code(b"{}", &sig[5..]), "invalid_header");
        assert_eq!(
            code(b"{}", &format!("sha256={}", &sig[5..])),
            "invalid_header"
        );
        assert_eq!(code(b"{}", &format!("{sig}, {sig}")), "invalid_header");
        assert_eq!(code(b"{}", ""), "missing_header");
    }
}

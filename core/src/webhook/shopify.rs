//! Shopify: `X-Shopify-Hmac-Sha256: <base64>`, HMAC-SHA256 of the body keyed
//! by the app's client secret.
//!
//! Shopify signs no timestamp; `X-Shopify-Webhook-Id` is reported as the id
//! when present, but it is not signed: the replay guard keys on the body.

use base64::Engine as _;

use super::error::{WebhookConfigError, WebhookError};
use super::headers::Headers;
use super::parse::{self, Candidates};
use super::secret::{raw_secret, HmacSha256, MacKey};
use super::verifier::{Checked, Ctx};

pub(crate) const HEADER: &str = "x-shopify-hmac-sha256";
pub(crate) const HEADER_ID: &str = "x-shopify-webhook-id";

pub(crate) fn key(secret: &str) -> Result<MacKey<HmacSha256>, WebhookConfigError> {
    MacKey::new(raw_secret(secret)?)
}

fn mac(key: &MacKey<HmacSha256>, body: &[u8]) -> [u8; 32] {
    key.mac_of(&[body])
}

pub(crate) fn verify(
    keys: &[MacKey<HmacSha256>],
    body: &[u8],
    headers: &Headers,
    ctx: &Ctx<'_>,
) -> Result<Checked, WebhookError> {
    let sig = parse::required(headers, HEADER)?;
    let id = parse::optional(headers, HEADER_ID)?
        .map(|v| parse::message_id(v, HEADER_ID))
        .transpose()?;
    let mut c = Candidates::<32>::new();
    c.push(
        parse::base64_mac(sig).map_err(|r| WebhookError::invalid(HEADER, r))?,
        HEADER,
    )?;
    if !c.matched_by(keys, |k| mac(k, body)) {
        return Err(WebhookError::InvalidSignature);
    }
    Ok(Checked {
        replay: ctx.signed_digest(&[body]),
        id,
        timestamp: None,
    })
}

pub(crate) fn sign(
    key: &MacKey<HmacSha256>,
    body: &[u8],
    id: Option<&str>,
) -> Vec<(String, String)> {
    let mut out = vec![(
        "X-Shopify-Hmac-Sha256".to_owned(),
        base64::engine::general_purpose::STANDARD.encode(mac(key, body)),
    )];
    if let Some(id) = id {
        out.push(("X-Shopify-Webhook-Id".to_owned(), id.to_owned()));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn code(sig: &str) -> &'static str {
        // Shopify/shopify-app-js packages/apps/shopify-api/lib/webhooks/__tests__/validate.test.ts
        let k = [key("test_secret_key").unwrap()];
        let h = Headers::from_pairs([("X-Shopify-Hmac-Sha256", sig)]);
        let ctx = Ctx {
            now: 0,
            tolerance: Some(300),
            url: None,
            guarded: false,
        };
        verify(&k, br#"{"foo": "bar"}"#, &h, &ctx)
            .map(|_| "valid")
            .unwrap_or_else(|e| e.code())
    }

    #[test]
    fn official_vector_and_parsing() {
        let good = "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=";
        assert_eq!(code(good), "valid");
        assert_eq!(code(&good[..43]), "invalid_signature");
        assert_eq!(code(&format!("{good}=")), "invalid_header");
        assert_eq!(code(&format!("{good} x")), "invalid_header");
        assert_eq!(code(&good.replace('B', "-")), "invalid_header");
        assert_eq!(code("fake"), "invalid_signature");
        assert_eq!(code(""), "missing_header");
    }
}

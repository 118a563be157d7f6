//! LINE Messaging API: `x-line-signature: <base64>`, HMAC-SHA256 of the body
//! keyed by the channel secret.
//!
//! LINE signs no timestamp and sends no message id in a header (event ids
//! are inside the body), so the replay guard, when configured, keys on the
//! verified MAC.

use base64::Engine as _;

use super::error::{WebhookConfigError, WebhookError};
use super::headers::Headers;
use super::parse::{self, Candidates};
use super::secret::{raw_secret, HmacSha256, MacKey};
use super::verifier::{Checked, Ctx};

pub(crate) const HEADER: &str = "x-line-signature";

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
    let mut c = Candidates::<32>::new();
    c.push(
        parse::base64_mac(sig).map_err(|r| WebhookError::invalid(HEADER, r))?,
        HEADER,
    )?;
    if !c.matched_by(keys, |k| mac(k, body)) {
        return Err(WebhookError::InvalidSignature);
    }
    Ok(Checked {
        id: None,
        timestamp: None,
        replay: ctx.signed_digest(&[body]),
    })
}

pub(crate) fn sign(key: &MacKey<HmacSha256>, body: &[u8]) -> Vec<(String, String)> {
    vec![(
        "x-line-signature".to_owned(),
        base64::engine::general_purpose::STANDARD.encode(mac(key, body)),
    )]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn code(secret: &str, body: &[u8], sig: &str) -> &'static str {
        let k = [key(secret).unwrap()];
        let h = Headers::from_pairs([("X-Line-Signature", sig)]);
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
        let k = key("testsecret").unwrap();
        let sig = sign(&k, b"{\"events\":[]}").remove(0).1;
        assert_eq!(code("testsecret", b"{\"events\":[]}", &sig), "valid");
        assert_eq!(
            code("testsecret", b"{\"events\":[1]}", &sig),
            "invalid_signature"
        );
        assert_eq!(
            code("testsecret", b"{\"events\":[]}", &format!("{sig} ")),
            "valid"
        );
        assert_eq!(
            code("testsecret", b"{}", &format!("{sig}x")),
            "invalid_header"
        );
        assert_eq!(code("testsecret", b"{}", ""), "missing_header");
    }
}

//! Chatwoot: `X-Chatwoot-Signature: sha256=<hex>`, HMAC-SHA256 of
//! `{timestamp}.{body}` keyed by the webhook's secret, with the Unix
//! timestamp in `X-Chatwoot-Timestamp` — as Chatwoot's `Webhooks::Trigger`
//! signs it (its spec, `spec/lib/webhooks/trigger_spec.rb`, checks exactly
//! this string).
//!
//! `X-Chatwoot-Delivery` is reported as the id when present, but Chatwoot
//! does not sign it, so the replay guard keys on the verified MAC (which
//! covers the timestamp and the body), never on the unsigned id.

use super::error::{WebhookConfigError, WebhookError};
use super::github::one_signature;
use super::headers::Headers;
use super::parse;
use super::secret::{raw_secret, HmacSha256, MacKey};
use super::verifier::{Checked, Ctx};

pub(crate) const HEADER_SIG: &str = "x-chatwoot-signature";
pub(crate) const HEADER_TS: &str = "x-chatwoot-timestamp";
pub(crate) const HEADER_ID: &str = "x-chatwoot-delivery";

pub(crate) fn key(secret: &str) -> Result<MacKey<HmacSha256>, WebhookConfigError> {
    MacKey::new(raw_secret(secret)?)
}

fn mac(key: &MacKey<HmacSha256>, ts: &[u8], body: &[u8]) -> [u8; 32] {
    key.mac_of(&[ts, b".", body])
}

pub(crate) fn verify(
    keys: &[MacKey<HmacSha256>],
    body: &[u8],
    headers: &Headers,
    ctx: &Ctx<'_>,
) -> Result<Checked, WebhookError> {
    let sig_raw = parse::required(headers, HEADER_SIG)?;
    let ts_raw = parse::required(headers, HEADER_TS)?;
    let id = parse::optional(headers, HEADER_ID)?
        .map(|v| parse::message_id(v, HEADER_ID))
        .transpose()?;
    let ts = parse::unix_seconds(ts_raw, HEADER_TS)?;
    let c = one_signature::<32>(sig_raw, b"sha256=", HEADER_SIG)?;
    parse::check_window(ts, ctx.now, ctx.tolerance)?;
    if !c.matched_by(keys, |k| mac(k, ts_raw, body)) {
        return Err(WebhookError::InvalidSignature);
    }
    Ok(Checked {
        id,
        timestamp: Some(ts),
        replay: ctx.signed_digest(&[ts_raw, body]),
    })
}

pub(crate) fn sign(
    key: &MacKey<HmacSha256>,
    body: &[u8],
    ts: i64,
    id: Option<&str>,
) -> Vec<(String, String)> {
    let ts = ts.to_string();
    let sig = hex::encode(mac(key, ts.as_bytes(), body));
    let mut out = vec![
        ("X-Chatwoot-Signature".to_owned(), format!("sha256={sig}")),
        ("X-Chatwoot-Timestamp".to_owned(), ts),
    ];
    if let Some(id) = id {
        out.push(("X-Chatwoot-Delivery".to_owned(), id.to_owned()));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const TS: i64 = 1_700_000_000;

    fn code<N: AsRef<str>>(pairs: &[(N, String)], body: &[u8]) -> &'static str {
        let k = [key("chatwoot-secret").unwrap()];
        let h = Headers::from_pairs(pairs.iter().map(|(n, v)| (n.as_ref(), v.as_str())));
        let ctx = Ctx {
            now: TS,
            tolerance: Some(300),
            url: None,
            guarded: false,
        };
        verify(&k, body, &h, &ctx)
            .map(|_| "valid")
            .unwrap_or_else(|e| e.code())
    }

    #[test]
    fn signs_timestamp_dot_body() {
        let k = key("chatwoot-secret").unwrap();
        let h = sign(&k, b"{\"event\":\"message_created\"}", TS, Some("abc-123"));
        assert_eq!(code(&h, b"{\"event\":\"message_created\"}"), "valid");
        // the body alone (the signature the spec calls wrong) does not verify
        let body_only = format!(
            "sha256={}",
            hex::encode(k.mac_of::<32>(&[b"{\"event\":\"message_created\"}"]))
        );
        let wrong = vec![
            ("X-Chatwoot-Signature", body_only),
            ("X-Chatwoot-Timestamp", TS.to_string()),
        ];
        assert_eq!(
            code(&wrong, b"{\"event\":\"message_created\"}"),
            "invalid_signature"
        );
        let moved = vec![
            (h[0].0.as_str(), h[0].1.clone()),
            ("X-Chatwoot-Timestamp", (TS + 1).to_string()),
        ];
        assert_eq!(
            code(&moved, b"{\"event\":\"message_created\"}"),
            "invalid_signature"
        );
        let old = vec![
            (h[0].0.as_str(), h[0].1.clone()),
            ("X-Chatwoot-Timestamp", (TS - 301).to_string()),
        ];
        assert_eq!(code(&old, b"{}"), "timestamp_too_old");
        assert_eq!(
            code(&[(h[0].0.as_str(), h[0].1.clone())], b"{}"),
            "missing_header"
        );
    }
}

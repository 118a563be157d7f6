//! Slack: `X-Slack-Signature: v0=<hex>` with `X-Slack-Request-Timestamp`.
//!
//! Signed bytes: `v0:{timestamp}:{body}`, HMAC-SHA256 keyed by the signing
//! secret, hex. The timestamp is checked in both directions, as slack_sdk
//! does (`abs(now - ts) > 300`). Slack carries no message id; the replay
//! guard keys on the signed timestamp and body.

use super::error::{WebhookConfigError, WebhookError};
use super::headers::Headers;
use super::parse::{self, Candidates};
use super::secret::{raw_secret, HmacSha256, MacKey};
use super::verifier::{Checked, Ctx};

pub(crate) const HEADER_SIG: &str = "x-slack-signature";
pub(crate) const HEADER_TS: &str = "x-slack-request-timestamp";

pub(crate) fn key(secret: &str) -> Result<MacKey<HmacSha256>, WebhookConfigError> {
    MacKey::new(raw_secret(secret)?)
}

fn mac(key: &MacKey<HmacSha256>, ts: &[u8], body: &[u8]) -> [u8; 32] {
    key.mac_of(&[b"v0:", ts, b":", body])
}

pub(crate) fn verify(
    keys: &[MacKey<HmacSha256>],
    body: &[u8],
    headers: &Headers,
    ctx: &Ctx<'_>,
) -> Result<Checked, WebhookError> {
    let ts_raw = parse::required(headers, HEADER_TS)?;
    let sig_raw = parse::required(headers, HEADER_SIG)?;
    let ts = parse::unix_seconds(ts_raw, HEADER_TS)?;
    let hex = sig_raw.strip_prefix(b"v0=").ok_or(WebhookError::invalid(
        HEADER_SIG,
        "signature does not start with `v0=`",
    ))?;
    let mut c = Candidates::<32>::new();
    c.push(
        parse::hex_mac(hex).map_err(|r| WebhookError::invalid(HEADER_SIG, r))?,
        HEADER_SIG,
    )?;
    parse::check_window(ts, ctx.now, ctx.tolerance)?;
    if !c.matched_by(keys, |k| mac(k, ts_raw, body)) {
        return Err(WebhookError::InvalidSignature);
    }
    Ok(Checked {
        id: None,
        timestamp: Some(ts),
        replay: ctx.signed_digest(&[ts_raw, body]),
    })
}

pub(crate) fn sign(key: &MacKey<HmacSha256>, body: &[u8], ts: i64) -> Vec<(String, String)> {
    let t = ts.to_string();
    vec![
        ("X-Slack-Request-Timestamp".to_owned(), t.clone()),
        (
            "X-Slack-Signature".to_owned(),
            format!("v0={}", hex::encode(mac(key, t.as_bytes(), body))),
        ),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    // slack_sdk tests/slack_sdk/signature/test_signature_verifier.py (Slack docs example)
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn code(ts: &str, sig: &str, now: i64) -> &'static str {
        let k = [key(SECRET).unwrap()];
        let h = Headers::from_pairs([
            ("X-Slack-Request-Timestamp", ts),
            ("X-Slack-Signature", sig),
        ]);
        let ctx = Ctx {
            now,
            tolerance: Some(300),
            url: None,
            guarded: false,
        };
        verify(&k, BODY.as_bytes(), &h, &ctx)
            .map(|_| "valid")
            .unwrap_or_else(|e| e.code())
    }

    #[test]
    fn docs_example() {
        assert_eq!(code("1531420618", SIG, 1_531_420_618), "valid");
        assert_eq!(
            sign(&key(SECRET).unwrap(), BODY.as_bytes(), 1_531_420_618)[1].1,
            SIG
        );
    }

    #[test]
    fn errors() {
        assert_eq!(code("1531420618", SIG, 1_531_420_919), "timestamp_too_old");
        assert_eq!(code("1531420618", SIG, 1_531_420_317), "timestamp_too_new");
        assert_eq!(
            code("1531420618", &SIG[3..], 1_531_420_618),
            "invalid_header"
        );
        assert_eq!(
            code("1531420618", &SIG.replace("v0=", "v1="), 1_531_420_618),
            "invalid_header"
        );
        assert_eq!(code("1531420618.5", SIG, 1_531_420_618), "invalid_header");
        assert_eq!(code("1531420619", SIG, 1_531_420_618), "invalid_signature");
        assert_eq!(code("", SIG, 1_531_420_618), "missing_header");
    }
}

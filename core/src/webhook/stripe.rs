//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=<hex>]`.
//!
//! Signed bytes: `{t}.{body}`; HMAC-SHA256, hex; the key is the whole secret
//! string including its `whsec_` prefix (Stripe does not decode it). Only `v1`
//! entries are candidates; `v0` and unknown keys are ignored, as in
//! stripe-python/stripe-node. Unlike those libraries we also reject
//! timestamps in the future beyond the tolerance.

use super::error::{WebhookConfigError, WebhookError};
use super::headers::Headers;
use super::parse::{self, Candidates, Decoded};
use super::secret::{raw_secret, HmacSha256, MacKey};
use super::verifier::{Checked, Ctx};

pub(crate) const HEADER: &str = "stripe-signature";
/// Canonical spelling a signer emits.
const SIGN_HEADER: &str = "Stripe-Signature";

pub(crate) fn key(secret: &str) -> Result<MacKey<HmacSha256>, WebhookConfigError> {
    MacKey::new(raw_secret(secret)?)
}

pub(crate) fn mac(key: &MacKey<HmacSha256>, ts: &[u8], body: &[u8]) -> [u8; 32] {
    key.mac_of(&[ts, b".", body])
}

/// The parsed header: the raw timestamp bytes (signed as received) and the
/// `v1` candidates.
struct Parsed<'a> {
    ts_raw: &'a [u8],
    ts: i64,
    candidates: Candidates<32>,
}

fn parse_header(value: &[u8]) -> Result<Parsed<'_>, WebhookError> {
    let mut ts: Option<(&[u8], i64)> = None;
    let mut candidates = Candidates::new();
    let mut items = 0usize;
    for item in value.split(|&b| b == b',') {
        items += 1;
        // t + up to 16 signatures of any scheme (v1, v0, …).
        if items > parse::MAX_SIGNATURES + 1 {
            return Err(WebhookError::invalid(HEADER, "too many signatures"));
        }
        let eq = item
            .iter()
            .position(|&b| b == b'=')
            .ok_or(WebhookError::invalid(HEADER, "item is not `key=value`"))?;
        let (k, v) = (&item[..eq], &item[eq + 1..]);
        match k {
            b"t" => {
                if ts.is_some() {
                    return Err(WebhookError::invalid(HEADER, "more than one timestamp"));
                }
                ts = Some((v, parse::unix_seconds(v, HEADER)?));
            }
            b"v1" => {
                let d = parse::hex_mac::<32>(v).map_err(|r| WebhookError::invalid(HEADER, r))?;
                candidates.push(d, HEADER)?;
            }
            _ if !k.is_empty() && k.iter().all(u8::is_ascii_alphanumeric) => {
                candidates.push(Decoded::WrongLength, HEADER)?;
            }
            _ => return Err(WebhookError::invalid(HEADER, "item is not `key=value`")),
        }
    }
    let (ts_raw, ts) = ts.ok_or(WebhookError::invalid(HEADER, "no timestamp"))?;
    Ok(Parsed {
        ts_raw,
        ts,
        candidates,
    })
}

pub(crate) fn verify(
    keys: &[MacKey<HmacSha256>],
    body: &[u8],
    headers: &Headers,
    ctx: &Ctx<'_>,
) -> Result<Checked, WebhookError> {
    let p = parse_header(parse::required(headers, HEADER)?)?;
    parse::check_window(p.ts, ctx.now, ctx.tolerance)?;
    if p.candidates.is_empty() {
        return Err(WebhookError::InvalidSignature);
    }
    if !p.candidates.matched_by(keys, |k| mac(k, p.ts_raw, body)) {
        return Err(WebhookError::InvalidSignature);
    }
    Ok(Checked {
        id: None,
        timestamp: Some(p.ts),
        // What was signed, not which secret's MAC matched: during a
        // rotation the sender signs with both, and dropping one `v1=`
        // must not make the same event new again.
        replay: ctx.signed_digest(&[p.ts_raw, body]),
    })
}

pub(crate) fn sign(key: &MacKey<HmacSha256>, body: &[u8], ts: i64) -> Vec<(String, String)> {
    let t = ts.to_string();
    let sig = hex::encode(mac(key, t.as_bytes(), body));
    vec![(SIGN_HEADER.to_owned(), format!("t={t},v1={sig}"))]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn code(header: &str) -> &'static str {
        let k = [key("whsec_test_secret").unwrap()];
        let h = Headers::from_pairs([("Stripe-Signature", header)]);
        let ctx = Ctx {
            now: 1_700_000_000,
            tolerance: Some(300),
            url: None,
            guarded: false,
        };
        verify(&k, b"{}", &h, &ctx)
            .map(|_| "valid")
            .unwrap_or_else(|e| e.code())
    }

    #[test]
    fn round_trip_and_parsing() {
        let k = key("whsec_test_secret").unwrap();
        let h = sign(&k, b"{}", 1_700_000_000);
        let good = h[0].1.clone();
        assert_eq!(code(&good), "valid");
        let sig = good.split("v1=").nth(1).unwrap().to_owned();
        // stripe-python accepts a junk entry beside a valid one; we are strict.
        assert_eq!(code(&format!("{good},v1=bad_signature")), "invalid_header");
        assert_eq!(code(&format!("{good},v1=bad")), "valid");
        assert_eq!(code(&format!("{good},v0=abcd")), "valid");
        assert_eq!(code(&format!("v1={sig},t=1700000000")), "valid");
        assert_eq!(code(&format!("v1={},{good}", "0".repeat(64))), "valid");
        assert_eq!(code(&format!("{good},v1={}", sig.to_uppercase())), "valid");
        assert_eq!(code("t=1700000000,v0=abcd"), "invalid_signature");
        assert_eq!(code(&format!("v1={sig}")), "invalid_header");
        assert_eq!(
            code(&format!("t=1700000000,t=1700000000,v1={sig}")),
            "invalid_header"
        );
        assert_eq!(code(&format!("t=1700000000.0,v1={sig}")), "invalid_header");
        assert_eq!(code(&format!("t=1700000000, v1={sig}")), "invalid_header");
        assert_eq!(code(&format!("t=1700000000,v1={sig},")), "invalid_header");
        assert_eq!(code("bad_header"), "invalid_header");
        assert_eq!(code(&format!("t=1699999699,v1={sig}")), "timestamp_too_old");
        assert_eq!(code(&format!("t=1700000301,v1={sig}")), "timestamp_too_new");
        let many = format!("t=1700000000{}", format!(",v1={sig}").repeat(17));
        assert_eq!(code(&many), "invalid_header");
    }
}

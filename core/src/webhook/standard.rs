//! Standard Webhooks (and Svix, which it was extracted from).
//!
//! Headers `webhook-id`, `webhook-timestamp`, `webhook-signature` (or the same
//! three with the `svix-` prefix). The signature header is a space-separated
//! list of `version,base64` entries; only `v1` (HMAC-SHA256) entries are
//! candidates, other versions (e.g. `v1a`, asymmetric) are skipped as the
//! specification requires. Signed bytes: `{id}.{timestamp}.{body}`. The key is
//! the base64 after the `whsec_` prefix (bare base64 accepted too).

use hmac::Mac;

use super::error::{WebhookConfigError, WebhookError};
use super::headers::Headers;
use super::parse::{self, Candidates, Decoded};
use super::secret::{decode_standard_secret, HmacSha256, MacKey};
use super::verifier::{Checked, Ctx};

/// One header family: the unbranded names and Svix's.
struct Family {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
}

const WEBHOOK: Family = Family {
    id: "webhook-id",
    timestamp: "webhook-timestamp",
    signature: "webhook-signature",
};
const SVIX: Family = Family {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
};

/// Header names a signer emits.
pub(crate) const SIGN_HEADERS: [&str; 3] = ["webhook-id", "webhook-timestamp", "webhook-signature"];

pub(crate) fn key(secret: &str) -> Result<MacKey<HmacSha256>, WebhookConfigError> {
    let raw = decode_standard_secret(secret)?;
    MacKey::new(&raw)
}

/// HMAC-SHA256 over `{id}.{ts}.{body}` without building the string.
pub(crate) fn mac(key: &MacKey<HmacSha256>, id: &[u8], ts: &[u8], body: &[u8]) -> [u8; 32] {
    let mut m = key.start();
    m.update(id);
    m.update(b".");
    m.update(ts);
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().into()
}

/// Parse `v1,<b64> v1,<b64> …`. Entries are separated by single spaces;
/// empty entries (double spaces), entries without a comma, and malformed
/// base64 in a `v1` entry are `invalid_header`.
fn signatures(value: &[u8], header: &'static str) -> Result<Candidates<32>, WebhookError> {
    let mut out = Candidates::new();
    for entry in value.split(|&b| b == b' ') {
        let comma = entry
            .iter()
            .position(|&b| b == b',')
            .ok_or(WebhookError::invalid(
                header,
                "entry is not `version,signature`",
            ))?;
        let (version, sig) = (&entry[..comma], &entry[comma + 1..]);
        if version.is_empty() || !version.iter().all(u8::is_ascii_alphanumeric) {
            return Err(WebhookError::invalid(
                header,
                "entry is not `version,signature`",
            ));
        }
        if version == b"v1" {
            let decoded =
                parse::base64_mac::<32>(sig).map_err(|r| WebhookError::invalid(header, r))?;
            out.push(decoded, header)?;
        } else {
            // Other versions are not ours to judge, but still count.
            out.push(Decoded::WrongLength, header)?;
        }
    }
    Ok(out)
}

/// The header family in use: the one whose signature header is present,
/// preferring the unbranded names, so id, timestamp and signature always come
/// from the same family.
fn family(headers: &Headers) -> &'static Family {
    if headers.get(WEBHOOK.signature).is_none() && headers.get(SVIX.signature).is_some() {
        &SVIX
    } else {
        &WEBHOOK
    }
}

pub(crate) fn verify(
    keys: &[MacKey<HmacSha256>],
    body: &[u8],
    headers: &Headers,
    ctx: &Ctx<'_>,
) -> Result<Checked, WebhookError> {
    let f = family(headers);
    let id_raw = parse::required(headers, f.id)?;
    let ts_raw = parse::required(headers, f.timestamp)?;
    let sig_raw = parse::required(headers, f.signature)?;
    let id = parse::message_id(id_raw, f.id)?;
    let ts = parse::unix_seconds(ts_raw, f.timestamp)?;
    let candidates = signatures(sig_raw, f.signature)?;
    parse::check_window(ts, ctx.now, ctx.tolerance)?;
    if candidates.is_empty() {
        return Err(WebhookError::InvalidSignature);
    }
    for key in keys {
        let expected = mac(key, id_raw, ts_raw, body);
        if bool::from(candidates.matches(&expected)) {
            return Ok(Checked {
                // The id is signed and, by the specification, the same on
                // every retry of one message: key on it, so an accepted
                // message is not processed again when the sender retries.
                replay: ctx.signed_digest(&[b"id", id_raw]),
                id: Some(id),
                timestamp: Some(ts),
            });
        }
    }
    Err(WebhookError::InvalidSignature)
}

pub(crate) fn sign(
    key: &MacKey<HmacSha256>,
    body: &[u8],
    id: &str,
    ts: i64,
) -> Vec<(String, String)> {
    let ts = ts.to_string();
    let sig = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        mac(key, id.as_bytes(), ts.as_bytes(), body),
    );
    vec![
        (SIGN_HEADERS[0].to_owned(), id.to_owned()),
        (SIGN_HEADERS[1].to_owned(), ts),
        (SIGN_HEADERS[2].to_owned(), format!("v1,{sig}")),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const TS: i64 = 1_614_265_330;

    fn ctx() -> Ctx<'static> {
        Ctx {
            now: TS,
            tolerance: Some(300),
            url: None,
            guarded: false,
        }
    }

    fn headers(sig: &str) -> Headers {
        Headers::from_pairs([
            ("webhook-id", ID.to_owned()),
            ("webhook-timestamp", TS.to_string()),
            ("webhook-signature", sig.to_owned()),
        ])
    }

    #[test]
    fn official_sign_vector() {
        let k = key(SECRET).unwrap();
        let h = sign(&k, BODY, ID, TS);
        assert_eq!(h[2].1, SIG);
    }

    #[test]
    fn signature_list_parsing() {
        let k = [key(SECRET).unwrap()];
        let ok = |s: &str| verify(&k, BODY, &headers(s), &ctx());
        assert!(ok(SIG).is_ok());
        assert!(ok(&format!("v1a,abc {SIG}")).is_ok());
        assert!(ok(&format!(
            "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {SIG}"
        ))
        .is_ok());
        let code = |s: &str| ok(s).unwrap_err().code();
        assert_eq!(
            code("v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="),
            "invalid_signature"
        );
        assert_eq!(code("v1,dawfeoifkpqwoekfpqoekf"), "invalid_signature");
        assert_eq!(code(&format!("{SIG}  {SIG}")), "invalid_header");
        assert_eq!(code(&format!("{SIG},")), "invalid_header");
        assert_eq!(code("v1"), "invalid_header");
        assert_eq!(code("v1,"), "invalid_header");
        assert_eq!(code(",abc"), "invalid_header");
        assert_eq!(
            code("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=junk"),
            "invalid_header"
        );
        assert_eq!(code(&vec![SIG; 17].join(" ")), "invalid_header");
        assert!(ok(&vec![SIG; 16].join(" ")).is_ok());
    }

    #[test]
    fn svix_headers_are_accepted_as_one_family() {
        let k = [key(SECRET).unwrap()];
        let h = Headers::from_pairs([
            ("svix-id", ID.to_owned()),
            ("svix-timestamp", TS.to_string()),
            ("svix-signature", SIG.to_owned()),
        ]);
        assert!(verify(&k, BODY, &h, &ctx()).is_ok());
        // a svix signature with an unbranded id does not mix families
        let h = Headers::from_pairs([
            ("webhook-id", ID.to_owned()),
            ("svix-timestamp", TS.to_string()),
            ("svix-signature", SIG.to_owned()),
        ]);
        let err = verify(&k, BODY, &h, &ctx()).unwrap_err();
        assert_eq!(err, WebhookError::MissingHeader { header: "svix-id" });
    }

    #[test]
    fn each_header_is_required() {
        let k = [key(SECRET).unwrap()];
        for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            let h = Headers::from_pairs(
                [
                    ("webhook-id", ID.to_owned()),
                    ("webhook-timestamp", TS.to_string()),
                    ("webhook-signature", SIG.to_owned()),
                ]
                .into_iter()
                .filter(|(n, _)| *n != missing),
            );
            let err = verify(&k, BODY, &h, &ctx()).unwrap_err();
            assert_eq!(err.code(), "missing_header");
            assert!(err.to_string().contains(missing));
        }
    }
}

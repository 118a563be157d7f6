//! Standard Webhooks (and Svix, which it was extracted from).
//!
//! Headers `webhook-id`, `webhook-timestamp`, `webhook-signature` (or the same
//! three with the `svix-` prefix). The signature header is a space-separated
//! list of `version,base64` entries. Signed bytes: `{id}.{timestamp}.{body}`.
//!
//! Two signature forms, as the specification defines them:
//! - `v1`: HMAC-SHA256, keyed by the base64 after the `whsec_` prefix (bare
//!   base64 accepted too).
//! - `v1a`: Ed25519 (asymmetric). The sender signs with a `whsk_` secret key
//!   (base64 of the 64-byte `seed || public key`, or of the 32-byte seed);
//!   receivers verify with the `whpk_` public key (base64 of 32 bytes), so a
//!   receiver holds nothing that can sign.
//!
//! A verifier's keys may mix both (a sender moving from `whsec_` to `whpk_`);
//! `v1` entries are checked against the HMAC keys, `v1a` entries against the
//! public keys, and entries of other versions are skipped as the
//! specification requires.

use super::ed25519::{PrivateKey, PublicKey, SIGNATURE_LEN};
use super::error::{WebhookConfigError, WebhookError};
use super::headers::Headers;
use super::parse::{self, Candidates, Decoded};
use super::secret::{decode_standard_secret, HmacSha256, MacKey, B64_SECRET};
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

/// Most (v1a signature, public key) pairs verified for one request: e.g.
/// two signatures during the sender's rotation against two keys during
/// ours, with room to spare.
const MAX_ED25519_CHECKS: usize = 16;

/// Prefix of an asymmetric secret (signing) key.
pub(crate) const WHSK_PREFIX: &str = "whsk_";
/// Prefix of an asymmetric public (verifying) key.
pub(crate) const WHPK_PREFIX: &str = "whpk_";

/// A verifier's key: an HMAC secret (`whsec_…`) or an Ed25519 public key
/// (`whpk_…`).
#[derive(Debug)]
pub(crate) enum StandardKey {
    Hmac(MacKey<HmacSha256>),
    Ed25519(PublicKey),
}

impl StandardKey {
    /// The replay guard's name for this key (one-way for a secret; see
    /// [`MacKey::replay_identity`]).
    pub(crate) fn replay_identity(&self, scheme: super::scheme::Scheme) -> [u8; 32] {
        match self {
            Self::Hmac(k) => k.replay_identity(scheme),
            Self::Ed25519(p) => p.replay_identity(scheme),
        }
    }
}

/// A signer's key: an HMAC secret (`whsec_…`) or an Ed25519 secret key
/// (`whsk_…`).
#[derive(Debug)]
pub(crate) enum StandardSigningKey {
    Hmac(MacKey<HmacSha256>),
    Ed25519(PrivateKey),
}

fn asymmetric(encoded: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, WebhookConfigError> {
    use base64::Engine as _;
    B64_SECRET
        .decode(encoded)
        .map(zeroize::Zeroizing::new)
        .map_err(|_| WebhookConfigError::InvalidSecret {
            reason: "asymmetric standard keys are `whsk_`/`whpk_` followed by base64",
        })
}

pub(crate) fn key(secret: &str) -> Result<StandardKey, WebhookConfigError> {
    if let Some(public) = secret.strip_prefix(WHPK_PREFIX) {
        return Ok(StandardKey::Ed25519(PublicKey::from_bytes(&asymmetric(
            public,
        )?)?));
    }
    if secret.starts_with(WHSK_PREFIX) {
        return Err(WebhookConfigError::InvalidSecret {
            reason: "a `whsk_` key signs; verify with its `whpk_` public key",
        });
    }
    Ok(StandardKey::Hmac(hmac_key(secret)?))
}

pub(crate) fn hmac_key(secret: &str) -> Result<MacKey<HmacSha256>, WebhookConfigError> {
    let raw = decode_standard_secret(secret)?;
    MacKey::new(&raw)
}

pub(crate) fn signing_key(secret: &str) -> Result<StandardSigningKey, WebhookConfigError> {
    if let Some(private) = secret.strip_prefix(WHSK_PREFIX) {
        return Ok(StandardSigningKey::Ed25519(PrivateKey::from_bytes(
            &asymmetric(private)?,
        )?));
    }
    if secret.starts_with(WHPK_PREFIX) {
        return Err(WebhookConfigError::InvalidSecret {
            reason: "a `whpk_` key only verifies; sign with the `whsk_` secret key",
        });
    }
    Ok(StandardSigningKey::Hmac(hmac_key(secret)?))
}

/// `whpk_…` for a `whsk_…` key: what receivers are given.
pub(crate) fn public_key(key: &PrivateKey) -> String {
    use base64::Engine as _;
    format!(
        "{WHPK_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(key.public())
    )
}

/// `whsk_…`: base64 of the 64-byte `seed || public key`.
pub(crate) fn secret_key(key: &PrivateKey) -> String {
    use base64::Engine as _;
    format!(
        "{WHSK_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(&key.keypair_bytes()[..])
    )
}

/// `{id}.{ts}.{body}` as one buffer, for Ed25519.
fn signed_content(id: &[u8], ts: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(id.len() + ts.len() + body.len() + 2);
    m.extend_from_slice(id);
    m.push(b'.');
    m.extend_from_slice(ts);
    m.push(b'.');
    m.extend_from_slice(body);
    m
}

/// HMAC-SHA256 over `{id}.{ts}.{body}` without building the string.
pub(crate) fn mac(key: &MacKey<HmacSha256>, id: &[u8], ts: &[u8], body: &[u8]) -> [u8; 32] {
    key.mac_of(&[id, b".", ts, b".", body])
}

/// The decoded entries of a signature header: HMAC (`v1`) and Ed25519
/// (`v1a`) candidates.
struct Signatures {
    v1: Candidates<32>,
    v1a: Candidates<SIGNATURE_LEN>,
}

/// Parse `v1,<b64> v1a,<b64> …`. Entries are separated by single spaces;
/// empty entries (double spaces), entries without a comma, malformed base64
/// in a `v1` or `v1a` entry, and more than `MAX_SIGNATURES` entries in all
/// are `invalid_header`.
fn signatures(value: &[u8], header: &'static str) -> Result<Signatures, WebhookError> {
    let mut out = Signatures {
        v1: Candidates::new(),
        v1a: Candidates::new(),
    };
    let mut entries = 0;
    for entry in value.split(|&b| b == b' ') {
        entries += 1;
        if entries > parse::MAX_SIGNATURES {
            return Err(WebhookError::invalid(header, "too many signatures"));
        }
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
            out.v1.push(decoded, header)?;
        } else if version == b"v1a" {
            let decoded = parse::base64_mac::<SIGNATURE_LEN>(sig)
                .map_err(|r| WebhookError::invalid(header, r))?;
            out.v1a.push(decoded, header)?;
        } else {
            // Other versions are not ours to judge (they counted above).
            out.v1.push(Decoded::WrongLength, header)?;
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
    keys: &[StandardKey],
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
    if candidates.v1.is_empty() && candidates.v1a.is_empty() {
        return Err(WebhookError::InvalidSignature);
    }
    let found = || Checked {
        // The id is signed and, by the specification, the same on every
        // retry of one message: key on it, so an accepted message is not
        // processed again when the sender retries.
        replay: ctx.signed_digest(&[b"id", id_raw]),
        id: Some(id.clone()),
        timestamp: Some(ts),
    };
    let hmac_keys = keys.iter().filter_map(|k| match k {
        StandardKey::Hmac(key) => Some(key),
        StandardKey::Ed25519(_) => None,
    });
    if !candidates.v1.is_empty()
        && candidates
            .v1
            .matched_by(hmac_keys, |k| mac(k, id_raw, ts_raw, body))
    {
        return Ok(found());
    }
    let public: Vec<&PublicKey> = keys
        .iter()
        .filter_map(|k| match k {
            StandardKey::Ed25519(p) => Some(p),
            StandardKey::Hmac(_) => None,
        })
        .collect();
    if !candidates.v1a.is_empty() && !public.is_empty() {
        // An Ed25519 check costs ~1000 HMACs and cannot be shared between
        // signatures: bound the pairs one request can make us try.
        if candidates.v1a.iter().count() * public.len() > MAX_ED25519_CHECKS {
            return Err(WebhookError::invalid(
                f.signature,
                "too many v1a signatures for the configured public keys",
            ));
        }
        let message = signed_content(id_raw, ts_raw, body);
        for sig in candidates.v1a.iter() {
            if public.iter().any(|p| p.verify(&message, sig)) {
                return Ok(found());
            }
        }
    }
    Err(WebhookError::InvalidSignature)
}

pub(crate) fn sign(
    key: &StandardSigningKey,
    body: &[u8],
    id: &str,
    ts: i64,
) -> Vec<(String, String)> {
    let ts = ts.to_string();
    let b64 =
        |bytes: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes);
    let signature = match key {
        StandardSigningKey::Hmac(key) => {
            format!("v1,{}", b64(&mac(key, id.as_bytes(), ts.as_bytes(), body)))
        }
        StandardSigningKey::Ed25519(key) => {
            let message = signed_content(id.as_bytes(), ts.as_bytes(), body);
            format!("v1a,{}", b64(&key.sign(&message)))
        }
    };
    vec![
        (SIGN_HEADERS[0].to_owned(), id.to_owned()),
        (SIGN_HEADERS[1].to_owned(), ts),
        (SIGN_HEADERS[2].to_owned(), signature),
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
        let k = signing_key(SECRET).unwrap();
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

    #[test]
    fn v1a_checks_are_bounded() {
        let sk = signing_key("whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=").unwrap();
        let StandardSigningKey::Ed25519(private) = &sk else {
            panic!("not an Ed25519 key")
        };
        let pk = public_key(private);
        let k = [key(&pk).unwrap(), key(&pk).unwrap()];
        let good = sign(&sk, BODY, ID, TS).remove(2).1;
        let one = verify(&k, BODY, &headers(&good), &ctx());
        assert!(one.is_ok());
        // 8 entries x 2 keys = 16 checks: allowed; 9 x 2: refused unread
        let eight = [good.as_str(); 8].join(" ");
        assert!(verify(&k, BODY, &headers(&eight), &ctx()).is_ok());
        let nine = [good.as_str(); 9].join(" ");
        assert_eq!(
            verify(&k, BODY, &headers(&nine), &ctx())
                .unwrap_err()
                .code(),
            "invalid_header"
        );
        // whsk_ and whpk_ are not interchangeable
        assert_eq!(
            key("whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
                .unwrap_err()
                .code(),
            "config_error"
        );
        assert_eq!(signing_key(&pk).unwrap_err().code(), "config_error");
    }
}

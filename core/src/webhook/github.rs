//! GitHub: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the body.
//!
//! The legacy `X-Hub-Signature: sha1=<hex>` (HMAC-SHA1) is read only when the
//! verifier was built with `allow_sha1`, and only when the sha256 header is
//! absent: a request that carries both is judged by sha256 alone, so an
//! attacker cannot downgrade to SHA-1. GitHub signs no timestamp; the
//! delivery GUID `X-GitHub-Delivery` is reported as the id when present, but
//! it is not signed: the replay guard keys on the body, which is (the same
//! key for the sha256 and the sha1 signature of one delivery).

use super::error::{WebhookConfigError, WebhookError};
use super::headers::Headers;
use super::parse::{self, Candidates};
use super::secret::{raw_secret, HmacSha1, HmacSha256, MacKey};
use super::verifier::{Checked, Ctx};

pub(crate) const HEADER_256: &str = "x-hub-signature-256";
pub(crate) const HEADER_SHA1: &str = "x-hub-signature";
pub(crate) const HEADER_ID: &str = "x-github-delivery";

/// Keys for one GitHub secret; the SHA-1 key exists only with `allow_sha1`.
#[derive(Debug)]
pub(crate) struct GithubKey {
    sha256: MacKey<HmacSha256>,
    sha1: Option<MacKey<HmacSha1>>,
}

pub(crate) fn key(secret: &str, allow_sha1: bool) -> Result<GithubKey, WebhookConfigError> {
    let raw = raw_secret(secret)?;
    Ok(GithubKey {
        sha256: MacKey::new(raw)?,
        sha1: if allow_sha1 {
            Some(MacKey::new(raw)?)
        } else {
            None
        },
    })
}

impl GithubKey {
    /// The replay identity of the secret (its sha256 key; the optional SHA-1
    /// key is the same secret).
    pub(crate) fn replay_identity(&self, scheme: super::scheme::Scheme) -> [u8; 32] {
        self.sha256.replay_identity(scheme)
    }
}

fn mac256(key: &MacKey<HmacSha256>, body: &[u8]) -> [u8; 32] {
    key.mac_of(&[body])
}

fn mac1(key: &MacKey<HmacSha1>, body: &[u8]) -> [u8; 20] {
    key.mac_of(&[body])
}

/// `prefix` + hex, nothing before or after.
pub(crate) fn one_signature<const N: usize>(
    value: &[u8],
    prefix: &[u8],
    header: &'static str,
) -> Result<Candidates<N>, WebhookError> {
    let hex = value.strip_prefix(prefix).ok_or(WebhookError::invalid(
        header,
        "signature does not start with its algorithm",
    ))?;
    let mut c = Candidates::new();
    c.push(
        parse::hex_mac::<N>(hex).map_err(|r| WebhookError::invalid(header, r))?,
        header,
    )?;
    Ok(c)
}

pub(crate) fn verify(
    keys: &[GithubKey],
    allow_sha1: bool,
    body: &[u8],
    headers: &Headers,
    ctx: &Ctx<'_>,
) -> Result<Checked, WebhookError> {
    let id = parse::optional(headers, HEADER_ID)?
        .map(|v| parse::message_id(v, HEADER_ID))
        .transpose()?;
    let found = || Checked {
        replay: ctx.signed_digest(&[body]),
        id: id.clone(),
        timestamp: None,
    };
    let sha256 = parse::optional(headers, HEADER_256)?;
    match (sha256, allow_sha1) {
        (Some(v), _) => {
            let c = one_signature::<32>(v, b"sha256=", HEADER_256)?;
            if c.matched_by(keys, |k| mac256(&k.sha256, body)) {
                return Ok(found());
            }
            Err(WebhookError::InvalidSignature)
        }
        (None, true) => {
            let v = parse::optional(headers, HEADER_SHA1)?
                .ok_or(WebhookError::MissingHeader { header: HEADER_256 })?;
            let c = one_signature::<20>(v, b"sha1=", HEADER_SHA1)?;
            if c.matched_by(keys.iter().filter_map(|k| k.sha1.as_ref()), |k| {
                mac1(k, body)
            }) {
                return Ok(found());
            }
            Err(WebhookError::InvalidSignature)
        }
        (None, false) => Err(WebhookError::MissingHeader { header: HEADER_256 }),
    }
}

pub(crate) fn sign(key: &GithubKey, body: &[u8], id: Option<&str>) -> Vec<(String, String)> {
    let mut out = vec![(
        "X-Hub-Signature-256".to_owned(),
        format!("sha256={}", hex::encode(mac256(&key.sha256, body))),
    )];
    if let Some(id) = id {
        out.push(("X-GitHub-Delivery".to_owned(), id.to_owned()));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const SECRET: &str = "It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    const CTX: Ctx<'static> = Ctx {
        now: 0,
        tolerance: Some(300),
        url: None,
        guarded: false,
    };

    fn code(allow_sha1: bool, pairs: &[(&str, &str)]) -> &'static str {
        let k = [key(SECRET, allow_sha1).unwrap()];
        let h = Headers::from_pairs(pairs.iter().copied());
        verify(&k, allow_sha1, BODY, &h, &CTX)
            .map(|_| "valid")
            .unwrap_or_else(|e| e.code())
    }

    #[test]
    fn docs_example_and_parsing() {
        assert_eq!(code(false, &[("X-Hub-Signature-256", SIG)]), "valid");
        assert_eq!(
            code(false, &[("X-Hub-Signature-256", &SIG[7..])]),
            "invalid_header"
        );
        assert_eq!(
            code(false, &[("X-Hub-Signature-256", &format!("{SIG}0"))]),
            "invalid_signature"
        );
        assert_eq!(
            code(false, &[("X-Hub-Signature-256", &format!("{SIG}x"))]),
            "invalid_header"
        );
        assert_eq!(
            code(false, &[("X-Hub-Signature-256", &format!("{SIG}, {SIG}"))]),
            "invalid_header"
        );
        assert_eq!(
            code(false, &[("X-Hub-Signature-256", "sha256=")]),
            "invalid_header"
        );
        assert_eq!(code(false, &[]), "missing_header");
    }

    #[test]
    fn sha1_only_when_allowed_and_never_as_downgrade() {
        let k = key(SECRET, true).unwrap();
        let sha1 = format!("sha1={}", hex::encode(mac1(k.sha1.as_ref().unwrap(), BODY)));
        assert_eq!(code(false, &[("X-Hub-Signature", &sha1)]), "missing_header");
        assert_eq!(code(true, &[("X-Hub-Signature", &sha1)]), "valid");
        let bad256 = format!("sha256={}", "0".repeat(64));
        assert_eq!(
            code(
                true,
                &[("X-Hub-Signature", &sha1), ("X-Hub-Signature-256", &bad256)]
            ),
            "invalid_signature"
        );
    }
}

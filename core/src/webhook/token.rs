//! A shared token echoed in `Authorization` (Landbot-style webhooks).
//!
//! Accepted forms: `Token <secret>`, `Bearer <secret>` (scheme name matched
//! ASCII-case-insensitively, RFC 9110 §11.1, one or more spaces after it) and
//! the bare `<secret>`. The received value is hashed with SHA-256 and compared
//! with the configured secrets' digests in constant time, so neither the
//! secret's bytes nor its length leak through timing. The whole header value
//! is always compared too, so a secret that itself contains a space works
//! as a bare value.
//!
//! A shared token carries no id or timestamp and is identical on every
//! request, so the replay guard does not apply to this scheme.

use subtle::Choice;

use super::error::{WebhookConfigError, WebhookError};
use super::headers::Headers;
use super::parse;
use super::secret::{raw_secret, TokenDigest};
use super::verifier::{Checked, Ctx};

pub(crate) const HEADER: &str = "authorization";

pub(crate) fn key(secret: &str) -> Result<TokenDigest, WebhookConfigError> {
    Ok(TokenDigest::of(raw_secret(secret)?))
}

/// The credential after a `Token`/`Bearer` scheme name, if there is one.
fn credential(value: &[u8]) -> Option<&[u8]> {
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    if !(scheme.eq_ignore_ascii_case(b"token") || scheme.eq_ignore_ascii_case(b"bearer")) {
        return None;
    }
    let start = rest.iter().position(|&b| b != b' ')?;
    Some(&rest[start..])
}

pub(crate) fn verify(
    keys: &[TokenDigest],
    _body: &[u8],
    headers: &Headers,
    _ctx: &Ctx<'_>,
) -> Result<Checked, WebhookError> {
    let value = parse::required(headers, HEADER)?;
    let whole = TokenDigest::of(value);
    let cred = credential(value).map(TokenDigest::of);
    let mut ok = Choice::from(0);
    for key in keys {
        ok |= key.ct_eq(&whole);
        if let Some(c) = &cred {
            ok |= key.ct_eq(c);
        }
    }
    if bool::from(ok) {
        Ok(Checked {
            id: None,
            timestamp: None,
            replay: None,
        })
    } else {
        Err(WebhookError::InvalidSignature)
    }
}

pub(crate) fn sign(secret: &str) -> Vec<(String, String)> {
    vec![("Authorization".to_owned(), format!("Token {secret}"))]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn code(secret: &str, header: Option<&str>) -> &'static str {
        let k = [key(secret).unwrap()];
        let h = Headers::from_pairs(header.map(|v| ("Authorization", v)));
        let ctx = Ctx {
            now: 0,
            tolerance: None,
            url: None,
            guarded: false,
        };
        verify(&k, b"", &h, &ctx)
            .map(|_| "valid")
            .unwrap_or_else(|e| e.code())
    }

    #[test]
    fn accepted_forms() {
        for h in [
            "Token s3cr3t",
            "token s3cr3t",
            "Bearer s3cr3t",
            "BEARER   s3cr3t",
            "s3cr3t",
        ] {
            assert_eq!(code("s3cr3t", Some(h)), "valid", "{h}");
        }
        assert_eq!(code("my secret", Some("my secret")), "valid");
        assert_eq!(code("my secret", Some("Token my secret")), "valid");
    }

    #[test]
    fn rejected_forms() {
        for h in [
            "Basic s3cr3t",
            "Token s3cr3",
            "Token s3cr3t2",
            "Tokens3cr3t",
            "Token",
            "s3cr3t s3cr3t",
        ] {
            assert_eq!(code("s3cr3t", Some(h)), "invalid_signature", "{h}");
        }
        assert_eq!(code("s3cr3t", None), "missing_header");
        assert_eq!(code("s3cr3t", Some("")), "missing_header");
    }
}

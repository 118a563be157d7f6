//! A shared token echoed in `Authorization` (Landbot-style webhooks), or in
//! another header named by the verifier's `header` option (Telegram's
//! `X-Telegram-Bot-Api-Secret-Token`, Botpress, any shared-secret header).
//!
//! In `Authorization`:
//! Accepted forms: `Token <secret>`, `Bearer <secret>` (scheme name matched
//! ASCII-case-insensitively, RFC 9110 §11.1, one or more spaces after it) and
//! the bare `<secret>`. The received value is hashed with SHA-256 and compared
//! with the configured secrets' digests in constant time, so neither the
//! secret's bytes nor its length leak through timing. The whole header value
//! is always compared too, so a secret that itself contains a space works
//! as a bare value. In any other header the whole value is the token (that is
//! how Telegram sends it); no scheme name is stripped.
//!
//! A shared token carries no id or timestamp and is identical on every
//! request, so the replay guard does not apply to this scheme.

use parking_lot::Mutex;
use subtle::Choice;

use super::error::{WebhookConfigError, WebhookError};
use super::headers::Headers;
use super::parse;
use super::secret::{raw_secret, TokenDigest};
use super::verifier::Checked;

pub(crate) const HEADER: &str = "authorization";
/// Longest custom header name accepted (real ones are far shorter).
const MAX_HEADER_NAME: usize = 64;

/// Custom header names in use, each a one-element `'static` slice. Errors and
/// `header_names()` carry `&'static str` names; a configured name is
/// interned once here, so the memory held is bounded by the number of
/// *distinct* names a process configures, not by how many verifiers it
/// builds.
static CUSTOM_HEADERS: Mutex<Vec<&'static [&'static str; 1]>> = Mutex::new(Vec::new());

/// The header a `token` verifier or signer reads or writes: a valid field
/// name (RFC 9110 `token` characters), lower-cased, interned.
pub(crate) fn header_name(name: &str) -> Result<&'static [&'static str; 1], WebhookConfigError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_HEADER_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return Err(WebhookConfigError::InvalidOption {
            option: "header",
            reason: "must be an HTTP header name of at most 64 characters",
        });
    }
    let lower = name.to_ascii_lowercase();
    if lower == HEADER {
        return Ok(&[HEADER]);
    }
    let mut names = CUSTOM_HEADERS.lock();
    if let Some(found) = names.iter().find(|n| n[0] == lower) {
        return Ok(found);
    }
    let leaked: &'static [&'static str; 1] =
        Box::leak(Box::new([&*Box::leak(lower.into_boxed_str())]));
    names.push(leaked);
    Ok(leaked)
}

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
    header: &'static str,
    headers: &Headers,
) -> Result<Checked, WebhookError> {
    let value = parse::required(headers, header)?;
    let whole = TokenDigest::of(value);
    let cred = if header == HEADER {
        credential(value).map(TokenDigest::of)
    } else {
        None
    };
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

pub(crate) fn sign(secret: &str, header: &'static str) -> Vec<(String, String)> {
    if header == HEADER {
        vec![("Authorization".to_owned(), format!("Token {secret}"))]
    } else {
        vec![(header.to_owned(), secret.to_owned())]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn code(secret: &str, header: Option<&str>) -> &'static str {
        let k = [key(secret).unwrap()];
        let h = Headers::from_pairs(header.map(|v| ("Authorization", v)));
        verify(&k, HEADER, &h)
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

    #[test]
    fn custom_header_compares_the_whole_value() {
        const TG: &str = "X-Telegram-Bot-Api-Secret-Token";
        let name = header_name(TG).unwrap()[0];
        assert_eq!(name, "x-telegram-bot-api-secret-token");
        // interned: the same name twice is the same allocation
        assert!(std::ptr::eq(
            header_name(TG).unwrap(),
            header_name(&TG.to_lowercase()).unwrap()
        ));
        let k = [key("s3cr3t_-A9").unwrap()];
        let code = |pairs: &[(&str, &str)]| {
            verify(&k, name, &Headers::from_pairs(pairs.iter().copied()))
                .map(|_| "valid")
                .unwrap_or_else(|e| e.code())
        };
        assert_eq!(code(&[(TG, "s3cr3t_-A9")]), "valid");
        assert_eq!(code(&[(TG, "Bearer s3cr3t_-A9")]), "invalid_signature");
        assert_eq!(code(&[(TG, "s3cr3t_-A")]), "invalid_signature");
        // the secret in Authorization does not count for a custom header
        assert_eq!(code(&[("Authorization", "s3cr3t_-A9")]), "missing_header");
        let err = verify(&k, name, &Headers::new()).unwrap_err();
        assert!(err.to_string().contains("x-telegram-bot-api-secret-token"));
        assert_eq!(
            sign("s3cr3t_-A9", name),
            vec![(name.to_owned(), "s3cr3t_-A9".to_owned())]
        );
    }

    #[test]
    fn header_names_are_validated() {
        for bad in ["", "X Token", "X-Token:", "é", &"x".repeat(65)] {
            assert_eq!(
                header_name(bad).unwrap_err().code(),
                "config_error",
                "{bad:?}"
            );
        }
        assert_eq!(header_name("AUTHORIZATION").unwrap()[0], HEADER);
    }
}

//! Meta (WhatsApp Cloud API, Messenger, Instagram): `X-Hub-Signature-256:
//! sha256=<hex>`, HMAC-SHA256 of the body keyed by the app secret; and the
//! `GET` subscription handshake that proves the endpoint to Meta.
//!
//! Meta signs no timestamp and sends no message id in a header, so the replay
//! guard, when configured, keys on the verified MAC.

use std::borrow::Cow;

use subtle::Choice;

use super::error::{WebhookConfigError, WebhookError};
use super::github::one_signature;
use super::headers::Headers;
use super::parse;
use super::secret::{raw_secret, HmacSha256, MacKey, TokenDigest};
use super::verifier::{Checked, Ctx};

pub(crate) const HEADER: &str = "x-hub-signature-256";

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
    let c = one_signature::<32>(parse::required(headers, HEADER)?, b"sha256=", HEADER)?;
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
        "X-Hub-Signature-256".to_owned(),
        format!("sha256={}", hex::encode(mac(key, body))),
    )]
}

/// Longest `hub.challenge` echoed back. Meta sends a decimal number; the
/// bound and the character set keep the echo from carrying markup or
/// anything large.
pub const MAX_CHALLENGE_LEN: usize = 128;

/// Answer Meta's subscription handshake: `GET <callback>?hub.mode=subscribe&
/// hub.verify_token=<token>&hub.challenge=<n>`. Returns the challenge to send
/// back as the `200` body (text/plain) when the mode is `subscribe` and the
/// token equals one of `verify_tokens`; otherwise an error, and no challenge.
///
/// `query` is the raw query string (without `?`), percent-encoded as
/// received. Tokens are compared as SHA-256 digests in constant time, so
/// timing reveals neither a token's bytes nor its length. Failures use the
/// webhook codes: a missing parameter is `missing_header`, a malformed one
/// (or a mode other than `subscribe`) `invalid_header`, a wrong token
/// `invalid_signature`; each names the parameter, never its value.
pub fn meta_challenge(
    query: &str,
    verify_tokens: &[impl AsRef<str>],
) -> Result<String, WebhookError> {
    if verify_tokens.is_empty() {
        return Err(WebhookConfigError::NoSecrets.into());
    }
    let digests = verify_tokens
        .iter()
        .map(|t| raw_secret(t.as_ref()).map(TokenDigest::of))
        .collect::<Result<Vec<_>, _>>()?;
    if query.len() > parse::MAX_HEADER_LEN {
        return Err(WebhookError::invalid("hub.challenge", "query is too long"));
    }
    let (mut mode, mut token, mut challenge): (Option<Cow<'_, str>>, _, _) = (None, None, None);
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match name.as_ref() {
            "hub.mode" => &mut mode,
            "hub.verify_token" => &mut token,
            "hub.challenge" => &mut challenge,
            _ => continue,
        };
        if slot.is_some() {
            // Two values for one parameter: which one the application
            // framework would see is not ours to guess.
            return Err(WebhookError::invalid(
                param_name(&name),
                "parameter is given more than once",
            ));
        }
        *slot = Some(value);
    }
    let mode = present(mode, "hub.mode")?;
    let token = present(token, "hub.verify_token")?;
    let challenge = present(challenge, "hub.challenge")?;
    if mode != "subscribe" {
        return Err(WebhookError::invalid("hub.mode", "mode is not `subscribe`"));
    }
    if challenge.len() > MAX_CHALLENGE_LEN
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(WebhookError::invalid(
            "hub.challenge",
            "challenge is not 1-128 letters, digits, `-`, `_` or `.`",
        ));
    }
    let received = TokenDigest::of(token.as_bytes());
    let mut ok = Choice::from(0);
    for d in &digests {
        ok |= d.ct_eq(&received);
    }
    if bool::from(ok) {
        Ok(challenge.into_owned())
    } else {
        Err(WebhookError::InvalidSignature)
    }
}

fn present<'q>(v: Option<Cow<'q, str>>, name: &'static str) -> Result<Cow<'q, str>, WebhookError> {
    match v {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(WebhookError::MissingHeader { header: name }),
    }
}

fn param_name(name: &str) -> &'static str {
    match name {
        "hub.mode" => "hub.mode",
        "hub.verify_token" => "hub.verify_token",
        _ => "hub.challenge",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn answer(query: &str) -> Result<String, &'static str> {
        meta_challenge(query, &["old-token", "meatpacking"]).map_err(|e| e.code())
    }

    #[test]
    fn handshake_answers_only_a_matching_subscribe() {
        // The request Meta's "Getting Started" guide shows.
        let q = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatpacking";
        assert_eq!(answer(q).unwrap(), "1158201444");
        assert_eq!(
            answer("hub.mode=subscribe&hub.challenge=1&hub.verify_token=old-token").unwrap(),
            "1"
        );
        assert_eq!(
            answer("hub.mode=subscribe&hub.challenge=1&hub.verify_token=meatpackin"),
            Err("invalid_signature")
        );
        assert_eq!(
            answer("hub.mode=subscribe&hub.challenge=1&hub.verify_token=meat%70acking").unwrap(),
            "1"
        );
        assert_eq!(
            answer("hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=meatpacking"),
            Err("invalid_header")
        );
        assert_eq!(
            answer("hub.mode=subscribe&hub.verify_token=meatpacking"),
            Err("missing_header")
        );
        assert_eq!(answer(""), Err("missing_header"));
        assert_eq!(
            answer("hub.mode=subscribe&hub.challenge=%3Cscript%3E&hub.verify_token=meatpacking"),
            Err("invalid_header")
        );
        assert_eq!(
            answer(
                "hub.mode=subscribe&hub.challenge=1&hub.challenge=2&hub.verify_token=meatpacking"
            ),
            Err("invalid_header")
        );
        let none: [&str; 0] = [];
        assert_eq!(
            meta_challenge("hub.mode=subscribe", &none)
                .unwrap_err()
                .code(),
            "config_error"
        );
    }

    #[test]
    fn errors_never_echo_the_token() {
        let err = meta_challenge(
            "hub.mode=subscribe&hub.challenge=1&hub.verify_token=guess-me",
            &["meatpacking"],
        )
        .unwrap_err();
        assert!(!err.to_string().contains("guess-me"));
        assert!(!err.to_string().contains("meatpacking"));
    }
}

//! API tokens: `<prefix>_<30 base62 random><6 base62 CRC32>`.
//!
//! The random part carries 30 × log2(62) ≈ 178.6 bits from the OS CSPRNG, so a
//! single fast SHA-256 is the right digest: there is nothing to brute-force, and
//! a slow password hash would only cost every request. The trailing CRC32 lets
//! us reject typos and altered prefixes offline, before any store lookup, and
//! lets secret scanners recognise our tokens.

use std::fmt;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::base62;

/// Number of random base62 characters in a token body.
pub const RANDOM_LEN: usize = 30;
/// Number of base62 characters that encode the CRC32.
pub const CHECKSUM_LEN: usize = 6;
/// Length of the body (everything after the last `_`).
pub const BODY_LEN: usize = RANDOM_LEN + CHECKSUM_LEN;
/// Longest prefix we accept; keeps parsing bounded and tokens readable.
pub const MAX_PREFIX_LEN: usize = 32;
/// Number of body characters shown in [`start`].
pub const START_LEN: usize = 4;

/// Why a string is not a well-formed gatepass token. None of the variants
/// carries the token itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    #[error("token has no '_' between prefix and body")]
    MissingSeparator,
    #[error("token prefix is not of the form [a-z][a-z0-9]*(_[a-z0-9]+)*")]
    InvalidPrefix,
    #[error("token body must be {BODY_LEN} base62 characters")]
    InvalidBody,
    #[error("token checksum does not match")]
    ChecksumMismatch,
}

/// Checks a prefix against `[a-z][a-z0-9]*(_[a-z0-9]+)*`, at most
/// [`MAX_PREFIX_LEN`] bytes.
pub fn is_valid_prefix(prefix: &str) -> bool {
    let bytes = prefix.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_PREFIX_LEN || !bytes[0].is_ascii_lowercase() {
        return false;
    }
    let mut previous_underscore = false;
    for &b in bytes {
        match b {
            b'_' if previous_underscore => return false,
            b'_' => previous_underscore = true,
            b'a'..=b'z' | b'0'..=b'9' => previous_underscore = false,
            _ => return false,
        }
    }
    !previous_underscore
}

/// A freshly minted or presented token. The secret is zeroized on drop and
/// never printed by `Debug` or `Display`.
#[derive(Clone)]
pub struct Token(Zeroizing<String>);

impl Token {
    /// Mints a new token with `prefix` from the OS CSPRNG.
    pub fn mint(prefix: &str) -> Result<Self, TokenFormatError> {
        if !is_valid_prefix(prefix) {
            return Err(TokenFormatError::InvalidPrefix);
        }
        let mut s = Zeroizing::new(String::with_capacity(prefix.len() + 1 + BODY_LEN));
        s.push_str(prefix);
        s.push('_');
        base62::push_random(&mut s, RANDOM_LEN);
        let crc = crc32fast::hash(s.as_bytes());
        base62::push_u32_fixed(&mut s, crc, CHECKSUM_LEN);
        Ok(Self(s))
    }

    /// Wraps a presented token after checking its form and checksum.
    pub fn parse(s: &str) -> Result<Self, TokenFormatError> {
        ParsedToken::parse(s)?;
        Ok(Self(Zeroizing::new(s.to_owned())))
    }

    /// The secret itself. Callers must show it to the user once and not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The prefix (everything before the last `_`).
    pub fn prefix(&self) -> &str {
        split(&self.0).map(|(p, _)| p).unwrap_or_default()
    }

    /// The non-secret display form, e.g. `gp_aB3x`.
    pub fn start(&self) -> String {
        start(&self.0)
    }

    /// The stored form of the token.
    pub fn digest(&self) -> TokenDigest {
        TokenDigest::of(&self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({}…)", start(&self.0))
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", start(&self.0))
    }
}

/// A borrowed view of a well-formed token; parsing never copies the secret.
#[derive(Clone, Copy)]
pub struct ParsedToken<'a> {
    full: &'a str,
    prefix: &'a str,
}

impl<'a> ParsedToken<'a> {
    /// Parses from the right: the body is the last [`BODY_LEN`] characters after
    /// the last `_`, so prefixes may contain `_` themselves.
    pub fn parse(s: &'a str) -> Result<Self, TokenFormatError> {
        let (prefix, body) = split(s).ok_or(TokenFormatError::MissingSeparator)?;
        if !is_valid_prefix(prefix) {
            return Err(TokenFormatError::InvalidPrefix);
        }
        if body.len() != BODY_LEN || !body.bytes().all(base62::is_digit) {
            return Err(TokenFormatError::InvalidBody);
        }
        let (signed, checksum) = s.split_at(s.len() - CHECKSUM_LEN);
        let expected = crc32fast::hash(signed.as_bytes());
        // The checksum is not secret (anyone can compute it), so a plain
        // comparison is fine here.
        if base62::decode_u64(checksum) != Some(u64::from(expected)) {
            return Err(TokenFormatError::ChecksumMismatch);
        }
        Ok(Self { full: s, prefix })
    }

    pub fn prefix(&self) -> &'a str {
        self.prefix
    }

    pub fn start(&self) -> String {
        start(self.full)
    }

    pub fn digest(&self) -> TokenDigest {
        TokenDigest::of(self.full)
    }
}

impl fmt::Debug for ParsedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParsedToken({}…)", start(self.full))
    }
}

fn split(s: &str) -> Option<(&str, &str)> {
    s.rsplit_once('_')
}

fn start(s: &str) -> String {
    match split(s) {
        Some((prefix, body)) => {
            let shown: String = body.chars().take(START_LEN).collect();
            format!("{prefix}_{shown}")
        }
        None => String::new(),
    }
}

/// SHA-256 of the whole token: the only form in which a token is stored.
/// Equality is constant-time, so every map lookup on a digest compares with
/// `subtle`.
#[derive(Clone, Copy)]
pub struct TokenDigest(pub [u8; 32]);

impl std::hash::Hash for TokenDigest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Equal digests have equal bytes, so hashing the bytes agrees with `eq`.
        self.0.hash(state);
    }
}

impl PartialEq for TokenDigest {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}

impl Eq for TokenDigest {}

impl TokenDigest {
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality, for the final comparison after a lookup.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A digest of a high-entropy token reveals nothing, but there is no
        // reason to print it either.
        f.write_str("TokenDigest(…)")
    }
}

/// A new public key id: `key_` + 16 base62 characters (≈95 bits), used in
/// management calls and URLs. Not a secret.
pub fn new_key_id() -> String {
    let mut s = String::with_capacity(20);
    s.push_str("key_");
    base62::push_random(&mut s, 16);
    s
}

/// Checks the shape of a public key id.
pub fn is_valid_key_id(id: &str) -> bool {
    id.strip_prefix("key_")
        .is_some_and(|rest| rest.len() == 16 && rest.bytes().all(base62::is_digit))
}

/// Whether `text` has the shape of a token (or of an `Authorization` value
/// holding one): a valid prefix, `_` and a body of [`BODY_LEN`] base62
/// characters, checksum or not. Used to refuse a token passed where a key id
/// belongs with a message that says so, without repeating it: a mistyped
/// token is still a secret.
pub fn looks_like_token(text: &str) -> bool {
    let word = text.split_ascii_whitespace().last().unwrap_or_default();
    word.rsplit_once('_').is_some_and(|(prefix, body)| {
        is_valid_prefix(prefix) && body.len() == BODY_LEN && body.bytes().all(base62::is_digit)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_has_the_documented_form() {
        let t = Token::mint("sk_live").unwrap();
        let s = t.expose();
        assert!(s.starts_with("sk_live_"));
        assert_eq!(s.len(), "sk_live_".len() + BODY_LEN);
        assert_eq!(t.prefix(), "sk_live");
        assert_eq!(t.start().len(), "sk_live_".len() + START_LEN);
        assert!(ParsedToken::parse(s).is_ok());
    }

    #[test]
    fn debug_and_display_redact() {
        let t = Token::mint("gp").unwrap();
        let secret_tail = &t.expose()[8..];
        assert!(!format!("{t:?}").contains(secret_tail));
        assert!(!format!("{t}").contains(secret_tail));
    }

    #[test]
    fn prefix_grammar() {
        for ok in ["gp", "bp_pat", "sk_live", "a1_b2_c3"] {
            assert!(is_valid_prefix(ok), "{ok}");
        }
        for bad in [
            "",
            "1a",
            "Gp",
            "gp_",
            "_gp",
            "gp__x",
            "gp-x",
            &"a".repeat(33),
        ] {
            assert!(!is_valid_prefix(bad), "{bad}");
        }
    }

    #[test]
    fn rejects_wrong_checksum_and_changed_prefix() {
        let t = Token::mint("gp").unwrap();
        let changed = format!("gq{}", &t.expose()[2..]);
        assert_eq!(
            ParsedToken::parse(&changed).err(),
            Some(TokenFormatError::ChecksumMismatch)
        );
        assert_eq!(
            ParsedToken::parse("gp_short").err(),
            Some(TokenFormatError::InvalidBody)
        );
        assert_eq!(
            ParsedToken::parse("nounderscore").err(),
            Some(TokenFormatError::MissingSeparator)
        );
    }

    #[test]
    fn key_ids() {
        let id = new_key_id();
        assert!(is_valid_key_id(&id));
        assert!(!is_valid_key_id("key_short"));
        assert!(!looks_like_token(&id));
        assert_ne!(new_key_id(), id);
    }

    #[test]
    fn token_shapes_are_recognised_with_or_without_a_valid_checksum() {
        let t = Token::mint("sk_live").unwrap();
        let s = t.expose();
        assert!(looks_like_token(s));
        assert!(looks_like_token(&format!("Bearer {s}")));
        let mut typo = s.to_owned();
        typo.pop();
        typo.push(if s.ends_with('a') { 'b' } else { 'a' });
        assert!(ParsedToken::parse(&typo).is_err());
        assert!(looks_like_token(&typo));
        assert!(!looks_like_token(&s[..s.len() - 1]));
        assert!(!looks_like_token("gp_short"));
        assert!(!looks_like_token(""));
        assert!(!looks_like_token("Bearer"));
    }
}

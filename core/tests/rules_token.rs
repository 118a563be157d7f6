//! The token rules, one statement per test: the prefix grammar and its
//! bounds, the body and checksum, the non-secret display form, digests that
//! differ for different tokens, and key ids. Written so that breaking any one
//! rule in `core/src/token.rs` fails a test (`scripts/mutants.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use gatepass_core::token::{
    is_valid_key_id, is_valid_prefix, looks_like_token, new_key_id, ParsedToken, Token,
    TokenDigest, TokenFormatError, BODY_LEN, CHECKSUM_LEN, MAX_PREFIX_LEN, RANDOM_LEN, START_LEN,
};

/// A fixed, well-formed token (prefix `gp`), so expectations are literal.
fn fixed(prefix: &str) -> String {
    let body = "0123456789abcdefghijABCDEFGHIJ";
    assert_eq!(body.len(), RANDOM_LEN);
    let signed = format!("{prefix}_{body}");
    let crc = crc32fast::hash(signed.as_bytes());
    format!("{signed}{}", base62_fixed(crc))
}

/// Base62 (0-9A-Za-z), big-endian, padded to the checksum width: the
/// documented token format, spelt out independently of the crate.
fn base62_fixed(mut n: u32) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn the_documented_form_parses_and_its_parts_are_reported() {
    let text = fixed("sk_live");
    let parsed = ParsedToken::parse(&text).unwrap();
    assert_eq!(parsed.prefix(), "sk_live");
    assert_eq!(parsed.start(), "sk_live_0123");
    assert_eq!(parsed.digest(), TokenDigest::of(&text));
    let token = Token::parse(&text).unwrap();
    assert_eq!(token.expose(), text);
    assert_eq!(token.prefix(), "sk_live");
    assert_eq!(token.start(), "sk_live_0123");
    assert_eq!(token.digest(), TokenDigest::of(&text));
    assert_eq!(START_LEN, 4);
}

#[test]
fn a_minted_token_has_the_prefix_a_full_body_and_a_valid_checksum() {
    let t = Token::mint("bp_pat").unwrap();
    let s = t.expose();
    assert_eq!(s.len(), "bp_pat_".len() + BODY_LEN);
    assert!(s.starts_with("bp_pat_"));
    assert_eq!(t.prefix(), "bp_pat");
    assert_eq!(t.start(), s[..("bp_pat_".len() + START_LEN)]);
    assert!(ParsedToken::parse(s).is_ok());
    assert_ne!(Token::mint("bp_pat").unwrap().expose(), s);
    assert_eq!(
        Token::mint("Bad").unwrap_err(),
        TokenFormatError::InvalidPrefix
    );
}

#[test]
fn debug_and_display_show_only_the_start() {
    let text = fixed("gp");
    let token = Token::parse(&text).unwrap();
    assert_eq!(format!("{token:?}"), "Token(gp_0123…)");
    assert_eq!(format!("{token}"), "gp_0123…");
    let parsed = ParsedToken::parse(&text).unwrap();
    assert_eq!(format!("{parsed:?}"), "ParsedToken(gp_0123…)");
    assert_eq!(format!("{:?}", token.digest()), "TokenDigest(…)");
}

#[test]
fn a_prefix_is_lowercase_words_joined_by_single_underscores() {
    for ok in ["g", "gp", "gp2", "a1_b2_c3", "x_y"] {
        assert!(is_valid_prefix(ok), "{ok}");
    }
    for bad in [
        "", "1gp", "_gp", "gp_", "gp__x", "Gp", "gP", "gp-x", "gp x", "gé",
    ] {
        assert!(!is_valid_prefix(bad), "{bad}");
    }
}

#[test]
fn a_prefix_of_exactly_the_maximum_length_is_accepted_and_one_more_byte_is_not() {
    let at_max = "a".repeat(MAX_PREFIX_LEN);
    assert!(is_valid_prefix(&at_max));
    assert!(ParsedToken::parse(&fixed(&at_max)).is_ok());
    let over = "a".repeat(MAX_PREFIX_LEN + 1);
    assert!(!is_valid_prefix(&over));
    assert_eq!(
        ParsedToken::parse(&fixed(&over)).err(),
        Some(TokenFormatError::InvalidPrefix)
    );
}

#[test]
fn each_malformed_part_gets_its_own_error() {
    let good = fixed("gp");
    assert_eq!(
        ParsedToken::parse("gp0123").err(),
        Some(TokenFormatError::MissingSeparator)
    );
    assert_eq!(
        ParsedToken::parse(&format!("GP{}", &good[2..])).err(),
        Some(TokenFormatError::InvalidPrefix)
    );
    // One character short, one too many, one outside base62.
    assert_eq!(
        ParsedToken::parse(&good[..good.len() - 1]).err(),
        Some(TokenFormatError::InvalidBody)
    );
    assert_eq!(
        ParsedToken::parse(&format!("{good}0")).err(),
        Some(TokenFormatError::InvalidBody)
    );
    let mut bytes = good.clone().into_bytes();
    bytes[5] = b'-';
    assert_eq!(
        ParsedToken::parse(std::str::from_utf8(&bytes).unwrap()).err(),
        Some(TokenFormatError::InvalidBody)
    );
    // A changed random character, a changed checksum, a changed prefix.
    let mut bytes = good.clone().into_bytes();
    bytes[4] = if bytes[4] == b'x' { b'y' } else { b'x' };
    assert_eq!(
        ParsedToken::parse(std::str::from_utf8(&bytes).unwrap()).err(),
        Some(TokenFormatError::ChecksumMismatch)
    );
    let last = good.len() - 1;
    let mut bytes = good.clone().into_bytes();
    bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        Token::parse(std::str::from_utf8(&bytes).unwrap()).err(),
        Some(TokenFormatError::ChecksumMismatch)
    );
    assert_eq!(
        ParsedToken::parse(&format!("gq{}", &good[2..])).err(),
        Some(TokenFormatError::ChecksumMismatch)
    );
}

#[test]
fn format_errors_never_carry_the_token() {
    let good = fixed("gp");
    let last = if good.ends_with('X') { 'Y' } else { 'X' };
    let bad = format!("{}{last}", &good[..good.len() - 1]);
    let e = ParsedToken::parse(&bad).unwrap_err();
    assert!(!e.to_string().contains(&good[3..]));
    assert_eq!(e.to_string(), "token checksum does not match");
}

fn hash_of<T: std::hash::Hash>(value: &T, state: &RandomState) -> u64 {
    state.hash_one(value)
}

#[test]
fn two_different_tokens_have_different_digests_and_equal_tokens_equal_ones() {
    let a = TokenDigest::of(&fixed("gp"));
    let b = TokenDigest::of(&fixed("gq"));
    assert_eq!(a, TokenDigest::of(&fixed("gp")));
    assert_ne!(a, b);
    assert!(a.ct_eq(&TokenDigest::of(&fixed("gp"))));
    assert!(!a.ct_eq(&b));
    // Differing only in the last byte still differs (the compare covers all 32).
    let mut c = a;
    c.0[31] ^= 1;
    assert_ne!(a, c);
    assert!(!a.ct_eq(&c));
    let mut d = a;
    d.0[0] ^= 0x80;
    assert_ne!(a, d);
}

#[test]
fn a_digest_is_the_sha256_of_the_whole_token() {
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(hex::encode(TokenDigest::of("abc").as_bytes()), expected);
    assert_eq!(hex::encode(TokenDigest::of("abc").0), expected);
}

#[test]
fn a_digest_hashes_as_its_bytes_so_maps_keyed_by_digests_tell_them_apart() {
    let state = RandomState::new();
    let a = TokenDigest::of("a");
    let b = TokenDigest::of("b");
    assert_eq!(hash_of(&a, &state), hash_of(&a.0, &state));
    assert_eq!(hash_of(&b, &state), hash_of(&b.0, &state));
    let mut set = HashSet::new();
    assert!(set.insert(a));
    assert!(set.insert(b));
    assert!(!set.insert(TokenDigest::of("a")));
    assert_eq!(set.len(), 2);
}

#[test]
fn key_ids_are_key_and_sixteen_base62_characters() {
    let id = new_key_id();
    assert_eq!(id.len(), 20);
    assert!(id.starts_with("key_"));
    assert!(is_valid_key_id(&id));
    assert_ne!(new_key_id(), id);
    assert!(is_valid_key_id("key_0123456789abcdEF"));
    for bad in [
        "",
        "key_",
        "key_0123456789abcde",
        "key_0123456789abcdEFG",
        "kex_0123456789abcdEF",
        "key_0123456789abcd-F",
        "0123456789abcdEF",
    ] {
        assert!(!is_valid_key_id(bad), "{bad}");
    }
}

#[test]
fn token_shaped_text_is_recognised_with_or_without_a_checksum_or_a_scheme() {
    let token = fixed("bp_pat");
    assert!(looks_like_token(&token));
    assert!(looks_like_token(&format!("Bearer {token}")));
    // A mistyped checksum is still a secret that must not be repeated.
    let mut typo = token.clone();
    typo.pop();
    typo.push(if token.ends_with('0') { '1' } else { '0' });
    assert!(looks_like_token(&typo));
    // Each part of the shape is required: a valid prefix, `_`, and exactly
    // BODY_LEN base62 characters.
    let body = &token["bp_pat_".len()..];
    for not_a_token in [
        String::new(),
        "key_0123456789abcdEF".to_owned(),
        body.to_owned(),
        format!("BP_PAT_{body}"),
        format!("bp_pat_{}", &body[1..]),
        format!("bp_pat_{body}0"),
        format!("bp_pat_{}-", &body[1..]),
        format!("bp_pat{body}"),
    ] {
        assert!(!looks_like_token(&not_a_token), "{not_a_token}");
    }
}

//! The `Authorization` header rules, one statement per test: the length
//! bound at its exact edge, the allowed bytes at their edges, the scheme and
//! token68 grammars, and which failures are a bare challenge. Written so that
//! breaking any one rule in `core/src/header.rs` fails a test
//! (`scripts/mutants.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gatepass_core::header::{parse_authorization, Credential, HeaderError, MAX_HEADER_LEN};

const SCHEMES: [&str; 2] = ["Bearer", "Token"];

fn parse(value: &[u8]) -> Result<Credential<'_>, HeaderError> {
    parse_authorization(Some(value), &SCHEMES)
}

fn token(value: &str) -> Result<(Option<&str>, &str), HeaderError> {
    parse(value.as_bytes()).map(|c| (c.scheme, c.token))
}

#[test]
fn a_header_of_exactly_the_maximum_length_is_read_and_one_byte_more_is_not() {
    let at_max = format!("Bearer {}", "a".repeat(MAX_HEADER_LEN - "Bearer ".len()));
    assert_eq!(at_max.len(), MAX_HEADER_LEN);
    assert_eq!(token(&at_max).unwrap().1.len(), MAX_HEADER_LEN - 7);
    let over = format!("{at_max}a");
    assert_eq!(token(&over), Err(HeaderError::TooLong));
    // The bound holds before anything else is looked at.
    let junk = vec![0u8; MAX_HEADER_LEN + 1];
    assert_eq!(parse(&junk), Err(HeaderError::TooLong));
}

#[test]
fn visible_ascii_space_and_tab_are_allowed_and_nothing_else() {
    // The edges of the visible range: '!' (0x21) and '~' (0x7e).
    assert_eq!(token("Bearer a~"), Ok((Some("Bearer"), "a~")));
    assert_eq!(token("Bearer a!"), Err(HeaderError::InvalidToken68));
    assert_eq!(token("\tBearer\t\ta\t"), Ok((Some("Bearer"), "a")));
    for byte in [0x00u8, 0x09 + 1, 0x0d, 0x1f, 0x7f, 0x80, 0xff] {
        let mut value = b"Bearer a".to_vec();
        value.push(byte);
        assert_eq!(
            parse(&value),
            Err(HeaderError::InvalidCharacters),
            "byte {byte:#x}"
        );
    }
}

#[test]
fn no_value_or_only_whitespace_is_missing_credentials() {
    assert_eq!(
        parse_authorization::<&str>(None, &SCHEMES),
        Err(HeaderError::Missing)
    );
    assert_eq!(parse(b""), Err(HeaderError::Missing));
    assert_eq!(parse(b" \t "), Err(HeaderError::Missing));
}

#[test]
fn the_scheme_is_matched_case_insensitively_and_named_as_the_policy_spells_it() {
    assert_eq!(token("bEaReR abc"), Ok((Some("Bearer"), "abc")));
    assert_eq!(token("token abc"), Ok((Some("Token"), "abc")));
    assert_eq!(
        token("bearer"),
        Err(HeaderError::MissingToken("Bearer".into()))
    );
    assert_eq!(
        token("  TOKEN "),
        Err(HeaderError::MissingToken("Token".into()))
    );
}

#[test]
fn a_bare_token68_is_accepted_without_a_scheme() {
    assert_eq!(token("gp_abc"), Ok((None, "gp_abc")));
    assert_eq!(token(" a-b.c_d~e+f/g== "), Ok((None, "a-b.c_d~e+f/g==")));
    assert_eq!(token("a,b"), Err(HeaderError::MultipleCredentials));
    assert_eq!(token("a\"b"), Err(HeaderError::InvalidToken68));
    assert_eq!(token("=="), Err(HeaderError::InvalidToken68));
}

#[test]
fn token68_allows_its_characters_and_trailing_padding_only() {
    for ok in [
        "abc", "ABC019", "a-b", "a.b", "a_b", "a~b", "a+b", "a/b", "ab=", "ab==",
    ] {
        assert_eq!(
            token(&format!("Bearer {ok}")),
            Ok((Some("Bearer"), ok)),
            "{ok}"
        );
    }
    for bad in [
        "=ab", "a=b", "a:b", "a;b", "a\\b", "a@b", "====", "a!b", "a*b",
    ] {
        assert_eq!(
            token(&format!("Bearer {bad}")),
            Err(HeaderError::InvalidToken68),
            "{bad}"
        );
    }
}

#[test]
fn a_scheme_word_must_be_an_http_token() {
    // Every tchar makes a well-formed scheme word: refused as unsupported.
    let all_tchars = "aZ0!#$%&'*+-.^_`|~";
    assert_eq!(
        token(&format!("{all_tchars} abc")),
        Err(HeaderError::UnsupportedScheme(None))
    );
    // A non-tchar makes it malformed.
    for bad in ["Bea\"rer", "Bea(rer", "Bea/rer", "Bea=rer", "Bea:rer"] {
        assert_eq!(
            token(&format!("{bad} abc")),
            Err(HeaderError::InvalidToken68),
            "{bad}"
        );
    }
}

#[test]
fn an_unaccepted_scheme_is_named_only_when_registered() {
    for (sent, named) in [
        ("Basic", "Basic"),
        ("digest", "Digest"),
        ("dpop", "DPoP"),
        ("scram-sha-256", "SCRAM-SHA-256"),
        ("VAPID", "vapid"),
    ] {
        let e = token(&format!("{sent} abc")).unwrap_err();
        assert_eq!(e, HeaderError::UnsupportedScheme(Some(named)), "{sent}");
        assert_eq!(
            e.to_string(),
            format!("authentication scheme '{named}' is not accepted")
        );
    }
    let e = token("gp_secret123 abc").unwrap_err();
    assert_eq!(e, HeaderError::UnsupportedScheme(None));
    assert_eq!(
        e.to_string(),
        "authentication scheme (unregistered) is not accepted"
    );
}

#[test]
fn more_than_one_credential_is_refused() {
    assert_eq!(token("Bearer a b"), Err(HeaderError::MultipleCredentials));
    assert_eq!(token("a b c"), Err(HeaderError::MultipleCredentials));
    assert_eq!(token("Bearer a,b"), Err(HeaderError::MultipleCredentials));
    assert_eq!(
        token("Bearer a, Bearer b"),
        Err(HeaderError::MultipleCredentials)
    );
}

#[test]
fn only_missing_and_unsupported_scheme_are_a_bare_challenge() {
    assert!(HeaderError::Missing.is_missing_credentials());
    assert!(HeaderError::UnsupportedScheme(None).is_missing_credentials());
    assert!(HeaderError::UnsupportedScheme(Some("Basic")).is_missing_credentials());
    for e in [
        HeaderError::TooLong,
        HeaderError::InvalidCharacters,
        HeaderError::MissingToken("Bearer".into()),
        HeaderError::MultipleCredentials,
        HeaderError::InvalidToken68,
    ] {
        assert!(!e.is_missing_credentials(), "{e:?}");
    }
}

#[test]
fn a_credential_prints_its_scheme_but_never_its_token() {
    let c = parse(b"Bearer s3cr3t").unwrap();
    assert_eq!(
        format!("{c:?}"),
        r#"Credential { scheme: Some("Bearer"), token: "<redacted>" }"#
    );
}

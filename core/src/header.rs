//! `Authorization` header parsing (RFC 9110 §11.6.2, RFC 6750 §2.1).
//!
//! Accepts exactly one `<scheme> <token68>` where the scheme is one of the
//! policy's accepted schemes (case-insensitive), or a bare token. Everything
//! else gets a precise reason; nothing here allocates in proportion to hostile
//! input beyond the bounded header itself.

/// Longest header value we look at. Real tokens are under 100 bytes; anything
/// far longer is hostile or broken.
pub const MAX_HEADER_LEN: usize = 4096;

/// A credential taken from a header: which scheme carried it (None for a bare
/// token) and the token text. Borrowed, so the secret is never copied here.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Credential<'a> {
    pub scheme: Option<&'a str>,
    pub token: &'a str,
}

impl std::fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("scheme", &self.scheme)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Why a header value was not accepted. Maps to outcome codes in
/// [`crate::outcome`]: `Missing` and `UnsupportedScheme` → `missing_credentials`
/// (RFC 6750 §3.1: a client using another scheme gets a plain challenge), the
/// rest → `invalid_request`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("no credentials were sent")]
    Missing,
    /// Holds the scheme's name only when it is a registered HTTP scheme: the
    /// word before the space may be a token pasted in the wrong place
    /// (`gp_… extra`), and must not be echoed into a response or a log.
    #[error("authentication scheme {} is not accepted", .0.as_deref().map_or("(unregistered)".to_owned(), |s| format!("'{s}'")))]
    UnsupportedScheme(Option<&'static str>),
    #[error("the Authorization header is longer than {MAX_HEADER_LEN} bytes")]
    TooLong,
    #[error("the Authorization header contains characters outside visible ASCII")]
    InvalidCharacters,
    #[error("the '{0}' scheme was sent without a token")]
    MissingToken(String),
    #[error("the Authorization header carries more than one credential")]
    MultipleCredentials,
    #[error("the token contains characters not allowed in a token68")]
    InvalidToken68,
}

impl HeaderError {
    /// True when the right answer is a bare challenge rather than a 400.
    pub fn is_missing_credentials(&self) -> bool {
        matches!(self, Self::Missing | Self::UnsupportedScheme(_))
    }
}

/// RFC 9110 token68: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// RFC 9110 `token` characters, for recognising a scheme name.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// HTTP authentication schemes registered with IANA, which are safe to name
/// in a message because they are not secrets.
const REGISTERED_SCHEMES: [&str; 14] = [
    "Basic",
    "Bearer",
    "Concealed",
    "Digest",
    "DPoP",
    "GNAP",
    "HOBA",
    "Mutual",
    "Negotiate",
    "OAuth",
    "PrivateToken",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "vapid",
];

fn registered_scheme(word: &str) -> Option<&'static str> {
    REGISTERED_SCHEMES
        .iter()
        .copied()
        .find(|s| s.eq_ignore_ascii_case(word))
}

/// Parses one `Authorization` value (or a bare token) against the accepted
/// schemes. Surrounding whitespace is ignored; one or more spaces may separate
/// scheme and token (RFC 9110 `1*SP`).
pub fn parse_authorization<'a, S: AsRef<str>>(
    value: Option<&'a [u8]>,
    accepted_schemes: &'a [S],
) -> Result<Credential<'a>, HeaderError> {
    let raw = match value {
        None => return Err(HeaderError::Missing),
        Some(v) => v,
    };
    if raw.len() > MAX_HEADER_LEN {
        return Err(HeaderError::TooLong);
    }
    // Visible ASCII plus space and tab only: anything else cannot be part of a
    // valid credential and must not reach our error messages unescaped.
    if !raw
        .iter()
        .all(|&b| b == b' ' || b == b'\t' || (0x21..=0x7e).contains(&b))
    {
        return Err(HeaderError::InvalidCharacters);
    }
    let text = std::str::from_utf8(raw).map_err(|_| HeaderError::InvalidCharacters)?;
    // Splitting on every space and tab and skipping the empty pieces also
    // ignores surrounding whitespace, and an empty or blank value yields no
    // piece at all (`Missing`), so the value needs no trimming first.
    let mut parts = text.split([' ', '\t']).filter(|p| !p.is_empty());
    let first = parts.next().ok_or(HeaderError::Missing)?;
    let second = parts.next();
    if parts.next().is_some() {
        return Err(HeaderError::MultipleCredentials);
    }
    let accepted = |name: &str| {
        accepted_schemes
            .iter()
            .map(AsRef::as_ref)
            .find(|s| s.eq_ignore_ascii_case(name))
    };
    match second {
        None => {
            if let Some(scheme) = accepted(first) {
                return Err(HeaderError::MissingToken(scheme.to_owned()));
            }
            if first.contains(',') {
                return Err(HeaderError::MultipleCredentials);
            }
            if !is_token68(first) {
                return Err(HeaderError::InvalidToken68);
            }
            Ok(Credential {
                scheme: None,
                token: first,
            })
        }
        Some(token) => {
            if !first.bytes().all(is_tchar) {
                return Err(HeaderError::InvalidToken68);
            }
            let Some(scheme) = accepted(first) else {
                return Err(HeaderError::UnsupportedScheme(registered_scheme(first)));
            };
            if token.contains(',') {
                // `Bearer a,Bearer b` folded by a proxy: two credentials.
                return Err(HeaderError::MultipleCredentials);
            }
            if !is_token68(token) {
                return Err(HeaderError::InvalidToken68);
            }
            Ok(Credential {
                scheme: Some(scheme),
                token,
            })
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SCHEMES: [&str; 2] = ["Bearer", "Token"];

    fn parse(v: &str) -> Result<Credential<'_>, HeaderError> {
        parse_authorization(Some(v.as_bytes()), &SCHEMES)
    }

    #[test]
    fn accepts_each_scheme_case_insensitively() {
        for v in [
            "Bearer abc",
            "bearer abc",
            "TOKEN abc",
            "Token   abc ",
            " Bearer\tabc",
        ] {
            let c = parse(v).unwrap();
            assert_eq!(c.token, "abc", "{v}");
            assert!(c.scheme.is_some());
        }
        assert_eq!(parse("bearer x").unwrap().scheme, Some("Bearer"));
    }

    #[test]
    fn accepts_a_bare_token() {
        let c = parse("gp_abc").unwrap();
        assert_eq!(c.scheme, None);
        assert_eq!(c.token, "gp_abc");
    }

    #[test]
    fn precise_errors() {
        assert_eq!(
            parse_authorization::<&str>(None, &SCHEMES),
            Err(HeaderError::Missing)
        );
        assert_eq!(parse("   "), Err(HeaderError::Missing));
        assert_eq!(
            parse("Basic dXNlcjpwYXNz"),
            Err(HeaderError::UnsupportedScheme(Some("Basic")))
        );
        assert_eq!(
            parse("Bearer"),
            Err(HeaderError::MissingToken("Bearer".into()))
        );
        assert_eq!(parse("Bearer a b"), Err(HeaderError::MultipleCredentials));
        assert_eq!(
            parse("Bearer a, Bearer b"),
            Err(HeaderError::MultipleCredentials)
        );
        assert_eq!(
            parse("Bearer a,Bearer b"),
            Err(HeaderError::MultipleCredentials)
        );
        assert_eq!(parse("Bearer a\"b"), Err(HeaderError::InvalidToken68));
        assert_eq!(parse("Bearer ===="), Err(HeaderError::InvalidToken68));
        assert_eq!(parse("Bearer é"), Err(HeaderError::InvalidCharacters));
        assert_eq!(parse("Bearer a\0"), Err(HeaderError::InvalidCharacters));
        assert_eq!(
            parse(&format!("Bearer {}", "a".repeat(5000))),
            Err(HeaderError::TooLong)
        );
    }

    #[test]
    fn an_unregistered_scheme_word_is_never_echoed() {
        // A token pasted before junk must not end up in a message or a log.
        let e = parse("gp_secretlooking1234 extra").unwrap_err();
        assert_eq!(e, HeaderError::UnsupportedScheme(None));
        assert!(!e.to_string().contains("secretlooking"));
        assert!(parse("basic x")
            .unwrap_err()
            .to_string()
            .contains("'Basic'"));
    }

    #[test]
    fn token68_allows_padding() {
        assert_eq!(parse("Bearer abc==").unwrap().token, "abc==");
        assert_eq!(
            parse("Bearer a-b.c_d~e+f/g").unwrap().token,
            "a-b.c_d~e+f/g"
        );
    }
}

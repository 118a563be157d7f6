//! Strict, bounded parsers shared by the schemes.
//!
//! Every parser here does work linear in an input that is itself capped
//! (`MAX_HEADER_LEN`), never allocates per signature, and either accepts the
//! exact grammar or reports `invalid_header`. Received signatures are decoded
//! once into fixed-size byte arrays and compared as bytes in constant time.

use base64::Engine as _;
use subtle::{Choice, ConstantTimeEq};

use super::error::WebhookError;
use super::headers::Headers;

/// Longest header value any scheme reads; longer is `invalid_header`.
pub const MAX_HEADER_LEN: usize = 8 * 1024;
/// Most signatures accepted in one header (rotation needs two or three).
pub const MAX_SIGNATURES: usize = 16;
/// Longest message id accepted (bounds replay-guard keys).
pub const MAX_ID_LEN: usize = 256;
/// Longest decimal timestamp: 12 digits reach year 33658.
const MAX_TIMESTAMP_DIGITS: usize = 12;

/// A header that must be present and non-empty, within the length cap.
pub(crate) fn required<'h>(
    headers: &'h Headers,
    name: &'static str,
) -> Result<&'h [u8], WebhookError> {
    match headers.get(name) {
        None | Some([]) => Err(WebhookError::MissingHeader { header: name }),
        Some(v) if v.len() > MAX_HEADER_LEN => {
            Err(WebhookError::invalid(name, "header is too long"))
        }
        Some(v) => Ok(v),
    }
}

/// An optional header (absent or empty = `None`), within the length cap.
pub(crate) fn optional<'h>(
    headers: &'h Headers,
    name: &'static str,
) -> Result<Option<&'h [u8]>, WebhookError> {
    match headers.get(name) {
        None | Some([]) => Ok(None),
        Some(v) if v.len() > MAX_HEADER_LEN => {
            Err(WebhookError::invalid(name, "header is too long"))
        }
        Some(v) => Ok(Some(v)),
    }
}

/// A message id: UTF-8, at most `MAX_ID_LEN` bytes, no control characters.
pub(crate) fn message_id(value: &[u8], header: &'static str) -> Result<String, WebhookError> {
    if value.len() > MAX_ID_LEN {
        return Err(WebhookError::invalid(header, "id is too long"));
    }
    let id =
        std::str::from_utf8(value).map_err(|_| WebhookError::invalid(header, "id is not UTF-8"))?;
    if id.chars().any(char::is_control) {
        return Err(WebhookError::invalid(
            header,
            "id contains control characters",
        ));
    }
    Ok(id.to_owned())
}

/// Unix seconds as plain decimal: 1–12 ASCII digits, no sign, no spaces, no
/// decimals, no leading zeros (so the bytes we sign are the bytes received
/// *and* the canonical integer the official libraries re-format and sign).
pub(crate) fn unix_seconds(value: &[u8], header: &'static str) -> Result<i64, WebhookError> {
    const REASON: &str = "timestamp is not a plain integer";
    if value.is_empty() || value.len() > MAX_TIMESTAMP_DIGITS {
        return Err(WebhookError::invalid(header, REASON));
    }
    if value.len() > 1 && value[0] == b'0' {
        return Err(WebhookError::invalid(header, REASON));
    }
    let mut n: i64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return Err(WebhookError::invalid(header, REASON));
        }
        // 12 digits cannot overflow i64.
        n = n * 10 + i64::from(b - b'0');
    }
    Ok(n)
}

/// Check `ts` against `now` in both directions. `tolerance` of `None` turns
/// the check off. The bounds are inclusive: exactly `tolerance` seconds off is
/// accepted, as in the official libraries.
pub(crate) fn check_window(ts: i64, now: i64, tolerance: Option<i64>) -> Result<(), WebhookError> {
    let Some(tol) = tolerance else { return Ok(()) };
    if now.saturating_sub(ts) > tol {
        Err(WebhookError::TimestampTooOld)
    } else if ts.saturating_sub(now) > tol {
        Err(WebhookError::TimestampTooNew)
    } else {
        Ok(())
    }
}

/// Outcome of decoding one received signature.
pub(crate) enum Decoded<const N: usize> {
    /// Well-formed and of the MAC's length: a candidate.
    Mac([u8; N]),
    /// Well-formed encoding of some other length: can never match.
    WrongLength,
}

const fn b64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

fn is_b64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// Strict standard base64 (padded, canonical). Anything with a character
/// outside the alphabet, or `=` anywhere but at most two at the end, is
/// malformed; well-formed input of the wrong length is `WrongLength`.
pub(crate) fn base64_mac<const N: usize>(s: &[u8]) -> Result<Decoded<N>, &'static str> {
    const REASON: &str = "signature is not base64";
    let body_len = s.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    let pad = s.len() - body_len;
    if body_len == 0 || pad > 2 || !s[..body_len].iter().all(|&b| is_b64_char(b)) {
        return Err(REASON);
    }
    // Padding only ever completes a 4-character group; one leftover
    // character can encode nothing.
    if (pad > 0 && s.len() % 4 != 0) || body_len % 4 == 1 {
        return Err(REASON);
    }
    if s.len() != b64_len(N) {
        return Ok(Decoded::WrongLength);
    }
    // Room for the decoder's estimate (3 bytes per 4 characters, padding
    // included) of the longest MAC or signature read (64 bytes).
    let mut buf = [0u8; 72];
    let n = base64::engine::general_purpose::STANDARD
        .decode_slice(s, &mut buf)
        .map_err(|_| REASON)?;
    let mut out = [0u8; N];
    if n != N {
        return Ok(Decoded::WrongLength);
    }
    out.copy_from_slice(&buf[..N]);
    Ok(Decoded::Mac(out))
}

/// Strict hex (either case, since it is the same MAC). Non-hex characters are
/// malformed; hex of the wrong length is `WrongLength`.
pub(crate) fn hex_mac<const N: usize>(s: &[u8]) -> Result<Decoded<N>, &'static str> {
    const REASON: &str = "signature is not hex";
    if s.is_empty() || !s.iter().all(u8::is_ascii_hexdigit) {
        return Err(REASON);
    }
    if s.len() != 2 * N {
        return Ok(Decoded::WrongLength);
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| REASON)?;
    Ok(Decoded::Mac(out))
}

/// Up to `MAX_SIGNATURES` decoded candidate signatures, on the stack.
pub(crate) struct Candidates<const N: usize> {
    sigs: [[u8; N]; MAX_SIGNATURES],
    len: usize,
    /// Entries seen (including wrong-length ones), for the count cap.
    seen: usize,
}

impl<const N: usize> Candidates<N> {
    pub(crate) fn new() -> Self {
        Self {
            sigs: [[0u8; N]; MAX_SIGNATURES],
            len: 0,
            seen: 0,
        }
    }

    /// Record one decoded entry; too many entries is `invalid_header`.
    pub(crate) fn push(&mut self, d: Decoded<N>, header: &'static str) -> Result<(), WebhookError> {
        self.seen += 1;
        if self.seen > MAX_SIGNATURES {
            return Err(WebhookError::invalid(header, "too many signatures"));
        }
        if let Decoded::Mac(mac) = d {
            self.sigs[self.len] = mac;
            self.len += 1;
        }
        Ok(())
    }

    /// True when no entry could possibly match.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The decoded candidates (for checks that are not a byte comparison,
    /// such as an Ed25519 verification).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8; N]> {
        self.sigs[..self.len].iter()
    }

    /// Whether any candidate equals `expected`, in constant time over all
    /// candidates (the number of candidates is public).
    pub(crate) fn matches(&self, expected: &[u8; N]) -> Choice {
        let mut found = Choice::from(0);
        for sig in &self.sigs[..self.len] {
            found |= sig.ct_eq(expected);
        }
        found
    }

    /// Whether the MAC of one of `keys` (current and rotated secrets) is
    /// among the candidates: the loop every HMAC scheme runs once its header
    /// is parsed, with the scheme's own `mac` so signing and verifying share
    /// one message layout. Each comparison is constant-time; which key
    /// matched is not secret.
    pub(crate) fn matched_by<K>(
        &self,
        keys: impl IntoIterator<Item = K>,
        mac: impl Fn(K) -> [u8; N],
    ) -> bool {
        keys.into_iter()
            .any(|key| bool::from(self.matches(&mac(key))))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_plain_integers() {
        assert_eq!(unix_seconds(b"1614265330", "t").unwrap(), 1_614_265_330);
        assert_eq!(unix_seconds(b"0", "t").unwrap(), 0);
        assert_eq!(unix_seconds(b"999999999999", "t").unwrap(), 999_999_999_999);
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b" 1",
            b"1 ",
            b"1.0",
            b"1e9",
            b"0x10",
            b"01",
            b"1000000000000",
            b"\xff",
            b"hello",
            "١٢".as_bytes(),
        ] {
            let err = unix_seconds(bad, "webhook-timestamp").unwrap_err();
            assert_eq!(err.code(), "invalid_header", "{bad:?}");
        }
    }

    #[test]
    fn window_is_inclusive_and_two_sided() {
        let tol = Some(300);
        assert!(check_window(1000, 1300, tol).is_ok());
        assert!(check_window(1300, 1000, tol).is_ok());
        assert_eq!(
            check_window(999, 1300, tol),
            Err(WebhookError::TimestampTooOld)
        );
        assert_eq!(
            check_window(1301, 1000, tol),
            Err(WebhookError::TimestampTooNew)
        );
        assert!(check_window(0, i64::MAX, None).is_ok());
        assert_eq!(
            check_window(0, i64::MAX, Some(0)),
            Err(WebhookError::TimestampTooOld)
        );
        assert_eq!(
            check_window(i64::MAX, i64::MIN, Some(1)),
            Err(WebhookError::TimestampTooNew)
        );
    }

    #[test]
    fn base64_is_strict() {
        let good = b"g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert!(matches!(base64_mac::<32>(good), Ok(Decoded::Mac(_))));
        // valid base64 of another length can never match
        assert!(matches!(
            base64_mac::<32>(b"dawfeoifkpqwoekfpqoekf"),
            Ok(Decoded::WrongLength)
        ));
        assert!(matches!(
            base64_mac::<32>(b"g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLawdd"),
            Ok(Decoded::WrongLength)
        ));
        for bad in [
            &b""[..],
            b"=",
            b"g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= ",
            b" g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            b"g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=x",
            b"g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1O==",
            b"g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            b"abc===",
            b"ab=c",
        ] {
            assert!(base64_mac::<32>(bad).is_err(), "{bad:?}");
        }
        // non-canonical trailing bits are rejected
        assert!(base64_mac::<32>(b"g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=").is_err());
    }

    #[test]
    fn hex_is_strict() {
        let good = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let Ok(Decoded::Mac(lower)) = hex_mac::<32>(good.as_bytes()) else {
            panic!()
        };
        let Ok(Decoded::Mac(upper)) = hex_mac::<32>(good.to_uppercase().as_bytes()) else {
            panic!()
        };
        assert_eq!(lower, upper);
        assert!(matches!(hex_mac::<32>(b"abcd"), Ok(Decoded::WrongLength)));
        for bad in [&b""[..], b"xyz", b"abcd ", b"0xabcd", b"ab-cd"] {
            assert!(hex_mac::<32>(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn candidates_are_capped() {
        let mut c = Candidates::<4>::new();
        for _ in 0..MAX_SIGNATURES {
            c.push(Decoded::Mac([1, 2, 3, 4]), "h").unwrap();
        }
        let err = c.push(Decoded::WrongLength, "h").unwrap_err();
        assert_eq!(err.code(), "invalid_header");
        assert!(bool::from(c.matches(&[1, 2, 3, 4])));
        assert!(!bool::from(c.matches(&[1, 2, 3, 5])));
    }

    #[test]
    fn header_length_cap() {
        let h = Headers::from_pairs([("x", vec![b'a'; MAX_HEADER_LEN + 1])]);
        assert_eq!(required(&h, "x").unwrap_err().code(), "invalid_header");
        assert_eq!(optional(&h, "x").unwrap_err().code(), "invalid_header");
        assert_eq!(required(&h, "y").unwrap_err().code(), "missing_header");
        let empty = Headers::from_pairs([("x", "")]);
        assert_eq!(required(&empty, "x").unwrap_err().code(), "missing_header");
    }

    #[test]
    fn ids_are_bounded_text() {
        assert_eq!(message_id(b"msg_1", "webhook-id").unwrap(), "msg_1");
        assert!(message_id(&[b'a'; MAX_ID_LEN + 1], "webhook-id").is_err());
        assert!(message_id(b"\xff", "webhook-id").is_err());
        assert!(message_id(b"a\x01b", "webhook-id").is_err());
    }
}

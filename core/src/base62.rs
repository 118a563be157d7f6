//! Base62 (`0-9A-Za-z`) helpers for token bodies and key ids.

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub fn is_digit(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn value(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'A'..=b'Z' => Some(u64::from(b - b'A') + 10),
        b'a'..=b'z' => Some(u64::from(b - b'a') + 36),
        _ => None,
    }
}

/// Appends `n` uniformly random base62 characters from the OS CSPRNG.
///
/// Uses rejection sampling (bytes ≥ 248 are discarded) so every character is
/// exactly uniform; `248 = 4 × 62`.
pub fn push_random(out: &mut String, n: usize) {
    let mut pushed = 0;
    let mut buf = zeroize::Zeroizing::new([0u8; 64]);
    while pushed < n {
        fill_random(&mut buf[..]);
        for &b in buf.iter() {
            if b < 248 && pushed < n {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
                pushed += 1;
            }
        }
    }
}

/// Fills `buf` from the operating system's CSPRNG.
///
/// An OS without a working CSPRNG cannot mint secrets safely; aborting is the
/// only correct answer, and it is not reachable from network input.
#[allow(clippy::panic)]
pub fn fill_random(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        panic!("the operating system's random number generator failed: {e}");
    }
}

/// Appends `value` as exactly `width` base62 digits, most significant first.
pub fn push_u32_fixed(out: &mut String, value: u32, width: usize) {
    let mut digits = [b'0'; 11];
    let mut v = u64::from(value);
    for slot in digits[..width].iter_mut().rev() {
        *slot = ALPHABET[(v % 62) as usize];
        v /= 62;
    }
    for &d in &digits[..width] {
        out.push(char::from(d));
    }
}

/// Decodes a short base62 number; `None` on a non-base62 byte or overflow.
pub fn decode_u64(s: &str) -> Option<u64> {
    s.bytes()
        .try_fold(0u64, |acc, b| acc.checked_mul(62)?.checked_add(value(b)?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_round_trip() {
        for v in [0u32, 1, 61, 62, u32::MAX] {
            let mut s = String::new();
            push_u32_fixed(&mut s, v, 6);
            assert_eq!(s.len(), 6);
            assert_eq!(decode_u64(&s), Some(u64::from(v)));
        }
    }

    #[test]
    fn random_is_base62() {
        let mut s = String::new();
        push_random(&mut s, 200);
        assert_eq!(s.len(), 200);
        assert!(s.bytes().all(is_digit));
    }
}

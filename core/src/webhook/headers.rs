//! Case-insensitive request headers, as raw bytes.
//!
//! Frameworks hand headers over in different shapes (WSGI dicts, Node objects,
//! `http::HeaderMap`). This type gives every scheme the same view:
//!
//! - names are matched ASCII-case-insensitively (RFC 9110 §5.1);
//! - values are raw bytes, with leading and trailing optional whitespace
//!   (SP / HTAB) removed, since RFC 9110 §5.5 excludes it from the value;
//! - a name given more than once is combined into one value joined with
//!   `", "`, exactly as RFC 9110 §5.3 allows a recipient to do and as Node's
//!   `req.headers` does. Every signature header in this crate is single-valued,
//!   so a duplicated one then fails its scheme's strict parser with
//!   `invalid_header` instead of one copy being silently preferred.
//!
//! `Debug` prints header names only: values may carry a shared token
//! (`Authorization`) and must not reach logs.

use std::fmt;

/// Request headers with case-insensitive lookup. See the module docs.
#[derive(Clone, Default)]
pub struct Headers {
    /// (lower-cased name, value) in first-seen order, names unique.
    entries: Vec<(String, Vec<u8>)>,
}

impl Headers {
    /// An empty header set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Build from (name, value) pairs; duplicates are joined with `", "`.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let mut headers = Self::new();
        for (name, value) in pairs {
            headers.append(name.as_ref(), value.as_ref());
        }
        headers
    }

    /// Add one header line; joins with an existing value of the same name.
    pub fn append(&mut self, name: &str, value: &[u8]) {
        let value = trim_ows(value);
        if let Some((_, existing)) = self
            .entries
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            existing.extend_from_slice(b", ");
            existing.extend_from_slice(value);
        } else {
            self.entries
                .push((name.to_ascii_lowercase(), value.to_vec()));
        }
    }

    /// The value of `name` (any case), if present.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Number of distinct header names.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no headers.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Lower-cased header names, in first-seen order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self::from_pairs(iter)
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Headers")
            .field("names", &self.names().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive() {
        let h = Headers::from_pairs([("Webhook-ID", "abc")]);
        assert_eq!(h.get("webhook-id"), Some(&b"abc"[..]));
        assert_eq!(h.get("WEBHOOK-ID"), Some(&b"abc"[..]));
        assert_eq!(h.get("webhook-timestamp"), None);
    }

    #[test]
    fn duplicates_are_joined_like_http() {
        let h = Headers::from_pairs([("X-A", "1"), ("x-a", "2"), ("X-B", "3")]);
        assert_eq!(h.get("x-a"), Some(&b"1, 2"[..]));
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn values_are_trimmed_of_ows_only() {
        let h = Headers::from_pairs([("a", &b" \t v a l \t"[..])]);
        assert_eq!(h.get("a"), Some(&b"v a l"[..]));
    }

    #[test]
    fn non_utf8_values_are_kept() {
        let h = Headers::from_pairs([("a", &[0xff_u8, 0xfe][..])]);
        assert_eq!(h.get("a"), Some(&[0xff_u8, 0xfe][..]));
    }

    #[test]
    fn debug_hides_values() {
        let h = Headers::from_pairs([("Authorization", "Token s3cr3t")]);
        let dbg = format!("{h:?}");
        assert!(dbg.contains("authorization"));
        assert!(!dbg.contains("s3cr3t"));
    }
}

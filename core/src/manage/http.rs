//! The HTTP side of the management API: answers, problems, and the checks a
//! request passes before it may change anything (same origin, a JSON body,
//! bounded sizes).

use std::fmt;

use serde::de::DeserializeOwned;

use super::{Request, MAX_BODY_BYTES};
use crate::errors;

/// An answer, ready for any framework to send as it is.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Never prints the body: the answers to `POST keys` and `regenerate` hold
/// a token, and `Debug` output ends up in logs.
impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header names only: a value can be a live session (the console's
        // `Set-Cookie`).
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &names)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

impl Response {
    /// The value of header `name` (any case), if the answer has it.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Headers every JSON answer carries. `no-store` on all of them, not only on
/// those with a token: key lists and events are private to their owner and
/// must not linger in a shared or browser cache either.
fn json_headers(content_type: &str) -> Vec<(String, String)> {
    vec![
        ("Content-Type".to_owned(), content_type.to_owned()),
        ("Cache-Control".to_owned(), "no-store".to_owned()),
        ("X-Content-Type-Options".to_owned(), "nosniff".to_owned()),
    ]
}

/// A JSON answer.
pub(super) fn json(status: u16, value: &serde_json::Value) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => Response {
            status,
            headers: json_headers("application/json"),
            body,
        },
        Err(_) => problem(errors::INTERNAL_ERROR, ""),
    }
}

/// An RFC 9457 problem for `code`, from the one error table. Server-side
/// codes replace `detail` with their fixed public text.
pub(super) fn problem(code: &str, detail: &str) -> Response {
    let http = errors::render(code, detail, None);
    let mut headers = json_headers(crate::outcome::PROBLEM_CONTENT_TYPE);
    headers.extend(http.headers);
    Response {
        status: http.status,
        headers,
        body: http
            .problem
            .map(|p| p.to_json().into_bytes())
            .unwrap_or_default(),
    }
}

/// `404 not_found`, with one detail for every cause (no such route, no such
/// key, another owner's key, something that is not a key id), so an answer
/// never tells whether someone else's key exists, and never repeats what
/// was sent in place of an id (often a token).
pub(super) fn not_found() -> Response {
    problem("not_found", "nothing here: no such route or key")
}

/// `405`, naming the methods the route answers.
pub(super) fn method_not_allowed(allowed: &[&str]) -> Response {
    let list = allowed.join(", ");
    let mut r = problem(
        "method_not_allowed",
        &format!("this route answers {list} only"),
    );
    r.headers.push(("Allow".to_owned(), list));
    r
}

/// `204` to `OPTIONS`: the methods the route answers, and no body.
pub(super) fn options(allowed: &[&str]) -> Response {
    Response {
        status: 204,
        headers: vec![
            ("Allow".to_owned(), allowed.join(", ")),
            ("Cache-Control".to_owned(), "no-store".to_owned()),
        ],
        body: Vec::new(),
    }
}

/// Every value of request header `name`, compared without regard to case.
pub(super) fn header_values<'a>(request: &'a Request<'_>, name: &str) -> Vec<&'a str> {
    request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

/// `scheme://host[:port]`, lower-cased, without the scheme's default port,
/// so `https://Example.com:443` and `https://example.com` compare equal.
fn normalize_origin(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://")?;
    if authority.is_empty()
        || authority
            .chars()
            .any(|c| matches!(c, '/' | '?' | '#' | '@' | ' ') || c.is_control())
    {
        return None;
    }
    let authority = match scheme {
        "http" => authority.strip_suffix(":80").unwrap_or(authority),
        "https" => authority.strip_suffix(":443").unwrap_or(authority),
        _ => authority,
    };
    Some(format!("{scheme}://{authority}"))
}

/// Whether a request that changes something comes from this site's own
/// pages. The browser's `Origin` must name the origin the framework served
/// the request on, or, where the framework does not know it, the browser
/// must say `Sec-Fetch-Site: same-origin`; a `Sec-Fetch-Site` that says
/// anything else refuses the request whatever `Origin` says. A request with
/// neither header is refused: every browser that can run the page sends at
/// least one, so only a forged or non-browser request lacks both (and such
/// a client has no need of this API's cookies).
pub(super) fn same_origin(request: &Request<'_>) -> bool {
    let sites = header_values(request, "sec-fetch-site");
    if sites.len() > 1 {
        return false;
    }
    let site = sites.first().copied();
    if site.is_some_and(|s| !s.eq_ignore_ascii_case("same-origin")) {
        return false;
    }
    let origins = header_values(request, "origin");
    if origins.is_empty() {
        return site.is_some();
    }
    match request.self_origin.and_then(normalize_origin) {
        Some(own) => origins
            .iter()
            .all(|o| normalize_origin(o).is_some_and(|o| o == own)),
        None => site.is_some(),
    }
}

/// Whether the request says its body is JSON (`application/json`, with or
/// without parameters). A cross-site form cannot send that type without a
/// CORS preflight, which this API never answers.
pub(super) fn is_json(request: &Request<'_>) -> bool {
    let types = header_values(request, "content-type");
    types.len() == 1
        && types[0]
            .split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// The checks every state-changing request passes, in order (origin, media
/// type, size, JSON shape), then its body parsed strictly: unknown fields
/// are refused, so a misspelt `expires_at` is an error rather than ignored.
/// An empty body reads as `{}`.
pub(super) fn change_body<T: DeserializeOwned>(request: &Request<'_>) -> Result<T, Response> {
    if !same_origin(request) {
        return Err(problem(
            "cross_origin",
            "changes are accepted only from this site's own pages (same Origin or Sec-Fetch-Site: same-origin)",
        ));
    }
    if !is_json(request) {
        return Err(problem(
            "unsupported_media_type",
            "a change needs a JSON body sent with Content-Type: application/json",
        ));
    }
    if request.body.len() > MAX_BODY_BYTES {
        return Err(problem(
            "body_too_large",
            &format!("the body may be at most {MAX_BODY_BYTES} bytes"),
        ));
    }
    let body: &[u8] = if request.body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        request.body
    };
    serde_json::from_slice(body).map_err(|e| {
        // A misnamed or missing field is worth naming; any other message
        // may quote a value sent (a pasted token, once), which answers and
        // their logs must not repeat.
        let message = e.to_string();
        let detail = if message.starts_with("missing field")
            || unknown_field(&message).is_some_and(is_plain_field_name)
        {
            message
        } else if unknown_field(&message).is_some() {
            "an unknown field (its name is not repeated)".to_owned()
        } else {
            match e.classify() {
                serde_json::error::Category::Data => format!(
                    "a field has the wrong type (line {}, column {})",
                    e.line(),
                    e.column()
                ),
                _ => format!("not JSON (line {}, column {})", e.line(), e.column()),
            }
        };
        problem(
            "invalid_body",
            &format!("the JSON body is not accepted: {detail}"),
        )
    })
}

/// The field serde's "unknown field `…`" message names.
fn unknown_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name)
}

/// A name worth repeating: shaped like the API's own field names. A token
/// (at least 38 characters, with `_` and base62) never is.
fn is_plain_field_name(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// The query string's parameters, each at most once and each one of
/// `known`; values percent-decoded.
pub(super) fn query_params<'a>(
    query: &str,
    known: &[&'a str],
) -> Result<Vec<(&'a str, String)>, Response> {
    if query.len() > super::MAX_QUERY_BYTES {
        return Err(problem(
            "invalid_argument",
            &format!(
                "the query string may be at most {} bytes",
                super::MAX_QUERY_BYTES
            ),
        ));
    }
    let mut out: Vec<(&'a str, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let Some(&known_name) = known.iter().find(|k| **k == name) else {
            return Err(problem(
                "invalid_argument",
                &format!(
                    "unknown query parameter; this route takes {}",
                    known.join(", ")
                ),
            ));
        };
        if out.iter().any(|(n, _)| *n == known_name) {
            return Err(problem(
                "invalid_argument",
                &format!("query parameter {known_name} given twice"),
            ));
        }
        out.push((known_name, value.into_owned()));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request<'a>(headers: &'a [(String, String)], self_origin: Option<&'a str>) -> Request<'a> {
        Request {
            method: "POST",
            path: "keys",
            query: "",
            headers,
            self_origin,
            body: b"{}",
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn same_origin_needs_a_positive_signal_and_no_contrary_one() {
        let me = Some("https://app.example:443");
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, bool);
        let cases: &[Case<'_>] = &[
            (&[("Origin", "https://app.example")], me, true),
            (&[("origin", "HTTPS://APP.EXAMPLE:443/")], me, true),
            (&[("Origin", "https://evil.example")], me, false),
            (&[("Origin", "http://app.example")], me, false),
            (&[("Origin", "null")], me, false),
            (&[], me, false),
            (&[("Sec-Fetch-Site", "same-origin")], me, true),
            (&[("Sec-Fetch-Site", "same-site")], me, false),
            (&[("Sec-Fetch-Site", "cross-site")], me, false),
            (&[("Sec-Fetch-Site", "none")], me, false),
            (
                &[
                    ("Origin", "https://app.example"),
                    ("Sec-Fetch-Site", "cross-site"),
                ],
                me,
                false,
            ),
            (
                &[
                    ("Origin", "https://evil.example"),
                    ("Sec-Fetch-Site", "same-origin"),
                ],
                me,
                false,
            ),
            (
                &[
                    ("Origin", "https://app.example"),
                    ("Origin", "https://evil.example"),
                ],
                me,
                false,
            ),
            // The framework does not know its origin: only the browser's word counts.
            (&[("Origin", "https://app.example")], None, false),
            (
                &[
                    ("Origin", "https://app.example"),
                    ("Sec-Fetch-Site", "same-origin"),
                ],
                None,
                true,
            ),
            (
                &[("Origin", "https://app.example")],
                Some("not an origin"),
                false,
            ),
        ];
        for (headers, own, want) in cases {
            let headers = h(headers);
            assert_eq!(
                same_origin(&request(&headers, *own)),
                *want,
                "{headers:?} {own:?}"
            );
        }
    }

    #[test]
    fn only_a_single_json_content_type_is_json() {
        for (value, want) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
            ("multipart/form-data; boundary=x", false),
            ("application/jsonx", false),
        ] {
            let headers = h(&[("Content-Type", value)]);
            assert_eq!(is_json(&request(&headers, None)), want, "{value}");
        }
        let two = h(&[
            ("Content-Type", "application/json"),
            ("Content-Type", "text/plain"),
        ]);
        assert!(!is_json(&request(&two, None)));
        assert!(!is_json(&request(&[], None)));
    }

    #[test]
    fn the_debug_form_never_shows_the_body() {
        let r = Response {
            status: 201,
            headers: Vec::new(),
            body: b"{\"token\":\"gp_secret\"}".to_vec(),
        };
        let shown = format!("{r:?}");
        assert!(!shown.contains("gp_secret"), "{shown}");
        assert!(shown.contains("21 bytes"), "{shown}");
    }
}

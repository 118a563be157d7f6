//! The API Tokens page: three static files compiled into the library, so
//! every package ships the same page with no CDN and no build step.
//!
//! The page is served under the management API's mount point (`GET ""` is
//! the page, `GET page/app.js` and `GET page/app.css` its assets) and calls
//! the API with relative URLs, so it works under any mount that redirects
//! `/mount` to `/mount/`.
//!
//! Every answer carries a Content-Security-Policy that allows only the
//! page's own script, style and API calls: no inline script or style, no
//! other origin, no plugins, no forms posting anywhere, and framing only by
//! the page's own origin. The page renders every stored value (names,
//! actors, metadata) with `textContent`, never as HTML; the policy is the
//! second wall should that ever slip.

use super::Response;

/// The policy of every page answer. `img-src data:` is for the empty
/// favicon link (browsers otherwise ask the host app for `/favicon.ico`).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
form-action 'none'; frame-ancestors 'self'";

const INDEX_HTML: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const APP_CSS: &str = include_str!("page/app.css");

/// The files of the page, by path relative to the mount point.
const FILES: [(&str, &str, &str); 3] = [
    ("", "text/html; charset=utf-8", INDEX_HTML),
    ("page/app.js", "text/javascript; charset=utf-8", APP_JS),
    ("page/app.css", "text/css; charset=utf-8", APP_CSS),
];

/// The page's answer for `path` (relative to the mount point, no leading
/// `/`), or `None` when `path` is not one of its files.
///
/// The method is the caller's business: the management API routes only
/// `GET` here.
#[must_use]
pub fn serve(path: &str) -> Option<Response> {
    let (_, content_type, body) = FILES.iter().find(|(p, _, _)| *p == path)?;
    let headers = [
        ("Content-Type", *content_type),
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "SAMEORIGIN"),
        // Not `no-referrer`: under it browsers send `Origin: null` with a
        // POST, and the API's same-origin check reads `Origin`.
        ("Referrer-Policy", "same-origin"),
        // The files change with the package version; revalidating keeps a
        // page from running an old script against a newer API.
        ("Cache-Control", "no-cache"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    Some(Response {
        status: 200,
        headers,
        body: body.as_bytes().to_vec(),
    })
}

/// Total bytes of the page's files, uncompressed.
#[must_use]
pub fn shipped_bytes() -> usize {
    FILES.iter().map(|(_, _, body)| body.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn serves_the_three_files_with_their_types_and_the_policy() {
        for (path, ty, marker) in [
            ("", "text/html", "<!doctype html>"),
            ("page/app.js", "text/javascript", "\"use strict\""),
            ("page/app.css", "text/css", "prefers-color-scheme"),
        ] {
            let Some(response) = serve(path) else {
                unreachable!("{path:?} is not served")
            };
            assert_eq!(response.status, 200);
            assert!(header(&response, "content-type").is_some_and(|v| v.starts_with(ty)));
            assert_eq!(
                header(&response, "content-security-policy"),
                Some(CONTENT_SECURITY_POLICY)
            );
            assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
            let body = String::from_utf8_lossy(&response.body);
            assert!(body.contains(marker), "{path:?} lacks {marker:?}");
        }
    }

    #[test]
    fn other_paths_are_not_the_page() {
        for path in [
            "/",
            "index.html",
            "page/",
            "page/app.js/",
            "page/../page/app.js",
            "PAGE/app.js",
            "keys",
            "page/app.map",
        ] {
            assert!(serve(path).is_none(), "{path:?} served");
        }
    }

    #[test]
    fn the_policy_forbids_inline_code_and_foreign_origins() {
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'self'",
            "form-action 'none'",
            "base-uri 'none'",
        ] {
            assert!(CONTENT_SECURITY_POLICY.contains(directive), "{directive}");
        }
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    }

    /// What the CSP would refuse anyway, checked at build time so a slip is
    /// a failing test rather than a page that silently loses a feature.
    #[test]
    fn the_files_carry_no_inline_script_style_or_html_sinks() {
        let html = INDEX_HTML.to_ascii_lowercase();
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains("<script src=\"page/app.js\""));
        assert!(!html.contains("<style"));
        assert!(!html.contains(" style="));
        let attributes = html.split(|c: char| c.is_ascii_whitespace()).skip(1);
        for attribute in attributes {
            let handler = attribute.starts_with("on")
                && attribute[2..]
                    .split('=')
                    .next()
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_lowercase()))
                && attribute.contains('=');
            assert!(!handler, "inline event handler {attribute}");
        }
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            ".style",
            "setAttribute(\"style",
            "setAttribute(\"on",
        ] {
            assert!(!APP_JS.contains(sink), "app.js uses {sink}");
        }
        // Every URL the page fetches is relative to the mount point.
        assert!(!APP_JS.contains("fetch(\"/"));
        let without_svg_namespace = APP_JS.replace("\"http://www.w3.org/2000/svg\"", "");
        assert!(!without_svg_namespace.contains("http://"));
        assert!(!without_svg_namespace.contains("https://"));
    }

    #[test]
    fn the_page_stays_small() {
        assert!(shipped_bytes() <= 60 * 1024, "{} bytes", shipped_bytes());
    }
}

//! Twilio: `X-Twilio-Signature: <base64>`, HMAC-SHA1 keyed by the auth token.
//!
//! Signed bytes, as twilio-python and twilio-node compute them:
//! - form bodies: the full request URL, then every form parameter as
//!   `name` + `value`, sorted by name then value, duplicates removed;
//! - JSON bodies: Twilio appends `bodySHA256=<hex sha256 of the body>` to the
//!   URL's query and signs the URL alone; we check that hash against the raw
//!   body in constant time, then verify the URL signature.
//!
//! Because Twilio's own signing is inconsistent about ports, the official
//! validators accept the URL with and without its port (adding `:443` for
//! https and `:80` otherwise when there is none, or removing whatever port is
//! there), and twilio-node also accepts `'` and `%27` in the query as the
//! same. We try exactly those variants, at most six HMACs. The URL is
//! otherwise used byte for byte as given: pass the URL the request was made
//! to, as Twilio saw it (scheme, host and query included).
//!
//! `I-Twilio-Idempotency-Token` is reported as the id but is not signed; the
//! replay guard keys on the signed URL and parameters.

use std::borrow::Cow;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{WebhookConfigError, WebhookError};
use super::headers::Headers;
use super::parse::{self, Candidates, Decoded};
use super::secret::{raw_secret, HmacSha1, MacKey};
use super::verifier::{Checked, Ctx};

pub(crate) const HEADER: &str = "x-twilio-signature";
pub(crate) const HEADER_ID: &str = "i-twilio-idempotency-token";
const BODY_HASH_PARAM: &str = "bodySHA256";

pub(crate) fn key(secret: &str) -> Result<MacKey<HmacSha1>, WebhookConfigError> {
    MacKey::new(raw_secret(secret)?)
}

fn mac(key: &MacKey<HmacSha1>, url: &str, params: &[u8]) -> [u8; 20] {
    key.mac_of(&[url.as_bytes(), params])
}

/// The query string of `url` (between `?` and `#`), if any.
fn query(url: &str) -> Option<&str> {
    let q = &url[url.find('?')? + 1..];
    Some(q.split('#').next().unwrap_or(q))
}

/// The `bodySHA256` query parameter, if present and non-empty (twilio-python
/// ignores blank query values, so a blank one means "form body").
fn body_hash_param(url: &str) -> Option<Cow<'_, str>> {
    form_urlencoded::parse(query(url)?.as_bytes())
        .find(|(k, v)| k == BODY_HASH_PARAM && !v.is_empty())
        .map(|(_, v)| v)
}

/// `name`+`value` of every form parameter, sorted by name then value
/// (byte order, i.e. code point order, as Python sorts), duplicates removed.
fn form_params(body: &[u8]) -> Vec<u8> {
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = form_urlencoded::parse(body).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut out = Vec::with_capacity(body.len());
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

/// What gets signed after the URL, or why the body cannot match.
fn signed_params(url: &str, body: &[u8]) -> Result<Vec<u8>, ()> {
    match body_hash_param(url) {
        Some(expected) => {
            let Ok(Decoded::Mac(expected)) = parse::hex_mac::<32>(expected.as_bytes()) else {
                return Err(());
            };
            let actual: [u8; 32] = Sha256::digest(body).into();
            if bool::from(actual.ct_eq(&expected)) {
                Ok(Vec::new())
            } else {
                Err(())
            }
        }
        None => Ok(form_params(body)),
    }
}

/// Byte range of the port (without the `:`) in `url`'s authority, or the
/// position where a port would go, and whether the scheme is https.
fn port_span(url: &str) -> Option<(usize, Option<usize>, bool)> {
    let scheme_end = url.find("://")?;
    let https = url[..scheme_end].eq_ignore_ascii_case("https");
    let auth_start = scheme_end + 3;
    let auth_len = url[auth_start..]
        .find(['/', '?', '#'])
        .unwrap_or(url.len() - auth_start);
    let auth_end = auth_start + auth_len;
    let authority = &url[auth_start..auth_end];
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host = &authority[host_start..];
    // An IPv6 literal's colons are not a port separator.
    let search_from = host.rfind(']').unwrap_or(0);
    match host[search_from..].rfind(':') {
        Some(i) => Some((
            auth_start + host_start + search_from + i,
            Some(auth_end),
            https,
        )),
        None => Some((auth_end, None, https)),
    }
}

/// The URL variants the official validators accept (see module docs).
fn url_variants(url: &str) -> Vec<String> {
    let mut ports: Vec<String> = vec![url.to_owned()];
    match port_span(url) {
        // has a port: also try without it
        Some((colon, Some(end), _)) => ports.push(format!("{}{}", &url[..colon], &url[end..])),
        // no port: also try with the scheme's default
        Some((at, None, https)) => {
            let port = if https { ":443" } else { ":80" };
            ports.push(format!("{}{port}{}", &url[..at], &url[at..]));
        }
        None => {}
    }
    let mut out = Vec::with_capacity(6);
    for u in ports {
        let q_start = u.find('?');
        if let Some(q) = q_start {
            let (base, q) = u.split_at(q);
            if q.contains('\'') {
                out.push(format!("{base}{}", q.replace('\'', "%27")));
            }
            if q.contains("%27") {
                out.push(format!("{base}{}", q.replace("%27", "'")));
            }
        }
        out.push(u);
    }
    out
}

pub(crate) fn verify(
    keys: &[MacKey<HmacSha1>],
    body: &[u8],
    headers: &Headers,
    ctx: &Ctx<'_>,
) -> Result<Checked, WebhookError> {
    let url = ctx
        .url
        .ok_or(WebhookConfigError::UrlRequired { scheme: "twilio" })?;
    let sig = parse::required(headers, HEADER)?;
    let id = parse::optional(headers, HEADER_ID)?
        .map(|v| parse::message_id(v, HEADER_ID))
        .transpose()?;
    let mut c = Candidates::<20>::new();
    c.push(
        parse::base64_mac(sig).map_err(|r| WebhookError::invalid(HEADER, r))?,
        HEADER,
    )?;
    if c.is_empty() {
        return Err(WebhookError::InvalidSignature);
    }
    let params = signed_params(url, body).map_err(|()| WebhookError::InvalidSignature)?;
    for variant in url_variants(url) {
        for key in keys {
            let expected = mac(key, &variant, &params);
            if bool::from(c.matches(&expected)) {
                return Ok(Checked {
                    // The URL variant that matched is the one Twilio signed;
                    // with the sorted parameters it is what the signature
                    // covers (the idempotency token is not signed, and the
                    // raw body may be re-encoded without changing them).
                    replay: ctx.signed_digest(&[variant.as_bytes(), &params]),
                    id,
                    timestamp: None,
                });
            }
        }
    }
    Err(WebhookError::InvalidSignature)
}

pub(crate) fn sign(
    key: &MacKey<HmacSha1>,
    body: &[u8],
    url: Option<&str>,
    id: Option<&str>,
) -> Result<Vec<(String, String)>, WebhookConfigError> {
    let url = url.ok_or(WebhookConfigError::UrlRequired { scheme: "twilio" })?;
    let params = signed_params(url, body).map_err(|()| WebhookConfigError::InvalidSignOption {
        field: "url",
        reason: "bodySHA256 does not match the body",
    })?;
    let sig = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        mac(key, url, &params),
    );
    let mut out = vec![("X-Twilio-Signature".to_owned(), sig)];
    if let Some(id) = id {
        out.push(("I-Twilio-Idempotency-Token".to_owned(), id.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    // twilio/twilio-python tests/unit/test_request_validator.py
    const URI: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const FORM: &str = "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";

    fn code(url: Option<&str>, body: &str, sig: &str) -> &'static str {
        let k = [key("12345").unwrap()];
        let h = Headers::from_pairs([("X-Twilio-Signature", sig)]);
        let ctx = Ctx {
            now: 0,
            tolerance: Some(300),
            url,
            guarded: false,
        };
        verify(&k, body.as_bytes(), &h, &ctx)
            .map(|_| "valid")
            .unwrap_or_else(|e| e.code())
    }

    #[test]
    fn python_vectors() {
        assert_eq!(
            code(Some(URI), FORM, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
            "valid"
        );
        assert_eq!(
            code(Some(URI), FORM, "kvajT1Ptam85bY51eRf/AJRuM3w="),
            "valid"
        );
        assert_eq!(
            code(
                Some(&URI.replace(".com", ".com:1234")),
                FORM,
                "RSOYDt4T1cUTdK1PDd93/VVr8B8="
            ),
            "valid"
        );
        assert_eq!(
            code(Some(URI), FORM, "RSOYDt4T1cUTdK1PDd93/VVr8B9="),
            "invalid_header"
        );
        assert_eq!(
            code(Some(URI), FORM, "RSOYDt4T1cUTdK1PDd93/VVr8B4="),
            "invalid_signature"
        );
        assert_eq!(
            code(None, FORM, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
            "config_error"
        );
        let dup = "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234";
        assert_eq!(
            code(Some(URI), dup, "IK+Dwps556ElfBT0I3Rgjkr1wJU="),
            "valid"
        );
    }

    #[test]
    fn json_body_hash() {
        let body = r#"{"property": "value", "boolean": true}"#;
        let url = format!(
            "{URI}&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
        );
        assert_eq!(
            code(Some(&url), body, "a9nBmqA0ju/hNViExpshrM61xv4="),
            "valid"
        );
        assert_eq!(
            code(
                Some(&url),
                &format!("{body} "),
                "a9nBmqA0ju/hNViExpshrM61xv4="
            ),
            "invalid_signature"
        );
    }

    #[test]
    fn port_variants() {
        let v = url_variants("https://example.com/path?x=1");
        assert!(v.contains(&"https://example.com:443/path?x=1".to_owned()));
        let v = url_variants("http://u:p@example.com:8080/path");
        assert!(v.contains(&"http://u:p@example.com/path".to_owned()));
        let v = url_variants("http://[::1]/p");
        assert!(v.contains(&"http://[::1]:80/p".to_owned()));
        let v = url_variants("https://example.com");
        assert!(v.contains(&"https://example.com:443".to_owned()));
        let v = url_variants("https://example.com/a?q='x'");
        assert!(v.contains(&"https://example.com/a?q=%27x%27".to_owned()));
        assert!(v.len() <= 6);
        assert_eq!(url_variants("not a url"), vec!["not a url".to_owned()]);
    }
}

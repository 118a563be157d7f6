//! The webhook signing schemes gatepass speaks.

use std::fmt;
use std::str::FromStr;

use super::error::WebhookConfigError;

/// A webhook signing scheme. The string forms (`as_str`, `FromStr`) are the
/// names used in every binding and in `tests/vectors/webhooks.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Standard Webhooks (= Svix): `webhook-*` headers, also `svix-*`.
    Standard,
    /// Stripe: `Stripe-Signature: t=…,v1=…`.
    Stripe,
    /// GitHub: `X-Hub-Signature-256: sha256=…` (sha1 only when allowed).
    Github,
    /// Slack: `X-Slack-Signature: v0=…` + `X-Slack-Request-Timestamp`.
    Slack,
    /// Shopify: `X-Shopify-Hmac-Sha256`, base64 HMAC of the body.
    Shopify,
    /// Twilio: `X-Twilio-Signature`, HMAC-SHA1 over URL + form parameters.
    Twilio,
    /// A shared token echoed in `Authorization` (as Landbot does), or in a
    /// header of the verifier's choosing (Telegram).
    Token,
    /// Meta (WhatsApp, Messenger, Instagram): `X-Hub-Signature-256`.
    Meta,
    /// LINE Messaging API: `x-line-signature`, base64 HMAC of the body.
    Line,
    /// Discord interactions: Ed25519 over timestamp + body.
    Discord,
    /// Intercom: `X-Hub-Signature: sha1=…`.
    Intercom,
    /// Chatwoot: `X-Chatwoot-Signature` over `{timestamp}.{body}`.
    Chatwoot,
}

impl Scheme {
    /// Every scheme, in documentation order.
    pub const ALL: [Scheme; 12] = [
        Scheme::Standard,
        Scheme::Stripe,
        Scheme::Github,
        Scheme::Slack,
        Scheme::Shopify,
        Scheme::Twilio,
        Scheme::Token,
        Scheme::Meta,
        Scheme::Line,
        Scheme::Discord,
        Scheme::Intercom,
        Scheme::Chatwoot,
    ];

    /// The scheme's stable lower-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Standard => "standard",
            Scheme::Stripe => "stripe",
            Scheme::Github => "github",
            Scheme::Slack => "slack",
            Scheme::Shopify => "shopify",
            Scheme::Twilio => "twilio",
            Scheme::Token => "token",
            Scheme::Meta => "meta",
            Scheme::Line => "line",
            Scheme::Discord => "discord",
            Scheme::Intercom => "intercom",
            Scheme::Chatwoot => "chatwoot",
        }
    }

    /// Every request header the scheme's verifier may read, lower-cased. A
    /// binding can hand over just these instead of every request header; no
    /// other header can change a verdict. (A `token` verifier built with a
    /// `header` option reads that header instead: ask the verifier,
    /// `WebhookVerifier::header_names`.)
    #[must_use]
    pub const fn header_names(self) -> &'static [&'static str] {
        match self {
            Scheme::Standard => &[
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature",
                "svix-id",
                "svix-timestamp",
                "svix-signature",
            ],
            Scheme::Stripe => &[super::stripe::HEADER],
            Scheme::Github => &[
                super::github::HEADER_256,
                super::github::HEADER_SHA1,
                super::github::HEADER_ID,
            ],
            Scheme::Slack => &[super::slack::HEADER_SIG, super::slack::HEADER_TS],
            Scheme::Shopify => &[super::shopify::HEADER, super::shopify::HEADER_ID],
            Scheme::Twilio => &[super::twilio::HEADER, super::twilio::HEADER_ID],
            Scheme::Token => &[super::token::HEADER],
            Scheme::Meta => &[super::meta::HEADER],
            Scheme::Line => &[super::line::HEADER],
            Scheme::Discord => &[super::discord::HEADER_SIG, super::discord::HEADER_TS],
            Scheme::Intercom => &[super::intercom::HEADER],
            Scheme::Chatwoot => &[
                super::chatwoot::HEADER_SIG,
                super::chatwoot::HEADER_TS,
                super::chatwoot::HEADER_ID,
            ],
        }
    }

    /// Whether the scheme signs a timestamp that the tolerance window checks.
    #[must_use]
    pub const fn has_timestamp(self) -> bool {
        matches!(
            self,
            Scheme::Standard | Scheme::Stripe | Scheme::Slack | Scheme::Discord | Scheme::Chatwoot
        )
    }

    /// Whether the scheme's signature covers the URL the sender called
    /// (`twilio`): its `verify` needs that URL, and a framework helper must
    /// take it from the host's configuration (the public base URL), never
    /// rebuild it from the client's `Host` header. The bindings ask this,
    /// rather than keeping their own list of such schemes.
    #[must_use]
    pub const fn signs_url(self) -> bool {
        matches!(self, Scheme::Twilio)
    }

    /// Whether the scheme signs with a private key and verifies with a
    /// public one (`discord`; `standard` also takes `whsk_`/`whpk_` keys).
    #[must_use]
    pub const fn is_asymmetric(self) -> bool {
        matches!(self, Scheme::Discord)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scheme {
    type Err = WebhookConfigError;

    /// Parses the lower-case names exactly (ASCII case-insensitive). No
    /// aliases: one name per scheme in every language.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scheme::ALL
            .into_iter()
            .find(|scheme| scheme.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                // Bound what we echo back: the name is caller input.
                let shown: String = s.chars().take(32).collect();
                WebhookConfigError::UnknownScheme(shown)
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_names() {
        for scheme in Scheme::ALL {
            assert_eq!(scheme.as_str().parse::<Scheme>().unwrap(), scheme);
            assert_eq!(scheme.to_string(), scheme.as_str());
        }
        assert_eq!("Stripe".parse::<Scheme>().unwrap(), Scheme::Stripe);
    }

    /// Signed requests verify with only the scheme's own headers, whatever
    /// else arrived: `header_names` leaves out nothing a verifier reads.
    #[test]
    fn header_names_cover_what_verifiers_read() {
        use crate::webhook::{
            generate_secret, Headers, SignOptions, VerifierOptions, WebhookSigner, WebhookVerifier,
        };
        let body = br#"{"a":1}"#;
        let url = "https://example.com/hook?x=1";
        for scheme in Scheme::ALL {
            let names = scheme.header_names();
            assert!(names.iter().all(|n| *n == n.to_ascii_lowercase()));
            let (secret, verify_with) = if scheme.is_asymmetric() {
                crate::webhook::generate_keypair(scheme).unwrap()
            } else {
                let s = generate_secret(scheme).unwrap();
                (s.clone(), s)
            };
            let signer = WebhookSigner::new(scheme, &secret, crate::clock::system()).unwrap();
            let options = SignOptions {
                id: Some("msg_1".into()),
                url: Some(url.into()),
                ..SignOptions::default()
            };
            let signed = signer.sign(body, options).unwrap();
            let mut only = Headers::new();
            for (name, value) in &signed {
                if let Some(n) = names.iter().find(|n| n.eq_ignore_ascii_case(name)) {
                    only.append(n, value.as_bytes());
                }
            }
            assert_eq!(
                only.len(),
                signed.len(),
                "{scheme}: a signed header is not listed"
            );
            let verifier =
                WebhookVerifier::new(scheme, &[verify_with], VerifierOptions::default()).unwrap();
            let got = verifier.verify(body, &only, Some(url)).unwrap();
            assert_eq!(got.scheme, scheme);
        }
    }

    /// `signs_url` says what the signatures do: a request signed for one URL
    /// verifies at another exactly when the scheme does not sign the URL.
    #[test]
    fn signs_url_is_whether_the_url_is_signed() {
        use crate::webhook::{
            generate_secret, SignOptions, VerifierOptions, WebhookSigner, WebhookVerifier,
        };
        let body = b"Body=hello&From=%2B15550001111";
        let (signed_at, asked_at) = ("https://hooks.example.com/sms", "https://evil.example/sms");
        for scheme in Scheme::ALL {
            let (secret, verify_with) = if scheme.is_asymmetric() {
                crate::webhook::generate_keypair(scheme).unwrap()
            } else {
                let s = generate_secret(scheme).unwrap();
                (s.clone(), s)
            };
            let signer = WebhookSigner::new(scheme, &secret, crate::clock::system()).unwrap();
            let signed = signer
                .sign(
                    body,
                    SignOptions {
                        id: Some("msg_1".into()),
                        url: Some(signed_at.into()),
                        ..SignOptions::default()
                    },
                )
                .unwrap();
            let mut headers = crate::webhook::Headers::new();
            for (name, value) in &signed {
                headers.append(name, value.as_bytes());
            }
            let verifier =
                WebhookVerifier::new(scheme, &[verify_with], VerifierOptions::default()).unwrap();
            assert!(verifier.verify(body, &headers, Some(signed_at)).is_ok());
            let elsewhere = verifier.verify(body, &headers, Some(asked_at));
            assert_eq!(elsewhere.is_err(), scheme.signs_url(), "{scheme}");
        }
        assert_eq!(
            Scheme::ALL.iter().filter(|s| s.signs_url()).count(),
            1,
            "only twilio signs the URL today"
        );
    }

    #[test]
    fn unknown_scheme_is_config_error() {
        let err = "svix2".parse::<Scheme>().unwrap_err();
        assert_eq!(err.code(), "config_error");
        assert!(err.to_string().contains("svix2"));
        let long = "x".repeat(1000);
        let err = long.parse::<Scheme>().unwrap_err();
        assert!(err.to_string().len() < 100);
    }
}

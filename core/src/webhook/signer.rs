//! `WebhookSigner`: produce exactly the headers each scheme's receiving
//! libraries read, for platforms that send webhooks (and for tests).

use std::sync::Arc;

use crate::clock::Clock;

use super::ed25519::PrivateKey;
use super::error::WebhookConfigError;
use super::github::{self, GithubKey};
use super::parse::MAX_ID_LEN;
use super::scheme::Scheme;
use super::secret::{random_base62, HmacSha1, HmacSha256, MacKey, SecretString};
use super::standard::StandardSigningKey;
use super::{
    chatwoot, discord, intercom, line, meta, shopify, slack, standard, stripe, token, twilio,
};

/// Largest timestamp a signer emits: what the verifiers parse (12 digits).
const MAX_TIMESTAMP: i64 = 999_999_999_999;

/// Per-message signing inputs; everything optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignOptions {
    /// Message id. `standard` generates `msg_` + 27 random base62 characters
    /// when absent; `github`, `shopify`, `twilio` and `chatwoot` emit their
    /// id header only when given; the other schemes have no id.
    pub id: Option<String>,
    /// Unix seconds to sign (`standard`, `stripe`, `slack`, `discord`,
    /// `chatwoot`); default: the signer's clock.
    pub timestamp: Option<i64>,
    /// The full request URL (`twilio` only; required there).
    pub url: Option<String>,
}

#[derive(Debug)]
enum SignKey {
    Standard(StandardSigningKey),
    Stripe(MacKey<HmacSha256>),
    Github(GithubKey),
    Slack(MacKey<HmacSha256>),
    Shopify(MacKey<HmacSha256>),
    Twilio(MacKey<HmacSha1>),
    Token(SecretString),
    Meta(MacKey<HmacSha256>),
    Line(MacKey<HmacSha256>),
    Discord(PrivateKey),
    Intercom(MacKey<HmacSha1>),
    Chatwoot(MacKey<HmacSha256>),
}

/// Signs outgoing webhooks with one secret.
#[derive(Debug)]
pub struct WebhookSigner {
    scheme: Scheme,
    key: SignKey,
    clock: Arc<dyn Clock>,
    /// The header a `token` signer writes (`authorization` unless set).
    header: &'static str,
}

impl WebhookSigner {
    /// Build a signer; the secret is validated exactly as a verifier would.
    pub fn new(
        scheme: Scheme,
        secret: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, WebhookConfigError> {
        let key = match scheme {
            Scheme::Standard => SignKey::Standard(standard::signing_key(secret)?),
            Scheme::Stripe => SignKey::Stripe(stripe::key(secret)?),
            Scheme::Github => SignKey::Github(github::key(secret, false)?),
            Scheme::Slack => SignKey::Slack(slack::key(secret)?),
            Scheme::Shopify => SignKey::Shopify(shopify::key(secret)?),
            Scheme::Twilio => SignKey::Twilio(twilio::key(secret)?),
            Scheme::Token => {
                token::key(secret)?;
                if secret.bytes().any(|b| b.is_ascii_control()) {
                    return Err(WebhookConfigError::InvalidSecret {
                        reason: "a token sent in a header cannot contain control characters",
                    });
                }
                SignKey::Token(SecretString::new(secret))
            }
            Scheme::Meta => SignKey::Meta(meta::key(secret)?),
            Scheme::Line => SignKey::Line(line::key(secret)?),
            Scheme::Discord => SignKey::Discord(discord::signing_key(secret)?),
            Scheme::Intercom => SignKey::Intercom(intercom::key(secret)?),
            Scheme::Chatwoot => SignKey::Chatwoot(chatwoot::key(secret)?),
        };
        Ok(Self {
            scheme,
            key,
            clock,
            header: token::HEADER,
        })
    }

    /// A `token` signer that sends the bare token in `header` instead of
    /// `Token <secret>` in `Authorization` (as Telegram sends
    /// `X-Telegram-Bot-Api-Secret-Token`). Other schemes have fixed headers:
    /// a config error.
    pub fn with_header(mut self, header: &str) -> Result<Self, WebhookConfigError> {
        if self.scheme != Scheme::Token {
            return Err(WebhookConfigError::InvalidOption {
                option: "header",
                reason: "only the `token` scheme takes a header name",
            });
        }
        self.header = token::header_name(header)?[0];
        Ok(self)
    }

    /// The scheme this signer produces.
    #[must_use]
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The headers to send with `body`, as (name, value) pairs in the
    /// spelling the scheme's senders use.
    pub fn sign(
        &self,
        body: &[u8],
        opts: SignOptions,
    ) -> Result<Vec<(String, String)>, WebhookConfigError> {
        let id = opts.id.as_deref().map(check_id).transpose()?;
        let ts = match opts.timestamp {
            Some(ts) if !(0..=MAX_TIMESTAMP).contains(&ts) => {
                return Err(WebhookConfigError::InvalidSignOption {
                    field: "timestamp",
                    reason: "must be Unix seconds between 0 and 999999999999",
                })
            }
            Some(ts) => ts,
            None => self.clock.now_secs(),
        };
        Ok(match &self.key {
            SignKey::Standard(k) => {
                let id = match id {
                    Some(id) => id.to_owned(),
                    None => format!("msg_{}", random_base62(27)?),
                };
                standard::sign(k, body, &id, ts)
            }
            SignKey::Stripe(k) => stripe::sign(k, body, ts),
            SignKey::Github(k) => github::sign(k, body, id),
            SignKey::Slack(k) => slack::sign(k, body, ts),
            SignKey::Shopify(k) => shopify::sign(k, body, id),
            SignKey::Twilio(k) => twilio::sign(k, body, opts.url.as_deref(), id)?,
            SignKey::Token(secret) => token::sign(secret.expose(), self.header),
            SignKey::Meta(k) => meta::sign(k, body),
            SignKey::Line(k) => line::sign(k, body),
            SignKey::Discord(k) => discord::sign(k, body, ts),
            SignKey::Intercom(k) => intercom::sign(k, body),
            SignKey::Chatwoot(k) => chatwoot::sign(k, body, ts, id),
        })
    }
}

/// Ids go into headers and into signed bytes: non-empty, bounded, no
/// control characters (CR/LF would split the header).
fn check_id(id: &str) -> Result<&str, WebhookConfigError> {
    if id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(WebhookConfigError::InvalidSignOption {
            field: "id",
            reason: "must be 1-256 bytes without control characters",
        });
    }
    Ok(id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn standard_generates_an_id_and_uses_the_clock() {
        let s = WebhookSigner::new(
            Scheme::Standard,
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ManualClock::new(1_614_265_330_999),
        )
        .unwrap();
        let h = s.sign(b"{}", SignOptions::default()).unwrap();
        assert_eq!(h[0].0, "webhook-id");
        assert!(h[0].1.starts_with("msg_") && h[0].1.len() == 31);
        assert_eq!(
            h[1],
            ("webhook-timestamp".to_owned(), "1614265330".to_owned())
        );
        let fixed = s
            .sign(
                br#"{"test": 2432232314}"#,
                SignOptions {
                    id: Some("msg_p5jXN8AQM9LWM0D4loKWxJek".into()),
                    timestamp: Some(1_614_265_330),
                    url: None,
                },
            )
            .unwrap();
        assert_eq!(
            fixed[2].1,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn bad_options_are_config_errors() {
        let s = WebhookSigner::new(Scheme::Stripe, "whsec_x", ManualClock::new(0)).unwrap();
        for opts in [
            SignOptions {
                timestamp: Some(-1),
                ..Default::default()
            },
            SignOptions {
                timestamp: Some(MAX_TIMESTAMP + 1),
                ..Default::default()
            },
            SignOptions {
                id: Some(String::new()),
                ..Default::default()
            },
            SignOptions {
                id: Some("a\r\nb".into()),
                ..Default::default()
            },
        ] {
            assert_eq!(s.sign(b"", opts).unwrap_err().code(), "config_error");
        }
        let t = WebhookSigner::new(Scheme::Twilio, "12345", ManualClock::new(0)).unwrap();
        assert_eq!(
            t.sign(b"", SignOptions::default()).unwrap_err(),
            WebhookConfigError::UrlRequired { scheme: "twilio" }
        );
        assert!(WebhookSigner::new(Scheme::Token, "a\nb", ManualClock::new(0)).is_err());
    }
}

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
    /// A shared token echoed in `Authorization` (as Landbot does).
    Token,
}

impl Scheme {
    /// Every scheme, in documentation order.
    pub const ALL: [Scheme; 7] = [
        Scheme::Standard,
        Scheme::Stripe,
        Scheme::Github,
        Scheme::Slack,
        Scheme::Shopify,
        Scheme::Twilio,
        Scheme::Token,
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
        }
    }

    /// Whether the scheme signs a timestamp that the tolerance window checks.
    #[must_use]
    pub const fn has_timestamp(self) -> bool {
        matches!(self, Scheme::Standard | Scheme::Stripe | Scheme::Slack)
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

//! The policy: one serde document (TOML file, Python dict, JS
//! object) that configures token kinds, the scope catalogue, implications,
//! accepted header schemes and the realm. Validated once, up front, so that a
//! typo fails at start-up, not on a request.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ratelimit::RateLimit;
use crate::scope::{self, Implication, Requirement, Scope, ScopeError};
use crate::token;

/// A validation problem, naming the field (`kinds.bot.prefix`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy field `{field}`: {problem}")]
pub struct PolicyError {
    pub field: String,
    pub problem: String,
}

impl PolicyError {
    pub fn code(&self) -> &'static str {
        "config_error"
    }
}

fn problem(field: impl Into<String>, problem: impl Into<String>) -> PolicyError {
    PolicyError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// The document as written by users. Unknown fields are errors so a
/// misspelt setting is not silently ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    pub realm: Option<String>,
    pub schemes: Option<Vec<String>>,
    /// The scope catalogue; empty means any well-formed scope is accepted.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `from → [to…]`; replaces the defaults when given.
    pub implications: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    pub kinds: BTreeMap<String, KindDocument>,
    /// Kind used when `issue` names none; required when there are several kinds.
    pub default_kind: Option<String>,
    /// `false` answers `unknown_key`, `inactive`, `revoked` and `expired`
    /// alike, as `invalid_token`; absent means `true`.
    pub disclose_key_state: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindDocument {
    pub prefix: String,
    /// Scope patterns keys of this kind may hold; absent means any.
    pub scopes: Option<Vec<String>>,
    pub default_lifetime: Option<String>,
    pub max_lifetime: Option<String>,
    pub rate_limit: Option<String>,
    pub description: Option<String>,
}

/// A validated token kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Kind {
    pub name: String,
    pub prefix: String,
    pub allowed: Option<Vec<Scope>>,
    pub default_lifetime: Option<Duration>,
    pub max_lifetime: Option<Duration>,
    pub rate_limit: Option<RateLimit>,
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub realm: String,
    pub schemes: Vec<String>,
    pub catalogue: Vec<Scope>,
    pub implications: Vec<Implication>,
    kinds: Vec<Kind>,
    default_kind: usize,
    by_prefix: HashMap<String, usize>,
    /// Whether a failed verification tells the client what became of the key
    /// (`unknown_key`, `inactive`, `revoked`, `expired`), or answers all four
    /// with one `invalid_token`, so a token holder cannot learn whether a key
    /// ever existed. Events, logs and the `Verification`'s own code keep the
    /// distinction either way.
    pub disclose_key_state: bool,
}

pub const DEFAULT_REALM: &str = "api";
pub const DEFAULT_PREFIX: &str = "gp";
pub const DEFAULT_KIND: &str = "default";

impl Default for Policy {
    /// No policy: one kind `default` with prefix `gp`, any well-formed scope.
    fn default() -> Self {
        let kind = Kind {
            name: DEFAULT_KIND.into(),
            prefix: DEFAULT_PREFIX.into(),
            allowed: None,
            default_lifetime: None,
            max_lifetime: None,
            rate_limit: None,
        };
        Self {
            realm: DEFAULT_REALM.into(),
            schemes: vec!["Bearer".into(), "Token".into()],
            catalogue: Vec::new(),
            implications: scope::default_implications(),
            by_prefix: HashMap::from([(DEFAULT_PREFIX.to_owned(), 0)]),
            kinds: vec![kind],
            default_kind: 0,
            disclose_key_state: true,
        }
    }
}

fn parse_duration_field(
    field: String,
    text: &Option<String>,
) -> Result<Option<Duration>, PolicyError> {
    text.as_deref()
        .map(|t| crate::duration::parse(t).map_err(|e| problem(field, e.to_string())))
        .transpose()
}

fn scope_field(field: String, text: &str) -> Result<Scope, PolicyError> {
    Scope::parse(text).map_err(|e| problem(field, e.to_string()))
}

impl Policy {
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let doc: PolicyDocument =
            toml::from_str(text).map_err(|e| problem("(document)", e.message().to_owned()))?;
        Self::from_document(doc)
    }

    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let doc: PolicyDocument =
            serde_json::from_str(text).map_err(|e| problem("(document)", e.to_string()))?;
        Self::from_document(doc)
    }

    pub fn from_document(doc: PolicyDocument) -> Result<Self, PolicyError> {
        let defaults = Self::default();
        let realm = doc.realm.unwrap_or(defaults.realm);
        if realm.is_empty()
            || !realm
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            return Err(problem(
                "realm",
                "must be non-empty printable ASCII without '\"' or '\\'",
            ));
        }
        let schemes = doc.schemes.unwrap_or(defaults.schemes);
        if schemes.is_empty() {
            return Err(problem("schemes", "at least one scheme is required"));
        }
        for (i, s) in schemes.iter().enumerate() {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(problem(
                    format!("schemes[{i}]"),
                    format!("{s:?} is not a scheme name"),
                ));
            }
            if s.eq_ignore_ascii_case("basic") {
                return Err(problem(
                    format!("schemes[{i}]"),
                    "Basic carries passwords, not API tokens",
                ));
            }
        }
        let catalogue = doc
            .scopes
            .iter()
            .enumerate()
            .map(|(i, s)| scope_field(format!("scopes[{i}]"), s))
            .collect::<Result<Vec<_>, _>>()?;
        let implications = match doc.implications {
            None => defaults.implications,
            Some(map) => map
                .iter()
                .map(|(from, to)| {
                    let field = format!("implications.{from:?}");
                    Ok(Implication {
                        from: scope_field(field.clone(), from)?,
                        to: to
                            .iter()
                            .map(|t| scope_field(field.clone(), t))
                            .collect::<Result<_, _>>()?,
                    })
                })
                .collect::<Result<Vec<_>, PolicyError>>()?,
        };
        let mut policy = Self {
            realm,
            schemes,
            catalogue,
            implications,
            disclose_key_state: doc
                .disclose_key_state
                .unwrap_or(defaults.disclose_key_state),
            ..defaults
        };
        for (i, s) in policy.catalogue.iter().enumerate() {
            if s.is_wildcard() {
                return Err(problem(
                    format!("scopes[{i}]"),
                    "the catalogue lists concrete scopes, not wildcards",
                ));
            }
        }
        if doc.kinds.is_empty() {
            if let Some(name) = doc.default_kind.filter(|k| k != DEFAULT_KIND) {
                return Err(problem("default_kind", format!("no kind named {name:?}")));
            }
            return Ok(policy);
        }
        policy.kinds.clear();
        policy.by_prefix.clear();
        for (name, k) in &doc.kinds {
            let field = |f: &str| format!("kinds.{name}.{f}");
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(problem(
                    format!("kinds.{name:?}"),
                    "kind names use [A-Za-z0-9_-]",
                ));
            }
            if !token::is_valid_prefix(&k.prefix) {
                return Err(problem(
                    field("prefix"),
                    format!("{:?} does not match [a-z][a-z0-9]*(_[a-z0-9]+)*", k.prefix),
                ));
            }
            if let Some(other) = policy.by_prefix.get(&k.prefix) {
                return Err(problem(
                    field("prefix"),
                    format!(
                        "{:?} is already used by kind {:?}",
                        k.prefix, policy.kinds[*other].name
                    ),
                ));
            }
            let allowed = k
                .scopes
                .as_ref()
                .map(|list| {
                    list.iter()
                        .enumerate()
                        .map(|(i, s)| scope_field(field(&format!("scopes[{i}]")), s))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?;
            let default_lifetime =
                parse_duration_field(field("default_lifetime"), &k.default_lifetime)?;
            let max_lifetime = parse_duration_field(field("max_lifetime"), &k.max_lifetime)?;
            if let (Some(d), Some(m)) = (default_lifetime, max_lifetime) {
                if d > m {
                    return Err(problem(
                        field("default_lifetime"),
                        "is longer than max_lifetime",
                    ));
                }
            }
            let rate_limit = k
                .rate_limit
                .as_deref()
                .map(|r| {
                    r.parse::<RateLimit>()
                        .map_err(|e| problem(field("rate_limit"), e.to_string()))
                })
                .transpose()?;
            policy
                .by_prefix
                .insert(k.prefix.clone(), policy.kinds.len());
            policy.kinds.push(Kind {
                name: name.clone(),
                prefix: k.prefix.clone(),
                allowed,
                default_lifetime,
                max_lifetime,
                rate_limit,
            });
        }
        policy.default_kind = match doc.default_kind {
            Some(name) => policy
                .kinds
                .iter()
                .position(|k| k.name == name)
                .ok_or_else(|| problem("default_kind", format!("no kind named {name:?}")))?,
            None if policy.kinds.len() == 1 => 0,
            None => {
                return Err(problem(
                    "default_kind",
                    "required when there are several kinds",
                ))
            }
        };
        for kind in &policy.kinds {
            for (i, s) in kind.allowed.iter().flatten().enumerate() {
                policy.check_known(s).map_err(|e| {
                    problem(format!("kinds.{}.scopes[{i}]", kind.name), e.to_string())
                })?;
            }
        }
        Ok(policy)
    }

    /// The policy as a document again, with every default written out: two
    /// policies that behave alike give equal documents (implications sorted), whatever their
    /// source's spelling, comments or omitted defaults. This is the form a
    /// store records. A kind's `description` is not kept by [`Kind`], so it
    /// is not in the result either.
    #[must_use]
    pub fn to_document(&self) -> PolicyDocument {
        let mut implications: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for rule in &self.implications {
            implications
                .entry(rule.from.to_string())
                .or_default()
                .extend(rule.to.iter().map(ToString::to_string));
        }
        let strings = |list: &[Scope]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
        PolicyDocument {
            realm: Some(self.realm.clone()),
            schemes: Some(self.schemes.clone()),
            scopes: strings(&self.catalogue),
            implications: Some(implications),
            kinds: self
                .kinds
                .iter()
                .map(|k| {
                    (
                        k.name.clone(),
                        KindDocument {
                            prefix: k.prefix.clone(),
                            scopes: k.allowed.as_deref().map(strings),
                            default_lifetime: k.default_lifetime.map(crate::duration::format),
                            max_lifetime: k.max_lifetime.map(crate::duration::format),
                            rate_limit: k.rate_limit.map(|r| r.to_string()),
                            description: None,
                        },
                    )
                })
                .collect(),
            default_kind: Some(self.default_kind().name.clone()),
            disclose_key_state: Some(self.disclose_key_state),
        }
    }

    /// [`to_document`](Self::to_document) as JSON: the text a store records.
    #[must_use]
    pub fn to_canonical_json(&self) -> String {
        // A document of strings, lists and string-keyed maps always serialises.
        serde_json::to_string(&self.to_document()).unwrap_or_default()
    }

    pub fn kinds(&self) -> &[Kind] {
        &self.kinds
    }

    pub fn default_kind(&self) -> &Kind {
        // `default_kind` is an index validated in `from_document`.
        &self.kinds[self.default_kind]
    }

    pub fn kind(&self, name: &str) -> Option<&Kind> {
        self.kinds.iter().find(|k| k.name == name)
    }

    /// The limit a key of `kind` with its own limit `own` is held to: its
    /// own, else the kind's default, else none. The one place this rule lives.
    pub fn effective_rate_limit(&self, kind: &str, own: Option<RateLimit>) -> Option<RateLimit> {
        own.or_else(|| self.kind(kind).and_then(|k| k.rate_limit))
    }

    pub fn kind_by_prefix(&self, prefix: &str) -> Option<&Kind> {
        self.by_prefix.get(prefix).map(|&i| &self.kinds[i])
    }

    /// Typo check against the catalogue: `admin` is always known; a wildcard
    /// is known when it covers at least one catalogue scope.
    pub fn check_known(&self, s: &Scope) -> Result<(), ScopeError> {
        if self.catalogue.is_empty() || *s == Scope::Admin {
            return Ok(());
        }
        let known = if s.is_wildcard() {
            self.catalogue.iter().any(|c| s.covers(c))
        } else {
            self.catalogue.contains(s)
        };
        if known {
            Ok(())
        } else {
            Err(ScopeError::UnknownScope(s.to_string()))
        }
    }

    /// Validates scopes to be granted to a key of `kind`.
    pub fn check_grant(&self, kind: &Kind, scopes: &[Scope]) -> Result<(), ScopeError> {
        for s in scopes {
            self.check_known(s)?;
            if let Some(allowed) = &kind.allowed {
                if !allowed.iter().any(|p| p.covers(s)) {
                    return Err(ScopeError::NotAllowed {
                        scope: s.to_string(),
                        kind: kind.name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Validates a route's requirement at declaration time.
    pub fn check_requirement(&self, r: &Requirement) -> Result<(), ScopeError> {
        r.scopes().into_iter().try_for_each(|s| self.check_known(s))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
realm = "landbot"
scopes = ["bots:read", "bots:write", "conversations:read", "conversations:write", "channels:read"]
default_kind = "personal"

[kinds.personal]
prefix = "lb_pat"
default_lifetime = "90d"
max_lifetime = "365d"
rate_limit = "1000/hour"

[kinds.channel]
prefix = "lb_ch"
scopes = ["conversations:*"]
"#;

    #[test]
    fn parses_a_full_policy() {
        let p = Policy::from_toml(EXAMPLE).unwrap();
        assert_eq!(p.realm, "landbot");
        assert_eq!(p.default_kind().name, "personal");
        assert_eq!(p.kind_by_prefix("lb_ch").unwrap().name, "channel");
        let personal = p.kind("personal").unwrap();
        assert_eq!(personal.rate_limit.unwrap().to_string(), "1000/hour");
        let ch = p.kind("channel").unwrap();
        assert!(p
            .check_grant(ch, &[Scope::parse("conversations:read").unwrap()])
            .is_ok());
        assert_eq!(
            p.check_grant(ch, &[Scope::parse("bots:read").unwrap()])
                .unwrap_err()
                .code(),
            "scope_not_allowed"
        );
        assert_eq!(
            p.check_known(&Scope::parse("bots:raed").unwrap())
                .unwrap_err()
                .code(),
            "unknown_scope"
        );
        assert!(p.check_known(&Scope::parse("bots:*").unwrap()).is_ok());
        assert!(p.check_known(&Scope::parse("agents:*").unwrap()).is_err());
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("[kinds.a]\nprefix = \"Bad\"", "kinds.a.prefix"),
            (
                "[kinds.a]\nprefix = \"a\"\n[kinds.b]\nprefix = \"a\"",
                "kinds.b.prefix",
            ),
            (
                "[kinds.a]\nprefix = \"a\"\nmax_lifetime = \"soon\"",
                "kinds.a.max_lifetime",
            ),
            (
                "[kinds.a]\nprefix = \"a\"\ndefault_lifetime = \"2d\"\nmax_lifetime = \"1d\"",
                "kinds.a.default_lifetime",
            ),
            (
                "[kinds.a]\nprefix = \"a\"\nrate_limit = \"lots\"",
                "kinds.a.rate_limit",
            ),
            (
                "[kinds.a]\nprefix = \"a\"\n[kinds.b]\nprefix = \"b\"",
                "default_kind",
            ),
            ("scopes = [\"Bots:read\"]", "scopes[0]"),
            ("scopes = [\"bots:*\"]", "scopes[0]"),
            ("schemes = []", "schemes"),
            ("schemes = [\"Basic\"]", "schemes[0]"),
            ("realmm = \"x\"", "(document)"),
        ];
        for (doc, field) in cases {
            let e = Policy::from_toml(doc).unwrap_err();
            assert_eq!(e.field, field, "{doc}: {e}");
        }
    }

    #[test]
    fn json_and_defaults() {
        let p = Policy::from_json(r#"{"kinds": {"bot": {"prefix": "bp_bot"}}}"#).unwrap();
        assert_eq!(p.default_kind().prefix, "bp_bot");
        assert_eq!(p.schemes, ["Bearer", "Token"]);
        assert_eq!(Policy::default().default_kind().prefix, "gp");
    }

    #[test]
    fn the_canonical_document_reads_back_as_the_same_policy() {
        let docs = [
            EXAMPLE,
            "",
            "disclose_key_state = false\nschemes = [\"Bearer\"]",
            "[implications]\n\"bots:write\" = [\"bots:read\", \"conversations:read\"]\n\"admin\" = []",
            "[kinds.a]\nprefix = \"a\"\ndefault_lifetime = \"1h 30m\"\nmax_lifetime = \"365d\"\nrate_limit = \"7/90s\"",
        ];
        for text in docs {
            let p = Policy::from_toml(text).unwrap();
            let json = p.to_canonical_json();
            let back = Policy::from_json(&json).unwrap();
            assert_eq!(back.kinds(), p.kinds(), "{text}");
            assert_eq!(back.default_kind(), p.default_kind(), "{text}");
            assert_eq!(back.catalogue, p.catalogue, "{text}");
            assert_eq!(back.schemes, p.schemes, "{text}");
            assert_eq!(back.disclose_key_state, p.disclose_key_state, "{text}");
            let rules = |q: &Policy| {
                let mut r: Vec<String> = q.implications.iter().map(|i| format!("{i:?}")).collect();
                r.sort();
                r
            };
            assert_eq!(rules(&back), rules(&p), "{text}");
            assert_eq!(back.to_canonical_json(), json);
        }
        // Spelling, comments and written-out defaults do not matter…
        let spelt = Policy::from_toml(
            "# ours\nrealm = \"api\"\nschemes = [\"Bearer\", \"Token\"]\n[kinds.default]\nprefix = \"gp\"",
        )
        .unwrap();
        assert_eq!(
            spelt.to_canonical_json(),
            Policy::default().to_canonical_json()
        );
        // …a changed rule does.
        assert_ne!(
            Policy::from_toml(EXAMPLE).unwrap().to_canonical_json(),
            Policy::from_toml(&EXAMPLE.replace("1000/hour", "999/hour"))
                .unwrap()
                .to_canonical_json()
        );
    }

    #[test]
    fn key_state_is_disclosed_unless_the_policy_says_not() {
        assert!(Policy::default().disclose_key_state);
        assert!(
            Policy::from_toml("realm = \"x\"")
                .unwrap()
                .disclose_key_state
        );
        assert!(
            !Policy::from_toml("disclose_key_state = false")
                .unwrap()
                .disclose_key_state
        );
        assert!(
            !Policy::from_json(r#"{"disclose_key_state": false}"#)
                .unwrap()
                .disclose_key_state
        );
        assert_eq!(
            Policy::from_toml("disclose_key_state = \"no\"")
                .unwrap_err()
                .field,
            "(document)"
        );
    }
}

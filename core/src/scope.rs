//! Scopes: `resource:action`, `admin`, wildcards `bots:*` and
//! `*:read`, implications, and route requirements (all-of, any-of, or an
//! `and`/`or`/parentheses expression) that report what is missing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest scope we accept.
pub const MAX_SCOPE_LEN: usize = 128;
/// Longest scope expression we parse.
pub const MAX_EXPRESSION_LEN: usize = 2048;
/// Deepest parenthesis nesting we parse; bounds recursion on hostile input.
pub const MAX_EXPRESSION_DEPTH: usize = 32;
/// Upper bound on the effective scopes of one key after implications.
pub const MAX_EFFECTIVE_SCOPES: usize = 1024;

const WILDCARD: &str = "*";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("invalid scope {0:?}: expected 'admin' or 'resource:action' of [a-z0-9_.-] or '*'")]
    InvalidScope(String),
    #[error("invalid scope expression: {0}")]
    InvalidExpression(String),
    #[error("unknown scope {0:?}: not in the policy's scope catalogue")]
    UnknownScope(String),
    #[error("scope {scope:?} is not allowed for keys of kind {kind:?}")]
    NotAllowed { scope: String, kind: String },
}

impl ScopeError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidExpression(_) => "invalid_scope_expression",
            Self::UnknownScope(_) => "unknown_scope",
            Self::NotAllowed { .. } => "scope_not_allowed",
        }
    }
}

/// One scope. `resource` or `action` may be `*`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Admin,
    Pair { resource: String, action: String },
}

fn valid_segment(s: &str) -> bool {
    s == WILDCARD
        || (!s.is_empty()
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
            }))
}

fn segment_covers(granted: &str, required: &str) -> bool {
    granted == WILDCARD || granted == required
}

impl Scope {
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        let invalid = || ScopeError::InvalidScope(truncate(s));
        if s.len() > MAX_SCOPE_LEN {
            return Err(invalid());
        }
        if s == "admin" {
            return Ok(Self::Admin);
        }
        let (resource, action) = s.split_once(':').ok_or_else(invalid)?;
        if !valid_segment(resource) || !valid_segment(action) {
            return Err(invalid());
        }
        Ok(Self::Pair {
            resource: resource.to_owned(),
            action: action.to_owned(),
        })
    }

    /// Whether holding `self` satisfies a requirement for `required`,
    /// before implications. `bots:*` covers `bots:read`; `admin` covers only
    /// `admin` here (its reach comes from the `admin → *:*` implication).
    pub fn covers(&self, required: &Scope) -> bool {
        match (self, required) {
            (Self::Admin, Self::Admin) => true,
            (
                Self::Pair {
                    resource: gr,
                    action: ga,
                },
                Self::Pair {
                    resource: rr,
                    action: ra,
                },
            ) => segment_covers(gr, rr) && segment_covers(ga, ra),
            _ => false,
        }
    }

    pub fn is_wildcard(&self) -> bool {
        matches!(self, Self::Pair { resource, action } if resource == WILDCARD || action == WILDCARD)
    }
}

/// Cuts hostile input down before it goes into an error message.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Admin => f.write_str("admin"),
            Self::Pair { resource, action } => write!(f, "{resource}:{action}"),
        }
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({self})")
    }
}

impl FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Parses a list of scope strings.
pub fn parse_list<S: AsRef<str>>(items: &[S]) -> Result<Vec<Scope>, ScopeError> {
    items.iter().map(|s| Scope::parse(s.as_ref())).collect()
}

/// One implication rule: holding `from` also grants `to`. A `*` resource in
/// `from` binds the resource, and a `*` resource in `to` stands for that same
/// resource, so `*:write → *:read` makes `bots:write` grant `bots:read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Implication {
    pub from: Scope,
    pub to: Vec<Scope>,
}

/// The default implications: `admin` grants everything, `X:write` grants `X:read`.
pub fn default_implications() -> Vec<Implication> {
    vec![
        Implication {
            from: Scope::Admin,
            to: vec![pair(WILDCARD, WILDCARD)],
        },
        Implication {
            from: pair(WILDCARD, "write"),
            to: vec![pair(WILDCARD, "read")],
        },
    ]
}

fn pair(resource: &str, action: &str) -> Scope {
    Scope::Pair {
        resource: resource.to_owned(),
        action: action.to_owned(),
    }
}

fn apply(rule: &Implication, held: &Scope) -> Option<Vec<Scope>> {
    match (&rule.from, held) {
        (Scope::Admin, Scope::Admin) => Some(rule.to.clone()),
        (
            Scope::Pair {
                resource: fr,
                action: fa,
            },
            Scope::Pair {
                resource: hr,
                action: ha,
            },
        ) if fa == ha && (fr == WILDCARD || fr == hr) => {
            let bound = fr == WILDCARD;
            Some(
                rule.to
                    .iter()
                    .map(|t| match t {
                        Scope::Pair { resource, action } if bound && resource == WILDCARD => {
                            pair(hr, action)
                        }
                        other => other.clone(),
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

/// The scopes a key holds after implications: computed once per key record,
/// then checked on every request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet {
    scopes: Vec<Scope>,
}

impl ScopeSet {
    pub fn effective(granted: &[Scope], implications: &[Implication]) -> Self {
        let mut scopes: Vec<Scope> = Vec::with_capacity(granted.len() * 2);
        let mut queue: Vec<Scope> = granted.to_vec();
        while let Some(s) = queue.pop() {
            if scopes.contains(&s) || scopes.len() >= MAX_EFFECTIVE_SCOPES {
                continue;
            }
            for rule in implications {
                if let Some(more) = apply(rule, &s) {
                    queue.extend(more);
                }
            }
            scopes.push(s);
        }
        Self { scopes }
    }

    pub fn covers(&self, required: &Scope) -> bool {
        self.scopes.iter().any(|g| g.covers(required))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.scopes.iter()
    }
}

/// A boolean expression over scopes: `bots:read and (channels:write or admin)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Scope(Scope),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    pub fn parse(input: &str) -> Result<Self, ScopeError> {
        if input.len() > MAX_EXPRESSION_LEN {
            return Err(ScopeError::InvalidExpression(format!(
                "longer than {MAX_EXPRESSION_LEN} bytes"
            )));
        }
        let tokens = lex(input)?;
        let mut parser = Parser { tokens, pos: 0 };
        let expr = parser.or(0)?;
        match parser.tokens.get(parser.pos) {
            None => Ok(expr),
            Some(t) => Err(ScopeError::InvalidExpression(format!("unexpected {t}"))),
        }
    }

    /// `Ok(())` when satisfied; otherwise the scopes whose grant would satisfy
    /// it (for `or`, the cheapest alternative).
    fn missing(&self, held: &ScopeSet) -> Result<(), Vec<Scope>> {
        match self {
            Self::Scope(s) => {
                if held.covers(s) {
                    Ok(())
                } else {
                    Err(vec![s.clone()])
                }
            }
            Self::And(items) => {
                let mut missing = Vec::new();
                for item in items {
                    if let Err(m) = item.missing(held) {
                        for s in m {
                            if !missing.contains(&s) {
                                missing.push(s);
                            }
                        }
                    }
                }
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(missing)
                }
            }
            Self::Or(items) => {
                let mut best: Option<Vec<Scope>> = None;
                for item in items {
                    match item.missing(held) {
                        Ok(()) => return Ok(()),
                        Err(m) => {
                            if best.as_ref().is_none_or(|b| m.len() < b.len()) {
                                best = Some(m);
                            }
                        }
                    }
                }
                Err(best.unwrap_or_default())
            }
        }
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Scope>) {
        match self {
            Self::Scope(s) => out.push(s),
            Self::And(items) | Self::Or(items) => items.iter().for_each(|i| i.collect(out)),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, items: &[Expr], op: &str| {
            f.write_str("(")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                write!(f, "{item}")?;
            }
            f.write_str(")")
        };
        match self {
            Self::Scope(s) => write!(f, "{s}"),
            Self::And(items) => join(f, items, "and"),
            Self::Or(items) => join(f, items, "or"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Open,
    Close,
    And,
    Or,
    Word(String),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open => f.write_str("'('"),
            Self::Close => f.write_str("')'"),
            Self::And => f.write_str("'and'"),
            Self::Or => f.write_str("'or'"),
            Self::Word(w) => write!(f, "{:?}", truncate(w)),
        }
    }
}

fn lex(input: &str) -> Result<Vec<Tok>, ScopeError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Tok::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Tok::Close);
            }
            _ => {
                let mut end = i;
                while let Some(&(j, c)) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' {
                        break;
                    }
                    end = j + c.len_utf8();
                    chars.next();
                }
                let word = &input[i..end];
                tokens.push(match word {
                    "and" | "AND" => Tok::And,
                    "or" | "OR" => Tok::Or,
                    _ => Tok::Word(word.to_owned()),
                });
            }
        }
    }
    if tokens.is_empty() {
        return Err(ScopeError::InvalidExpression("empty".into()));
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn or(&mut self, depth: usize) -> Result<Expr, ScopeError> {
        let mut items = vec![self.and(depth)?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Expr, ScopeError> {
        let mut items = vec![self.atom(depth)?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            items.push(self.atom(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn atom(&mut self, depth: usize) -> Result<Expr, ScopeError> {
        let tok = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        match tok {
            Some(Tok::Word(w)) => Scope::parse(&w).map(Expr::Scope),
            Some(Tok::Open) => {
                if depth >= MAX_EXPRESSION_DEPTH {
                    return Err(ScopeError::InvalidExpression(format!(
                        "nested deeper than {MAX_EXPRESSION_DEPTH}"
                    )));
                }
                let inner = self.or(depth + 1)?;
                match self.tokens.get(self.pos) {
                    Some(Tok::Close) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err(ScopeError::InvalidExpression("missing ')'".into())),
                }
            }
            Some(t) => Err(ScopeError::InvalidExpression(format!("unexpected {t}"))),
            None => Err(ScopeError::InvalidExpression("unexpected end".into())),
        }
    }
}

/// The `scopes=` argument of every binding: a list means all of them, a
/// string is an expression (a single scope being the simplest one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeSpec {
    List(Vec<String>),
    Expr(String),
}

/// What a route asks of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Every scope in the list (an empty list asks for nothing).
    All(Vec<Scope>),
    /// At least one scope in the list.
    Any(Vec<Scope>),
    Expr(Expr),
}

impl Requirement {
    pub fn none() -> Self {
        Self::All(Vec::new())
    }

    pub fn all<S: AsRef<str>>(scopes: &[S]) -> Result<Self, ScopeError> {
        parse_list(scopes).map(Self::All)
    }

    pub fn any<S: AsRef<str>>(scopes: &[S]) -> Result<Self, ScopeError> {
        let list = parse_list(scopes)?;
        if list.is_empty() {
            return Err(ScopeError::InvalidExpression(
                "any-of needs at least one scope".into(),
            ));
        }
        Ok(Self::Any(list))
    }

    /// Parses an expression; a single scope is the simplest expression.
    pub fn expr(text: &str) -> Result<Self, ScopeError> {
        Expr::parse(text).map(|e| match e {
            Expr::Scope(s) => Self::All(vec![s]),
            e => Self::Expr(e),
        })
    }

    /// Builds a route's requirement from the bindings' `scopes=` and
    /// `any_scopes=` arguments; when both are given, both must hold.
    pub fn from_args(
        scopes: Option<ScopeSpec>,
        any_scopes: Option<&[String]>,
    ) -> Result<Self, ScopeError> {
        let main = match scopes {
            None => None,
            Some(ScopeSpec::List(list)) => Some(Self::all(&list)?),
            Some(ScopeSpec::Expr(text)) => Some(Self::expr(&text)?),
        };
        let any = any_scopes.map(Self::any).transpose()?;
        Ok(match (main, any) {
            (None, None) => Self::none(),
            (Some(r), None) | (None, Some(r)) => r,
            (Some(a), Some(b)) => Self::Expr(Expr::And(vec![a.into_expr(), b.into_expr()])),
        })
    }

    fn into_expr(self) -> Expr {
        let scopes = |list: Vec<Scope>| list.into_iter().map(Expr::Scope).collect();
        match self {
            Self::All(list) => Expr::And(scopes(list)),
            Self::Any(list) => Expr::Or(scopes(list)),
            Self::Expr(e) => e,
        }
    }

    /// Every scope named in the requirement, for catalogue checks and docs.
    pub fn scopes(&self) -> Vec<&Scope> {
        match self {
            Self::All(list) | Self::Any(list) => list.iter().collect(),
            Self::Expr(e) => {
                let mut out = Vec::new();
                e.collect(&mut out);
                out
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Self::All(list) if list.is_empty())
    }

    /// Empty when satisfied; otherwise the missing scopes. For any-of, every
    /// alternative is listed (any one of them would do).
    pub fn missing(&self, held: &ScopeSet) -> Vec<Scope> {
        match self {
            Self::All(list) => list.iter().filter(|s| !held.covers(s)).cloned().collect(),
            Self::Any(list) => {
                if list.iter().any(|s| held.covers(s)) {
                    Vec::new()
                } else {
                    list.clone()
                }
            }
            Self::Expr(e) => e.missing(held).err().unwrap_or_default(),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, list: &[Scope], op: &str| {
            for (i, s) in list.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                write!(f, "{s}")?;
            }
            Ok(())
        };
        match self {
            Self::All(list) => join(f, list, "and"),
            Self::Any(list) => join(f, list, "or"),
            Self::Expr(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn held(list: &[&str]) -> ScopeSet {
        ScopeSet::effective(&parse_list(list).unwrap(), &default_implications())
    }

    fn names(list: Vec<Scope>) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn grammar() {
        for ok in [
            "admin",
            "bots:read",
            "agent-loops:write",
            "bots:*",
            "*:read",
            "*:*",
            "v2.bots:read",
        ] {
            assert!(Scope::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "bots",
            "Bots:read",
            "bots:",
            ":read",
            "bots:read:x",
            "bo ts:read",
            "-x:read",
            "**:read",
            "admin:",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcards_and_implications() {
        let h = held(&["bots:*", "channels:write"]);
        assert!(h.covers(&Scope::parse("bots:delete").unwrap()));
        assert!(h.covers(&Scope::parse("channels:read").unwrap()));
        assert!(!h.covers(&Scope::parse("channels:delete").unwrap()));
        assert!(!h.covers(&Scope::parse("admin").unwrap()));
        assert!(!h.covers(&Scope::parse("*:read").unwrap()));
        let admin = held(&["admin"]);
        assert!(admin.covers(&Scope::parse("anything:at-all").unwrap()));
        assert!(admin.covers(&Scope::Admin));
        let reader = held(&["*:read"]);
        assert!(reader.covers(&Scope::parse("bots:read").unwrap()));
        assert!(!reader.covers(&Scope::parse("bots:write").unwrap()));
    }

    #[test]
    fn custom_implications_are_transitive() {
        let rules = vec![
            Implication {
                from: Scope::parse("bots:manage").unwrap(),
                to: vec![Scope::parse("bots:write").unwrap()],
            },
            Implication {
                from: Scope::parse("*:write").unwrap(),
                to: vec![Scope::parse("*:read").unwrap()],
            },
        ];
        let h = ScopeSet::effective(&[Scope::parse("bots:manage").unwrap()], &rules);
        assert!(h.covers(&Scope::parse("bots:read").unwrap()));
    }

    #[test]
    fn requirements_report_missing_scopes() {
        let h = held(&["bots:read"]);
        let all = Requirement::all(&["bots:read", "channels:write", "bots:write"]).unwrap();
        assert_eq!(names(all.missing(&h)), ["channels:write", "bots:write"]);
        let any = Requirement::any(&["channels:write", "bots:read"]).unwrap();
        assert!(any.missing(&h).is_empty());
        let expr = Requirement::expr("bots:read and (channels:write or admin)").unwrap();
        assert_eq!(names(expr.missing(&h)), ["channels:write"]);
        let expr = Requirement::expr("(a:x and b:x) or c:x").unwrap();
        assert_eq!(names(expr.missing(&h)), ["c:x"]);
        assert!(Requirement::expr("bots:read or admin")
            .unwrap()
            .missing(&h)
            .is_empty());
    }

    #[test]
    fn binding_arguments_combine() {
        let h = held(&["bots:read"]);
        let list = Some(ScopeSpec::List(vec!["bots:read".into()]));
        let expr = Some(ScopeSpec::Expr("bots:read or admin".into()));
        let any = ["channels:write".to_owned(), "bots:read".to_owned()];
        assert!(Requirement::from_args(list.clone(), None)
            .unwrap()
            .missing(&h)
            .is_empty());
        assert!(Requirement::from_args(expr, None)
            .unwrap()
            .missing(&h)
            .is_empty());
        assert!(Requirement::from_args(None, Some(&any))
            .unwrap()
            .missing(&h)
            .is_empty());
        assert!(Requirement::from_args(None, None).unwrap().is_empty());
        let both = Requirement::from_args(list, Some(&any[..1])).unwrap();
        assert_eq!(names(both.missing(&h)), ["channels:write"]);
        assert!(Requirement::from_args(Some(ScopeSpec::Expr("bots:".into())), None).is_err());
    }

    #[test]
    fn precedence_and_binds_tighter_than_or() {
        let e = Expr::parse("a:x or b:x and c:x").unwrap();
        assert_eq!(e.to_string(), "(a:x or (b:x and c:x))");
    }

    #[test]
    fn bad_expressions() {
        for bad in [
            "",
            "and",
            "a:x and",
            "(a:x",
            "a:x)",
            "a:x b:x",
            "a:x or or b:x",
            "()",
            &"(".repeat(40),
        ] {
            assert!(Expr::parse(bad).is_err(), "{bad}");
        }
    }
}

//! The scope rules, one statement per test: what a scope is, what it covers,
//! which implications fire (and which must not), what a requirement reports
//! missing, and which expressions are refused. Written so that breaking any
//! one rule in `core/src/scope.rs` fails a test (`scripts/mutants.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gatepass_core::scope::{
    default_implications, parse_list, Expr, Implication, Requirement, Scope, ScopeError, ScopeSet,
    ScopeSpec, MAX_EFFECTIVE_SCOPES, MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_LEN, MAX_SCOPE_LEN,
};
use gatepass_core::Policy;

fn s(text: &str) -> Scope {
    Scope::parse(text).unwrap()
}

fn rule(from: &str, to: &[&str]) -> Implication {
    Implication {
        from: s(from),
        to: to.iter().map(|t| s(t)).collect(),
    }
}

fn effective(granted: &[&str], rules: &[Implication]) -> Vec<String> {
    let set = ScopeSet::effective(&parse_list(granted).unwrap(), rules);
    let mut out: Vec<String> = set.iter().map(ToString::to_string).collect();
    out.sort();
    out
}

fn names(list: &[Scope]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

fn default_held(list: &[&str]) -> ScopeSet {
    ScopeSet::effective(&parse_list(list).unwrap(), &default_implications())
}

// ----- the grammar -----------------------------------------------------------

#[test]
fn a_scope_is_admin_or_a_pair_of_lowercase_segments() {
    assert_eq!(s("admin"), Scope::Admin);
    assert_eq!(
        s("bots:read"),
        Scope::Pair {
            resource: "bots".into(),
            action: "read".into()
        }
    );
    // A segment starts with a letter or digit and continues with [a-z0-9_.-].
    for ok in ["0bots:read", "a.b-c_d:x9", "bots:*", "*:read", "*:*"] {
        assert!(Scope::parse(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "admin:",
        ":read",
        "bots:",
        "bots",
        "Bots:read",
        "bots:Read",
        "_bots:read",
        "bots:.read",
        "bo ts:read",
        "bots:re/ad",
        "*x:read",
    ] {
        let e = Scope::parse(bad).unwrap_err();
        assert_eq!(e.code(), "invalid_scope", "{bad}");
    }
}

#[test]
fn a_scope_of_exactly_the_maximum_length_is_accepted_and_one_more_byte_is_not() {
    let at_max = format!("b:{}", "a".repeat(MAX_SCOPE_LEN - 2));
    assert_eq!(at_max.len(), MAX_SCOPE_LEN);
    assert!(Scope::parse(&at_max).is_ok());
    let over = format!("b:{}", "a".repeat(MAX_SCOPE_LEN - 1));
    assert!(Scope::parse(&over).is_err());
}

#[test]
fn an_invalid_scope_is_quoted_cut_to_64_characters() {
    let long = format!("X{}", "y".repeat(200));
    let e = Scope::parse(&long).unwrap_err();
    assert_eq!(e, ScopeError::InvalidScope(long[..64].to_owned()));
    assert!(e.to_string().contains(&long[..64]));
    assert!(!e.to_string().contains(&long[..65]));
}

#[test]
fn error_codes_are_stable() {
    assert_eq!(ScopeError::InvalidScope("x".into()).code(), "invalid_scope");
    assert_eq!(
        ScopeError::InvalidExpression("x".into()).code(),
        "invalid_scope_expression"
    );
    assert_eq!(ScopeError::UnknownScope("x".into()).code(), "unknown_scope");
    assert_eq!(
        ScopeError::NotAllowed {
            scope: "x".into(),
            kind: "k".into()
        }
        .code(),
        "scope_not_allowed"
    );
}

#[test]
fn scopes_print_serialise_and_parse_back() {
    assert_eq!(s("bots:read").to_string(), "bots:read");
    assert_eq!(Scope::Admin.to_string(), "admin");
    assert_eq!(format!("{:?}", s("bots:*")), "Scope(bots:*)");
    assert_eq!("*:read".parse::<Scope>().unwrap(), s("*:read"));
    assert!("Bots".parse::<Scope>().is_err());
    let json = serde_json::to_string(&vec![s("bots:read"), Scope::Admin]).unwrap();
    assert_eq!(json, r#"["bots:read","admin"]"#);
    let back: Vec<Scope> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, vec![s("bots:read"), Scope::Admin]);
    assert!(serde_json::from_str::<Scope>(r#""bots""#).is_err());
}

#[test]
fn parse_list_keeps_every_scope_in_order_and_fails_on_any_bad_one() {
    assert_eq!(
        names(&parse_list(&["b:x", "a:y", "admin"]).unwrap()),
        ["b:x", "a:y", "admin"]
    );
    assert!(parse_list(&["b:x", "bad"]).is_err());
}

// ----- coverage --------------------------------------------------------------

#[test]
fn a_scope_covers_only_what_its_segments_or_wildcards_name() {
    assert!(s("bots:read").covers(&s("bots:read")));
    assert!(!s("bots:read").covers(&s("bots:write")));
    assert!(!s("bots:read").covers(&s("channels:read")));
    assert!(s("bots:*").covers(&s("bots:delete")));
    assert!(!s("bots:*").covers(&s("channels:delete")));
    assert!(s("*:read").covers(&s("channels:read")));
    assert!(!s("*:read").covers(&s("channels:write")));
    assert!(s("*:*").covers(&s("x:y")));
    // A concrete grant does not cover a wildcard requirement.
    assert!(!s("bots:read").covers(&s("bots:*")));
    // `admin` covers only `admin` by itself; its reach is an implication.
    assert!(Scope::Admin.covers(&Scope::Admin));
    assert!(!Scope::Admin.covers(&s("bots:read")));
    assert!(!s("*:*").covers(&Scope::Admin));
}

#[test]
fn wildcards_are_recognised_in_either_segment_only() {
    assert!(s("bots:*").is_wildcard());
    assert!(s("*:read").is_wildcard());
    assert!(s("*:*").is_wildcard());
    assert!(!s("bots:read").is_wildcard());
    assert!(!Scope::Admin.is_wildcard());
}

#[test]
fn a_scope_set_covers_a_scope_only_when_one_member_does() {
    let set = default_held(&["bots:read"]);
    assert!(set.covers(&s("bots:read")));
    assert!(!set.covers(&s("bots:write")));
    assert!(!ScopeSet::default().covers(&s("bots:read")));
}

// ----- implications ----------------------------------------------------------

#[test]
fn default_implications_admin_grants_everything_and_write_grants_read() {
    let rules = default_implications();
    assert_eq!(rules.len(), 2);
    assert_eq!(effective(&["admin"], &rules), ["*:*", "admin"]);
    assert_eq!(
        effective(&["bots:write"], &rules),
        ["bots:read", "bots:write"]
    );
    // Read does not grant write, and one resource's write not another's read.
    assert_eq!(effective(&["bots:read"], &rules), ["bots:read"]);
    assert!(!default_held(&["bots:write"]).covers(&s("channels:read")));
}

#[test]
fn an_implication_fires_only_for_a_held_scope_its_from_names() {
    // Custom rule with a concrete resource: only `bots:manage` triggers it.
    let rules = [rule("bots:manage", &["bots:write"])];
    assert_eq!(
        effective(&["bots:manage"], &rules),
        ["bots:manage", "bots:write"]
    );
    // Same action, other resource: must not fire (privilege escalation).
    assert_eq!(effective(&["channels:manage"], &rules), ["channels:manage"]);
    // Same resource, other action: must not fire.
    assert_eq!(effective(&["bots:read"], &rules), ["bots:read"]);
    // Neither segment matches: must not fire.
    assert_eq!(effective(&["users:list"], &rules), ["users:list"]);
    // `admin` is not a pair, and a pair rule never fires for it.
    assert_eq!(effective(&["admin"], &rules), ["admin"]);
}

#[test]
fn an_admin_implication_fires_only_for_admin() {
    let rules = [rule("admin", &["audit:read"])];
    assert_eq!(effective(&["admin"], &rules), ["admin", "audit:read"]);
    assert_eq!(effective(&["bots:read"], &rules), ["bots:read"]);
    // A pair rule does not fire for admin, nor an admin rule for a pair.
    let pair_rule = [rule("bots:x", &["audit:read"])];
    assert_eq!(effective(&["admin"], &pair_rule), ["admin"]);
}

#[test]
fn a_wildcard_resource_binds_the_held_resource() {
    let rules = [rule("*:manage", &["*:write", "audit:read"])];
    // `*` in `to` stands for the held resource; a concrete `to` stays as is.
    assert_eq!(
        effective(&["bots:manage"], &rules),
        ["audit:read", "bots:manage", "bots:write"]
    );
    // Other actions do not fire it.
    assert_eq!(effective(&["bots:read"], &rules), ["bots:read"]);
}

#[test]
fn a_concrete_from_does_not_bind_a_wildcard_in_to() {
    // With a concrete `from`, `*:read` in `to` is granted as written.
    let rules = [rule("bots:manage", &["*:read"])];
    assert_eq!(
        effective(&["bots:manage"], &rules),
        ["*:read", "bots:manage"]
    );
    // With a wildcard `from`, a `to` whose resource is concrete is not rebound.
    let rules = [rule("*:manage", &["audit:*"])];
    assert_eq!(
        effective(&["bots:manage"], &rules),
        ["audit:*", "bots:manage"]
    );
}

#[test]
fn implications_chain_and_each_scope_appears_once() {
    let rules = [
        rule("bots:manage", &["bots:write"]),
        rule("*:write", &["*:read"]),
        rule("bots:read", &["bots:write"]),
    ];
    // The cycle write → read → write terminates with each scope listed once.
    assert_eq!(
        effective(&["bots:manage", "bots:manage"], &rules),
        ["bots:manage", "bots:read", "bots:write"]
    );
    let set = ScopeSet::effective(&[s("bots:manage")], &rules);
    assert_eq!(set.iter().count(), 3);
}

#[test]
fn effective_scopes_stop_at_the_bound() {
    // More granted scopes than the bound: the set holds exactly the bound.
    let many: Vec<Scope> = (0..MAX_EFFECTIVE_SCOPES + 10)
        .map(|i| s(&format!("r{i}:read")))
        .collect();
    let set = ScopeSet::effective(&many, &[]);
    assert_eq!(set.iter().count(), MAX_EFFECTIVE_SCOPES);
    let few: Vec<Scope> = many[..MAX_EFFECTIVE_SCOPES - 1].to_vec();
    assert_eq!(
        ScopeSet::effective(&few, &[]).iter().count(),
        MAX_EFFECTIVE_SCOPES - 1
    );
}

// ----- requirements ----------------------------------------------------------

#[test]
fn all_of_lists_every_missing_scope_in_order() {
    let held = default_held(&["bots:read"]);
    let r = Requirement::all(&["channels:write", "bots:read", "bots:write"]).unwrap();
    assert_eq!(names(&r.missing(&held)), ["channels:write", "bots:write"]);
    assert!(Requirement::all(&["bots:read"])
        .unwrap()
        .missing(&held)
        .is_empty());
    assert!(Requirement::all(&["bad"]).is_err());
}

#[test]
fn any_of_is_met_by_one_and_otherwise_lists_every_alternative() {
    let held = default_held(&["bots:read"]);
    let r = Requirement::any(&["channels:write", "bots:read"]).unwrap();
    assert!(r.missing(&held).is_empty());
    let r = Requirement::any(&["channels:write", "users:read"]).unwrap();
    assert_eq!(names(&r.missing(&held)), ["channels:write", "users:read"]);
    let empty: [&str; 0] = [];
    assert_eq!(
        Requirement::any(&empty).unwrap_err().code(),
        "invalid_scope_expression"
    );
    assert!(Requirement::any(&["bad"]).is_err());
}

#[test]
fn no_requirement_is_empty_and_always_met() {
    let none = Requirement::none();
    assert!(none.is_empty());
    assert!(none.missing(&ScopeSet::default()).is_empty());
    assert!(!Requirement::all(&["bots:read"]).unwrap().is_empty());
    assert!(!Requirement::any(&["bots:read"]).unwrap().is_empty());
    assert!(!Requirement::expr("a:x or b:x").unwrap().is_empty());
    assert_eq!(none.to_string(), "");
}

#[test]
fn an_expression_of_one_scope_is_an_all_of_that_scope() {
    assert_eq!(
        Requirement::expr("bots:read").unwrap(),
        Requirement::all(&["bots:read"]).unwrap()
    );
}

#[test]
fn and_lists_each_missing_scope_once_and_or_the_cheapest_alternative() {
    let held = default_held(&["bots:read"]);
    let r = Requirement::expr("a:x and (a:x or b:x) and c:x").unwrap();
    assert_eq!(names(&r.missing(&held)), ["a:x", "c:x"]);
    let r = Requirement::expr("(a:x and b:x) or c:x or (d:x and e:x)").unwrap();
    assert_eq!(names(&r.missing(&held)), ["c:x"]);
    // A tie keeps the first alternative.
    let r = Requirement::expr("a:x or c:x").unwrap();
    assert_eq!(names(&r.missing(&held)), ["a:x"]);
    let r = Requirement::expr("(a:x and b:x) or (c:x and d:x)").unwrap();
    assert_eq!(names(&r.missing(&held)), ["a:x", "b:x"]);
    // The cheapest is found even when it comes last.
    let r = Requirement::expr("(a:x and b:x and d:x) or (c:x and e:x) or f:x").unwrap();
    assert_eq!(names(&r.missing(&held)), ["f:x"]);
    // Met: nothing missing, for `and`, for `or` at any position.
    for met in [
        "bots:read and bots:read",
        "a:x or bots:read",
        "bots:read or a:x",
        "a:x or (b:x or bots:read)",
    ] {
        assert!(
            Requirement::expr(met).unwrap().missing(&held).is_empty(),
            "{met}"
        );
    }
    // `and` is not met when one part is missing, whichever part it is.
    let r = Requirement::expr("bots:read and a:x").unwrap();
    assert_eq!(names(&r.missing(&held)), ["a:x"]);
    let r = Requirement::expr("a:x and bots:read").unwrap();
    assert_eq!(names(&r.missing(&held)), ["a:x"]);
}

#[test]
fn requirements_name_every_scope_they_mention() {
    let scopes =
        |r: &Requirement| -> Vec<String> { r.scopes().iter().map(|s| s.to_string()).collect() };
    assert_eq!(
        scopes(&Requirement::all(&["a:x", "b:x"]).unwrap()),
        ["a:x", "b:x"]
    );
    assert_eq!(
        scopes(&Requirement::any(&["a:x", "b:x"]).unwrap()),
        ["a:x", "b:x"]
    );
    assert_eq!(
        scopes(&Requirement::expr("a:x and (b:x or c:x)").unwrap()),
        ["a:x", "b:x", "c:x"]
    );
    assert!(Requirement::none().scopes().is_empty());
}

#[test]
fn requirements_print_as_expressions() {
    assert_eq!(
        Requirement::all(&["a:x", "b:x"]).unwrap().to_string(),
        "a:x and b:x"
    );
    assert_eq!(
        Requirement::any(&["a:x", "b:x", "c:x"])
            .unwrap()
            .to_string(),
        "a:x or b:x or c:x"
    );
    assert_eq!(
        Requirement::expr("a:x and (b:x or c:x)")
            .unwrap()
            .to_string(),
        "(a:x and (b:x or c:x))"
    );
    assert_eq!(
        Expr::parse("a:x or b:x or c:x").unwrap().to_string(),
        "(a:x or b:x or c:x)"
    );
    assert_eq!(Expr::parse("admin").unwrap().to_string(), "admin");
}

#[test]
fn binding_arguments_both_must_hold() {
    let held = default_held(&["bots:read"]);
    let list = |v: &[&str]| Some(ScopeSpec::List(v.iter().map(|s| s.to_string()).collect()));
    let any = ["c:x".to_owned(), "d:x".to_owned()];
    let both = Requirement::from_args(list(&["bots:read", "a:x"]), Some(&any)).unwrap();
    assert_eq!(names(&both.missing(&held)), ["a:x", "c:x"]);
    assert_eq!(both.to_string(), "((bots:read and a:x) and (c:x or d:x))");
    let expr = Requirement::from_args(Some(ScopeSpec::Expr("a:x or b:x".into())), Some(&any));
    assert_eq!(expr.unwrap().to_string(), "((a:x or b:x) and (c:x or d:x))");
    assert_eq!(
        Requirement::from_args(list(&["a:x"]), None).unwrap(),
        Requirement::all(&["a:x"]).unwrap()
    );
    assert_eq!(
        Requirement::from_args(None, Some(&any)).unwrap(),
        Requirement::any(&any).unwrap()
    );
    assert!(Requirement::from_args(None, Some(&[])).is_err());
    assert!(Requirement::from_args(list(&["bad"]), None).is_err());
}

// ----- expressions -----------------------------------------------------------

#[test]
fn expressions_accept_upper_case_operators_and_any_whitespace() {
    assert_eq!(
        Expr::parse(" a:x\tAND\n(b:x OR c:x) ").unwrap().to_string(),
        "(a:x and (b:x or c:x))"
    );
    assert_eq!(
        Expr::parse("(a:x)or(b:x)").unwrap().to_string(),
        "(a:x or b:x)"
    );
    // `And` is neither operator nor scope.
    assert!(Expr::parse("a:x And b:x").is_err());
}

#[test]
fn expression_errors_say_what_was_unexpected() {
    let err = |text: &str| match Expr::parse(text).unwrap_err() {
        ScopeError::InvalidExpression(m) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(err(""), "empty");
    assert_eq!(err("  "), "empty");
    assert_eq!(err("and"), "unexpected 'and'");
    assert_eq!(err("a:x or or b:x"), "unexpected 'or'");
    assert_eq!(err("a:x)"), "unexpected ')'");
    assert_eq!(err("a:x ("), "unexpected '('");
    assert_eq!(err("a:x and"), "unexpected end");
    assert_eq!(err("(a:x"), "missing ')'");
    assert_eq!(err("(a:x b:x)"), "missing ')'");
    assert_eq!(err("a:x b:x"), "unexpected \"b:x\"");
    // A word is cut to 64 characters in the message.
    let long = format!("a:x {}", "w".repeat(100));
    assert_eq!(err(&long), format!("unexpected {:?}", "w".repeat(64)));
    assert_eq!(Expr::parse("Bad:x").unwrap_err().code(), "invalid_scope");
}

#[test]
fn an_expression_of_exactly_the_maximum_length_is_parsed_and_one_byte_more_is_not() {
    let mut text = String::from("a:x");
    while text.len() + " or a:x".len() <= MAX_EXPRESSION_LEN {
        text.push_str(" or a:x");
    }
    let pad = MAX_EXPRESSION_LEN - text.len();
    let at_max = format!("{text}{}", " ".repeat(pad));
    assert_eq!(at_max.len(), MAX_EXPRESSION_LEN);
    assert!(Expr::parse(&at_max).is_ok());
    let over = format!("{at_max} ");
    assert_eq!(
        Expr::parse(&over).unwrap_err(),
        ScopeError::InvalidExpression(format!("longer than {MAX_EXPRESSION_LEN} bytes"))
    );
}

#[test]
fn nesting_is_allowed_up_to_the_maximum_depth() {
    let nested = |depth: usize| format!("{}a:x{}", "(".repeat(depth), ")".repeat(depth));
    assert!(Expr::parse(&nested(MAX_EXPRESSION_DEPTH)).is_ok());
    assert_eq!(
        Expr::parse(&nested(MAX_EXPRESSION_DEPTH + 1)).unwrap_err(),
        ScopeError::InvalidExpression(format!("nested deeper than {MAX_EXPRESSION_DEPTH}"))
    );
    // Depth counts open parentheses, not siblings.
    let siblings = vec!["(a:x)"; MAX_EXPRESSION_DEPTH + 5].join(" or ");
    assert!(Expr::parse(&siblings).is_ok());
}

// ----- the catalogue ---------------------------------------------------------

const CATALOGUE: &str = r#"
scopes = ["bots:read", "bots:write", "channels:read"]
[kinds.personal]
prefix = "gp"
"#;

#[test]
fn a_route_naming_an_unknown_scope_is_refused_at_declaration() {
    let policy = Policy::from_toml(CATALOGUE).unwrap();
    for known in [
        "bots:read",
        "bots:read and channels:read",
        "admin",
        "bots:*",
        "*:read",
    ] {
        let r = Requirement::expr(known).unwrap();
        assert!(policy.check_requirement(&r).is_ok(), "{known}");
    }
    for unknown in [
        "bots:delete",
        "bots:read and chanels:read",
        "bots:read or users:read",
        "users:*",
        "*:delete",
    ] {
        let r = Requirement::expr(unknown).unwrap();
        assert_eq!(
            policy.check_requirement(&r).unwrap_err().code(),
            "unknown_scope",
            "{unknown}"
        );
    }
    let any = Requirement::any(&["bots:read", "bot:read"]).unwrap();
    assert_eq!(
        policy.check_requirement(&any).unwrap_err(),
        ScopeError::UnknownScope("bot:read".into())
    );
    assert!(policy.check_requirement(&Requirement::none()).is_ok());
}

#[test]
fn without_a_catalogue_every_well_formed_scope_is_known() {
    let policy = Policy::from_toml("[kinds.personal]\nprefix = \"gp\"\n").unwrap();
    let r = Requirement::expr("anything:at-all or more:x").unwrap();
    assert!(policy.check_requirement(&r).is_ok());
}

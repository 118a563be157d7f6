//! Property tests for tokens, the header parser and the scope parser.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gatepass_core::header::parse_authorization;
use gatepass_core::scope::{Expr, Scope};
use gatepass_core::token::{ParsedToken, Token};
use proptest::prelude::*;

fn prefix() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,6}(_[a-z0-9]{1,5}){0,2}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn minted_tokens_parse_and_round_trip(p in prefix()) {
        let t = Token::mint(&p).unwrap();
        let parsed = ParsedToken::parse(t.expose()).unwrap();
        prop_assert_eq!(parsed.prefix(), p.as_str());
        prop_assert_eq!(parsed.start(), t.start());
        prop_assert_eq!(parsed.digest(), t.digest());
        let again = Token::parse(t.expose()).unwrap();
        prop_assert_eq!(again.expose(), t.expose());
    }

    #[test]
    fn any_single_character_change_is_rejected_offline(p in prefix(), pos in any::<prop::sample::Index>(), c in any::<char>()) {
        let t = Token::mint(&p).unwrap();
        let mut chars: Vec<char> = t.expose().chars().collect();
        let i = pos.index(chars.len());
        prop_assume!(chars[i] != c);
        chars[i] = c;
        let changed: String = chars.into_iter().collect();
        prop_assert!(ParsedToken::parse(&changed).is_err(), "accepted {changed}");
    }

    #[test]
    fn header_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_authorization(Some(&bytes), &["Bearer", "Token"]);
    }

    #[test]
    fn header_parser_finds_the_token_it_was_given(p in prefix(), scheme in "[bB][eE][aA][rR][eE][rR]|[tT][oO][kK][eE][nN]", spaces in " {1,3}") {
        let t = Token::mint(&p).unwrap();
        let header = format!("{scheme}{spaces}{}", t.expose());
        let c = parse_authorization(Some(header.as_bytes()), &["Bearer", "Token"]).unwrap();
        prop_assert_eq!(c.token, t.expose());
    }

    #[test]
    fn scope_and_expression_parsers_never_panic(s in "\\PC{0,80}", raw in "[a-z:*() _-]{0,60}") {
        let _ = Scope::parse(&s);
        let _ = Expr::parse(&s);
        let _ = Scope::parse(&raw);
        let _ = Expr::parse(&raw);
    }

    #[test]
    fn parsed_expressions_print_and_reparse(raw in "[ab]:[xy]( (and|or) \\(?[ab]:[xy]\\)?){0,6}") {
        if let Ok(e) = Expr::parse(&raw) {
            let printed = e.to_string();
            prop_assert_eq!(Expr::parse(&printed).unwrap().to_string(), printed);
        }
    }
}

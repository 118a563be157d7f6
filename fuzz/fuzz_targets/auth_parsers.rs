//! The request-side parsers: Authorization header, token form, scopes and
//! scope expressions, and the whole verify pipeline on an in-memory gate.
//! The property is "no panic, no hang" on any bytes, and that
//! `verify_in_memory`, when it answers, answers as `verify` does.

#![no_main]

use std::sync::OnceLock;

use gatepass_core::header::parse_authorization;
use gatepass_core::scope::{Expr, Scope};
use gatepass_core::token::ParsedToken;
use gatepass_core::{Gate, Requirement};
use libfuzzer_sys::fuzz_target;

fn gate() -> &'static Gate {
    static GATE: OnceLock<Gate> = OnceLock::new();
    GATE.get_or_init(|| match Gate::open("memory://", None) {
        Ok(g) => g,
        Err(e) => panic!("memory gate: {e}"),
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_authorization(Some(data), &["Bearer", "Token"]);
    let none = Requirement::none();
    let in_memory = gate().verify_in_memory(Some(data), &none, Some("channel:ch_1"));
    let blocking = gate().verify(Some(data), &none, Some("channel:ch_1"));
    if let (Ok(Some(fast)), Ok(slow)) = (in_memory, blocking) {
        assert_eq!(fast.outcome, slow.outcome, "verify_in_memory disagrees with verify");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ParsedToken::parse(text);
        let _ = Scope::parse(text);
        let _ = Expr::parse(text);
        let _ = Requirement::expr(text);
    }
});

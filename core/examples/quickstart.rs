//! The main job, end to end on the embedded SQLite default: issue a key,
//! verify requests (allowed, missing scope, revoked), and sign and verify a
//! webhook (genuine and tampered).
//!
//! Store: `$GATEPASS_STORE`, else `sqlite:///gatepass.db` in the current directory.

use std::time::Duration;

use gatepass_core::webhook::{
    self, Headers, Scheme, SignOptions, VerifierOptions, WebhookSigner, WebhookVerifier,
};
use gatepass_core::{clock, Gate, IssueRequest, Policy, Requirement, Scope};

const POLICY: &str = r#"
realm = "chatbots"
scopes = ["bots:read", "bots:write", "conversations:read", "conversations:write"]

[kinds.personal]
prefix = "gp_pat"
default_lifetime = "90d"
rate_limit = "1000/hour"
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url =
        std::env::var("GATEPASS_STORE").unwrap_or_else(|_| "sqlite:///gatepass.db".to_owned());
    let gate = Gate::open(&url, Some(Policy::from_toml(POLICY)?))?;
    println!("store: {url}");

    let issued = gate.issue(IssueRequest {
        name: "Production Server".into(),
        scopes: vec![Scope::parse("bots:read")?],
        subject: Some("agent_42".into()),
        expires_in: Some(Duration::from_secs(30 * 86_400)),
        ..Default::default()
    })?;
    // A real service shows the token once to its user; printing it here is the demo.
    println!(
        "issued {} ({}), shown once: {}",
        issued.key.id,
        issued.key.start,
        issued.token.expose()
    );

    let header = format!("Bearer {}", issued.token.expose());
    for (what, requirement) in [
        (
            "GET /v1/bots (bots:read)",
            Requirement::all(&["bots:read"])?,
        ),
        (
            "POST /v1/bots (bots:write)",
            Requirement::all(&["bots:write"])?,
        ),
    ] {
        let v = gate.verify(Some(header.as_bytes()), &requirement, None)?;
        let r = v.http();
        println!("{what}: {} -> HTTP {} {:?}", v.code(), r.status, r.headers);
    }
    gate.revoke(&issued.key.id)?;
    let v = gate.verify(Some(header.as_bytes()), &Requirement::none(), None)?;
    println!("after revoke: {} -> HTTP {}", v.code(), v.status());
    println!(
        "problem body: {}",
        v.problem().map(|p| p.to_json()).unwrap_or_default()
    );

    let secret = webhook::generate_secret(Scheme::Standard)?;
    let signer = WebhookSigner::new(Scheme::Standard, &secret, clock::system())?;
    let verifier = WebhookVerifier::new(Scheme::Standard, &[&secret], VerifierOptions::default())?;
    let body = br#"{"type":"message_created","bot_id":42}"#;
    let headers = Headers::from_pairs(signer.sign(body, SignOptions::default())?);
    let genuine = verifier.verify(body, &headers, None)?;
    println!("webhook {:?}: verified", genuine.id);
    let tampered = br#"{"type":"message_created","bot_id":43}"#;
    match verifier.verify(tampered, &headers, None) {
        Ok(_) => return Err("a tampered webhook verified".into()),
        Err(e) => println!("tampered webhook: {} ({e})", e.code()),
    }
    gate.flush()?;
    Ok(())
}

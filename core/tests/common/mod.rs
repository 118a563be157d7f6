//! Shared helpers for tests that need the real PostgreSQL and Redis servers
//! started by `scripts/services.sh`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod child;

/// The URL of a test service, or `None` (with a loud message) when it is not
/// running. Under `CI=true` a missing service fails the test instead.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{var} is not set under CI=true: scripts/services.sh must start the servers")
        }
        _ => {
            eprintln!(
                "\n*** SKIPPED: {var} is not set. Start the servers with \
                 `eval \"$(bash scripts/services.sh start)\"` to run this test. ***\n"
            );
            None
        }
    }
}

/// A fresh, empty Postgres schema for one test, as a URL whose connections
/// use it (`search_path`), so tests never see each other's keys.
pub fn fresh_postgres_schema() -> Option<String> {
    let base = service_url("GATEPASS_TEST_POSTGRES_URL")?;
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    let schema = format!("gp_test_{}", hex::encode(bytes));
    let mut client = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-csearch_path%3D{schema}"))
}

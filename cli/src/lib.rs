//! The `gatepass` command line, written once and shipped three ways: this
//! crate's `gatepass` binary (`cargo run -p gatepass-cli`), the Python
//! package's console script and the Node package's `npx gatepass`, both of
//! which call [`run`] through their native module. Every rule it applies is
//! the core's; this crate parses arguments and prints answers.
//!
//! ```text
//! gatepass keys issue "Production Server" --scope bots:read --expires-in 90d
//! gatepass keys list [--subject agent_42] [--status active] [--all]
//! gatepass keys show|rotate|revoke|deactivate|activate|delete KEY_ID
//! gatepass verify [TOKEN | -] --scopes bots:read [--spend]
//! gatepass webhook secret standard
//! gatepass webhook sign standard --secret whsec_… < body.json
//! gatepass webhook verify standard --secret whsec_… -H 'webhook-id: …' … < body.json
//! gatepass events [--key KEY_ID] [--owner SUBJECT] [--since 7d]
//! gatepass usage KEY_ID [--days 30] [--step day|hour]
//! gatepass console [--port 8421]
//! ```
//!
//! Every command takes `--store` (default `$GATEPASS_STORE`, else
//! `sqlite:///gatepass.db`), `--policy gatepass.toml` (default the file
//! `$GATEPASS_POLICY` names, else no policy) and `--json`. A kind or token
//! prefix the policy does not know is reported with where that policy came
//! from.
//!
//! Exit codes: 0 success; 1 the credential or webhook did not verify; 2
//! usage error; 3 no such key; 4 invalid argument, configuration or key
//! state; 5 store unavailable or unreadable; 70 internal error.
//!
//! Secrets are printed only by `keys issue`, `keys rotate` and `webhook
//! secret`, once. Tokens and webhook secrets can be passed through the
//! environment (`GATEPASS_TOKEN`, `GATEPASS_WEBHOOK_SECRET`) or stdin rather
//! than the command line, where other users of the machine could see them.

mod args;
mod console;
mod events;
mod json;
mod keys;
mod output;
pub mod time;
mod usage;
mod verify;
mod webhook;

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use clap::Parser;
use gatepass_core::errors::{self, Coded, ROOT_CLASS};
use gatepass_core::policy::Policy;
use gatepass_core::{env, ratelimit, Actor, Gate, GateError};

use args::{Cli, Command, Common};
use output::Output;

pub const EXIT_OK: i32 = 0;
pub const EXIT_REJECTED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_NOT_FOUND: i32 = 3;
pub const EXIT_INVALID: i32 = 4;
pub const EXIT_STORE: i32 = 5;
pub const EXIT_INTERNAL: i32 = 70;

/// Where the command line reads and writes. [`run`] uses the process's
/// own streams; a host that captures output (Django's management
/// commands) passes buffers.
pub struct Io<'a> {
    pub stdin: &'a mut dyn BufRead,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

/// A gate the host has opened already, with its own store and policy (a
/// Django project's settings), and how to name that policy in messages.
/// `--store`, `--policy` and `--rate-limiter` are refused under it: the
/// host's configuration is the one in force. `actor` names the host in the
/// audit trail (`manage.py`) unless `--actor` is given.
pub struct Preset {
    pub gate: Arc<Gate>,
    pub policy_source: String,
    pub actor: Option<String>,
}

/// Runs the command line on `args` (the program name first, as
/// `std::env::args_os()` gives it) with the process's standard streams;
/// returns the exit code.
#[must_use]
pub fn run(args: Vec<OsString>) -> i32 {
    let stdin = std::io::stdin();
    let mut stdin = stdin.lock();
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let code = run_with(
        args,
        None,
        &mut Io {
            stdin: &mut stdin,
            out: &mut out,
            err: &mut err,
        },
    );
    let _ = out.flush();
    let _ = err.flush();
    code
}

/// [`run`] with given streams and, optionally, a gate opened by the host.
/// Never panics: a panic (there should be none) is exit code 70.
#[must_use]
pub fn run_with(args: Vec<OsString>, preset: Option<&Preset>, io: &mut Io<'_>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.render().to_string();
            let stream: &mut dyn Write = if e.use_stderr() {
                &mut *io.err
            } else {
                &mut *io.out
            };
            let _ = stream.write_all(text.as_bytes());
            return e.exit_code();
        }
    };
    let mut o = Output::new(cli.common.json, &mut *io.out, &mut *io.err);
    warn_about_passwords(&cli.common, o.err());
    let stdin = &mut *io.stdin;
    match std::panic::catch_unwind(AssertUnwindSafe(|| dispatch(&cli, preset, stdin, &mut o))) {
        Ok(Ok(code)) => code,
        Ok(Err(failure)) => o.fail(failure),
        Err(_) => o.fail(Failure::coded(
            errors::INTERNAL_ERROR,
            "gatepass hit an internal error".into(),
        )),
    }
}

fn dispatch(
    cli: &Cli,
    preset: Option<&Preset>,
    stdin: &mut dyn BufRead,
    o: &mut Output<'_>,
) -> Result<i32, Failure> {
    let command = match &cli.command {
        Command::Webhook { action } => return webhook::run(action, stdin, o),
        command => command,
    };
    let (gate, source) = match preset {
        Some(p) => {
            if cli.common.store.is_some()
                || cli.common.policy.is_some()
                || cli.common.rate_limiter.is_some()
            {
                return Err(Failure::Usage(
                    "--store, --policy and --rate-limiter come from the host's settings here"
                        .into(),
                ));
            }
            (Arc::clone(&p.gate), p.policy_source.clone())
        }
        None => {
            let gate = open_gate(&cli.common)?;
            // Another policy than the one the store remembers: say so (and
            // what differs), but go on under the one given, as apps do.
            if let Some(mismatch) = gate.policy_mismatch() {
                let _ = writeln!(o.err(), "gatepass: warning: {mismatch}");
            }
            let source = policy_source(&cli.common, &gate);
            (Arc::new(gate), source)
        }
    };
    let actor = actor(
        cli.common
            .actor
            .as_deref()
            .or_else(|| preset.and_then(|p| p.actor.as_deref()))
            .unwrap_or("cli"),
    );
    let ctx = Context {
        gate: &gate,
        policy_source: &source,
        actor: &actor,
    };
    let result = match command {
        Command::Keys { action } => keys::run(&ctx, action, o),
        Command::Verify(a) => verify::run(&ctx, a, stdin, o),
        Command::Events(a) => events::run(&ctx, a, o),
        Command::Usage(a) => usage::run(&ctx, a, o),
        Command::Console(a) => {
            if preset.is_some() {
                return Err(Failure::Usage(
                    "the console runs from the command line: gatepass console".into(),
                ));
            }
            console::run(Arc::clone(&gate), a, o)
        }
        Command::Webhook { .. } => Ok(EXIT_OK),
    };
    // Usage counted by `verify --spend` is batched in memory: write it.
    let flushed = gate.flush().map_err(|e| ctx.failure(&e));
    let code = result?;
    flushed?;
    Ok(code)
}

/// What every store command works with.
pub(crate) struct Context<'a> {
    pub gate: &'a Gate,
    /// Where the policy in force came from, for messages about a kind or a
    /// token prefix it does not know.
    pub policy_source: &'a str,
    /// Who the audit trail records as making the changes.
    pub actor: &'a Actor,
}

impl Context<'_> {
    /// A core error as the command line reports it; an unknown kind names
    /// the policy it was looked up in, as the command line was given it.
    pub fn failure(&self, e: &GateError) -> Failure {
        match e {
            GateError::UnknownKind { kind, .. } => Failure::coded(
                e.code(),
                format!(
                    "unknown key kind {kind:?} (policy in force: {}; its kinds: {})",
                    self.policy_source,
                    env::kinds_text(self.gate.policy())
                ),
            ),
            e => Failure::from_core(e),
        }
    }
}

/// `name (alice)` with the operating-system user running the command when
/// the environment says, else `name`: the audit trail then tells a change
/// made from a terminal from one made by the app. `--actor` names it
/// exactly.
fn actor(name: &str) -> Actor {
    let user = ["USER", "USERNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|u| {
            u.chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        })
        .find(|u| !u.trim().is_empty());
    match user {
        Some(user) if name == "cli" || name == "manage.py" => {
            Actor::new(format!("{name} ({user})"))
        }
        _ => Actor::new(name),
    }
}

/// `--since`: an ISO 8601 time, or a duration back from `now` (`7d`).
pub(crate) fn since_arg(text: &str, now: i64) -> Result<i64, Failure> {
    if let Ok(ago) = gatepass_core::duration::parse(text) {
        return Ok(now.saturating_sub(gatepass_core::duration::as_millis(ago)));
    }
    time::parse(text).map_err(|_| {
        Failure::Usage(format!(
            "--since takes a time (2026-05-01, 2026-05-01T12:00Z) or a duration back from now (7d, 12h); got {text:?}"
        ))
    })
}

/// Why a command did not finish.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A command-line mistake clap could not catch (exit 2).
    Usage(String),
    /// An error with a code from the core's table; the exit code follows
    /// from the code's error class.
    Coded { code: String, message: String },
}

impl Failure {
    pub fn coded(code: &str, message: String) -> Self {
        Self::Coded {
            code: code.to_owned(),
            message,
        }
    }

    pub fn from_core<E: Coded>(e: &E) -> Self {
        Self::coded(e.code(), e.to_string())
    }

    /// A file that could not be read, as `No such file or directory: body.json`.
    pub fn io(e: &std::io::Error, path: &str) -> Self {
        let text = e.to_string();
        let reason = text.split(" (os error").next().unwrap_or(&text);
        Self::coded("io_error", format!("{reason}: {path}"))
    }
}

/// The exit code for an error code: by its class in the core's table, so
/// a new code falls under the right number without a change here.
#[must_use]
pub fn exit_code_for(code: &str) -> i32 {
    if code == "io_error" {
        return EXIT_INVALID;
    }
    let classes = errors::classes();
    let mut class = errors::lookup(code).class;
    // The class tree is shallow; the bound only guards against a cycle.
    for _ in 0..8 {
        match class {
            "NotFound" => return EXIT_NOT_FOUND,
            "StoreError" => return EXIT_STORE,
            "InvalidArgument" | "ConfigError" | "InvalidState" => return EXIT_INVALID,
            "WebhookError" => return EXIT_REJECTED,
            c if c == ROOT_CLASS => return EXIT_INTERNAL,
            c => match classes.iter().find(|(name, _)| *name == c) {
                Some((_, parent)) => class = parent,
                None => return EXIT_INTERNAL,
            },
        }
    }
    EXIT_INTERNAL
}

fn read_policy(path: &str) -> Result<Policy, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::coded(
            "config_error",
            format!("cannot read policy file {path:?}: {e}"),
        )
    })?;
    let parsed = if path.to_ascii_lowercase().ends_with(".json") {
        Policy::from_json(&text)
    } else {
        Policy::from_toml(&text)
    };
    parsed.map_err(|e| Failure::from_core(&e))
}

/// Opens the store under `--policy`, else the policy the core finds for it
/// (`$GATEPASS_POLICY`, `./gatepass.toml`, the one recorded in the store,
/// the default), as every process opening that store does.
fn open_gate(common: &Common) -> Result<Gate, Failure> {
    let policy = match given_policy(common) {
        Some(path) => Some(read_policy(path)?),
        None => None,
    };
    let url = env::store_url(common.store.as_deref());
    // A tool never prunes the audit trail: how long events are kept is the
    // serving application's setting, which this shell may not have (a
    // command run without `GATEPASS_EVENTS_RETENTION=never` must not delete
    // a year-old event the app keeps).
    let gate = Gate::open(&url, policy)
        .map_err(|e| Failure::from_core(&e))?
        .with_events_retention(None);
    Ok(
        match env::rate_limiter_url(common.rate_limiter.as_deref()) {
            Some(limiter) => {
                gate.with_limiter(ratelimit::open(&limiter).map_err(|e| Failure::from_core(&e))?)
            }
            None => gate,
        },
    )
}

fn given_policy(common: &Common) -> Option<&str> {
    common.policy.as_deref().filter(|p| !p.is_empty())
}

/// Where the policy in force came from, for messages about a kind or a
/// token prefix the policy does not know: the core's account of it, with
/// `--policy PATH` for a policy given on the command line.
fn policy_source(common: &Common, gate: &Gate) -> String {
    match given_policy(common) {
        Some(path) => format!("--policy {path}"),
        None => gate.policy_source().to_string(),
    }
}

/// Whether a store or rate-limiter URL carries a password, in its
/// user-info part (`postgres://user:pw@host`, `redis://:pw@host`) or as a
/// libpq `password=` parameter.
fn url_has_password(text: &str) -> bool {
    match url::Url::parse(text) {
        Ok(u) => u.password().is_some() || u.query_pairs().any(|(k, _)| k == "password"),
        // Unparseable (e.g. a bad port): let the store refuse it.
        Err(_) => text.contains('@') || text.contains("password="),
    }
}

/// A password on the command line is visible to every user of the machine
/// (`ps`, `/proc/<pid>/cmdline`) and stays in shell history: say so, and
/// where it belongs instead. The URL itself is never repeated.
fn warn_about_passwords(common: &Common, err: &mut dyn Write) {
    for (given, flag, variable) in [
        (&common.store, "--store", env::STORE),
        (&common.rate_limiter, "--rate-limiter", env::RATE_LIMITER),
    ] {
        if given.as_deref().is_some_and(url_has_password) {
            let _ = writeln!(
                err,
                "gatepass: warning: the {flag} URL holds a password, which other users of this machine can read \
                 from the process list and which stays in your shell history; set {variable} instead"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_error_classes() {
        assert_eq!(exit_code_for("not_found"), EXIT_NOT_FOUND);
        assert_eq!(exit_code_for("store_unavailable"), EXIT_STORE);
        assert_eq!(exit_code_for("store_corrupt"), EXIT_STORE);
        assert_eq!(exit_code_for("invalid_argument"), EXIT_INVALID);
        assert_eq!(exit_code_for("unknown_kind"), EXIT_INVALID);
        assert_eq!(exit_code_for("invalid_scope"), EXIT_INVALID);
        assert_eq!(exit_code_for("config_error"), EXIT_INVALID);
        assert_eq!(exit_code_for("invalid_state"), EXIT_INVALID);
        assert_eq!(exit_code_for("invalid_signature"), EXIT_REJECTED);
        assert_eq!(exit_code_for("internal_error"), EXIT_INTERNAL);
    }

    #[test]
    fn passwords_in_urls_are_noticed() {
        assert!(url_has_password("postgres://u:pw@db/x"));
        assert!(url_has_password("redis://:pw@cache/"));
        assert!(url_has_password("postgres://db/x?password=pw"));
        assert!(url_has_password("postgres://u:pw@db:notaport/x"));
        assert!(!url_has_password("postgres://u@db/x"));
        assert!(!url_has_password("sqlite:///gatepass.db"));
    }
}

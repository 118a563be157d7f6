//! The command line's grammar (clap derive). Commands, options and their
//! spellings are those of the first `gatepass` CLI, so scripts keep working.

use clap::{ArgAction, Args, Parser, Subcommand};

/// The webhook schemes the command line signs and verifies.
pub const WEBHOOK_SCHEMES: [&str; 7] = [
    "standard", "stripe", "github", "slack", "shopify", "twilio", "token",
];

#[derive(Debug, Parser)]
#[command(
    name = "gatepass",
    version,
    about = "API tokens, scopes and webhook signatures.",
    after_help = "Exit codes: 0 ok, 1 rejected, 2 usage, 3 not found, 4 invalid, 5 store error.",
    subcommand_required = true,
    arg_required_else_help = true,
    infer_long_args = true
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

/// Accepted before or after the subcommand.
#[derive(Debug, Args, Default, Clone)]
pub struct Common {
    /// Store URL (default $GATEPASS_STORE or sqlite:///gatepass.db); put a URL
    /// with a password in $GATEPASS_STORE, not here
    #[arg(long, global = true, value_name = "URL")]
    pub store: Option<String>,
    /// Policy file (.toml or .json; default $GATEPASS_POLICY)
    #[arg(long, global = true, value_name = "FILE")]
    pub policy: Option<String>,
    /// Rate limiter URL (default $GATEPASS_RATE_LIMITER or memory://), e.g. redis://127.0.0.1/
    #[arg(long, global = true, value_name = "URL")]
    pub rate_limiter: Option<String>,
    /// Who the audit trail records as making a change (default: cli, and
    /// the operating-system user), e.g. user:42
    #[arg(long, global = true, value_name = "NAME")]
    pub actor: Option<String>,
    /// Machine-readable output
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Issue and manage keys
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Verify a token or Authorization value
    Verify(VerifyArgs),
    /// Webhook secrets, signing and verification
    Webhook {
        #[command(subcommand)]
        action: WebhookCommand,
    },
    /// The audit trail: who issued, changed, revoked or deleted keys, newest first
    Events(EventsArgs),
    /// A key's request history as a chart (valid and refused, by day or hour)
    Usage(UsageArgs),
    /// Serve the API Tokens page for every owner's keys on 127.0.0.1 (prints a one-time login link)
    Console(ConsoleArgs),
}

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Port to listen on (default: any free port)
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Loopback address to listen on (127.0.0.1 or ::1)
    #[arg(long, value_name = "ADDRESS")]
    pub host: Option<std::net::IpAddr>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this key's events
    #[arg(long, value_name = "KEY_ID")]
    pub key: Option<String>,
    /// Only events of keys owned by this subject
    #[arg(long, value_name = "SUBJECT")]
    pub owner: Option<String>,
    /// Only events since this time (ISO 8601) or this long ago (e.g. 7d, 12h)
    #[arg(long, value_name = "TIME|DURATION")]
    pub since: Option<String>,
    /// Page size (default 50)
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Cursor from a previous page
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<String>,
    /// Every page
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// key_…
    #[arg(value_name = "KEY_ID")]
    pub key_id: String,
    /// How many days back, up to today (default 30 by day, 1 by hour)
    #[arg(long, value_name = "N")]
    pub days: Option<u32>,
    /// Bucket width
    #[arg(long, default_value = "day", value_parser = ["hour", "day"])]
    pub step: String,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Issue a key (prints the token once)
    Issue(IssueArgs),
    /// List keys
    List(ListArgs),
    /// Show one key
    Show(KeyId),
    /// New secret, same key (prints the token once)
    Rotate(RotateArgs),
    /// Revoke a key (one-way, immediate)
    Revoke(KeyId),
    /// Stop a key (reversible)
    Deactivate(KeyId),
    /// Re-activate a deactivated key
    Activate(KeyId),
    /// Delete a key and its record
    Delete(KeyId),
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// A name people will recognise, e.g. 'Production Server'
    pub name: String,
    /// Scope to grant; repeat or separate with commas (bots:read,channels:write)
    #[arg(long = "scope", alias = "scopes", value_name = "SCOPE", action = ArgAction::Append)]
    pub scopes: Option<Vec<String>>,
    /// Token kind from the policy
    #[arg(long)]
    pub kind: Option<String>,
    /// Owner: agent, user or workspace id
    #[arg(long)]
    pub subject: Option<String>,
    /// Bind the key to one resource, e.g. channel:ch_123
    #[arg(long)]
    pub resource: Option<String>,
    /// E.g. 90d, 12h
    #[arg(long, value_name = "DURATION")]
    pub expires_in: Option<String>,
    /// ISO 8601 time (UTC if no zone)
    #[arg(long, value_name = "TIME", value_parser = crate::time::parse)]
    pub expires_at: Option<i64>,
    /// E.g. 1000/hour
    #[arg(long, value_name = "LIMIT")]
    pub rate_limit: Option<String>,
    /// Credits; omit for unlimited
    // i128, so that a count past what a key may hold (2^53 - 1) reaches the
    // core and gets its message and exit code, not a parser's overflow.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub remaining: Option<i128>,
    /// JSON object stored with the key
    #[arg(long, value_name = "JSON", value_parser = metadata)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub subject: Option<String>,
    #[arg(long)]
    pub kind: Option<String>,
    #[arg(long, value_parser = ["active", "inactive", "revoked"])]
    pub status: Option<String>,
    /// Page size (default 100)
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Cursor from a previous page
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<String>,
    /// Every page
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct KeyId {
    /// key_…
    #[arg(value_name = "KEY_ID")]
    pub key_id: String,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// key_…
    #[arg(value_name = "KEY_ID")]
    pub key_id: String,
    /// How long the old token keeps working (default: not at all)
    #[arg(long, value_name = "DURATION")]
    pub grace: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Token or 'Bearer <token>'; '-' reads stdin; default $GATEPASS_TOKEN
    #[arg(allow_hyphen_values = true)]
    pub credential: Option<String>,
    /// Expression or comma-separated list (all of)
    #[arg(long = "scopes", alias = "scope")]
    pub scopes: Option<String>,
    /// Comma-separated list (any of)
    #[arg(long)]
    pub any_scopes: Option<String>,
    #[arg(long)]
    pub resource: Option<String>,
    /// Count it as a request: record usage, take rate-limit allowance and a
    /// credit (default: check only, spending nothing)
    #[arg(long)]
    pub spend: bool,
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Generate a secret
    Secret(SchemeArg),
    /// Sign a body; prints the headers
    Sign(SignArgs),
    /// Verify a received webhook
    Verify(WebhookVerifyArgs),
}

#[derive(Debug, Args)]
pub struct SchemeArg {
    #[arg(value_parser = WEBHOOK_SCHEMES)]
    pub scheme: String,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    #[arg(value_parser = WEBHOOK_SCHEMES)]
    pub scheme: String,
    /// Signing secret (default $GATEPASS_WEBHOOK_SECRET)
    #[arg(long, action = ArgAction::Append)]
    pub secret: Vec<String>,
    /// Body to sign (default stdin)
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<String>,
    /// Message id (standard; default a fresh one)
    #[arg(long)]
    pub id: Option<String>,
    /// Unix seconds (default now)
    #[arg(long, allow_negative_numbers = true)]
    pub timestamp: Option<i64>,
    /// Full request URL (twilio)
    #[arg(long)]
    pub url: Option<String>,
}

#[derive(Debug, Args)]
pub struct WebhookVerifyArgs {
    #[arg(value_parser = WEBHOOK_SCHEMES)]
    pub scheme: String,
    /// Secret; repeat for rotation (default $GATEPASS_WEBHOOK_SECRET)
    #[arg(long, action = ArgAction::Append)]
    pub secret: Vec<String>,
    /// Request header
    #[arg(short = 'H', long, value_name = "'NAME: VALUE'", value_parser = header, action = ArgAction::Append)]
    pub header: Vec<(String, String)>,
    /// Raw body (default stdin)
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<String>,
    /// Full request URL (twilio)
    #[arg(long)]
    pub url: Option<String>,
    /// Timestamp window, e.g. 5m; 'none' to skip the check
    #[arg(long)]
    pub tolerance: Option<String>,
}

fn metadata(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err("metadata must be a JSON object".into()),
        Err(e) => Err(format!("metadata must be a JSON object: {e}")),
    }
}

fn header(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        // The text is not repeated: it is most often an Authorization
        // header, token included, missing its colon.
        _ => Err("expected 'Name: value' (the text given is not repeated)".to_owned()),
    }
}

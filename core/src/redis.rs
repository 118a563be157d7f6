//! `redis://…`: rate limits and the webhook replay guard shared by many
//! processes and machines.
//!
//! The limiter runs GCRA in one Lua script, so the read-modify-write of a
//! bucket is atomic on the server, and it reads the server's clock (`TIME`),
//! so machines with skewed clocks still share one timeline. The script only
//! stores the new arrival time; the decision is computed from the same inputs
//! by [`crate::ratelimit::gcra`]. That is GCRA in whole milliseconds with an
//! interval of at least 1 ms: it agrees with the in-memory limiter (exact, on
//! a nanosecond timeline) for every limit of at most 1000 a second whose
//! interval is a whole number of milliseconds, and floors the others (see
//! docs/core.md, "Rate limits").
//! Failures are errors, never a silent "allow": callers fail closed.
//!
//! `rediss://` connects with TLS (rustls): the server's certificate must lead
//! to the CA file given as `?sslrootcert=/path/ca.pem` (the Postgres name for
//! the same thing), or else to the Mozilla roots, and must name the host.
//! redis-rs's `#insecure` (no check at all) is refused.

use std::time::Duration;

use parking_lot::Mutex;

use crate::clock::Millis;
use crate::error::StoreError;
use crate::ratelimit::{gcra, RateDecision, RateLimit, RateLimiter};
use crate::webhook::{ReplayGuard, ReplayGuardError};

const TIMEOUT: Duration = Duration::from_secs(2);
/// Idle connections kept for reuse.
const MAX_IDLE: usize = 16;

/// GCRA, mirroring `ratelimit::gcra` line for line. ARGV[3] is the time in
/// ms, or empty to use the server's clock. Returns `{stored_tat or -1, now}`.
const GCRA_SCRIPT: &str = r"
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local now
if ARGV[3] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[3])
end
local interval = math.max(math.floor(period / limit), 1)
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then tat = math.max(tonumber(stored), now) end
local new_tat = tat + interval
if new_tat - period <= now then
  redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.max(new_tat - now, 1))
end
if stored then return {tonumber(stored), now} end
return {-1, now}
";

/// A few reusable connections; a broken one is dropped, not returned.
struct Connections {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection info may hold a password.
        f.write_str("Connections(redis)")
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {}", e.category()))
}

/// The client for a URL, with gatepass's own option (`sslrootcert`) taken
/// out of the query before redis-rs parses the rest.
fn client_for(url: &str) -> Result<redis::Client, StoreError> {
    let (url, fragment) = url.split_once('#').unwrap_or((url, ""));
    if !fragment.is_empty() {
        return Err(StoreError::InvalidOption(
            "a Redis URL takes no #fragment; rediss://…#insecure (no certificate check) is \
             not supported: give the server's CA with ?sslrootcert=/path/ca.pem"
                .into(),
        ));
    }
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let mut ca_file = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslrootcert", value)) => {
                let path = percent_encoding::percent_decode_str(value)
                    .decode_utf8()
                    .map_err(|_| StoreError::InvalidOption("sslrootcert is not UTF-8".into()))?;
                ca_file = Some(std::path::PathBuf::from(path.as_ref()));
            }
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let tls = rest.starts_with("rediss://");
    if !tls {
        if ca_file.is_some() {
            return Err(StoreError::InvalidOption(
                "sslrootcert applies to rediss:// URLs only".into(),
            ));
        }
        return redis::Client::open(rest).map_err(|_| StoreError::InvalidUrl("redis"));
    }
    // redis-rs builds its rustls config with the process-wide provider.
    crate::tls::install_default_provider();
    match ca_file {
        None => redis::Client::open(rest).map_err(|_| StoreError::InvalidUrl("redis")),
        Some(path) => {
            // Read here for a clear error about the file itself; redis-rs
            // parses the same bytes again.
            crate::tls::read_ca_file(&path)?;
            let pem = std::fs::read(&path).map_err(|e| {
                StoreError::InvalidOption(format!(
                    "cannot read the CA file {}: {e}",
                    path.display()
                ))
            })?;
            redis::Client::build_with_tls(
                rest,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                },
            )
            .map_err(|_| StoreError::InvalidUrl("redis"))
        }
    }
}

impl Connections {
    fn open(url: &str) -> Result<Self, StoreError> {
        let client = client_for(url)?;
        let this = Self {
            client,
            idle: Mutex::new(Vec::new()),
        };
        // Fail at start-up, not on the first request, when Redis is not there.
        this.with(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(this)
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => {
                // A failure to connect says why (refused, TLS certificate
                // not trusted, wrong name): nothing secret is in it.
                let c = self
                    .client
                    .get_connection_with_timeout(TIMEOUT)
                    .map_err(|e| StoreError::Unavailable(format!("redis: {e}")))?;
                c.set_read_timeout(Some(TIMEOUT)).map_err(unavailable)?;
                c.set_write_timeout(Some(TIMEOUT)).map_err(unavailable)?;
                c
            }
        };
        let result = f(&mut conn).map_err(unavailable)?;
        let mut idle = self.idle.lock();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        Ok(result)
    }
}

/// GCRA buckets in Redis under `gatepass:rl:<bucket>`.
pub struct RedisRateLimiter {
    conns: Connections,
    script: redis::Script,
    /// Use this process's clock instead of the server's (tests only).
    fixed_clock: bool,
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("fixed_clock", &self.fixed_clock)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Ok(Self {
            conns: Connections::open(url)?,
            script: redis::Script::new(GCRA_SCRIPT),
            fixed_clock: false,
        })
    }

    /// Makes `check` use the `now` it is given rather than Redis's clock, so a
    /// test can compare the script with [`gcra`] step by step.
    pub fn with_caller_clock(mut self) -> Self {
        self.fixed_clock = true;
        self
    }
}

impl RateLimiter for RedisRateLimiter {
    fn check(
        &self,
        bucket: &str,
        limit: &RateLimit,
        now: Millis,
    ) -> Result<RateDecision, StoreError> {
        let now_arg = if self.fixed_clock {
            now.to_string()
        } else {
            String::new()
        };
        let (stored, server_now): (i64, i64) = self.conns.with(|c| {
            self.script
                .key(format!("gatepass:rl:{bucket}"))
                .arg(limit.limit)
                .arg(limit.period_ms)
                .arg(&now_arg)
                .invoke(c)
        })?;
        let stored = (stored >= 0).then_some(stored);
        Ok(gcra(limit, stored, server_now).0)
    }
}

/// A message's keys: if none exists, set them all (`EX ttl`) and return 1;
/// else 0. One script, so the check and the writes are atomic on the server.
const REPLAY_SCRIPT: &str = r"
for _, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then return 0 end
end
for _, k in ipairs(KEYS) do
  redis.call('SET', k, '1', 'EX', ARGV[1])
end
return 1
";

/// Webhook replay guard in Redis under `gatepass:replay:<key>`, atomic across
/// every process that shares the server (one script per message).
pub struct RedisReplayGuard {
    conns: Connections,
    script: redis::Script,
}

impl std::fmt::Debug for RedisReplayGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReplayGuard").finish_non_exhaustive()
    }
}

impl RedisReplayGuard {
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Ok(Self {
            conns: Connections::open(url)?,
            script: redis::Script::new(REPLAY_SCRIPT),
        })
    }
}

impl ReplayGuard for RedisReplayGuard {
    fn check_and_remember_all(
        &self,
        keys: &[&str],
        _now_secs: i64,
        ttl_secs: i64,
    ) -> Result<bool, ReplayGuardError> {
        let ttl = ttl_secs.max(1);
        let first: i64 = self
            .conns
            .with(|c| {
                let mut call = self.script.prepare_invoke();
                for key in keys {
                    call.key(format!("gatepass:replay:{key}"));
                }
                call.arg(ttl).invoke(c)
            })
            .map_err(|e| ReplayGuardError::new(e.to_string()))?;
        Ok(first == 1)
    }
}

//! The audit trail: one [`Event`] per lifecycle change of a key, written by
//! the store in the same transaction as the change itself, so a key's state
//! and its history can never disagree (a crash leaves both or neither).
//!
//! What an event holds is decided here, once, for every store and binding:
//! the fields that changed, each as `{"from": …, "to": …}`, and never a
//! secret or a digest. A regenerated key shows its new `start` (the prefix
//! and first characters people already see), not anything of its token.
//! Metadata is the host's own JSON and may hold anything, so a metadata
//! change lists only the names of the top-level entries that changed
//! (`{"metadata": {"keys": ["plan"]}}`), never their values.
//!
//! A call that changes nothing (activating an active key, revoking a revoked
//! one, an update that sets every field to what it already is) writes
//! nothing: no event, and the key's `updated_at` stays as it was. The trail
//! records changes, not attempts.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::base62;
use crate::clock::Millis;
use crate::error::{GateError, StoreError};
use crate::key::KeyRecord;

/// Longest actor name, in bytes.
pub const MAX_ACTOR_LEN: usize = 200;
/// Longest user agent kept, in bytes; a longer one is cut (at a character
/// boundary) rather than refused: it is whatever the client sent, and a
/// change must not fail because of it.
pub const MAX_USER_AGENT_LEN: usize = 512;
/// Largest page of [`crate::Gate::events`].
pub const MAX_EVENT_PAGE: usize = 1_000;
/// The page size when a query asks for none (`limit: 0`).
pub const DEFAULT_EVENT_PAGE: usize = 50;
/// How long events are kept unless configured otherwise
/// (`GATEPASS_EVENTS_RETENTION`, or [`crate::Gate::with_events_retention`]).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(365 * 86_400);
/// How often a gate's background thread deletes events past retention.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3_600);
/// Events deleted per transaction while pruning: each batch is a short
/// transaction, so a writer waiting behind a prune waits for one batch at
/// most, never for the whole prune.
pub const PRUNE_BATCH: usize = 1_000;

/// Who made a change, and from where. The name is the host's own word for
/// the person or program (`"user:42"`, `"cli:alice"`); `ip` and `user_agent`
/// are the request's, when the change came over HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub name: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Actor {
    /// An actor by name; checked when it is used ([`Actor::check`]).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ip: None,
            user_agent: None,
        }
    }

    #[must_use]
    pub fn with_ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }

    #[must_use]
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// The actor of a change made without one: this process, and the
    /// operating-system user running it when the environment says
    /// (`$USER`, `$USERNAME`): `process:1234 (alice)`. Honest about what is
    /// known — a program, not a person who logged in.
    pub fn process() -> Self {
        let users: Vec<String> = ["USER", "USERNAME"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .collect();
        Self::new(process_name(std::process::id(), &users))
    }

    /// Refuses an actor that cannot be recorded as given: an empty or
    /// over-long name, control characters (they would forge lines in a log
    /// or a terminal table), or an `ip` that is not an IP address. A user
    /// agent with control characters is refused too; an over-long one is cut.
    pub fn check(&self) -> Result<(), GateError> {
        if self.name.trim().is_empty()
            || self.name.len() > MAX_ACTOR_LEN
            || self.name.chars().any(char::is_control)
        {
            return Err(GateError::InvalidArgument(format!(
                "actor must be 1 to {MAX_ACTOR_LEN} bytes without control characters"
            )));
        }
        if let Some(ip) = &self.ip {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(GateError::InvalidArgument(
                    "ip must be an IPv4 or IPv6 address".into(),
                ));
            }
        }
        if let Some(ua) = &self.user_agent {
            if ua.chars().any(char::is_control) {
                return Err(GateError::InvalidArgument(
                    "user_agent must not contain control characters".into(),
                ));
            }
        }
        Ok(())
    }

    fn user_agent_kept(&self) -> Option<String> {
        self.user_agent.as_deref().map(|ua| {
            let mut end = ua.len().min(MAX_USER_AGENT_LEN);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            ua[..end].to_owned()
        })
    }
}

/// `process:<pid>`, with the first usable user name in parentheses: its
/// control characters dropped (they would forge log lines) and at most 64
/// characters kept, so the name always passes [`Actor::check`].
fn process_name(pid: u32, users: &[String]) -> String {
    let user = users
        .iter()
        .map(|u| {
            u.chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        })
        .find(|u| !u.trim().is_empty());
    match user {
        Some(user) => format!("process:{pid} ({user})"),
        None => format!("process:{pid}"),
    }
}

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Issued,
    Updated,
    Regenerated,
    Deactivated,
    Activated,
    Revoked,
    Deleted,
    /// Reserved for reports of a leaked token (a later release).
    Leaked,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Self::Issued,
        Self::Updated,
        Self::Regenerated,
        Self::Deactivated,
        Self::Activated,
        Self::Revoked,
        Self::Deleted,
        Self::Leaked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "issued",
            Self::Updated => "updated",
            Self::Regenerated => "regenerated",
            Self::Deactivated => "deactivated",
            Self::Activated => "activated",
            Self::Revoked => "revoked",
            Self::Deleted => "deleted",
            Self::Leaked => "leaked",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown event action {s:?}"))
    }
}

/// One change of one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `evt_` and 16 base62 characters.
    pub id: String,
    pub at: Millis,
    pub key_id: String,
    /// The key's subject (its owner) at the time.
    pub owner: Option<String>,
    pub action: Action,
    pub actor: String,
    /// Field → `{"from": …, "to": …}`; see the module docs for what is kept.
    pub changes: Map<String, Value>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Event {
    /// An event about `key` (as it is after the change), by `actor`.
    pub fn new(
        action: Action,
        key: &KeyRecord,
        at: Millis,
        actor: &Actor,
        changes: Map<String, Value>,
    ) -> Self {
        Self {
            id: new_event_id(),
            at,
            key_id: key.id.clone(),
            owner: key.subject.clone(),
            action,
            actor: actor.name.clone(),
            changes,
            ip: actor.ip.clone(),
            user_agent: actor.user_agent_kept(),
        }
    }
}

/// A fresh event id: `evt_` and 16 random base62 characters.
pub fn new_event_id() -> String {
    let mut s = String::with_capacity(20);
    s.push_str("evt_");
    base62::push_random(&mut s, 16);
    s
}

/// Which events to read, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// Only this key's events.
    pub key: Option<String>,
    /// Only events of keys with this subject.
    pub owner: Option<String>,
    /// Only events at or after this time.
    pub since: Option<Millis>,
    /// The `next` of a previous page.
    pub after: Option<String>,
    /// At most this many ([`MAX_EVENT_PAGE`]); 0 means [`DEFAULT_EVENT_PAGE`].
    pub limit: usize,
}

/// One page of events, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Pass back as `after` for the next (older) page; `None` on the last.
    pub next: Option<String>,
}

/// The query as a store runs it: the cursor decoded into the store's own
/// sequence number (events are numbered in the order they are written, so a
/// page boundary is exact even when events share a millisecond).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub key: Option<String>,
    pub owner: Option<String>,
    pub since: Option<Millis>,
    /// Only events numbered below this.
    pub before: Option<i64>,
    pub limit: usize,
}

/// An event with the store's sequence number, from which cursors are made.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: i64,
    pub event: Event,
}

/// The cursor after `seq`: `ev` and the number, opaque to callers.
pub fn encode_cursor(seq: i64) -> String {
    format!("ev{seq}")
}

/// `None` for anything [`encode_cursor`] did not make.
pub fn decode_cursor(cursor: &str) -> Option<i64> {
    let digits = cursor.strip_prefix("ev")?;
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n: &i64| *n > 0)
}

/// The filter a store runs for `query` (limit one past the page, to learn
/// whether another page follows).
pub fn filter_of(query: &EventQuery) -> Result<EventFilter, GateError> {
    let before = query
        .after
        .as_deref()
        .map(|c| {
            decode_cursor(c)
                .ok_or_else(|| GateError::InvalidArgument("invalid event cursor".into()))
        })
        .transpose()?;
    Ok(EventFilter {
        key: query.key.clone(),
        owner: query.owner.clone(),
        since: query.since,
        before,
        limit: page_size(query.limit) + 1,
    })
}

/// The page size for a requested limit.
pub fn page_size(limit: usize) -> usize {
    if limit == 0 {
        DEFAULT_EVENT_PAGE
    } else {
        limit.min(MAX_EVENT_PAGE)
    }
}

/// A page from at most `limit + 1` stored events.
pub fn page_of(mut stored: Vec<StoredEvent>, limit: usize) -> EventPage {
    let size = page_size(limit);
    let next = if stored.len() > size {
        stored.truncate(size);
        stored.last().map(|e| encode_cursor(e.seq))
    } else {
        None
    };
    EventPage {
        events: stored.into_iter().map(|e| e.event).collect(),
        next,
    }
}

/// Whether a stored event passes `filter` (for stores that filter in memory).
pub fn matches(filter: &EventFilter, seq: i64, event: &Event) -> bool {
    filter.before.is_none_or(|b| seq < b)
        && filter.key.as_ref().is_none_or(|k| &event.key_id == k)
        && filter
            .owner
            .as_ref()
            .is_none_or(|o| event.owner.as_ref() == Some(o))
        && filter.since.is_none_or(|s| event.at >= s)
}

/// A time as it appears in an event's changes: RFC 3339 in UTC with
/// milliseconds, as the management API shows every time.
pub fn rfc3339(at: Millis) -> Value {
    let Ok(ms) = u64::try_from(at) else {
        return Value::from(at);
    };
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    Value::String(humantime::format_rfc3339_millis(t).to_string())
}

fn change(from: Value, to: Value) -> Value {
    json!({ "from": from, "to": to })
}

fn opt_time(t: Option<Millis>) -> Value {
    t.map_or(Value::Null, rfc3339)
}

fn metadata_keys(before: &Map<String, Value>, after: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<String> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(after.keys().filter(|k| !before.contains_key(*k)).cloned())
        .collect();
    keys.sort();
    keys
}

/// The fields that differ between two states of a key, in the form events
/// keep. Usage counters and `last_used_at` are not lifecycle state and never
/// appear; neither does anything secret (a key record holds nothing secret).
pub fn changes_between(before: &KeyRecord, after: &KeyRecord) -> Map<String, Value> {
    let mut out = Map::new();
    if before.name != after.name {
        out.insert("name".into(), change(json!(before.name), json!(after.name)));
    }
    if before.status != after.status {
        out.insert(
            "status".into(),
            change(json!(before.status.as_str()), json!(after.status.as_str())),
        );
    }
    if before.scopes != after.scopes {
        out.insert(
            "scopes".into(),
            change(json!(before.scopes), json!(after.scopes)),
        );
    }
    if before.expires_at != after.expires_at {
        out.insert(
            "expires_at".into(),
            change(opt_time(before.expires_at), opt_time(after.expires_at)),
        );
    }
    if before.rate_limit != after.rate_limit {
        out.insert(
            "rate_limit".into(),
            change(
                json!(before.rate_limit.map(|r| r.to_string())),
                json!(after.rate_limit.map(|r| r.to_string())),
            ),
        );
    }
    if before.remaining != after.remaining {
        out.insert(
            "remaining".into(),
            change(json!(before.remaining), json!(after.remaining)),
        );
    }
    if before.resource != after.resource {
        out.insert(
            "resource".into(),
            change(json!(before.resource), json!(after.resource)),
        );
    }
    if before.start != after.start {
        out.insert(
            "start".into(),
            change(json!(before.start), json!(after.start)),
        );
    }
    let keys = metadata_keys(&before.metadata, &after.metadata);
    if !keys.is_empty() {
        out.insert("metadata".into(), json!({ "keys": keys }));
    }
    out
}

/// What an `issued` event records: every setting the new key has, each from
/// `null`.
pub fn issued_changes(key: &KeyRecord) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("name".into(), change(Value::Null, json!(key.name)));
    out.insert("kind".into(), change(Value::Null, json!(key.kind)));
    out.insert(
        "status".into(),
        change(Value::Null, json!(key.status.as_str())),
    );
    out.insert("scopes".into(), change(Value::Null, json!(key.scopes)));
    out.insert("start".into(), change(Value::Null, json!(key.start)));
    if key.expires_at.is_some() {
        out.insert(
            "expires_at".into(),
            change(Value::Null, opt_time(key.expires_at)),
        );
    }
    if let Some(r) = key.rate_limit {
        out.insert(
            "rate_limit".into(),
            change(Value::Null, json!(r.to_string())),
        );
    }
    if key.remaining.is_some() {
        out.insert(
            "remaining".into(),
            change(Value::Null, json!(key.remaining)),
        );
    }
    if key.resource.is_some() {
        out.insert("resource".into(), change(Value::Null, json!(key.resource)));
    }
    let keys = metadata_keys(&Map::new(), &key.metadata);
    if !keys.is_empty() {
        out.insert("metadata".into(), json!({ "keys": keys }));
    }
    out
}

/// What a `deleted` event records: the status the key had.
pub fn deleted_changes(key: &KeyRecord) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert(
        "status".into(),
        change(json!(key.status.as_str()), Value::Null),
    );
    out
}

/// The action a status change is recorded as.
pub fn status_action(to: crate::key::Status) -> Action {
    match to {
        crate::key::Status::Active => Action::Activated,
        crate::key::Status::Inactive => Action::Deactivated,
        crate::key::Status::Revoked => Action::Revoked,
    }
}

/// The events as JSON text, for stores that keep the changes as text.
pub(crate) fn changes_text(changes: &Map<String, Value>) -> Result<String, StoreError> {
    serde_json::to_string(changes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn changes_from_text(id: &str, text: &str) -> Result<Map<String, Value>, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("event {id}: column changes: {e}")))
}

pub(crate) fn action_from_text(id: &str, text: &str) -> Result<Action, StoreError> {
    text.parse()
        .map_err(|e: String| StoreError::Corrupt(format!("event {id}: column action: {e}")))
}

/// Wakes a pruner thread early (at shutdown). Kept apart from what the thread
/// prunes, so the thread can wait without keeping the gate alive.
#[derive(Debug, Default)]
pub(crate) struct PruneWake {
    stopped: Mutex<bool>,
    condvar: Condvar,
}

impl PruneWake {
    pub(crate) fn stop(&self) {
        *self.stopped.lock() = true;
        self.condvar.notify_all();
    }
}

/// Something that can prune its events now (the gate).
pub(crate) trait Prune: Send + Sync {
    fn prune_now(&self) -> Result<u64, GateError>;
}

/// Runs `target.prune_now()` at start and then every [`PRUNE_EVERY`] on a
/// thread of its own, until `wake.stop()` or until the target is gone. Never
/// on a verification's thread: a prune only ever waits for its own batches.
/// Without a thread (none could be started), events are pruned only when
/// asked ([`crate::Gate::prune_events`]).
pub(crate) fn start_pruner<P: Prune + 'static>(
    target: Weak<P>,
    wake: Arc<PruneWake>,
) -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("gatepass-prune".into())
        .spawn(move || loop {
            match target.upgrade() {
                Some(t) => {
                    // A failed prune (store down) is tried again next time.
                    let _ = t.prune_now();
                }
                None => return,
            }
            let mut stopped = wake.stopped.lock();
            if *stopped {
                return;
            }
            wake.condvar.wait_for(&mut stopped, PRUNE_EVERY);
            if *stopped {
                return;
            }
        })
        .ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_nothing_else_decodes() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor(&encode_cursor(i64::MAX)), Some(i64::MAX));
        for bad in [
            "",
            "ev",
            "ev0",
            "ev-1",
            "ev1x",
            "42",
            "ev99999999999999999999",
            "EV1",
        ] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }

    #[test]
    fn actions_read_back_as_written() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>().unwrap(), a);
            assert_eq!(serde_json::to_value(a).unwrap(), json!(a.as_str()));
        }
        assert!("Issued".parse::<Action>().is_err());
    }

    #[test]
    fn actors_are_bounded_and_free_of_control_characters() {
        assert!(Actor::new("user:42").check().is_ok());
        assert!(Actor::new("x".repeat(MAX_ACTOR_LEN)).check().is_ok());
        assert!(Actor::new("x".repeat(MAX_ACTOR_LEN + 1)).check().is_err());
        assert!(Actor::new("").check().is_err());
        assert!(Actor::new("  ").check().is_err());
        assert!(Actor::new("a\nb").check().is_err());
        assert!(Actor::new("a").with_ip("10.0.0.1").check().is_ok());
        assert!(Actor::new("a").with_ip("::1").check().is_ok());
        assert!(Actor::new("a").with_ip("localhost").check().is_err());
        assert!(Actor::new("a").with_user_agent("ua\r\n").check().is_err());
        assert!(Actor::process().check().is_ok());
        let long = Actor::new("a").with_user_agent("é".repeat(MAX_USER_AGENT_LEN));
        assert!(long.check().is_ok());
        let kept = long.user_agent_kept().unwrap();
        assert!(kept.len() <= MAX_USER_AGENT_LEN && kept.len() >= MAX_USER_AGENT_LEN - 1);
    }

    #[test]
    fn the_process_actor_names_the_first_usable_user() {
        let users = |u: &[&str]| u.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(process_name(7, &[]), "process:7");
        assert_eq!(
            process_name(7, &users(&["alice", "bob"])),
            "process:7 (alice)"
        );
        assert_eq!(process_name(7, &users(&["  ", "bob"])), "process:7 (bob)");
        assert_eq!(process_name(7, &users(&["al\nice"])), "process:7 (alice)");
        let long = process_name(7, &users(&[&"x".repeat(300)]));
        assert_eq!(long, format!("process:7 ({})", "x".repeat(64)));
        assert!(Actor::new(long).check().is_ok());
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size(0), DEFAULT_EVENT_PAGE);
        assert_eq!(page_size(1), 1);
        assert_eq!(page_size(MAX_EVENT_PAGE + 1), MAX_EVENT_PAGE);
    }
}

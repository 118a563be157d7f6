//! `gatepass events`: the audit trail — who issued, changed, revoked or
//! deleted which key, newest first.

use gatepass_core::audit::{Event, EventQuery};

use crate::args::EventsArgs;
use crate::json::Json;
use crate::output::{table, Output};
use crate::time::{iso, seconds};
use crate::{since_arg, Context, Failure, EXIT_OK};

/// Page size when `--all` walks every page.
const ALL_PAGE_SIZE: usize = 500;

pub fn run(ctx: &Context<'_>, a: &EventsArgs, o: &mut Output<'_>) -> Result<i32, Failure> {
    let since = a
        .since
        .as_deref()
        .map(|s| since_arg(s, ctx.gate.now()))
        .transpose()?;
    let query = |after: Option<String>, limit: usize| EventQuery {
        key: a.key.clone(),
        owner: a.owner.clone(),
        since,
        after,
        limit,
    };
    let fetch = |q: EventQuery| ctx.gate.events(&q).map_err(|e| ctx.failure(&e));
    let (events, next) = if a.all {
        let mut events = Vec::new();
        let mut after = None;
        loop {
            let page = fetch(query(after, ALL_PAGE_SIZE))?;
            events.extend(page.events);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        (events, None)
    } else {
        let page = fetch(query(a.after.clone(), a.limit))?;
        (page.events, page.next)
    };
    let mut text = if events.is_empty() {
        "No events.".to_owned()
    } else {
        events_table(&events)
    };
    if let Some(next) = &next {
        text.push_str(&format!("\n\nMore: --after {next}"));
    }
    let data = Json::object([
        (
            "events",
            Json::Array(events.iter().map(event_json).collect()),
        ),
        ("next", next.clone().into()),
    ]);
    o.emit(&data, &text);
    Ok(EXIT_OK)
}

fn events_table(events: &[Event]) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                seconds(e.at),
                e.key_id.clone(),
                e.action.as_str().to_owned(),
                e.actor.clone(),
                e.owner.clone().unwrap_or_else(|| "-".into()),
                if e.changes.is_empty() {
                    "-".into()
                } else {
                    e.changes.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            ]
        })
        .collect();
    table(&["AT", "KEY", "ACTION", "ACTOR", "OWNER", "CHANGED"], &rows)
}

/// An event as `--json` shows it; `changes` holds `{"from": …, "to": …}`
/// per field, never a secret.
fn event_json(e: &Event) -> Json {
    Json::object([
        ("id", e.id.as_str().into()),
        ("at", iso(e.at).into()),
        ("key_id", e.key_id.as_str().into()),
        ("owner", e.owner.clone().into()),
        ("action", e.action.as_str().into()),
        ("actor", e.actor.as_str().into()),
        (
            "changes",
            Json::from(&serde_json::Value::Object(e.changes.clone())),
        ),
        ("ip", e.ip.clone().into()),
        ("user_agent", e.user_agent.clone().into()),
    ])
}

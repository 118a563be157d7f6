//! `gatepass console`: the API Tokens page and the management API for
//! every owner's keys, served on the loopback interface for the person at
//! the machine, who opens the one-time login URL it prints.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use gatepass_core::manage::console;
use gatepass_core::Gate;

use crate::args::ConsoleArgs;
use crate::json::Json;
use crate::output::Output;
use crate::{Failure, EXIT_OK};

pub fn run(gate: Arc<Gate>, a: &ConsoleArgs, o: &mut Output<'_>) -> Result<i32, Failure> {
    let host = a.host.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let as_json = o.as_json;
    console::serve(gate, SocketAddr::new(host, a.port), |url| {
        // Shown at once, since the server blocks from here on; the URL logs
        // in once, so it goes only to the person who started the console.
        let text = if as_json {
            Json::object([("url", url.into())]).compact()
        } else {
            format!(
                "gatepass console: open {url}\n(the link logs in once; Ctrl-C stops the console)"
            )
        };
        o.line(&text);
    })
    .map_err(|e| Failure::coded("config_error", e.to_string()))?;
    Ok(EXIT_OK)
}

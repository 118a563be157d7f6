//! The console and what the browser tests need around it, on one store:
//!
//! ```text
//! cargo run -p gatepass-core --features console --example console -- serve   STORE [POLICY]
//! cargo run -p gatepass-core --features console --example console -- protect STORE [POLICY]
//! cargo run -p gatepass-core --features console --example console -- issue   STORE [POLICY] NAME SUBJECT [COUNT]
//! ```
//!
//! `serve` is what `gatepass console` runs: the page in operator mode on a
//! free port of 127.0.0.1, printing the one-time login URL. `protect` is a
//! separate process guarding `GET /protected` with a token from the same
//! store (the app whose requests the page's usage counts and statuses
//! follow); it prints its URL. `issue` issues keys for an owner and prints
//! the tokens, one a line. A POLICY of `-` means none.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use gatepass_core::{Gate, IssueRequest, Policy, Requirement};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match run(&args) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("console example: {message}");
            2
        }
    };
    std::process::exit(code);
}

fn open(args: &[String]) -> Result<Gate, String> {
    let store = args.get(1).ok_or("missing STORE")?;
    let policy = match args.get(2).map(String::as_str) {
        None | Some("-") => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            Some(Policy::from_toml(&text).map_err(|e| e.to_string())?)
        }
    };
    Gate::open(store, policy).map_err(|e| e.to_string())
}

fn run(args: &[String]) -> Result<(), String> {
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    match args.first().map(String::as_str) {
        Some("serve") => {
            let gate = Arc::new(open(args)?);
            gatepass_core::manage::console::serve(gate, loopback, |url| {
                println!("{url}");
                let _ = std::io::stdout().flush();
            })
            .map_err(|e| e.to_string())
        }
        Some("protect") => protect(Arc::new(open(args)?), loopback),
        Some("issue") => {
            let gate = open(args)?;
            let name = args.get(3).ok_or("missing NAME")?;
            let subject = args.get(4).ok_or("missing SUBJECT")?;
            let count: usize = args
                .get(5)
                .map_or(Ok(1), |n| n.parse())
                .map_err(|_| "COUNT")?;
            for i in 0..count {
                let issued = gate
                    .issue(IssueRequest {
                        name: if count == 1 {
                            name.clone()
                        } else {
                            format!("{name} {i}")
                        },
                        subject: Some(subject.clone()),
                        ..IssueRequest::default()
                    })
                    .map_err(|e| e.to_string())?;
                println!("{}", issued.token.expose());
            }
            gate.flush().map_err(|e| e.to_string())
        }
        _ => Err("usage: serve|protect|issue STORE [POLICY] …".into()),
    }
}

/// `GET /protected` answered as every framework helper answers it: 200 with
/// the key's id, or the core's problem for the refusal.
fn protect(gate: Arc<Gate>, addr: SocketAddr) -> Result<(), String> {
    let server = tiny_http::Server::http(addr).map_err(|e| e.to_string())?;
    let port = server
        .server_addr()
        .to_ip()
        .map(|a| a.port())
        .ok_or("no port")?;
    println!("http://127.0.0.1:{port}/protected");
    let _ = std::io::stdout().flush();
    let requirement = Requirement::none();
    for request in server.incoming_requests() {
        let authorization = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Authorization"))
            .map(|h| h.value.as_str().as_bytes().to_vec());
        let (status, headers, body) =
            match gate.verify(authorization.as_deref(), &requirement, None) {
                Ok(verification) => {
                    let http = verification.http();
                    match http.problem {
                        None => (
                            200,
                            vec![("Content-Type".to_owned(), "application/json".to_owned())],
                            serde_json::json!({
                                "key": verification.key.as_ref().map(|k| k.id.clone()),
                            })
                            .to_string(),
                        ),
                        Some(problem) => {
                            let mut headers = http.headers;
                            headers.push((
                                "Content-Type".to_owned(),
                                "application/problem+json".to_owned(),
                            ));
                            (http.status, headers, problem.to_json())
                        }
                    }
                }
                Err(e) => (503, Vec::new(), e.to_string()),
            };
        let mut response = tiny_http::Response::from_string(body).with_status_code(status);
        for (name, value) in headers {
            if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                response.add_header(header);
            }
        }
        let _ = request.respond(response);
    }
    Ok(())
}

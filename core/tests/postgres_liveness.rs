//! The Postgres store through a TCP proxy that this test controls:
//!
//! - a `LISTEN` connection that stops delivering (the proxy keeps the sockets
//!   open and forwards nothing, as a half-open connection or a pooler that
//!   drops notifications would) must not hide a revocation until the cache's
//!   30 s lifetime runs out;
//! - while the server is unreachable, calls fail at once and say why, and
//!   the store recovers when the server is back.
//!
//! Timings are printed, not asserted; the only deadlines are far above what
//! the mechanism needs and below what the old behaviour took.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatepass_core::store::postgres::PostgresStore;
use gatepass_core::{Gate, GateError, IssueRequest, Outcome, Policy, Requirement};

/// One proxied connection.
struct Link {
    client: TcpStream,
    server: TcpStream,
    /// The client sent `LISTEN` on it.
    listens: AtomicBool,
    /// Bytes are held, in both directions, while set.
    stalled: AtomicBool,
}

struct ProxyState {
    target: String,
    links: Mutex<Vec<Arc<Link>>>,
    /// While set, the port refuses connections.
    down: AtomicBool,
    stop: AtomicBool,
}

struct Proxy {
    port: u16,
    state: Arc<ProxyState>,
}

fn pump(mut from: TcpStream, mut to: TcpStream, link: &Link, from_client: bool) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if from_client && buf[..n].windows(6).any(|w| w == b"LISTEN") {
            link.listens.store(true, Ordering::Release);
        }
        while link.stalled.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Proxy {
    fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(ProxyState {
            target: target.to_owned(),
            links: Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            let mut listener = Some(listener);
            while !shared.stop.load(Ordering::Acquire) {
                if shared.down.load(Ordering::Acquire) {
                    // Closed port: connections are refused, as by a stopped server.
                    listener = None;
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                let l = listener.get_or_insert_with(|| {
                    let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
                    l.set_nonblocking(true).unwrap();
                    l
                });
                l.set_nonblocking(true).unwrap();
                let client = match l.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(&shared.target) else {
                    continue;
                };
                let link = Arc::new(Link {
                    client: client.try_clone().unwrap(),
                    server: server.try_clone().unwrap(),
                    listens: AtomicBool::new(false),
                    stalled: AtomicBool::new(false),
                });
                shared.links.lock().unwrap().push(Arc::clone(&link));
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let up = Arc::clone(&link);
                std::thread::spawn(move || pump(client, server, &up, true));
                std::thread::spawn(move || pump(s2, c2, &link, false));
            }
        });
        Self { port, state }
    }

    /// Stops forwarding on every connection that has sent `LISTEN`, leaving
    /// its sockets open; returns how many.
    fn stall_listeners(&self) -> usize {
        let links = self.state.links.lock().unwrap();
        let mut n = 0;
        for link in links.iter().filter(|l| l.listens.load(Ordering::Acquire)) {
            link.stalled.store(true, Ordering::Release);
            n += 1;
        }
        n
    }

    /// Closes every connection and refuses new ones.
    fn go_down(&self) {
        self.state.down.store(true, Ordering::Release);
        for link in self.state.links.lock().unwrap().drain(..) {
            let _ = link.client.shutdown(Shutdown::Both);
            let _ = link.server.shutdown(Shutdown::Both);
        }
    }

    fn go_up(&self) {
        self.state.down.store(false, Ordering::Release);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Release);
        for link in self.state.links.lock().unwrap().drain(..) {
            link.stalled.store(false, Ordering::Release);
            let _ = link.client.shutdown(Shutdown::Both);
            let _ = link.server.shutdown(Shutdown::Both);
        }
    }
}

/// `(url through the proxy, proxy)` for a fresh schema, or `None` without
/// the test server.
fn proxied() -> Option<(String, String, Proxy)> {
    let url = common::fresh_postgres_schema()?;
    let host_start = url.find('@').unwrap() + 1;
    let host_end = host_start + url[host_start..].find('/').unwrap();
    let proxy = Proxy::start(&url[host_start..host_end]);
    let through = format!(
        "{}127.0.0.1:{}{}",
        &url[..host_start],
        proxy.port,
        &url[host_end..]
    );
    Some((url, through, proxy))
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    t0.elapsed()
}

fn outcome(gate: &Gate, header: &str) -> Result<Outcome, GateError> {
    gate.verify(Some(header.as_bytes()), &Requirement::none(), None)
        .map(|v| v.outcome)
}

fn issue(gate: &Gate, name: &str) -> (String, String) {
    let issued = gate
        .issue(IssueRequest {
            name: name.into(),
            ..Default::default()
        })
        .unwrap();
    (
        issued.key.id.clone(),
        format!("Bearer {}", issued.token.expose()),
    )
}

/// Below the cache's 30 s lifetime, which alone ended the stale answers
/// before: a listener that blocked on a dead connection kept counting as
/// connected.
const HIDDEN_AT_MOST: Duration = Duration::from_secs(20);

#[test]
fn a_listen_connection_that_stops_delivering_does_not_hide_revocations() {
    let Some((direct, through, proxy)) = proxied() else {
        return;
    };
    let store = Arc::new(PostgresStore::open(&through).unwrap());
    let watched = Gate::new(store.clone(), Policy::default());
    let writer = Gate::open(&direct, None).unwrap();
    wait_until("the listener proves its path", HIDDEN_AT_MOST, || {
        store.is_listening()
    });

    let (id, header) = issue(&writer, "watched");
    assert_eq!(outcome(&watched, &header).unwrap(), Outcome::Valid);
    assert_eq!(outcome(&watched, &header).unwrap(), Outcome::Valid);

    assert!(proxy.stall_listeners() >= 1, "no LISTEN connection seen");
    let t0 = Instant::now();
    writer.revoke(&id).unwrap();
    let mut stale_answers = 0;
    let hidden = wait_until("the revocation is seen", HIDDEN_AT_MOST, || {
        match outcome(&watched, &header) {
            Ok(Outcome::Revoked) => true,
            Ok(Outcome::Valid) => {
                stale_answers += 1;
                false
            }
            other => panic!("unexpected {other:?}"),
        }
    });
    eprintln!(
        "revocation behind a stalled LISTEN connection seen after {} ms \
         ({stale_answers} cached answers before); bound: probe every {:?}, back within {:?}",
        hidden.as_millis(),
        gatepass_core::store::postgres::PROBE_EVERY,
        gatepass_core::store::postgres::PROBE_WITHIN,
    );
    assert!(t0.elapsed() >= hidden);

    // The listener gives the stalled connection up and proves a new one;
    // notifications then work again (the path, not the bypass).
    let back = wait_until("the listener reconnects", HIDDEN_AT_MOST, || {
        store.is_listening()
    });
    eprintln!("listener proven again {} ms later", back.as_millis());
    let (id, header) = issue(&writer, "after");
    assert_eq!(outcome(&watched, &header).unwrap(), Outcome::Valid);
    assert!(store.is_listening(), "listener dropped again");
    writer.revoke(&id).unwrap();
    let seen = wait_until("the next revocation is seen", HIDDEN_AT_MOST, || {
        outcome(&watched, &header).unwrap() == Outcome::Revoked
    });
    eprintln!(
        "revocation over the new LISTEN connection seen after {} ms",
        seen.as_millis()
    );
}

/// The error names the network failure (refused, or reset for a connection
/// caught in the closing port's queue), not just that a pool timed out.
fn assert_says_why(text: &str) {
    assert!(
        text.contains("Connection refused") || text.contains("Connection reset"),
        "{text}"
    );
    assert!(!text.contains("timed out waiting for connection"), "{text}");
}

#[test]
fn calls_fail_fast_with_the_reason_while_the_server_is_down_and_recover() {
    let Some((_, through, proxy)) = proxied() else {
        return;
    };
    let store = Arc::new(PostgresStore::open(&through).unwrap());
    let gate = Arc::new(Gate::new(store.clone(), Policy::default()));
    let (_, header) = issue(&gate, "outage");
    wait_until("the listener proves its path", HIDDEN_AT_MOST, || {
        store.is_listening()
    });

    proxy.go_down();
    wait_until("the listener notices", HIDDEN_AT_MOST, || {
        !store.is_listening()
    });
    // Every verify is a store read now (no proven listener: no cache).
    let t0 = Instant::now();
    let concurrent: Vec<_> = (0..3)
        .map(|_| {
            let gate = Arc::clone(&gate);
            let header = header.clone();
            std::thread::spawn(move || {
                let e = outcome(&gate, &header).unwrap_err();
                (e, t0.elapsed())
            })
        })
        .collect();
    let mut times = Vec::new();
    for t in concurrent {
        let (e, at) = t.join().unwrap();
        assert_eq!(e.code(), "store_unavailable");
        assert_says_why(&e.to_string());
        times.push(at.as_millis());
    }
    let t1 = Instant::now();
    let mut fast = 0;
    for _ in 0..10 {
        let e = outcome(&gate, &header).unwrap_err();
        assert_eq!(e.code(), "store_unavailable");
        let text = e.to_string();
        assert_says_why(&text);
        // Answered from what is known, without waiting for the pool. Not
        // asserted for every call: one call per second may be the one that
        // tries again, if the listener has not failed in the meantime.
        if text.contains("failing fast") {
            fast += 1;
        }
    }
    assert!(fast > 0, "no call failed fast while the server was down");
    eprintln!(
        "during the outage: 3 concurrent verifies failed after {times:?} ms, \
         10 more ({fast} failing fast) in {} ms in all",
        t1.elapsed().as_millis()
    );

    proxy.go_up();
    let recovered = wait_until("the store recovers", Duration::from_secs(30), || {
        matches!(outcome(&gate, &header), Ok(Outcome::Valid))
    });
    eprintln!(
        "valid again {} ms after the server came back",
        recovered.as_millis()
    );
}

#[test]
fn a_missing_database_is_named_at_once() {
    let Some(url) = common::service_url("GATEPASS_TEST_POSTGRES_URL") else {
        return;
    };
    let host_end = url.rfind('/').unwrap();
    let missing = format!("{}/gatepass_no_such_database", &url[..host_end]);
    let e = PostgresStore::open(&missing).unwrap_err();
    assert_eq!(e.code(), "store_unavailable");
    assert!(
        e.to_string()
            .contains("database \"gatepass_no_such_database\" does not exist"),
        "{e}"
    );
}

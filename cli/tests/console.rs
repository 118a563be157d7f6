//! `gatepass console` as a user starts it: the built binary in a
//! subprocess on a SQLite file, driven over real HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

struct Console(Child);

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 request; the whole answer as text.
fn http(host: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| unreachable!("connect: {e}"));
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| unreachable!("write: {e}"));
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn the_console_prints_a_login_link_that_works_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("tempdir: {e}"));
    let store = format!("sqlite:///{}", dir.path().join("console.db").display());
    let issued = Command::new(env!("CARGO_BIN_EXE_gatepass"))
        .args(["--store", &store, "keys", "issue", "Seen in the console"])
        .env_remove("GATEPASS_POLICY")
        .current_dir(dir.path())
        .output()
        .unwrap_or_else(|e| unreachable!("issue: {e}"));
    assert!(issued.status.success());

    let mut child = Command::new(env!("CARGO_BIN_EXE_gatepass"))
        .args(["--store", &store, "console", "--port", "0"])
        .env_remove("GATEPASS_POLICY")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| unreachable!("spawn: {e}"));
    let stdout = child.stdout.take();
    let console = Console(child);
    let mut first = String::new();
    BufReader::new(stdout.unwrap_or_else(|| unreachable!("stdout")))
        .read_line(&mut first)
        .unwrap_or_else(|e| unreachable!("read: {e}"));
    let url = first
        .trim()
        .strip_prefix("gatepass console: open http://")
        .unwrap_or_else(|| unreachable!("first line: {first:?}"));
    let (host, path) = url.split_once('/').unwrap_or((url, ""));

    let login = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let answer = http(host, &login);
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    let cookie = answer
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| unreachable!("no cookie: {answer}"))
        .to_owned();
    // The link is spent.
    assert!(!http(host, &login).starts_with("HTTP/1.1 303"));

    let keys = http(
        host,
        &format!(
            "GET /keys HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(keys.starts_with("HTTP/1.1 200"), "{keys}");
    assert!(keys.contains("Seen in the console"));
    let page = http(
        host,
        &format!("GET / HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"),
    );
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("<html"),
        "{page}"
    );
    drop(console);
}

#[test]
fn the_console_listens_on_loopback_only() {
    let done = Command::new(env!("CARGO_BIN_EXE_gatepass"))
        .args(["--store", "memory://", "console", "--host", "0.0.0.0"])
        .output()
        .unwrap_or_else(|e| unreachable!("run: {e}"));
    assert_eq!(done.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&done.stderr).contains("loopback"));
}

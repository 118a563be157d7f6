//! A gate in a child process (this test binary run again), driven over
//! stdin/stdout, for tests that need several processes on one store.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use gatepass_core::{Gate, Outcome, Requirement};

/// The store URL handed to the child.
const ENV_URL: &str = "GATEPASS_TEST_CHILD_STORE";

pub fn unix_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros()
}

/// Child: reads commands from stdin.
/// `watch <token>`: verify until valid (cache warm), print READY, then verify
/// in a tight loop until the outcome is not valid and print `SEEN <code> <µs>`.
/// `revoke <id>`: revoke the key, print `REVOKED`.
/// `check <token>`: print `OUTCOME <code>` for one verify (errors print `OUTCOME error`).
/// `until-valid <token>`: verify until valid, print `VALID after <µs> µs and <n> refusals`.
/// `hammer <token> <n>`: verify `n` times, flush, print `HAMMERED <valid count>`.
/// `churn <token> <id> <marker>`: verify and read the key until valid, print
/// READY, then verify and read it in a tight loop until the outcome is not
/// valid and print `SEEN <code> <errors>`, or `SEEN stale <errors>` a minute
/// after the file `marker` appeared (`errors` counts failed verifies and reads).
pub fn serve() {
    let Ok(url) = std::env::var(ENV_URL) else {
        return;
    };
    let gate = Gate::open(&url, None).unwrap();
    let mut out = std::io::stdout();
    let verify = |token: &str| {
        let header = format!("Bearer {token}");
        gate.verify(Some(header.as_bytes()), &Requirement::none(), None)
            .map(|v| v.outcome)
    };
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next()) {
            (Some("hammer"), Some(token)) => {
                let n: usize = parts.next().unwrap().parse().unwrap();
                let valid = (0..n)
                    .filter(|_| verify(token).ok() == Some(Outcome::Valid))
                    .count();
                gate.flush().unwrap();
                writeln!(out, "\nHAMMERED {valid}").unwrap();
            }
            (Some("watch"), Some(token)) => {
                while verify(token).ok() != Some(Outcome::Valid) {}
                writeln!(out, "\nREADY").unwrap();
                out.flush().unwrap();
                let outcome = loop {
                    match verify(token) {
                        Ok(Outcome::Valid) | Err(_) => continue,
                        Ok(other) => break other,
                    }
                };
                writeln!(out, "\nSEEN {} {}", outcome.code(), unix_micros()).unwrap();
            }
            (Some("churn"), Some(token)) => {
                let id = parts.next().unwrap();
                let revoked_marker = std::path::PathBuf::from(parts.next().unwrap());
                while verify(token).ok() != Some(Outcome::Valid) {}
                writeln!(out, "\nREADY").unwrap();
                out.flush().unwrap();
                // A missed revocation must fail the test, not hang it: once
                // the parent has revoked (and created the marker file), the
                // loop gives up after a generous while. No bound runs while
                // the parent is still at work, however slow the machine; a
                // parent that died (a failed test) ends the loop too.
                let parent = std::os::unix::process::parent_id();
                let mut given_up_at = None;
                let mut errors = 0u64;
                let mut i = 0u64;
                let seen = loop {
                    i += 1;
                    if i % 1024 == 0 {
                        let now = std::time::Instant::now();
                        if given_up_at.is_none() && revoked_marker.exists() {
                            given_up_at = Some(now + std::time::Duration::from_secs(60));
                        }
                        if given_up_at.is_some_and(|at| now > at) {
                            break "stale";
                        }
                        if std::os::unix::process::parent_id() != parent {
                            break "orphaned";
                        }
                    }
                    errors += u64::from(gate.get(id).is_err());
                    match verify(token) {
                        Ok(Outcome::Valid) => {}
                        Ok(other) => break other.code(),
                        Err(_) => errors += 1,
                    }
                };
                writeln!(out, "\nSEEN {seen} {errors}").unwrap();
            }
            (Some("revoke"), Some(id)) => {
                gate.revoke(id).unwrap();
                writeln!(out, "\nREVOKED").unwrap();
            }
            (Some("until-valid"), Some(token)) => {
                let (start, mut refused) = (std::time::Instant::now(), 0u64);
                while verify(token).ok() != Some(Outcome::Valid) {
                    refused += 1;
                }
                let waited = start.elapsed().as_micros();
                writeln!(out, "\nVALID after {waited} µs and {refused} refusals").unwrap();
            }
            (Some("check"), Some(token)) => {
                let code = verify(token).map_or("error", |o| o.code());
                writeln!(out, "\nOUTCOME {code}").unwrap();
            }
            _ => break,
        }
        out.flush().unwrap();
    }
}

pub struct ChildGate {
    child: Child,
    stdin: ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl ChildGate {
    /// Spawns the calling test binary's `child_process` test, which must call [`serve`].
    pub fn spawn(url: &str) -> Self {
        Self::spawn_command(Command::new(std::env::current_exe().unwrap()), url)
    }

    /// [`spawn`](Self::spawn) under a given umask (through `sh`), whatever
    /// the test runner's own.
    pub fn spawn_with_umask(url: &str, umask: &str) -> Self {
        let mut sh = Command::new("sh");
        sh.args(["-c", &format!("umask {umask} && exec \"$0\" \"$@\"")])
            .arg(std::env::current_exe().unwrap());
        Self::spawn_command(sh, url)
    }

    fn spawn_command(mut command: Command, url: &str) -> Self {
        let mut child = command
            .args([
                "--exact",
                "child_process",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV_URL, url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            stdin,
            lines,
        }
    }

    pub fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The rest of the next line that starts with `marker`.
    pub fn expect(&mut self, marker: &str) -> String {
        loop {
            let line = self.lines.next().expect("child exited").unwrap();
            if let Some(rest) = line.trim().strip_prefix(marker) {
                return rest.trim().to_owned();
            }
        }
    }

    /// Waits for the child to exit after `quit`; `Err` with its status when it
    /// did not exit cleanly (a crash shows here as a signal).
    pub fn try_finish(mut self) -> Result<(), std::process::ExitStatus> {
        self.send_quietly("quit");
        drop(self.stdin);
        let status = self.child.wait().unwrap();
        if status.success() {
            Ok(())
        } else {
            Err(status)
        }
    }

    /// Like [`send`](Self::send), ignoring a child that already exited.
    fn send_quietly(&mut self, line: &str) {
        let _ = writeln!(self.stdin, "{line}").and_then(|()| self.stdin.flush());
    }

    /// The rest of the next line that starts with `marker`, or `None` when
    /// the child exited first.
    pub fn try_expect(&mut self, marker: &str) -> Option<String> {
        loop {
            let line = self.lines.next()?.ok()?;
            if let Some(rest) = line.trim().strip_prefix(marker) {
                return Some(rest.trim().to_owned());
            }
        }
    }

    pub fn finish(mut self) {
        self.send("quit");
        drop(self.stdin);
        assert!(self.child.wait().unwrap().success());
    }
}

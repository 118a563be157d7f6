//! Several processes and threads on one SQLite file: revocations are seen by
//! another process on its very next verify, and concurrent usage counting
//! loses nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::child::{self, ChildGate};
use gatepass_core::store::{SqliteStore, Store};
use gatepass_core::token::new_key_id;
use gatepass_core::{Gate, IssueRequest, Issued, Outcome, Requirement, Token};

const HAMMER_COUNT: u64 = 3_000;

/// Runs only when spawned by the tests below.
#[test]
#[ignore = "child process of the multi-process tests"]
fn child_process() {
    child::serve();
}

/// A new SQLite file with one key on it.
fn shared_file(name: &str) -> (tempfile::TempDir, String, Gate, Issued) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite:///{}",
        dir.path().join(format!("{name}.db")).display()
    );
    let gate = Gate::open(&url, None).unwrap();
    let issued = gate
        .issue(IssueRequest {
            name: name.into(),
            ..Default::default()
        })
        .unwrap();
    (dir, url, gate, issued)
}

fn verify(gate: &Gate, issued: &Issued) -> Outcome {
    let header = format!("Bearer {}", issued.token.expose());
    gate.verify(Some(header.as_bytes()), &Requirement::none(), None)
        .unwrap()
        .outcome
}

#[test]
fn another_process_sees_each_change_on_its_next_verify() {
    let (_dir, url, gate, issued) = shared_file("shared");
    let mut child = ChildGate::spawn(&url);
    let id = &issued.key.id;
    let mut ask = |token: &str| {
        child.send(&format!("check {token}"));
        child.expect("OUTCOME")
    };
    let token = issued.token.expose();

    // Each answer comes from a child whose cache was warm a moment before.
    assert_eq!(ask(token), "valid");
    assert_eq!(ask(token), "valid");
    gate.deactivate(id).unwrap();
    assert_eq!(ask(token), "inactive");
    gate.activate(id).unwrap();
    assert_eq!(ask(token), "valid");
    let rotated = gate.rotate(id, Duration::ZERO).unwrap();
    assert_eq!(ask(token), "revoked", "old secret after rotation");
    assert_eq!(ask(rotated.token.expose()), "valid");
    gate.revoke(id).unwrap();
    assert_eq!(ask(rotated.token.expose()), "revoked");
    child.finish();
}

#[test]
fn processes_hammering_one_key_lose_no_usage() {
    let (_dir, url, gate, issued) = shared_file("hot");
    let mut children: Vec<ChildGate> = (0..2).map(|_| ChildGate::spawn(&url)).collect();
    for c in &mut children {
        c.send(&format!("hammer {} {HAMMER_COUNT}", issued.token.expose()));
    }
    // The parent hammers too, while the children run.
    for _ in 0..HAMMER_COUNT {
        assert_eq!(verify(&gate, &issued), Outcome::Valid);
    }
    for mut c in children {
        assert_eq!(c.expect("HAMMERED"), HAMMER_COUNT.to_string());
        c.finish();
    }
    assert_eq!(
        gate.get(&issued.key.id).unwrap().usage_count,
        3 * HAMMER_COUNT
    );
}

#[test]
fn threads_sharing_one_gate_and_file_lose_no_usage() {
    let (_dir, url, gate, issued) = shared_file("threads");
    let gate = Arc::new(gate);
    let second = Arc::new(Gate::open(&url, None).unwrap());
    let issued = Arc::new(issued);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let g = if i % 2 == 0 {
                Arc::clone(&gate)
            } else {
                Arc::clone(&second)
            };
            let issued = Arc::clone(&issued);
            std::thread::spawn(move || {
                for _ in 0..1_000 {
                    assert_eq!(verify(&g, &issued), Outcome::Valid);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    second.flush().unwrap();
    assert_eq!(gate.get(&issued.key.id).unwrap().usage_count, 4_000);
}

#[test]
fn usage_reaches_the_store_while_the_process_is_idle() {
    let (_dir, url, gate, issued) = shared_file("idle");
    let reader = Gate::open(&url, None).unwrap();
    for _ in 0..3 {
        assert_eq!(verify(&gate, &issued), Outcome::Valid);
    }
    // No flush, no further request: the background flush must write them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while reader.get(&issued.key.id).unwrap().usage_count < 3 {
        assert!(Instant::now() < deadline, "usage never flushed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(reader.get(&issued.key.id).unwrap().usage_count, 3);
}

/// The database file behind a URL made by [`shared_file`].
fn db_file(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(format!("{name}.db"))
}

/// Runs `program args`, a process that is not gatepass, and returns its
/// standard output; fails the test when it fails or is missing.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed by this test: {e}"));
    assert!(
        out.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A plain SQLite process, the Debian `sqlite3` shell, reading the file.
fn sqlite3_shell(db: &Path) -> String {
    run(
        "sqlite3",
        &[db.to_str().unwrap(), "SELECT count(*) FROM gatepass_keys;"],
    )
}

/// Another plain SQLite process: Python's `sqlite3` module (its own SQLite).
fn python_sqlite3(db: &Path) -> String {
    run(
        "python3",
        &[
            "-c",
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1])\n\
             print(c.execute('SELECT count(*) FROM gatepass_keys').fetchone()[0])\n\
             c.close()",
            db.to_str().unwrap(),
        ],
    )
}

/// What a SQLite process does when it attaches to a WAL index
/// (`unixLockSharedMemory` in SQLite's os_unix.c), done by hand from another
/// process so that it stops half-way: it asks who holds the "DMS" byte (128)
/// of the `-shm` file. Held (shared) means live connections use the index:
/// it joins them. Not held means nobody does: it takes the byte exclusively
/// and truncates the file to 3 bytes before rebuilding it; this script stops
/// there, leaving the index truncated. Prints `held <pid>` or `truncated`;
/// with `truncate` false it only looks, printing `held <pid>` or `unclaimed`.
fn attach_as_sqlite_does(shm: &Path, truncate: bool) -> String {
    let script = "import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR)
flock = 'hhqqi4x'  # struct flock on Linux (l_type, l_whence, l_start, l_len, l_pid)
probe = struct.pack(flock, fcntl.F_WRLCK, os.SEEK_SET, 128, 1, 0)
kind, _, _, _, pid = struct.unpack(flock, fcntl.fcntl(fd, fcntl.F_GETLK, probe))
if kind == fcntl.F_UNLCK and sys.argv[2] == 'look':
    print('unclaimed')
elif kind == fcntl.F_UNLCK:
    fcntl.fcntl(fd, fcntl.F_SETLK, probe)
    os.ftruncate(fd, 3)
    print('truncated')
else:
    print('held', pid)
";
    let mode = if truncate { "truncate" } else { "look" };
    run("python3", &["-c", script, shm.to_str().unwrap(), mode])
        .trim()
        .to_owned()
}

/// Waits for a child's `SEEN` line; a child that exited instead (a crash)
/// fails the test with its exit status.
fn seen(mut child: ChildGate) -> String {
    match child.try_expect("SEEN") {
        Some(seen) => {
            if let Err(status) = child.try_finish() {
                panic!("verifier exited with {status} after {seen}");
            }
            seen
        }
        None => panic!(
            "verifier died: {:?}",
            child.try_finish().err().map(|s| s.to_string())
        ),
    }
}

/// Other processes attach to and detach from the file (new gatepass
/// processes, a second store in this process, the `sqlite3` shell, Python's
/// `sqlite3`) while two gatepass processes verify and read in tight loops:
/// none crashes, none fails a read, and both see the revocation at the end.
/// (Every gatepass process used to drop SQLite's locks on the `-shm` file
/// right after opening it, so each new opener thought it was alone and
/// rebuilt the live index: verifiers died of SIGBUS or read a stale index.)
#[test]
fn processes_attaching_and_detaching_never_crash_a_verifier_nor_hide_a_revocation() {
    let (dir, url, gate, issued) = shared_file("openers");
    let db = db_file(&dir, "openers");
    let busy = gate
        .issue(IssueRequest {
            name: "busy".into(),
            ..Default::default()
        })
        .unwrap();
    let revoked = dir.path().join("revoked");
    let mut verifiers: Vec<ChildGate> = (0..2).map(|_| ChildGate::spawn(&url)).collect();
    for v in &mut verifiers {
        v.send(&format!(
            "churn {} {} {}",
            issued.token.expose(),
            issued.key.id,
            revoked.display()
        ));
        assert_eq!(v.try_expect("READY").as_deref(), Some(""));
    }
    for round in 0..12 {
        ChildGate::spawn(&url).finish();
        assert_eq!(sqlite3_shell(&db).trim(), "2");
        assert_eq!(python_sqlite3(&db).trim(), "2");
        drop(Gate::open(&url, None).unwrap());
        // Commits the verifiers must pick up (their caches empty each time).
        if round % 2 == 0 {
            gate.deactivate(&busy.key.id).unwrap();
        } else {
            gate.activate(&busy.key.id).unwrap();
        }
    }
    gate.revoke(&issued.key.id).unwrap();
    std::fs::write(&revoked, b"").unwrap();
    for v in verifiers {
        assert_eq!(seen(v), "revoked 0", "outcome, failed reads");
    }
}

/// A gatepass process keeps SQLite's shared lock on the `-shm` file's DMS
/// byte for as long as its store is open, so no other process ever takes the
/// index for abandoned.
#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "the probe packs Linux's struct flock"
)]
fn an_open_store_keeps_its_claim_on_the_wal_index() {
    let (dir, url, gate, issued) = shared_file("claim");
    let shm = dir.path().join("claim.db-shm");
    let expected = format!("held {}", std::process::id());
    assert_eq!(attach_as_sqlite_does(&shm, false), expected);
    // Verifications, reads, writes, and a second store opened and closed in
    // this process leave the claim in place.
    assert_eq!(verify(&gate, &issued), Outcome::Valid);
    gate.get(&issued.key.id).unwrap();
    gate.deactivate(&issued.key.id).unwrap();
    drop(Gate::open(&url, None).unwrap());
    assert_eq!(attach_as_sqlite_does(&shm, false), expected);
    assert_eq!(verify(&gate, &issued), Outcome::Inactive);
}

/// The `-shm` file truncated under a warm verifier, the way a SQLite process
/// that finds the index unclaimed truncates it: the verifier (the only
/// process attached) must neither crash nor miss a later revocation. With the
/// claim kept (test above) the truncation never happens; when it did, the
/// next verify died of SIGBUS.
#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "the probe packs Linux's struct flock"
)]
fn a_truncated_wal_index_never_crashes_a_verifier() {
    let (dir, url, gate, issued) = shared_file("truncated");
    let shm = dir.path().join("truncated.db-shm");
    drop(gate);
    let mut verifier = ChildGate::spawn(&url);
    let revoked = dir.path().join("revoked");
    verifier.send(&format!(
        "churn {} {} {}",
        issued.token.expose(),
        issued.key.id,
        revoked.display()
    ));
    assert_eq!(verifier.try_expect("READY").as_deref(), Some(""));
    let attached = attach_as_sqlite_does(&shm, true);
    let mut revoker = ChildGate::spawn(&url);
    revoker.send(&format!("revoke {}", issued.key.id));
    assert_eq!(revoker.expect("REVOKED"), "");
    revoker.finish();
    std::fs::write(&revoked, b"").unwrap();
    assert_eq!(seen(verifier), "revoked 0", "outcome, failed reads");
    assert!(attached.starts_with("held "), "{attached}");
}

/// A `-shm` file left behind in any state (empty, shorter than its header,
/// garbage) by a process that died: the next store to open rebuilds it, and
/// sees changes made by others afterwards.
#[test]
fn a_leftover_wal_index_in_any_state_is_rebuilt_on_open() {
    let (dir, url, gate, issued) = shared_file("leftover");
    let shm = dir.path().join("leftover.db-shm");
    drop(gate);
    let leftovers: [Vec<u8>; 4] = [vec![], vec![0; 3], vec![0xA5; 50], vec![0xFF; 32_768]];
    for (i, leftover) in leftovers.iter().enumerate() {
        std::fs::write(&shm, leftover).unwrap();
        let gate = Gate::open(&url, None).unwrap();
        let other = Gate::open(&url, None).unwrap();
        assert_eq!(verify(&gate, &issued), Outcome::Valid, "leftover {i}");
        other.deactivate(&issued.key.id).unwrap();
        assert_eq!(verify(&gate, &issued), Outcome::Inactive, "leftover {i}");
        other.activate(&issued.key.id).unwrap();
        assert_eq!(verify(&gate, &issued), Outcome::Valid, "leftover {i}");
    }
}

/// The permission bits of a file.
#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A new database, and the `-wal` and `-shm` files next to it, are readable
/// and writable by their owner only, even under the common umask 022 (under
/// which SQLite alone makes all three 0644: it creates the database 0644 less
/// the umask, and gives `-wal` and `-shm` the database file's permissions).
#[test]
#[cfg(unix)]
fn new_database_files_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:///{}", dir.path().join("private.db").display());
    // The child creates the files when it opens the store, and keeps them
    // (`-wal` and `-shm` go when the last connection closes) until it quits.
    let mut child = ChildGate::spawn_with_umask(&url, "022");
    child.send("check gp_not_a_token");
    child.expect("OUTCOME");
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("private.db{suffix}"));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    child.finish();
}

/// An existing database keeps the permissions its operator gave it, and its
/// `-wal` and `-shm` files follow them.
#[test]
#[cfg(unix)]
fn an_existing_database_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
    let gate = Gate::open(&format!("sqlite:///{}", db.display()), None).unwrap();
    gate.issue(IssueRequest {
        name: "k".into(),
        ..Default::default()
    })
    .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("shared.db{suffix}"));
        assert_eq!(mode(&file), 0o640, "{}", file.display());
    }
}

/// `sqlite:///:memory:` names SQLite's in-memory database, not a file: no
/// file of that name is created (whether or not the store then opens).
#[test]
fn an_in_memory_database_creates_no_file() {
    let _ = Gate::open("sqlite:///:memory:", None);
    assert!(!Path::new(":memory:").exists());
}

/// Each process remembers the unknown tokens it was shown; a key stored for
/// one of them by another process (an import, another writer) is found on the
/// very next verify, and so is a key issued elsewhere.
#[test]
fn another_process_finds_a_key_stored_for_a_token_it_remembered_as_unknown() {
    let (dir, url, gate, issued) = shared_file("unknown");
    let mut child = ChildGate::spawn(&url);
    let mut ask = |token: &str| {
        child.send(&format!("check {token}"));
        child.expect("OUTCOME")
    };
    let chosen = Token::mint("gp").unwrap();
    assert_eq!(ask(chosen.expose()), "unknown_key");
    assert_eq!(ask(chosen.expose()), "unknown_key", "remembered");
    let writer = SqliteStore::open(dir.path().join("unknown.db")).unwrap();
    let mut record = issued.key.clone();
    record.id = new_key_id();
    record.start = chosen.start();
    let event = gatepass_core::Event::new(
        gatepass_core::Action::Issued,
        &record,
        record.created_at,
        &gatepass_core::Actor::new("import"),
        serde_json::Map::new(),
    );
    writer.insert(&record, &chosen.digest(), &event).unwrap();
    assert_eq!(ask(chosen.expose()), "valid");
    let fresh = gate
        .issue(IssueRequest {
            name: "fresh".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ask(fresh.token.expose()), "valid");
    gate.delete(&fresh.key.id).unwrap();
    assert_eq!(ask(fresh.token.expose()), "unknown_key");
    child.finish();
}

//! A cheap "has anything been committed?" for a WAL-mode SQLite database,
//! read from the WAL-index header at the start of SQLite's own shared-memory
//! mapping of the `-shm` file (<https://sqlite.org/walformat.html>, "The
//! WAL-Index File Format").
//!
//! Why: `PRAGMA data_version` opens a read transaction, which costs several
//! `fcntl` lock calls; on a verification served from the cache that was most
//! of the time spent (docs/benchmarks.md has the numbers side by side). These
//! 96 bytes are read from memory, as SQLite's own readers read them: no system
//! call at all.
//!
//! Why it is sound that it sees every commit: the header is two 48-byte copies
//! of the same record, and every commit, by any connection in any process,
//! increments the record's change counter (`iChange`) and rewrites both copies
//! (`walIndexWriteHdr`). So two stable reads (both copies equal) that are
//! byte-for-byte the same mean no commit happened in between. Anything else —
//! a changed header, a torn read while a writer is mid-update — counts as "may
//! have changed", and the caller asks SQLite itself. The check can only ever
//! send a caller to the exact, slower check; it never vouches for a change it
//! did not see.
//!
//! Why it is sound to read the memory at all: the header is read from the
//! mapping SQLite made for the store's read connection (`xShmMap` of SQLite's
//! own file handle), not from a mapping of ours. An earlier version opened and
//! mapped the `-shm` file itself and closed its descriptor; on Linux, closing
//! any descriptor of a file drops every POSIX lock the process holds on it,
//! SQLite's included, so the next process to attach believed the index was
//! abandoned, truncated and rebuilt it, and the mapped reader died of SIGBUS.
//! Now no descriptor of the file is ever opened or closed outside SQLite, so
//! SQLite's locks hold for as long as its connection is open; and SQLite only
//! unmaps the region when the last connection of the process to the file
//! detaches, which the store's read connection never does before the watch is
//! dropped. A `-shm` truncated by something that ignores SQLite's locks may
//! fault this read; it faults SQLite's own next read transaction in any case
//! (a plain `sqlite3` process dies of SIGBUS the same way), so the watch adds
//! no exposure SQLite does not have. `core/tests/sqlite_processes.rs` attacks
//! the argument: other processes attaching and detaching, the lock checked
//! from outside, a first opener's truncation, a leftover `-shm`.

use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use rusqlite::{ffi, Connection};

/// Two copies of the 48-byte `WalIndexHdr`.
const HEADER_LEN: usize = 96;
const COPY_LEN: usize = HEADER_LEN / 2;
const WORDS: usize = HEADER_LEN / 4;
/// The size of each region of the WAL index (`WALINDEX_PGSZ`): SQLite maps the
/// index in regions of exactly this size, and region 0 starts with the header.
const REGION_LEN: i32 = 32 * 1024;
/// `WALINDEX_MAX_VERSION`, the first word of a WAL-index header.
const INDEX_VERSION: u32 = 3_007_000;

pub type Header = [u8; HEADER_LEN];

/// The first `HEADER_LEN` bytes of region 0 of SQLite's mapping.
#[derive(Debug)]
struct Region(NonNull<AtomicU32>);

// SAFETY: the pointer is into a `MAP_SHARED` mapping that SQLite keeps for the
// whole process (not per thread) and that is only ever read here, with atomic
// loads, so any thread may hold and use it.
#[allow(unsafe_code)]
unsafe impl Send for Region {}
// SAFETY: as for `Send`: `&Region` gives nothing but atomic loads.
#[allow(unsafe_code)]
unsafe impl Sync for Region {}

#[derive(Debug)]
pub struct WalIndexWatch {
    header: Region,
    /// The last stable header the caller confirmed with SQLite.
    confirmed: Option<Header>,
}

impl WalIndexWatch {
    /// Attaches to the WAL index of `conn`'s main database. `conn` must be in
    /// WAL mode and have run a read transaction (which maps region 0), and
    /// must stay open, and in WAL mode, for as long as the watch lives: the
    /// caller keeps both in one struct and never switches journal modes.
    /// `None` where there is no such index (another journal mode, an
    /// in-memory database, a VFS without shared memory): callers then always
    /// ask SQLite.
    pub fn attach(conn: &Connection) -> Option<Self> {
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .ok()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return None;
        }
        let header = Region(map_region_zero(conn)?);
        let watch = Self {
            header,
            confirmed: None,
        };
        // A header that does not start as SQLite's does is not one.
        (watch.word(0) == INDEX_VERSION).then_some(watch)
    }

    /// The header as it is now, if both copies agree (a writer rewrites the
    /// second copy first, then the first: a read between the two sees them
    /// differ, as SQLite's own readers check).
    pub fn read(&self) -> Option<Header> {
        let mut header = [0u8; HEADER_LEN];
        for (i, bytes) in header.chunks_exact_mut(4).enumerate() {
            bytes.copy_from_slice(&self.word(i).to_ne_bytes());
        }
        let (first, second) = header.split_at(COPY_LEN);
        (first == second).then_some(header)
    }

    /// The `i`th 32-bit word of the header, `i < WORDS`.
    #[allow(unsafe_code)]
    fn word(&self, i: usize) -> u32 {
        // SAFETY: `header` points at the start of region 0 of the WAL index
        // as SQLite mapped it for the connection given to `attach`: 32 KiB,
        // page-aligned, so word `i < WORDS` is in bounds and aligned. The
        // mapping lasts while that connection stays attached (see the module
        // comment), which its owner guarantees for the life of `self`.
        // Other connections and processes write these words through their
        // own mappings at any time; they are only ever read with atomic
        // loads, never through a reference to plain data.
        let word = unsafe { self.header.0.add(i.min(WORDS - 1)).as_ref() };
        word.load(Ordering::Acquire)
    }

    /// True when `now` (from [`read`](Self::read)) is the header last
    /// confirmed: nothing was committed since then.
    pub fn unchanged(&self, now: Option<&Header>) -> bool {
        now.is_some() && now == self.confirmed.as_ref()
    }

    /// Records the header read just *before* the caller's exact check, so a
    /// commit landing between the two makes the next [`unchanged`](Self::unchanged)
    /// false rather than being missed.
    pub fn confirm(&mut self, before: Option<Header>) {
        self.confirmed = before;
    }
}

/// SQLite's own mapping of region 0 of `conn`'s WAL index, asked of SQLite's
/// file handle for the main database (`SQLITE_FCNTL_FILE_POINTER`, then the
/// VFS's `xShmMap` without extending), exactly as SQLite's WAL code asks it.
/// Nothing is opened, mapped, locked or closed that SQLite had not already.
#[allow(unsafe_code)]
fn map_region_zero(conn: &Connection) -> Option<NonNull<AtomicU32>> {
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: `handle` is the live connection `conn` borrows, used by no
    // other thread while borrowed (the store holds its mutex). The file
    // control writes one pointer into `file`.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&raw mut file).cast::<c_void>(),
        )
    };
    if rc != ffi::SQLITE_OK {
        return None;
    }
    // SAFETY: `file` is null or SQLite's open `sqlite3_file` for the main
    // database, which lives as long as the connection; its `pMethods` is
    // null or a static method table. `xShmMap` exists from `iVersion` 2 on.
    let map = unsafe {
        let methods = file.as_ref()?.pMethods.as_ref()?;
        if methods.iVersion < 2 {
            return None;
        }
        methods.xShmMap?
    };
    let mut region: *mut c_void = std::ptr::null_mut();
    // SAFETY: the call SQLite's WAL code makes for region 0 (`walIndexPage`),
    // with the same region size; with `bExtend` 0 it never grows the file.
    // The connection already attached to the index (a read transaction ran),
    // so this opens nothing new: it returns the existing mapping, or null.
    let rc = unsafe {
        map(
            file,
            0,
            REGION_LEN,
            0,
            (&raw mut region).cast::<*mut c_void>(),
        )
    };
    if rc != ffi::SQLITE_OK {
        return None;
    }
    NonNull::new(region.cast::<AtomicU32>())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn wal_db(dir: &Path) -> (PathBuf, Connection) {
        let path = dir.join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        (path, conn)
    }

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_commit_from_another_connection_changes_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = wal_db(dir.path());
        let reader = Connection::open(&path).unwrap();
        count(&reader);
        let mut watch = WalIndexWatch::attach(&reader).expect("a WAL database has an index");
        let before = watch.read();
        assert!(before.is_some(), "a quiet database has a stable header");
        assert!(!watch.unchanged(before.as_ref()), "nothing confirmed yet");
        watch.confirm(before);
        assert!(watch.unchanged(watch.read().as_ref()));
        for i in 0..3 {
            writer.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
            let now = watch.read();
            assert!(!watch.unchanged(now.as_ref()), "commit {i} went unseen");
            watch.confirm(now);
            assert!(watch.unchanged(watch.read().as_ref()));
        }
        // A transaction that is rolled back commits nothing.
        writer
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (9); ROLLBACK;")
            .unwrap();
        assert!(watch.unchanged(watch.read().as_ref()));
    }

    #[test]
    fn the_watch_reads_the_index_sqlite_itself_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = wal_db(dir.path());
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let reader = Connection::open(&path).unwrap();
        count(&reader);
        let watch = WalIndexWatch::attach(&reader).unwrap();
        // The header on disk is the one in memory: same bytes, same mapping.
        // (Reading the file opens and closes a descriptor of it, which drops
        // this process's locks on it: harmless here, with no other process
        // attached, and exactly what the store itself must never do.)
        let on_disk = std::fs::read(dir.path().join("w.db-shm")).unwrap();
        assert_eq!(&watch.read().unwrap()[..], &on_disk[..HEADER_LEN]);
        // And a second attach finds the very same mapping, not a new one.
        let again = WalIndexWatch::attach(&reader).unwrap();
        assert_eq!(again.header.0, watch.header.0);
    }

    #[test]
    fn a_torn_header_never_counts_as_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = wal_db(dir.path());
        let reader = Connection::open(&path).unwrap();
        count(&reader);
        let mut watch = WalIndexWatch::attach(&reader).unwrap();
        let stable = watch.read().unwrap();
        watch.confirm(Some(stable));
        // A writer mid-update: the second copy's change counter moved, the
        // first not yet (written through SQLite's mapping, as a writer does).
        let change_counter = COPY_LEN / 4 + 2;
        let word = unsafe_word(&watch, change_counter);
        word.fetch_add(1, Ordering::AcqRel);
        assert_eq!(watch.read(), None);
        assert!(!watch.unchanged(None));
        word.fetch_sub(1, Ordering::AcqRel);
        assert!(watch.unchanged(watch.read().as_ref()));
        drop(writer);
    }

    /// Write access to a header word, for the torn-read test only.
    #[allow(unsafe_code)]
    fn unsafe_word(watch: &WalIndexWatch, i: usize) -> &AtomicU32 {
        assert!(i < WORDS);
        // SAFETY: as in `WalIndexWatch::word`; the mapping is writable
        // (SQLite maps it read-write) and the test restores the word.
        unsafe { watch.header.0.add(i).as_ref() }
    }

    #[test]
    fn no_wal_index_means_no_watch() {
        let dir = tempfile::tempdir().unwrap();
        let plain = Connection::open(dir.path().join("plain.db")).unwrap();
        plain.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        assert!(WalIndexWatch::attach(&plain).is_none(), "rollback journal");
        let memory = Connection::open_in_memory().unwrap();
        memory.pragma_update(None, "journal_mode", "WAL").unwrap();
        assert!(WalIndexWatch::attach(&memory).is_none(), "in memory");
    }
}

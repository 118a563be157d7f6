//! A cheap "has anything been committed?" for a WAL-mode SQLite database,
//! read from the WAL-index header at the start of its `-shm` file
//! (<https://sqlite.org/walformat.html>, "The WAL-Index File Format").
//!
//! Why: `PRAGMA data_version` opens a read transaction, which costs several
//! `fcntl` lock calls; on a verification served from the cache that was most
//! of the time spent. These 96 bytes are read from a shared mapping of the
//! file, as SQLite's own readers read them: no system call at all, where
//! even one `pread` per request measured ~7 µs of server CPU under load on
//! the benchmark machine (kernel entry and exit disturb the caches of
//! everything after them).
//!
//! Why it is sound: the header is two 48-byte copies of the same record, and
//! every commit, by any connection in any process, increments the record's
//! change counter (`iChange`) and rewrites both copies (`walIndexWriteHdr`).
//! So two stable reads (both copies equal) that are byte-for-byte the same
//! mean no commit happened in between. Anything else — a changed header, a
//! torn read while a writer is mid-update — counts as "may have changed",
//! and the caller asks SQLite itself; so does a database whose `-shm` file
//! cannot be opened or mapped. The check can only ever send
//! a caller to the exact, slower check; it never vouches for a change it did
//! not see.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use memmap2::{MmapOptions, MmapRaw};

/// Two copies of the 48-byte `WalIndexHdr`.
const HEADER_LEN: usize = 96;
const COPY_LEN: usize = HEADER_LEN / 2;
const WORDS: usize = HEADER_LEN / 4;

pub type Header = [u8; HEADER_LEN];

#[derive(Debug)]
pub struct WalIndexWatch {
    /// The first `HEADER_LEN` bytes of the `-shm` file, mapped read-only.
    header: MmapRaw,
    /// The last stable header the caller confirmed with SQLite.
    confirmed: Option<Header>,
}

/// `<database>-shm`, named after the database's real path, as SQLite names it
/// (it resolves symbolic links first).
fn shm_path(database: &Path) -> Option<PathBuf> {
    let mut name = std::fs::canonicalize(database).ok()?.into_os_string();
    name.push("-shm");
    Some(name.into())
}

impl WalIndexWatch {
    /// Opens the `-shm` file of a database a connection of ours already has
    /// open in WAL mode (which keeps the file in place). `None` where there is
    /// none (not WAL mode, an in-memory database): callers then always ask
    /// SQLite.
    pub fn open(database: &Path) -> Option<Self> {
        let shm = File::open(shm_path(database)?).ok()?;
        // A file shorter than the header is not a WAL index (yet): then
        // callers always ask SQLite. Mapping it could fault on a read.
        if shm.metadata().ok()?.len() < HEADER_LEN as u64 {
            return None;
        }
        let header = MmapOptions::new()
            .len(HEADER_LEN)
            .map_raw_read_only(&shm)
            .ok()?;
        Some(Self {
            header,
            confirmed: None,
        })
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
        let words = self.header.as_ptr().cast::<AtomicU32>();
        // SAFETY: the mapping is `HEADER_LEN` bytes, page-aligned, and lives
        // as long as `self`, so word `i < WORDS` is in bounds and aligned.
        // The file was at least that long when mapped, and SQLite shrinks a
        // `-shm` file only when no other connection has it open: the store
        // keeps its read connection open for as long as this watch lives
        // (and drops it first, never reading here afterwards). The process
        // already maps this same file through SQLite and reads it on every
        // transaction, so the mapping adds no exposure SQLite does not have.
        // Other processes write these words through their own mappings at
        // any time; they are only ever read with atomic loads, never through
        // a reference to plain data.
        let word = unsafe { &*words.add(i.min(WORDS - 1)) };
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn wal_db(dir: &Path) -> (PathBuf, Connection) {
        let path = dir.join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        (path, conn)
    }

    #[test]
    fn a_commit_from_another_connection_changes_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = wal_db(dir.path());
        let reader = Connection::open(&path).unwrap();
        reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
            .unwrap();
        let mut watch = WalIndexWatch::open(&path).expect("a WAL database has a -shm file");
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
    fn a_torn_or_short_header_never_counts_as_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("fake.db");
        std::fs::write(&db, b"").unwrap();
        let shm = dir.path().join("fake.db-shm");
        let mut torn = vec![7u8; HEADER_LEN];
        torn[COPY_LEN + 8] = 8; // the second copy's change counter differs
        std::fs::write(&shm, &torn).unwrap();
        let mut watch = WalIndexWatch::open(&db).unwrap();
        assert_eq!(watch.read(), None);
        watch.confirm(None);
        assert!(!watch.unchanged(None));
        // Made whole again (as a writer finishing its update does): stable.
        torn[COPY_LEN + 8] = 7;
        std::fs::write(&shm, &torn).unwrap();
        assert_eq!(watch.read(), Some([7u8; HEADER_LEN]));
        drop(watch);
        std::fs::write(&shm, [7u8; COPY_LEN + 10]).unwrap();
        assert!(
            WalIndexWatch::open(&db).is_none(),
            "a short file is not a header"
        );
    }

    #[test]
    fn no_shm_file_means_no_watch() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("plain.db");
        Connection::open(&db)
            .unwrap()
            .execute_batch("CREATE TABLE t (x INTEGER)")
            .unwrap();
        assert!(WalIndexWatch::open(&db).is_none());
    }
}

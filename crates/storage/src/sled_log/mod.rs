//! [`SledTxnLog`]: the txn log as a sled tree of segments, one per appended batch.
//!
//! ```text
//! <log dir>/txnlog/          one sled database (cache_capacity bounded)
//!   tree "txnlog"            first zxid (8 bytes BE) -> segment: header ++ records   (segment.rs)
//!   default tree             "format" -> "paddock-txnlog/2"; "purged_through" -> zxid (8 bytes BE)
//! <log dir>/txnlog.synced    the highest zxid synced (marker.rs): losses show at open
//! ```
//!
//! `append` writes its batch as one segment (a few for a batch over [`segment::SEGMENT_TARGET_BYTES`],
//! in one atomic sled batch): buffered, not durable. `sync`, `truncate_after`, `reset_after` and
//! `purge_through` end with `db.flush()` plus our own fdatasync of sled's files (durable.rs), all
//! under one mutex: no two flushes ever run at once, `flush_async` is never called, and sled's
//! background flusher is off — the sled 0.34 traps of STACK.md.
//!
//! `purged_through` (P) remembers how far `purge_through` went, so that `last_logged_zxid`
//! (= max(last record, P)) does not fall back to zero when a purge empties the log, and appends
//! below what was purged stay refused, across restarts too. Purging removes whole segments only
//! (those whose last record is at or below P); records at or below P left in a segment that
//! straddles P are hidden by every read, so a purge never rewrites a value.
//!
//! `truncate_after` removes segments from the highest down and rewrites the one holding the cut
//! point without the records above it: a crash part way leaves a prefix of the log.
//!
//! Opening never changes the log: the verification scan (scan.rs) reports what it found and the
//! data directory decides (datadir.rs). Every call into sled is guarded (guard.rs): a sled panic
//! on a damaged file becomes an error.
//!
//! A failed write (a full disk, an I/O error) puts the log out of service: sled 0.34 refuses
//! every write after its first I/O error, for the life of the database handle. Writes then fail
//! at once with [`StorageError::Failed`] until [`TxnLog::recover`] has reopened sled and cut
//! the log back to what was durable before the failure.
//!
//! Lock order: `maintenance` -> `append` -> `db` (write, `recover` only) -> the flush lock ->
//! `marker`.

mod durable;
mod marker;
pub(crate) mod rewrite;
pub(crate) mod scan;
pub mod segment;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use paddock_types::Zxid;
use sled::IVec;

use self::durable::SledFiles;
use self::segment::{BadRecord, Segment};
use crate::error::StorageError;
use crate::fsutil::{create_dir_durable, lock};
use crate::guard::guarded;
use crate::lock::DirLock;
use crate::traits::TxnLog;

pub(crate) use self::marker::{marker_path, SyncedMarker};
pub use self::marker::{read_marker, MarkerState};
pub use self::scan::{follows, LogFault, LogScan, Run};

/// The sled tree holding the segments.
pub const RECORDS_TREE: &str = "txnlog";
/// Key, in sled's default tree, of the purge watermark.
pub(crate) const PURGED_THROUGH_KEY: &[u8] = b"purged_through";
/// Segments removed per sled batch by a purge. sled applies a batch under a lock that stops
/// every other write to the database, appends included: small batches let them in between.
const PURGE_CHUNK_SEGMENTS: usize = 256;

/// One open sled database and its files.
struct Db {
    db: sled::Db,
    records: sled::Tree,
    /// The flush lock: sled's file handles; held for every flush.
    files: Mutex<SledFiles>,
}

/// The production [`TxnLog`]: segments in a sled tree, durability by flush + fdatasync.
pub struct SledTxnLog {
    dir: PathBuf,
    cache_capacity_bytes: u64,
    /// The open database; replaced by [`TxnLog::recover`] (`None` while it reopens, or if
    /// reopening failed).
    db: RwLock<Option<Arc<Db>>>,
    /// Why the log is out of service (a write failed), until `recover` succeeds.
    failed: Mutex<Option<String>>,
    /// Serialises appends (the order check and `last_logged` update are one step).
    append: Mutex<()>,
    /// Serialises truncate, purge and recover against each other.
    maintenance: Mutex<()>,
    last_logged: AtomicU64,
    last_durable: AtomicU64,
    /// In-memory copy of the purge watermark: reads hide every record at or below it.
    purged_through: AtomicU64,
    /// `<log dir>.synced`: raised after syncs, lowered before truncations.
    marker: Mutex<SyncedMarker>,
    /// Whether this instance synced anything: only then does closing touch the marker (a log
    /// opened only to be checked, or found damaged, leaves it as it was).
    synced_once: std::sync::atomic::AtomicBool,
    /// Held while the log is alive: the directory stays ours.
    _locks: Vec<Arc<DirLock>>,
}

impl std::fmt::Debug for SledTxnLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledTxnLog")
            .field("dir", &self.dir)
            .field("last_logged", &self.last_logged_zxid())
            .field("last_durable", &self.last_durable_zxid())
            .finish_non_exhaustive()
    }
}

impl Drop for SledTxnLog {
    /// A clean close puts what is durable in the marker, on stable storage.
    fn drop(&mut self) {
        if self.synced_once.load(Ordering::Acquire) && lock(&self.failed).is_none() {
            let durable = self.last_durable_zxid();
            lock(&self.marker).closing(durable);
        }
    }
}

fn corrupt(bad: BadRecord) -> StorageError {
    StorageError::Corrupt {
        zxid: bad.zxid,
        why: bad.to_string(),
    }
}

/// Whether an error of a write means the database handle can no longer be trusted to write
/// (sled keeps failing after its first I/O error; a panic leaves it in an unknown state).
fn breaks_the_log(e: &StorageError) -> bool {
    matches!(
        e,
        StorageError::Io { .. } | StorageError::Db(_) | StorageError::Panicked { .. }
    )
}

impl SledTxnLog {
    /// Opens (or creates) the log of the data directory `data_dir` (its `txnlog/` database),
    /// taking the directory's lock: for tools and tests that want the log alone. A server opens
    /// its log through [`crate::DataDir`], which also decides what to do about what the scan
    /// found.
    pub fn open_in(
        data_dir: &Path,
        cache_capacity_bytes: u64,
    ) -> Result<(SledTxnLog, LogScan), StorageError> {
        create_dir_durable(data_dir)?;
        let lock = Arc::new(DirLock::acquire(data_dir)?);
        SledTxnLog::open(
            &data_dir.join(crate::TXNLOG_DIR),
            cache_capacity_bytes,
            vec![lock],
        )
    }

    /// Opens (or creates) the sled database at `dir`, checks its format marker and scans every
    /// record (see scan.rs); nothing is changed. `last_logged_zxid` is the highest zxid the log
    /// shows (or the purge watermark), so appends stay above anything in it. The caller holds
    /// the directory lock(s) and passes them in so they live as long as the log.
    pub(crate) fn open(
        dir: &Path,
        cache_capacity_bytes: u64,
        locks: Vec<Arc<DirLock>>,
    ) -> Result<(SledTxnLog, LogScan), StorageError> {
        let (db, scan) = open_db(dir, cache_capacity_bytes)?;
        let last = scan
            .runs
            .last()
            .map_or(Zxid::ZERO, |r| r.last)
            .max(scan.highest_seen)
            .max(scan.purged_through);
        let marker = SyncedMarker::open(marker_path(dir));
        let log = SledTxnLog {
            dir: dir.to_path_buf(),
            cache_capacity_bytes,
            db: RwLock::new(Some(Arc::new(db))),
            failed: Mutex::new(None),
            append: Mutex::new(()),
            maintenance: Mutex::new(()),
            last_logged: AtomicU64::new(last.0),
            last_durable: AtomicU64::new(last.0),
            purged_through: AtomicU64::new(scan.purged_through.0),
            marker: Mutex::new(marker),
            synced_once: std::sync::atomic::AtomicBool::new(false),
            _locks: locks,
        };
        Ok((log, scan))
    }

    /// sled's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How far `purge_through` has gone (`Zxid::ZERO` if never).
    pub fn purged_through(&self) -> Zxid {
        Zxid(self.purged_through.load(Ordering::Acquire))
    }

    /// What the synced marker holds now.
    pub fn synced_marker(&self) -> Zxid {
        lock(&self.marker).value()
    }

    /// Hands the verified records in (`after`, `through`] to `f` in chunks, walking past
    /// damaged segments (a rebuild copies the run the open's scan found). Returns the last zxid
    /// handed over.
    pub(crate) fn copy_range(
        &self,
        after: Zxid,
        through: Zxid,
        chunk: usize,
        f: impl FnMut(&[(Zxid, Bytes)]) -> Result<(), StorageError>,
    ) -> Result<Zxid, StorageError> {
        let db = self.current()?;
        scan::copy_range(&db.records, self.purged_through(), after, through, chunk, f)
    }

    /// The open database, or `Failed` while there is none (a reopen after a failure failed).
    fn current(&self) -> Result<Arc<Db>, StorageError> {
        match &*self.db.read().unwrap_or_else(|e| e.into_inner()) {
            Some(db) => Ok(Arc::clone(db)),
            None => Err(StorageError::Failed(
                lock(&self.failed)
                    .clone()
                    .unwrap_or_else(|| "the txn log is closed".to_string()),
            )),
        }
    }

    /// `Err(Failed)` while the log is out of service.
    fn check_in_service(&self) -> Result<(), StorageError> {
        match lock(&self.failed).as_ref() {
            Some(why) => Err(StorageError::Failed(why.clone())),
            None => Ok(()),
        }
    }

    /// Runs a write step; an error that breaks the database puts the log out of service.
    fn writing<T>(
        &self,
        what: &str,
        f: impl FnOnce() -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        self.check_in_service()?;
        let result = guarded(what, f);
        if let Err(e) = &result {
            if breaks_the_log(e) {
                let why = e.to_string();
                tracing::error!(error = %why, "txn log: a write failed; the log is out of service until it recovers");
                lock(&self.failed).get_or_insert(why);
            }
        }
        result
    }

    fn set_purged_through(&self, db: &Db, zxid: Zxid) -> Result<(), StorageError> {
        db.db.insert(PURGED_THROUGH_KEY, &zxid.to_be_bytes())?;
        self.purged_through.store(zxid.0, Ordering::Release);
        Ok(())
    }

    /// Flush + fsync under the flush lock; everything appended before the call is durable after.
    /// Returns the zxid now known durable.
    fn flush_durably(&self, db: &Db) -> Result<Zxid, StorageError> {
        let mut files = lock(&db.files);
        self.flush_durably_locked(db, &mut files)
    }

    /// [`Self::flush_durably`] for a caller already holding the flush lock.
    fn flush_durably_locked(&self, db: &Db, files: &mut SledFiles) -> Result<Zxid, StorageError> {
        let target = self.last_logged.load(Ordering::Acquire);
        files.flush_durably(&db.db)?;
        self.last_durable.store(target, Ordering::Release);
        self.synced_once.store(true, Ordering::Release);
        lock(&self.marker).synced(Zxid(target));
        Ok(Zxid(target))
    }

    /// max(last record, purge watermark).
    fn recompute_last(&self, db: &Db) -> Result<Zxid, StorageError> {
        let last_record = match db.records.last()? {
            Some((k, v)) => Segment::parse(&k, &v, Zxid::ZERO).map_err(corrupt)?.last(),
            None => Zxid::ZERO,
        };
        Ok(last_record.max(self.purged_through()))
    }

    /// Up to `limit` records above max(`after`, `purged`), from the segments as they are now.
    fn scan(
        &self,
        db: &Db,
        after: Zxid,
        limit: usize,
        purged: Zxid,
    ) -> Result<Vec<(Zxid, Bytes)>, StorageError> {
        let from = after.max(purged);
        let mut out = Vec::new();
        let Some(start) = from.0.checked_add(1) else {
            return Ok(out);
        };
        // The segment holding `start`, if any, is the last one whose key is not above it.
        let start_key = match db.records.range(..=key(Zxid(start))).next_back() {
            Some(item) => item?.0,
            None => key(Zxid(start)),
        };
        let mut previous = Zxid::ZERO;
        for item in db.records.range(start_key..) {
            let (k, v) = item?;
            // Payloads are slices of the value sled handed us: no copy.
            let value = Bytes::from_owner(v);
            let seg = Segment::parse(&k, &value, previous).map_err(corrupt)?;
            for rec in seg.records() {
                let rec = rec.map_err(corrupt)?;
                if rec.zxid <= from {
                    continue;
                }
                out.push((rec.zxid, value.slice(rec.payload_range)));
                if out.len() == limit {
                    return Ok(out);
                }
            }
            previous = seg.last();
        }
        Ok(out)
    }

    /// Removes the segments whose records are all at or below `through`, oldest first, in small
    /// batches; returns how many. Not flushed.
    fn remove_purged(&self, db: &Db, through: Zxid) -> Result<usize, StorageError> {
        let mut removed = 0;
        loop {
            let keys = db
                .records
                .range(..=key(through))
                .keys()
                .take(PURGE_CHUNK_SEGMENTS + 1)
                .collect::<Result<Vec<IVec>, sled::Error>>()?;
            let Some((last_key, before)) = keys.split_last() else {
                return Ok(removed);
            };
            // A segment followed by a key at or below `through` ends below that key.
            let mut doomed = before.to_vec();
            let done = keys.len() <= PURGE_CHUNK_SEGMENTS;
            if done {
                // The last segment starting at or below `through`: whole only if it ends there
                // too. One we cannot read stays (purging less is always safe).
                if let Some(v) = db.records.get(last_key)? {
                    if Segment::parse(last_key, &v, Zxid::ZERO).is_ok_and(|s| s.last() <= through) {
                        doomed.push(last_key.clone());
                    }
                }
            }
            removed += doomed.len();
            if !doomed.is_empty() {
                let mut batch = sled::Batch::default();
                for k in doomed {
                    batch.remove(k);
                }
                db.records.apply_batch(batch)?;
            }
            if done {
                return Ok(removed);
            }
        }
    }

    /// Rewrites the segment holding `zxid` without its records above `zxid` (after the segments
    /// above it were removed). A damaged record at or below `zxid` ends what is kept there.
    fn cut_segment_after(&self, db: &Db, zxid: Zxid) -> Result<(), StorageError> {
        let Some(item) = db.records.range(..=key(zxid)).next_back() else {
            return Ok(());
        };
        let (k, v) = item?;
        let seg = match Segment::parse(&k, &v, Zxid::ZERO) {
            Ok(seg) if seg.last() <= zxid => return Ok(()),
            Ok(seg) => seg,
            Err(bad) => {
                tracing::warn!(zxid = %bad.zxid, why = %bad, "txn log: truncate removes a corrupt segment");
                db.records.remove(&k)?;
                return Ok(());
            }
        };
        // (records kept, where the last kept one ends, its zxid)
        let mut kept = (0u32, 0usize, Zxid::ZERO);
        for rec in seg.records() {
            match rec {
                Ok(r) if r.zxid <= zxid => kept = (kept.0 + 1, r.span.end, r.zxid),
                Ok(_) => break,
                Err(bad) => {
                    tracing::warn!(zxid = %bad.zxid, why = %bad, "txn log: truncate cuts at a corrupt record");
                    break;
                }
            }
        }
        match kept {
            (0, _, _) => db.records.remove(&k)?,
            (count, end, last) => db.records.insert(&k, seg.prefix(count, end, last))?,
        };
        Ok(())
    }

    /// Removes every record above `zxid` (the caller holds `maintenance` and `append`). Not
    /// flushed.
    fn truncate_locked(&self, db: &Db, zxid: Zxid) -> Result<usize, StorageError> {
        if zxid < self.purged_through() {
            // Everything goes: records above `zxid` are truncated, the rest were purged. Segments
            // first, then the watermark: lowered first, it would bring purged records back into
            // view should we crash in between.
            let removed = scan::remove_from_top(&db.records, Bound::Unbounded)?;
            self.set_purged_through(db, zxid)?;
            Ok(removed)
        } else {
            let removed = scan::remove_from_top(&db.records, Bound::Excluded(key(zxid)))?;
            self.cut_segment_after(db, zxid)?;
            Ok(removed)
        }
    }
}

/// Opens the database at `dir` and scans it: sled (guarded), the format marker, the purge
/// watermark, the verification scan, and sled's files made durable as they are.
fn open_db(dir: &Path, cache_capacity_bytes: u64) -> Result<(Db, LogScan), StorageError> {
    guarded("opening the txn log", || {
        let db = open_sled(dir, cache_capacity_bytes)?;
        let records = db.open_tree(RECORDS_TREE)?;
        let marked = check_format(dir, &db, &records)?;
        let purged = read_purged_through(&db)?;
        let scan = scan::scan(&records, purged);
        let mut files = SledFiles::open(dir)?;
        if marked {
            files.flush_durably(&db)?;
        }
        Ok((
            Db {
                db,
                records,
                files: Mutex::new(files),
            },
            scan,
        ))
    })
}

/// How long `open` waits for a previous sled instance of this process to let go of `db`.
const SLED_RELEASE_WAIT: Duration = Duration::from_secs(10);
/// Pause between attempts while waiting.
const SLED_RELEASE_POLL: Duration = Duration::from_millis(5);

/// Opens sled with its background flusher off (we flush, under one mutex).
///
/// sled 0.34 locks its `db` file too, and releases it only when the last reference to its
/// internals drops — which can be a moment *after* the `Db` was dropped, on one of sled's pool
/// threads or in its deferred (epoch-based) reclamation. A server restarted inside the same
/// process (tests) would then fail to reopen. We already hold the data directory's own lock, so
/// a busy `db` lock can only be that lingering instance: retry for a bounded time.
fn open_sled(dir: &Path, cache_capacity_bytes: u64) -> Result<sled::Db, StorageError> {
    let config = sled::Config::new()
        .path(dir)
        .cache_capacity(cache_capacity_bytes)
        .flush_every_ms(None);
    let start = Instant::now();
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && start.elapsed() < SLED_RELEASE_WAIT =>
            {
                std::thread::sleep(SLED_RELEASE_POLL);
            }
            Err(e) => return Err(e.into()),
            Ok(db) => {
                let waited = start.elapsed();
                if waited > SLED_RELEASE_POLL {
                    tracing::debug!(?waited, "waited for a previous sled instance to close");
                }
                return Ok(db);
            }
        }
    }
}

/// Checks the format marker; a new (empty) log gets one. Returns whether it wrote it (not yet
/// flushed). A log with content and no marker is of the per-record format that came before
/// segments: refused rather than misread.
fn check_format(dir: &Path, db: &sled::Db, records: &sled::Tree) -> Result<bool, StorageError> {
    let refuse = |why: String| {
        Err(StorageError::Format {
            path: dir.to_path_buf(),
            why,
        })
    };
    match db.get(segment::FORMAT_KEY)? {
        Some(v) if v == segment::FORMAT => Ok(false),
        Some(v) => refuse(format!(
            "txn log format {:?}, this build reads {:?}",
            String::from_utf8_lossy(&v),
            String::from_utf8_lossy(segment::FORMAT)
        )),
        None if records.is_empty() && db.get(PURGED_THROUGH_KEY)?.is_none() => {
            db.insert(segment::FORMAT_KEY, segment::FORMAT)?;
            Ok(true)
        }
        None => refuse(format!(
            "txn log without a format marker: the one-record-per-key format of earlier builds, \
             which this build ({:?}) does not read; move the directory aside and let the server \
             catch up from the leader (or a snapshot)",
            String::from_utf8_lossy(segment::FORMAT)
        )),
    }
}

fn read_purged_through(db: &sled::Db) -> Result<Zxid, StorageError> {
    match db.get(PURGED_THROUGH_KEY)? {
        None => Ok(Zxid::ZERO),
        Some(v) => {
            let b: [u8; 8] = v.as_ref().try_into().map_err(|_| {
                StorageError::CorruptOther(format!(
                    "txn log purge watermark is {} bytes, expected 8",
                    v.len()
                ))
            })?;
            Ok(Zxid::from_be_bytes(b))
        }
    }
}

fn key(z: Zxid) -> IVec {
    IVec::from(&segment::key(z))
}

impl TxnLog for SledTxnLog {
    fn append(&self, records: &[(Zxid, Bytes)]) -> Result<(), StorageError> {
        if records.is_empty() {
            return Ok(());
        }
        let _append = lock(&self.append);
        let mut last = self.last_logged_zxid();
        for (zxid, _) in records {
            if *zxid <= last {
                return Err(StorageError::OutOfOrder { zxid: *zxid, last });
            }
            last = *zxid;
        }
        let db = self.current()?;
        self.writing("appending to the txn log", || {
            let mut segments = segment::encode_segments(records);
            if segments.len() == 1 {
                let (first, value) = segments.remove(0);
                db.records.insert(key(first), value)?;
            } else {
                let mut batch = sled::Batch::default();
                for (first, value) in segments {
                    batch.insert(key(first), value);
                }
                db.records.apply_batch(batch)?;
            }
            Ok(())
        })?;
        self.last_logged.store(last.0, Ordering::Release);
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
        let db = self.current()?;
        self.writing("syncing the txn log", || self.flush_durably(&db))
            .map(|_| ())
    }

    fn last_logged_zxid(&self) -> Zxid {
        Zxid(self.last_logged.load(Ordering::Acquire))
    }

    fn last_durable_zxid(&self) -> Zxid {
        Zxid(self.last_durable.load(Ordering::Acquire))
    }

    fn first_zxid(&self) -> Option<Zxid> {
        match self.read_after(Zxid::ZERO, 1) {
            Ok(first) => first.first().map(|(z, _)| *z),
            Err(StorageError::Corrupt { zxid, why }) => {
                tracing::error!(%zxid, %why, "txn log: the first record is corrupt");
                Some(zxid)
            }
            Err(e) => {
                tracing::error!(error = %e, "txn log: reading the first record failed");
                None
            }
        }
    }

    fn read_after(&self, after: Zxid, limit: usize) -> Result<Vec<(Zxid, Bytes)>, StorageError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let db = self.current()?;
        guarded("reading the txn log", || loop {
            let purged = self.purged_through();
            let out = self.scan(&db, after, limit, purged)?;
            // A purge that moved the watermark meanwhile may have removed segments under the
            // scan: read again under the new watermark. (A purge sets the watermark before it
            // removes anything, and removes only segments wholly at or below it.)
            if self.purged_through() == purged {
                return Ok(out);
            }
        })
    }

    fn truncate_after(&self, zxid: Zxid) -> Result<(), StorageError> {
        let _maintenance = lock(&self.maintenance);
        let _append = lock(&self.append);
        let db = self.current()?;
        // Held throughout so a concurrent `sync` cannot publish a stale `last_durable`.
        let mut files = lock(&db.files);
        self.check_in_service()?;
        // Before anything goes: records removed on purpose must never read as lost.
        lock(&self.marker).lower_to(zxid)?;
        self.writing("truncating the txn log", || {
            let removed = self.truncate_locked(&db, zxid)?;
            let last = self.recompute_last(&db)?;
            self.last_logged.store(last.0, Ordering::Release);
            self.flush_durably_locked(&db, &mut files)?;
            tracing::debug!(after = %zxid, segments_removed = removed, "txn log: truncated");
            Ok(())
        })
    }

    fn reset_after(&self, zxid: Zxid) -> Result<(), StorageError> {
        let _maintenance = lock(&self.maintenance);
        let _append = lock(&self.append);
        let db = self.current()?;
        let mut files = lock(&db.files);
        self.check_in_service()?;
        lock(&self.marker).lower_to(zxid)?;
        self.writing("resetting the txn log", || {
            // Segments first, then the watermark (see `truncate_locked`).
            scan::remove_from_top(&db.records, Bound::Unbounded)?;
            self.set_purged_through(&db, zxid)?;
            self.last_logged.store(zxid.0, Ordering::Release);
            self.flush_durably_locked(&db, &mut files)?;
            tracing::debug!(after = %zxid, "txn log: reset");
            Ok(())
        })
    }

    fn purge_through(&self, zxid: Zxid) -> Result<(), StorageError> {
        let _maintenance = lock(&self.maintenance);
        let db = self.current()?;
        // Never past what was appended: later appends (above last_logged) are not ours to touch,
        // so the removal below can run without holding the append lock.
        let through = zxid.min(self.last_logged_zxid());
        self.writing("purging the txn log", || {
            if through > self.purged_through() {
                // Before removing anything: reads rely on it (see `read_after`).
                self.set_purged_through(&db, through)?;
            }
            let removed = self.remove_purged(&db, through)?;
            self.flush_durably(&db)?;
            tracing::debug!(through = %through, segments_removed = removed, "txn log: purged");
            Ok(())
        })
    }

    fn recover(&self) -> Result<(), StorageError> {
        let _maintenance = lock(&self.maintenance);
        let _append = lock(&self.append);
        if lock(&self.failed).is_none() {
            return Ok(());
        }
        let durable = self.last_durable_zxid();
        let mut slot = self.db.write().unwrap_or_else(|e| e.into_inner());
        // Close the failed database first: sled holds a lock on its files (and waits for
        // lingering references to it when reopening, see `open_sled`).
        if let Some(old) = slot.take() {
            let _ = guarded("closing the failed txn log", || {
                drop(old);
                Ok(())
            });
        }
        let (db, scan) = open_db(&self.dir, self.cache_capacity_bytes)?;
        let holds = scan
            .runs
            .last()
            .map_or(Zxid::ZERO, |r| r.last)
            .max(scan.purged_through);
        if scan.faults_total > 0 || holds < durable {
            let why = format!(
                "reopened after the failure, the log holds records through {holds} with {} \
                 fault(s), but it had synced through {durable}",
                scan.faults_total
            );
            *lock(&self.failed) = Some(why.clone());
            return Err(StorageError::CorruptOther(why));
        }
        // Records of the failed writes may have reached the file: they were never durable
        // here, nor acknowledged. Remove them.
        self.purged_through
            .store(scan.purged_through.0, Ordering::Release);
        guarded("cutting the failed writes", || {
            self.truncate_locked(&db, durable)?;
            let mut files = lock(&db.files);
            self.last_logged.store(durable.0, Ordering::Release);
            self.flush_durably_locked(&db, &mut files)?;
            Ok(())
        })?;
        *slot = Some(Arc::new(db));
        *lock(&self.failed) = None;
        tracing::info!(%durable, "txn log: recovered after a failed write; writes resume");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::log::recs;

    fn open_log(dir: &Path) -> SledTxnLog {
        SledTxnLog::open(dir, 8 << 20, Vec::new()).expect("open").0
    }

    /// Flips a bit of record `zxid`'s payload inside its segment.
    fn damage(log: &SledTxnLog, zxid: Zxid) {
        let db = log.current().expect("open");
        let (k, v) = db
            .records
            .range(..=key(zxid))
            .next_back()
            .expect("a segment")
            .expect("read");
        let seg = Segment::parse(&k, &v, Zxid::ZERO).expect("good segment");
        let rec = seg
            .records()
            .map(|r| r.expect("good record"))
            .find(|r| r.zxid == zxid)
            .expect("record in segment");
        let mut bad = v.to_vec();
        bad[rec.payload_range.start] ^= 1;
        db.records.insert(k, bad).expect("insert");
    }

    #[test]
    fn read_after_names_the_corrupt_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = open_log(dir.path());
        log.append(&recs(1..=5)).expect("append");
        damage(&log, Zxid(3));
        for after in [0, 1, 2] {
            match log.read_after(Zxid(after), 10) {
                Err(StorageError::Corrupt { zxid, why }) => {
                    assert_eq!(zxid, Zxid(3));
                    assert!(why.contains("checksum"), "{why}");
                }
                other => panic!("expected Corrupt, got {other:?}"),
            }
        }
        assert_eq!(
            log.read_after(Zxid::ZERO, 2).expect("records before it"),
            recs(1..=2)
        );
        // Records after it in the same segment are never served either: the segment is
        // checked from its start.
        assert!(log.read_after(Zxid(3), 10).is_err());
        assert_eq!(log.first_zxid(), Some(Zxid(1)));
    }

    #[test]
    fn opening_reports_damage_and_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let log = open_log(dir.path());
            log.append(&recs(1..=5)).expect("append");
            log.append(&recs(6..=9)).expect("append");
            log.sync().expect("sync");
            damage(&log, Zxid(3));
            log.sync().expect("sync");
        }
        for _ in 0..2 {
            let (log, scan) = SledTxnLog::open(dir.path(), 8 << 20, Vec::new()).expect("open");
            assert_eq!(scan.faults_total, 1, "{scan:?}");
            assert_eq!(scan.faults[0].zxid, Zxid(3));
            assert_eq!(
                scan.runs,
                vec![
                    Run {
                        first: Zxid(1),
                        last: Zxid(2),
                        count: 2
                    },
                    Run {
                        first: Zxid(6),
                        last: Zxid(9),
                        count: 4
                    },
                ]
            );
            assert_eq!(log.last_logged_zxid(), Zxid(9));
        }
    }

    #[test]
    fn one_segment_per_append_and_big_appends_are_split() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = open_log(dir.path());
        log.append(&recs(1..=10)).expect("append");
        log.append(&recs(11..=12)).expect("append");
        let db = log.current().expect("open");
        assert_eq!(db.records.len(), 2);
        let big: Vec<(Zxid, Bytes)> = (13..=112)
            .map(|z| (Zxid(z), Bytes::from(vec![1u8; 1000])))
            .collect();
        log.append(&big).expect("append");
        assert!(db.records.len() > 3, "split: {}", db.records.len());
        for item in db.records.iter() {
            let (_, v) = item.expect("read");
            assert!(v.len() <= segment::SEGMENT_TARGET_BYTES);
        }
        let mut want = recs(1..=12);
        want.extend(big);
        assert_eq!(crate::conformance::log::read_all(&log), want);
    }

    #[test]
    fn purge_removes_whole_segments_and_hides_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = open_log(dir.path());
        for start in (1..=100u64).step_by(10) {
            log.append(&recs(start..start + 10)).expect("append");
        }
        let db = log.current().expect("open");
        log.purge_through(Zxid(35)).expect("purge");
        // 1..=30 went with their segments; 31..=35 are hidden in the segment holding 36.
        assert_eq!(db.records.len(), 7);
        assert_eq!(log.first_zxid(), Some(Zxid(36)));
        assert_eq!(log.read_after(Zxid(20), 2).expect("read"), recs(36..=37));
        log.purge_through(Zxid(40)).expect("purge");
        assert_eq!(db.records.len(), 6);
        // Truncating inside the straddling segment keeps hidden records hidden.
        log.purge_through(Zxid(45)).expect("purge");
        log.truncate_after(Zxid(47)).expect("truncate");
        assert_eq!(crate::conformance::log::read_all(&log), recs(46..=47));
        assert_eq!(log.last_logged_zxid(), Zxid(47));
        // Truncating below the watermark empties the log and lowers it.
        log.truncate_after(Zxid(44)).expect("truncate");
        assert_eq!(db.records.len(), 0);
        assert_eq!(log.last_logged_zxid(), Zxid(44));
        assert_eq!(log.purged_through(), Zxid(44));
        log.append(&recs([45])).expect("append");
        assert_eq!(crate::conformance::log::read_all(&log), recs([45]));
    }

    #[test]
    fn reset_after_empties_the_log_and_continues_after_the_zxid() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let log = open_log(dir.path());
            log.append(&recs(1..=10)).expect("append");
            log.sync().expect("sync");
            log.reset_after(Zxid(500)).expect("reset");
            assert_eq!(log.last_logged_zxid(), Zxid(500));
            assert_eq!(log.last_durable_zxid(), Zxid(500));
            assert!(log.read_after(Zxid::ZERO, 10).expect("read").is_empty());
            assert!(log.append(&recs([500])).is_err());
            log.append(&recs([501])).expect("append");
            log.sync().expect("sync");
        }
        let (log, scan) = SledTxnLog::open(dir.path(), 8 << 20, Vec::new()).expect("reopen");
        assert_eq!(scan.purged_through, Zxid(500));
        assert_eq!(log.read_after(Zxid::ZERO, 10).expect("read"), recs([501]));
    }

    #[test]
    fn a_log_of_the_old_format_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = sled::open(dir.path()).expect("sled");
            let tree = db.open_tree(RECORDS_TREE).expect("tree");
            // Old format: zxid -> crc32 ++ payload, one key per record, no marker.
            tree.insert(Zxid(1).to_be_bytes(), &b"\0\0\0\0payload"[..])
                .expect("insert");
            db.flush().expect("flush");
        }
        let err = SledTxnLog::open(dir.path(), 8 << 20, Vec::new()).expect_err("refused");
        assert!(
            matches!(&err, StorageError::Format { why, .. } if why.contains("format marker")),
            "{err:?}"
        );

        let dir = tempfile::tempdir().expect("tempdir");
        {
            let log = open_log(dir.path());
            log.current()
                .expect("open")
                .db
                .insert(segment::FORMAT_KEY, &b"paddock-txnlog/9"[..])
                .expect("insert");
            log.sync().expect("sync");
        }
        let err = SledTxnLog::open(dir.path(), 8 << 20, Vec::new()).expect_err("refused");
        assert!(matches!(err, StorageError::Format { .. }), "{err:?}");
    }

    #[test]
    fn a_new_log_is_marked_with_the_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = open_log(dir.path());
        assert_eq!(
            log.current()
                .expect("open")
                .db
                .get(segment::FORMAT_KEY)
                .expect("get")
                .as_deref(),
            Some(segment::FORMAT)
        );
        drop(log);
        open_log(dir.path());
    }

    #[test]
    fn corrupt_purge_watermark_fails_the_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let log = open_log(dir.path());
            log.current()
                .expect("open")
                .db
                .insert(PURGED_THROUGH_KEY, &b"abc"[..])
                .expect("insert");
            log.sync().expect("sync");
        }
        let err = SledTxnLog::open(dir.path(), 8 << 20, Vec::new()).expect_err("corrupt");
        assert!(matches!(err, StorageError::CorruptOther(_)), "{err:?}");
    }

    #[test]
    fn the_marker_follows_every_sync() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = open_log(dir.path());
        for z in 1..=5u64 {
            log.append(&recs([z])).expect("append");
            log.sync().expect("sync");
            assert_eq!(
                read_marker(&marker_path(dir.path())),
                MarkerState::Synced(Zxid(z))
            );
        }
        log.truncate_after(Zxid(2)).expect("truncate");
        assert_eq!(
            read_marker(&marker_path(dir.path())),
            MarkerState::Synced(Zxid(2))
        );
    }

    #[test]
    fn concurrent_append_sync_purge_and_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Arc::new(open_log(dir.path()));
        let writer = {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for start in (1..=2000u64).step_by(10) {
                    log.append(&recs(start..start + 10)).expect("append");
                    log.sync().expect("sync");
                    assert_eq!(log.last_durable_zxid(), Zxid(start + 9));
                }
            })
        };
        let purger = {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let durable = log.last_durable_zxid().0;
                    log.purge_through(Zxid(durable.saturating_sub(100)))
                        .expect("purge");
                    let page = log.read_after(Zxid::ZERO, 50).expect("read");
                    assert!(page.windows(2).all(|w| w[0].0 < w[1].0));
                }
            })
        };
        writer.join().expect("writer");
        purger.join().expect("purger");
        assert_eq!(log.last_logged_zxid(), Zxid(2000));
        assert_eq!(log.last_durable_zxid(), Zxid(2000));
        let tail = log.read_after(Zxid(1990), 100).expect("read");
        assert_eq!(tail, recs(1991..=2000));
    }
}

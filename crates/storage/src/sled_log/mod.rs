//! [`SledTxnLog`]: the txn log as a sled tree.
//!
//! ```text
//! <log dir>/txnlog/          one sled database (cache_capacity bounded)
//!   tree "txnlog"            zxid (8 bytes BE) -> crc32 ++ payload     (record.rs)
//!   default tree             "purged_through" -> zxid (8 bytes BE)
//! ```
//!
//! `append` is one atomic sled batch (buffered, not durable). `sync`, `truncate_after` and
//! `purge_through` end with `db.flush()` plus our own fdatasync of sled's files (durable.rs), all
//! under one mutex: no two flushes ever run at once, `flush_async` is never called, and sled's
//! background flusher is off — the sled 0.34 traps of STACK.md.
//!
//! `purged_through` (P) remembers how far `purge_through` went, so that `last_logged_zxid`
//! (= max(last key, P)) does not fall back to zero when a purge empties the log, and appends
//! below what was purged stay refused, across restarts too.
//!
//! Lock order: `maintenance` -> `append` -> `files` (the flush lock).

mod durable;
pub(crate) mod record;
mod recovery;

use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use paddock_types::Zxid;
use sled::IVec;

use self::durable::SledFiles;
use crate::error::StorageError;
use crate::fsutil::lock;
use crate::lock::DirLock;
use crate::traits::TxnLog;

/// The sled tree holding the records.
pub const RECORDS_TREE: &str = "txnlog";
/// Key, in sled's default tree, of the purge watermark.
const PURGED_THROUGH_KEY: &[u8] = b"purged_through";
/// Keys removed per sled batch by truncate/purge, so memory stays bounded.
const REMOVE_CHUNK_RECORDS: usize = 4096;

/// What the recovery scan did to the log at open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogRecovery {
    /// The zxid of the first bad record, where the log was cut (inclusive).
    pub truncated_from: Option<Zxid>,
    /// Why that record was bad.
    pub why: Option<String>,
    /// Records removed by the cut (the bad one and everything after it).
    pub records_removed: usize,
}

/// The production [`TxnLog`]: records in a sled tree, durability by flush + fdatasync.
pub struct SledTxnLog {
    db: sled::Db,
    records: sled::Tree,
    /// The flush lock: sled's file handles; held for every flush.
    files: Mutex<SledFiles>,
    /// Serialises appends (the order check and `last_logged` update are one step).
    append: Mutex<()>,
    /// Serialises truncate and purge against each other.
    maintenance: Mutex<()>,
    last_logged: AtomicU64,
    last_durable: AtomicU64,
    /// In-memory copy of the durable purge watermark.
    purged_through: AtomicU64,
    /// Held while the log is alive: the directory stays ours.
    _locks: Vec<Arc<DirLock>>,
}

impl std::fmt::Debug for SledTxnLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledTxnLog")
            .field("last_logged", &self.last_logged_zxid())
            .field("last_durable", &self.last_durable_zxid())
            .finish_non_exhaustive()
    }
}

impl SledTxnLog {
    /// Opens (or creates) the sled database at `dir`, runs the recovery scan (cutting a corrupt
    /// tail durably) and returns the log with everything in it durable. The caller holds the
    /// directory lock(s) and passes them in so they live as long as the log.
    pub(crate) fn open(
        dir: &Path,
        cache_capacity_bytes: u64,
        locks: Vec<Arc<DirLock>>,
    ) -> Result<(SledTxnLog, LogRecovery), StorageError> {
        let db = open_sled(dir, cache_capacity_bytes)?;
        let records = db.open_tree(RECORDS_TREE)?;
        let mut files = SledFiles::open(dir)?;

        let mut report = LogRecovery::default();
        if let Some(bad) = recovery::find_corrupt_tail(&records)? {
            let removed = recovery::cut_from(&records, &bad.key)?;
            files.flush_durably(&db)?;
            tracing::warn!(
                zxid = %bad.zxid,
                records_removed = removed,
                why = %bad.why,
                "txn log: corrupt record, log cut from this zxid on"
            );
            report = LogRecovery {
                truncated_from: Some(bad.zxid),
                why: Some(bad.why),
                records_removed: removed,
            };
        }

        let purged = read_purged_through(&db)?;
        let log = SledTxnLog {
            db,
            records,
            files: Mutex::new(files),
            append: Mutex::new(()),
            maintenance: Mutex::new(()),
            last_logged: AtomicU64::new(0),
            last_durable: AtomicU64::new(0),
            purged_through: AtomicU64::new(purged.0),
            _locks: locks,
        };
        let last = log.recompute_last()?;
        log.last_logged.store(last.0, Ordering::Release);
        log.last_durable.store(last.0, Ordering::Release);
        Ok((log, report))
    }

    /// How far `purge_through` has gone (`Zxid::ZERO` if never).
    pub fn purged_through(&self) -> Zxid {
        Zxid(self.purged_through.load(Ordering::Acquire))
    }

    /// max(last key, purge watermark).
    fn recompute_last(&self) -> Result<Zxid, StorageError> {
        let last_key = match self.records.last()? {
            Some((k, _)) => record::key_zxid_lossy(&k),
            None => Zxid::ZERO,
        };
        Ok(last_key.max(self.purged_through()))
    }

    fn set_purged_through(&self, zxid: Zxid) -> Result<(), StorageError> {
        self.db.insert(PURGED_THROUGH_KEY, &zxid.to_be_bytes())?;
        self.purged_through.store(zxid.0, Ordering::Release);
        Ok(())
    }

    /// Flush + fsync under the flush lock; everything appended before the call is durable after.
    /// Returns the zxid now known durable.
    fn flush_durably(&self) -> Result<Zxid, StorageError> {
        let mut files = lock(&self.files);
        self.flush_durably_locked(&mut files)
    }

    /// [`Self::flush_durably`] for a caller already holding the flush lock.
    fn flush_durably_locked(&self, files: &mut SledFiles) -> Result<Zxid, StorageError> {
        let target = self.last_logged.load(Ordering::Acquire);
        files.flush_durably(&self.db)?;
        self.last_durable.store(target, Ordering::Release);
        Ok(Zxid(target))
    }

    /// Removes the keys in `range`, in bounded batches; returns how many.
    fn remove_range(&self, range: (Bound<IVec>, Bound<IVec>)) -> Result<usize, StorageError> {
        let mut removed = 0;
        loop {
            let keys = self
                .records
                .range(range.clone())
                .keys()
                .take(REMOVE_CHUNK_RECORDS)
                .collect::<Result<Vec<IVec>, sled::Error>>()?;
            if keys.is_empty() {
                return Ok(removed);
            }
            removed += keys.len();
            let mut batch = sled::Batch::default();
            for k in keys {
                batch.remove(k);
            }
            self.records.apply_batch(batch)?;
        }
    }
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
    IVec::from(&z.to_be_bytes())
}

impl TxnLog for SledTxnLog {
    fn append(&self, records: &[(Zxid, Bytes)]) -> Result<(), StorageError> {
        if records.is_empty() {
            return Ok(());
        }
        let _append = lock(&self.append);
        let mut last = self.last_logged_zxid();
        let mut batch = sled::Batch::default();
        for (zxid, payload) in records {
            if *zxid <= last {
                return Err(StorageError::OutOfOrder { zxid: *zxid, last });
            }
            batch.insert(key(*zxid), record::encode_value(*zxid, payload));
            last = *zxid;
        }
        self.records.apply_batch(batch)?;
        self.last_logged.store(last.0, Ordering::Release);
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.flush_durably().map(|_| ())
    }

    fn last_logged_zxid(&self) -> Zxid {
        Zxid(self.last_logged.load(Ordering::Acquire))
    }

    fn last_durable_zxid(&self) -> Zxid {
        Zxid(self.last_durable.load(Ordering::Acquire))
    }

    fn first_zxid(&self) -> Option<Zxid> {
        match self.records.first() {
            Ok(first) => first.map(|(k, _)| record::key_zxid_lossy(&k)),
            Err(e) => {
                tracing::error!(error = %e, "txn log: reading the first record failed");
                None
            }
        }
    }

    fn read_after(&self, after: Zxid, limit: usize) -> Result<Vec<(Zxid, Bytes)>, StorageError> {
        let mut out = Vec::with_capacity(limit.min(1024));
        let range = (Bound::Excluded(key(after)), Bound::Unbounded);
        for item in self.records.range::<IVec, _>(range).take(limit) {
            let (k, v) = item?;
            let rec = record::decode(&k, &v).map_err(|e| StorageError::Corrupt {
                zxid: record::key_zxid_lossy(&k),
                why: e.to_string(),
            })?;
            out.push(rec);
        }
        Ok(out)
    }

    fn truncate_after(&self, zxid: Zxid) -> Result<(), StorageError> {
        let _maintenance = lock(&self.maintenance);
        let _append = lock(&self.append);
        // Held throughout so a concurrent `sync` cannot publish a stale `last_durable`.
        let mut files = lock(&self.files);
        // Lower the watermark first: a crash between the steps then leaves the log as before
        // the call (records intact), never claiming records that are gone.
        if self.purged_through() > zxid {
            self.set_purged_through(zxid)?;
        }
        let removed = self.remove_range((Bound::Excluded(key(zxid)), Bound::Unbounded))?;
        let last = self.recompute_last()?;
        self.last_logged.store(last.0, Ordering::Release);
        self.flush_durably_locked(&mut files)?;
        tracing::debug!(after = %zxid, removed, "txn log: truncated");
        Ok(())
    }

    fn purge_through(&self, zxid: Zxid) -> Result<(), StorageError> {
        let _maintenance = lock(&self.maintenance);
        // Never past what was appended: later appends (above last_logged) are not ours to touch,
        // so the removal below can run without holding the append lock.
        let through = zxid.min(self.last_logged_zxid());
        if through > self.purged_through() {
            self.set_purged_through(through)?;
        }
        let removed = self.remove_range((Bound::Unbounded, Bound::Included(key(through))))?;
        self.flush_durably()?;
        tracing::debug!(through = %through, removed, "txn log: purged");
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

    #[test]
    fn read_after_names_the_corrupt_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = open_log(dir.path());
        log.append(&recs(1..=5)).expect("append");
        let mut bad = record::encode_value(Zxid(3), b"payload");
        bad[0] ^= 1;
        log.records.insert(key(Zxid(3)), bad).expect("insert");
        match log.read_after(Zxid::ZERO, 10) {
            Err(StorageError::Corrupt { zxid, why }) => {
                assert_eq!(zxid, Zxid(3));
                assert!(why.contains("checksum"), "{why}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert_eq!(log.read_after(Zxid(3), 10).expect("read").len(), 2);
    }

    #[test]
    fn corrupt_purge_watermark_fails_the_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let log = open_log(dir.path());
            log.db
                .insert(PURGED_THROUGH_KEY, &b"abc"[..])
                .expect("insert");
            log.db.flush().expect("flush");
        }
        let err = SledTxnLog::open(dir.path(), 8 << 20, Vec::new()).expect_err("corrupt");
        assert!(matches!(err, StorageError::CorruptOther(_)), "{err:?}");
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

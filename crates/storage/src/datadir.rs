//! [`DataDir`]: opens everything a server persists, under one lock, and recovers it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use paddock_types::Zxid;

use crate::epoch::FileEpochStore;
use crate::error::StorageError;
use crate::fsutil::create_dir_durable;
use crate::lock::DirLock;
use crate::sled_log::SledTxnLog;
use crate::snapshot::{FileSnapshotStore, SkippedSnapshot};
use crate::traits::TxnLog;

/// Name of the sled database directory (inside the log directory).
pub const TXNLOG_DIR: &str = "txnlog";
/// Name of the snapshot directory (inside the data directory).
pub const SNAPSHOT_DIR: &str = "snapshots";

/// How to open a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageOptions {
    /// Where the txn log's sled database goes (`dataLogDir`); `None` = the data directory. A
    /// separate directory gets its own `paddock.lock`.
    pub log_dir: Option<PathBuf>,
    /// sled's page cache limit, bytes. The log is read sequentially (recovery, DIFF to learners)
    /// and appended at the end, so a modest cache costs little and keeps the process small.
    pub cache_capacity_bytes: u64,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            log_dir: None,
            cache_capacity_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What recovery found and did when the directory was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The zxid of the first bad log record, from which the log was cut (inclusive).
    pub truncated_from: Option<Zxid>,
    /// Why that record was bad.
    pub truncation_reason: Option<String>,
    /// Log records removed by the cut.
    pub records_removed: usize,
    /// Synced records missing from the log (a damaged log file; see [`crate::LostSynced`]).
    pub lost_synced: Option<crate::LostSynced>,
    /// The lowest zxid left in the log.
    pub first_zxid: Option<Zxid>,
    /// `last_logged_zxid()` after recovery (all of it durable).
    pub last_zxid: Zxid,
    /// The newest snapshot that verified.
    pub latest_snapshot: Option<Zxid>,
    /// Newer snapshots that failed verification and were moved aside (newest first).
    pub snapshots_skipped: Vec<SkippedSnapshot>,
    /// Unfinished snapshot files from a crash, removed.
    pub stale_snapshot_tmp_removed: usize,
}

/// A server's data directory, opened and locked.
///
/// ```text
/// <data dir>/
///   paddock.lock                 exclusive lock, held while any store below is alive
///   txnlog/                      sled database: the txn log   (or under StorageOptions::log_dir)
///   txnlog.synced                a zxid the log had synced: loss of synced records shows at open
///   snapshots/snapshot.<zxid>    snapshot files
///   acceptedEpoch, currentEpoch  epoch files
/// ```
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    log: Arc<SledTxnLog>,
    snapshots: Arc<FileSnapshotStore>,
    epochs: Arc<FileEpochStore>,
}

impl DataDir {
    /// [`DataDir::open_with`] with default options.
    pub fn open(path: &Path) -> Result<(DataDir, RecoveryReport), StorageError> {
        DataDir::open_with(path, &StorageOptions::default())
    }

    /// Creates the directory if missing, takes its lock (`StorageError::Locked` if another
    /// process, or another `DataDir` in this one, holds it), opens the log, snapshots and epochs
    /// and recovers: a corrupt log tail is cut durably, invalid newest snapshots are moved
    /// aside, unfinished temporary files removed. Everything in the log is durable on return.
    pub fn open_with(
        path: &Path,
        options: &StorageOptions,
    ) -> Result<(DataDir, RecoveryReport), StorageError> {
        create_dir_durable(path)?;
        let mut locks = vec![Arc::new(DirLock::acquire(path)?)];
        let log_parent = match &options.log_dir {
            Some(dir) if dir != path => {
                create_dir_durable(dir)?;
                locks.push(Arc::new(DirLock::acquire(dir)?));
                dir.clone()
            }
            _ => path.to_path_buf(),
        };

        let (log, log_report) = SledTxnLog::open(
            &log_parent.join(TXNLOG_DIR),
            options.cache_capacity_bytes,
            locks.clone(),
        )?;
        let (snapshots, snap_report) =
            FileSnapshotStore::open(&path.join(SNAPSHOT_DIR), locks.clone())?;
        let epochs = FileEpochStore::open(path, locks)?;

        let report = RecoveryReport {
            truncated_from: log_report.truncated_from,
            truncation_reason: log_report.why,
            records_removed: log_report.records_removed,
            lost_synced: log_report.lost_synced,
            first_zxid: log.first_zxid(),
            last_zxid: log.last_logged_zxid(),
            latest_snapshot: snap_report.latest,
            snapshots_skipped: snap_report.skipped,
            stale_snapshot_tmp_removed: snap_report.stale_tmp_removed,
        };
        tracing::info!(
            dir = %path.display(),
            first_zxid = ?report.first_zxid,
            last_zxid = %report.last_zxid,
            latest_snapshot = ?report.latest_snapshot,
            "data directory opened"
        );
        Ok((
            DataDir {
                path: path.to_path_buf(),
                log: Arc::new(log),
                snapshots: Arc::new(snapshots),
                epochs: Arc::new(epochs),
            },
            report,
        ))
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The txn log.
    pub fn log(&self) -> Arc<SledTxnLog> {
        Arc::clone(&self.log)
    }

    /// The snapshot store.
    pub fn snapshots(&self) -> Arc<FileSnapshotStore> {
        Arc::clone(&self.snapshots)
    }

    /// The epoch store.
    pub fn epochs(&self) -> Arc<FileEpochStore> {
        Arc::clone(&self.epochs)
    }
}

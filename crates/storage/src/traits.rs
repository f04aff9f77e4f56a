//! The storage seams. Each method's doc says what is on stable storage when it returns.

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use paddock_types::{Epoch, Zxid};

use crate::error::StorageError;

/// The transaction log: opaque records keyed by zxid, each stored with a checksum.
///
/// Durability contract: [`TxnLog::append`] only buffers; nothing appended counts as durable (and
/// nothing may be acknowledged to anyone) until a later [`TxnLog::sync`] has returned `Ok`.
/// One caller at a time drives `append` + `sync` (the processor's sync stage: group commit).
pub trait TxnLog: Send + Sync + 'static {
    /// Buffers records. Zxids must be strictly increasing and above [`TxnLog::last_logged_zxid`];
    /// otherwise `StorageError::OutOfOrder` and nothing is written.
    fn append(&self, records: &[(Zxid, Bytes)]) -> Result<(), StorageError>;

    /// Makes every record appended so far durable (a real fsync, not sled's `flush` alone).
    /// On `Ok`, `last_durable_zxid() == last_logged_zxid()` as they were when `sync` was called.
    fn sync(&self) -> Result<(), StorageError>;

    /// The highest zxid appended (durable or not); `Zxid::ZERO` when nothing was ever appended.
    /// Only [`TxnLog::truncate_after`] lowers it: a purge that removes every record keeps it
    /// (implementations persist how far they purged), so appends at or below it stay refused.
    fn last_logged_zxid(&self) -> Zxid;

    /// The highest zxid known durable; `Zxid::ZERO` when empty.
    fn last_durable_zxid(&self) -> Zxid;

    /// The lowest zxid still held, if any (records below were purged).
    fn first_zxid(&self) -> Option<Zxid>;

    /// Up to `limit` records with zxid > `after`, in zxid order, checksums verified
    /// (`StorageError::Corrupt` naming the zxid otherwise).
    fn read_after(&self, after: Zxid, limit: usize) -> Result<Vec<(Zxid, Bytes)>, StorageError>;

    /// Removes every record with zxid > `zxid` (ZAB's TRUNC). Durable on return, and so are the
    /// records kept: afterwards `last_durable_zxid() == last_logged_zxid() <= zxid`.
    fn truncate_after(&self, zxid: Zxid) -> Result<(), StorageError>;

    /// Removes every record and makes the log continue after `zxid` (a snapshot taken at `zxid`
    /// replaces the state): afterwards `last_logged_zxid() == last_durable_zxid() == zxid`, the
    /// log is empty and the next append must be above `zxid`. Durable on return.
    fn reset_after(&self, zxid: Zxid) -> Result<(), StorageError>;

    /// After a failed write (`append`, `sync`, `truncate_after`, `reset_after`, `purge_through`
    /// returned an I/O error — a full disk, say): makes the log usable again, holding exactly
    /// the records that were durable before the failure (any later ones are removed). `Ok`
    /// once writes can be retried; on `Err` the log stays out of service and `recover` may be
    /// called again later. A no-op when nothing failed.
    fn recover(&self) -> Result<(), StorageError>;

    /// Removes every record with zxid <= `zxid` (purge; only records a retained snapshot covers).
    /// A `zxid` above [`TxnLog::last_logged_zxid`] purges up to that. Durable on return (and,
    /// like `sync`, makes every record appended before it durable).
    fn purge_through(&self, zxid: Zxid) -> Result<(), StorageError>;

    /// How long a sync takes on the runtime's clock, for a log that simulates a slow disk: the
    /// peer's inline log writer (deterministic simulations on a paused clock, where `sync`
    /// itself returns at once) waits this long before each group commit. A real log takes its
    /// time inside `sync` and keeps this default, zero.
    fn simulated_sync_time(&self) -> Duration {
        Duration::ZERO
    }
}

/// A snapshot being written. Bytes go through [`Write`]; nothing is visible to
/// [`SnapshotStore::open_latest`] until [`SnapshotSink::commit`] returned `Ok`, and then it is durable.
pub trait SnapshotSink: Write + Send {
    /// Makes the bytes written so far durable without making the snapshot visible, so that
    /// [`SnapshotSink::commit`] has little left to sync: a caller with other work to do (a
    /// learner restoring the same snapshot into its tree) syncs the file meanwhile. Optional:
    /// `commit` alone is as durable. The default does nothing (stores without a disk).
    fn sync(&mut self) -> Result<(), StorageError> {
        Ok(())
    }

    /// Finishes the snapshot: checksum, fsync, make it visible atomically.
    fn commit(self: Box<Self>) -> Result<(), StorageError>;
}

/// A committed snapshot's bytes, as [`SnapshotStore::open_latest`] hands them out.
pub type SnapshotReader = Box<dyn Read + Send>;

/// Snapshots of the data tree, identified by the zxid of the last transaction they include.
pub trait SnapshotStore: Send + Sync + 'static {
    /// Starts a snapshot that includes every transaction up to and including `zxid`.
    fn create(&self, zxid: Zxid) -> Result<Box<dyn SnapshotSink>, StorageError>;

    /// The newest snapshot whose checksum verifies, as a reader of exactly the bytes committed.
    /// Invalid snapshots are skipped with a warning naming them. `None` when there is none.
    fn open_latest(&self) -> Result<Option<(Zxid, SnapshotReader)>, StorageError>;

    /// The zxids of all committed snapshots, oldest first.
    fn list(&self) -> Result<Vec<Zxid>, StorageError>;

    /// Deletes all but the newest `keep` snapshots; returns the zxids removed.
    fn purge(&self, keep: usize) -> Result<Vec<Zxid>, StorageError>;

    /// Deletes every snapshot above `zxid`, durably; returns the zxids removed, oldest first.
    /// For a learner given the leader's state at `zxid` while it holds a snapshot of a history
    /// the ensemble never committed (installed from a leader whose epoch did not establish).
    fn discard_after(&self, zxid: Zxid) -> Result<Vec<Zxid>, StorageError>;
}

/// ZAB's persisted epochs. Each setter is durable on return.
pub trait EpochStore: Send + Sync + 'static {
    /// The last epoch this server accepted in LEADERINFO (`acceptedEpoch`); `Epoch(0)` if never.
    fn accepted_epoch(&self) -> Epoch;
    /// The epoch of the leader this server last synced with (`currentEpoch`); `Epoch(0)` if never.
    fn current_epoch(&self) -> Epoch;
    fn set_accepted_epoch(&self, epoch: Epoch) -> Result<(), StorageError>;
    fn set_current_epoch(&self, epoch: Epoch) -> Result<(), StorageError>;
}

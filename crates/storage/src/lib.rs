//! # paddock-storage — what a Paddock server keeps on disk
//!
//! The txn log, the snapshots and ZAB's two epochs, behind the traits in [`traits`] that the
//! processor and quorum crates code against; disk implementations opened together by
//! [`DataDir`]; in-memory implementations in [`mem`] for other crates' tests; and a
//! [`conformance`] suite that both must pass.
//!
//! ```text
//!   DataDir::open(dir) ──► (DataDir, RecoveryReport)
//!
//!   <dir>/paddock.lock               exclusive flock; held while any store is alive
//!   <dir>/txnlog/          sled db   SledTxnLog        : TxnLog        first zxid BE -> segment
//!   <dir>/txnlog.synced    file      (SledTxnLog)      a zxid the log had synced (loss check)
//!   <dir>/snapshots/       files     FileSnapshotStore : SnapshotStore snapshot.<zxid hex16>
//!   <dir>/acceptedEpoch    file      FileEpochStore    : EpochStore    decimal text
//!   <dir>/currentEpoch     file
//!
//!   processor sync stage ── append(batch) ─► sync() ─► ack    (group commit: one fsync per batch)
//!   recovery             ── open_latest() snapshot ─► read_after(snapshot zxid) ─► replay
//! ```
//!
//! ```
//! use bytes::Bytes;
//! use paddock_storage::{DataDir, TxnLog};
//! use paddock_types::Zxid;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let (data, report) = DataDir::open(dir.path()).unwrap();
//! assert_eq!(report.last_zxid, Zxid::ZERO);
//! let log = data.log();
//! log.append(&[(Zxid(1), Bytes::from("txn"))]).unwrap();
//! log.sync().unwrap(); // now, and only now, zxid 1 may be acknowledged
//! assert_eq!(log.last_durable_zxid(), Zxid(1));
//! ```
//!
//! ## Why the log is sled and snapshots are files
//!
//! Log records are small, written in order and read in ranges: a sorted key-value store with
//! big-endian zxid keys fits, and each group commit is one atomic sled write.
//!
//! The log stores one sled value per appended batch — a *segment*: keyed by its first zxid,
//! holding a checksummed header (record count, last zxid) and the records, each with its zxid,
//! length and crc32 ([`log_format`] has the byte layout). One sled value per transaction cost
//! ~45 µs of CPU per record under load (every sled insert clones and rewrites a B-tree leaf in
//! memory, and sled's I/O threads work on it), and a purge removed one key per transaction,
//! stalling writes for a second after each snapshot. With segments both costs are per batch
//! (`examples/logbench.rs`, 150-byte records: batches of 32 went from ~20 to ~6 µs of CPU per
//! record, batches of 128 from ~16 to ~3; purging 75,000 records from ~0.7 s to ~0.07 s).
//! Appends over 8 KiB are cut into several segments (one atomic sled batch): sled rewrites a
//! whole B-tree leaf of up to 16 values when it consolidates it, and a leaf over 128 KiB becomes
//! a separate blob file to write and fsync. A purge removes whole segments (those whose last
//! record it covers); purged records left in a segment that straddles the purge point are hidden
//! from every read by the purge watermark, so a purge never rewrites a value.
//!
//! Snapshots are one value of 100+ MB: sled 0.34 would hold such a value in memory whole (write
//! and read), doubling the server's footprint while the tree is serialised, and it handles huge
//! values poorly (blob files, rewrites). A file written through a `BufWriter` and read through a
//! bounded buffer streams instead, with a crc32 trailer, fsync and an atomic rename.
//!
//! ## Durability contract
//!
//! * [`TxnLog::append`] buffers. [`TxnLog::sync`] returns `Ok` only once every record appended
//!   before the call is on stable storage: sled's `flush()` (which in 0.34.7 ends in
//!   `sync_file_range`, not enough for a power loss) followed by our own `fdatasync` of sled's
//!   data file `db`, of any new `blobs/*` files and of the directories whose entries changed
//!   (see `sled_log/durable.rs`). `truncate_after` and `purge_through` are durable on return too.
//! * All flushes go through one mutex; `flush_async` is never called and sled's background
//!   flusher is off (sled 0.34's concurrent-flush hang).
//! * A snapshot is visible only after `commit`: trailer written, file fsync'ed, renamed from
//!   `.tmp`, directory fsync'ed.
//! * Epoch setters write a temporary file, fsync, rename, fsync the directory, then return.
//!
//! ## Invariants
//!
//! * Log zxids are strictly increasing; an append at or below `last_logged_zxid` is refused
//!   whole. `last_durable_zxid <= last_logged_zxid`.
//! * Every record is checksummed (crc32 over its zxid, length and payload; each segment header
//!   has its own) and verified on every read and at open, along with the segment structure
//!   (key = first zxid, zxids strictly increasing within and across segments, lengths in
//!   bounds). Corrupt data is never served and never panics (sled's own panics included:
//!   `guard.rs`).
//! * A data directory that lost transactions it had made durable is never handed out:
//!   [`DataDir::open`] returns [`StorageError::Damaged`] (see `datadir.rs` for the rule:
//!   newest good snapshot + the log run continuing it, against the synced marker, snapshot
//!   names and purge watermark); [`repair`] accepts the loss. A log with faults or gaps that
//!   cost nothing synced is rebuilt into a fresh sled database at open (sled keeps dropping
//!   writes made after it met damage, so a damaged database is never written again).
//! * The log's format is marked in sled's default tree; a log without the marker that holds
//!   anything (the one-key-per-record format of earlier builds) fails the open with
//!   [`StorageError::Format`] instead of being misread.
//! * `last_logged_zxid` never goes back except through `truncate_after` / `reset_after`:
//!   purging every record keeps it (a persisted purge watermark), across restarts too.
//! * After a failed write the sled log refuses writes until [`TxnLog::recover`] reopened it and
//!   cut it back to what was durable.
//! * `open_latest` returns only a snapshot whose checksum verified; failing ones are moved aside
//!   to `.corrupt` with a warning, and the next newest is tried.
//! * An unreadable epoch file fails the open: it is never read as 0.
//! * One process per data directory ([`StorageError::Locked`] otherwise).
//!
//! ## Layout
//!
//! ```text
//! traits.rs      the seams: TxnLog, SnapshotStore/SnapshotSink, EpochStore
//! error.rs       StorageError
//! damage.rs      Damage, Finding: what a damaged data directory lost, for the operator
//! guard.rs       sled's panics turned into errors
//! datadir.rs     DataDir, StorageOptions, RecoveryReport; the verification rule; check, repair
//! lock.rs        the directory lock
//! sled_log/      SledTxnLog: segment format (log_format), verification scan, flush + fdatasync,
//!                the synced marker, rebuilds into a fresh database
//! snapshot/      FileSnapshotStore: file format, sink, verifying reader; snapshot files outside
//!                a data directory (backups), read-only
//! epoch.rs       FileEpochStore
//! fsutil.rs      fsync_dir, atomic file writes
//! mem/           MemTxnLog, MemSnapshotStore, MemEpochStore (tests, simulation)
//! conformance/   suites every implementation must pass, and the model-based log check
//! ```

pub mod conformance;
pub mod damage;
mod datadir;
mod epoch;
pub mod error;
mod fsutil;
mod guard;
mod lock;
pub mod mem;
mod sled_log;
mod snapshot;
pub mod traits;

pub use damage::{Damage, Finding};
pub use datadir::{
    check, repair, DataDir, RecoveryReport, RepairOptions, RepairReport, StorageOptions,
    SNAPSHOT_DIR, TXNLOG_DIR,
};
pub use epoch::{FileEpochStore, ACCEPTED_EPOCH_FILE, CURRENT_EPOCH_FILE};
pub use error::StorageError;
pub use guard::in_guarded_call;
pub use lock::LOCK_FILE;
pub use sled_log::rewrite::damaged_copies;
pub use sled_log::segment as log_format;
pub use sled_log::{
    follows, read_marker, LogFault, LogScan, MarkerState, Run, SledTxnLog, RECORDS_TREE,
};
pub use snapshot::{
    open_snapshot_file, snapshot_files, write_snapshot_file, FileSnapshotSink, FileSnapshotStore,
    SkippedSnapshot, SnapshotFileInfo, SnapshotRecovery,
};
pub use traits::{EpochStore, SnapshotReader, SnapshotSink, SnapshotStore, TxnLog};

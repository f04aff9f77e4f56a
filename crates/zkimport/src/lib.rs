//! # paddock-zkimport — an Apache ZooKeeper data dir as a Paddock data dir
//!
//! Reads what a stopped ZooKeeper 3.x server left on disk — the newest complete snapshot and
//! the txn logs after it, in ZooKeeper's jute encoding, every checksum verified — replays the
//! logged txns over the snapshot the way ZooKeeper's `DataTree.processTxn` does, and writes the
//! resulting tree as a Paddock snapshot at ZooKeeper's last zxid, with the epochs set from that
//! zxid, so a Paddock server opens it and continues numbering after ZooKeeper.
//!
//! ```text
//!  <dataDir>/version-2/snapshot.<zxid>  ──snapshot::read──► ZkTree (nodes, ACLs, sessions)
//!  <dataLogDir>/version-2/log.<zxid>... ──txnlog::read───► txns ──ZkTree::process──┘
//!                                                                     │ convert::to_datatree
//!                                                                     ▼
//!  <paddock dir>  ◄── snapshot at last zxid, log reset after it, epochs ── DataTree::from_nodes
//! ```
//!
//! ```no_run
//! let report = paddock_zkimport::import(&paddock_zkimport::ImportOptions {
//!     from: "/var/lib/zookeeper".into(),
//!     from_log: None,
//!     data_dir: "/var/lib/paddock".into(),
//!     storage: Default::default(),
//! })?;
//! println!("{report}");
//! # Ok::<(), paddock_zkimport::ImportError>(())
//! ```
//!
//! ## What carries over
//!
//! Every znode (path, data, all Stat fields, ACL), the open sessions with their timeouts (and
//! the passwords ZooKeeper derived for them), so ephemerals stay owned until their sessions
//! expire. Not: watches (clients set them again), `/zookeeper/config` (Paddock's own), local
//! sessions (never persisted by ZooKeeper either), ZooKeeper's `superDigest` or other config.
//!
//! ## Invariants
//!
//! - Nothing is written unless the whole input was read and verified; a damaged input (bad
//!   magic or version, a checksum mismatch, an entry cut short, garbage after the log's end)
//!   is an [`ImportError::Damaged`] naming the file and byte offset. No input makes it panic.
//!   The one tolerated fault is a crash's: a log's last entry half written into its zero
//!   padding, never acknowledged, dropped as ZooKeeper drops it (and reported).
//! - Only an empty Paddock data dir is written to (a `myid` file may be there).
//! - The result is checked as a snapshot read is checked (`DataTree::from_nodes`), written
//!   through `paddock-storage` (checksummed, fsync'ed, atomically renamed), then read back and
//!   compared by digest before the import reports success.
//!
//! ## Layout
//!
//! ```text
//! jute.rs      bounds-checked reader for ZooKeeper's big-endian record encoding
//! adler32.rs   the checksum of snapshot seals and log entries
//! records.rs   StatPersisted, ACL, TxnHeader and the txn record types
//! files.rs     which snapshot and logs to read (names carry zxids)
//! snapshot.rs  FileSnap: header, sessions, ACL cache, nodes, seal, optional digest
//! txnlog.rs    FileTxnLog: header, entries (crc, length, txn, EOR), zero padding
//! tree.rs      ZooKeeper's DataTree replay semantics (fuzzy snapshots tolerated)
//! password.rs  ZooKeeper's session passwords (java.util.Random of the session id)
//! convert.rs   ZkTree → DataTree (the /zookeeper nodes as Paddock keeps them)
//! ```

mod adler32;
mod convert;
mod error;
mod files;
mod jute;
mod password;
mod records;
mod snapshot;
mod tree;
mod txnlog;

#[cfg(test)]
mod decode_fuzz;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use paddock_datatree::DataTree;
use paddock_storage::{DataDir, EpochStore, SnapshotStore, StorageOptions, TxnLog};
use paddock_types::{Epoch, Zxid};

pub use error::ImportError;
pub use files::VERSION_DIR;
pub use password::zookeeper_password;

/// What to import and where to.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// ZooKeeper's `dataDir` (holding `version-2/snapshot.*`), or that `version-2` itself.
    pub from: PathBuf,
    /// ZooKeeper's `dataLogDir` when it is not `dataDir`.
    pub from_log: Option<PathBuf>,
    /// The Paddock data dir to create; must be missing or empty.
    pub data_dir: PathBuf,
    /// How the Paddock server opens it (its `dataLogDir`, if separate: must be empty too).
    pub storage: StorageOptions,
}

/// The ZooKeeper state read and replayed, as a Paddock tree.
#[derive(Debug)]
pub struct ZooKeeperState {
    pub tree: DataTree,
    /// The snapshot the replay started from.
    pub snapshot: PathBuf,
    /// Newer snapshots passed over because they were incomplete (a crash while writing them).
    pub incomplete_snapshots: Vec<PathBuf>,
    /// The txn logs read, in order.
    pub logs: Vec<PathBuf>,
    /// Txns applied after the snapshot.
    pub txns_replayed: u64,
    /// Txns (or multi ops) that changed nothing on replay: failed requests ZooKeeper logged as
    /// errors, and the overlap of a fuzzy snapshot.
    pub txns_without_effect: u64,
    /// Multis cut short at an op that did not decode (ZooKeeper applies the ops before it and
    /// skips the rest; so does the import).
    pub multis_cut_short: u64,
    /// Ephemerals of sessions that were no longer open, deleted as ZooKeeper does at startup.
    pub orphan_ephemerals_deleted: usize,
    /// Logs whose last entry a crash left half written (never acknowledged; dropped, as
    /// ZooKeeper drops it), with the entry's offset.
    pub torn_tails: Vec<(PathBuf, u64)>,
}

/// What [`import`] did.
#[derive(Debug)]
pub struct ImportReport {
    pub state: ZooKeeperState,
    /// The epoch written as `acceptedEpoch` and `currentEpoch`.
    pub epoch: Epoch,
    pub data_dir: PathBuf,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.state;
        write!(
            f,
            "Imported {} znodes and {} open sessions from ZooKeeper into {}: last zxid {:#x} \
             (epoch {}), read from {} and {} txn log(s) ({} txns replayed, {} without effect",
            s.tree.node_count(),
            s.tree.sessions().len(),
            self.data_dir.display(),
            s.tree.last_zxid().0,
            self.epoch.0,
            s.snapshot.display(),
            s.logs.len(),
            s.txns_replayed,
            s.txns_without_effect,
        )?;
        if s.multis_cut_short > 0 {
            write!(
                f,
                ", {} multi(s) cut short at an op that did not decode",
                s.multis_cut_short
            )?;
        }
        write!(f, ").")?;
        if !s.incomplete_snapshots.is_empty() {
            write!(
                f,
                " Skipped {} incomplete newer snapshot(s).",
                s.incomplete_snapshots.len()
            )?;
        }
        for (path, at) in &s.torn_tails {
            write!(
                f,
                " Dropped a half-written last entry at offset {at} of {} (a crash's; never \
                 acknowledged), as ZooKeeper does.",
                path.display()
            )?;
        }
        if s.orphan_ephemerals_deleted > 0 {
            write!(
                f,
                " Deleted {} ephemeral(s) of sessions no longer open, as ZooKeeper would at startup.",
                s.orphan_ephemerals_deleted
            )?;
        }
        write!(
            f,
            " ZooKeeper's /zookeeper/config and other /zookeeper nodes except /zookeeper/quota \
             were left out; watches do not carry over."
        )
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, ImportError> {
    std::fs::read(path).map_err(|e| ImportError::io(path, e))
}

/// Reads a ZooKeeper data dir (`from`, logs in `from_log` or `from`) and replays it. Reads only.
pub fn read_zookeeper(from: &Path, from_log: Option<&Path>) -> Result<ZooKeeperState, ImportError> {
    let snap_dir = files::version_dir(from);
    let log_dir = files::version_dir(from_log.unwrap_or(from));
    let snapshots = files::list(&snap_dir, "snapshot")?;
    let logs = files::list(&log_dir, "log")?;

    let mut incomplete = Vec::new();
    let mut chosen = None;
    for f in snapshots.iter().rev() {
        if f.compressed {
            return Err(ImportError::Unsupported(format!(
                "{} is compressed; this importer reads uncompressed snapshots only (restart \
                 ZooKeeper once with snapshot.compression.method=none so it writes one)",
                f.path.display()
            )));
        }
        let bytes = read_file(&f.path)?;
        if snapshot::looks_complete(&bytes) {
            chosen = Some((f.clone(), bytes));
            break;
        }
        incomplete.push(f.path.clone());
    }
    let Some((snap, bytes)) = chosen else {
        return Err(ImportError::Unsupported(format!(
            "no complete ZooKeeper snapshot (snapshot.<zxid>) in {}{}",
            snap_dir.display(),
            if logs.is_empty() {
                ""
            } else {
                " (there are txn logs: ZooKeeper itself refuses to start like this)"
            }
        )));
    };
    let mut tree = snapshot::read(&snap.path, &bytes)?;
    drop(bytes);
    tree.last_zxid = snap.zxid;

    let mut state = ZooKeeperState {
        tree: DataTree::new(),
        snapshot: snap.path.clone(),
        incomplete_snapshots: incomplete,
        logs: Vec::new(),
        txns_replayed: 0,
        txns_without_effect: 0,
        multis_cut_short: 0,
        orphan_ephemerals_deleted: 0,
        torn_tails: Vec::new(),
    };
    if logs.is_empty() && from_log.is_none() && snap.zxid > 0 {
        return Err(ImportError::Missing(format!(
            "no txn logs (log.<zxid>) in {}: if ZooKeeper's dataLogDir is not its dataDir, \
             pass it with --from-log; if there really are none, pass --from-log {} to import \
             the snapshot alone",
            log_dir.display(),
            from.display()
        )));
    }
    let mut previous = snap.zxid;
    for log in files::logs_after(logs, snap.zxid) {
        let bytes = read_file(&log.path)?;
        let file = txnlog::read(&log.path, &bytes)?;
        if let Some(at) = file.torn_at {
            state.torn_tails.push((log.path.clone(), at));
        }
        for e in file.entries {
            // ZooKeeper replays from the snapshot's zxid + 1 on (the txns in the snapshot's
            // fuzzy window are applied again).
            if e.header.zxid <= snap.zxid {
                continue;
            }
            if !follows(previous, e.header.zxid) {
                return Err(ImportError::Missing(format!(
                    "{}: the txn at offset {} has zxid {:#x}, which does not follow {:#x}: \
                     transactions in between are missing (a log file removed or lost?)",
                    log.path.display(),
                    e.offset,
                    e.header.zxid,
                    previous
                )));
            }
            previous = e.header.zxid;
            let Some(rec) = &e.record else {
                // ZooKeeper refuses to start on a txn type it does not know; so does the import.
                return Err(ImportError::Unsupported(format!(
                    "{}: the txn at offset {} has type {}, which this importer does not know",
                    log.path.display(),
                    e.offset,
                    e.header.kind
                )));
            };
            tree.process(&e.header, rec);
            state.txns_replayed += 1;
        }
        state.logs.push(log.path);
    }
    state.orphan_ephemerals_deleted = tree.kill_dead_sessions();
    state.txns_without_effect = tree.failed_txns;
    state.multis_cut_short = tree.multis_cut_short;
    state.tree = convert::to_datatree(&tree)?;
    Ok(state)
}

/// Whether zxid `next` can come right after `previous` in ZooKeeper's log: the next counter of
/// the same epoch, or the first txn (counter 1) of a later epoch.
fn follows(previous: i64, next: i64) -> bool {
    let (p, n) = (previous as u64, next as u64);
    n == p.wrapping_add(1) || (n >> 32 > p >> 32 && n & 0xFFFF_FFFF == 1)
}

/// Refuses a Paddock data dir that holds anything but a `myid` file.
fn check_empty(dir: &Path) -> Result<(), ImportError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ImportError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| ImportError::io(dir, e))?;
        if entry.file_name() != "myid" {
            return Err(ImportError::NotEmpty(dir.to_path_buf()));
        }
    }
    Ok(())
}

/// Writes `tree` as the whole content of a new Paddock data dir: a snapshot at its last zxid,
/// the log continuing after it, both epochs set to `epoch`; then reads it back and checks the
/// digest. `dir` (and `storage.log_dir`) must be missing or empty (or hold only `myid`).
pub fn write_data_dir(
    tree: &DataTree,
    dir: &Path,
    storage: &StorageOptions,
    epoch: Epoch,
) -> Result<(), ImportError> {
    check_empty(dir)?;
    if let Some(log_dir) = &storage.log_dir {
        check_empty(log_dir)?;
    }
    let zxid = tree.last_zxid();
    if zxid == Zxid::ZERO {
        return Err(ImportError::Unsupported(
            "the ZooKeeper data dir holds no transactions: nothing to import".into(),
        ));
    }
    {
        let (data, _) = DataDir::open_with(dir, storage)?;
        let mut sink = data.snapshots().create(zxid)?;
        tree.snapshot()
            .write_to(&mut sink)
            .map_err(|e| ImportError::io(dir, e))?;
        sink.commit()?;
        data.log().reset_after(zxid)?;
        let epochs = data.epochs();
        epochs.set_accepted_epoch(epoch)?;
        epochs.set_current_epoch(epoch)?;
    }
    // Read back what a server will open.
    let (data, report) = DataDir::open_with(dir, storage)?;
    let (at, mut reader) = data.snapshots().open_latest()?.ok_or_else(|| {
        ImportError::Unsupported(format!(
            "the snapshot written to {} is missing",
            dir.display()
        ))
    })?;
    let copy = DataTree::read_snapshot(&mut reader).map_err(ImportError::Tree)?;
    if at != zxid || report.last_zxid != zxid || copy.digest() != tree.digest() {
        return Err(ImportError::Unsupported(format!(
            "the data written to {} does not read back as written",
            dir.display()
        )));
    }
    Ok(())
}

/// Reads the ZooKeeper data dir and writes it as a new Paddock data dir (see the crate doc).
pub fn import(options: &ImportOptions) -> Result<ImportReport, ImportError> {
    check_empty(&options.data_dir)?;
    if let Some(log_dir) = &options.storage.log_dir {
        check_empty(log_dir)?;
    }
    let state = read_zookeeper(&options.from, options.from_log.as_deref())?;
    let epoch = state.tree.last_zxid().epoch();
    write_data_dir(&state.tree, &options.data_dir, &options.storage, epoch)?;
    Ok(ImportReport {
        state,
        epoch,
        data_dir: options.data_dir.clone(),
    })
}

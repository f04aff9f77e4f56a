//! [`DataDir`]: opens everything a server persists, under one lock, verifies it, and never hands
//! out a directory that lost what it had made durable.
//!
//! At open, after the log's verification scan (sled_log/scan.rs):
//!
//! ```text
//!   base  = the newest snapshot whose checksum verifies (else the empty state, zxid 0)
//!   end   = the last zxid of the run of verified log records that continues `base`
//!           (`base` itself if none does, or if the log was purged past `base`)
//!   known = the highest zxid the directory shows was made durable: the synced marker,
//!           snapshot file names (good or corrupt), the purge watermark
//!
//!   known > end                       -> Err(Damaged): never served as it is (repair() decides)
//!   log not exactly one run from base -> rebuilt into a fresh sled database (nothing lost:
//!                                        whatever is dropped was never synced), then opened
//!   otherwise                         -> opened as it is
//! ```
//!
//! [`repair`] keeps the verified state (snapshot + log through `end`) in a fresh log, moves the
//! damaged files aside and marks the directory consistent again: the operator's decision for a
//! standalone server, automatic for an ensemble member (which gets the rest from its leader).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use paddock_types::{Epoch, Zxid};

use crate::damage::{Damage, Finding};
use crate::epoch::FileEpochStore;
use crate::error::StorageError;
use crate::fsutil::create_dir_durable;
use crate::lock::DirLock;
use crate::sled_log::rewrite::{self, Source};
use crate::sled_log::{marker_path, read_marker, LogScan, MarkerState, Run, SledTxnLog};
use crate::snapshot::{FileSnapshotStore, SkippedSnapshot};
use crate::traits::{EpochStore, TxnLog};

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

/// What opening the directory found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The lowest zxid left in the log.
    pub first_zxid: Option<Zxid>,
    /// `last_logged_zxid()` after recovery (all of it durable).
    pub last_zxid: Zxid,
    /// The newest snapshot that verified: the state starts there.
    pub latest_snapshot: Option<Zxid>,
    /// The last zxid of the verified state (snapshot + log).
    pub verified_through: Zxid,
    /// Newer snapshots that failed verification and were moved aside (newest first).
    pub snapshots_skipped: Vec<SkippedSnapshot>,
    /// Unfinished snapshot files from a crash, removed.
    pub stale_snapshot_tmp_removed: usize,
    /// The log was rebuilt into a fresh database at open, losing nothing synced: why.
    pub rebuilt: Option<String>,
    /// Where the old log database was moved by that rebuild.
    pub old_log_moved_to: Option<PathBuf>,
}

/// What [`repair`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// The damage found (`None`: the directory was healthy and nothing was changed).
    pub damage: Option<Damage>,
    /// Records kept in the new log.
    pub records_kept: u64,
    /// Where the old log database went.
    pub old_log_moved_to: Option<PathBuf>,
    /// The epoch the directory continues in, when the repair started a new one.
    pub new_epoch: Option<Epoch>,
}

/// How [`repair`] repairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairOptions {
    /// Start a new epoch after the verified state (a standalone server): the next zxids are
    /// then above every zxid the lost transactions used, so no zxid a client saw names two
    /// different transactions. An ensemble member must not (ZAB owns its epochs).
    pub new_epoch: bool,
}

/// A server's data directory, opened, verified and locked.
///
/// ```text
/// <data dir>/
///   paddock.lock                 exclusive lock, held while any store below is alive
///   txnlog/                      sled database: the txn log   (or under StorageOptions::log_dir)
///   txnlog.synced                the highest zxid the log synced: losses show at open
///   txnlog.damaged-<secs>/       an old log moved aside by a rebuild or repair (inspection only)
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

/// Everything opened, before deciding.
struct Opened {
    locks: Vec<Arc<DirLock>>,
    log_dir: PathBuf,
    snapshots: FileSnapshotStore,
    snap_skipped: Vec<SkippedSnapshot>,
    stale_tmp_removed: usize,
    epochs: FileEpochStore,
    log: Result<(SledTxnLog, LogScan), Finding>,
    assessment: Assessment,
}

/// What the files say, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Assessment {
    base: Zxid,
    end: Zxid,
    /// The log run continuing `base`, if any.
    kept: Option<Run>,
    /// The highest zxid known durable, and what says so.
    known: Zxid,
    findings: Vec<Finding>,
    /// The log is not exactly the kept run: it is rebuilt even when nothing is lost.
    needs_rebuild: bool,
}

impl Assessment {
    fn lost(&self) -> bool {
        self.known > self.end
    }

    fn records_kept(&self) -> u64 {
        match self.kept {
            Some(r) if r.first > self.base => r.count,
            // The snapshot sits inside the run: the records after it (exact within an epoch).
            Some(r) if r.last > self.base && r.last.epoch() == self.base.epoch() => {
                u64::from(r.last.counter() - self.base.counter())
            }
            Some(r) if r.last > self.base => r.count,
            _ => 0,
        }
    }

    fn damage(&self, data_dir: &Path, snapshot: Option<Zxid>) -> Damage {
        Damage {
            data_dir: data_dir.to_path_buf(),
            findings: self.findings.clone(),
            snapshot,
            verified_through: self.end,
            records_kept: self.records_kept(),
            synced_through: (self.known > Zxid::ZERO).then_some(self.known),
        }
    }
}

/// Decides what the log scan means given the snapshot `base` and the evidence of what was
/// durable. Pure: the rules of this module's doc, tested as data.
fn assess(
    log_dir: &Path,
    scan: Option<&LogScan>,
    base: Zxid,
    evidence: &[(Zxid, String)],
) -> Assessment {
    let mut findings = Vec::new();
    let mut known = Zxid::ZERO;
    let mut known_by = String::new();
    for (z, by) in evidence {
        if *z > known {
            known = *z;
            known_by.clone_from(by);
        }
    }
    let Some(scan) = scan else {
        return Assessment {
            base,
            end: base,
            kept: None,
            known,
            findings,
            needs_rebuild: true,
        };
    };
    if scan.purged_through > known {
        known = scan.purged_through;
        known_by = "the log's purge watermark".to_string();
    }
    let db = log_dir.join("db");
    for f in &scan.faults {
        findings.push(Finding {
            path: db.clone(),
            what: format!("damaged log record at zxid {}: {}", f.zxid, f.why),
        });
    }
    if scan.faults_total > scan.faults.len() as u64 {
        findings.push(Finding {
            path: db.clone(),
            what: format!(
                "... {} more damaged records",
                scan.faults_total - scan.faults.len() as u64
            ),
        });
    }
    let kept = if scan.purged_through > base {
        findings.push(Finding {
            path: db.clone(),
            what: format!(
                "the log was purged through {} but the newest usable snapshot is {}: the \
                 transactions in between exist nowhere",
                scan.purged_through,
                if base == Zxid::ZERO {
                    "none".to_string()
                } else {
                    base.to_string()
                }
            ),
        });
        None
    } else {
        scan.run_from(base)
    };
    let end = kept.map_or(base, |r| r.last.max(base));
    for pair in scan.runs.windows(2) {
        findings.push(Finding {
            path: db.clone(),
            what: format!(
                "the log jumps from zxid {} to {}: the records in between are missing",
                pair[0].last, pair[1].first
            ),
        });
    }
    if known > end {
        findings.push(Finding {
            path: db.clone(),
            what: format!(
                "the verified log ends at zxid {end}, but {known_by} shows transactions through \
                 {known} were made durable"
            ),
        });
    }
    let needs_rebuild = match scan.runs.as_slice() {
        [] => scan.faults_total > 0,
        [only] => scan.faults_total > 0 || Some(*only) != kept,
        _ => true,
    };
    Assessment {
        base,
        end,
        kept,
        known,
        findings,
        needs_rebuild,
    }
}

/// Whether a log that failed to open failed because of its content (damage), rather than
/// because of the machine (permissions, a lock, another format).
fn is_damage(e: &StorageError) -> bool {
    match e {
        StorageError::Panicked { .. }
        | StorageError::Corrupt { .. }
        | StorageError::CorruptFile { .. }
        | StorageError::CorruptOther(_) => true,
        StorageError::Db(sled::Error::Corruption { .. } | sled::Error::ReportableBug(_)) => true,
        StorageError::Db(sled::Error::Io(io)) => matches!(
            io.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
        ),
        _ => false,
    }
}

/// Takes the locks and opens every store; the log last, after what says how far it went.
fn open_all(path: &Path, options: &StorageOptions) -> Result<Opened, StorageError> {
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
    let log_dir = log_parent.join(TXNLOG_DIR);
    rewrite::finish_interrupted(&log_dir)?;

    let (snapshots, snap_report) =
        FileSnapshotStore::open(&path.join(SNAPSHOT_DIR), locks.clone())?;
    let epochs = FileEpochStore::open(path, locks.clone())?;
    let base = snap_report.latest.unwrap_or(Zxid::ZERO);

    // What says how far the directory had got, independently of the log itself.
    let mut evidence: Vec<(Zxid, String)> = Vec::new();
    let marker_file = marker_path(&log_dir);
    match read_marker(&marker_file) {
        MarkerState::Synced(z) => {
            evidence.push((z, format!("the synced marker {}", marker_file.display())))
        }
        MarkerState::Unreadable => tracing::warn!(
            file = %marker_file.display(),
            "the synced marker is unreadable: a loss of synced log records could go unnoticed"
        ),
        MarkerState::Missing => {}
    }
    for (z, name) in snapshots.all_file_names()? {
        evidence.push((z, format!("the snapshot file {name}")));
    }

    let log_exists = log_dir.join("db").exists();
    let mut missing = None;
    let log = if !log_exists && evidence.iter().any(|(z, _)| *z > Zxid::ZERO) {
        let finding = Finding {
            path: log_dir.clone(),
            what: "the txn log is missing, but the directory holds snapshots or a synced marker \
                   of a log that existed"
                .to_string(),
        };
        missing = Some(finding.clone());
        Err(finding)
    } else {
        match SledTxnLog::open(&log_dir, options.cache_capacity_bytes, locks.clone()) {
            Ok(pair) => Ok(pair),
            Err(e) if is_damage(&e) => Err(Finding {
                path: log_dir.join("db"),
                what: format!("the txn log cannot be read: {e}"),
            }),
            Err(e) => return Err(e),
        }
    };
    let mut assessment = assess(&log_dir, log.as_ref().ok().map(|(_, s)| s), base, &evidence);
    if let Err(finding) = &log {
        assessment.findings.insert(0, finding.clone());
        let vouched = matches!(read_marker(&marker_file), MarkerState::Synced(_));
        if (missing.is_none() || !vouched) && assessment.known <= assessment.end {
            // Unreadable (or gone with nothing to say how far it went): assume it went further.
            assessment.known = Zxid(assessment.end.0 + 1);
        }
    }
    Ok(Opened {
        locks,
        log_dir,
        snapshots,
        snap_skipped: snap_report.skipped,
        stale_tmp_removed: snap_report.stale_tmp_removed,
        epochs,
        log,
        assessment,
    })
}

/// Rebuilds the log of `o` into a fresh database holding the kept run; returns the reopened
/// log and what it did. `o.log` is consumed (closed before the swap).
fn rebuild(
    o: &mut Opened,
    options: &StorageOptions,
) -> Result<(SledTxnLog, u64, Option<PathBuf>), StorageError> {
    let a = &o.assessment;
    let source_log = std::mem::replace(
        &mut o.log,
        Err(Finding {
            path: o.log_dir.clone(),
            what: "rebuilt".into(),
        }),
    );
    let copied = {
        let source = match (&source_log, a.kept) {
            (Ok((log, _)), Some(_)) => Some(log),
            _ => None,
        };
        rewrite::build(
            &o.log_dir,
            options.cache_capacity_bytes,
            Source {
                source,
                after: a.base,
                through: if source.is_some() { a.end } else { a.base },
            },
        )?
    };
    // The old database must be closed before it is moved aside (and its marker untouched by
    // its close: the swap sets the marker).
    drop(source_log);
    let moved = rewrite::swap(&o.log_dir, a.end)?;
    let (log, scan) = SledTxnLog::open(&o.log_dir, options.cache_capacity_bytes, o.locks.clone())?;
    if !scan.is_clean() {
        return Err(StorageError::CorruptOther(format!(
            "the rebuilt txn log at {} does not verify: {scan:?}",
            o.log_dir.display()
        )));
    }
    Ok((log, copied, moved))
}

impl DataDir {
    /// [`DataDir::open_with`] with default options.
    pub fn open(path: &Path) -> Result<(DataDir, RecoveryReport), StorageError> {
        DataDir::open_with(path, &StorageOptions::default())
    }

    /// Creates the directory if missing, takes its lock (`StorageError::Locked` if another
    /// process, or another `DataDir` in this one, holds it), opens the snapshots, epochs and log
    /// and verifies them (the module doc): a directory that lost durable transactions is
    /// `StorageError::Damaged` (see [`repair`]); a log with faults or gaps that cost nothing
    /// synced is rebuilt into a fresh database. Everything in the log is durable on return.
    pub fn open_with(
        path: &Path,
        options: &StorageOptions,
    ) -> Result<(DataDir, RecoveryReport), StorageError> {
        let mut o = open_all(path, options)?;
        let a = o.assessment.clone();
        let latest = (a.base > Zxid::ZERO).then_some(a.base);
        if a.lost() {
            return Err(StorageError::Damaged(Box::new(a.damage(path, latest))));
        }
        let (log, rebuilt, moved) = if a.needs_rebuild {
            let why = a
                .findings
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            let why = if why.is_empty() {
                format!(
                    "the log does not continue the newest snapshot {} (it was written by a \
                     damaged or older database)",
                    a.base
                )
            } else {
                why
            };
            tracing::warn!(
                dir = %o.log_dir.display(),
                %why,
                kept_through = %a.end,
                "txn log: rebuilding it into a fresh database (nothing synced is lost)"
            );
            let (log, _, moved) = rebuild(&mut o, options)?;
            (log, Some(why), moved)
        } else {
            let Ok((log, _)) = std::mem::replace(
                &mut o.log,
                Err(Finding {
                    path: PathBuf::new(),
                    what: String::new(),
                }),
            ) else {
                unreachable!("a missing or unreadable log is a loss or a rebuild");
            };
            (log, None, None)
        };
        let report = RecoveryReport {
            first_zxid: log.first_zxid(),
            last_zxid: log.last_logged_zxid(),
            latest_snapshot: latest,
            verified_through: a.end,
            snapshots_skipped: o.snap_skipped,
            stale_snapshot_tmp_removed: o.stale_tmp_removed,
            rebuilt,
            old_log_moved_to: moved,
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
                snapshots: Arc::new(o.snapshots),
                epochs: Arc::new(o.epochs),
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

/// What [`check`] found: `None` when the directory opens as it is (possibly after a lossless
/// rebuild), the damage otherwise. Changes nothing but what opening changes (sled's own
/// recovery, corrupt snapshots moved aside).
pub fn check(path: &Path, options: &StorageOptions) -> Result<Option<Damage>, StorageError> {
    let o = open_all(path, options)?;
    let a = &o.assessment;
    Ok(a.lost()
        .then(|| a.damage(path, (a.base > Zxid::ZERO).then_some(a.base))))
}

/// Makes a damaged data directory servable again by accepting its loss: the verified state
/// (newest good snapshot + the log records continuing it) is kept in a fresh log, the damaged
/// log is moved aside (`txnlog.damaged-<secs>`), corrupt snapshots beyond the verified state
/// are renamed `.discarded`, and the synced marker is set to the verified end. With
/// [`RepairOptions::new_epoch`] the epoch files move past every epoch the directory shows.
/// A healthy directory is left as it is (`damage: None`). Nothing else may have it open.
pub fn repair(
    path: &Path,
    options: &StorageOptions,
    repair: &RepairOptions,
) -> Result<RepairReport, StorageError> {
    let mut o = open_all(path, options)?;
    let a = o.assessment.clone();
    if !a.lost() {
        return Ok(RepairReport {
            damage: None,
            records_kept: 0,
            old_log_moved_to: None,
            new_epoch: None,
        });
    }
    let damage = a.damage(path, (a.base > Zxid::ZERO).then_some(a.base));
    tracing::warn!(%damage, "repairing: keeping the verified state, discarding the rest");
    let highest_seen = o.log.as_ref().map_or(Zxid::ZERO, |(_, s)| s.highest_seen);
    let (log, kept, moved) = rebuild(&mut o, options)?;
    drop(log);
    o.snapshots.discard_corrupt_above(a.end)?;
    let new_epoch = if repair.new_epoch {
        let top = [a.known, a.end, highest_seen]
            .iter()
            .map(|z| z.epoch())
            .max()
            .unwrap_or_default()
            .max(o.epochs.current_epoch())
            .max(o.epochs.accepted_epoch());
        let next = Epoch(top.0.saturating_add(1));
        o.epochs.set_accepted_epoch(next)?;
        o.epochs.set_current_epoch(next)?;
        Some(next)
    } else {
        None
    };
    Ok(RepairReport {
        damage: Some(damage),
        records_kept: kept,
        old_log_moved_to: moved,
        new_epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sled_log::LogFault;

    fn run(first: u64, last: u64) -> Run {
        Run {
            first: Zxid(first),
            last: Zxid(last),
            count: last - first + 1,
        }
    }

    fn scan(purged: u64, runs: Vec<Run>, faults: Vec<u64>) -> LogScan {
        LogScan {
            purged_through: Zxid(purged),
            highest_seen: runs.last().map_or(Zxid(purged), |r| r.last),
            faults_total: faults.len() as u64,
            faults: faults
                .into_iter()
                .map(|z| LogFault {
                    zxid: Zxid(z),
                    why: "bad".into(),
                })
                .collect(),
            runs,
        }
    }

    fn marker(z: u64) -> Vec<(Zxid, String)> {
        vec![(Zxid(z), "the marker".to_string())]
    }

    fn dir() -> PathBuf {
        PathBuf::from("/d/txnlog")
    }

    #[test]
    fn a_healthy_log_continuing_the_snapshot_opens_as_it_is() {
        for (s, base) in [
            (scan(0, vec![run(1, 100)], vec![]), 0),
            (scan(40, vec![run(41, 100)], vec![]), 50),
            (scan(0, vec![], vec![]), 0),
            // The log was emptied when a snapshot was installed (earlier builds).
            (scan(0, vec![], vec![]), 70),
            (scan(70, vec![run(71, 80)], vec![]), 70),
        ] {
            let a = assess(&dir(), Some(&s), Zxid(base), &marker(base));
            assert!(!a.lost(), "{a:?}");
            assert!(!a.needs_rebuild, "{a:?}");
        }
    }

    #[test]
    fn a_loss_of_synced_records_is_damage() {
        // sled dropped 91..=100, which the marker says were synced.
        let a = assess(
            &dir(),
            Some(&scan(0, vec![run(1, 90)], vec![])),
            Zxid(0),
            &marker(100),
        );
        assert!(a.lost());
        assert_eq!((a.end, a.known), (Zxid(90), Zxid(100)));
        // A damaged record in the middle: the run stops there, the rest cannot be applied.
        let s = scan(0, vec![run(1, 49), run(51, 100)], vec![50]);
        let a = assess(&dir(), Some(&s), Zxid(0), &marker(100));
        assert!(a.lost());
        assert_eq!(a.end, Zxid(49));
        assert_eq!(a.records_kept(), 49);
    }

    #[test]
    fn no_snapshot_and_a_purged_log_is_damage() {
        let s = scan(3000, vec![run(3001, 5000)], vec![]);
        let a = assess(&dir(), Some(&s), Zxid(0), &marker(5000));
        assert!(a.lost());
        assert_eq!(a.end, Zxid(0));
        // Even without a marker: the watermark itself says 3000 existed.
        let a = assess(&dir(), Some(&s), Zxid(0), &[]);
        assert!(a.lost());
    }

    #[test]
    fn damage_covered_by_the_snapshot_is_rebuilt_without_loss() {
        let s = scan(0, vec![run(1, 49), run(51, 100)], vec![50]);
        let a = assess(&dir(), Some(&s), Zxid(60), &marker(100));
        assert!(!a.lost(), "{a:?}");
        assert!(a.needs_rebuild);
        assert_eq!((a.end, a.kept), (Zxid(100), Some(run(51, 100))));
    }

    #[test]
    fn unsynced_records_past_damage_are_dropped_without_loss() {
        // 1..=80 synced; 81 damaged; 82..=90 were never synced (a crash before the sync).
        let s = scan(0, vec![run(1, 80), run(82, 90)], vec![81]);
        let a = assess(&dir(), Some(&s), Zxid(0), &marker(80));
        assert!(!a.lost(), "{a:?}");
        assert!(a.needs_rebuild);
        assert_eq!(a.end, Zxid(80));
    }

    #[test]
    fn a_log_ending_before_the_snapshot_is_rebuilt() {
        let a = assess(
            &dir(),
            Some(&scan(0, vec![run(1, 90)], vec![])),
            Zxid(100),
            &marker(100),
        );
        assert!(!a.lost(), "{a:?}");
        assert!(a.needs_rebuild);
        assert_eq!((a.end, a.kept), (Zxid(100), None));
    }

    #[test]
    fn a_newer_corrupt_snapshot_is_evidence() {
        let mut ev = marker(0);
        ev.push((Zxid(120), "the snapshot file snapshot.x.corrupt".into()));
        let a = assess(
            &dir(),
            Some(&scan(0, vec![run(1, 100)], vec![])),
            Zxid(0),
            &ev,
        );
        assert!(a.lost());
    }

    #[test]
    fn an_unreadable_log_keeps_the_snapshot() {
        let a = assess(&dir(), None, Zxid(500), &marker(900));
        assert!(a.lost());
        assert_eq!(a.end, Zxid(500));
    }
}

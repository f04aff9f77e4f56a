//! Reading a data directory without changing it.
//!
//! ```text
//!  data dir ──(shared flock on paddock.lock while copying; refused if a server holds it)──┐
//!    txnlog/, txnlog.synced, txnlog.rebuild*, acceptedEpoch, currentEpoch  ── copied ─────┤
//!    snapshots/snapshot.*                                ── hard-linked (or copied) ──────┤
//!                                                                                         ▼
//!  temp dir ── DataDir::open (the server's own verification; rebuilds happen in the copy)
//!           ── newest good snapshot + log records after it = the state a server would load
//! ```
//!
//! Why a copy: sled writes when it opens a database (recovery, its own lock on `db`), and
//! `DataDir::open` may rebuild a log or move a corrupt snapshot aside. None of that may happen
//! to the operator's directory. Snapshot files are never changed once committed, so linking
//! them costs nothing; the log is bounded by the snapshot schedule (`snapCount`).

use std::fs::{self, File, TryLockError};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use paddock_datatree::DataTree;
use paddock_storage::{
    Damage, DataDir, RecoveryReport, SnapshotStore, StorageError, StorageOptions, TxnLog,
    LOCK_FILE, SNAPSHOT_DIR, TXNLOG_DIR,
};
use paddock_types::{Txn, TxnHeader, TxnOp, Zxid};

/// Where a data directory's files are.
#[derive(Debug, Clone)]
pub struct Source {
    /// `dataDir`.
    pub data_dir: PathBuf,
    /// `dataLogDir`, when it is not `dataDir`.
    pub log_dir: Option<PathBuf>,
}

impl Source {
    /// The data dir `dir` with its log inside.
    pub fn dir(dir: impl Into<PathBuf>) -> Source {
        Source {
            data_dir: dir.into(),
            log_dir: None,
        }
    }

    /// The data and log directories of a configuration.
    pub fn of(config: &paddock_types::Config) -> Source {
        Source {
            data_dir: config.data_dir.clone(),
            log_dir: config
                .data_log_dir
                .clone()
                .filter(|l| *l != config.data_dir),
        }
    }

    /// The directory holding `txnlog/`.
    pub fn log_parent(&self) -> &Path {
        self.log_dir.as_deref().unwrap_or(&self.data_dir)
    }
}

/// A shared lock on a directory's `paddock.lock` (none if the file does not exist: no server
/// ever ran there). Held while copying, so no server starts on the directory meanwhile.
struct SharedLock {
    _file: Option<File>,
}

fn lock_shared(dir: &Path) -> anyhow::Result<SharedLock> {
    let path = dir.join(LOCK_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SharedLock { _file: None })
        }
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(SharedLock { _file: Some(file) }),
        Err(TryLockError::WouldBlock) => bail!(
            "{} is in use by a running server ({} is locked). The txn log cannot be read \
             while it is written: stop the server first, or dump one of its snapshot files \
             (`paddock dump snapshot {}/snapshot.<zxid>`; they never change once written), \
             or take a backup from it with `paddock snapshot save FILE --server HOST:PORT`",
            dir.display(),
            path.display(),
            dir.join(SNAPSHOT_DIR).display()
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// A private, verified copy of a data directory (removed on drop).
pub struct OfflineCopy {
    /// Declared first: the stores close before their directory is removed.
    pub data: DataDir,
    /// What opening the copy found (paths in it are mapped back to the original's).
    pub report: RecoveryReport,
    _tmp: tempfile::TempDir,
}

/// What [`open_copy`] found.
pub enum Opened {
    Healthy(OfflineCopy),
    /// The directory lost transactions it had made durable (paths name the original's files):
    /// the report, and the verified state (snapshot + the log run continuing it) in a repaired
    /// copy, for tools that show what is readable.
    Damaged(Box<Damage>, OfflineCopy),
}

/// Copies `source` into a temporary directory and opens the copy as a server would.
pub fn open_copy(source: &Source) -> anyhow::Result<Opened> {
    let data_dir = &source.data_dir;
    if !data_dir.is_dir() {
        bail!("{} is not a directory", data_dir.display());
    }
    let tmp = tempfile::Builder::new()
        .prefix("paddock-offline-")
        .tempdir()
        .context("cannot create a temporary directory for the copy")?;
    {
        let _data_lock = lock_shared(data_dir)?;
        let _log_lock = match &source.log_dir {
            Some(dir) => Some(lock_shared(dir)?),
            None => None,
        };
        copy_files(source, tmp.path())?;
    }
    let options = StorageOptions::default();
    let unmap = |p: &Path| -> PathBuf { original_path(p, tmp.path(), source) };
    match DataDir::open_with(tmp.path(), &options) {
        Ok((data, mut report)) => {
            for s in &mut report.snapshots_skipped {
                // Named as the operator's file is named (only the copy was moved aside).
                let path = unmap(&s.path);
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
                s.path = match name.as_deref().and_then(|n| n.strip_suffix(".corrupt")) {
                    Some(original) => path.with_file_name(original),
                    None => path,
                };
            }
            report.old_log_moved_to = None;
            Ok(Opened::Healthy(OfflineCopy {
                data,
                report,
                _tmp: tmp,
            }))
        }
        Err(StorageError::Damaged(mut damage)) => {
            damage.data_dir = data_dir.clone();
            for f in &mut damage.findings {
                f.path = unmap(&f.path);
                f.what = unmap_text(&f.what, tmp.path(), source);
            }
            paddock_storage::repair(tmp.path(), &options, &Default::default())
                .context("cannot read the verified part of the damaged copy")?;
            let (data, report) = DataDir::open_with(tmp.path(), &options)
                .context("cannot open the verified part of the damaged copy")?;
            Ok(Opened::Damaged(
                damage,
                OfflineCopy {
                    data,
                    report,
                    _tmp: tmp,
                },
            ))
        }
        Err(e) => Err(anyhow!(
            "cannot read the data directory {}: {}",
            data_dir.display(),
            e.to_string()
                .replace(&tmp.path().display().to_string(), "<copy>")
        )),
    }
}

/// Paths inside the copy named in `text`, as the original's.
fn unmap_text(text: &str, tmp: &Path, source: &Source) -> String {
    let t = tmp.display().to_string();
    text.replace(
        &format!("{t}/txnlog"),
        &format!("{}/txnlog", source.log_parent().display()),
    )
    .replace(&t, &source.data_dir.display().to_string())
}

impl OfflineCopy {
    /// What a server would say about this directory at start, besides damage: snapshots it
    /// would move aside, a log it would rebuild (nothing synced lost). One line each.
    pub fn notes(&self) -> Vec<String> {
        let mut notes: Vec<String> = self
            .report
            .snapshots_skipped
            .iter()
            .map(|s| {
                format!(
                    "snapshot {} fails verification ({}); a server would move it aside and \
                     use an older one with the log",
                    s.path.display(),
                    s.why
                )
            })
            .collect();
        if let Some(why) = &self.report.rebuilt {
            notes.push(format!(
                "a server would rebuild this txn log at start ({why}); nothing it had synced \
                 is lost"
            ));
        }
        notes
    }
}

/// A path inside the copy, as the original's.
fn original_path(p: &Path, tmp: &Path, source: &Source) -> PathBuf {
    match p.strip_prefix(tmp) {
        Ok(rest)
            if rest.starts_with(TXNLOG_DIR) || rest.to_string_lossy().starts_with("txnlog") =>
        {
            source.log_parent().join(rest)
        }
        Ok(rest) => source.data_dir.join(rest),
        Err(_) => p.to_path_buf(),
    }
}

/// The files a server's storage reads, into `to` (one directory: log inside).
fn copy_files(source: &Source, to: &Path) -> anyhow::Result<()> {
    let data = &source.data_dir;
    for name in ["acceptedEpoch", "currentEpoch"] {
        copy_if_exists(&data.join(name), &to.join(name))?;
    }
    let log_parent = source.log_parent();
    for entry in read_dir(log_parent)? {
        let name = entry.file_name();
        let text = name.to_string_lossy();
        // txnlog, txnlog.synced, txnlog.rebuild, txnlog.rebuild.done; not txnlog.damaged-*
        // (kept only for inspection, and large).
        if text == TXNLOG_DIR
            || text == "txnlog.synced"
            || text == "txnlog.rebuild"
            || text == "txnlog.rebuild.done"
        {
            copy_tree(&entry.path(), &to.join(&name))?;
        }
    }
    let snaps = data.join(SNAPSHOT_DIR);
    if snaps.is_dir() {
        let dest = to.join(SNAPSHOT_DIR);
        fs::create_dir(&dest).with_context(|| format!("cannot create {}", dest.display()))?;
        for entry in read_dir(&snaps)? {
            let name = entry.file_name();
            let text = name.to_string_lossy();
            if !text.starts_with("snapshot.") || text.ends_with(".tmp") {
                continue;
            }
            let (from, to) = (entry.path(), dest.join(&name));
            if fs::hard_link(&from, &to).is_err() {
                copy_if_exists(&from, &to)?;
            }
        }
    }
    Ok(())
}

fn read_dir(dir: &Path) -> anyhow::Result<Vec<fs::DirEntry>> {
    fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .map(|e| e.with_context(|| format!("cannot read {}", dir.display())))
        .collect()
}

fn copy_if_exists(from: &Path, to: &Path) -> anyhow::Result<()> {
    match fs::copy(from, to) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot copy {}", from.display())),
    }
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    let meta =
        fs::symlink_metadata(from).with_context(|| format!("cannot read {}", from.display()))?;
    if meta.is_dir() {
        fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
        for entry in read_dir(from)? {
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else if meta.is_file() {
        copy_if_exists(from, to)
    } else {
        Ok(())
    }
}

/// The state a server would load from an opened data directory.
pub struct LoadedState {
    pub tree: DataTree,
    /// The snapshot the state starts from (`None`: the empty tree).
    pub snapshot: Option<Zxid>,
    /// Log records replayed after it.
    pub replayed: u64,
    /// Records that did not decode and were applied as no-ops, as a server does.
    pub undecodable: Vec<(Zxid, String)>,
}

/// Newest good snapshot, then the log records after it, as the quorum peer's `rebuild` does.
pub fn load_state(data: &DataDir) -> anyhow::Result<LoadedState> {
    let (mut tree, snapshot) = match data.snapshots().open_latest()? {
        Some((z, mut reader)) => {
            let mut buf = Vec::new();
            reader
                .read_to_end(&mut buf)
                .with_context(|| format!("cannot read snapshot {z}"))?;
            let tree = DataTree::read_snapshot(&mut buf.as_slice())
                .with_context(|| format!("snapshot {z} cannot be loaded"))?;
            (tree, Some(z))
        }
        None => (DataTree::new(), None),
    };
    let log = data.log();
    let mut replayed = 0;
    let mut undecodable = Vec::new();
    for (zxid, bytes) in log.read_after(tree.last_zxid(), usize::MAX)? {
        let last = tree.last_zxid();
        if !zxid.follows(last) {
            bail!("the log does not continue the state at {last}: its next record is {zxid}");
        }
        tree.apply(&decode_or_noop(zxid, &bytes, &mut undecodable));
        replayed += 1;
    }
    Ok(LoadedState {
        tree,
        snapshot,
        replayed,
        undecodable,
    })
}

/// The record, or (as the processor applies a record it cannot decode) a no-op at its zxid.
fn decode_or_noop(zxid: Zxid, bytes: &Bytes, undecodable: &mut Vec<(Zxid, String)>) -> Txn {
    match Txn::decode_at(bytes, zxid) {
        Ok(t) => t,
        Err(e) => {
            undecodable.push((zxid, e.to_string()));
            Txn {
                header: TxnHeader {
                    zxid,
                    ..TxnHeader::default()
                },
                op: TxnOp::Sync { path: "/".into() },
            }
        }
    }
}

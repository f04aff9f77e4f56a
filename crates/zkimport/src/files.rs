//! Finding ZooKeeper's files: `version-2/snapshot.<zxid hex>` and `version-2/log.<zxid hex>`
//! (the zxid of the snapshot's start, of the log's first txn), as `Util.sortDataDir` and
//! `FileTxnLog.getLogFiles` pick them.

use std::path::{Path, PathBuf};

use crate::error::ImportError;

/// ZooKeeper's subdirectory for the current file format.
pub const VERSION_DIR: &str = "version-2";

/// A ZooKeeper file and the zxid in its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ZkFile {
    pub path: PathBuf,
    pub zxid: i64,
    /// The name has a compression suffix (`.gz`, `.snappy`).
    pub compressed: bool,
}

/// `dir/version-2` if it exists, else `dir` itself when it already is (or holds) the files.
pub(crate) fn version_dir(dir: &Path) -> PathBuf {
    let v2 = dir.join(VERSION_DIR);
    if v2.is_dir() {
        v2
    } else {
        dir.to_path_buf()
    }
}

/// Files named `<prefix>.<hex>[.suffix]`, oldest zxid first.
pub(crate) fn list(dir: &Path, prefix: &str) -> Result<Vec<ZkFile>, ImportError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ImportError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ImportError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let mut parts = name.split('.');
        if parts.next() != Some(prefix) {
            continue;
        }
        let Some(zxid) = parts.next().and_then(|h| u64::from_str_radix(h, 16).ok()) else {
            continue;
        };
        let suffix = parts.next();
        files.push(ZkFile {
            path: entry.path(),
            zxid: zxid as i64,
            compressed: suffix.is_some(),
        });
    }
    files.sort_by_key(|f| (f.zxid, f.compressed));
    Ok(files)
}

/// The logs that may hold txns after `snapshot_zxid`: the newest one starting at or before it,
/// and every later one.
pub(crate) fn logs_after(mut logs: Vec<ZkFile>, snapshot_zxid: i64) -> Vec<ZkFile> {
    let start = logs
        .iter()
        .filter(|f| f.zxid <= snapshot_zxid)
        .map(|f| f.zxid)
        .max()
        .unwrap_or(i64::MIN);
    logs.retain(|f| f.zxid >= start);
    logs
}

//! [`FileSnapshotStore`]: snapshots as files under `<data dir>/snapshots/`.
//!
//! ```text
//! snapshots/
//!   snapshot.<zxid hex16>           committed, durable (format.rs: payload + 28-byte trailer)
//!   snapshot.<zxid hex16>.tmp       being written; removed at open if a crash left one
//!   snapshot.<zxid hex16>.corrupt   failed verification; moved aside, kept for inspection
//! ```
//!
//! Commit = trailer, fsync, rename, fsync the directory, so a snapshot is either absent or whole.
//! Verification streams the file once through crc32 (64 KiB buffer) and is remembered for files
//! this process verified or wrote, so a snapshot checked at open is not read twice before loading;
//! the reader re-checks the crc as it streams anyway. A snapshot that fails verification is
//! renamed to `.corrupt` so that `list`/`purge` never count it as one of the snapshots to keep.

mod file;
mod format;
mod reader;
mod sink;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use paddock_types::Zxid;

pub use self::file::{open_snapshot_file, snapshot_files, write_snapshot_file, SnapshotFileInfo};
use self::format::Verified;
use self::reader::VerifyingReader;
pub use self::sink::FileSnapshotSink;
use crate::error::StorageError;
use crate::fsutil::{at, create_dir_durable, fsync_dir, lock, remove_if_exists};
use crate::lock::DirLock;
use crate::traits::{SnapshotReader, SnapshotSink, SnapshotStore};

/// A snapshot file that failed verification and was moved aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedSnapshot {
    /// The zxid its name claimed.
    pub zxid: Zxid,
    /// Where it is now (`snapshot.<zxid>.corrupt`).
    pub path: PathBuf,
    /// What was wrong with it.
    pub why: String,
}

/// What opening the snapshot directory found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotRecovery {
    /// The newest snapshot that verified, if any.
    pub latest: Option<Zxid>,
    /// Newer snapshots that failed verification (newest first).
    pub skipped: Vec<SkippedSnapshot>,
    /// Unfinished `.tmp` files left by a crash and removed.
    pub stale_tmp_removed: usize,
}

/// State shared by the store and its sinks.
pub(crate) struct Shared {
    dir: PathBuf,
    /// Snapshots known good: verified here or written by this process.
    verified: Mutex<BTreeMap<Zxid, Verified>>,
}

/// The production [`SnapshotStore`].
pub struct FileSnapshotStore {
    shared: Arc<Shared>,
    /// Held while the store is alive. Not by sinks: a sink leaked by a crashed task must not
    /// keep the directory locked.
    _locks: Vec<Arc<DirLock>>,
}

impl std::fmt::Debug for FileSnapshotStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSnapshotStore")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

/// The newest valid snapshot, opened.
struct Found {
    zxid: Zxid,
    file: File,
    verified: Verified,
    path: PathBuf,
}

impl FileSnapshotStore {
    /// Opens (creating if needed) the snapshot directory `dir`, removes stale `.tmp` files and
    /// verifies snapshots newest first until one is valid.
    pub(crate) fn open(
        dir: &Path,
        locks: Vec<Arc<DirLock>>,
    ) -> Result<(FileSnapshotStore, SnapshotRecovery), StorageError> {
        create_dir_durable(dir)?;
        let store = FileSnapshotStore {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                verified: Mutex::new(BTreeMap::new()),
            }),
            _locks: locks,
        };
        let stale_tmp_removed = store.remove_stale_tmp()?;
        let (found, skipped) = store.find_latest()?;
        let report = SnapshotRecovery {
            latest: found.map(|f| f.zxid),
            skipped,
            stale_tmp_removed,
        };
        Ok((store, report))
    }

    /// The snapshot directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Every snapshot file's zxid and name, good ones and those moved aside as `.corrupt`
    /// alike: each says the state through its zxid was once complete here (evidence for the
    /// data directory's check). `.discarded` files (a repair accepted their loss) do not count.
    pub(crate) fn all_file_names(&self) -> Result<Vec<(Zxid, String)>, StorageError> {
        let dir = &self.shared.dir;
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(at(dir))? {
            let name = entry.map_err(at(dir))?.file_name();
            let name = name.to_string_lossy().into_owned();
            let stem = name.strip_suffix(".corrupt").unwrap_or(&name);
            if let Some(z) = format::parse_file_name(stem) {
                out.push((z, name));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Renames the `.corrupt` snapshots above `zxid` to `.corrupt.discarded` (a repair accepted
    /// that the state they held is lost); returns how many.
    pub(crate) fn discard_corrupt_above(&self, zxid: Zxid) -> Result<usize, StorageError> {
        let dir = &self.shared.dir;
        let mut n = 0;
        for (z, name) in self.all_file_names()? {
            if z > zxid && name.ends_with(".corrupt") {
                let from = dir.join(&name);
                fs::rename(&from, dir.join(format!("{name}.discarded"))).map_err(at(&from))?;
                n += 1;
            }
        }
        if n > 0 {
            fsync_dir(dir)?;
        }
        Ok(n)
    }

    fn remove_stale_tmp(&self) -> Result<usize, StorageError> {
        let dir = &self.shared.dir;
        let mut removed = 0;
        for entry in fs::read_dir(dir).map_err(at(dir))? {
            let name = entry.map_err(at(dir))?.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("snapshot.") && name.ends_with(".tmp") {
                tracing::warn!(file = %name, "removing unfinished snapshot left by a crash");
                remove_if_exists(&dir.join(&*name))?;
                removed += 1;
            }
        }
        if removed > 0 {
            fsync_dir(dir)?;
        }
        Ok(removed)
    }

    /// Newest first: the first snapshot that verifies, and the ones skipped on the way.
    fn find_latest(&self) -> Result<(Option<Found>, Vec<SkippedSnapshot>), StorageError> {
        let mut skipped = Vec::new();
        for zxid in self.list()?.into_iter().rev() {
            let path = self.shared.dir.join(format::file_name(zxid));
            let mut file = match File::open(&path) {
                Ok(f) => f,
                // Purged since the listing.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(at(&path)(e)),
            };
            match self.check(&mut file, zxid).map_err(at(&path))? {
                Ok(verified) => {
                    return Ok((
                        Some(Found {
                            zxid,
                            file,
                            verified,
                            path,
                        }),
                        skipped,
                    ))
                }
                Err(why) => skipped.push(self.quarantine(zxid, &path, why)?),
            }
        }
        Ok((None, skipped))
    }

    /// Full verification, unless this process already verified (or wrote) this very file.
    fn check(&self, file: &mut File, zxid: Zxid) -> std::io::Result<Result<Verified, String>> {
        let known = lock(&self.shared.verified).get(&zxid).copied();
        if let Some(known) = known {
            if format::check_trailer(file, zxid)?.as_ref() == Ok(&known) {
                return Ok(Ok(known));
            }
        }
        let result = format::verify(file, zxid)?;
        let mut verified = lock(&self.shared.verified);
        match &result {
            Ok(v) => verified.insert(zxid, *v),
            Err(_) => verified.remove(&zxid),
        };
        Ok(result)
    }

    /// Moves an invalid snapshot aside to `.corrupt` and warns.
    fn quarantine(
        &self,
        zxid: Zxid,
        path: &Path,
        why: String,
    ) -> Result<SkippedSnapshot, StorageError> {
        let dest = path.with_file_name(format!("{}.corrupt", format::file_name(zxid)));
        tracing::warn!(
            snapshot = %path.display(),
            moved_to = %dest.display(),
            why = %why,
            "snapshot failed verification; skipped"
        );
        fs::rename(path, &dest).map_err(at(path))?;
        fsync_dir(&self.shared.dir)?;
        Ok(SkippedSnapshot {
            zxid,
            path: dest,
            why,
        })
    }
}

impl SnapshotStore for FileSnapshotStore {
    fn create(&self, zxid: Zxid) -> Result<Box<dyn SnapshotSink>, StorageError> {
        Ok(Box::new(FileSnapshotSink::create(
            Arc::clone(&self.shared),
            zxid,
        )?))
    }

    fn open_latest(&self) -> Result<Option<(Zxid, SnapshotReader)>, StorageError> {
        let Some(mut found) = self.find_latest()?.0 else {
            return Ok(None);
        };
        found
            .file
            .seek(SeekFrom::Start(0))
            .map_err(at(&found.path))?;
        let reader = VerifyingReader::new(found.file, found.verified, found.path);
        Ok(Some((found.zxid, Box::new(reader))))
    }

    fn list(&self) -> Result<Vec<Zxid>, StorageError> {
        let dir = &self.shared.dir;
        let mut zxids = Vec::new();
        for entry in fs::read_dir(dir).map_err(at(dir))? {
            let name = entry.map_err(at(dir))?.file_name();
            if let Some(z) = name.to_str().and_then(format::parse_file_name) {
                zxids.push(z);
            }
        }
        zxids.sort_unstable();
        Ok(zxids)
    }

    fn purge(&self, keep: usize) -> Result<Vec<Zxid>, StorageError> {
        let all = self.list()?;
        let remove = &all[..all.len().saturating_sub(keep)];
        for zxid in remove {
            remove_if_exists(&self.shared.dir.join(format::file_name(*zxid)))?;
            lock(&self.shared.verified).remove(zxid);
        }
        if !remove.is_empty() {
            fsync_dir(&self.shared.dir)?;
            tracing::debug!(removed = remove.len(), keep, "snapshots purged");
        }
        Ok(remove.to_vec())
    }

    fn discard_after(&self, zxid: Zxid) -> Result<Vec<Zxid>, StorageError> {
        let remove: Vec<Zxid> = self.list()?.into_iter().filter(|z| *z > zxid).collect();
        for z in &remove {
            remove_if_exists(&self.shared.dir.join(format::file_name(*z)))?;
            lock(&self.shared.verified).remove(z);
        }
        if !remove.is_empty() {
            fsync_dir(&self.shared.dir)?;
            tracing::info!(above = %zxid, removed = ?remove, "snapshots discarded");
        }
        Ok(remove)
    }
}

//! [`FileEpochStore`]: ZAB's `acceptedEpoch` and `currentEpoch`, one small file each, as in
//! ZooKeeper (`<data dir>/acceptedEpoch`, `<data dir>/currentEpoch`, decimal text + newline).
//!
//! A setter writes `<file>.tmp`, fsyncs it, renames it over the file and fsyncs the directory
//! before updating the in-memory copy and returning, so a returned `Ok` is on stable storage and
//! a crash leaves the old or the new value, never a torn one. A missing file means "never set"
//! (epoch 0); a file that exists but does not hold a number is an error at open — reading it as 0
//! could let this server accept an epoch it already promised away.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use paddock_types::Epoch;

use crate::error::StorageError;
use crate::fsutil::{at, lock, remove_if_exists, tmp_path, write_atomic};
use crate::lock::DirLock;
use crate::traits::EpochStore;

/// File name of the accepted epoch.
pub const ACCEPTED_EPOCH_FILE: &str = "acceptedEpoch";
/// File name of the current epoch.
pub const CURRENT_EPOCH_FILE: &str = "currentEpoch";

/// The production [`EpochStore`].
#[derive(Debug)]
pub struct FileEpochStore {
    accepted_path: PathBuf,
    current_path: PathBuf,
    accepted: AtomicU32,
    current: AtomicU32,
    /// Serialises writers, so file and cache cannot disagree after two racing setters.
    write: Mutex<()>,
    /// Held while the store is alive.
    _locks: Vec<Arc<DirLock>>,
}

impl FileEpochStore {
    /// Reads both epoch files in `dir` (removing stale `.tmp` files first).
    pub(crate) fn open(
        dir: &Path,
        locks: Vec<Arc<DirLock>>,
    ) -> Result<FileEpochStore, StorageError> {
        let accepted_path = dir.join(ACCEPTED_EPOCH_FILE);
        let current_path = dir.join(CURRENT_EPOCH_FILE);
        let accepted = read_epoch(&accepted_path)?;
        let current = read_epoch(&current_path)?;
        Ok(FileEpochStore {
            accepted_path,
            current_path,
            accepted: AtomicU32::new(accepted.0),
            current: AtomicU32::new(current.0),
            write: Mutex::new(()),
            _locks: locks,
        })
    }

    fn set(&self, path: &Path, cell: &AtomicU32, epoch: Epoch) -> Result<(), StorageError> {
        let _write = lock(&self.write);
        write_atomic(path, format!("{}\n", epoch.0).as_bytes())?;
        cell.store(epoch.0, Ordering::Release);
        Ok(())
    }
}

/// Reads one epoch file: missing = `Epoch(0)`; anything but a `u32` in decimal is an error.
fn read_epoch(path: &Path) -> Result<Epoch, StorageError> {
    remove_if_exists(&tmp_path(path))?;
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Epoch(0)),
        Err(e) => return Err(at(path)(e)),
    };
    let corrupt = |why: String| StorageError::CorruptFile {
        path: path.to_path_buf(),
        why,
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| corrupt("not UTF-8 text".to_string()))?;
    let text = text.trim();
    text.parse::<u32>()
        .map(Epoch)
        .map_err(|e| corrupt(format!("{text:?} is not an epoch (a u32): {e}")))
}

impl EpochStore for FileEpochStore {
    fn accepted_epoch(&self) -> Epoch {
        Epoch(self.accepted.load(Ordering::Acquire))
    }

    fn current_epoch(&self) -> Epoch {
        Epoch(self.current.load(Ordering::Acquire))
    }

    fn set_accepted_epoch(&self, epoch: Epoch) -> Result<(), StorageError> {
        self.set(&self.accepted_path, &self.accepted, epoch)
    }

    fn set_current_epoch(&self, epoch: Epoch) -> Result<(), StorageError> {
        self.set(&self.current_path, &self.current, epoch)
    }
}

//! The data directory lock: one server per directory.
//!
//! `paddock.lock` is held with an exclusive advisory lock (`flock` via `File::try_lock`) for as
//! long as any store opened from the directory is alive (every store holds an `Arc<DirLock>`).
//! `flock` belongs to the open file description, so a second open in the *same* process fails too.
//! The file itself stays behind after exit; only the lock matters.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::error::StorageError;
use crate::fsutil::io_err;

/// The lock file's name inside a data (or log) directory.
pub const LOCK_FILE: &str = "paddock.lock";

/// An exclusive lock on a directory, released on drop (when the file is closed).
#[derive(Debug)]
pub struct DirLock {
    /// Holding the open file is what holds the lock.
    _file: File,
}

impl DirLock {
    /// Takes the lock on `dir` (which must exist), or `StorageError::Locked(dir)` if another
    /// holder has it.
    pub fn acquire(dir: &Path) -> Result<DirLock, StorageError> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(StorageError::Locked(dir.to_path_buf())),
            Err(TryLockError::Error(e)) => Err(io_err(&path, e)),
        }
    }
}

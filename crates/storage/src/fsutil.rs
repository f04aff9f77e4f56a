//! Small filesystem helpers: io errors that name their path, directory fsync, atomic file writes.
//!
//! Every helper that claims durability does a real `fsync`/`fdatasync`; renames are followed by an
//! fsync of the directory, because on Linux a rename is only durable once its directory is.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::StorageError;

/// Wraps an io error with the path it happened on.
pub(crate) fn io_err(path: &Path, source: std::io::Error) -> StorageError {
    StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `map_err` helper: `.map_err(at(&path))`.
pub(crate) fn at(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| io_err(path, source)
}

/// Makes the directory entries of `dir` (creations, renames, removals) durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(at(dir))
}

/// Creates `dir` (and parents) if missing, and makes its entry durable in its parent.
pub(crate) fn create_dir_durable(dir: &Path) -> Result<(), StorageError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(at(dir))?;
    fsync_dir(dir)?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsync_dir(parent)?;
    }
    Ok(())
}

/// `<path>.tmp`, the temporary name used by [`write_atomic`].
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Replaces `path` with `bytes` atomically and durably, as ZooKeeper's `AtomicFileWritingIdiom`:
/// write `<path>.tmp`, fsync it, rename over `path`, fsync the directory. A crash leaves either
/// the old or the new content (and possibly a stale `.tmp`, removed at the next open).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    replace(path, bytes, true)
}

fn replace(path: &Path, bytes: &[u8], durable: bool) -> Result<(), StorageError> {
    let tmp = tmp_path(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(at(&tmp))?;
    file.write_all(bytes).map_err(at(&tmp))?;
    if durable {
        file.sync_all().map_err(at(&tmp))?;
    }
    drop(file);
    fs::rename(&tmp, path).map_err(at(path))?;
    if durable {
        fsync_dir(parent_of(path))?;
    }
    Ok(())
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Removes `path` if it exists; returns whether it did.
pub(crate) fn remove_if_exists(path: &Path) -> Result<bool, StorageError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(path, e)),
    }
}

/// Recovers the guard of a poisoned mutex: our critical sections leave their state consistent
/// before anything that could panic, so the data is still good.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

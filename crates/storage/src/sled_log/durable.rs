//! Making sled's writes reach stable storage.
//!
//! sled 0.34.7's `flush()` writes its buffers and calls `sync_file_range` on the data file: that
//! survives a process crash, not a power loss on a disk with a volatile write cache (STACK.md).
//! After every `flush()` we therefore fsync what sled wrote ourselves. sled 0.34.7 keeps, under its
//! directory:
//!
//! ```text
//! db          the log-structured data file: every page write (fdatasync after each flush)
//! blobs/<lsn> items larger than segment_size/4 (128 KiB), written once with no fsync by sled:
//!             each new blob file is fdatasync'ed once, then the blobs/ directory is fsync'ed,
//!             both before `db`, so no durable pointer ever names a blob that is not
//! conf        written once at creation; fsync'ed at open
//! snap.<lsn>  sled's own recovery snapshot, fsync'ed by sled before its rename; we fsync the
//!             directory when its listing changes so the rename is durable too
//! ```
//!
//! The caller ([`super::SledTxnLog`]) holds its flush mutex around [`SledFiles::flush_durably`], so
//! exactly one flush runs at a time, and sled's own background flusher is disabled at open.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::error::StorageError;
use crate::fsutil::{at, fsync_dir};

/// Handles on sled's files and what has already been synced.
#[derive(Debug)]
pub(crate) struct SledFiles {
    /// sled's directory (`<log dir>/txnlog`).
    dir: PathBuf,
    /// `db`, opened read-only: `fdatasync` works on any descriptor.
    data_file: File,
    /// Names in `blobs/` already fdatasync'ed (blob files are immutable once written).
    synced_blobs: BTreeSet<OsString>,
    /// The listing of `dir` at the last directory fsync.
    dir_listing: BTreeSet<OsString>,
}

impl SledFiles {
    /// Opens sled's files after `sled::open` and makes everything sled wrote so far durable,
    /// including the directory entries.
    pub(crate) fn open(dir: &Path) -> Result<SledFiles, StorageError> {
        let data_path = dir.join("db");
        let data_file = File::open(&data_path).map_err(at(&data_path))?;
        let conf = dir.join("conf");
        if conf.exists() {
            File::open(&conf)
                .and_then(|f| f.sync_all())
                .map_err(at(&conf))?;
        }
        let mut files = SledFiles {
            dir: dir.to_path_buf(),
            data_file,
            synced_blobs: BTreeSet::new(),
            dir_listing: BTreeSet::new(),
        };
        files.sync_after_flush()?;
        fsync_dir(&files.dir)?;
        Ok(files)
    }

    /// `db.flush()` then the fsyncs that make it durable.
    pub(crate) fn flush_durably(&mut self, db: &sled::Db) -> Result<(), StorageError> {
        db.flush()?;
        self.sync_after_flush()
    }

    fn sync_after_flush(&mut self) -> Result<(), StorageError> {
        // Blobs first: the log entries in `db` that point to them then never become durable
        // before the blobs themselves (sled would skip such a "dangling blob", but why risk it).
        self.sync_blobs()?;
        let data_path = self.dir.join("db");
        self.data_file.sync_data().map_err(at(&data_path))?;
        let listing = list(&self.dir)?;
        if listing != self.dir_listing {
            fsync_dir(&self.dir)?;
            self.dir_listing = listing;
        }
        Ok(())
    }

    fn sync_blobs(&mut self) -> Result<(), StorageError> {
        let blobs = self.dir.join("blobs");
        if !blobs.is_dir() {
            return Ok(());
        }
        let present = list(&blobs)?;
        let mut new_files = false;
        for name in present.difference(&self.synced_blobs) {
            let path = blobs.join(name);
            match File::open(&path) {
                Ok(f) => f.sync_data().map_err(at(&path))?,
                // sled garbage-collected it between the listing and now.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(at(&path)(e)),
            }
            new_files = true;
        }
        if new_files || present.len() != self.synced_blobs.len() {
            fsync_dir(&blobs)?;
        }
        self.synced_blobs = present;
        Ok(())
    }
}

fn list(dir: &Path) -> Result<BTreeSet<OsString>, StorageError> {
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(dir).map_err(at(dir))? {
        names.insert(entry.map_err(at(dir))?.file_name());
    }
    Ok(names)
}

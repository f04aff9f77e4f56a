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
//!
//! Directory listings cost a few syscalls each (open, getdents, close) and sled rarely adds a
//! file, so a directory is listed again only when its mtime moved since the last listing
//! ([`Listing::still_valid`]). Any entry added or removed sets the directory's mtime to the current
//! (coarse) time, so an mtime equal to the one read before the last listing, when that mtime was
//! already well in the past at the time, proves that nothing changed. The mtime is read with
//! `fstat` on a descriptor held open for the log's lifetime ([`Dir`]), not with `stat` on the
//! path: the path walk made those checks ~7% of the log writer's CPU time under a write load
//! (every group commit checks both directories). sled never renames or replaces its directories.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::StorageError;
use crate::fsutil::{at, fsync_dir};

/// Handles on sled's files and what has already been synced.
#[derive(Debug)]
pub(crate) struct SledFiles {
    /// sled's directory (`<log dir>/txnlog`).
    dir: Dir,
    /// `dir/db`, opened read-only: `fdatasync` works on any descriptor.
    data_file: File,
    data_path: PathBuf,
    /// `dir/blobs`, which sled creates when it opens; `None` while it does not exist.
    blobs: Option<Dir>,
    /// Names in `blobs/` already fdatasync'ed (blob files are immutable once written).
    synced_blobs: Listing,
    /// The listing of `dir` at the last directory fsync.
    dir_listing: Listing,
}

/// A directory's path and a descriptor on it, for reading its mtime without a path walk.
#[derive(Debug)]
struct Dir {
    path: PathBuf,
    handle: File,
}

impl Dir {
    fn open(path: PathBuf) -> Result<Dir, StorageError> {
        let handle = File::open(&path).map_err(at(&path))?;
        Ok(Dir { path, handle })
    }

    fn mtime(&self) -> Option<SystemTime> {
        self.handle.metadata().and_then(|m| m.modified()).ok()
    }
}

/// How far in the past a directory's mtime must be, when it is read before a listing, for an
/// unchanged mtime later to prove an unchanged directory. Far above the coarseness of file
/// system timestamps (a clock tick, <= 10 ms), so a change made just after the listing cannot
/// carry the same timestamp.
const MTIME_SETTLED: Duration = Duration::from_secs(1);

/// A directory's names as last read, and the directory's mtime read just before.
#[derive(Debug, Default)]
struct Listing {
    names: BTreeSet<OsString>,
    /// The mtime read before `names`, when it was at least [`MTIME_SETTLED`] old then; `None`
    /// forces the next listing.
    settled_mtime: Option<SystemTime>,
}

impl Listing {
    /// Whether `dir` provably has the same entries as when `self` was read.
    fn still_valid(&self, dir: &Dir) -> bool {
        match (self.settled_mtime, dir.mtime()) {
            (Some(then), Some(now)) => then == now,
            _ => false,
        }
    }

    /// Reads `dir` afresh.
    fn read(dir: &Dir) -> Result<Listing, StorageError> {
        let now = SystemTime::now();
        let before = dir.mtime();
        let names = list(&dir.path)?;
        let settled_mtime =
            before.filter(|m| now.duration_since(*m).is_ok_and(|age| age >= MTIME_SETTLED));
        Ok(Listing {
            names,
            settled_mtime,
        })
    }
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
            dir: Dir::open(dir.to_path_buf())?,
            data_file,
            data_path,
            blobs: None,
            synced_blobs: Listing::default(),
            dir_listing: Listing::default(),
        };
        files.sync_after_flush()?;
        fsync_dir(&files.dir.path)?;
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
        self.data_file.sync_data().map_err(at(&self.data_path))?;
        if self.dir_listing.still_valid(&self.dir) {
            return Ok(());
        }
        let listing = Listing::read(&self.dir)?;
        if listing.names != self.dir_listing.names {
            fsync_dir(&self.dir.path)?;
        }
        self.dir_listing = listing;
        Ok(())
    }

    fn sync_blobs(&mut self) -> Result<(), StorageError> {
        let blobs = match &self.blobs {
            Some(blobs) => blobs,
            None => {
                let path = self.dir.path.join("blobs");
                if !path.is_dir() {
                    return Ok(());
                }
                self.blobs.insert(Dir::open(path)?)
            }
        };
        if self.synced_blobs.still_valid(blobs) {
            return Ok(());
        }
        let present = Listing::read(blobs)?;
        let mut new_files = false;
        for name in present.names.difference(&self.synced_blobs.names) {
            let path = blobs.path.join(name);
            match File::open(&path) {
                Ok(f) => f.sync_data().map_err(at(&path))?,
                // sled garbage-collected it between the listing and now.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(at(&path)(e)),
            }
            new_files = true;
        }
        if new_files || present.names.len() != self.synced_blobs.names.len() {
            fsync_dir(&blobs.path)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn age(dir: &Path, by: Duration) {
        let then = SystemTime::now() - by;
        File::open(dir)
            .and_then(|f| f.set_modified(then))
            .expect("set the directory's mtime");
    }

    #[test]
    fn a_listing_taken_right_after_a_change_is_never_trusted() {
        let dir = tempfile::tempdir().expect("temp dir");
        File::create(dir.path().join("a")).expect("create");
        let d = Dir::open(dir.path().to_path_buf()).expect("open the directory");
        let l = Listing::read(&d).expect("list");
        assert_eq!(l.names.len(), 1);
        // The mtime is fresh: a change within the same clock tick could keep it.
        assert!(!l.still_valid(&d));
    }

    #[test]
    fn a_settled_listing_holds_until_an_entry_is_added_or_removed() {
        let dir = tempfile::tempdir().expect("temp dir");
        File::create(dir.path().join("a")).expect("create");
        age(dir.path(), Duration::from_secs(60));
        let d = Dir::open(dir.path().to_path_buf()).expect("open the directory");
        let l = Listing::read(&d).expect("list");
        assert!(l.still_valid(&d));
        // Writing into an existing file does not touch the directory.
        fs::write(dir.path().join("a"), b"more").expect("write");
        assert!(l.still_valid(&d));
        File::create(dir.path().join("b")).expect("create");
        assert!(!l.still_valid(&d));

        age(dir.path(), Duration::from_secs(60));
        let l = Listing::read(&d).expect("list");
        assert!(l.still_valid(&d));
        fs::remove_file(dir.path().join("a")).expect("remove");
        assert!(!l.still_valid(&d));
    }

    #[test]
    fn a_missing_directory_is_never_valid() {
        let dir = tempfile::tempdir().expect("temp dir");
        let gone = dir.path().join("gone");
        assert!(Dir::open(gone.clone()).is_err());
        // A directory removed after it was opened has no listing to trust either.
        fs::create_dir(&gone).expect("mkdir");
        let d = Dir::open(gone.clone()).expect("open the directory");
        fs::remove_dir(&gone).expect("rmdir");
        assert!(!Listing::default().still_valid(&d));
        assert!(Listing::read(&d).is_err());
    }
}

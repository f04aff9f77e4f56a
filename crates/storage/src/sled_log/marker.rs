//! The synced marker: `<log dir>.synced` beside sled's directory, holding the highest zxid the
//! log has made durable. It exists because sled cannot tell a torn tail from damage: at open,
//! sled 0.34 ends its log at the first message it cannot read (or skips a damaged stretch) and
//! drops what came after, synced or not, without a word. The marker makes such a loss visible:
//! at open, a log whose verified records end below the marker has lost synced records — which
//! may have been acknowledged to clients — and the data directory is reported damaged.
//!
//! Rules, so that the marker never claims more than the log really synced:
//! * it is raised only after a sync returned, to the zxid that sync made durable, on *every*
//!   sync: one `pwrite` of a fixed-size record over the file's first bytes (no rename, no size
//!   change; a few microseconds). The page cache holds it at once, so it survives a process
//!   crash (kill -9) exactly; an `fdatasync` of it at most once per [`SYNC_EVERY`] (and at a
//!   clean close) bounds how stale it can be after a power loss;
//! * it is lowered, durably, before the log is truncated (ZAB's TRUNC, installing a snapshot,
//!   a repair), so a legitimate truncation never looks like a loss;
//! * the record carries a crc32 of the zxid: a torn or damaged marker reads as unknown (and is
//!   said so), never as a wrong number.
//!
//! Layout (text, so an operator can read it; always [`RECORD_LEN`] bytes):
//!
//! ```text
//! # paddock: txn log synced through this zxid
//! zxid=0x<16 hex digits> crc=<8 hex digits>
//! ```
//!
//! Markers written by earlier builds (`zxid=0x<hex>` without a crc, rewritten by rename at most
//! once a second) are read as they are.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use paddock_types::Zxid;

use crate::error::StorageError;
use crate::fsutil::{at, fsync_dir, parent_of, remove_if_exists, tmp_path, write_atomic};

/// How often a sync also fdatasyncs the marker (it is in the page cache at every sync).
pub(crate) const SYNC_EVERY: Duration = Duration::from_secs(1);

const HEADER: &str = "# paddock: txn log synced through this zxid\n";
/// Bytes in a marker record.
pub(crate) const RECORD_LEN: usize = HEADER.len() + "zxid=0x crc=\n".len() + 16 + 8;

/// The marker file of a log in `sled_dir`: `<sled_dir>.synced` (`dataDir/txnlog.synced`).
pub(crate) fn marker_path(sled_dir: &Path) -> PathBuf {
    let mut name = sled_dir.file_name().unwrap_or_default().to_os_string();
    name.push(".synced");
    sled_dir.with_file_name(name)
}

/// What a marker file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerState {
    /// No marker file.
    Missing,
    /// A marker that does not parse or whose checksum fails.
    Unreadable,
    /// The log had synced every record up to this zxid.
    Synced(Zxid),
}

impl MarkerState {
    /// The zxid it vouches for (`Zxid::ZERO` when it vouches for nothing).
    pub fn zxid(self) -> Zxid {
        match self {
            MarkerState::Synced(z) => z,
            _ => Zxid::ZERO,
        }
    }
}

/// Reads the marker at `path`.
pub fn read_marker(path: &Path) -> MarkerState {
    match fs::read(path) {
        Ok(bytes) => match parse(&String::from_utf8_lossy(&bytes)) {
            Some(z) => MarkerState::Synced(z),
            None => MarkerState::Unreadable,
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => MarkerState::Missing,
        Err(_) => MarkerState::Unreadable,
    }
}

#[derive(Debug)]
pub(crate) struct SyncedMarker {
    path: PathBuf,
    /// Open for the per-sync overwrite; `None` until first needed (or after a failed write).
    file: Option<File>,
    /// What the file holds as far as we know (page cache).
    written: Zxid,
    /// Whether `written` is in the file but not fdatasync'ed yet.
    dirty: bool,
    /// When the marker was last fdatasync'ed.
    synced_at: Option<Instant>,
    /// Whether a failed write was logged already (the marker is a check, not the data: failures
    /// warn, once, and never fail a sync).
    warned: bool,
}

impl SyncedMarker {
    /// The marker at `path`, starting from what the file holds (ZERO if missing or unreadable).
    pub(crate) fn open(path: PathBuf) -> SyncedMarker {
        let written = read_marker(&path).zxid();
        SyncedMarker {
            path,
            file: None,
            written,
            dirty: false,
            synced_at: None,
            warned: false,
        }
    }

    /// The zxid the marker holds.
    pub(crate) fn value(&self) -> Zxid {
        self.written
    }

    /// After a sync made everything through `durable` durable: raises the marker (page cache
    /// now, stable storage within [`SYNC_EVERY`]).
    pub(crate) fn synced(&mut self, durable: Zxid) {
        if durable > self.written {
            match self.overwrite(durable) {
                Ok(()) => {
                    self.written = durable;
                    self.dirty = true;
                }
                Err(e) => self.warn_once(&e),
            }
        }
        if self.dirty && self.synced_at.is_none_or(|at| at.elapsed() >= SYNC_EVERY) {
            self.fdatasync();
        }
    }

    /// At a clean close: the marker holds what is durable now, on stable storage.
    pub(crate) fn closing(&mut self, durable: Zxid) {
        self.synced_at = None;
        self.synced(durable);
        if self.dirty {
            self.fdatasync();
        }
    }

    /// Sets the marker to `zxid`, durably, whether that raises or lowers it: before the log is
    /// cut down to `zxid` (so records removed on purpose never read as lost), or after a
    /// repair rebuilt the log through `zxid`. Should it not be writable (a full disk), the
    /// marker is removed instead (a missing marker vouches for nothing), so that a truncation
    /// never fails for the check's sake.
    pub(crate) fn set_durably(&mut self, zxid: Zxid) -> Result<(), StorageError> {
        self.file = None;
        if let Err(e) = write_atomic(&self.path, render(zxid).as_bytes()) {
            tracing::warn!(error = %e, "txn log: cannot rewrite the synced marker; removing it");
            remove_if_exists(&tmp_path(&self.path))?;
            remove_if_exists(&self.path)?;
            fsync_dir(parent_of(&self.path))?;
            self.written = Zxid::ZERO;
            self.dirty = false;
            return Ok(());
        }
        self.written = zxid;
        self.dirty = false;
        Ok(())
    }

    /// [`SyncedMarker::set_durably`] only if it lowers the marker.
    pub(crate) fn lower_to(&mut self, last: Zxid) -> Result<(), StorageError> {
        if self.written <= last {
            return Ok(());
        }
        self.set_durably(last)
    }

    /// Overwrites the record in place. The first write after open goes through a durable
    /// temporary file + rename, so the file exists whole before it is overwritten in place.
    fn overwrite(&mut self, zxid: Zxid) -> Result<(), StorageError> {
        let text = render(zxid);
        if self.file.is_none() {
            let fresh = matches!(
                fs::metadata(&self.path),
                Ok(m) if m.len() == RECORD_LEN as u64
            );
            if !fresh {
                write_atomic(&self.path, text.as_bytes())?;
            }
            let f = OpenOptions::new()
                .write(true)
                .open(&self.path)
                .map_err(at(&self.path))?;
            self.file = Some(f);
            if !fresh {
                return Ok(());
            }
        }
        let f = self.file.as_ref().expect("opened above");
        if let Err(e) = f.write_all_at(text.as_bytes(), 0) {
            self.file = None;
            return Err(at(&self.path)(e));
        }
        Ok(())
    }

    fn fdatasync(&mut self) {
        let Some(f) = &self.file else {
            return;
        };
        match f.sync_data() {
            Ok(()) => {
                self.dirty = false;
                self.synced_at = Some(Instant::now());
            }
            Err(e) => {
                self.file = None;
                self.warn_once(&at(&self.path)(e));
            }
        }
    }

    fn warn_once(&mut self, e: &StorageError) {
        if !self.warned {
            self.warned = true;
            tracing::warn!(error = %e, "txn log: cannot write the synced marker (a damaged log could go unnoticed at the next start)");
        }
    }
}

fn render(zxid: Zxid) -> String {
    let crc = crc32fast::hash(&zxid.to_be_bytes());
    let text = format!("{HEADER}zxid=0x{:016x} crc={crc:08x}\n", zxid.0);
    debug_assert_eq!(text.len(), RECORD_LEN);
    text
}

fn parse(text: &str) -> Option<Zxid> {
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("zxid=0x"))?;
    let mut parts = line.split_whitespace();
    let zxid = Zxid(u64::from_str_radix(parts.next()?, 16).ok()?);
    match parts.next() {
        // Earlier builds wrote no checksum.
        None => Some(zxid),
        Some(crc) => {
            let crc = u32::from_str_radix(crc.strip_prefix("crc=")?, 16).ok()?;
            (crc == crc32fast::hash(&zxid.to_be_bytes())).then_some(zxid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_old_format_and_garbage() {
        let z = Zxid(0x1_0000_002a);
        assert_eq!(render(z).len(), RECORD_LEN);
        assert_eq!(parse(&render(z)), Some(z));
        assert_eq!(parse("# old\nzxid=0x10000002a\n"), Some(z));
        assert_eq!(parse(""), None);
        assert_eq!(parse("zxid=0xnope\n"), None);
        // One digit changed: the checksum no longer matches.
        let bad = render(z).replace("0000002a", "0000002b");
        assert_eq!(parse(&bad), None);
        assert_eq!(
            marker_path(Path::new("/data/txnlog")),
            PathBuf::from("/data/txnlog.synced")
        );
    }

    #[test]
    fn raised_on_every_sync_and_lowered_durably() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.synced");
        assert_eq!(read_marker(&path), MarkerState::Missing);
        let mut m = SyncedMarker::open(path.clone());
        assert_eq!(m.value(), Zxid::ZERO);
        for z in [5, 9, 12] {
            m.synced(Zxid(z));
            // In the page cache at once: a process crash keeps it.
            assert_eq!(read_marker(&path), MarkerState::Synced(Zxid(z)));
        }
        m.synced(Zxid(7)); // never lowered by a sync
        assert_eq!(read_marker(&path), MarkerState::Synced(Zxid(12)));
        m.lower_to(Zxid(3)).expect("lower");
        assert_eq!(read_marker(&path), MarkerState::Synced(Zxid(3)));
        m.lower_to(Zxid(7)).expect("never raises");
        assert_eq!(read_marker(&path), MarkerState::Synced(Zxid(3)));
        m.synced(Zxid(20));
        assert_eq!(read_marker(&path), MarkerState::Synced(Zxid(20)));
        m.set_durably(Zxid(30)).expect("set");
        assert_eq!(SyncedMarker::open(path.clone()).value(), Zxid(30));
        fs::write(&path, b"\0\0\0").expect("garbage");
        assert_eq!(read_marker(&path), MarkerState::Unreadable);
        assert_eq!(SyncedMarker::open(path).value(), Zxid::ZERO);
    }

    #[test]
    fn a_marker_that_cannot_be_rewritten_is_removed_rather_than_failing_a_truncation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.synced");
        let mut m = SyncedMarker::open(path.clone());
        m.synced(Zxid(9));
        // The temporary file's name is a link into a directory that does not exist: the
        // rewrite fails (as on a full disk), removing still works.
        std::os::unix::fs::symlink(dir.path().join("gone/x"), tmp_path(&path)).expect("link");
        m.lower_to(Zxid(3)).expect("lowered by removal");
        assert!(!path.exists() && !tmp_path(&path).exists());
        assert_eq!(m.value(), Zxid::ZERO);
        assert_eq!(read_marker(&path), MarkerState::Missing);
    }
}

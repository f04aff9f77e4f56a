//! The synced marker: `<log dir>.synced` beside sled's directory, holding a zxid the log had made
//! durable. It exists because sled cannot tell a torn tail from damage: at open, sled 0.34 ends
//! its log at the first message whose checksum fails and silently drops every message after it,
//! synced or not. A damaged block in the middle of `db` would thus shorten the log by every record
//! written after it, records that were fsynced and acknowledged, without a word. The marker makes
//! that loss visible: at open, a log that ends below the marker has lost synced records.
//!
//! Rules, so that the marker is always a lower bound of what the log really synced:
//! * it is raised only after a sync returned (to the zxid that sync made durable), at most once
//!   per [`WRITE_EVERY`] (the first sync after open always writes), and at a clean close (to
//!   what is durable then), written as a temporary file
//!   renamed over the marker, without fsync: a crash may leave the older value (a lower bound
//!   still) and an unreadable marker is ignored;
//! * it is lowered, durably, before the log is truncated (ZAB's TRUNC, installing a snapshot),
//!   so a legitimate truncation never looks like a loss;
//! * at open, a log ending below it is reported (the caller warns) and the marker is lowered to
//!   the log's end, durably, so the loss is reported once.
//!
//! Records synced within the last [`WRITE_EVERY`] before a crash are not covered; a torn tail
//! (records never synced) is never reported.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use paddock_types::Zxid;

use crate::error::StorageError;
use crate::fsutil::{
    fsync_dir, parent_of, remove_if_exists, tmp_path, write_atomic, write_renamed,
};

/// How often a sync may rewrite the marker.
pub(crate) const WRITE_EVERY: Duration = Duration::from_secs(1);

/// The marker file of a log in `sled_dir`: `<sled_dir>.synced` (`dataDir/txnlog.synced`).
pub(crate) fn marker_path(sled_dir: &Path) -> PathBuf {
    let mut name = sled_dir.file_name().unwrap_or_default().to_os_string();
    name.push(".synced");
    sled_dir.with_file_name(name)
}

#[derive(Debug)]
pub(crate) struct SyncedMarker {
    path: PathBuf,
    /// What the file holds as far as we know (ZERO: nothing, or unreadable).
    written: Zxid,
    /// When a sync last wrote it (`None`: not since open).
    last_write: Option<Instant>,
    /// Whether a failed write was logged already (a marker is a hint: failures only warn, once).
    warned: bool,
}

impl SyncedMarker {
    /// Reads the marker at `path`; a missing or unreadable file reads as ZERO.
    pub(crate) fn open(path: PathBuf) -> SyncedMarker {
        let written = match fs::read_to_string(&path) {
            Ok(text) => parse(&text).unwrap_or_else(|| {
                tracing::debug!(path = %path.display(), "txn log: unreadable synced marker ignored");
                Zxid::ZERO
            }),
            Err(_) => Zxid::ZERO,
        };
        SyncedMarker {
            path,
            written,
            last_write: None,
            warned: false,
        }
    }

    /// The zxid the marker holds.
    pub(crate) fn value(&self) -> Zxid {
        self.written
    }

    /// After a sync made everything through `durable` durable: raises the marker if it is due.
    pub(crate) fn synced(&mut self, durable: Zxid) {
        if durable <= self.written || self.last_write.is_some_and(|at| at.elapsed() < WRITE_EVERY) {
            return;
        }
        self.last_write = Some(Instant::now());
        match write_renamed(&self.path, render(durable).as_bytes()) {
            Ok(()) => self.written = durable,
            Err(e) if !self.warned => {
                self.warned = true;
                tracing::warn!(error = %e, "txn log: cannot write the synced marker (loss detection at open is weaker)");
            }
            Err(_) => {}
        }
    }

    /// At a clean close: records what `durable` says now, whenever the last write was.
    pub(crate) fn closing(&mut self, durable: Zxid) {
        self.last_write = None;
        self.synced(durable);
    }

    /// Before the log is cut down to `last` (or after finding it there at open): lowers the
    /// marker durably, so that records removed on purpose never read as lost.
    /// Should the new content not be writable (a full disk), the marker is removed instead (a
    /// missing marker reports nothing), so that a truncation never fails for a hint's sake.
    pub(crate) fn lower_to(&mut self, last: Zxid) -> Result<(), StorageError> {
        if self.written <= last {
            return Ok(());
        }
        if let Err(e) = write_atomic(&self.path, render(last).as_bytes()) {
            tracing::warn!(error = %e, "txn log: cannot lower the synced marker; removing it");
            remove_if_exists(&tmp_path(&self.path))?;
            remove_if_exists(&self.path)?;
            fsync_dir(parent_of(&self.path))?;
            self.written = Zxid::ZERO;
            return Ok(());
        }
        self.written = last;
        Ok(())
    }
}

fn render(zxid: Zxid) -> String {
    format!(
        "# Written by paddock: its txn log had synced every record up to this zxid.\n\
         zxid=0x{:x}\n",
        zxid.0
    )
}

fn parse(text: &str) -> Option<Zxid> {
    let hex = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("zxid=0x"))?;
    u64::from_str_radix(hex, 16).ok().map(Zxid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        assert_eq!(
            parse(&render(Zxid(0x1_0000_002a))),
            Some(Zxid(0x1_0000_002a))
        );
        assert_eq!(parse(""), None);
        assert_eq!(parse("zxid=0xnope\n"), None);
        assert_eq!(
            marker_path(Path::new("/data/txnlog")),
            PathBuf::from("/data/txnlog.synced")
        );
    }

    #[test]
    fn raised_after_syncs_at_most_once_per_interval_and_lowered_durably() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.synced");
        let mut m = SyncedMarker::open(path.clone());
        assert_eq!(m.value(), Zxid::ZERO);
        m.synced(Zxid(5)); // first sync since open: written
        assert_eq!(SyncedMarker::open(path.clone()).value(), Zxid(5));
        m.synced(Zxid(9)); // within the interval: not yet
        assert_eq!(SyncedMarker::open(path.clone()).value(), Zxid(5));
        m.last_write = Instant::now().checked_sub(WRITE_EVERY);
        m.synced(Zxid(9));
        assert_eq!(SyncedMarker::open(path.clone()).value(), Zxid(9));
        m.lower_to(Zxid(3)).expect("lower");
        assert_eq!(SyncedMarker::open(path.clone()).value(), Zxid(3));
        m.lower_to(Zxid(7)).expect("never raises");
        assert_eq!(SyncedMarker::open(path.clone()).value(), Zxid(3));
        fs::write(&path, b"\0\0\0").expect("garbage");
        assert_eq!(SyncedMarker::open(path).value(), Zxid::ZERO);
    }

    #[cfg(unix)]
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
        assert_eq!(SyncedMarker::open(path).value(), Zxid::ZERO);
    }
}

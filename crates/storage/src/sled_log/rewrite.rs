//! Rebuilding the txn log into a fresh sled database: what recovery does whenever the log it
//! found is not exactly healthy (a fault, a gap, records sled dropped). sled 0.34 cannot be
//! trusted with writes made after it met damage — it ends its log at the damaged message again
//! at every later open, dropping everything written since — so the verified records are copied
//! into a new database, and that one replaces the old, which is kept aside for inspection.
//!
//! ```text
//! <log parent>/txnlog                       the log
//! <log parent>/txnlog.rebuild/              the new database while it is written
//! <log parent>/txnlog.rebuild.done          exists once txnlog.rebuild is complete and durable;
//!                                           holds the zxid the synced marker gets
//! <log parent>/txnlog.damaged-<unix secs>/  the old database, kept for inspection
//! ```
//!
//! Steps: write `txnlog.rebuild` (records, purge watermark, format marker; flush + fdatasync);
//! write `txnlog.rebuild.done` durably; move `txnlog` aside; rename `txnlog.rebuild` to
//! `txnlog`; set the synced marker durably; remove the `.done` file. [`finish_interrupted`],
//! run at every open before sled is touched, completes the steps after the `.done` file from
//! wherever a crash stopped them, and removes a `txnlog.rebuild` that never got its `.done`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use paddock_types::Zxid;

use super::durable::SledFiles;
use super::marker::{marker_path, SyncedMarker};
use super::{check_format, key, open_sled, segment, PURGED_THROUGH_KEY, RECORDS_TREE};
use crate::error::StorageError;
use crate::fsutil::{at, fsync_dir, parent_of, remove_if_exists, write_atomic};
use crate::guard::guarded;

/// Records copied per read of the old log.
const COPY_CHUNK: usize = 4096;

fn sibling(sled_dir: &Path, suffix: &str) -> PathBuf {
    let mut name = sled_dir.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    sled_dir.with_file_name(name)
}

fn rebuild_dir(sled_dir: &Path) -> PathBuf {
    sibling(sled_dir, ".rebuild")
}

fn done_file(sled_dir: &Path) -> PathBuf {
    sibling(sled_dir, ".rebuild.done")
}

/// Where the old database goes: `txnlog.damaged-<unix seconds>` (a counter added if taken).
fn aside_dir(sled_dir: &Path) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut candidate = sibling(sled_dir, &format!(".damaged-{secs}"));
    let mut n = 1;
    while candidate.exists() {
        candidate = sibling(sled_dir, &format!(".damaged-{secs}-{n}"));
        n += 1;
    }
    candidate
}

/// The records to copy into the new log: those of `source` above `after` up to and including
/// `through` (a verified run), read in chunks.
pub(crate) struct Source<'a> {
    pub source: Option<&'a super::SledTxnLog>,
    pub after: Zxid,
    pub through: Zxid,
}

/// Builds a new log at `sled_dir` holding `copy`'s records, its purge watermark at
/// `copy.after` (so it continues the state at `copy.after`), and the synced marker at
/// `copy.through`; the old database (if any) is moved aside. The caller has closed nothing
/// yet: `copy.source` is read first, then must be dropped by the caller before [`swap`].
pub(crate) fn build(
    sled_dir: &Path,
    cache_capacity_bytes: u64,
    copy: Source<'_>,
) -> Result<u64, StorageError> {
    let new_dir = rebuild_dir(sled_dir);
    if new_dir.exists() {
        fs::remove_dir_all(&new_dir).map_err(at(&new_dir))?;
    }
    guarded("writing the rebuilt txn log", || {
        let db = open_sled(&new_dir, cache_capacity_bytes)?;
        let records = db.open_tree(RECORDS_TREE)?;
        check_format(&new_dir, &db, &records)?;
        if copy.after > Zxid::ZERO {
            db.insert(PURGED_THROUGH_KEY, &copy.after.to_be_bytes())?;
        }
        let mut copied = 0u64;
        if let Some(source) = copy.source {
            let cursor = source.copy_range(copy.after, copy.through, COPY_CHUNK, |chunk| {
                copied += chunk.len() as u64;
                write_segments(&records, chunk)
            })?;
            if cursor < copy.through {
                return Err(StorageError::CorruptOther(format!(
                    "rebuilding the txn log: the old log ended at {cursor}, expected records \
                     through {}",
                    copy.through
                )));
            }
        }
        let mut files = SledFiles::open(&new_dir)?;
        files.flush_durably(&db)?;
        Ok(copied)
    })
}

fn write_segments(tree: &sled::Tree, records: &[(Zxid, Bytes)]) -> Result<(), StorageError> {
    let mut batch = sled::Batch::default();
    for (first, value) in segment::encode_segments(records) {
        batch.insert(key(first), value);
    }
    tree.apply_batch(batch)?;
    Ok(())
}

/// Replaces the log at `sled_dir` with the one [`build`] wrote (the old one moved aside), and
/// sets the synced marker to `synced_through`. Nothing may have the old log open.
pub(crate) fn swap(sled_dir: &Path, synced_through: Zxid) -> Result<Option<PathBuf>, StorageError> {
    let parent = parent_of(sled_dir).to_path_buf();
    fsync_dir(&rebuild_dir(sled_dir))?;
    fsync_dir(&parent)?;
    write_atomic(
        &done_file(sled_dir),
        format!("marker=0x{:x}\n", synced_through.0).as_bytes(),
    )?;
    finish(sled_dir, synced_through)
}

/// The steps after the `.done` file: idempotent.
fn finish(sled_dir: &Path, synced_through: Zxid) -> Result<Option<PathBuf>, StorageError> {
    let parent = parent_of(sled_dir).to_path_buf();
    let new_dir = rebuild_dir(sled_dir);
    let mut moved = None;
    if new_dir.exists() {
        if sled_dir.exists() {
            let aside = aside_dir(sled_dir);
            fs::rename(sled_dir, &aside).map_err(at(sled_dir))?;
            moved = Some(aside);
        }
        fs::rename(&new_dir, sled_dir).map_err(at(&new_dir))?;
        fsync_dir(&parent)?;
    }
    SyncedMarker::open(marker_path(sled_dir)).set_durably(synced_through)?;
    remove_if_exists(&done_file(sled_dir))?;
    fsync_dir(&parent)?;
    Ok(moved)
}

/// Completes a rebuild a crash interrupted after it was complete, or removes one that was not.
/// Run before the log is opened.
pub(crate) fn finish_interrupted(sled_dir: &Path) -> Result<(), StorageError> {
    let done = done_file(sled_dir);
    match fs::read_to_string(&done) {
        Ok(text) => {
            let marker = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("marker=0x"))
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .ok_or_else(|| StorageError::CorruptFile {
                    path: done.clone(),
                    why: "no marker=0x<zxid> line".to_string(),
                })?;
            tracing::warn!(dir = %sled_dir.display(), "finishing a txn log rebuild interrupted by a crash");
            finish(sled_dir, Zxid(marker))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let new_dir = rebuild_dir(sled_dir);
            if new_dir.exists() {
                tracing::warn!(dir = %new_dir.display(), "removing an unfinished txn log rebuild");
                fs::remove_dir_all(&new_dir).map_err(at(&new_dir))?;
                fsync_dir(parent_of(sled_dir))?;
            }
        }
        Err(e) => return Err(at(&done)(e)),
    }
    Ok(())
}

/// The databases moved aside by earlier rebuilds, oldest first.
pub fn damaged_copies(sled_dir: &Path) -> Vec<PathBuf> {
    let prefix = format!(
        "{}.damaged-",
        sled_dir.file_name().unwrap_or_default().to_string_lossy()
    );
    let mut found: Vec<PathBuf> = fs::read_dir(parent_of(sled_dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

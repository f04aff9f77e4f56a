//! [`FileSnapshotSink`]: writes one snapshot to `snapshot.<zxid>.tmp`, then commits it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use paddock_types::Zxid;

use super::format::{self, Verified};
use super::Shared;
use crate::error::StorageError;
use crate::fsutil::{at, fsync_dir, lock};
use crate::traits::SnapshotSink;

/// Write buffer in front of the file.
const WRITE_BUF_BYTES: usize = 256 * 1024;

/// A snapshot being written; invisible until [`SnapshotSink::commit`]. Dropped without commit,
/// it removes its temporary file.
pub struct FileSnapshotSink {
    zxid: Zxid,
    /// `None` once committed.
    writer: Option<BufWriter<File>>,
    hasher: crc32fast::Hasher,
    payload_len: u64,
    tmp: PathBuf,
    shared: Arc<Shared>,
}

impl FileSnapshotSink {
    pub(super) fn create(
        shared: Arc<Shared>,
        zxid: Zxid,
    ) -> Result<FileSnapshotSink, StorageError> {
        let tmp = shared.dir.join(format!("{}.tmp", format::file_name(zxid)));
        // create_new: two sinks for one zxid at once is a caller bug; refuse rather than interleave.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(at(&tmp))?;
        Ok(FileSnapshotSink {
            zxid,
            writer: Some(BufWriter::with_capacity(WRITE_BUF_BYTES, file)),
            hasher: crc32fast::Hasher::new(),
            payload_len: 0,
            tmp,
            shared,
        })
    }

    fn writer(&mut self) -> io::Result<&mut BufWriter<File>> {
        self.writer
            .as_mut()
            .ok_or_else(|| io::Error::other("snapshot sink already committed"))
    }
}

impl Write for FileSnapshotSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.writer()?.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.payload_len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer()?.flush()
    }
}

impl SnapshotSink for FileSnapshotSink {
    fn sync(&mut self) -> Result<(), StorageError> {
        let tmp = self.tmp.clone();
        let writer = self.writer().map_err(at(&tmp))?;
        writer.flush().map_err(at(&tmp))?;
        writer.get_ref().sync_data().map_err(at(&tmp))
    }

    fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        let Some(writer) = self.writer.take() else {
            return Err(StorageError::CorruptOther(
                "snapshot sink committed twice".to_string(),
            ));
        };
        let result = self.finish(writer);
        if result.is_err() {
            // Best effort, so that a retry can create the same zxid again.
            let _ = fs::remove_file(&self.tmp);
        }
        result
    }
}

impl FileSnapshotSink {
    /// Trailer, fsync, rename, fsync the directory, remember it as verified.
    fn finish(&mut self, writer: BufWriter<File>) -> Result<(), StorageError> {
        let tmp = &self.tmp;
        let crc = std::mem::take(&mut self.hasher).finalize();
        let mut file = writer.into_inner().map_err(|e| at(tmp)(e.into_error()))?;
        file.write_all(&format::trailer(self.zxid, self.payload_len, crc))
            .map_err(at(tmp))?;
        file.sync_all().map_err(at(tmp))?;
        drop(file);
        let dest = self.shared.dir.join(format::file_name(self.zxid));
        fs::rename(tmp, &dest).map_err(at(&dest))?;
        fsync_dir(&self.shared.dir)?;
        let verified = Verified {
            payload_len: self.payload_len,
            crc,
        };
        lock(&self.shared.verified).insert(self.zxid, verified);
        tracing::debug!(zxid = %self.zxid, bytes = self.payload_len, "snapshot committed");
        Ok(())
    }
}

impl Drop for FileSnapshotSink {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            // Abandoned: best effort; a leftover .tmp is removed at the next open anyway.
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

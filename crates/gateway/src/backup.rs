//! `paddock.v1.Admin/SaveSnapshot`: a backup streamed from the running server (see
//! `proto/paddock/v1/admin.proto`).
//!
//! ```text
//!  request ─▶ caller's ids (ip:, x509:, super: of the x509 super user) + digest credentials
//!          ─▶ AdminSource::backup (blocking pool): permission check, O(1) frozen tree, digest
//!          ─▶ response headers: SnapshotInfo first
//!          ─▶ a blocking task writes the snapshot file's bytes into a bounded channel, in
//!             chunks, while the client reads them (backpressure: the writer waits)
//! ```
//!
//! The unary layer's limit and timeout hold until the response headers (the permission check
//! and the digest); the stream itself is as long as the tree is large. One backup at a time.

use std::io::{self, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use paddock_proto::v1::{SnapshotChunk, SnapshotInfo};
use paddock_types::Id;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;

/// Bytes per streamed message (well under the 4 MiB default message limit of gRPC clients).
pub const CHUNK_BYTES: usize = 256 * 1024;
/// Messages buffered between the writer and the client.
const CHANNEL_CHUNKS: usize = 8;
/// The format `SnapshotInfo.format` names.
pub const FORMAT: &str = "paddock-snapshot-file/1";

/// Who asks for a backup.
#[derive(Clone, Debug, Default)]
pub struct BackupCaller {
    /// What the connection proves by itself: `ip:<address>`, `x509:<subject>` of a verified
    /// client certificate, and `super:` when that subject is the x509 super user.
    pub conn_ids: Vec<Id>,
    /// `user:password` of the request's `digest_auth`, if given.
    pub digest: Option<String>,
}

/// Writes a whole snapshot file to the writer it is given.
pub type WriteBackup = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

/// A consistent copy of the tree, ready to be written out.
pub struct Backup {
    pub zxid: u64,
    pub node_count: u64,
    pub session_count: u64,
    pub digest: u64,
    /// Writes the whole snapshot file (payload + trailer) to the writer. Runs on a blocking
    /// thread; a write error (the client went away) ends it.
    pub write: WriteBackup,
}

/// Why no backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupRefused {
    /// The caller lacks the permission (PERMISSION_DENIED).
    Denied(String),
    /// Malformed credentials (UNAUTHENTICATED).
    BadCredentials(String),
    /// This server cannot take one now, or at all (UNAVAILABLE / UNIMPLEMENTED).
    Unavailable(String),
    Unsupported,
}

impl From<BackupRefused> for tonic::Status {
    fn from(r: BackupRefused) -> tonic::Status {
        match r {
            BackupRefused::Denied(why) => tonic::Status::permission_denied(why),
            BackupRefused::BadCredentials(why) => tonic::Status::unauthenticated(why),
            BackupRefused::Unavailable(why) => tonic::Status::unavailable(why),
            BackupRefused::Unsupported => {
                tonic::Status::unimplemented("this server does not take backups")
            }
        }
    }
}

/// The response stream.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<SnapshotChunk, tonic::Status>> + Send>>;

/// Held while a backup streams; released when its writer ends.
pub(crate) struct Running(Arc<AtomicBool>);

impl Running {
    pub(crate) fn take(flag: &Arc<AtomicBool>) -> Option<Running> {
        flag.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Running(Arc::clone(flag)))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Starts streaming `backup`: the info message, then the file's bytes from a blocking task.
pub(crate) fn stream(backup: Backup, running: Running) -> ChunkStream {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let info = SnapshotInfo {
        zxid: backup.zxid,
        node_count: backup.node_count,
        session_count: backup.session_count,
        digest: backup.digest,
        format: FORMAT.to_string(),
    };
    let zxid = backup.zxid;
    tokio::task::spawn_blocking(move || {
        let _running = running;
        let mut w = ChunkWriter {
            tx,
            buf: Vec::with_capacity(CHUNK_BYTES),
            info: Some(info),
        };
        let result = (backup.write)(&mut w).and_then(|()| w.send_buf());
        match result {
            Ok(()) => tracing::info!(zxid = %paddock_types::Zxid(zxid), "backup streamed"),
            Err(e) => {
                tracing::warn!(error = %e, "backup not completed");
                // Tell the client, unless it is the one that went away.
                let _ = w.tx.blocking_send(Err(tonic::Status::internal(format!(
                    "the backup could not be completed: {e}"
                ))));
            }
        }
    });
    Box::pin(ReceiverStream::new(rx))
}

/// Cuts what is written into messages and sends them, waiting while the client is behind.
struct ChunkWriter {
    tx: mpsc::Sender<Result<SnapshotChunk, tonic::Status>>,
    buf: Vec<u8>,
    /// Sent with the first message.
    info: Option<SnapshotInfo>,
}

impl ChunkWriter {
    fn send_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() && self.info.is_none() {
            return Ok(());
        }
        let chunk = SnapshotChunk {
            info: self.info.take(),
            data: std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES)).into(),
        };
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client stopped reading"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK_BYTES - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK_BYTES {
            self.send_buf()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    fn backup(len: usize, fail: bool) -> Backup {
        Backup {
            zxid: 7,
            node_count: 1,
            session_count: 0,
            digest: 42,
            write: Box::new(move |w| {
                let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                w.write_all(&data)?;
                if fail {
                    return Err(io::Error::other("disk on fire"));
                }
                Ok(())
            }),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_file_streams_in_bounded_chunks_after_its_description() {
        let flag = Arc::new(AtomicBool::new(false));
        let running = Running::take(&flag).expect("free");
        assert!(Running::take(&flag).is_none(), "one backup at a time");
        let chunks: Vec<_> = stream(backup(600_000, false), running).collect().await;
        let chunks: Vec<SnapshotChunk> = chunks.into_iter().map(|c| c.expect("ok")).collect();
        assert_eq!(
            chunks[0].info.as_ref().map(|i| (i.zxid, i.digest)),
            Some((7, 42))
        );
        assert!(chunks[1..].iter().all(|c| c.info.is_none()));
        assert!(chunks.iter().all(|c| c.data.len() <= CHUNK_BYTES));
        let all: Vec<u8> = chunks.iter().flat_map(|c| c.data.iter().copied()).collect();
        assert_eq!(all.len(), 600_000);
        assert!(all.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
        assert!(Running::take(&flag).is_some(), "released once streamed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_writer_ends_the_stream_with_an_error() {
        let flag = Arc::new(AtomicBool::new(false));
        let running = Running::take(&flag).expect("free");
        let items: Vec<_> = stream(backup(1000, true), running).collect().await;
        let last = items
            .last()
            .expect("something")
            .as_ref()
            .expect_err("an error");
        assert!(last.message().contains("disk on fire"), "{last:?}");
    }
}

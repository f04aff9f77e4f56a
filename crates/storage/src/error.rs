//! Storage errors.

use std::path::PathBuf;

use paddock_types::Zxid;

/// What went wrong in storage. `Io`/`Db` mean the disk failed: the server cannot promise
/// durability and should stop serving writes.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("data directory {0} is in use by another server (lock held)")]
    Locked(PathBuf),
    #[error("io error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("sled: {0}")]
    Db(#[from] sled::Error),
    #[error("corrupt record at zxid {zxid}: {why}")]
    Corrupt { zxid: Zxid, why: String },
    #[error("corrupt file {path}: {why}")]
    CorruptFile { path: PathBuf, why: String },
    #[error("unsupported data format in {path}: {why}")]
    Format { path: PathBuf, why: String },
    #[error("corrupt storage: {0}")]
    CorruptOther(String),
    #[error("append out of order: zxid {zxid} is not above {last}")]
    OutOfOrder { zxid: Zxid, last: Zxid },
    /// sled panicked (on a damaged file); see `guard.rs`. The database is not used again.
    #[error("sled panicked while {what}: {message}")]
    Panicked { what: String, message: String },
    /// An earlier write failed (a full disk, an I/O error): nothing is written until
    /// [`crate::TxnLog::recover`] succeeded.
    #[error(
        "the txn log is out of service after a failed write ({0}); writes resume once it recovers"
    )]
    Failed(String),
    /// The data directory lost transactions it had made durable: it is not served as it is.
    #[error("{0}")]
    Damaged(Box<crate::damage::Damage>),
}

impl StorageError {
    /// Whether this is the disk being out of space (ENOSPC, EDQUOT), directly or as the
    /// cause of a failed log.
    pub fn is_out_of_space(&self) -> bool {
        fn io_full(e: &std::io::Error) -> bool {
            // ENOSPC = 28, EDQUOT = 122 on Linux.
            e.kind() == std::io::ErrorKind::StorageFull
                || matches!(e.raw_os_error(), Some(28 | 122))
        }
        match self {
            StorageError::Io { source, .. } => io_full(source),
            StorageError::Db(sled::Error::Io(e)) => io_full(e),
            StorageError::Failed(why) => why.contains("No space left") || why.contains("quota"),
            _ => false,
        }
    }
}

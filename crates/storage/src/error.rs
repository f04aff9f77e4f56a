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
}

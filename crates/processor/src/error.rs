//! The processor's own errors (clients' errors are `paddock_types::ZkError`).

use paddock_datatree::SnapshotError;
use paddock_storage::StorageError;
use paddock_types::Zxid;
use thiserror::Error;

/// Why [`crate::Processor::restore`] refused a snapshot; the state is left as it was.
#[derive(Debug, Error)]
pub enum RestoreError {
    #[error("undecodable snapshot: {0}")]
    Decode(#[from] SnapshotError),
    #[error("the snapshot for {expected} holds the state at {found}")]
    WrongZxid { expected: Zxid, found: Zxid },
}

/// Why a background snapshot was not written (logged; the next one is tried on schedule).
#[derive(Debug, Error)]
pub(crate) enum SnapshotWriteError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("writing the snapshot: {0}")]
    Write(#[from] std::io::Error),
}

//! In-memory implementations of the storage traits, for other crates' unit tests and simulations.
//!
//! They keep the same contracts as the disk implementations (the conformance suite runs against
//! both) and add switches a test needs: make a sync fail, corrupt a record, and *crash* — forget
//! everything that was not yet durable, as a power loss would, so a test can rebuild a server
//! from exactly what it had persisted.
//!
//! ```
//! use bytes::Bytes;
//! use paddock_storage::{mem::MemTxnLog, TxnLog};
//! use paddock_types::Zxid;
//!
//! let log = MemTxnLog::new();
//! log.append(&[(Zxid(1), Bytes::from("a"))]).unwrap();
//! log.sync().unwrap();
//! log.append(&[(Zxid(2), Bytes::from("b"))]).unwrap();
//! log.crash(); // zxid 2 was never synced
//! assert_eq!(log.last_logged_zxid(), Zxid(1));
//! ```

mod epoch;
mod log;
mod snapshot;

pub use self::epoch::MemEpochStore;
pub use self::log::MemTxnLog;
pub use self::snapshot::MemSnapshotStore;

use crate::error::StorageError;

/// The error the switches inject: an io error, which callers must treat as a failed disk.
pub(crate) fn injected(what: &str) -> StorageError {
    StorageError::Io {
        path: "<memory>".into(),
        source: std::io::Error::other(format!("injected failure: {what}")),
    }
}

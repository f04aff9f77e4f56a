//! Storage traits (implementations are being written).
pub mod error;
pub mod traits;
pub use error::StorageError;
pub use traits::{EpochStore, SnapshotSink, SnapshotStore, TxnLog};

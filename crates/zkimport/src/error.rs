//! `ImportError`: why a ZooKeeper data dir could not be imported.

use std::path::PathBuf;

use paddock_datatree::SnapshotError;
use paddock_storage::StorageError;

/// Why an import failed. Nothing is written to the Paddock data dir unless the whole ZooKeeper
/// state was read and checked.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A ZooKeeper file is damaged or cut short: its path, the byte offset where reading
    /// failed, and what was wrong there.
    #[error("{}: at offset {offset}: {what}", path.display())]
    Damaged {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Transactions the import needs are not in the files given (a gap between a snapshot and
    /// the logs, or between logs; no logs where some are expected).
    #[error("{0}")]
    Missing(String),
    /// The input is readable but not something this importer can take.
    #[error("{0}")]
    Unsupported(String),
    /// The Paddock data dir already holds something.
    #[error("{} is not empty: import only into a new, empty Paddock data dir", .0.display())]
    NotEmpty(PathBuf),
    /// The replayed ZooKeeper tree does not form a tree Paddock can serve.
    #[error("the imported tree is inconsistent: {0}")]
    Tree(#[source] SnapshotError),
    #[error("writing the Paddock data dir failed: {0}")]
    Storage(#[from] StorageError),
}

impl ImportError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ImportError {
        ImportError::Io {
            path: path.into(),
            source,
        }
    }
}

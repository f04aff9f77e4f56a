//! Start-up recovery: newest valid snapshot + replay of the log records after it.

use paddock_datatree::DataTree;
use paddock_storage::{SnapshotStore, StorageError, TxnLog};
use paddock_types::{Txn, Zxid};

/// Why the server cannot rebuild its state.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("snapshot {zxid} passed its checksum but cannot be decoded: {why}")]
    Snapshot { zxid: Zxid, why: String },
    #[error("log record {zxid} passed its checksum but cannot be decoded: {why}")]
    Record { zxid: Zxid, why: String },
    #[error("the log does not continue the state at {after}: its next record is {next}")]
    Gap { after: Zxid, next: Zxid },
}

/// What recovery found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// The snapshot loaded, if any.
    pub snapshot_zxid: Option<Zxid>,
    /// Log records replayed on top of it.
    pub replayed: u64,
    /// The last zxid after replay.
    pub last_zxid: Zxid,
}

/// Rebuilds the data tree from `snaps` and `log`.
pub fn recover(
    log: &dyn TxnLog,
    snaps: &dyn SnapshotStore,
) -> Result<(DataTree, Recovered), RecoveryError> {
    let (mut tree, snapshot_zxid) = match snaps.open_latest()? {
        Some((zxid, mut reader)) => {
            let tree =
                DataTree::read_snapshot(&mut reader).map_err(|e| RecoveryError::Snapshot {
                    zxid,
                    why: e.to_string(),
                })?;
            (tree, Some(zxid))
        }
        None => (DataTree::new(), None),
    };
    let mut replayed = 0;
    loop {
        let records = log.read_after(tree.last_zxid(), 10_000)?;
        if records.is_empty() {
            break;
        }
        for (zxid, bytes) in records {
            // The data directory verified this at open; a gap here is a bug, never served.
            if !zxid.follows(tree.last_zxid()) {
                return Err(RecoveryError::Gap {
                    after: tree.last_zxid(),
                    next: zxid,
                });
            }
            // An ensemble's records carry zxid 0 (assigned by the leader): decode_at fills it in.
            let txn = Txn::decode_at(&bytes, zxid).map_err(|e| RecoveryError::Record {
                zxid,
                why: e.to_string(),
            })?;
            // Outcomes were decided (and answered) before the crash; replay only rebuilds state.
            let _ = tree.apply(&txn);
            replayed += 1;
        }
    }
    let last_zxid = tree.last_zxid();
    Ok((
        tree,
        Recovered {
            snapshot_zxid,
            replayed,
            last_zxid,
        },
    ))
}

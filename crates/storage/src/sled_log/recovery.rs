//! Recovery scan of the txn log at open.
//!
//! Every record is read once and checked: 8-byte key, value at least as long as its checksum,
//! checksum good, zxid strictly above the previous one (and above zero). The first record that
//! fails marks a corrupt tail: it and *every record after it* are removed, even records that
//! check out, because ZAB applies transactions strictly in zxid order and nothing after a missing
//! or damaged transaction can be applied without it. Records that could be cut this way were, at
//! best, durable on this server only; the leader's TRUNC/DIFF/SNAP brings the server back in line.
//! A cut is made durable before the log is used, logged with `tracing::warn!` and reported.

use paddock_types::Zxid;
use sled::IVec;

use super::record::{decode_key, key_zxid_lossy, verify};
use crate::error::StorageError;

/// Keys removed per sled batch when cutting, so memory stays bounded for any log length.
const CUT_CHUNK_RECORDS: usize = 4096;

/// The first bad record found by [`find_corrupt_tail`].
#[derive(Debug, Clone)]
pub(crate) struct CorruptTail {
    /// The raw key of the first bad record: the cut starts here (inclusive).
    pub key: IVec,
    /// The zxid the key names (best effort for malformed keys, see `key_zxid_lossy`).
    pub zxid: Zxid,
    /// What is wrong with it.
    pub why: String,
}

/// Scans the whole tree in key order; returns the first bad record, if any.
pub(crate) fn find_corrupt_tail(tree: &sled::Tree) -> Result<Option<CorruptTail>, StorageError> {
    let mut prev = Zxid::ZERO;
    for item in tree.iter() {
        let (key, value) = item?;
        let bad = |why: String| {
            Ok(Some(CorruptTail {
                zxid: key_zxid_lossy(&key),
                key: key.clone(),
                why,
            }))
        };
        let zxid = match decode_key(&key) {
            Ok(z) => z,
            Err(e) => return bad(e.to_string()),
        };
        if zxid <= prev {
            return bad(format!(
                "zxid {zxid} is not above the previous record {prev}"
            ));
        }
        if let Err(e) = verify(&key, &value) {
            return bad(e.to_string());
        }
        prev = zxid;
    }
    Ok(None)
}

/// Removes every key `>= from` (byte order); returns how many. Not flushed: the caller makes the
/// cut durable.
pub(crate) fn cut_from(tree: &sled::Tree, from: &[u8]) -> Result<usize, StorageError> {
    let mut removed = 0;
    loop {
        let keys = tree
            .range(from..)
            .keys()
            .take(CUT_CHUNK_RECORDS)
            .collect::<Result<Vec<IVec>, sled::Error>>()?;
        if keys.is_empty() {
            return Ok(removed);
        }
        removed += keys.len();
        let mut batch = sled::Batch::default();
        for k in keys {
            batch.remove(k);
        }
        tree.apply_batch(batch)?;
    }
}

//! Recovery scan of the txn log at open.
//!
//! Every segment and every record in it is read once and checked (segment.rs lists the rules;
//! across segments, each key must be above the previous segment's last zxid). The first record
//! that fails marks a corrupt tail: it and *every record after it* are removed, even records
//! that check out, because ZAB applies transactions strictly in zxid order and nothing after a
//! missing or damaged transaction can be applied without it. The good records of the segment it
//! sits in are kept (the segment is rewritten without the rest). Records that could be cut this
//! way were, at best, durable on this server only; the leader's TRUNC/DIFF/SNAP brings the server
//! back in line. A cut is made durable before the log is used (by the caller), logged with
//! `tracing::warn!` and reported.

use paddock_types::Zxid;
use sled::IVec;

use super::segment::{BadRecord, Segment};
use crate::error::StorageError;

/// Keys removed per sled batch when cutting, so memory stays bounded for any log length.
pub(crate) const CUT_CHUNK_SEGMENTS: usize = 1024;

/// What a cut removed.
#[derive(Debug, Clone)]
pub(crate) struct Cut {
    /// The first zxid cut (see [`BadRecord::zxid`]).
    pub zxid: Zxid,
    /// What is wrong there.
    pub why: String,
    /// Records removed: the bad one and all after it, by the counts in the segment headers; a
    /// segment whose header cannot be read counts as one record.
    pub records_removed: usize,
}

/// Scans the whole tree in key order; at the first bad record, cuts the log there (not flushed:
/// the caller makes the cut durable) and says what it did.
pub(crate) fn scan_and_cut(tree: &sled::Tree) -> Result<Option<Cut>, StorageError> {
    let mut previous = Zxid::ZERO;
    for item in tree.iter() {
        let (key, value) = item?;
        let seg = match Segment::parse(&key, &value, previous) {
            Ok(seg) => seg,
            Err(bad) => {
                // Count its records if its header can be read at all.
                let in_segment = Segment::parse(&key, &value, Zxid::ZERO).map_or(1, |s| s.count());
                let mut c = cut(tree, &key, None, bad)?;
                c.records_removed += in_segment as usize - 1;
                return Ok(Some(c));
            }
        };
        let mut kept_end = None;
        for rec in seg.records() {
            match rec {
                Ok(r) => kept_end = Some((r.span.end, r.zxid)),
                Err(bad) => {
                    let keep = kept_end.map(|(end, last)| seg.prefix(bad.index, end, last));
                    let in_segment = seg.count() - bad.index;
                    let mut c = cut(tree, &key, keep, bad)?;
                    c.records_removed += in_segment as usize - 1;
                    return Ok(Some(c));
                }
            }
        }
        previous = seg.last();
    }
    Ok(None)
}

/// Removes every segment after `key`, then replaces the one at `key` with `keep` (its good
/// records) or removes it.
fn cut(
    tree: &sled::Tree,
    key: &IVec,
    keep: Option<Vec<u8>>,
    bad: BadRecord,
) -> Result<Cut, StorageError> {
    let mut removed = 1;
    for item in tree.range::<&[u8], _>((
        std::ops::Bound::Excluded(key.as_ref()),
        std::ops::Bound::Unbounded,
    )) {
        let (k, v) = item?;
        removed += Segment::parse(&k, &v, Zxid::ZERO).map_or(1, |s| s.count() as usize);
    }
    remove_from_top(tree, std::ops::Bound::Excluded(key.clone()))?;
    match keep {
        Some(v) => tree.insert(key, v)?,
        None => tree.remove(key)?,
    };
    Ok(Cut {
        zxid: bad.zxid,
        why: bad.to_string(),
        records_removed: removed,
    })
}

/// Removes every key above `lower`, highest first and in bounded batches, so that a crash part
/// way leaves a prefix of the log, never a log with a hole. Returns how many keys.
pub(crate) fn remove_from_top(
    tree: &sled::Tree,
    lower: std::ops::Bound<IVec>,
) -> Result<usize, StorageError> {
    let mut removed = 0;
    loop {
        let keys = tree
            .range((lower.clone(), std::ops::Bound::Unbounded))
            .keys()
            .rev()
            .take(CUT_CHUNK_SEGMENTS)
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

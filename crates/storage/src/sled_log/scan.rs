//! The verification scan of the txn log at open: every segment and every record in it is read
//! once and checked (segment.rs lists the rules), and nothing is changed.
//!
//! The scan does not stop at the first fault: it records the fault, skips what cannot be
//! trusted and goes on, so that the caller learns both what is usable and what the log shows
//! evidence of beyond the damage. Records are grouped into *runs*: maximal stretches of
//! verified records in which each zxid [`follows`] the one before. A fault, or a zxid that does
//! not follow, ends a run. A healthy log is one run (or none).
//!
//! What is done about it is decided by the data directory (`datadir.rs`), which knows the
//! snapshots: a run continuing the newest snapshot is the verified state; anything above it
//! that had been synced is a loss.

use paddock_types::Zxid;

use super::segment::{key_zxid_lossy, Segment};
use crate::error::StorageError;
use crate::guard::guarded;

/// Whether `next` may directly follow `prev` in a ZAB log: the next counter of the same epoch
/// (or the numeric successor, which a counter overflow makes the first zxid of the next epoch),
/// or the first zxid of a later epoch (counter 1: a new leader's first proposal). `prev ==
/// Zxid::ZERO` is the empty state.
pub fn follows(prev: Zxid, next: Zxid) -> bool {
    next.follows(prev)
}

/// A stretch of verified records, each following the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub first: Zxid,
    pub last: Zxid,
    pub count: u64,
}

/// Something wrong in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFault {
    /// The first zxid that cannot be trusted there.
    pub zxid: Zxid,
    pub why: String,
}

/// What the scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogScan {
    /// The purge watermark: records at or below it are hidden and not scanned.
    pub purged_through: Zxid,
    /// Verified records above the watermark, in runs, in log order.
    pub runs: Vec<Run>,
    /// Faults, in log order (at most 16 kept; `faults_total` counts them all).
    pub faults: Vec<LogFault>,
    pub faults_total: u64,
    /// The highest zxid the log shows anywhere: verified records, and the keys and headers of
    /// damaged segments that still read.
    pub highest_seen: Zxid,
}

/// Faults kept in a [`LogScan`] (the rest are only counted).
pub const MAX_FAULTS: usize = 16;

impl LogScan {
    /// Whether the log is exactly what a healthy server leaves: no fault, at most one run.
    pub fn is_clean(&self) -> bool {
        self.faults_total == 0 && self.runs.len() <= 1
    }

    /// The run that continues the state at `base` (holds it, or starts right after it).
    pub fn run_from(&self, base: Zxid) -> Option<Run> {
        self.runs
            .iter()
            .copied()
            .find(|r| (r.first <= base && base <= r.last) || follows(base, r.first))
    }

    fn fault(&mut self, zxid: Zxid, why: String) {
        self.faults_total += 1;
        if self.faults.len() < MAX_FAULTS {
            self.faults.push(LogFault { zxid, why });
        }
    }

    /// A verified record. After a fault (`continues == false`) it extends the current run only
    /// if it is the numeric successor: then nothing can be missing in between (across an epoch
    /// boundary the damaged part may have held the end of the earlier epoch).
    fn record(&mut self, zxid: Zxid, continues: bool) {
        self.highest_seen = self.highest_seen.max(zxid);
        match self.runs.last_mut() {
            Some(run)
                if (continues && follows(run.last, zxid))
                    || zxid.0 == run.last.0.wrapping_add(1) =>
            {
                run.last = zxid;
                run.count += 1;
            }
            _ => self.runs.push(Run {
                first: zxid,
                last: zxid,
                count: 1,
            }),
        }
    }
}

/// What the walk meets, in key order.
enum Met<'a> {
    /// A verified record above the purge watermark; `after_fault`: a fault came between it and
    /// the previous verified record.
    Record {
        zxid: Zxid,
        value: &'a bytes::Bytes,
        range: std::ops::Range<usize>,
        after_fault: bool,
    },
    /// A fault: the first zxid that cannot be trusted there, why, and the highest zxid the
    /// damaged segment's key or header still shows.
    Fault {
        zxid: Zxid,
        why: String,
        shows: Zxid,
    },
}

/// Walks every segment of `tree` in key order, checking everything, skipping what fails; `f`
/// sees each verified record and each fault and returns whether to go on. A panic of sled's
/// part way (a damaged node) is reported as a last fault.
fn walk(tree: &sled::Tree, purged_through: Zxid, mut f: impl FnMut(Met<'_>) -> bool) {
    let mut after_fault = false;
    let mut previous_last = Zxid::ZERO;
    let mut last_key = Zxid::ZERO;
    let mut stopped = false;
    let walked = guarded("scanning the txn log", || {
        for item in tree.iter() {
            let (key, value) = item?;
            last_key = key_zxid_lossy(&key);
            let value = bytes::Bytes::from_owner(value);
            let seg = match Segment::parse(&key, &value, previous_last) {
                Ok(seg) => seg,
                Err(bad) => {
                    // A header that reads without the order check still tells how far it went.
                    let shows = match Segment::parse(&key, &value, Zxid::ZERO) {
                        Ok(s) => {
                            previous_last = previous_last.max(s.last());
                            s.last().max(last_key)
                        }
                        Err(_) => last_key,
                    };
                    after_fault = true;
                    let why = format!("segment at {last_key}: {bad}");
                    if !f(Met::Fault {
                        zxid: bad.zxid,
                        why,
                        shows,
                    }) {
                        stopped = true;
                        return Ok(());
                    }
                    continue;
                }
            };
            for rec in seg.records() {
                let go_on = match rec {
                    Ok(r) if r.zxid <= purged_through => true,
                    Ok(r) => {
                        let met = Met::Record {
                            zxid: r.zxid,
                            value: &value,
                            range: r.payload_range,
                            after_fault,
                        };
                        after_fault = false;
                        f(met)
                    }
                    Err(bad) => {
                        after_fault = true;
                        f(Met::Fault {
                            zxid: bad.zxid,
                            why: bad.to_string(),
                            shows: seg.last(),
                        })
                    }
                };
                if !go_on {
                    stopped = true;
                    return Ok(());
                }
            }
            previous_last = seg.last();
        }
        Ok(())
    });
    if let Err(e) = walked {
        if !stopped {
            f(Met::Fault {
                zxid: Zxid(last_key.0.saturating_add(1)),
                why: format!("the scan stopped after key {last_key}: {e}"),
                shows: last_key,
            });
        }
    }
}

/// Scans `tree` in key order: the runs of verified records and the faults (see the module doc).
pub(crate) fn scan(tree: &sled::Tree, purged_through: Zxid) -> LogScan {
    let mut out = LogScan {
        purged_through,
        highest_seen: purged_through,
        ..LogScan::default()
    };
    walk(tree, purged_through, |met| {
        match met {
            Met::Record {
                zxid, after_fault, ..
            } => out.record(zxid, !after_fault),
            Met::Fault { zxid, why, shows } => {
                out.highest_seen = out.highest_seen.max(shows);
                out.fault(zxid, why);
            }
        }
        true
    });
    out
}

/// The verified records in (`after`, `through`], in order, in chunks of up to `chunk` handed
/// to `f`, walking past damaged segments as [`scan`] does (a rebuild copies a run the scan
/// found). Returns the last zxid handed over.
pub(crate) fn copy_range(
    tree: &sled::Tree,
    purged_through: Zxid,
    after: Zxid,
    through: Zxid,
    chunk: usize,
    mut f: impl FnMut(&[(Zxid, bytes::Bytes)]) -> Result<(), StorageError>,
) -> Result<Zxid, StorageError> {
    let mut buf: Vec<(Zxid, bytes::Bytes)> = Vec::new();
    let mut last = after;
    let mut failed = None;
    walk(tree, purged_through, |met| {
        let Met::Record {
            zxid, value, range, ..
        } = met
        else {
            return true;
        };
        if zxid <= last {
            return true;
        }
        if zxid > through {
            return false;
        }
        last = zxid;
        buf.push((zxid, value.slice(range)));
        if buf.len() >= chunk {
            if let Err(e) = f(&buf) {
                failed = Some(e);
                return false;
            }
            buf.clear();
        }
        zxid < through
    });
    if let Some(e) = failed {
        return Err(e);
    }
    if !buf.is_empty() {
        f(&buf)?;
    }
    Ok(last)
}

/// Removes every key above `lower`, highest first and in bounded batches, so that a crash part
/// way leaves a prefix of the log, never a log with a hole. Returns how many keys.
pub(crate) fn remove_from_top(
    tree: &sled::Tree,
    lower: std::ops::Bound<sled::IVec>,
) -> Result<usize, StorageError> {
    /// Keys removed per sled batch, so memory stays bounded for any log length.
    const CHUNK: usize = 1024;
    let mut removed = 0;
    loop {
        let keys = tree
            .range((lower.clone(), std::ops::Bound::Unbounded))
            .keys()
            .rev()
            .take(CHUNK)
            .collect::<Result<Vec<sled::IVec>, sled::Error>>()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_types::Epoch;

    #[test]
    fn what_may_follow_what() {
        let z = |e, c| Zxid::new(Epoch(e), c);
        assert!(follows(Zxid::ZERO, Zxid(1)));
        assert!(follows(Zxid::ZERO, z(3, 1)));
        assert!(!follows(Zxid::ZERO, Zxid(2)));
        assert!(follows(z(1, 5), z(1, 6)));
        assert!(follows(z(1, 5), z(2, 1)));
        assert!(follows(z(1, 5), z(4, 1)));
        assert!(!follows(z(1, 5), z(1, 7)));
        assert!(!follows(z(1, 5), z(2, 2)));
        assert!(!follows(z(2, 5), z(1, 6)));
        // A counter overflow rolls into the next epoch (standalone zxids count up).
        assert!(follows(z(0, u32::MAX), z(1, 0)));
    }

    fn tree() -> (sled::Db, sled::Tree) {
        let db = sled::Config::new().temporary(true).open().expect("sled");
        let t = db.open_tree("t").expect("tree");
        (db, t)
    }

    fn put(t: &sled::Tree, zxids: &[u64]) {
        let recs: Vec<_> = zxids
            .iter()
            .map(|z| (Zxid(*z), bytes::Bytes::from(vec![*z as u8; 4])))
            .collect();
        t.insert(
            super::super::segment::key(recs[0].0),
            super::super::segment::encode(&recs),
        )
        .expect("insert");
    }

    #[test]
    fn runs_break_at_gaps_and_faults_and_the_scan_goes_on() {
        let (_db, t) = tree();
        put(&t, &[1, 2, 3]);
        put(&t, &[4, 5]);
        put(&t, &[7, 8]); // gap: 6 missing
        t.insert(
            super::super::segment::key(Zxid(9)),
            &b"garbage-garbage-garbage"[..],
        )
        .expect("insert");
        put(&t, &[12, 13]);
        let s = scan(&t, Zxid::ZERO);
        assert_eq!(
            s.runs,
            vec![
                Run {
                    first: Zxid(1),
                    last: Zxid(5),
                    count: 5
                },
                Run {
                    first: Zxid(7),
                    last: Zxid(8),
                    count: 2
                },
                Run {
                    first: Zxid(12),
                    last: Zxid(13),
                    count: 2
                },
            ]
        );
        assert_eq!(s.faults_total, 1);
        assert_eq!(s.faults[0].zxid, Zxid(9));
        assert_eq!(s.highest_seen, Zxid(13));
        assert!(!s.is_clean());
        assert_eq!(s.run_from(Zxid(3)).map(|r| r.last), Some(Zxid(5)));
        assert_eq!(s.run_from(Zxid(11)).map(|r| r.last), Some(Zxid(13)));
        assert_eq!(s.run_from(Zxid(9)), None);
        assert_eq!(s.run_from(Zxid::ZERO).map(|r| r.last), Some(Zxid(5)));
    }

    #[test]
    fn purged_records_are_not_scanned() {
        let (_db, t) = tree();
        put(&t, &[1, 2, 3, 4]);
        put(&t, &[5, 6]);
        let s = scan(&t, Zxid(3));
        assert_eq!(
            s.runs,
            vec![Run {
                first: Zxid(4),
                last: Zxid(6),
                count: 3
            }]
        );
        assert!(s.is_clean());
        assert_eq!(scan(&t, Zxid(6)).runs, vec![]);
    }
}

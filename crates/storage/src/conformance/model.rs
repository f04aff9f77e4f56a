//! Model-based checking of a [`TxnLog`]: random operation sequences run against the log under
//! test and against [`LogModel`] (a `BTreeMap`), compared after every step.
//!
//! Operations are relative to the log's current state (`gap` above the last zxid, `back` below
//! it), so every random sequence exercises real cases rather than mostly refused ones. After a
//! `Restart` the implementation may keep some unsynced records (sled does); the check accepts any
//! prefix between "durable" and "everything appended" and adopts what survived.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use paddock_types::Zxid;

use super::log::{payload, read_all, LogHarness};
use super::ok;
use crate::error::StorageError;
use crate::traits::TxnLog;

/// One step of a random sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOp {
    /// Append `count` records, the first `gap + 1` above the last logged zxid, then consecutive.
    Append {
        gap: u64,
        count: u8,
        payload_len: u16,
    },
    /// Append one record `below` under the last logged zxid (so at or below it): refused.
    AppendStale { below: u64 },
    /// `sync()`.
    Sync,
    /// `read_after(last_logged - back, limit)`.
    Read { back: u64, limit: u8 },
    /// `truncate_after(last_logged - back)`.
    TruncateAfter { back: u64 },
    /// `purge_through(last_logged - back)`, or `last_logged + back` with `past_end`.
    PurgeThrough { back: u64, past_end: bool },
    /// Crash and reopen.
    Restart,
}

/// The reference: what a correct log holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogModel {
    pub records: BTreeMap<Zxid, Bytes>,
    pub last_logged: Zxid,
    pub last_durable: Zxid,
    pub purged_through: Zxid,
}

impl LogModel {
    fn recompute_last(&mut self) {
        let last_key = self
            .records
            .keys()
            .next_back()
            .copied()
            .unwrap_or(Zxid::ZERO);
        self.last_logged = last_key.max(self.purged_through);
    }

    fn read_after(&self, after: Zxid, limit: usize) -> Vec<(Zxid, Bytes)> {
        self.records
            .range((Bound::Excluded(after), Bound::Unbounded))
            .take(limit)
            .map(|(z, b)| (*z, b.clone()))
            .collect()
    }
}

/// Runs `ops` against a fresh log from `h` and the model, checking after every step.
pub fn check_ops<H: LogHarness>(h: &mut H, ops: &[LogOp]) {
    let mut log = h.fresh();
    let mut m = LogModel::default();
    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step}: {op:?}");
        match op {
            LogOp::Restart => {
                log = h.restart(log);
                adopt_survivors(&*log, &mut m, &ctx);
            }
            _ => apply(&*log, &mut m, op, &ctx),
        }
        compare(&*log, &m, &ctx);
    }
}

fn apply<L: TxnLog>(log: &L, m: &mut LogModel, op: &LogOp, ctx: &str) {
    let last = m.last_logged.0;
    match *op {
        LogOp::Append {
            gap,
            count,
            payload_len,
        } => {
            let Some(first) = last.checked_add(gap).and_then(|z| z.checked_add(1)) else {
                return;
            };
            let Some(end) = first.checked_add(u64::from(count)) else {
                return;
            };
            let batch: Vec<(Zxid, Bytes)> = (first..end)
                .map(|z| (Zxid(z), payload(Zxid(z), usize::from(payload_len))))
                .collect();
            ok(log.append(&batch), ctx);
            for (z, b) in batch {
                m.records.insert(z, b);
                m.last_logged = z;
            }
        }
        LogOp::AppendStale { below } => {
            let z = Zxid(last.saturating_sub(below));
            let r = log.append(&[(z, payload(z, 8))]);
            assert!(
                matches!(r, Err(StorageError::OutOfOrder { .. })),
                "{ctx}: stale append of {z} must be refused, got {r:?}"
            );
        }
        LogOp::Sync => {
            ok(log.sync(), ctx);
            m.last_durable = m.last_logged;
        }
        LogOp::Read { back, limit } => {
            let after = Zxid(last.saturating_sub(back));
            let got = ok(log.read_after(after, usize::from(limit)), ctx);
            assert_eq!(
                got,
                m.read_after(after, usize::from(limit)),
                "{ctx}: read_after"
            );
        }
        LogOp::TruncateAfter { back } => {
            let z = Zxid(last.saturating_sub(back));
            ok(log.truncate_after(z), ctx);
            m.purged_through = m.purged_through.min(z);
            m.records.retain(|k, _| *k <= z);
            m.recompute_last();
            m.last_durable = m.last_logged;
        }
        LogOp::PurgeThrough { back, past_end } => {
            let z = if past_end {
                Zxid(last.saturating_add(back))
            } else {
                Zxid(last.saturating_sub(back))
            };
            ok(log.purge_through(z), ctx);
            let through = z.min(m.last_logged);
            m.purged_through = m.purged_through.max(through);
            m.records.retain(|k, _| *k > through);
            m.last_durable = m.last_logged;
        }
        LogOp::Restart => {}
    }
}

/// After a restart: the durable records must all be there, and whatever else survived must be a
/// prefix of what was appended after them. The model adopts the survivors.
fn adopt_survivors<L: TxnLog>(log: &L, m: &mut LogModel, ctx: &str) {
    let got = read_all(log);
    let durable: Vec<(Zxid, Bytes)> = m
        .records
        .range(..=m.last_durable)
        .map(|(z, b)| (*z, b.clone()))
        .collect();
    let all: Vec<(Zxid, Bytes)> = m.records.iter().map(|(z, b)| (*z, b.clone())).collect();
    assert!(
        got.len() >= durable.len() && got.len() <= all.len() && got[..] == all[..got.len()],
        "{ctx}: after restart the log must hold the durable records plus a prefix of the rest; \
         durable {} records, appended {}, found {:?}",
        durable.len(),
        all.len(),
        got.iter().map(|(z, _)| z.0).collect::<Vec<_>>()
    );
    m.records = got.into_iter().collect();
    m.recompute_last();
    m.last_durable = m.last_logged;
}

fn compare<L: TxnLog>(log: &L, m: &LogModel, ctx: &str) {
    assert_eq!(
        log.last_logged_zxid(),
        m.last_logged,
        "{ctx}: last_logged_zxid"
    );
    assert_eq!(
        log.last_durable_zxid(),
        m.last_durable,
        "{ctx}: last_durable_zxid"
    );
    assert_eq!(
        log.first_zxid(),
        m.records.keys().next().copied(),
        "{ctx}: first_zxid"
    );
    let all: Vec<(Zxid, Bytes)> = m.records.iter().map(|(z, b)| (*z, b.clone())).collect();
    assert_eq!(read_all(log), all, "{ctx}: contents");
}

/// A deterministic pseudo-random sequence of `len` ops from `seed` (xorshift64*), for crates
/// that want model checks without proptest.
pub fn random_ops(seed: u64, len: usize) -> Vec<LogOp> {
    let mut x = seed | 1;
    let mut next = move |bound: u64| {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound.max(1)
    };
    (0..len)
        .map(|_| match next(16) {
            0..=5 => LogOp::Append {
                gap: if next(10) == 0 { 1 << 32 } else { next(3) },
                count: next(6) as u8,
                payload_len: next(200) as u16,
            },
            6 => LogOp::AppendStale { below: next(4) },
            7..=9 => LogOp::Sync,
            10 | 11 => LogOp::Read {
                back: next(12),
                limit: next(6) as u8,
            },
            12 => LogOp::TruncateAfter { back: next(8) },
            13 | 14 => LogOp::PurgeThrough {
                back: next(10),
                past_end: next(4) == 0,
            },
            _ => LogOp::Restart,
        })
        .collect()
}

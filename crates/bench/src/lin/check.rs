//! Checking a history: the counts a report states, and `paddock-lincheck`'s verdict (the
//! znode model, one part per path).

use std::fmt::Write as _;

use paddock_lincheck::zk::{Input, Output, Znode};
use paddock_lincheck::{check_with_budget, Verdict, DEFAULT_BUDGET};

use super::history::{Line, Op};

/// What a history holds, by kind of operation and answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub ops: usize,
    /// Operations without an answer (outcome unknown).
    pub unknown: usize,
    pub reads: usize,
    /// Unconditional setData that succeeded.
    pub sets_ok: usize,
    /// Versioned setData (compare-and-set): succeeded, refused with BadVersion.
    pub cas_ok: usize,
    pub cas_refused: usize,
    pub creates_ok: usize,
    pub deletes_ok: usize,
    /// Answered NoNode / NodeExists / BadVersion (the model explains these too).
    pub refused: usize,
    pub paths: usize,
}

impl Counts {
    pub fn of(history: &[Op]) -> Counts {
        let mut c = Counts {
            ops: history.len(),
            ..Counts::default()
        };
        let mut paths = std::collections::BTreeSet::new();
        for op in history {
            paths.insert(op.input.path());
            let Some(out) = &op.output else {
                c.unknown += 1;
                continue;
            };
            match (&op.input, out) {
                (Input::Read { .. }, _) => c.reads += 1,
                (Input::Set { version: -1, .. }, Output::Set { .. }) => c.sets_ok += 1,
                (Input::Set { .. }, Output::Set { .. }) => c.cas_ok += 1,
                (Input::Set { .. }, Output::BadVersion) => c.cas_refused += 1,
                (Input::Create { .. }, Output::Done) => c.creates_ok += 1,
                (Input::Delete { .. }, Output::Done) => c.deletes_ok += 1,
                _ => c.refused += 1,
            }
        }
        c.paths = paths.len();
        c
    }

    /// Successful writes (set, compare-and-set, create, delete).
    pub fn writes_ok(&self) -> usize {
        self.sets_ok + self.cas_ok + self.creates_ok + self.deletes_ok
    }

    /// One line for a report.
    pub fn line(&self) -> String {
        format!(
            "{} operations on {} znodes: {} reads (sync+getData), {} setData ok, {} CAS ok / {} BadVersion, {} creates ok, {} deletes ok, {} other refusals (NoNode/NodeExists), {} without an answer",
            self.ops,
            self.paths,
            self.reads,
            self.sets_ok,
            self.cas_ok,
            self.cas_refused,
            self.creates_ok,
            self.deletes_ok,
            self.refused,
            self.unknown
        )
    }
}

/// The checker's finding on a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    Linearizable,
    /// No order of these operations (one znode's, in history order) explains their answers.
    Violation {
        path: String,
        ops: Vec<Op>,
    },
    /// The search budget ran out on this znode's operations: undecided.
    Undecided {
        path: String,
        ops: usize,
    },
}

/// Runs the checker on `history` (each znode's operations with `budget` search steps).
pub fn check(history: &[Op], budget: u64) -> Finding {
    let mut ordered: Vec<Op> = history.to_vec();
    // The checker sorts events itself; ordering by call only makes the report read in time order.
    ordered.sort_by_key(|op| op.call);
    match check_with_budget(&Znode, &ordered, budget) {
        Verdict::Linearizable => Finding::Linearizable,
        Verdict::Violation { part } => Finding::Violation {
            path: part
                .first()
                .map(|&i| ordered[i].input.path().to_string())
                .unwrap_or_default(),
            ops: part.iter().map(|&i| ordered[i].clone()).collect(),
        },
        Verdict::Unknown { part } => Finding::Undecided {
            path: part
                .first()
                .map(|&i| ordered[i].input.path().to_string())
                .unwrap_or_default(),
            ops: part.len(),
        },
    }
}

/// [`check`] with the library's default budget.
pub fn check_default(history: &[Op]) -> Finding {
    check(history, DEFAULT_BUDGET)
}

/// How many operations of a violating part a report shows (the last ones before the first
/// operation that cannot be placed are the interesting ones; the whole part is in the file).
const SHOWN_MAX: usize = 40;

impl Finding {
    /// The report's text: a verdict line, and for a violation the operations around it.
    pub fn describe(&self) -> String {
        match self {
            Finding::Linearizable => "linearizable: no anomaly".into(),
            Finding::Undecided { path, ops } => format!(
                "undecided: the checker's budget ran out on the {ops} operations of {path} (not a pass)"
            ),
            Finding::Violation { path, ops } => {
                let mut s = format!(
                    "ANOMALY: the {} operations on {path} are not linearizable (no order that respects real time explains every answer: a stale or lost read, a lost acknowledged write, or a value never written)",
                    ops.len()
                );
                let first_bad = first_unexplained(ops);
                let end = (first_bad + 10).min(ops.len());
                let start = end.saturating_sub(SHOWN_MAX);
                let _ = write!(
                    s,
                    "\n  operations #{start}..#{end} of the part, by call time (about where it breaks: the first {first_bad} alone are linearizable, #{first_bad} added they are not):"
                );
                for (i, op) in ops.iter().enumerate().take(end).skip(start) {
                    let json = serde_json::to_string(&Line::from(op)).unwrap_or_default();
                    let _ = write!(s, "\n  #{i} {json}");
                }
                s
            }
        }
    }
}

/// The length of the longest prefix (by call time) of `ops` that is linearizable on its own
/// (operations answered after the prefix's last call are dropped from it): the first operation
/// that cannot be explained is near there. Bounded: a binary search of small checks.
fn first_unexplained(ops: &[Op]) -> usize {
    let ok = |n: usize| {
        let cut = ops[..n].last().map_or(0, |o| o.call);
        let prefix: Vec<Op> = ops[..n]
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let mut o = o.clone();
                if i + 1 < n && o.ret.is_some_and(|r| r > cut) {
                    // Not answered yet when the prefix's last operation was called: its answer
                    // may depend on operations after the prefix.
                    o.output = None;
                    o.ret = None;
                }
                o
            })
            .collect();
        matches!(
            check_with_budget(&Znode, &prefix, DEFAULT_BUDGET / 10),
            Verdict::Linearizable | Verdict::Unknown { .. }
        )
    };
    let (mut lo, mut hi) = (0, ops.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if ok(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

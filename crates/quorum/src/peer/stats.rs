//! Counters of a running peer, for metrics: its txn log's group commits, how long its
//! transactions took from being logged to being applied, and (as leader) the sizes of its
//! proposals. Relaxed atomics: each value is exact, two values read one after the other may be
//! one event apart.

use paddock_types::Zxid;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A sum, a count and a maximum of durations.
#[derive(Debug, Default)]
struct Timings {
    count: AtomicU64,
    micros: AtomicU64,
    max_micros: AtomicU64,
}

impl Timings {
    fn record(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(us, Ordering::Relaxed);
        self.max_micros.fetch_max(us, Ordering::Relaxed);
    }
}

/// Last, smallest and largest of some sizes.
#[derive(Debug)]
struct Sizes {
    count: AtomicU64,
    last: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
}

impl Default for Sizes {
    fn default() -> Sizes {
        Sizes {
            count: AtomicU64::new(0),
            last: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
        }
    }
}

/// ZooKeeper's `Proposal sizes last/min/max` (`srvr` and `mntr` of a leader), in bytes of the
/// proposed transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProposalSizes {
    pub last: u64,
    pub min: u64,
    pub max: u64,
}

/// What a peer has done since it started.
#[derive(Debug, Default)]
pub struct PeerStats {
    syncs: Timings,
    records: AtomicU64,
    commits: Timings,
    proposals: Sizes,
}

impl PeerStats {
    /// Group commits done: appends followed by one successful sync.
    pub fn syncs(&self) -> u64 {
        self.syncs.count.load(Ordering::Relaxed)
    }

    /// Records made durable by them.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Time spent in them (append + sync), in all.
    pub fn sync_time(&self) -> Duration {
        Duration::from_micros(self.syncs.micros.load(Ordering::Relaxed))
    }

    /// The longest one.
    pub fn max_sync_time(&self) -> Duration {
        Duration::from_micros(self.syncs.max_micros.load(Ordering::Relaxed))
    }

    /// Transactions applied whose logging this peer saw (the leader: proposed here; a learner:
    /// received as a proposal), i.e. those [`PeerStats::commit_time`] covers.
    pub fn commits(&self) -> u64 {
        self.commits.count.load(Ordering::Relaxed)
    }

    /// From logging to applying, summed over [`PeerStats::commits`]: on the leader the time to
    /// a quorum of durable acks, on a learner that plus the COMMIT reaching it.
    pub fn commit_time(&self) -> Duration {
        Duration::from_micros(self.commits.micros.load(Ordering::Relaxed))
    }

    /// The longest of them.
    pub fn max_commit_time(&self) -> Duration {
        Duration::from_micros(self.commits.max_micros.load(Ordering::Relaxed))
    }

    /// Sizes of the transactions this peer proposed as leader (any of its terms); `None`
    /// before its first proposal.
    pub fn proposal_sizes(&self) -> Option<ProposalSizes> {
        let p = &self.proposals;
        (p.count.load(Ordering::Relaxed) > 0).then(|| ProposalSizes {
            last: p.last.load(Ordering::Relaxed),
            min: p.min.load(Ordering::Relaxed),
            max: p.max.load(Ordering::Relaxed),
        })
    }

    pub(crate) fn record_proposal(&self, bytes: usize) {
        let b = bytes as u64;
        let p = &self.proposals;
        p.last.store(b, Ordering::Relaxed);
        p.min.fetch_min(b, Ordering::Relaxed);
        p.max.fetch_max(b, Ordering::Relaxed);
        p.count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_sync(&self, records: usize, took: Duration) {
        self.syncs.record(took);
        self.records.fetch_add(records as u64, Ordering::Relaxed);
    }

    pub(crate) fn record_commit(&self, took: Duration) {
        self.commits.record(took);
    }
}

/// When each transaction not applied yet was logged here, for [`PeerStats::commit_time`]: a
/// queue of (zxid, instant) in zxid order, pushed when a serving peer logs a transaction and
/// popped when it is applied. The instants are the wall clock's: they only measure, nothing is
/// decided by them.
#[derive(Debug, Default)]
pub(crate) struct CommitClock(VecDeque<(Zxid, Instant)>);

impl CommitClock {
    /// `zxid` was logged at `at` (ignored unless above every zxid queued).
    pub(crate) fn logged(&mut self, zxid: Zxid, at: Instant) {
        if self.0.back().is_none_or(|(last, _)| *last < zxid) {
            self.0.push_back((zxid, at));
        }
    }

    /// `zxid` was applied: when it was logged, if it was timed (older entries are dropped).
    pub(crate) fn applied(&mut self, zxid: Zxid) -> Option<Instant> {
        while let Some(&(z, at)) = self.0.front() {
            if z > zxid {
                break;
            }
            self.0.pop_front();
            if z == zxid {
                return Some(at);
            }
        }
        None
    }

    /// The log was cut after `zxid`: later entries will never be applied.
    pub(crate) fn truncate_after(&mut self, zxid: Zxid) {
        while self.0.back().is_some_and(|(z, _)| *z > zxid) {
            self.0.pop_back();
        }
    }

    /// The role ended, or the state was replaced.
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commit_clock_times_what_it_saw_logged() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut c = CommitClock::default();
        c.logged(Zxid(1), at(0));
        c.logged(Zxid(2), at(5));
        c.logged(Zxid(2), at(9)); // not above the last: ignored
        c.logged(Zxid(3), at(7));
        c.logged(Zxid(5), at(8));
        // (applied, the instant it was logged)
        let cases = [
            (Zxid(0), None),
            (Zxid(2), Some(at(5))), // 1 is dropped with it
            (Zxid(1), None),
            (Zxid(4), None), // 3 dropped, never applied alone
            (Zxid(5), Some(at(8))),
            (Zxid(6), None),
        ];
        for (zxid, logged) in cases {
            assert_eq!(c.applied(zxid), logged, "applied {zxid}");
        }
        c.logged(Zxid(6), at(1));
        c.logged(Zxid(7), at(2));
        c.truncate_after(Zxid(6));
        assert_eq!(c.applied(Zxid(7)), None);
        c.logged(Zxid(8), at(3));
        c.clear();
        assert_eq!(c.applied(Zxid(8)), None);
    }

    #[test]
    fn sums_counts_and_maxima() {
        let s = PeerStats::default();
        s.record_sync(3, Duration::from_micros(300));
        s.record_sync(1, Duration::from_micros(100));
        s.record_commit(Duration::from_millis(2));
        assert_eq!((s.syncs(), s.records()), (2, 4));
        assert_eq!(s.sync_time(), Duration::from_micros(400));
        assert_eq!(s.max_sync_time(), Duration::from_micros(300));
        assert_eq!(s.commits(), 1);
        assert_eq!(s.commit_time(), s.max_commit_time());
    }
}

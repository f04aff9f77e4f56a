//! Counters of a running peer, for metrics: its txn log's group commits, how long its
//! transactions took from being logged to being applied, and (as leader) the sizes of its
//! proposals. Relaxed atomics: each value is exact, two values read one after the other may be
//! one event apart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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

//! The leader's in-memory window of committed transactions, used for DIFF syncs (ZooKeeper's
//! `committedLog`, bounded by `ZabConfig::committed_log_capacity`).

use bytes::Bytes;
use paddock_types::Zxid;
use std::collections::VecDeque;

/// Committed transactions in zxid order, oldest dropped first when full.
#[derive(Clone, Debug, Default)]
pub struct CommittedLog {
    entries: VecDeque<(Zxid, Bytes)>,
    capacity: usize,
}

impl CommittedLog {
    /// An empty window holding at most `capacity` transactions.
    pub fn new(capacity: usize) -> CommittedLog {
        CommittedLog {
            entries: VecDeque::new(),
            capacity,
        }
    }

    /// Appends a transaction; zxids must increase.
    pub fn push(&mut self, zxid: Zxid, data: Bytes) {
        assert!(
            self.entries.back().is_none_or(|(last, _)| *last < zxid),
            "committed log zxids increase"
        );
        self.entries.push_back((zxid, data));
        while self.entries.len() > self.capacity {
            self.entries.pop_front();
        }
    }

    /// The window's zxids, ascending.
    pub fn zxids(&self) -> Vec<Zxid> {
        self.entries.iter().map(|(z, _)| *z).collect()
    }

    /// The transactions with zxid greater than `after`, ascending.
    pub fn after(&self, after: Zxid) -> impl Iterator<Item = &(Zxid, Bytes)> {
        self.entries.iter().filter(move |(z, _)| *z > after)
    }
}

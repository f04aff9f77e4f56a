//! What the processor reports about itself: counters, the `Status` of the admin words and
//! metrics, the attached connections (`cons`), the tree's digest.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::api::{ConnectionInfo, Status};
use crate::processor::Processor;

/// Counters for status and metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests received.
    pub received: AtomicU64,
    /// Answers sent.
    pub answered: AtomicU64,
    /// Snapshots written.
    pub snapshots: AtomicU64,
    /// Time from `submit` to the answer being queued for the connection.
    pub latency: Latency,
}

impl Stats {
    /// One answer sent for a request submitted at `at`: counts it and its latency.
    pub(crate) fn record_answer(&self, at: Instant) {
        self.answered.fetch_add(1, Ordering::Relaxed);
        self.latency.record(at.elapsed());
    }
}

/// Request latency (ZooKeeper's `Latency min/avg/max`), lock-free: four relaxed atomics in
/// microseconds, reported in milliseconds like ZooKeeper.
#[derive(Debug)]
pub struct Latency {
    min_us: AtomicU64,
    max_us: AtomicU64,
    total_us: AtomicU64,
    count: AtomicU64,
}

impl Default for Latency {
    fn default() -> Latency {
        Latency {
            min_us: AtomicU64::new(u64::MAX),
            max_us: AtomicU64::new(0),
            total_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

impl Latency {
    /// Adds one sample.
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.min_us.fetch_min(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
        self.total_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// (min, total, max, count) in microseconds; min is 0 before the first sample.
    pub fn snapshot_us(&self) -> (u64, u64, u64, u64) {
        let count = self.count.load(Ordering::Relaxed);
        let min = match self.min_us.load(Ordering::Relaxed) {
            u64::MAX => 0,
            m => m,
        };
        (
            min,
            self.total_us.load(Ordering::Relaxed),
            self.max_us.load(Ordering::Relaxed),
            count,
        )
    }
}

impl Processor {
    /// What the server looks like now.
    pub fn status(&self) -> Status {
        let sh = &self.shared;
        let (mut outstanding, mut connections) = (0, 0);
        for s in sh.sessions.all() {
            let g = s.lock();
            outstanding += g.queue.len();
            connections += usize::from(g.conn.is_some());
        }
        let (latency_min_us, latency_total_us, latency_max_us, latency_count) =
            sh.stats.latency.snapshot_us();
        let tree = sh.read_tree();
        let ephemerals_count = tree
            .sessions()
            .iter()
            .map(|(id, _)| tree.ephemerals(*id).len())
            .sum();
        let watches = tree.watches_list();
        let watching_sessions = watches
            .iter()
            .map(|(w, _, _)| w.0)
            .collect::<std::collections::HashSet<_>>()
            .len();
        let watched_paths = watches
            .iter()
            .map(|(_, p, _)| p.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len();
        Status {
            watching_sessions,
            watched_paths,
            connections,
            ephemerals_count,
            latency_min_us,
            latency_total_us,
            latency_max_us,
            latency_count,
            serving: sh.is_serving(),
            writes_refused: sh.read_only_reason(),
            last_zxid: tree.last_zxid(),
            node_count: tree.node_count(),
            watch_count: tree.watch_count(),
            session_count: sh.sessions.len(),
            approximate_data_size: tree.approximate_data_size(),
            outstanding,
            received: sh.stats.received.load(Ordering::Relaxed),
            answered: sh.stats.answered.load(Ordering::Relaxed),
        }
    }

    /// Every attached connection, by session id.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let mut out: Vec<ConnectionInfo> = self
            .shared
            .sessions
            .all()
            .iter()
            .filter_map(|s| {
                let g = s.lock();
                let conn = g.conn.as_ref()?;
                Some(ConnectionInfo {
                    peer: conn.peer.clone(),
                    session: s.id,
                    timeout_ms: s.timeout_ms,
                    queued: g.queue.len(),
                    received: conn.received,
                    sent: conn.sent,
                })
            })
            .collect();
        out.sort_by_key(|c| c.session.0);
        out
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Digest of the tree (to compare replicas or a restart with the state before it).
    pub fn digest(&self) -> u64 {
        self.shared.read_tree().digest()
    }
}

//! The processor's counters: requests and answers, snapshots, request latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

    /// Forgets every sample (`srst`).
    pub fn reset(&self) {
        self.min_us.store(u64::MAX, Ordering::Relaxed);
        self.max_us.store(0, Ordering::Relaxed);
        self.total_us.store(0, Ordering::Relaxed);
        self.count.store(0, Ordering::Relaxed);
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

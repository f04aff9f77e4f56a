//! Periodic snapshots: every `snapCount/2 + rand(0..=snapCount/2)` transactions (seeded per
//! server, so servers do not all snapshot at once), one at a time, taken without stopping
//! writes (an O(1) frozen copy of the tree, serialised on a thread of its own); after each,
//! `autopurge.snapRetainCount` snapshots are kept and the log is purged behind the oldest.
//! A deterministic run ([`crate::config::Deterministic`]) writes the snapshot in place instead,
//! under the tree's write lock, so that a simulation replays exactly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use paddock_datatree::DataTree;
use rand::{Rng, SeedableRng};

use paddock_storage::{SnapshotStore, TxnLog};

use crate::config::ProcessorConfig;
use crate::error::SnapshotWriteError;
use crate::locks::lock;
use crate::stats::Stats;

/// When the next snapshot is due, and whether one is being written.
#[derive(Debug)]
pub(crate) struct SnapState {
    since: u64,
    threshold: u64,
    /// The tree may hold transactions not known to be committed (see
    /// [`crate::Processor::set_history_confirmed`]): no periodic snapshot starts meanwhile.
    held: bool,
    running: Arc<AtomicBool>,
    rng: rand::rngs::StdRng,
}

impl SnapState {
    /// Whether a snapshot thread is still writing (it holds the storage, and with it the data
    /// directory's lock, until it ends).
    pub(crate) fn writing(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// Holds periodic snapshots (`false`) or lets them go on (`true`); a snapshot that came due
    /// while held starts at the next apply.
    pub(crate) fn set_history_confirmed(&mut self, confirmed: bool) {
        self.held = !confirmed;
    }

    pub(crate) fn new(cfg: &ProcessorConfig) -> SnapState {
        let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
        let half = (cfg.snap_count / 2).max(1);
        let threshold = half + rng.random_range(0..=half);
        SnapState {
            since: 0,
            threshold,
            held: false,
            running: Arc::new(AtomicBool::new(false)),
            rng,
        }
    }
}

/// What taking a snapshot needs from the processor.
pub(crate) struct Snapshotting<'a> {
    pub state: &'a std::sync::Mutex<SnapState>,
    pub cfg: &'a ProcessorConfig,
    pub snaps: &'a Arc<dyn SnapshotStore>,
    pub log: &'a Arc<dyn TxnLog>,
    pub stats: &'a Stats,
}

impl Snapshotting<'_> {
    /// Called with the tree write-locked after applying `applied` transactions:
    /// starts a snapshot in the background when due (one at a time).
    pub fn maybe_snapshot(&self, tree: &DataTree, applied: u64) {
        let mut st = lock(self.state);
        st.since += applied;
        if st.held || st.since < st.threshold || st.running.load(Ordering::SeqCst) {
            return;
        }
        st.since = 0;
        let half = (self.cfg.snap_count / 2).max(1);
        st.threshold = half + st.rng.random_range(0..=half);
        st.running.store(true, Ordering::SeqCst);
        let running = st.running.clone();
        let frozen = tree.snapshot();
        let snaps = self.snaps.clone();
        let log = self.log.clone();
        let keep = self.cfg.snap_retain_count.max(1);
        let write = move || {
            let zxid = frozen.last_zxid();
            let started = std::time::Instant::now();
            let result = (|| -> Result<(), SnapshotWriteError> {
                let mut sink = snaps.create(zxid)?;
                frozen.write_to(&mut sink)?;
                sink.commit()?;
                snaps.purge(keep)?;
                let kept = snaps.list()?;
                if let Some(oldest) = kept.first() {
                    log.purge_through(*oldest)?;
                }
                Ok(())
            })();
            match result {
                Ok(()) => {
                    tracing::info!(zxid = %zxid, elapsed_ms = started.elapsed().as_millis() as u64, "snapshot written")
                }
                Err(e) => tracing::warn!(zxid = %zxid, error = %e, "snapshot failed"),
            }
            running.store(false, Ordering::SeqCst);
        };
        // A deterministic run (a simulation on one thread and a paused clock) writes in place:
        // a thread of its own would finish, and purge the log, at a moment no seed decides.
        if self.cfg.deterministic.is_some() {
            write();
            self.stats.snapshots.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("paddock-snapshot".into())
            .spawn(write);
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the snapshot thread");
            st.running.store(false, Ordering::SeqCst);
        } else {
            self.stats.snapshots.fetch_add(1, Ordering::Relaxed);
        }
    }
}

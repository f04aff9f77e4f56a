//! [`Processor`]: the request processor of one server, and its start.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use paddock_storage::{SnapshotStore, TxnLog};

use crate::config::ProcessorConfig;
use crate::shared::{lock, Shared};
use crate::sink::TxnSink;

/// The request processor of a server (the gateway's [`crate::api::Backend`]): session table,
/// reads from the local tree, writes through the ensemble ([`TxnSink`]), commits applied
/// ([`Processor::apply_committed`]), session expiry, periodic snapshots.
pub struct Processor {
    pub(crate) shared: Arc<Shared>,
    /// The session-expiry ticker and the container / TTL sweeper (aborted at shutdown).
    pub(crate) tickers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Processor {
    /// Starts the processor of a server. It holds an empty tree and does not serve until
    /// [`Processor::set_role`] says so; the quorum peer fills the tree
    /// ([`Processor::restore`], [`Processor::apply_committed`]). `log` and `snaps` are the
    /// peer's: the processor writes periodic snapshots of its tree there and purges the log
    /// behind them. Needs a tokio runtime (the session-expiry ticker).
    pub fn start(
        cfg: ProcessorConfig,
        sink: Arc<dyn TxnSink>,
        log: Arc<dyn TxnLog>,
        snaps: Arc<dyn SnapshotStore>,
    ) -> Arc<Processor> {
        let processor = Arc::new(Processor {
            shared: Arc::new(Shared::new(cfg, sink, log, snaps)),
            tickers: Mutex::new(Vec::new()),
        });
        processor.start_tickers();
        processor
    }

    /// Starts the session-expiry ticker (every tick) and the container / TTL sweeper (every
    /// `znode.container.checkIntervalMs`); each does its work only while this server is the
    /// serving leader. Needs a tokio runtime.
    fn start_tickers(&self) {
        let tick = Duration::from_millis(u64::from(self.shared.cfg.tick_ms.max(1)));
        let sweep = Duration::from_millis(u64::from(
            self.shared.cfg.container_check_interval_ms.max(1),
        ));
        let expiry = self.every(tick, Shared::expire_sessions);
        let read_only_expiry = self.every(tick, Shared::expire_read_only_sessions);
        let sweeper = self.sweeper(sweep);
        lock(&self.tickers).extend([expiry, read_only_expiry, sweeper]);
    }

    /// The container / TTL sweeper: every `period`, plans a sweep and submits it in chunks
    /// spread over the period (one every [`SWEEP_DRIP`]), stopping when leadership is lost.
    /// Holds the processor only weakly, between chunks too.
    fn sweeper(&self, period: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(period);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                iv.tick().await;
                let plan = match weak.upgrade() {
                    Some(shared) => shared.plan_sweep(),
                    None => break,
                };
                for chunk in plan.chunks(sweep_chunk(plan.len(), period)) {
                    let Some(shared) = weak.upgrade() else { return };
                    if !shared.submit_sweep(chunk) {
                        break;
                    }
                    drop(shared);
                    tokio::time::sleep(SWEEP_DRIP).await;
                }
            }
        })
    }

    /// A task calling `job` every `period` until the processor is dropped.
    fn every(&self, period: Duration, job: fn(&Shared)) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(period);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                iv.tick().await;
                let Some(shared) = weak.upgrade() else { break };
                job(&shared);
            }
        })
    }
}

/// How often a sweep's next chunk of deletions is submitted.
const SWEEP_DRIP: Duration = Duration::from_millis(50);

/// Deletions per chunk so that `planned` deletions are spread over `period` (all at once when
/// the period is no longer than one drip).
fn sweep_chunk(planned: usize, period: Duration) -> usize {
    let drips = (period.as_millis() / SWEEP_DRIP.as_millis()).max(1) as usize;
    planned.div_ceil(drips).max(1)
}

#[cfg(test)]
mod sweep_pacing_tests {
    use super::*;

    #[test]
    fn a_sweep_is_spread_over_its_interval() {
        // ZooKeeper's defaults: 10,000 per minute, checked every 60 s: 9 per 50 ms drip.
        assert_eq!(sweep_chunk(10_000, Duration::from_secs(60)), 9);
        // 100,000 in one 45 s sweep: 112 per drip, done within the interval.
        let c = sweep_chunk(100_000, Duration::from_secs(45));
        assert_eq!(c, 112);
        assert!(100_000usize.div_ceil(c) as u128 * SWEEP_DRIP.as_millis() <= 45_000);
        // Short intervals (tests) submit at once.
        assert_eq!(sweep_chunk(7, Duration::from_millis(20)), 7);
        assert_eq!(sweep_chunk(0, Duration::from_secs(1)), 1);
    }
}

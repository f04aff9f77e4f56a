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
        let sweeper = self.every(sweep, Shared::sweep);
        lock(&self.tickers).extend([expiry, sweeper]);
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

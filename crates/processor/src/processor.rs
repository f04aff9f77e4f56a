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
    pub(crate) ticker: Mutex<Option<tokio::task::JoinHandle<()>>>,
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
            ticker: Mutex::new(None),
        });
        processor.start_ticker();
        processor
    }

    /// Starts the session-expiry ticker (needs a tokio runtime).
    fn start_ticker(&self) {
        let weak = Arc::downgrade(&self.shared);
        let tick = Duration::from_millis(u64::from(self.shared.cfg.tick_ms.max(1)));
        let handle = tokio::spawn(async move {
            let mut iv = tokio::time::interval(tick);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                iv.tick().await;
                let Some(shared) = weak.upgrade() else { break };
                shared.expire_sessions();
            }
        });
        *lock(&self.ticker) = Some(handle);
    }
}

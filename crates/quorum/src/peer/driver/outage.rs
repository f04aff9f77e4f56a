//! A storage failure (a full disk, an I/O error): the peer leaves its role and sits out of
//! elections — it could not persist an epoch nor ack a proposal — retrying to recover its log
//! with a growing back-off; recovered, it rebuilds what it applied from what is durable and
//! elects again.

use super::{stop, Fatal, PeerDriver};
use crate::transport::PeerTransport;
use paddock_election::{Election, ElectionTransport};
use paddock_types::Zxid;
use std::time::Duration;

/// First wait between attempts to recover storage; doubled up to [`RECOVER_BACKOFF_MAX`].
const RECOVER_BACKOFF_FIRST: Duration = Duration::from_millis(100);
const RECOVER_BACKOFF_MAX: Duration = Duration::from_secs(2);

impl<T, E> PeerDriver<T, E>
where
    T: PeerTransport + 'static,
    E: ElectionTransport + Send + 'static,
{
    /// Storage failed: leave the role (clients are dropped by the role change) and sit out of
    /// elections — an election that is not started neither votes nor answers — until
    /// [`PeerDriver::try_recover_storage`] succeeds.
    pub(super) async fn out_of_service(&mut self, why: String) {
        tracing::error!(me = %self.me, error = %why, "storage failed: leaving the ensemble until the txn log can write again");
        self.leave_role().await;
        self.durability.storage_failed();
        self.pending_look = None;
        self.election = Election::new(
            self.me,
            self.last_zxid(),
            self.storage.epochs.current_epoch(),
            self.verifier.clone(),
            self.config.election,
        )
        .with_last_round(self.election.round())
        .with_previous(self.previous_verifier());
        let first = tokio::time::Instant::now() + RECOVER_BACKOFF_FIRST;
        self.storage_failure = Some(why.clone());
        self.broken = Some((why, first, RECOVER_BACKOFF_FIRST));
    }

    /// Out of service: when due, waits for the log writer to be idle (its queued jobs fail
    /// fast), asks the log to recover and, once it has, rebuilds the state machine from what is
    /// durable (a learner may have applied commits its own log never held) and elects again.
    pub(super) async fn try_recover_storage(&mut self) -> Result<(), Fatal> {
        let Some((why, due, wait)) = self.broken.clone() else {
            return Ok(());
        };
        if tokio::time::Instant::now() < due {
            return Ok(());
        }
        self.writer.barrier().await;
        while self.synced.try_recv().is_ok() {}
        let storage = self.storage.clone();
        let me = self.me;
        // The log, and a rewrite of currentEpoch as it is: a probe of the data directory's
        // writes (an epoch file that cannot be written fails a role as surely as the log). A
        // snapshot install the failure interrupted leaves the log behind the snapshot: it is
        // made to continue after it, before anything is appended.
        let recovered = self
            .offload(move || {
                storage.log.recover()?;
                super::storage::align_log_with_snapshot(&storage, me)?;
                storage
                    .epochs
                    .set_current_epoch(storage.epochs.current_epoch())
            })
            .await?;
        if let Err(e) = recovered {
            let wait = (wait * 2).min(RECOVER_BACKOFF_MAX);
            tracing::debug!(me = %self.me, error = %e, %why, "storage still failing");
            self.broken = Some((why, tokio::time::Instant::now() + wait, wait));
            return Ok(());
        }
        if !self.writer.resume() {
            return Err(stop("the log writer stopped"));
        }
        let logged = self.storage.log.last_logged_zxid();
        self.durability.recovered(logged);
        self.early.clear();
        self.cache.clear();
        self.logged_at.clear();
        // A learner may have applied commits its own log never held (a quorum acked them
        // without it): then the state machine is rebuilt from what is durable. A leader alone
        // commits nothing it did not log, and keeps its state (and its clients' sessions).
        if self.sm.last_applied() > logged.max(self.snap_zxid) {
            self.snap_zxid = Zxid::ZERO;
            self.rebuild(None).await?;
        }
        self.broken = None;
        tracing::info!(me = %self.me, last = %self.last_zxid(), "storage recovered: electing again");
        self.start_election()
    }
}

//! CurrentRole transitions: [`PeerDriver::settle`] runs after every input and performs what the handlers
//! recorded (go LOOKING, the election decided, early events to replay); entering a role starts
//! from a drained, fully applied log; leaving one closes its streams and fails what waited.

use super::{fatal, CurrentRole, Fatal, PeerDriver};
use crate::follower::Follower;
use crate::leader::Leader;
use crate::lease::LeaseTracker;
use crate::peer::ProposeError;
use crate::transport::PeerTransport;
use paddock_election::{ElectedRole, Election, ElectionTransport};
use paddock_storage::StorageError;
use paddock_types::Zxid;

impl<T, E> PeerDriver<T, E>
where
    T: PeerTransport + 'static,
    E: ElectionTransport + Send + 'static,
{
    /// Performs pending transitions until none is left.
    pub(super) async fn settle(&mut self) -> Result<(), Fatal> {
        loop {
            self.flush().await?;
            if let Some(reason) = self.pending_look.take() {
                tracing::info!(me = %self.me, %reason, "going LOOKING");
                self.leave_role().await;
                self.start_election()?;
                continue;
            }
            if matches!(self.role, CurrentRole::Looking) && self.election.decision().is_some() {
                self.enter_role().await?;
                continue;
            }
            if self.early.has_replay() {
                for ev in self.early.take_replay() {
                    self.on_peer_event(ev).await?;
                }
                continue;
            }
            self.send_outbox().await;
            return Ok(());
        }
    }

    /// A fresh election (the logical clock continues).
    pub(super) fn start_election(&mut self) -> Result<(), Fatal> {
        let round = self.election.round();
        self.election = Election::new(
            self.me,
            self.last_zxid(),
            self.storage.epochs.current_epoch(),
            self.verifier.clone(),
            self.config.election,
        )
        .with_last_round(round)
        .recovering(self.recovering)
        .with_previous(self.previous_verifier());
        let out = self.election.start();
        paddock_election::execute(self.me, self.election.recipients(), out, &mut self.etrans);
        Ok(())
    }

    async fn enter_role(&mut self) -> Result<(), Fatal> {
        let decision = self.election.decision().expect("decided");
        // The role starts from a quiet, durable log (reports of the old role are stale).
        self.drain().await?;
        drop(self.durability.take_notices());
        // What the log holds beyond the tree may never have committed (a TRUNC may remove it):
        // no snapshot of the machine's own until this role serves.
        self.sm.history_confirmed(false);
        self.catch_up().await?;
        let accepted = self.storage.epochs.accepted_epoch();
        let current = self.storage.epochs.current_epoch();
        let last = self.last_zxid();
        tracing::info!(me = %self.me, leader = %decision.vote.leader, role = ?decision.role, %last, "election decided");
        match decision.role {
            ElectedRole::Leading => {
                let (log, keep) = (
                    self.storage.log.clone(),
                    self.config.zab.committed_log_capacity,
                );
                let mut history = self
                    .offload(move || {
                        let mut history = log.read_after(Zxid::ZERO, usize::MAX)?;
                        if history.len() > keep {
                            history.drain(..history.len() - keep);
                        }
                        Ok::<_, StorageError>(history)
                    })
                    .await?
                    .map_err(fatal)?;
                // The in-memory window must be the tail of this leader's history: a log whose
                // last record is below `last` (a snapshot above it, e.g. a SNAP installed while
                // the log could not be reset, which kept older records) has a hole between the
                // two, and a learner's zxid in that hole would be taken for a divergence and
                // TRUNCated (found by the whole-server simulator, 3 servers, seed 1102091).
                // Then lagging learners get a SNAP instead.
                if history.last().map(|(z, _)| *z) != Some(last) {
                    history.clear();
                }
                let mut leader = Leader::new(
                    self.me,
                    self.members.clone(),
                    self.config.zab,
                    accepted,
                    current,
                    last,
                    history,
                )
                .with_joint(self.joint_for_new_leader(last));
                let out = leader.start();
                self.role = CurrentRole::Leading(Box::new(leader));
                self.early.lead();
                self.execute(out).await?;
            }
            ElectedRole::Following | ElectedRole::Observing => {
                let leader = decision.vote.leader;
                // Streams opened to us while LOOKING: those peers think we lead.
                for p in self.early.follow(leader) {
                    self.send_outbox().await;
                    self.transport.disconnect(p).await;
                }
                let observer = decision.role == ElectedRole::Observing;
                // The leader must not TRUNC below our snapshot: it gets its zxid.
                let snapshot = self.newest_snapshot().await?;
                let f = Follower::new(
                    self.me,
                    leader,
                    observer,
                    self.config.zab,
                    accepted,
                    current,
                    last,
                )
                .with_snapshot_zxid(snapshot);
                self.role = CurrentRole::Following {
                    f: Box::new(f),
                    leader,
                    observer,
                    dialled: false,
                    stream_up: false,
                };
                self.dial_leader().await?;
            }
        }
        Ok(())
    }

    /// Following and not connected yet: dial the leader, register on success.
    pub(super) async fn dial_leader(&mut self) -> Result<(), Fatal> {
        let CurrentRole::Following {
            leader, dialled, ..
        } = &self.role
        else {
            return Ok(());
        };
        if *dialled || self.pending_look.is_some() {
            return Ok(());
        }
        let leader = *leader;
        self.send_outbox().await;
        match self.transport.connect(leader).await {
            Ok(()) => {
                let CurrentRole::Following { f, dialled, .. } = &mut self.role else {
                    unreachable!("role checked above");
                };
                *dialled = true;
                let out = f.start();
                self.execute(out).await
            }
            Err(e) => {
                tracing::debug!(me = %self.me, %leader, error = %e, "cannot reach the leader yet");
                Ok(())
            }
        }
    }

    /// UPTODATE from an established leader: a recovering server now holds that leader's
    /// history, and votes again.
    pub(super) async fn synced_as_learner(&mut self) -> Result<(), Fatal> {
        if !self.recovering || !matches!(self.role, CurrentRole::Following { .. }) {
            return Ok(());
        }
        if let Some(flag) = self.config.resync_flag.clone() {
            let path = flag.0.display().to_string();
            self.offload(move || flag.clear())
                .await?
                .map_err(|e| fatal(format!("cannot clear {path}: {e}")))?;
        }
        self.recovering = false;
        tracing::info!(me = %self.me, "synced with the leader after a damaged data directory: voting again");
        Ok(())
    }

    /// Ends the current role: streams closed, waiting proposals failed.
    pub(super) async fn leave_role(&mut self) {
        // Durability reports still in flight belong to the role that ends.
        self.durability.role_ended();
        self.logged_at.clear();
        match std::mem::replace(&mut self.role, CurrentRole::Looking) {
            CurrentRole::Looking => {}
            CurrentRole::Leading(_) => {
                for p in std::mem::take(&mut self.connected) {
                    // What this wakeup queued leaves before the streams close.
                    self.send_outbox().await;
                    self.transport.disconnect(p).await;
                }
            }
            CurrentRole::Following { leader, .. } => {
                self.send_outbox().await;
                self.transport.disconnect(leader).await
            }
        }
        self.serving = false;
        self.sm.history_confirmed(false);
        self.lease = LeaseTracker::new();
        self.early.clear();
        for (zxid, tx) in std::mem::take(&mut self.waiting) {
            let _ = tx.send(Err(ProposeError::Unknown(zxid)));
        }
    }
}

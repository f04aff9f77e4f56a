//! Executing the cores' commands ([`Command`]): messages are queued in the outbox and leave as
//! one batch per peer at the end of the wakeup; applies are gathered; log records go to
//! `Durability`; epochs, truncations and snapshots are storage work (`storage.rs`); role
//! changes are recorded in `pending_look` for `settle`. [`PeerDriver::flush`] then hands the
//! wakeup's records to the writer and feeds the durability notices back to the role.

use super::storage::EpochFile;
use super::{CurrentRole, Fatal, PeerDriver};
use crate::command::Command;
use crate::messages::PeerMessage;
use crate::transport::PeerTransport;
use bytes::Bytes;
use paddock_election::ElectionTransport;
use paddock_types::{ServerId, Zxid};
use std::time::Instant;

impl<T, E> PeerDriver<T, E>
where
    T: PeerTransport + 'static,
    E: ElectionTransport + Send + 'static,
{
    /// Executes `commands` in order. Log commands are appended at once; the sync and every
    /// durability notice wait for [`PeerDriver::flush`], so a batch of inputs shares one sync.
    pub(super) async fn execute(&mut self, commands: Vec<Command>) -> Result<(), Fatal> {
        // Applies are gathered and applied together; a command that reads or replaces the
        // applied state (or ends the role) first has them applied, and so does an error.
        let mut applies = Vec::new();
        let result = self.execute_gathering(commands, &mut applies).await;
        self.flush_applies(&mut applies);
        result
    }

    async fn execute_gathering(
        &mut self,
        commands: Vec<Command>,
        applies: &mut Vec<(Zxid, Bytes)>,
    ) -> Result<(), Fatal> {
        for c in commands {
            match &c {
                Command::Apply(zxid) => {
                    self.queue_apply(*zxid, applies).await?;
                    continue;
                }
                Command::Send { .. } | Command::SendAck { .. } | Command::Log { .. } => {}
                _ => self.flush_applies(applies),
            }
            match c {
                Command::Send { to, msg } => self.queue(to, msg),
                Command::SendAck { to, ack } => self.queue(to, ack.into_message()),
                Command::SendSnapshot { to, zxid } => self.send_snapshot(to, zxid).await?,
                Command::PersistAcceptedEpoch(e) => {
                    self.persist_epoch(EpochFile::Accepted, e).await?;
                    // Answer LOOKING peers with the epoch this leadership establishes.
                    self.election.update_established_epoch(e);
                }
                Command::PersistCurrentEpoch(e) => {
                    self.persist_epoch(EpochFile::Current, e).await?;
                    // A learner whose accepted epoch already equalled the leader's (it had
                    // accepted it from an earlier candidate) persisted no accepted epoch on
                    // LEADERINFO: its vote learns the established epoch here, at NEWLEADER, or
                    // it answers LOOKING peers with an older epoch than its leader does and they
                    // never count a quorum behind that leader (simulator seed 3, 1520868).
                    self.election.update_established_epoch(e);
                }
                Command::Log { zxid, data } => {
                    // Broadcast only: records of a sync phase wait for NEWLEADER/UPTODATE.
                    if self.serving {
                        self.logged_at.logged(zxid, Instant::now());
                    }
                    self.durability.log(zxid, data.clone());
                    self.cache.insert(zxid, data);
                }
                Command::Truncate { to } => self.truncate(to).await?,
                Command::InstallSnapshot { zxid, data } => {
                    self.install_snapshot(zxid, data).await?
                }
                Command::Apply(_) => unreachable!("gathered above"),
                Command::StartServing => {
                    self.serving = true;
                    // A leader's history is committed once a quorum acknowledged NEWLEADER, a
                    // learner's once UPTODATE came: its own snapshots may go on.
                    self.sm.history_confirmed(true);
                    self.storage_failure = None;
                    self.synced_as_learner().await?;
                }
                Command::DropLearner { learner, why } => {
                    tracing::info!(me = %self.me, %learner, %why, "dropping learner");
                    self.lease.forget(learner);
                    self.send_outbox().await;
                    self.transport.disconnect(learner).await;
                }
                Command::StepDown(reason) | Command::GoLooking(reason) => {
                    self.pending_look.get_or_insert(format!("{reason:?}"));
                }
                Command::Resync { expected, got } => {
                    self.pending_look
                        .get_or_insert(format!("resync: expected {expected:?}, got {got}"));
                }
            }
        }
        Ok(())
    }

    /// Syncs what was appended (one sync for the whole batch) and feeds the durability notices
    /// back, until none is left.
    pub(super) async fn flush(&mut self) -> Result<(), Fatal> {
        loop {
            // Durability arrives later as a writer report (`on_synced`).
            self.send_appends()?;
            let notices = self.durability.take_notices();
            if notices.is_empty() {
                return Ok(());
            }
            for n in notices {
                let more = match &mut self.role {
                    CurrentRole::Leading(l) => l.on_persisted(n),
                    CurrentRole::Following { f, .. } => f.on_persisted(n),
                    CurrentRole::Looking => Vec::new(),
                };
                self.execute(more).await?;
            }
        }
    }

    /// Queues `msg` for `to`, to leave with the rest of this wakeup's messages.
    pub(super) fn queue(&mut self, to: ServerId, msg: PeerMessage) {
        if matches!(self.role, CurrentRole::Leading(_)) {
            // Queued now, sent at the end of the wakeup: an early send time only shortens the
            // lease.
            self.lease.on_send(to, &msg, tokio::time::Instant::now());
        }
        self.outbox.entry(to).or_default().push(msg);
    }

    /// Sends what this wakeup queued: one batch per peer, in order. Best effort, as every send:
    /// a broken stream shows up as `Disconnected` (or silence) anyway.
    pub(super) async fn send_outbox(&mut self) {
        for (to, messages) in std::mem::take(&mut self.outbox) {
            if let Err(e) = self.transport.send_batch(to, messages).await {
                tracing::debug!(me = %self.me, %to, error = %e, "send failed");
            }
        }
    }
}

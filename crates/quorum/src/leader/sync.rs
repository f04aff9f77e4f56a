//! Synchronisation: one plan per learner ([`crate::sync_mode::choose`]) turned into DIFF / TRUNC /
//! TRUNC+DIFF / SNAP messages, NEWLEADER, the outstanding proposals; the leader serves once a
//! quorum (itself included, after its currentEpoch is durable) acked NEWLEADER; each synced
//! learner then gets UPTODATE.

use super::{Leader, LeaderPhase, LearnerPhase};
use crate::command::Command;
use crate::messages::PeerMessage;
use crate::sync_mode::{choose, SyncMode};
use paddock_types::{Epoch, ServerId, Zxid};
use std::collections::BTreeSet;

impl Leader {
    pub(crate) fn sync_learner(&mut self, id: ServerId) -> Vec<Command> {
        let new_epoch = self
            .new_epoch
            .expect("sync only after the epoch is decided");
        let leader_last = self.last_committed;
        let l = self.learners.get_mut(&id).expect("sync a known learner");
        assert_eq!(l.phase, LearnerPhase::EpochAcked, "sync once per ACKEPOCH");
        l.phase = LearnerPhase::Syncing;
        let observer = l.observer;
        let plan = choose(
            l.last_zxid,
            l.snapshot_zxid,
            leader_last,
            &self.committed.zxids(),
        );
        tracing::debug!(learner = %id, peer_last = %l.last_zxid, peer_snapshot = %l.snapshot_zxid, %leader_last, ?plan, "sync plan");
        let mut out = vec![match plan.mode {
            SyncMode::Diff => Leader::send(
                id,
                PeerMessage::Diff {
                    last_zxid: leader_last,
                },
            ),
            SyncMode::Trunc(to) | SyncMode::TruncDiff(to) => {
                Leader::send(id, PeerMessage::Trunc { zxid: to })
            }
            SyncMode::Snap => Command::SendSnapshot {
                to: id,
                zxid: leader_last,
            },
        }];
        if let Some(after) = plan.send_after {
            out.extend(self.committed.after(after).map(|(zxid, data)| {
                Leader::send(
                    id,
                    PeerMessage::Txn {
                        zxid: *zxid,
                        data: data.clone(),
                    },
                )
            }));
        }
        out.push(Leader::send(
            id,
            PeerMessage::NewLeader {
                zxid: Zxid::new(new_epoch, 0),
            },
        ));
        if !observer {
            out.extend(self.outstanding.iter().map(|(zxid, o)| {
                Leader::send(
                    id,
                    PeerMessage::Proposal {
                        zxid: *zxid,
                        data: o.data.clone(),
                    },
                )
            }));
        }
        out
    }

    pub(crate) fn on_current_epoch_durable(&mut self, e: Epoch) -> Vec<Command> {
        assert_eq!(
            Some(e),
            self.new_epoch,
            "only the new epoch becomes current"
        );
        self.current_epoch = e;
        self.current_epoch_durable = true;
        self.maybe_start_serving()
    }

    pub(crate) fn on_ack_new_leader(&mut self, from: ServerId, zxid: Zxid) -> Vec<Command> {
        let expected = self.new_epoch.map(|e| Zxid::new(e, 0));
        let Some(l) = self.learners.get_mut(&from) else {
            return vec![self.drop_learner(from, "NEWLEADER ack from an unknown learner".into())];
        };
        if l.phase != LearnerPhase::Syncing || Some(zxid) != expected {
            return vec![self.drop_learner(from, format!("unexpected NEWLEADER ack {zxid}"))];
        }
        l.phase = LearnerPhase::Synced;
        // An observer's NEWLEADER ack is as durable as a follower's; only voters count, but a
        // voter may be connected as an observer (see `on_ack_epoch`).
        self.newleader_acks.insert(from);
        if self.phase == LeaderPhase::Broadcast {
            return vec![Leader::send(from, PeerMessage::UpToDate)];
        }
        self.maybe_start_serving()
    }

    fn maybe_start_serving(&mut self) -> Vec<Command> {
        if self.phase != LeaderPhase::Sync || !self.current_epoch_durable {
            return Vec::new();
        }
        let mut acked: BTreeSet<ServerId> = self.newleader_acks.clone();
        acked.insert(self.me);
        if !self.is_quorum(&acked, None) {
            return Vec::new();
        }
        tracing::info!(me = %self.me, epoch = ?self.new_epoch, "leader serving");
        self.phase = LeaderPhase::Broadcast;
        // The history, a configuration change in it included, is committed by this quorum.
        self.joint = None;
        let mut out = vec![Command::StartServing];
        out.extend(
            self.synced_learners()
                .into_iter()
                .map(|id| Leader::send(id, PeerMessage::UpToDate)),
        );
        // Elected before a change in its history made it a non-voter (the election counted the
        // configuration before): that quorum has just committed the change, so it hands over
        // as a leader whose own change removed it does. Staying would leave a leader that the
        // servers of the new configuration's observers cannot find (they only ask voters).
        if !self.members.is_voter(self.me) {
            out.push(self.step_down(crate::command::Reason::Reconfigured(self.last_zxid)));
        }
        out
    }
}

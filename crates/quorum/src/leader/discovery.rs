//! Discovery: FOLLOWERINFO / OBSERVERINFO -> new epoch = max(acceptedEpoch) + 1 once a quorum
//! (the leader included) answered, made durable before LEADERINFO leaves -> ACKEPOCH from a
//! quorum, the leader stepping down if a voter is ahead of it (ZooKeeper's
//! `Leader.getEpochToPropose` / `waitForEpochAck`), or has accepted a newer epoch than its own
//! (where ZooKeeper's learner would stay out until the leader changes).

use super::{Leader, LeaderPhase, Learner, LearnerPhase};
use crate::command::{Command, Reason};
use crate::messages::{PeerMessage, PROTOCOL_VERSION};
use paddock_types::{Epoch, ServerId, Zxid};
use std::collections::BTreeSet;

impl Leader {
    pub(crate) fn on_learner_info(
        &mut self,
        from: ServerId,
        observer: bool,
        accepted_epoch: Epoch,
        (last_zxid, snapshot_zxid): (Zxid, Zxid),
        protocol_version: u32,
    ) -> Vec<Command> {
        if protocol_version != PROTOCOL_VERSION {
            return vec![self.drop_learner(
                from,
                format!("protocol version {protocol_version}, expected {PROTOCOL_VERSION}"),
            )];
        }
        if from == self.me {
            return vec![self.drop_learner(from, format!("server {from} is this leader"))];
        }
        // Anyone may connect, as either kind: a server outside the configuration is joining
        // (added by a reconfiguration once synced) or was removed; a member connecting as the
        // other kind has not applied the latest configuration yet (it syncs, applies it and
        // reconnects as what it is). Only voters' acks count, and an observer sends none, so
        // none of this can make a quorum (ZooKeeper's non-voting follower).
        let configured = if observer {
            self.members.is_observer(from)
        } else {
            self.counts(from)
        };
        if !configured {
            tracing::info!(me = %self.me, %from, observer, "a learner connects as what the configuration does not make it: it counts in no quorum");
        }
        // A new FOLLOWERINFO is a new connection: forget what we knew of the old one.
        self.learner_disconnected(from);
        self.learners.insert(
            from,
            Learner {
                observer,
                accepted_epoch,
                last_zxid,
                snapshot_zxid,
                phase: LearnerPhase::Info,
                last_heard: self.now,
            },
        );
        match self.new_epoch {
            None => self.maybe_propose_epoch(),
            // A voter that accepted a newer epoch (a leader's, which never established it:
            // a candidate whose followers went elsewhere, a slow disk) can never follow this
            // one: ZooKeeper's learner refuses the smaller epoch and tries again, forever, while
            // this leader lasts. A voter out for good is a server less in every quorum, so
            // the leader gives way instead: the next leader's epoch is above that voter's (it
            // counts the voter's accepted epoch if the voter is among the first to connect;
            // otherwise each new epoch is one higher, so a few rounds at most). Observers do
            // not count (ZOOKEEPER-2959): one is only dropped.
            Some(e) if accepted_epoch > e && self.counts(from) => {
                vec![self.step_down(Reason::VoterAcceptedNewerEpoch(from, accepted_epoch))]
            }
            Some(e) if accepted_epoch > e => {
                vec![self.drop_learner(
                    from,
                    format!("its accepted epoch {accepted_epoch} is above the new epoch {e}"),
                )]
            }
            Some(_) if self.new_epoch_durable => self.send_leader_info(from),
            Some(_) => Vec::new(),
        }
    }

    pub(crate) fn maybe_propose_epoch(&mut self) -> Vec<Command> {
        let mut connected: BTreeSet<ServerId> = self.learners.keys().copied().collect();
        connected.insert(self.me);
        if !self.is_quorum(&connected, None) {
            return Vec::new();
        }
        let max = self
            .learners
            .values()
            .map(|l| l.accepted_epoch)
            .chain([self.accepted_epoch])
            .max();
        let new_epoch = Epoch(max.expect("the leader's own epoch is in the set").0 + 1);
        tracing::info!(me = %self.me, %new_epoch, "proposing new epoch");
        self.new_epoch = Some(new_epoch);
        vec![Command::PersistAcceptedEpoch(new_epoch)]
    }

    pub(crate) fn on_accepted_epoch_durable(&mut self, e: Epoch) -> Vec<Command> {
        assert_eq!(
            Some(e),
            self.new_epoch,
            "only the proposed epoch is persisted"
        );
        assert!(!self.new_epoch_durable, "the new epoch is persisted once");
        self.new_epoch_durable = true;
        self.accepted_epoch = e;
        self.phase = LeaderPhase::AwaitEpochAcks;
        self.epoch_acks.insert(self.me);
        let waiting: Vec<ServerId> = self
            .learners
            .iter()
            .filter(|(_, l)| l.phase == LearnerPhase::Info)
            .map(|(id, _)| *id)
            .collect();
        let mut out: Vec<Command> = waiting
            .into_iter()
            .flat_map(|id| self.send_leader_info(id))
            .collect();
        // A leader that is a quorum by itself needs no ACKEPOCH.
        out.extend(self.maybe_finish_epoch_acks());
        out
    }

    /// Once the epoch acks (the leader's own included) make a quorum: on to synchronisation.
    fn maybe_finish_epoch_acks(&mut self) -> Vec<Command> {
        if self.phase != LeaderPhase::AwaitEpochAcks || !self.is_quorum(&self.epoch_acks, None) {
            return Vec::new();
        }
        self.phase = LeaderPhase::Sync;
        let new_epoch = self.new_epoch.expect("epoch decided before epoch acks");
        let mut out = vec![Command::PersistCurrentEpoch(new_epoch)];
        let ready: Vec<ServerId> = self
            .learners
            .iter()
            .filter(|(_, l)| l.phase == LearnerPhase::EpochAcked)
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            out.extend(self.sync_learner(id));
        }
        out
    }

    fn send_leader_info(&mut self, to: ServerId) -> Vec<Command> {
        let new_epoch = self
            .new_epoch
            .expect("LEADERINFO only after the epoch is decided");
        let l = self
            .learners
            .get_mut(&to)
            .expect("LEADERINFO goes to a known learner");
        l.phase = LearnerPhase::EpochSent;
        vec![Leader::send(
            to,
            PeerMessage::LeaderInfo {
                new_epoch,
                protocol_version: PROTOCOL_VERSION,
            },
        )]
    }

    pub(crate) fn on_ack_epoch(
        &mut self,
        from: ServerId,
        current_epoch: Epoch,
        last_zxid: Zxid,
    ) -> Vec<Command> {
        let votes = self.counts(from);
        let Some(l) = self.learners.get_mut(&from) else {
            return vec![self.drop_learner(from, "ACKEPOCH from an unknown learner".into())];
        };
        if l.phase != LearnerPhase::EpochSent {
            return vec![self.drop_learner(from, "ACKEPOCH before LEADERINFO".into())];
        }
        // Every learner's ACKEPOCH counts for the quorums (each filters its own voters): a
        // voter of one of them may be connected as an observer (it has applied a change not
        // committed yet), and it persisted the epoch like a follower. So it must not be ahead.
        if votes && (current_epoch, last_zxid) > (self.current_epoch, self.last_zxid) {
            return vec![self.step_down(Reason::QuorumMemberAhead(from))];
        }
        l.phase = LearnerPhase::EpochAcked;
        l.last_zxid = last_zxid;
        match self.phase {
            LeaderPhase::AwaitEpochAcks => {
                self.epoch_acks.insert(from);
                self.maybe_finish_epoch_acks()
            }
            _ => self.sync_learner(from),
        }
    }
}

//! The leader's ZAB state machine: discovery (`discovery.rs`), per-learner synchronisation
//! (`sync.rs`), broadcast (`broadcast.rs`) and liveness (`liveness.rs`).

mod broadcast;
mod discovery;
mod liveness;
mod sync;

use crate::command::{Command, Persisted};
use crate::committed_log::CommittedLog;
use crate::config::ZabConfig;
use crate::membership::Membership;
use crate::messages::PeerMessage;
use bytes::Bytes;
use paddock_types::{Epoch, ServerId, Zxid};
use std::collections::{BTreeMap, BTreeSet};

pub use broadcast::{ChangeRefused, NotServing};

/// The leader's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaderPhase {
    /// Collecting FOLLOWERINFO until a quorum (self included) answered; then persisting the new
    /// acceptedEpoch.
    Discovery,
    /// LEADERINFO sent; collecting ACKEPOCH from a quorum, then persisting currentEpoch.
    AwaitEpochAcks,
    /// Learners are being synced; collecting NEWLEADER acks from a quorum.
    Sync,
    /// Serving: proposals are broadcast.
    Broadcast,
    /// Stepped down; every input is ignored.
    Done,
}

/// Where one learner is in the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LearnerPhase {
    /// FOLLOWERINFO / OBSERVERINFO received.
    Info,
    /// LEADERINFO sent.
    EpochSent,
    /// ACKEPOCH received, waiting for the epoch-ack quorum before syncing.
    EpochAcked,
    /// Sync and NEWLEADER sent; proposals are forwarded.
    Syncing,
    /// NEWLEADER acked.
    Synced,
}

/// What the leader knows of one learner.
#[derive(Clone, Debug)]
pub(crate) struct Learner {
    pub(crate) observer: bool,
    pub(crate) accepted_epoch: Epoch,
    pub(crate) last_zxid: Zxid,
    /// The learner's newest stored snapshot (it cannot be truncated below it).
    pub(crate) snapshot_zxid: Zxid,
    pub(crate) phase: LearnerPhase,
    pub(crate) last_heard: u64,
}

/// A proposal not yet committed.
#[derive(Clone, Debug)]
pub(crate) struct Outstanding {
    pub(crate) data: Bytes,
    pub(crate) acks: BTreeSet<ServerId>,
    /// A configuration change: the membership it installs, whose quorum must ack it too.
    pub(crate) installs: Option<Membership>,
}

/// The leader of one epoch (ZooKeeper's `Leader` + its `LearnerHandler`s), as a pure state
/// machine.
#[derive(Clone, Debug)]
pub struct Leader {
    pub(crate) me: ServerId,
    pub(crate) members: Membership,
    pub(crate) config: ZabConfig,
    pub(crate) phase: LeaderPhase,
    pub(crate) now: u64,
    pub(crate) accepted_epoch: Epoch,
    pub(crate) current_epoch: Epoch,
    /// The leader's last logged zxid (its initial history's end, then the last proposal).
    pub(crate) last_zxid: Zxid,
    pub(crate) learners: BTreeMap<ServerId, Learner>,
    /// The epoch being established, once decided.
    pub(crate) new_epoch: Option<Epoch>,
    pub(crate) new_epoch_durable: bool,
    pub(crate) epoch_acks: BTreeSet<ServerId>,
    pub(crate) current_epoch_durable: bool,
    pub(crate) newleader_acks: BTreeSet<ServerId>,
    pub(crate) committed: CommittedLog,
    pub(crate) last_committed: Zxid,
    /// Our own log is durable up to here.
    pub(crate) durable: Zxid,
    pub(crate) outstanding: BTreeMap<Zxid, Outstanding>,
    /// Until serving: a second membership whose quorum discovery, the epoch acks and NEWLEADER
    /// need too (the configuration before a change in the leader's history that is not known
    /// to be committed; see [`Leader::with_joint`]).
    pub(crate) joint: Option<Membership>,
    /// The configuration change proposed and not yet committed (one at a time).
    pub(crate) pending_change: Option<Zxid>,
}

impl Leader {
    /// A leader whose own state is `accepted_epoch`, `current_epoch` and a durable log whose
    /// tail is `history` (ascending; its last entry is the last logged zxid, or `last_zxid` when
    /// `history` is empty). Everything in the leader's log is its initial history: it will be
    /// committed in the new epoch.
    pub fn new(
        me: ServerId,
        members: Membership,
        config: ZabConfig,
        accepted_epoch: Epoch,
        current_epoch: Epoch,
        last_zxid: Zxid,
        history: impl IntoIterator<Item = (Zxid, Bytes)>,
    ) -> Leader {
        let mut committed = CommittedLog::new(config.committed_log_capacity);
        for (zxid, data) in history {
            committed.push(zxid, data);
        }
        let last_zxid = committed
            .zxids()
            .last()
            .copied()
            .unwrap_or(last_zxid)
            .max(last_zxid);
        Leader {
            me,
            members,
            config,
            phase: LeaderPhase::Discovery,
            now: 0,
            accepted_epoch,
            current_epoch,
            last_zxid,
            learners: BTreeMap::new(),
            new_epoch: None,
            new_epoch_durable: false,
            epoch_acks: BTreeSet::new(),
            current_epoch_durable: false,
            newleader_acks: BTreeSet::new(),
            committed,
            last_committed: last_zxid,
            durable: last_zxid,
            outstanding: BTreeMap::new(),
            joint: None,
            pending_change: None,
        }
    }

    /// Requires a quorum of `previous` too (besides the leader's membership) for discovery,
    /// the epoch acks and NEWLEADER. The driver passes the configuration that preceded a
    /// change found in the leader's history when nothing shows that change committed: the
    /// history is committed by this leader's NEWLEADER quorum, and a configuration change must
    /// be acknowledged by a quorum of the old and of the new configuration (ZooKeeper's
    /// `lastSeenQuorumVerifier` rule). Cleared once serving.
    pub fn with_joint(mut self, previous: Option<Membership>) -> Leader {
        self.joint = previous.filter(|p| *p != self.members);
        self
    }

    /// The membership whose quorum commits proposals now.
    pub fn members(&self) -> &Membership {
        &self.members
    }

    /// Whether `set` plus `extra` is a quorum of the membership (and of `joint`, while it
    /// applies).
    pub(crate) fn is_quorum(&self, set: &BTreeSet<ServerId>, extra: Option<ServerId>) -> bool {
        self.members.contains_quorum_with(set, extra)
            && self
                .joint
                .as_ref()
                .is_none_or(|j| j.contains_quorum_with(set, extra))
    }

    /// Whether `id` votes in the membership (or in `joint`).
    pub(crate) fn counts(&self, id: ServerId) -> bool {
        self.members.is_voter(id) || self.joint.as_ref().is_some_and(|j| j.is_voter(id))
    }

    /// What the leader does on taking the role: nothing until learners connect, unless it is
    /// a quorum by itself (a single voter: a standalone server), which proposes its epoch at
    /// once and goes through discovery and synchronisation on its own durability notices.
    pub fn start(&mut self) -> Vec<Command> {
        if self.phase != LeaderPhase::Discovery || self.new_epoch.is_some() {
            return Vec::new();
        }
        self.maybe_propose_epoch()
    }

    /// The phase.
    pub fn phase(&self) -> LeaderPhase {
        self.phase
    }

    /// The epoch being established (after discovery).
    pub fn epoch(&self) -> Option<Epoch> {
        self.new_epoch
    }

    /// The last committed zxid.
    pub fn last_committed(&self) -> Zxid {
        self.last_committed
    }

    /// The learners that acked NEWLEADER, in id order.
    pub fn synced_learners(&self) -> Vec<ServerId> {
        self.learners
            .iter()
            .filter(|(_, l)| l.phase == LearnerPhase::Synced)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Whether `learner` acked NEWLEADER (and, once serving, was sent UPTODATE).
    pub fn is_synced_learner(&self, learner: ServerId) -> bool {
        self.learners
            .get(&learner)
            .is_some_and(|l| l.phase == LearnerPhase::Synced)
    }

    /// A message from learner `from`.
    pub fn step(&mut self, from: ServerId, msg: PeerMessage) -> Vec<Command> {
        if self.phase == LeaderPhase::Done {
            return Vec::new();
        }
        if let Some(l) = self.learners.get_mut(&from) {
            l.last_heard = self.now;
        }
        match msg {
            PeerMessage::FollowerInfo {
                accepted_epoch,
                last_zxid,
                protocol_version,
                snapshot_zxid,
            } => self.on_learner_info(
                from,
                false,
                accepted_epoch,
                (last_zxid, snapshot_zxid),
                protocol_version,
            ),
            PeerMessage::ObserverInfo {
                accepted_epoch,
                last_zxid,
                protocol_version,
                snapshot_zxid,
            } => self.on_learner_info(
                from,
                true,
                accepted_epoch,
                (last_zxid, snapshot_zxid),
                protocol_version,
            ),
            PeerMessage::AckEpoch {
                current_epoch,
                last_zxid,
            } => self.on_ack_epoch(from, current_epoch, last_zxid),
            PeerMessage::AckNewLeader { zxid } => self.on_ack_new_leader(from, zxid),
            PeerMessage::Ack { zxid } => self.on_ack(from, zxid),
            PeerMessage::PingReply => Vec::new(),
            other => {
                tracing::warn!(%from, ?other, "leader got a leader-to-learner message");
                vec![self.drop_learner(from, format!("unexpected message {other:?}"))]
            }
        }
    }

    /// A durability notice for our own state.
    pub fn on_persisted(&mut self, what: Persisted) -> Vec<Command> {
        if self.phase == LeaderPhase::Done {
            return Vec::new();
        }
        match what {
            Persisted::AcceptedEpoch(e) => self.on_accepted_epoch_durable(e),
            Persisted::CurrentEpoch(e) => self.on_current_epoch_durable(e),
            Persisted::Log(z) => self.on_log_durable(z),
        }
    }

    /// The stream to `learner` closed: forget it, including its acks of outstanding proposals
    /// (on reconnecting it may be told to truncate them, so they no longer prove durability).
    pub fn learner_disconnected(&mut self, learner: ServerId) -> Vec<Command> {
        self.learners.remove(&learner);
        for o in self.outstanding.values_mut() {
            o.acks.remove(&learner);
        }
        self.newleader_acks.remove(&learner);
        self.epoch_acks.remove(&learner);
        Vec::new()
    }

    pub(crate) fn drop_learner(&mut self, learner: ServerId, why: String) -> Command {
        self.learner_disconnected(learner);
        Command::DropLearner { learner, why }
    }

    pub(crate) fn step_down(&mut self, reason: crate::command::Reason) -> Command {
        tracing::info!(me = %self.me, ?reason, "leader steps down");
        self.phase = LeaderPhase::Done;
        Command::StepDown(reason)
    }

    pub(crate) fn send(to: ServerId, msg: PeerMessage) -> Command {
        Command::Send { to, msg }
    }
}

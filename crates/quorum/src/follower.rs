//! The learner's ZAB state machine (ZooKeeper's `Learner.registerWithLeader`,
//! `syncWithLeader`, `Follower.processPacket`), for followers and observers.
//!
//! Rules:
//! - `start`: FOLLOWERINFO / OBSERVERINFO(acceptedEpoch, last zxid).
//! - LEADERINFO(e): e > acceptedEpoch → persist e, ACKEPOCH only once durable; e == acceptedEpoch →
//!   ACKEPOCH at once (already durable); e < acceptedEpoch or another protocol version → LOOKING.
//! - DIFF / TRUNC / SNAP then TXNs: log (and apply) what the leader sends; TRUNC drops the tail.
//! - NEWLEADER(e, 0): once everything logged during the sync is durable, persist currentEpoch = e
//!   (never before: FLE ranks servers by currentEpoch first, so a newer epoch over a log that
//!   lacks the synced history could win an election and truncate committed txns elsewhere,
//!   ZOOKEEPER-4643); its ACK leaves once currentEpoch is durable too.
//! - UPTODATE: serve.
//! - PROPOSAL (after NEWLEADER): log; ACK once durable (never before, and only after the
//!   NEWLEADER ack). COMMIT: apply if it is the next pending proposal, else `Resync`.
//!   INFORM (observers): log and apply.
//! - PING → PINGREPLY. Nothing heard for syncLimit (initLimit before UPTODATE) ticks → LOOKING.

use crate::command::{Command, DurableAck, Persisted, Reason};
use crate::config::ZabConfig;
use crate::messages::{PeerMessage, PROTOCOL_VERSION};
use bytes::Bytes;
use paddock_types::{Epoch, ServerId, Zxid};
use std::collections::VecDeque;

/// The learner's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowerPhase {
    /// FOLLOWERINFO sent, waiting for LEADERINFO.
    AwaitLeaderInfo,
    /// Persisting the new acceptedEpoch before ACKEPOCH.
    PersistingEpoch,
    /// ACKEPOCH sent; receiving the sync.
    Syncing,
    /// NEWLEADER received; persisting currentEpoch and the synced log before its ACK.
    NewLeaderPending,
    /// NEWLEADER acked; waiting for UPTODATE.
    AwaitUpToDate,
    /// Serving clients.
    Serving,
    /// Gone LOOKING; every input is ignored.
    Done,
}

/// One learner following one leader.
#[derive(Clone, Debug)]
pub struct Follower {
    me: ServerId,
    leader: ServerId,
    observer: bool,
    config: ZabConfig,
    phase: FollowerPhase,
    accepted_epoch: Epoch,
    current_epoch: Epoch,
    /// Last zxid handed to the log (or snapshot).
    logged: Zxid,
    /// The log is durable up to here.
    durable: Zxid,
    /// The NEWLEADER zxid awaiting its ack, and the log position it covers.
    newleader: Option<(Zxid, Zxid)>,
    /// `PersistCurrentEpoch` was asked for (only once the synced log is durable).
    current_epoch_requested: bool,
    current_epoch_durable: bool,
    /// Proposals logged, not yet committed, ascending.
    pending: VecDeque<Zxid>,
    /// Proposals acked up to here.
    acked: Zxid,
    last_applied: Zxid,
    idle_ticks: u32,
    /// The newest stored snapshot's zxid, told the leader in FOLLOWERINFO / OBSERVERINFO.
    snapshot_zxid: Zxid,
}

impl Follower {
    /// A learner (`observer` or follower) with durable `accepted_epoch`, `current_epoch` and a
    /// log durable up to `last_zxid`, all of it applied, following `leader`.
    pub fn new(
        me: ServerId,
        leader: ServerId,
        observer: bool,
        config: ZabConfig,
        accepted_epoch: Epoch,
        current_epoch: Epoch,
        last_zxid: Zxid,
    ) -> Follower {
        Follower {
            me,
            leader,
            observer,
            config,
            phase: FollowerPhase::AwaitLeaderInfo,
            accepted_epoch,
            current_epoch,
            logged: last_zxid,
            durable: last_zxid,
            newleader: None,
            current_epoch_requested: false,
            current_epoch_durable: false,
            pending: VecDeque::new(),
            acked: Zxid::ZERO,
            last_applied: last_zxid,
            idle_ticks: 0,
            snapshot_zxid: Zxid::ZERO,
        }
    }

    /// This learner's newest stored snapshot is at `zxid` (the default: none). A snapshot
    /// cannot be rolled back, so the leader is told (FOLLOWERINFO / OBSERVERINFO) and sends a
    /// SNAP where it would otherwise TRUNC below it.
    pub fn with_snapshot_zxid(mut self, zxid: Zxid) -> Follower {
        self.snapshot_zxid = zxid;
        self
    }

    /// The phase.
    pub fn phase(&self) -> FollowerPhase {
        self.phase
    }

    /// The last applied zxid.
    pub fn last_applied(&self) -> Zxid {
        self.last_applied
    }

    /// Registers with the leader.
    pub fn start(&mut self) -> Vec<Command> {
        let (accepted_epoch, last_zxid, protocol_version, snapshot_zxid) = (
            self.accepted_epoch,
            self.logged,
            PROTOCOL_VERSION,
            self.snapshot_zxid,
        );
        let msg = if self.observer {
            PeerMessage::ObserverInfo {
                accepted_epoch,
                last_zxid,
                protocol_version,
                snapshot_zxid,
            }
        } else {
            PeerMessage::FollowerInfo {
                accepted_epoch,
                last_zxid,
                protocol_version,
                snapshot_zxid,
            }
        };
        vec![self.send(msg)]
    }

    fn send(&self, msg: PeerMessage) -> Command {
        Command::Send {
            to: self.leader,
            msg,
        }
    }

    fn ack(&self, msg: PeerMessage) -> Command {
        Command::SendAck {
            to: self.leader,
            ack: DurableAck::after_durable(msg),
        }
    }

    fn look(&mut self, reason: Reason) -> Vec<Command> {
        tracing::info!(me = %self.me, ?reason, "learner goes LOOKING");
        self.phase = FollowerPhase::Done;
        vec![Command::GoLooking(reason)]
    }

    /// One tick (tickTime / 2).
    pub fn tick(&mut self) -> Vec<Command> {
        if self.phase == FollowerPhase::Done {
            return Vec::new();
        }
        self.idle_ticks += 1;
        let limit = if self.phase == FollowerPhase::Serving {
            self.config.sync_limit_ticks
        } else {
            self.config.init_limit_ticks
        };
        if self.idle_ticks > limit {
            return self.look(Reason::LeaderSilent);
        }
        Vec::new()
    }

    /// A message from the leader.
    pub fn step(&mut self, from: ServerId, msg: PeerMessage) -> Vec<Command> {
        if self.phase == FollowerPhase::Done {
            return Vec::new();
        }
        if from != self.leader {
            tracing::warn!(me = %self.me, %from, "message from a server that is not our leader");
            return Vec::new();
        }
        self.idle_ticks = 0;
        use FollowerPhase as P;
        match (self.phase, msg) {
            (_, PeerMessage::Ping) => vec![self.send(PeerMessage::PingReply)],
            (
                P::AwaitLeaderInfo,
                PeerMessage::LeaderInfo {
                    new_epoch,
                    protocol_version,
                },
            ) => self.on_leader_info(new_epoch, protocol_version),
            (P::Syncing, PeerMessage::Diff { .. }) => Vec::new(),
            (P::Syncing, PeerMessage::Trunc { zxid }) => {
                assert!(self.pending.is_empty(), "no proposals pending during sync");
                self.logged = zxid;
                self.durable = self.durable.min(zxid);
                self.last_applied = self.last_applied.min(zxid);
                vec![Command::Truncate { to: zxid }]
            }
            (P::Syncing, PeerMessage::Snap { zxid, data }) => {
                self.logged = zxid;
                self.durable = Zxid::ZERO;
                self.last_applied = zxid;
                vec![Command::InstallSnapshot { zxid, data }]
            }
            (P::Syncing, PeerMessage::Txn { zxid, data }) => self.log_and_apply(zxid, data),
            (P::Syncing, PeerMessage::NewLeader { zxid }) => self.on_new_leader(zxid),
            (
                P::NewLeaderPending | P::AwaitUpToDate | P::Serving,
                PeerMessage::Proposal { zxid, data },
            ) if !self.observer => self.on_proposal(zxid, data),
            (P::NewLeaderPending | P::AwaitUpToDate | P::Serving, PeerMessage::Commit { zxid })
                if !self.observer =>
            {
                self.on_commit(zxid)
            }
            (
                P::NewLeaderPending | P::AwaitUpToDate | P::Serving,
                PeerMessage::Inform { zxid, data },
            ) if self.observer => self.log_and_apply(zxid, data),
            (P::AwaitUpToDate, PeerMessage::UpToDate) => {
                self.phase = P::Serving;
                vec![Command::StartServing]
            }
            (phase, msg) => self.look(Reason::Protocol(format!("{msg:?} in phase {phase:?}"))),
        }
    }

    /// A committed transaction (sync TXN, observer INFORM): log it and apply it.
    fn log_and_apply(&mut self, zxid: Zxid, data: Bytes) -> Vec<Command> {
        if zxid <= self.logged {
            let why = format!("committed txn {zxid} not above our last {}", self.logged);
            return self.look(Reason::Protocol(why));
        }
        self.logged = zxid;
        self.last_applied = zxid;
        vec![Command::Log { zxid, data }, Command::Apply(zxid)]
    }

    /// A proposal: log it; its ACK waits for durability ([`Follower::on_persisted`]).
    fn on_proposal(&mut self, zxid: Zxid, data: Bytes) -> Vec<Command> {
        if zxid <= self.logged {
            let why = format!("proposal {zxid} not above our last {}", self.logged);
            return self.look(Reason::Protocol(why));
        }
        self.logged = zxid;
        self.pending.push_back(zxid);
        vec![Command::Log { zxid, data }]
    }

    fn on_leader_info(&mut self, new_epoch: Epoch, protocol_version: u32) -> Vec<Command> {
        if protocol_version != PROTOCOL_VERSION {
            return self.look(Reason::BadLeader(format!(
                "protocol version {protocol_version}"
            )));
        }
        if new_epoch < self.accepted_epoch {
            return self.look(Reason::BadLeader(format!(
                "leader epoch {new_epoch} below our accepted epoch {}",
                self.accepted_epoch
            )));
        }
        if new_epoch == self.accepted_epoch {
            self.phase = FollowerPhase::Syncing;
            return vec![self.ack_epoch()];
        }
        self.phase = FollowerPhase::PersistingEpoch;
        vec![Command::PersistAcceptedEpoch(new_epoch)]
    }

    fn ack_epoch(&self) -> Command {
        self.ack(PeerMessage::AckEpoch {
            current_epoch: self.current_epoch,
            last_zxid: self.logged,
        })
    }

    fn on_new_leader(&mut self, zxid: Zxid) -> Vec<Command> {
        if zxid.epoch() != self.accepted_epoch || zxid.counter() != 0 {
            return self.look(Reason::Protocol(format!(
                "NEWLEADER {zxid} for accepted epoch {}",
                self.accepted_epoch
            )));
        }
        self.phase = FollowerPhase::NewLeaderPending;
        self.newleader = Some((zxid, self.logged));
        self.maybe_persist_current_epoch()
    }

    /// Asks for currentEpoch = the NEWLEADER epoch once the history synced before NEWLEADER is
    /// durable: the epoch names a history this server then holds on disk (ZOOKEEPER-4643).
    fn maybe_persist_current_epoch(&mut self) -> Vec<Command> {
        match self.newleader {
            Some((zxid, covers)) if !self.current_epoch_requested && self.durable >= covers => {
                self.current_epoch_requested = true;
                vec![Command::PersistCurrentEpoch(zxid.epoch())]
            }
            _ => Vec::new(),
        }
    }

    fn on_commit(&mut self, zxid: Zxid) -> Vec<Command> {
        if zxid <= self.last_applied {
            return Vec::new(); // already applied (e.g. part of the sync)
        }
        if self.pending.front() != Some(&zxid) {
            let expected = self.pending.front().copied();
            tracing::warn!(me = %self.me, ?expected, got = %zxid, "COMMIT out of order: re-sync");
            self.phase = FollowerPhase::Done;
            return vec![Command::Resync {
                expected,
                got: zxid,
            }];
        }
        self.pending.pop_front();
        self.last_applied = zxid;
        vec![Command::Apply(zxid)]
    }

    /// A durability notice.
    pub fn on_persisted(&mut self, what: Persisted) -> Vec<Command> {
        if self.phase == FollowerPhase::Done {
            return Vec::new();
        }
        match what {
            Persisted::AcceptedEpoch(e) => {
                assert_eq!(
                    self.phase,
                    FollowerPhase::PersistingEpoch,
                    "acceptedEpoch persisted only when asked"
                );
                self.accepted_epoch = e;
                self.phase = FollowerPhase::Syncing;
                vec![self.ack_epoch()]
            }
            Persisted::CurrentEpoch(e) => {
                assert_eq!(
                    self.phase,
                    FollowerPhase::NewLeaderPending,
                    "currentEpoch persisted only on NEWLEADER"
                );
                self.current_epoch = e;
                self.current_epoch_durable = true;
                self.flush_acks()
            }
            Persisted::Log(z) => {
                self.durable = self.durable.max(z.min(self.logged));
                let mut out = self.maybe_persist_current_epoch();
                out.extend(self.flush_acks());
                out
            }
        }
    }

    /// Emits every acknowledgement whose condition now holds, in protocol order.
    fn flush_acks(&mut self) -> Vec<Command> {
        let mut out = Vec::new();
        if self.phase == FollowerPhase::NewLeaderPending {
            let (zxid, covers) = self.newleader.expect("NEWLEADER pending");
            if !(self.current_epoch_durable && self.durable >= covers) {
                return out;
            }
            out.push(self.ack(PeerMessage::AckNewLeader { zxid }));
            self.phase = FollowerPhase::AwaitUpToDate;
            self.acked = covers;
        }
        if self.observer {
            return out;
        }
        let newly: Vec<Zxid> = self
            .pending
            .iter()
            .copied()
            .filter(|z| *z > self.acked && *z <= self.durable)
            .collect();
        for zxid in newly {
            out.push(self.ack(PeerMessage::Ack { zxid }));
            self.acked = zxid;
        }
        out
    }
}

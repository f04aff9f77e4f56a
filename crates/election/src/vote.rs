//! The vocabulary of an election: votes, peer states, roles and notifications.

use paddock_types::{Epoch, ServerId, Zxid};
use std::fmt;

/// A vote: "`leader` should lead; its last zxid is `zxid` and its current epoch is `epoch`".
///
/// The derived `Ord` *is* the election order: the field order is (epoch, zxid, leader), so a vote
/// with a higher epoch wins, then a higher zxid, then a higher server id — ZooKeeper's
/// `totalOrderPredicate` and seed 003's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vote {
    /// The proposed leader's current epoch (ZooKeeper's `peerEpoch`). Compared first.
    pub epoch: Epoch,
    /// The proposed leader's last logged zxid. Compared second.
    pub zxid: Zxid,
    /// The proposed leader. Compared last.
    pub leader: ServerId,
}

impl Vote {
    /// A vote for `leader`, whose last zxid is `zxid` and current epoch is `epoch`.
    pub fn new(leader: ServerId, zxid: Zxid, epoch: Epoch) -> Vote {
        Vote {
            epoch,
            zxid,
            leader,
        }
    }

    /// ZooKeeper's match for votes of peers that are no longer looking: same leader, same epoch
    /// (the zxid a decided peer reports may have moved on).
    pub fn same_leader_and_epoch(&self, other: &Vote) -> bool {
        self.leader == other.leader && self.epoch == other.epoch
    }
}

impl fmt::Display for Vote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(leader {}, zxid {}, epoch {})",
            self.leader, self.zxid, self.epoch
        )
    }
}

/// The state a peer reports in its notifications (ZooKeeper's `ServerState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerState {
    /// Electing.
    Looking,
    /// Decided: follows `vote.leader`.
    Following,
    /// Decided: leads.
    Leading,
    /// Decided: observes `vote.leader` (never votes).
    Observing,
    /// A voter electing without a vote: its data directory lost transactions it had made
    /// durable, so its vote could help elect a leader that lacks them. It is answered like an
    /// observer and joins an established leader only ([`crate::Election::recovering`]).
    Recovering,
}

/// The role an election ends in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ElectedRole {
    /// This peer is the leader.
    Leading,
    /// This peer is a voter following another peer.
    Following,
    /// This peer is an observer.
    Observing,
}

impl ElectedRole {
    /// The peer state a decided peer with this role reports.
    pub fn peer_state(self) -> PeerState {
        match self {
            ElectedRole::Leading => PeerState::Leading,
            ElectedRole::Following => PeerState::Following,
            ElectedRole::Observing => PeerState::Observing,
        }
    }
}

/// What peers exchange: the sender's current vote, its election round and its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Notification {
    /// The sender's current (or final) vote.
    pub vote: Vote,
    /// The sender's election round (ZooKeeper's `electionEpoch` / logical clock).
    pub round: u64,
    /// Who sent it.
    pub sender: ServerId,
    /// The sender's state.
    pub sender_state: PeerState,
}

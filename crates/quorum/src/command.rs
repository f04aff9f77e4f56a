//! What the leader and follower state machines ask their driver to do, and what the driver
//! reports back.

use crate::messages::PeerMessage;
use bytes::Bytes;
use paddock_types::{Epoch, ServerId, Zxid};

/// A learner's acknowledgement that may only leave once what it acknowledges is durable
/// (ACKEPOCH, ACK of NEWLEADER, ACK of a proposal). It can only be built inside this crate, by
/// the handlers that run when the driver reported the matching [`Persisted`] (STYLE habit 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurableAck(PeerMessage);

impl DurableAck {
    /// Only call once the acknowledged state is known durable.
    pub(crate) fn after_durable(msg: PeerMessage) -> DurableAck {
        debug_assert!(matches!(
            msg,
            PeerMessage::AckEpoch { .. }
                | PeerMessage::AckNewLeader { .. }
                | PeerMessage::Ack { .. }
        ));
        DurableAck(msg)
    }

    /// The message to put on the wire.
    pub fn message(&self) -> &PeerMessage {
        &self.0
    }

    /// The message to put on the wire.
    pub fn into_message(self) -> PeerMessage {
        self.0
    }
}

/// A durability notice from the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persisted {
    /// acceptedEpoch is on disk.
    AcceptedEpoch(Epoch),
    /// currentEpoch is on disk.
    CurrentEpoch(Epoch),
    /// The log (or an installed snapshot) is durable up to and including this zxid.
    Log(Zxid),
}

/// Why a role ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A quorum member reported a more recent (currentEpoch, last zxid) than the leader's.
    QuorumMemberAhead(ServerId),
    /// A voter has accepted a newer epoch than this leader's (from a leader that never
    /// established it): it cannot join this epoch, so a new election must pick one above it.
    VoterAcceptedNewerEpoch(ServerId, Epoch),
    /// The synced voters are no longer a quorum.
    LostQuorum,
    /// Discovery / sync did not finish within initLimit.
    InitLimit,
    /// Nothing heard from the leader within syncLimit.
    LeaderSilent,
    /// The leader proposed an epoch older than ours, or a protocol version we do not speak.
    BadLeader(String),
    /// A sync message that does not fit the protocol state.
    Protocol(String),
    /// The configuration change committed at this zxid made this leader a non-voter.
    Reconfigured(Zxid),
}

/// An output of [`crate::Leader`] or [`crate::Follower`]; the driver executes them in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Send a message on the stream to `to`.
    Send {
        /// The peer.
        to: ServerId,
        /// The message.
        msg: PeerMessage,
    },
    /// Send an acknowledgement that is already durable (follower only).
    SendAck {
        /// The leader.
        to: ServerId,
        /// The acknowledgement.
        ack: DurableAck,
    },
    /// Leader: send `PeerMessage::Snap` with the state as of `zxid` (= everything applied by the
    /// commands before this one) to `to`.
    SendSnapshot {
        /// The learner.
        to: ServerId,
        /// The state's zxid.
        zxid: Zxid,
    },
    /// Make acceptedEpoch durable; report [`Persisted::AcceptedEpoch`].
    PersistAcceptedEpoch(Epoch),
    /// Make currentEpoch durable; report [`Persisted::CurrentEpoch`].
    PersistCurrentEpoch(Epoch),
    /// Append to the log (group commit is fine); report [`Persisted::Log`] once durable.
    Log {
        /// Its zxid.
        zxid: Zxid,
        /// The encoded transaction.
        data: Bytes,
    },
    /// Remove every log entry above `to` (durably, before the next command).
    Truncate {
        /// The last zxid kept.
        to: Zxid,
    },
    /// Replace the state with this snapshot; report [`Persisted::Log`]`(zxid)` once durable.
    InstallSnapshot {
        /// The snapshot's zxid.
        zxid: Zxid,
        /// The serialized state.
        data: Bytes,
    },
    /// Apply the logged transaction `zxid` to the data tree (always in zxid order).
    Apply(Zxid),
    /// Start serving clients.
    StartServing,
    /// Leader: forget this learner and close its stream.
    DropLearner {
        /// The learner.
        learner: ServerId,
        /// Why.
        why: String,
    },
    /// Leader: stop leading, go LOOKING.
    StepDown(Reason),
    /// Learner: stop following, go LOOKING (re-sync with whoever leads next).
    GoLooking(Reason),
    /// Learner: a COMMIT arrived out of order; go LOOKING and re-sync (ZooKeeper 3.4 exits the
    /// process here; Paddock does not).
    Resync {
        /// The next pending proposal, if any.
        expected: Option<Zxid>,
        /// The zxid the leader committed.
        got: Zxid,
    },
}

//! The leader <-> learner protocol messages (ZooKeeper's `QuorumPacket` types), transport-neutral.
//!
//! Transaction payloads are opaque [`Bytes`]: the encoded `paddock_types::Txn`. The ZAB core never
//! decodes them.

use bytes::Bytes;
use paddock_types::{Epoch, SessionId, Zxid};

/// The peer protocol version this crate speaks; a learner with another version is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// One message on a leader <-> learner stream. Streams are FIFO per peer pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerMessage {
    /// Learner -> leader, discovery: a follower's accepted epoch and last logged zxid.
    FollowerInfo {
        /// The learner's acceptedEpoch.
        accepted_epoch: Epoch,
        /// The learner's last logged zxid.
        last_zxid: Zxid,
        /// The learner's protocol version.
        protocol_version: u32,
        /// The zxid of the learner's newest stored snapshot ([`Zxid::ZERO`]: none): it cannot be
        /// truncated below it, so a sync that would TRUNC lower sends a SNAP instead.
        snapshot_zxid: Zxid,
    },
    /// Learner -> leader, discovery: as `FollowerInfo`, from an observer (never counted).
    ObserverInfo {
        /// The observer's acceptedEpoch.
        accepted_epoch: Epoch,
        /// The observer's last logged zxid.
        last_zxid: Zxid,
        /// The observer's protocol version.
        protocol_version: u32,
        /// The zxid of the observer's newest stored snapshot ([`Zxid::ZERO`]: none): it cannot be
        /// truncated below it, so a sync that would TRUNC lower sends a SNAP instead.
        snapshot_zxid: Zxid,
    },
    /// Leader -> learner: the epoch the leader proposes (max acceptedEpoch + 1).
    LeaderInfo {
        /// The proposed epoch.
        new_epoch: Epoch,
        /// The leader's protocol version.
        protocol_version: u32,
    },
    /// Learner -> leader, after acceptedEpoch is durable: the learner's state summary.
    AckEpoch {
        /// The learner's currentEpoch.
        current_epoch: Epoch,
        /// The learner's last logged zxid.
        last_zxid: Zxid,
    },
    /// Leader -> learner: incremental sync follows (`Txn`s), up to `last_zxid`.
    Diff {
        /// The leader's last zxid of the sync.
        last_zxid: Zxid,
    },
    /// Leader -> learner: drop every logged txn above `zxid` (then `Txn`s may follow: TRUNC+DIFF).
    Trunc {
        /// The last zxid the learner keeps.
        zxid: Zxid,
    },
    /// Leader -> learner: the full state as of `zxid` replaces the learner's.
    Snap {
        /// The zxid the snapshot is at.
        zxid: Zxid,
        /// The serialized data tree (opaque here).
        data: Bytes,
    },
    /// Leader -> learner, during sync: one committed transaction to log and apply.
    Txn {
        /// Its zxid.
        zxid: Zxid,
        /// The encoded transaction.
        data: Bytes,
    },
    /// Leader -> learner: the sync is complete; `zxid` is (new epoch, 0).
    NewLeader {
        /// (new epoch, 0).
        zxid: Zxid,
    },
    /// Learner -> leader, after the sync and currentEpoch are durable.
    AckNewLeader {
        /// The `NewLeader` zxid being acknowledged.
        zxid: Zxid,
    },
    /// Leader -> learner: a quorum acked NEWLEADER; start serving clients.
    UpToDate,
    /// Leader -> follower: log this proposal.
    Proposal {
        /// Its zxid.
        zxid: Zxid,
        /// The encoded transaction.
        data: Bytes,
    },
    /// Follower -> leader, after the proposal is durable.
    Ack {
        /// The proposal acknowledged.
        zxid: Zxid,
    },
    /// Leader -> follower: `zxid` is committed; apply it (in zxid order).
    Commit {
        /// The committed proposal.
        zxid: Zxid,
    },
    /// Leader -> observer: a committed transaction (proposal and commit in one).
    Inform {
        /// Its zxid.
        zxid: Zxid,
        /// The encoded transaction.
        data: Bytes,
    },
    /// Leader -> learner heartbeat.
    Ping,
    /// Learner -> leader answer to `Ping` (session reports travel in `Touch`).
    PingReply,
    /// Learner -> leader, once serving: a client write that arrived at the learner, to be
    /// proposed by the leader (ZooKeeper's REQUEST packet). Handled by the peer driver, never by
    /// the [`crate::Leader`] core; forwards from one learner are proposed in the order sent.
    Forward {
        /// The encoded transaction (opaque).
        data: Bytes,
    },
    /// Learner -> leader, once serving: the sessions the learner heard from since its last
    /// `Touch` (ZooKeeper piggybacks these on PING replies), so that the leader, which owns
    /// session expiry, keeps them alive. Handled by the peer driver, never by the cores.
    Touch {
        /// The sessions heard from.
        sessions: Vec<SessionId>,
    },
}

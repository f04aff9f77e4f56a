//! # paddock-quorum — ZAB as pure leader and learner state machines
//!
//! After Fast Leader Election, one peer runs a [`Leader`] and the others a [`Follower`] (followers
//! and observers). Neither owns a socket, clock, disk or thread: the driver feeds them peer
//! messages, ticks (every tickTime/2) and durability notices, and executes the [`Command`]s they
//! return, in order, against its storage and a [`transport::PeerTransport`] (framed TCP in
//! [`transport::tcp`], in-memory in [`transport::mem`]).
//!
//! ```text
//!   step(from, PeerMessage) ──┐                 ┌─► Send{to, msg} / SendAck{to, DurableAck} / SendSnapshot
//!   tick()                    ├─► Leader ───────┼─► PersistAcceptedEpoch / PersistCurrentEpoch
//!   on_persisted(Persisted)   │   Follower      ├─► Log{zxid, data} / Truncate / InstallSnapshot / Apply(zxid)
//!   propose(encode) (leader) ─┘                 └─► StartServing / DropLearner / StepDown / GoLooking / Resync
//! ```
//!
//! Phases (ZooKeeper's, see seeds 000-002): discovery (FOLLOWERINFO → LEADERINFO(max accepted
//! epoch + 1) → ACKEPOCH), synchronisation ([`sync_mode::choose`]: DIFF / TRUNC / TRUNC+DIFF /
//! SNAP, then NEWLEADER, UPTODATE), broadcast (PROPOSAL → ACK → COMMIT / INFORM).
//!
//! ## Example: a follower's ACK waits for its fsync
//! ```
//! use bytes::Bytes;
//! use paddock_quorum::{Command, Follower, PeerMessage, Persisted, ZabConfig, PROTOCOL_VERSION};
//! use paddock_types::{Epoch, ServerId, Zxid};
//!
//! let (me, leader) = (ServerId(2), ServerId(1));
//! let mut f = Follower::new(me, leader, false, ZabConfig::default(), Epoch(1), Epoch(1), Zxid::ZERO);
//! f.start(); // FOLLOWERINFO
//! f.step(leader, PeerMessage::LeaderInfo { new_epoch: Epoch(2), protocol_version: PROTOCOL_VERSION });
//! f.on_persisted(Persisted::AcceptedEpoch(Epoch(2))); // -> ACKEPOCH
//! f.step(leader, PeerMessage::Diff { last_zxid: Zxid::ZERO });
//! f.step(leader, PeerMessage::NewLeader { zxid: Zxid::new(Epoch(2), 0) });
//! f.on_persisted(Persisted::CurrentEpoch(Epoch(2))); // -> ACK of NEWLEADER
//! f.step(leader, PeerMessage::UpToDate); // -> StartServing
//!
//! let z1 = Zxid::new(Epoch(2), 1);
//! let out = f.step(leader, PeerMessage::Proposal { zxid: z1, data: Bytes::from_static(b"txn").into() });
//! assert_eq!(out, vec![Command::Log { zxid: z1, data: Bytes::from_static(b"txn").into() }]); // no ACK yet
//! let out = f.on_persisted(Persisted::Log(z1));
//! assert!(matches!(&out[..], [Command::SendAck { ack, .. }] if *ack.message() == PeerMessage::Ack { zxid: z1 }));
//! ```
//!
//! ## Invariants
//! - Send only after durable: a learner's ACKEPOCH, NEWLEADER ack and proposal ACKs are
//!   [`DurableAck`]s, built only in the handlers of [`Persisted`] notices (or when the state is
//!   already on disk); the leader counts its own ack of a proposal only after `Persisted::Log`.
//! - The leader proposes the new epoch only after a quorum (itself included) reported its
//!   acceptedEpoch, and sends LEADERINFO only once that epoch is durable.
//! - A leader steps down if a voter reports a (currentEpoch, last zxid) above its own.
//! - Commits are strictly increasing in zxid and happen only with a quorum of acks; a learner
//!   applies in zxid order and re-syncs (`Resync`) on a COMMIT that is not its next proposal.
//! - Deterministic: the same inputs give the same commands.
//!
//! [`sim`] steps a leader and its learners over an in-memory network for scenario tests.

mod command;
mod committed_log;
mod config;
mod follower;
mod leader;
pub mod lease;
mod membership;
mod messages;
#[cfg(feature = "mem")]
pub mod peer;
pub mod sim;
pub mod sync_mode;
pub mod transport;

pub use command::{Command, DurableAck, Persisted, Reason};
pub use committed_log::CommittedLog;
pub use config::{ZabConfig, ZabConfigError};
pub use follower::{Follower, FollowerPhase};
pub use leader::{ChangeRefused, Leader, LeaderPhase, NotServing};
pub use lease::{lease_base, LeaseBase, LeaseTracker};
pub use membership::{Membership, MembershipError};
pub use messages::{PeerMessage, PROTOCOL_VERSION};
pub use sync_mode::{SyncMode, SyncPlan};

//! # paddock-election — ZooKeeper's Fast Leader Election as a pure state machine
//!
//! Each peer runs one [`Election`] whenever it is LOOKING. The state machine owns no socket,
//! clock, thread or RNG: the driver feeds it notifications and ticks and executes the
//! [`Command`]s it returns over an [`ElectionTransport`] (gRPC in the node, [`sim::MemTransport`]
//! in tests).
//!
//! ```text
//!   start() ────────────┐
//!   step(from, Notification)   ┌──────────┐   Command::Send { to, notification }
//!   tick() ─────────────┼────► │ Election │ ─► Command::Broadcast(notification)   (to every other voter)
//!                       │      └──────────┘   Command::Decided { leader, epoch, role }
//!   Notification = { vote: Vote { epoch, zxid, leader }, round, sender, sender_state }
//! ```
//!
//! ## Rules (as ZooKeeper's `FastLeaderElection.lookForLeader`)
//! - `start`: next round, vote for ourselves (last zxid, currentEpoch), broadcast.
//! - LOOKING sender, higher round: adopt its round, forget this round's votes, propose the better
//!   of its vote and our own initial vote, broadcast. Same round and a better vote: adopt it and
//!   broadcast. Lower round: do not count it, reply with our vote so it catches up.
//! - Votes compare by (epoch, zxid, server id), in that order ([`Vote`]'s derived `Ord`); a vote
//!   for a non-voter never wins.
//! - When the votes of this round for our proposal form a quorum ([`QuorumVerifier`]: majority
//!   of voters), wait `finalize_wait_ticks`; decide unless a better vote arrived meanwhile.
//! - FOLLOWING/LEADING senders: counted in this round when rounds match, and remembered as
//!   out-of-election votes; we join their leader when a quorum backs it *and* the leader itself
//!   told us it is LEADING (`checkLeader`).
//! - Observers never vote and are never counted; voters answer an observer's notification with
//!   their current vote; an observer decides `Observing` once it learns the leader.
//! - No news for a while: resend our vote, doubling the interval up to
//!   `max_notification_interval_ticks`.
//! - Decided: the machine is done; [`Election::step`] (or [`Election::answer_when_decided`])
//!   answers LOOKING peers with the final vote.
//!
//! ## Example
//! ```
//! use paddock_election::{Command, Election, ElectionConfig, Notification, PeerState, QuorumVerifier, ElectedRole, Vote};
//! use paddock_types::{Epoch, ServerId, Zxid};
//!
//! let qv = QuorumVerifier::new([ServerId(1), ServerId(2), ServerId(3)], []).unwrap();
//! let config = ElectionConfig { finalize_wait_ticks: 0, ..ElectionConfig::default() };
//! let mut e = Election::new(ServerId(1), Zxid(5), Epoch(1), qv, config);
//! e.start();
//! // Peer 3 (same epoch, higher zxid) votes for itself: peer 1 adopts that vote...
//! let n = Notification {
//!     vote: Vote::new(ServerId(3), Zxid(9), Epoch(1)),
//!     round: 1,
//!     sender: ServerId(3),
//!     sender_state: PeerState::Looking,
//! };
//! let out = e.step(ServerId(3), n);
//! // ...re-broadcasts it, and with {1, 3} a quorum of 3 (no finalize wait here) decides.
//! assert_eq!(out[0], Command::Broadcast(Notification { sender: ServerId(1), ..n }));
//! assert_eq!(out[1], Command::Decided { leader: ServerId(3), epoch: Epoch(1), role: ElectedRole::Following });
//! ```
//!
//! ## Invariants
//! - A peer's proposal in a round is never below its own initial vote, and only grows within a
//!   round; so a leader decided by a quorum of LOOKING votes has the highest (epoch, zxid, id)
//!   among the initial votes of that quorum.
//! - Only voters' votes are counted; only voters can be proposed.
//! - An election decides at most once; after that it only answers.
//! - Deterministic: the same inputs give the same commands.
//!
//! FLE alone does not guarantee one leader under arbitrary delays (a better vote arriving after
//! the finalize wait can split decisions); the ZAB phases that follow catch that and send peers
//! back to LOOKING. [`sim::Cluster::with_recovery`] models that for whole-ensemble tests.

mod command;
mod config;
mod election;
#[cfg(feature = "grpc")]
pub mod grpc;
mod handlers;
mod quorum;
pub mod sim;
mod transport;
mod vote;

pub use command::{Command, Decision};
pub use config::{ConfigError, ElectionConfig};
pub use election::Election;
pub use quorum::{QuorumError, QuorumVerifier};
pub use transport::{execute, ElectionTransport, NoPeers};
pub use vote::{ElectedRole, Notification, PeerState, Vote};

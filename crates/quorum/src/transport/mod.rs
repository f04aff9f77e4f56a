//! The seam between the ZAB state machines and the network: [`PeerTransport`] carries
//! [`PeerMessage`]s over one FIFO stream per leader <-> learner pair.
//!
//! ```text
//!   learner driver                                      leader driver
//!   connect(leader) ──► stream to the leader's quorum port ──► recv(): Connected(learner)
//!   recv(): Connected(leader)
//!   send(leader, FollowerInfo) ─────────────────────────────► recv(): Message(learner, FollowerInfo)
//!   recv(): Message(leader, LeaderInfo) ◄──────────────────── send(learner, LeaderInfo)
//!   (link breaks / peer drops)  recv(): Disconnected(..)  on both sides
//! ```
//!
//! Implementations:
//! - [`mem::MemPeerNet`] (feature `mem`): in-memory endpoints over tokio channels, with
//!   `cut(a, b)` / `heal(a, b)` to break links — for tests of drivers;
//! - [`tcp::TcpPeerTransport`] (feature `tcp`, default): length-prefixed `PeerFrame`s of
//!   `proto/paddock/v1/quorum.proto` over plain TCP (mutual TLS with sslQuorum), with
//!   [`convert`] mapping messages to frames.
//!
//! The trait itself needs no runtime: without the features this module is only the trait and
//! its vocabulary, and the crate stays a pure state-machine core.
//!
//! Invariants every implementation keeps:
//! - per peer, events are delivered in order: `Connected(p)`, then `Message(p, _)`s in the order
//!   `p` sent them, then `Disconnected(p)`; a reconnect starts a new `Connected(p)`;
//! - at most one stream per pair: a newer stream from the same peer replaces the older one, and
//!   the driver sees `Disconnected(p)` for the old one before `Connected(p)` for the new one;
//! - nothing is resent by the transport: after `Disconnected` ZAB re-syncs the learner.

use crate::messages::PeerMessage;
use paddock_types::ServerId;
use std::future::Future;
use thiserror::Error;

#[cfg(feature = "tcp")]
pub mod convert;
#[cfg(feature = "mem")]
pub mod mem;
#[cfg(feature = "mem")]
pub mod solo;
#[cfg(feature = "tcp")]
pub mod tcp;

/// What a [`PeerTransport`] reports to its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerEvent {
    /// A stream with this peer is up (we dialled it, or it dialled us); `send` to it works now.
    Connected(ServerId),
    /// A message from this peer, in the order it sent them.
    Message(ServerId, PeerMessage),
    /// The stream with this peer is gone (closed, broken, replaced, refused mid-way).
    Disconnected(ServerId),
}

/// Why a [`PeerTransport`] call failed.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum TransportError {
    /// No stream with this peer is up.
    #[error("not connected to server {0}")]
    NotConnected(ServerId),
    /// The peer is not in this server's server list.
    #[error("server {0} is not in the server list")]
    UnknownPeer(ServerId),
    /// The operation did not finish in time.
    #[error("timed out {what} server {peer}")]
    Timeout {
        /// The peer.
        peer: ServerId,
        /// What timed out ("connecting to", "sending to", ...).
        what: &'static str,
    },
    /// The peer could not be reached, or refused the stream.
    #[error("connection to server {peer} failed: {reason}")]
    Connect {
        /// The peer.
        peer: ServerId,
        /// Why.
        reason: String,
    },
    /// A message is above the largest frame the transport sends (the connection is closed).
    #[error(
        "a message of {bytes} bytes for server {peer} is above the largest frame ({max} bytes)"
    )]
    TooLarge {
        /// The peer.
        peer: ServerId,
        /// The encoded size.
        bytes: usize,
        /// The largest frame.
        max: usize,
    },
    /// The transport is shut down.
    #[error("the transport is closed")]
    Closed,
    /// The TLS files (sslQuorum) cannot be used.
    #[error("sslQuorum: {0}")]
    Tls(String),
}

/// Carries [`PeerMessage`]s between this server and its leader or learners.
///
/// Methods take `&self`, so one transport can be shared by a receiving loop and senders. The
/// returned futures are `Send`, so drivers can run on a multi-threaded runtime.
pub trait PeerTransport: Send + Sync {
    /// This server's id.
    fn me(&self) -> ServerId;

    /// Opens the stream to `to` (a learner dials its leader). On success a
    /// `PeerEvent::Connected(to)` is queued for [`PeerTransport::recv`] and `send(to, ..)` works;
    /// an older stream with `to` is replaced.
    fn connect(&self, to: ServerId) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Queues `message` on the stream with `to`. Waits while the stream's bounded queue is full
    /// (back-pressure), up to the implementation's send timeout.
    fn send(
        &self,
        to: ServerId,
        message: PeerMessage,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Queues `messages` (in order) on the stream with `to`, as one frame where the transport
    /// can: what one driver wakeup produces for one peer travels together. The default sends
    /// them one by one.
    fn send_batch(
        &self,
        to: ServerId,
        messages: Vec<PeerMessage>,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        async move {
            for m in messages {
                self.send(to, m).await?;
            }
            Ok(())
        }
    }

    /// The next event; `None` once the transport is closed.
    fn recv(&self) -> impl Future<Output = Option<PeerEvent>> + Send;

    /// Closes the stream with `peer`, if any (the leader drops a learner); a
    /// `PeerEvent::Disconnected(peer)` follows.
    fn disconnect(&self, peer: ServerId) -> impl Future<Output = ()> + Send;
}

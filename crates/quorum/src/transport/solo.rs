//! [`SoloTransport`]: the peer transport of a voter alone in its ensemble (a standalone server,
//! issue 13: "an ensemble of one"). It has no peers: nothing is ever received, nothing can be
//! sent, no port is opened.

use paddock_types::ServerId;

use super::{PeerEvent, PeerTransport, TransportError};
use crate::messages::PeerMessage;

/// A transport with no peers.
#[derive(Clone, Copy, Debug)]
pub struct SoloTransport {
    me: ServerId,
}

impl SoloTransport {
    /// The transport of server `me`, alone.
    pub fn new(me: ServerId) -> SoloTransport {
        SoloTransport { me }
    }
}

impl PeerTransport for SoloTransport {
    fn me(&self) -> ServerId {
        self.me
    }

    async fn connect(&self, to: ServerId) -> Result<(), TransportError> {
        Err(TransportError::UnknownPeer(to))
    }

    async fn send(&self, to: ServerId, _message: PeerMessage) -> Result<(), TransportError> {
        Err(TransportError::UnknownPeer(to))
    }

    /// Never: an ensemble of one hears from nobody (and is never closed under the driver).
    async fn recv(&self) -> Option<PeerEvent> {
        std::future::pending().await
    }

    async fn disconnect(&self, _peer: ServerId) {}
}

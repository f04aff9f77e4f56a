//! An in-memory [`PeerTransport`]: endpoints of one [`MemPeerNet`] exchange messages over tokio
//! channels, and tests can break and restore links.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use paddock_quorum::transport::{mem::MemPeerNet, PeerEvent, PeerTransport};
//! use paddock_quorum::PeerMessage;
//! use paddock_types::ServerId;
//!
//! let net = MemPeerNet::new();
//! let (leader, learner) = (net.endpoint(ServerId(1)), net.endpoint(ServerId(2)));
//! learner.connect(ServerId(1)).await.unwrap();
//! assert_eq!(leader.recv().await, Some(PeerEvent::Connected(ServerId(2))));
//! learner.send(ServerId(1), PeerMessage::PingReply).await.unwrap();
//! assert_eq!(leader.recv().await, Some(PeerEvent::Message(ServerId(2), PeerMessage::PingReply)));
//! net.cut(ServerId(1), ServerId(2));
//! assert_eq!(leader.recv().await, Some(PeerEvent::Disconnected(ServerId(2))));
//! assert!(learner.connect(ServerId(1)).await.is_err());
//! # });
//! ```
//!
//! Rules: a link is a connected pair; `connect` fails while the pair is cut or the target has no
//! endpoint; `cut` closes the pair's link (both sides get `Disconnected`) and keeps it closed until
//! `heal`; dropping an endpoint disconnects all its links. Everything happens under one lock, so
//! events are ordered exactly as the calls were made.

use super::{PeerEvent, PeerTransport, TransportError};
use crate::messages::PeerMessage;
use paddock_types::ServerId;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;

type Pair = (ServerId, ServerId);

fn pair(a: ServerId, b: ServerId) -> Pair {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

#[derive(Default)]
struct Net {
    /// Live endpoints: their event queue and an incarnation number.
    endpoints: HashMap<ServerId, (u64, mpsc::UnboundedSender<PeerEvent>)>,
    next_incarnation: u64,
    /// Connected pairs.
    links: BTreeSet<Pair>,
    /// Pairs that cannot connect until healed.
    cut: BTreeSet<Pair>,
}

impl Net {
    fn push(&self, to: ServerId, event: PeerEvent) {
        if let Some((_, tx)) = self.endpoints.get(&to) {
            let _ = tx.send(event);
        }
    }

    /// Closes the link of `p`, if up, telling both sides.
    fn close(&mut self, p: Pair) {
        if self.links.remove(&p) {
            self.push(p.0, PeerEvent::Disconnected(p.1));
            self.push(p.1, PeerEvent::Disconnected(p.0));
        }
    }

    /// Closes every link of `id`.
    fn close_all_of(&mut self, id: ServerId) {
        let of: Vec<Pair> = self
            .links
            .iter()
            .filter(|(a, b)| *a == id || *b == id)
            .copied()
            .collect();
        for p in of {
            self.close(p);
        }
    }
}

/// An in-memory network of [`MemPeerTransport`] endpoints. Cloning shares the network.
#[derive(Clone, Default)]
pub struct MemPeerNet {
    net: Arc<Mutex<Net>>,
}

impl MemPeerNet {
    /// An empty network.
    pub fn new() -> MemPeerNet {
        MemPeerNet::default()
    }

    fn lock(&self) -> MutexGuard<'_, Net> {
        lock(&self.net)
    }

    /// The endpoint of server `id` (a restarted server gets a new one; the old one's links close).
    pub fn endpoint(&self, id: ServerId) -> MemPeerTransport {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut net = self.lock();
        net.close_all_of(id);
        net.next_incarnation += 1;
        let incarnation = net.next_incarnation;
        net.endpoints.insert(id, (incarnation, tx));
        MemPeerTransport {
            me: id,
            incarnation,
            net: Arc::clone(&self.net),
            rx: tokio::sync::Mutex::new(rx),
        }
    }

    /// Breaks the link between `a` and `b`: an open stream closes (both get `Disconnected`), and
    /// they cannot connect until [`MemPeerNet::heal`].
    pub fn cut(&self, a: ServerId, b: ServerId) {
        let mut net = self.lock();
        let p = pair(a, b);
        net.cut.insert(p);
        net.close(p);
    }

    /// Lets `a` and `b` connect again (a learner must `connect` anew).
    pub fn heal(&self, a: ServerId, b: ServerId) {
        self.lock().cut.remove(&pair(a, b));
    }

    /// Heals every cut link.
    pub fn heal_all(&self) {
        self.lock().cut.clear();
    }

    /// Whether a stream between `a` and `b` is up.
    pub fn is_connected(&self, a: ServerId, b: ServerId) -> bool {
        self.lock().links.contains(&pair(a, b))
    }
}

fn lock(net: &Mutex<Net>) -> MutexGuard<'_, Net> {
    net.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One server's endpoint on a [`MemPeerNet`]. Dropping it disconnects its links.
pub struct MemPeerTransport {
    me: ServerId,
    incarnation: u64,
    net: Arc<Mutex<Net>>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<PeerEvent>>,
}

impl PeerTransport for MemPeerTransport {
    fn me(&self) -> ServerId {
        self.me
    }

    async fn connect(&self, to: ServerId) -> Result<(), TransportError> {
        let mut net = lock(&self.net);
        let p = pair(self.me, to);
        if to == self.me {
            return Err(TransportError::UnknownPeer(to));
        }
        if net.cut.contains(&p) {
            return Err(TransportError::Connect {
                peer: to,
                reason: "link cut".into(),
            });
        }
        if !net.endpoints.contains_key(&to) {
            return Err(TransportError::Connect {
                peer: to,
                reason: "no such endpoint".into(),
            });
        }
        // A newer stream replaces the older one.
        net.close(p);
        net.links.insert(p);
        net.push(self.me, PeerEvent::Connected(to));
        net.push(to, PeerEvent::Connected(self.me));
        Ok(())
    }

    async fn send(&self, to: ServerId, message: PeerMessage) -> Result<(), TransportError> {
        let net = lock(&self.net);
        if !net.links.contains(&pair(self.me, to)) {
            return Err(TransportError::NotConnected(to));
        }
        net.push(to, PeerEvent::Message(self.me, message));
        Ok(())
    }

    async fn recv(&self) -> Option<PeerEvent> {
        self.rx.lock().await.recv().await
    }

    async fn disconnect(&self, peer: ServerId) {
        lock(&self.net).close(pair(self.me, peer));
    }
}

impl Drop for MemPeerTransport {
    fn drop(&mut self) {
        let mut net = lock(&self.net);
        if net.endpoints.get(&self.me).map(|(i, _)| *i) == Some(self.incarnation) {
            net.close_all_of(self.me);
            net.endpoints.remove(&self.me);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use paddock_types::Zxid;

    const L: ServerId = ServerId(1);
    const F: ServerId = ServerId(2);

    #[tokio::test]
    async fn messages_flow_both_ways_in_order() {
        let net = MemPeerNet::new();
        let (l, f) = (net.endpoint(L), net.endpoint(F));
        assert_eq!(
            f.send(L, PeerMessage::Ping).await,
            Err(TransportError::NotConnected(L))
        );
        f.connect(L).await.unwrap();
        assert_eq!(f.recv().await, Some(PeerEvent::Connected(L)));
        assert_eq!(l.recv().await, Some(PeerEvent::Connected(F)));
        for i in 0..10 {
            let m = PeerMessage::Proposal {
                zxid: Zxid(i),
                data: Bytes::from(vec![i as u8]),
            };
            l.send(F, m.clone()).await.unwrap();
            assert_eq!(f.recv().await, Some(PeerEvent::Message(L, m)));
        }
        f.send(L, PeerMessage::Ack { zxid: Zxid(9) }).await.unwrap();
        assert_eq!(
            l.recv().await,
            Some(PeerEvent::Message(F, PeerMessage::Ack { zxid: Zxid(9) }))
        );
    }

    #[tokio::test]
    async fn cut_heal_reconnect_and_drop() {
        let net = MemPeerNet::new();
        let (l, f) = (net.endpoint(L), net.endpoint(F));
        f.connect(L).await.unwrap();
        assert_eq!(l.recv().await, Some(PeerEvent::Connected(F)));
        assert_eq!(f.recv().await, Some(PeerEvent::Connected(L)));
        net.cut(L, F);
        assert_eq!(l.recv().await, Some(PeerEvent::Disconnected(F)));
        assert_eq!(f.recv().await, Some(PeerEvent::Disconnected(L)));
        assert!(!net.is_connected(L, F));
        assert!(matches!(
            f.connect(L).await,
            Err(TransportError::Connect { .. })
        ));
        assert_eq!(
            l.send(F, PeerMessage::Ping).await,
            Err(TransportError::NotConnected(F))
        );
        net.heal(L, F);
        f.connect(L).await.unwrap();
        assert_eq!(l.recv().await, Some(PeerEvent::Connected(F)));
        // A second connect replaces the stream: Disconnected, then Connected.
        f.connect(L).await.unwrap();
        assert_eq!(l.recv().await, Some(PeerEvent::Disconnected(F)));
        assert_eq!(l.recv().await, Some(PeerEvent::Connected(F)));
        l.disconnect(F).await;
        assert_eq!(l.recv().await, Some(PeerEvent::Disconnected(F)));
        f.connect(L).await.unwrap();
        assert_eq!(l.recv().await, Some(PeerEvent::Connected(F)));
        drop(f);
        assert_eq!(l.recv().await, Some(PeerEvent::Disconnected(F)));
        assert!(matches!(
            l.connect(F).await,
            Err(TransportError::Connect { .. })
        ));
    }
}

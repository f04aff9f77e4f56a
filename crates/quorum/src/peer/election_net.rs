//! An in-memory [`ElectionTransport`] shared by the peers of one test process: every endpoint
//! has a queue; `send` pushes onto the target's queue unless the pair is cut or the target has no
//! endpoint (best effort, as the trait allows: FLE resends). `Send + Sync`, so a tokio driver can
//! own it. The peer driver polls [`ElectionTransport::try_recv`] on every tick.

use paddock_election::{ElectionTransport, Notification};
use paddock_types::ServerId;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

type Pair = (ServerId, ServerId);

fn pair(a: ServerId, b: ServerId) -> Pair {
    (a.min(b), a.max(b))
}

#[derive(Default)]
struct Net {
    queues: HashMap<ServerId, (u64, VecDeque<(ServerId, Notification)>)>,
    next_incarnation: u64,
    cut: BTreeSet<Pair>,
}

/// An in-memory election network. Cloning shares it.
#[derive(Clone, Default)]
pub struct MemElectionNet {
    net: Arc<Mutex<Net>>,
}

fn lock(net: &Mutex<Net>) -> MutexGuard<'_, Net> {
    net.lock().unwrap_or_else(|p| p.into_inner())
}

impl MemElectionNet {
    /// An empty network.
    pub fn new() -> MemElectionNet {
        MemElectionNet::default()
    }

    /// The endpoint of server `id`; a restarted server gets a fresh, empty queue.
    pub fn endpoint(&self, id: ServerId) -> MemElectionTransport {
        let mut net = lock(&self.net);
        net.next_incarnation += 1;
        let incarnation = net.next_incarnation;
        net.queues.insert(id, (incarnation, VecDeque::new()));
        MemElectionTransport {
            me: id,
            incarnation,
            net: Arc::clone(&self.net),
        }
    }

    /// Notifications between `a` and `b` are dropped until [`MemElectionNet::heal`].
    pub fn cut(&self, a: ServerId, b: ServerId) {
        lock(&self.net).cut.insert(pair(a, b));
    }

    /// Lets `a` and `b` exchange notifications again.
    pub fn heal(&self, a: ServerId, b: ServerId) {
        lock(&self.net).cut.remove(&pair(a, b));
    }

    /// Heals every cut pair.
    pub fn heal_all(&self) {
        lock(&self.net).cut.clear();
    }
}

/// One server's endpoint on a [`MemElectionNet`]; dropping it removes its queue.
pub struct MemElectionTransport {
    me: ServerId,
    incarnation: u64,
    net: Arc<Mutex<Net>>,
}

impl ElectionTransport for MemElectionTransport {
    fn send(&mut self, to: ServerId, notification: Notification) {
        let mut net = lock(&self.net);
        if net.cut.contains(&pair(self.me, to)) {
            return;
        }
        if let Some((_, q)) = net.queues.get_mut(&to) {
            q.push_back((self.me, notification));
        }
    }

    fn try_recv(&mut self) -> Option<(ServerId, Notification)> {
        let mut net = lock(&self.net);
        match net.queues.get_mut(&self.me) {
            Some((i, q)) if *i == self.incarnation => q.pop_front(),
            _ => None,
        }
    }
}

impl Drop for MemElectionTransport {
    fn drop(&mut self) {
        let mut net = lock(&self.net);
        if net.queues.get(&self.me).map(|(i, _)| *i) == Some(self.incarnation) {
            net.queues.remove(&self.me);
        }
    }
}

//! A seeded in-memory network: per-message drop probability, delay in ticks, partitions and
//! crashed hosts. Deterministic for a given seed and call sequence.

use crate::transport::ElectionTransport;
use crate::vote::Notification;
use paddock_types::ServerId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

/// How links misbehave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetConfig {
    /// Probability in `[0, 1]` that a message is lost.
    pub drop_probability: f64,
    /// Smallest delivery delay, in ticks (at least 1).
    pub min_delay_ticks: u64,
    /// Largest delivery delay, in ticks.
    pub max_delay_ticks: u64,
}

impl Default for NetConfig {
    /// A reliable network delivering on the next tick.
    fn default() -> Self {
        NetConfig {
            drop_probability: 0.0,
            min_delay_ticks: 1,
            max_delay_ticks: 1,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Envelope {
    from: ServerId,
    to: ServerId,
    notification: Notification,
}

/// The network shared by every peer of a simulation.
#[derive(Debug)]
pub struct MemNetwork {
    config: NetConfig,
    rng: StdRng,
    now: u64,
    seq: u64,
    in_flight: BTreeMap<(u64, u64), Envelope>,
    inboxes: BTreeMap<ServerId, VecDeque<(ServerId, Notification)>>,
    /// Partition groups; peers in different groups cannot talk. Empty = fully connected.
    groups: Vec<BTreeSet<ServerId>>,
    down: BTreeSet<ServerId>,
    sent: u64,
    dropped: u64,
}

impl MemNetwork {
    /// A network whose randomness comes from `seed` only.
    pub fn new(config: NetConfig, seed: u64) -> MemNetwork {
        assert!((0.0..=1.0).contains(&config.drop_probability));
        assert!(config.min_delay_ticks >= 1 && config.min_delay_ticks <= config.max_delay_ticks);
        MemNetwork {
            config,
            rng: StdRng::seed_from_u64(seed),
            now: 0,
            seq: 0,
            in_flight: BTreeMap::new(),
            inboxes: BTreeMap::new(),
            groups: Vec::new(),
            down: BTreeSet::new(),
            sent: 0,
            dropped: 0,
        }
    }

    /// Wraps the network for sharing between transports.
    pub fn shared(self) -> Rc<RefCell<MemNetwork>> {
        Rc::new(RefCell::new(self))
    }

    /// Replaces the link behaviour (e.g. to heal a lossy network).
    pub fn set_config(&mut self, config: NetConfig) {
        self.config = config;
    }

    /// The current tick.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Messages sent and messages lost so far.
    pub fn stats(&self) -> (u64, u64) {
        (self.sent, self.dropped)
    }

    /// Splits the peers into groups that cannot reach each other; peers in no group are cut
    /// off from everyone.
    pub fn partition(&mut self, groups: Vec<BTreeSet<ServerId>>) {
        self.groups = groups;
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.groups.clear();
    }

    /// Marks a host crashed (`true`) or running; a crash loses its inbox and every message in
    /// flight to or from it (its connections are gone).
    pub fn set_down(&mut self, id: ServerId, down: bool) {
        if down {
            self.down.insert(id);
            self.inboxes.remove(&id);
            let before = self.in_flight.len();
            self.in_flight.retain(|_, e| e.from != id && e.to != id);
            self.dropped += (before - self.in_flight.len()) as u64;
        } else {
            self.down.remove(&id);
        }
    }

    /// Whether `a` and `b` are both up and in the same partition group.
    pub fn connected(&self, a: ServerId, b: ServerId) -> bool {
        if self.down.contains(&a) || self.down.contains(&b) {
            return false;
        }
        self.groups.is_empty() || self.groups.iter().any(|g| g.contains(&a) && g.contains(&b))
    }

    /// Sends, subject to crashes, partitions, loss and delay.
    pub fn send(&mut self, from: ServerId, to: ServerId, notification: Notification) {
        self.sent += 1;
        if !self.connected(from, to) || self.rng.random_bool(self.config.drop_probability) {
            self.dropped += 1;
            return;
        }
        let delay = self
            .rng
            .random_range(self.config.min_delay_ticks..=self.config.max_delay_ticks);
        self.seq += 1;
        let envelope = Envelope {
            from,
            to,
            notification,
        };
        self.in_flight
            .insert((self.now + delay, self.seq), envelope);
    }

    /// Advances one tick and moves the messages due by then into inboxes (a message whose link
    /// broke while in flight is lost).
    pub fn advance(&mut self) {
        self.now += 1;
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let envelope = entry.remove();
            if self.connected(envelope.from, envelope.to) {
                self.inboxes
                    .entry(envelope.to)
                    .or_default()
                    .push_back((envelope.from, envelope.notification));
            } else {
                self.dropped += 1;
            }
        }
    }

    /// The next delivered message for `me`.
    pub fn recv(&mut self, me: ServerId) -> Option<(ServerId, Notification)> {
        self.inboxes.get_mut(&me)?.pop_front()
    }
}

/// One peer's end of a [`MemNetwork`].
#[derive(Clone, Debug)]
pub struct MemTransport {
    me: ServerId,
    net: Rc<RefCell<MemNetwork>>,
}

impl MemTransport {
    /// Peer `me`'s transport on `net`.
    pub fn new(me: ServerId, net: Rc<RefCell<MemNetwork>>) -> MemTransport {
        MemTransport { me, net }
    }
}

impl ElectionTransport for MemTransport {
    fn send(&mut self, to: ServerId, notification: Notification) {
        self.net.borrow_mut().send(self.me, to, notification);
    }

    fn try_recv(&mut self) -> Option<(ServerId, Notification)> {
        self.net.borrow_mut().recv(self.me)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vote::{PeerState, Vote};
    use paddock_types::{Epoch, Zxid};

    fn note(sender: u64) -> Notification {
        Notification {
            vote: Vote::new(ServerId(sender), Zxid(0), Epoch(0)),
            round: 1,
            sender: ServerId(sender),
            sender_state: PeerState::Looking,
        }
    }

    fn delivered_after(net: &mut MemNetwork, to: u64, max_ticks: u64) -> Option<u64> {
        for t in 1..=max_ticks {
            net.advance();
            if net.recv(ServerId(to)).is_some() {
                return Some(t);
            }
        }
        None
    }

    #[test]
    fn delay_is_within_the_configured_range() {
        let config = NetConfig {
            drop_probability: 0.0,
            min_delay_ticks: 3,
            max_delay_ticks: 5,
        };
        let mut net = MemNetwork::new(config, 7);
        for _ in 0..50 {
            net.send(ServerId(1), ServerId(2), note(1));
            let t = delivered_after(&mut net, 2, 10).unwrap();
            assert!((3..=5).contains(&t), "delivered after {t}");
        }
    }

    #[test]
    fn drop_probability_one_loses_everything_and_zero_nothing() {
        let mut lossy = MemNetwork::new(
            NetConfig {
                drop_probability: 1.0,
                ..NetConfig::default()
            },
            1,
        );
        lossy.send(ServerId(1), ServerId(2), note(1));
        assert_eq!(delivered_after(&mut lossy, 2, 3), None);
        assert_eq!(lossy.stats(), (1, 1));
        let mut reliable = MemNetwork::new(NetConfig::default(), 1);
        reliable.send(ServerId(1), ServerId(2), note(1));
        assert_eq!(delivered_after(&mut reliable, 2, 3), Some(1));
    }

    #[test]
    fn partitions_cut_links_between_groups_until_healed() {
        let mut net = MemNetwork::new(NetConfig::default(), 1);
        net.partition(vec![
            [ServerId(1)].into(),
            [ServerId(2), ServerId(3)].into(),
        ]);
        assert!(!net.connected(ServerId(1), ServerId(2)));
        assert!(net.connected(ServerId(2), ServerId(3)));
        net.send(ServerId(1), ServerId(2), note(1));
        assert_eq!(delivered_after(&mut net, 2, 3), None);
        net.heal();
        net.send(ServerId(1), ServerId(2), note(1));
        assert_eq!(delivered_after(&mut net, 2, 3), Some(1));
    }

    #[test]
    fn messages_in_flight_to_a_crashed_host_are_lost() {
        let mut net = MemNetwork::new(
            NetConfig {
                min_delay_ticks: 2,
                max_delay_ticks: 2,
                ..NetConfig::default()
            },
            1,
        );
        net.send(ServerId(1), ServerId(2), note(1));
        net.set_down(ServerId(2), true);
        net.advance();
        net.set_down(ServerId(2), false);
        assert_eq!(delivered_after(&mut net, 2, 3), None);
    }
}

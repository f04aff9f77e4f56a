//! A whole-ensemble harness: N peers running the real [`Election`] over a [`MemNetwork`],
//! stepped tick by tick from one seed.
//!
//! Optionally (`with_recovery`) it also models the one thing the quorum role loop adds to
//! election liveness: a decided peer whose outcome does not hold up — a follower whose leader is
//! not leading or not reachable, a leader without a reachable quorum of followers — goes back to
//! LOOKING after `recovery_timeout` ticks, continuing its logical clock.

use crate::command::Decision;
use crate::config::ElectionConfig;
use crate::election::Election;
use crate::quorum::QuorumVerifier;
use crate::sim::network::{MemNetwork, MemTransport, NetConfig};
use crate::transport::{execute, ElectionTransport};
use crate::vote::{ElectedRole, Vote};
use paddock_types::{Epoch, ServerId, Zxid};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// One peer of a simulated ensemble: its id, persisted state and kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerSpec {
    /// Server id.
    pub id: ServerId,
    /// Last logged zxid (survives crashes).
    pub zxid: Zxid,
    /// currentEpoch (survives crashes).
    pub epoch: Epoch,
    /// An observer rather than a voter.
    pub observer: bool,
}

impl PeerSpec {
    /// A voter.
    pub fn voter(id: u64, zxid: u64, epoch: u32) -> PeerSpec {
        PeerSpec {
            id: ServerId(id),
            zxid: Zxid(zxid),
            epoch: Epoch(epoch),
            observer: false,
        }
    }

    /// An observer.
    pub fn observer(id: u64, zxid: u64, epoch: u32) -> PeerSpec {
        PeerSpec {
            observer: true,
            ..PeerSpec::voter(id, zxid, epoch)
        }
    }

    /// This peer's own initial vote.
    pub fn vote(&self) -> Vote {
        Vote::new(self.id, self.zxid, self.epoch)
    }
}

/// A decision as the harness saw it happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecisionEvent {
    /// Network tick of the decision.
    pub tick: u64,
    /// Who decided.
    pub peer: ServerId,
    /// What it decided.
    pub decision: Decision,
    /// Its own initial vote in that election.
    pub initial_vote: Vote,
}

#[derive(Debug)]
struct Peer {
    spec: PeerSpec,
    transport: MemTransport,
    election: Option<Election>,
    unhealthy_ticks: u32,
}

/// The simulated ensemble.
#[derive(Debug)]
pub struct Cluster {
    verifier: QuorumVerifier,
    config: ElectionConfig,
    net: Rc<RefCell<MemNetwork>>,
    peers: BTreeMap<ServerId, Peer>,
    recovery_timeout: Option<u32>,
    events: Vec<DecisionEvent>,
    elections_started: u64,
}

impl Cluster {
    /// An ensemble of `specs` (none running yet) on a network seeded with `seed`.
    pub fn new(specs: &[PeerSpec], config: ElectionConfig, net: NetConfig, seed: u64) -> Cluster {
        let voters = specs.iter().filter(|s| !s.observer).map(|s| s.id);
        let observers = specs.iter().filter(|s| s.observer).map(|s| s.id);
        let verifier = QuorumVerifier::new(voters, observers).expect("valid ensemble");
        let net = MemNetwork::new(net, seed).shared();
        let peers = specs
            .iter()
            .map(|spec| {
                let peer = Peer {
                    spec: *spec,
                    transport: MemTransport::new(spec.id, net.clone()),
                    election: None,
                    unhealthy_ticks: 0,
                };
                (spec.id, peer)
            })
            .collect();
        Cluster {
            verifier,
            config,
            net,
            peers,
            recovery_timeout: None,
            events: Vec::new(),
            elections_started: 0,
        }
    }

    /// Enables the role-loop model: a decided peer whose outcome does not hold up for
    /// `timeout` ticks starts a new election.
    pub fn with_recovery(mut self, timeout: u32) -> Cluster {
        self.recovery_timeout = Some(timeout);
        self
    }

    /// The shared network (partitions, link behaviour, stats).
    pub fn net(&self) -> std::cell::RefMut<'_, MemNetwork> {
        self.net.borrow_mut()
    }

    /// The ensemble membership.
    pub fn verifier(&self) -> &QuorumVerifier {
        &self.verifier
    }

    /// Starts peer `id`'s process: a fresh election from its persisted zxid and epoch.
    pub fn start(&mut self, id: ServerId) {
        self.net.borrow_mut().set_down(id, false);
        self.begin_election(id, 0);
    }

    /// Crashes peer `id`: its election and in-memory state (the logical clock) are lost.
    pub fn crash(&mut self, id: ServerId) {
        self.net.borrow_mut().set_down(id, true);
        let peer = self.peers.get_mut(&id).expect("known peer");
        peer.election = None;
        peer.unhealthy_ticks = 0;
    }

    /// Restarts a crashed peer (same persisted zxid and epoch, logical clock from zero).
    pub fn restart(&mut self, id: ServerId) {
        self.crash(id);
        self.start(id);
    }

    fn begin_election(&mut self, id: ServerId, last_round: u64) {
        let peer = self.peers.get_mut(&id).expect("known peer");
        let mut election = Election::new(
            id,
            peer.spec.zxid,
            peer.spec.epoch,
            self.verifier.clone(),
            self.config,
        )
        .with_last_round(last_round);
        let commands = election.start();
        peer.election = Some(election);
        peer.unhealthy_ticks = 0;
        self.elections_started += 1;
        self.run_commands(id, commands);
    }

    fn run_commands(&mut self, id: ServerId, commands: Vec<crate::Command>) {
        let now = self.net.borrow().now();
        let peer = self.peers.get_mut(&id).expect("known peer");
        if execute(id, &self.verifier, commands, &mut peer.transport) {
            let election = peer.election.as_ref().expect("running");
            self.events.push(DecisionEvent {
                tick: now,
                peer: id,
                decision: election.decision().expect("decided"),
                initial_vote: election.initial_vote(),
            });
        }
    }

    /// One tick: deliver due messages, let every running peer handle its inbox then tick, then
    /// apply the recovery model.
    pub fn tick(&mut self) {
        self.net.borrow_mut().advance();
        let ids: Vec<ServerId> = self.peers.keys().copied().collect();
        for id in &ids {
            loop {
                let peer = self.peers.get_mut(id).expect("known peer");
                let Some(election) = peer.election.as_mut() else {
                    break;
                };
                let Some((from, n)) = peer.transport.try_recv() else {
                    break;
                };
                let commands = election.step(from, n);
                self.run_commands(*id, commands);
            }
            if let Some(election) = self.peers.get_mut(id).and_then(|p| p.election.as_mut()) {
                let commands = election.tick();
                self.run_commands(*id, commands);
            }
        }
        self.recover();
    }

    /// Runs `ticks` ticks.
    pub fn run(&mut self, ticks: u64) {
        for _ in 0..ticks {
            self.tick();
        }
    }

    /// Ticks until `done` holds (checked before each tick) or `max_ticks` passed; whether it held.
    pub fn run_until(&mut self, max_ticks: u64, done: impl Fn(&Cluster) -> bool) -> bool {
        for _ in 0..max_ticks {
            if done(self) {
                return true;
            }
            self.tick();
        }
        done(self)
    }

    /// Peer `id`'s decision in its current election, if running and decided.
    pub fn decision(&self, id: ServerId) -> Option<Decision> {
        self.peers.get(&id)?.election.as_ref()?.decision()
    }

    /// Whether peer `id` is running.
    pub fn is_running(&self, id: ServerId) -> bool {
        self.peers.get(&id).is_some_and(|p| p.election.is_some())
    }

    /// Running peers, in id order.
    pub fn running(&self) -> Vec<ServerId> {
        self.peers
            .iter()
            .filter(|(_, p)| p.election.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Running peers whose current decision is `Leading`.
    pub fn leaders(&self) -> Vec<ServerId> {
        self.running()
            .into_iter()
            .filter(|id| {
                self.decision(*id)
                    .is_some_and(|d| d.role == ElectedRole::Leading)
            })
            .collect()
    }

    /// Every decision taken so far, in order.
    pub fn events(&self) -> &[DecisionEvent] {
        &self.events
    }

    /// How many elections were started (initial starts, restarts and recoveries).
    pub fn elections_started(&self) -> u64 {
        self.elections_started
    }

    /// The persisted state of peer `id`.
    pub fn spec(&self, id: ServerId) -> PeerSpec {
        self.peers[&id].spec
    }

    /// The reachable voters that currently follow `leader` (the leader itself included when it
    /// leads).
    pub fn backers(&self, leader: ServerId) -> BTreeSet<ServerId> {
        let net = self.net.borrow();
        self.running()
            .into_iter()
            .filter(|id| self.verifier.is_voter(*id))
            .filter(|id| {
                self.decision(*id).is_some_and(|d| {
                    d.vote.leader == leader
                        && d.role != ElectedRole::Observing
                        && (*id == leader || net.connected(*id, leader))
                })
            })
            .collect()
    }

    /// Settled: every running peer decided, exactly one leads, all name it, and its reachable
    /// backers are a quorum.
    pub fn is_settled(&self) -> bool {
        let running = self.running();
        if running.iter().any(|id| self.decision(*id).is_none()) {
            return false;
        }
        let [leader] = self.leaders()[..] else {
            return false;
        };
        running
            .iter()
            .all(|id| self.decision(*id).is_some_and(|d| d.vote.leader == leader))
            && self.verifier.contains_quorum(&self.backers(leader))
    }

    fn healthy(&self, id: ServerId, decision: &Decision) -> bool {
        let leader = decision.vote.leader;
        match decision.role {
            ElectedRole::Leading => self.verifier.contains_quorum(&self.backers(id)),
            ElectedRole::Following | ElectedRole::Observing => {
                self.net.borrow().connected(id, leader)
                    && self
                        .decision(leader)
                        .is_some_and(|d| d.role == ElectedRole::Leading && d.vote.leader == leader)
            }
        }
    }

    fn recover(&mut self) {
        let Some(timeout) = self.recovery_timeout else {
            return;
        };
        let ids = self.running();
        let mut restart = Vec::new();
        for id in ids {
            let Some(decision) = self.decision(id) else {
                continue;
            };
            let healthy = self.healthy(id, &decision);
            let peer = self.peers.get_mut(&id).expect("known peer");
            peer.unhealthy_ticks = if healthy { 0 } else { peer.unhealthy_ticks + 1 };
            if peer.unhealthy_ticks > timeout {
                restart.push((id, decision.round));
            }
        }
        for (id, round) in restart {
            tracing::debug!(%id, round, "decision did not hold up; looking again");
            self.begin_election(id, round);
        }
    }
}

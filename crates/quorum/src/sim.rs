//! An in-memory harness: one leader and its learners stepped over a seeded network, for scenario
//! tests (STYLE habit 9, in its simple form).
//!
//! Assumptions, stated: links are FIFO and lossless while connected (like the TCP streams ZAB
//! runs on); a *crash* loses a node's messages in flight and every log entry not yet reported
//! durable, then the node restarts from its durable storage. Message delivery and durability
//! notices interleave in an order drawn from the seed; a durability notice is delivered on a
//! later step than the command that asked for it. A node's log notices come in order, but an
//! epoch notice may overtake them: epoch files are written synchronously (and survive a crash),
//! the log is synced in the background, as in the driver. As the driver, a node told to
//! truncate below its snapshot stops (a snapshot cannot be rolled back) until [`Sim::wipe`].
//! The "data tree" is the list of applied zxids.
//!
//! For scripted interleavings (the named regression scenarios of `tests/zk_sync_bugs.rs`) a
//! node's log disk can be *stalled* ([`Sim::stall_log`]): its log fsyncs do not return, so its
//! `Persisted::Log` notices wait (its epoch files are still written) until [`Sim::resume_log`]
//! or a crash, which loses what they covered; [`Sim::deliver`] and [`Sim::persist`] deliver one
//! chosen message or notice now.

use crate::command::{Command, Persisted, Reason};
use crate::config::ZabConfig;
use crate::follower::Follower;
use crate::leader::Leader;
use crate::membership::Membership;
use crate::messages::PeerMessage;
use bytes::Bytes;
use paddock_types::{Epoch, ServerId, Zxid};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A small deterministic RNG (xorshift64*), so the harness needs no dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded; any seed works.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

/// One server's durable (and not yet durable) state.
#[derive(Clone, Debug, Default)]
pub struct Storage {
    /// acceptedEpoch (durable once written here; the notice models the fsync delay).
    pub accepted_epoch: Epoch,
    /// currentEpoch.
    pub current_epoch: Epoch,
    /// Logged transactions.
    pub log: BTreeMap<Zxid, Bytes>,
    /// Logged, durability not yet reported: lost on a crash.
    pub unsynced: Vec<Zxid>,
    /// The zxid of the last installed snapshot.
    pub snap_zxid: Zxid,
    /// The data tree: applied zxids in order.
    pub applied: Vec<Zxid>,
}

impl Storage {
    /// Rebuilds the tree as a restarting server does: the snapshot plus every logged txn.
    pub fn reload(&mut self) {
        let snap = self.snap_zxid;
        let mut tree: Vec<Zxid> = self
            .applied
            .iter()
            .copied()
            .filter(|z| *z <= snap)
            .collect();
        tree.extend(self.log.keys().copied().filter(|z| *z > snap));
        self.applied = tree;
    }

    /// The last logged zxid.
    pub fn last_zxid(&self) -> Zxid {
        self.log
            .keys()
            .next_back()
            .copied()
            .unwrap_or(Zxid::ZERO)
            .max(self.snap_zxid)
    }
}

/// What a node is doing.
#[derive(Clone, Debug)]
pub enum SimRole {
    /// Leading.
    Leading(Box<Leader>),
    /// Following or observing.
    Following(Box<Follower>),
    /// Not in the protocol (LOOKING or crashed).
    Looking,
}

/// One simulated server.
#[derive(Clone, Debug)]
pub struct Node {
    /// Its role.
    pub role: SimRole,
    /// Its storage.
    pub storage: Storage,
    /// Durability notices not delivered yet.
    pub notices: VecDeque<Persisted>,
    /// Whether it serves clients.
    pub serving: bool,
}

/// The simulated ensemble.
#[derive(Debug)]
pub struct Sim {
    /// The RNG.
    pub rng: Rng,
    /// The config every node uses.
    pub config: ZabConfig,
    /// The membership.
    pub members: Membership,
    /// The servers.
    pub nodes: BTreeMap<ServerId, Node>,
    /// FIFO links.
    pub links: BTreeMap<(ServerId, ServerId), VecDeque<PeerMessage>>,
    /// SimRole-ending and notable commands, in order: (server, command).
    pub events: Vec<(ServerId, Command)>,
    /// The leader set by [`Sim::elect`].
    pub leader: Option<ServerId>,
    /// Per mille of deliveries that instead break the leader <-> learner stream (a lost message
    /// on TCP is a broken connection): the learner re-registers at once and is re-synced.
    pub break_per_mille: usize,
    /// How many streams were broken.
    pub breaks: usize,
    /// Servers whose log fsyncs do not return ([`Sim::stall_log`]).
    pub stalled_logs: BTreeSet<ServerId>,
    /// Servers whose driver stopped (a TRUNC below their snapshot), until [`Sim::wipe`].
    pub stopped: BTreeSet<ServerId>,
}

fn encode_tree(applied: &[Zxid]) -> Bytes {
    applied
        .iter()
        .flat_map(|z| z.to_be_bytes())
        .collect::<Vec<u8>>()
        .into()
}

fn decode_tree(data: &[u8]) -> Vec<Zxid> {
    data.chunks_exact(8)
        .map(|c| Zxid::from_be_bytes(c.try_into().expect("chunks of 8")))
        .collect()
}

impl Sim {
    /// An ensemble of `voters` (observers: none) whose storage is `storage` (missing: empty).
    pub fn new(
        seed: u64,
        config: ZabConfig,
        voters: &[u64],
        mut storage: BTreeMap<u64, Storage>,
    ) -> Sim {
        let members =
            Membership::new(voters.iter().map(|v| ServerId(*v)), []).expect("voters given");
        let nodes = voters
            .iter()
            .map(|v| {
                let storage = storage.remove(v).unwrap_or_default();
                (
                    ServerId(*v),
                    Node {
                        role: SimRole::Looking,
                        storage,
                        notices: VecDeque::new(),
                        serving: false,
                    },
                )
            })
            .collect();
        Sim {
            rng: Rng::new(seed),
            config,
            members,
            nodes,
            links: BTreeMap::new(),
            events: Vec::new(),
            leader: None,
            break_per_mille: 0,
            breaks: 0,
            stalled_logs: BTreeSet::new(),
            stopped: BTreeSet::new(),
        }
    }

    /// Node `at`'s driver stops (as the real one does when told to truncate below its
    /// snapshot): like a crash, recorded in `stopped` and as a `GoLooking` event.
    fn stop(&mut self, at: ServerId, why: String) {
        self.crash(at.0);
        self.stopped.insert(at);
        self.events
            .push((at, Command::GoLooking(Reason::Protocol(why))));
    }

    /// An operator removes node `id`'s data (after its driver stopped): it restarts empty.
    pub fn wipe(&mut self, id: u64) {
        let sid = ServerId(id);
        self.crash(id);
        self.stopped.remove(&sid);
        self.nodes.get_mut(&sid).expect("node exists").storage = Storage::default();
    }

    /// Stalls node `id`'s log disk: its log fsyncs stop returning, so no `Persisted::Log`
    /// notice of it is delivered (epoch files are still written and reported). A crash loses
    /// every log entry they would have covered. (An election or a reconnect still completes
    /// the pending fsyncs: the driver drains its log before a new role.)
    pub fn stall_log(&mut self, id: u64) {
        self.stalled_logs.insert(ServerId(id));
    }

    /// Lets node `id`'s log fsyncs return again (its waiting notices become deliverable).
    pub fn resume_log(&mut self, id: u64) {
        self.stalled_logs.remove(&ServerId(id));
    }

    /// The index in `node`'s queue of the next notice that may be delivered: the first one,
    /// or, while its log is stalled, the first that is not a log notice.
    fn deliverable_notice(&self, id: ServerId, node: &Node) -> Option<usize> {
        if self.stalled_logs.contains(&id) {
            node.notices
                .iter()
                .position(|n| !matches!(n, Persisted::Log(_)))
        } else if node.notices.is_empty() {
            None
        } else {
            Some(0)
        }
    }

    /// Makes `leader` lead and every other node follow it, as after an election (which takes
    /// long enough that every pending fsync completed; in-flight messages are gone).
    pub fn elect(&mut self, leader: u64) {
        let ids: Vec<ServerId> = self.nodes.keys().copied().collect();
        self.links.clear();
        for n in self.nodes.values_mut() {
            n.notices.clear();
            n.storage.unsynced.clear();
            n.serving = false;
        }
        let lid = ServerId(leader);
        self.leader = Some(lid);
        let n = self.nodes.get_mut(&lid).expect("leader exists");
        n.storage.reload();
        let s = &n.storage;
        n.role = SimRole::Leading(Box::new(Leader::new(
            lid,
            self.members.clone(),
            self.config,
            s.accepted_epoch,
            s.current_epoch,
            s.last_zxid(),
            s.log.iter().map(|(z, d)| (*z, d.clone())),
        )));
        for id in ids.into_iter().filter(|id| *id != lid) {
            self.start_follower(id.0, leader);
        }
    }

    /// (Re)starts node `id` as a follower of `leader` from its durable storage.
    pub fn start_follower(&mut self, id: u64, leader: u64) {
        let sid = ServerId(id);
        let n = self.nodes.get_mut(&sid).expect("node exists");
        n.storage.reload();
        let s = &n.storage;
        let mut f = Follower::new(
            sid,
            ServerId(leader),
            false,
            self.config,
            s.accepted_epoch,
            s.current_epoch,
            s.last_zxid(),
        )
        .with_snapshot_zxid(s.snap_zxid);
        let out = f.start();
        n.role = SimRole::Following(Box::new(f));
        n.serving = false;
        self.execute(sid, out);
    }

    /// Crashes node `id`: its in-flight messages and not-yet-durable log entries are lost, its
    /// peers see the connection close.
    pub fn crash(&mut self, id: u64) {
        let sid = ServerId(id);
        let n = self.nodes.get_mut(&sid).expect("node exists");
        for z in std::mem::take(&mut n.storage.unsynced) {
            n.storage.log.remove(&z);
        }
        n.role = SimRole::Looking;
        n.notices.clear();
        n.serving = false;
        self.links
            .retain(|(from, to), _| *from != sid && *to != sid);
        let others: Vec<ServerId> = self.nodes.keys().copied().collect();
        for other in others {
            if let Some(Node {
                role: SimRole::Leading(l),
                ..
            }) = self.nodes.get_mut(&other)
            {
                l.learner_disconnected(sid);
            }
        }
    }

    /// Breaks the stream between the leader and `learner` (messages in flight lost, both sides
    /// notice); the learner's pending fsyncs complete, then it registers again.
    pub fn reconnect(&mut self, learner: u64) {
        let sid = ServerId(learner);
        let leader = self.leader.expect("a leader was elected");
        self.breaks += 1;
        self.links.retain(|(from, to), _| {
            !(*from == sid && *to == leader || *from == leader && *to == sid)
        });
        if let Some(Node {
            role: SimRole::Leading(l),
            ..
        }) = self.nodes.get_mut(&leader)
        {
            l.learner_disconnected(sid);
        }
        let n = self.nodes.get_mut(&sid).expect("node exists");
        if !matches!(n.role, SimRole::Following(_)) {
            return;
        }
        n.notices.clear();
        n.storage.unsynced.clear();
        self.start_follower(learner, leader.0);
    }

    /// Whether anything is left to deliver.
    pub fn busy(&self) -> bool {
        self.links.values().any(|q| !q.is_empty())
            || self.nodes.values().any(|n| !n.notices.is_empty())
    }

    /// Delivers one message or durability notice, chosen by the RNG. Returns false when idle.
    pub fn step(&mut self) -> bool {
        let mut choices: Vec<(ServerId, Option<ServerId>)> = self
            .links
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|((from, to), _)| (*to, Some(*from)))
            .collect();
        choices.extend(
            self.nodes
                .iter()
                .filter(|(id, n)| self.deliverable_notice(**id, n).is_some())
                .map(|(id, _)| (*id, None)),
        );
        if choices.is_empty() {
            return false;
        }
        let (at, from) = choices[self.rng.below(choices.len())];
        if let (Some(from), Some(leader)) = (from, self.leader) {
            if self.break_per_mille > 0 && self.rng.below(1000) < self.break_per_mille {
                let learner = if from == leader { at } else { from };
                self.reconnect(learner.0);
                return true;
            }
        }
        let notice = match from {
            Some(_) => None,
            None => self.pick_notice(at),
        };
        self.handle(at, from, notice);
        true
    }

    /// Which of `at`'s waiting notices a seeded step delivers: log notices in order, but an
    /// epoch notice may overtake them (the driver writes epoch files synchronously while the
    /// log writer syncs in the background), chosen by the RNG.
    fn pick_notice(&mut self, at: ServerId) -> Option<usize> {
        let node = &self.nodes[&at];
        let first = self.deliverable_notice(at, node)?;
        let epoch = node
            .notices
            .iter()
            .position(|n| !matches!(n, Persisted::Log(_)));
        match epoch {
            Some(i) if i != first && self.rng.below(2) == 1 => Some(i),
            _ => Some(first),
        }
    }

    /// Delivers the next message from `from` to `to` now, whatever the RNG would pick (a
    /// scripted interleaving). Returns false if none is in flight.
    pub fn deliver(&mut self, from: u64, to: u64) -> bool {
        let (from, to) = (ServerId(from), ServerId(to));
        if self.links.get(&(from, to)).is_none_or(|q| q.is_empty()) {
            return false;
        }
        self.handle(to, Some(from), None);
        true
    }

    /// Delivers node `id`'s next deliverable durability notice now (a scripted interleaving).
    /// Returns false if none is waiting.
    pub fn persist(&mut self, id: u64) -> bool {
        let sid = ServerId(id);
        if self.deliverable_notice(sid, &self.nodes[&sid]).is_none() {
            return false;
        }
        let notice = self.deliverable_notice(sid, &self.nodes[&sid]);
        self.handle(sid, None, notice);
        true
    }

    /// Delivers to `at` the next message from `from`, or (`None`) its waiting notice at index
    /// `notice_at`, and runs the resulting commands.
    fn handle(&mut self, at: ServerId, from: Option<ServerId>, notice_at: Option<usize>) {
        let node = self.nodes.get_mut(&at).expect("node exists");
        let out = match from {
            Some(from) => {
                let msg = self
                    .links
                    .get_mut(&(from, at))
                    .and_then(|q| q.pop_front())
                    .expect("non-empty link");
                match &mut node.role {
                    SimRole::Leading(l) => l.step(from, msg),
                    SimRole::Following(f) => f.step(from, msg),
                    SimRole::Looking => Vec::new(),
                }
            }
            None => {
                let notice = notice_at
                    .and_then(|i| node.notices.remove(i))
                    .expect("a deliverable notice");
                if let Persisted::Log(z) = notice {
                    node.storage.unsynced.retain(|u| *u > z);
                }
                match &mut node.role {
                    SimRole::Leading(l) => l.on_persisted(notice),
                    SimRole::Following(f) => f.on_persisted(notice),
                    SimRole::Looking => Vec::new(),
                }
            }
        };
        self.execute(at, out);
        self.check_prefix_agreement();
    }

    /// Steps until idle (at most `max` steps); returns the steps taken.
    pub fn run(&mut self, max: usize) -> usize {
        let mut n = 0;
        while n < max && self.step() {
            n += 1;
        }
        n
    }

    /// Ticks every node once.
    pub fn tick(&mut self) {
        let ids: Vec<ServerId> = self.nodes.keys().copied().collect();
        for id in ids {
            let node = self.nodes.get_mut(&id).expect("node exists");
            let out = match &mut node.role {
                SimRole::Leading(l) => l.tick(),
                SimRole::Following(f) => f.tick(),
                SimRole::Looking => Vec::new(),
            };
            self.execute(id, out);
        }
    }

    /// Proposes a transaction at `leader`; its payload is its zxid.
    pub fn propose(&mut self, leader: u64) -> Option<Zxid> {
        let id = ServerId(leader);
        let SimRole::Leading(l) = &mut self.nodes.get_mut(&id)?.role else {
            return None;
        };
        let (zxid, out) = l
            .propose(|z| Bytes::copy_from_slice(&z.to_be_bytes()))
            .ok()?;
        self.execute(id, out);
        Some(zxid)
    }

    /// Runs the commands of node `at`.
    pub fn execute(&mut self, at: ServerId, commands: Vec<Command>) {
        for c in commands {
            let node = self.nodes.get_mut(&at).expect("node exists");
            let s = &mut node.storage;
            match c {
                Command::Send { to, msg } => self.links.entry((at, to)).or_default().push_back(msg),
                Command::SendAck { to, ack } => self
                    .links
                    .entry((at, to))
                    .or_default()
                    .push_back(ack.into_message()),
                Command::SendSnapshot { to, zxid } => {
                    assert_eq!(
                        s.applied.last().copied().unwrap_or(Zxid::ZERO),
                        zxid,
                        "snapshot at the applied state"
                    );
                    let data = encode_tree(&s.applied);
                    self.links
                        .entry((at, to))
                        .or_default()
                        .push_back(PeerMessage::Snap { zxid, data });
                }
                Command::PersistAcceptedEpoch(e) => {
                    s.accepted_epoch = e;
                    node.notices.push_back(Persisted::AcceptedEpoch(e));
                }
                Command::PersistCurrentEpoch(e) => {
                    s.current_epoch = e;
                    node.notices.push_back(Persisted::CurrentEpoch(e));
                }
                Command::Log { zxid, data } => {
                    assert!(zxid > s.last_zxid(), "log appends in zxid order");
                    s.log.insert(zxid, data);
                    s.unsynced.push(zxid);
                    node.notices.push_back(Persisted::Log(zxid));
                }
                Command::Truncate { to } if to < s.snap_zxid => {
                    // As the driver: a snapshot cannot be rolled back, so the peer stops (a
                    // leader told the snapshot's zxid sends a SNAP instead: never expected).
                    let why = format!("TRUNC to {to} below the snapshot {}", s.snap_zxid);
                    self.stop(at, why);
                    return;
                }
                Command::Truncate { to } => {
                    s.log.retain(|z, _| *z <= to);
                    s.unsynced.retain(|z| *z <= to);
                    s.applied.retain(|z| *z <= to);
                }
                Command::InstallSnapshot { zxid, data } => {
                    s.applied = decode_tree(&data);
                    s.log.clear();
                    s.unsynced.clear();
                    s.snap_zxid = zxid;
                    node.notices.push_back(Persisted::Log(zxid));
                }
                Command::Apply(zxid) => {
                    assert!(
                        s.applied.last().is_none_or(|last| *last < zxid),
                        "apply in zxid order"
                    );
                    assert!(s.log.contains_key(&zxid), "apply only logged txns");
                    s.applied.push(zxid);
                }
                Command::StartServing => node.serving = true,
                Command::DropLearner { learner, .. } => {
                    self.events.push((
                        at,
                        Command::DropLearner {
                            learner,
                            why: String::new(),
                        },
                    ));
                    self.links.retain(|(from, to), _| {
                        !(*from == learner && *to == at || *from == at && *to == learner)
                    });
                    if let Some(n) = self.nodes.get_mut(&learner) {
                        n.role = SimRole::Looking;
                        n.serving = false;
                    }
                }
                c @ (Command::StepDown(_) | Command::GoLooking(_) | Command::Resync { .. }) => {
                    node.role = SimRole::Looking;
                    node.serving = false;
                    self.events.push((at, c));
                }
            }
        }
    }

    /// ZAB prefix consistency: every two *serving* servers' applied sequences agree on their
    /// common prefix. (A server that is not serving may hold, as ZooKeeper's does when it
    /// reloads its log, an uncommitted tail that the coming sync truncates.)
    pub fn check_prefix_agreement(&self) {
        let trees: Vec<(&ServerId, &Vec<Zxid>)> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.serving)
            .map(|(id, n)| (id, &n.storage.applied))
            .collect();
        for (a, ta) in &trees {
            for (b, tb) in &trees {
                let k = ta.len().min(tb.len());
                assert_eq!(
                    ta[..k],
                    tb[..k],
                    "servers {a} and {b} applied diverging histories"
                );
            }
        }
    }
}

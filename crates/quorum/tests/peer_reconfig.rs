//! Dynamic reconfiguration through the real peer driver, in process (`MemPeerNet`,
//! `MemElectionNet`, in-memory storage that survives a crash; real time, 10 ms ticks, every
//! wait bounded). The state machine is a list of records in which `config:1,2,3` is a
//! configuration change making 1, 2 and 3 the voters (the processor's reconfig transaction in
//! miniature): it names the membership a proposal installs, rewrites a refused change as
//! `refused:<why>`, and reports the configuration as of its last applied record.
//!
//! What is checked: an ensemble grows 3 -> 5 and shrinks back, and each time the servers that
//! must vote are exactly those of the configuration (a quorum of the new voters keeps
//! committing without the old ones, and not without them); a removed leader hands over to the
//! remaining voters and goes on as a non-voting observer; a change that cannot reach its new
//! quorum is refused in the log; a restart starts from the last committed configuration, not
//! from the static one.

mod support;

use bytes::Bytes;
use paddock_election::ElectionConfig;
use paddock_quorum::peer::election_net::MemElectionNet;
use paddock_quorum::peer::{
    spawn, ConfigChange, Configuration, PeerConfig, PeerHandle, PeerRole, PeerStorage,
    RestoreError, StateMachine,
};
use paddock_quorum::transport::mem::MemPeerNet;
use paddock_quorum::{ChangeRefused, Membership, ZabConfig};
use paddock_storage::mem::{MemEpochStore, MemSnapshotStore, MemTxnLog};
use paddock_types::{ServerId, Zxid};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(10);
const SETTLE: Duration = Duration::from_secs(8);

fn parse(data: &[u8]) -> Option<Membership> {
    let text = std::str::from_utf8(data).ok()?.strip_prefix("config:")?;
    let ids: Vec<ServerId> = text
        .split(',')
        .map(|i| i.parse().map(ServerId))
        .collect::<Result<_, _>>()
        .ok()?;
    Membership::new(ids, []).ok()
}

#[derive(Default)]
struct ListState {
    base: Zxid,
    entries: Vec<(Zxid, Bytes)>,
}

impl ListState {
    fn last(&self) -> Zxid {
        self.entries.last().map_or(self.base, |e| e.0)
    }

    /// The configuration records applied, newest first.
    fn configs(&self) -> impl Iterator<Item = (Zxid, Membership)> + '_ {
        self.entries
            .iter()
            .rev()
            .filter_map(|(z, d)| parse(d).map(|m| (*z, m)))
    }
}

struct ListSm(Arc<Mutex<ListState>>);

impl StateMachine for ListSm {
    fn apply(&mut self, zxid: Zxid, data: &Bytes) {
        let mut s = self.0.lock().unwrap();
        assert!(zxid > s.last(), "applied in zxid order");
        s.entries.push((zxid, data.clone()));
    }

    fn snapshot(&self) -> Bytes {
        support::encode_entries(&self.0.lock().unwrap().entries)
    }

    fn restore(&mut self, zxid: Zxid, data: &Bytes) -> Result<(), RestoreError> {
        *self.0.lock().unwrap() = ListState {
            base: zxid,
            entries: support::decode_entries(data),
        };
        Ok(())
    }

    fn last_applied(&self) -> Zxid {
        self.0.lock().unwrap().last()
    }

    fn config_change(&self, data: &Bytes) -> Option<ConfigChange> {
        parse(data).map(|members| ConfigChange::Installs {
            members,
            data: data.clone(),
        })
    }

    fn refuse_change(&self, data: &Bytes, why: &ChangeRefused) -> Option<Bytes> {
        let asked = String::from_utf8_lossy(data);
        Some(Bytes::from(format!("refused:{asked}:{why}")))
    }

    fn configuration(&self) -> Option<Configuration> {
        let s = self.0.lock().unwrap();
        let mut configs = s.configs();
        let (version, members) = configs.next()?;
        Some(Configuration {
            version,
            members,
            previous: configs.next().map(|(_, m)| m),
        })
    }

    fn configuration_version(&self) -> Zxid {
        self.0
            .lock()
            .unwrap()
            .configs()
            .next()
            .map_or(Zxid::ZERO, |(z, _)| z)
    }
}

struct Node {
    /// The static configuration's voters (zoo.cfg): ZooKeeper's joining server lists the
    /// ensemble and itself.
    voters: Vec<u64>,
    log: Arc<MemTxnLog>,
    storage: PeerStorage,
    state: Arc<Mutex<ListState>>,
    handle: Option<PeerHandle>,
}

struct Cluster {
    pnet: MemPeerNet,
    enet: MemElectionNet,
    nodes: BTreeMap<u64, Node>,
}

impl Cluster {
    /// Servers `1..=n`, each configured with voters `voters(id)`.
    fn new(n: u64, voters: impl Fn(u64) -> Vec<u64>) -> Cluster {
        let nodes = (1..=n)
            .map(|id| {
                let log = Arc::new(MemTxnLog::new());
                let storage = PeerStorage {
                    log: log.clone(),
                    epochs: Arc::new(MemEpochStore::new()),
                    snapshots: Arc::new(MemSnapshotStore::new()),
                };
                let node = Node {
                    voters: voters(id),
                    log,
                    storage,
                    state: Arc::default(),
                    handle: None,
                };
                (id, node)
            })
            .collect();
        Cluster {
            pnet: MemPeerNet::new(),
            enet: MemElectionNet::new(),
            nodes,
        }
    }

    fn start(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).unwrap();
        let config = PeerConfig {
            me: ServerId(id),
            voters: node.voters.iter().map(|i| ServerId(*i)).collect(),
            observers: Vec::new(),
            tick: TICK,
            zab: ZabConfig {
                sync_limit_ticks: 20,
                init_limit_ticks: 40,
                committed_log_capacity: 500,
            },
            election: ElectionConfig {
                finalize_wait_ticks: 2,
                max_notification_interval_ticks: 20,
            },
            resync_flag: None,
            log_writer: paddock_quorum::peer::WriterMode::Thread,
        };
        node.state = Arc::default();
        let sm = Box::new(ListSm(node.state.clone()));
        let (pt, et) = (
            self.pnet.endpoint(ServerId(id)),
            self.enet.endpoint(ServerId(id)),
        );
        node.handle = Some(spawn(config, node.storage.clone(), pt, et, sm).expect("spawn"));
    }

    async fn kill(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).unwrap();
        node.handle.take().expect("running").kill().await;
        node.log.crash();
    }

    fn handle(&self, id: u64) -> &PeerHandle {
        self.nodes[&id].handle.as_ref().expect("running")
    }

    /// The serving leader when `followers` follow it and `observers` observe it, all serving.
    fn settled(&self, followers: &[u64], observers: &[u64]) -> Option<u64> {
        let all = followers.iter().chain(observers);
        let leaders: Vec<u64> = all
            .clone()
            .copied()
            .filter(|i| {
                let s = self.handle(*i).status();
                s.role == PeerRole::Leading && s.serving
            })
            .collect();
        let [leader] = leaders[..] else {
            return None;
        };
        if observers.contains(&leader) {
            return None;
        }
        let ok = |ids: &[u64], role: PeerRole| {
            ids.iter().filter(|i| **i != leader).all(|i| {
                let s = self.handle(*i).status();
                s.role == role && s.serving && s.leader == Some(ServerId(leader))
            })
        };
        (ok(followers, PeerRole::Following) && ok(observers, PeerRole::Observing)).then_some(leader)
    }

    async fn wait_settled(&self, followers: &[u64], observers: &[u64]) -> u64 {
        let mut found = None;
        until("a settled ensemble", || {
            found = self.settled(followers, observers);
            found.is_some()
        })
        .await;
        found.unwrap()
    }

    async fn propose(&self, id: u64, payload: &str) -> Zxid {
        bounded(self.handle(id).propose(Bytes::from(payload.to_owned())))
            .await
            .expect("committed")
    }

    /// Waits until `ids` applied `zxid`; returns the configuration each of them holds.
    async fn wait_applied(&self, ids: &[u64], zxid: Zxid) -> Vec<Option<Membership>> {
        until("every server applied", || {
            ids.iter().all(|i| self.handle(*i).last_committed() >= zxid)
        })
        .await;
        ids.iter()
            .map(|i| {
                self.nodes[i]
                    .state
                    .lock()
                    .unwrap()
                    .configs()
                    .next()
                    .map(|(_, m)| m)
            })
            .collect()
    }

    fn payloads(&self, id: u64) -> Vec<String> {
        self.nodes[&id]
            .state
            .lock()
            .unwrap()
            .entries
            .iter()
            .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
            .collect()
    }

    async fn shutdown(mut self) {
        for node in self.nodes.values_mut() {
            if let Some(h) = node.handle.take() {
                h.shutdown().await;
            }
        }
    }
}

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(SETTLE, f)
        .await
        .expect("bounded wait timed out")
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < SETTLE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn voters(ids: &[u64]) -> Membership {
    Membership::new(ids.iter().map(|i| ServerId(*i)), []).unwrap()
}

/// A proposal at the leader fails (not committed) within a short bound.
async fn stalls(c: &Cluster, leader: u64) -> bool {
    let f = c.handle(leader).propose(Bytes::from_static(b"stalled"));
    tokio::time::timeout(Duration::from_millis(600), f)
        .await
        .map_or(true, |r| r.is_err())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grow_three_to_five_and_shrink_back_to_three() {
    // 4 and 5 join as ZooKeeper's do: configured with the ensemble plus themselves.
    let mut c = Cluster::new(5, |id| match id {
        4 => vec![1, 2, 3, 4],
        5 => vec![1, 2, 3, 5],
        _ => vec![1, 2, 3],
    });
    for id in 1..=5 {
        c.start(id);
    }
    let leader = c.wait_settled(&[1, 2, 3, 4, 5], &[]).await;
    assert!(
        leader <= 3,
        "a server outside the configuration never leads"
    );
    c.propose(leader, "before").await;

    let grown = c.propose(leader, "config:1,2,3,4,5").await;
    let configs = c.wait_applied(&[1, 2, 3, 4, 5], grown).await;
    assert!(configs.iter().all(|m| *m == Some(voters(&[1, 2, 3, 4, 5]))));
    // 4 and 5 vote now: without two of the old servers, 3 of 5 still commit.
    let others: Vec<u64> = (1..=3).filter(|i| *i != leader).collect();
    c.kill(others[0]).await;
    c.kill(others[1]).await;
    let zxid = c.propose(leader, "with-4-and-5").await;
    c.wait_applied(&[leader, 4, 5], zxid).await;
    c.start(others[0]);
    c.start(others[1]);
    let leader = c.wait_settled(&[1, 2, 3, 4, 5], &[]).await;

    let shrunk = c.propose(leader, "config:1,2,3").await;
    c.wait_applied(&[1, 2, 3], shrunk).await;
    // 4 and 5 go on as non-voting observers; only 1, 2 and 3 count.
    let leader = c.wait_settled(&[1, 2, 3], &[4, 5]).await;
    let configs = c.wait_applied(&[1, 2, 3, 4, 5], shrunk).await;
    assert!(configs.iter().all(|m| *m == Some(voters(&[1, 2, 3]))));
    c.kill(4).await;
    c.kill(5).await;
    c.propose(leader, "without-4-and-5").await;
    let follower = (1..=3).find(|i| *i != leader).unwrap();
    c.kill(follower).await;
    let rest = (1..=3).find(|i| *i != leader && *i != follower).unwrap();
    c.kill(rest).await;
    assert!(
        stalls(&c, leader).await,
        "the leader alone is no quorum of 1,2,3"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_leader_hands_over_and_goes_on_as_an_observer() {
    let mut c = Cluster::new(3, |_| vec![1, 2, 3]);
    for id in 1..=3 {
        c.start(id);
    }
    let old = c.wait_settled(&[1, 2, 3], &[]).await;
    let rest: Vec<u64> = (1..=3).filter(|i| *i != old).collect();
    let change = format!("config:{},{}", rest[0], rest[1]);
    let zxid = c.propose(old, &change).await;
    let new = c.wait_settled(&rest, &[old]).await;
    assert_ne!(new, old);
    let after = c.propose(new, "after").await;
    let configs = c.wait_applied(&[1, 2, 3], after).await;
    assert!(configs.iter().all(|m| *m == Some(voters(&rest))));
    assert!(
        c.payloads(old).contains(&change),
        "{zxid} applied on the old leader"
    );
    // The old leader counts in no quorum: the two others alone commit.
    c.kill(old).await;
    c.propose(new, "without-the-old-leader").await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_without_its_new_quorum_is_refused_in_the_log() {
    let mut c = Cluster::new(3, |_| vec![1, 2, 3]);
    for id in 1..=3 {
        c.start(id);
    }
    let leader = c.wait_settled(&[1, 2, 3], &[]).await;
    let zxid = c.propose(leader, "config:1,7,8").await;
    c.wait_applied(&[1, 2, 3], zxid).await;
    for id in 1..=3 {
        let last = c.payloads(id).pop().unwrap();
        assert!(
            last.starts_with("refused:config:1,7,8:no quorum"),
            "{id}: {last}"
        );
    }
    assert!(c
        .wait_applied(&[1, 2, 3], zxid)
        .await
        .iter()
        .all(Option::is_none));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_starts_from_the_last_committed_configuration() {
    let mut c = Cluster::new(4, |id| {
        if id == 4 {
            vec![1, 2, 3, 4]
        } else {
            vec![1, 2, 3]
        }
    });
    for id in 1..=4 {
        c.start(id);
    }
    let leader = c.wait_settled(&[1, 2, 3, 4], &[]).await;
    let grown = c.propose(leader, "config:1,2,3,4").await;
    c.wait_applied(&[1, 2, 3, 4], grown).await;
    for id in 1..=4 {
        c.kill(id).await;
    }
    // Every server is configured with 1,2,3 (4 with itself) again; the log says 1,2,3,4.
    for id in 1..=4 {
        c.start(id);
    }
    let leader = c.wait_settled(&[1, 2, 3, 4], &[]).await;
    // Under the static configuration 4 could not lead, and 1,2,3 without one of them would
    // still be a quorum of 1,2,3. Under 1,2,3,4 two servers down must stall...
    let down: Vec<u64> = if leader == 4 {
        vec![1, 2]
    } else {
        vec![(1..=3).find(|i| *i != leader).unwrap(), 4]
    };
    for id in &down {
        c.kill(*id).await;
    }
    assert!(stalls(&c, leader).await, "2 of 4 is no quorum");
    // ... and one back makes 3 of 4.
    c.start(down[0]);
    let up: Vec<u64> = (1..=4).filter(|i| *i != down[1]).collect();
    let leader = c.wait_settled(&up, &[]).await;
    let zxid = c.propose(leader, "three-of-four").await;
    c.wait_applied(&up, zxid).await;
    c.shutdown().await;
}

//! The QuorumPeer driver end to end, in process: three peer tasks over `MemPeerNet` and
//! `MemElectionNet`, with in-memory storage that survives a crash. Real time, 10 ms ticks; every
//! wait is bounded.
//!
//! Also the driver's work outside the ZAB cores: fire-and-forget `submit` (proposed at the
//! leader, forwarded by learners, per-origin FIFO), and session liveness reports (`Touch`).

mod support;

use bytes::Bytes;
use paddock_election::{ElectionConfig, ElectionTransport, Notification};
use paddock_quorum::peer::election_net::{MemElectionNet, MemElectionTransport};
use paddock_quorum::peer::{
    spawn, PeerConfig, PeerHandle, PeerRole, PeerStorage, ProposalSizes, ProposeError,
    RestoreError, ResyncFlag, StateMachine,
};
use paddock_quorum::transport::mem::MemPeerNet;
use paddock_quorum::transport::PeerTransport;
use paddock_quorum::PeerMessage;
use paddock_quorum::ZabConfig;
use paddock_storage::mem::{MemEpochStore, MemSnapshotStore, MemTxnLog};
use paddock_storage::{SnapshotStore, TxnLog};
use paddock_types::{Epoch, ServerId, SessionId, Zxid};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(10);
const SETTLE: Duration = Duration::from_secs(5);

/// The test state machine: the list of applied (zxid, payload), shared with the test.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ListState {
    base: Zxid,
    entries: Vec<(Zxid, Bytes)>,
}

/// The session hooks of the test state machine, shared with the test.
#[derive(Debug, Default)]
struct Sessions {
    /// Learner side: what the next `take_touched_sessions` returns.
    to_report: Vec<SessionId>,
    /// Leader side: every `sessions_touched` call, in order.
    touched: Vec<(ServerId, Vec<SessionId>)>,
}

/// Whether the test state machine takes snapshots, shared with the test.
#[derive(Debug, Default)]
struct Restores {
    /// Refuse every non-empty snapshot (as a machine given another version's format would).
    refuse: bool,
    /// How many were refused.
    refused: usize,
}

struct ListSm(
    Arc<Mutex<ListState>>,
    Arc<Mutex<Sessions>>,
    Arc<Mutex<Restores>>,
);

impl StateMachine for ListSm {
    fn apply(&mut self, zxid: Zxid, data: &Bytes) {
        let mut s = self.0.lock().unwrap();
        assert!(
            zxid > s.entries.last().map_or(s.base, |e| e.0),
            "applied in zxid order"
        );
        s.entries.push((zxid, data.clone()));
    }

    fn snapshot(&self) -> Bytes {
        let s = self.0.lock().unwrap();
        support::encode_entries(&s.entries)
    }

    fn restore(&mut self, zxid: Zxid, data: &Bytes) -> Result<(), RestoreError> {
        let mut restores = self.2.lock().unwrap();
        if restores.refuse && !data.is_empty() {
            restores.refused += 1;
            return Err("not a format this machine reads".into());
        }
        let entries = support::decode_entries(data);
        *self.0.lock().unwrap() = ListState {
            base: zxid,
            entries,
        };
        Ok(())
    }

    fn last_applied(&self) -> Zxid {
        let s = self.0.lock().unwrap();
        s.entries.last().map_or(s.base, |e| e.0)
    }

    fn take_touched_sessions(&mut self) -> Vec<SessionId> {
        std::mem::take(&mut self.1.lock().unwrap().to_report)
    }

    fn sessions_touched(&mut self, from: ServerId, sessions: &[SessionId]) {
        self.1
            .lock()
            .unwrap()
            .touched
            .push((from, sessions.to_vec()));
    }
}

struct Node {
    /// `PeerConfig::resync_flag` of this node.
    resync: Option<ResyncFlag>,
    log: Arc<MemTxnLog>,
    snapshots: Arc<MemSnapshotStore>,
    storage: PeerStorage,
    state: Arc<Mutex<ListState>>,
    sessions: Arc<Mutex<Sessions>>,
    restores: Arc<Mutex<Restores>>,
    /// Every election notification this node sent.
    votes: Arc<Mutex<Vec<Notification>>>,
    handle: Option<PeerHandle>,
}

/// An election endpoint that keeps what it sends.
struct VoteLog {
    inner: MemElectionTransport,
    sent: Arc<Mutex<Vec<Notification>>>,
}

impl ElectionTransport for VoteLog {
    fn send(&mut self, to: ServerId, n: Notification) {
        self.sent.lock().unwrap().push(n);
        self.inner.send(to, n)
    }

    fn try_recv(&mut self) -> Option<(ServerId, Notification)> {
        self.inner.try_recv()
    }
}

struct Cluster {
    pnet: MemPeerNet,
    enet: MemElectionNet,
    zab: ZabConfig,
    nodes: BTreeMap<u64, Node>,
    observers: Vec<u64>,
}

impl Cluster {
    fn new(n: u64, committed_log_capacity: usize) -> Cluster {
        Cluster::with_observers(n, 0, committed_log_capacity)
    }

    /// Voters `1..=n`, then `observers` observers.
    fn with_observers(n: u64, observers: u64, committed_log_capacity: usize) -> Cluster {
        let nodes = (1..=n + observers)
            .map(|id| {
                let log = Arc::new(MemTxnLog::new());
                let snapshots = Arc::new(MemSnapshotStore::new());
                let storage = PeerStorage {
                    log: log.clone(),
                    epochs: Arc::new(MemEpochStore::new()),
                    snapshots: snapshots.clone(),
                };
                let node = Node {
                    resync: None,
                    log,
                    snapshots,
                    storage,
                    state: Arc::default(),
                    sessions: Arc::default(),
                    restores: Arc::default(),
                    votes: Arc::default(),
                    handle: None,
                };
                (id, node)
            })
            .collect();
        Cluster {
            pnet: MemPeerNet::new(),
            enet: MemElectionNet::new(),
            zab: ZabConfig {
                sync_limit_ticks: 20,
                init_limit_ticks: 40,
                committed_log_capacity,
            },
            nodes,
            observers: (n + 1..=n + observers).collect(),
        }
    }

    fn start(&mut self, id: u64) {
        let voters: Vec<ServerId> = self
            .nodes
            .keys()
            .filter(|i| !self.observers.contains(i))
            .map(|i| ServerId(*i))
            .collect();
        let config = PeerConfig {
            me: ServerId(id),
            voters,
            observers: self.observers.iter().map(|i| ServerId(*i)).collect(),
            tick: TICK,
            zab: self.zab,
            election: ElectionConfig {
                finalize_wait_ticks: 2,
                max_notification_interval_ticks: 20,
            },
            resync_flag: self.nodes[&id].resync.clone(),
            log_writer: paddock_quorum::peer::WriterMode::Thread,
        };
        let pt = self.pnet.endpoint(ServerId(id));
        let et = VoteLog {
            inner: self.enet.endpoint(ServerId(id)),
            sent: self.nodes[&id].votes.clone(),
        };
        let node = self.nodes.get_mut(&id).unwrap();
        // A (re)started process has an empty memory: the state is rebuilt from storage.
        node.state = Arc::default();
        let sm = Box::new(ListSm(
            node.state.clone(),
            node.sessions.clone(),
            node.restores.clone(),
        ));
        node.handle = Some(spawn(config, node.storage.clone(), pt, et, sm).expect("spawn"));
    }

    fn start_all(&mut self) {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for id in ids {
            self.start(id);
        }
    }

    /// Crash: the task is aborted, what was not synced is lost, durable storage stays.
    async fn kill(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).unwrap();
        node.handle.take().expect("running").kill().await;
        node.log.crash();
    }

    fn handle(&self, id: u64) -> &PeerHandle {
        self.nodes[&id].handle.as_ref().expect("running")
    }

    fn state(&self, id: u64) -> ListState {
        self.nodes[&id].state.lock().unwrap().clone()
    }

    fn isolate(&self, id: u64) {
        for other in self.nodes.keys().filter(|o| **o != id) {
            self.pnet.cut(ServerId(id), ServerId(*other));
            self.enet.cut(ServerId(id), ServerId(*other));
        }
    }

    fn heal(&self) {
        self.pnet.heal_all();
        self.enet.heal_all();
    }

    /// The leader when exactly one of `ids` leads and serves and all the others follow it and
    /// serve.
    fn settled(&self, ids: &[u64]) -> Option<u64> {
        let statuses: Vec<_> = ids.iter().map(|i| (*i, self.handle(*i).status())).collect();
        let leaders: Vec<u64> = statuses
            .iter()
            .filter(|(_, s)| s.role == PeerRole::Leading && s.serving)
            .map(|(i, _)| *i)
            .collect();
        let [leader] = leaders[..] else {
            return None;
        };
        statuses
            .iter()
            .filter(|(i, _)| *i != leader)
            .all(|(i, s)| {
                let role = if self.observers.contains(i) {
                    PeerRole::Observing
                } else {
                    PeerRole::Following
                };
                s.role == role && s.serving && s.leader == Some(ServerId(leader))
            })
            .then_some(leader)
    }

    async fn wait_settled(&self, ids: &[u64]) -> u64 {
        let mut found = None;
        until("a settled ensemble", SETTLE, || {
            found = self.settled(ids);
            found.is_some()
        })
        .await;
        found.unwrap()
    }

    /// Waits until every one of `ids` applied up to `zxid`.
    async fn wait_applied(&self, ids: &[u64], zxid: Zxid) {
        until("every peer applied", SETTLE, || {
            ids.iter().all(|i| self.handle(*i).last_committed() >= zxid)
        })
        .await;
    }

    /// Proposes `payloads` at `leader`, pipelined; returns their zxids.
    async fn propose_all(&self, leader: u64, payloads: impl Iterator<Item = String>) -> Vec<Zxid> {
        let h = self.handle(leader);
        let futures: Vec<_> = payloads.map(|p| h.propose(Bytes::from(p))).collect();
        let mut zxids = Vec::new();
        for f in futures {
            zxids.push(bounded(f).await.expect("committed"));
        }
        assert!(zxids.windows(2).all(|w| w[0] < w[1]), "zxids increase");
        zxids
    }

    fn payloads(&self, id: u64) -> Vec<String> {
        self.state(id)
            .entries
            .iter()
            .map(|(_, d)| String::from_utf8(d.to_vec()).unwrap())
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

async fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn names(prefix: &str, n: usize) -> impl Iterator<Item = String> + '_ {
    (0..n).map(move |i| format!("{prefix}-{i}"))
}

#[tokio::test]
async fn three_peers_elect_one_leader_and_apply_100_proposals_in_order() {
    let t = Instant::now();
    let mut c = Cluster::new(3, 500);
    c.start_all();
    let leader = c.wait_settled(&[1, 2, 3]).await;
    // Equal (epoch, zxid) everywhere: the highest id wins.
    assert_eq!(leader, 3);
    let epoch = c.handle(3).status().epoch;
    assert_eq!(epoch, Epoch(1));
    for f in [1, 2] {
        assert_eq!(
            bounded(c.handle(f).propose(Bytes::from_static(b"x"))).await,
            Err(ProposeError::NotLeader {
                leader: Some(ServerId(3))
            })
        );
    }
    let syncs_before: Vec<u64> = [1, 2, 3]
        .iter()
        .map(|i| c.nodes[i].log.sync_count())
        .collect();
    let zxids = c.propose_all(leader, names("p", 100)).await;
    assert_eq!(zxids[0], Zxid::new(epoch, 1));
    assert_eq!(zxids[99], Zxid::new(epoch, 100));
    c.wait_applied(&[1, 2, 3], zxids[99]).await;
    let expected: Vec<String> = names("p", 100).collect();
    for id in [1, 2, 3] {
        assert_eq!(c.payloads(id), expected, "peer {id}");
        assert_eq!(c.state(id), c.state(3));
    }
    // A commit may apply on a follower while its own sync of that record is still running (the
    // record is durable on a quorum already); every log is durable up to the end soon after.
    let deadline = Instant::now() + Duration::from_secs(10);
    for id in [1u64, 2, 3] {
        while c.nodes[&id].log.last_durable_zxid() != zxids[99] {
            assert!(
                Instant::now() < deadline,
                "peer {id}: log not durable to the end"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // Group commit: 100 pipelined proposals take far fewer than 100 syncs on every server.
    for (i, id) in [1u64, 2, 3].iter().enumerate() {
        let syncs = c.nodes[id].log.sync_count() - syncs_before[i];
        eprintln!("peer {id}: {syncs} syncs for 100 proposals");
        assert!(syncs < 50, "peer {id}: {syncs} syncs");
        // The peer's own counters agree with the log's (the election's writes included), and
        // every proposal was timed from logging to applying.
        let stats = c.handle(*id).stats();
        assert_eq!(stats.syncs(), c.nodes[id].log.sync_count(), "peer {id}");
        assert!(stats.records() >= 100, "peer {id}: {stats:?}");
        assert_eq!(stats.commits(), 100, "peer {id}: {stats:?}");
        assert!(stats.max_commit_time() <= stats.commit_time());
        // Only the leader proposed: "p-0" .. "p-99", 3 or 4 bytes, the last one 4.
        let sizes = stats.proposal_sizes();
        if *id == leader {
            assert_eq!(
                sizes,
                Some(ProposalSizes {
                    last: 4,
                    min: 3,
                    max: 4
                })
            );
        } else {
            assert_eq!(sizes, None, "peer {id}");
        }
    }
    c.shutdown().await;
    eprintln!("elect + 100 proposals: {:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_crash_new_leader_keeps_commits_and_old_leader_rejoins_by_trunc_diff() {
    let t = Instant::now();
    let mut c = Cluster::new(3, 500);
    c.start_all();
    let old = c.wait_settled(&[1, 2, 3]).await;
    let old_epoch = c.handle(old).status().epoch;
    let first = c.propose_all(old, names("a", 30)).await;
    c.wait_applied(&[1, 2, 3], first[29]).await;

    c.kill(old).await;
    // As if it had logged one more proposal and crashed before sending it to anyone.
    let uncommitted = Zxid::new(old_epoch, 31);
    let log = &c.nodes[&old].log;
    log.append(&[(uncommitted, Bytes::from_static(b"uncommitted"))])
        .unwrap();
    log.sync().unwrap();
    let rest: Vec<u64> = [1, 2, 3].into_iter().filter(|i| *i != old).collect();
    let new = c.wait_settled(&rest).await;
    assert_ne!(new, old);
    let new_epoch = c.handle(new).status().epoch;
    assert!(new_epoch > old_epoch, "{new_epoch} > {old_epoch}");
    let before: Vec<String> = names("a", 30).collect();
    for id in &rest {
        assert_eq!(c.payloads(*id), before, "peer {id} kept every commit");
    }
    let second = c.propose_all(new, names("b", 30)).await;
    assert_eq!(second[0].epoch(), new_epoch);
    c.wait_applied(&rest, second[29]).await;

    // The old leader restarts on its storage: it joins the established leader and gets a
    // TRUNC (of its uncommitted proposal) + DIFF.
    c.start(old);
    c.wait_settled(&[1, 2, 3]).await;
    assert_eq!(c.handle(old).leader(), Some(ServerId(new)));
    c.wait_applied(&[1, 2, 3], second[29]).await;
    let all: Vec<String> = names("a", 30).chain(names("b", 30)).collect();
    for id in [1, 2, 3] {
        assert_eq!(c.payloads(id), all, "peer {id}");
        assert_eq!(c.state(id), c.state(new));
    }
    assert!(
        c.nodes[&old].snapshots.list().unwrap().is_empty(),
        "caught up by TRUNC+DIFF, not SNAP"
    );
    assert!(
        c.nodes[&old]
            .log
            .records()
            .iter()
            .all(|(z, _)| *z != uncommitted),
        "the uncommitted proposal was truncated"
    );
    // And it keeps following.
    let third = c.propose_all(new, names("c", 5)).await;
    c.wait_applied(&[1, 2, 3], third[4]).await;
    assert_eq!(c.state(old), c.state(new));
    c.shutdown().await;
    eprintln!("crash, re-elect, rejoin: {:?}", t.elapsed());
}

#[tokio::test]
async fn isolated_leader_cannot_commit_majority_continues_and_old_leader_truncates() {
    let t = Instant::now();
    let mut c = Cluster::new(3, 500);
    c.start_all();
    let old = c.wait_settled(&[1, 2, 3]).await;
    let first = c.propose_all(old, names("a", 10)).await;
    c.wait_applied(&[1, 2, 3], first[9]).await;

    // Queued before the cut: the leader (most likely) logs it but can send it to nobody.
    let lost = c.handle(old).propose(Bytes::from_static(b"lost"));
    c.isolate(old);
    // The minority's proposal never commits: the leader loses its quorum and steps down.
    let lost = bounded(lost).await;
    assert!(
        matches!(
            lost,
            Err(ProposeError::Unknown(_)
                | ProposeError::NotServing
                | ProposeError::NotLeader { .. })
        ),
        "{lost:?}"
    );
    until("the isolated leader steps down", SETTLE, || {
        c.handle(old).role() == PeerRole::Looking
    })
    .await;
    let logged_lost = |c: &Cluster| {
        c.nodes[&old]
            .log
            .records()
            .iter()
            .any(|(_, d)| &d[..] == b"lost")
    };
    eprintln!("minority leader logged its proposal: {}", logged_lost(&c));
    let rest: Vec<u64> = [1, 2, 3].into_iter().filter(|i| *i != old).collect();
    let new = c.wait_settled(&rest).await;
    let second = c.propose_all(new, names("b", 10)).await;
    c.wait_applied(&rest, second[9]).await;
    assert_eq!(
        c.handle(old).role(),
        PeerRole::Looking,
        "the minority cannot elect"
    );
    assert!(bounded(c.handle(old).propose(Bytes::from_static(b"no")))
        .await
        .is_err());

    // Healed: the old leader rejoins; its uncommitted "lost" proposal, if logged, is truncated.
    c.heal();
    c.wait_settled(&[1, 2, 3]).await;
    c.wait_applied(&[1, 2, 3], second[9]).await;
    let all: Vec<String> = names("a", 10).chain(names("b", 10)).collect();
    for id in [1, 2, 3] {
        assert_eq!(c.payloads(id), all, "peer {id}");
    }
    assert!(!logged_lost(&c), "TRUNC removed the uncommitted proposal");
    c.shutdown().await;
    eprintln!("minority partition: {:?}", t.elapsed());
}

#[tokio::test]
async fn far_behind_follower_is_synced_by_snapshot() {
    let t = Instant::now();
    let mut c = Cluster::new(3, 8);
    c.start_all();
    let leader = c.wait_settled(&[1, 2, 3]).await;
    let first = c.propose_all(leader, names("a", 5)).await;
    c.wait_applied(&[1, 2, 3], first[4]).await;
    let lagging = if leader == 1 { 2 } else { 1 };
    c.kill(lagging).await;
    let second = c.propose_all(leader, names("b", 40)).await;
    c.start(lagging);
    c.wait_settled(&[1, 2, 3]).await;
    c.wait_applied(&[1, 2, 3], second[39]).await;
    assert_eq!(c.state(lagging).entries, c.state(leader).entries);
    assert_eq!(
        c.nodes[&lagging].snapshots.list().unwrap(),
        vec![second[39]],
        "synced by SNAP"
    );
    // A restart rebuilds from the snapshot plus the log.
    let third = c.propose_all(leader, names("c", 3)).await;
    c.wait_applied(&[1, 2, 3], third[2]).await;
    c.kill(lagging).await;
    c.start(lagging);
    c.wait_settled(&[1, 2, 3]).await;
    c.wait_applied(&[1, 2, 3], third[2]).await;
    assert_eq!(c.state(lagging).entries, c.state(leader).entries);
    c.shutdown().await;
    eprintln!("snap sync: {:?}", t.elapsed());
}

/// A follower whose state machine refuses the leader's snapshot (another version's format,
/// say) goes LOOKING without installing it — and without claiming it: its own votes carry the
/// last zxid it holds, not the snapshot's (a server voting with history it lacks could win an
/// election and lose the commits it claimed).
#[tokio::test]
async fn a_refused_snapshot_is_not_claimed_in_later_votes() {
    let mut c = Cluster::new(3, 8);
    c.start_all();
    let leader = c.wait_settled(&[1, 2, 3]).await;
    let first = c.propose_all(leader, names("a", 5)).await;
    c.wait_applied(&[1, 2, 3], first[4]).await;
    let lagging = if leader == 1 { 2 } else { 1 };
    c.kill(lagging).await;
    let second = c.propose_all(leader, names("b", 40)).await;
    c.nodes[&lagging].restores.lock().unwrap().refuse = true;
    c.start(lagging);
    // Refused, LOOKING, following again, SNAP again, refused again: an election in between.
    // (Had it claimed the snapshot, the leader would find it up to date and let it serve
    // without the data: a DIFF of nothing.)
    let restores = c.nodes[&lagging].restores.clone();
    until("two snapshots refused, or serving", SETTLE, || {
        restores.lock().unwrap().refused >= 2 || c.handle(lagging).status().serving
    })
    .await;
    assert!(
        !c.handle(lagging).status().serving,
        "serves with {} entries of {}",
        c.state(lagging).entries.len(),
        c.state(leader).entries.len()
    );
    let own: Vec<Zxid> = c.nodes[&lagging]
        .votes
        .lock()
        .unwrap()
        .iter()
        .filter(|n| n.vote.leader == ServerId(lagging))
        .map(|n| n.vote.zxid)
        .collect();
    assert!(
        own.len() >= 2,
        "it voted for itself after a refusal: {own:?}"
    );
    assert!(
        own.iter().all(|z| *z <= first[4]),
        "votes for itself with {own:?}, holding only up to {} (the snapshot: {})",
        first[4],
        second[39]
    );
    assert!(c.nodes[&lagging].snapshots.list().unwrap().is_empty());
    c.shutdown().await;
}

#[tokio::test]
async fn observer_follows_without_voting() {
    let t = Instant::now();
    let mut c = Cluster::with_observers(3, 1, 500);
    c.start_all();
    let leader = c.wait_settled(&[1, 2, 3, 4]).await;
    assert_eq!(leader, 3, "an observer is never elected");
    let first = c.propose_all(leader, names("a", 20)).await;
    c.wait_applied(&[1, 2, 3, 4], first[19]).await;
    assert_eq!(c.state(4), c.state(leader));
    // Two voters down: the observer does not make a quorum, nothing commits.
    c.kill(1).await;
    c.kill(2).await;
    let lost = bounded(c.handle(leader).propose(Bytes::from_static(b"lost"))).await;
    assert!(lost.is_err(), "{lost:?}");
    c.shutdown().await;
    eprintln!("observer: {:?}", t.elapsed());
}

impl Cluster {
    /// Waits until every one of `ids` applied `n` transactions.
    async fn wait_count(&self, ids: &[u64], n: usize) {
        until("every peer applied the submissions", SETTLE, || {
            ids.iter().all(|i| self.state(*i).entries.len() >= n)
        })
        .await;
    }
}

/// The payloads of `all` that start with `prefix`, in order.
fn with_prefix(all: &[String], prefix: &str) -> Vec<String> {
    all.iter()
        .filter(|p| p.starts_with(prefix))
        .cloned()
        .collect()
}

#[tokio::test]
async fn submissions_at_a_follower_are_forwarded_and_committed_in_submit_order() {
    let t = Instant::now();
    let mut c = Cluster::new(3, 500);
    c.start_all();
    let leader = c.wait_settled(&[1, 2, 3]).await;
    let follower = if leader == 1 { 2 } else { 1 };
    let syncs_before = c.nodes[&leader].log.sync_count();
    // Pipelined: all 100 are queued before any commits.
    for p in names("f", 100) {
        assert!(c.handle(follower).submit(Bytes::from(p)));
    }
    c.wait_count(&[1, 2, 3], 100).await;
    let expected: Vec<String> = names("f", 100).collect();
    for id in [1, 2, 3] {
        assert_eq!(
            c.payloads(id),
            expected,
            "peer {id} applied in submit order"
        );
        assert_eq!(c.state(id), c.state(leader));
    }
    let epoch = c.handle(leader).status().epoch;
    assert_eq!(c.state(leader).entries[99].0, Zxid::new(epoch, 100));
    // Forwards read in one batch share the leader's sync.
    let syncs = c.nodes[&leader].log.sync_count() - syncs_before;
    eprintln!("leader: {syncs} syncs for 100 forwarded submissions");
    assert!(syncs < 50, "leader: {syncs} syncs");
    c.shutdown().await;
    eprintln!("forwarded submissions: {:?}", t.elapsed());
}

#[tokio::test]
async fn submissions_from_a_follower_and_the_leader_keep_each_origins_order() {
    let t = Instant::now();
    let mut c = Cluster::new(3, 500);
    c.start_all();
    let leader = c.wait_settled(&[1, 2, 3]).await;
    let follower = if leader == 1 { 2 } else { 1 };
    // At the leader, submissions and proposals interleave in call order.
    let mut at_leader = Vec::new();
    let mut proposed = Vec::new();
    for i in 0..50 {
        assert!(c.handle(follower).submit(Bytes::from(format!("f-{i}"))));
        let s = format!("l-{i}");
        assert!(c.handle(leader).submit(Bytes::from(s.clone())));
        at_leader.push(s);
        let p = format!("p-{i}");
        proposed.push((p.clone(), c.handle(leader).propose(Bytes::from(p.clone()))));
        at_leader.push(p);
    }
    let mut zxids = Vec::new();
    for (p, f) in proposed {
        zxids.push((p, bounded(f).await.expect("committed")));
    }
    c.wait_count(&[1, 2, 3], 150).await;
    let all = c.payloads(leader);
    assert_eq!(all.len(), 150);
    assert_eq!(with_prefix(&all, "f-"), names("f", 50).collect::<Vec<_>>());
    let local: Vec<String> = all
        .iter()
        .filter(|p| p.starts_with("l-") || p.starts_with("p-"))
        .cloned()
        .collect();
    assert_eq!(
        local, at_leader,
        "the leader's submit/propose calls keep their order"
    );
    // Each propose resolved with the zxid its payload was applied at.
    let entries = c.state(leader).entries;
    for (p, z) in zxids {
        let (applied_at, _) = entries
            .iter()
            .find(|(_, d)| d[..] == *p.as_bytes())
            .expect("applied");
        assert_eq!(*applied_at, z, "{p}");
    }
    for id in [1, 2, 3] {
        assert_eq!(c.state(id), c.state(leader), "peer {id}");
    }
    c.shutdown().await;
    eprintln!("interleaved submissions: {:?}", t.elapsed());
}

#[tokio::test]
async fn learners_report_touched_sessions_to_the_leader() {
    let t = Instant::now();
    let mut c = Cluster::with_observers(3, 1, 500);
    c.start_all();
    let leader = c.wait_settled(&[1, 2, 3, 4]).await;
    assert_eq!(leader, 3);
    until("the leader counts every learner as synced", SETTLE, || {
        c.handle(leader).status().synced_followers == vec![ServerId(1), ServerId(2), ServerId(4)]
    })
    .await;
    for id in [1, 2, 4] {
        assert!(c.handle(id).status().synced_followers.is_empty(), "{id}");
    }
    // A follower and the observer each heard from some sessions; follower 2 from none.
    c.nodes[&1].sessions.lock().unwrap().to_report = vec![SessionId(11), SessionId(12)];
    c.nodes[&4].sessions.lock().unwrap().to_report = vec![SessionId(-40)];
    let leader_sessions = c.nodes[&leader].sessions.clone();
    until("both reports reach the leader", SETTLE, || {
        leader_sessions.lock().unwrap().touched.len() >= 2
    })
    .await;
    // A few more ticks: nothing else is reported (empty reports are not sent).
    tokio::time::sleep(TICK * 5).await;
    let mut touched = std::mem::take(&mut leader_sessions.lock().unwrap().touched);
    touched.sort();
    assert_eq!(
        touched,
        vec![
            (ServerId(1), vec![SessionId(11), SessionId(12)]),
            (ServerId(4), vec![SessionId(-40)]),
        ]
    );
    for id in [1, 2, 4] {
        assert!(c.nodes[&id].sessions.lock().unwrap().touched.is_empty());
        assert!(c.nodes[&id].sessions.lock().unwrap().to_report.is_empty());
    }
    // And again: every tick drains what was heard since the last one.
    c.nodes[&2].sessions.lock().unwrap().to_report = vec![SessionId(2)];
    until("the second report reaches the leader", SETTLE, || {
        !leader_sessions.lock().unwrap().touched.is_empty()
    })
    .await;
    assert_eq!(
        leader_sessions.lock().unwrap().touched,
        vec![(ServerId(2), vec![SessionId(2)])]
    );
    c.shutdown().await;
    eprintln!("session reports: {:?}", t.elapsed());
}

#[tokio::test]
async fn submit_while_looking_is_dropped_and_a_stopped_peer_refuses() {
    let mut c = Cluster::new(3, 500);
    c.start(1);
    // Alone, it cannot elect.
    tokio::time::sleep(TICK * 10).await;
    assert_eq!(c.handle(1).role(), PeerRole::Looking);
    assert!(c.handle(1).submit(Bytes::from_static(b"dropped")));
    tokio::time::sleep(TICK * 5).await;
    assert_eq!(c.handle(1).role(), PeerRole::Looking, "still running");
    c.start(2);
    c.start(3);
    let leader = c.wait_settled(&[1, 2, 3]).await;
    assert!(c.handle(1).submit(Bytes::from_static(b"kept")));
    c.wait_count(&[1, 2, 3], 1).await;
    for id in [1, 2, 3] {
        assert_eq!(c.payloads(id), vec!["kept".to_string()], "peer {id}");
    }
    let proposer = c.handle(leader).proposer();
    c.shutdown().await;
    assert!(
        !proposer.submit(Bytes::from_static(b"late")),
        "the peer task is gone"
    );
}

#[tokio::test]
async fn leader_ignores_requests_from_a_learner_that_is_not_synced() {
    let mut c = Cluster::with_observers(3, 1, 500);
    for id in [1, 2, 3] {
        c.start(id);
    }
    let leader = c.wait_settled(&[1, 2, 3]).await;
    // Server 4 is a member but never ran discovery or sync with the leader.
    let rogue = c.pnet.endpoint(ServerId(4));
    rogue.connect(ServerId(leader)).await.expect("connect");
    let forward = PeerMessage::Forward {
        data: Bytes::from_static(b"rogue"),
    };
    rogue.send(ServerId(leader), forward).await.unwrap();
    let touch = PeerMessage::Touch {
        sessions: vec![SessionId(9)],
    };
    rogue.send(ServerId(leader), touch).await.unwrap();
    // Sent after the rogue's: the leader handles them first.
    let follower = if leader == 1 { 2 } else { 1 };
    assert!(c.handle(follower).submit(Bytes::from_static(b"ok")));
    c.wait_count(&[1, 2, 3], 1).await;
    for id in [1, 2, 3] {
        assert_eq!(c.payloads(id), vec!["ok".to_string()], "peer {id}");
    }
    assert!(c.nodes[&leader].sessions.lock().unwrap().touched.is_empty());
    assert_eq!(c.handle(leader).role(), PeerRole::Leading, "unharmed");
    c.shutdown().await;
}

/// The durable records of `log`, in order, without a gap (ZAB's continuity).
fn assert_gap_free(id: u64, log: &MemTxnLog) {
    let records = log.durable_records();
    for w in records.windows(2) {
        assert!(
            w[1].0.follows(w[0].0),
            "peer {id}: {} does not follow {}",
            w[1].0,
            w[0].0
        );
    }
}

/// Issue 12: a follower whose disk fills up stops acking (the quorum goes on without it), takes
/// no part in elections, and catches up once its log recovers — with nothing it acked lost and
/// no gap in its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_with_a_full_disk_sits_out_and_catches_up_once_it_recovers() {
    let mut c = Cluster::new(3, 500);
    for node in c.nodes.values() {
        node.log.sticky_failures(true);
    }
    c.start_all();
    let leader = c.wait_settled(&[1, 2, 3]).await;
    let full = if leader == 1 { 2 } else { 1 };
    c.propose_all(leader, names("before", 20)).await;
    c.nodes[&full].log.fail_syncs(true);
    // The other two still make a quorum.
    let zxids = c.propose_all(leader, names("during", 20)).await;
    until("the full follower leaves its role", SETTLE, || {
        c.handle(full).status().role == PeerRole::Looking
    })
    .await;
    // It stays out while its disk is full (it cannot persist an epoch nor ack).
    tokio::time::sleep(TICK * 30).await;
    assert_eq!(c.handle(full).status().role, PeerRole::Looking);
    let others: Vec<u64> = [1, 2, 3].into_iter().filter(|i| *i != full).collect();
    assert_eq!(c.settled(&others), Some(leader));

    c.nodes[&full].log.fail_syncs(false);
    c.wait_settled(&[1, 2, 3]).await;
    c.wait_applied(&[1, 2, 3], zxids[19]).await;
    let more = c.propose_all(leader, names("after", 5)).await;
    c.wait_applied(&[1, 2, 3], more[4]).await;
    let expected = c.payloads(leader);
    assert_eq!(c.payloads(full), expected);
    for (id, node) in &c.nodes {
        assert_gap_free(*id, &node.log);
    }
    c.shutdown().await;
}

/// Issue 12: a leader whose disk fills up steps down; the others elect a new leader and go on;
/// the old leader rejoins as a follower once its disk recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_with_a_full_disk_steps_down_and_rejoins_once_it_recovers() {
    let mut c = Cluster::new(3, 500);
    for node in c.nodes.values() {
        node.log.sticky_failures(true);
    }
    c.start_all();
    let old = c.wait_settled(&[1, 2, 3]).await;
    c.propose_all(old, names("before", 10)).await;
    c.nodes[&old].log.fail_syncs(true);
    // Its next proposal cannot be logged there: it steps down.
    let _ = bounded(c.handle(old).propose(Bytes::from_static(b"lost?"))).await;
    let others: Vec<u64> = [1, 2, 3].into_iter().filter(|i| *i != old).collect();
    let new = c.wait_settled(&others).await;
    assert_ne!(new, old);
    let zxids = c.propose_all(new, names("new", 10)).await;
    assert_eq!(c.handle(old).status().role, PeerRole::Looking);

    c.nodes[&old].log.fail_syncs(false);
    assert_eq!(c.wait_settled(&[1, 2, 3]).await, new);
    c.wait_applied(&[1, 2, 3], zxids[9]).await;
    assert_eq!(c.payloads(old), c.payloads(new));
    for (id, node) in &c.nodes {
        assert_gap_free(*id, &node.log);
    }
    c.shutdown().await;
}

/// Issue 12: a server whose data directory lost durable transactions (repaired from what
/// verified, `resync-required` set) does not vote: with one other voter up of three there is no
/// leader; once the third is up, those two elect, the recovering one follows, syncs, and the
/// flag is cleared (it votes again from then on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovering_server_does_not_vote_until_it_has_synced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = ResyncFlag(dir.path().join("resync-required"));
    flag.set("test: the log lost synced records").expect("set");
    let mut c = Cluster::new(3, 500);
    c.nodes.get_mut(&1).expect("node 1").resync = Some(flag.clone());
    c.start(1);
    c.start(2);
    tokio::time::sleep(TICK * 50).await;
    for id in [1, 2] {
        let role = c.handle(id).status().role;
        assert_eq!(
            role,
            PeerRole::Looking,
            "peer {id}: no quorum without 1's vote"
        );
    }
    c.start(3);
    let leader = c.wait_settled(&[1, 2, 3]).await;
    assert_ne!(leader, 1, "a recovering server never leads");
    let z = c.propose_all(leader, names("x", 5)).await;
    c.wait_applied(&[1, 2, 3], z[4]).await;
    until("the flag is cleared", SETTLE, || !flag.is_set()).await;
    c.shutdown().await;
}

/// Issue 13: a standalone server is an ensemble of one. A single voter with no peers (no
/// port, `SoloTransport` + `NoPeers`) elects itself at once, goes through discovery and
/// synchronisation on its own durability notices, serves, and commits proposals through the
/// same log -> commit -> apply path; restarted on its storage it rebuilds its state and leads
/// again in the next epoch, its history intact and gap-free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ensemble_of_one_leads_at_once_and_commits_through_the_same_path() {
    use paddock_election::NoPeers;
    use paddock_quorum::transport::solo::SoloTransport;

    let log = Arc::new(MemTxnLog::new());
    let storage = PeerStorage {
        log: log.clone(),
        epochs: Arc::new(MemEpochStore::new()),
        snapshots: Arc::new(MemSnapshotStore::new()),
    };
    let me = ServerId(0);
    let config = PeerConfig {
        me,
        voters: vec![me],
        observers: Vec::new(),
        tick: TICK,
        zab: ZabConfig::default(),
        election: ElectionConfig {
            finalize_wait_ticks: 20,
            max_notification_interval_ticks: 20,
        },
        resync_flag: None,
        log_writer: paddock_quorum::peer::WriterMode::Thread,
    };
    let mut expected = Vec::new();
    for (run, epoch) in [(0u32, Epoch(1)), (1, Epoch(2))] {
        let state = Arc::new(Mutex::new(ListState::default()));
        let sm = Box::new(ListSm(state.clone(), Arc::default(), Arc::default()));
        let started = Instant::now();
        let h = spawn(
            config.clone(),
            storage.clone(),
            SoloTransport::new(me),
            NoPeers,
            sm,
        )
        .expect("spawn");
        until("an ensemble of one serves", SETTLE, || {
            let s = h.status();
            s.role == PeerRole::Leading && s.serving
        })
        .await;
        // No finalize wait, no peers to wait for: well under the 200 ms finalize wait.
        assert!(
            started.elapsed() < Duration::from_millis(150),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(h.status().epoch, epoch);
        assert_eq!(
            state.lock().unwrap().entries,
            expected,
            "rebuilt from storage"
        );
        let futures: Vec<_> = (0..50)
            .map(|i| h.propose(Bytes::from(format!("r{run}-{i}"))))
            .collect();
        for f in futures {
            let z = bounded(f).await.expect("committed");
            assert_eq!(z.epoch(), epoch);
        }
        expected = state.lock().unwrap().entries.clone();
        assert_eq!(expected.len(), 50 * (run as usize + 1));
        h.shutdown().await;
    }
    assert_gap_free(0, &log);
}

/// A learner whose snapshot is above the leader's history, on the real driver. Server 2 holds,
/// from a SNAP sync of an epoch that was never established, a snapshot at (2,2) whose (2,1) and
/// (2,2) nobody committed (and an old currentEpoch); server 3 holds (1,1) with a newer
/// currentEpoch, so it wins the election. A TRUNC to (1,1) cannot roll the snapshot back (the
/// driver would have to stop, as ZooKeeper's learner exits when it cannot truncate): 2 tells
/// the leader its snapshot's zxid in FOLLOWERINFO and gets a SNAP of 3's state instead, drops
/// the snapshot above it and serves exactly 3's history (found by the whole-server simulator,
/// 3 servers, seed 1000086; `tests/zk_sync_bugs.rs` has the interleaving that leads there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_with_a_snapshot_above_the_leaders_history_gets_a_snap_and_drops_it() {
    let z = |e: u32, c: u32| Zxid::new(Epoch(e), c);
    let entry = |e: u32, c: u32, p: &str| (z(e, c), Bytes::from(p.to_string()));
    let mut c = Cluster::new(3, 500);
    {
        let two = &c.nodes[&2];
        let old = [entry(1, 1, "a")];
        let mut sink = two.snapshots.create(z(1, 1)).unwrap();
        std::io::Write::write_all(&mut sink, &support::encode_entries(&old)).unwrap();
        sink.commit().unwrap();
        let state = [entry(1, 1, "a"), entry(2, 1, "x"), entry(2, 2, "y")];
        let mut sink = two.snapshots.create(z(2, 2)).unwrap();
        std::io::Write::write_all(&mut sink, &support::encode_entries(&state)).unwrap();
        sink.commit().unwrap();
        two.log.reset_after(z(2, 2)).unwrap();
        two.storage.epochs.set_accepted_epoch(Epoch(3)).unwrap();
        two.storage.epochs.set_current_epoch(Epoch(1)).unwrap();
        let three = &c.nodes[&3];
        three.log.append(&[entry(1, 1, "a")]).unwrap();
        three.log.sync().unwrap();
        three.storage.epochs.set_accepted_epoch(Epoch(2)).unwrap();
        three.storage.epochs.set_current_epoch(Epoch(2)).unwrap();
    }
    c.start(2);
    c.start(3);
    let leader = c.wait_settled(&[2, 3]).await;
    assert_eq!(leader, 3);
    assert_ne!(c.handle(2).status().role, PeerRole::Stopped);
    assert_eq!(c.payloads(2), ["a"], "2 holds exactly the leader's history");
    // No snapshot above the leader's state is left to restart from.
    let kept = c.nodes[&2].snapshots.list().unwrap();
    assert!(
        kept.iter().all(|s| *s <= z(1, 1)),
        "snapshots above (1,1) left: {kept:?}"
    );
    let more = c.propose_all(3, names("b", 3)).await;
    c.wait_applied(&[2, 3], more[2]).await;
    c.start(1);
    c.wait_applied(&[1, 2, 3], more[2]).await;
    assert_eq!(c.payloads(2), c.payloads(3));
    assert_eq!(c.payloads(1), c.payloads(3));
    assert_eq!(c.payloads(3), ["a", "b-0", "b-1", "b-2"]);
    c.shutdown().await;
}

/// A peer restarted on a failing disk with its log ending below its newest snapshot (a SNAP
/// install whose log reset failed, then a crash), on the real driver. It cannot make the log
/// continue after the snapshot, so it starts out of service (and says why) instead of failing
/// to start or appending after the hole; the other two elect and serve; once the disk works, it
/// aligns the log, rejoins and holds exactly the leader's history, with no gap in its log.
/// (The first version of the alignment made this fatal: found by the whole-server simulator,
/// 3 servers, a seed of 1602000..1604000.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_cannot_align_its_log_at_start_sits_out_until_its_disk_works() {
    let z = |e: u32, c: u32| Zxid::new(Epoch(e), c);
    let entry = |c: u32| (z(1, c), Bytes::from(format!("a-{c}")));
    let history: Vec<(Zxid, Bytes)> = (1..=5).map(entry).collect();
    let mut c = Cluster::new(3, 500);
    for (id, node) in &c.nodes {
        if *id == 2 {
            // The snapshot holds (1,1)..(1,5); the log still ends at (1,3).
            node.log.append(&history[..3]).unwrap();
            node.log.sync().unwrap();
            let mut sink = node.snapshots.create(z(1, 5)).unwrap();
            std::io::Write::write_all(&mut sink, &support::encode_entries(&history)).unwrap();
            sink.commit().unwrap();
            node.log.sticky_failures(true);
            node.log.fail_syncs(true);
        } else {
            node.log.append(&history).unwrap();
            node.log.sync().unwrap();
        }
        node.storage.epochs.set_accepted_epoch(Epoch(1)).unwrap();
        node.storage.epochs.set_current_epoch(Epoch(1)).unwrap();
    }
    c.start_all();
    until("2 reports why it sits out", SETTLE, || {
        c.handle(2).status().storage_failure.is_some()
    })
    .await;
    let why = c.handle(2).status().storage_failure.unwrap_or_default();
    assert!(
        why.contains("below the newest snapshot"),
        "storage_failure: {why}"
    );
    let leader = c.wait_settled(&[1, 3]).await;
    let during = c.propose_all(leader, names("during", 5)).await;
    c.wait_applied(&[1, 3], during[4]).await;
    let status = c.handle(2).status();
    assert_eq!(status.role, PeerRole::Looking, "2 sits out");
    assert!(!status.serving);
    assert_eq!(
        c.nodes[&2].log.last_logged_zxid(),
        z(1, 3),
        "nothing appended after the hole"
    );

    c.nodes[&2].log.fail_syncs(false);
    assert_eq!(c.wait_settled(&[1, 2, 3]).await, leader);
    let after = c.propose_all(leader, names("after", 3)).await;
    c.wait_applied(&[1, 2, 3], after[2]).await;
    assert_eq!(c.payloads(2), c.payloads(leader));
    assert!(c.handle(2).status().storage_failure.is_none());
    assert_gap_free(2, &c.nodes[&2].log);
    assert!(
        c.nodes[&2].log.first_zxid().is_none_or(|f| f > z(1, 3)),
        "the records behind the snapshot are gone"
    );
    c.shutdown().await;
}

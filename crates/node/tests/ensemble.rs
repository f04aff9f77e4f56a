//! Ensemble tests with real `paddock` binaries on 127.0.0.1: three servers started from one
//! zoo.cfg with `server.1..3` lines, as an operator would run them (ZooKeeper's replicated mode:
//! Fast Leader Election, then ZAB discovery / synchronization / broadcast).
//!
//! ```text
//!   zoo.cfg (server.N=127.0.0.1:quorumPort:electionPort, tickTime=100)
//!     ├─ paddock --config zoo.cfg --myid 1 --data-dir T/1 --grpc-port G1
//!     ├─ paddock --config zoo.cfg --myid 2 --data-dir T/2 --grpc-port G2
//!     └─ paddock --config zoo.cfg --myid 3 --data-dir T/3 --grpc-port G3
//!   roles read with Admin/GetStatus; data through Paddock/Session on each server
//! ```
//!
//! What is checked, by rule:
//! - one leader per epoch, the others following it (ZAB "primary uniqueness");
//! - a write through any server is a zxid-stamped txn applied identically everywhere: after a
//!   `sync`, every server returns the same Stat for it (agreement, total order);
//! - a write acknowledged to a client survives the loss of the leader, and a restarted server
//!   catches up with every one of them (integrity of committed txns across a leader change);
//! - a server without a quorum does not serve: sessions are refused with UNAVAILABLE /
//!   ConnectionLoss at once, not left hanging.
//!
//! Every wait is bounded, and each test as a whole is bounded by [`TEST_LIMIT`]; processes are
//! SIGKILLed and temp dirs removed when a test ends, passing or not.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock_proto::v1 as pb;
use pb::CreateMode::{Persistent, PersistentSequential};
use support::*;

/// The longest a whole test may run.
const TEST_LIMIT: Duration = Duration::from_secs(60);
/// The longest an election (first one, or after the leader died) may take. With tickTime=100
/// and initLimit=10, discovery + synchronization alone may take up to 1 s per attempt.
const ELECTION_WAIT: Duration = Duration::from_secs(20);
/// The limit on one connect / handshake / status call to one server.
const CALL_LIMIT: Duration = Duration::from_secs(2);
/// Ensemble size.
const SERVERS: usize = 3;

/// The zoo.cfg keys (besides `server.N`) every test ensemble runs with. maxSessionTimeout is
/// raised so the test sessions (20 s) outlive a leader change.
const CFG: &[&str] = &[
    "tickTime=100",
    "initLimit=10",
    "syncLimit=5",
    "maxSessionTimeout=30000",
    "4lw.commands.whitelist=*",
];

/// Three-server ensemble configuration in a temp dir; members started on demand.
struct Ensemble {
    /// `peers[i]` is server.(i+1), once started. Declared before `tmp`: the processes die before
    /// their directories are removed.
    peers: Vec<Option<Peer>>,
    ports: Vec<PeerPorts>,
    config: PathBuf,
    tmp: tempfile::TempDir,
}

/// Who leads whom, as every live member reported it at one moment.
#[derive(Debug, Clone)]
struct Roles {
    leader: u64,
    followers: Vec<u64>,
    /// The common epoch, when the servers report one.
    epoch: Option<u64>,
}

impl Ensemble {
    /// Writes zoo.cfg for [`SERVERS`] members on free ports; starts none.
    fn new() -> Ensemble {
        Ensemble::with_cfg(&[])
    }

    /// As [`Ensemble::new`], with `extra` zoo.cfg lines after [`CFG`].
    fn with_cfg(extra: &[&str]) -> Ensemble {
        let tmp = tempfile::tempdir().expect("temp dir");
        let ports = peer_ports(SERVERS);
        let config = tmp.path().join("zoo.cfg");
        let lines: Vec<&str> = CFG.iter().chain(extra).copied().collect();
        std::fs::write(&config, ensemble_cfg(&ports, &lines)).expect("write zoo.cfg");
        Ensemble {
            peers: (0..SERVERS).map(|_| None).collect(),
            ports,
            config,
            tmp,
        }
    }

    /// Starts server.`id` (again, after a kill: same data dir and ports).
    fn start(&mut self, id: u64) {
        let i = index(id);
        if let Some(p) = &mut self.peers[i] {
            assert!(p.exited().is_some(), "server.{id} is already running");
        }
        let data = self.tmp.path().join(id.to_string());
        self.peers[i] = Some(Peer::spawn(id, &self.config, &data, self.ports[i].grpc));
    }

    fn start_all(&mut self) {
        for id in ids() {
            self.start(id);
        }
    }

    fn peer(&mut self, id: u64) -> &mut Peer {
        self.peers[index(id)]
            .as_mut()
            .unwrap_or_else(|| panic!("server.{id} was never started"))
    }

    fn addr(&self, id: u64) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[index(id)].grpc))
    }

    /// The last lines of each started member's log, for failure messages.
    fn log_tails(&self) -> String {
        log_tails(self.peers.iter().flatten(), 25)
    }

    /// Waits (bounded by [`ELECTION_WAIT`]) until the members `alive` all serve, exactly one as
    /// leader and the others as its followers, agreeing on the leader and the epoch. Panics with
    /// the last statuses and the logs otherwise, or at once if a member exits by itself.
    async fn wait_for_roles(&mut self, alive: &[u64]) -> Roles {
        let deadline = Instant::now() + ELECTION_WAIT;
        let mut last = Vec::new();
        loop {
            for &id in alive {
                let peer = self.peer(id);
                if let Some(status) = peer.exited() {
                    std::thread::sleep(Duration::from_millis(50));
                    panic!(
                        "server.{id} exited by itself with {status} while waiting for an \
                         election\n{}",
                        self.log_tails()
                    );
                }
            }
            last.clear();
            for &id in alive {
                last.push((id, try_status(self.addr(id), CALL_LIMIT).await));
            }
            if let Some(roles) = settled(&last) {
                return roles;
            }
            if Instant::now() > deadline {
                panic!(
                    "no settled leader among {alive:?} within {ELECTION_WAIT:?}; last statuses:\n\
                     {}\n{}",
                    describe(&last),
                    self.log_tails()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn ids() -> impl Iterator<Item = u64> {
    1..=SERVERS as u64
}

fn index(id: u64) -> usize {
    assert!((1..=SERVERS as u64).contains(&id), "no server.{id}");
    (id - 1) as usize
}

/// The roles, if `statuses` show exactly one serving leader and every other member serving as
/// its follower, all in one epoch.
fn settled(statuses: &[(u64, Result<pb::ServerStatus, String>)]) -> Option<Roles> {
    let mut leader = None;
    let mut followers = Vec::new();
    let mut epochs = BTreeSet::new();
    for (id, st) in statuses {
        let st = st.as_ref().ok()?;
        assert_eq!(
            st.server_id, *id,
            "GetStatus on server.{id} names its own id"
        );
        if !st.serving {
            return None;
        }
        match st.mode.as_str() {
            "leader" => {
                if leader.replace(*id).is_some() {
                    return None;
                }
            }
            "follower" => followers.push(*id),
            _ => return None,
        }
        if let Some(e) = st.epoch {
            epochs.insert(e);
        }
    }
    let leader = leader?;
    // Every follower that names its leader names this one.
    for (id, st) in statuses {
        let st = st.as_ref().ok()?;
        if *id != leader && st.leader_id.is_some_and(|l| l != leader) {
            return None;
        }
    }
    if epochs.len() > 1 {
        return None;
    }
    Some(Roles {
        leader,
        followers,
        epoch: epochs.into_iter().next(),
    })
}

fn describe(statuses: &[(u64, Result<pb::ServerStatus, String>)]) -> String {
    statuses
        .iter()
        .map(|(id, st)| match st {
            Ok(s) => format!(
                "  server.{id}: mode={:?} serving={} epoch={:?} leader={:?} last_zxid={:#x}",
                s.mode, s.serving, s.epoch, s.leader_id, s.last_zxid
            ),
            Err(e) => format!("  server.{id}: {e}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A session on `addr` (panics, naming the server, if it is refused).
async fn session_on(addr: SocketAddr, who: &str) -> Session {
    try_open(addr, LONG_TIMEOUT_MS, CALL_LIMIT)
        .await
        .unwrap_or_else(|e| panic!("{who} accepts a session: {e:?}"))
}

/// `sync(path)` then the sorted children of `path`: what this server holds once it has caught up
/// with the leader.
async fn synced_children(s: &mut Session, path: &str) -> Vec<String> {
    sync_result(s.call(op::sync(path)).await);
    s.children(path).await.0
}

/// What grpc.health.v1 reports for the server as a whole ("Serving", "NotServing", ...).
async fn health(addr: SocketAddr) -> String {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let channel = try_channel(addr, CALL_LIMIT).await.expect("a channel");
    let resp = tokio::time::timeout(
        CALL_LIMIT,
        HealthClient::new(channel).check(HealthCheckRequest {
            service: String::new(),
        }),
    )
    .await
    .expect("health answers in time")
    .expect("health answers");
    format!("{:?}", resp.into_inner().status())
}

/// The zxid's epoch (high 32 bits).
fn zxid_epoch(zxid: i64) -> u64 {
    (zxid as u64) >> 32
}

/// Bounds a whole test: on expiry the future (and with it every process) is dropped.
async fn bounded<F: std::future::Future<Output = ()>>(name: &str, f: F) {
    if tokio::time::timeout(TEST_LIMIT, f).await.is_err() {
        panic!("{name} did not finish within {TEST_LIMIT:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// a. election and replication
// ---------------------------------------------------------------------------------------------

/// Three servers elect exactly one leader; the other two follow it in the same epoch. A znode
/// created through each server (two of them through followers, which forward to the leader) is
/// on every server after a `sync`, with the same Stat everywhere — the txn, zxid and time stamp
/// included, are the leader's, applied identically by all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_one_leader_and_replicate() {
    bounded("three_nodes_elect_one_leader_and_replicate", async {
        let mut e = Ensemble::new();
        e.start_all();
        let roles = e.wait_for_roles(&[1, 2, 3]).await;
        eprintln!("elected: {roles:?}");
        for id in ids() {
            assert_eq!(health(e.addr(id)).await, "Serving", "server.{id} health");
        }
        assert_eq!(roles.followers.len(), 2);

        let mut sessions = Vec::new();
        for id in ids() {
            sessions.push((id, session_on(e.addr(id), &format!("server.{id}")).await));
        }

        // One create through each server.
        let mut created = Vec::new();
        for (id, s) in &mut sessions {
            let path = format!("/from{id}");
            let c = s
                .create_ok(
                    &path,
                    format!("written via server.{id}").as_bytes(),
                    Persistent,
                )
                .await;
            let stat = c.stat.expect("a created node has a Stat");
            if let Some(epoch) = roles.epoch {
                assert_eq!(
                    zxid_epoch(stat.czxid),
                    epoch,
                    "{path}: a txn is stamped with the leader's epoch"
                );
            }
            created.push((path, *id, stat));
        }
        let czxids: BTreeSet<i64> = created.iter().map(|(_, _, st)| st.czxid).collect();
        assert_eq!(czxids.len(), 3, "every write has its own zxid: {created:?}");

        // Everything everywhere, identical.
        for (id, s) in &mut sessions {
            sync_result(s.call(op::sync("/")).await);
            for (path, via, stat) in &created {
                let (data, seen) = s.data(path).await;
                assert_eq!(
                    &data[..],
                    format!("written via server.{via}").as_bytes(),
                    "server.{id}: data of {path}"
                );
                assert_eq!(
                    &seen, stat,
                    "server.{id}: the Stat of {path} differs from the one its create returned"
                );
            }
        }
        // The roles did not change on the way.
        let after = e.wait_for_roles(&[1, 2, 3]).await;
        assert_eq!(
            after.leader, roles.leader,
            "no leader change without a failure"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// b. leader failure
// ---------------------------------------------------------------------------------------------

/// Writer sessions creating sequential znodes during the leader failover.
const WRITERS: usize = 2;
/// Acknowledged writes to wait for before the kill.
const ACKS_BEFORE_KILL: usize = 20;

/// The acknowledged creates of one writer (actual paths, with their sequence suffix).
#[derive(Debug, Default)]
struct WriterLog {
    acked: Vec<String>,
    /// Sessions lost or refused along the way (reconnections).
    reconnects: usize,
}

/// Creates `/load/w{w}-NNNNNNNNNN` one at a time until `stop`, through `addrs[0]` first and on
/// any failure through the next server of `addrs` on a new session. Only writes answered OK are
/// recorded: a write whose answer was lost may or may not have been applied.
async fn writer(
    w: usize,
    addrs: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    acks: Arc<AtomicUsize>,
) -> WriterLog {
    let mut log = WriterLog::default();
    let mut cursor = 0;
    let mut session: Option<Session> = None;
    let prefix = format!("/load/w{w}-");
    while !stop.load(Ordering::Relaxed) {
        let s = match &mut session {
            Some(s) => s,
            None => {
                match try_open(addrs[cursor % addrs.len()], LONG_TIMEOUT_MS, CALL_LIMIT).await {
                    Ok(s) => session.insert(s),
                    Err(_) => {
                        cursor += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                }
            }
        };
        match s
            .try_call(op::create(&prefix, b"load", PersistentSequential))
            .await
        {
            Ok(r) if r.error == code::OK => {
                log.acked.push(created(r).path);
                acks.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(r) => {
                // E.g. ConnectionLoss while the server has no leader: try elsewhere.
                assert!(
                    r.error != code::NODE_EXISTS && r.error != code::NO_NODE,
                    "writer {w}: a sequential create under /load failed with {} ({})",
                    r.error,
                    r.error_message
                );
                session = None;
                log.reconnects += 1;
                cursor += 1;
            }
            Err(_) => {
                session = None;
                log.reconnects += 1;
                cursor += 1;
            }
        }
    }
    log
}

/// SIGKILL the leader while two sessions write through the followers: the survivors elect a new
/// leader (a quorum of 2 of 3 remains) in a later epoch, writes are acknowledged again, and no
/// acknowledged write is lost — both survivors hold every one. The killed server, restarted on
/// its data dir, rejoins as a follower of the new leader and catches up with all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_elects_a_new_one_and_loses_nothing() {
    bounded(
        "killing_the_leader_elects_a_new_one_and_loses_nothing",
        async {
            let mut e = Ensemble::new();
            e.start_all();
            let before = e.wait_for_roles(&[1, 2, 3]).await;
            eprintln!("elected: {before:?}");
            let old_leader = before.leader;
            let survivors = before.followers.clone();
            assert_eq!(survivors.len(), 2);

            let mut setup = session_on(e.addr(survivors[0]), "a follower").await;
            setup.mkdir("/load").await;
            drop(setup);

            // Writers start on a follower each, then fall back to the other servers.
            let stop = Arc::new(AtomicBool::new(false));
            let acks = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for w in 0..WRITERS {
                let first = survivors[w % survivors.len()];
                let other = survivors[(w + 1) % survivors.len()];
                let addrs = vec![e.addr(first), e.addr(other), e.addr(old_leader)];
                tasks.push(tokio::spawn(writer(
                    w,
                    addrs,
                    Arc::clone(&stop),
                    Arc::clone(&acks),
                )));
            }
            within("writes acknowledged before the kill", async {
                while acks.load(Ordering::Relaxed) < ACKS_BEFORE_KILL {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;

            // Kill the leader mid-load.
            let killed_at = Instant::now();
            e.peer(old_leader).kill();
            let acked_at_kill = acks.load(Ordering::Relaxed);

            // Failover: kill -> the first write acknowledged through a survivor.
            let mut attempt = 0;
            let via = loop {
                assert!(
                    killed_at.elapsed() < ELECTION_WAIT,
                    "no write acknowledged within {ELECTION_WAIT:?} of killing leader server.\
                     {old_leader}\n{}",
                    e.log_tails()
                );
                let id = survivors[attempt % survivors.len()];
                attempt += 1;
                if let Ok(mut s) = try_open(e.addr(id), LONG_TIMEOUT_MS, CALL_LIMIT).await {
                    let probe = format!("/failover-probe-{attempt}");
                    if let Ok(r) = s.try_call(op::create(&probe, b"", Persistent)).await {
                        if r.error == code::OK {
                            break id;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let failover = killed_at.elapsed();
            eprintln!(
                "failover: {} ms from SIGKILL of leader server.{old_leader} to the first \
                 acknowledged write (through server.{via}, attempt {attempt})",
                failover.as_millis()
            );

            let after = e.wait_for_roles(&survivors).await;
            eprintln!("re-elected: {after:?}");
            assert!(survivors.contains(&after.leader));
            assert_ne!(after.leader, old_leader);
            if let (Some(old), Some(new)) = (before.epoch, after.epoch) {
                assert!(
                    new > old,
                    "a new leader opens a later epoch ({old} -> {new})"
                );
            }

            // More load under the new leader, then stop the writers.
            within("writes acknowledged after the failover", async {
                while acks.load(Ordering::Relaxed) < acked_at_kill + 10 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
            stop.store(true, Ordering::Relaxed);
            let mut acked = BTreeSet::new();
            for t in tasks {
                let log = within("writer stops", t).await.expect("writer task");
                eprintln!(
                    "writer: {} acknowledged, {} reconnects",
                    log.acked.len(),
                    log.reconnects
                );
                acked.extend(
                    log.acked
                        .into_iter()
                        .map(|p| p.trim_start_matches("/load/").to_string()),
                );
            }

            // Every acknowledged write on both survivors; the survivors agree.
            let mut held = Vec::new();
            for &id in &survivors {
                let mut s = session_on(e.addr(id), &format!("survivor server.{id}")).await;
                let names: BTreeSet<String> =
                    synced_children(&mut s, "/load").await.into_iter().collect();
                let lost: Vec<&String> = acked.difference(&names).collect();
                assert!(
                    lost.is_empty(),
                    "server.{id} lacks {} acknowledged writes: {lost:?}",
                    lost.len()
                );
                held.push(names);
            }
            assert_eq!(
                held[0], held[1],
                "the survivors hold the same /load after sync"
            );

            // The killed leader comes back on its data dir as a follower and catches up.
            e.start(old_leader);
            let rejoined = e.wait_for_roles(&[1, 2, 3]).await;
            eprintln!("after restart: {rejoined:?}");
            assert_eq!(
                rejoined.leader, after.leader,
                "a restarted server joins the established leader"
            );
            assert!(rejoined.followers.contains(&old_leader));
            let mut s = session_on(e.addr(old_leader), "the restarted server").await;
            let names: BTreeSet<String> =
                synced_children(&mut s, "/load").await.into_iter().collect();
            let lost: Vec<&String> = acked.difference(&names).collect();
            assert!(
                lost.is_empty(),
                "the restarted server.{old_leader} lacks {} acknowledged writes: {lost:?}",
                lost.len()
            );
            assert_eq!(
                names, held[0],
                "the restarted server agrees with the others"
            );
            eprintln!(
                "leader failover: {} acknowledged writes ({acked_at_kill} before the kill), all \
                 present on every server; failover {} ms",
                acked.len(),
                failover.as_millis()
            );
        },
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// c. no quorum, no service
// ---------------------------------------------------------------------------------------------

/// One server of three, alone, has no quorum: it keeps looking for a leader, reports that it is
/// not serving, and refuses a new session at once with UNAVAILABLE / ConnectionLoss (proto
/// "Errors": the client should try another server) rather than leaving it hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ensemble_server_that_is_not_serving_refuses_sessions() {
    bounded(
        "an_ensemble_server_that_is_not_serving_refuses_sessions",
        async {
            let mut e = Ensemble::new();
            e.start(1);
            let addr = e.addr(1);

            // Its gRPC API comes up (GetStatus answers) even though it cannot serve.
            let deadline = Instant::now() + WAIT;
            let status = loop {
                e.peer(1).assert_running();
                match try_status(addr, CALL_LIMIT).await {
                    Ok(st) => break st,
                    Err(err) => assert!(
                        Instant::now() < deadline,
                        "GetStatus did not answer within {WAIT:?}: {err}\n{}",
                        e.log_tails()
                    ),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            // Give it several election rounds (tickTime=100) to be sure it stays without a quorum.
            tokio::time::sleep(Duration::from_millis(1_000)).await;
            e.peer(1).assert_running();
            let status = try_status(addr, CALL_LIMIT)
                .await
                .unwrap_or_else(|err| panic!("GetStatus answers (first answer {status:?}): {err}"));
            eprintln!("alone: mode={:?} serving={}", status.mode, status.serving);
            assert!(!status.serving, "one of three has no quorum: {status:?}");
            assert_eq!(
                status.mode, "looking",
                "a server without a quorum is looking for a leader"
            );
            assert_eq!(status.server_id, 1);
            assert_eq!(
                health(addr).await,
                "NotServing",
                "grpc.health.v1 says so too"
            );

            // A session attempt is refused promptly.
            let started = Instant::now();
            let refusal = try_open(addr, LONG_TIMEOUT_MS, Duration::from_secs(5)).await;
            let took = started.elapsed();
            match refusal {
                Ok(s) => panic!("a server without a quorum opened session {:#x}", s.id),
                Err(OpenError::Refused(status)) => {
                    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                    assert_eq!(
                        status_zk_code(&status),
                        Some(code::CONNECTION_LOSS),
                        "ConnectionLoss (-4) in paddock-error-code: {status:?}"
                    );
                }
                Err(other) => panic!(
                    "expected UNAVAILABLE / ConnectionLoss, got {other:?} after {took:?}\n{}",
                    e.log_tails()
                ),
            }
            assert!(
                took < Duration::from_secs(2),
                "refused at once, not after {took:?}"
            );

            // And the four-letter words say so, as ZooKeeper's do.
            let channel = try_channel(addr, CALL_LIMIT).await.expect("connect");
            let srvr = pb::admin_client::AdminClient::new(channel)
                .run_command(pb::CommandRequest {
                    command: "srvr".into(),
                })
                .await
                .expect("srvr runs (whitelist *)")
                .into_inner()
                .output;
            assert!(
                srvr.contains("not currently serving requests"),
                "srvr while not serving: {srvr:?}"
            );
        },
    )
    .await;
}

/// A server whose `server.N` lines differ from its peers' says so in its log (both lists), and
/// the peers still talk (a rolling config fix must not cut the ensemble apart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_with_different_server_lists_log_the_disagreement() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let ports = peer_ports(SERVERS);
    let cfg_a = ensemble_cfg(&ports, CFG);
    // Server 2 believes server 3 is an observer.
    let cfg_b = cfg_a.replace(
        &format!(
            "server.3=127.0.0.1:{}:{}",
            ports[2].quorum, ports[2].election
        ),
        &format!(
            "server.3=127.0.0.1:{}:{}:observer",
            ports[2].quorum, ports[2].election
        ),
    );
    assert_ne!(cfg_a, cfg_b);
    let (a, b) = (tmp.path().join("a.cfg"), tmp.path().join("b.cfg"));
    std::fs::write(&a, cfg_a).expect("write");
    std::fs::write(&b, cfg_b).expect("write");
    let mut one = Peer::spawn(1, &a, &tmp.path().join("1"), ports[0].grpc);
    let mut two = Peer::spawn(2, &b, &tmp.path().join("2"), ports[1].grpc);
    let start = Instant::now();
    while !(one.log().contains("another server list") && two.log().contains("another server list"))
    {
        one.assert_running();
        two.assert_running();
        assert!(
            start.elapsed() < ELECTION_WAIT,
            "no disagreement logged; server 1:\n{}\nserver 2:\n{}",
            one.log(),
            two.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(one.log().contains(":observer"), "the log shows both lists");
}

fn snapshot_files(data: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data.join("snapshots")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snapshot.") && !n.contains(".tmp"))
        .collect()
}

/// Ensemble servers snapshot their tree every ~snapCount transactions and purge the log behind
/// the retained snapshots; a follower that was down meanwhile catches up (from a snapshot when
/// the leader's log no longer reaches back), and a leader restarted from its snapshot + log
/// rejoins with everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_purge_and_catch_up_in_an_ensemble() {
    bounded("snapshots_purge_and_catch_up_in_an_ensemble", async {
        const N: usize = 600;
        let mut e = Ensemble::with_cfg(&["snapCount=50", "autopurge.snapRetainCount=3"]);
        e.start_all();
        let roles = e.wait_for_roles(&[1, 2, 3]).await;
        let behind = roles.followers[0];
        e.peer(behind).kill();
        let mut s = session_on(e.addr(roles.leader), "the leader").await;
        s.mkdir("/snap").await;
        let paths: Vec<String> = (0..N).map(|i| format!("/snap/n{i:04}")).collect();
        for chunk in paths.chunks(100) {
            let mut xids = Vec::new();
            for path in chunk {
                xids.push(s.send(op::create(path, path.as_bytes(), Persistent)).await);
            }
            for xid in xids {
                ok(&s.response(xid).await);
            }
        }
        let leader_dir = e.tmp.path().join(roles.leader.to_string());
        let deadline = Instant::now() + ELECTION_WAIT;
        while snapshot_files(&leader_dir).len() < 2 {
            assert!(Instant::now() < deadline, "the leader wrote no snapshots");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            snapshot_files(&leader_dir).len() <= 4,
            "old snapshots are purged: {:?}",
            snapshot_files(&leader_dir)
        );
        // The lagging follower comes back and gets everything.
        e.start(behind);
        e.wait_for_roles(&[1, 2, 3]).await;
        let mut b = session_on(e.addr(behind), "the restarted follower").await;
        assert_eq!(synced_children(&mut b, "/snap").await.len(), N);
        // The leader restarts from its own snapshot + log and rejoins with everything.
        e.peer(roles.leader).kill();
        let alive: Vec<u64> = ids().filter(|id| *id != roles.leader).collect();
        e.wait_for_roles(&alive).await;
        e.start(roles.leader);
        e.wait_for_roles(&[1, 2, 3]).await;
        let mut l = session_on(e.addr(roles.leader), "the restarted old leader").await;
        assert_eq!(synced_children(&mut l, "/snap").await.len(), N);
    })
    .await;
}

/// A data directory written by one ensemble is refused by a server configured with another server
/// list (a reused volume must not bring foreign history into an ensemble); the message names the
/// file to delete when the change is intended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_of_another_ensemble_is_refused() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let ports = peer_ports(SERVERS);
    let cfg_a = ensemble_cfg(&ports, CFG);
    let other = peer_ports(SERVERS);
    let cfg_b = ensemble_cfg(&other, CFG);
    let (a, b) = (tmp.path().join("a.cfg"), tmp.path().join("b.cfg"));
    std::fs::write(&a, cfg_a).expect("write");
    std::fs::write(&b, cfg_b).expect("write");
    let data = tmp.path().join("1");
    let mut first = Peer::spawn(1, &a, &data, ports[0].grpc);
    let start = Instant::now();
    while !data.join("ensemble").exists() {
        first.assert_running();
        assert!(start.elapsed() < ELECTION_WAIT, "no ensemble file written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    let mut second = Peer::spawn(1, &b, &data, other[0].grpc);
    let start = Instant::now();
    let status = loop {
        if let Some(st) = second.exited() {
            break st;
        }
        assert!(
            start.elapsed() < ELECTION_WAIT,
            "a server on another ensemble's data dir kept running:\n{}",
            second.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!status.success());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let log = second.log();
    assert!(log.contains("holds the data of another ensemble"), "{log}");
    assert!(log.contains("ensemble"), "{log}");
    // The same server with its own list starts again on it.
    let mut again = Peer::spawn(1, &a, &data, ports[0].grpc);
    tokio::time::sleep(Duration::from_millis(300)).await;
    again.assert_running();
}

// ---------------------------------------------------------------------------------------------
// e. damaged data directories (issue 12)
// ---------------------------------------------------------------------------------------------

/// How a follower's data directory is damaged while it is down.
#[derive(Clone, Copy, Debug)]
enum Damage {
    /// `snapshots/` removed, with the log already purged behind them: the directory alone can
    /// rebuild nothing.
    SnapshotsRemoved,
    /// One byte flipped in the middle of what sled wrote in `txnlog/db`.
    LogByteFlipped,
}

/// A follower whose data directory lost durable transactions repairs itself from what verified,
/// does not vote until synced (dataDir/resync-required), and ends up with the leader's tree —
/// it never serves with less. Before issue 12 such a follower rejoined reporting the leader's
/// zxid while holding 4 nodes of 600, and stayed diverged.
async fn a_damaged_follower_ends_up_with_the_leaders_tree(damage: Damage) {
    const N: usize = 600;
    let mut e = Ensemble::with_cfg(&["snapCount=50", "autopurge.snapRetainCount=3"]);
    e.start_all();
    let roles = e.wait_for_roles(&[1, 2, 3]).await;
    let victim = roles.followers[0];
    let mut s = session_on(e.addr(roles.leader), "the leader").await;
    s.mkdir("/d").await;
    let paths: Vec<String> = (0..N).map(|i| format!("/d/n{i:04}")).collect();
    for chunk in paths.chunks(100) {
        let mut xids = Vec::new();
        for path in chunk {
            xids.push(s.send(op::create(path, b"v", Persistent)).await);
        }
        for xid in xids {
            ok(&s.response(xid).await);
        }
    }
    let dir = e.tmp.path().join(victim.to_string());
    let deadline = Instant::now() + ELECTION_WAIT;
    while snapshot_files(&dir).len() < 2 {
        assert!(Instant::now() < deadline, "the follower wrote no snapshots");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut v = session_on(e.addr(victim), "the follower").await;
    assert_eq!(synced_children(&mut v, "/d").await.len(), N);
    drop(v);
    e.peer(victim).kill();
    match damage {
        Damage::SnapshotsRemoved => {
            std::fs::remove_dir_all(dir.join("snapshots")).expect("rm snapshots/")
        }
        Damage::LogByteFlipped => {
            let db = dir.join("txnlog").join("db");
            let mut bytes = std::fs::read(&db).expect("read db");
            let written = bytes.iter().rposition(|b| *b != 0).unwrap_or(0);
            bytes[written / 2] ^= 0xff;
            std::fs::write(&db, bytes).expect("write db");
        }
    }
    // Writes go on meanwhile.
    ok(&s.create("/d/while-down", b"v", Persistent).await);

    e.start(victim);
    let flag = dir.join("resync-required");
    e.wait_for_roles(&[1, 2, 3]).await;
    let mut v = session_on(e.addr(victim), "the repaired follower").await;
    let children = synced_children(&mut v, "/d").await;
    assert_eq!(children.len(), N + 1, "{damage:?}\n{}", e.log_tails());
    ok(&s.create("/d/after", b"v", Persistent).await);
    assert_eq!(synced_children(&mut v, "/d").await.len(), N + 2);
    assert!(
        !flag.exists(),
        "synced with the leader: the flag is cleared"
    );
    let log = e.peer(victim).log();
    if matches!(damage, Damage::SnapshotsRemoved) {
        assert!(log.contains("is damaged"), "{log}");
    }
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_without_its_snapshots_rebuilds_from_the_leader() {
    bounded(
        "a_follower_without_its_snapshots_rebuilds_from_the_leader",
        a_damaged_follower_ends_up_with_the_leaders_tree(Damage::SnapshotsRemoved),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_with_a_damaged_log_rebuilds_from_the_leader() {
    bounded(
        "a_follower_with_a_damaged_log_rebuilds_from_the_leader",
        a_damaged_follower_ends_up_with_the_leaders_tree(Damage::LogByteFlipped),
    )
    .await;
}

/// ACLs set through a follower hold on every server: on the leader at once, on a follower that
/// was down and catches up (with snapshots purging the leader's log, by SNAP), and on the old
/// leader after it restarts from its own data. Authenticated sessions keep their ids everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_set_through_a_follower_hold_on_every_server_and_after_a_snap() {
    bounded(
        "acls_set_through_a_follower_hold_on_every_server_and_after_a_snap",
        async {
            const ALL: i32 = 31;
            let mut e = Ensemble::with_cfg(&["snapCount=50", "autopurge.snapRetainCount=3"]);
            e.start_all();
            let roles = e.wait_for_roles(&[1, 2, 3]).await;
            let (via, behind) = (roles.followers[0], roles.followers[1]);
            e.peer(behind).kill();
            let mut owner = session_on(e.addr(via), "a follower").await;
            ok(&owner.call(op::add_auth("digest", "alice:secret")).await);
            let mine = vec![op::acl(ALL, "auth", "")];
            ok(&owner
                .call(op::create_acl("/locked", b"x", Persistent, mine.clone()))
                .await);
            for i in 0..150 {
                let path = format!("/locked-{i:03}");
                ok(&owner
                    .call(op::create_acl(&path, b"", Persistent, mine.clone()))
                    .await);
            }
            let check = |who: &'static str, addr: SocketAddr| async move {
                let mut stranger = session_on(addr, who).await;
                ok(&stranger.call(op::sync("/")).await);
                for path in ["/locked", "/locked-000", "/locked-149"] {
                    let r = stranger.call(op::get_data(path, false)).await;
                    expect_err(&r, code::NO_AUTH);
                    let r = stranger.call(op::set_data(path, b"no", -1)).await;
                    expect_err(&r, code::NO_AUTH);
                }
                let mut friend = session_on(addr, who).await;
                ok(&friend.call(op::add_auth("digest", "alice:secret")).await);
                ok(&friend.call(op::sync("/")).await);
                ok(&friend.call(op::get_data("/locked-149", false)).await);
            };
            check("the leader", e.addr(roles.leader)).await;
            // The follower that missed everything comes back (the leader's log was purged behind
            // its snapshots, so it gets a SNAP) and enforces the same ACLs.
            e.start(behind);
            e.wait_for_roles(&[1, 2, 3]).await;
            check("the restarted follower", e.addr(behind)).await;
            // The owner's session moves to that follower and is still alice there.
            let mut moved = Session::connect(e.addr(behind), owner.resume_request())
                .await
                .expect("the session resumes on another server");
            ok(&moved
                .call(op::set_data("/locked", b"alice again", -1))
                .await);
            // The leader restarts from its own snapshot + log.
            e.peer(roles.leader).kill();
            let alive: Vec<u64> = ids().filter(|id| *id != roles.leader).collect();
            e.wait_for_roles(&alive).await;
            e.start(roles.leader);
            e.wait_for_roles(&[1, 2, 3]).await;
            check("the restarted old leader", e.addr(roles.leader)).await;
        },
    )
    .await;
}

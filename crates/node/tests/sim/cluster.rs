//! The simulated ensemble: each server the real processor, data tree, session tracker, quorum
//! peer and election, wired by `paddock_node::ensemble::assemble` as a server wires them, over
//! the in-memory networks (`MemPeerNet`, `MemElectionNet`, under [`super::net`]'s weather) and
//! in-memory storage that survives its crashes as a disk would (the txn log keeps what was
//! synced, and a seeded prefix of what was not; epoch files and committed snapshots are
//! durable), with injectable disk failures.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paddock_node::ensemble::{assemble, peer_timing, Ensemble};
use paddock_processor::config::Deterministic;
use paddock_processor::{Processor, ProcessorConfig};
use paddock_quorum::peer::election_net::MemElectionNet;
use paddock_quorum::peer::{PeerConfig, PeerRole, PeerStatus, PeerStorage, WriterMode};
use paddock_quorum::transport::mem::MemPeerNet;
use paddock_storage::mem::{MemEpochStore, MemSnapshotStore, MemTxnLog};
use paddock_types::{Config, Epoch, ServerId};

use super::client::Servers;
use super::net::{NetFaults, SimElection, SimLog, SimPeer, Trace};

/// ZooKeeper's tick in the simulation, ms (sessions: 200 ms to 2 s; the peer ticks every 50 ms).
pub const TICK_MS: u32 = 100;
/// The simulated wall clock at virtual time zero (ms since the Unix epoch).
const WALL_ORIGIN_MS: u64 = 1_700_000_000_000;
/// Transactions between snapshots (small: snapshots, log purges and SNAP syncs happen often).
const SNAP_COUNT: u64 = 60;

/// One simulated server: its disks outlive its process.
pub struct Server {
    pub log: Arc<MemTxnLog>,
    epochs: Arc<MemEpochStore>,
    snaps: Arc<MemSnapshotStore>,
    /// The running process: the processor and its ensemble side.
    pub running: Option<(Arc<Processor>, Ensemble)>,
    /// Starts so far (seeds each process's randomness apart).
    incarnation: u64,
    /// An injected disk failure in force.
    pub disk: Option<DiskFault>,
    /// How long each of its log syncs takes, when its disk is slow.
    pub slow: Option<Duration>,
}

/// A failing disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskFault {
    /// Every fsync fails (and truncations, purges); appends still work.
    FsyncFails,
    /// The disk is full: appends, syncs and snapshots fail, and the log stays out of service
    /// until recovered after the disk has room again (as sled does).
    Full,
}

/// Who the status watchers saw leading and following, per epoch.
#[derive(Default)]
pub struct Leadership {
    pub leaders: BTreeMap<Epoch, BTreeSet<u64>>,
    pub followed: BTreeMap<Epoch, BTreeSet<u64>>,
}

pub struct Cluster {
    pub n: u64,
    pub seed: u64,
    pub servers: BTreeMap<u64, Server>,
    /// The processors as clients reach them.
    pub reach: Servers,
    pnet: MemPeerNet,
    enet: MemElectionNet,
    pub faults: Arc<NetFaults>,
    pub trace: Trace,
    pub leadership: Arc<Mutex<Leadership>>,
    config: Config,
    /// Virtual time zero of the run.
    born: tokio::time::Instant,
    /// Faults injected (steps that cut, partitioned, crashed, failed a disk or changed the
    /// weather), for the totals.
    pub faults_injected: u64,
}

impl Cluster {
    pub fn new(n: u64, seed: u64, trace: Trace) -> Cluster {
        let mut config = Config {
            tick_ms: TICK_MS,
            init_limit_ticks: 10,
            sync_limit_ticks: 5,
            snap_count: SNAP_COUNT,
            snap_retain_count: 3,
            ..Config::default()
        };
        config.min_session_timeout_ms = None;
        config.max_session_timeout_ms = None;
        let servers = (1..=n)
            .map(|id| {
                let s = Server {
                    log: Arc::new(MemTxnLog::new()),
                    epochs: Arc::new(MemEpochStore::new()),
                    snaps: Arc::new(MemSnapshotStore::new()),
                    running: None,
                    incarnation: 0,
                    disk: None,
                    slow: None,
                };
                (id, s)
            })
            .collect();
        Cluster {
            n,
            seed,
            servers,
            reach: Arc::new(Mutex::new(vec![None; n as usize])),
            pnet: MemPeerNet::new(),
            enet: MemElectionNet::new(),
            faults: NetFaults::new(seed),
            trace,
            leadership: Arc::default(),
            config,
            faults_injected: 0,
            born: tokio::time::Instant::now(),
        }
    }

    pub fn ids(&self) -> Vec<u64> {
        (1..=self.n).collect()
    }

    /// Starts (or restarts) server `id` on its disks: the tree is rebuilt from its snapshot and
    /// log, as a real restart does.
    pub fn start(&mut self, id: u64) {
        let (tick, zab, election) = peer_timing(&self.config).expect("valid timing");
        let server = self.servers.get_mut(&id).expect("a server of the ensemble");
        server.incarnation += 1;
        let mut pcfg = ProcessorConfig::from_config(&self.config, ServerId(id));
        pcfg.alone = false;
        pcfg.seed = self.seed ^ (id << 48) ^ server.incarnation;
        pcfg.deterministic = Some(Deterministic {
            seed: self.seed ^ (id << 32) ^ (server.incarnation << 16),
            // The wall clock at this start: a restarted server's clock (and so its first
            // session id, which ZooKeeper derives from it) has moved on.
            wall_origin_ms: WALL_ORIGIN_MS + self.born.elapsed().as_millis() as u64,
        });
        let pconfig = PeerConfig {
            me: ServerId(id),
            voters: (1..=self.n).map(ServerId).collect(),
            observers: Vec::new(),
            tick,
            zab,
            election,
            resync_flag: None,
            log_writer: WriterMode::Inline,
        };
        let storage = PeerStorage {
            log: Arc::new(SimLog {
                inner: server.log.clone(),
                me: id,
                trace: self.trace.clone(),
            }),
            epochs: server.epochs.clone(),
            snapshots: server.snaps.clone(),
        };
        let transport = SimPeer::new(
            self.pnet.endpoint(ServerId(id)),
            id,
            self.faults.clone(),
            self.trace.clone(),
        );
        let election_t = SimElection::new(
            self.enet.endpoint(ServerId(id)),
            id,
            self.faults.clone(),
            self.trace.clone(),
        );
        self.trace.record(id, "start");
        let (processor, ensemble) = assemble(pcfg, pconfig, storage, transport, election_t)
            .unwrap_or_else(|e| panic!("server {id} does not start: {e:#}"));
        if let Some(rx) = ensemble.watch() {
            tokio::spawn(watch_status(
                id,
                rx,
                self.leadership.clone(),
                self.trace.clone(),
            ));
        }
        self.reach.lock().expect("reach lock")[id as usize - 1] = Some(processor.clone());
        server.running = Some((processor, ensemble));
    }

    pub fn alive(&self, id: u64) -> bool {
        self.servers[&id].running.is_some()
    }

    pub fn status(&self, id: u64) -> Option<PeerStatus> {
        self.servers[&id]
            .running
            .as_ref()
            .and_then(|(_, e)| e.status())
    }

    pub fn processor(&self, id: u64) -> Option<Arc<Processor>> {
        self.servers[&id].running.as_ref().map(|(p, _)| p.clone())
    }

    /// The server that leads and serves now, if exactly one does.
    pub fn leader(&self) -> Option<u64> {
        let leaders: Vec<u64> = self
            .ids()
            .into_iter()
            .filter(|i| {
                self.status(*i)
                    .is_some_and(|s| s.role == PeerRole::Leading && s.serving)
            })
            .collect();
        match leaders[..] {
            [l] => Some(l),
            _ => None,
        }
    }

    /// Crashes `id`: the process is gone at once (no final sync), its clients' connections
    /// drop; of its log's unsynced records the first `torn` survive.
    pub async fn kill(&mut self, id: u64, torn: usize) {
        let server = self.servers.get_mut(&id).expect("a server of the ensemble");
        let Some((processor, mut ensemble)) = server.running.take() else {
            return;
        };
        self.reach.lock().expect("reach lock")[id as usize - 1] = None;
        ensemble.kill().await;
        processor.shutdown().await;
        drop(processor);
        server.log.crash_keeping(torn);
        self.trace
            .record(id, format_args!("killed ({torn} unsynced records survive)"));
        self.faults_injected += 1;
    }

    pub fn cut(&self, a: u64, b: u64, peer: bool, election: bool) {
        if peer {
            self.pnet.cut(ServerId(a), ServerId(b));
        }
        if election {
            self.enet.cut(ServerId(a), ServerId(b));
        }
    }

    pub fn heal(&self, a: u64, b: u64) {
        self.pnet.heal(ServerId(a), ServerId(b));
        self.enet.heal(ServerId(a), ServerId(b));
    }

    pub fn heal_all(&self) {
        self.pnet.heal_all();
        self.enet.heal_all();
    }

    /// Cuts every link between `side` and the rest.
    pub fn partition(&self, side: &[u64]) {
        for a in side {
            for b in self.ids().into_iter().filter(|b| !side.contains(b)) {
                self.cut(*a, b, true, true);
            }
        }
    }

    pub fn fail_disk(&mut self, id: u64, fault: DiskFault) {
        let server = self.servers.get_mut(&id).expect("a server of the ensemble");
        server.log.fail_syncs(true);
        if fault == DiskFault::Full {
            server.log.sticky_failures(true);
            server.log.fail_appends(true);
            server.snaps.fail_commits(true);
        }
        server.disk = Some(fault);
        self.trace.record(id, format_args!("disk: {fault:?}"));
        self.faults_injected += 1;
    }

    /// Every log sync of `id` takes `time` of the clock from now on (kept across restarts: it
    /// is the disk), until the disk is repaired.
    pub fn slow_disk(&mut self, id: u64, time: Duration) {
        let server = self.servers.get_mut(&id).expect("a server of the ensemble");
        server.log.slow_syncs(time);
        server.slow = Some(time);
        self.trace.record(
            id,
            format_args!("disk: slow, {} ms a sync", time.as_millis()),
        );
        self.faults_injected += 1;
    }

    pub fn repair_disk(&mut self, id: u64) {
        let server = self.servers.get_mut(&id).expect("a server of the ensemble");
        if server.slow.take().is_some() {
            server.log.slow_syncs(Duration::ZERO);
            self.trace.record(id, "disk fast again");
        }
        if server.disk.take().is_some() {
            server.log.fail_syncs(false);
            server.log.fail_appends(false);
            server.log.sticky_failures(false);
            server.snaps.fail_commits(false);
            self.trace.record(id, "disk repaired");
        }
    }

    /// The leader when every server runs, exactly one leads and serves, every other follows
    /// it and serves, and all applied the same last zxid.
    pub fn settled(&self) -> Option<u64> {
        let statuses: Option<Vec<PeerStatus>> =
            self.ids().iter().map(|i| self.status(*i)).collect();
        let statuses = statuses?;
        let l = self.leader()?;
        let last = statuses[0].last_committed;
        statuses
            .iter()
            .enumerate()
            .all(|(k, s)| {
                s.serving
                    && s.last_committed == last
                    && (k as u64 + 1 == l
                        || (s.role == PeerRole::Following && s.leader == Some(ServerId(l))))
            })
            .then_some(l)
    }

    /// Waits (in virtual time) for [`Cluster::settled`].
    pub async fn settle(&self, within: Duration) -> Result<u64, String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(l) = self.settled() {
                return Ok(l);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "the ensemble did not settle within {within:?}:\n{}",
                    self.statuses()
                ));
            }
            tokio::time::sleep(Duration::from_millis(TICK_MS as u64 / 2)).await;
        }
    }

    pub fn statuses(&self) -> String {
        let mut out = String::new();
        for i in self.ids() {
            out.push_str(&format!("    {i}: {:?}\n", self.status(i)));
        }
        out
    }

    /// Stops every server (end of a run).
    pub async fn stop_all(&mut self) {
        for id in self.ids() {
            let server = self.servers.get_mut(&id).expect("a server");
            if let Some((processor, mut ensemble)) = server.running.take() {
                ensemble.kill().await;
                processor.shutdown().await;
            }
        }
        self.reach.lock().expect("reach lock").fill(None);
    }
}

/// How often the simulator looks at a server's status (a leader or follower of a shorter
/// tenure than this could go unseen).
const STATUS_POLL: Duration = Duration::from_millis(5);

/// Records who leads and follows in which epoch, as the status changes. Polls rather than
/// awaits `changed()`: tokio's watch channel wakes several waiting receivers in an order it
/// draws at random (its `BigNotify`), so a second waiter beside the server's own role follower
/// would make the run's interleaving differ from one run of a seed to the next.
async fn watch_status(
    id: u64,
    mut rx: tokio::sync::watch::Receiver<PeerStatus>,
    leadership: Arc<Mutex<Leadership>>,
    trace: Trace,
) {
    loop {
        let s = rx.borrow_and_update().clone();
        trace.record(
            id,
            format_args!(
                "status {:?} leader {:?} epoch {} serving {} round {} failure {:?}",
                s.role, s.leader, s.epoch, s.serving, s.round, s.storage_failure
            ),
        );
        {
            let mut l = leadership.lock().expect("leadership lock");
            match (s.role, s.serving, s.leader) {
                (PeerRole::Leading, true, _) => {
                    l.leaders.entry(s.epoch).or_default().insert(id);
                }
                (PeerRole::Following | PeerRole::Observing, true, Some(leader)) => {
                    l.followed.entry(s.epoch).or_default().insert(leader.0);
                }
                _ => {}
            }
        }
        loop {
            match rx.has_changed() {
                Ok(true) => break,
                Ok(false) => tokio::time::sleep(STATUS_POLL).await,
                Err(_) => return,
            }
        }
    }
}

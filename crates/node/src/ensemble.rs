//! Ensemble mode: the quorum peer (election + ZAB over gRPC) with the processor's replicated
//! server as its state machine.
//!
//! ```text
//!  gateway ─▶ processor::replicated ──TxnSink (PeerSink)──▶ quorum peer ──▶ leader (forwarded
//!                ▲                                              │          by a follower)
//!                └──── StateMachine (TreeMachine): apply_committed / restore / snapshot ◀──┘
//!  role watcher: PeerStatus (role, serving, epoch, round) ──▶ Server::set_role
//! ```
//!
//! Timing: the peer ticks every tickTime/2; syncLimit and initLimit (in tickTimes) become twice
//! as many peer ticks; the election runs on its own 10 ms clock with a finalize wait of ~100 ms.
//!
//! With `sslQuorum=true` both peer ports (election and quorum) take mutual TLS only
//! ([`quorum_tls`]; `paddock_tls::peer` has the rules): certificates from
//! `ssl.quorum.keyStore.location`, checked against `ssl.quorum.trustStore.location` and the
//! host of each peer's `server.N` line. There is no port unification: servers with different
//! sslQuorum settings cannot talk (each refusal is logged with "is sslQuorum set the same on
//! every server?"), so switching sslQuorum means restarting every server with the new setting.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, Context};
use bytes::Bytes;
use paddock_election::grpc::{ElectionPeers, GrpcElectionConfig, GrpcElectionTransport, PeerBook};
use paddock_election::ElectionConfig;
use paddock_election::NoPeers;
use paddock_gateway::{AdminSource, Mode, NodeStatus};
use paddock_processor::{ConnectionInfo, Processor, ProcessorConfig, ServingRole, TxnSink, Vetted};
use paddock_quorum::peer::{
    self, ConfigChange, Configuration, PeerConfig, PeerHandle, PeerRole, PeerStatus, PeerStorage,
    Proposer, RestoreError, StateMachine,
};
use paddock_quorum::transport::solo::SoloTransport;
use paddock_quorum::transport::tcp::{TcpPeerConfig, TcpPeerTransport};
use paddock_quorum::ZabConfig;
use paddock_quorum::{ChangeRefused, Membership};
use paddock_storage::DataDir;
use paddock_tls::PeerTls;
use paddock_types::{Config, DynamicConfig, ErrorCode, ServerId, SessionId, Zxid};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Hands the processor's transactions to the peer, and tells it whether the peer may serve
/// (a leader's lease, judged when a session connects). Set once the peer runs.
struct PeerSink(OnceLock<(Proposer, watch::Receiver<PeerStatus>)>);

impl PeerSink {
    fn attach(&self, peer: &PeerHandle) -> anyhow::Result<()> {
        self.0
            .set((peer.proposer(), peer.watch()))
            .map_err(|_| anyhow!("the peer sink was set twice"))
    }
}

impl TxnSink for PeerSink {
    fn submit(&self, txn: Bytes) -> bool {
        self.0.get().is_some_and(|(p, _)| p.submit(txn))
    }

    fn may_serve(&self) -> bool {
        self.0
            .get()
            .is_some_and(|(_, status)| status.borrow().lease.holds_at(Instant::now()))
    }
}

/// The processor's tree as the peer's replicated state machine. On an ensemble member it also
/// follows the configuration the tree holds (`reconfig`; changes are vetted only with
/// `reconfigEnabled`).
struct TreeMachine {
    server: Arc<Processor>,
    reconfig: Option<Reconfigurer>,
}

impl TreeMachine {
    fn follow_configuration(&mut self) {
        if let Some(r) = &mut self.reconfig {
            r.follow(&self.server);
        }
    }
}

/// Keeps the transports' peer addresses and `dataDir/zoo.cfg.dynamic.<version>` in step with
/// the configuration a reconfiguration installed.
struct Reconfigurer {
    quorum: PeerBook,
    election: ElectionPeers,
    data_dir: std::path::PathBuf,
    /// The configuration version last followed.
    version: u64,
    /// The membership in force before the current one, when this process saw the change.
    previous: Option<Membership>,
    current: Option<Membership>,
}

impl Reconfigurer {
    fn follow(&mut self, server: &Processor) {
        let version = server.configuration_version();
        if version == self.version {
            return;
        }
        self.version = version;
        let Some(config) = server.configuration() else {
            return;
        };
        let addrs = |port: fn(&paddock_types::ServerSpec) -> u16| -> HashMap<ServerId, String> {
            config
                .servers
                .values()
                .map(|s| (s.id, format!("{}:{}", s.host, port(s))))
                .collect()
        };
        self.quorum.set(addrs(|s| s.quorum_port));
        self.election.set(addrs(|s| s.election_port));
        if let Some(m) = membership_of(&config) {
            self.previous = self.current.replace(m);
        }
        tracing::info!(version = %format!("{version:x}"), config = %config.text().replace('\n', " "), "configuration in force");
        let path = self.data_dir.join(format!("zoo.cfg.dynamic.{version:x}"));
        // Each version its own temp file: two versions applied back to back (a restart replaying
        // two reconfigurations) are written concurrently, and a shared name (`with_extension`
        // would make both `zoo.cfg.dynamic.tmp`) lost one file or swapped their texts.
        let tmp = self
            .data_dir
            .join(format!("zoo.cfg.dynamic.{version:x}.tmp"));
        let text = format!("{}\n", config.text());
        // Blocking work stays off the role loop; the file is for operators (the tree is the
        // source of truth), so it is written once, atomically, without waiting for it.
        tokio::task::spawn_blocking(move || {
            let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path));
            if let Err(e) = written {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the dynamic configuration file");
            }
        });
    }
}

/// The quorum's view of a configuration.
fn membership_of(config: &DynamicConfig) -> Option<Membership> {
    Membership::new(config.voters(), config.observers()).ok()
}

impl StateMachine for TreeMachine {
    fn apply(&mut self, zxid: Zxid, data: &Bytes) {
        self.server.apply_committed(zxid, data);
        self.follow_configuration();
    }

    fn apply_batch(&mut self, batch: &[(Zxid, Bytes)]) {
        self.server.apply_committed_batch(batch);
        self.follow_configuration();
    }

    fn history_confirmed(&mut self, confirmed: bool) {
        self.server.set_history_confirmed(confirmed);
    }

    fn snapshot(&self) -> Bytes {
        self.server.snapshot_bytes()
    }

    fn restore(&mut self, zxid: Zxid, data: &Bytes) -> Result<(), RestoreError> {
        self.server.restore(zxid, data)?;
        self.follow_configuration();
        Ok(())
    }

    fn last_applied(&self) -> Zxid {
        self.server.last_applied()
    }

    fn take_touched_sessions(&mut self) -> Vec<SessionId> {
        self.server.take_touched_sessions()
    }

    fn sessions_touched(&mut self, _from: ServerId, sessions: &[SessionId]) {
        self.server.touch_sessions(sessions);
    }

    fn config_change(&self, data: &Bytes) -> Option<ConfigChange> {
        self.reconfig.as_ref()?;
        match self.server.vet_reconfig(data)? {
            Vetted::Accepted {
                config,
                data: vetted,
            } => match membership_of(&config) {
                Some(members) => Some(ConfigChange::Installs {
                    members,
                    data: vetted,
                }),
                None => self
                    .server
                    .refuse_reconfig(data, ErrorCode::BadArguments)
                    .map(ConfigChange::Fails),
            },
            Vetted::Refused(refused) => Some(ConfigChange::Fails(refused)),
        }
    }

    fn refuse_change(&self, data: &Bytes, why: &ChangeRefused) -> Option<Bytes> {
        let code = match why {
            ChangeRefused::InProgress => ErrorCode::ReconfigInProgress,
            ChangeRefused::NoQuorum => ErrorCode::NewConfigNoQuorum,
            ChangeRefused::NotServing(_) => return None,
        };
        self.server.refuse_reconfig(data, code)
    }

    fn configuration(&self) -> Option<Configuration> {
        let config = self.server.configuration()?;
        Some(Configuration {
            version: Zxid(config.version),
            members: membership_of(&config)?,
            previous: self.reconfig.as_ref().and_then(|r| r.previous.clone()),
        })
    }

    fn configuration_version(&self) -> Zxid {
        Zxid(self.server.configuration_version())
    }
}

/// The running ensemble side of a node.
pub struct Ensemble {
    peer: Option<PeerHandle>,
    watcher: JoinHandle<()>,
    /// Where the quorum (peer) port listens (`None`: an ensemble of one opens none).
    pub quorum_addr: Option<std::net::SocketAddr>,
    /// Where the election port listens.
    pub election_addr: Option<std::net::SocketAddr>,
    /// Voting members.
    pub voters: usize,
    /// An ensemble of one (a standalone server).
    pub alone: bool,
}

impl Ensemble {
    /// The peer's counters (txn-log group commits, commit latency), for metrics.
    pub fn peer_stats(&self) -> Option<Arc<paddock_quorum::peer::PeerStats>> {
        self.peer.as_ref().map(|p| p.stats())
    }

    /// The peer's status now.
    pub fn status(&self) -> Option<PeerStatus> {
        self.peer.as_ref().map(|p| p.status())
    }

    /// A receiver of the peer's status.
    pub fn watch(&self) -> Option<watch::Receiver<PeerStatus>> {
        self.peer.as_ref().map(|p| p.watch())
    }

    /// Crashes the peer where it stands (nothing more is written; what its storage holds is
    /// what a power loss left) and stops the role watcher: the simulator's crash.
    pub async fn kill(&mut self) {
        if let Some(p) = self.peer.take() {
            p.kill().await;
        }
        self.watcher.abort();
    }

    /// Stops the peer (its last batch synced) and the role watcher.
    pub async fn shutdown(&mut self) {
        if let Some(p) = self.peer.take() {
            p.shutdown().await;
        }
        self.watcher.abort();
    }
}

/// The ensemble in canonical form (`1=host:q:e,2=host:q:e:observer`), exchanged in the peer
/// hello so that servers configured with different lists say so in their logs.
pub fn server_list(config: &Config) -> String {
    config
        .servers
        .values()
        .map(|s| {
            let role = if s.observer { ":observer" } else { "" };
            format!(
                "{}={}:{}:{}{role}",
                s.id.0, s.host, s.quorum_port, s.election_port
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The file in dataDir that says this server's data directory lost durable transactions and
/// was repaired from what verified: until it has synced with an established leader, the
/// server does not vote (`paddock_quorum::peer::ResyncFlag`).
pub const RESYNC_FLAG_FILE: &str = "resync-required";

/// This server's resync flag (`dataDir/resync-required`).
pub fn resync_flag(config: &Config) -> paddock_quorum::peer::ResyncFlag {
    paddock_quorum::peer::ResyncFlag(config.data_dir.join(RESYNC_FLAG_FILE))
}

/// The file in dataDir naming the ensemble its data belongs to.
pub const MEMBERSHIP_FILE: &str = "ensemble";

/// Refuses a data dir that holds another ensemble's data: `dataDir/ensemble` records the server
/// list the data was written under (created on the first ensemble start). A data dir of a
/// differently configured ensemble (a reused volume) would otherwise join with foreign history;
/// ZAB would then truncate it or, worse, elect it. An intended change of the server list means
/// deleting the file on each server.
pub fn check_membership_file(config: &Config) -> anyhow::Result<()> {
    let path = config.data_dir.join(MEMBERSHIP_FILE);
    let ours = server_list(config);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let theirs = text
                .lines()
                .find_map(|l| l.strip_prefix("servers="))
                .unwrap_or("")
                .trim()
                .to_string();
            if theirs != ours {
                anyhow::bail!(
                    "{} holds the data of another ensemble (servers={theirs}); this server is \
                     configured with servers={ours}. Start it on an empty data directory, or \
                     delete {} if the server list changed on purpose",
                    config.data_dir.display(),
                    path.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = format!(
                "# Written by paddock: the ensemble whose data this directory holds.\n\
                 # A server refuses to start here with another server list.\n\
                 servers={ours}\n"
            );
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Server-to-server TLS from zoo.cfg (`sslQuorum`, `ssl.quorum.keyStore.location`,
/// `ssl.quorum.trustStore.location`), its files loaded once now: files that cannot be used stop
/// the server, naming the file. `None`: plaintext.
pub fn quorum_tls(config: &Config) -> anyhow::Result<Option<PeerTls>> {
    if !config.ssl_quorum {
        if config.ssl_quorum_key_store.is_some() || config.ssl_quorum_trust_store.is_some() {
            tracing::warn!("ssl.quorum.keyStore / ssl.quorum.trustStore are set but sslQuorum is not true: connections between servers are not encrypted");
        }
        return Ok(None);
    }
    let (Some(key_store), Some(trust_store)) = (
        config.ssl_quorum_key_store.clone(),
        config.ssl_quorum_trust_store.clone(),
    ) else {
        anyhow::bail!(
            "sslQuorum=true needs ssl.quorum.keyStore.location and ssl.quorum.trustStore.location"
        );
    };
    let tls = PeerTls::new(key_store, trust_store);
    tls.check().map_err(|e| anyhow!("sslQuorum: {e}"))?;
    tracing::info!(
        key_store = %tls.key_store.display(),
        trust_store = %tls.trust_store.display(),
        "sslQuorum: election and quorum connections use mutual TLS"
    );
    Ok(Some(tls))
}

/// The peer timing from zoo.cfg: tick = tickTime / 2.
pub fn peer_timing(config: &Config) -> anyhow::Result<(Duration, ZabConfig, ElectionConfig)> {
    let tick = Duration::from_millis(u64::from(config.tick_ms / 2).max(1));
    let zab = ZabConfig {
        sync_limit_ticks: config.sync_limit_ticks.saturating_mul(2).max(1),
        init_limit_ticks: config.init_limit_ticks.saturating_mul(2).max(1),
        ..ZabConfig::default()
    }
    .validate()
    .context("syncLimit / initLimit")?;
    // The election ticks every min(tick, 10 ms) (quorum::peer); ZooKeeper's finalize wait is
    // 200 ms, ours ~100 ms (a quorum of votes rarely improves later on a LAN). The resend
    // back-off stops at 1 s (ZooKeeper: 60 s): an isolated server keeps asking, so once its
    // network heals it finds the established leader within a second, not after its back-off
    // grew to a minute (a LOOKING server's notification per peer per second costs nothing).
    let etick_ms = (tick.as_millis() as u32).clamp(1, 10);
    let finalize = 100u32.div_ceil(etick_ms).max(1);
    let election = ElectionConfig {
        finalize_wait_ticks: finalize,
        max_notification_interval_ticks: (1_000 / etick_ms).max(finalize * 2),
    };
    Ok((tick, zab, election))
}

/// Starts the processor and the quorum peer of this server, and keeps the processor's client
/// role in step with the peer. With several `server.N` lines: binds the quorum and election
/// ports of `myid`'s line. Without (a standalone server): an ensemble of one — the same peer
/// and write path with no port and no peer (`SoloTransport`, `NoPeers`); it elects itself at
/// once.
pub async fn start(
    config: &Config,
    myid: ServerId,
    dir: &DataDir,
) -> anyhow::Result<(Arc<Processor>, Ensemble)> {
    let alone = config.servers.len() <= 1;
    let (tick, zab, election) = peer_timing(config)?;
    let log = dir.log();
    let snaps = dir.snapshots();
    let sink = Arc::new(PeerSink(OnceLock::new()));
    let server = Processor::start(
        ProcessorConfig::from_config(config, myid),
        sink.clone(),
        log.clone(),
        snaps.clone(),
    );
    let storage = PeerStorage {
        log,
        epochs: dir.epochs(),
        snapshots: snaps,
    };
    let mut machine = Box::new(TreeMachine {
        server: server.clone(),
        reconfig: None,
    });
    let started = std::time::Instant::now();
    let (peer, addrs, voters) = if alone {
        if config.ssl_quorum {
            tracing::info!("sslQuorum has no effect on a standalone server (no server.N peers)");
        }
        let pconfig = PeerConfig {
            me: myid,
            voters: vec![myid],
            observers: Vec::new(),
            tick,
            zab,
            election,
            // Nobody to sync from: a damaged standalone dir is refused, never repaired here.
            resync_flag: None,
            log_writer: paddock_quorum::peer::WriterMode::Thread,
        };
        // Rebuilding the tree (latest snapshot + log) is blocking work.
        let peer = tokio::task::block_in_place(|| {
            peer::spawn(pconfig, storage, SoloTransport::new(myid), NoPeers, machine)
        })
        .context("cannot start the quorum peer")?;
        (peer, None, 1)
    } else {
        let ids: Vec<String> = config.servers.keys().map(|id| id.0.to_string()).collect();
        let me = config.servers.get(&myid).ok_or_else(|| {
            anyhow!(
                "myid {} is not one of the configured servers ({}): set --myid or the myid file in dataDir",
                myid.0,
                ids.join(", ")
            )
        })?;
        let peer_tls = quorum_tls(config)?;
        if config.reconfig_enabled {
            // The ensemble's membership is replicated state once it can be reconfigured: a
            // server restarts with the zoo.cfg it had, whatever was reconfigured since.
            tracing::info!("reconfigEnabled: the membership in force is the last one committed, not necessarily zoo.cfg's server list");
        } else {
            check_membership_file(config)?;
        }
        let voters: Vec<ServerId> = config
            .servers
            .values()
            .filter(|s| !s.observer)
            .map(|s| s.id)
            .collect();
        let observers: Vec<ServerId> = config
            .servers
            .values()
            .filter(|s| s.observer)
            .map(|s| s.id)
            .collect();
        let addrs = |port: fn(&paddock_types::ServerSpec) -> u16| -> HashMap<ServerId, String> {
            config
                .servers
                .values()
                .map(|s| (s.id, format!("{}:{}", s.host, port(s))))
                .collect()
        };
        let quorum_peers = addrs(|s| s.quorum_port);
        let election_peers = addrs(|s| s.election_port);
        let bind = |what: &str, addr: String| {
            let what = what.to_string();
            async move {
                tokio::net::TcpListener::bind(&addr).await.with_context(|| {
                    format!("cannot listen on {addr} ({what} of server.{})", myid.0)
                })
            }
        };
        let qlistener = bind("quorum port", format!("{}:{}", me.host, me.quorum_port)).await?;
        let elistener = bind("election port", format!("{}:{}", me.host, me.election_port)).await?;
        let quorum_addr = qlistener.local_addr()?;
        let election_addr = elistener.local_addr()?;
        let mut peer_config = TcpPeerConfig::new(myid, quorum_peers);
        // Servers of a reconfigurable ensemble start from different lists (a joining server
        // lists itself); the list in force is the replicated one, so there is nothing to compare.
        if !config.reconfig_enabled {
            peer_config.server_list = server_list(config);
        }
        peer_config.tls = peer_tls.clone();
        peer_config.accept_unknown = config.reconfig_enabled;
        let transport = TcpPeerTransport::serve(peer_config, qlistener)
            .map_err(|e| anyhow!("quorum port: {e}"))?;
        let mut election_config = GrpcElectionConfig::new(myid, election_peers);
        // Redial a lost peer at least every 250 ms: after a partition heals, the server that
        // dials (the higher id of each pair) reconnects at once instead of after a back-off.
        election_config.retry_max = Duration::from_millis(250);
        election_config.tls = peer_tls;
        election_config.accept_unknown = config.reconfig_enabled;
        let etrans = GrpcElectionTransport::start(election_config, elistener)
            .map_err(|e| anyhow!("election port: {e}"))?;
        // Always, not only with reconfigEnabled: a configuration a past reconfiguration
        // committed stays in force if the setting is turned off later.
        machine.reconfig = Some(Reconfigurer {
            quorum: transport.peer_book(),
            election: etrans.peers(),
            data_dir: config.data_dir.clone(),
            version: 0,
            previous: None,
            // The static configuration, replaced by what a snapshot or the log holds as they
            // are applied (so a change replayed from the log knows its predecessor).
            current: Membership::new(voters.iter().copied(), observers.iter().copied()).ok(),
        });
        let pconfig = PeerConfig {
            me: myid,
            voters: voters.clone(),
            observers,
            tick,
            zab,
            election,
            resync_flag: Some(resync_flag(config)),
            log_writer: paddock_quorum::peer::WriterMode::Thread,
        };
        let peer = tokio::task::block_in_place(|| {
            peer::spawn(pconfig, storage, transport, etrans, machine)
        })
        .context("cannot start the quorum peer")?;
        (peer, Some((quorum_addr, election_addr)), voters.len())
    };
    tracing::info!(
        snapshot = ?paddock_storage::SnapshotStore::list(&*dir.snapshots())
            .ok()
            .and_then(|l| l.last().map(|z| z.to_string())),
        last_zxid = %server.last_applied(),
        nodes = server.status().node_count,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "data tree rebuilt from the snapshot and the log"
    );
    sink.attach(&peer)?;
    // ZooKeeper's read-only mode: a member LOOKING for max(2 s, tickTime) serves read-only
    // sessions until the election ends (QuorumPeer's roZkMgr delay). Not standalone.
    let read_only_after = (config.read_only_mode_enabled && !alone)
        .then(|| Duration::from_millis(u64::from(config.tick_ms).max(2000)));
    if config.read_only_mode_enabled && alone {
        tracing::info!("readonlymode.enabled has no effect on a standalone server");
    }
    let watcher = tokio::spawn(follow_role(
        peer.watch(),
        server.clone(),
        alone,
        read_only_after,
    ));
    Ok((
        server,
        Ensemble {
            peer: Some(peer),
            watcher,
            quorum_addr: addrs.map(|a| a.0),
            election_addr: addrs.map(|a| a.1),
            voters,
            alone,
        },
    ))
}

/// One ensemble member wired exactly as [`start`] wires it — the processor as the peer's state
/// machine ([`TreeMachine`]), its transactions handed to the peer ([`PeerSink`]), its client
/// role following the peer's ([`follow_role`]) — but over the transports and storage given,
/// with no port and no data dir: for the whole-server simulator (`tests/sim.rs`), which runs
/// several of these on one thread over in-memory networks and storage. No reconfiguration
/// (the membership is `pconfig`'s) and no read-only mode.
pub fn assemble<T, E>(
    pcfg: ProcessorConfig,
    pconfig: PeerConfig,
    storage: PeerStorage,
    transport: T,
    election: E,
) -> anyhow::Result<(Arc<Processor>, Ensemble)>
where
    T: paddock_quorum::transport::PeerTransport + 'static,
    E: paddock_election::ElectionTransport + Send + 'static,
{
    let voters = pconfig.voters.len();
    let sink = Arc::new(PeerSink(OnceLock::new()));
    let server = Processor::start(
        pcfg,
        sink.clone(),
        storage.log.clone(),
        storage.snapshots.clone(),
    );
    let machine = Box::new(TreeMachine {
        server: server.clone(),
        reconfig: None,
    });
    let peer = peer::spawn(pconfig, storage, transport, election, machine)
        .context("cannot start the quorum peer")?;
    sink.attach(&peer)?;
    let watcher = tokio::spawn(follow_role(peer.watch(), server.clone(), false, None));
    Ok((
        server,
        Ensemble {
            peer: Some(peer),
            watcher,
            quorum_addr: None,
            election_addr: None,
            voters,
            alone: false,
        },
    ))
}

/// What the processor should do for clients, given the peer's status.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Want {
    NotServing,
    /// Serving in this role, under this (role, leader, epoch, round): a change of any of them
    /// drops the clients first in an ensemble.
    Serving(ServingRole, (PeerRole, Option<ServerId>, u64, u64)),
    /// An ensemble of one whose txn log cannot write.
    ReadOnly(String),
    /// Read-only mode (`readonlymode.enabled`): an ensemble member LOOKING for long enough.
    CutOff,
}

/// Keeps the processor's client role in step with the peer. In an ensemble any change of role,
/// leader, epoch or election round drops the clients first (their in-flight requests may be
/// lost with the old leader), as ZooKeeper does when a server leaves a role. An ensemble of one
/// has no other leader to lose its clients to: a storage failure makes it read-only and its
/// recovery (a new epoch) leader again, keeping every connection.
///
/// `read_only_after` (`readonlymode.enabled`, ensembles only): once the peer has been LOOKING
/// this long the processor enters read-only mode, and leaves it (dropping those clients) as
/// soon as the peer stops looking, as ZooKeeper shuts its read-only server down then.
async fn follow_role(
    mut rx: watch::Receiver<PeerStatus>,
    server: Arc<Processor>,
    alone: bool,
    read_only_after: Option<Duration>,
) {
    let mut current = Want::NotServing;
    // When the peer started looking, while it looks (read-only mode only).
    let mut looking_since: Option<Instant> = None;
    loop {
        let st = rx.borrow_and_update().clone();
        let mut want = match (&st.storage_failure, st.serving, st.role) {
            (Some(why), _, _) if alone && st.role != PeerRole::Stopped => {
                Want::ReadOnly(why.clone())
            }
            (_, true, PeerRole::Leading) => Want::Serving(
                ServingRole::Leader,
                (st.role, st.leader, u64::from(st.epoch.0), st.round),
            ),
            (_, true, PeerRole::Following | PeerRole::Observing) => Want::Serving(
                ServingRole::Learner,
                (st.role, st.leader, u64::from(st.epoch.0), st.round),
            ),
            _ => Want::NotServing,
        };
        let mut read_only_at = None;
        if let Some(delay) = read_only_after {
            if st.role == PeerRole::Looking && want == Want::NotServing {
                let since = *looking_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= delay {
                    want = Want::CutOff;
                } else {
                    read_only_at = Some(since + delay);
                }
            } else {
                looking_since = None;
            }
        }
        if want != current {
            match (&current, &want) {
                (_, Want::ReadOnly(why)) => server.set_read_only(why),
                (_, Want::CutOff) => server.enter_read_only_mode(),
                // Back from read-only: the same (only) leader, the same clients.
                (Want::ReadOnly(_), Want::Serving(role, _)) => server.set_role(*role),
                (_, Want::Serving(role, _)) => {
                    server.set_role(ServingRole::NotServing);
                    server.set_role(*role);
                    tracing::info!(role = ?st.role, leader = ?st.leader.map(|l| l.0), epoch = st.epoch.0, "serving clients");
                }
                (_, Want::NotServing) => server.set_role(ServingRole::NotServing),
            }
            current = want;
        }
        if st.role == PeerRole::Stopped {
            tracing::error!("the quorum peer stopped: this server no longer serves clients");
            return;
        }
        let changed = match read_only_at {
            // Looking, not yet for long enough: look again when it will have been.
            Some(at) => tokio::select! {
                c = rx.changed() => c,
                _ = tokio::time::sleep_until(at) => Ok(()),
            },
            None => rx.changed().await,
        };
        if changed.is_err() {
            server.set_role(ServingRole::NotServing);
            return;
        }
    }
}

/// Keeps `grpc.health.v1` in step with the peer: SERVING while it serves clients. A leader's
/// lease is judged on every health answer (a gate on `health`), so a leader whose lease ran
/// out says NOT_SERVING at once, even before its role loop (and this task) ran again.
pub async fn report_health(
    mut rx: watch::Receiver<PeerStatus>,
    health: paddock_gateway::HealthHandle,
) {
    let lease = rx.clone();
    health.set_gate(move || lease.borrow().lease.holds_at(Instant::now()));
    let mut last = None;
    loop {
        let st = rx.borrow_and_update().clone();
        let serving = st.serving
            && matches!(
                st.role,
                PeerRole::Leading | PeerRole::Following | PeerRole::Observing
            );
        if last != Some(serving) {
            health.set_serving(serving).await;
            last = Some(serving);
        }
        if rx.changed().await.is_err() {
            health.set_serving(false).await;
            return;
        }
    }
}

/// An ensemble server's status for the admin service.
pub struct EnsembleAdmin {
    pub server: Arc<Processor>,
    pub myid: ServerId,
    pub peer: watch::Receiver<PeerStatus>,
    /// The peer's counters (a leader's proposal sizes).
    pub stats: Arc<paddock_quorum::peer::PeerStats>,
    /// When the server started (`zk_uptime`).
    pub started: std::time::Instant,
    /// The data dir and the txn-log dir (`dirs`).
    pub dirs: crate::admin::DataDirs,
    /// Voting members (`zk_quorum_size`).
    pub voters: u64,
}

impl AdminSource for EnsembleAdmin {
    fn status(&self) -> NodeStatus {
        // A leader's lease is judged now: one whose lease ended reports not serving (mode
        // `looking`, no synced followers) even before its role loop noticed anything.
        let st = self.peer.borrow().clone().as_of(Instant::now());
        let mut processor = self.server.status();
        // Read-only mode serves (read-only sessions) while the peer does not.
        let read_only = self.server.is_in_read_only_mode() && processor.serving;
        processor.serving &= st.serving || read_only;
        let mode = match st.role {
            _ if read_only => Mode::ReadOnly,
            _ if !processor.serving => Mode::Looking,
            PeerRole::Leading => Mode::Leader,
            PeerRole::Following => Mode::Follower,
            PeerRole::Observing => Mode::Observer,
            PeerRole::Looking | PeerRole::Stopped => Mode::Looking,
        };
        let leading = st.role == PeerRole::Leading;
        NodeStatus {
            mode,
            server_id: self.myid.0,
            epoch: Some(u64::from(st.epoch.0)),
            leader_id: st.leader.map(|l| l.0),
            synced_followers: leading.then_some(st.synced_followers.len() as u32),
            proposal_sizes: self
                .stats
                .proposal_sizes()
                .filter(|_| leading)
                .map(|p| [p.last, p.min, p.max]),
            file_descriptors: crate::admin::file_descriptors(),
            uptime_ms: crate::admin::uptime_ms(self.started),
            quorum_size: Some(self.voters),
            processor,
        }
    }

    fn connections(&self) -> Vec<ConnectionInfo> {
        self.server.connections()
    }

    fn watches(&self) -> Vec<(paddock_types::SessionId, String)> {
        self.server.watch_list()
    }

    fn reset_server_stats(&self) {
        self.server.reset_server_stats();
    }

    fn reset_connection_stats(&self) {
        self.server.reset_connection_stats();
    }

    fn dir_sizes(&self) -> (u64, u64) {
        crate::admin::dir_sizes(&self.dirs)
    }

    fn backup(
        &self,
        caller: &paddock_gateway::BackupCaller,
    ) -> Result<paddock_gateway::Backup, paddock_gateway::BackupRefused> {
        crate::admin::backup(&self.server, caller)
    }

    fn sessions(&self) -> Vec<paddock_processor::SessionDump> {
        self.server.session_dump()
    }

    fn digest(&self) -> Option<(Zxid, u64)> {
        Some(self.server.digest_with_zxid())
    }
}

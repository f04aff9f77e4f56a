//! The node's side of the admin service: its status, `conf` and `envi` lines, the whitelist.

use std::sync::Arc;

use paddock_gateway::{
    AdminOptions, AdminService, AdminSource, Backup, BackupCaller, BackupRefused, Mode, NodeStatus,
};
use paddock_processor::{ConnectionInfo, Processor};
use paddock_types::{Config, ServerId};

/// A standalone server's status (an ensemble of one reports ZooKeeper's `standalone`, or
/// `read-only` while its txn log cannot write).
pub struct StandaloneAdmin {
    pub server: Arc<Processor>,
    pub myid: ServerId,
    /// When the server started (`zk_uptime`).
    pub started: std::time::Instant,
    /// The data dir and the txn-log dir (`dirs`).
    pub dirs: DataDirs,
}

impl AdminSource for StandaloneAdmin {
    fn status(&self) -> NodeStatus {
        let processor = self.server.status();
        NodeStatus {
            mode: if processor.writes_refused.is_some() {
                Mode::ReadOnly
            } else {
                Mode::Standalone
            },
            server_id: self.myid.0,
            epoch: None,
            leader_id: None,
            synced_followers: None,
            proposal_sizes: None,
            file_descriptors: file_descriptors(),
            uptime_ms: uptime_ms(self.started),
            quorum_size: None,
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

    fn sessions(&self) -> Vec<paddock_processor::SessionDump> {
        self.server.session_dump()
    }

    fn digest(&self) -> Option<(paddock_types::Zxid, u64)> {
        Some(self.server.digest_with_zxid())
    }

    fn backup(&self, caller: &BackupCaller) -> Result<Backup, BackupRefused> {
        backup(&self.server, caller)
    }
}

/// `SaveSnapshot` (a backup) of any server: the processor's permission check (cdrwa on `/`)
/// and its O(1) frozen tree, written as a snapshot file (payload + trailer with crc32). Only
/// while the server serves: a server without a quorum may be behind, and says so.
pub fn backup(server: &Processor, caller: &BackupCaller) -> Result<Backup, BackupRefused> {
    if !server.status().serving {
        return Err(BackupRefused::Unavailable(
            "this server is not serving now (no quorum, or catching up): take the backup from \
             a serving member"
                .into(),
        ));
    }
    let frozen = server
        .tree_snapshot_for(&caller.conn_ids, caller.digest.as_deref())
        .map_err(|e| match e.code {
            paddock_types::ErrorCode::AuthFailed => BackupRefused::BadCredentials(e.message),
            _ => BackupRefused::Denied(e.message),
        })?;
    let tree = frozen.to_tree();
    let zxid = frozen.last_zxid();
    Ok(Backup {
        zxid: zxid.0,
        node_count: frozen.node_count() as u64,
        session_count: tree.sessions().len() as u64,
        digest: tree.digest(),
        write: Box::new(move |w| {
            paddock_storage::write_snapshot_file(w, zxid, |payload| frozen.write_to(payload))
                .map(|_| ())
        }),
    })
}

/// Milliseconds since `started`.
pub fn uptime_ms(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// This process's open file descriptors and their soft limit (`mntr`'s
/// `zk_open_file_descriptor_count` / `zk_max_file_descriptor_count`), from `/proc/self`; `None`
/// where there is no such thing.
pub fn file_descriptors() -> Option<(u64, u64)> {
    let open = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    Some((open, max_open_files(&limits)?))
}

/// The soft limit on the "Max open files" line of `/proc/<pid>/limits`.
fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    soft.parse()
        .ok()
        .or((soft == "unlimited").then_some(u64::MAX))
}

/// An ensemble server's part of `conf`, as ZooKeeper 3.8 prints it: its limits, election
/// algorithm and ports, its peer type (0 participant, 1 observer), then the membership block
/// (`membership: `, a `server.N=host:quorumPort:electionPort:participant|observer` line each,
/// `version=0`: no dynamic reconfiguration). A standalone server's `conf` stays as it is.
fn with_ensemble<'a>(
    mut conf: Vec<(&'a str, String)>,
    config: &Config,
    myid: ServerId,
) -> (Vec<(&'a str, String)>, Vec<String>) {
    let Some(me) = config
        .servers
        .get(&myid)
        .filter(|_| config.servers.len() > 1)
    else {
        return (conf, Vec::new());
    };
    conf.extend([
        ("initLimit", config.init_limit_ticks.to_string()),
        ("syncLimit", config.sync_limit_ticks.to_string()),
        ("electionAlg", "3".to_string()),
        ("electionPort", me.election_port.to_string()),
        ("quorumPort", me.quorum_port.to_string()),
        ("peerType", u8::from(me.observer).to_string()),
    ]);
    let mut tail = vec!["membership: ".to_string()];
    tail.extend(config.servers.values().map(|s| {
        let kind = if s.observer {
            "observer"
        } else {
            "participant"
        };
        format!(
            "server.{}={}:{}:{}:{kind}",
            s.id.0, s.host, s.quorum_port, s.election_port
        )
    }));
    tail.push("version=0".to_string());
    (conf, tail)
}

/// Where a server keeps its data: `dataDir` (snapshots, epochs) and `dataLogDir` (the txn log;
/// the same directory unless set).
#[derive(Clone, Debug)]
pub struct DataDirs {
    pub data: std::path::PathBuf,
    pub log: std::path::PathBuf,
}

impl DataDirs {
    pub fn of(config: &Config) -> DataDirs {
        DataDirs {
            data: config.data_dir.clone(),
            log: config
                .data_log_dir
                .clone()
                .unwrap_or_else(|| config.data_dir.clone()),
        }
    }
}

/// ZooKeeper's `dirs`: the bytes of the files under the data dir and under the log dir (the
/// txn log is `txnlog/` inside the log dir). When both are one directory, as by default, the
/// data dir's size leaves the log out, so the two add up to what is on disk.
pub fn dir_sizes(dirs: &DataDirs) -> (u64, u64) {
    fn size(p: &std::path::Path) -> u64 {
        let Ok(meta) = std::fs::symlink_metadata(p) else {
            return 0;
        };
        if !meta.is_dir() {
            return meta.len();
        }
        std::fs::read_dir(p)
            .map(|entries| entries.flatten().map(|e| size(&e.path())).sum())
            .unwrap_or(0)
    }
    let log = size(&dirs.log.join("txnlog"));
    let all = size(&dirs.data);
    let data = if dirs.data == dirs.log {
        all.saturating_sub(log)
    } else {
        all
    };
    (data, log)
}

/// The version `srvr` prints after `Zookeeper version: ` and `envi` as `zookeeper.version`:
/// the ZooKeeper API level Paddock serves, then Paddock's own version (`3.9.0-paddock-0.1.0`).
/// Tools read the leading number (kazoo's `server_version()` parses `envi`'s), as they do
/// ZooKeeper's `3.8.0-<git hash>, built on ...`.
pub const ZOOKEEPER_API_VERSION: &str = "3.9.0";

pub fn version() -> String {
    format!(
        "{ZOOKEEPER_API_VERSION}-paddock-{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Whitelist, `conf` lines (ZooKeeper's `dumpConf` keys) and `envi` lines from the config.
/// `client_port` is the port ZooKeeper's protocol is served on (0 when off), `grpc_port` the gRPC
/// API's (both as bound).
pub fn options(config: &Config, myid: ServerId, grpc_port: u16, client_port: u16) -> AdminOptions {
    let abs = |p: &std::path::Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let log_dir = config.data_log_dir.as_deref().unwrap_or(&config.data_dir);
    let conf = vec![
        ("clientPort", client_port.to_string()),
        ("grpcPort", grpc_port.to_string()),
        ("dataDir", abs(&config.data_dir)),
        ("dataLogDir", abs(log_dir)),
        ("tickTime", config.tick_ms.to_string()),
        ("maxClientCnxns", config.max_client_cnxns.to_string()),
        (
            "minSessionTimeout",
            config.min_session_timeout().to_string(),
        ),
        (
            "maxSessionTimeout",
            config.max_session_timeout().to_string(),
        ),
        ("serverId", myid.0.to_string()),
    ];
    let (conf, conf_tail) = with_ensemble(conf, config, myid);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "<NA>".into());
    let env_or_na = |k: &str| std::env::var(k).unwrap_or_else(|_| "<NA>".into());
    let environment = vec![
        ("zookeeper.version", version()),
        ("host.name", host),
        ("os.name", std::env::consts::OS.to_string()),
        ("os.arch", std::env::consts::ARCH.to_string()),
        ("user.name", env_or_na("USER")),
        ("user.home", env_or_na("HOME")),
        (
            "user.dir",
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| "<NA>".into()),
        ),
    ];
    let own = |v: Vec<(&str, String)>| v.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    AdminOptions {
        whitelist: config.four_letter_words.clone(),
        conf: own(conf),
        conf_tail,
        environment: own(environment),
        version: version(),
    }
}

/// The ZooKeeper-protocol gateway's options from zoo.cfg: `jute.maxbuffer` (the largest frame, as
/// ZooKeeper's server checks it), `maxClientCnxns`, `maxInflightPerSession`.
pub fn wire_options(config: &Config) -> paddock_wire::WireOptions {
    let data = usize::try_from(config.max_data_bytes).unwrap_or(usize::MAX);
    paddock_wire::WireOptions {
        max_frame_bytes: data,
        max_in_flight: usize::try_from(config.max_inflight_per_session)
            .unwrap_or(usize::MAX)
            .max(1),
        max_connections_per_ip: usize::try_from(config.max_client_cnxns).unwrap_or(usize::MAX),
        serving_threads: config.serving_threads as usize,
        ..paddock_wire::WireOptions::default()
    }
}

/// Four-letter words on the ZooKeeper-protocol port, answered by the same code as over gRPC
/// (so `echo srvr | nc host 2181` prints what `paddock-cli srvr` prints), with ZooKeeper's
/// refusal text for a word outside `4lw.commands.whitelist`.
pub struct WireWords(pub AdminService);

impl paddock_wire::FourLetterWords for WireWords {
    fn run(&self, word: &str) -> String {
        self.answer(word, word)
    }

    fn set_trace_mask(&self, mask: i64) -> String {
        self.answer("stmk", &format!("stmk {mask}"))
    }
}

impl WireWords {
    /// `command`'s text, or ZooKeeper's refusal of `word` outside the whitelist.
    fn answer(&self, word: &str, command: &str) -> String {
        match self.0.run(command) {
            Ok(text) => text,
            Err(s) if s.code() == tonic::Code::PermissionDenied => {
                format!("{word} is not executed because it is not in the whitelist.\n")
            }
            Err(s) => format!("{word} failed: {}\n", s.message()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ensemble_servers_conf_has_zookeepers_quorum_lines_and_membership() {
        let (config, _) = Config::parse(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/var/lib/paddock\n\
             server.1=10.0.0.1:2888:3888\nserver.2=10.0.0.2:2888:3888\n\
             server.3=10.0.0.3:2888:3888:observer\n",
        )
        .expect("config");
        let opts = options(&config, ServerId(3), 7181, 2181);
        let conf: Vec<String> = opts.conf.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let tail_of_pairs = &conf[conf.len() - 7..];
        assert_eq!(
            tail_of_pairs,
            [
                "serverId=3",
                "initLimit=10",
                "syncLimit=5",
                "electionAlg=3",
                "electionPort=3888",
                "quorumPort=2888",
                "peerType=1",
            ]
        );
        assert_eq!(
            opts.conf_tail,
            [
                "membership: ",
                "server.1=10.0.0.1:2888:3888:participant",
                "server.2=10.0.0.2:2888:3888:participant",
                "server.3=10.0.0.3:2888:3888:observer",
                "version=0",
            ]
        );
        let (standalone, _) = Config::parse("dataDir=/d\n").expect("config");
        let opts = options(&standalone, ServerId(0), 7181, 2181);
        assert!(opts.conf_tail.is_empty());
        assert_eq!(opts.conf.last().map(|(k, _)| k.as_str()), Some("serverId"));
    }

    #[test]
    fn the_soft_open_files_limit_is_read_from_proc_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             95538                95538                processes \n\
                      Max open files            20000                524288               files     \n";
        assert_eq!(max_open_files(limits), Some(20000));
        assert_eq!(
            max_open_files(
                "Max open files            unlimited            unlimited            files"
            ),
            Some(u64::MAX)
        );
        assert_eq!(max_open_files("Max processes 10 10"), None);
        // On Linux this process has some descriptors open, below its limit.
        if let Some((open, max)) = file_descriptors() {
            assert!(open >= 3 && open <= max, "{open} of {max}");
        }
    }
}

//! The node's side of the admin service: its status, `conf` and `envi` lines, the whitelist.

use std::sync::Arc;

use paddock_gateway::{AdminOptions, AdminSource, Mode, NodeStatus};
use paddock_processor::{ConnectionInfo, Server};
use paddock_types::{Config, ServerId};

/// A standalone server's status (the ensemble will report leader/follower here).
pub struct StandaloneAdmin {
    pub server: Arc<Server>,
    pub myid: ServerId,
}

impl AdminSource for StandaloneAdmin {
    fn status(&self) -> NodeStatus {
        NodeStatus {
            mode: Mode::Standalone,
            server_id: self.myid.0,
            epoch: None,
            leader_id: None,
            synced_followers: None,
            proposal_sizes: None,
            processor: self.server.status(),
        }
    }

    fn connections(&self) -> Vec<ConnectionInfo> {
        self.server.connections()
    }
}

/// The version string `srvr` prints after `Zookeeper version: `.
pub fn version() -> String {
    format!("paddock-{}", env!("CARGO_PKG_VERSION"))
}

/// Whitelist, `conf` lines (ZooKeeper's `dumpConf` keys) and `envi` lines from the config.
pub fn options(config: &Config, myid: ServerId, grpc_port: u16) -> AdminOptions {
    let abs = |p: &std::path::Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let log_dir = config.data_log_dir.as_deref().unwrap_or(&config.data_dir);
    let conf = vec![
        ("clientPort", grpc_port.to_string()),
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
        environment: own(environment),
        version: version(),
    }
}

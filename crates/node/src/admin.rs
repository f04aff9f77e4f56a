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
            file_descriptors: file_descriptors(),
            processor: self.server.status(),
        }
    }

    fn connections(&self) -> Vec<ConnectionInfo> {
        self.server.connections()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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

//! The ensemble's dynamic configuration (ZooKeeper 3.5+): the `server.N=...` lines and the
//! version held in `/zookeeper/config`, and what a reconfiguration does to them.
//!
//! The text format is ZooKeeper's `QuorumVerifier.toString`: one
//! `server.N=host:quorumPort:electionPort:role[;clientHost:clientPort]` line per server in id
//! order, then `version=<hex>`. The version of a configuration set by a reconfiguration is the
//! zxid of its transaction; a static configuration (zoo.cfg) has version 0.

use crate::config::{parse_server, ConfigError, ServerSpec};
use crate::ids::ServerId;
use std::collections::BTreeMap;

/// The servers of an ensemble and the configuration's version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamicConfig {
    /// The zxid of the reconfiguration that made it (0: static).
    pub version: u64,
    /// Every server, voters and observers.
    pub servers: BTreeMap<ServerId, ServerSpec>,
}

/// What a reconfiguration asks (ZooKeeper's `reconfig` arguments): incremental (`joining`,
/// `leaving`) or a whole new membership (`members`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconfigOps<'a> {
    /// Servers to add or change: `server.N=...` or `N=...` lines.
    pub joining: &'a [String],
    /// Ids to remove.
    pub leaving: &'a [u64],
    /// The whole new membership (non-incremental), same lines; excludes the other two.
    pub members: &'a [String],
}

/// Why a reconfiguration is refused before it is proposed (BADARGUMENTS).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReconfigInvalid {
    /// Nothing asked.
    #[error("reconfig needs servers to add, to remove, or a new membership")]
    Empty,
    /// Both a new membership and incremental changes.
    #[error("a new membership (-members) excludes -add and -remove")]
    Mixed,
    /// A server line that does not parse.
    #[error("{0}")]
    BadServer(String),
    /// The same id added and removed, or listed twice.
    #[error("server {0} is named twice")]
    Twice(u64),
    /// Removing a server that is not in the configuration.
    #[error("server {0} is not in the configuration")]
    NotMember(u64),
    /// The result has no voter.
    #[error("the new configuration has no participant")]
    NoVoters,
}

/// Parses one `server.N=spec` or `N=spec` line.
pub fn parse_server_line(line: &str) -> Result<ServerSpec, ReconfigInvalid> {
    let line = line.trim();
    let (key, value) = line
        .split_once('=')
        .ok_or_else(|| ReconfigInvalid::BadServer(format!("{line:?}: expected server.N=spec")))?;
    let key = key.trim();
    let key = if key.starts_with("server.") {
        key.to_string()
    } else {
        format!("server.{key}")
    };
    parse_server(&key, value.trim()).map_err(|e| ReconfigInvalid::BadServer(e.to_string()))
}

impl DynamicConfig {
    /// The configuration of `servers` at `version`.
    pub fn new(version: u64, servers: impl IntoIterator<Item = ServerSpec>) -> DynamicConfig {
        DynamicConfig {
            version,
            servers: servers.into_iter().map(|s| (s.id, s)).collect(),
        }
    }

    /// Parses the text of `/zookeeper/config` (or a `zoo.cfg.dynamic.*` file: other keys are
    /// refused, blank lines and `#` comments skipped).
    pub fn parse(text: &str) -> Result<DynamicConfig, ConfigError> {
        let mut version = 0;
        let mut servers = BTreeMap::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(ConfigError::Invalid {
                    key: line.to_string(),
                    value: String::new(),
                    why: "expected key=value".into(),
                });
            };
            let (key, value) = (key.trim(), value.trim());
            if key == "version" {
                version = u64::from_str_radix(value, 16).map_err(|_| ConfigError::Invalid {
                    key: key.into(),
                    value: value.into(),
                    why: "expected a hexadecimal version".into(),
                })?;
            } else if key.starts_with("server.") {
                let s = parse_server(key, value)?;
                servers.insert(s.id, s);
            } else {
                return Err(ConfigError::Invalid {
                    key: key.into(),
                    value: value.into(),
                    why: "not a dynamic configuration key (server.N or version)".into(),
                });
            }
        }
        Ok(DynamicConfig { version, servers })
    }

    /// The text of `/zookeeper/config`: a line per server, then `version=<hex>` (no newline
    /// after it).
    pub fn text(&self) -> String {
        let mut text = String::new();
        for s in self.servers.values() {
            text.push_str(&format!("server.{}={}\n", s.id.0, s.config_line()));
        }
        text.push_str(&format!("version={:x}", self.version));
        text
    }

    /// The voters, in id order.
    pub fn voters(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.servers.values().filter(|s| !s.observer).map(|s| s.id)
    }

    /// The observers, in id order.
    pub fn observers(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.servers.values().filter(|s| s.observer).map(|s| s.id)
    }

    /// The configuration `ops` make of this one, at `version`.
    pub fn reconfigure(
        &self,
        ops: &ReconfigOps<'_>,
        version: u64,
    ) -> Result<DynamicConfig, ReconfigInvalid> {
        let incremental = !ops.joining.is_empty() || !ops.leaving.is_empty();
        if !ops.members.is_empty() && incremental {
            return Err(ReconfigInvalid::Mixed);
        }
        let servers = if ops.members.is_empty() {
            if !incremental {
                return Err(ReconfigInvalid::Empty);
            }
            let mut servers = self.servers.clone();
            let mut named = std::collections::BTreeSet::new();
            for id in ops.leaving {
                if !named.insert(*id) {
                    return Err(ReconfigInvalid::Twice(*id));
                }
                if servers.remove(&ServerId(*id)).is_none() {
                    return Err(ReconfigInvalid::NotMember(*id));
                }
            }
            for line in ops.joining {
                let s = parse_server_line(line)?;
                if !named.insert(s.id.0) {
                    return Err(ReconfigInvalid::Twice(s.id.0));
                }
                servers.insert(s.id, s);
            }
            servers
        } else {
            let mut servers = BTreeMap::new();
            for line in ops.members {
                let s = parse_server_line(line)?;
                if servers.insert(s.id, s.clone()).is_some() {
                    return Err(ReconfigInvalid::Twice(s.id.0));
                }
            }
            servers
        };
        if !servers.values().any(|s| !s.observer) {
            return Err(ReconfigInvalid::NoVoters);
        }
        Ok(DynamicConfig { version, servers })
    }
}

/// Splits ZooKeeper's comma-separated server list (zkCli's `-add a,b`, the wire's
/// `joiningServers`) into lines; empty parts dropped.
pub fn split_servers(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> DynamicConfig {
        DynamicConfig::parse(
            "server.1=a:2888:3888:participant;0.0.0.0:2181\n\
             server.2=b:2888:3888:participant;0.0.0.0:2181\n\
             server.3=c:2888:3888:participant;0.0.0.0:2181\n\
             version=100000000",
        )
        .unwrap()
    }

    #[test]
    fn text_round_trips_in_zookeepers_format() {
        let c = base();
        assert_eq!(c.version, 0x1_0000_0000);
        assert_eq!(DynamicConfig::parse(&c.text()).unwrap(), c);
        assert!(c.text().ends_with("\nversion=100000000"));
        assert!(DynamicConfig::parse("server.1=a:1:2\nfoo=bar").is_err());
        assert!(DynamicConfig::parse("version=xyz").is_err());
    }

    #[test]
    fn incremental_add_remove_and_role_change() {
        let c = base();
        let joining = vec![
            "server.4=d:2888:3888:participant;2181".to_string(),
            "5=e:2888:3888:observer;2181".to_string(),
        ];
        let n = c
            .reconfigure(
                &ReconfigOps {
                    joining: &joining,
                    leaving: &[1],
                    ..Default::default()
                },
                7,
            )
            .unwrap();
        assert_eq!(n.version, 7);
        assert_eq!(n.voters().map(|s| s.0).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(n.observers().map(|s| s.0).collect::<Vec<_>>(), vec![5]);
        // A participant made an observer by re-adding it.
        let to_observer = vec!["3=c:2888:3888:observer;2181".to_string()];
        let o = c
            .reconfigure(
                &ReconfigOps {
                    joining: &to_observer,
                    ..Default::default()
                },
                8,
            )
            .unwrap();
        assert!(o.servers[&ServerId(3)].observer);
    }

    #[test]
    fn bad_reconfigurations_are_refused() {
        let c = base();
        let ops = |j: &'static [&str], l: &'static [u64], m: &'static [&str]| {
            let j: Vec<String> = j.iter().map(|s| s.to_string()).collect();
            let m: Vec<String> = m.iter().map(|s| s.to_string()).collect();
            c.reconfigure(
                &ReconfigOps {
                    joining: &j,
                    leaving: l,
                    members: &m,
                },
                9,
            )
        };
        assert_eq!(ops(&[], &[], &[]), Err(ReconfigInvalid::Empty));
        assert_eq!(ops(&[], &[9], &[]), Err(ReconfigInvalid::NotMember(9)));
        assert_eq!(
            ops(&["1=a:1:2"], &[], &["2=b:1:2"]),
            Err(ReconfigInvalid::Mixed)
        );
        assert_eq!(ops(&["1=a:1:2"], &[1], &[]), Err(ReconfigInvalid::Twice(1)));
        assert!(matches!(
            ops(&["4=d:1"], &[], &[]),
            Err(ReconfigInvalid::BadServer(_))
        ));
        assert_eq!(
            ops(&[], &[], &["1=a:1:2:observer"]),
            Err(ReconfigInvalid::NoVoters)
        );
        assert_eq!(ops(&[], &[1, 2, 3], &[]), Err(ReconfigInvalid::NoVoters));
        let whole = ops(&[], &[], &["7=g:1:2", "8=h:1:2"]).unwrap();
        assert_eq!(whole.voters().map(|s| s.0).collect::<Vec<_>>(), vec![7, 8]);
    }

    #[test]
    fn comma_lists_split_as_zookeeper() {
        assert_eq!(
            split_servers(" 1=a:1:2 , ,2=b:1:2"),
            vec!["1=a:1:2", "2=b:1:2"]
        );
        assert!(split_servers("").is_empty());
    }
}

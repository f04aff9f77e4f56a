//! ZooKeeper's AdminServer commands (`org.apache.zookeeper.server.admin.Commands`) as JSON.
//!
//! Each command has ZooKeeper's names (the primary one first, then its aliases such as the
//! four-letter word) and answers ZooKeeper's field names in snake case, plus the two fields
//! every ZooKeeper answer carries: `command` (the primary name) and `error` (`null`, or why
//! not). A command that needs a serving server answers ZooKeeper's "not currently serving"
//! error while the server does not serve; `environment`, `monitor` and the trace mask always
//! answer. An unknown name is a 404 with the same two fields.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::StatusCode;
use paddock_gateway::admin::{mntr_rows, NOT_SERVING};
use paddock_gateway::{AdminService, Mode, NodeStatus};
use paddock_processor::ConnectionInfo;
use paddock_quorum::peer::PeerStatus;
use paddock_types::{Config, ServerSpec};
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use crate::admin::DataDirs;

/// What the commands read: the admin service (the four-letter words' source and options),
/// the ensemble as configured, and the data dirs. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    admin: AdminService,
    inner: Arc<Fixed>,
    /// The quorum peer's status (`zabstate`, `observers`); `None` on a standalone server.
    peer: Option<watch::Receiver<PeerStatus>>,
}

struct Fixed {
    /// `admin.commandURL`, without a trailing `/`.
    url: String,
    /// The configured ensemble (empty on a standalone server).
    members: Vec<ServerSpec>,
    /// Where snapshots are (`last_snapshot`).
    dirs: DataDirs,
    /// The config file's text as read at start (`initial_configuration`).
    initial_config: Option<String>,
    /// `system_properties`.
    properties: BTreeMap<String, String>,
    /// Set while `snapshot` runs (one at a time).
    snapshot_busy: super::snapshot::Busy,
}

impl Context {
    pub fn new(admin: AdminService, config: &Config) -> Context {
        let members = if config.servers.len() > 1 {
            config.servers.values().cloned().collect()
        } else {
            Vec::new()
        };
        Context {
            admin,
            inner: Arc::new(Fixed {
                url: config.admin_command_url.clone(),
                members,
                dirs: DataDirs::of(config),
                initial_config: config.initial_config.as_deref().map(redact_secrets),
                properties: system_properties(config),
                snapshot_busy: super::snapshot::Busy::default(),
            }),
            peer: None,
        }
    }

    /// An ensemble member's context also reads its quorum peer's status.
    pub fn with_peer(mut self, peer: watch::Receiver<PeerStatus>) -> Context {
        self.peer = Some(peer);
        self
    }

    /// The peer's status now (a leader whose lease ended does not serve), if there is a peer.
    fn peer_now(&self) -> Option<PeerStatus> {
        let peer = self.peer.as_ref()?;
        let st = peer.borrow().clone();
        Some(st.as_of(tokio::time::Instant::now()))
    }

    /// `admin.commandURL`.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The admin service the commands read.
    pub fn admin(&self) -> &AdminService {
        &self.admin
    }

    /// The `snapshot` command's one-at-a-time flag.
    pub(super) fn snapshot_busy(&self) -> &super::snapshot::Busy {
        &self.inner.snapshot_busy
    }

    /// Runs command `name` (any of its names) with the URL's query string: the HTTP status
    /// and the JSON answer.
    pub fn run(&self, name: &str, query: Option<&str>) -> (StatusCode, Value) {
        let Some(cmd) = COMMANDS.iter().find(|c| c.names.contains(&name)) else {
            return (
                StatusCode::NOT_FOUND,
                json!({ "command": name, "error": format!("Unknown command: {name}") }),
            );
        };
        let primary = cmd.names[0];
        let status = self.admin.source().status();
        let mut out = Map::new();
        let error = if cmd.server_required && !status.processor.serving {
            Some(NOT_SERVING.to_string())
        } else {
            (cmd.run)(self, &status, query.unwrap_or(""), &mut out).err()
        };
        out.insert("command".into(), primary.into());
        out.insert("error".into(), error.map_or(Value::Null, Value::from));
        (StatusCode::OK, Value::Object(out))
    }
}

/// A command's body: fills the answer, or says what went wrong (`error`).
type Run = fn(&Context, &NodeStatus, &str, &mut Map<String, Value>) -> Result<(), String>;

struct Command {
    /// The primary name first (the one `command` reports), then the aliases.
    names: &'static [&'static str],
    /// Answers only while the server serves.
    server_required: bool,
    run: Run,
}

/// Every command, in ZooKeeper's names.
const COMMANDS: &[Command] = &[
    Command {
        names: &["connection_stat_reset", "crst"],
        server_required: true,
        run: |c, _, _, _| {
            c.admin.source().reset_connection_stats();
            Ok(())
        },
    },
    Command {
        names: &["configuration", "conf", "config"],
        server_required: true,
        run: |c, _, _, out| {
            for (k, v) in &c.admin.options().conf {
                out.insert(snake_case(k), scalar(v));
            }
            Ok(())
        },
    },
    Command {
        names: &["connections", "cons"],
        server_required: true,
        run: |c, _, _, out| {
            let all = c.admin.source().connections();
            out.insert("connections".into(), connections(&all, false));
            out.insert("secure_connections".into(), json!([]));
            Ok(())
        },
    },
    Command {
        names: &["hash"],
        server_required: true,
        run: |c, _, _, out| {
            let digests: Vec<Value> = c
                .admin
                .source()
                .digest()
                .into_iter()
                .map(|(zxid, digest)| json!({ "zxid": zxid.0, "digest": digest }))
                .collect();
            out.insert("digests".into(), digests.into());
            Ok(())
        },
    },
    Command {
        names: &["dirs"],
        server_required: true,
        run: |c, _, _, out| {
            let (data, log) = c.admin.source().dir_sizes();
            out.insert("datadir_size".into(), data.into());
            out.insert("logdir_size".into(), log.into());
            Ok(())
        },
    },
    Command {
        names: &["dump"],
        server_required: true,
        run: |c, _, _, out| {
            let sessions = c.admin.source().sessions();
            let mut expiry: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
            let mut ephemerals = Map::new();
            for d in &sessions {
                if let Some(at) = d.expires_at_ms {
                    expiry.entry(at).or_default().push(d.session.0);
                }
                if !d.ephemerals.is_empty() {
                    ephemerals.insert(d.session.0.to_string(), json!(d.ephemerals));
                }
            }
            let expiry: Map<String, Value> = expiry
                .into_iter()
                .map(|(at, ids)| (at.to_string(), json!(ids)))
                .collect();
            out.insert("expiry_time_to_session_ids".into(), expiry.into());
            out.insert("session_id_to_ephemeral_paths".into(), ephemerals.into());
            Ok(())
        },
    },
    Command {
        names: &["environment", "env", "envi"],
        server_required: false,
        run: |c, _, _, out| {
            for (k, v) in &c.admin.options().environment {
                out.insert(k.clone(), v.clone().into());
            }
            Ok(())
        },
    },
    Command {
        names: &["get_trace_mask", "gtmk"],
        server_required: false,
        run: |c, _, _, out| {
            out.insert("tracemask".into(), (c.admin.trace_mask() as i64).into());
            Ok(())
        },
    },
    Command {
        names: &["initial_configuration", "icfg"],
        server_required: true,
        run: |c, _, _, out| {
            let text = c.inner.initial_config.clone();
            out.insert(
                "initial_configuration".into(),
                text.map_or(Value::Null, Value::from),
            );
            Ok(())
        },
    },
    Command {
        names: &["is_read_only", "isro"],
        server_required: true,
        run: |_, s, _, out| {
            out.insert("read_only".into(), (s.mode == Mode::ReadOnly).into());
            Ok(())
        },
    },
    Command {
        names: &["last_snapshot", "lsnp"],
        server_required: true,
        run: |c, _, _, out| {
            let (zxid, secs) = last_snapshot(&c.inner.dirs.data)
                .map_or((-1i64, -1i64), |(z, t)| (z as i64, t as i64));
            out.insert("zxid".into(), format!("{zxid:x}").into());
            out.insert("timestamp".into(), secs.into());
            Ok(())
        },
    },
    Command {
        names: &["leader", "lead"],
        server_required: true,
        run: |c, s, _, out| {
            if c.inner.members.is_empty() {
                return Err("server is not initialized".into());
            }
            out.insert("is_leader".into(), (s.mode == Mode::Leader).into());
            let leader = s.leader_id;
            out.insert("leader_id".into(), leader.map_or(-1, |l| l as i64).into());
            let ip = leader
                .and_then(|l| c.inner.members.iter().find(|m| m.id.0 == l))
                .map(|m| format!("{}:{}", m.host, m.quorum_port))
                .unwrap_or_default();
            out.insert("leader_ip".into(), ip.into());
            Ok(())
        },
    },
    Command {
        names: &["monitor", "mntr"],
        server_required: false,
        run: |c, s, _, out| {
            for (k, v) in mntr_rows(s, &c.admin.options().version) {
                out.insert(k.to_string(), scalar(&v));
            }
            Ok(())
        },
    },
    Command {
        names: &["observers", "obsr"],
        server_required: true,
        run: |c, _, _, out| {
            super::quorum::observers(&c.inner.members, c.peer_now().as_ref(), out);
            Ok(())
        },
    },
    Command {
        names: &["ruok"],
        server_required: true,
        run: |_, _, _, _| Ok(()),
    },
    Command {
        names: &["set_trace_mask", "stmk"],
        server_required: false,
        run: |c, _, query, out| {
            let arg = query_value(query, "traceMask")
                .ok_or("setTraceMask requires long traceMask argument")?;
            let mask: i64 = arg
                .parse()
                .map_err(|_| format!("setTraceMask requires long traceMask argument, got {arg}"))?;
            c.admin.set_trace_mask(mask as u64);
            out.insert("tracemask".into(), mask.into());
            Ok(())
        },
    },
    Command {
        names: &["server_stats", "srvr"],
        server_required: true,
        run: |c, s, _, out| {
            server_stats(c, s, out);
            Ok(())
        },
    },
    Command {
        names: &["stats", "stat"],
        server_required: true,
        run: |c, s, _, out| {
            server_stats(c, s, out);
            let all = c.admin.source().connections();
            out.insert("connections".into(), connections(&all, true));
            out.insert("secure_connections".into(), json!([]));
            Ok(())
        },
    },
    Command {
        names: &["stat_reset", "srst"],
        server_required: true,
        run: |c, _, _, _| {
            c.admin.source().reset_server_stats();
            Ok(())
        },
    },
    Command {
        names: &["system_properties", "sysp"],
        server_required: false,
        run: |c, _, _, out| {
            for (k, v) in &c.inner.properties {
                out.insert(k.clone(), v.clone().into());
            }
            Ok(())
        },
    },
    Command {
        names: &["voting_view"],
        server_required: true,
        run: |c, _, _, out| {
            let mut view = Map::new();
            for m in c.inner.members.iter().filter(|m| !m.observer) {
                view.insert(
                    m.id.0.to_string(),
                    json!({
                        "server_addresses": [format!("{}:{}", m.host, m.quorum_port)],
                        "election_addresses": [format!("{}:{}", m.host, m.election_port)],
                        // As ZooKeeper: the server line's client part, empty without one.
                        "client_address": m.client_addr.clone().unwrap_or_default(),
                        "learner_type": "participant",
                    }),
                );
            }
            out.insert("current_config".into(), view.into());
            Ok(())
        },
    },
    Command {
        names: &["watches", "wchc"],
        server_required: true,
        run: |c, _, _, out| {
            let mut by: BTreeMap<i64, Vec<String>> = BTreeMap::new();
            for (session, path) in c.admin.source().watches() {
                by.entry(session.0).or_default().push(path);
            }
            let map: Map<String, Value> = by
                .into_iter()
                .map(|(s, paths)| (s.to_string(), json!(paths)))
                .collect();
            out.insert("session_id_to_watched_paths".into(), map.into());
            Ok(())
        },
    },
    Command {
        names: &["watches_by_path", "wchp"],
        server_required: true,
        run: |c, _, _, out| {
            let mut by: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            for (session, path) in c.admin.source().watches() {
                by.entry(path).or_default().push(session.0);
            }
            let map: Map<String, Value> = by.into_iter().map(|(p, ids)| (p, json!(ids))).collect();
            out.insert("path_to_session_ids".into(), map.into());
            Ok(())
        },
    },
    Command {
        names: &["watch_summary", "wchs"],
        server_required: true,
        run: |_, s, _, out| {
            let p = &s.processor;
            out.insert("num_connections".into(), p.watching_sessions.into());
            out.insert("num_paths".into(), p.watched_paths.into());
            out.insert("num_total_watches".into(), p.watch_count.into());
            Ok(())
        },
    },
    Command {
        names: &["zabstate"],
        server_required: false,
        run: |c, s, _, out| {
            super::quorum::zabstate(&c.inner.members, c.peer_now().as_ref(), s, out);
            Ok(())
        },
    },
];

/// The primary names, sorted (the command page), `snapshot` (served apart: not JSON) included.
pub fn primary_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.names[0]).collect();
    names.push(super::snapshot::NAMES[0]);
    names.sort_unstable();
    names
}

/// Every name a command answers to.
pub fn all_names() -> Vec<&'static str> {
    COMMANDS
        .iter()
        .flat_map(|c| c.names.iter().copied())
        .chain(super::snapshot::NAMES)
        .collect()
}

/// `server_stats` / `stats`: ZooKeeper's `ServerStats` as Jackson writes it, the response
/// buffer stats (Paddock does not measure them: -1, ZooKeeper's "none yet"), a leader's
/// proposal sizes, the node count.
fn server_stats(c: &Context, s: &NodeStatus, out: &mut Map<String, Value>) {
    let p = &s.processor;
    let (min, avg, max) = p.latency_ms();
    let (data_dir_size, log_dir_size) = c.admin.source().dir_sizes();
    let none = json!({ "last_buffer_size": -1, "min_buffer_size": -1, "max_buffer_size": -1 });
    out.insert("version".into(), c.admin.options().version.clone().into());
    out.insert("read_only".into(), (s.mode == Mode::ReadOnly).into());
    out.insert(
        "server_stats".into(),
        json!({
            "packets_sent": p.answered,
            "packets_received": p.received,
            "max_latency": max,
            "min_latency": min,
            "avg_latency": avg,
            "outstanding_requests": p.outstanding,
            "last_processed_zxid": p.last_zxid.0,
            "server_state": s.mode.as_str(),
            "num_alive_client_connections": p.connections,
            "data_dir_size": data_dir_size,
            "log_dir_size": log_dir_size,
            "uptime": s.uptime_ms,
            "provider_null": false,
            "client_response_stats": none.clone(),
        }),
    );
    out.insert("client_response".into(), none);
    if s.mode == Mode::Leader {
        let [last, min, max] = s.proposal_sizes.map_or([-1i64; 3], |v| v.map(|x| x as i64));
        out.insert(
            "proposal_stats".into(),
            json!({ "last_buffer_size": last, "min_buffer_size": min, "max_buffer_size": max }),
        );
    }
    out.insert("node_count".into(), p.node_count.into());
}

/// ZooKeeper's `getConnectionInfo(brief)` for each connection.
fn connections(all: &[ConnectionInfo], brief: bool) -> Value {
    all.iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert("remote_socket_address".into(), c.peer.clone().into());
            m.insert("interest_ops".into(), 1.into());
            m.insert("outstanding_requests".into(), c.queued.into());
            m.insert("packets_received".into(), c.received.into());
            m.insert("packets_sent".into(), c.sent.into());
            if !brief {
                m.insert("session_id".into(), format!("0x{:x}", c.session.0).into());
                m.insert("session_timeout".into(), c.timeout_ms.into());
            }
            Value::Object(m)
        })
        .collect::<Vec<_>>()
        .into()
}

/// The config file's text with the values of secret keys (a password, the super user's digest)
/// replaced by `****`: the admin API answers anyone who reaches it, and a digest can be
/// attacked offline. Everything else, comments and blank lines included, stays as written.
fn redact_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let secret = line.split_once('=').filter(|(key, _)| {
            let key = key.trim().to_ascii_lowercase();
            !key.starts_with('#') && (key.contains("password") || key.contains("superdigest"))
        });
        match secret {
            Some((key, _)) => {
                out.push_str(key);
                out.push_str("=****");
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            None => out.push_str(line),
        }
    }
    out
}

/// `system_properties`: what stands in for the JVM's system properties. Paddock runs no JVM,
/// so there are no `java.*` properties; it answers the platform properties Java would have
/// (operating system, user, directories, separators) and the zoo.cfg settings ZooKeeper reads
/// as `zookeeper.*` (or bare) system properties, as this server has them. Secrets (the super
/// user's digest) are left out. Sorted by name, as ZooKeeper sorts them.
fn system_properties(config: &Config) -> BTreeMap<String, String> {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let os_version = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    let user_dir = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let whitelist = config.four_letter_words.join(",");
    let props: [(&str, String); 20] = [
        ("file.separator", std::path::MAIN_SEPARATOR.to_string()),
        ("java.io.tmpdir", std::env::temp_dir().display().to_string()),
        ("jute.maxbuffer", config.max_data_bytes.to_string()),
        ("line.separator", "\n".to_string()),
        ("os.arch", std::env::consts::ARCH.to_string()),
        ("os.name", std::env::consts::OS.to_string()),
        ("os.version", os_version),
        ("path.separator", ":".to_string()),
        (
            "readonlymode.enabled",
            config.read_only_mode_enabled.to_string(),
        ),
        ("user.dir", user_dir),
        ("user.home", env("HOME")),
        ("user.name", env("USER")),
        ("zookeeper.4lw.commands.whitelist", whitelist),
        (
            "zookeeper.admin.commandURL",
            config.admin_command_url.clone(),
        ),
        (
            "zookeeper.admin.enableServer",
            config.admin_enabled.to_string(),
        ),
        (
            "zookeeper.admin.forceHttps",
            config.admin_force_https.to_string(),
        ),
        (
            "zookeeper.admin.serverAddress",
            config.admin_address.clone(),
        ),
        (
            "zookeeper.admin.serverPort",
            config.admin_port.unwrap_or(0).to_string(),
        ),
        (
            "zookeeper.extendedTypesEnabled",
            config.extended_types_enabled.to_string(),
        ),
        ("zookeeper.version", crate::admin::version()),
    ];
    props.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// `clientPort` -> `client_port` (ZooKeeper's JSON names are its config names in snake case).
fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for ch in key.chars() {
        if ch.is_ascii_uppercase() {
            out.push('_');
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// A number where the text is one, otherwise the text.
fn scalar(text: &str) -> Value {
    if let Ok(v) = text.parse::<i64>() {
        return v.into();
    }
    if let Ok(v) = text.parse::<u64>() {
        return v.into();
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && text.contains('.') => v.into(),
        _ => text.into(),
    }
}

/// The value of `key` in a URL query (`a=1&b=2`; no percent-decoding: the values read here
/// are numbers).
pub(super) fn query_value<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find_map(|(k, v)| (k == key).then_some(v))
}

/// The newest snapshot under `<data dir>/snapshots` (`snapshot.<zxid hex16>`): its zxid and
/// when it was written, seconds since the epoch (ZooKeeper's `SnapshotInfo`).
fn last_snapshot(data_dir: &std::path::Path) -> Option<(u64, u64)> {
    let entries = std::fs::read_dir(data_dir.join("snapshots")).ok()?;
    let (zxid, path) = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let hex = name.to_str()?.strip_prefix("snapshot.")?;
            let zxid = u64::from_str_radix(hex, 16).ok()?;
            Some((zxid, e.path()))
        })
        .max_by_key(|(z, _)| *z)?;
    let written = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    let secs = written
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Some((zxid, secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_as_zookeeper_writes_them() {
        assert_eq!(snake_case("maxClientCnxns"), "max_client_cnxns");
        assert_eq!(snake_case("dataDir"), "data_dir");
        assert_eq!(scalar("42"), json!(42));
        assert_eq!(scalar("1.5"), json!(1.5));
        assert_eq!(scalar("18446744073709551615"), json!(u64::MAX));
        assert_eq!(scalar("3.9.0-paddock"), json!("3.9.0-paddock"));
        assert_eq!(scalar("standalone"), json!("standalone"));
        assert_eq!(scalar("NaN"), json!("NaN"));
        assert_eq!(query_value("a=1&traceMask=306", "traceMask"), Some("306"));
        assert_eq!(query_value("traceMask", "traceMask"), None);
    }

    #[test]
    fn every_name_is_unique_and_every_four_letter_word_is_an_alias() {
        let names = all_names();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for word in paddock_gateway::admin::COMMANDS {
            assert!(names.contains(word), "{word} has no HTTP command");
        }
    }

    #[test]
    fn secrets_are_hidden_from_the_initial_configuration() {
        let text = "# superDigest=kept, a comment\ntickTime=2000\n\
                    zookeeper.DigestAuthenticationProvider.superDigest=super:abc=\n\
                    ssl.quorum.keyStore.password = pw\nsuperDigest=x";
        assert_eq!(
            redact_secrets(text),
            "# superDigest=kept, a comment\ntickTime=2000\n\
             zookeeper.DigestAuthenticationProvider.superDigest=****\n\
             ssl.quorum.keyStore.password =****\nsuperDigest=****"
        );
        assert_eq!(redact_secrets("a=1\n\nb=2\n"), "a=1\n\nb=2\n");
    }

    #[test]
    fn last_snapshot_is_the_highest_zxid() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(last_snapshot(dir.path()), None);
        let snaps = dir.path().join("snapshots");
        std::fs::create_dir(&snaps).expect("mkdir");
        for name in [
            "snapshot.0000000100000002",
            "snapshot.000000010000000a",
            "snapshot.000000020000000b.tmp",
            "other",
        ] {
            std::fs::write(snaps.join(name), b"x").expect("write");
        }
        let (zxid, secs) = last_snapshot(dir.path()).expect("a snapshot");
        assert_eq!(zxid, 0x1_0000_000a);
        assert!(secs > 1_600_000_000, "{secs}");
    }
}

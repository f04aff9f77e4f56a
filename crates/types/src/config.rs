//! `zoo.cfg` parsing and validation.
//!
//! The file format is ZooKeeper's: `key=value` lines, `#` comments. Every key can also be set from a
//! command-line flag through [`Config::set`], so the binary parses flags and the file the same way.
//! Unknown keys produce warnings; invalid values are errors naming the key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::ids::ServerId;

/// A `server.N=host:quorumPort:electionPort[:participant|:observer][;[clientAddr:]clientPort]` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSpec {
    pub id: ServerId,
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    /// Observers replicate but never vote.
    pub observer: bool,
    /// The line's `;[clientAddr:]clientPort` suffix, as `host:port` (a bare port means
    /// `0.0.0.0:port`, as ZooKeeper): the server's client (gRPC) address, shown in
    /// `/zookeeper/config`. `None` when the line has no suffix (ZooKeeper then shows none).
    pub client_addr: Option<String>,
}

/// The server's configuration, with ZooKeeper's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// ZooKeeper's basic time unit (`tickTime`), ms.
    pub tick_ms: u32,
    /// Ticks a learner may take to connect and sync (`initLimit`).
    pub init_limit_ticks: u32,
    /// Ticks a learner may lag before it is dropped (`syncLimit`).
    pub sync_limit_ticks: u32,
    /// Where snapshots, the log and `myid` live (`dataDir`).
    pub data_dir: PathBuf,
    /// Where the txn log's sled database lives (`dataLogDir`); defaults to `data_dir`. Snapshots,
    /// epochs, `myid` and the lock stay in `data_dir` (the log dir gets a lock of its own).
    pub data_log_dir: Option<PathBuf>,
    /// `minSessionTimeout`, ms; `None` means 2 x tickTime.
    pub min_session_timeout_ms: Option<u32>,
    /// `maxSessionTimeout`, ms; `None` means 20 x tickTime.
    pub max_session_timeout_ms: Option<u32>,
    /// Transactions between snapshots (`snapCount`); each server randomises around it.
    pub snap_count: u64,
    /// Snapshots kept by purge (`autopurge.snapRetainCount`, at least 3).
    pub snap_retain_count: u32,
    /// Hours between purges (`autopurge.purgeInterval`); 0 = purge only after each snapshot.
    pub purge_interval_hours: u32,
    /// Concurrent client streams per client IP (`maxClientCnxns`); 0 = unlimited.
    pub max_client_cnxns: u32,
    /// Whether the leader accepts client connections (`leaderServes`).
    pub leader_serves: bool,
    /// ZooKeeper's read-only mode (`readonlymode.enabled`, a Java system property there): an
    /// ensemble member cut off from its quorum (LOOKING for max(2 s, tickTime)) serves reads to
    /// sessions that allow read-only until it rejoins. Ignored by a standalone server.
    pub read_only_mode_enabled: bool,
    /// Whether `reconfig` is allowed (`reconfigEnabled`, ZooKeeper's default false; off, it is
    /// answered RECONFIGDISABLED). Ignored by a standalone server, which cannot reconfigure.
    pub reconfig_enabled: bool,
    /// Whether TTL nodes may be created (`extendedTypesEnabled`, ZooKeeper's
    /// `zookeeper.extendedTypesEnabled`); off, their creates are answered Unimplemented.
    pub extended_types_enabled: bool,
    /// Whether an ensemble member opens new sessions as local sessions
    /// (`localSessionsEnabled`): known only to the server the client connected to, created and
    /// closed without a transaction. Ignored by a standalone server, as by ZooKeeper's.
    pub local_sessions_enabled: bool,
    /// Whether a local session is upgraded to a global one (a replicated createSession) when it
    /// creates its first ephemeral (`localSessionsUpgradingEnabled`); off, that create is
    /// answered EPHEMERALONLOCALSESSION. Meaningful only with `local_sessions_enabled`.
    pub local_sessions_upgrading_enabled: bool,
    /// How often the leader looks for empty containers and expired TTL nodes
    /// (`znode.container.checkIntervalMs`).
    pub container_check_interval_ms: u32,
    /// At most this many container / TTL deletions a minute (`znode.container.maxPerMinute`).
    pub container_max_per_minute: u32,
    /// Prometheus port (`metricsProvider.httpPort`); `None` = metrics endpoint off.
    pub metrics_port: Option<u16>,
    /// The HTTP admin API (`/commands/<name>`) and `/metrics` on one listener
    /// (`admin.enableServer`, default true, as ZooKeeper's AdminServer).
    pub admin_enabled: bool,
    /// The address it binds (`admin.serverAddress`, default `0.0.0.0`).
    pub admin_address: String,
    /// Its port (`admin.serverPort`, default 8080); `None` = off (`admin.serverPort=0`).
    /// `Some(0)`, only from code (tests), binds any free port.
    pub admin_port: Option<u16>,
    /// Where the commands live (`admin.commandURL`, default `/commands`): `GET <url>` lists
    /// them, `GET <url>/<name>` runs one.
    pub admin_command_url: String,
    /// The admin listener speaks HTTPS only (`admin.forceHttps`, default false), with this
    /// server's `ssl.quorum.keyStore.location` certificate, as ZooKeeper's AdminServer.
    pub admin_force_https: bool,
    /// With `admin_force_https`: clients must present a certificate that chains to
    /// `ssl.quorum.trustStore.location` (`admin.needClientAuth`, default false).
    pub admin_need_client_auth: bool,
    /// Enabled admin (four-letter-word) commands (`4lw.commands.whitelist`).
    pub four_letter_words: Vec<String>,
    /// ZooKeeper's own protocol, for existing ZooKeeper clients (`clientPort`, default 2181);
    /// 0 = not served. Bound on `grpc_address`.
    pub client_port: u16,
    /// ZooKeeper's protocol over TLS (`secureClientPort`; 0 = not served), with the certificates
    /// of `ssl.keyStore.location` / `ssl.trustStore.location` / `ssl.clientAuth`.
    pub secure_client_port: u16,
    /// The gRPC client API port (`grpcPort`, Paddock).
    pub grpc_port: u16,
    /// The address the gRPC API binds (`grpcAddress`, Paddock).
    pub grpc_address: String,
    /// Largest znode data and request size, bytes (`jute.maxbuffer`).
    pub max_data_bytes: u32,
    /// Requests a server holds in its pipeline at once before pushing back (`globalOutstandingLimit`).
    pub global_outstanding_limit: u32,
    /// Requests one session may have in flight (`maxInflightPerSession`, Paddock).
    pub max_inflight_per_session: u32,
    /// Threads running the server's async work (`workerThreads`, Paddock); `None` = one per
    /// CPU core. Lower it when several servers share a machine's cores.
    pub worker_threads: Option<u32>,
    /// Threads serving each client port (`servingThreads`, Paddock: the gRPC port and
    /// ZooKeeper's client ports), each a single-threaded event loop that accepts connections
    /// from the port and serves them itself; 0 = the connections are served on the worker
    /// threads (the default). Worth it where servers share a machine's cores (`make cluster`
    /// sets 1); measured in docs/architecture.md section 9, "Serving threads".
    pub serving_threads: u32,
    /// The super user's digest, `super:base64(sha1("super:password"))` (ZooKeeper's
    /// `zookeeper.DigestAuthenticationProvider.superDigest`, or `superDigest`): a session that
    /// authenticates with the matching `digest` credentials passes every ACL check.
    pub super_digest: Option<String>,
    /// TLS on the client (gRPC) port: a PEM file with the server's private key and certificate
    /// chain (`ssl.keyStore.location`, ZooKeeper's key with a PEM store).
    pub ssl_key_store: Option<PathBuf>,
    /// PEM file of the CA certificates client certificates must chain to
    /// (`ssl.trustStore.location`).
    pub ssl_trust_store: Option<PathBuf>,
    /// `ssl.clientAuth`: `none`, `want` or `need` (lower case); `None` = ZooKeeper's default,
    /// `need` when a trust store is given.
    pub ssl_client_auth: Option<String>,
    /// The client certificate subject that is the super user
    /// (`zookeeper.X509AuthenticationProvider.superUser`), RFC 2253 as Java prints it.
    pub x509_super_user: Option<String>,
    /// Mutual TLS between the servers (`sslQuorum`): election and quorum peer connections run
    /// over TLS only, each server presenting `ssl.quorum.keyStore.location` and accepting peers
    /// whose certificate chains to `ssl.quorum.trustStore.location` and names their host in
    /// the server list. Every server must have the same setting (no port unification).
    pub ssl_quorum: bool,
    /// PEM file with this server's private key and certificate chain for server-to-server TLS
    /// (`ssl.quorum.keyStore.location`).
    pub ssl_quorum_key_store: Option<PathBuf>,
    /// PEM file with the CA certificates peers' certificates must chain to
    /// (`ssl.quorum.trustStore.location`).
    pub ssl_quorum_trust_store: Option<PathBuf>,
    /// `server.N` lines, by id.
    pub servers: BTreeMap<ServerId, ServerSpec>,
    /// The config file's text as it was read ([`Config::parse`]), for the admin command
    /// `initial_configuration`; `None` when the configuration came from flags only.
    pub initial_config: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            tick_ms: 2000,
            init_limit_ticks: 10,
            sync_limit_ticks: 5,
            data_dir: PathBuf::from("./data"),
            data_log_dir: None,
            min_session_timeout_ms: None,
            max_session_timeout_ms: None,
            snap_count: 100_000,
            snap_retain_count: 3,
            purge_interval_hours: 0,
            max_client_cnxns: 60,
            leader_serves: true,
            read_only_mode_enabled: false,
            reconfig_enabled: false,
            extended_types_enabled: false,
            local_sessions_enabled: false,
            local_sessions_upgrading_enabled: false,
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            metrics_port: None,
            admin_enabled: true,
            admin_address: "0.0.0.0".into(),
            admin_port: Some(8080),
            admin_command_url: "/commands".into(),
            admin_force_https: false,
            admin_need_client_auth: false,
            four_letter_words: vec!["srvr".into()],
            client_port: 2181,
            secure_client_port: 0,
            grpc_port: 7181,
            grpc_address: "0.0.0.0".into(),
            max_data_bytes: 1024 * 1024,
            global_outstanding_limit: 1000,
            max_inflight_per_session: 1000,
            worker_threads: None,
            serving_threads: 0,
            super_digest: None,
            ssl_key_store: None,
            ssl_trust_store: None,
            ssl_client_auth: None,
            x509_super_user: None,
            ssl_quorum: false,
            ssl_quorum_key_store: None,
            ssl_quorum_trust_store: None,
            servers: BTreeMap::new(),
            initial_config: None,
        }
    }
}

/// A configuration error; the message names the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("invalid value for {key}: {value:?} ({why})")]
    Invalid {
        key: String,
        value: String,
        why: String,
    },
    #[error("line {line}: expected key=value, got {text:?}")]
    Syntax { line: usize, text: String },
    #[error("{0}")]
    Inconsistent(String),
}

fn invalid(key: &str, value: &str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        why: why.into(),
    }
}

fn num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse::<T>()
        .map_err(|_| invalid(key, value, "not a valid number"))
}

fn positive(key: &str, value: &str) -> Result<u32, ConfigError> {
    let v: u32 = num(key, value)?;
    if v == 0 {
        return Err(invalid(key, value, "must be greater than 0"));
    }
    Ok(v)
}

fn port(key: &str, value: &str) -> Result<u16, ConfigError> {
    num::<u16>(key, value).map_err(|_| invalid(key, value, "not a port number (0-65535)"))
}

fn boolean(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Ok(true),
        "no" | "false" | "off" | "0" => Ok(false),
        _ => Err(invalid(key, value, "expected yes/no or true/false")),
    }
}

/// Keys ZooKeeper knows that Paddock accepts and ignores (no warning).
const IGNORED_KEYS: &[&str] = &[
    "metricsProvider.className",
    "metricsProvider.exportJvmInfo",
    "standaloneEnabled",
    "preAllocSize",
    "clientPortAddress",
    "audit.enable",
    "dynamicConfigFile",
];

impl Config {
    /// Parses zoo.cfg text on top of the defaults. Returns the config and warnings (unknown keys).
    pub fn parse(text: &str) -> Result<(Config, Vec<String>), ConfigError> {
        let mut cfg = Config::default();
        let mut warnings = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(ConfigError::Syntax {
                    line: i + 1,
                    text: raw.to_string(),
                });
            };
            if let Some(w) = cfg.set(k.trim(), v.trim())? {
                warnings.push(format!("line {}: {w}", i + 1));
            }
        }
        cfg.initial_config = Some(text.to_string());
        Ok((cfg, warnings))
    }

    /// Sets one key as zoo.cfg spells it. `Ok(Some(warning))` for an unknown key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<Option<String>, ConfigError> {
        match key {
            "tickTime" => self.tick_ms = positive(key, value)?,
            "initLimit" => self.init_limit_ticks = positive(key, value)?,
            "syncLimit" => self.sync_limit_ticks = positive(key, value)?,
            "dataDir" => {
                if value.is_empty() {
                    return Err(invalid(key, value, "must not be empty"));
                }
                self.data_dir = PathBuf::from(value)
            }
            "dataLogDir" => {
                if value.is_empty() {
                    return Err(invalid(key, value, "must not be empty"));
                }
                self.data_log_dir = Some(PathBuf::from(value))
            }
            "minSessionTimeout" => self.min_session_timeout_ms = Some(positive(key, value)?),
            "maxSessionTimeout" => self.max_session_timeout_ms = Some(positive(key, value)?),
            "snapCount" => {
                let v: u64 = num(key, value)?;
                if v < 2 {
                    return Err(invalid(key, value, "must be at least 2"));
                }
                self.snap_count = v
            }
            "autopurge.snapRetainCount" => {
                let v: u32 = num(key, value)?;
                // ZooKeeper silently raises values below 3 to 3.
                self.snap_retain_count = v.max(3);
            }
            "autopurge.purgeInterval" => self.purge_interval_hours = num(key, value)?,
            "maxClientCnxns" => self.max_client_cnxns = num(key, value)?,
            "leaderServes" => self.leader_serves = boolean(key, value)?,
            "readonlymode.enabled" => self.read_only_mode_enabled = boolean(key, value)?,
            "reconfigEnabled" => self.reconfig_enabled = boolean(key, value)?,
            "extendedTypesEnabled" | "zookeeper.extendedTypesEnabled" => {
                self.extended_types_enabled = boolean(key, value)?
            }
            "localSessionsEnabled" => self.local_sessions_enabled = boolean(key, value)?,
            "localSessionsUpgradingEnabled" => {
                self.local_sessions_upgrading_enabled = boolean(key, value)?
            }
            "znode.container.checkIntervalMs" => {
                self.container_check_interval_ms = positive(key, value)?
            }
            "znode.container.maxPerMinute" => {
                self.container_max_per_minute = positive(key, value)?
            }
            "metricsProvider.httpPort" => self.metrics_port = Some(port(key, value)?),
            "admin.enableServer" => self.admin_enabled = boolean(key, value)?,
            "admin.serverAddress" => {
                if value.is_empty() {
                    return Err(invalid(key, value, "must not be empty"));
                }
                self.admin_address = value.to_string()
            }
            "admin.forceHttps" => self.admin_force_https = boolean(key, value)?,
            "admin.needClientAuth" => self.admin_need_client_auth = boolean(key, value)?,
            "admin.portUnification" => {
                if boolean(key, value)? {
                    return Err(invalid(
                        key,
                        value,
                        "not supported: the admin port is either plain HTTP or, with admin.forceHttps=true, HTTPS only",
                    ));
                }
            }
            "admin.serverPort" => {
                self.admin_port = Some(port(key, value)?).filter(|&p| p != 0);
            }
            "admin.commandURL" => {
                let url = value.trim_end_matches('/');
                if !url.starts_with('/') || url == "/metrics" {
                    return Err(invalid(
                        key,
                        value,
                        "must be a path such as /commands (and not /metrics)",
                    ));
                }
                self.admin_command_url = url.to_string()
            }
            "4lw.commands.whitelist" => {
                self.four_letter_words = value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            "clientPort" => self.client_port = port(key, value)?,
            "secureClientPort" => self.secure_client_port = port(key, value)?,
            "grpcPort" => self.grpc_port = port(key, value)?,
            "grpcAddress" => {
                if value.is_empty() {
                    return Err(invalid(key, value, "must not be empty"));
                }
                self.grpc_address = value.to_string()
            }
            "jute.maxbuffer" => self.max_data_bytes = positive(key, value)?,
            "globalOutstandingLimit" => self.global_outstanding_limit = positive(key, value)?,
            "maxInflightPerSession" => self.max_inflight_per_session = positive(key, value)?,
            "workerThreads" => {
                let v: u32 = positive(key, value)?;
                if v > 1024 {
                    return Err(invalid(key, value, "must be at most 1024"));
                }
                self.worker_threads = Some(v)
            }
            "servingThreads" => {
                let v: u32 = num(key, value)?;
                if v > 1024 {
                    return Err(invalid(key, value, "must be at most 1024"));
                }
                self.serving_threads = v
            }
            "superDigest" | "zookeeper.DigestAuthenticationProvider.superDigest" => {
                match value.split_once(':') {
                    Some((user, hash)) if !user.is_empty() && !hash.is_empty() => {
                        self.super_digest = Some(value.to_string())
                    }
                    _ => {
                        return Err(invalid(
                            key,
                            value,
                            "expected user:base64(sha1(user:password)), as `paddock digest user:password` prints",
                        ))
                    }
                }
            }
            "ssl.keyStore.location" | "ssl.trustStore.location" => {
                if value.is_empty() {
                    return Err(invalid(key, value, "must not be empty"));
                }
                let path = Some(PathBuf::from(value));
                if key == "ssl.keyStore.location" {
                    self.ssl_key_store = path;
                } else {
                    self.ssl_trust_store = path;
                }
            }
            "sslQuorum" => self.ssl_quorum = boolean(key, value)?,
            "ssl.quorum.keyStore.location" | "ssl.quorum.trustStore.location" => {
                if value.is_empty() {
                    return Err(invalid(key, value, "must not be empty"));
                }
                let path = Some(PathBuf::from(value));
                if key == "ssl.quorum.keyStore.location" {
                    self.ssl_quorum_key_store = path;
                } else {
                    self.ssl_quorum_trust_store = path;
                }
            }
            "ssl.quorum.keyStore.password" | "ssl.quorum.trustStore.password" => {
                return Ok(Some(format!(
                    "{key} ignored: PEM stores are read unencrypted (an encrypted private key is refused at start)"
                )))
            }
            // Peers always present certificates and are checked against their host.
            "ssl.quorum.clientAuth" => {
                if !value.trim().eq_ignore_ascii_case("need") {
                    return Err(invalid(
                        key,
                        value,
                        "only need is supported: every server presents a certificate to its peers",
                    ));
                }
            }
            "ssl.quorum.hostnameVerification" => {
                if !boolean(key, value)? {
                    return Err(invalid(
                        key,
                        value,
                        "cannot be turned off: a peer's certificate must name its host in the server list",
                    ));
                }
            }
            // Certificates are always re-read when their files change.
            "sslQuorumReloadCertFiles" => {
                boolean(key, value)?;
            }
            "portUnification" => {
                if boolean(key, value)? {
                    return Err(invalid(
                        key,
                        value,
                        "not supported: to switch sslQuorum, restart every server with the new setting",
                    ));
                }
            }
            "ssl.keyStore.type" | "ssl.trustStore.type" | "ssl.quorum.keyStore.type"
            | "ssl.quorum.trustStore.type" => {
                if !value.eq_ignore_ascii_case("PEM") {
                    return Err(invalid(
                        key,
                        value,
                        "only PEM stores are supported (convert a JKS or PKCS12 store with keytool/openssl)",
                    ));
                }
            }
            "ssl.keyStore.password" | "ssl.trustStore.password" => {
                return Ok(Some(format!(
                    "{key} ignored: PEM stores are read unencrypted (an encrypted private key is refused at start)"
                )))
            }
            "ssl.clientAuth" => match value.trim().to_ascii_lowercase().as_str() {
                v @ ("none" | "want" | "need") => self.ssl_client_auth = Some(v.to_string()),
                _ => return Err(invalid(key, value, "expected none, want or need")),
            },
            "zookeeper.X509AuthenticationProvider.superUser" => {
                if value.is_empty() {
                    return Err(invalid(key, value, "must not be empty"));
                }
                self.x509_super_user = Some(value.to_string())
            }
            k if k.starts_with("server.") => {
                let spec = parse_server(k, value)?;
                self.servers.insert(spec.id, spec);
            }
            k if IGNORED_KEYS.contains(&k) => {}
            k => return Ok(Some(format!("unknown configuration key {k:?} ignored"))),
        }
        Ok(None)
    }

    /// The effective minimum session timeout, ms.
    pub fn min_session_timeout(&self) -> u32 {
        self.min_session_timeout_ms
            .unwrap_or(self.tick_ms.saturating_mul(2))
    }

    /// The effective maximum session timeout, ms.
    pub fn max_session_timeout(&self) -> u32 {
        self.max_session_timeout_ms
            .unwrap_or(self.tick_ms.saturating_mul(20))
    }

    /// Cross-key checks. Call after all keys and flags are set.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.min_session_timeout() > self.max_session_timeout() {
            return Err(ConfigError::Inconsistent(format!(
                "minSessionTimeout ({} ms) is greater than maxSessionTimeout ({} ms)",
                self.min_session_timeout(),
                self.max_session_timeout()
            )));
        }
        let voters = self.servers.values().filter(|s| !s.observer).count();
        if !self.servers.is_empty() && voters == 0 {
            return Err(ConfigError::Inconsistent(
                "server.N: at least one server must be a participant (not an observer)".into(),
            ));
        }
        if self.ssl_key_store.is_none()
            && (self.ssl_trust_store.is_some() || self.ssl_client_auth.is_some())
        {
            return Err(ConfigError::Inconsistent(
                "ssl.trustStore.location / ssl.clientAuth need ssl.keyStore.location (the server's own key and certificate)".into(),
            ));
        }
        if self.secure_client_port != 0 && self.ssl_key_store.is_none() {
            return Err(ConfigError::Inconsistent(
                "secureClientPort needs ssl.keyStore.location (the server's own key and certificate)"
                    .into(),
            ));
        }
        if self.secure_client_port != 0 && self.secure_client_port == self.client_port {
            return Err(ConfigError::Inconsistent(format!(
                "clientPort and secureClientPort are both {}: one port cannot be plaintext and TLS",
                self.client_port
            )));
        }
        if self.ssl_trust_store.is_none()
            && matches!(self.ssl_client_auth.as_deref(), Some("want" | "need"))
        {
            return Err(ConfigError::Inconsistent(
                "ssl.clientAuth=want/need needs ssl.trustStore.location (the CAs client certificates must chain to)".into(),
            ));
        }
        if self.ssl_quorum
            && (self.ssl_quorum_key_store.is_none() || self.ssl_quorum_trust_store.is_none())
        {
            return Err(ConfigError::Inconsistent(
                "sslQuorum=true needs ssl.quorum.keyStore.location (this server's key and certificate) and ssl.quorum.trustStore.location (the CAs its peers' certificates must chain to)".into(),
            ));
        }
        if self.admin_force_https && self.ssl_quorum_key_store.is_none() {
            return Err(ConfigError::Inconsistent(
                "admin.forceHttps=true needs ssl.quorum.keyStore.location (the admin server's key and certificate, as ZooKeeper's)".into(),
            ));
        }
        if self.admin_need_client_auth
            && !(self.admin_force_https && self.ssl_quorum_trust_store.is_some())
        {
            return Err(ConfigError::Inconsistent(
                "admin.needClientAuth=true needs admin.forceHttps=true and ssl.quorum.trustStore.location (the CAs admin clients' certificates must chain to)".into(),
            ));
        }
        if self.extended_types_enabled && self.servers.contains_key(&ServerId(255)) {
            // Session ids carry the server id in the top byte: 0xFF would read as a TTL marker
            // (ZooKeeper refuses it too).
            return Err(ConfigError::Inconsistent(
                "extendedTypesEnabled=true needs server ids of at most 254 (server.255 found)"
                    .into(),
            ));
        }
        if self.max_data_bytes > 64 * 1024 * 1024 {
            return Err(invalid(
                "jute.maxbuffer",
                &self.max_data_bytes.to_string(),
                "must be at most 64 MiB",
            ));
        }
        Ok(())
    }
}

pub(crate) fn parse_server(key: &str, value: &str) -> Result<ServerSpec, ConfigError> {
    let id: u64 = key["server.".len()..]
        .parse()
        .map_err(|_| invalid(key, value, "server id must be a number"))?;
    if id == 0 || id > 255 {
        return Err(invalid(key, value, "server id must be in 1..=255"));
    }
    // The optional ";[addr:]clientPort" suffix of ZooKeeper 3.5 dynamic config lines.
    let mut halves = value.splitn(2, ';');
    let addr = halves.next().unwrap_or_default().trim();
    let client_addr = match halves.next().map(str::trim) {
        None | Some("") => None,
        Some(client) => Some(parse_client_addr(key, value, client)?),
    };
    let parts: Vec<&str> = addr.split(':').collect();
    if parts.len() < 3 || parts.len() > 4 || parts[0].is_empty() {
        return Err(invalid(
            key,
            value,
            "expected host:quorumPort:electionPort[:participant|:observer]",
        ));
    }
    let observer = match parts.get(3).copied() {
        None | Some("participant") => false,
        Some("observer") => true,
        Some(_) => return Err(invalid(key, value, "role must be participant or observer")),
    };
    Ok(ServerSpec {
        id: ServerId(id),
        host: parts[0].to_string(),
        quorum_port: port(key, parts[1])?,
        election_port: port(key, parts[2])?,
        observer,
        client_addr,
    })
}

/// `[host:]port` of a server line's client suffix, as `host:port` (`0.0.0.0` when no host).
fn parse_client_addr(key: &str, value: &str, client: &str) -> Result<String, ConfigError> {
    let (host, p) = match client.rsplit_once(':') {
        Some((host, p)) if !host.is_empty() => (host, p),
        Some(_) => return Err(invalid(key, value, "expected [clientAddr:]clientPort")),
        None => ("0.0.0.0", client),
    };
    Ok(format!("{host}:{}", port(key, p)?))
}

impl ServerSpec {
    /// ZooKeeper's `QuorumServer.toString`: `host:quorumPort:electionPort:role[;clientHost:clientPort]`.
    pub fn config_line(&self) -> String {
        let role = if self.observer {
            "observer"
        } else {
            "participant"
        };
        let mut line = format!(
            "{}:{}:{}:{role}",
            self.host, self.quorum_port, self.election_port
        );
        if let Some(client) = &self.client_addr {
            line.push(';');
            line.push_str(client);
        }
        line
    }
}

/// The version shown in `/zookeeper/config` for a configuration read from zoo.cfg: 0, as
/// ZooKeeper's `QuorumVerifier` of a static configuration (no reconfiguration exists yet).
pub const STATIC_CONFIG_VERSION: u64 = 0;

impl Config {
    /// The content of `/zookeeper/config` (ZooKeeper's `QuorumVerifier.toString`): a
    /// `server.N=...` line per server in id order, then `version=<hex>` (no newline after it).
    /// Empty for a standalone server (no or a single `server.N` line), as ZooKeeper 3.9
    /// standalone, which never writes the node.
    pub fn ensemble_config_text(&self) -> String {
        if self.servers.len() <= 1 {
            return String::new();
        }
        let mut text = String::new();
        for s in self.servers.values() {
            text.push_str(&format!("server.{}={}\n", s.id.0, s.config_line()));
        }
        text.push_str(&format!("version={STATIC_CONFIG_VERSION:x}"));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensemble_config_text_is_zookeepers_quorum_verifier_format() {
        let mut c = Config::default();
        assert_eq!(
            c.ensemble_config_text(),
            "",
            "standalone: empty, as ZooKeeper 3.9"
        );
        c.set("server.2", "b:2888:3888;127.0.0.1:7182").unwrap();
        assert_eq!(
            c.ensemble_config_text(),
            "",
            "a single server runs standalone"
        );
        c.set("server.1", "a:2888:3888:participant").unwrap();
        c.set("server.3", "c:2888:3888:observer;7183").unwrap();
        assert_eq!(
            c.ensemble_config_text(),
            "server.1=a:2888:3888:participant\n\
             server.2=b:2888:3888:participant;127.0.0.1:7182\n\
             server.3=c:2888:3888:observer;0.0.0.0:7183\n\
             version=0"
        );
        assert!(c.set("server.4", "d:1:2;:7184").is_err());
        assert!(c.set("server.4", "d:1:2;x:port").is_err());
    }

    #[test]
    fn defaults_are_zookeepers() {
        let c = Config::default();
        assert_eq!(c.tick_ms, 2000);
        assert_eq!(c.min_session_timeout(), 4000);
        assert_eq!(c.max_session_timeout(), 40000);
        assert_eq!(c.grpc_port, 7181);
        assert_eq!(c.max_data_bytes, 1 << 20);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn read_only_mode_is_off_unless_asked_for() {
        let mut c = Config::default();
        assert!(!c.read_only_mode_enabled);
        c.set("readonlymode.enabled", "true").unwrap();
        assert!(c.read_only_mode_enabled);
    }

    #[test]
    fn container_and_ttl_keys() {
        let mut c = Config::default();
        assert!(!c.extended_types_enabled);
        assert_eq!(
            (c.container_check_interval_ms, c.container_max_per_minute),
            (60_000, 10_000)
        );
        c.set("extendedTypesEnabled", "true").unwrap();
        c.set("znode.container.checkIntervalMs", "100").unwrap();
        c.set("znode.container.maxPerMinute", "5").unwrap();
        assert!(c.extended_types_enabled);
        assert_eq!(
            (c.container_check_interval_ms, c.container_max_per_minute),
            (100, 5)
        );
        assert!(c.set("znode.container.checkIntervalMs", "0").is_err());
        assert!(c.set("extendedTypesEnabled", "maybe").is_err());
        c.set("server.255", "h:1:2").unwrap();
        c.set("server.1", "h:3:4").unwrap();
        assert!(c.validate().is_err(), "server id 255 reads as a TTL marker");
    }

    #[test]
    fn local_session_keys() {
        let c = Config::default();
        assert!(!c.local_sessions_enabled, "ZooKeeper's default");
        assert!(!c.local_sessions_upgrading_enabled, "ZooKeeper's default");
        let (c, warnings) =
            Config::parse("localSessionsEnabled=true\nlocalSessionsUpgradingEnabled=true\n")
                .unwrap();
        assert!(c.local_sessions_enabled && c.local_sessions_upgrading_enabled);
        assert!(warnings.is_empty(), "{warnings:?}");
        for key in ["localSessionsEnabled", "localSessionsUpgradingEnabled"] {
            let e = Config::parse(&format!("{key}=sometimes")).unwrap_err();
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn parses_a_zoo_cfg() {
        let text = "# comment\ntickTime=500\ninitLimit=5\nsyncLimit=2\ndataDir=/var/lib/p\n\
                    server.1=node1:2888:3888\nserver.2=node2:2888:3888;2181\nserver.3=node3:2888:3888:observer\n\
                    autopurge.snapRetainCount=1\nworkerThreads=1\nfrobnicate=3\n";
        let (c, warnings) = Config::parse(text).unwrap();
        assert_eq!(c.tick_ms, 500);
        assert_eq!(c.min_session_timeout(), 1000);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/p"));
        assert_eq!(c.servers.len(), 3);
        assert!(c.servers[&ServerId(3)].observer);
        assert_eq!(c.servers[&ServerId(2)].election_port, 3888);
        assert_eq!(c.snap_retain_count, 3);
        assert_eq!(c.worker_threads, Some(1));
        assert_eq!(Config::default().worker_threads, None);
        assert_eq!(Config::default().serving_threads, 0);
        let (c, _) = Config::parse("servingThreads=3").unwrap();
        assert_eq!(c.serving_threads, 3);
        for bad in [
            "servingThreads=-1",
            "servingThreads=1025",
            "servingThreads=two",
        ] {
            let e = Config::parse(bad).unwrap_err().to_string();
            assert!(e.contains("servingThreads"), "{bad}: {e}");
        }
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("frobnicate"));
        let key = "zookeeper.DigestAuthenticationProvider.superDigest";
        let (c, _) = Config::parse(&format!("{key}=super:D/InIHSb7yEEbrWz8b9l71RjZJU=")).unwrap();
        assert_eq!(
            c.super_digest.as_deref(),
            Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
        );
        assert!(warnings[0].contains("frobnicate"));
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key) in [
            ("tickTime=abc", "tickTime"),
            ("tickTime=0", "tickTime"),
            ("grpcPort=70000", "grpcPort"),
            ("leaderServes=maybe", "leaderServes"),
            ("readonlymode.enabled=sometimes", "readonlymode.enabled"),
            ("superDigest=nocolon", "superDigest"),
            (
                "zookeeper.DigestAuthenticationProvider.superDigest=super:",
                "zookeeper.DigestAuthenticationProvider.superDigest",
            ),
            ("server.x=a:1:2", "server.x"),
            ("server.1=a:1", "server.1"),
            ("server.1=a:1:2:boss", "server.1"),
            ("workerThreads=0", "workerThreads"),
            ("workerThreads=4096", "workerThreads"),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.to_string().contains(key), "{text}: {e}");
        }
        assert!(matches!(
            Config::parse("garbage"),
            Err(ConfigError::Syntax { line: 1, .. })
        ));
    }

    #[test]
    fn admin_server_keys_are_zookeepers() {
        let c = Config::default();
        assert!(c.admin_enabled);
        assert_eq!(
            (
                c.admin_address.as_str(),
                c.admin_port,
                c.admin_command_url.as_str()
            ),
            ("0.0.0.0", Some(8080), "/commands")
        );
        let (c, warnings) = Config::parse(
            "admin.enableServer=false\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=9090\n\
             admin.commandURL=/zk/\n",
        )
        .expect("valid");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(!c.admin_enabled);
        assert_eq!(
            (
                c.admin_address.as_str(),
                c.admin_port,
                c.admin_command_url.as_str()
            ),
            ("127.0.0.1", Some(9090), "/zk")
        );
        let (c, _) = Config::parse("admin.serverPort=0\n").expect("valid");
        assert_eq!(c.admin_port, None, "0 turns it off");
        for bad in ["commands", "/metrics", "/"] {
            let e = Config::parse(&format!("admin.commandURL={bad}\n")).expect_err(bad);
            assert!(e.to_string().contains("admin.commandURL"), "{e}");
        }
        assert!(Config::parse("admin.serverPort=x\n").is_err());
    }

    #[test]
    fn the_admin_servers_https_keys_and_the_files_text() {
        let text = "admin.forceHttps=true\nadmin.needClientAuth=true\n\
                    ssl.quorum.keyStore.location=/k.pem\nssl.quorum.trustStore.location=/ca.pem\n";
        let (c, warnings) = Config::parse(text).expect("valid");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(c.admin_force_https && c.admin_need_client_auth);
        c.validate().expect("consistent");
        // `initial_configuration` shows the file as it was read, comments included.
        assert_eq!(c.initial_config.as_deref(), Some(text));
        assert_eq!(Config::default().initial_config, None);
        let (c, _) = Config::parse("admin.forceHttps=true\n").expect("parses");
        let e = c.validate().expect_err("no key store").to_string();
        assert!(e.contains("ssl.quorum.keyStore.location"), "{e}");
        let (c, _) = Config::parse(
            "admin.needClientAuth=true\nssl.quorum.keyStore.location=/k.pem\n\
             ssl.quorum.trustStore.location=/ca.pem\n",
        )
        .expect("parses");
        let e = c.validate().expect_err("not HTTPS").to_string();
        assert!(e.contains("admin.forceHttps"), "{e}");
        let e = Config::parse("admin.portUnification=true\n").expect_err("unsupported");
        assert!(e.to_string().contains("admin.portUnification"), "{e}");
        assert!(Config::parse("admin.portUnification=false\n").is_ok());
    }

    #[test]
    fn secure_client_port_needs_a_key_store_and_a_port_of_its_own() {
        let (c, _) = Config::parse("secureClientPort=2281\n").unwrap();
        assert_eq!((c.client_port, c.secure_client_port), (2181, 2281));
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("ssl.keyStore.location"), "{e}");
        let (c, _) =
            Config::parse("secureClientPort=2181\nssl.keyStore.location=/etc/paddock/server.pem\n")
                .unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("both 2181"), "{e}");
        let (c, _) = Config::parse(
            "clientPort=0\nsecureClientPort=2281\nssl.keyStore.location=/etc/paddock/server.pem\n",
        )
        .unwrap();
        assert!(c.validate().is_ok());
        assert_eq!(Config::default().secure_client_port, 0);
    }

    #[test]
    fn ssl_quorum_keys() {
        let text = "sslQuorum=true\n\
                    ssl.quorum.keyStore.location=/etc/paddock/server1.pem\n\
                    ssl.quorum.trustStore.location=/etc/paddock/ca.pem\n\
                    ssl.quorum.keyStore.type=PEM\n\
                    ssl.quorum.trustStore.type=pem\n\
                    ssl.quorum.keyStore.password=secret\n\
                    ssl.quorum.trustStore.password=secret\n\
                    ssl.quorum.clientAuth=NEED\n\
                    ssl.quorum.hostnameVerification=true\n\
                    sslQuorumReloadCertFiles=false\n\
                    portUnification=false\n";
        let (c, warnings) = Config::parse(text).unwrap();
        assert!(c.ssl_quorum);
        assert_eq!(
            c.ssl_quorum_key_store,
            Some(PathBuf::from("/etc/paddock/server1.pem"))
        );
        assert_eq!(
            c.ssl_quorum_trust_store,
            Some(PathBuf::from("/etc/paddock/ca.pem"))
        );
        // The client port's keys are separate.
        assert_eq!(c.ssl_key_store, None);
        assert!(c.validate().is_ok());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("ssl.quorum.keyStore.password ignored"));
        assert!(warnings[1].contains("ssl.quorum.trustStore.password ignored"));
        assert!(!Config::default().ssl_quorum);
        let (off, _) = Config::parse("sslQuorum=false").unwrap();
        assert!(!off.ssl_quorum && off.validate().is_ok());
        // Stores without sslQuorum: kept, unused (plaintext), as ZooKeeper does.
        let (unused, _) = Config::parse("ssl.quorum.keyStore.location=/k.pem").unwrap();
        assert!(!unused.ssl_quorum && unused.validate().is_ok());
    }

    #[test]
    fn ssl_quorum_needs_both_stores() {
        for text in [
            "sslQuorum=true",
            "sslQuorum=true\nssl.quorum.keyStore.location=/k.pem",
            "sslQuorum=true\nssl.quorum.trustStore.location=/ca.pem",
        ] {
            let (c, _) = Config::parse(text).unwrap();
            let e = c.validate().unwrap_err().to_string();
            assert!(
                e.contains("ssl.quorum.keyStore.location")
                    && e.contains("ssl.quorum.trustStore.location"),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn bad_ssl_quorum_values_name_the_key() {
        for (text, key, why) in [
            ("sslQuorum=perhaps", "sslQuorum", "yes/no"),
            (
                "ssl.quorum.keyStore.location=",
                "ssl.quorum.keyStore.location",
                "empty",
            ),
            (
                "ssl.quorum.trustStore.location=",
                "ssl.quorum.trustStore.location",
                "empty",
            ),
            (
                "ssl.quorum.keyStore.type=JKS",
                "ssl.quorum.keyStore.type",
                "PEM",
            ),
            (
                "ssl.quorum.trustStore.type=PKCS12",
                "ssl.quorum.trustStore.type",
                "PEM",
            ),
            (
                "ssl.quorum.clientAuth=want",
                "ssl.quorum.clientAuth",
                "need",
            ),
            (
                "ssl.quorum.hostnameVerification=false",
                "ssl.quorum.hostnameVerification",
                "host",
            ),
            (
                "sslQuorumReloadCertFiles=sometimes",
                "sslQuorumReloadCertFiles",
                "yes/no",
            ),
            (
                "portUnification=true",
                "portUnification",
                "restart every server",
            ),
        ] {
            let e = Config::parse(text).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn min_above_max_is_refused() {
        let (c, _) = Config::parse("minSessionTimeout=9000\nmaxSessionTimeout=8000").unwrap();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("minSessionTimeout"));
    }
}

//! Command-line flags. Every zoo.cfg key can be given as `--set key=value`; the common ones have
//! their own flags. Every flag can also come from a `PADDOCK_*` environment variable (the way a
//! container is configured, like the official ZooKeeper image's `ZOO_*` variables).
//!
//! Precedence, lowest first: built-in defaults, the zoo.cfg file (`--config` / `PADDOCK_CONFIG`),
//! `--set` / `PADDOCK_SET`, `--servers` / `PADDOCK_SERVERS` (replaces the file's `server.N`
//! lines), then the dedicated flags. A flag on the command line wins over its variable.

use std::fmt::Display;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Parser, Subcommand};

/// Paddock: a ZooKeeper-compatible coordination service with a gRPC client API.
///
/// With no arguments, runs a standalone server with its data in ./data and the gRPC API on port
/// 7181. `--config` reads a ZooKeeper zoo.cfg. Each flag can also be set by the environment
/// variable shown in brackets (the flag wins when both are given).
#[derive(Debug, Parser)]
#[command(
    name = "paddock",
    version,
    about,
    long_about,
    after_help = "Container example (3-server ensemble, server 1):\n  \
    PADDOCK_MY_ID=1 \\\n  \
    PADDOCK_SERVERS=1=paddock1:2888:3888,2=paddock2:2888:3888,3=paddock3:2888:3888 \\\n  \
    PADDOCK_SET='tickTime=2000;4lw.commands.whitelist=*' paddock"
)]
pub struct Args {
    /// What to do instead of running the server.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// A zoo.cfg file (ZooKeeper format: key=value lines).
    #[arg(
        long,
        short = 'c',
        value_name = "FILE",
        env = "PADDOCK_CONFIG",
        global = true
    )]
    pub config: Option<PathBuf>,

    /// Data directory (zoo.cfg `dataDir`): txn log, snapshots, epochs, myid.
    #[arg(long, value_name = "DIR", env = "PADDOCK_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    /// gRPC client API port (zoo.cfg `grpcPort`); 0 picks a free port.
    #[arg(long, value_name = "PORT", env = "PADDOCK_GRPC_PORT",
          value_parser = number::<u16>("PADDOCK_GRPC_PORT"))]
    pub grpc_port: Option<u16>,

    /// ZooKeeper-protocol port for existing ZooKeeper clients (zoo.cfg `clientPort`, default
    /// 2181); 0 turns it off. It listens on the gRPC address.
    #[arg(long, value_name = "PORT", env = "PADDOCK_CLIENT_PORT",
          value_parser = number::<u16>("PADDOCK_CLIENT_PORT"))]
    pub client_port: Option<u16>,

    /// Address the gRPC API listens on (zoo.cfg `grpcAddress`).
    #[arg(long, value_name = "ADDR", env = "PADDOCK_GRPC_ADDRESS")]
    pub grpc_address: Option<String>,

    /// This server's id (otherwise read from `<dataDir>/myid`, or 0 for a standalone server).
    #[arg(long, value_name = "N", env = "PADDOCK_MY_ID",
          value_parser = number::<u64>("PADDOCK_MY_ID"))]
    pub myid: Option<u64>,

    /// The ensemble, as `N=host:quorumPort:electionPort[:observer]` entries separated by commas
    /// or spaces (`server.N=...` is accepted too); each becomes a zoo.cfg `server.N` line and the
    /// list replaces any `server.N` lines of the config file.
    #[arg(long, value_name = "N=HOST:PORT:PORT,...", env = "PADDOCK_SERVERS")]
    pub servers: Option<String>,

    /// Tick length in ms (zoo.cfg `tickTime`).
    #[arg(long, value_name = "MS", env = "PADDOCK_TICK_TIME",
          value_parser = number::<u32>("PADDOCK_TICK_TIME"))]
    pub tick_time: Option<u32>,

    /// Ticks a follower gets to connect and sync with a new leader (zoo.cfg `initLimit`).
    #[arg(long, value_name = "TICKS", env = "PADDOCK_INIT_LIMIT",
          value_parser = number::<u32>("PADDOCK_INIT_LIMIT"))]
    pub init_limit: Option<u32>,

    /// Ticks a follower gets to answer the leader before it is dropped (zoo.cfg `syncLimit`).
    #[arg(long, value_name = "TICKS", env = "PADDOCK_SYNC_LIMIT",
          value_parser = number::<u32>("PADDOCK_SYNC_LIMIT"))]
    pub sync_limit: Option<u32>,

    /// Threads for the server's async work (zoo.cfg `workerThreads`; default one per CPU core).
    /// Several servers sharing a machine's cores run best with cores / servers each.
    #[arg(long, value_name = "N", env = "PADDOCK_WORKER_THREADS",
          value_parser = number::<u32>("PADDOCK_WORKER_THREADS"))]
    pub worker_threads: Option<u32>,

    /// Prometheus metrics port (zoo.cfg `metricsProvider.httpPort`).
    #[arg(long, value_name = "PORT", env = "PADDOCK_METRICS_PORT",
          value_parser = number::<u16>("PADDOCK_METRICS_PORT"))]
    pub metrics_port: Option<u16>,

    /// HTTP admin API port (zoo.cfg `admin.serverPort`, default 8080): ZooKeeper's AdminServer
    /// commands as JSON under `/commands` and Prometheus metrics on `/metrics`; 0 turns it off.
    /// It listens on `admin.serverAddress` (default 0.0.0.0).
    #[arg(long, value_name = "PORT", env = "PADDOCK_ADMIN_PORT",
          value_parser = number::<u16>("PADDOCK_ADMIN_PORT"))]
    pub admin_port: Option<u16>,

    /// Serve the gRPC port over TLS with this PEM file: the server's private key and its
    /// certificate chain (zoo.cfg `ssl.keyStore.location`). Re-read when it changes.
    #[arg(long, value_name = "FILE", env = "PADDOCK_TLS_KEY_STORE")]
    pub tls_key_store: Option<PathBuf>,

    /// PEM file of the CA certificates client certificates must chain to (zoo.cfg
    /// `ssl.trustStore.location`); with it, clients must present one (`--tls-client-auth`).
    #[arg(long, value_name = "FILE", env = "PADDOCK_TLS_TRUST_STORE")]
    pub tls_trust_store: Option<PathBuf>,

    /// Client certificates: `need` (the default with a trust store), `want` or `none` (zoo.cfg
    /// `ssl.clientAuth`).
    #[arg(long, value_name = "need|want|none", env = "PADDOCK_TLS_CLIENT_AUTH")]
    pub tls_client_auth: Option<String>,

    /// Any zoo.cfg key, e.g. `--set tickTime=500`, `--set extendedTypesEnabled=true` (TTL nodes),
    /// `--set znode.container.checkIntervalMs=1000` (repeatable; from the environment, use
    /// PADDOCK_SET, below).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    /// Several zoo.cfg keys at once, separated by semicolons, e.g.
    /// `PADDOCK_SET='tickTime=500;syncLimit=2'` (applied before `--set`).
    #[arg(long = "set-list", value_name = "KEY=VALUE;...", env = "PADDOCK_SET")]
    pub set_list: Option<String>,

    /// Print the effective configuration and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// Commands besides running the server.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Checks the data directory (`--data-dir`, or `dataDir`/`dataLogDir` of `--config`) and,
    /// if it lost transactions it had made durable, repairs it: the verified state (the newest
    /// snapshot that verifies plus the log records that continue it) is kept in a fresh log,
    /// the rest is discarded, and the damaged files are kept aside. Run it with the server
    /// stopped. A standalone server then continues in a new epoch; an ensemble member does not
    /// vote until it has synced the missing transactions from its leader. Exit status: 0
    /// repaired or healthy, 3 damaged and not repaired (`--check`, or not confirmed).
    Repair {
        /// Repair without asking for confirmation.
        #[arg(long)]
        yes: bool,
        /// Only report what is wrong, as a server start would find it; repair nothing.
        #[arg(long, conflicts_with = "yes")]
        check: bool,
    },
    /// Prints the digest id of `user:password` as ZooKeeper computes it
    /// (`user:base64(sha1(user:password))`): the value for a `digest` ACL entry, or for
    /// `superDigest` when the user is the super user. Reads the credentials from standard input
    /// when none are given (so they stay out of the shell history).
    Digest {
        /// `user:password`.
        credentials: Option<String>,
    },
    /// Imports an Apache ZooKeeper 3.x data dir into a new, empty Paddock data dir
    /// (`--data-dir`, or `dataDir`/`dataLogDir` of `--config`): every znode with its data, Stat
    /// and ACL, and the open sessions, from ZooKeeper's newest snapshot and the txn logs after
    /// it (every checksum verified; a damaged file is refused, naming it and the offset). Run
    /// it with both ZooKeeper and Paddock stopped. Prints a summary.
    ImportZk {
        /// ZooKeeper's dataDir (the directory holding `version-2/snapshot.*`).
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// ZooKeeper's dataLogDir, when it is not its dataDir.
        #[arg(long, value_name = "DIR")]
        from_log: Option<PathBuf>,
    },
    /// Inspects a data directory offline without changing it: `dump snapshot` (the tree,
    /// sessions, zxid, digest) and `dump log` (one line per transaction).
    Dump {
        #[command(subcommand)]
        what: DumpCommand,
    },
    /// Prints the digest of the state a server would load from a data directory (its newest
    /// snapshot that verifies plus the log records continuing it) with its zxid; with two
    /// directories, says whether they hold the same tree. DIR defaults to `--data-dir` (or
    /// `dataDir`/`dataLogDir` of `--config`). Works on private copies: changes nothing;
    /// refused while a server runs on a directory. (`paddock digest` is the ACL digest of a
    /// password.) Exit status: 0 (equal), 1 (different, or unreadable), 3 (damaged).
    TreeDigest {
        /// One or two data directories.
        #[arg(value_name = "DIR", num_args = 0..=2)]
        dirs: Vec<PathBuf>,
    },
    /// Backups of a running server: `snapshot save FILE --server HOST:PORT`.
    Snapshot {
        #[command(subcommand)]
        what: SnapshotCommand,
    },
    /// Writes a new data directory (`--data-dir`, or `dataDir`/`dataLogDir` of `--config`)
    /// from a backup (`paddock snapshot save`) or a snapshot file copied out of a data
    /// directory: checksum and tree verified first; the directory must be missing or empty
    /// (a `myid` file may be there). The result starts a standalone server, or — the same
    /// backup restored on every member — a new ensemble. Exit status: 0, 1 (refused: e.g. not
    /// empty), 3 (the backup is damaged or incomplete).
    Restore {
        /// The backup or snapshot file.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
}

/// `paddock dump ...`: read-only views of a data directory.
#[derive(Debug, Subcommand)]
pub enum DumpCommand {
    /// Prints a snapshot: every znode (path, Stat, data length and a preview of the data, ACL),
    /// the sessions (timeout, ephemeral nodes), the last zxid and the tree's digest, in the
    /// manner of ZooKeeper's SnapshotFormatter (`--json`: one JSON document). Reads FILE (a
    /// backup from `paddock snapshot save`, or a `snapshots/snapshot.<zxid>` file), or else
    /// the newest snapshot of the data directory (`--data-dir`, or `dataDir` of `--config`)
    /// whose checksum verifies. Snapshot files never change once written, so this works while
    /// a server runs. Changes nothing. Exit status: 0, 1 (nothing to read), 3 (damaged).
    Snapshot {
        /// A snapshot or backup file (default: the data directory's newest snapshot).
        file: Option<PathBuf>,
        /// One JSON document instead of text (zxids and session ids as "0x..." strings).
        #[arg(long)]
        json: bool,
        /// Bytes of each znode's data to show (as text when it is UTF-8, else base64); 0 shows
        /// none.
        #[arg(long, value_name = "BYTES", default_value_t = 64)]
        data_limit: usize,
    },
    /// Prints the txn log of the data directory (`--data-dir`, or `dataDir`/`dataLogDir` of
    /// `--config`), one line per transaction: time (UTC), session, cxid, zxid, type, path and
    /// the fields that matter, in the manner of ZooKeeper's TxnLogToolkit (`--json`: one JSON
    /// object per line). The log is read from a private copy, verified as a server verifies
    /// it: the data directory is never changed. Refused while a server runs on the directory
    /// (its log is being written). On a damaged directory, the damage report goes to stderr
    /// and the verified records are printed. `--from-zxid` / `--to-zxid` print only the
    /// transactions in that range (both ends included). Exit status: 0, 1 (cannot read),
    /// 3 (damaged).
    Log {
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
        /// The first zxid to print (`0x100000005` as the dump prints it, or decimal).
        #[arg(long, value_name = "ZXID", value_parser = zxid_arg)]
        from_zxid: Option<u64>,
        /// The last zxid to print.
        #[arg(long, value_name = "ZXID", value_parser = zxid_arg)]
        to_zxid: Option<u64>,
        /// Bytes of data shown per create / setData (as text when it is UTF-8, else base64);
        /// 0 shows none.
        #[arg(long, value_name = "BYTES", default_value_t = 32)]
        data_limit: usize,
    },
}

/// `paddock snapshot ...`: backups of a running server.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Saves a backup of a running server into FILE: a consistent snapshot of its tree at one
    /// zxid, streamed over its gRPC port (`paddock.v1.Admin/SaveSnapshot`), with a checksum;
    /// the file is verified (checksum, tree, the digest the server announced) before it
    /// replaces FILE, so a backup cut short never looks complete. The caller needs every
    /// permission (cdrwa) on `/`: always so while the root's ACL is open (the default);
    /// otherwise authenticate with `--auth super:PASSWORD` (superDigest), a TLS client
    /// certificate (`--tls-cert`), or an id the root's ACL grants cdrwa. Restore it with
    /// `paddock restore --from FILE`.
    Save {
        /// Where to write the backup (replaced only once the new one verifies; FILE.part
        /// while it streams).
        file: PathBuf,
        /// The server's gRPC address, `host:port` (its `grpcPort`, default 7181).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7181")]
        server: String,
        /// `user:password` for ZooKeeper's `digest` scheme (e.g. the super user's). Prefer the
        /// variable to keep it out of the shell history.
        #[arg(
            long,
            value_name = "USER:PASSWORD",
            env = "PADDOCK_SNAPSHOT_AUTH",
            hide_env_values = true
        )]
        auth: Option<String>,
        /// PEM file of the CA the server's certificate is signed by (TLS on; as paddock-cli's
        /// `-tls-ca`).
        #[arg(long, value_name = "FILE", env = "PADDOCK_CLI_TLS_CA")]
        tls_ca: Option<PathBuf>,
        /// Client certificate (PEM, with its key unless `--tls-key` is given).
        #[arg(long, value_name = "FILE", env = "PADDOCK_CLI_TLS_CERT")]
        tls_cert: Option<PathBuf>,
        /// The client certificate's key, when not in the `--tls-cert` file.
        #[arg(long, value_name = "FILE", env = "PADDOCK_CLI_TLS_KEY")]
        tls_key: Option<PathBuf>,
        /// The name the server's certificate must carry (default: the host of `--server`).
        #[arg(long, value_name = "NAME", env = "PADDOCK_CLI_TLS_SERVER_NAME")]
        tls_server_name: Option<String>,
    },
}

/// A zxid as the tools print it (`0x` and hex) or in decimal.
fn zxid_arg(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    parsed
        .map_err(|_| format!("{text:?} is not a zxid (0x<hex> as the dumps print it, or decimal)"))
}

/// A number parser whose error names the environment variable as well as the flag (clap names
/// only the flag), since in a container the value usually comes from the variable.
fn number<T>(
    var: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + Clone + Send + Sync + 'static,
    T::Err: Display,
{
    move |text: &str| {
        text.trim()
            .parse()
            .map_err(|e| format!("{e} (the flag, or the variable {var})"))
    }
}

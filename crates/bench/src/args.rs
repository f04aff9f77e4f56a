//! Command-line flags and their validation.
//!
//! [`Args`] is what clap parses; [`Args::validate`] turns it into a [`Config`] or refuses it with
//! a message that names the flag, so an impossible run never starts.

use paddock_client::{digest, perms, Acl, Id, Pem, SharedConnections, TlsOptions};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Largest value the bench writes: the server's default znode data limit (`jute.maxbuffer`).
pub const MAX_VALUE_SIZE: u64 = 1024 * 1024;
/// Most `--threads`.
pub const MAX_THREADS: usize = 1024;
/// Most `--connections` per server.
pub const MAX_CONNECTIONS: usize = 1024;

/// What each session does in its loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Create persistent-sequential nodes under the run's parent (the pre-created keys are untouched).
    Create,
    /// setData (version -1) on a random key.
    Set,
    /// getData on a random key.
    Get,
    /// --read-pct percent getData, the rest setData, each on a random key.
    Mixed,
}

/// How the measured sessions are scheduled (`--runtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    /// per-thread with more than 64 sessions per thread, else work-stealing.
    Auto,
    /// One multi-thread runtime whose worker threads steal each other's tasks.
    WorkStealing,
    /// A single-threaded runtime per thread, session i on thread i mod N.
    PerThread,
}

/// `--threads N` resolved: N, or one per core for 0.
pub fn thread_count(threads: usize) -> usize {
    match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// `--runtime auto` schedules per thread above this many sessions per thread: a paddock-bench
/// session is about four tasks (its loop, the client's session task, hyper's body pipe, the
/// HTTP/2 connection), and a work-stealing worker's local queue holds 256.
pub const AUTO_PER_THREAD_ABOVE: usize = 64;

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Mixed => "mixed",
        }
    }
}

/// paddock-bench: load generator for Paddock.
///
/// Opens --sessions sessions (one connection each, spread round-robin over the --server list),
/// and has each run a closed loop of requests with up to --pipeline of them in flight, for
/// --duration seconds or until --ops requests in all were answered. Prints ops/s and latency
/// percentiles (send to answer); a progress line goes to stderr every second. With --rate the
/// sessions send on a fixed schedule instead (latency at a given load, e.g. another server's
/// top rate).
///
/// Setup (not measured) creates the parent /bench-<run id> and --keys keys under it holding
/// --value-size bytes each. At the end the keys, every node the run created and the parent are
/// deleted, unless --keep.
///
/// Key choice is deterministic: session i draws its keys (and, for mixed, its read/write choice)
/// from its own generator seeded with --seed + i. With --ops, the count is split evenly over the
/// sessions, so the same flags send the same requests in the same per-session order.
///
/// Exit status: 0 when the run completed (errors answered by the server are counted and reported,
/// not fatal); 1 when setup failed or a session was lost (its stream broke, timed out or its
/// session ended); 2 for invalid flags.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "paddock-bench",
    version,
    about,
    long_about,
    after_help = "Examples:\n  \
    paddock-bench --server 127.0.0.1:7181 --sessions 32 --duration 10 --workload set\n  \
    paddock-bench --server a:7181,b:7181,c:7181 --workload mixed --read-pct 90 --ops 100000 --json\n  \
    paddock-bench --sessions 1 --duration 10 --workload set --pipeline 8 --value-size 1024\n  \
    paddock-bench --server paddock1:7181 --tls-ca ca.pem --tls-cert bench.pem --duration 10"
)]
pub struct Args {
    /// Servers to drive, `host:port[,host:port...]` (IPv6 as `[::1]:7181`). Session i connects to
    /// server i mod the number of servers.
    #[arg(long, value_name = "HOST:PORT,...", default_value = "127.0.0.1:7181")]
    pub server: String,

    /// Concurrent sessions (each one connection). The server accepts 60 per client IP by
    /// default (maxClientCnxns).
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub sessions: u64,

    /// Run for this many seconds (decimals allowed). Exactly one of --duration and --ops.
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub duration: Option<f64>,

    /// Run until this many requests in all were answered, split evenly over the sessions.
    /// Exactly one of --duration and --ops.
    #[arg(long, value_name = "COUNT")]
    pub ops: Option<u64>,

    /// What the sessions do.
    #[arg(long, value_enum, value_name = "KIND", default_value = "mixed")]
    pub workload: Workload,

    /// For --workload mixed: percentage of reads (getData), 0..=100; the rest are setData.
    /// Ignored by the other workloads.
    #[arg(long, value_name = "P", default_value_t = 90)]
    pub read_pct: u64,

    /// Bytes of data in each key and each written node, 0..=1048576 (1 MiB, the server's
    /// default jute.maxbuffer).
    #[arg(long, value_name = "BYTES", default_value_t = 100)]
    pub value_size: u64,

    /// Keys created in setup and chosen from (uniformly) by set, get and mixed.
    #[arg(long, value_name = "K", default_value_t = 1000)]
    pub keys: u64,

    /// Requests each session keeps in flight (1 = synchronous, like ZooKeeper's benchmarks).
    #[arg(long, value_name = "D", default_value_t = 1)]
    pub pipeline: u64,

    /// Send at this many requests per second in all instead of as fast as answers come: each
    /// session sends on its own evenly spaced schedule (rate / sessions per second, the sessions'
    /// schedules phase-shifted), still with at most --pipeline in flight; a session that falls
    /// behind catches up at once. The report shows the rate achieved.
    #[arg(long, value_name = "OPS_PER_SEC", allow_negative_numbers = true)]
    pub rate: Option<f64>,

    /// Seed of the key choice; session i uses seed + i.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,

    /// Print the result as one JSON line on stdout (the human-readable summary then goes to
    /// stderr).
    #[arg(long)]
    pub json: bool,

    /// Leave the parent, the keys and the created nodes in place at the end.
    #[arg(long)]
    pub keep: bool,

    /// No progress lines and no setup/cleanup notes on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Session timeout asked of the server, ms (it clamps it to its min/max, 4-40 s by default).
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub session_timeout_ms: u32,

    /// Threads the load generator runs its sessions on (0 = one per core): the worker threads of
    /// one runtime, or with --runtime per-thread a single-threaded runtime each. Setup, cleanup
    /// and the --watchers sessions run on a runtime with as many worker threads. On a machine
    /// the load generator shares with the servers it measures, its own CPU per request is CPU
    /// the servers do not get.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: u64,

    /// How the measured sessions are scheduled on those threads. work-stealing: one runtime
    /// whose threads take each other's ready tasks, so no session waits for a thread the OS
    /// has not scheduled; but with hundreds of sessions the tasks a thread's local queue (256)
    /// cannot hold wait in a shared queue that a busy thread looks at only now and then, so
    /// some sessions' requests wait far longer than others' and the load generator adds to the
    /// tail latency it measures. per-thread: session i's tasks all stay on thread i mod N, each
    /// thread polling its sessions' ready tasks in turn. auto: per-thread above 64 sessions per
    /// thread, else work-stealing.
    #[arg(long, value_enum, value_name = "KIND", default_value = "auto")]
    pub runtime: RuntimeKind,

    /// HTTP/2 connections per server that the sessions share (gRPC streams multiplexed on
    /// them; the client's `SharedConnections`): sessions to a server are spread over N
    /// connections, so one write system call carries the requests of several sessions.
    /// 0 = every session its own connection, as a ZooKeeper client has (the default).
    /// paddock-bench only (ZooKeeper's protocol has one connection per session).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub connections: u64,

    /// Authenticate every session with `addauth digest USER:PASSWORD` and give every node the
    /// run creates the ACL `digest:USER:<hash>:cdrwa`, so each request pays an ACL check that
    /// is not the default open one (to measure what ACLs cost).
    #[arg(long, value_name = "USER:PASSWORD")]
    pub digest: Option<String>,

    /// Also open this many idle sessions that each hold a persistent recursive watch on `/`
    /// (addWatch), so every change the run makes fires N events (to measure what watches
    /// cost). They are spread over --server like the others, are not measured, and drain their
    /// events; the count received is reported at the end. Each is one more connection: raise
    /// the servers' maxClientCnxns (0 = no limit) for large N.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub watchers: usize,

    /// With --watchers: instead of the recursive watch on `/`, each watcher session holds a
    /// persistent (non-recursive) watch on K keys, watcher i on keys (i*K + j) mod --keys for
    /// j in 0..K, so N watchers hold N*K watches spread evenly over the keys and a write fires
    /// one event per watch on its key (e.g. --watchers 10000 --watch-keys 100: one million
    /// watches). At most --keys.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub watch_keys: u64,

    /// Connect over TLS (a server started with --tls-key-store), trusting the CA
    /// certificate(s) in FILE (PEM): the server's certificate must be signed by one.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// Present the client certificate in FILE (PEM), needed when the server has a trust store;
    /// FILE may also hold its private key (one PEM with both, like the server's key store).
    /// Needs --tls-ca.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM), when it is not in that file.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// The name the servers' certificates must be valid for (default: the host of each
    /// --server entry). Needs --tls-ca.
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
}

/// When the run stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// After this long (requests in flight at the deadline are still answered and counted).
    After(Duration),
    /// After this many requests in all.
    Ops(u64),
}

/// A validated run.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `host:port` each, in the order given.
    pub servers: Vec<String>,
    pub sessions: usize,
    pub stop: Stop,
    pub workload: Workload,
    pub read_pct: u32,
    pub value_size: usize,
    pub keys: u64,
    pub pipeline: usize,
    /// Requests per second in all (open loop), or `None`: closed loops.
    pub rate: Option<f64>,
    pub seed: u64,
    pub json: bool,
    pub keep: bool,
    pub quiet: bool,
    pub session_timeout_ms: i32,
    /// `--threads`: threads the sessions run on (0: one per core).
    pub threads: usize,
    /// `--runtime`, resolved: the measured sessions on a single-threaded runtime per thread
    /// (else on the multi-thread runtime with `threads` workers).
    pub per_thread: bool,
    /// `--connections`: shared connections per server (0: one per session).
    pub connections: usize,
    /// `--digest`: the credentials every session authenticates with.
    pub digest: Option<String>,
    /// `--watchers`: idle sessions with a persistent recursive watch on `/`.
    pub watchers: usize,
    /// `--watch-keys`: persistent watches on this many keys per watcher instead (0: on `/`).
    pub watch_keys: u64,
    /// `--tls-*`: TLS for every session (files read when the sessions connect), or plaintext.
    pub tls: Option<TlsOptions>,
}

impl Config {
    /// The server of session `i` (round-robin).
    /// `--connections`: the connections the run's sessions share, or `None` (one per session).
    pub fn shared_connections(&self) -> Option<SharedConnections> {
        (self.connections > 0).then(|| SharedConnections::new(self.connections))
    }

    /// The ACL of every node the run creates: the `--digest` user's, or open.
    pub fn acl(&self) -> Vec<Acl> {
        match self.digest.as_deref().and_then(digest) {
            Some(id) => vec![Acl::new(perms::ALL, Id::new("digest", id))],
            None => Acl::open(),
        }
    }

    /// The indexes of the keys watcher `w` watches with `--watch-keys` (empty without it):
    /// `(w*K + j) mod keys` for `j` in `0..K`, so the watches spread evenly over the keys.
    pub fn watched_by(&self, w: usize) -> impl Iterator<Item = u64> {
        let (k, keys) = (self.watch_keys, self.keys.max(1));
        let first = (w as u64 % keys) * (k % keys) % keys;
        (0..k).map(move |j| (first + j) % keys)
    }

    pub fn server_of(&self, i: usize) -> &str {
        &self.servers[i % self.servers.len()]
    }

    /// Requests session `i` sends with `Stop::Ops` (the total split evenly, the remainder to the
    /// first sessions); `None` for a timed run.
    pub fn quota_of(&self, i: usize) -> Option<u64> {
        match self.stop {
            Stop::After(_) => None,
            Stop::Ops(total) => {
                let n = self.sessions as u64;
                Some(total / n + u64::from((i as u64) < total % n))
            }
        }
    }
}

impl Args {
    /// The validated run from the process's command line as `command` (this crate's [`Args`]
    /// under a binary's own name and help) parses it; exits like clap on bad flags (status 2).
    pub fn config_from_command_line(mut command: clap::Command) -> Config {
        use clap::FromArgMatches;
        let args = match Args::from_arg_matches(&command.clone().get_matches()) {
            Ok(a) => a,
            Err(e) => e.exit(),
        };
        match args.validate() {
            Ok(c) => c,
            Err(msg) => command
                .error(clap::error::ErrorKind::ValueValidation, msg)
                .exit(),
        }
    }

    /// Checks the flags; the error names the flag and says what is allowed.
    pub fn validate(&self) -> Result<Config, String> {
        let servers = parse_servers(&self.server)?;
        if self.sessions == 0 {
            return Err("--sessions must be at least 1".into());
        }
        let sessions = usize::try_from(self.sessions)
            .ok()
            .filter(|&n| n <= 1_000_000)
            .ok_or("--sessions must be at most 1000000")?;
        let stop = match (self.duration, self.ops) {
            (None, None) => return Err("give either --duration SECS or --ops COUNT".into()),
            (Some(_), Some(_)) => {
                return Err("give either --duration or --ops, not both".into());
            }
            (Some(d), None) => {
                if !d.is_finite() || d <= 0.0 || d > 1e9 {
                    return Err(format!(
                        "--duration must be a positive number of seconds, got {d}"
                    ));
                }
                Stop::After(Duration::from_secs_f64(d))
            }
            (None, Some(0)) => return Err("--ops must be at least 1".into()),
            (None, Some(n)) => Stop::Ops(n),
        };
        if self.read_pct > 100 {
            return Err(format!(
                "--read-pct is a percentage, 0..=100, got {}",
                self.read_pct
            ));
        }
        if self.value_size > MAX_VALUE_SIZE {
            return Err(format!(
                "--value-size must be at most {MAX_VALUE_SIZE} bytes (1 MiB, the server's znode \
                 data limit), got {}",
                self.value_size
            ));
        }
        if self.keys == 0 {
            return Err("--keys must be at least 1".into());
        }
        if self.keys > 100_000_000 {
            return Err(format!(
                "--keys must be at most 100000000, got {}",
                self.keys
            ));
        }
        if self.pipeline == 0 {
            return Err("--pipeline must be at least 1 (1 = one request at a time)".into());
        }
        if self.pipeline > 100_000 {
            return Err(format!(
                "--pipeline must be at most 100000, got {}",
                self.pipeline
            ));
        }
        if let Some(r) = self.rate {
            if !r.is_finite() || r <= 0.0 || r > 10_000_000.0 {
                return Err(format!(
                    "--rate must be a positive number of requests per second, at most 10000000, got {r}"
                ));
            }
        }
        let session_timeout_ms = i32::try_from(self.session_timeout_ms)
            .ok()
            .filter(|&t| t > 0)
            .ok_or("--session-timeout-ms must be between 1 and 2147483647")?;
        let threads = usize::try_from(self.threads)
            .ok()
            .filter(|&n| n <= MAX_THREADS)
            .ok_or_else(|| {
                format!(
                    "--threads must be at most {MAX_THREADS}, got {}",
                    self.threads
                )
            })?;
        let connections = usize::try_from(self.connections)
            .ok()
            .filter(|&n| n <= MAX_CONNECTIONS)
            .ok_or_else(|| {
                format!(
                    "--connections must be at most {MAX_CONNECTIONS}, got {}",
                    self.connections
                )
            })?;
        Ok(Config {
            servers,
            sessions,
            stop,
            workload: self.workload,
            read_pct: self.read_pct as u32,
            value_size: self.value_size as usize,
            keys: self.keys,
            pipeline: self.pipeline as usize,
            rate: self.rate,
            seed: self.seed,
            json: self.json,
            keep: self.keep,
            quiet: self.quiet,
            session_timeout_ms,
            threads,
            per_thread: match self.runtime {
                RuntimeKind::WorkStealing => false,
                RuntimeKind::PerThread => true,
                RuntimeKind::Auto => sessions > AUTO_PER_THREAD_ABOVE * thread_count(threads),
            },
            connections,
            digest: match &self.digest {
                Some(d) if d.split_once(':').is_some_and(|(u, _)| !u.is_empty()) => Some(d.clone()),
                Some(d) => return Err(format!("--digest must be USER:PASSWORD, got {d:?}")),
                None => None,
            },
            watchers: self.watchers,
            watch_keys: self.watch_keys()?,
            tls: self.tls()?,
        })
    }

    /// `--watch-keys`, checked against `--watchers` and `--keys`.
    fn watch_keys(&self) -> Result<u64, String> {
        if self.watch_keys > 0 && self.watchers == 0 {
            return Err(
                "--watch-keys needs --watchers (the sessions that hold the watches)".into(),
            );
        }
        if self.watch_keys > self.keys {
            return Err(format!(
                "--watch-keys must be at most --keys ({}), got {}",
                self.keys, self.watch_keys
            ));
        }
        Ok(self.watch_keys)
    }

    /// The `--tls-*` flags as the client's TLS options.
    fn tls(&self) -> Result<Option<TlsOptions>, String> {
        let Some(ca) = &self.tls_ca else {
            let orphan = [
                (self.tls_cert.is_some(), "--tls-cert"),
                (self.tls_key.is_some(), "--tls-key"),
                (self.tls_server_name.is_some(), "--tls-server-name"),
            ]
            .into_iter()
            .find_map(|(set, flag)| set.then_some(flag));
            return match orphan {
                Some(flag) => Err(format!(
                    "{flag} needs --tls-ca FILE (the CA certificate the server's certificate is \
                     signed by)"
                )),
                None => Ok(None),
            };
        };
        let mut tls = TlsOptions::new(Pem::file(ca));
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), None) => tls = tls.identity(Pem::file(cert)),
            (Some(cert), Some(key)) => tls = tls.identity_with_key(Pem::file(cert), Pem::file(key)),
            (None, Some(_)) => {
                return Err("--tls-key needs --tls-cert FILE (the certificate of the key)".into())
            }
            (None, None) => {}
        }
        match &self.tls_server_name {
            Some(name) if name.trim().is_empty() => {
                return Err("--tls-server-name must not be empty".into())
            }
            Some(name) => tls = tls.server_name(name.trim()),
            None => {}
        }
        Ok(Some(tls))
    }
}

/// Parses `host:port[,host:port...]`; spaces around entries are ignored.
pub fn parse_servers(list: &str) -> Result<Vec<String>, String> {
    if list.trim().is_empty() {
        return Err("--server is empty: give host:port[,host:port...]".into());
    }
    list.split(',')
        .map(|s| {
            let s = s.trim();
            if s.is_empty() {
                return Err(format!(
                    "--server {list:?} has an empty entry: give host:port[,host:port...]"
                ));
            }
            if s.contains("://") {
                return Err(format!(
                    "--server entry {s:?}: give host:port without a scheme"
                ));
            }
            let (host, port) = s
                .rsplit_once(':')
                .ok_or_else(|| format!("--server entry {s:?} has no port: give host:port"))?;
            let bracketed = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
            if host.is_empty()
                || (host.contains(':') && !bracketed)
                || host.contains(['/', ' ', '@', '?', '#'])
            {
                return Err(format!(
                    "--server entry {s:?}: bad host {host:?} (IPv6 goes in brackets: [::1]:7181)"
                ));
            }
            match port.parse::<u16>() {
                Ok(p) if p > 0 => Ok(format!("{host}:{p}")),
                _ => Err(format!(
                    "--server entry {s:?}: port must be a number in 1..=65535, got {port:?}"
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Result<Config, String> {
        let mut argv = vec!["paddock-bench"];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn defaults_with_a_duration() {
        let c = parse(&["--duration", "10"]).unwrap();
        assert_eq!(c.servers, vec!["127.0.0.1:7181"]);
        assert_eq!(c.sessions, 32);
        assert_eq!(c.stop, Stop::After(Duration::from_secs(10)));
        assert_eq!(c.workload, Workload::Mixed);
        assert_eq!(
            (c.read_pct, c.value_size, c.keys, c.pipeline),
            (90, 100, 1000, 1)
        );
        assert_eq!(c.session_timeout_ms, 30_000);
        assert_eq!((c.threads, c.per_thread), (0, false));
        assert!(!c.json && !c.keep);
    }

    #[test]
    fn watch_keys_spread_the_watches_evenly_over_the_keys() {
        let c = parse(&[
            "--duration",
            "1",
            "--keys",
            "10",
            "--watchers",
            "5",
            "--watch-keys",
            "4",
        ])
        .unwrap();
        assert_eq!(c.watch_keys, 4);
        assert_eq!(c.watched_by(0).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        assert_eq!(c.watched_by(2).collect::<Vec<_>>(), vec![8, 9, 0, 1]);
        // 5 watchers x 4 keys over 10 keys: every key watched twice.
        let mut per_key = [0; 10];
        for w in 0..5 {
            for k in c.watched_by(w) {
                per_key[k as usize] += 1;
            }
        }
        assert_eq!(per_key, [2; 10]);
        // Without --watch-keys a watcher watches `/`, no key.
        let plain = parse(&["--duration", "1", "--watchers", "3"]).unwrap();
        assert_eq!(plain.watched_by(1).count(), 0);
    }

    #[test]
    fn watch_keys_need_watchers_and_enough_keys() {
        let e = parse(&["--duration", "1", "--watch-keys", "2"]).unwrap_err();
        assert!(e.contains("--watch-keys needs --watchers"), "{e}");
        let e = parse(&[
            "--duration",
            "1",
            "--keys",
            "3",
            "--watchers",
            "1",
            "--watch-keys",
            "4",
        ])
        .unwrap_err();
        assert!(e.contains("--watch-keys must be at most --keys (3)"), "{e}");
    }

    #[test]
    fn digest_gives_every_node_the_users_acl() {
        let c = parse(&["--duration", "1", "--digest", "bench:pw"]).unwrap();
        assert_eq!(c.digest.as_deref(), Some("bench:pw"));
        let id = digest("bench:pw").unwrap();
        assert_eq!(c.acl(), vec![Acl::new(perms::ALL, Id::new("digest", id))]);
        assert_eq!(parse(&["--duration", "1"]).unwrap().acl(), Acl::open());
        for bad in ["nocolon", ":pw"] {
            let e = parse(&["--duration", "1", "--digest", bad]).unwrap_err();
            assert!(e.contains("USER:PASSWORD"), "{e}");
        }
    }

    #[test]
    fn every_flag() {
        let c = parse(&[
            "--server",
            "a:1, b:2 ,[::1]:3",
            "--sessions",
            "5",
            "--ops",
            "12",
            "--workload",
            "create",
            "--read-pct",
            "100",
            "--value-size",
            "1048576",
            "--keys",
            "7",
            "--pipeline",
            "8",
            "--seed",
            "42",
            "--threads",
            "1",
            "--runtime",
            "per-thread",
            "--connections",
            "2",
            "--json",
            "--keep",
            "--quiet",
        ])
        .unwrap();
        assert_eq!(c.servers, vec!["a:1", "b:2", "[::1]:3"]);
        assert_eq!(c.stop, Stop::Ops(12));
        assert_eq!(c.workload, Workload::Create);
        assert_eq!(c.value_size, 1 << 20);
        assert_eq!((c.keys, c.pipeline, c.seed, c.threads), (7, 8, 42, 1));
        assert!(c.per_thread);
        assert_eq!(c.connections, 2);
        assert!(c.shared_connections().is_some());
        assert!(parse(&["--duration", "1"])
            .unwrap()
            .shared_connections()
            .is_none());
        assert!(c.json && c.keep && c.quiet);
        assert_eq!(c.server_of(0), "a:1");
        assert_eq!(c.server_of(4), "b:2");
        // 12 ops over 5 sessions: 3, 3, 2, 2, 2.
        let quotas: Vec<_> = (0..5).map(|i| c.quota_of(i).unwrap()).collect();
        assert_eq!(quotas, vec![3, 3, 2, 2, 2]);
        assert_eq!(quotas.iter().sum::<u64>(), 12);
    }

    #[test]
    fn impossible_parameters_are_refused_with_the_flag_named() {
        let cases: &[(&[&str], &str)] = &[
            (&["--duration", "1", "--sessions", "0"], "--sessions"),
            (&["--duration", "1", "--read-pct", "101"], "--read-pct"),
            (
                &["--duration", "1", "--value-size", "1048577"],
                "--value-size",
            ),
            (&[], "--duration"),
            (&["--duration", "1", "--ops", "5"], "not both"),
            (&["--duration", "0"], "--duration"),
            (&["--duration", "-1"], "--duration"),
            (&["--duration", "nan"], "--duration"),
            (&["--ops", "0"], "--ops"),
            (&["--duration", "1", "--keys", "0"], "--keys"),
            (&["--duration", "1", "--pipeline", "0"], "--pipeline"),
            (&["--duration", "1", "--rate", "0"], "--rate"),
            (&["--duration", "1", "--rate", "-3"], "--rate"),
            (&["--duration", "1", "--rate", "inf"], "--rate"),
            (&["--duration", "1", "--rate", "nan"], "--rate"),
            (&["--duration", "1", "--server", ""], "--server"),
            (&["--duration", "1", "--server", "a:1,,b:2"], "empty entry"),
            (&["--duration", "1", "--server", "localhost"], "no port"),
            (&["--duration", "1", "--server", "a:0"], "port"),
            (&["--duration", "1", "--server", "a:99999"], "port"),
            (&["--duration", "1", "--server", "a:x"], "port"),
            (&["--duration", "1", "--server", ":7181"], "bad host"),
            (&["--duration", "1", "--server", "::1:7181"], "bad host"),
            (&["--duration", "1", "--server", "http://a:1"], "scheme"),
            (
                &["--duration", "1", "--session-timeout-ms", "0"],
                "--session-timeout-ms",
            ),
            (&["--duration", "1", "--workload", "scan"], "--workload"),
            (&["--duration", "1", "--threads", "1025"], "--threads"),
            (&["--duration", "1", "--threads", "x"], "--threads"),
            (&["--duration", "1", "--runtime", "fibers"], "--runtime"),
            (
                &["--duration", "1", "--connections", "1025"],
                "--connections",
            ),
        ];
        for (argv, needle) in cases {
            let err = parse(argv).expect_err(&format!("{argv:?} must be refused"));
            assert!(
                err.contains(needle),
                "{argv:?}: {err:?} should mention {needle:?}"
            );
        }
    }

    /// `--runtime auto` schedules per thread only above 64 sessions per thread.
    #[test]
    fn the_runtime_kind_follows_the_sessions_per_thread() {
        let per_thread = |argv: &[&str]| {
            let mut all = vec!["--duration", "1"];
            all.extend_from_slice(argv);
            parse(&all).unwrap().per_thread
        };
        assert!(!per_thread(&["--threads", "2", "--sessions", "128"]));
        assert!(per_thread(&["--threads", "2", "--sessions", "129"]));
        assert!(per_thread(&["--threads", "1", "--sessions", "65"]));
        assert!(per_thread(&["--runtime", "per-thread", "--sessions", "1"]));
        assert!(!per_thread(&[
            "--runtime",
            "work-stealing",
            "--threads",
            "1",
            "--sessions",
            "1024"
        ]));
    }

    #[test]
    fn tls_flags() {
        assert_eq!(parse(&["--duration", "1"]).unwrap().tls, None);
        let c = parse(&[
            "--duration",
            "1",
            "--tls-ca",
            "ca.pem",
            "--tls-cert",
            "bench.pem",
            "--digest",
            "bench:pw",
        ])
        .unwrap();
        assert_eq!(
            c.tls,
            Some(TlsOptions::new(Pem::file("ca.pem")).identity(Pem::file("bench.pem")))
        );
        assert_eq!(
            c.digest.as_deref(),
            Some("bench:pw"),
            "--digest still applies"
        );
        let c = parse(&[
            "--duration",
            "1",
            "--tls-ca=ca.pem",
            "--tls-cert=bench.crt",
            "--tls-key=bench.key",
            "--tls-server-name=paddock1",
        ])
        .unwrap();
        assert_eq!(
            c.tls,
            Some(
                TlsOptions::new(Pem::file("ca.pem"))
                    .identity_with_key(Pem::file("bench.crt"), Pem::file("bench.key"))
                    .server_name("paddock1")
            )
        );
        let only_ca = parse(&["--duration", "1", "--tls-ca", "ca.pem"]).unwrap();
        assert_eq!(only_ca.tls, Some(TlsOptions::new(Pem::file("ca.pem"))));
        let cases: &[(&[&str], &str)] = &[
            (&["--tls-cert", "b.pem"], "--tls-cert needs --tls-ca"),
            (&["--tls-key", "b.key"], "--tls-key needs --tls-ca"),
            (
                &["--tls-server-name", "p"],
                "--tls-server-name needs --tls-ca",
            ),
            (
                &["--tls-ca", "ca.pem", "--tls-key", "b.key"],
                "--tls-key needs --tls-cert",
            ),
            (
                &["--tls-ca", "ca.pem", "--tls-server-name", " "],
                "--tls-server-name",
            ),
            (&["--tls-ca"], "--tls-ca"),
        ];
        for (flags, needle) in cases {
            let mut argv = vec!["--duration", "1"];
            argv.extend_from_slice(flags);
            let e = parse(&argv).expect_err(&format!("{flags:?} must be refused"));
            assert!(
                e.contains(needle),
                "{flags:?}: {e:?} should mention {needle:?}"
            );
        }
    }

    #[test]
    fn quota_of_a_timed_run_is_none() {
        let c = parse(&["--duration", "0.5"]).unwrap();
        assert_eq!(c.quota_of(0), None);
        assert_eq!(c.stop, Stop::After(Duration::from_millis(500)));
    }
}

//! The workload: `clients` concurrent sessions, each a seeded loop of random operations on a
//! few znodes (sync + getData, unconditional setData, setData with the version last seen
//! (compare-and-set), create, delete), every one recorded with its call and answer times;
//! then a final sync + getData of every znode through every server.
//!
//! A session that expires (or cannot be resumed) is replaced by a new one under the same
//! client id; while no server takes a session the loop waits and tries again. An operation
//! whose answer is lost (connection loss, timeout, expiry) is recorded without an answer (it
//! may or may not have taken effect), except a read, which changed nothing and is left out.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paddock_client::{Client, ClientOptions, CreateMode, Error, ErrorCode, SessionState};
use paddock_lincheck::zk::{Input, Output};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::history::{write_line, Op};

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The servers (`host:port`), in the connect string of every workload session.
    pub servers: Vec<String>,
    /// A file with the current connect string (`host:port,...`), re-read when a session is
    /// opened and for the final reads: for scenarios that change the ensemble under load.
    pub servers_file: Option<PathBuf>,
    pub clients: usize,
    /// The znodes: `{prefix}0` .. `{prefix}{keys-1}`.
    pub keys: usize,
    pub prefix: String,
    pub seed: u64,
    /// Stop after this long at most.
    pub duration: Duration,
    /// Stop as soon as this file exists.
    pub stop_file: Option<PathBuf>,
    /// Each client's pause between two operations.
    pub think: Duration,
    pub session_timeout: Duration,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// How long the final reads may wait for a server to answer.
    pub final_read_limit: Duration,
    /// Reads without the `sync` before them (ZooKeeper promises such reads only sequential
    /// consistency: on an ensemble they may be stale, and the checker is expected to say so).
    pub reads_without_sync: bool,
}

impl Config {
    /// The znodes the workload works on.
    pub fn paths(&self) -> Vec<String> {
        (0..self.keys)
            .map(|k| format!("{}{k}", self.prefix))
            .collect()
    }

    /// The current server list (the servers file's, when there is one and it is readable).
    fn current_servers(&self) -> Vec<String> {
        if let Some(f) = &self.servers_file {
            if let Ok(text) = std::fs::read_to_string(f) {
                let list: Vec<String> = text
                    .trim()
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if !list.is_empty() {
                    return list;
                }
            }
        }
        self.servers.clone()
    }

    fn stopped(&self, until: Instant) -> bool {
        Instant::now() >= until || self.stop_file.as_ref().is_some_and(|f| f.exists())
    }

    fn options(&self, seed: u64) -> ClientOptions {
        ClientOptions {
            session_timeout: self.session_timeout,
            request_timeout: self.request_timeout,
            connect_timeout: self.connect_timeout,
            seed: Some(seed),
            ..ClientOptions::default()
        }
    }
}

/// Why the workload could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("setup: {0}")]
    Setup(String),
    #[error("final reads: {0}")]
    FinalRead(String),
    #[error("writing the history: {0}")]
    History(#[from] std::io::Error),
}

/// The recorded operations, and each one appended to the history file as it is recorded.
struct Recorder {
    ops: Vec<Op>,
    file: Option<std::io::BufWriter<std::fs::File>>,
    error: Option<std::io::Error>,
}

type Shared = Arc<Mutex<Recorder>>;

fn record(rec: &Shared, op: Op) {
    let mut r = rec.lock().unwrap_or_else(|e| e.into_inner());
    let r = &mut *r;
    if let Some(f) = r.file.as_mut() {
        if let Err(e) = write_line(f, &op) {
            r.error.get_or_insert(e);
        }
    }
    r.ops.push(op);
}

/// What a run did besides its history.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Sessions opened (the first of each client and every replacement).
    pub sessions: usize,
    /// Errors without a definite answer, by kind (`connection loss`, `request timed out`, ...).
    pub errors: std::collections::BTreeMap<String, usize>,
}

/// Runs the workload and the final reads; returns the history (also written to `history`).
pub async fn run(
    cfg: &Config,
    history: Option<PathBuf>,
) -> Result<(Vec<Op>, Stats), WorkloadError> {
    let file = match &history {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => None,
    };
    let rec: Shared = Arc::new(Mutex::new(Recorder {
        ops: Vec::new(),
        file,
        error: None,
    }));
    let stats: Arc<Mutex<Stats>> = Arc::default();
    clear(cfg).await?;
    let start = Instant::now();
    let until = start + cfg.duration;
    let tasks: Vec<_> = (0..cfg.clients)
        .map(|id| {
            let (cfg, rec, stats) = (cfg.clone(), rec.clone(), stats.clone());
            tokio::spawn(async move { client_loop(id, &cfg, start, until, &rec, &stats).await })
        })
        .collect();
    for t in tasks {
        // A client task that panicked leaves its operations recorded so far: still checkable.
        let _ = t.await;
    }
    final_reads(cfg, start, &rec).await?;
    let mut r = rec.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = r.file.as_mut() {
        f.flush()?;
    }
    if let Some(e) = r.error.take() {
        return Err(e.into());
    }
    let ops = std::mem::take(&mut r.ops);
    let stats = stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok((ops, stats))
}

/// Deletes the workload's znodes left by an earlier run, so that every one starts absent (the
/// model's initial state). Retried for 30 s while the ensemble cannot answer.
async fn clear(cfg: &Config) -> Result<(), WorkloadError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        let servers = cfg.current_servers().join(",");
        match Client::connect(&servers, cfg.options(cfg.seed)).await {
            Ok(c) => {
                let mut all = true;
                for path in cfg.paths() {
                    match c.delete(&path, -1).await {
                        Ok(()) => {}
                        Err(e) if e.code() == ErrorCode::NoNode => {}
                        Err(e) => {
                            last = format!("delete {path}: {e}");
                            all = false;
                            break;
                        }
                    }
                }
                let _ = c.close().await;
                if all {
                    return Ok(());
                }
            }
            Err(e) => last = format!("connect {servers}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(WorkloadError::Setup(last))
}

/// A definite answer carried by an error, or `None`: the outcome is unknown.
fn definite(e: &Error) -> Option<Output> {
    match e.code() {
        ErrorCode::NoNode => Some(Output::NoNode),
        ErrorCode::NodeExists => Some(Output::NodeExists),
        ErrorCode::BadVersion => Some(Output::BadVersion),
        _ => None,
    }
}

/// The number a workload value holds (`u64::MAX` for anything else: the model then finds no
/// write that explains it).
fn data_of(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}

/// `sync` (unless `no_sync`) + `getData`: the answer, or the error that left it unknown.
async fn read(client: &Client, path: &str, no_sync: bool) -> Result<Output, Error> {
    if !no_sync {
        client.sync(path).await?;
    }
    match client.get_data(path).await {
        Ok((data, stat)) => Ok(Output::Read(Some((data_of(&data), stat.version)))),
        Err(e) if e.code() == ErrorCode::NoNode => Ok(Output::Read(None)),
        Err(e) => Err(e),
    }
}

fn nanos_since(start: Instant) -> u64 {
    start.elapsed().as_nanos() as u64
}

/// A session for client `id`, waiting (until the stop) while no server takes one.
async fn open(
    id: usize,
    cfg: &Config,
    attempt: u64,
    until: Instant,
    stats: &Mutex<Stats>,
) -> Option<Client> {
    let seed = cfg.seed ^ ((id as u64) << 32) ^ attempt;
    while !cfg.stopped(until) {
        match Client::connect(&cfg.current_servers().join(","), cfg.options(seed)).await {
            Ok(c) => {
                stats.lock().unwrap_or_else(|e| e.into_inner()).sessions += 1;
                return Some(c);
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    None
}

/// One client's loop until the stop.
async fn client_loop(
    id: usize,
    cfg: &Config,
    start: Instant,
    until: Instant,
    rec: &Shared,
    stats: &Mutex<Stats>,
) {
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let paths = cfg.paths();
    // The version this client last saw of each znode: its compare-and-set expects it.
    let mut seen: Vec<Option<i32>> = vec![None; paths.len()];
    let mut counter = 0u64;
    let mut attempt = 0u64;
    let mut client: Option<Client> = None;
    while !cfg.stopped(until) {
        let c = match &client {
            Some(c)
                if !matches!(
                    c.state(),
                    SessionState::Expired | SessionState::Closed | SessionState::AuthFailed
                ) =>
            {
                c
            }
            _ => {
                attempt += 1;
                match open(id, cfg, attempt, until, stats).await {
                    Some(c) => client.insert(c),
                    None => break,
                }
            }
        };
        let k = rng.random_range(0..paths.len());
        let path = paths[k].clone();
        counter += 1;
        // Unique per client and operation: a read names the write it saw.
        let value = (id as u64 + 1) * 1_000_000_000 + counter;
        let version = if rng.random_bool(0.5) {
            -1
        } else {
            seen[k].unwrap_or_else(|| rng.random_range(0..3))
        };
        let input = match rng.random_range(0..10) {
            0..=3 => Input::Read { path },
            4..=6 => Input::Set {
                path,
                data: value,
                version,
            },
            7..=8 => Input::Create { path, data: value },
            _ => Input::Delete { path, version },
        };
        let call = nanos_since(start);
        let answer: Result<Output, Error> = match &input {
            Input::Read { path } => read(c, path, cfg.reads_without_sync).await,
            Input::Set {
                path,
                data,
                version,
            } => c
                .set_data(path, data.to_string().into_bytes(), *version)
                .await
                .map(|stat| Output::Set {
                    version: stat.version,
                }),
            Input::Create { path, data } => c
                .create(path, data.to_string().into_bytes(), CreateMode::Persistent)
                .await
                .map(|_| Output::Done),
            Input::Delete { path, version } => {
                c.delete(path, *version).await.map(|()| Output::Done)
            }
        };
        let output = match answer {
            Ok(out) => Some(out),
            Err(e) => match definite(&e) {
                Some(out) => Some(out),
                None => {
                    *stats
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .errors
                        .entry(e.to_string())
                        .or_default() += 1;
                    None
                }
            },
        };
        let ret = output.as_ref().map(|_| nanos_since(start));
        match &output {
            Some(Output::Read(Some((_, v)))) | Some(Output::Set { version: v }) => {
                seen[k] = Some(*v)
            }
            Some(Output::Done) if matches!(input, Input::Create { .. }) => seen[k] = Some(0),
            Some(Output::Done) | Some(Output::Read(None)) => seen[k] = None,
            _ => {}
        }
        let unknown = output.is_none();
        if !(unknown && matches!(input, Input::Read { .. })) {
            record(
                rec,
                Op {
                    client: id,
                    input,
                    output,
                    call,
                    ret,
                },
            );
        }
        if unknown {
            // The connection is gone or the ensemble cannot answer: give it a moment (and keep
            // the number of operations of unknown outcome, which the checker pays for, low).
            tokio::time::sleep(Duration::from_millis(200)).await;
        } else if !cfg.think.is_zero() {
            tokio::time::sleep(cfg.think).await;
        }
    }
    if let Some(c) = client {
        let _ = c.close().await;
    }
}

/// `sync` + `getData` of every znode through each server alone (client id `clients + i` for
/// server `i`), recorded: each server must end in a state the history explains (a lost
/// acknowledged write, or a server that diverged, fails the check). A server that does not
/// answer within `final_read_limit` is an error.
async fn final_reads(cfg: &Config, start: Instant, rec: &Shared) -> Result<(), WorkloadError> {
    for (i, server) in cfg.current_servers().iter().enumerate() {
        let deadline = Instant::now() + cfg.final_read_limit;
        let mut pending = cfg.paths();
        let mut last = String::from("no session");
        while !pending.is_empty() {
            if Instant::now() >= deadline {
                return Err(WorkloadError::FinalRead(format!(
                    "{server} did not answer within {:?}: {last}",
                    cfg.final_read_limit
                )));
            }
            let c = match Client::connect(server, cfg.options(cfg.seed)).await {
                Ok(c) => c,
                Err(e) => {
                    last = e.to_string();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            while let Some(path) = pending.first().cloned() {
                let call = nanos_since(start);
                match read(&c, &path, false).await {
                    Ok(out) => {
                        record(
                            rec,
                            Op {
                                client: cfg.clients + i,
                                input: Input::Read { path },
                                output: Some(out),
                                call,
                                ret: Some(nanos_since(start)),
                            },
                        );
                        pending.remove(0);
                    }
                    Err(e) => {
                        last = e.to_string();
                        break;
                    }
                }
            }
            let _ = c.close().await;
        }
    }
    Ok(())
}

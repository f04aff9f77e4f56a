//! A whole run: setup, the measured closed loops, progress, cleanup.
//!
//! ```text
//!  setup session ──▶ create /bench-<id> + K keys (multi batches, pipelined) ──▶ close
//!  N sessions connect (round-robin over the servers) ──▶ start signal
//!     each: closed loop, up to D requests in flight, latency per request into its Recorder
//!     progress task: one stderr line per second from shared counters
//!  all done ──▶ merge Recorders ──▶ cleanup session deletes children + parent (unless --keep)
//! ```

use paddock_client::Acl;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use paddock_client::{Client, CreateMode, Error, ErrorCode, MultiOp, SharedConnections};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::args::{Config, Stop};
use crate::pace::{self, Answered, LoopEnd, Pacer};
use crate::session::{self, describe, is_session_failure, SessionError};
use crate::stats::{LostSession, Recorder, Report};
use crate::workload::{key_path, value, BenchOp, OpGen, OpKind};

/// Most ops in one setup multi, and most data bytes (the server caps a multi's data at 1 MiB).
const SETUP_BATCH_OPS: usize = 500;
const SETUP_BATCH_BYTES: usize = 512 * 1024;
/// Deletes in one cleanup multi.
const CLEANUP_BATCH_OPS: usize = 1000;
/// Multis in flight during setup and cleanup.
const BATCH_PIPELINE: usize = 8;
/// The server's default maxClientCnxns (streams per client IP).
const DEFAULT_MAX_CLIENT_CNXNS: usize = 60;

/// Counters shared by the sessions and read by the progress line.
#[derive(Debug, Default)]
pub struct Shared {
    /// Requests answered OK.
    pub ops: AtomicU64,
    /// Requests answered with an error (or lost with their session).
    pub errors: AtomicU64,
    /// Set to stop issuing requests early (Ctrl-C): in-flight ones are still answered.
    pub stop: AtomicBool,
}

fn note(cfg: &Config, msg: impl AsRef<str>) {
    if !cfg.quiet {
        eprintln!("paddock-bench: {}", msg.as_ref());
    }
}

/// A fresh run id: 8 hex digits, random (not from --seed, so that two runs never share a parent).
pub fn run_id() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// Runs the whole bench against the servers of `cfg` with parent `/bench-<run_id>`.
pub async fn run(cfg: Config, run_id: &str, shared: Arc<Shared>) -> anyhow::Result<Report> {
    let parent = format!("/bench-{run_id}");
    let keys: Arc<[String]> = (0..cfg.keys).map(|i| key_path(&parent, i)).collect();
    let data = value(cfg.value_size);

    let per_server = cfg.sessions.div_ceil(cfg.servers.len());
    if per_server > DEFAULT_MAX_CLIENT_CNXNS {
        eprintln!(
            "paddock-bench: warning: {per_server} sessions per server; a server with the default \
             maxClientCnxns ({DEFAULT_MAX_CLIENT_CNXNS}) refuses the ones past it"
        );
    }

    let t = Instant::now();
    setup(&cfg, &parent, &keys, &data)
        .await
        .with_context(|| format!("setup of {parent} on {}", cfg.server_of(0)))?;
    note(
        &cfg,
        format!(
            "setup: created {parent} and {} keys of {} B in {:.2} s",
            cfg.keys,
            cfg.value_size,
            t.elapsed().as_secs_f64()
        ),
    );

    let measured = match crate::shards_for("paddock-bench", &cfg) {
        Ok(shards) => measure(&cfg, &parent, &keys, &data, shared, shards.as_ref()).await,
        Err(e) => Err(anyhow::Error::new(e).context("cannot start the session threads")),
    };

    if cfg.keep {
        note(
            &cfg,
            format!("--keep: {parent} and its children are left in place"),
        );
    } else {
        let t = Instant::now();
        match cleanup(&cfg, &parent).await {
            Ok(n) => note(
                &cfg,
                format!(
                    "cleanup: deleted {n} nodes and {parent} in {:.2} s",
                    t.elapsed().as_secs_f64()
                ),
            ),
            // The measured run stands; say what is left behind.
            Err(e) => eprintln!("paddock-bench: cleanup of {parent} failed: {e:#}"),
        }
    }

    let m = measured?;
    Ok(Report {
        config: cfg,
        parent,
        elapsed: m.elapsed,
        recorder: m.recorder,
        lost: m.lost,
        watch_events: m.watch_events,
    })
}

/// What [`measure`] found.
struct Measured {
    elapsed: Duration,
    recorder: Recorder,
    lost: Vec<LostSession>,
    /// Events the `--watchers` sessions received, if there were any.
    watch_events: Option<u64>,
}

/// Connects the sessions, runs the loops, and returns what they measured.
async fn measure(
    cfg: &Config,
    parent: &str,
    keys: &Arc<[String]>,
    data: &Bytes,
    shared: Arc<Shared>,
    shards: Option<&crate::Shards>,
) -> anyhow::Result<Measured> {
    // `--connections`: one pool for the run's sessions (watchers and measured ones).
    let pool = cfg.shared_connections();
    let watchers = open_watchers(cfg, keys, pool.as_ref()).await?;
    let sessions = connect_all(cfg, pool.as_ref(), shards).await?;
    note(
        cfg,
        format!(
            "{} session{} connected to {}; running {} for {}",
            cfg.sessions,
            if cfg.sessions == 1 { "" } else { "s" },
            cfg.servers.join(","),
            cfg.workload.name(),
            match cfg.stop {
                Stop::After(d) => format!("{:.1} s", d.as_secs_f64()),
                Stop::Ops(n) => format!("{n} requests"),
            }
        ),
    );

    let create_prefix: Arc<str> = format!("{parent}/seq-").into();
    let (start_tx, start_rx) = watch::channel(None::<Instant>);
    let kinds = OpKind::of_workload(cfg.workload, cfg.read_pct);
    let mut workers = JoinSet::new();
    for (index, session) in sessions.into_iter().enumerate() {
        let gen = OpGen::for_session(
            cfg,
            index,
            keys.clone(),
            create_prefix.clone(),
            data.clone(),
        );
        let w = Worker {
            index,
            pipeline: cfg.pipeline,
            duration: match cfg.stop {
                Stop::After(d) => Some(d),
                Stop::Ops(_) => None,
            },
            quota: cfg.quota_of(index),
            rate: cfg.rate.map(|r| (r, cfg.sessions)),
            shared: shared.clone(),
            acl: cfg.acl(),
        };
        let start = start_rx.clone();
        let one = w.run(session, gen, Recorder::for_kinds(kinds), start);
        match shards {
            Some(shards) => workers.spawn_on(one, shards.handle(index)),
            None => workers.spawn(one),
        };
    }

    let start = Instant::now();
    start_tx.send_replace(Some(start));
    let progress = (!cfg.quiet).then(|| tokio::spawn(progress(shared.clone(), start)));

    let mut outcomes = Vec::with_capacity(cfg.sessions);
    while let Some(done) = workers.join_next().await {
        outcomes.push(done.context("a session task panicked")?);
    }
    if let Some(p) = progress {
        p.abort();
    }
    let mut watch_events = None;
    if let Some((clients, drains, received)) = watchers {
        settle(&received).await;
        for d in drains {
            d.abort();
        }
        let n = received.load(Ordering::Relaxed);
        note(
            cfg,
            format!(
                "watchers: {} sessions holding {} received {n} events",
                clients.len(),
                watches_held(cfg)
            ),
        );
        watch_events = Some(n);
        close_all(clients).await;
    }
    let (elapsed, recorder, lost) = pace::merge(cfg, start, outcomes);
    Ok(Measured {
        elapsed,
        recorder,
        lost,
        watch_events,
    })
}

/// `--watchers`: the idle sessions with their watches, the tasks draining their events, and the
/// count of events received.
type Watchers = (
    Vec<Client>,
    Vec<tokio::task::JoinHandle<()>>,
    Arc<AtomicU64>,
);

/// Watcher sessions opened at once (each connects, then sends its addWatches pipelined).
const WATCHERS_OPENING: usize = 64;

async fn open_watchers(
    cfg: &Config,
    keys: &Arc<[String]>,
    pool: Option<&SharedConnections>,
) -> anyhow::Result<Option<Watchers>> {
    if cfg.watchers == 0 {
        return Ok(None);
    }
    let t = Instant::now();
    let received = Arc::new(AtomicU64::new(0));
    let opened: Vec<anyhow::Result<(Client, tokio::task::JoinHandle<()>)>> =
        stream::iter(0..cfg.watchers)
            .map(|i| open_watcher(cfg, i, keys, Arc::clone(&received), pool))
            .buffer_unordered(WATCHERS_OPENING)
            .collect()
            .await;
    let (mut clients, mut drains) = (Vec::new(), Vec::new());
    let mut failed = None;
    for o in opened {
        match o {
            Ok((c, d)) => {
                clients.push(c);
                drains.push(d);
            }
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    if let Some(e) = failed {
        for d in drains {
            d.abort();
        }
        close_all(clients).await;
        return Err(e);
    }
    note(
        cfg,
        format!(
            "{} watcher sessions hold {} in {:.2} s",
            cfg.watchers,
            watches_held(cfg),
            t.elapsed().as_secs_f64()
        ),
    );
    Ok(Some((clients, drains, received)))
}

/// Waits until the events of the last changes, which may still be on their way, have arrived:
/// until `received` stays the same for 200 ms (at most 5 s).
pub async fn settle(received: &AtomicU64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = received.load(Ordering::Relaxed);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = received.load(Ordering::Relaxed);
        if now == seen {
            return;
        }
        seen = now;
    }
}

/// What the watcher sessions hold, for the notes.
fn watches_held(cfg: &Config) -> String {
    if cfg.watch_keys == 0 {
        "a persistent recursive watch on / each".into()
    } else {
        format!(
            "{} persistent watches on {} keys each",
            cfg.watchers as u64 * cfg.watch_keys,
            cfg.watch_keys
        )
    }
}

/// Watcher session `i`: connected, its watches added (on `/`, or on its `--watch-keys` keys),
/// and a task counting the events of all of them into `received`.
async fn open_watcher(
    cfg: &Config,
    i: usize,
    keys: &Arc<[String]>,
    received: Arc<AtomicU64>,
    pool: Option<&SharedConnections>,
) -> anyhow::Result<(Client, tokio::task::JoinHandle<()>)> {
    use paddock_client::AddWatchMode;
    let server = cfg.server_of(cfg.sessions + i).to_string();
    let c = session::connect(
        &server,
        cfg.session_timeout_ms,
        cfg.digest.as_deref(),
        cfg.tls.as_ref(),
        pool,
    )
    .await
    .with_context(|| format!("watcher session {i} on {server}"))?;
    let paths: Vec<(&str, AddWatchMode)> = if cfg.watch_keys == 0 {
        vec![("/", AddWatchMode::PersistentRecursive)]
    } else {
        cfg.watched_by(i)
            .map(|k| (keys[k as usize].as_str(), AddWatchMode::Persistent))
            .collect()
    };
    let added = futures::future::join_all(paths.iter().map(|&(p, mode)| c.add_watch(p, mode)));
    let mut watches = Vec::with_capacity(paths.len());
    for (w, (path, _)) in added.await.into_iter().zip(&paths) {
        watches.push(w.with_context(|| format!("addWatch {path} of watcher session {i}"))?);
    }
    let events = stream::select_all(watches.into_iter().map(|w| {
        Box::pin(stream::unfold(w, |mut w| async move {
            w.next().await.map(|e| (e, w))
        }))
    }));
    let drain = tokio::spawn(async move {
        let mut events = events;
        while let Some(Ok(_)) = events.next().await {
            received.fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok((c, drain))
}

/// Opens every session (session i on server i mod n); all or nothing. With `shards`, each is
/// opened on its shard, where its client's tasks then run.
async fn connect_all(
    cfg: &Config,
    pool: Option<&SharedConnections>,
    shards: Option<&crate::Shards>,
) -> anyhow::Result<Vec<Client>> {
    let mut set = JoinSet::new();
    for i in 0..cfg.sessions {
        let server = cfg.server_of(i).to_string();
        let timeout = cfg.session_timeout_ms;
        let digest = cfg.digest.clone();
        let tls = cfg.tls.clone();
        let pool = pool.cloned();
        let open = async move {
            let opened = session::connect(
                &server,
                timeout,
                digest.as_deref(),
                tls.as_ref(),
                pool.as_ref(),
            );
            (i, opened.await)
        };
        match shards {
            Some(shards) => set.spawn_on(open, shards.handle(i)),
            None => set.spawn(open),
        };
    }
    let mut slots: Vec<Option<Client>> = (0..cfg.sessions).map(|_| None).collect();
    let mut failures = Vec::new();
    while let Some(r) = set.join_next().await {
        match r.context("a connect task panicked")? {
            (i, Ok(s)) => slots[i] = Some(s),
            (i, Err(e)) => failures.push((i, e)),
        }
    }
    if let Some((i, e)) = failures.iter().min_by_key(|(i, _)| *i) {
        let opened: Vec<Client> = slots.into_iter().flatten().collect();
        close_all(opened).await;
        bail!(
            "{} of {} sessions could not be opened; session {i} on {}: {e}",
            failures.len(),
            cfg.sessions,
            cfg.server_of(*i)
        );
    }
    Ok(slots.into_iter().flatten().collect())
}

async fn close_all(sessions: Vec<Client>) {
    let mut set = JoinSet::new();
    for s in sessions {
        set.spawn(async move { tokio::time::timeout(Duration::from_secs(5), s.close()).await });
    }
    while set.join_next().await.is_some() {}
}

/// One stderr line per second: requests answered so far and the rate over the last second.
async fn progress(shared: Arc<Shared>, start: Instant) {
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::from_std(start) + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let (mut prev_ops, mut prev_at) = (0u64, start);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let ops = shared.ops.load(Ordering::Relaxed);
        let errors = shared.errors.load(Ordering::Relaxed);
        let rate = (ops - prev_ops) as f64 / (now - prev_at).as_secs_f64().max(1e-9);
        eprintln!(
            "[{:>5.1}s] {ops} ops, {rate:.0} ops/s, {errors} errors",
            (now - start).as_secs_f64()
        );
        (prev_ops, prev_at) = (ops, now);
    }
}

struct Worker {
    index: usize,
    pipeline: usize,
    duration: Option<Duration>,
    quota: Option<u64>,
    /// `--rate` and the number of sessions sharing it (open loop), or `None`.
    rate: Option<(f64, usize)>,
    shared: Arc<Shared>,
    /// The ACL of the nodes this session creates (`--digest`).
    acl: Vec<Acl>,
}

impl Worker {
    /// The closed loop: keep up to `pipeline` requests in flight (concurrent calls on the one
    /// client, which pipelines them on its stream) until the deadline / quota / stop flag, then
    /// drain, then close the session.
    async fn run(
        self,
        client: Client,
        mut gen: OpGen,
        recorder: Recorder,
        mut start: watch::Receiver<Option<Instant>>,
    ) -> (usize, LoopEnd) {
        let start = match start.wait_for(Option::is_some).await {
            Ok(s) => s.expect("waited for Some"),
            Err(_) => Instant::now(),
        };
        let deadline = self.duration.map(|d| start + d);
        let pacer = self
            .rate
            .map(|(rate, sessions)| Pacer::new(rate, sessions, self.index, start));
        let shared = self.shared.clone();
        let end = pace::session_loop(
            start,
            recorder,
            self.pipeline,
            pacer,
            |sent| self.more(sent, deadline),
            || {
                let (kind, req) = gen.next_op();
                send(&client, kind, Instant::now(), req, &self.acl)
            },
            |answered, in_flight| match answered {
                Answered::Ok => {
                    shared.ops.fetch_add(1, Ordering::Relaxed);
                }
                Answered::Failed(_) => {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                }
                Answered::Lost(_) => {
                    shared.errors.fetch_add(in_flight + 1, Ordering::Relaxed);
                }
            },
        )
        .await;
        if end.lost.is_none() {
            let _ = tokio::time::timeout(Duration::from_secs(5), client.close()).await;
        }
        // A lost session is dropped without closing: its stream goes, the server expires it.
        (self.index, end)
    }

    fn more(&self, sent: u64, deadline: Option<Instant>) -> bool {
        if self.shared.stop.load(Ordering::Relaxed) {
            return false;
        }
        if let Some(q) = self.quota {
            return sent < q;
        }
        deadline.is_none_or(|d| Instant::now() < d)
    }
}

/// One measured request on `client`: what it was, when it was sent, and how it ended.
async fn send(
    client: &Client,
    kind: OpKind,
    at: Instant,
    req: BenchOp,
    acl: &[Acl],
) -> (OpKind, Instant, Answered) {
    let result = match req {
        BenchOp::Create { path, data } => client
            .create_with_acl(&path, data, CreateMode::PersistentSequential, acl.to_vec())
            .await
            .map(drop),
        BenchOp::SetData { path, data } => client.set_data(&path, data, -1).await.map(drop),
        BenchOp::GetData { path } => client.get_data(&path).await.map(drop),
    };
    let answered = match result {
        Ok(()) => Answered::Ok,
        Err(e) if !is_session_failure(&e) => Answered::Failed(e.code().code()),
        Err(e) => Answered::Lost(SessionError::from(e)),
    };
    (kind, at, answered)
}

/// Runs `batches` as multis on `client` with up to `depth` in flight; returns the outcomes in
/// order, or the first session-level failure.
async fn multis(
    client: &Client,
    batches: impl IntoIterator<Item = Vec<MultiOp>>,
    depth: usize,
) -> Result<Vec<Result<(), Error>>, SessionError> {
    let outcomes: Vec<Result<(), Error>> = stream::iter(batches)
        .map(|ops| async move { client.multi(ops).await.map(drop) })
        .buffered(depth)
        .collect()
        .await;
    check_session(outcomes)
}

/// `outcomes`, unless one of them is a session-level failure.
fn check_session(outcomes: Vec<Result<(), Error>>) -> Result<Vec<Result<(), Error>>, SessionError> {
    match outcomes
        .iter()
        .find_map(|r| r.as_ref().err().filter(|e| is_session_failure(e)))
    {
        Some(e) => Err(SessionError::from(e.clone())),
        None => Ok(outcomes),
    }
}

/// A request's error, or a session-level one as the run's error.
fn answer<T>(r: Result<T, Error>) -> Result<Result<T, Error>, SessionError> {
    match r {
        Err(e) if is_session_failure(&e) => Err(SessionError::from(e)),
        r => Ok(r),
    }
}

/// Creates the parent and the keys (multi batches, pipelined).
async fn setup(cfg: &Config, parent: &str, keys: &[String], data: &Bytes) -> anyhow::Result<()> {
    let client = session::connect(
        cfg.server_of(0),
        cfg.session_timeout_ms,
        cfg.digest.as_deref(),
        cfg.tls.as_ref(),
        None,
    )
    .await?;
    let acl = cfg.acl();
    if let Err(e) = answer(
        client
            .create_with_acl(parent, Bytes::new(), CreateMode::Persistent, acl.clone())
            .await,
    )? {
        bail!("cannot create {parent}: {}", describe(&e));
    }
    let per_batch = (SETUP_BATCH_BYTES / data.len().max(1)).clamp(1, SETUP_BATCH_OPS);
    let batches = keys.chunks(per_batch).map(|chunk| {
        chunk
            .iter()
            .map(|k| MultiOp::Create {
                path: k.clone(),
                data: data.clone().into(),
                mode: CreateMode::Persistent,
                acl: acl.clone(),
            })
            .collect()
    });
    for r in multis(&client, batches, BATCH_PIPELINE).await? {
        if let Err(e) = r {
            bail!("cannot create the keys: {}", describe(&e));
        }
    }
    client.close().await.map_err(SessionError::from)?;
    Ok(())
}

/// Deletes every child of `parent` (a few rounds, in case of stragglers) and `parent`; returns
/// how many children were deleted.
async fn cleanup(cfg: &Config, parent: &str) -> anyhow::Result<u64> {
    let client = session::connect(
        cfg.server_of(0),
        cfg.session_timeout_ms,
        cfg.digest.as_deref(),
        cfg.tls.as_ref(),
        None,
    )
    .await?;
    let mut deleted = 0u64;
    for _round in 0..3 {
        let children = match answer(client.get_children(parent).await)? {
            Ok((children, _)) => children,
            Err(e) if e.code() == ErrorCode::NoNode => {
                client.close().await.map_err(SessionError::from)?;
                return Ok(deleted);
            }
            Err(e) => bail!("cannot list {parent}: {}", describe(&e)),
        };
        if children.is_empty() {
            break;
        }
        let paths: Vec<String> = children.iter().map(|c| format!("{parent}/{c}")).collect();
        let batches: Vec<&[String]> = paths.chunks(CLEANUP_BATCH_OPS).collect();
        let outcomes = multis(
            &client,
            batches.iter().map(|b| {
                b.iter()
                    .map(|p| MultiOp::Delete {
                        path: p.clone(),
                        version: -1,
                    })
                    .collect()
            }),
            BATCH_PIPELINE,
        )
        .await?;
        for (batch, r) in batches.iter().zip(outcomes) {
            if r.is_ok() {
                deleted += batch.len() as u64;
                continue;
            }
            // One bad op fails the whole multi: delete that batch one by one.
            let singles: Vec<Result<(), Error>> = stream::iter(batch.iter())
                .map(|p| client.delete(p, -1))
                .buffered(BATCH_PIPELINE)
                .collect()
                .await;
            deleted += check_session(singles)?.iter().filter(|r| r.is_ok()).count() as u64;
        }
    }
    if let Err(e) = answer(client.delete(parent, -1).await)? {
        if e.code() != ErrorCode::NoNode {
            bail!("cannot delete {parent}: {}", describe(&e));
        }
    }
    client.close().await.map_err(SessionError::from)?;
    Ok(deleted)
}

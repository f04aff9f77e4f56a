//! `paddock-bench-zk`: paddock-bench's workload against Apache ZooKeeper's native protocol, so
//! Paddock and ZooKeeper can be measured side by side on one machine with the same load generator
//! (same flags, key choice, value bytes, closed loops and report). Built only with the
//! `zookeeper` feature: `make bench-zk` or
//! `cargo run --release -p paddock-bench --features zookeeper --bin paddock-bench-zk -- --help`.
//!
//! ```text
//!  setup session: create /bench-<id> + K keys (pipelined creates) ──▶ close
//!  N sessions (session i on server i mod n), each with up to --pipeline requests in flight
//!  merge the per-session recorders ──▶ the same report as paddock-bench ──▶ cleanup
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::CommandFactory;
use futures::stream::{FuturesUnordered, StreamExt};
use paddock_bench::args::{Args, Config, Stop};
use paddock_bench::pace::{self, Answered, LoopEnd, Pacer};
use paddock_bench::session::SessionError;
use paddock_bench::stats::{Recorder, Report};
use paddock_bench::workload::{key_path, value, BenchOp, OpGen, OpKind};
use tokio::task::JoinSet;
use zookeeper_client as zk;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Creates or deletes in flight during setup and cleanup.
const SETUP_IN_FLIGHT: usize = 256;

/// ZooKeeper's numeric code of a client error; session-level ones are `Err`.
fn code_of(e: &zk::Error) -> Result<i32, SessionError> {
    let code = match e {
        zk::Error::NoNode => -101,
        zk::Error::NoAuth => -102,
        zk::Error::BadVersion => -103,
        zk::Error::NoChildrenForEphemerals => -108,
        zk::Error::NodeExists => -110,
        zk::Error::NotEmpty => -111,
        zk::Error::InvalidAcl => -114,
        zk::Error::BadArguments(_) => -8,
        zk::Error::Unimplemented => -6,
        zk::Error::SessionExpired => {
            return Err(SessionError {
                code: -112,
                message: e.to_string(),
            })
        }
        zk::Error::Timeout => {
            return Err(SessionError {
                code: -7,
                message: e.to_string(),
            })
        }
        _ => {
            return Err(SessionError {
                code: -4,
                message: e.to_string(),
            })
        }
    };
    Ok(code)
}

async fn connect(server: String, timeout_ms: i32) -> anyhow::Result<zk::Client> {
    let timeout = Duration::from_millis(timeout_ms.max(1) as u64);
    zk::Client::connector()
        .with_session_timeout(timeout)
        .connect(&server)
        .await
        .with_context(|| format!("cannot open a ZooKeeper session on {server}"))
}

/// Runs `ops` with up to [`SETUP_IN_FLIGHT`] in flight; the first failure ends it.
async fn all<F>(ops: impl IntoIterator<Item = F>) -> Result<(), zk::Error>
where
    F: std::future::Future<Output = Result<(), zk::Error>>,
{
    let mut ops = ops.into_iter();
    let mut in_flight = FuturesUnordered::new();
    loop {
        while in_flight.len() < SETUP_IN_FLIGHT {
            match ops.next() {
                Some(op) => in_flight.push(op),
                None => break,
            }
        }
        match in_flight.next().await {
            Some(r) => r?,
            None => return Ok(()),
        }
    }
}

async fn setup(cfg: &Config, parent: &str, keys: &[String], data: &Bytes) -> anyhow::Result<()> {
    let client = connect(cfg.server_of(0).to_string(), cfg.session_timeout_ms).await?;
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    client
        .create(parent, b"", &opts)
        .await
        .with_context(|| format!("create {parent}"))?;
    all(keys.iter().map(|k| {
        let f = client.create(k, data, &opts);
        async move { f.await.map(drop) }
    }))
    .await
    .context("create the keys")?;
    Ok(())
}

async fn cleanup(cfg: &Config, parent: &str) -> anyhow::Result<usize> {
    let client = connect(cfg.server_of(0).to_string(), cfg.session_timeout_ms).await?;
    let children = client.list_children(parent).await?;
    let n = children.len();
    let paths: Vec<String> = children.iter().map(|c| format!("{parent}/{c}")).collect();
    all(paths.iter().map(|p| client.delete(p, None))).await?;
    client.delete(parent, None).await?;
    Ok(n)
}

async fn send(client: &zk::Client, kind: OpKind, req: BenchOp) -> (OpKind, Instant, Answered) {
    let at = Instant::now();
    let result = match req {
        BenchOp::Create { path, data } => {
            let opts = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
            client.create(&path, &data, &opts).await.map(drop)
        }
        BenchOp::SetData { path, data } => client.set_data(&path, &data, None).await.map(drop),
        BenchOp::GetData { path } => client.get_data(&path).await.map(drop),
    };
    let answered = match result {
        Ok(()) => Answered::Ok,
        Err(e) => match code_of(&e) {
            Ok(code) => Answered::Failed(code),
            Err(lost) => Answered::Lost(lost),
        },
    };
    (kind, at, answered)
}

/// One session's closed loop, as paddock-bench's.
async fn session(
    index: usize,
    client: zk::Client,
    mut gen: OpGen,
    recorder: Recorder,
    cfg: Arc<Config>,
    start: Instant,
) -> (usize, LoopEnd) {
    let deadline = match cfg.stop {
        Stop::After(d) => Some(start + d),
        Stop::Ops(_) => None,
    };
    let quota = cfg.quota_of(index);
    let pacer = cfg
        .rate
        .map(|rate| Pacer::new(rate, cfg.sessions, index, start));
    let end = pace::session_loop(
        start,
        recorder,
        cfg.pipeline,
        pacer,
        |sent| quota.is_none_or(|q| sent < q) && deadline.is_none_or(|d| Instant::now() < d),
        || {
            let (kind, req) = gen.next_op();
            send(&client, kind, req)
        },
        |_, _| {},
    )
    .await;
    drop(client);
    (index, end)
}

async fn run(cfg: Config) -> anyhow::Result<Report> {
    let parent = format!("/bench-{}", paddock_bench::run::run_id());
    let keys: Arc<[String]> = (0..cfg.keys).map(|i| key_path(&parent, i)).collect();
    let data = value(cfg.value_size);
    setup(&cfg, &parent, &keys, &data)
        .await
        .with_context(|| format!("setup of {parent} on {}", cfg.server_of(0)))?;

    let watchers = open_watchers(&cfg, &keys).await?;
    // Each measured session opened (so its client's task spawned) on its shard (`--runtime`).
    let shards = paddock_bench::shards_for("paddock-bench-zk", &cfg)
        .context("cannot start the session threads")?;
    let mut clients = Vec::with_capacity(cfg.sessions);
    for i in 0..cfg.sessions {
        let open = connect(cfg.server_of(i).to_string(), cfg.session_timeout_ms);
        clients.push(match &shards {
            Some(shards) => shards
                .handle(i)
                .spawn(open)
                .await
                .context("a connect task panicked")??,
            None => open.await?,
        });
    }
    if !cfg.quiet {
        eprintln!(
            "paddock-bench-zk: {} sessions connected to {}; running {}",
            cfg.sessions,
            cfg.servers.join(","),
            cfg.workload.name()
        );
    }
    let cfg = Arc::new(cfg);
    let create_prefix: Arc<str> = format!("{parent}/seq-").into();
    // Every session's histograms made before the clock starts (see `Recorder`).
    let kinds = OpKind::of_workload(cfg.workload, cfg.read_pct);
    let recorders: Vec<Recorder> = (0..clients.len())
        .map(|_| Recorder::for_kinds(kinds))
        .collect();
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for ((index, client), recorder) in clients.into_iter().enumerate().zip(recorders) {
        let gen = OpGen::for_session(
            &cfg,
            index,
            keys.clone(),
            create_prefix.clone(),
            data.clone(),
        );
        let one = session(index, client, gen, recorder, cfg.clone(), start);
        match &shards {
            Some(shards) => tasks.spawn_on(one, shards.handle(index)),
            None => tasks.spawn(one),
        };
    }
    let mut outcomes = Vec::with_capacity(cfg.sessions);
    while let Some(done) = tasks.join_next().await {
        outcomes.push(done.context("a session task panicked")?);
    }
    let (elapsed, recorder, lost) = pace::merge(&cfg, start, outcomes);
    let mut watch_events = None;
    if let Some(w) = watchers {
        watch_events = Some(w.finish(&cfg).await);
    }
    if !cfg.keep {
        if let Err(e) = cleanup(&cfg, &parent).await {
            eprintln!("paddock-bench-zk: cleanup of {parent} failed: {e:#}");
        }
    }
    if recorder.ok() == 0 && !lost.is_empty() {
        bail!("every session was lost: {}", lost[0].error);
    }
    Ok(Report {
        config: Arc::unwrap_or_clone(cfg),
        parent,
        elapsed,
        recorder,
        lost,
        watch_events,
    })
}

/// `--watchers`: idle sessions holding persistent watches (a recursive one on `/`, or one on
/// each of their `--watch-keys` keys), as paddock-bench's, and the tasks counting the events
/// they receive.
struct Watchers {
    clients: Vec<zk::Client>,
    drains: Vec<tokio::task::JoinHandle<()>>,
    received: Arc<AtomicU64>,
}

/// Watcher sessions opened at once.
const WATCHERS_OPENING: usize = 64;

async fn open_watchers(cfg: &Config, keys: &Arc<[String]>) -> anyhow::Result<Option<Watchers>> {
    if cfg.watchers == 0 {
        return Ok(None);
    }
    let t = Instant::now();
    let received = Arc::new(AtomicU64::new(0));
    let opened: Vec<anyhow::Result<(zk::Client, tokio::task::JoinHandle<()>)>> =
        futures::stream::iter(0..cfg.watchers)
            .map(|i| open_watcher(cfg, i, keys, Arc::clone(&received)))
            .buffer_unordered(WATCHERS_OPENING)
            .collect()
            .await;
    let (mut clients, mut drains) = (Vec::new(), Vec::new());
    for o in opened {
        let (c, d) = o?;
        clients.push(c);
        drains.push(d);
    }
    if !cfg.quiet {
        eprintln!(
            "paddock-bench-zk: {} watcher sessions hold {} watches in {:.2} s",
            cfg.watchers,
            cfg.watchers as u64 * cfg.watch_keys.max(1),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(Some(Watchers {
        clients,
        drains,
        received,
    }))
}

/// The next event of `w`, or `None` once its session has ended (`changed` panics after that).
async fn next_event(
    mut w: zk::PersistentWatcher,
) -> Option<(zk::WatchedEvent, zk::PersistentWatcher)> {
    loop {
        let event = w.changed().await;
        if event.event_type != zk::EventType::Session {
            return Some((event, w));
        }
        if event.session_state.is_terminated() {
            return None;
        }
    }
}

async fn open_watcher(
    cfg: &Config,
    i: usize,
    keys: &Arc<[String]>,
    received: Arc<AtomicU64>,
) -> anyhow::Result<(zk::Client, tokio::task::JoinHandle<()>)> {
    let server = cfg.server_of(cfg.sessions + i);
    let client = connect(server.to_string(), cfg.session_timeout_ms).await?;
    let paths: Vec<(&str, zk::AddWatchMode)> = if cfg.watch_keys == 0 {
        vec![("/", zk::AddWatchMode::PersistentRecursive)]
    } else {
        cfg.watched_by(i)
            .map(|k| (keys[k as usize].as_str(), zk::AddWatchMode::Persistent))
            .collect()
    };
    let added =
        futures::future::join_all(paths.iter().map(|&(p, mode)| client.watch(p, mode))).await;
    let mut watches = Vec::with_capacity(paths.len());
    for (w, (path, _)) in added.into_iter().zip(&paths) {
        watches.push(
            w.with_context(|| format!("addWatch {path} of watcher session {i} on {server}"))?,
        );
    }
    let events = futures::stream::select_all(
        watches
            .into_iter()
            .map(|w| Box::pin(futures::stream::unfold(w, next_event))),
    );
    let drain = tokio::spawn(async move {
        let mut events = events;
        while events.next().await.is_some() {
            received.fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok((client, drain))
}

impl Watchers {
    /// Stops the drains and closes the sessions; the events received.
    async fn finish(self, cfg: &Config) -> u64 {
        paddock_bench::run::settle(&self.received).await;
        for d in &self.drains {
            d.abort();
        }
        let n = self.received.load(Ordering::Relaxed);
        if !cfg.quiet {
            eprintln!(
                "paddock-bench-zk: watchers: {} sessions received {n} events",
                self.clients.len(),
            );
        }
        drop(self.clients);
        n
    }
}

fn main() -> ExitCode {
    let command = Args::command()
        .name("paddock-bench-zk")
        .bin_name("paddock-bench-zk")
        .about("paddock-bench's workload against Apache ZooKeeper (native protocol, port 2181)")
        .long_about(
            "paddock-bench-zk: paddock-bench's workload against Apache ZooKeeper, over \
                 ZooKeeper's native protocol, for side-by-side figures (make bench-zk).\n\n\
                 Same flags, key choice, closed loops and report as paddock-bench: --sessions \
                 sessions (one connection each, round-robin over --server), each with up to \
                 --pipeline requests in flight, for --duration seconds or --ops requests.",
        );
    let cfg = Args::config_from_command_line(command);
    if cfg.tls.is_some() {
        // ZooKeeper's TLS port needs its Netty client socket; this binary has no TLS.
        eprintln!("paddock-bench-zk: the --tls-* flags are paddock-bench's only");
        return ExitCode::from(2);
    }
    if cfg.connections > 0 {
        // ZooKeeper's protocol is one TCP connection per session.
        eprintln!("paddock-bench-zk: --connections is paddock-bench's only");
        return ExitCode::from(2);
    }
    let rt = match paddock_bench::runtime("paddock-bench-zk", cfg.threads) {
        Ok(rt) => rt,
        Err(status) => return status,
    };
    let json = cfg.json;
    Report::finish("paddock-bench-zk", rt.block_on(run(cfg)), json)
}

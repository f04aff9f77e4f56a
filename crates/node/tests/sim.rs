//! Whole-server deterministic simulation (issue 18, item 1; docs/testing.md, "The whole-server
//! simulator"): 3 and 5 servers, each the real processor, data tree, session tracker, quorum
//! peer and election, wired as a server wires them (`paddock_node::ensemble::assemble`), plus
//! clients calling the processor's session API as the gateway does — all on one thread, on
//! tokio's paused clock, over in-memory networks and disks, every choice drawn from one seed.
//!
//! A seed draws a schedule ([`Step`]): links cut and healed (ZAB streams, election links or
//! both), the leader or a minority partitioned away, network weather (delayed stream events;
//! election notifications lost, duplicated, delayed and so reordered), servers crashed (their
//! log keeps what was synced and a seeded prefix of the rest: a torn tail) and restarted,
//! disks whose fsyncs fail, that are full or that are slow (each log sync taking 1 ms to 3 s of
//! the clock); and the clients' operations (`sim/client.rs`).
//! Then everything is healed and restarted, the ensemble must settle, and the checkers of
//! `sim/checks.rs` judge the history: linearizability of the keys' operations, every
//! acknowledged write present and nothing never sent, ephemerals exactly as long as their
//! sessions, the watch rules, at most one leader per epoch, equal trees everywhere.
//!
//! Knobs: `PADDOCK_SIM_SEEDS` (seeds per ensemble size; default [`DEFAULT_SEEDS`]),
//! `PADDOCK_SIM_SEED_START` (first seed, default 0), `PADDOCK_SIM_TRACE` (a failure report
//! lists the last events of the run). A failure prints its seed, schedule and replay command;
//! a replay is exact (`one_seed_replays_the_same_trace`). `make soak` runs many seeds in
//! release, in parallel (`scripts/sim-soak.sh`).

#[path = "sim/checks.rs"]
mod checks;
#[path = "sim/client.rs"]
mod client;
#[path = "sim/cluster.rs"]
mod cluster;
#[path = "sim/net.rs"]
mod net;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use paddock_lincheck::zk::{Input, Output};
use paddock_lincheck::Operation;
use paddock_processor::{Backend, ConnectRequest, Connected, Processor, SessionEvent};
use paddock_quorum::sim::Rng;
use paddock_types::{Acl, CreateMode, Data, ErrorCode, Request, Response, ZkError, Zxid};
use tokio::task::JoinSet;

use client::{Client, History, Mode, ModeCell, KEYS};
use cluster::{Cluster, DiskFault, TICK_MS};
use net::{Trace, Weather};

/// Seeds per ensemble size when `PADDOCK_SIM_SEEDS` is not set (CI, debug build).
const DEFAULT_SEEDS: u64 = 100;
/// Steps in one schedule.
const STEPS: usize = 24;
/// Clients per run.
const CLIENTS: usize = 4;
/// Bound on every wait for the ensemble, in virtual time.
const SETTLE: Duration = Duration::from_secs(60);
/// Events of the trace shown in a failure report (with `PADDOCK_SIM_TRACE`).
const REPORT_EVENTS: usize = 300;

// ----- the schedule -----

/// One step. Steps naming "the leader" resolve when they run (to whoever leads and serves
/// then; if nobody does, they do nothing).
#[derive(Clone, Debug)]
enum Step {
    /// Let time pass (the clients work meanwhile).
    Sleep {
        ms: u64,
    },
    /// Cut `a`-`b` on the ZAB network and/or the election network.
    Cut {
        a: u64,
        b: u64,
        peer: bool,
        election: bool,
    },
    Heal {
        a: u64,
        b: u64,
    },
    HealAll,
    /// Cut every link between `side` (a minority) and the rest.
    Partition {
        side: Vec<u64>,
    },
    /// Cut the leader and `with` others (a minority) off from the rest.
    PartitionLeader {
        with: usize,
    },
    /// Crash `id`; `torn` of its unsynced log records survive.
    Kill {
        id: u64,
        torn: usize,
    },
    KillLeader {
        torn: usize,
    },
    /// Restart the lowest-numbered dead server.
    RestartOne,
    Weather(Weather),
    /// A disk starts failing.
    Disk {
        id: u64,
        fault: DiskFault,
    },
    /// A disk works again (and is fast again).
    Repair {
        id: u64,
    },
    /// `id`'s disk turns slow: each log sync takes `ms` of the clock (drawn apart from the
    /// other steps, [`with_slow_disks`]).
    SlowDisk {
        id: u64,
        ms: u64,
    },
}

impl Step {
    fn is_fault(&self) -> bool {
        match self {
            Step::Sleep { .. }
            | Step::Heal { .. }
            | Step::HealAll
            | Step::RestartOne
            | Step::Repair { .. } => false,
            Step::Weather(w) => *w != Weather::default(),
            _ => true,
        }
    }
}

fn generate(n: u64, seed: u64) -> Vec<Step> {
    let mut rng = Rng::new(seed ^ (n << 56) ^ 0x51_u64);
    let node = |rng: &mut Rng| 1 + rng.below(n as usize) as u64;
    let pair = |rng: &mut Rng| {
        let a = 1 + rng.below(n as usize) as u64;
        let b = 1 + (a + rng.below(n as usize - 1) as u64) % n;
        (a.min(b), a.max(b))
    };
    let minority = ((n - 1) / 2) as usize;
    (0..STEPS)
        .map(|_| match rng.below(100) {
            0..=34 => Step::Sleep {
                ms: 50 + rng.below(750) as u64,
            },
            35..=44 => {
                let (a, b) = pair(&mut rng);
                let (peer, election) = match rng.below(4) {
                    0 => (true, false),
                    1 => (false, true),
                    _ => (true, true),
                };
                Step::Cut {
                    a,
                    b,
                    peer,
                    election,
                }
            }
            45..=49 => {
                let (a, b) = pair(&mut rng);
                Step::Heal { a, b }
            }
            50..=56 => Step::HealAll,
            57..=60 => {
                let size = 1 + rng.below(minority);
                let mut side = BTreeSet::new();
                while side.len() < size {
                    side.insert(node(&mut rng));
                }
                Step::Partition {
                    side: side.into_iter().collect(),
                }
            }
            61..=64 => Step::PartitionLeader {
                with: rng.below(minority),
            },
            65..=68 => Step::Kill {
                id: node(&mut rng),
                torn: rng.below(4),
            },
            69..=72 => Step::KillLeader { torn: rng.below(4) },
            73..=80 => Step::RestartOne,
            81..=88 => Step::Weather(match rng.below(3) {
                0 => Weather::default(),
                _ => Weather {
                    stream_delay_ms_max: rng.below(40) as u64,
                    vote_loss_pct: rng.below(30) as u64,
                    vote_dup_pct: rng.below(30) as u64,
                    vote_delay_ms_max: rng.below(80) as u64,
                },
            }),
            89..=93 => Step::Disk {
                id: node(&mut rng),
                fault: if rng.below(2) == 0 {
                    DiskFault::FsyncFails
                } else {
                    DiskFault::Full
                },
            },
            _ => Step::Repair { id: node(&mut rng) },
        })
        .collect()
}

/// A seed's schedule: [`generate`]'s steps with slow disks among them.
fn schedule(n: u64, seed: u64) -> Vec<Step> {
    with_slow_disks(n, seed, generate(n, seed))
}

/// Inserts slow-disk steps (a server's log syncs take 1-30 ms, or a tick or more up to the
/// sync limit and past it, or longer than a session timeout) before some steps, drawn from a
/// random stream of their own: the other steps, and what [`generate`] alone gives for a seed
/// (the schedules `REGRESSION_SEEDS` were found with), stay as they are. A slow-disk step
/// takes no time; a `Repair` step, or the final heal, makes the disk fast again.
fn with_slow_disks(n: u64, seed: u64, steps: Vec<Step>) -> Vec<Step> {
    let mut rng = Rng::new(seed ^ (n << 56) ^ 0x5107_d15c);
    let mut out = Vec::with_capacity(steps.len() + 4);
    for step in steps {
        if rng.below(100) < 6 {
            let id = 1 + rng.below(n as usize) as u64;
            let ms = match rng.below(20) {
                // Slower than the disk should be, within every limit.
                0..=13 => 1 + rng.below(30),
                // A tick (100 ms) or more, up to and past the sync limit (5 ticks).
                14..=18 => 100 + rng.below(500),
                // Longer than a session timeout.
                _ => 1_000 + rng.below(2_000),
            } as u64;
            out.push(Step::SlowDisk { id, ms });
        }
        out.push(step);
    }
    out
}

// ----- one run -----

/// What a run left: the checks' outcome, counts, notes and (traced) every event.
struct Run {
    outcome: Result<(), String>,
    notes: Vec<String>,
    events: Vec<String>,
    sim_ms: u64,
    faults: u64,
    answered: u64,
    unanswered: u64,
    watch_events: u64,
}

async fn run_step(c: &mut Cluster, step: &Step, notes: &mut Vec<String>) {
    // Crashes and disk faults are counted where they happen (a dead server cannot crash).
    if step.is_fault()
        && !matches!(
            step,
            Step::Kill { .. }
                | Step::KillLeader { .. }
                | Step::Disk { .. }
                | Step::SlowDisk { .. }
                | Step::PartitionLeader { .. }
        )
    {
        c.faults_injected += 1;
    }
    match step {
        Step::Sleep { ms } => tokio::time::sleep(Duration::from_millis(*ms)).await,
        Step::Cut {
            a,
            b,
            peer,
            election,
        } => c.cut(*a, *b, *peer, *election),
        Step::Heal { a, b } => c.heal(*a, *b),
        Step::HealAll => c.heal_all(),
        Step::Partition { side } => c.partition(side),
        Step::PartitionLeader { with } => {
            let Some(l) = c.leader() else {
                notes.push("no leader to partition".into());
                return;
            };
            let side: Vec<u64> = (0..=*with as u64).map(|k| 1 + (l - 1 + k) % c.n).collect();
            notes.push(format!("partition the leader's side {side:?}"));
            c.partition(&side);
            c.faults_injected += 1;
        }
        Step::Kill { id, torn } => c.kill(*id, *torn).await,
        Step::KillLeader { torn } => match c.leader() {
            Some(l) => {
                notes.push(format!("kill leader {l}"));
                c.kill(l, *torn).await;
            }
            None => notes.push("no leader to kill".into()),
        },
        Step::RestartOne => {
            if let Some(id) = c.ids().into_iter().find(|i| !c.alive(*i)) {
                notes.push(format!("restart {id}"));
                c.start(id);
            }
        }
        Step::Weather(w) => c.faults.set(*w),
        Step::Disk { id, fault } => c.fail_disk(*id, *fault),
        Step::Repair { id } => c.repair_disk(*id),
        Step::SlowDisk { id, ms } => c.slow_disk(*id, Duration::from_millis(*ms)),
    }
}

/// A session of the simulator itself on one server (setup and the final reads).
struct Probe {
    server: Arc<Processor>,
    c: Connected,
    xid: i64,
}

impl Probe {
    async fn open(server: Arc<Processor>) -> Result<Probe, String> {
        let req = ConnectRequest {
            resume: None,
            timeout_ms: client::SESSION_TIMEOUT_MS,
            last_zxid_seen: Zxid::ZERO,
            peer: "simulator".into(),
            conn_ids: Vec::new(),
            set_watches: Default::default(),
            read_only: false,
        };
        // The ensemble is judged settled on the peers' statuses; each processor takes its role
        // from its peer a moment later (its role task), so a connect right after may be told
        // "not serving" (CONNECTIONLOSS): retried, as a client would, for a few ticks.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(20 * TICK_MS as u64);
        loop {
            match tokio::time::timeout(SETTLE, server.connect(req.clone())).await {
                Ok(Ok(c)) => return Ok(Probe { server, c, xid: 0 }),
                Ok(Err(e))
                    if e.code == ErrorCode::ConnectionLoss
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(TICK_MS as u64 / 2)).await;
                }
                Ok(Err(e)) => return Err(format!("the simulator's session was refused: {e:?}")),
                Err(_) => return Err("the simulator's session was not opened in time".into()),
            }
        }
    }

    async fn call(&mut self, req: Request) -> Result<Result<Response, ZkError>, String> {
        self.xid += 1;
        let xid = self.xid;
        let what = format!("{req:?}");
        self.server.submit(self.c.session, self.c.conn, xid, req);
        loop {
            match tokio::time::timeout(SETTLE, self.c.events.recv()).await {
                Ok(Some(SessionEvent::Response { xid: x, result, .. })) if x == xid => {
                    return Ok(result)
                }
                Ok(Some(SessionEvent::Closed(code))) => {
                    return Err(format!(
                        "the simulator's session closed ({code:?}) at {what}"
                    ))
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return Err(format!("no answer to the simulator's {what}")),
            }
        }
    }

    async fn close(mut self) {
        let _ = self.call(Request::CloseSession).await;
    }
}

fn data_u64(d: &Data) -> u64 {
    client::decode(d)
}

/// The final state as one server shows it after a sync: the children of `/seq` with their
/// tokens and those of `/eph` with their owners.
async fn final_nodes(
    p: &mut Probe,
) -> Result<(BTreeMap<String, u64>, HashMap<String, i64>), String> {
    let mut seq = BTreeMap::new();
    let mut eph = HashMap::new();
    p.call(Request::Sync { path: "/".into() })
        .await?
        .map_err(|e| format!("final sync: {e:?}"))?;
    for (dir, is_seq) in [("/seq", true), ("/eph", false)] {
        let children = match p
            .call(Request::GetChildren {
                path: dir.into(),
                watch: false,
            })
            .await?
        {
            Ok(Response::GetChildren { children, .. }) => children,
            other => return Err(format!("getChildren {dir}: {other:?}")),
        };
        for child in children {
            let path = format!("{dir}/{child}");
            match p
                .call(Request::GetData {
                    path: path.clone(),
                    watch: false,
                })
                .await?
            {
                Ok(Response::GetData { data, stat }) => {
                    if is_seq {
                        seq.insert(path, data_u64(&data));
                    } else {
                        eph.insert(path, stat.ephemeral_owner);
                    }
                }
                other => return Err(format!("getData {path}: {other:?}")),
            }
        }
    }
    Ok((seq, eph))
}

/// Every node of one server's own tree (no sync: what it holds), one line each.
async fn dump_tree(p: &mut Probe) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut todo = vec!["/".to_string()];
    while let Some(path) = todo.pop() {
        if path == "/zookeeper" {
            continue;
        }
        let Ok(Response::GetData { data, stat }) = p
            .call(Request::GetData {
                path: path.clone(),
                watch: false,
            })
            .await?
        else {
            continue;
        };
        out.push(format!(
            "{path} v{} c{:x} m{:x} owner {:x} data {:x}",
            stat.version,
            stat.czxid,
            stat.mzxid,
            stat.ephemeral_owner,
            data_u64(&data)
        ));
        if let Ok(Response::GetChildren { children, .. }) = p
            .call(Request::GetChildren {
                path: path.clone(),
                watch: false,
            })
            .await?
        {
            for child in children {
                let base = if path == "/" { "" } else { path.as_str() };
                todo.push(format!("{base}/{child}"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Heals everything, waits for the clients, the ensemble and the sessions, reads the final
/// state and runs every checker.
async fn finish(
    c: &mut Cluster,
    mode: &ModeCell,
    clients: &mut JoinSet<()>,
    history: &Arc<Mutex<History>>,
    start: tokio::time::Instant,
) -> Result<(), String> {
    c.heal_all();
    c.faults.set(Weather::default());
    for id in c.ids() {
        c.repair_disk(id);
        if !c.alive(id) {
            c.start(id);
        }
    }
    set_mode(mode, Mode::KeepAlive);
    // Abandoned sessions expire (the clients keep theirs alive meanwhile). A new leader gives
    // every session a full timeout again (as ZooKeeper's does), so the wait starts over if the
    // leader changed during it (a follower that timed out on the leader before the heal may
    // still start an election).
    let mut leader = c.settle(SETTLE).await?;
    let mut epoch = c.status(leader).map(|s| s.epoch);
    let mut waits = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(3 * client::SESSION_TIMEOUT_MS as u64)).await;
        let now = c.settle(SETTLE).await?;
        let now_epoch = c.status(now).map(|s| s.epoch);
        if (now, now_epoch) == (leader, epoch) {
            break;
        }
        waits += 1;
        if waits == 5 {
            return Err(format!(
                "the leader still changed after the heal (now {now}, epoch {now_epoch:?})"
            ));
        }
        (leader, epoch) = (now, now_epoch);
    }
    set_mode(mode, Mode::Stop);
    while clients.join_next().await.is_some() {}

    let mut final_ops: Vec<Operation<Input, Output>> = Vec::new();
    let mut nodes = None;
    for id in c.ids() {
        let server = c.processor(id).ok_or("a server died after the heal")?;
        let mut p = Probe::open(server).await?;
        for key in KEYS {
            let call = start.elapsed().as_nanos() as u64;
            p.call(Request::Sync { path: key.into() })
                .await?
                .map_err(|e| format!("final sync at {id}: {e:?}"))?;
            let out = match p
                .call(Request::GetData {
                    path: key.into(),
                    watch: false,
                })
                .await?
            {
                Ok(Response::GetData { data, stat }) => {
                    Output::Read(Some((data_u64(&data), stat.version)))
                }
                Err(e) if e.code == ErrorCode::NoNode => Output::Read(None),
                other => return Err(format!("final read of {key} at {id}: {other:?}")),
            };
            final_ops.push(Operation {
                client: 1000 + id as usize,
                input: Input::Read { path: key.into() },
                output: Some(out),
                call,
                ret: Some(start.elapsed().as_nanos() as u64),
            });
        }
        if id == leader {
            nodes = Some(final_nodes(&mut p).await?);
        }
        p.close().await;
    }
    c.settle(SETTLE).await?;
    let digests: Vec<(u64, Zxid, u64)> = c
        .ids()
        .into_iter()
        .filter_map(|id| c.processor(id).map(|p| (id, p.digest_with_zxid())))
        .map(|(id, (z, d))| (id, z, d))
        .collect();

    let mut tree_diffs = Vec::new();
    if let Some(first) = digests.first() {
        let base = c.processor(first.0).ok_or("a server died after the heal")?;
        let base = dump_tree(&mut Probe::open(base).await?).await?;
        for d in digests.iter().filter(|d| (d.1, d.2) != (first.1, first.2)) {
            let other = c.processor(d.0).ok_or("a server died after the heal")?;
            let other = dump_tree(&mut Probe::open(other).await?).await?;
            let only = |a: &[String], b: &[String]| -> Vec<String> {
                a.iter()
                    .filter(|l| !b.contains(l))
                    .take(8)
                    .cloned()
                    .collect()
            };
            tree_diffs.push(format!(
                "server {} vs server {}: only on {}: {:?}; only on {}: {:?}",
                d.0,
                first.0,
                d.0,
                only(&other, &base),
                first.0,
                only(&base, &other)
            ));
        }
    }

    let h = history.lock().expect("history lock");
    let mut ops = h.ops.clone();
    ops.extend(final_ops);
    let (seq, eph) = nodes.ok_or("no final read on the leader")?;
    let mut errors = Vec::new();
    errors.extend(checks::linearizable(&ops));
    errors.extend(checks::sequential(&h, &seq));
    errors.extend(checks::ephemerals(&h.sessions, &eph));
    errors.extend(h.watch_violations.iter().cloned());
    errors.extend(checks::one_leader_per_epoch(
        &c.leadership.lock().expect("leadership lock"),
    ));
    errors.extend(checks::trees_equal(&digests));
    errors.extend(tree_diffs);
    errors.truncate(10);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

fn set_mode(cell: &ModeCell, mode: Mode) {
    *cell.lock().expect("mode lock") = mode;
}

/// Creates the parents every client needs, once the first leader serves.
async fn setup(c: &Cluster) -> Result<(), String> {
    let leader = c.settle(SETTLE).await?;
    let server = c.processor(leader).ok_or("no leader process")?;
    let mut p = Probe::open(server).await?;
    for dir in ["/eph", "/seq"] {
        p.call(Request::Create {
            path: dir.into(),
            data: Data::new(Bytes::new()),
            mode: CreateMode::Persistent,
            acl: Acl::open(),
        })
        .await?
        .map_err(|e| format!("create {dir}: {e:?}"))?;
    }
    p.close().await;
    Ok(())
}

/// Runs `schedule` on a fresh single-threaded runtime with a paused clock.
fn run_schedule(n: u64, seed: u64, schedule: &[Step], traced: bool) -> Run {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let start = tokio::time::Instant::now();
        let trace = Trace::new(traced);
        let mut c = Cluster::new(n, seed, trace.clone());
        for id in c.ids() {
            c.start(id);
        }
        let history: Arc<Mutex<History>> = Arc::default();
        let mode: ModeCell = Arc::new(Mutex::new(Mode::Work));
        let mut clients = JoinSet::new();
        let mut notes = Vec::new();
        let outcome = match setup(&c).await {
            Err(e) => Err(format!("setup: {e}")),
            Ok(()) => {
                for k in 0..CLIENTS {
                    let client = Client::new(
                        k,
                        seed,
                        c.reach.clone(),
                        history.clone(),
                        trace.clone(),
                        mode.clone(),
                    );
                    clients.spawn(client.run());
                }
                for (k, step) in schedule.iter().enumerate() {
                    trace.record(0, format_args!("step {k}: {step:?}"));
                    run_step(&mut c, step, &mut notes).await;
                }
                finish(&mut c, &mode, &mut clients, &history, start).await
            }
        };
        set_mode(&mode, Mode::Stop);
        clients.abort_all();
        while clients.join_next().await.is_some() {}
        c.stop_all().await;
        let h = history.lock().expect("history lock");
        Run {
            outcome,
            notes,
            events: trace.events(),
            sim_ms: start.elapsed().as_millis() as u64,
            faults: c.faults_injected,
            answered: h.answered,
            unanswered: h.unanswered,
            watch_events: h.watch_events,
        }
    })
}

// ----- seeds -----

#[derive(Default)]
struct Totals {
    seeds: u64,
    sim_ms: u64,
    faults: u64,
    answered: u64,
    unanswered: u64,
    watch_events: u64,
}

fn test_name(n: u64) -> &'static str {
    if n == 3 {
        "three_servers_under_random_faults"
    } else {
        "five_servers_under_random_faults"
    }
}

/// Runs `schedule` of seed `seed` (`schedule(n, seed)`, or `generate(n, seed)` for a seed
/// found before slow disks were drawn).
fn run_seed(n: u64, seed: u64, schedule: Vec<Step>, totals: &mut Totals) -> Result<(), String> {
    let traced = std::env::var_os("PADDOCK_SIM_TRACE").is_some();
    let run = run_schedule(n, seed, &schedule, traced);
    totals.seeds += 1;
    totals.sim_ms += run.sim_ms;
    totals.faults += run.faults;
    totals.answered += run.answered;
    totals.unanswered += run.unanswered;
    totals.watch_events += run.watch_events;
    let Err(e) = run.outcome else {
        return Ok(());
    };
    let mut report = format!("{n} servers, seed {seed}: {e}\nschedule:\n");
    for (k, s) in schedule.iter().enumerate() {
        let _ = writeln!(report, "  {k:>2}. {s:?}");
    }
    let _ = writeln!(report, "what leader-relative steps did: {:?}", run.notes);
    if traced {
        let _ = writeln!(report, "the last {REPORT_EVENTS} events:");
        for line in &run.events[run.events.len().saturating_sub(REPORT_EVENTS)..] {
            let _ = writeln!(report, "    {line}");
        }
        let path = std::env::temp_dir().join(format!("paddock-sim-{n}-{seed}.trace"));
        if std::fs::write(&path, run.events.join("\n")).is_ok() {
            let _ = writeln!(report, "the whole trace: {}", path.display());
        }
    }
    let _ = writeln!(
        report,
        "replay: PADDOCK_SIM_SEED_START={seed} PADDOCK_SIM_SEEDS=1 PADDOCK_SIM_TRACE=1 cargo test -p paddock-node --test sim {} -- --nocapture",
        test_name(n)
    );
    Err(report)
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        Err(_) => default,
    }
}

/// `PADDOCK_SIM_LOG=<filter>` (e.g. `paddock_quorum=debug`): the servers' logs, on stderr.
fn init_logs() {
    if let Ok(filter) = std::env::var("PADDOCK_SIM_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

fn run_seeds(n: u64) {
    init_logs();
    let start = env_u64("PADDOCK_SIM_SEED_START", 0);
    let count = env_u64("PADDOCK_SIM_SEEDS", DEFAULT_SEEDS);
    let t = std::time::Instant::now();
    let mut totals = Totals::default();
    let mut failures = Vec::new();
    for seed in start..start + count {
        if KNOWN_OPEN.contains(&(n, seed)) {
            eprintln!("sim: {n} servers, seed {seed}: skipped (a known open issue, KNOWN_OPEN)");
            continue;
        }
        if let Err(report) = run_seed(n, seed, schedule(n, seed), &mut totals) {
            eprintln!("{report}");
            failures.push(seed);
        }
    }
    let wall = t.elapsed();
    eprintln!(
        "sim: {n} servers: seeds {start}..{}: {} passed, {} failed {failures:?}; {:.1} simulated minutes, {} faults, {} answers, {} unanswered, {} watch events; {:.1} s, {:.1} seeds/s",
        start + count,
        totals.seeds - failures.len() as u64,
        failures.len(),
        totals.sim_ms as f64 / 60_000.0,
        totals.faults,
        totals.answered,
        totals.unanswered,
        totals.watch_events,
        wall.as_secs_f64(),
        totals.seeds as f64 / wall.as_secs_f64().max(1e-9)
    );
    // One line for scripts/sim-soak.sh to add up.
    eprintln!(
        "SIM-SUMMARY servers={n} seeds={} failed={} sim_ms={} faults={} wall_ms={}",
        totals.seeds,
        failures.len(),
        totals.sim_ms,
        totals.faults,
        wall.as_millis()
    );
    assert!(
        failures.is_empty(),
        "{n} servers: {} of {count} seeds failed: {failures:?} (reports above)",
        failures.len()
    );
}

#[test]
fn three_servers_under_random_faults() {
    run_seeds(3);
}

#[test]
fn five_servers_under_random_faults() {
    run_seeds(5);
}

/// Seeds that once failed, each run in CI whatever `PADDOCK_SIM_SEEDS` says:
/// - 3 servers, seed 163: server 2's fsyncs failed (not sticky); the in-memory log's
///   `recover` then kept the records it had not synced, so 2 rejoined reporting them as its
///   last zxid, acknowledged NEWLEADERs of later epochs over them and recorded those epochs;
///   a crash lost them, 2 won the next election by its newer currentEpoch and TRUNCated
///   committed transactions on the others: trees diverged, acknowledged writes were lost.
///   The fix is `MemTxnLog::recover`, which now keeps only what was durable after any failed
///   write, as the trait says (the sled log's I/O failures are sticky and always did).
/// - 5 servers, seed 11: server 2, LOOKING, `catch_up` applied records of epoch 1 that were
///   logged but never committed (up to 0x10000003c); the processor's periodic snapshot then
///   wrote that tree; the next leader TRUNCated 2 to 0x100000039 and the driver, which knew
///   only the snapshots it restored or installed, rebuilt from the store's newest and served
///   0x10000003c (the digests differed). First guarded (a truncation below any stored snapshot
///   stops the peer), then fixed: the processor holds its periodic snapshots until the peer
///   serves (`StateMachine::history_confirmed`), so no snapshot holds replayed records.
/// - 3 servers, seed 1102091: server 2's log failed while it installed leader 3's SNAP at
///   0x200000081, so the log kept its records up to 0x100000062 below the new snapshot; leading
///   later, it took those records as the tail of its history, and learner 1's 0x200000080, in
///   the hole, for a divergence: TRUNC+DIFF to 0x100000062 of committed transactions (1 held
///   them in snapshots, so the truncation guard stopped it). Fixed: a leader whose log does not
///   end at its last zxid keeps no in-memory window (lagging learners get a SNAP).
/// - 3 servers, seed 1000086: server 2 installed leader 3's SNAP at 0x300000032 in a sync whose
///   NEWLEADER no quorum acknowledged (the SNAP is durable before the ack, as ZooKeeper's
///   learner snapshots before it acks); the next leader's history ended at 0x300000031 and it
///   sent TRUNC below that snapshot, which cannot be rolled back: the peer stopped (safe, not
///   live; about 1 seed in 1,800). Fixed: a learner tells the leader its newest snapshot's zxid
///   (FOLLOWERINFO), the leader sends a SNAP where it would TRUNC below it, and installing a
///   SNAP drops the snapshots above it.
const REGRESSION_SEEDS: [(u64, u64); 4] = [(3, 163), (5, 11), (3, 1102091), (3, 1000086)];

/// Seeds that once failed with the schedules `schedule` draws (slow disks among the steps):
/// - 5 servers, seeds 1305943 and 1308782: a server with a slow disk (over a second per sync)
///   stood for leader, accepted its own new epoch (3 in the first) and never established it:
///   its would-be followers went to another leader, which established a lower one (2). That
///   server's FOLLOWERINFO then said "accepted epoch 3" and the leader of epoch 2 dropped it
///   (as ZooKeeper's learner refuses a smaller epoch), at once and forever: it stayed LOOKING
///   while everyone else served, and the ensemble never settled. Fixed: a leader told by a
///   voter that it accepted a newer epoch steps down (`Reason::VoterAcceptedNewerEpoch`), and
///   the next election picks an epoch above it (`leader_conversation.rs`
///   `a_voter_that_accepted_a_newer_epoch_makes_the_leader_give_way`).
/// - 5 servers, seed 1549988 (no slow disk in it; found by the soak of that schedule
///   generator): server 5's fsyncs failed while it installed leader 4's SNAP at 0x2000000c6:
///   the snapshot was committed, the log reset that should follow failed, and once the disk
///   recovered the log still ended at 0x100000024, below the snapshot. Following on, it
///   appended epoch 4's records after those old ones; leading epoch 5, it DIFFed learner 1
///   (at 0x100000024) from that log, past the hole where epoch 2's transactions were: server
///   1's tree lost them (digests differed, a read of /k0 not linearizable). Seed 1102091's fix
///   (no DIFF window from a log that does not end at the last zxid) did not see it, because the
///   log ended at the last zxid again. Fixed: whenever the log ends below the newest snapshot
///   (at start and when storage recovers) it is reset to continue after it
///   (`align_log_with_snapshot`).
/// - 3 servers, seed 1520868: server 2 stood for leader, accepted its own epoch 2 and stepped
///   down (initLimit); server 3 then established epoch 2, and 2, whose accepted epoch already
///   was 2, followed without persisting an accepted epoch, so its election vote never learnt
///   the established epoch: it answered LOOKING peers "following 3, epoch 1" while 3 answered
///   "leading, epoch 2". Server 1, LOOKING, counts decided peers by (leader, epoch) and never saw
///   a quorum behind 3: it stayed out for good. Fixed: the vote also takes the epoch a learner
///   persists as its currentEpoch at NEWLEADER.
/// - 3 servers, seed 1030463: a client abandoned its session on leader 3 at 5.79 s (simulated);
///   3 lost its quorum before the session was due, 2 led from 7.54 s and gave every session a
///   full timeout. Then 3 followed 2, and its first report as a learner named every session 3
///   had heard of while leading (its report clock had not moved since it last learned), so 2
///   gave the abandoned session another full timeout: its ephemeral was still there at the final
///   check, 3.5 s after the client left. Fixed: a leader that steps down starts its reports
///   afresh (as ZooKeeper's learner starts with an empty touch table).
const REGRESSION_SEEDS_SLOW_DISKS: [(u64, u64); 5] = [
    (5, 1305943),
    (5, 1308782),
    (5, 1549988),
    (3, 1520868),
    (3, 1030463),
];

#[test]
fn seeds_that_once_failed_pass() {
    for (n, seed) in REGRESSION_SEEDS {
        let mut totals = Totals::default();
        // The schedule the seed failed with (drawn before slow disks were).
        if let Err(report) = run_seed(n, seed, generate(n, seed), &mut totals) {
            panic!("{report}\n(replay it with `cargo test -p paddock-node --test sim seeds_that_once_failed_pass`: its schedule has no slow disks)");
        }
    }
    for (n, seed) in REGRESSION_SEEDS_SLOW_DISKS {
        let mut totals = Totals::default();
        if let Err(report) = run_seed(n, seed, schedule(n, seed), &mut totals) {
            panic!("{report}");
        }
    }
}

/// Seeds that fail on an open issue, skipped by the seed runs (each is reported) and run by
/// `cargo test -p paddock-node --test sim -- --ignored known_open`. None at present: a seed
/// found failing goes here (with what it shows) until its fix moves it to `REGRESSION_SEEDS`.
const KNOWN_OPEN: [(u64, u64); 0] = [];

#[test]
#[ignore = "open issues: the seeds still fail (see KNOWN_OPEN)"]
fn known_open_issues() {
    init_logs();
    for (n, seed) in KNOWN_OPEN {
        let mut totals = Totals::default();
        if let Err(report) = run_seed(n, seed, schedule(n, seed), &mut totals) {
            panic!("{report}");
        }
    }
}

/// (ensemble size, seed) of the replay test: schedules whose traces hold crashes, a failing
/// disk, TRUNC and SNAP syncs, log truncations and watch events.
const REPLAY_SEEDS: [(u64, u64); 2] = [(3, 18), (5, 16)];

/// A failing seed replays exactly: each schedule runs twice in this process and the traces of
/// every event (messages sent, dropped and received, votes, log writes, role changes, every
/// client call and answer, watch events), stamped with virtual time, must be equal. Any
/// nondeterminism — work on another thread, a hash map iterated for a decision, the wall
/// clock — makes them part.
#[test]
fn one_seed_replays_the_same_trace() {
    let mut all = Vec::new();
    for (n, seed) in REPLAY_SEEDS {
        let schedule = schedule(n, seed);
        let first = run_schedule(n, seed, &schedule, true);
        let second = run_schedule(n, seed, &schedule, true);
        assert!(
            first.outcome.is_ok(),
            "{n} servers, seed {seed}: {:?}",
            first.outcome
        );
        if let Some(diff) = net::first_difference(&first.events, &second.events) {
            // Both traces whole, for a diff.
            let dir = std::env::temp_dir();
            for (k, run) in [(1, &first), (2, &second)] {
                let path = dir.join(format!("paddock-sim-{n}-{seed}-run{k}.trace"));
                let _ = std::fs::write(&path, run.events.join("\n"));
            }
            panic!(
                "{n} servers, seed {seed} did not replay exactly (both traces in {}): {diff}",
                dir.display()
            );
        }
        assert_eq!(first.outcome, second.outcome);
        all.extend(first.events);
    }
    for what in [
        "status Leading",
        "killed",
        "vote from",
        "event Node",
        "GetData",
        "disk: ",
        "log truncate",
        "Snap {",
        "Trunc {",
    ] {
        assert!(
            all.iter().any(|e| e.contains(what)),
            "no {what:?} in the traces; pick livelier seeds"
        );
    }
}

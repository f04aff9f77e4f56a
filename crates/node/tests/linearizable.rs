//! Linearizability of real processes under leader faults (issue 18, item 2): 4 clients, each
//! with its own session on a 3-server ensemble, run seeded random operations on 3 znodes —
//! `sync`+`getData`, unconditional and versioned `setData`, `create`, `delete` — while the
//! leader is SIGKILLed and later restarted, or SIGSTOPped past syncLimit and later resumed. Every call and answer is recorded with its time,
//! and `paddock-lincheck` checks the history against a sequential model of a znode (one part
//! per znode). An operation whose answer never came (connection loss, timeout) may have taken
//! effect or not; the checker allows both. A lost acknowledged write, a stale read after
//! `sync`, a write applied twice (a resend after a resume) or two CAS winners on one version
//! all fail it.
//!
//! Seeded (`PADDOCK_LIN_SEED`, default 1) and bounded (`PADDOCK_LIN_SECS`, default 6 s of load).

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paddock_client::{Client, ClientOptions, CreateMode, Error};
use paddock_lincheck::zk::{Input, Output, Znode};
use paddock_lincheck::{check, Operation, Verdict};
use paddock_types::ErrorCode;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{log_tails, LocalEnsemble};

const CLIENTS: usize = 4;
const PATHS: [&str; 3] = ["/lin0", "/lin1", "/lin2"];
const STATUS_LIMIT: Duration = Duration::from_secs(2);
const LEADER_WAIT: Duration = Duration::from_secs(30);

type History = Arc<Mutex<Vec<Operation<Input, Output>>>>;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The index of the serving leader (bounded wait).
async fn leader(e: &LocalEnsemble, alive: &[usize]) -> usize {
    let deadline = Instant::now() + LEADER_WAIT;
    loop {
        for &i in alive {
            if let Ok(st) = e.peers[i].status(STATUS_LIMIT).await {
                if st.serving && st.mode == "leader" {
                    return i;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no serving leader\n{}",
            log_tails(&e.peers, 20)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What an error tells about an operation: a definite answer, or `None` (unknown outcome).
fn definite(e: &Error) -> Option<Output> {
    match e.code() {
        ErrorCode::NoNode => Some(Output::NoNode),
        ErrorCode::NodeExists => Some(Output::NodeExists),
        ErrorCode::BadVersion => Some(Output::BadVersion),
        _ => None,
    }
}

fn data_of(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}

/// One client's loop until `until`: random operations, each recorded.
async fn run_client(
    id: usize,
    client: Client,
    seed: u64,
    start: Instant,
    until: Instant,
    history: History,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut counter = 0u64;
    let now = |s: Instant| s.elapsed().as_nanos() as u64;
    while Instant::now() < until {
        let path = PATHS[rng.random_range(0..PATHS.len())];
        counter += 1;
        let value = (id as u64 + 1) * 1_000_000 + counter;
        let version = if rng.random_bool(0.5) {
            -1
        } else {
            rng.random_range(0..4)
        };
        let input = match rng.random_range(0..10) {
            0..=3 => Input::Read { path: path.into() },
            4..=6 => Input::Set {
                path: path.into(),
                data: value,
                version,
            },
            7..=8 => Input::Create {
                path: path.into(),
                data: value,
            },
            _ => Input::Delete {
                path: path.into(),
                version,
            },
        };
        let call = now(start);
        let output: Option<Output> = match &input {
            Input::Read { path } => {
                let r = match client.sync(path).await {
                    Ok(()) => client.get_data(path).await,
                    Err(e) => Err(e),
                };
                match r {
                    Ok((data, stat)) => Some(Output::Read(Some((data_of(&data), stat.version)))),
                    Err(e) => match definite(&e) {
                        Some(Output::NoNode) => Some(Output::Read(None)),
                        // A read without an answer changed nothing: left out of the history.
                        _ => continue,
                    },
                }
            }
            Input::Set {
                path,
                data,
                version,
            } => match client
                .set_data(path, data.to_string().into_bytes(), *version)
                .await
            {
                Ok(stat) => Some(Output::Set {
                    version: stat.version,
                }),
                Err(e) => definite(&e),
            },
            Input::Create { path, data } => match client
                .create(path, data.to_string().into_bytes(), CreateMode::Persistent)
                .await
            {
                Ok(_) => Some(Output::Done),
                Err(e) => definite(&e),
            },
            Input::Delete { path, version } => match client.delete(path, *version).await {
                Ok(()) => Some(Output::Done),
                Err(e) => definite(&e),
            },
        };
        let ret = output.as_ref().map(|_| now(start));
        history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Operation {
                client: id,
                input,
                output,
                call,
                ret,
            });
        if ret.is_none() {
            // The connection is gone: let the client find another server before going on.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The fault injected while the clients run.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// SIGKILL the leader a third of the way in, restart it at two thirds.
    KillLeader,
    /// SIGSTOP the leader a third of the way in (far past syncLimit × tickTime: the others
    /// elect a new leader), SIGCONT it at two thirds: it must step down and serve nothing stale.
    PauseLeader,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_under_a_leader_crash_are_linearizable() {
    run(Fault::KillLeader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_under_a_paused_leader_are_linearizable() {
    run(Fault::PauseLeader).await;
}

async fn run(fault: Fault) {
    let seed = env_u64("PADDOCK_LIN_SEED", 1);
    let secs = env_u64("PADDOCK_LIN_SECS", 6).max(3);
    let mut e = LocalEnsemble::start(
        3,
        &[
            "tickTime=100",
            "initLimit=10",
            "syncLimit=5",
            "maxSessionTimeout=30000",
        ],
    )
    .await;
    let mut clients = Vec::new();
    for id in 0..CLIENTS {
        let opts = ClientOptions {
            session_timeout: Duration::from_secs(20),
            seed: Some(seed.wrapping_add(id as u64)),
            ..ClientOptions::default()
        };
        let c = Client::connect(&e.connect_string(), opts)
            .await
            .expect("connect");
        clients.push(c);
    }
    let history: History = Arc::default();
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let tasks: Vec<_> = clients
        .iter()
        .cloned()
        .enumerate()
        .map(|(id, c)| tokio::spawn(run_client(id, c, seed, start, until, history.clone())))
        .collect();

    tokio::time::sleep(Duration::from_secs(secs) / 3).await;
    let victim = leader(&e, &[0, 1, 2]).await;
    match fault {
        Fault::KillLeader => e.peers[victim].kill(),
        Fault::PauseLeader => e.peers[victim].stop_signal(),
    }
    eprintln!("seed {seed}: {fault:?} (server {})", victim + 1);
    tokio::time::sleep(Duration::from_secs(secs) / 3).await;
    match fault {
        Fault::KillLeader => e.peers[victim] = e.peers[victim].restart(),
        Fault::PauseLeader => e.peers[victim].cont(),
    }
    for t in tasks {
        t.await.expect("client task");
    }
    for c in clients {
        let _ = c.close().await;
    }

    let history = std::mem::take(&mut *history.lock().unwrap_or_else(|e| e.into_inner()));
    let answered = history.iter().filter(|o| o.output.is_some()).count();
    let writes_ok = history
        .iter()
        .filter(|o| matches!(o.output, Some(Output::Set { .. } | Output::Done)))
        .count();
    eprintln!(
        "seed {seed}, {fault:?}: {} operations ({answered} answered, {writes_ok} successful writes)",
        history.len()
    );
    assert!(
        writes_ok > 20,
        "the load did too little to check: {writes_ok} writes"
    );
    match check(&Znode, &history) {
        Verdict::Linearizable => {}
        Verdict::Violation { part } => {
            let ops: Vec<_> = part.iter().map(|&i| &history[i]).collect();
            panic!(
                "seed {seed}, {fault:?}: not linearizable ({} operations on {}); replay with PADDOCK_LIN_SEED={seed}\n{ops:#?}",
                ops.len(),
                ops[0].input.path()
            );
        }
        Verdict::Unknown { part } => panic!(
            "seed {seed}: the checker ran out of budget on {} operations of {}",
            part.len(),
            history[part[0]].input.path()
        ),
    }
}

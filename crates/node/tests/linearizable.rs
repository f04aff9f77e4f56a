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

use std::net::SocketAddr;
use std::time::Duration;

use support::lin::{check_linearizable, connect, env_u64, leader, Workload, CLIENTS};
use support::LocalEnsemble;

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
        clients.push(connect(&e.connect_string(), seed.wrapping_add(id as u64)).await);
    }
    // The watching session on a follower, which stays up: its events are checked exactly.
    let watched = (leader(&e, &[0, 1, 2]).await + 1) % 3;
    let watcher = e.peers[watched].addr.to_string();
    let mut workload = Workload::start(clients, &watcher, seed, secs).await;

    tokio::time::sleep(Duration::from_secs(secs) / 3).await;
    let victim = leader(&e, &[0, 1, 2]).await;
    if victim == watched {
        workload.watcher_lost_its_server();
    }
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
    workload.finish_loops().await;
    e.wait_serving(&[0, 1, 2]).await;
    let addrs: Vec<SocketAddr> = e.peers.iter().map(|p| p.addr).collect();
    workload.check_sessions_and_close(&addrs, seed).await;
    let history = workload.take_history();
    check_linearizable(seed, &format!("{fault:?}"), &history);
}

//! Network partitions, slow disks and full disks against real Paddock processes, checked (issue
//! 18, items 2 and 4).
//!
//! A 3-server ensemble (5 for the ring, the minority leader and the 5-server shifting networks) whose members reach each other only through
//! fault-injecting proxies (`support::net`: every direction of every pair can be cut and
//! healed; clients reach the servers directly) runs the linearizability workload of `linearizable.rs` (4 clients: one
//! pinned to each server, one on the whole connect string) plus a ledger writer creating
//! unique znodes, while one fault is injected a third of the way in and healed at two thirds
//! (or once the checks made during the fault are done, if later; a follower away as soon as
//! they are done):
//!
//! - `IsolateLeader`: the leader is cut from both followers, both ways. The followers must elect
//!   a new leader among themselves; the old leader must stop serving and refuse a write.
//! - `MuteLeader`: only what the leader sends is cut (it still hears the followers): the same
//!   must happen.
//! - `DeafLeader`: only what the followers send to the leader is cut. No acknowledgement
//!   reaches it, so its lease runs out: it must stop serving and refuse a write. Nobody else is
//!   required to lead while the cut lasts, because nobody does: the followers still hear the
//!   old leader's election notifications, it is the best candidate (highest zxid, then id),
//!   they vote for it and try to follow it, and the connection to it never comes up (a TCP
//!   handshake needs both directions) — every round, until the cut heals. Unavailable for as
//!   long as a one-way cut lasts, never unsafe; ZooKeeper's election has the same blind spot
//!   (a vote says nothing about whether the voter can reach the candidate). The test prints
//!   whether a follower took over.
//! - `Bridge`: the leader and one follower (seeded) are cut from each other, both ways; the
//!   other follower still talks to both. The server in the middle is in every quorum the
//!   ensemble can form: a write through it must succeed during the cut.
//! - `MajoritiesRing` (5 servers): a seeded ring in which each server reaches only its two
//!   neighbours, so each sees a majority (itself and them) and no two see the same one (Jepsen's
//!   "majorities ring"). Nothing is required while it lasts; the checks after the heal are.
//! - `LeaderInMinority` (5 servers): the leader and one follower (seeded) are cut from the
//!   other three, both ways. The three must elect a new leader and take a write; the two must
//!   stop serving and refuse a write.
//! - `FollowerAway`: one follower (seeded) is cut from both others, both ways or only what it
//!   sends; it must stop serving while the majority goes on and takes 50 (DIFF) or 700 (more
//!   than the leader's 500-txn committed window: SNAP) more creates; after the heal it must
//!   catch up.
//! - `Shuffle`: for the whole middle third, a new seeded network every 150 to 1200 ms (seeded:
//!   shorter and longer than syncLimit): one server isolated, a bridge, one or two directions
//!   cut from one server, one server deaf, or none; only the checks after the heal.
//!   `crashes: true` also SIGKILLs a random server at some of the changes (one at a time) and
//!   restarts it at the next one, so servers recover from their data dirs mid-partition.
//!   `five: true` runs it on 5 servers, whose networks may also be a seeded 2 | 3 split (the
//!   two may hold the leader) or such a split bridged by one of the three.
//! - `SlowDisk` (the network whole): every `fsync`/`fdatasync` of the leader, or of a seeded
//!   follower, first sleeps 1.5 s (three times syncLimit), through an `LD_PRELOAD` shim
//!   (`support/slow_disk.c`); the other two servers are a quorum with normal disks, so a write
//!   through the other follower must succeed while it lasts. The test prints how long it took
//!   and who leads.
//! - `FullDisk`: every server's data dir is on a 64 MiB tmpfs of its own (mounting needs root;
//!   elsewhere the test says SKIPPED), and the leader's, or a seeded follower's, is filled. Its
//!   log write fails ("No space left on device" in its log), it leaves the ensemble until its
//!   log can write again and stops serving; for the leader, the followers elect one of them;
//!   a write through the other follower succeeds. The space returns at the heal: it must
//!   rejoin and catch up.
//! - `ShiftingSlowDisks`: for the middle third, every 150 to 1200 ms one seeded server's fsyncs
//!   turn 5-50 ms slower, 200-1500 ms slower or normal, and at some changes a server is
//!   SIGKILLed (often the slow one, while its fsync waits: written, not synced) and restarted
//!   at the next; only the checks after the heal.
//!
//! After the heal every run checks, whatever the timing was: every server serves again; all
//! servers have applied the same last zxid and their trees' digests are equal; a
//! `sync`+`getData` of every znode through every server is added to the history, and the
//! history is linearizable (so each server's final state is explained by every acknowledged
//! write); every acknowledged ledger create exists on every server and nothing never issued
//! does; and no two servers served as leader in the same epoch (every server's status is
//! polled every 20 ms during the run).
//!
//! Seeded (`PADDOCK_LIN_SEED`, default 1: the clients' operations, which follower is cut, the
//! ring, the shifting networks and crashes) and bounded (`PADDOCK_LIN_SECS`, default 6 s of
//! load). The timing of real processes is not seeded: a replay runs the same operations and
//! faults, not the same interleaving. `make jepsen` runs many seeds.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use paddock_client::{Client, ClientOptions, CreateMode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::lin::{
    check_linearizable, connect, converged_digests, env_u64, final_reads, leader, run_ledger,
    serving_leader, LeaderWatch, Workload, CLIENTS, LEDGER,
};
use support::net::{situation, start_partitionable_with, MemberSetup, Net};
use support::slow_disk::SlowDisks;
use support::tmpfs::{fill, Tmpfs};
use support::LocalEnsemble;

/// The longest a fault's consequence (an election, a step-down) may take before the test fails.
const FAULT_WAIT: Duration = Duration::from_secs(30);

/// The fault injected while the clients run.
#[derive(Clone, Copy, Debug)]
enum Fault {
    IsolateLeader,
    MuteLeader,
    /// Only what the followers send to the leader is cut (it still reaches them).
    DeafLeader,
    Bridge,
    /// 5 servers in a seeded ring, each reaching only its two neighbours.
    MajoritiesRing,
    /// 5 servers: the leader and one follower (seeded) cut from the other three, both ways.
    LeaderInMinority,
    /// `one_way`: only what the follower sends is cut.
    FollowerAway {
        creates: usize,
        one_way: bool,
    },
    Shuffle {
        crashes: bool,
        /// 5 servers instead of 3; the networks also split them 2 | 3 (seeded members).
        five: bool,
    },
    /// Every fsync of the leader (or of a seeded follower) takes `ms` first; the network is
    /// whole.
    SlowDisk {
        leader: bool,
        ms: u64,
    },
    /// The leader's (or a seeded follower's) data directory, on a small tmpfs, filled up;
    /// the space returns at the heal.
    FullDisk {
        leader: bool,
    },
    /// For the middle third, a new seeded disk speed every 150 to 1200 ms: one server's fsyncs
    /// take 5-50 ms, 200-1500 ms or nothing more; `crashes`: a SIGKILL at some changes.
    ShiftingSlowDisks {
        crashes: bool,
    },
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_is_replaced_and_histories_stay_linearizable() {
    run(Fault::IsolateLeader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_messages_are_lost_one_way_is_replaced() {
    run(Fault::MuteLeader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_no_longer_hears_its_followers_stops_serving() {
    run(Fault::DeafLeader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_partition_keeps_the_server_in_the_middle_writable() {
    run(Fault::Bridge).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_under_a_majorities_ring_are_linearizable() {
    run(Fault::MajoritiesRing).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_in_a_minority_of_two_of_five_is_replaced_by_the_majority() {
    run(Fault::LeaderInMinority).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_partitioned_away_catches_up_by_diff() {
    run(Fault::FollowerAway {
        creates: 50,
        one_way: false,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_partitioned_away_catches_up_by_snapshot() {
    run(Fault::FollowerAway {
        creates: 700,
        one_way: false,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_whose_messages_are_lost_one_way_steps_out_and_catches_up() {
    run(Fault::FollowerAway {
        creates: 50,
        one_way: true,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_under_shifting_partitions_are_linearizable() {
    run(Fault::Shuffle {
        crashes: false,
        five: false,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_under_shifting_partitions_and_crashes_are_linearizable() {
    run(Fault::Shuffle {
        crashes: true,
        five: false,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_under_shifting_partitions_of_five_servers_with_crashes_are_linearizable() {
    run(Fault::Shuffle {
        crashes: true,
        five: true,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_with_a_slow_disk_still_commits_through_its_followers() {
    run(Fault::SlowDisk {
        leader: true,
        ms: 1_500,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_with_a_slow_disk_does_not_hold_up_the_majority() {
    run(Fault::SlowDisk {
        leader: false,
        ms: 1_500,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_disk_fills_up_is_replaced_and_catches_up_when_space_returns() {
    run(Fault::FullDisk { leader: true }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_whose_disk_fills_up_catches_up_when_space_returns() {
    run(Fault::FullDisk { leader: false }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_under_shifting_slow_disks_and_crashes_are_linearizable() {
    run(Fault::ShiftingSlowDisks { crashes: true }).await;
}

/// Options of a client that must give up quickly (probes of servers that should not serve).
fn quick(seed: u64) -> ClientOptions {
    ClientOptions {
        session_timeout: Duration::from_secs(20),
        request_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(2),
        seed: Some(seed),
        ..ClientOptions::default()
    }
}

/// Waits until server `i` no longer says it serves (as leader or anything else).
async fn stops_serving(e: &LocalEnsemble, net: &Net, i: usize, seed: u64) {
    let deadline = Instant::now() + FAULT_WAIT;
    loop {
        match e.peers[i].status(Duration::from_secs(2)).await {
            Ok(st) if st.serving => {}
            _ => return,
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: server.{} still serves {FAULT_WAIT:?} after being cut off\n{}",
            i + 1,
            situation(e, net, 20)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server cut off from a quorum acknowledges no write: a session cannot even be opened on
/// it (opening one is a transaction), and if one is, a create through it fails.
async fn refuses_writes(addr: SocketAddr, seed: u64) {
    let attempt = async {
        let client = Client::connect(&addr.to_string(), quick(seed)).await.ok()?;
        let r = client
            .create("/written-while-cut-off", Vec::new(), CreateMode::Persistent)
            .await;
        let _ = client.close().await;
        Some(r)
    };
    if let Ok(Some(Ok(path))) = tokio::time::timeout(Duration::from_secs(10), attempt).await {
        panic!("seed {seed}: {addr}, cut off from a quorum, acknowledged the create of {path}");
    }
}

/// A write through `addr` succeeds (retried for [`FAULT_WAIT`]).
async fn accepts_a_write(e: &LocalEnsemble, net: &Net, addr: SocketAddr, path: &str, seed: u64) {
    let deadline = Instant::now() + FAULT_WAIT;
    let mut last = String::new();
    while Instant::now() < deadline {
        match Client::connect(&addr.to_string(), quick(seed)).await {
            Ok(client) => {
                let r = client
                    .create(path, Vec::new(), CreateMode::Persistent)
                    .await;
                let _ = client.close().await;
                match r {
                    Ok(_) => return,
                    // An earlier attempt whose answer was lost did it.
                    Err(err) if err.code() == paddock_types::ErrorCode::NodeExists => return,
                    Err(err) => last = err.to_string(),
                }
            }
            Err(err) => last = err.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "seed {seed}: no write through {addr} succeeded within {FAULT_WAIT:?}: {last}\n{}",
        situation(e, net, 30)
    );
}

/// `count` creates under `/away` through `addr`, all of which must succeed.
async fn many_creates(addr: SocketAddr, count: usize, seed: u64) {
    let client = connect(&addr.to_string(), seed).await;
    client
        .create("/away", Vec::new(), CreateMode::Persistent)
        .await
        .expect("create /away through the majority");
    let paths: Vec<String> = (0..count).map(|k| format!("/away/n{k:04}")).collect();
    for chunk in paths.chunks(50) {
        let creates = chunk
            .iter()
            .map(|p| client.create(p, Vec::new(), CreateMode::Persistent));
        for r in futures::future::join_all(creates).await {
            r.expect("a create through the majority during the partition");
        }
    }
    let _ = client.close().await;
}

/// The serving leader, a follower to cut (`keep` if it is still a follower, else a seeded
/// one) and the other follower.
async fn roles(
    e: &LocalEnsemble,
    all: &[usize],
    keep: Option<usize>,
    rng: &mut StdRng,
) -> (usize, usize, usize) {
    let old = leader(e, all).await;
    let followers: Vec<usize> = all.iter().copied().filter(|&i| i != old).collect();
    let chosen = match keep {
        Some(k) if followers.contains(&k) => k,
        _ => followers[rng.random_range(0..followers.len())],
    };
    let other = followers
        .iter()
        .copied()
        .find(|&f| f != chosen)
        .expect("two followers");
    (old, chosen, other)
}

/// The servers `fault` never cuts off from a quorum, given the follower it cuts (`chosen`) and
/// the other one: where the watching sessions see every event (exact watch checks).
fn uncut(fault: Fault, chosen: usize, other: usize) -> Vec<usize> {
    match fault {
        // The followers elect a new leader; their clients are dropped on the role change and
        // resume on the same server, which never missed a transaction.
        Fault::IsolateLeader | Fault::MuteLeader | Fault::DeafLeader => vec![chosen, other],
        Fault::Bridge | Fault::FollowerAway { .. } | Fault::LeaderInMinority => vec![other],
        // Nothing is cut; a slow leader may still lose its role (its followers then elect
        // another), which drops their clients as above.
        Fault::SlowDisk { leader: true, .. } | Fault::FullDisk { leader: true } => {
            vec![chosen, other]
        }
        Fault::SlowDisk { leader: false, .. } | Fault::FullDisk { leader: false } => vec![other],
        // Every server is cut from some others at some point (or crashed).
        Fault::MajoritiesRing | Fault::Shuffle { .. } | Fault::ShiftingSlowDisks { .. } => {
            Vec::new()
        }
    }
}

/// A new seeded network for [`Fault::Shuffle`].
fn shuffle(net: &Net, rng: &mut StdRng) {
    let n = net.members();
    net.heal_all();
    let a = rng.random_range(0..n);
    let b = (a + rng.random_range(1..n)) % n;
    // With 5 servers, two more kinds: a seeded 2 | 3 split (the minority may hold the leader)
    // and a 2 | 3 split bridged by one server of the three.
    let kinds = if n >= 5 { 7 } else { 5 };
    match rng.random_range(0..kinds) {
        0 => net.isolate(a),
        5 | 6 => {
            let mut order: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                order.swap(i, rng.random_range(0..=i));
            }
            let (minority, majority) = order.split_at(2);
            if rng.random_bool(0.5) {
                net.partition(minority, majority);
            } else {
                // majority[0] keeps reaching the minority: it bridges the two sides.
                net.partition(minority, &majority[1..]);
            }
        }
        1 => net.partition(&[a], &[b]),
        // `a` deaf: it reaches the others, they do not reach it.
        3 => {
            for x in (0..n).filter(|&x| x != a) {
                net.cut(x, a);
            }
        }
        2 => {
            net.cut(a, b);
            if let Some(c) = (0..n).find(|&c| c != a && c != b) {
                if rng.random_bool(0.5) {
                    net.cut(a, c);
                }
            }
        }
        _ => {}
    }
}

/// One change of the shifting faults: the server `down` restarted if one is, else (with
/// `crashes`, 3 times in 10) the one `victim` picks SIGKILLed; what happened, for the log.
fn crash_or_restart(
    e: &mut LocalEnsemble,
    down: &mut Option<usize>,
    crashes: bool,
    rng: &mut StdRng,
    victim: impl FnOnce(&mut StdRng) -> usize,
) -> String {
    if let Some(i) = down.take() {
        e.peers[i] = e.peers[i].restart();
        format!(", server.{} restarted", i + 1)
    } else if crashes && rng.random_bool(0.3) {
        let i = victim(rng);
        e.peers[i].kill();
        *down = Some(i);
        format!(", server.{} killed", i + 1)
    } else {
        String::new()
    }
}

/// Server `i`'s (0-based) fsyncs take `ms` more from now on.
fn set_sync_delay(slow: &Option<SlowDisks>, i: usize, ms: u64) {
    slow.as_ref()
        .expect("a slow-disk fault starts its servers with the shim")
        .set(i as u64 + 1, ms);
}

async fn run(fault: Fault) {
    let seed = env_u64("PADDOCK_LIN_SEED", 1);
    let secs = env_u64("PADDOCK_LIN_SECS", 6).max(3);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_0f9a);
    let servers = if matches!(
        fault,
        Fault::MajoritiesRing | Fault::LeaderInMinority | Fault::Shuffle { five: true, .. }
    ) {
        5
    } else {
        3
    };
    let slow = matches!(
        fault,
        Fault::SlowDisk { .. } | Fault::ShiftingSlowDisks { .. }
    )
    .then(SlowDisks::build);
    // A full disk: every server's data dir on a small tmpfs of its own (who leads is known only
    // once they run), the chosen one filled.
    let small: Vec<Tmpfs> = if matches!(fault, Fault::FullDisk { .. }) {
        match (0..servers)
            .map(|_| Tmpfs::mount(64))
            .collect::<Option<Vec<_>>>()
        {
            Some(mounts) => mounts,
            None => {
                eprintln!("SKIPPED: {fault:?} cannot mount a tmpfs here (needs root)");
                return;
            }
        }
    } else {
        Vec::new()
    };
    let (mut e, net) =
        start_partitionable_with(servers, &support::lin::FAST_ENSEMBLE, |id| MemberSetup {
            env: slow.as_ref().map(|s| s.env(id)).unwrap_or_default(),
            data_dir: small.get(id as usize - 1).map(|m| m.path.join("data")),
        })
        .await;
    let mut filler = None;
    let all: Vec<usize> = (0..e.peers.len()).collect();
    let addrs: Vec<SocketAddr> = e.peers.iter().map(|p| p.addr).collect();
    let setup = connect(&e.connect_string(), seed).await;
    setup
        .create(LEDGER, Vec::new(), CreateMode::Persistent)
        .await
        .expect("create the ledger");
    let _ = setup.close().await;

    let watch = LeaderWatch::start(addrs.clone());
    // Clients 0..3 pinned to one server each, the last on the whole connect string.
    let mut clients = Vec::new();
    for id in 0..CLIENTS {
        let target = match addrs.get(id) {
            Some(a) if id + 1 < CLIENTS => a.to_string(),
            _ => e.connect_string(),
        };
        clients.push(connect(&target, seed.wrapping_add(id as u64)).await);
    }
    let ledger_client = connect(&e.connect_string(), seed.wrapping_add(100)).await;
    // The roles the fault will have (the follower cut is seeded), known before the load so
    // that the watching sessions sit on a server the fault never cuts off.
    let (_, chosen, other) = roles(&e, &all, None, &mut rng).await;
    let watched = if uncut(fault, chosen, other).contains(&other) {
        other
    } else {
        0
    };
    let mut workload = Workload::start(clients, &addrs[watched].to_string(), seed, secs).await;
    let (start, until) = (workload.start, workload.until);
    let ledger_task = tokio::spawn(run_ledger(ledger_client, until));

    tokio::time::sleep(Duration::from_secs(secs) / 3).await;
    let (old, chosen, other) = roles(&e, &all, Some(chosen), &mut rng).await;
    let followers: Vec<usize> = all.iter().copied().filter(|&i| i != old).collect();
    // LeaderInMinority: the three cut off from the old leader and the chosen follower.
    let majority: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&i| i != old && i != chosen)
        .collect();
    if !uncut(fault, chosen, other).contains(&watched) {
        // Cut off, it may catch up by snapshot, which fires no events for what it skips: the
        // watching sessions' events are then checked for order only.
        workload.watcher_lost_its_server();
    }
    eprintln!(
        "seed {seed}: watching sessions on server.{}{}",
        watched + 1,
        if workload.watcher_is_lost() {
            " (cut off by the fault: events checked for order only)"
        } else {
            " (never cut off: events checked exactly)"
        }
    );
    match fault {
        Fault::IsolateLeader => net.isolate(old),
        Fault::MuteLeader => {
            for &f in &followers {
                net.cut(old, f);
            }
        }
        Fault::DeafLeader => {
            for &f in &followers {
                net.cut(f, old);
            }
        }
        Fault::Bridge => net.partition(&[old], &[chosen]),
        Fault::MajoritiesRing => {
            let mut ring = all.clone();
            for i in (1..ring.len()).rev() {
                ring.swap(i, rng.random_range(0..=i));
            }
            let n = ring.len();
            for (i, &a) in ring.iter().enumerate() {
                for &b in &ring[i + 1..] {
                    let j = ring.iter().position(|&x| x == b).expect("in the ring");
                    if (j + n - i) % n != 1 && (i + n - j) % n != 1 {
                        net.partition(&[a], &[b]);
                    }
                }
            }
        }
        Fault::LeaderInMinority => {
            net.partition(&[old, chosen], &majority);
        }
        Fault::FollowerAway { one_way: false, .. } => net.isolate(chosen),
        Fault::FollowerAway { one_way: true, .. } => {
            net.cut(chosen, old);
            net.cut(chosen, other);
        }
        Fault::SlowDisk { leader, ms } => {
            let who = if leader { old } else { chosen };
            set_sync_delay(&slow, who, ms);
        }
        Fault::FullDisk { leader } => {
            let who = if leader { old } else { chosen };
            filler = Some(fill(&small[who].path));
        }
        Fault::Shuffle { .. } | Fault::ShiftingSlowDisks { .. } => {}
    }
    eprintln!(
        "seed {seed}: {fault:?}, leader server.{}, follower chosen server.{}: {}",
        old + 1,
        chosen + 1,
        net.describe()
    );
    match fault {
        Fault::IsolateLeader | Fault::MuteLeader => {
            let new = serving_leader(&e, &followers, FAULT_WAIT).await;
            assert!(
                new.is_some(),
                "seed {seed}: {fault:?}: the followers elected no leader within {FAULT_WAIT:?}\n{}",
                situation(&e, &net, 30)
            );
            stops_serving(&e, &net, old, seed).await;
            refuses_writes(addrs[old], seed).await;
        }
        Fault::DeafLeader => {
            // No acknowledgement reaches it: its lease runs out. Whether the followers elect
            // another leader meanwhile is not asserted (the module comment says why they do not).
            stops_serving(&e, &net, old, seed).await;
            refuses_writes(addrs[old], seed).await;
            match serving_leader(&e, &followers, Duration::from_secs(5)).await {
                Some(i) => eprintln!("seed {seed}: DeafLeader: server.{} leads", i + 1),
                None => eprintln!(
                    "seed {seed}: DeafLeader: no follower leads 5 s after the old leader stepped down\n{}",
                    situation(&e, &net, 12)
                ),
            }
        }
        Fault::MajoritiesRing => {}
        Fault::LeaderInMinority => {
            let new = serving_leader(&e, &majority, FAULT_WAIT).await;
            assert!(
                new.is_some(),
                "seed {seed}: {fault:?}: the majority elected no leader within {FAULT_WAIT:?}\n{}",
                situation(&e, &net, 30)
            );
            for i in [old, chosen] {
                stops_serving(&e, &net, i, seed).await;
                refuses_writes(addrs[i], seed).await;
            }
            accepts_a_write(&e, &net, addrs[other], "/through-the-majority", seed).await;
        }
        Fault::Bridge => {
            accepts_a_write(&e, &net, addrs[other], "/through-the-bridge", seed).await;
        }
        Fault::FollowerAway { creates, .. } => {
            stops_serving(&e, &net, chosen, seed).await;
            refuses_writes(addrs[chosen], seed).await;
            many_creates(addrs[old], creates, seed).await;
        }
        Fault::SlowDisk { leader, ms } => {
            // The others are a quorum with normal disks: writes still commit, through a
            // follower with a normal disk, whichever server leads by then.
            let t = Instant::now();
            accepts_a_write(&e, &net, addrs[other], "/past-a-slow-disk", seed).await;
            let who = if leader { old } else { chosen };
            assert!(
                slow.as_ref().is_some_and(|s| s.slept(who as u64 + 1)),
                "seed {seed}: server.{}'s fsyncs were never slowed: the shim is not in force",
                who + 1
            );
            eprintln!(
                "seed {seed}: {} with {ms} ms fsyncs: a write through server.{} took {:?}; leader now {:?}",
                if leader { "leader" } else { "follower" },
                other + 1,
                t.elapsed(),
                serving_leader(&e, &all, Duration::from_secs(2)).await.map(|i| i + 1)
            );
        }
        Fault::FullDisk { leader } => {
            // The others are a quorum with room: writes still commit, through a follower with
            // room, whichever server leads by then.
            let who = if leader { old } else { chosen };
            let t = Instant::now();
            accepts_a_write(&e, &net, addrs[other], "/past-a-full-disk", seed).await;
            eprintln!(
                "seed {seed}: {} with a full disk: a write through server.{} took {:?}; leader now {:?}",
                if leader { "leader" } else { "follower" },
                other + 1,
                t.elapsed(),
                serving_leader(&e, &all, Duration::from_secs(2)).await.map(|i| i + 1)
            );
            // The disk did fill under it: its log says its writes failed for want of space. A
            // log appends into room its file already has (the tail of a page, a segment sled
            // zero-filled ahead) without asking the full disk for more, so one small write may
            // not reach the end of that room: more and larger ones follow until it does.
            let deadline = Instant::now() + FAULT_WAIT;
            let mut filling = 0u32;
            while !e.peers[who].log().contains("No space left on device") {
                assert!(
                    Instant::now() < deadline,
                    "seed {seed}: server.{} never met its full disk ({filling} writes of 64 KiB \
                     after the filler):\n{}",
                    who + 1,
                    e.peers[who].log()
                );
                // Best effort: a write may fail while the ensemble replaces the server.
                let write = async {
                    let client = Client::connect(&addrs[other].to_string(), quick(seed))
                        .await
                        .ok()?;
                    let r = client
                        .create(
                            &format!("/filling-{filling}"),
                            vec![0x5a; 64 << 10],
                            CreateMode::Persistent,
                        )
                        .await;
                    let _ = client.close().await;
                    r.ok()
                };
                let _ = tokio::time::timeout(Duration::from_secs(3), write).await;
                filling += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            eprintln!(
                "seed {seed}: server.{} met its full disk after {filling} more writes",
                who + 1
            );
            // A server whose log cannot write leaves the ensemble until it can (outage.rs):
            // it stops serving, and a leader is replaced by one of the followers.
            stops_serving(&e, &net, who, seed).await;
            if leader {
                let new = serving_leader(&e, &followers, FAULT_WAIT).await;
                assert!(
                    new.is_some(),
                    "seed {seed}: {fault:?}: the followers elected no leader within {FAULT_WAIT:?}\n{}",
                    situation(&e, &net, 30)
                );
            }
        }
        Fault::ShiftingSlowDisks { crashes } => {
            let heal_at = start + Duration::from_secs(secs) * 2 / 3;
            let mut down: Option<usize> = None;
            let mut slowed: Option<usize> = None;
            loop {
                let hold = Duration::from_millis(rng.random_range(150..=1_200));
                if Instant::now() + hold >= heal_at {
                    break;
                }
                if let Some(i) = slowed.take() {
                    set_sync_delay(&slow, i, 0);
                }
                let i = rng.random_range(0..all.len());
                let ms = match rng.random_range(0..3) {
                    0 => 0,
                    1 => rng.random_range(5..=50),
                    _ => rng.random_range(200..=1_500),
                };
                set_sync_delay(&slow, i, ms);
                slowed = Some(i);
                // Often the slow one is killed: while its fsync waits.
                let crash = crash_or_restart(&mut e, &mut down, crashes, &mut rng, |rng| {
                    if rng.random_bool(0.5) {
                        i
                    } else {
                        rng.random_range(0..all.len())
                    }
                });
                eprintln!(
                    "seed {seed}: at {:?}: server.{} fsyncs +{ms} ms{crash}",
                    start.elapsed(),
                    i + 1
                );
                tokio::time::sleep(hold).await;
            }
            if let Some(k) = down {
                e.peers[k] = e.peers[k].restart();
            }
            let slept: Vec<u64> = (1..=all.len() as u64)
                .filter(|&id| slow.as_ref().is_some_and(|s| s.slept(id)))
                .collect();
            eprintln!("seed {seed}: servers whose fsyncs were slowed: {slept:?}");
        }
        Fault::Shuffle { crashes, .. } => {
            let heal_at = start + Duration::from_secs(secs) * 2 / 3;
            let mut down: Option<usize> = None;
            loop {
                // Some networks last less than syncLimit (500 ms), some several times it.
                let hold = Duration::from_millis(rng.random_range(150..=1_200));
                if Instant::now() + hold >= heal_at {
                    break;
                }
                shuffle(&net, &mut rng);
                let crash = crash_or_restart(&mut e, &mut down, crashes, &mut rng, |rng| {
                    rng.random_range(0..all.len())
                });
                eprintln!(
                    "seed {seed}: at {:?}: {}{crash}",
                    start.elapsed(),
                    net.describe()
                );
                tokio::time::sleep(hold).await;
            }
            if let Some(i) = down {
                e.peers[i] = e.peers[i].restart();
            }
        }
    }
    if !matches!(fault, Fault::FollowerAway { .. }) {
        tokio::time::sleep_until((start + Duration::from_secs(secs) * 2 / 3).into()).await;
    }
    // A follower away is let back as soon as the creates are in, so that what it missed stays
    // well under the leader's 500-transaction window in the DIFF case, whatever the load length.
    net.heal_all();
    for i in all.iter().copied() {
        if slow.is_some() {
            set_sync_delay(&slow, i, 0);
        }
    }
    if let Some(f) = filler.take() {
        std::fs::remove_file(&f).expect("remove the filler: space returns");
    }
    eprintln!("seed {seed}: healed at {:?}", start.elapsed());

    workload.finish_loops().await;
    let ledger = ledger_task.await.expect("ledger task");
    e.wait_serving(&all).await;
    workload.check_sessions_and_close(&addrs, seed).await;
    let zxid = converged_digests(&e, seed).await;
    final_reads(&addrs, seed, start, &workload.history).await;
    ledger.check(&addrs, seed).await;
    let leaders = watch.finish(seed);
    eprintln!(
        "seed {seed}, {fault:?}: converged at zxid {zxid:#x}; leaders by epoch {leaders:?}; {} of {} ledger creates acknowledged",
        ledger.acked.len(),
        ledger.attempted.len()
    );
    if let Fault::FollowerAway { creates, .. } = fault {
        let client = connect(&addrs[chosen].to_string(), seed).await;
        client.sync("/away").await.expect("sync /away");
        let (children, _) = client.get_children("/away").await.expect("read /away");
        let _ = client.close().await;
        assert_eq!(
            children.len(),
            creates,
            "seed {seed}: server.{} after rejoining",
            chosen + 1
        );
    }
    check_linearizable(seed, &format!("{fault:?}"), &workload.take_history());
    drop(net);
}

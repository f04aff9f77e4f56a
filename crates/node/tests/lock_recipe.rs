//! The lock recipe under faults, checked (issue 18, item 2: "no two holders of a lock recipe
//! overlap beyond the session timeout").
//!
//! A 3-server ensemble; [`CONTENDERS`] clients, each behind its own TCP proxy
//! (`support::net::ClientLink`) to a server, loop over the client library's `Lock` (Curator's
//! `InterProcessMutex` recipe) on one path: acquire, act as the holder for a few milliseconds
//! while `Lock::is_held` says so, release. Every tenure is recorded as the client saw it. Faults,
//! in order:
//!
//! 1. the link of a client holding the lock (seeded; it holds on until told or until it loses
//!    the lock) is cut for twice the session timeout: its session
//!    expires, the server deletes its node, another contender acquires while the cut client
//!    still believes nothing (it stops trusting the lock once its connection goes silent);
//! 2. the leader is SIGKILLed under the load and restarted;
//! 3. another holder's link is cut for a sixth of the session timeout: its session, and the
//!    lock, survive (its client never saw the connection as lost, so nobody else acquired).
//!
//! Then `paddock_lincheck::lock::check_holds`: a released hold overlaps no other, a lost one
//! overlaps the next by at most the session timeout; and the expired holder's successor really
//! acquired during the cut (the scenario happened). `PADDOCK_LIN_SEED` seeds the servers behind
//! the links and the hold times.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paddock_client::recipes::lock::Lock;
use paddock_client::SessionState;
use paddock_lincheck::lock::{check_holds, Hold, HoldEnd};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::lin::{connect_with, env_u64, leader};
use support::net::ClientLink;
use support::LocalEnsemble;
use tokio::time::Instant;

const CONTENDERS: usize = 4;
/// The contenders' session timeout.
const TIMEOUT: Duration = Duration::from_secs(3);
const LOCK: &str = "/locks/checked";
/// A hold's holder is contender * HOLDER + the number of sessions it lost before (so holder
/// 2003 is contender 2 on its fourth session).
const HOLDER: u64 = 1000;

/// What the contenders share with the fault schedule.
#[derive(Default)]
struct Board {
    holds: Vec<Hold>,
    /// The contender acting as the holder now, if any.
    holder: Option<usize>,
    /// Sessions that expired (one per expired client).
    expired: usize,
    /// A contender that, once it acquires, holds until told otherwise or until it loses the
    /// lock (so that a fault can be aimed at a holder).
    sticky: Option<usize>,
}

fn since(start: Instant) -> u64 {
    start.elapsed().as_nanos() as u64
}

/// One contender: until `until`, acquire, hold, release; a new session after an expiry.
async fn contend(
    id: usize,
    through: String,
    seed: u64,
    start: Instant,
    until: Instant,
    board: Arc<Mutex<Board>>,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ ((id as u64 + 1) * 0x9e37));
    let mut client = connect_with(&through, seed + id as u64, TIMEOUT).await;
    let mut generation = 0u64;
    while Instant::now() < until {
        if client.state() == SessionState::Expired {
            board.lock().unwrap().expired += 1;
            client = connect_with(&through, seed + id as u64, TIMEOUT).await;
            generation += 1;
        }
        let mut lock = Lock::new(client.clone(), LOCK);
        match lock.acquire_timeout(Duration::from_secs(2)).await {
            Ok(true) => {}
            _ => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        }
        let began = since(start);
        board.lock().unwrap().holder = Some(id);
        let hold_for = Duration::from_millis(rng.random_range(5..40));
        let mut how = HoldEnd::Released;
        let deadline = Instant::now() + hold_for;
        loop {
            if !lock.is_held() {
                how = HoldEnd::Lost;
                break;
            }
            let sticky = board.lock().unwrap().sticky == Some(id);
            if !sticky && Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // A lost lock is lost until this client hears from its server again: it stays "not the
        // holder" while it waits, and releases (deletes its node if the session lived) after.
        let ended = since(start);
        {
            let mut b = board.lock().unwrap();
            b.holder = None;
            b.holds.push(Hold {
                holder: id as u64 * HOLDER + generation,
                start: began,
                end: ended,
                how,
            });
        }
        let _ = lock.release().await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..10))).await;
    }
    let _ = client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_holders_overlap_only_when_a_session_is_lost_and_by_less_than_its_timeout() {
    let seed = env_u64("PADDOCK_LIN_SEED", 1);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x10c6);
    let mut e = LocalEnsemble::start(3, &support::lin::FAST_ENSEMBLE).await;
    let all = [0, 1, 2];
    let addrs: Vec<SocketAddr> = e.peers.iter().map(|p| p.addr).collect();
    let mut links = Vec::new();
    for _ in 0..CONTENDERS {
        links.push(ClientLink::start(addrs[rng.random_range(0..3)]).await);
    }
    let start = Instant::now();
    let cut_long = TIMEOUT * 2;
    let until = start + Duration::from_secs(2) + cut_long + Duration::from_secs(9);
    let board = Arc::new(Mutex::new(Board::default()));
    let mut tasks = tokio::task::JoinSet::new();
    for (id, link) in links.iter().enumerate() {
        tasks.spawn(contend(
            id,
            link.addr.to_string(),
            seed,
            start,
            until,
            board.clone(),
        ));
    }

    // 1. A holder cut off past its session timeout.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let victim = rng.random_range(0..CONTENDERS);
    let cut_at = aim(&board, victim, start).await;
    links[victim].cut();
    eprintln!(
        "seed {seed}: holder {victim} cut off at {:?} for {cut_long:?}",
        start.elapsed()
    );
    tokio::time::sleep(cut_long).await;
    links[victim].heal();
    let healed_at = since(start);
    board.lock().unwrap().sticky = None;

    // 2. The leader killed under the load, then restarted.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let lead = leader(&e, &all).await;
    e.peers[lead].kill();
    eprintln!("seed {seed}: leader server.{} killed", lead + 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    e.peers[lead] = e.peers[lead].restart();
    e.wait_serving(&all).await;

    // 3. A holder cut off briefly: its session, and so the lock, survive.
    let brief = (victim + 1) % CONTENDERS;
    let brief_at = aim(&board, brief, start).await;
    links[brief].cut();
    tokio::time::sleep(TIMEOUT / 6).await;
    links[brief].heal();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let brief_healed_at = since(start);
    board.lock().unwrap().sticky = None;

    while let Some(done) = tasks.join_next().await {
        done.expect("a contender panicked");
    }
    let b = board.lock().unwrap();
    let report = match check_holds(&b.holds, TIMEOUT.as_nanos() as u64) {
        Ok(r) => r,
        Err(overlap) => panic!("seed {seed}: {overlap}"),
    };
    eprintln!(
        "seed {seed}: {} holds, {} lost, {} sessions expired, longest overlap of a lost hold {:?}",
        report.holds,
        report.lost,
        b.expired,
        Duration::from_nanos(report.max_lost_overlap)
    );
    assert!(
        b.expired >= 1,
        "seed {seed}: the cut holder's session never expired"
    );
    let victim_key = victim as u64 * HOLDER;
    assert!(
        b.holds
            .iter()
            .any(|h| h.holder / HOLDER != victim as u64 && h.start > cut_at && h.start < healed_at),
        "seed {seed}: nobody acquired while holder {victim} was cut off: the lock was never handed on"
    );
    assert!(
        b.holds
            .iter()
            .any(|h| h.holder == victim_key && h.how == HoldEnd::Lost && h.end > cut_at),
        "seed {seed}: holder {victim} never noticed it lost the lock"
    );
    let kept = b
        .holds
        .iter()
        .find(|h| h.holder / HOLDER == brief as u64 && h.start <= brief_at && h.end >= brief_at);
    assert!(
        matches!(kept, Some(h) if h.end >= brief_healed_at && h.how == HoldEnd::Released),
        "seed {seed}: holder {brief} lost the lock over a cut shorter than its session timeout: {kept:?}"
    );
    assert!(
        report.holds > 20,
        "seed {seed}: only {} holds",
        report.holds
    );
}

/// Makes `who` hold on to the lock once it has it, and waits until it does; returns when.
async fn aim(board: &Mutex<Board>, who: usize, start: Instant) -> u64 {
    board.lock().unwrap().sticky = Some(who);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if board.lock().unwrap().holder == Some(who) {
            return since(start);
        }
        assert!(
            Instant::now() < deadline,
            "contender {who} never acquired in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

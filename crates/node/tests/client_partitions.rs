//! Partitions between clients and their server (issue 18, item 4: network partitions), on real
//! Paddock processes, checked.
//!
//! A 3-server ensemble runs the linearizability workload of `linearizable.rs`: client 0 and the
//! watching sessions (a persistent recursive watch through the Rust client, and the two wire
//! sessions of `support::lin::order`) reach a follower (seeded) only through a TCP proxy
//! (`support::net::ClientLink`), with a session timeout of [`TIMEOUT`]; clients 1 to 3 reach one
//! server each directly, with the workload's long timeout. Two seconds into the load the link is
//! cut, both ways (what was sent is held and delivered late, as TCP over a network that drops
//! packets for a while), then healed:
//!
//! - after 3/4 of the timeout (`a_client_cut_off_for_less_than_its_session_timeout_…`): past
//!   the 2/3 of the timeout after which a client gives a silent connection up, so every session
//!   behind the link must resume, and before the timeout, so each must survive on its server:
//!   client 0 saw Disconnected then Connected and still owns its ephemeral, the wire sessions
//!   resumed, and every event of the persistent watches fired meanwhile arrives (the exact
//!   watch checks run, so one lost or repeated event fails);
//! - after twice the timeout (`a_client_cut_off_for_longer_than_its_session_timeout_…`): every
//!   session behind the link must have expired: client 0 was told (Expired state,
//!   SESSIONEXPIRED on its next call), its ephemeral is gone from every server, every server
//!   refuses to resume the wire sessions with SESSIONEXPIRED, and those were told so on their
//!   first resume after the heal.
//!
//! - one way only, server to clients, for 3/4 of the timeout
//!   (`a_client_that_cannot_hear_its_server_for_a_while_…`): the clients' requests and pings
//!   arrive, the answers do not; as the short cut above, plus writes that were applied but never
//!   answered (unknown outcomes to the history checker);
//! - one way only, clients to server, for twice the timeout
//!   (`a_client_its_server_cannot_hear_for_long_…`): as the long cut above.
//!
//! Then the checks of every workload run: each ephemeral lives exactly as long as its session,
//! the watch checks, and the history (with `sync`+`getData` of every znode through every server
//! at the end) is linearizable.
//!
//! Seeded (`PADDOCK_LIN_SEED`: the clients' operations and the follower behind the link); the
//! load lasts as long as the cut needs (2 s before it, 3 s after the heal).

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use paddock_client::{Client, SessionState};
use paddock_types::ErrorCode;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::lin::{
    check_linearizable, connect, connect_with, env_u64, final_reads, leader, own_ephemeral,
    Workload, CLIENTS,
};
use support::net::ClientLink;
use support::LocalEnsemble;
use tokio::sync::broadcast;

/// The session timeout of the sessions behind the link.
const TIMEOUT: Duration = Duration::from_secs(6);

/// Which way the link is cut.
#[derive(Clone, Copy, Debug)]
enum Cut {
    Both,
    /// The server hears nothing from the clients; they still get what it had sent.
    TowardServer,
    /// The clients hear nothing from the server; what they send (requests, pings) arrives.
    TowardClients,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cut_off_for_less_than_its_session_timeout_resumes_with_its_session_whole() {
    run(TIMEOUT * 3 / 4, Cut::Both).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cut_off_for_longer_than_its_session_timeout_finds_it_expired_everywhere() {
    run(TIMEOUT * 2, Cut::Both).await;
}

/// One way: the clients' requests and pings reach the server, whose answers are lost. The
/// clients give the silent connection up, their writes meanwhile may or may not have been
/// applied (the history checker takes them as unknown), and their sessions, still alive on
/// the server, resume after the heal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_cannot_hear_its_server_for_a_while_resumes_with_its_session_whole() {
    run(TIMEOUT * 3 / 4, Cut::TowardClients).await;
}

/// The other way, long: the server hears nothing from the clients, so their sessions expire
/// though the clients still received what the server sent before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_its_server_cannot_hear_for_long_finds_its_session_expired_everywhere() {
    run(TIMEOUT * 2, Cut::TowardServer).await;
}

/// Every state `events` has received so far.
fn drain(events: &mut broadcast::Receiver<SessionState>) -> Vec<SessionState> {
    let mut out = Vec::new();
    while let Ok(s) = events.try_recv() {
        out.push(s);
    }
    out
}

async fn run(cut: Duration, way: Cut) {
    let seed = env_u64("PADDOCK_LIN_SEED", 1);
    let mut rng = StdRng::seed_from_u64(seed ^ 0xc11e_0c0d);
    let mut e = LocalEnsemble::start(3, &support::lin::FAST_ENSEMBLE).await;
    let all = [0, 1, 2];
    let addrs: Vec<SocketAddr> = e.peers.iter().map(|p| p.addr).collect();
    let lead = leader(&e, &all).await;
    let behind = (lead + rng.random_range(1..3)) % 3;
    let link = ClientLink::start(addrs[behind]).await;
    let through = link.addr.to_string();

    let mut clients: Vec<Client> = Vec::new();
    for id in 0..CLIENTS {
        clients.push(match id {
            0 => connect_with(&through, seed, TIMEOUT).await,
            _ => connect(&addrs[id - 1].to_string(), seed.wrapping_add(id as u64)).await,
        });
    }
    let cut_client = clients[0].clone();
    let mut states = cut_client.state_events();
    let before = Duration::from_secs(2);
    let secs = (before + cut + Duration::from_secs(3)).as_secs_f64().ceil() as u64;
    let mut workload = Workload::start_with(clients, &through, seed, secs, TIMEOUT).await;
    let start = workload.start;

    tokio::time::sleep(before).await;
    match way {
        Cut::Both => link.cut(),
        Cut::TowardServer => link.cut_one_way(true),
        Cut::TowardClients => link.cut_one_way(false),
    }
    eprintln!(
        "seed {seed}: clients of server.{} cut off ({way:?}) at {:?} for {cut:?} (session timeout {TIMEOUT:?})",
        behind + 1,
        start.elapsed()
    );
    tokio::time::sleep(cut).await;
    link.heal();
    eprintln!("seed {seed}: healed at {:?}", start.elapsed());
    workload.finish_loops().await;
    e.wait_serving(&all).await;

    let expired = cut > TIMEOUT;
    let seen = drain(&mut states);
    let path = own_ephemeral(0);
    let answer = cut_client.exists(&path).await;
    if expired {
        assert!(
            seen.contains(&SessionState::Expired),
            "seed {seed}: client 0 was never told its session expired: {seen:?}"
        );
        assert!(
            matches!(&answer, Err(err) if err.code() == ErrorCode::SessionExpired),
            "seed {seed}: client 0's call after the expiry: {answer:?}"
        );
        for t in workload.wire_traces() {
            assert!(
                t.expired,
                "seed {seed}: the {:?} wire session was not told it expired",
                t.mode
            );
            for (i, addr) in addrs.iter().enumerate() {
                assert!(
                    support::lin::order::refused_as_expired(*addr, &t.session).await,
                    "seed {seed}: server.{} still takes the {:?} wire session back",
                    i + 1,
                    t.mode
                );
            }
        }
    } else {
        let resumed = seen
            .iter()
            .skip_while(|s| **s != SessionState::Disconnected)
            .any(|s| *s == SessionState::Connected);
        assert!(
            resumed,
            "seed {seed}: client 0 did not lose and resume its connection: {seen:?}"
        );
        match &answer {
            Ok(Some(stat)) => assert_eq!(
                stat.ephemeral_owner,
                cut_client.session_id().0,
                "seed {seed}: {path} belongs to client 0's session"
            ),
            other => panic!("seed {seed}: client 0's session after the cut: {other:?}"),
        }
        for t in workload.wire_traces() {
            assert!(
                !t.expired && t.resumes() >= 1,
                "seed {seed}: the {:?} wire session: expired {}, {} resumes",
                t.mode,
                t.expired,
                t.resumes()
            );
        }
    }
    workload.check_sessions_and_close(&addrs, seed).await;
    final_reads(&addrs, seed, start, &workload.history).await;
    check_linearizable(
        seed,
        &format!("client link cut ({way:?}) for {cut:?}"),
        &workload.take_history(),
    );
    drop(link);
}

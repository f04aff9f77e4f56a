//! Servers stopped with SIGSTOP and continued with SIGCONT, in a 3-server ensemble of real
//! `paddock` binaries on 127.0.0.1 (issue 12): a process pause is the failure where a server's
//! own view is stale *and* it does not know it yet — its role loop has not run since.
//!
//! ```text
//!   a. session on follower X ── SIGSTOP X ── the leader expires the session (its ephemeral goes)
//!        ── resume queued at X ── SIGCONT X ──▶ never a ConnectResponse: ConnectionLoss or
//!           SESSIONEXPIRED; SESSIONEXPIRED on another server, and on X once it rejoined
//!   b. SIGSTOP the leader L (epoch E) ── the others elect a new leader ── probes queued at L
//!        ── SIGCONT L ──▶ L never says leader, health SERVING only as a follower of the new
//!           leader, and no session on L is opened at a zxid of epoch E
//! ```
//!
//! Rules: a resume is answered only after the ensemble confirmed the session (ZooKeeper's
//! REVALIDATE); a leader serves only while its lease holds (it heard from a quorum within
//! syncLimit), judged when asked, not when its loop next runs.
//!
//! Every wait is bounded and each test as a whole by [`TEST_LIMIT`]; processes are SIGKILLed
//! (stopped ones included) and temp dirs removed when a test ends, passing or not.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use paddock_proto::v1 as pb;
use paddock_proto::v1::paddock_client::PaddockClient;
use support::*;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// The longest a whole test may run.
const TEST_LIMIT: Duration = Duration::from_secs(90);
/// The longest an election may take.
const ELECTION_WAIT: Duration = Duration::from_secs(20);
/// The limit on one call to one server.
const CALL_LIMIT: Duration = Duration::from_secs(2);
/// tickTime=100, syncLimit=5: a silent peer is given up on after 500 ms.
const CFG: &[&str] = &[
    "tickTime=100",
    "initLimit=10",
    "syncLimit=5",
    "maxSessionTimeout=30000",
    "4lw.commands.whitelist=*",
];
/// The session that expires while its server is stopped (minSessionTimeout is 200 ms).
const SHORT_SESSION_MS: i32 = 500;

struct Ensemble {
    /// Declared before `tmp`: the processes die before their directories are removed.
    peers: Vec<Peer>,
    _tmp: tempfile::TempDir,
}

impl Ensemble {
    fn start() -> Ensemble {
        let tmp = tempfile::tempdir().expect("temp dir");
        let ports = peer_ports(3);
        let config: PathBuf = tmp.path().join("zoo.cfg");
        std::fs::write(&config, ensemble_cfg(&ports, CFG)).expect("write zoo.cfg");
        let peers = (1..=3u64)
            .map(|id| {
                let data = tmp.path().join(id.to_string());
                Peer::spawn(id, &config, &data, ports[(id - 1) as usize].grpc)
            })
            .collect();
        Ensemble { peers, _tmp: tmp }
    }

    fn peer(&self, id: u64) -> &Peer {
        &self.peers[(id - 1) as usize]
    }

    fn addr(&self, id: u64) -> SocketAddr {
        self.peer(id).addr
    }

    fn log_tails(&self) -> String {
        log_tails(&self.peers, 30)
    }

    /// Waits until the servers `ids` all serve, one as leader and the others following it in
    /// one epoch; returns (leader, epoch).
    async fn wait_for_leader(&mut self, ids: &[u64]) -> (u64, u64) {
        let deadline = Instant::now() + ELECTION_WAIT;
        loop {
            for p in &mut self.peers {
                p.assert_running();
            }
            let mut statuses = Vec::new();
            for &id in ids {
                statuses.push((id, try_status(self.addr(id), CALL_LIMIT).await));
            }
            if let Some(found) = settled(&statuses) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no settled leader among {ids:?}: {statuses:?}\n{}",
                self.log_tails()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// (leader, epoch) when every status is serving, exactly one leads, the rest follow it, all in
/// one epoch.
fn settled(statuses: &[(u64, Result<pb::ServerStatus, String>)]) -> Option<(u64, u64)> {
    let mut leader = None;
    let mut epoch = None;
    for (id, st) in statuses {
        let st = st.as_ref().ok()?;
        if !st.serving || epoch.is_some_and(|e| Some(e) != st.epoch) {
            return None;
        }
        epoch = st.epoch;
        match st.mode.as_str() {
            "leader" if leader.is_none() => leader = Some(*id),
            "follower" => {}
            _ => return None,
        }
    }
    let leader = leader?;
    for (id, st) in statuses {
        let st = st.as_ref().ok()?;
        if *id != leader && st.leader_id != Some(leader) {
            return None;
        }
    }
    Some((leader, epoch?))
}

fn zxid_epoch(zxid: i64) -> u64 {
    (zxid as u64) >> 32
}

/// How a session resume ended.
#[derive(Debug)]
enum Resume {
    /// A ConnectResponse: the server accepted the session (at this zxid).
    Accepted { zxid: i64 },
    /// Refused with this ZooKeeper code (paddock-error-code) and status.
    Refused(Option<i32>, tonic::Status),
    /// No answer (unreachable, or nothing within the limit).
    NoAnswer(String),
}

impl std::fmt::Display for Resume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resume::Accepted { zxid } => write!(f, "accepted (ConnectResponse at zxid {zxid:#x})"),
            Resume::Refused(code, status) => {
                write!(f, "refused with code {code:?}: {}", status.message())
            }
            Resume::NoAnswer(why) => write!(f, "no answer: {why}"),
        }
    }
}

/// Resumes session `id` on `addr`; never panics. Bounded by `limit` as a whole.
async fn try_resume(addr: SocketAddr, id: i64, password: Bytes, limit: Duration) -> Resume {
    let attempt = async {
        let channel = try_channel(addr, limit).await.map_err(Resume::NoAnswer)?;
        let mut client = PaddockClient::new(channel);
        let (tx, rx) = mpsc::channel(8);
        let hello = pb::ClientMessage {
            message: Some(pb::client_message::Message::Connect(resume(id, password))),
        };
        tx.send(hello)
            .await
            .map_err(|e| Resume::NoAnswer(e.to_string()))?;
        let refused = |s: tonic::Status| Resume::Refused(status_zk_code(&s), s);
        let mut stream = client
            .session(ReceiverStream::new(rx))
            .await
            .map_err(refused)?
            .into_inner();
        let first = stream.message().await.map_err(refused)?;
        drop(tx);
        match first {
            Some(pb::ServerMessage {
                message: Some(pb::server_message::Message::Connect(c)),
            }) => Ok(Resume::Accepted { zxid: c.zxid }),
            other => Err(Resume::NoAnswer(format!("no ConnectResponse: {other:?}"))),
        }
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(r)) | Ok(Err(r)) => r,
        Err(_) => Resume::NoAnswer(format!("nothing within {limit:?}")),
    }
}

/// What grpc.health.v1 says for the whole server ("Serving", "NotServing"), or the error.
async fn health(addr: SocketAddr) -> Result<String, String> {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let channel = try_channel(addr, CALL_LIMIT).await?;
    let mut client = HealthClient::new(channel);
    let call = client.check(HealthCheckRequest {
        service: String::new(),
    });
    match tokio::time::timeout(CALL_LIMIT, call).await {
        Ok(Ok(r)) => Ok(format!("{:?}", r.into_inner().status())),
        Ok(Err(s)) => Err(s.to_string()),
        Err(_) => Err("health timed out".into()),
    }
}

/// `srvr` on `addr`.
async fn srvr(addr: SocketAddr) -> Result<String, String> {
    let channel = try_channel(addr, CALL_LIMIT).await?;
    let mut client = pb::admin_client::AdminClient::new(channel);
    let call = client.run_command(pb::CommandRequest {
        command: "srvr".into(),
    });
    match tokio::time::timeout(CALL_LIMIT, call).await {
        Ok(Ok(r)) => Ok(r.into_inner().output),
        Ok(Err(s)) => Err(s.to_string()),
        Err(_) => Err("srvr timed out".into()),
    }
}

/// Bounds a whole test: on expiry the future (and with it every process) is dropped.
async fn bounded<F: std::future::Future<Output = ()>>(name: &str, f: F) {
    if tokio::time::timeout(TEST_LIMIT, f).await.is_err() {
        panic!("{name} did not finish within {TEST_LIMIT:?}");
    }
}

/// Issue 12, case 5: paused longer than its session's timeout, a follower must not hand the
/// session back when it is continued — the ensemble expired it meanwhile. The resume is queued
/// at the stopped server (the kernel accepts the connection), so the server meets it the
/// moment it runs again, before its role loop has read anything. Three rounds, alternating
/// followers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_expired_while_its_server_was_stopped_is_never_resumed() {
    bounded("a_session_expired_while_its_server_was_stopped", async {
        let mut e = Ensemble::start();
        for round in 0..3u64 {
            let (leader, _) = e.wait_for_leader(&[1, 2, 3]).await;
            let followers: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
            let x = followers[(round % 2) as usize];
            let y = followers[((round + 1) % 2) as usize];
            let path = format!("/owned-{round}");

            let mut watcher = try_open(e.addr(y), LONG_TIMEOUT_MS, CALL_LIMIT)
                .await
                .unwrap_or_else(|err| panic!("server.{y} opens a session: {err:?}"));
            // The owner is silent from its ephemeral on: stop its server at once, well within
            // the session timeout.
            let mut owner = try_open(e.addr(x), SHORT_SESSION_MS, CALL_LIMIT)
                .await
                .unwrap_or_else(|err| panic!("server.{x} opens a session: {err:?}"));
            owner.create_ok(&path, b"", pb::CreateMode::Ephemeral).await;
            e.peer(x).stop_signal();
            let (id, password) = (owner.id, owner.password.clone());
            drop(owner);
            // The ensemble (leader + y) expires the session: its ephemeral goes.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                sync_result(watcher.call(op::sync("/")).await);
                if watcher.stat(&path).await.is_none() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "round {round}: session {id:#x} never expired while server.{x} was \
                     stopped\n{}",
                    e.log_tails()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // Let server.x's leader give it up too (syncLimit = 500 ms).
            tokio::time::sleep(Duration::from_millis(700)).await;

            // The resume waits in server.x's socket; SIGCONT; the server answers it first thing.
            let addr_x = e.addr(x);
            let pw = password.clone();
            let queued =
                tokio::spawn(
                    async move { try_resume(addr_x, id, pw, Duration::from_secs(10)).await },
                );
            tokio::time::sleep(Duration::from_millis(100)).await;
            e.peer(x).cont();
            let at_x = queued.await.expect("resume task");
            eprintln!("round {round}: resume on server.{x} right after SIGCONT: {at_x}");
            match &at_x {
                Resume::Accepted { zxid } => panic!(
                    "round {round}: server.{x}, continued after the ensemble expired session \
                     {id:#x}, accepted its resume (ConnectResponse at zxid {zxid:#x})\n{}",
                    e.log_tails()
                ),
                Resume::Refused(Some(code::SESSION_EXPIRED | code::CONNECTION_LOSS), _) => {}
                other => {
                    panic!("round {round}: expected SESSIONEXPIRED or ConnectionLoss, got {other}")
                }
            }
            // Every other server refuses it as expired, and so does x once it serves again.
            let at_y = try_resume(e.addr(y), id, password.clone(), CALL_LIMIT).await;
            assert!(
                matches!(at_y, Resume::Refused(Some(code::SESSION_EXPIRED), _)),
                "round {round}: server.{y}: {at_y}"
            );
            e.wait_for_leader(&[1, 2, 3]).await;
            let again = try_resume(e.addr(x), id, password.clone(), CALL_LIMIT).await;
            assert!(
                matches!(again, Resume::Refused(Some(code::SESSION_EXPIRED), _)),
                "round {round}: server.{x} after rejoining: {again}"
            );
        }
    })
    .await;
}

/// One look at the continued leader: what it answered, in order.
#[derive(Debug)]
enum Probe {
    Status(Result<pb::ServerStatus, String>),
    Health(Result<String, String>),
    Srvr(Result<String, String>),
    Open(Result<i64, String>),
}

/// Issue 12: a leader stopped past syncLimit, whose followers elected another leader, must not
/// say "leader" or SERVING, nor take sessions, on its old epoch once continued — not even in
/// the moment before its role loop has run. Probes are queued at the stopped leader and then
/// repeated until it has rejoined as a follower. Two rounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continued_leader_does_not_serve_on_its_old_epoch() {
    bounded(
        "a_continued_leader_does_not_serve_on_its_old_epoch",
        async {
            let mut e = Ensemble::start();
            for round in 0..2 {
                let (old, old_epoch) = e.wait_for_leader(&[1, 2, 3]).await;
                let others: Vec<u64> = (1..=3).filter(|id| *id != old).collect();
                // A client of the leader: it will try to resume there the moment the leader runs again.
                let client = try_open(e.addr(old), LONG_TIMEOUT_MS, CALL_LIMIT)
                    .await
                    .unwrap_or_else(|err| panic!("the leader opens a session: {err:?}"));
                let (client_id, client_pw) = (client.id, client.password.clone());
                drop(client);
                e.peer(old).stop_signal();
                let (new, new_epoch) = e.wait_for_leader(&others).await;
                assert!(new_epoch > old_epoch, "round {round}: a new epoch");
                // A write in the new epoch: a server that rejoined holds a zxid of it.
                let mut w = try_open(e.addr(new), LONG_TIMEOUT_MS, CALL_LIMIT)
                    .await
                    .unwrap_or_else(|err| panic!("the new leader opens a session: {err:?}"));
                w.create_ok(
                    &format!("/epoch-{new_epoch}"),
                    b"",
                    pb::CreateMode::Persistent,
                )
                .await;

                // Probes queued at the stopped leader, answered the moment it runs again: a new
                // session and its client's resume at once, then status, health, srvr and a new
                // session in turn until it serves as a follower of the new leader.
                let addr = e.addr(old);
                let first_resume = tokio::spawn(async move {
                    match try_resume(addr, client_id, client_pw, Duration::from_secs(5)).await {
                        Resume::Accepted { zxid } => Probe::Open(Ok(zxid)),
                        other => Probe::Open(Err(format!("resume: {other}"))),
                    }
                });
                let first_open = tokio::spawn(async move {
                    let open = try_open(addr, LONG_TIMEOUT_MS, Duration::from_secs(5)).await;
                    Probe::Open(open.map(|s| s.connect_zxid).map_err(|e| format!("{e:?}")))
                });
                let prober = tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let deadline = Instant::now() + Duration::from_secs(15);
                    loop {
                        let st = try_status(addr, Duration::from_secs(5)).await;
                        let rejoined = st.as_ref().is_ok_and(|s| {
                            s.serving
                                && s.mode == "follower"
                                && s.epoch.is_some_and(|e| e > old_epoch)
                        });
                        seen.push(Probe::Status(st));
                        seen.push(Probe::Health(health(addr).await));
                        seen.push(Probe::Srvr(srvr(addr).await));
                        let open = try_open(addr, LONG_TIMEOUT_MS, CALL_LIMIT).await;
                        seen.push(Probe::Open(
                            open.map(|s| s.connect_zxid).map_err(|e| format!("{e:?}")),
                        ));
                        if rejoined || Instant::now() > deadline {
                            return seen;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                });
                tokio::time::sleep(Duration::from_millis(100)).await;
                e.peer(old).cont();
                let mut seen = prober.await.expect("prober");
                seen.push(first_open.await.expect("first open"));
                seen.push(first_resume.await.expect("first resume"));

                let mut follower_seen = false;
                for (i, p) in seen.iter().enumerate() {
                    eprintln!("round {round}: server.{old} probe {i}: {p:?}");
                    let bad = |why: &str| -> ! {
                        panic!(
                        "round {round}: server.{old}, the leader of epoch {old_epoch} continued \
                         after server.{new} took over (epoch {new_epoch}), {why}: probe {i}: \
                         {p:?}\nall probes: {seen:#?}\n{}",
                        e.log_tails()
                    )
                    };
                    match p {
                        Probe::Status(Ok(s)) => {
                            if s.mode == "leader" || (s.serving && s.mode != "follower") {
                                bad("reported itself leading/serving");
                            }
                            if s.serving && s.epoch.is_some_and(|e| e <= old_epoch) {
                                bad("reported serving on its old epoch");
                            }
                            follower_seen |= s.serving && s.mode == "follower";
                        }
                        Probe::Health(Ok(h)) if h == "Serving" => {
                            // Only as a follower: the status just before or just after says so.
                            let follower_near = [i.checked_sub(1), Some(i + 3)]
                                .into_iter()
                                .flatten()
                                .filter_map(|j| seen.get(j))
                                .any(|q| {
                                    matches!(q, Probe::Status(Ok(s))
                                    if s.serving && s.mode == "follower"
                                        && s.epoch.is_some_and(|e| e > old_epoch))
                                });
                            if !follower_near {
                                bad("said SERVING while not a follower of the new leader");
                            }
                        }
                        Probe::Srvr(Ok(out)) if out.contains("Mode: leader") => {
                            bad("srvr says Mode: leader")
                        }
                        Probe::Open(Ok(zxid)) if zxid_epoch(*zxid) <= old_epoch => {
                            bad("opened a session on its old epoch")
                        }
                        _ => {}
                    }
                }
                assert!(
                    follower_seen,
                    "round {round}: server.{old} rejoined as a follower within the limit\n{}",
                    e.log_tails()
                );
                // Rejoined: it takes sessions again, at a zxid of the new epoch.
                let s = try_open(e.addr(old), LONG_TIMEOUT_MS, CALL_LIMIT)
                    .await
                    .unwrap_or_else(|err| panic!("the rejoined server opens a session: {err:?}"));
                assert!(zxid_epoch(s.connect_zxid) >= new_epoch);
            }
        },
    )
    .await;
}

//! Local sessions (`localSessionsEnabled`, `localSessionsUpgradingEnabled`) on a real 3-server
//! ensemble of `paddock` processes, over gRPC and over ZooKeeper's own protocol (`clientPort`).
//!
//! What is checked, by rule (ZooKeeper 3.5+'s local sessions):
//! - opening, pinging and closing a local session, on a follower and on the leader, writes
//!   nothing: no server's last zxid moves;
//! - a local session is unknown to every other server: a resume there is SESSIONEXPIRED;
//! - its first ephemeral upgrades it (two transactions: CreateSession, then the create); the
//!   ephemeral is owned by its id on every server, and goes everywhere when it closes;
//! - a silent local session expires on its server alone, writing nothing;
//! - upgrading off, an ephemeral create is EPHEMERALONLOCALSESSION (-120) and writes nothing;
//! - `mntr` reports `zk_local_sessions` / `zk_global_sessions` as ZooKeeper 3.6+ does.
//!
//! Every wait is bounded; processes are SIGKILLed and temp dirs removed when a test ends.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use paddock_proto::v1 as pb;
use pb::CreateMode::{Ephemeral, Persistent};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zookeeper_client as zk;

const CALL_LIMIT: Duration = Duration::from_secs(2);
const SETTLE: Duration = Duration::from_secs(10);

/// A 3-server ensemble with local sessions on (upgrading as `upgrading`), each member also
/// serving ZooKeeper's protocol; returns it and the members' client-port addresses.
async fn ensemble(upgrading: bool) -> (LocalEnsemble, Vec<SocketAddr>) {
    let wire = free_ports(3);
    let upgrading = format!("localSessionsUpgradingEnabled={upgrading}");
    let e = LocalEnsemble::start_with_args(
        3,
        |ports| {
            ensemble_cfg(
                ports,
                &[
                    "4lw.commands.whitelist=*",
                    "tickTime=100",
                    "initLimit=10",
                    "syncLimit=5",
                    "maxSessionTimeout=30000",
                    "localSessionsEnabled=true",
                    &upgrading,
                ],
            )
        },
        |i| vec!["--client-port".into(), wire[i].to_string()],
    )
    .await;
    let addrs = wire
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    (e, addrs)
}

/// The index of the serving leader.
async fn leader(e: &LocalEnsemble) -> usize {
    for (i, p) in e.peers.iter().enumerate() {
        let st = try_status(p.addr, CALL_LIMIT).await.expect("status");
        if st.mode == "leader" {
            return i;
        }
    }
    panic!("no leader\n{}", log_tails(&e.peers, 20));
}

/// Every member's last applied zxid, once they all agree (bounded): the ensemble is quiet.
async fn settled_zxids(e: &LocalEnsemble) -> Vec<u64> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let mut z = Vec::new();
        for p in &e.peers {
            z.push(
                try_status(p.addr, CALL_LIMIT)
                    .await
                    .expect("status")
                    .last_zxid,
            );
        }
        if z.windows(2).all(|w| w[0] == w[1]) {
            return z;
        }
        assert!(Instant::now() < deadline, "zxids never agree: {z:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn zxids(e: &LocalEnsemble) -> Vec<u64> {
    let mut z = Vec::new();
    for p in &e.peers {
        z.push(
            try_status(p.addr, CALL_LIMIT)
                .await
                .expect("status")
                .last_zxid,
        );
    }
    z
}

/// A `zk_<key>` value of `mntr` on a client port.
async fn mntr(addr: SocketAddr, key: &str) -> u64 {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"mntr").await.expect("send");
    let mut out = String::new();
    within("mntr", s.read_to_string(&mut out))
        .await
        .expect("read");
    let line = format!("zk_{key}\t");
    out.lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("no zk_{key} in mntr:\n{out}"))
        .trim()
        .parse()
        .expect("a number")
}

/// Waits (bounded) until `mntr` on `addr` reports `key` = `want`.
async fn mntr_becomes(addr: SocketAddr, key: &str, want: u64) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let got = mntr(addr, key).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "zk_{key} stays {got}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether `path` exists as seen from member `i` after a sync (a fresh session there).
async fn exists_on(e: &LocalEnsemble, i: usize, path: &str) -> Option<pb::Stat> {
    let mut s = Session::open(e.peers[i].addr, LONG_TIMEOUT_MS).await;
    ok(&s.call(op::sync(path)).await);
    let stat = s.stat(path).await;
    ok(&s.call(op::close()).await);
    stat
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_sessions_write_nothing_and_upgrade_on_their_first_ephemeral() {
    let (e, wire) = ensemble(true).await;
    let lead = leader(&e).await;
    let follower = (lead + 1) % 3;

    // Open, use, close on a follower and on the leader: no zxid moves anywhere; unknown to
    // the other servers meanwhile.
    for home in [follower, lead] {
        let before = settled_zxids(&e).await;
        let mut s = Session::open(e.peers[home].addr, LONG_TIMEOUT_MS).await;
        ok(&s.call(op::ping()).await);
        assert!(s.stat("/").await.is_some(), "a local session reads");
        assert_eq!(mntr(wire[home], "local_sessions").await, 1);
        assert_eq!(mntr(wire[home], "global_sessions").await, 0);
        let other = (home + 1) % 3;
        let refused = Session::connect(e.peers[other].addr, s.resume_request())
            .await
            .err()
            .expect("another server does not know a local session");
        assert_eq!(status_zk_code(&refused), Some(code::SESSION_EXPIRED));
        ok(&s.call(op::close()).await);
        assert_eq!(mntr(wire[home], "local_sessions").await, 0);
        assert_eq!(
            zxids(&e).await,
            before,
            "server.{}: nothing written",
            home + 1
        );
    }

    // A local session writes persistent nodes through the leader like any session.
    let mut s = Session::open(e.peers[follower].addr, LONG_TIMEOUT_MS).await;
    s.create_ok("/app", b"", Persistent).await;

    // Its first ephemeral: CreateSession then the create, two transactions.
    let before = settled_zxids(&e).await;
    s.create_ok("/app/lease", b"", Ephemeral).await;
    let after = settled_zxids(&e).await;
    assert_eq!(after[0], before[0] + 2, "upgrade + create");
    for i in 0..3 {
        let stat = exists_on(&e, i, "/app/lease").await.expect("replicated");
        assert_eq!(stat.ephemeral_owner, s.id, "server.{}", i + 1);
    }
    assert_eq!(mntr(wire[follower], "global_sessions").await, 1);
    // Global now: it moves to another server.
    let other = (follower + 1) % 3;
    let mut moved = within(
        "resume on another server",
        Session::connect(e.peers[other].addr, s.resume_request()),
    )
    .await
    .expect("a global session moves");
    ok(&moved.call(op::close()).await);
    for (i, port) in wire.iter().enumerate() {
        assert!(
            exists_on(&e, i, "/app/lease").await.is_none(),
            "server.{}: the ephemeral went with its session",
            i + 1
        );
        mntr_becomes(*port, "global_sessions", 0).await;
    }

    // A silent local session expires on its server, writing nothing.
    let third = (lead + 2) % 3;
    let quiet = Session::open(e.peers[third].addr, 1000).await;
    let resume = quiet.resume_request();
    let before = settled_zxids(&e).await;
    drop(quiet);
    mntr_becomes(wire[third], "local_sessions", 0).await;
    let refused = Session::connect(e.peers[third].addr, resume)
        .await
        .err()
        .expect("expired");
    assert_eq!(status_zk_code(&refused), Some(code::SESSION_EXPIRED));
    assert_eq!(zxids(&e).await, before, "an expiry writes nothing");

    // Over ZooKeeper's protocol: a local session too, upgraded by its ephemeral.
    let c = within(
        "zookeeper client connects",
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(&wire[follower].to_string()),
    )
    .await
    .expect("connects");
    assert_eq!(mntr(wire[follower], "local_sessions").await, 1);
    assert_eq!(mntr(wire[follower], "global_sessions").await, 0);
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    c.create("/app/wire", b"", &eph).await.expect("ephemeral");
    let stat = c.check_stat("/app/wire").await.expect("exists");
    assert_eq!(stat.map(|s| s.ephemeral_owner), Some(c.session_id().0));
    assert_eq!(mntr(wire[follower], "local_sessions").await, 0);
    assert_eq!(mntr(wire[follower], "global_sessions").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_upgrading_an_ephemeral_is_ephemeral_on_local_session() {
    let (e, wire) = ensemble(false).await;
    let lead = leader(&e).await;
    let follower = (lead + 1) % 3;
    let mut s = Session::open(e.peers[follower].addr, LONG_TIMEOUT_MS).await;
    s.create_ok("/app", b"", Persistent).await;
    let before = settled_zxids(&e).await;
    let r = s.create("/app/lease", b"", Ephemeral).await;
    expect_err(&r, -120);
    let r = s
        .call(op::multi(vec![
            op::m::create("/app/x", b"", Persistent),
            op::m::create("/app/x/e", b"", Ephemeral),
        ]))
        .await;
    assert_eq!(r.error, -120, "{r:?}");
    assert_eq!(zxids(&e).await, before, "nothing written");
    assert!(s.stat("/app/x").await.is_none());
    assert_eq!(mntr(wire[follower], "local_sessions").await, 1);

    let c = within(
        "zookeeper client connects",
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(&wire[lead].to_string()),
    )
    .await
    .expect("connects");
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    let err = c.create("/app/wire", b"", &eph).await.expect_err("refused");
    assert!(
        matches!(err, zk::Error::UnexpectedErrorCode(-120)),
        "{err:?}"
    );
    assert_eq!(zxids(&e).await, before, "nothing written");
}

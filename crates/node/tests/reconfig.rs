//! Dynamic reconfiguration (ZooKeeper's `reconfig`, issue 19) on real `paddock` processes.
//!
//! An ensemble of 1, 2, 3 (`reconfigEnabled=true`, a super user) grows to 5 and shrinks back
//! to 3 while a client keeps creating znodes, then loses its leader to a reconfiguration:
//! - servers 4 and 5 start configured, as ZooKeeper's joining servers, with the ensemble plus
//!   themselves; they sync as non-voting followers until the change that adds them commits,
//!   then vote; once removed they go on as non-voting observers;
//! - each committed configuration is `/zookeeper/config` on every server (same data and
//!   version, the reconfiguration's zxid) and `dataDir/zoo.cfg.dynamic.<version>`;
//! - who votes is the configuration's: with 4 and 5 voting, two of the first three down still
//!   leave a quorum; once removed, 4 and 5 count for nothing;
//! - every acknowledged write is on every server afterwards, and no epoch had two leaders
//!   (every server's status polled every 50 ms);
//! - a restart of every server on its old zoo.cfg comes back in the last committed
//!   configuration;
//! - a removed leader steps down and the remaining voters elect a new one;
//! - errors: NOAUTH without the super user, BADVERSION for a stale version,
//!   NEWCONFIGNOQUORUM when the new voters are not synced (nothing changes), RECONFIGDISABLED
//!   on a server without `reconfigEnabled`.
//!
//! Every wait is bounded; processes are SIGKILLed and temp dirs removed when a test ends.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock_proto::v1 as pb;
use pb::request::Op;
use support::op::{add_auth, create, sync};
use support::*;

const CALL_LIMIT: Duration = Duration::from_secs(2);
const SETTLE: Duration = Duration::from_secs(20);
/// base64(sha1("super:secret")): `addauth digest super:secret` makes a session the super user.
const SUPER: &str = "superDigest=super:lK75jTNcA+U9vtVEw5vB51mj/w4=";

fn line(id: u64, p: &PeerPorts, role: &str) -> String {
    format!(
        "server.{id}=127.0.0.1:{}:{}:{role};127.0.0.1:{}",
        p.quorum, p.election, p.grpc
    )
}

/// zoo.cfg naming `members` (ids from 1 into `ports`).
fn cfg(ports: &[PeerPorts], members: &[u64], extra: &[&str]) -> String {
    let mut text =
        String::from("tickTime=100\ninitLimit=10\nsyncLimit=5\n4lw.commands.whitelist=*\n");
    for l in extra {
        text.push_str(l);
        text.push('\n');
    }
    for id in members {
        text.push_str(&line(*id, &ports[*id as usize - 1], "participant"));
        text.push('\n');
    }
    text
}

/// A new session on `addr`, retried while the server is between roles (bounded).
async fn open(addr: std::net::SocketAddr) -> Session {
    let deadline = Instant::now() + SETTLE;
    loop {
        let attempt = match try_channel(addr, CALL_LIMIT).await {
            Ok(channel) => Session::connect_on(channel, new_session(10_000))
                .await
                .map_err(|status| status.message().to_string()),
            Err(e) => Err(e),
        };
        match attempt {
            Ok(s) => return s,
            Err(why) => {
                assert!(Instant::now() < deadline, "{addr} refuses sessions: {why}");
                eprintln!("{addr} refuses a session for now: {why}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn super_session(addr: std::net::SocketAddr) -> Session {
    let mut s = open(addr).await;
    let r = s.call(add_auth("digest", "super:secret")).await;
    assert_eq!(r.error, 0, "{r:?}");
    s
}

fn reconfig(joining: Vec<String>, leaving: Vec<u64>, version: i64) -> Op {
    Op::Reconfig(pb::ReconfigRequest {
        joining_servers: joining,
        leaving_servers: leaving,
        new_members: Vec::new(),
        from_config_version: version,
    })
}

/// `/zookeeper/config` as `addr` serves it.
async fn config_of(addr: std::net::SocketAddr) -> String {
    let mut s = open(addr).await;
    let r = s
        .call(Op::GetConfig(pb::GetConfigRequest { watch: false }))
        .await;
    let Some(pb::response::Result::GetConfig(c)) = r.result else {
        panic!("getConfig: {r:?}");
    };
    String::from_utf8(c.data.to_vec()).expect("utf-8")
}

/// The configured ids in a config text.
fn ids_of(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("server."))
        .filter_map(|l| l.split('=').next()?.parse().ok())
        .collect()
}

/// Waits until every listed server serves `want` (same text everywhere).
async fn wait_config(peers: &[&Peer], want: &str) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let mut all = Vec::new();
        for p in peers {
            all.push(config_of(p.addr).await);
        }
        if all.iter().all(|c| c == want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "configurations never agreed on\n{want}\n: {all:#?}\n{}",
            log_tails(peers.iter().copied(), 30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `peers` serve with these modes ("leader" counts as "follower" for voters).
async fn wait_modes(peers: &[&Peer], voters: &[u64], observers: &[u64]) -> u64 {
    let deadline = Instant::now() + SETTLE;
    loop {
        let mut leaders = Vec::new();
        let mut ok = true;
        let mut seen = Vec::new();
        for p in peers {
            let st = p.status(CALL_LIMIT).await;
            let mode = st.as_ref().map(|s| s.mode.clone()).unwrap_or_default();
            let serving = st.as_ref().is_ok_and(|s| s.serving);
            if mode == "leader" {
                leaders.push(p.id);
            }
            let want_ok = if voters.contains(&p.id) {
                mode == "leader" || mode == "follower"
            } else if observers.contains(&p.id) {
                mode == "observer"
            } else {
                true
            };
            ok &= want_ok && serving;
            seen.push((p.id, mode, serving));
        }
        if ok && leaders.len() == 1 && voters.contains(&leaders[0]) {
            return leaders[0];
        }
        assert!(
            Instant::now() < deadline,
            "modes never settled (voters {voters:?}, observers {observers:?}): {seen:?}\n{}",
            log_tails(peers.iter().copied(), 40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A client creating `/w-N` through `addr` until stopped; returns the acknowledged paths.
fn writer(
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut s = open(addr).await;
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let path = format!("/w-{n}");
            n += 1;
            match tokio::time::timeout(
                CALL_LIMIT,
                s.try_call(create(&path, b"x", pb::CreateMode::Persistent)),
            )
            .await
            {
                Ok(Ok(r)) if r.error == 0 => acked.push(path),
                Ok(Ok(_)) | Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                Ok(Err(_)) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    s = open(addr).await;
                }
            }
        }
        acked
    })
}

/// Polls every server's status every 50 ms and records which served as leader in each epoch.
fn watch_leaders(
    addrs: Vec<std::net::SocketAddr>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<std::collections::BTreeMap<u64, std::collections::BTreeSet<u64>>> {
    tokio::spawn(async move {
        let mut seen: std::collections::BTreeMap<u64, std::collections::BTreeSet<u64>> =
            Default::default();
        while !stop.load(Ordering::Relaxed) {
            for a in &addrs {
                if let Ok(st) = try_status(*a, Duration::from_millis(300)).await {
                    if st.mode == "leader" && st.serving {
                        if let Some(epoch) = st.epoch {
                            seen.entry(epoch).or_default().insert(st.server_id);
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        seen
    })
}

async fn assert_present(peers: &[&Peer], paths: &[String]) {
    for p in peers {
        let mut s = open(p.addr).await;
        let r = s.call(sync("/")).await;
        assert_eq!(r.error, 0, "sync on {}: {r:?}", p.id);
        for path in paths {
            assert!(
                s.stat(path).await.is_some(),
                "{path} missing on server {}",
                p.id
            );
        }
    }
}

fn dynamic_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with("zoo.cfg.dynamic."))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grow_three_to_five_and_back_under_load_then_remove_the_leader() {
    let extra = ["reconfigEnabled=true", SUPER];
    let all_ports = peer_ports(5);
    let p4 = all_ports.clone();
    let mut e = LocalEnsemble::start_with(3, |_| cfg(&p4, &[1, 2, 3], &extra)).await;
    // The helper allocated its own ports: use the ensemble's for 1..3 and ours for 4 and 5.
    let mut ports = e.ports.clone();
    ports.extend_from_slice(&all_ports[3..]);
    // Restart 1..3 on a zoo.cfg whose lines carry their client addresses.
    let base = e.peers[0].config.parent().unwrap().to_path_buf();
    std::fs::write(&e.peers[0].config, cfg(&ports, &[1, 2, 3], &extra)).unwrap();
    for i in 0..3 {
        e.peers[i].kill();
        e.peers[i] = e.peers[i].restart();
    }
    e.wait_serving(&[0, 1, 2]).await;
    let static_config = config_of(e.peers[0].addr).await;
    assert_eq!(ids_of(&static_config), vec![1, 2, 3]);
    assert!(static_config.ends_with("version=0"), "{static_config}");

    // 4 and 5 join as ZooKeeper's do: the ensemble plus themselves.
    for id in [4u64, 5] {
        let path = base.join(format!("zoo{id}.cfg"));
        std::fs::write(&path, cfg(&ports, &[1, 2, 3, id], &extra)).unwrap();
        e.peers.push(Peer::spawn(
            id,
            &path,
            &base.join(id.to_string()),
            ports[id as usize - 1].grpc,
        ));
    }
    {
        // Until the change, 4 and 5 follow (ZooKeeper's non-voting followers): they count in
        // no quorum and can never lead.
        let peers: Vec<&Peer> = e.peers.iter().collect();
        let leader = wait_modes(&peers, &[1, 2, 3, 4, 5], &[]).await;
        assert!(leader <= 3, "a server outside the configuration leads");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let load = writer(e.peers[0].addr, stop.clone());
    let addrs: Vec<std::net::SocketAddr> = e.peers.iter().map(|p| p.addr).collect();
    let leaders = watch_leaders(addrs, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut admin = super_session(e.peers[0].addr).await;
    // Errors first: nothing changes.
    let mut plain = open(e.peers[1].addr).await;
    let joining = vec![
        line(4, &ports[3], "participant"),
        line(5, &ports[4], "participant"),
    ];
    let r = plain.call(reconfig(joining.clone(), vec![], -1)).await;
    assert_eq!(r.error, -102, "NOAUTH without the super user: {r:?}");
    let r = admin.call(reconfig(joining.clone(), vec![], 0x77)).await;
    assert_eq!(r.error, -103, "BADVERSION: {r:?}");
    let r = admin
        .call(Op::Reconfig(pb::ReconfigRequest {
            joining_servers: vec![],
            leaving_servers: vec![],
            new_members: vec![
                line(1, &ports[0], "participant"),
                "server.8=127.0.0.1:1:2:participant".into(),
                "server.9=127.0.0.1:3:4:participant".into(),
            ],
            from_config_version: -1,
        }))
        .await;
    assert_eq!(r.error, -13, "NEWCONFIGNOQUORUM: {r:?}");
    assert_eq!(config_of(e.peers[2].addr).await, static_config);

    // Grow to five.
    let r = admin.call(reconfig(joining, vec![], 0)).await;
    assert_eq!(r.error, 0, "{r:?}\n{}", log_tails(&e.peers, 30));
    let Some(pb::response::Result::Reconfig(grown)) = r.result else {
        panic!("{r:?}")
    };
    let grown = String::from_utf8(grown.data.to_vec()).unwrap();
    assert_eq!(ids_of(&grown), vec![1, 2, 3, 4, 5]);
    assert!(
        grown.ends_with(&format!("version={:x}", r.zxid)),
        "{grown} / {:x}",
        r.zxid
    );
    {
        let peers: Vec<&Peer> = e.peers.iter().collect();
        wait_config(&peers, &grown).await;
        wait_modes(&peers, &[1, 2, 3, 4, 5], &[]).await;
    }
    for p in &e.peers {
        assert!(
            dynamic_files(&p.data_dir).contains(&format!("zoo.cfg.dynamic.{:x}", r.zxid)),
            "server {}: {:?}",
            p.id,
            dynamic_files(&p.data_dir)
        );
    }
    // 4 and 5 vote: 2 and 3 down leave 1, 4, 5, a quorum of five.
    e.peers[1].kill();
    e.peers[2].kill();
    {
        let peers: Vec<&Peer> = [0, 3, 4].iter().map(|i| &e.peers[*i]).collect();
        wait_modes(&peers, &[1, 4, 5], &[]).await;
    }
    let mut s = open(e.peers[3].addr).await;
    let r = s
        .call(create("/with-4-and-5", b"", pb::CreateMode::Persistent))
        .await;
    assert_eq!(r.error, 0, "{r:?}");
    e.peers[1] = e.peers[1].restart();
    e.peers[2] = e.peers[2].restart();
    {
        let peers: Vec<&Peer> = e.peers.iter().collect();
        wait_modes(&peers, &[1, 2, 3, 4, 5], &[]).await;
    }
    // Every server restarted on its old zoo.cfg (1..3 list 1, 2, 3): the configuration in
    // force is the committed one, from the data dirs.
    for p in e.peers.iter_mut() {
        p.kill();
    }
    for i in 0..5 {
        e.peers[i] = e.peers[i].restart();
    }
    {
        let peers: Vec<&Peer> = e.peers.iter().collect();
        wait_config(&peers, &grown).await;
        wait_modes(&peers, &[1, 2, 3, 4, 5], &[]).await;
    }

    // Shrink back to three: 4 and 5 go on as non-voting observers.
    let mut admin = super_session(e.peers[0].addr).await;
    let r = admin.call(reconfig(vec![], vec![4, 5], -1)).await;
    assert_eq!(r.error, 0, "{r:?}\n{}", log_tails(&e.peers, 30));
    let Some(pb::response::Result::Reconfig(shrunk)) = r.result else {
        panic!("{r:?}")
    };
    let shrunk = String::from_utf8(shrunk.data.to_vec()).unwrap();
    assert_eq!(ids_of(&shrunk), vec![1, 2, 3]);
    {
        let peers: Vec<&Peer> = e.peers.iter().collect();
        wait_config(&peers, &shrunk).await;
        wait_modes(&peers, &[1, 2, 3], &[4, 5]).await;
    }
    stop.store(true, Ordering::Relaxed);
    let acked = load.await.expect("writer");
    let leaders = leaders.await.expect("leader watch");
    assert!(leaders.len() >= 2, "leader changes were seen: {leaders:?}");
    for (epoch, ids) in &leaders {
        assert_eq!(ids.len(), 1, "epoch {epoch} had leaders {ids:?}");
    }
    assert!(!acked.is_empty(), "the writer got nothing acknowledged");
    {
        let peers: Vec<&Peer> = e.peers.iter().collect();
        assert_present(&peers, &acked).await;
    }
    // 4 and 5 count for nothing now: without them, and without one of 1..3, writes go on.
    e.peers[3].kill();
    e.peers[4].kill();
    let leader = {
        let peers: Vec<&Peer> = e.peers[..3].iter().collect();
        wait_modes(&peers, &[1, 2, 3], &[]).await
    };

    // Remove the leader: the other two elect a new one.
    let rest: Vec<u64> = [1u64, 2, 3].into_iter().filter(|i| *i != leader).collect();
    let mut admin = super_session(e.peers[rest[0] as usize - 1].addr).await;
    let r = admin.call(reconfig(vec![], vec![leader], -1)).await;
    assert_eq!(r.error, 0, "{r:?}\n{}", log_tails(&e.peers[..3], 30));
    {
        let peers: Vec<&Peer> = e.peers[..3].iter().collect();
        let new = wait_modes(&peers, &rest, &[leader]).await;
        assert_ne!(new, leader);
    }
    let mut s = open(e.peers[rest[1] as usize - 1].addr).await;
    let r = s
        .call(create(
            "/after-the-leader-left",
            b"",
            pb::CreateMode::Persistent,
        ))
        .await;
    assert_eq!(r.error, 0, "{r:?}");
}

/// A client given one server and `follow_config` learns the others from `/zookeeper/config`:
/// when a reconfiguration removes its server it moves to one it only knew from there, keeping
/// its session and its ephemeral. Then the removed server is restarted: it finds the ensemble
/// again and observes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_following_the_configuration_leaves_a_removed_server() {
    use paddock_client::{Client, ClientOptions, CreateMode};
    let extra = ["reconfigEnabled=true", SUPER];
    let mut e = LocalEnsemble::start_with(3, |ports| cfg(ports, &[1, 2, 3], &extra)).await;
    let ports = e.ports.clone();
    // The zoo.cfg written for the ensemble's own ports carries their client addresses.
    std::fs::write(&e.peers[0].config, cfg(&ports, &[1, 2, 3], &extra)).unwrap();
    for i in 0..3 {
        e.peers[i].kill();
        e.peers[i] = e.peers[i].restart();
    }
    e.wait_serving(&[0, 1, 2]).await;
    let opts = ClientOptions {
        session_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        seed: Some(7),
        follow_config: true,
        ..ClientOptions::default()
    };
    let first = e.peers[0].addr.to_string();
    let client = within("connect", Client::connect(&first, opts))
        .await
        .expect("connect");
    let session = client.session_id();
    client
        .create("/mine", b"", CreateMode::Ephemeral)
        .await
        .expect("create");
    // Let the follower read the configuration (1, 2 and 3 with their client addresses).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut admin = super_session(e.peers[1].addr).await;
    let r = admin.call(reconfig(vec![], vec![1], -1)).await;
    assert_eq!(r.error, 0, "{r:?}\n{}", log_tails(&e.peers, 30));
    let deadline = Instant::now() + SETTLE;
    while client.server() == first {
        assert!(Instant::now() < deadline, "the client never left server 1");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(client.server(), first);
    assert_eq!(
        client.session_id(),
        session,
        "the session moved, it was not replaced"
    );
    let deadline = Instant::now() + SETTLE;
    loop {
        match client.exists("/mine").await {
            Ok(Some(_)) => break,
            other => {
                assert!(Instant::now() < deadline, "{other:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    client.close().await.expect("close");

    // Server 1, removed, observes; restarted, it observes again. Its address is in nobody's
    // configuration and its id is the lowest, so it must dial the others' election ports
    // itself (they dial only the lower ids they know).
    {
        let peers: Vec<&Peer> = e.peers.iter().collect();
        wait_modes(&peers, &[2, 3], &[1]).await;
    }
    e.peers[0].kill();
    e.peers[0] = e.peers[0].restart();
    let peers: Vec<&Peer> = e.peers.iter().collect();
    wait_modes(&peers, &[2, 3], &[1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfig_is_refused_when_disabled() {
    let e = LocalEnsemble::start(3, &["tickTime=100", "initLimit=10", "syncLimit=5", SUPER]).await;
    let mut admin = super_session(e.peers[0].addr).await;
    let r = admin.call(reconfig(vec![], vec![3], -1)).await;
    assert_eq!(r.error, -123, "RECONFIGDISABLED: {r:?}");
    assert_eq!(ids_of(&config_of(e.peers[1].addr).await), vec![1, 2, 3]);
}

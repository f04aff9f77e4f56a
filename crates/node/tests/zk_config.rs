//! `/zookeeper/config` and `getConfig` (ZooKeeper's ensemble configuration node) against the real
//! server: empty on a standalone server (as ZooKeeper 3.9 standalone), ZooKeeper's
//! `QuorumVerifier` text on every member of a 3-server ensemble, the same on each, whether read
//! with getData or getConfig; the node stays read-only for clients.
//!
//! Every wait is bounded; processes are killed and temp dirs removed when a test ends.

mod support;

use std::time::Duration;

use paddock_client::{Client, ClientOptions, ErrorCode};
use paddock_proto::v1 as pb;
use support::{LocalEnsemble, TestNode};

const WAIT: Duration = Duration::from_secs(20);

fn opts() -> ClientOptions {
    ClientOptions {
        session_timeout: Duration::from_secs(20),
        seed: Some(7),
        ..ClientOptions::default()
    }
}

async fn connect(addr: &str) -> Client {
    tokio::time::timeout(WAIT, Client::connect(addr, opts()))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// ZooKeeper 3.9 standalone never writes `/zookeeper/config`: it stays empty. getConfig answers
/// the same as getData; a write there is refused (BadArguments) and fires no watch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_config_is_empty_and_read_only() {
    let node = TestNode::start().await;
    let c = connect(&node.addr.to_string()).await;
    let (data, stat) = c.get_config().await.expect("getConfig");
    assert!(data.is_empty(), "standalone: {data:?}");
    assert_eq!(stat.data_length, 0);
    let (d2, s2) = c.get_data("/zookeeper/config").await.expect("getData");
    assert_eq!((d2.into_bytes(), s2), (data, stat));
    let (_, _, watch) = c.get_config_w().await.expect("getConfig with a watch");
    let err = c
        .set_data("/zookeeper/config", "server.9=x:1:2", -1)
        .await
        .expect_err("read-only");
    assert_eq!(err.code(), ErrorCode::BadArguments);
    let fired = tokio::time::timeout(Duration::from_millis(200), watch).await;
    assert!(fired.is_err(), "nothing changed: no event");

    // The raw proto: GetConfigRequest is answered with GetConfigResponse.
    let mut s = node.session().await;
    let r = s
        .call(pb::request::Op::GetConfig(pb::GetConfigRequest {
            watch: false,
        }))
        .await;
    match r.result {
        Some(pb::response::Result::GetConfig(g)) => {
            assert!(g.data.is_empty());
            assert!(g.stat.is_some());
        }
        other => panic!("expected a GetConfigResponse: {other:?}"),
    }
}

/// Three members, their zoo.cfg lines with a client (gRPC) address suffix: each answers
/// ZooKeeper's text, server lines in id order with their role and client address, then
/// `version=0`; the same bytes on every member.
#[tokio::test]
async fn every_member_of_an_ensemble_lists_all_three_the_same_way() {
    let mut expected = String::new();
    let e = LocalEnsemble::start_with(3, |ports| {
        let mut cfg = String::from("tickTime=100\ninitLimit=10\nsyncLimit=5\n");
        for (i, p) in ports.iter().enumerate() {
            let line = format!(
                "server.{}=127.0.0.1:{}:{}:participant;127.0.0.1:{}\n",
                i + 1,
                p.quorum,
                p.election,
                p.grpc
            );
            cfg.push_str(&line);
            expected.push_str(&line);
        }
        cfg
    })
    .await;
    expected.push_str("version=0");
    let peers = &e.peers;
    for p in peers {
        let c = connect(&p.addr.to_string()).await;
        let (data, stat) = c.get_config().await.expect("getConfig");
        assert_eq!(
            String::from_utf8_lossy(&data),
            expected,
            "member {} answers ZooKeeper's text",
            p.id
        );
        assert_eq!(stat.data_length as usize, expected.len());
        let (d2, _) = c.get_data("/zookeeper/config").await.expect("getData");
        assert_eq!(d2, data, "getData and getConfig agree on member {}", p.id);
        c.close().await.expect("close");
    }
}

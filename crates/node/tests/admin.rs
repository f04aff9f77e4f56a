//! `paddock.v1.Admin` over real gRPC against an in-process node: every four-letter word's shape,
//! the srvr block line by line, mntr keys, the whitelist (issue 4 item 4, DESIGN.md §9).

mod support;

use paddock_proto::v1 as pb;
use pb::admin_client::AdminClient;
use pb::CreateMode::{Ephemeral, Persistent};
use support::*;
use tonic::Code;

async fn admin(node: &TestNode) -> AdminClient<tonic::transport::Channel> {
    AdminClient::new(channel(node.addr).await)
}

async fn run(
    c: &mut AdminClient<tonic::transport::Channel>,
    word: &str,
) -> Result<String, tonic::Status> {
    within(
        word,
        c.run_command(pb::CommandRequest {
            command: word.into(),
        }),
    )
    .await
    .map(|r| r.into_inner().output)
}

async fn all_words() -> TestNode {
    TestNode::start_with(|c| c.four_letter_words = vec!["*".into()]).await
}

/// `Name: value` lines in order.
fn fields(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| {
            let (k, v) = l
                .split_once(": ")
                .unwrap_or_else(|| panic!("not `Name: value`: {l:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srvr_prints_zookeepers_block_with_live_values() {
    let node = TestNode::start().await; // default whitelist: srvr only
    let mut s = node.session().await;
    s.create("/a", b"x", Persistent).await;
    s.create("/e", b"", Ephemeral).await;
    let zxid = s.ping().await.zxid;
    let mut c = admin(&node).await;
    let out = run(&mut c, "srvr")
        .await
        .expect("srvr is whitelisted by default");
    assert!(out.ends_with('\n'));
    let f = fields(&out);
    let names: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "Zookeeper version",
            "Latency min/avg/max",
            "Received",
            "Sent",
            "Connections",
            "Outstanding",
            "Zxid",
            "Mode",
            "Node count"
        ]
    );
    assert!(f[0].1.starts_with("3.9.0-paddock-"), "{}", f[0].1);
    let lat: Vec<&str> = f[1].1.split('/').collect();
    assert_eq!(lat.len(), 3);
    let (min, avg, max): (u64, f64, u64) = (
        lat[0].parse().unwrap(),
        lat[1].parse().unwrap(),
        lat[2].parse().unwrap(),
    );
    assert!(
        min as f64 <= avg + 1.0 && avg <= max as f64 + 1.0,
        "{min}/{avg}/{max}"
    );
    let received: u64 = f[2].1.parse().unwrap();
    let sent: u64 = f[3].1.parse().unwrap();
    assert!(received >= 3 && sent >= 3, "{received} {sent}");
    assert_eq!(f[4].1, "1", "one session attached");
    assert_eq!(f[5].1, "0");
    assert_eq!(f[6].1, format!("0x{zxid:x}"));
    assert_eq!(f[7].1, "standalone");
    let nodes: u64 = f[8].1.parse().unwrap();
    assert!(nodes >= 4, "/, /zookeeper..., /a, /e: {nodes}");

    // Structured status agrees; ensemble fields are unset on a standalone server.
    let st = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(st.serving);
    assert_eq!(st.mode, "standalone");
    assert_eq!(st.last_zxid, zxid as u64);
    assert_eq!(
        (st.epoch, st.leader_id, st.synced_followers),
        (None, None, None)
    );
    assert_eq!(st.ephemerals_count, 1);
    assert_eq!(st.connections, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_outside_the_whitelist_are_refused() {
    let node = TestNode::start().await;
    let mut c = admin(&node).await;
    for word in [
        "ruok", "stat", "mntr", "conf", "cons", "wchs", "envi", "isro",
    ] {
        let err = run(&mut c, word).await.expect_err(word);
        assert_eq!(err.code(), Code::PermissionDenied, "{word}: {err:?}");
        assert!(err.message().contains("whitelist"), "{}", err.message());
    }
    let err = run(&mut c, "kill").await.expect_err("unknown");
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_word_has_zookeepers_shape() {
    let node = all_words().await;
    let mut s = node.session().await;
    s.create("/w", b"", Persistent).await;
    s.stat("/w").await; // no watch: shape only
    let mut c = admin(&node).await;

    assert_eq!(run(&mut c, "ruok").await.unwrap(), "imok");
    assert_eq!(run(&mut c, "isro").await.unwrap(), "rw");

    let mntr = run(&mut c, "mntr").await.unwrap();
    let keys: Vec<&str> = mntr
        .lines()
        .map(|l| {
            l.split_once('\t')
                .unwrap_or_else(|| panic!("not tab-separated: {l:?}"))
                .0
        })
        .collect();
    for k in [
        "zk_version",
        "zk_avg_latency",
        "zk_max_latency",
        "zk_min_latency",
        "zk_packets_received",
        "zk_packets_sent",
        "zk_num_alive_connections",
        "zk_outstanding_requests",
        "zk_server_state",
        "zk_znode_count",
        "zk_watch_count",
        "zk_ephemerals_count",
        "zk_approximate_data_size",
        "zk_open_file_descriptor_count",
        "zk_max_file_descriptor_count",
        "zk_uptime",
    ] {
        assert!(keys.contains(&k), "{k} missing from\n{mntr}");
    }
    assert!(mntr.contains("zk_server_state\tstandalone\n"));
    assert!(
        !mntr.contains("zk_peer_state"),
        "a standalone server has no peer state"
    );

    let stat = run(&mut c, "stat").await.unwrap();
    let lines: Vec<&str> = stat.lines().collect();
    assert!(lines[0].starts_with("Zookeeper version: "));
    assert_eq!(lines[1], "Clients:");
    assert!(
        lines[2].starts_with(" /127.0.0.1:") && lines[2].contains("](queued="),
        "{stat}"
    );
    assert!(stat.contains("\nMode: standalone\nNode count: "));

    let cons = run(&mut c, "cons").await.unwrap();
    assert!(
        cons.starts_with(" /127.0.0.1:") && cons.contains(",sid=0x"),
        "{cons}"
    );
    // The session's create and stat were counted on its connection, with their answers.
    let count = |key: &str| -> u64 {
        let from = cons.find(key).unwrap_or_else(|| panic!("{key} in {cons}")) + key.len();
        cons[from..]
            .split(|ch: char| !ch.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{key} number in {cons}"))
    };
    assert!(count("recved=") >= 2, "{cons}");
    assert!(count("sent=") >= 2, "{cons}");

    let conf = run(&mut c, "conf").await.unwrap();
    for k in [
        "clientPort=",
        "dataDir=",
        "tickTime=",
        "maxClientCnxns=",
        "minSessionTimeout=",
        "maxSessionTimeout=",
        "serverId=1",
    ] {
        assert!(
            conf.lines().any(|l| l.starts_with(k)),
            "{k} missing from\n{conf}"
        );
    }
    // ZooKeeper's protocol is off in tests (clientPort=0); the gRPC port is Paddock's own line.
    assert!(conf.contains("clientPort=0\n"), "{conf}");
    assert!(conf.contains(&format!("grpcPort={}\n", node.addr.port())));

    let wchs = run(&mut c, "wchs").await.unwrap();
    let wl: Vec<&str> = wchs.lines().collect();
    assert!(
        wl[0].ends_with(" paths") && wl[0].contains(" connections watching "),
        "{wchs}"
    );
    assert!(wl[1].starts_with("Total watches:"), "{wchs}");

    let envi = run(&mut c, "envi").await.unwrap();
    assert!(
        envi.starts_with("Environment:\nzookeeper.version=3.9.0-paddock-"),
        "{envi}"
    );
}

/// `dump`, `hash` and the trace mask over gRPC: the same text as on the client port
/// (`stmk`'s mask after a space here, since a gRPC command is text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_hash_and_the_trace_mask_over_grpc() {
    let node = all_words().await;
    let mut s = node.session().await;
    s.create("/mine", b"", Ephemeral).await;
    let mut c = admin(&node).await;
    let dump = run(&mut c, "dump").await.unwrap();
    let id = format!("0x{:x}", s.id);
    assert!(
        dump.starts_with("SessionTracker dump:\nSession Sets (1)/(1):\n"),
        "{dump}"
    );
    assert!(
        dump.contains(&format!("Sessions with Ephemerals (1):\n{id}:\n\t/mine\n")),
        "{dump}"
    );
    let hash = run(&mut c, "hash").await.unwrap();
    let zxid = s.ping().await.zxid;
    assert!(
        hash.starts_with(&format!("{zxid:x}: ")),
        "{hash} at {zxid:x}"
    );
    assert_eq!(run(&mut c, "gtmk").await.unwrap(), "306");
    assert_eq!(run(&mut c, "stmk 0x20").await.unwrap(), "32");
    assert_eq!(run(&mut c, "gtmk").await.unwrap(), "32");
    assert_eq!(
        run(&mut c, "stmk").await.expect_err("no mask").code(),
        Code::InvalidArgument
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_says_it_is_not_serving() {
    let node = all_words().await;
    let mut c = admin(&node).await;
    node.node().server.shutdown().await;
    let not = "This ZooKeeper instance is not currently serving requests\n";
    assert_eq!(run(&mut c, "srvr").await.unwrap(), not);
    assert_eq!(run(&mut c, "mntr").await.unwrap(), not);
    assert_eq!(run(&mut c, "isro").await.unwrap(), "null");
    assert_eq!(run(&mut c, "ruok").await.unwrap(), "imok");
    let st = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!st.serving);
}

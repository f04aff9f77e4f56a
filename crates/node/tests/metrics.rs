//! Prometheus `GET /metrics` on `metricsProvider.httpPort` (DESIGN.md §9): an in-process node with
//! port 0, a few gRPC requests, then scrapes over a plain TCP connection.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;

use paddock_proto::v1 as pb;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `request` raw and returns (status line, headers+body as text).
async fn http(addr: SocketAddr, request: &str) -> (String, String) {
    within("metrics request", async {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(request.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.expect("read");
        let text = String::from_utf8(out).expect("utf-8");
        let (status, rest) = text.split_once("\r\n").expect("a status line");
        (status.to_string(), rest.to_string())
    })
    .await
}

async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    http(
        addr,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        ),
    )
    .await
}

/// `name value` samples (labels kept in the name), and the `# TYPE` of each sample, checked
/// as the Prometheus text format (0.0.4) wants: every sample belongs to the family of the
/// `# TYPE` line before it (a histogram's `_sum`, `_count` and `_bucket` samples included),
/// every family is declared once, every value is a number.
fn parse(body: &str) -> (HashMap<String, f64>, HashMap<String, String>) {
    let mut values = HashMap::new();
    let mut types = HashMap::new();
    let mut family: Option<(String, String)> = None;
    let mut declared = std::collections::HashSet::new();
    for line in body.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            let (name, kind) = t.split_once(' ').expect("`# TYPE name kind`");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(declared.insert(name.to_string()), "{name} declared twice");
            family = Some((name.to_string(), kind.to_string()));
        } else if !line.starts_with('#') && !line.is_empty() {
            let (sample, value) = line.rsplit_once(' ').expect("`name value`");
            let v: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("not a number: {line:?}")),
            };
            let name = sample.split('{').next().expect("a name");
            let (fam, kind) = family.as_ref().expect("a # TYPE before the first sample");
            let suffix = name.strip_prefix(fam.as_str());
            let belongs = match kind.as_str() {
                "histogram" => matches!(suffix, Some("_sum" | "_count" | "_bucket")),
                _ => suffix == Some(""),
            };
            assert!(belongs, "{sample} is not a sample of {kind} {fam}");
            types.insert(name.to_string(), kind.clone());
            values.insert(sample.to_string(), v);
        }
    }
    (values, types)
}

fn body_of(rest: &str) -> &str {
    rest.split_once("\r\n\r\n").expect("end of headers").1
}

/// Every sample a standalone server exported before `/metrics` moved to prometheus-client: the
/// names must not change (dashboards and alerts use them).
pub const STANDALONE_NAMES: &[&str] = &[
    "znode_count",
    "watch_count",
    "ephemerals_count",
    "approximate_data_size",
    "outstanding_requests",
    "num_alive_connections",
    "packets_received",
    "packets_sent",
    "avg_latency",
    "min_latency",
    "max_latency",
    "quorum_size",
    "global_sessions",
    "local_sessions",
    "open_file_descriptor_count",
    "max_file_descriptor_count",
    "paddock_serving",
    "paddock_server_id",
    "paddock_last_zxid",
    "paddock_watched_paths",
    "paddock_fsync_batches_total",
    "paddock_log_synced_records_total",
    "paddock_log_sync_seconds_sum",
    "paddock_log_sync_seconds_count",
    "paddock_log_sync_max_seconds",
    "paddock_commit_latency_seconds_sum",
    "paddock_commit_latency_seconds_count",
    "paddock_commit_latency_max_seconds",
    "paddock_snapshots_total",
    "paddock_request_latency_seconds_sum",
    "paddock_request_latency_seconds_count",
    "paddock_mode_info{mode=\"standalone\"}",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_serves_zookeeper_names() {
    let mut node = TestNode::start_with(|c| c.metrics_port = Some(0)).await;
    let addr = node.node().metrics_addr.expect("metrics are on");
    assert_ne!(addr.port(), 0);

    let mut s = node.session().await;
    s.mkdir("/m").await;
    s.create_ok("/m/a", b"hello", pb::CreateMode::Persistent)
        .await;
    s.create_ok("/m/e", b"", pb::CreateMode::Ephemeral).await;
    s.stat("/m/a").await;
    s.data("/m/a").await;

    let (status, rest) = get(addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{rest}");
    assert!(
        rest.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{rest}"
    );
    let body = body_of(&rest);
    let (v, types) = parse(body);
    for name in STANDALONE_NAMES {
        assert!(v.contains_key(*name), "{name} missing from:\n{body}");
        let bare = name.split('{').next().unwrap_or(name);
        assert!(types.contains_key(bare), "no # TYPE for {name}:\n{body}");
    }
    assert_eq!(types["paddock_fsync_batches_total"], "counter");
    assert_eq!(types["znode_count"], "gauge");
    // `/`, `/zookeeper`, `/zookeeper/quota`, ... plus the three created here.
    assert!(v["znode_count"] >= 4.0, "{body}");
    assert_eq!(v["ephemerals_count"], 1.0, "{body}");
    assert!(v["packets_received"] >= 5.0, "{body}");
    assert!(v["packets_sent"] >= 5.0, "{body}");
    assert!(v["paddock_fsync_batches_total"] >= 1.0, "{body}");
    assert!(v["paddock_last_zxid"] >= 3.0, "{body}");
    assert!(v["approximate_data_size"] >= 5.0, "{body}");
    assert_eq!(v["quorum_size"], 1.0);
    assert_eq!(v["global_sessions"], 1.0);
    assert_eq!(v["num_alive_connections"], 1.0);
    assert_eq!(v["paddock_serving"], 1.0);
    assert!(v["max_latency"] >= v["min_latency"]);
    assert!(
        body.contains("paddock_mode_info{mode=\"standalone\"} 1"),
        "{body}"
    );

    // Values move: another write shows up in the next scrape.
    let before = v["znode_count"];
    s.mkdir("/m/b").await;
    let (_, rest) = get(addr, "/metrics?x=1").await;
    let (v2, _) = parse(body_of(&rest));
    assert_eq!(v2["znode_count"], before + 1.0);
    assert!(v2["packets_received"] > v["packets_received"]);

    // Other paths and methods.
    let (status, _) = get(addr, "/").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _) = get(addr, "/metricsx").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _) = http(
        addr,
        "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    let (status, rest) = http(addr, "HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body_of(&rest), "", "HEAD has no body");
    let (status, _) = http(addr, "garbage\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 400 Bad Request");

    node.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the metrics port is closed after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unset_means_no_listener() {
    let mut node = TestNode::start().await;
    assert_eq!(node.node().metrics_addr, None);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_failure_names_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(dir.path());
    config.metrics_port = Some(port);
    let err = match paddock_node::start(&config, paddock_types::ServerId(1)).await {
        Ok(_) => panic!("start must fail when the metrics port is taken"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("metricsProvider.httpPort"), "{err}");
}

/// In an ensemble the txn log is written by the quorum peer, not the processor's sync stage:
/// its group commits are what `paddock_fsync_batches_total` counts there, the `paddock_log_*`
/// metrics describe them, and `paddock_commit_latency_*` the time from logging to applying, on
/// every server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ensemble_server_exports_its_txn_log_group_commits() {
    let ports = peer_ports(3);
    let dirs: Vec<tempfile::TempDir> = (0..3)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let mut servers = std::collections::BTreeMap::new();
    for (i, p) in ports.iter().enumerate() {
        let id = paddock_types::ServerId(i as u64 + 1);
        servers.insert(
            id,
            paddock_types::ServerSpec {
                id,
                host: "127.0.0.1".into(),
                quorum_port: p.quorum,
                election_port: p.election,
                observer: false,
                client_addr: None,
            },
        );
    }
    let mut nodes = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let mut config = test_config(dir.path());
        config.servers = servers.clone();
        config.metrics_port = Some(0);
        config.grpc_port = ports[i].grpc;
        let node = within(
            "ensemble node start",
            paddock_node::start(&config, paddock_types::ServerId(i as u64 + 1)),
        )
        .await
        .expect("the node starts");
        nodes.push(node);
    }
    let metrics: Vec<SocketAddr> = nodes
        .iter()
        .map(|n| n.metrics_addr.expect("metrics are on"))
        .collect();
    let scrape = |addr: SocketAddr| async move {
        let (_, rest) = get(addr, "/metrics").await;
        let body = body_of(&rest).to_string();
        let (v, types) = parse(&body);
        (v, types, body)
    };
    within("every server serves", async {
        loop {
            let mut serving = 0;
            for &m in &metrics {
                if scrape(m).await.0.get("paddock_serving") == Some(&1.0) {
                    serving += 1;
                }
            }
            if serving == 3 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;

    let mut s = Session::open(nodes[0].grpc_addr, LONG_TIMEOUT_MS).await;
    s.create_ok("/logged", b"x", pb::CreateMode::Persistent)
        .await;
    // Every server has logged the session's creation and the create by now or soon.
    for &m in &metrics {
        within("the writes logged on every server", async {
            loop {
                let (v, types, body) = scrape(m).await;
                for (name, kind) in [
                    ("paddock_log_synced_records_total", "counter"),
                    // Sums with their count: histograms with the one +Inf bucket.
                    ("paddock_log_sync_seconds_sum", "histogram"),
                    ("paddock_log_sync_seconds_count", "histogram"),
                    ("paddock_log_sync_max_seconds", "gauge"),
                    ("paddock_commit_latency_seconds_sum", "histogram"),
                    ("paddock_commit_latency_seconds_count", "histogram"),
                    ("paddock_commit_latency_max_seconds", "gauge"),
                ] {
                    assert_eq!(
                        types.get(name).map(String::as_str),
                        Some(kind),
                        "{name}:\n{body}"
                    );
                }
                // Both writes logged and applied here (the commit latency counts applied ones).
                if v["paddock_log_synced_records_total"] >= 2.0
                    && v["paddock_commit_latency_seconds_count"] >= 2.0
                {
                    assert!(v["paddock_fsync_batches_total"] >= 1.0, "{body}");
                    assert_eq!(
                        v["paddock_log_sync_seconds_count"], v["paddock_fsync_batches_total"],
                        "{body}"
                    );
                    assert!(
                        v["paddock_log_synced_records_total"] >= v["paddock_fsync_batches_total"],
                        "every group commit makes at least one record durable:\n{body}"
                    );
                    assert!(
                        v["paddock_log_sync_seconds_sum"] >= v["paddock_log_sync_max_seconds"],
                        "{body}"
                    );
                    assert!(
                        v["paddock_commit_latency_seconds_sum"]
                            >= v["paddock_commit_latency_max_seconds"],
                        "{body}"
                    );
                    assert!(v["paddock_commit_latency_max_seconds"] > 0.0, "{body}");
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await;
    }
    // The leader, and only the leader, reports the sizes of what it proposed.
    let mut leaders = 0;
    for &m in &metrics {
        let (v, _, body) = scrape(m).await;
        if let Some(&last) = v.get("last_proposal_size") {
            leaders += 1;
            assert!(last > 0.0, "{body}");
            assert!(v["max_proposal_size"] >= v["min_proposal_size"], "{body}");
        }
    }
    assert_eq!(leaders, 1, "one leader proposed");
    drop(s);
    for n in nodes {
        n.shutdown().await;
    }
}

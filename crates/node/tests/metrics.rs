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
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n"),
    )
    .await
}

/// `name value` samples (comments skipped), and the `# TYPE` of each.
fn parse(body: &str) -> (HashMap<String, f64>, HashMap<String, String>) {
    let mut values = HashMap::new();
    let mut types = HashMap::new();
    for line in body.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            let (name, kind) = t.split_once(' ').expect("`# TYPE name kind`");
            types.insert(name.to_string(), kind.to_string());
        } else if !line.starts_with('#') && !line.is_empty() {
            let (name, value) = line.rsplit_once(' ').expect("`name value`");
            let v: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("not a number: {line:?}"));
            values.insert(name.to_string(), v);
        }
    }
    (values, types)
}

fn body_of(rest: &str) -> &str {
    rest.split_once("\r\n\r\n").expect("end of headers").1
}

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
    for name in [
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
        "paddock_fsync_batches_total",
        "paddock_snapshots_total",
        "paddock_last_zxid",
        "paddock_serving",
    ] {
        assert!(v.contains_key(name), "{name} missing from:\n{body}");
        assert!(types.contains_key(name), "no # TYPE for {name}:\n{body}");
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
    let (status, _) = http(addr, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    let (status, rest) = http(addr, "HEAD /metrics HTTP/1.1\r\n\r\n").await;
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

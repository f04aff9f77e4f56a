//! The HTTP admin API (ZooKeeper's AdminServer: `admin.serverPort`, `/commands/<name>` as
//! JSON) and `/metrics` on the same listener (issue 19 item 4): an in-process standalone node on
//! port 0, a 3-server ensemble of real processes on free ports, and a real Prometheus scraping
//! a node. Requests are plain HTTP/1.1 over TCP, `Connection: close`.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use paddock_proto::v1 as pb;
use serde_json::Value;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET path`: (status code, headers, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    within("HTTP request", async {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.expect("read");
        let text = String::from_utf8(out).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("end of headers");
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("a status line: {head}"));
        (status, head.to_ascii_lowercase(), body.to_string())
    })
    .await
}

/// `GET /commands/<name>`: the status and the JSON, which always carries `command` and `error`.
async fn command(addr: SocketAddr, name: &str) -> (u16, Value) {
    let (status, head, body) = get(addr, &format!("/commands/{name}")).await;
    assert!(head.contains("content-type: application/json"), "{head}");
    let json: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert!(json.get("command").is_some(), "no command field: {json}");
    assert!(json.get("error").is_some(), "no error field: {json}");
    (status, json)
}

/// A command that must succeed: its JSON, `error` null, `command` its primary name.
async fn ok(addr: SocketAddr, name: &str, primary: &str) -> Value {
    let (status, json) = command(addr, name).await;
    assert_eq!(status, 200, "{name}: {json}");
    assert_eq!(json["error"], Value::Null, "{name}: {json}");
    assert_eq!(json["command"], primary, "{name}: {json}");
    json
}

fn has(json: &Value, fields: &[&str]) {
    for f in fields {
        assert!(json.get(f).is_some(), "{f} missing from {json}");
    }
}

async fn admin_node() -> TestNode {
    TestNode::start_with(|c| {
        c.admin_enabled = true;
        c.admin_port = Some(0);
        c.admin_address = "127.0.0.1".into();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_commands_answer_zookeepers_json() {
    let node = admin_node().await;
    let addr = node.node().admin_addr.expect("the admin server listens");
    let mut s = node.session().await;
    s.mkdir("/h").await;
    s.create_ok("/h/e", b"", pb::CreateMode::Ephemeral).await;
    s.call(op::get_data("/h", true)).await; // a data watch
    let session = s.id;

    // The command page links every command; the four-letter whitelist does not apply here.
    let (status, head, page) = get(addr, "/commands").await;
    assert_eq!(status, 200);
    assert!(head.contains("text/html"), "{head}");
    for name in ["server_stats", "monitor", "dump", "watch_summary", "ruok"] {
        assert!(
            page.contains(&format!("<a href=\"/commands/{name}\">{name}</a>")),
            "{page}"
        );
    }

    ok(addr, "ruok", "ruok").await;
    let srvr = ok(addr, "srvr", "server_stats").await;
    has(
        &srvr,
        &[
            "version",
            "read_only",
            "server_stats",
            "client_response",
            "node_count",
        ],
    );
    has(
        &srvr["server_stats"],
        &[
            "packets_sent",
            "packets_received",
            "max_latency",
            "min_latency",
            "avg_latency",
            "outstanding_requests",
            "last_processed_zxid",
            "server_state",
            "num_alive_client_connections",
            "data_dir_size",
            "log_dir_size",
            "uptime",
        ],
    );
    assert_eq!(srvr["server_stats"]["server_state"], "standalone");
    assert_eq!(srvr["read_only"], false);
    assert!(
        srvr["node_count"].as_u64().expect("a number") >= 5,
        "{srvr}"
    );
    assert!(srvr["version"]
        .as_str()
        .expect("text")
        .starts_with("3.9.0-paddock-"));
    ok(addr, "server_stats", "server_stats").await;

    let stat = ok(addr, "stat", "stats").await;
    let conns = stat["connections"].as_array().expect("a list");
    assert_eq!(conns.len(), 1, "{stat}");
    has(
        &conns[0],
        &["remote_socket_address", "packets_received", "packets_sent"],
    );

    let mntr = ok(addr, "mntr", "monitor").await;
    has(
        &mntr,
        &[
            "version",
            "avg_latency",
            "znode_count",
            "watch_count",
            "ephemerals_count",
            "global_sessions",
            "local_sessions",
            "uptime",
        ],
    );
    assert_eq!(mntr["server_state"], "standalone");
    assert_eq!(mntr["ephemerals_count"], 1);
    assert_eq!(mntr["watch_count"], 1);

    let conf = ok(addr, "conf", "configuration").await;
    has(
        &conf,
        &[
            "client_port",
            "data_dir",
            "tick_time",
            "max_client_cnxns",
            "min_session_timeout",
            "max_session_timeout",
            "server_id",
        ],
    );
    assert_eq!(conf["server_id"], 1);
    ok(addr, "configuration", "configuration").await;

    let cons = ok(addr, "cons", "connections").await;
    let c0 = &cons["connections"][0];
    assert_eq!(c0["session_id"], format!("0x{session:x}"), "{cons}");
    assert!(cons["secure_connections"].is_array());

    let envi = ok(addr, "envi", "environment").await;
    assert!(envi["zookeeper.version"]
        .as_str()
        .expect("text")
        .starts_with("3.9.0-paddock-"));
    has(&envi, &["host.name", "os.name", "user.dir"]);

    let wchs = ok(addr, "wchs", "watch_summary").await;
    assert_eq!(wchs["num_connections"], 1);
    assert_eq!(wchs["num_paths"], 1);
    assert_eq!(wchs["num_total_watches"], 1);
    let wchc = ok(addr, "wchc", "watches").await;
    assert_eq!(
        wchc["session_id_to_watched_paths"][session.to_string()],
        serde_json::json!(["/h"])
    );
    let wchp = ok(addr, "wchp", "watches_by_path").await;
    assert_eq!(
        wchp["path_to_session_ids"]["/h"],
        serde_json::json!([session])
    );

    let dump = ok(addr, "dump", "dump").await;
    assert_eq!(
        dump["session_id_to_ephemeral_paths"][session.to_string()],
        serde_json::json!(["/h/e"])
    );
    let expiry = dump["expiry_time_to_session_ids"]
        .as_object()
        .expect("a map");
    assert!(
        expiry
            .values()
            .any(|ids| ids.as_array().is_some_and(|a| a.contains(&session.into()))),
        "{dump}"
    );

    let dirs = ok(addr, "dirs", "dirs").await;
    assert!(dirs["datadir_size"].as_u64().is_some() && dirs["logdir_size"].as_u64().is_some());
    assert_eq!(ok(addr, "isro", "is_read_only").await["read_only"], false);

    // Paddock keeps no digest history: the one entry is the digest now.
    let hash = ok(addr, "hash", "hash").await;
    let digests = hash["digests"].as_array().expect("a list");
    assert_eq!(digests.len(), 1, "{hash}");
    has(&digests[0], &["zxid", "digest"]);
    assert!(digests[0]["zxid"].as_u64().expect("a number") > 0);

    let lsnp = ok(addr, "last_snapshot", "last_snapshot").await;
    has(&lsnp, &["zxid", "timestamp"]);

    assert_eq!(ok(addr, "gtmk", "get_trace_mask").await["tracemask"], 306);
    assert_eq!(
        ok(addr, "stmk?traceMask=12", "set_trace_mask").await["tracemask"],
        12
    );
    assert_eq!(
        ok(addr, "get_trace_mask", "get_trace_mask").await["tracemask"],
        12
    );
    let (status, bad) = command(addr, "stmk?traceMask=x").await;
    assert_eq!(status, 200);
    assert!(bad["error"]
        .as_str()
        .expect("an error")
        .contains("traceMask"));

    // A standalone server has no leader and no voting view, as ZooKeeper's.
    let (_, lead) = command(addr, "leader").await;
    assert_eq!(lead["error"], "server is not initialized");
    let vv = ok(addr, "voting_view", "voting_view").await;
    assert_eq!(vv["current_config"], serde_json::json!({}));

    // Resets.
    ok(addr, "srst", "stat_reset").await;
    ok(addr, "crst", "connection_stat_reset").await;

    // Unknown: 404 with ZooKeeper's two fields.
    let (status, unknown) = command(addr, "nope").await;
    assert_eq!(status, 404);
    assert_eq!(unknown["command"], "nope");
    assert_eq!(unknown["error"], "Unknown command: nope");

    // /metrics on the same listener, with the same names as before.
    let (status, head, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    for name in [
        "znode_count",
        "paddock_fsync_batches_total",
        "paddock_request_latency_seconds_count",
        "paddock_mode_info{mode=\"standalone\"}",
    ] {
        assert!(
            body.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name} missing from:\n{body}"
        );
    }
    let (status, _, _) = get(addr, "/elsewhere").await;
    assert_eq!(status, 404);

    // Not serving: the commands that need a server say so (200, as ZooKeeper); the others answer.
    node.node().server.shutdown().await;
    let (status, srvr) = command(addr, "srvr").await;
    assert_eq!(status, 200);
    assert_eq!(
        srvr["error"],
        "This ZooKeeper instance is not currently serving requests"
    );
    ok(addr, "envi", "environment").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_or_unbindable_admin_server_does_not_listen() {
    // Tests' default (admin.enableServer=false).
    let mut node = TestNode::start().await;
    assert_eq!(node.node().admin_addr, None);
    node.stop().await;
    // admin.serverPort=0.
    let mut node = TestNode::start_with(|c| {
        c.admin_enabled = true;
        c.set("admin.serverPort", "0").expect("a port");
    })
    .await;
    assert_eq!(node.node().admin_addr, None);
    node.stop().await;
    // A taken port: ZooKeeper logs the problem and serves without its admin server.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let mut node = TestNode::start_with(|c| {
        c.admin_enabled = true;
        c.admin_address = "127.0.0.1".into();
        c.admin_port = Some(port);
    })
    .await;
    assert_eq!(node.node().admin_addr, None);
    node.session().await.mkdir("/still-serving").await;
    node.stop().await;
    // And once stopped, a node's admin port is closed.
    let mut node = admin_node().await;
    let addr = node.node().admin_addr.expect("listens");
    node.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_url_is_configurable() {
    let node = TestNode::start_with(|c| {
        c.admin_enabled = true;
        c.admin_port = Some(0);
        c.admin_address = "127.0.0.1".into();
        c.set("admin.commandURL", "/zk/admin/").expect("a path");
    })
    .await;
    let addr = node.node().admin_addr.expect("listens");
    let (status, _, body) = get(addr, "/zk/admin/ruok").await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = get(addr, "/commands/ruok").await;
    assert_eq!(status, 404);
}

/// A 3-server ensemble of real `paddock` processes, each with `--admin-port` on a free port:
/// one leader, two followers, the same voting view everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ensemble_member_answers_with_its_role() {
    let admin_ports = free_ports(3);
    let ensemble = LocalEnsemble::start_with_args(
        3,
        |ports| ensemble_cfg(ports, &["tickTime=100", "initLimit=10", "syncLimit=5"]),
        |i| vec!["--admin-port".into(), admin_ports[i].to_string()],
    )
    .await;
    let addrs: Vec<SocketAddr> = admin_ports
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    // The admin server is up shortly after the member serves.
    for &a in &addrs {
        within("the admin server answers", async {
            loop {
                if tokio::net::TcpStream::connect(a).await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
    let mut states = Vec::new();
    let mut leaders = Vec::new();
    for (i, &a) in addrs.iter().enumerate() {
        let srvr = ok(a, "srvr", "server_stats").await;
        let state = srvr["server_stats"]["server_state"]
            .as_str()
            .expect("text")
            .to_string();
        let lead = ok(a, "leader", "leader").await;
        if state == "leader" {
            assert_eq!(lead["is_leader"], true);
            assert!(srvr.get("proposal_stats").is_some(), "{srvr}");
        }
        leaders.push(lead["leader_id"].as_i64().expect("a number"));
        let mntr = ok(a, "mntr", "monitor").await;
        assert_eq!(mntr["quorum_size"], 3, "{mntr}");
        assert_eq!(mntr["server_state"], state.as_str());
        let conf = ok(a, "conf", "configuration").await;
        assert_eq!(conf["server_id"], i as u64 + 1);
        let vv = ok(a, "voting_view", "voting_view").await;
        let view = vv["current_config"].as_object().expect("a map");
        assert_eq!(view.len(), 3, "{vv}");
        assert_eq!(view["1"]["learner_type"], "participant");
        states.push(state);
    }
    states.sort();
    assert_eq!(states, ["follower", "follower", "leader"]);

    // The Grafana dashboard (deploy/grafana/paddock.json) only charts metrics an ensemble
    // server exports.
    let (status, _, metrics) = get(addrs[0], "/metrics").await;
    assert_eq!(status, 200);
    for name in dashboard_metrics() {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with(&name) && l[name.len()..].starts_with([' ', '{'])),
            "the dashboard charts {name}, which the server does not export:\n{metrics}"
        );
    }
    assert!(
        leaders.windows(2).all(|w| w[0] == w[1]) && leaders[0] >= 1,
        "every member names the same leader: {leaders:?}"
    );
    drop(ensemble);
}

/// Debian's `prometheus` scrapes a node's `/metrics` (on the admin listener) and parses it:
/// `up` is 1 and a Paddock metric has a value in Prometheus's own query API. Skips, saying so,
/// when the binary is not installed (`.ci/run` installs it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_and_parses_the_metrics() {
    let Some(prometheus) = which("prometheus") else {
        eprintln!(
            "SKIPPED a_real_prometheus_scrapes_and_parses_the_metrics: no `prometheus` binary \
             on PATH (apt-get install prometheus; .ci/run installs it)"
        );
        return;
    };
    let node = admin_node().await;
    let target = node.node().admin_addr.expect("listens");
    node.session().await.mkdir("/scraped").await;

    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: paddock\n    static_configs:\n\
             \x20     - targets: ['{target}']\n"
        ),
    )
    .expect("write prometheus.yml");
    let listen = SocketAddr::from(([127, 0, 0, 1], free_ports(1)[0]));
    let mut child = std::process::Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={listen}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start prometheus");
    let _kill = KillOnDrop(&mut child);

    // `up` 1 (scraped and parsed), then a Paddock metric with the node's value.
    let query = |q: &'static str| async move {
        let (status, _, body) = get(listen, &format!("/api/v1/query?query={q}")).await;
        (status, body)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "Prometheus did not report the scrape in time; last answer: {last}"
        );
        if tokio::net::TcpStream::connect(listen).await.is_ok() {
            let (status, body) = query("up").await;
            last = body.clone();
            if status == 200 {
                let v: Value = serde_json::from_str(&body).expect("Prometheus answers JSON");
                let up = &v["data"]["result"];
                if up.as_array().is_some_and(|r| !r.is_empty()) && up[0]["value"][1] == "1" {
                    assert_eq!(up[0]["metric"]["job"], "paddock", "{body}");
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = query("znode_count").await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    let count: f64 = v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("znode_count in {body}"));
    assert!(count >= 5.0, "{body}");
    let (status, body) = query("paddock_fsync_batches_total").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"paddock_fsync_batches_total\""), "{body}");
}

/// The metric names the dashboard's queries select (`name{...}`).
fn dashboard_metrics() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana/paddock.json"
    );
    let text = std::fs::read_to_string(path).expect("the dashboard");
    let dash: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut names = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("a query");
            let bytes = expr.as_bytes();
            let mut start = None;
            for (i, &b) in bytes.iter().enumerate() {
                let ident = b.is_ascii_alphanumeric() || b == b'_';
                match (ident, start) {
                    (true, None) => start = Some(i),
                    (false, Some(st)) => {
                        if b == b'{' {
                            names.push(expr[st..i].to_string());
                        }
                        start = None;
                    }
                    _ => {}
                }
            }
        }
    }
    names.sort();
    names.dedup();
    assert!(names.len() >= 10, "{names:?}");
    names
}

/// Kills and reaps the child when dropped (also when the test fails).
struct KillOnDrop<'a>(&'a mut std::process::Child);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `name` on PATH.
fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

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

/// `GET path` with extra header lines (`Name: value`): (status, lower-cased head, raw body).
async fn get_raw(addr: SocketAddr, path: &str, extra: &[&str]) -> (u16, String, Vec<u8>) {
    let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    within("HTTP request", exchange(s, path, extra))
        .await
        .expect("an HTTP answer")
}

/// One `GET path` on `s`: (status, lower-cased head, raw body), or what went wrong (the
/// connection failed or closed without an HTTP answer).
async fn exchange<S>(mut s: S, path: &str, extra: &[&str]) -> Result<(u16, String, Vec<u8>), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for h in extra {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no HTTP answer: {:?}", String::from_utf8_lossy(&out)))?;
    let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line: {head}"))?;
    Ok((status, head, out[end + 4..].to_vec()))
}

/// The value of header `name` (lower case) in a lower-cased head.
fn header_value(head: &str, name: &str) -> Option<String> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(|v| v.trim().to_string())
}

/// ZooKeeper 3.9's commands Paddock added (issue 19 item 4): `initial_configuration`,
/// `system_properties`, `zabstate` and `observers` on a standalone server, which has no
/// config file here (built in code) and no quorum peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_39_commands_on_a_standalone_server() {
    let node = admin_node().await;
    let addr = node.node().admin_addr.expect("listens");
    let (_, _, page) = get(addr, "/commands").await;
    for name in [
        "initial_configuration",
        "observers",
        "snapshot",
        "system_properties",
        "zabstate",
    ] {
        assert!(page.contains(&format!(">{name}</a>")), "{name}: {page}");
    }
    // No config file: nothing to show (ZooKeeper always has one).
    let icfg = ok(addr, "icfg", "initial_configuration").await;
    assert_eq!(icfg["initial_configuration"], Value::Null);
    let sysp = ok(addr, "sysp", "system_properties").await;
    has(
        &sysp,
        &["os.name", "user.dir", "jute.maxbuffer", "zookeeper.version"],
    );
    assert_eq!(sysp["zookeeper.admin.enableServer"], "true");
    // As ZooKeeper's standalone server: no ZAB state, not voting.
    let zab = ok(addr, "zabstate", "zabstate").await;
    assert_eq!(zab["voting"], false);
    assert_eq!(zab["zabstate"], "");
    let obsr = ok(addr, "obsr", "observers").await;
    assert_eq!(obsr["synced_observers"], 0);
    assert_eq!(obsr["observers"], serde_json::json!([]));
    // `system_properties` and `zabstate` answer while not serving; `icfg` does not.
    node.node().server.shutdown().await;
    ok(addr, "system_properties", "system_properties").await;
    ok(addr, "zabstate", "zabstate").await;
    let (_, icfg) = command(addr, "initial_configuration").await;
    assert_eq!(
        icfg["error"],
        "This ZooKeeper instance is not currently serving requests"
    );
}

/// `snapshot` (ZooKeeper 3.9's `SnapshotCommand`): auth info required, the credentials must
/// grant cdrwa on `/`, the body is a snapshot file of the tree with `last_zxid` and
/// `snapshot_size` headers (`?streaming=false`: headers only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_streams_a_verified_snapshot_file_to_an_authorized_caller() {
    let node = admin_node().await;
    let addr = node.node().admin_addr.expect("listens");
    let mut s = node.session().await;
    s.mkdir("/snap").await;
    s.create_ok("/snap/a", b"payload", pb::CreateMode::Persistent)
        .await;

    let (status, _, body) = get_raw(addr, "/commands/snapshot", &[]).await;
    assert_eq!(status, 401);
    let json: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(json["error"], "Auth info is missing for the command");
    let (status, _, _) = get_raw(addr, "/commands/snap", &["Authorization: sasl x"]).await;
    assert_eq!(status, 401);

    let auth = "Authorization: digest anyone:secret";
    let (status, head, body) = get_raw(addr, "/commands/snapshot", &[auth]).await;
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("content-type: application/octet-stream"),
        "{head}"
    );
    let size: usize = header_value(&head, "snapshot_size")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("snapshot_size in {head}"));
    assert_eq!(size, body.len());
    let zxid = header_value(&head, "last_zxid").expect("last_zxid");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("taken.snap");
    std::fs::write(&file, &body).expect("write");
    let (info, mut reader) = paddock_storage::open_snapshot_file(&file).expect("a snapshot file");
    let tree = paddock_datatree::DataTree::read_snapshot(&mut reader).expect("a tree");
    assert_eq!(zxid, format!("0x{:x}", info.zxid.0));
    assert_eq!(tree.last_zxid(), info.zxid);
    let srvr = ok(addr, "srvr", "server_stats").await;
    assert_eq!(
        Some(tree.node_count() as u64),
        srvr["node_count"].as_u64(),
        "{srvr}"
    );

    let (status, head, body) = get_raw(addr, "/commands/snapshot?streaming=false", &[auth]).await;
    assert_eq!(status, 200);
    assert!(header_value(&head, "last_zxid").is_some(), "{head}");
    let json: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(json["command"], "snapshot");
    assert_eq!(json["error"], Value::Null);

    // The root closed to everyone but an address nobody has: not authorized.
    let root = vec![op::acl(31, "ip", "203.0.113.9")];
    s.call(op::set_acl("/", root, -1)).await;
    let (status, _, body) = get_raw(addr, "/commands/snapshot", &[auth]).await;
    assert_eq!(status, 403);
    let json: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(json["error"], "Not authorized");
}

/// Two participants and an observer (real processes): `zabstate` names each member's role,
/// addresses and vote, `observers` on the leader lists the synced observer, and
/// `initial_configuration` is the zoo.cfg each was started with, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_report_zab_state_observers_and_their_config_file() {
    let admin_ports = free_ports(3);
    let mut written = String::new();
    let ensemble = LocalEnsemble::start_with_args(
        3,
        |ports| {
            let cfg = ensemble_cfg(ports, &["tickTime=100", "initLimit=10", "syncLimit=5"]);
            let third = format!(
                "server.3=127.0.0.1:{}:{}\n",
                ports[2].quorum, ports[2].election
            );
            let observer = third.replace('\n', ":observer\n");
            written = cfg.replace(&third, &observer);
            written.clone()
        },
        |i| vec!["--admin-port".into(), admin_ports[i].to_string()],
    )
    .await;
    assert!(written.contains(":observer\n"), "{written}");
    let addrs: Vec<SocketAddr> = admin_ports
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    let mut leader = None;
    for (i, &a) in addrs.iter().enumerate() {
        // Every member serves (the ensemble waited), its admin server follows shortly.
        let zab = within("zabstate in broadcast", async {
            loop {
                if tokio::net::TcpStream::connect(a).await.is_ok() {
                    let zab = ok(a, "zabstate", "zabstate").await;
                    if zab["zabstate"] == "broadcast" {
                        return zab;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        let id = i as u64 + 1;
        assert_eq!(zab["myid"], id, "{zab}");
        assert_eq!(zab["voting"], id != 3, "{zab}");
        let ports = &ensemble.ports[i];
        assert_eq!(zab["quorum_address"], format!("127.0.0.1:{}", ports.quorum));
        assert_eq!(
            zab["election_address"],
            format!("127.0.0.1:{}", ports.election)
        );
        let last = zab["last_zxid"].as_str().expect("hex text");
        let last = u64::from_str_radix(last.trim_start_matches("0x"), 16).expect("hex");
        assert_eq!(zab["zab_epoch"], last >> 32, "{zab}");
        assert_eq!(zab["zab_counter"], last & 0xffff_ffff, "{zab}");
        if zab["is_leader"] == true {
            assert!(leader.replace(i).is_none(), "one leader");
        }
        let icfg = ok(a, "icfg", "initial_configuration").await;
        assert_eq!(icfg["initial_configuration"], written.as_str());
    }
    let leader = leader.expect("a leader");
    assert_ne!(leader, 2, "an observer does not lead");
    let obsr = ok(addrs[leader], "observers", "observers").await;
    assert_eq!(obsr["synced_observers"], 1, "{obsr}");
    assert_eq!(obsr["observers"], serde_json::json!([{ "sid": 3 }]));
    let follower = 1 - leader;
    let obsr = ok(addrs[follower], "obsr", "observers").await;
    assert_eq!(obsr["synced_observers"], 0, "{obsr}");
    drop(ensemble);
}

/// A TLS connector trusting `ca_pem`, presenting `client` when given; ring, as the server.
#[allow(deprecated)]
fn tls_connector(ca_pem: &str, client: Option<&paddock_certs::Leaf>) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("CA PEM")).expect("CA");
    }
    let builder = tokio_rustls::rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots);
    let config = match client {
        Some(leaf) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
                    .map(|c| c.expect("cert PEM"))
                    .collect();
            let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key PEM");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client certificate")
        }
        None => builder.with_no_client_auth(),
    };
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// `GET path` over HTTPS to `addr` (name `localhost`): the answer, or why there is none.
async fn https_get(
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
    path: &str,
    extra: &[&str],
) -> Result<(u16, String, Vec<u8>), String> {
    within("HTTPS request", async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        exchange(tls, path, extra).await
    })
    .await
}

/// `admin.forceHttps` (issue 19 item 4): the admin API answers over HTTPS with this server's
/// `ssl.quorum.keyStore.location` certificate and refuses plain HTTP; with
/// `admin.needClientAuth` a client without a certificate from `ssl.quorum.trustStore.location`
/// is refused, and a client certificate is the auth info `snapshot` takes (`x509`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_answers_over_https_only_when_forced() {
    let pki = tempfile::tempdir().expect("temp dir");
    let ca = paddock_certs::Ca::new("test CA").expect("CA");
    let trust = ca.write(pki.path()).expect("write CA");
    let server = ca
        .server("paddock1", &["localhost", "127.0.0.1"])
        .expect("server cert");
    let key_store = server.write(pki.path(), "server").expect("write key store");
    let alice = ca.client("alice").expect("client cert");
    let stranger_ca = paddock_certs::Ca::new("another CA").expect("CA");
    let stranger = stranger_ca.client("mallory").expect("client cert");
    let start = |need_client_auth: bool| {
        let (key_store, trust) = (key_store.clone(), trust.clone());
        TestNode::start_with(move |c| {
            c.admin_enabled = true;
            c.admin_port = Some(0);
            c.admin_address = "127.0.0.1".into();
            c.set("admin.forceHttps", "true").expect("a boolean");
            c.admin_need_client_auth = need_client_auth;
            c.ssl_quorum_key_store = Some(key_store);
            c.ssl_quorum_trust_store = Some(trust);
        })
    };

    let node = start(true).await;
    let addr = node.node().admin_addr.expect("listens");
    let with_cert = tls_connector(ca.cert_pem(), Some(&alice));
    let (status, _, body) = https_get(addr, &with_cert, "/commands/ruok", &[])
        .await
        .expect("an answer over HTTPS");
    assert_eq!(status, 200);
    let json: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(json["command"], "ruok");
    let (status, _, body) = https_get(addr, &with_cert, "/metrics", &[])
        .await
        .expect("an answer over HTTPS");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("znode_count "));

    // Plain HTTP gets no HTTP answer; nor does a client without a certificate, or with one
    // the trust store does not know.
    let plain = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let refused = within("plain HTTP", exchange(plain, "/commands/ruok", &[])).await;
    assert!(refused.is_err(), "plain HTTP answered: {refused:?}");
    for (who, connector) in [
        ("no certificate", tls_connector(ca.cert_pem(), None)),
        (
            "an unknown CA's certificate",
            tls_connector(ca.cert_pem(), Some(&stranger)),
        ),
    ] {
        let r = https_get(addr, &connector, "/commands/ruok", &[]).await;
        assert!(r.is_err(), "{who}: {r:?}");
    }
    // The client certificate authenticates `snapshot` (the root is open to it).
    let (status, head, body) = https_get(
        addr,
        &with_cert,
        "/commands/snapshot",
        &["Authorization: x509"],
    )
    .await
    .expect("an answer");
    assert_eq!(status, 200, "{head}");
    assert_eq!(
        header_value(&head, "snapshot_size").and_then(|v| v.parse::<usize>().ok()),
        Some(body.len())
    );
    drop(node);

    // Without admin.needClientAuth: any TLS client is served; `x509` needs a certificate.
    let node = start(false).await;
    let addr = node.node().admin_addr.expect("listens");
    let anonymous = tls_connector(ca.cert_pem(), None);
    let (status, _, _) = https_get(addr, &anonymous, "/commands/srvr", &[])
        .await
        .expect("an answer over HTTPS");
    assert_eq!(status, 200);
    let (status, _, _) = https_get(
        addr,
        &anonymous,
        "/commands/snapshot",
        &["Authorization: x509"],
    )
    .await
    .expect("an answer");
    assert_eq!(status, 401);
    let plain = tokio::net::TcpStream::connect(addr).await.expect("connect");
    assert!(within("plain HTTP", exchange(plain, "/commands/ruok", &[]))
        .await
        .is_err());
}

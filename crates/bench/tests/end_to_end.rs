//! The bench against a real in-process `paddock` server: every workload runs, counts what it
//! asked for, sees no errors and cleans up after itself.

use std::sync::Arc;

use clap::Parser;
use paddock_bench::args::Args;
use paddock_bench::run::{self, Shared};
use paddock_client::{Client, ClientOptions, ErrorCode};

async fn server() -> (paddock_node::Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = paddock_types::Config {
        data_dir: dir.path().to_path_buf(),
        grpc_port: 0,
        client_port: 0,
        grpc_address: "127.0.0.1".into(),
        // No HTTP admin server (it would try ZooKeeper's 8080).
        admin_enabled: false,
        ..Default::default()
    };
    let node = paddock_node::start(&config, paddock_types::ServerId(0))
        .await
        .expect("server starts");
    (node, dir)
}

fn config(addr: &str, extra: &[&str]) -> paddock_bench::args::Config {
    let mut argv = vec!["paddock-bench", "--server", addr, "--quiet"];
    argv.extend_from_slice(extra);
    Args::try_parse_from(argv).unwrap().validate().unwrap()
}

/// The children of `path`, or None if it does not exist.
async fn children(addr: &str, path: &str) -> Option<Vec<String>> {
    let client = Client::connect(addr, ClientOptions::default())
        .await
        .expect("session");
    let r = client.get_children(path).await;
    client.close().await.expect("close");
    match r {
        Ok((children, _)) => Some(children),
        Err(e) if e.code() == ErrorCode::NoNode => None,
        Err(e) => panic!("getChildren {path}: {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_runs_and_cleans_up() {
    let (node, _dir) = server().await;
    let addr = node.grpc_addr.to_string();
    // The sessions on one work-stealing runtime (`--runtime auto` with 4 sessions) and on a
    // runtime per thread (one per core, and 3).
    for (workload, pipeline, runtime) in [
        ("set", "1", &[][..]),
        (
            "get",
            "4",
            &["--runtime", "per-thread", "--threads", "3"][..],
        ),
        ("mixed", "2", &["--runtime", "per-thread"][..]),
        ("create", "3", &["--runtime", "work-stealing"][..]),
    ] {
        let mut args = vec![
            "--workload",
            workload,
            "--sessions",
            "4",
            "--ops",
            "301",
            "--keys",
            "20",
            "--pipeline",
            pipeline,
            "--value-size",
            "10",
        ];
        args.extend_from_slice(runtime);
        let cfg = config(&addr, &args);
        let id = format!("e2e{workload}");
        let report = run::run(cfg, &id, Arc::new(Shared::default()))
            .await
            .unwrap_or_else(|e| panic!("{workload}: {e:#}"));
        assert_eq!(report.recorder.ok(), 301, "{workload}: {}", report.human());
        assert_eq!(
            report.recorder.failed(),
            0,
            "{workload}: {}",
            report.human()
        );
        assert!(report.lost.is_empty(), "{workload}: {}", report.human());
        assert_eq!(report.parent, format!("/bench-{id}"));
        assert!(report.ops_per_sec() > 0.0);
        assert_eq!(
            children(&addr, &report.parent).await,
            None,
            "{workload}: the parent is deleted"
        );
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_leaves_the_keys_and_created_nodes() {
    let (node, _dir) = server().await;
    let addr = node.grpc_addr.to_string();
    let cfg = config(
        &addr,
        &[
            "--workload",
            "create",
            "--sessions",
            "3",
            "--ops",
            "50",
            "--keys",
            "7",
            "--keep",
        ],
    );
    let report = run::run(cfg, "keep", Arc::new(Shared::default()))
        .await
        .expect("run");
    assert_eq!(report.recorder.ok(), 50);
    let mut names = children(&addr, "/bench-keep").await.expect("parent kept");
    names.sort();
    assert_eq!(names.len(), 57, "7 keys + 50 sequential nodes");
    assert_eq!(names[0], "key-00000000");
    assert!(names[56].starts_with("seq-"), "{names:?}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_get_one_event_per_watch_on_each_written_key() {
    let (node, _dir) = server().await;
    let addr = node.grpc_addr.to_string();
    // 3 watchers x 4 keys over 6 keys: every key is watched twice, so each setData fires 2
    // events; a recursive watch on / (no --watch-keys) fires 1 per watcher.
    for (extra, per_write) in [
        (&["--watchers", "3", "--watch-keys", "4"][..], 2),
        (&["--watchers", "2"][..], 2),
    ] {
        let mut argv = vec![
            "--workload",
            "set",
            "--sessions",
            "2",
            "--ops",
            "60",
            "--keys",
            "6",
        ];
        argv.extend_from_slice(extra);
        let report = run::run(config(&addr, &argv), "watch", Arc::new(Shared::default()))
            .await
            .expect("run");
        assert_eq!(report.recorder.ok(), 60, "{extra:?}: {}", report.human());
        assert_eq!(
            report.watch_events,
            Some(60 * per_write),
            "{extra:?}: {}",
            report.human()
        );
        assert!(report
            .json()
            .contains(&format!("\"watch_events\":{}", 60 * per_write)));
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_run_stops_near_its_deadline_and_an_existing_parent_is_refused() {
    let (node, _dir) = server().await;
    let addr = node.grpc_addr.to_string();
    let cfg = config(
        &addr,
        &[
            "--workload",
            "mixed",
            "--sessions",
            "2",
            "--duration",
            "0.5",
            "--keep",
        ],
    );
    let report = run::run(cfg.clone(), "timed", Arc::new(Shared::default()))
        .await
        .expect("run");
    assert!(report.recorder.ok() > 0);
    let secs = report.elapsed.as_secs_f64();
    assert!((0.5..3.0).contains(&secs), "elapsed {secs}");
    // Same run id again: the parent exists, setup says so and nothing runs.
    let err = run::run(cfg, "timed", Arc::new(Shared::default()))
        .await
        .expect_err("parent exists");
    assert!(format!("{err:#}").contains("NODEEXISTS"), "{err:#}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_fails_setup_clearly() {
    // A port nobody listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(&format!("127.0.0.1:{port}"), &["--ops", "1"]);
    let err = run::run(cfg, "nobody", Arc::new(Shared::default()))
        .await
        .expect_err("no server");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("setup") && msg.contains("cannot connect"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_past_max_client_cnxns_fail_the_run_and_setup_is_cleaned_up() {
    let (node, _dir) = server().await;
    let addr = node.grpc_addr.to_string();
    // The server accepts 60 streams per client IP by default.
    let cfg = config(&addr, &["--sessions", "61", "--ops", "61", "--keys", "3"]);
    let err = run::run(cfg, "toomany", Arc::new(Shared::default()))
        .await
        .expect_err("the 61st session is refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("1 of 61 sessions could not be opened"),
        "{msg}"
    );
    assert!(msg.contains("THROTTLED (-127)"), "{msg}");
    assert_eq!(children(&addr, "/bench-toomany").await, None, "cleaned up");
    node.shutdown().await;
}

/// `--rate` spaces the sends: 60 requests at 200/s over 3 sessions cannot finish before the
/// last session's 20th scheduled send, 19 intervals of 15 ms after its start (the bound is
/// from below only: a slow machine may take longer, never less).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_spaces_the_sends() {
    let (node, _dir) = server().await;
    let addr = node.grpc_addr.to_string();
    let cfg = config(
        &addr,
        &[
            "--workload",
            "set",
            "--sessions",
            "3",
            "--ops",
            "60",
            "--keys",
            "5",
            "--rate",
            "200",
        ],
    );
    let report = run::run(cfg, "e2erate", Arc::new(Shared::default()))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(report.recorder.ok(), 60, "{}", report.human());
    assert!(
        report.elapsed >= std::time::Duration::from_millis(285),
        "60 requests at 200/s took only {:?}",
        report.elapsed
    );
    assert!(
        report.human().contains("rate 200 ops/s"),
        "{}",
        report.human()
    );
}

/// `--tls-*` against a server with TLS on its gRPC port (client certificates required), with
/// `--digest` on top: the run completes and cleans up; without the flags setup says TLS is
/// the likely problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_tls_with_digest_acls() {
    let certs = tempfile::tempdir().expect("temp dir");
    let ca = paddock_certs::Ca::new("bench CA").expect("CA");
    let ca_file = ca.write(certs.path()).expect("write the CA");
    let server = ca
        .server("paddock", &["localhost", "127.0.0.1"])
        .expect("server certificate");
    let key_store = server.write(certs.path(), "server").expect("write");
    let bench = ca.client("bench").expect("client certificate");
    let bench_file = bench.write(certs.path(), "bench").expect("write");
    let dir = tempfile::tempdir().expect("temp dir");
    let config_tls = paddock_types::Config {
        data_dir: dir.path().to_path_buf(),
        grpc_port: 0,
        client_port: 0,
        grpc_address: "127.0.0.1".into(),
        ssl_key_store: Some(key_store),
        ssl_trust_store: Some(ca_file.clone()),
        admin_enabled: false,
        ..Default::default()
    };
    let node = paddock_node::start(&config_tls, paddock_types::ServerId(0))
        .await
        .expect("server starts");
    let addr = node.grpc_addr.to_string();
    let (ca_arg, bench_arg) = (
        ca_file.display().to_string(),
        bench_file.display().to_string(),
    );
    let tls = [
        "--tls-ca",
        ca_arg.as_str(),
        "--tls-cert",
        bench_arg.as_str(),
    ];
    let mut flags = vec![
        "--workload",
        "mixed",
        "--sessions",
        "3",
        "--ops",
        "90",
        "--keys",
        "5",
        "--digest",
        "bench:pw",
    ];
    flags.extend_from_slice(&tls);
    let report = run::run(config(&addr, &flags), "e2etls", Arc::new(Shared::default()))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(report.recorder.ok(), 90, "{}", report.human());
    assert_eq!(report.recorder.failed(), 0, "{}", report.human());

    let plain = config(&addr, &["--ops", "1"]);
    let err = run::run(plain, "e2eplain", Arc::new(Shared::default()))
        .await
        .expect_err("plaintext to a TLS port");
    let msg = format!("{err:#}");
    assert!(msg.contains("does it require TLS?"), "{msg}");
    node.shutdown().await;
}

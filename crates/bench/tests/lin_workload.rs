//! `paddock-lin`'s workload against a real in-process server: it records a history of every
//! kind of operation, writes it as JSON lines that read back the same, ends with a final read
//! per znode, and the history checks linearizable (one server: it must be).

use std::time::Duration;

use paddock_bench::lin::check::{check_default, Counts, Finding};
use paddock_bench::lin::{history, workload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workload_records_a_linearizable_history() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = paddock_types::Config {
        data_dir: dir.path().join("data"),
        grpc_port: 0,
        client_port: 0,
        grpc_address: "127.0.0.1".into(),
        admin_enabled: false,
        ..Default::default()
    };
    let node = paddock_node::start(&config, paddock_types::ServerId(0))
        .await
        .expect("server starts");
    let file = dir.path().join("history.jsonl");
    let stop = dir.path().join("stop");
    let cfg = workload::Config {
        servers: vec![node.grpc_addr.to_string()],
        servers_file: Some(dir.path().join("no-such-file")),
        clients: 3,
        keys: 2,
        prefix: "/lin".into(),
        seed: 7,
        duration: Duration::from_secs(30),
        stop_file: Some(stop.clone()),
        think: Duration::from_millis(1),
        session_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
        final_read_limit: Duration::from_secs(10),
        reads_without_sync: false,
    };
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        std::fs::write(stop, b"").expect("stop file");
    });
    let (ops, stats) = workload::run(&cfg, Some(file.clone()))
        .await
        .expect("the workload runs");
    stopper.await.expect("stopper");
    let c = Counts::of(&ops);
    eprintln!("{}; {} sessions", c.line(), stats.sessions);
    assert_eq!(stats.sessions, 3);
    assert_eq!(c.paths, 2);
    assert!(
        c.reads > 0 && c.sets_ok > 0 && c.cas_ok > 0 && c.creates_ok > 0 && c.deletes_ok > 0,
        "{c:?}"
    );
    assert_eq!(c.unknown, 0, "{:?}", stats.errors);
    // The final reads: one per znode, by the client after the workload's.
    assert_eq!(ops.iter().filter(|o| o.client == 3).count(), 2);
    let read_back = history::read(std::io::BufReader::new(
        std::fs::File::open(&file).expect("history"),
    ))
    .expect("history parses");
    assert_eq!(read_back, ops);
    assert_eq!(check_default(&ops), Finding::Linearizable);
    node.shutdown().await;
}

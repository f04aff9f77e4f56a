//! Mutual TLS between servers (`sslQuorum=true`) with real `paddock` binaries on 127.0.0.1: a
//! correctly configured ensemble elects and replicates; a server whose certificate another CA
//! signed, or which runs without sslQuorum, never votes, follows or leads, while the other two
//! keep serving; the refusals are in the logs, saying why. Bad TLS files stop a server at start.
//!
//! ```text
//!   T/certs/ca.pem, server{1,2,3}.pem (ensemble CA; localhost, 127.0.0.1), rogue.pem (another CA)
//!   T/zoo{N}.cfg: the same server.N=127.0.0.1:q:e lines; sslQuorum + ssl.quorum.* per server
//!   paddock --config T/zooN.cfg --myid N --data-dir T/N --grpc-port GN
//! ```
//!
//! Every wait is bounded; each test well under 20 s when it passes.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use paddock_certs::Ca;
use paddock_proto::v1 as pb;
use pb::CreateMode::Persistent;
use support::*;

/// The longest a whole test may run.
const TEST_LIMIT: Duration = Duration::from_secs(40);
/// The longest an election may take.
const ELECTION_WAIT: Duration = Duration::from_secs(15);
/// The limit on one call to one server.
const CALL_LIMIT: Duration = Duration::from_secs(2);
/// How long a refused server is watched, after the others elected and wrote, for serving.
const NEVER_SERVES_FOR: Duration = Duration::from_secs(2);

/// The hint every TLS / plaintext mismatch log line carries.
const MISMATCH_HINT: &str = "(is sslQuorum set the same on every server?)";

const CFG: &[&str] = &[
    "tickTime=100",
    "initLimit=10",
    "syncLimit=5",
    "maxSessionTimeout=30000",
];

/// How server N is set up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// sslQuorum with its own certificate from the ensemble's CA.
    Tls,
    /// sslQuorum, trusting the ensemble's CA, but its certificate is from another CA.
    RogueCertificate,
    /// No sslQuorum at all.
    Plain,
}

struct TlsEnsemble {
    /// Declared before `tmp`: processes die before their directories go.
    peers: Vec<Peer>,
    ports: Vec<PeerPorts>,
    /// Removed when the test ends.
    _tmp: tempfile::TempDir,
}

impl TlsEnsemble {
    /// Writes certificates and one zoo.cfg per server (same server list), and starts all three.
    fn start(setups: [Setup; 3]) -> TlsEnsemble {
        let tmp = tempfile::tempdir().expect("temp dir");
        let certs = tmp.path().join("certs");
        let ca = Ca::new("ensemble CA").expect("CA");
        ca.write(&certs).expect("write the CA");
        for id in 1..=3 {
            ca.server(&format!("server{id}"), &["localhost", "127.0.0.1"])
                .expect("cert")
                .write(&certs, &format!("server{id}"))
                .expect("write");
        }
        Ca::new("rogue CA")
            .expect("CA")
            .server("rogue", &["localhost", "127.0.0.1"])
            .expect("cert")
            .write(&certs, "rogue")
            .expect("write");
        let ports = peer_ports(3);
        let mut peers = Vec::new();
        for (i, setup) in setups.iter().enumerate() {
            let id = i as u64 + 1;
            let key_store = match setup {
                Setup::RogueCertificate => certs.join("rogue.pem"),
                _ => certs.join(format!("server{id}.pem")),
            };
            let mut lines: Vec<String> = CFG.iter().map(|l| l.to_string()).collect();
            if *setup != Setup::Plain {
                lines.extend(tls_lines(&key_store, &certs.join("ca.pem")));
            }
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            let config = tmp.path().join(format!("zoo{id}.cfg"));
            std::fs::write(&config, ensemble_cfg(&ports, &lines)).expect("write zoo.cfg");
            let data = tmp.path().join(id.to_string());
            peers.push(Peer::spawn(id, &config, &data, ports[i].grpc));
        }
        TlsEnsemble {
            peers,
            ports,
            _tmp: tmp,
        }
    }

    fn addr(&self, id: u64) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[(id - 1) as usize].grpc))
    }

    fn log(&self, id: u64) -> String {
        self.peers[(id - 1) as usize].log()
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for p in &self.peers {
            let log = p.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(30)..];
            out.push_str(&format!("--- server.{} ---\n{}\n", p.id, tail.join("\n")));
        }
        out
    }

    /// Waits until `alive` serve with one leader and the rest following it; returns the leader.
    async fn wait_for_leader(&mut self, alive: &[u64]) -> u64 {
        let deadline = Instant::now() + ELECTION_WAIT;
        loop {
            for p in &mut self.peers {
                p.assert_running();
            }
            let mut statuses = Vec::new();
            for &id in alive {
                statuses.push((id, try_status(self.addr(id), CALL_LIMIT).await));
            }
            if let Some(leader) = settled(&statuses) {
                return leader;
            }
            if Instant::now() > deadline {
                panic!(
                    "no settled leader among {alive:?} within {ELECTION_WAIT:?}: {statuses:?}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (bounded) until server `id`'s log has a line containing every one of `parts`.
    async fn wait_for_log_line(&self, ids: &[u64], parts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            for &id in ids {
                let log = self.log(id);
                if let Some(line) = log.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
                    return format!("server.{id}: {line}");
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "no log line of servers {ids:?} contains all of {parts:?}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Server `id` does not serve, for a while: its status says so, and sessions are refused.
    async fn assert_never_serves(&mut self, id: u64) {
        let until = Instant::now() + NEVER_SERVES_FOR;
        while Instant::now() < until {
            self.peers[(id - 1) as usize].assert_running();
            let status = try_status(self.addr(id), CALL_LIMIT)
                .await
                .unwrap_or_else(|e| panic!("server.{id} answers GetStatus: {e}"));
            assert!(
                !status.serving && status.mode != "leader" && status.mode != "follower",
                "server.{id} must not serve: {status:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            try_open(self.addr(id), LONG_TIMEOUT_MS, CALL_LIMIT)
                .await
                .is_err(),
            "server.{id} accepted a session"
        );
    }
}

fn tls_lines(key_store: &Path, trust_store: &Path) -> Vec<String> {
    vec![
        "sslQuorum=true".into(),
        format!("ssl.quorum.keyStore.location={}", key_store.display()),
        format!("ssl.quorum.trustStore.location={}", trust_store.display()),
        "ssl.quorum.keyStore.type=PEM".into(),
        "ssl.quorum.trustStore.type=PEM".into(),
    ]
}

/// The leader if `statuses` show exactly one serving leader and the others serving as its
/// followers.
fn settled(statuses: &[(u64, Result<pb::ServerStatus, String>)]) -> Option<u64> {
    let mut leader = None;
    for (id, st) in statuses {
        let st = st.as_ref().ok()?;
        if !st.serving {
            return None;
        }
        match st.mode.as_str() {
            "leader" if leader.replace(*id).is_none() => {}
            "follower" => {}
            _ => return None,
        }
    }
    let leader = leader?;
    statuses
        .iter()
        .all(|(id, st)| {
            *id == leader
                || st
                    .as_ref()
                    .is_ok_and(|s| s.leader_id.is_none_or(|l| l == leader))
        })
        .then_some(leader)
}

/// A session on server `id` (panics, naming it, if refused).
async fn session_on(e: &TlsEnsemble, id: u64) -> Session {
    try_open(e.addr(id), LONG_TIMEOUT_MS, CALL_LIMIT)
        .await
        .unwrap_or_else(|err| panic!("server.{id} accepts a session: {err:?}\n{}", e.logs()))
}

/// A znode written through `writer` is read, after a `sync`, through `reader`.
async fn write_then_read(e: &TlsEnsemble, writer: u64, reader: u64, path: &str) {
    let mut w = session_on(e, writer).await;
    let data = format!("via server.{writer}");
    w.create_ok(path, data.as_bytes(), Persistent).await;
    let mut r = session_on(e, reader).await;
    sync_result(r.call(op::sync(path)).await);
    let (got, _) = r.data(path).await;
    assert_eq!(&got[..], data.as_bytes(), "{path} read on server.{reader}");
}

async fn bounded<F: std::future::Future<Output = ()>>(name: &str, f: F) {
    if tokio::time::timeout(TEST_LIMIT, f).await.is_err() {
        panic!("{name} did not finish within {TEST_LIMIT:?}");
    }
}

/// sslQuorum everywhere, certificates from one CA naming 127.0.0.1: the three servers elect,
/// and a write through one server is read through another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssl_quorum_ensemble_elects_and_replicates() {
    bounded("an_ssl_quorum_ensemble_elects_and_replicates", async {
        let mut e = TlsEnsemble::start([Setup::Tls; 3]);
        let leader = e.wait_for_leader(&[1, 2, 3]).await;
        let follower = if leader == 1 { 2 } else { 1 };
        let other = 6 - leader - follower;
        write_then_read(&e, follower, other, "/tls-a").await;
        write_then_read(&e, leader, follower, "/tls-b").await;
        for id in 1..=3 {
            let log = e.log(id);
            assert!(
                log.contains("serving the election port")
                    && log.contains("serving the quorum port")
                    && log.contains("TLS (sslQuorum)"),
                "server.{id} says its peer ports use TLS:\n{log}"
            );
            assert!(!log.contains(MISMATCH_HINT), "server.{id}:\n{log}");
        }
    })
    .await;
}

/// Server 3 presents a certificate of another CA: servers 1 and 2 refuse its handshakes, elect
/// between them and keep serving writes; server 3 never serves. The refusal is logged with
/// the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_a_certificate_of_another_ca_cannot_join() {
    bounded(
        "a_server_with_a_certificate_of_another_ca_cannot_join",
        async {
            let mut e = TlsEnsemble::start([Setup::Tls, Setup::Tls, Setup::RogueCertificate]);
            let leader = e.wait_for_leader(&[1, 2]).await;
            let follower = 3 - leader;
            write_then_read(&e, follower, leader, "/without-3").await;
            e.assert_never_serves(3).await;
            write_then_read(&e, leader, follower, "/still-without-3").await;
            // Server 3 dials 1 and 2 (the higher id dials); they refuse its certificate.
            let line = e
                .wait_for_log_line(
                    &[1, 2],
                    &[
                        "WARN",
                        "refused a connection to the election port from 127.0.0.1:",
                        "TLS handshake failed",
                        "not signed by a CA of the trust store (UnknownIssuer)",
                    ],
                )
                .await;
            eprintln!("{line}");
            // And server 3 says its dials are refused.
            let line = e
                .wait_for_log_line(
                    &[3],
                    &[
                        "WARN",
                        "cannot open an election stream to server",
                        "TLS handshake",
                    ],
                )
                .await;
            eprintln!("{line}");
        },
    )
    .await;
}

/// Server 3 runs without sslQuorum: its plaintext dials fail on the TLS election ports of 1
/// and 2, both sides logging the likely mismatch; 1 and 2 serve, 3 never does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_server_cannot_join_a_tls_ensemble() {
    bounded("a_plaintext_server_cannot_join_a_tls_ensemble", async {
        let mut e = TlsEnsemble::start([Setup::Tls, Setup::Tls, Setup::Plain]);
        let leader = e.wait_for_leader(&[1, 2]).await;
        let follower = 3 - leader;
        write_then_read(&e, leader, follower, "/tls-only").await;
        e.assert_never_serves(3).await;
        let line = e
            .wait_for_log_line(
                &[1, 2],
                &[
                    "WARN",
                    "refused a connection to the election port from 127.0.0.1:",
                    "does not speak TLS",
                    MISMATCH_HINT,
                ],
            )
            .await;
        eprintln!("{line}");
        let line = e
            .wait_for_log_line(
                &[3],
                &[
                    "WARN",
                    "cannot open an election stream to server",
                    MISMATCH_HINT,
                ],
            )
            .await;
        eprintln!("{line}");
        assert!(
            e.log(3).contains("plaintext"),
            "server.3 says its ports are plaintext"
        );
    })
    .await;
}

/// Unusable sslQuorum files stop the server at start, naming the file; missing keys are a
/// configuration error (exit code 2) naming the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_ssl_quorum_files_stop_the_server_naming_them() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("ensemble CA").expect("CA");
    let ca_pem = ca.write(tmp.path()).expect("write");
    let ports = peer_ports(3);
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let run = |name: &str, extra: Vec<String>| {
        let config = tmp.path().join(name);
        let mut lines: Vec<String> = CFG.iter().map(|l| l.to_string()).collect();
        lines.extend(extra);
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        std::fs::write(&config, ensemble_cfg(&ports, &lines)).expect("write zoo.cfg");
        let args: Vec<String> = vec![
            "--config".into(),
            config.display().to_string(),
            "--myid".into(),
            "1".into(),
            "--data-dir".into(),
            data.display().to_string(),
            "--grpc-port".into(),
            "0".into(),
            "--grpc-address".into(),
            "127.0.0.1".into(),
        ];
        args
    };
    let missing: PathBuf = tmp.path().join("missing.pem");
    let args = run("missing.cfg", tls_lines(&missing, &ca_pem));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, log) = run_to_exit(&args).await;
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("sslQuorum") && log.contains("missing.pem"),
        "{log}"
    );
    // A trust store without a certificate.
    std::fs::write(tmp.path().join("empty.pem"), "").expect("write");
    let key_store = ca
        .server("server1", &["127.0.0.1"])
        .expect("cert")
        .write(tmp.path(), "server1")
        .expect("write");
    let args = run(
        "empty.cfg",
        tls_lines(&key_store, &tmp.path().join("empty.pem")),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, log) = run_to_exit(&args).await;
    assert!(!status.success(), "{log}");
    assert!(log.contains("empty.pem"), "{log}");
    // sslQuorum without a trust store: a configuration error.
    let args = run(
        "no-trust.cfg",
        vec![
            "sslQuorum=true".into(),
            format!("ssl.quorum.keyStore.location={}", key_store.display()),
        ],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, log) = run_to_exit(&args).await;
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(log.contains("ssl.quorum.trustStore.location"), "{log}");
    // Port unification is not offered.
    let args = run("unified.cfg", vec!["portUnification=true".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, log) = run_to_exit(&args).await;
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(log.contains("portUnification"), "{log}");
}

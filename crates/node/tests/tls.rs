//! TLS on a real server process: flags and zoo.cfg keys, x509 ACLs with client certificates, the
//! x509 super user, and clear failures for bad TLS files.

mod support;

use std::path::Path;
use std::time::Duration;

use paddock_certs::{Ca, Leaf};
use paddock_proto::v1 as pb;
use pb::CreateMode::Persistent;
use support::*;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const ALL: i32 = 31;

struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("test CA").expect("CA");
    ca.write(dir.path()).expect("write CA");
    let server = ca
        .server("paddock", &["localhost", "127.0.0.1"])
        .expect("cert");
    server.write(dir.path(), "server").expect("write");
    Pki { dir, ca }
}

async fn tls_channel(addr: std::net::SocketAddr, ca: &str, client: &Leaf) -> Channel {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .identity(Identity::from_pem(&client.cert_pem, &client.key_pem))
        .domain_name("localhost");
    let endpoint = Endpoint::from_shared(format!("https://{addr}"))
        .expect("uri")
        .tls_config(tls)
        .expect("tls config")
        .connect_timeout(Duration::from_secs(5));
    within("TLS connect", endpoint.connect())
        .await
        .expect("connects")
}

async fn session_as(addr: std::net::SocketAddr, ca: &str, who: &Leaf) -> Session {
    Session::connect_on(
        tls_channel(addr, ca, who).await,
        new_session(LONG_TIMEOUT_MS),
    )
    .await
    .expect("session")
}

fn tls_args(dir: &Path) -> Vec<String> {
    vec![
        "--tls-key-store".into(),
        dir.join("server.pem").display().to_string(),
        "--tls-trust-store".into(),
        dir.join("ca.pem").display().to_string(),
        "--set".into(),
        "zookeeper.X509AuthenticationProvider.superUser=CN=operator,O=Paddock".into(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x509_acls_and_the_x509_super_user_over_a_tls_server() {
    let p = pki();
    let data = tempfile::tempdir().expect("data dir");
    let args = tls_args(p.dir.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Paddock::spawn(data.path(), &args).await;
    let alice = p.ca.client("alice").expect("cert");
    let bob = p.ca.client("bob").expect("cert");
    let operator = p.ca.client("operator").expect("cert");
    let mut a = session_as(server.addr, p.ca.cert_pem(), &alice).await;
    let who = a.call(op::who_am_i()).await;
    let ids: Vec<String> = who_am_i_result(who)
        .ids
        .iter()
        .map(|i| format!("{}:{}", i.scheme, i.id))
        .collect();
    assert!(
        ids.contains(&"x509:CN=alice,O=Paddock".to_string()),
        "{ids:?}"
    );
    // `auth` expands to the certificate's id; addauth x509 confirms it.
    ok(&a.call(op::add_auth("x509", "")).await);
    let mine = vec![op::acl(ALL, "auth", "")];
    ok(&a
        .call(op::create_acl("/alice", b"x", Persistent, mine))
        .await);
    let acl = get_acl_result(a.call(op::get_acl("/alice")).await);
    assert_eq!(acl.acl, vec![op::acl(ALL, "x509", "CN=alice,O=Paddock")]);
    let mut b = session_as(server.addr, p.ca.cert_pem(), &bob).await;
    expect_err(&b.call(op::get_data("/alice", false)).await, code::NO_AUTH);
    let mut o = session_as(server.addr, p.ca.cert_pem(), &operator).await;
    ok(&o
        .call(op::set_data("/alice", b"operator was here", -1))
        .await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_tls_files_stop_the_server_with_a_clear_message() {
    let p = pki();
    let data = tempfile::tempdir().expect("data dir");
    let missing = p.dir.path().join("missing.pem").display().to_string();
    let dir = data.path().display().to_string();
    let (status, log) = run_to_exit(&[
        "--data-dir",
        &dir,
        "--grpc-port",
        "0",
        "--tls-key-store",
        &missing,
    ])
    .await;
    assert!(!status.success());
    assert!(log.contains("missing.pem"), "{log}");
    let ca = p.dir.path().join("ca.pem").display().to_string();
    let (status, log) = run_to_exit(&[
        "--data-dir",
        &dir,
        "--grpc-port",
        "0",
        "--tls-trust-store",
        &ca,
    ])
    .await;
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(log.contains("ssl.keyStore.location"), "{log}");
    let (status, log) = run_to_exit(&["--data-dir", &dir, "--set", "ssl.keyStore.type=JKS"]).await;
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(log.contains("PEM"), "{log}");
}

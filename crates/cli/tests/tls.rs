//! The built `paddock-cli` against an in-process server with TLS on its gRPC port (client
//! certificates required): the shell and one-shot commands with `-tls-*` flags, the
//! `PADDOCK_CLI_TLS_*` variables and zkCli's `-Dzookeeper.ssl.*` properties; `health` and the
//! admin words over TLS; and the messages for a TLS mismatch or unusable files.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use paddock_certs::Ca;
use support::{bin, wait, Server};

/// A CA with the server's key store and alice's (key + certificate in `alice.pem`, also as
/// `alice.crt` / `alice.key`), in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = Ca::new("test CA").expect("CA");
        ca.write(dir.path()).expect("write the CA");
        let server = ca
            .server("paddock", &["localhost", "127.0.0.1"])
            .expect("server certificate");
        server.write(dir.path(), "server").expect("write");
        let alice = ca.client("alice").expect("client certificate");
        alice.write(dir.path(), "alice").expect("write");
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn server(&self) -> Server {
        Server::start_with(|c| {
            c.ssl_key_store = Some(self.path("server.pem"));
            c.ssl_trust_store = Some(self.path("ca.pem"));
        })
    }

    /// `paddock-cli -server <s> -tls-ca ca.pem -tls-cert alice.pem`.
    fn cmd(&self, s: &Server) -> Command {
        let mut c = s.cmd();
        c.arg("-tls-ca")
            .arg(self.path("ca.pem"))
            .arg("-tls-cert")
            .arg(self.path("alice.pem"));
        c
    }
}

fn run(mut c: Command, words: &str) -> (i32, String, String) {
    c.args(words.split_whitespace());
    wait(c.spawn().expect("spawn paddock-cli"))
}

fn arg(p: &Path) -> String {
    p.display().to_string()
}

/// The interactive shell over TLS: the client certificate is the session's `x509` id.
#[test]
fn the_shell_over_tls_is_its_certificates_x509_id() {
    let pki = Pki::new();
    let s = pki.server();
    let mut c = pki.cmd(&s);
    c.stdin(Stdio::piped());
    let mut child = c.spawn().expect("spawn paddock-cli");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(b"create /tls secret\nget /tls\nwhoami\nquit\n")
        .expect("write the script");
    let (code, out, err) = wait(child);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert!(
        out.ends_with(
            "Created /tls\nsecret\nAuth scheme: User\nip: 127.0.0.1\nx509: CN=alice,O=Paddock\n"
        ),
        "{out}"
    );
}

/// The same material from the environment, as separate certificate and key files; and from
/// zkCli's client properties.
#[test]
fn variables_and_zkcli_properties() {
    let pki = Pki::new();
    let s = pki.server();
    let mut c = s.cmd();
    c.env("PADDOCK_CLI_TLS_CA", pki.path("ca.pem"))
        .env("PADDOCK_CLI_TLS_CERT", pki.path("alice.crt"))
        .env("PADDOCK_CLI_TLS_KEY", pki.path("alice.key"))
        .env("PADDOCK_CLI_TLS_SERVER_NAME", "localhost");
    assert_eq!(
        run(c, "whoami"),
        (
            0,
            "Auth scheme: User\nip: 127.0.0.1\nx509: CN=alice,O=Paddock\n".into(),
            String::new()
        )
    );
    let mut c = s.cmd();
    c.arg("-Dzookeeper.client.secure=true")
        .arg("-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty")
        .arg(format!(
            "-Dzookeeper.ssl.trustStore.location={}",
            arg(&pki.path("ca.pem"))
        ))
        .arg(format!(
            "-Dzookeeper.ssl.keyStore.location={}",
            arg(&pki.path("alice.pem"))
        ));
    let (code, out, err) = run(c, "ls /");
    assert_eq!((code, out.as_str(), err.as_str()), (0, "[zookeeper]\n", ""));
}

/// `health` (the container health check) and the admin words take the same flags.
#[test]
fn health_and_admin_words_over_tls() {
    let pki = Pki::new();
    let s = pki.server();
    assert_eq!(
        run(pki.cmd(&s), "health"),
        (0, "SERVING\n".into(), String::new())
    );
    let (code, out, err) = run(pki.cmd(&s), "srvr");
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Zookeeper version: "), "{out}");

    // Without the flags: told that the server likely wants TLS.
    let (code, out, err) = s.run("health");
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("does it require TLS?"), "{err}");
    let (code, _, err) = s.run("srvr");
    assert_eq!(code, 1);
    assert!(err.contains("does it require TLS?"), "{err}");
}

#[test]
fn tls_mismatches_and_bad_files_are_explained() {
    let pki = Pki::new();
    let tls_server = pki.server();
    let plain = Server::start();

    let (code, _, err) = tls_server.run("ls /");
    assert_eq!(code, 1);
    assert!(
        err.starts_with(&format!(
            "Unable to connect to {}: the server {} closed the connection before answering \
             (does it require TLS?",
            tls_server.addr, tls_server.addr
        )),
        "{err}"
    );

    let (code, _, err) = run(pki.cmd(&plain), "ls /");
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("the TLS handshake with {} failed", plain.addr)),
        "{err}"
    );
    assert!(err.contains("is the server using TLS?"), "{err}");
    let (code, _, err) = run(pki.cmd(&plain), "health");
    assert_eq!(code, 1);
    assert!(err.contains("is the server using TLS?"), "{err}");

    // No client certificate for a server that needs one.
    let mut c = tls_server.cmd();
    c.arg("-tls-ca").arg(pki.path("ca.pem"));
    let (code, _, err) = run(c, "ls /");
    assert_eq!(code, 1);
    assert!(err.contains("client certificate"), "{err}");

    // A file that is not there: exit 1 naming it, before connecting.
    let mut c = tls_server.cmd();
    c.arg("-tls-ca").arg(pki.path("nope.pem"));
    let (code, _, err) = run(c, "ls /");
    assert_eq!(code, 1);
    assert!(err.contains("TLS configuration: cannot read"), "{err}");
    assert!(err.contains("nope.pem"), "{err}");

    // TLS flags without a CA: a usage error.
    let mut c = bin();
    c.args(["-server", &tls_server.addr, "-tls-cert"])
        .arg(pki.path("alice.pem"))
        .args(["ls", "/"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (code, _, err) = wait(c.spawn().expect("spawn"));
    assert_eq!(code, 2);
    assert!(err.starts_with("-tls-cert needs -tls-ca FILE"), "{err}");
}

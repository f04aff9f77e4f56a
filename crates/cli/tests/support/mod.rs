//! What the integration tests share: an in-process server, the built `paddock-cli` binary run
//! one-shot or as an interactive shell fed on stdin, and output helpers.

// Each test file uses its own subset.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use paddock_types::{Config, ServerId};

pub const BIN: &str = env!("CARGO_BIN_EXE_paddock-cli");
/// The longest one invocation may take.
pub const LIMIT: Duration = Duration::from_secs(20);

pub struct Server {
    rt: tokio::runtime::Runtime,
    node: Option<paddock_node::Node>,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(|_| {})
    }

    /// A server whose config `tweak` may change first (e.g. make it one server of an ensemble).
    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            tick_ms: 50,
            max_session_timeout_ms: Some(30_000),
            data_dir: dir.path().to_path_buf(),
            grpc_port: 0,
            client_port: 0,
            grpc_address: "127.0.0.1".into(),
            max_client_cnxns: 0,
            // No HTTP admin server (it would try ZooKeeper's 8080).
            admin_enabled: false,
            ..Config::default()
        };
        let mut config = config;
        tweak(&mut config);
        let node = rt
            .block_on(async {
                tokio::time::timeout(LIMIT, paddock_node::start(&config, ServerId(1))).await
            })
            .expect("node start in time")
            .expect("node starts");
        Server {
            addr: node.grpc_addr.to_string(),
            node: Some(node),
            rt,
            _dir: dir,
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = bin();
        c.arg("-server").arg(&self.addr);
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs one one-shot command against `addr`, no server needed: (exit code, stdout, stderr).
    pub fn run_at(addr: &str, words: &str) -> (i32, String, String) {
        let mut c = bin();
        c.arg("-server").arg(addr).args(words.split_whitespace());
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        wait(c.spawn().expect("spawn paddock-cli"))
    }

    /// Runs one one-shot command: (exit code, stdout, stderr).
    pub fn run(&self, words: &str) -> (i32, String, String) {
        let mut c = self.cmd();
        c.args(words.split_whitespace());
        wait(c.spawn().expect("spawn paddock-cli"))
    }
}

/// The binary, without the caller's `PADDOCK_CLI_TLS_*` variables (a test sets its own).
pub fn bin() -> Command {
    let mut c = Command::new(BIN);
    for var in [
        "PADDOCK_CLI_TLS_CA",
        "PADDOCK_CLI_TLS_CERT",
        "PADDOCK_CLI_TLS_KEY",
        "PADDOCK_CLI_TLS_SERVER_NAME",
    ] {
        c.env_remove(var);
    }
    c
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(LIMIT, node.shutdown()).await });
        }
    }
}

/// Waits for `child` (killing it past [`LIMIT`]) and collects its output.
pub fn wait(mut child: Child) -> (i32, String, String) {
    let out = child.stdout.take();
    let err = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut out) = out {
            out.read_to_string(&mut s).unwrap();
        }
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut err) = err {
            err.read_to_string(&mut s).unwrap();
        }
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("paddock-cli did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (
        status.code().unwrap_or(-1),
        t_out.join().unwrap(),
        t_err.join().unwrap(),
    )
}

/// Replaces the values of the zxid and time lines of a stat block (they vary) by `*`, after
/// checking their shape.
pub fn normalize(text: &str) -> String {
    text.lines()
        .map(|l| match l.split_once(" = ") {
            Some((k @ ("cZxid" | "mZxid" | "pZxid"), v)) => {
                assert!(
                    v.starts_with("0x") && u64::from_str_radix(&v[2..], 16).is_ok(),
                    "{l}"
                );
                format!("{k} = *\n")
            }
            Some((k @ ("ctime" | "mtime"), v)) => {
                // e.g. Sun Nov 22 01:13:50 UTC 2026
                let parts: Vec<&str> = v.split(' ').collect();
                assert_eq!(parts.len(), 6, "{l}");
                assert_eq!(parts[4], "UTC", "{l}");
                assert_eq!(parts[3].len(), 8, "{l}");
                format!("{k} = *\n")
            }
            _ => format!("{l}\n"),
        })
        .collect()
}

impl Server {
    /// Runs the interactive shell with `script` on its stdin: (exit code, stdout, stderr).
    pub fn shell(&self, script: &str) -> (i32, String, String) {
        let mut c = self.cmd();
        c.stdin(Stdio::piped());
        let mut child = c.spawn().expect("spawn paddock-cli");
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(script.as_bytes())
            .expect("write the script");
        wait(child)
    }
}

/// A port nothing listens on (bound, then released).
pub fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

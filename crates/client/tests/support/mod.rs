//! Test helpers: an in-process server and a TCP proxy that can drop, stall or refuse
//! connections (to simulate connection loss without touching the server).

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paddock_client::{Client, ClientOptions, SessionState};
use paddock_types::{Config, ServerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// The longest anything expected may take.
pub const WAIT: Duration = Duration::from_secs(10);

pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {WAIT:?}: {what}"),
    }
}

/// An in-process node on a temp dir, port 0, tickTime 50 ms (sessions from 100 ms to 30 s).
pub struct TestNode {
    node: Option<paddock_node::Node>,
    pub addr: SocketAddr,
    config: Config,
    _dir: tempfile::TempDir,
}

impl TestNode {
    pub async fn start() -> TestNode {
        TestNode::start_with(|_| {}).await
    }

    /// A node whose config `tweak` may change first (e.g. TLS on its gRPC port).
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestNode {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
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
        tweak(&mut config);
        let node = within("node start", paddock_node::start(&config, ServerId(1)))
            .await
            .expect("the node starts");
        TestNode {
            addr: node.grpc_addr,
            node: Some(node),
            config,
            _dir: dir,
        }
    }

    /// Stops the node and starts it again on the same data dir (a new port: see `addr`). Its
    /// sessions survive (they are in the log); its watches do not (they are not persisted), which
    /// makes it a stand-in for "another server" when a session resumes.
    pub async fn restart(&mut self) {
        self.stop().await;
        // The stopped node's connection tasks may hold its storage (and so the data dir's lock)
        // a moment longer, until they see their sockets closed: retry while the lock is held.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let node = loop {
            match within(
                "node restart",
                paddock_node::start(&self.config, ServerId(1)),
            )
            .await
            {
                Ok(node) => break node,
                Err(e)
                    if format!("{e:#}").contains("lock held")
                        && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("the node restarts: {e:#}"),
            }
        };
        self.addr = node.grpc_addr;
        self.node = Some(node);
    }

    pub async fn client(&self) -> Client {
        connect(&self.addr.to_string(), opts()).await
    }

    pub async fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            within("node shutdown", node.shutdown()).await;
        }
    }
}

pub fn opts() -> ClientOptions {
    ClientOptions::default()
        .session_timeout(Duration::from_secs(20))
        .request_timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(2))
        .seed(1)
}

pub async fn connect(cs: &str, opts: ClientOptions) -> Client {
    within("connect", Client::connect(cs, opts))
        .await
        .expect("connects")
}

/// Waits for the next state event equal to `want`, failing on anything else first... except
/// repeated states, which are skipped.
pub async fn expect_state(rx: &mut broadcast::Receiver<SessionState>, want: SessionState) {
    let got = within(&format!("state {want:?}"), rx.recv())
        .await
        .expect("state events");
    assert_eq!(got, want, "expected state {want:?}");
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Bytes flow.
    Forward,
    /// Connections stay open, bytes are held back (until Forward again).
    Stall,
    /// New connections are accepted and dropped at once.
    Refuse,
}

/// A TCP proxy to one target (which can be changed for new connections).
pub struct Proxy {
    pub addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    /// The mode of the connections accepted from now on (and of the open ones, unless
    /// `stall_open_connections` gave those their own).
    mode: Arc<Mutex<watch::Sender<Mode>>>,
    /// The modes of connections set apart by `stall_open_connections` (kept so that their
    /// pumps stay, stalled).
    frozen: Mutex<Vec<watch::Sender<Mode>>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepted: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mode = Arc::new(Mutex::new(watch::Sender::new(Mode::Forward)));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepted = Arc::new(AtomicUsize::new(0));
        let target = Arc::new(Mutex::new(target));
        let accept = {
            let mode = Arc::clone(&mode);
            let conns = Arc::clone(&conns);
            let target = Arc::clone(&target);
            let accepted = Arc::clone(&accepted);
            tokio::spawn(async move {
                loop {
                    let Ok((inbound, _)) = listener.accept().await else {
                        return;
                    };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let rx = mode.lock().unwrap().subscribe();
                    if *rx.borrow() == Mode::Refuse {
                        drop(inbound);
                        continue;
                    }
                    let to = *target.lock().unwrap();
                    let task = tokio::spawn(serve(inbound, to, rx));
                    conns.lock().unwrap().push(task);
                }
            })
        };
        Proxy {
            addr,
            target,
            mode,
            frozen: Mutex::default(),
            conns,
            accepted,
            accept,
        }
    }

    /// TCP connections accepted so far (refused ones included).
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The connections open now hold every byte back from now on (a hung server behind them);
    /// connections accepted later are not affected.
    pub fn stall_open_connections(&self) {
        let mut mode = self.mode.lock().unwrap();
        let now = *mode.borrow();
        let old = std::mem::replace(&mut *mode, watch::Sender::new(now));
        old.send_replace(Mode::Stall);
        self.frozen.lock().unwrap().push(old);
    }

    /// Where new connections go from now on (open ones keep their target).
    pub fn retarget(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = target;
    }

    pub fn set_mode(&self, m: Mode) {
        self.mode.lock().unwrap().send_replace(m);
    }

    /// Drops every open connection (both sides see the TCP connection end).
    pub fn kill_connections(&self) {
        for task in self.conns.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.kill_connections();
    }
}

async fn serve(inbound: TcpStream, target: SocketAddr, mode: watch::Receiver<Mode>) {
    let Ok(outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (ir, iw) = inbound.into_split();
    let (or, ow) = outbound.into_split();
    tokio::select! {
        _ = pump(ir, ow, mode.clone()) => {}
        _ = pump(or, iw, mode) => {}
    }
}

async fn pump(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if mode.wait_for(|m| *m == Mode::Forward).await.is_err() {
            return;
        }
        if w.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A port nothing listens on (bound, then released).
pub fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

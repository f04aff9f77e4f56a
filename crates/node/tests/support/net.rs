//! A fault-injecting network between the members of a local ensemble: every server reaches
//! every other server's quorum and election ports only through a TCP proxy of its own, so a
//! test can cut and heal each direction of each pair of servers (issue 18: partitions).
//!
//! ```text
//!  server a ──▶ proxy (a→b, quorum)   ──▶ server b's quorum port
//!  server a ──▶ proxy (a→b, election) ──▶ server b's election port
//!  (one pair of proxies per ordered pair of servers; clients reach the gRPC ports directly)
//! ```
//!
//! Each server gets its own zoo.cfg: its own `server.N` line names the ports it binds, the
//! other lines name the proxies it dials through ([`start_partitionable`]). The servers'
//! server lists therefore differ in the other servers' ports; Paddock only warns about that
//! in the peer hello ("configured with another server list"), and `dataDir/ensemble` records
//! each server's own list, which stays the same across a restart on the same config.
//!
//! A cut direction `a → b` stops the bytes `a` sends to `b` on every connection between them
//! (those `a` opened through its proxy and those `b` opened through its own): the proxy holds
//! what it read and reads no more, so the sender's socket buffers fill as with a dropped
//! packet that TCP keeps retransmitting, and everything held is delivered, late and in order,
//! once the direction heals (an end of stream too). A new connection needs both directions (a
//! TCP handshake is a round trip): the proxy accepts it at once but opens the connection to
//! the target only when both directions are open, so a server sees no connection from a
//! server it is cut from. A connection ends (both sides) when either side ends it or the
//! target refuses it (the target is down). Cuts are deterministic; which link a test cuts is
//! its own (seeded) choice.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{log_tails, peer_ports, LocalEnsemble, Peer};

/// The cut directions, as (from, to) member indexes (from 0, like `LocalEnsemble::peers`).
type Cuts = BTreeSet<(usize, usize)>;

/// The network between the members of an ensemble started by [`start_partitionable`]. Its
/// proxies stop when it is dropped.
pub struct Net {
    n: usize,
    cuts: Arc<watch::Sender<Cuts>>,
    /// The proxy tasks (each owns its connections' tasks): aborted on drop.
    proxies: JoinSet<()>,
}

impl Net {
    /// Members in the ensemble.
    pub fn members(&self) -> usize {
        self.n
    }

    /// Cuts the direction `from → to` (what `from` sends no longer reaches `to`).
    pub fn cut(&self, from: usize, to: usize) {
        assert!(
            from != to && from < self.n && to < self.n,
            "no link {from}→{to}"
        );
        self.cuts.send_modify(|c| {
            c.insert((from, to));
        });
    }

    /// Heals the direction `from → to`.
    pub fn heal(&self, from: usize, to: usize) {
        self.cuts.send_modify(|c| {
            c.remove(&(from, to));
        });
    }

    /// Cuts both directions between every member of `a` and every member of `b`.
    pub fn partition(&self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.cut(x, y);
                self.cut(y, x);
            }
        }
    }

    /// Cuts member `i` from every other member, both ways.
    pub fn isolate(&self, i: usize) {
        let others: Vec<usize> = (0..self.n).filter(|&j| j != i).collect();
        self.partition(&[i], &others);
    }

    /// Heals every cut.
    pub fn heal_all(&self) {
        self.cuts.send_modify(|c| c.clear());
    }

    /// The directions cut now, as `a→b` (for messages).
    pub fn describe(&self) -> String {
        let cuts = self.cuts.borrow();
        if cuts.is_empty() {
            return "no cut".into();
        }
        cuts.iter()
            .map(|(a, b)| format!("{}→{}", a + 1, b + 1))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Which port of the target a proxy forwards to.
#[derive(Clone, Copy, Debug)]
enum Port {
    Quorum,
    Election,
}

/// A local ensemble of `n` real `paddock` processes (`extra` zoo.cfg lines), each talking to the
/// others only through the proxies of the returned [`Net`]; returned once every member serves.
/// Member `i` runs on `dir/zoo{i+1}.cfg` (its own view of the others' addresses); a restart
/// ([`Peer::restart`]) uses the same file.
pub async fn start_partitionable(n: usize, extra: &[&str]) -> (LocalEnsemble, Net) {
    start_partitionable_with(n, extra, |_| MemberSetup::default()).await
}

/// How one member of [`start_partitionable_with`] starts, besides its zoo.cfg.
#[derive(Debug, Default)]
pub struct MemberSetup {
    /// More environment variables (kept across restarts).
    pub env: Vec<(String, String)>,
    /// Its data directory, if not one of the ensemble's temp dir.
    pub data_dir: Option<std::path::PathBuf>,
}

/// [`start_partitionable`], server `id` (1-based) started as `setup(id)` says.
pub async fn start_partitionable_with(
    n: usize,
    extra: &[&str],
    setup: impl Fn(u64) -> MemberSetup,
) -> (LocalEnsemble, Net) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let ports = peer_ports(n);
    let (cuts, _) = watch::channel(Cuts::new());
    let cuts = Arc::new(cuts);
    let mut proxies = JoinSet::new();
    // listen[from][to] = (quorum proxy port, election proxy port) that `from` dials for `to`.
    let mut listen = vec![vec![(0u16, 0u16); n]; n];
    for (from, row) in listen.iter_mut().enumerate() {
        for (to, slot) in row.iter_mut().enumerate() {
            if from == to {
                continue;
            }
            let mut bound = [0u16; 2];
            for (k, kind) in [Port::Quorum, Port::Election].into_iter().enumerate() {
                // Bound here and kept: the port is never released before the server dials it.
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind a proxy port");
                bound[k] = listener.local_addr().expect("proxy address").port();
                let target_port = match kind {
                    Port::Quorum => ports[to].quorum,
                    Port::Election => ports[to].election,
                };
                let target = SocketAddr::from(([127, 0, 0, 1], target_port));
                proxies.spawn(proxy(listener, from, to, target, cuts.clone()));
            }
            *slot = (bound[0], bound[1]);
        }
    }
    let mut peers = Vec::with_capacity(n);
    for (i, p) in ports.iter().enumerate() {
        let mut cfg = format!(
            "# server.{}'s view of a local test ensemble whose members reach each other through \
             fault-injecting proxies (written by crates/node/tests/support/net.rs).\n",
            i + 1
        );
        for line in extra {
            cfg.push_str(line);
            cfg.push('\n');
        }
        for (j, q) in ports.iter().enumerate() {
            let (quorum, election) = if i == j {
                (q.quorum, q.election)
            } else {
                listen[i][j]
            };
            cfg.push_str(&format!("server.{}=127.0.0.1:{quorum}:{election}\n", j + 1));
        }
        let config = tmp.path().join(format!("zoo{}.cfg", i + 1));
        std::fs::write(&config, cfg).expect("write zoo.cfg");
        let id = i as u64 + 1;
        let member = setup(id);
        let data_dir = member
            .data_dir
            .unwrap_or_else(|| tmp.path().join(id.to_string()));
        peers.push(Peer::spawn_with_env(
            id,
            &config,
            &data_dir,
            p.grpc,
            Vec::new(),
            member.env,
        ));
    }
    let mut e = LocalEnsemble {
        peers,
        ports,
        _tmp: tmp,
    };
    let all: Vec<usize> = (0..n).collect();
    e.wait_serving(&all).await;
    (e, Net { n, cuts, proxies })
}

/// Accepts `from`'s connections to `to` and relays each to `target`.
async fn proxy(
    listener: TcpListener,
    from: usize,
    to: usize,
    target: SocketAddr,
    cuts: Arc<watch::Sender<Cuts>>,
) {
    // Owned here: aborting this task (Net dropped) ends every connection it relays.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((down, _)) => {
                    conns.spawn(relay(down, from, to, target, cuts.clone()));
                }
                // Out of file descriptors or similar: try again shortly.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Waits until every listed direction is open.
async fn open(cuts: &watch::Sender<Cuts>, dirs: &[(usize, usize)]) {
    let mut rx = cuts.subscribe();
    // The sender lives as long as `cuts`: wait_for cannot fail while we hold it.
    let _ = rx.wait_for(|c| dirs.iter().all(|d| !c.contains(d))).await;
}

/// One connection from `from` to `to`.
async fn relay(
    down: TcpStream,
    from: usize,
    to: usize,
    target: SocketAddr,
    cuts: Arc<watch::Sender<Cuts>>,
) {
    open(&cuts, &[(from, to), (to, from)]).await;
    let Ok(up) = TcpStream::connect(target).await else {
        // The target is down: dropping `down` closes the connection, as a refusal would.
        return;
    };
    let _ = down.set_nodelay(true);
    let _ = up.set_nodelay(true);
    let (down_r, down_w) = down.into_split();
    let (up_r, up_w) = up.into_split();
    tokio::select! {
        _ = pump(down_r, up_w, (from, to), &cuts) => {}
        _ = pump(up_r, down_w, (to, from), &cuts) => {}
    }
}

/// Copies one direction of a connection, holding what it read while `dir` is cut.
async fn pump(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    dir: (usize, usize),
    cuts: &watch::Sender<Cuts>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf).await.unwrap_or(0);
        open(cuts, &[dir]).await;
        if n == 0 {
            let _ = w.shutdown().await;
            return;
        }
        if w.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The last lines of each member's log plus the cuts now, for failure messages.
pub fn situation(e: &LocalEnsemble, net: &Net, lines: usize) -> String {
    format!("cuts: {}\n{}", net.describe(), log_tails(&e.peers, lines))
}

/// A TCP proxy in front of one server's client (gRPC) port, for partitions between clients and
/// a server: clients that dial [`ClientLink::addr`] reach the server through it, and
/// [`ClientLink::cut`] stops both directions of every connection through it (held, delivered
/// late and in order on [`ClientLink::heal`], as between servers above; a new connection
/// reaches the server only while the link is up). Its proxy stops when it is dropped.
pub struct ClientLink {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The link as a two-member network: 0 the clients, 1 the server.
    cuts: Arc<watch::Sender<Cuts>>,
    proxy: JoinSet<()>,
}

impl ClientLink {
    /// A link to `server` (a client port), on a free local port.
    pub async fn start(server: SocketAddr) -> ClientLink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a client link port");
        let addr = listener.local_addr().expect("client link address");
        let (cuts, _) = watch::channel(Cuts::new());
        let cuts = Arc::new(cuts);
        let mut proxy_task = JoinSet::new();
        proxy_task.spawn(proxy(listener, 0, 1, server, cuts.clone()));
        ClientLink {
            addr,
            cuts,
            proxy: proxy_task,
        }
    }

    /// Cuts the clients off from the server, both ways.
    pub fn cut(&self) {
        self.cuts.send_modify(|c| {
            c.insert((0, 1));
            c.insert((1, 0));
        });
    }

    /// Cuts one direction only: what the clients send is held (`toward_server`), or what the
    /// server sends. A new connection waits for both directions, as a TCP handshake whose
    /// SYN or SYN-ACK is lost does.
    pub fn cut_one_way(&self, toward_server: bool) {
        self.cuts.send_modify(|c| {
            c.insert(if toward_server { (0, 1) } else { (1, 0) });
        });
    }

    /// Lets everything through again.
    pub fn heal(&self) {
        self.cuts.send_modify(|c| c.clear());
    }

    /// Whether the link is cut now.
    pub fn is_cut(&self) -> bool {
        !self.cuts.borrow().is_empty()
    }
}

impl Drop for ClientLink {
    fn drop(&mut self) {
        self.proxy.abort_all();
    }
}

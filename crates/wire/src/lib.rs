//! # paddock-wire — ZooKeeper's own protocol on `clientPort`
//!
//! The second client gateway: existing ZooKeeper clients (the Java client and Curator, kazoo,
//! the C client, Go and Rust clients) connect to Paddock unmodified. It speaks ZooKeeper's binary
//! protocol — length-prefixed jute records over TCP — onto the same [`Backend`] as the gRPC
//! gateway, so a session is one kind of session whichever protocol opened it: same ids, expiry,
//! ephemerals and watches, resumable over either protocol on any server.
//!
//! ```text
//!  TcpListener (clientPort) ── accept ── per-IP limit (maxClientCnxns)
//!     └▶ one task per connection (`conn`):
//!          first 4 bytes: a four-letter word ─▶ FourLetterWords::run ─▶ text, close
//!          else ConnectRequest ─▶ Backend::connect ─▶ ConnectResponse
//!          frames ─▶ records::decode_request ─▶ Backend::submit
//!          Connected.events ─▶ records::answer / records::notification ─▶ socket
//! ```
//!
//! ## Layout
//! - [`jute`]: the encoding (bounds-checked reader, writer).
//! - [`records`]: ZooKeeper's records as Paddock's `Request` / `Response`; op codes and xids.
//! - `conn`: one connection's driver (ordering, in-flight bound, frame limit, close).
//! - [`words`]: four-letter words on the client port.
//!
//! ## Invariants
//! - Answers leave in request order; watch events in the backend's order; the events of a
//!   `setWatches` before its answer.
//! - Nothing a client sends can panic the server: frames over `max_frame_bytes` close the
//!   connection (as ZooKeeper), undecodable records are answered MARSHALLINGERROR, unknown ops
//!   UNIMPLEMENTED.
//! - Memory per connection is bounded by `max_in_flight` unanswered requests and one frame.
//! - A connection that attached a session either saw the session end or detaches it, once.

pub mod jute;
pub mod records;
pub mod words;

mod conn;

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paddock_api::threads::spawn_serving_threads;
pub use paddock_api::Backend;
use paddock_types::Id;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};
pub use words::FourLetterWords;

/// How the wire gateway behaves; the node fills it from zoo.cfg.
#[derive(Clone, Debug)]
pub struct WireOptions {
    /// Largest frame accepted, bytes: ZooKeeper's `jute.maxbuffer` (its server closes a
    /// connection whose frame is longer). A longer frame closes the connection.
    pub max_frame_bytes: usize,
    /// Unanswered requests read per connection before the socket stops being read.
    pub max_in_flight: usize,
    /// Connections per client IP (`maxClientCnxns`; 0 = no limit).
    pub max_connections_per_ip: usize,
    /// Time a new connection has to send its ConnectRequest (or four-letter word).
    pub handshake_timeout: Duration,
    /// Threads that serve the port, each a single-threaded event loop that accepts from the
    /// port and serves the connections it accepted (`servingThreads`); 0 = connections are
    /// served by the runtime `serve` runs on.
    pub serving_threads: usize,
}

impl Default for WireOptions {
    fn default() -> WireOptions {
        WireOptions {
            max_frame_bytes: 1024 * 1024,
            max_in_flight: 1000,
            max_connections_per_ip: 60,
            handshake_timeout: Duration::from_secs(10),
            serving_threads: 0,
        }
    }
}

/// What every connection of one gateway shares.
pub(crate) struct Shared<B> {
    pub(crate) backend: Arc<B>,
    pub(crate) opts: WireOptions,
    pub(crate) words: Option<Arc<dyn FourLetterWords>>,
    /// Becomes true when the server shuts down: every connection then closes (and detaches).
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// The ZooKeeper-protocol gateway.
pub struct WireGateway<B: Backend> {
    backend: Arc<B>,
    opts: WireOptions,
    words: Option<Arc<dyn FourLetterWords>>,
    tls: Option<WireTls>,
}

/// TLS on the port (ZooKeeper's `secureClientPort`).
#[derive(Clone)]
pub struct WireTls {
    /// The server's certificates (reloaded when their files change) and client-auth policy.
    pub state: paddock_tls::TlsState,
    /// The x509 subject that is the super user (`x509SuperUser`).
    pub x509_super_user: Option<String>,
}

impl<B: Backend> WireGateway<B> {
    pub fn new(backend: Arc<B>, opts: WireOptions) -> WireGateway<B> {
        WireGateway {
            backend,
            opts,
            words: None,
            tls: None,
        }
    }

    /// Serves TLS only (ZooKeeper's `secureClientPort`): a client certificate the trust store
    /// accepts adds its `x509:` id to the session's ids. Four-letter words work inside TLS, as
    /// on ZooKeeper's secure port.
    pub fn with_tls(mut self, tls: WireTls) -> WireGateway<B> {
        self.tls = Some(tls);
        self
    }

    /// Answers ZooKeeper's four-letter words on this port with `words`. Without it every word
    /// is refused as not whitelisted.
    pub fn with_words(mut self, words: Arc<dyn FourLetterWords>) -> WireGateway<B> {
        self.words = Some(words);
        self
    }

    /// Serves on `listener` until `shutdown` resolves; then closes every connection (sessions
    /// stay, detached, until they reconnect elsewhere or expire) and returns.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let sh = Arc::new(Shared {
            backend: self.backend,
            opts: self.opts,
            words: self.words,
            shutdown: stop_rx,
        });
        if let Some(tls) = &self.tls {
            tokio::spawn(tls.state.clone().reload_loop(stop_tx.subscribe()));
        }
        let port = Port {
            sh,
            tls: self.tls,
            per_ip: Arc::default(),
        };
        let threads = port.sh.opts.serving_threads;
        let listener = if threads == 0 {
            listener
        } else {
            let listener = match listener.into_std() {
                Ok(l) => l,
                Err(e) => {
                    warn!(error = %e, "the ZooKeeper-protocol port cannot be handed to its serving threads; not serving it");
                    return;
                }
            };
            let (accepting, accept_stop) = watch::channel(false);
            match port.spawn_threads(&listener, threads, &accept_stop) {
                Ok(done) => {
                    // A thread that cannot run (no runtime, no socket handle) is reported
                    // when it ends, not at shutdown.
                    let ended: Vec<_> = done
                        .into_iter()
                        .map(|d| {
                            tokio::spawn(async move {
                                if let Ok(Err(e)) = d.await {
                                    warn!(error = %e, "a thread serving the ZooKeeper-protocol port could not run");
                                }
                            })
                        })
                        .collect();
                    shutdown.await;
                    info!("ZooKeeper-protocol gateway shutting down");
                    accepting.send_replace(true);
                    stop_tx.send_replace(true);
                    for e in ended {
                        let _ = e.await;
                    }
                    return;
                }
                Err(e) => {
                    // The threads started stop accepting; this runtime serves the port.
                    accepting.send_replace(true);
                    warn!(error = %e, "cannot start the threads serving the ZooKeeper-protocol port; serving it on the worker threads");
                    match TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            warn!(error = %e, "the ZooKeeper-protocol port cannot be served");
                            return;
                        }
                    }
                }
            }
        };
        let mut conns = port.accept_until(listener, shutdown).await;
        info!("ZooKeeper-protocol gateway shutting down");
        stop_tx.send_replace(true);
        while conns.join_next().await.is_some() {}
    }
}

/// What the accept loops of one port share.
struct Port<B> {
    sh: Arc<Shared<B>>,
    tls: Option<WireTls>,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl<B> Clone for Port<B> {
    fn clone(&self) -> Port<B> {
        Port {
            sh: Arc::clone(&self.sh),
            tls: self.tls.clone(),
            per_ip: Arc::clone(&self.per_ip),
        }
    }
}

impl<B: Backend> Port<B> {
    /// Accepts connections and serves each in a task until `shutdown` resolves; returns those
    /// tasks (they end once [`Shared::shutdown`] says true).
    async fn accept_until(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> JoinSet<()> {
        let mut conns = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                Some(_) = conns.join_next(), if !conns.is_empty() => continue,
                a = listener.accept() => a,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: back off rather than spin.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let limit = self.sh.opts.max_connections_per_ip;
            let Some(slot) = IpSlot::take(&self.per_ip, peer.ip(), limit) else {
                warn!(%peer, limit, "too many connections from this address (maxClientCnxns); closing");
                drop(stream);
                continue;
            };
            let sh = Arc::clone(&self.sh);
            let _ = stream.set_nodelay(true);
            let tls = self.tls.clone();
            conns.spawn(async move {
                let _slot = slot;
                match tls {
                    None => conn::serve(sh, stream, peer, vec![Id::ip(peer.ip())]).await,
                    Some(tls) => {
                        if let Some((stream, ids)) = tls_handshake(&tls, stream, peer).await {
                            conn::serve(sh, stream, peer, ids).await;
                        }
                    }
                }
            });
        }
        conns
    }

    /// Starts `n` threads (`paddock_api::threads`), each accepting from a handle of
    /// `listener` until `stop` says true, then waiting for its connections (which end at
    /// [`Shared::shutdown`]). A connection's requests and answers then stay on one thread.
    /// Each thread's receiver resolves when it ended.
    fn spawn_threads(
        &self,
        listener: &std::net::TcpListener,
        n: usize,
        stop: &watch::Receiver<bool>,
    ) -> std::io::Result<Vec<oneshot::Receiver<std::io::Result<()>>>> {
        let (port, stop) = (self.clone(), stop.clone());
        spawn_serving_threads("paddock-zk", listener, n, move |listener| async move {
            let mut stop = stop;
            let stopped = async move {
                let _ = stop.wait_for(|stop| *stop).await;
            };
            let mut conns = port.accept_until(listener, stopped).await;
            while conns.join_next().await.is_some() {}
        })
    }
}

/// The server side of a TLS handshake, and the ids the connection proves (`ip:`, `x509:` of a
/// verified client certificate, the super user's id when that subject is `x509SuperUser`).
/// `None` (logged) when the handshake fails or takes too long.
async fn tls_handshake(
    tls: &WireTls,
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
) -> Option<(
    tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    Vec<Id>,
)> {
    let acceptor = tls.state.acceptor_without_alpn();
    let limit = tls.state.handshake_timeout();
    let stream = match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let why = paddock_tls::explain_accept_error(&e, false);
            info!(%peer, reason = %why, "TLS handshake failed on the secure client port");
            return None;
        }
        Err(_) => {
            info!(%peer, "no TLS handshake within {limit:?} on the secure client port");
            return None;
        }
    };
    let mut ids = vec![Id::ip(peer.ip())];
    let cert = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| paddock_tls::x509_id(c.as_ref()));
    if let Some(x509) = cert {
        if tls.x509_super_user.as_deref() == Some(x509.id.as_str()) {
            ids.push(Id::super_user());
        }
        ids.push(x509);
    }
    Some((stream, ids))
}

/// One connection's place in the per-IP count, given back on drop.
struct IpSlot {
    map: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl IpSlot {
    fn take(map: &Arc<Mutex<HashMap<IpAddr, usize>>>, ip: IpAddr, limit: usize) -> Option<IpSlot> {
        let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if limit != 0 && *n >= limit {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            map: Arc::clone(map),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

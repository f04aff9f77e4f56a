//! [`TcpPeerTransport`]: the [`PeerTransport`] over plain TCP (mutual TLS with rustls when
//! `sslQuorum` is on) — one connection per leader <-> learner pair carrying length-prefixed
//! prost `PeerFrame`s (proto/paddock/v1/quorum.proto; the framing is in [`frame`]).
//!
//! ```text
//!  TcpPeerTransport::serve(config, listener)       (every server serves its quorum port)
//!   ├─ accept task: per socket (at most MAX_HANDSHAKES at once): [TLS], read + check the hello,
//!   │     [certificate names the host of the id claimed], answer hello (or a Refusal) ─┐
//!   ├─ connect(to): dial peers[to], [TLS], send hello, check the answer ──────────────────┤
//!   │                                                                                      ▼
//!   │   attach(peer): conns[peer] = { generation, queue of encoded batches (bounded) }
//!   │     writer task per connection: drains the queue, everything queued in one write
//!   │     the reading half (FramedRead) goes to recv
//!   └─ recv(): polls every peer's FramedRead itself (no reader task: no task hop per frame;
//!        a read takes whatever the socket has, and the frames in it are decoded in place)
//! ```
//!
//! Rules:
//! - the first frame each way is a hello (server id + `PROTOCOL_VERSION`); a connection whose
//!   hello is missing (within `hello_timeout`), is not a frame, is above 64 KiB, is from an
//!   unknown id, from our own id or with another version is refused: the acceptor answers a
//!   `Refusal` (code + reason) instead of its hello, logs at warn why, and closes; the dialler's
//!   `connect` fails with that reason. The server keeps serving;
//! - after the hello, a frame above `max_frame_bytes` (checked on the length prefix, before
//!   anything is allocated), one that does not decode, or one that is not a `PeerMessage` (no
//!   kind, a second hello) ends that connection (`Disconnected`), logged at warn;
//! - every dial and handshake is bounded by `connect_timeout` / `hello_timeout`, every `send` by
//!   `send_timeout` (the outbound queue is bounded: back-pressure, then `Timeout`), and every
//!   write to the socket must make progress within `send_timeout` or the connection is closed;
//! - `send_batch` encodes a wakeup's messages for a peer into one buffer; the writer task writes
//!   whatever is queued when it wakes in one write (one syscall when the socket takes it);
//! - a newer connection with the same peer replaces the older one (the old one is closed);
//!   events of the old one still queued are dropped, and the driver sees `Disconnected(p)` then
//!   `Connected(p)`;
//! - TCP_NODELAY is on and TCP keep-alive probes every `keepalive` on an idle connection; a
//!   dead leader behind a live connection is ZAB's to detect (no PING for syncLimit ticks);
//! - with `tls` (sslQuorum) the port takes TLS connections only, each peer presenting a
//!   certificate that chains to the trust store; after the hello, the certificate must name the
//!   host the server list gives for the id claimed (`paddock_tls::check_peer_certificate`). A
//!   dialler reads the files at each dial and checks the dialled server's certificate against
//!   that host. Refusals are logged at warn (at most every 30 s per peer and reason), with
//!   `paddock_tls::MISMATCH_HINT` when one end speaks TLS and the other does not.

pub mod frame;
mod handshake;

use super::convert::{from_frame_batch, to_frame};
use super::{PeerEvent, PeerTransport, TransportError};
use crate::messages::PeerMessage;
use bytes::{Bytes, BytesMut};
use frame::{FrameCodec, FrameError};
use futures::Stream;
use paddock_election::grpc::PeerBook;
use paddock_proto::v1::PeerFrame;
use paddock_tls::{PeerTls, TlsState, WarnLimiter};
use paddock_types::ServerId;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::{StreamExt, StreamMap};
use tokio_util::codec::FramedRead;

/// Batches one write takes from a connection's queue at most.
const WRITE_BATCH: usize = 64;

/// A writer's concatenation buffer above this is given back after use (after a snapshot).
const WRITE_BUFFER_KEEP_BYTES: usize = 1 << 20;

/// Settings of a [`TcpPeerTransport`].
#[derive(Clone, Debug)]
pub struct TcpPeerConfig {
    /// This server's id.
    pub me: ServerId,
    /// The quorum address ("host:port") of every server of the ensemble (ours may be included:
    /// it is ignored). Connections from ids not in this map are refused.
    pub peers: HashMap<ServerId, String>,
    /// Bound on establishing a connection (TCP, and the TLS handshake with sslQuorum).
    pub connect_timeout: Duration,
    /// Bound on the hello exchange (both ways).
    pub hello_timeout: Duration,
    /// Bound on one `send` waiting for room in a connection's outbound queue, and on one write
    /// to the socket making progress.
    pub send_timeout: Duration,
    /// Idle time before TCP keep-alive probes, and between them.
    pub keepalive: Duration,
    /// Batches (one per `send`/`send_batch`) queued per outbound connection.
    pub stream_capacity: usize,
    /// Connection arrivals and disconnects queued for `recv` (all peers together; messages are
    /// read from the sockets by `recv` itself).
    pub event_capacity: usize,
    /// Largest frame accepted or sent, in bytes (a SNAP carries a whole snapshot).
    pub max_frame_bytes: usize,
    /// This server's ensemble in canonical form (sent in the hello; a peer announcing another
    /// list is logged as a configuration disagreement). Empty: not sent, not checked.
    pub server_list: String,
    /// Mutual TLS with every peer (sslQuorum); `None`: plaintext.
    pub tls: Option<PeerTls>,
    /// Take connections from servers outside `peers` too (reconfigEnabled: a server joining the
    /// ensemble connects to the leader before the configuration lists it).
    pub accept_unknown: bool,
}

impl TcpPeerConfig {
    /// Defaults: connect 5 s, hello 5 s, send 10 s, keep-alive 5 s, 1024 batches per
    /// connection, 4096 events, 1 GiB frames.
    pub fn new(me: ServerId, peers: HashMap<ServerId, String>) -> TcpPeerConfig {
        TcpPeerConfig {
            me,
            peers,
            connect_timeout: Duration::from_secs(5),
            hello_timeout: Duration::from_secs(5),
            send_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(5),
            stream_capacity: 1024,
            event_capacity: 4096,
            max_frame_bytes: 1 << 30,
            server_list: String::new(),
            tls: None,
            accept_unknown: false,
        }
    }
}

type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;
type Frames = FramedRead<BoxRead, FrameCodec>;

/// What `attach`, `disconnect` and the writers tell `recv`, tagged with the connection's
/// generation.
enum Raw {
    /// A new connection with the peer: `recv` reads it from now on (replacing an older one).
    Connected(ServerId, u64, Inbound),
    /// The connection is to be forgotten (`disconnect`, a failed write).
    Disconnected(ServerId, u64),
}

/// The reading half of a connection as `recv` polls it: frames, then one `End` with the reason,
/// tagged with the generation.
type Inbound = Pin<Box<dyn Stream<Item = (u64, InboundItem)> + Send>>;

enum InboundItem {
    Frame(PeerFrame),
    /// The peer closed the connection, or the socket failed.
    End(String),
    /// A frame that cannot be read (too large, not a `PeerFrame`).
    Broken(String),
}

fn inbound(generation: u64, frames: Frames) -> Inbound {
    Box::pin(futures::stream::unfold(
        Some(frames),
        move |state| async move {
            let mut frames = state?;
            let item = match frames.next().await {
                Some(Ok(frame)) => {
                    return Some(((generation, InboundItem::Frame(frame)), Some(frames)));
                }
                None => InboundItem::End("closed by the peer".to_string()),
                Some(Err(FrameError::Io(e))) => InboundItem::End(e.to_string()),
                Some(Err(e)) => InboundItem::Broken(e.to_string()),
            };
            Some(((generation, item), None))
        },
    ))
}

/// The live connection with one peer.
struct Conn {
    generation: u64,
    /// Encoded frames for the writer task, one entry per `send`/`send_batch`.
    out: mpsc::Sender<Bytes>,
}

struct Shared {
    config: TcpPeerConfig,
    /// The peers' addresses (`config.peers`, then what a reconfiguration set).
    book: PeerBook,
    conns: Mutex<HashMap<ServerId, Conn>>,
    next_generation: AtomicU64,
    events: mpsc::Sender<Raw>,
    /// Keeps a misconfigured peer's redials from filling the log.
    warnings: WarnLimiter,
    /// The accepting side's TLS (sslQuorum), reloaded when the files change.
    acceptor: Option<TlsState>,
}

impl Shared {
    fn me(&self) -> ServerId {
        self.config.me
    }

    fn conns(&self) -> MutexGuard<'_, HashMap<ServerId, Conn>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `frames`/`write` the connection with `peer` (replacing an older one): starts its
    /// writer task and hands the reading half to `recv`, which reports `Connected` and then
    /// reads it.
    async fn attach(self: &Arc<Self>, peer: ServerId, frames: Frames, write: BoxWrite) {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed) + 1;
        let (out, queue) = mpsc::channel(self.config.stream_capacity.max(1));
        tokio::spawn(write_loop(
            Arc::downgrade(self),
            peer,
            generation,
            write,
            queue,
        ));
        let old = self.conns().insert(peer, Conn { generation, out });
        if old.is_some() {
            tracing::info!(me = %self.me(), %peer, "a newer connection replaces the older one");
        }
        let _ = self
            .events
            .send(Raw::Connected(
                peer,
                generation,
                inbound(generation, frames),
            ))
            .await;
    }

    /// Forgets the connection of `peer` if it is still generation `generation`.
    fn detach(&self, peer: ServerId, generation: u64) -> Option<Conn> {
        let mut conns = self.conns();
        if conns.get(&peer).map(|c| c.generation) == Some(generation) {
            conns.remove(&peer)
        } else {
            None
        }
    }
}

/// Writes `data`, each write making progress within `limit`.
async fn write_all_bounded(w: &mut BoxWrite, data: &[u8], limit: Duration) -> std::io::Result<()> {
    let mut at = 0;
    while at < data.len() {
        match tokio::time::timeout(limit, w.write(&data[at..])).await {
            Ok(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(Ok(n)) => at += n,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no write progress within {limit:?}"),
                ))
            }
        }
    }
    match tokio::time::timeout(limit, w.flush()).await {
        Ok(result) => result,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// The writer task of one connection: everything queued when it wakes goes out in one write.
/// Ends when the queue's sender is dropped (the connection was replaced, disconnected or the
/// transport dropped: the write side is shut down, which the peer reads as the end), or when a
/// write fails (the connection is then forgotten and `recv` reports `Disconnected`).
async fn write_loop(
    shared: Weak<Shared>,
    peer: ServerId,
    generation: u64,
    mut w: BoxWrite,
    mut queue: mpsc::Receiver<Bytes>,
) {
    let limit = match shared.upgrade() {
        Some(s) => s.config.send_timeout,
        None => return,
    };
    let mut batch: Vec<Bytes> = Vec::with_capacity(WRITE_BATCH);
    let mut buf = BytesMut::new();
    let failure = loop {
        if queue.recv_many(&mut batch, WRITE_BATCH).await == 0 {
            break None;
        }
        let result = if let [one] = batch.as_slice() {
            write_all_bounded(&mut w, one, limit).await
        } else {
            buf.clear();
            for b in &batch {
                buf.extend_from_slice(b);
            }
            write_all_bounded(&mut w, &buf, limit).await
        };
        batch.clear();
        if buf.capacity() > WRITE_BUFFER_KEEP_BYTES {
            buf = BytesMut::new();
        }
        if let Err(e) = result {
            break Some(e);
        }
    };
    match failure {
        None => {
            let _ = tokio::time::timeout(limit, w.shutdown()).await;
        }
        Some(e) => {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            tracing::info!(me = %shared.me(), %peer, error = %e, "writing to a peer failed; closing the connection");
            if shared.detach(peer, generation).is_some() {
                let _ = shared
                    .events
                    .send(Raw::Disconnected(peer, generation))
                    .await;
            }
        }
    }
}

/// What `recv` keeps between calls.
struct RecvState {
    raw: mpsc::Receiver<Raw>,
    /// The reading half of every connected peer (the newest generation only).
    streams: StreamMap<ServerId, Inbound>,
    /// The generation of the connection each connected peer is on, as last reported.
    current: HashMap<ServerId, u64>,
    /// The newest generation seen per peer (older `Connected`s are stale).
    newest: HashMap<ServerId, u64>,
    pending: VecDeque<PeerEvent>,
}

/// The TCP [`PeerTransport`]. Serves the quorum port from [`TcpPeerTransport::serve`] until
/// dropped; dropping it closes every connection.
pub struct TcpPeerTransport {
    shared: Arc<Shared>,
    state: tokio::sync::Mutex<RecvState>,
    local_addr: SocketAddr,
    server: JoinHandle<()>,
    /// Dropped with the transport: ends the TLS reload loop.
    _stop_reload: Option<watch::Sender<bool>>,
}

impl TcpPeerTransport {
    /// Starts serving the quorum port on `listener`. Must be called inside a tokio runtime.
    pub fn serve(
        config: TcpPeerConfig,
        listener: TcpListener,
    ) -> Result<TcpPeerTransport, TransportError> {
        let local_addr = listener.local_addr().map_err(|e| TransportError::Connect {
            peer: config.me,
            reason: format!("listener: {e}"),
        })?;
        let acceptor = match &config.tls {
            Some(tls) => Some(
                tls.server("quorum port")
                    .map_err(|e| TransportError::Tls(format!("quorum port: {e}")))?,
            ),
            None => None,
        };
        let stop_reload = acceptor.as_ref().map(|state| {
            let (stop, stopped) = watch::channel(false);
            tokio::spawn(state.clone().reload_loop(stopped));
            stop
        });
        let (events, raw) = mpsc::channel(config.event_capacity.max(1));
        let me = config.me;
        let book = PeerBook::new(config.peers.clone());
        let security = if acceptor.is_some() {
            "TLS (sslQuorum)"
        } else {
            "plaintext"
        };
        let shared = Arc::new(Shared {
            config,
            book,
            conns: Mutex::new(HashMap::new()),
            next_generation: AtomicU64::new(0),
            events,
            warnings: WarnLimiter::default(),
            acceptor,
        });
        let server = tokio::spawn(handshake::accept_loop(Arc::clone(&shared), listener));
        tracing::info!(%me, %local_addr, %security, "serving the quorum port");
        Ok(TcpPeerTransport {
            shared,
            state: tokio::sync::Mutex::new(RecvState {
                raw,
                streams: StreamMap::new(),
                current: HashMap::new(),
                newest: HashMap::new(),
                pending: VecDeque::new(),
            }),
            local_addr,
            server,
            _stop_reload: stop_reload,
        })
    }

    /// Queues the encoded `frames` on the connection with `to` (bounded by the send timeout).
    async fn send_frames(
        &self,
        to: ServerId,
        frames: impl IntoIterator<Item = PeerFrame>,
    ) -> Result<(), TransportError> {
        let out = self
            .shared
            .conns()
            .get(&to)
            .map(|c| (c.generation, c.out.clone()))
            .ok_or(TransportError::NotConnected(to))?;
        let (generation, out) = out;
        let max = self.shared.config.max_frame_bytes;
        let mut buf = BytesMut::new();
        for frame in frames {
            if let Err(FrameError::TooLarge { len, max }) = frame::encode(&frame, max, &mut buf) {
                // The peer would refuse it: end the connection, so the failure shows.
                tracing::warn!(me = %self.me(), peer = %to, bytes = len, max, "a message is above the largest frame; closing the connection");
                if self.shared.detach(to, generation).is_some() {
                    let _ = self
                        .shared
                        .events
                        .send(Raw::Disconnected(to, generation))
                        .await;
                }
                return Err(TransportError::TooLarge {
                    peer: to,
                    bytes: len,
                    max,
                });
            }
        }
        match tokio::time::timeout(self.shared.config.send_timeout, out.send(buf.freeze())).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(TransportError::NotConnected(to)),
            Err(_) => Err(TransportError::Timeout {
                peer: to,
                what: "sending to",
            }),
        }
    }

    async fn recv_event(&self) -> Option<PeerEvent> {
        let mut guard = self.state.lock().await;
        let st = &mut *guard;
        let me = self.shared.me();
        loop {
            if let Some(event) = st.pending.pop_front() {
                return Some(event);
            }
            let reading = !st.streams.is_empty();
            tokio::select! {
                raw = st.raw.recv() => match raw? {
                    Raw::Connected(peer, generation, stream) => {
                        if st.newest.get(&peer).is_some_and(|g| *g >= generation) {
                            continue; // a connection already replaced by a newer one
                        }
                        st.newest.insert(peer, generation);
                        st.streams.insert(peer, stream);
                        if st.current.insert(peer, generation).is_some() {
                            st.pending.push_back(PeerEvent::Disconnected(peer));
                        }
                        st.pending.push_back(PeerEvent::Connected(peer));
                    }
                    Raw::Disconnected(peer, generation) => {
                        if st.current.get(&peer) == Some(&generation) {
                            st.current.remove(&peer);
                            st.streams.remove(&peer);
                            return Some(PeerEvent::Disconnected(peer));
                        }
                    }
                },
                Some((peer, (generation, item))) = st.streams.next(), if reading => {
                    if st.current.get(&peer) != Some(&generation) {
                        continue;
                    }
                    match item {
                        InboundItem::Frame(frame) => match from_frame_batch(frame) {
                            Ok(messages) => {
                                st.pending
                                    .extend(messages.into_iter().map(|m| PeerEvent::Message(peer, m)));
                                continue;
                            }
                            Err(e) => {
                                tracing::warn!(%me, %peer, error = %e, "bad frame from peer; closing its connection");
                            }
                        },
                        InboundItem::Broken(reason) => {
                            tracing::warn!(%me, %peer, %reason, "unreadable frame from peer; closing its connection");
                        }
                        InboundItem::End(reason) => {
                            tracing::info!(%me, %peer, %reason, "peer connection ended");
                        }
                    }
                    // Dropping the queue's sender ends the writer, which closes our side.
                    self.shared.detach(peer, generation);
                    st.streams.remove(&peer);
                    st.current.remove(&peer);
                    return Some(PeerEvent::Disconnected(peer));
                }
            }
        }
    }

    /// The address the quorum port listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The peers' addresses: a reconfiguration changes them while the transport runs.
    pub fn peer_book(&self) -> PeerBook {
        self.shared.book.clone()
    }

    /// The peers a connection is up with now.
    pub fn connected(&self) -> Vec<ServerId> {
        let mut ids: Vec<ServerId> = self.shared.conns().keys().copied().collect();
        ids.sort();
        ids
    }
}

impl Drop for TcpPeerTransport {
    fn drop(&mut self) {
        // Ends the accept loop and every handshake in flight.
        self.server.abort();
        // Dropping the outbound queues ends every writer, which closes our side of each
        // connection; the reading halves go with `state`.
        self.shared.conns().clear();
    }
}

impl PeerTransport for TcpPeerTransport {
    fn me(&self) -> ServerId {
        self.shared.me()
    }

    async fn connect(&self, to: ServerId) -> Result<(), TransportError> {
        handshake::dial(&self.shared, to).await
    }

    async fn send_batch(
        &self,
        to: ServerId,
        messages: Vec<PeerMessage>,
    ) -> Result<(), TransportError> {
        self.send_frames(to, messages.into_iter().map(to_frame))
            .await
    }

    async fn send(&self, to: ServerId, message: PeerMessage) -> Result<(), TransportError> {
        self.send_frames(to, [to_frame(message)]).await
    }

    async fn recv(&self) -> Option<PeerEvent> {
        self.recv_event().await
    }

    async fn disconnect(&self, peer: ServerId) {
        let conn = self.shared.conns().remove(&peer);
        if let Some(conn) = conn {
            let _ = self
                .shared
                .events
                .send(Raw::Disconnected(peer, conn.generation))
                .await;
        }
    }
}

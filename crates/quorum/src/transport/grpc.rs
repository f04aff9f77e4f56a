//! [`GrpcPeerTransport`]: the [`PeerTransport`] over gRPC — `paddock.v1.Quorum/Peer`, one
//! bidirectional stream of `PeerFrame`s per leader <-> learner pair (proto/paddock/v1/quorum.proto).
//!
//! ```text
//!  GrpcPeerTransport::serve(config, listener)      (every server serves its quorum port)
//!   ├─ server task: tonic Quorum service ── incoming stream: check hello ─┐
//!   ├─ connect(to): dial peers[to], send hello, check the leader's hello ─┤
//!   │                                                                     ▼ attach(peer, stream)
//!   │     conns[peer] = { generation, outbound queue (bounded) }; the inbound stream goes to recv
//!   └─ recv(): polls every peer's inbound stream itself (no reader task: one task hop less per
//!        frame) -> convert::from_frame_batch -> events; a replaced stream is dropped
//! ```
//!
//! Rules:
//! - the first frame each way is a hello (server id + `PROTOCOL_VERSION`); a stream whose hello is
//!   missing (within `hello_timeout`), malformed, from an unknown id, from our own id or with
//!   another version is refused with a gRPC status and a `warn!` saying why; the server keeps
//!   serving;
//! - a later frame that is not a `PeerMessage` (no kind, a second hello) ends that stream
//!   (`Disconnected`), logged;
//! - every dial and handshake is bounded by `connect_timeout` / `hello_timeout`, every `send` by
//!   `send_timeout` (the outbound queue is bounded: back-pressure, then `Timeout`);
//! - a newer stream with the same peer replaces the older one (the old one is closed); events of
//!   the old one still queued are dropped, and the driver sees `Disconnected(p)` then
//!   `Connected(p)`;
//! - with `tls` (sslQuorum) the port takes TLS connections only, each peer presenting a
//!   certificate that chains to the trust store; after the hello, the certificate must name the
//!   host the server list gives for the id claimed (`paddock_tls::check_peer_certificate`). A
//!   dialler reads the files at each dial and checks the dialled server's certificate against
//!   that host. Refusals are logged at warn (at most every 30 s per peer and reason), with
//!   `paddock_tls::MISMATCH_HINT` when one end speaks TLS and the other does not.

use super::convert::{from_frame_batch, hello, to_batch_frames, to_frame};
use super::{PeerEvent, PeerTransport, TransportError};
use crate::messages::{PeerMessage, PROTOCOL_VERSION};
use paddock_election::grpc::{check_sender, first_frame, PeerBook};
use paddock_proto::v1::peer_frame::Kind;
use paddock_proto::v1::quorum_client::QuorumClient;
use paddock_proto::v1::quorum_server::{Quorum, QuorumServer};
use paddock_proto::v1::PeerFrame;
use paddock_tls::{PeerTls, WarnLimiter};
use paddock_types::ServerId;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt, StreamMap};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status, Streaming};

/// Largest batch frame built by `send_batch` (a single bigger message still goes alone).
const MAX_BATCH_BYTES: usize = 4 << 20;

/// Settings of a [`GrpcPeerTransport`].
#[derive(Clone, Debug)]
pub struct GrpcPeerConfig {
    /// This server's id.
    pub me: ServerId,
    /// The quorum address ("host:port") of every server of the ensemble (ours may be included:
    /// it is ignored). Streams from ids not in this map are refused.
    pub peers: HashMap<ServerId, String>,
    /// Bound on establishing a TCP/HTTP2 connection.
    pub connect_timeout: Duration,
    /// Bound on the hello exchange (both ways).
    pub hello_timeout: Duration,
    /// Bound on one `send` waiting for room in a stream's outbound queue.
    pub send_timeout: Duration,
    /// HTTP/2 keep-alive ping interval on dialled connections (detects dead leaders).
    pub keepalive: Duration,
    /// Frames queued per outbound stream.
    pub stream_capacity: usize,
    /// Stream arrivals and disconnects queued for `recv` (all peers together; messages are read
    /// from the streams by `recv` itself).
    pub event_capacity: usize,
    /// Largest frame accepted or sent, in bytes (a SNAP carries a whole snapshot).
    pub max_frame_bytes: usize,
    /// This server's ensemble in canonical form (sent in the hello; a peer announcing another
    /// list is logged as a configuration disagreement). Empty: not sent, not checked.
    pub server_list: String,
    /// Mutual TLS with every peer (sslQuorum); `None`: plaintext.
    pub tls: Option<PeerTls>,
    /// Take streams from servers outside `peers` too (reconfigEnabled: a server joining the
    /// ensemble connects to the leader before the configuration lists it).
    pub accept_unknown: bool,
}

impl GrpcPeerConfig {
    /// Defaults: connect 5 s, hello 5 s, send 10 s, keep-alive 5 s, 1024 frames per stream,
    /// 4096 events, 1 GiB frames.
    pub fn new(me: ServerId, peers: HashMap<ServerId, String>) -> GrpcPeerConfig {
        GrpcPeerConfig {
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

/// What `attach` and `disconnect` tell `recv`, tagged with the stream's generation.
enum Raw {
    /// A new stream with the peer: `recv` reads it from now on (replacing an older one).
    Connected(ServerId, u64, Inbound),
    /// The stream is to be closed (`disconnect`).
    Disconnected(ServerId, u64),
}

/// The receiving half of a peer stream as `recv` polls it: frames, then one `End` with the
/// reason, tagged with the generation. Holds the dialled channel (if we dialled) open.
type Inbound = Pin<Box<dyn Stream<Item = (u64, InboundItem)> + Send>>;

enum InboundItem {
    Frame(PeerFrame),
    End(String),
}

fn inbound(
    generation: u64,
    frames: Streaming<PeerFrame>,
    keep: Option<QuorumClient<Channel>>,
) -> Inbound {
    Box::pin(futures::stream::unfold(
        Some((frames, keep)),
        move |state| async move {
            let (mut frames, keep) = state?;
            let item = match frames.message().await {
                Ok(Some(frame)) => {
                    return Some((
                        (generation, InboundItem::Frame(frame)),
                        Some((frames, keep)),
                    ))
                }
                Ok(None) => InboundItem::End("closed by the peer".to_string()),
                Err(status) => InboundItem::End(format!("{}: {}", status.code(), status.message())),
            };
            Some(((generation, item), None))
        },
    ))
}

/// The live stream with one peer.
struct Conn {
    generation: u64,
    out: mpsc::Sender<PeerFrame>,
}

struct Shared {
    config: GrpcPeerConfig,
    /// The peers' addresses (`config.peers`, then what a reconfiguration set).
    book: PeerBook,
    conns: Mutex<HashMap<ServerId, Conn>>,
    next_generation: AtomicU64,
    events: mpsc::Sender<Raw>,
    /// Keeps a misconfigured peer's redials from filling the log.
    warnings: WarnLimiter,
}

impl Shared {
    fn me(&self) -> ServerId {
        self.config.me
    }

    fn conns(&self) -> MutexGuard<'_, HashMap<ServerId, Conn>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `inbound`/`out` the stream with `peer` (replacing an older one) and hands the
    /// inbound half to `recv`, which reports `Connected` and then reads it. `keep` holds a
    /// dialled channel open.
    async fn attach(
        self: &Arc<Self>,
        peer: ServerId,
        frames: Streaming<PeerFrame>,
        out: mpsc::Sender<PeerFrame>,
        keep: Option<QuorumClient<Channel>>,
    ) {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed) + 1;
        let old = self.conns().insert(peer, Conn { generation, out });
        if old.is_some() {
            tracing::info!(me = %self.me(), %peer, "a newer stream replaces the older one");
        }
        let _ = self
            .events
            .send(Raw::Connected(
                peer,
                generation,
                inbound(generation, frames, keep),
            ))
            .await;
    }

    /// Forgets the stream of `peer` if it is still generation `generation`.
    fn detach(&self, peer: ServerId, generation: u64) -> Option<Conn> {
        let mut conns = self.conns();
        if conns.get(&peer).map(|c| c.generation) == Some(generation) {
            conns.remove(&peer)
        } else {
            None
        }
    }

    /// Checks the first frame of a stream; `expected` is the id we dialled, if we dialled.
    async fn check_hello(
        &self,
        inbound: &mut Streaming<PeerFrame>,
        expected: Option<ServerId>,
    ) -> Result<ServerId, Status> {
        let frame = first_frame(inbound, self.config.hello_timeout).await?;
        let Some(Kind::Hello(h)) = frame.kind else {
            return Err(Status::invalid_argument("the first frame must be a hello"));
        };
        let id = ServerId(h.server_id);
        let known = self.config.accept_unknown || self.book.contains(id);
        check_sender(self.me(), id, known, expected)?;
        if h.protocol_version != PROTOCOL_VERSION {
            return Err(Status::failed_precondition(format!(
                "protocol version {} is not mine ({PROTOCOL_VERSION})",
                h.protocol_version
            )));
        }
        let ours = &self.config.server_list;
        if !ours.is_empty() && !h.server_list.is_empty() && h.server_list != *ours {
            tracing::warn!(
                me = %self.me(),
                peer = %id,
                theirs = %h.server_list,
                ours = %ours,
                "server {id} is configured with another server list than this server: fix the \
                 server.N lines so that every server has the same ones"
            );
        }
        Ok(id)
    }

    async fn dial(self: &Arc<Self>, to: ServerId) -> Result<(), TransportError> {
        let config = &self.config;
        if to == self.me() {
            return Err(TransportError::UnknownPeer(to));
        }
        let addr = self.book.get(to).ok_or(TransportError::UnknownPeer(to))?;
        let addr = &addr;
        let connect_err = |reason: String| TransportError::Connect { peer: to, reason };
        let tls = config.tls.is_some();
        // A refusal, a TLS problem or a TLS / plaintext mismatch: a configuration error, worth a
        // warning (unlike a leader that is down, which the driver logs at debug).
        let misconfigured = |reason: String| {
            if self.warnings.should_warn(&format!("dial {to}|{reason}")) {
                tracing::warn!(me = %self.me(), peer = %to, %addr, "cannot open a peer stream to server {to} at {addr}: {reason}");
            }
            connect_err(reason)
        };
        let explain = |e: &(dyn std::error::Error + 'static)| {
            let failure = paddock_tls::explain_dial_error(e, tls);
            if failure.is_configuration_problem() {
                misconfigured(failure.reason)
            } else {
                connect_err(format!("{addr}: {}", failure.reason))
            }
        };
        let endpoint = paddock_tls::peer_endpoint(addr, config.tls.as_ref())
            .map_err(misconfigured)?
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(config.keepalive)
            .keep_alive_timeout(config.keepalive)
            .keep_alive_while_idle(true);
        let channel = tokio::time::timeout(config.connect_timeout, endpoint.connect())
            .await
            .map_err(|_| TransportError::Timeout {
                peer: to,
                what: "connecting to",
            })?
            .map_err(|e| explain(&e))?;
        let mut client = QuorumClient::new(channel)
            .max_decoding_message_size(config.max_frame_bytes)
            .max_encoding_message_size(config.max_frame_bytes);
        let (out, out_rx) = mpsc::channel(config.stream_capacity.max(1));
        out.try_send(hello(self.me(), PROTOCOL_VERSION, &self.config.server_list))
            .expect("a new queue has room for the hello");
        let handshake = async {
            let response = client
                .peer(ReceiverStream::new(out_rx))
                .await
                .map_err(|status| explain(&status))?;
            let mut inbound = response.into_inner();
            if let Err(status) = self.check_hello(&mut inbound, Some(to)).await {
                tracing::warn!(me = %self.me(), peer = %to, code = ?status.code(), reason = status.message(), "peer stream refused");
                return Err(connect_err(format!(
                    "refused: {:?}: {}",
                    status.code(),
                    status.message()
                )));
            }
            Ok(inbound)
        };
        let inbound = match tokio::time::timeout(config.hello_timeout, handshake).await {
            Err(_) => {
                return Err(TransportError::Timeout {
                    peer: to,
                    what: "handshaking with",
                })
            }
            Ok(Err(e)) => return Err(e),
            Ok(Ok(inbound)) => inbound,
        };
        self.attach(to, inbound, out, Some(client)).await;
        Ok(())
    }
}

/// The gRPC `Quorum` service: accepts learners' streams.
struct QuorumService {
    shared: Arc<Shared>,
}

type FrameStream = Pin<Box<dyn Stream<Item = Result<PeerFrame, Status>> + Send>>;

#[tonic::async_trait]
impl Quorum for QuorumService {
    type PeerStream = FrameStream;

    async fn peer(
        &self,
        request: Request<Streaming<PeerFrame>>,
    ) -> Result<Response<FrameStream>, Status> {
        let remote = request.remote_addr();
        let certs = request.peer_certs();
        let mut inbound = request.into_inner();
        let shared = &self.shared;
        let peer = match shared.check_hello(&mut inbound, None).await {
            Ok(peer) => peer,
            Err(status) => {
                tracing::warn!(me = %shared.me(), ?remote, code = ?status.code(), reason = status.message(), "refused a peer stream");
                return Err(status);
            }
        };
        let addr = shared.book.get(peer).unwrap_or_default();
        paddock_tls::admit_peer(
            shared.config.tls.is_some(),
            certs.as_deref().map(Vec::as_slice),
            shared.me(),
            peer,
            &addr,
            remote,
            &shared.warnings,
            "a peer stream",
        )?;
        let (out, out_rx) = mpsc::channel(self.shared.config.stream_capacity.max(1));
        out.try_send(hello(
            self.shared.me(),
            PROTOCOL_VERSION,
            &self.shared.config.server_list,
        ))
        .expect("a new queue has room for the hello");
        self.shared.attach(peer, inbound, out, None).await;
        tracing::info!(me = %self.shared.me(), %peer, ?remote, "peer stream accepted");
        Ok(Response::new(Box::pin(
            ReceiverStream::new(out_rx).map(Ok::<_, Status>),
        )))
    }
}

/// What `recv` keeps between calls.
struct RecvState {
    raw: mpsc::Receiver<Raw>,
    /// The inbound stream of every connected peer (the newest generation only).
    streams: StreamMap<ServerId, Inbound>,
    /// The generation of the stream each connected peer is on, as last reported.
    current: HashMap<ServerId, u64>,
    /// The newest generation seen per peer (older `Connected`s are stale).
    newest: HashMap<ServerId, u64>,
    pending: VecDeque<PeerEvent>,
}

/// The gRPC [`PeerTransport`]. Serves the quorum port from [`GrpcPeerTransport::serve`] until
/// dropped; dropping it closes every stream.
pub struct GrpcPeerTransport {
    shared: Arc<Shared>,
    state: tokio::sync::Mutex<RecvState>,
    local_addr: SocketAddr,
    server: JoinHandle<()>,
}

impl GrpcPeerTransport {
    /// Starts serving the `Quorum` service on `listener`. Must be called inside a tokio runtime.
    pub fn serve(
        config: GrpcPeerConfig,
        listener: TcpListener,
    ) -> Result<GrpcPeerTransport, TransportError> {
        let local_addr = listener.local_addr().map_err(|e| TransportError::Connect {
            peer: config.me,
            reason: format!("listener: {e}"),
        })?;
        let (events, raw) = mpsc::channel(config.event_capacity.max(1));
        let max_frame = config.max_frame_bytes;
        let me = config.me;
        let book = PeerBook::new(config.peers.clone());
        let shared = Arc::new(Shared {
            config,
            book,
            conns: Mutex::new(HashMap::new()),
            next_generation: AtomicU64::new(0),
            events,
            warnings: WarnLimiter::default(),
        });
        let tls = match &shared.config.tls {
            Some(tls) => Some(
                tls.server("quorum port")
                    .map_err(|e| TransportError::Tls(format!("quorum port: {e}")))?,
            ),
            None => None,
        };
        let service = QuorumServer::new(QuorumService {
            shared: Arc::clone(&shared),
        })
        .max_decoding_message_size(max_frame)
        .max_encoding_message_size(max_frame);
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let router = Server::builder().add_service(service);
        let security = if tls.is_some() {
            "TLS (sslQuorum)"
        } else {
            "plaintext"
        };
        let server = tokio::spawn(async move {
            if let Err(e) = paddock_tls::serve_peer_port(router, incoming, tls).await {
                tracing::error!(%me, error = %e, "quorum port server failed");
            }
        });
        tracing::info!(%me, %local_addr, %security, "serving the quorum port");
        Ok(GrpcPeerTransport {
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
        })
    }

    /// Queues one frame on the stream with `to` (bounded by the send timeout).
    async fn send_frame(&self, to: ServerId, frame: PeerFrame) -> Result<(), TransportError> {
        let out = self
            .shared
            .conns()
            .get(&to)
            .map(|c| c.out.clone())
            .ok_or(TransportError::NotConnected(to))?;
        match tokio::time::timeout(self.shared.config.send_timeout, out.send(frame)).await {
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
                            continue; // a stream already replaced by a newer one
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
                    let reason = match item {
                        InboundItem::Frame(frame) => match from_frame_batch(frame) {
                            Ok(messages) => {
                                st.pending
                                    .extend(messages.into_iter().map(|m| PeerEvent::Message(peer, m)));
                                continue;
                            }
                            Err(e) => {
                                tracing::warn!(%me, %peer, error = %e, "bad frame from peer; closing its stream");
                                format!("bad frame: {e}")
                            }
                        },
                        InboundItem::End(reason) => reason,
                    };
                    tracing::info!(%me, %peer, %reason, "peer stream ended");
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

    /// The peers a stream is up with now.
    pub fn connected(&self) -> Vec<ServerId> {
        let mut ids: Vec<ServerId> = self.shared.conns().keys().copied().collect();
        ids.sort();
        ids
    }
}

impl Drop for GrpcPeerTransport {
    fn drop(&mut self) {
        self.server.abort();
        // Dropping the outbound queues ends our side of every stream; the inbound halves go
        // with `state`.
        self.shared.conns().clear();
    }
}

impl PeerTransport for GrpcPeerTransport {
    fn me(&self) -> ServerId {
        self.shared.me()
    }

    async fn connect(&self, to: ServerId) -> Result<(), TransportError> {
        self.shared.dial(to).await
    }

    async fn send_batch(
        &self,
        to: ServerId,
        messages: Vec<PeerMessage>,
    ) -> Result<(), TransportError> {
        for frame in to_batch_frames(messages, MAX_BATCH_BYTES) {
            self.send_frame(to, frame).await?;
        }
        Ok(())
    }

    async fn send(&self, to: ServerId, message: PeerMessage) -> Result<(), TransportError> {
        self.send_frame(to, to_frame(message)).await
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

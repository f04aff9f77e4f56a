//! [`GrpcElectionTransport`]: the [`ElectionTransport`] over gRPC — `paddock.v1.Election/Notify`
//! on each server's election port (proto/paddock/v1/quorum.proto). Feature `grpc` (default);
//! without it the crate is the pure election core with no tokio.
//!
//! ```text
//!  GrpcElectionTransport::start(config, listener)   (inside a tokio runtime)
//!   ├─ server task: Election service; accepts streams from HIGHER ids only
//!   ├─ one dial task per LOWER id: connect, hello, read until the stream ends, back off, redial
//!   ├─ slots[peer] = { live stream's bounded outbound queue, pending (while no stream) }
//!   └─ reader tasks: votes -> inbound channel (bounded) -> try_recv()
//! ```
//!
//! One connection per pair (ZooKeeper's rule: only the peer with the higher id keeps its outgoing
//! connection): a server dials only lower ids and waits to be dialled by higher ones, so every
//! pair has exactly one dialler. A stream from a lower id is refused (FAILED_PRECONDITION),
//! unless that id is outside our configuration: a server outside its own configuration (removed
//! by a reconfiguration, or joining before the change that adds it) dials every server, since
//! none of them knows its address (ZooKeeper sends its address in the first message instead). If
//! the same higher-id peer dials again while its first stream is open (it restarted, or the old
//! stream is half-dead), the newer stream replaces the older one, which is closed.
//!
//! Delivery is best effort, as the trait allows (the election resends): `send` never blocks; a
//! notification is dropped when the stream's queue is full, and while no stream is up the last
//! `queue_capacity` notifications wait in the slot and are flushed when one comes up. Received
//! notifications are dropped when the inbound queue is full. A bad first frame (or none within
//! `hello_timeout`), an unknown id, a lower id or another protocol version is refused with a
//! status and a logged reason; a bad later frame (wrong sender, unknown state) closes the stream.
//!
//! With `tls` (sslQuorum): the port takes TLS connections only, each peer presenting a
//! certificate that chains to the trust store; after the hello, the certificate must name the
//! host the server list gives for the id claimed (`paddock_tls::check_peer_certificate`). A
//! dialler reads the files at each dial and checks the dialled server's certificate against
//! that host. Refusals are logged at warn (at most every 30 s per peer and reason), with
//! `paddock_tls::MISMATCH_HINT` when one end speaks TLS and the other does not.

use crate::transport::ElectionTransport;
use crate::vote::{Notification, PeerState, Vote};
use paddock_proto::v1 as pb;
use paddock_proto::v1::election_client::ElectionClient;
use paddock_proto::v1::election_server::{Election, ElectionServer};
use paddock_tls::{PeerTls, TlsError, WarnLimiter};
use paddock_types::{Epoch, ServerId, Zxid};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinHandle};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status, Streaming};

/// The election protocol version; a peer with another one is refused.
pub const ELECTION_PROTOCOL_VERSION: u32 = 1;

/// Settings of a [`GrpcElectionTransport`].
#[derive(Clone, Debug)]
pub struct GrpcElectionConfig {
    /// This server's id.
    pub me: ServerId,
    /// The election address ("host:port") of every server, voters and observers (ours may be
    /// included: it is ignored).
    pub peers: HashMap<ServerId, String>,
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
    /// Bound on the hello exchange.
    pub hello_timeout: Duration,
    /// First redial delay after a failed dial or a lost stream; doubles up to `retry_max`.
    pub retry_min: Duration,
    /// Longest redial delay.
    pub retry_max: Duration,
    /// HTTP/2 keep-alive interval on dialled connections.
    pub keepalive: Duration,
    /// Notifications queued per peer.
    pub queue_capacity: usize,
    /// Received notifications waiting for `try_recv`.
    pub inbound_capacity: usize,
    /// Mutual TLS with every peer (sslQuorum); `None`: plaintext.
    pub tls: Option<PeerTls>,
    /// Take streams from servers outside `peers` too (reconfigEnabled: a server joining the
    /// ensemble dials in before the configuration lists it). With TLS its certificate is then
    /// checked against no host.
    pub accept_unknown: bool,
}

/// The peers' addresses, shared by a transport and whoever follows the configuration: a
/// reconfiguration changes them while the transport runs.
#[derive(Clone, Debug, Default)]
pub struct PeerBook(Arc<std::sync::RwLock<HashMap<ServerId, String>>>);

impl PeerBook {
    /// A book of `peers`.
    pub fn new(peers: HashMap<ServerId, String>) -> PeerBook {
        PeerBook(Arc::new(std::sync::RwLock::new(peers)))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ServerId, String>> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The address of `id`.
    pub fn get(&self, id: ServerId) -> Option<String> {
        self.read().get(&id).cloned()
    }

    /// Whether `id` is listed.
    pub fn contains(&self, id: ServerId) -> bool {
        self.read().contains_key(&id)
    }

    /// Every listed id.
    pub fn ids(&self) -> Vec<ServerId> {
        self.read().keys().copied().collect()
    }

    /// Replaces the book.
    pub fn set(&self, peers: HashMap<ServerId, String>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = peers;
    }
}

impl GrpcElectionConfig {
    /// Defaults: connect 2 s, hello 2 s, redial 50 ms .. 2 s, keep-alive 5 s, 64 per peer,
    /// 1024 inbound.
    pub fn new(me: ServerId, peers: HashMap<ServerId, String>) -> GrpcElectionConfig {
        GrpcElectionConfig {
            me,
            peers,
            connect_timeout: Duration::from_secs(2),
            hello_timeout: Duration::from_secs(2),
            retry_min: Duration::from_millis(50),
            retry_max: Duration::from_secs(2),
            keepalive: Duration::from_secs(5),
            queue_capacity: 64,
            inbound_capacity: 1024,
            tls: None,
            accept_unknown: false,
        }
    }
}

/// Why a [`GrpcElectionTransport`] could not start.
#[derive(Debug, Error)]
pub enum GrpcElectionError {
    /// The listener has no local address.
    #[error("election listener: {0}")]
    Listener(#[from] std::io::Error),
    /// The TLS files (sslQuorum) cannot be used.
    #[error("election port: sslQuorum: {0}")]
    Tls(#[from] TlsError),
}

/// Why an election frame is not a valid vote.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BadFrame {
    #[error("hello after the first frame")]
    HelloAfterFirst,
    #[error("frame without a kind")]
    NoKind,
    #[error("invalid sender state {0}")]
    SenderState(i32),
}

/// A notification as it travels.
pub fn notification_to_proto(n: &Notification) -> pb::Notification {
    let state = match n.sender_state {
        PeerState::Looking => pb::ElectionPeerState::Looking,
        PeerState::Following => pb::ElectionPeerState::Following,
        PeerState::Leading => pb::ElectionPeerState::Leading,
        PeerState::Observing => pb::ElectionPeerState::Observing,
        PeerState::Recovering => pb::ElectionPeerState::Recovering,
    };
    pb::Notification {
        kind: Some(pb::notification::Kind::Vote(pb::ElectionVote {
            leader: n.vote.leader.0,
            zxid: n.vote.zxid.0,
            epoch: n.vote.epoch.0,
            round: n.round,
            sender: n.sender.0,
            sender_state: state as i32,
        })),
    }
}

/// The notification a vote frame carries; `Err` (why) for a frame that is not a valid vote.
pub fn notification_from_proto(frame: pb::Notification) -> Result<Notification, BadFrame> {
    let vote = match frame.kind {
        Some(pb::notification::Kind::Vote(v)) => v,
        Some(pb::notification::Kind::Hello(_)) => return Err(BadFrame::HelloAfterFirst),
        None => return Err(BadFrame::NoKind),
    };
    let sender_state = match pb::ElectionPeerState::try_from(vote.sender_state) {
        Ok(pb::ElectionPeerState::Looking) => PeerState::Looking,
        Ok(pb::ElectionPeerState::Following) => PeerState::Following,
        Ok(pb::ElectionPeerState::Leading) => PeerState::Leading,
        Ok(pb::ElectionPeerState::Observing) => PeerState::Observing,
        Ok(pb::ElectionPeerState::Recovering) => PeerState::Recovering,
        _ => return Err(BadFrame::SenderState(vote.sender_state)),
    };
    Ok(Notification {
        vote: Vote::new(ServerId(vote.leader), Zxid(vote.zxid), Epoch(vote.epoch)),
        round: vote.round,
        sender: ServerId(vote.sender),
        sender_state,
    })
}

/// The first frame of an inbound peer stream (it must be a hello), within `limit`: shared by the
/// election's and the quorum peer's gRPC transports.
pub async fn first_frame<T>(
    inbound: &mut tonic::Streaming<T>,
    limit: Duration,
) -> Result<T, Status> {
    let first = tokio::time::timeout(limit, inbound.message())
        .await
        .map_err(|_| Status::deadline_exceeded(format!("no hello within {limit:?}")))??;
    first.ok_or_else(|| Status::invalid_argument("stream ended before a hello"))
}

/// The identity checks every peer hello passes (election and quorum transports): `id` is not
/// `me`, is one of the configured servers (`known`), and is the server dialled, if we dialled.
pub fn check_sender(
    me: ServerId,
    id: ServerId,
    known: bool,
    dialled: Option<ServerId>,
) -> Result<(), Status> {
    if id == me {
        return Err(Status::permission_denied(format!(
            "server id {id} is my own id"
        )));
    }
    if !known {
        return Err(Status::permission_denied(format!(
            "unknown server id {id}: not in my server list"
        )));
    }
    match dialled {
        Some(expected) if id != expected => Err(Status::permission_denied(format!(
            "dialled server {expected} but server {id} answered"
        ))),
        _ => Ok(()),
    }
}

fn hello(me: ServerId) -> pb::Notification {
    pb::Notification {
        kind: Some(pb::notification::Kind::Hello(pb::ElectionHello {
            sender: me.0,
            protocol_version: ELECTION_PROTOCOL_VERSION,
        })),
    }
}

/// The live stream with a peer.
struct Conn {
    generation: u64,
    out: mpsc::Sender<pb::Notification>,
    reader: AbortHandle,
}

/// Per peer: the live stream, if any, and what waits for one.
#[derive(Default)]
struct Slot {
    conn: Option<Conn>,
    pending: VecDeque<Notification>,
}

struct Shared {
    config: GrpcElectionConfig,
    /// The peers' addresses (`config.peers`, then what a reconfiguration set).
    book: PeerBook,
    /// The dial loop of each lower id (aborted when the transport is dropped).
    dialling: Mutex<HashMap<ServerId, AbortHandle>>,
    runtime: tokio::runtime::Handle,
    slots: Mutex<HashMap<ServerId, Slot>>,
    next_generation: AtomicU64,
    inbound: mpsc::Sender<(ServerId, Notification)>,
    /// Keeps a misconfigured peer's redials from filling the log.
    warnings: WarnLimiter,
}

impl Shared {
    fn me(&self) -> ServerId {
        self.config.me
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<ServerId, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn enqueue(&self, to: ServerId, n: Notification) {
        let mut slots = self.slots();
        let Some(slot) = slots.get_mut(&to) else {
            tracing::warn!(me = %self.me(), %to, "notification for a server not in the list; dropped");
            return;
        };
        if let Some(conn) = &slot.conn {
            match conn.out.try_send(notification_to_proto(&n)) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::debug!(me = %self.me(), %to, "election queue full; notification dropped");
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => slot.conn = None,
            }
        }
        slot.pending.push_back(n);
        while slot.pending.len() > self.config.queue_capacity.max(1) {
            slot.pending.pop_front();
        }
    }

    /// Makes `inbound`/`out` the stream with `peer` (replacing an older one), flushes what was
    /// pending and starts reading; returns the reader task, which ends with the stream.
    fn attach(
        self: &Arc<Self>,
        peer: ServerId,
        mut inbound: Streaming<pb::Notification>,
        out: mpsc::Sender<pb::Notification>,
        keep: Option<ElectionClient<Channel>>,
    ) -> JoinHandle<()> {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed) + 1;
        let (go, ready) = oneshot::channel::<()>();
        let shared = Arc::clone(self);
        let me = self.me();
        let reader = tokio::spawn(async move {
            if ready.await.is_err() {
                return;
            }
            let _keep = keep;
            let reason = loop {
                match inbound.message().await {
                    Ok(Some(frame)) => match notification_from_proto(frame) {
                        Ok(n) if n.sender == peer => {
                            if let Err(mpsc::error::TrySendError::Full(_)) =
                                shared.inbound.try_send((peer, n))
                            {
                                tracing::debug!(%me, %peer, "inbound election queue full; notification dropped");
                            }
                        }
                        Ok(n) => {
                            break format!(
                                "vote claims sender {} on the stream of {peer}",
                                n.sender
                            )
                        }
                        Err(e) => break e.to_string(),
                    },
                    Ok(None) => break "closed by the peer".to_string(),
                    Err(status) => break format!("{}: {}", status.code(), status.message()),
                }
            };
            tracing::info!(%me, %peer, %reason, "election stream ended");
            let mut slots = shared.slots();
            if let Some(slot) = slots.get_mut(&peer) {
                if slot.conn.as_ref().map(|c| c.generation) == Some(generation) {
                    slot.conn = None;
                }
            }
        });
        {
            let mut slots = self.slots();
            let slot = slots.entry(peer).or_default();
            if let Some(old) = slot.conn.take() {
                tracing::info!(%me, %peer, "a newer election stream replaces the older one");
                old.reader.abort();
            }
            while let Some(n) = slot.pending.pop_front() {
                if out.try_send(notification_to_proto(&n)).is_err() {
                    break;
                }
            }
            slot.conn = Some(Conn {
                generation,
                out,
                reader: reader.abort_handle(),
            });
        }
        let _ = go.send(());
        reader
    }

    /// Checks the first frame; `expected` is the id we dialled, if we dialled.
    async fn check_hello(
        &self,
        inbound: &mut Streaming<pb::Notification>,
        expected: Option<ServerId>,
    ) -> Result<ServerId, Status> {
        let frame = first_frame(inbound, self.config.hello_timeout).await?;
        let Some(pb::notification::Kind::Hello(h)) = frame.kind else {
            return Err(Status::invalid_argument("the first frame must be a hello"));
        };
        let id = ServerId(h.sender);
        let me = self.me();
        let known = self.config.accept_unknown || self.book.contains(id);
        check_sender(me, id, known, expected)?;
        // A lower id we dial ourselves; one outside our configuration dials us (we do not know
        // its address).
        if expected.is_none() && id < me && self.book.contains(id) {
            return Err(Status::failed_precondition(format!(
                "server {id} has a lower id than mine ({me}): I dial it, not the reverse"
            )));
        }
        if h.protocol_version != ELECTION_PROTOCOL_VERSION {
            return Err(Status::failed_precondition(format!(
                "election protocol version {} is not mine ({ELECTION_PROTOCOL_VERSION})",
                h.protocol_version
            )));
        }
        Ok(id)
    }

    /// One dial of `peer` (lower id than ours): the reader task on success.
    async fn dial(
        self: &Arc<Self>,
        peer: ServerId,
        addr: &str,
    ) -> Result<JoinHandle<()>, DialError> {
        let config = &self.config;
        let tls = config.tls.is_some();
        let endpoint = paddock_tls::peer_endpoint(addr, config.tls.as_ref())
            .map_err(DialError::Warn)?
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(config.keepalive)
            .keep_alive_timeout(config.keepalive)
            .keep_alive_while_idle(true);
        let channel = tokio::time::timeout(config.connect_timeout, endpoint.connect())
            .await
            .map_err(|_| DialError::Debug("connect timed out".to_string()))?
            .map_err(|e| DialError::explain(&e, tls))?;
        let mut client = ElectionClient::new(channel);
        let (out, out_rx) = mpsc::channel(config.queue_capacity.max(1) + 1);
        out.try_send(hello(self.me()))
            .expect("a new queue has room for the hello");
        let handshake = async {
            let response = client
                .notify(ReceiverStream::new(out_rx))
                .await
                .map_err(|status| DialError::explain(&status, tls))?;
            let mut inbound = response.into_inner();
            self.check_hello(&mut inbound, Some(peer))
                .await
                .map_err(|status| {
                    DialError::Warn(format!(
                        "refused: {:?}: {}",
                        status.code(),
                        status.message()
                    ))
                })?;
            Ok::<_, DialError>(inbound)
        };
        match tokio::time::timeout(config.hello_timeout, handshake).await {
            Err(_) => Err(DialError::Debug("handshake timed out".into())),
            Ok(Err(e)) => Err(e),
            Ok(Ok(inbound)) => Ok(self.attach(peer, inbound, out, Some(client))),
        }
    }

    /// Whether this server dials `peer`: a lower id, or any id while this server is outside
    /// the configuration (a removed server, or one joining before the change that adds it):
    /// the others do not know its address, so nobody would dial it.
    fn should_dial(&self, peer: ServerId) -> bool {
        let me = self.me();
        peer != me && (peer < me || !self.book.contains(me))
    }

    /// Starts the dial loop of `peer` unless one runs, when [`Shared::should_dial`] says so.
    fn ensure_dialler(self: &Arc<Self>, peer: ServerId) {
        if !self.should_dial(peer) {
            return;
        }
        let mut dialling = self.dialling.lock().unwrap_or_else(|p| p.into_inner());
        if let std::collections::hash_map::Entry::Vacant(e) = dialling.entry(peer) {
            let task = self.runtime.spawn(Arc::clone(self).dial_loop(peer));
            e.insert(task.abort_handle());
        }
    }

    /// Dials `peer` (its address read from the book at each attempt) until the book no longer
    /// lists it.
    async fn dial_loop(self: Arc<Self>, peer: ServerId) {
        let mut delay = self.config.retry_min;
        loop {
            let addr = self.book.get(peer).filter(|_| self.should_dial(peer));
            let Some(addr) = addr else {
                tracing::info!(me = %self.me(), %peer, "no longer dialled (the configuration changed)");
                self.dialling
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&peer);
                return;
            };
            match self.dial(peer, &addr).await {
                Ok(reader) => {
                    tracing::info!(me = %self.me(), %peer, "election stream up (dialled)");
                    delay = self.config.retry_min;
                    let _ = reader.await;
                }
                Err(DialError::Warn(reason))
                    if self.warnings.should_warn(&format!("dial {peer}|{reason}")) =>
                {
                    tracing::warn!(me = %self.me(), %peer, %addr, "cannot open an election stream to server {peer} at {addr}: {reason}");
                }
                Err(DialError::Warn(reason) | DialError::Debug(reason)) => {
                    tracing::debug!(me = %self.me(), %peer, %reason, "election dial failed; will retry");
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.config.retry_max);
        }
    }
}

/// Why a dial failed, and whether it is worth a warning.
enum DialError {
    /// A configuration problem: refused by the peer, a TLS failure or a TLS / plaintext
    /// mismatch.
    Warn(String),
    /// The peer is down or slow: normal while servers start and stop.
    Debug(String),
}

impl DialError {
    fn explain(e: &(dyn std::error::Error + 'static), tls: bool) -> DialError {
        let failure = paddock_tls::explain_dial_error(e, tls);
        if failure.is_configuration_problem() {
            DialError::Warn(failure.reason)
        } else {
            DialError::Debug(failure.reason)
        }
    }
}

struct ElectionService {
    shared: Arc<Shared>,
}

type VoteStream = Pin<Box<dyn Stream<Item = Result<pb::Notification, Status>> + Send>>;

#[tonic::async_trait]
impl Election for ElectionService {
    type NotifyStream = VoteStream;

    async fn notify(
        &self,
        request: Request<Streaming<pb::Notification>>,
    ) -> Result<Response<VoteStream>, Status> {
        let remote = request.remote_addr();
        let certs = request.peer_certs();
        let mut inbound = request.into_inner();
        let shared = &self.shared;
        let peer = match shared.check_hello(&mut inbound, None).await {
            Ok(peer) => peer,
            Err(status) => {
                tracing::warn!(me = %shared.me(), ?remote, code = ?status.code(), reason = status.message(), "refused an election stream");
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
            "an election stream",
        )?;
        let (out, out_rx) = mpsc::channel(self.shared.config.queue_capacity.max(1) + 1);
        out.try_send(hello(self.shared.me()))
            .expect("a new queue has room for the hello");
        drop(self.shared.attach(peer, inbound, out, None));
        tracing::info!(me = %self.shared.me(), %peer, ?remote, "election stream up (accepted)");
        Ok(Response::new(Box::pin(
            ReceiverStream::new(out_rx).map(Ok::<_, Status>),
        )))
    }
}

/// Changes a running [`GrpcElectionTransport`]'s peers (a reconfiguration).
#[derive(Clone)]
pub struct ElectionPeers(Arc<Shared>);

impl ElectionPeers {
    /// Makes `peers` the ensemble: new lower ids are dialled, removed ones no longer (their
    /// streams end when they hang up), changed addresses are used at the next dial.
    pub fn set(&self, peers: HashMap<ServerId, String>) {
        let shared = &self.0;
        let me = shared.me();
        shared.book.set(peers);
        let ids = shared.book.ids();
        {
            let mut slots = shared.slots();
            for id in ids.iter().filter(|id| **id != me) {
                slots.entry(*id).or_default();
            }
        }
        for id in ids {
            shared.ensure_dialler(id);
        }
    }
}

/// The gRPC [`ElectionTransport`]. Dropping it stops serving and closes every stream.
pub struct GrpcElectionTransport {
    shared: Arc<Shared>,
    inbound: mpsc::Receiver<(ServerId, Notification)>,
    local_addr: SocketAddr,
    tasks: Vec<AbortHandle>,
}

impl GrpcElectionTransport {
    /// Serves the election port on `listener` and starts dialling every lower id. Must be
    /// called inside a tokio runtime.
    pub fn start(
        config: GrpcElectionConfig,
        listener: TcpListener,
    ) -> Result<GrpcElectionTransport, GrpcElectionError> {
        let local_addr = listener.local_addr()?;
        let me = config.me;
        let (inbound_tx, inbound) = mpsc::channel(config.inbound_capacity.max(1));
        let slots = config
            .peers
            .keys()
            .filter(|id| **id != me)
            .map(|id| (*id, Slot::default()))
            .collect();
        let book = PeerBook::new(config.peers.clone());
        let shared = Arc::new(Shared {
            config,
            book,
            dialling: Mutex::new(HashMap::new()),
            runtime: tokio::runtime::Handle::current(),
            slots: Mutex::new(slots),
            next_generation: AtomicU64::new(0),
            inbound: inbound_tx,
            warnings: WarnLimiter::default(),
        });
        let tls = match &shared.config.tls {
            Some(tls) => Some(tls.server("election port")?),
            None => None,
        };
        let service = ElectionServer::new(ElectionService {
            shared: Arc::clone(&shared),
        });
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let router = Server::builder().add_service(service);
        let server = tokio::spawn(async move {
            if let Err(e) = paddock_tls::serve_peer_port(router, incoming, tls).await {
                tracing::error!(%me, error = %e, "election port server failed");
            }
        });
        let tasks = vec![server.abort_handle()];
        for peer in shared.book.ids() {
            shared.ensure_dialler(peer);
        }
        let security = if shared.config.tls.is_some() {
            "TLS (sslQuorum)"
        } else {
            "plaintext"
        };
        tracing::info!(%me, %local_addr, %security, "serving the election port");
        Ok(GrpcElectionTransport {
            shared,
            inbound,
            local_addr,
            tasks,
        })
    }

    /// The address the election port listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that changes the peers' addresses while the transport runs.
    pub fn peers(&self) -> ElectionPeers {
        ElectionPeers(Arc::clone(&self.shared))
    }

    /// The peers an election stream is up with now.
    pub fn connected(&self) -> Vec<ServerId> {
        let slots = self.shared.slots();
        let mut ids: Vec<ServerId> = slots
            .iter()
            .filter(|(_, s)| s.conn.as_ref().is_some_and(|c| !c.out.is_closed()))
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    }
}

impl Drop for GrpcElectionTransport {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        let dialling = std::mem::take(
            &mut *self
                .shared
                .dialling
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for task in dialling.values() {
            task.abort();
        }
        for slot in self.shared.slots().values_mut() {
            if let Some(conn) = slot.conn.take() {
                conn.reader.abort();
            }
        }
    }
}

impl ElectionTransport for GrpcElectionTransport {
    fn send(&mut self, to: ServerId, notification: Notification) {
        self.shared.enqueue(to, notification);
    }

    fn try_recv(&mut self) -> Option<(ServerId, Notification)> {
        self.inbound.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_round_trip_in_every_state() {
        for state in [
            PeerState::Looking,
            PeerState::Following,
            PeerState::Leading,
            PeerState::Observing,
            PeerState::Recovering,
        ] {
            let n = Notification {
                vote: Vote::new(ServerId(3), Zxid(u64::MAX), Epoch(u32::MAX)),
                round: 17,
                sender: ServerId(2),
                sender_state: state,
            };
            assert_eq!(notification_from_proto(notification_to_proto(&n)), Ok(n));
        }
    }

    #[test]
    fn invalid_frames_are_refused() {
        assert_eq!(
            notification_from_proto(hello(ServerId(1))),
            Err(BadFrame::HelloAfterFirst)
        );
        assert_eq!(
            notification_from_proto(pb::Notification { kind: None }),
            Err(BadFrame::NoKind)
        );
        let mut bad = notification_to_proto(&Notification {
            vote: Vote::new(ServerId(1), Zxid(1), Epoch(1)),
            round: 1,
            sender: ServerId(1),
            sender_state: PeerState::Looking,
        });
        if let Some(pb::notification::Kind::Vote(v)) = &mut bad.kind {
            v.sender_state = 0;
        }
        assert_eq!(notification_from_proto(bad), Err(BadFrame::SenderState(0)));
        if let Some(pb::notification::Kind::Vote(v)) = &mut bad.kind {
            v.sender_state = 99;
        }
        assert_eq!(notification_from_proto(bad), Err(BadFrame::SenderState(99)));
    }
}

//! Opening a quorum-port connection: the dialler's side ([`dial`]) and the acceptor's
//! ([`accept_loop`]): TCP options, TLS (sslQuorum), and the hello exchange with its refusals.

use super::frame::{self, FrameCodec, FrameError};
use super::{BoxRead, BoxWrite, Frames, Shared};
use crate::messages::PROTOCOL_VERSION;
use crate::transport::convert::hello;
use crate::transport::TransportError;
use bytes::BytesMut;
use paddock_election::grpc::check_sender;
use paddock_proto::v1::peer_frame::{Kind, Refusal};
use paddock_proto::v1::PeerFrame;
use paddock_tls::MISMATCH_HINT;
use paddock_types::ServerId;
use socket2::{SockRef, TcpKeepalive};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_stream::StreamExt;
use tokio_util::codec::FramedRead;
use tonic::{Code, Status};

/// The largest first frame (a hello, whose longest field is the server list).
const HELLO_MAX_BYTES: usize = 64 << 10;

/// Connections being handshaken at once on the quorum port; more wait in the listen backlog.
const MAX_HANDSHAKES: usize = 64;

/// A connection before it is split into the reading half (for `recv`) and the writing half
/// (for its writer task).
enum PeerStream {
    Plain(TcpStream),
    Dialled(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Accepted(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl PeerStream {
    fn split(self) -> (BoxRead, BoxWrite) {
        match self {
            // Lock-free halves of the socket.
            PeerStream::Plain(s) => {
                let (r, w) = s.into_split();
                (Box::new(r), Box::new(w))
            }
            PeerStream::Dialled(s) => {
                let (r, w) = tokio::io::split(*s);
                (Box::new(r), Box::new(w))
            }
            PeerStream::Accepted(s) => {
                let (r, w) = tokio::io::split(*s);
                (Box::new(r), Box::new(w))
            }
        }
    }
}

/// TCP_NODELAY (a wakeup's batch leaves at once) and keep-alive probes on an idle connection.
fn tune(me: ServerId, tcp: &TcpStream, keepalive: Duration) {
    let keepalive = TcpKeepalive::new()
        .with_time(keepalive)
        .with_interval(keepalive);
    let result = tcp
        .set_nodelay(true)
        .and_then(|()| SockRef::from(tcp).set_tcp_keepalive(&keepalive));
    if let Err(e) = result {
        tracing::debug!(%me, error = %e, "cannot set TCP_NODELAY / keep-alive on a peer connection");
    }
}

/// Writes one frame (a hello or a refusal) before the connection is attached.
async fn write_frame(w: &mut BoxWrite, frame: &PeerFrame, limit: Duration) -> std::io::Result<()> {
    let mut buf = BytesMut::new();
    frame::encode(frame, HELLO_MAX_BYTES, &mut buf).map_err(std::io::Error::other)?;
    super::write_all_bounded(w, &buf, limit).await
}

/// Why no first frame was read.
enum First {
    /// Nothing within the hello timeout.
    Timeout(Duration),
    /// The connection ended before a whole frame.
    Closed,
    /// The bytes are not a frame, or the socket failed.
    Bad(FrameError),
}

async fn read_first(frames: &mut Frames, limit: Duration) -> Result<PeerFrame, First> {
    match tokio::time::timeout(limit, frames.next()).await {
        Err(_) => Err(First::Timeout(limit)),
        Ok(None) => Err(First::Closed),
        Ok(Some(Err(e))) => Err(First::Bad(e)),
        Ok(Some(Ok(frame))) => Ok(frame),
    }
}

/// Checks a first frame: a hello from a known id other than ours (the one dialled, if we
/// dialled) speaking our protocol version. Another server list is logged, not refused.
fn check_hello(
    shared: &Shared,
    frame: PeerFrame,
    expected: Option<ServerId>,
) -> Result<ServerId, Status> {
    let Some(Kind::Hello(h)) = frame.kind else {
        return Err(Status::invalid_argument("the first frame must be a hello"));
    };
    let id = ServerId(h.server_id);
    let known = shared.config.accept_unknown || shared.book.contains(id);
    check_sender(shared.me(), id, known, expected)?;
    if h.protocol_version != PROTOCOL_VERSION {
        return Err(Status::failed_precondition(format!(
            "protocol version {} is not mine ({PROTOCOL_VERSION})",
            h.protocol_version
        )));
    }
    let ours = &shared.config.server_list;
    if !ours.is_empty() && !h.server_list.is_empty() && h.server_list != *ours {
        tracing::warn!(
            me = %shared.me(),
            peer = %id,
            theirs = %h.server_list,
            ours = %ours,
            "server {id} is configured with another server list than this server: fix the \
             server.N lines so that every server has the same ones"
        );
    }
    Ok(id)
}

fn our_hello(shared: &Shared) -> PeerFrame {
    hello(shared.me(), PROTOCOL_VERSION, &shared.config.server_list)
}

/// Opens the connection to `to` (a learner dials its leader) and attaches it.
pub(super) async fn dial(shared: &Arc<Shared>, to: ServerId) -> Result<(), TransportError> {
    let config = &shared.config;
    if to == shared.me() {
        return Err(TransportError::UnknownPeer(to));
    }
    let addr = shared.book.get(to).ok_or(TransportError::UnknownPeer(to))?;
    let addr = &addr;
    let connect_err = |reason: String| TransportError::Connect { peer: to, reason };
    let tls = config.tls.is_some();
    // A refusal, a TLS problem or a TLS / plaintext mismatch: a configuration error, worth a
    // warning (unlike a leader that is down, which the driver logs at debug).
    let misconfigured = |reason: String| {
        if shared.warnings.should_warn(&format!("dial {to}|{reason}")) {
            tracing::warn!(me = %shared.me(), peer = %to, %addr, "cannot open a peer connection to server {to} at {addr}: {reason}");
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
    // The TLS files are read at each dial: new certificates apply to the next connection.
    let connector = match &config.tls {
        None => None,
        Some(peer_tls) => {
            let connector = peer_tls
                .connector()
                .map_err(|e| misconfigured(format!("sslQuorum: {e}")))?;
            let name = paddock_tls::server_name(addr).map_err(&misconfigured)?;
            Some((connector, name))
        }
    };
    let connecting = async {
        let tcp = TcpStream::connect(addr.as_str())
            .await
            .map_err(|e| explain(&e))?;
        tune(shared.me(), &tcp, config.keepalive);
        Ok(match connector {
            None => PeerStream::Plain(tcp),
            Some((connector, name)) => PeerStream::Dialled(Box::new(
                connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| explain(&e))?,
            )),
        })
    };
    let stream = tokio::time::timeout(config.connect_timeout, connecting)
        .await
        .map_err(|_| TransportError::Timeout {
            peer: to,
            what: "connecting to",
        })??;
    let (read, mut write) = stream.split();
    let mut frames = FramedRead::new(
        read,
        FrameCodec {
            max_frame_bytes: HELLO_MAX_BYTES,
        },
    );
    let handshake = async {
        write_frame(&mut write, &our_hello(shared), config.hello_timeout)
            .await
            .map_err(|e| explain(&e))?;
        let first = match read_first(&mut frames, config.hello_timeout).await {
            Ok(frame) => frame,
            Err(First::Timeout(_)) => {
                return Err(TransportError::Timeout {
                    peer: to,
                    what: "handshaking with",
                })
            }
            Err(First::Closed) => {
                let closed = std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed before the hello",
                );
                return Err(explain(&closed));
            }
            Err(First::Bad(FrameError::Io(e))) => return Err(explain(&e)),
            Err(First::Bad(e)) => {
                return Err(misconfigured(format!(
                    "the answer is not a peer frame ({e}): the server dialled may expect TLS, or \
                     is not a Paddock quorum port {MISMATCH_HINT}"
                )))
            }
        };
        let refusal = match first.kind {
            Some(Kind::Refusal(r)) => {
                let code = Code::from(i32::try_from(r.code).unwrap_or(i32::MAX));
                Status::new(code, r.reason)
            }
            _ => match check_hello(shared, first, Some(to)) {
                Ok(_) => return Ok(()),
                Err(status) => status,
            },
        };
        tracing::warn!(me = %shared.me(), peer = %to, code = ?refusal.code(), reason = refusal.message(), "peer connection refused");
        Err(connect_err(format!(
            "refused: {:?}: {}",
            refusal.code(),
            refusal.message()
        )))
    };
    match tokio::time::timeout(config.hello_timeout, handshake).await {
        Err(_) => {
            return Err(TransportError::Timeout {
                peer: to,
                what: "handshaking with",
            })
        }
        Ok(result) => result?,
    }
    frames.decoder_mut().max_frame_bytes = config.max_frame_bytes;
    shared.attach(to, frames, write).await;
    Ok(())
}

/// Accepts connections on the quorum port until aborted (which aborts the handshakes in
/// flight too).
pub(super) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut handshakes = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept(), if handshakes.len() < MAX_HANDSHAKES => match accepted {
                Ok((tcp, remote)) => {
                    handshakes.spawn(accept(Arc::clone(&shared), tcp, remote));
                }
                Err(e) => {
                    // Out of file descriptors, say: do not spin on it.
                    tracing::warn!(me = %shared.me(), error = %e, "accepting a peer connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => {}
        }
    }
}

/// One accepted connection: TLS, the peer's hello, the checks, our hello (or a refusal), then
/// attach.
async fn accept(shared: Arc<Shared>, tcp: TcpStream, remote: SocketAddr) {
    let me = shared.me();
    let config = &shared.config;
    tune(me, &tcp, config.keepalive);
    let (stream, certs) = match &shared.acceptor {
        None => (PeerStream::Plain(tcp), None),
        // A failed handshake is logged by `handshake`.
        Some(state) => match state.handshake(tcp, &shared.warnings).await {
            None => return,
            Some(tls) => {
                let certs = tls.get_ref().1.peer_certificates().map(<[_]>::to_vec);
                (PeerStream::Accepted(Box::new(tls)), certs)
            }
        },
    };
    let (read, mut write) = stream.split();
    let mut frames = FramedRead::new(
        read,
        FrameCodec {
            max_frame_bytes: HELLO_MAX_BYTES,
        },
    );
    let tls = shared.acceptor.is_some();
    let checked = match read_first(&mut frames, config.hello_timeout).await {
        Ok(frame) => check_hello(&shared, frame, None),
        Err(First::Timeout(limit)) => Err(Status::deadline_exceeded(format!(
            "no hello within {limit:?}"
        ))),
        Err(First::Closed) => Err(Status::invalid_argument("connection closed before a hello")),
        Err(First::Bad(e)) => {
            // A TLS ClientHello read as a length is far above the hello's limit.
            let hint = if tls { "" } else { MISMATCH_HINT };
            Err(Status::invalid_argument(
                format!("the first frame is not a hello: {e} {hint}")
                    .trim_end()
                    .to_string(),
            ))
        }
    };
    let admitted = checked.and_then(|peer| {
        let addr = shared.book.get(peer).unwrap_or_default();
        paddock_tls::admit_peer(
            tls,
            certs.as_deref(),
            me,
            peer,
            &addr,
            Some(remote),
            &shared.warnings,
            "a peer connection",
        )
        .map(|()| peer)
    });
    let peer = match admitted {
        Ok(peer) => peer,
        Err(status) => {
            tracing::warn!(%me, %remote, code = ?status.code(), reason = status.message(), "refused a peer connection");
            let refusal = PeerFrame {
                kind: Some(Kind::Refusal(Refusal {
                    code: status.code() as u32,
                    reason: status.message().to_string(),
                })),
            };
            let _ = write_frame(&mut write, &refusal, config.hello_timeout).await;
            return;
        }
    };
    if let Err(e) = write_frame(&mut write, &our_hello(&shared), config.hello_timeout).await {
        tracing::info!(%me, %peer, %remote, error = %e, "a peer connection failed during the hello");
        return;
    }
    frames.decoder_mut().max_frame_bytes = config.max_frame_bytes;
    shared.attach(peer, frames, write).await;
    tracing::info!(%me, %peer, %remote, "peer connection accepted");
}

//! One session stream, from handshake to end.
//!
//! ```text
//!  client ──ClientMessage──▶ [handshake task] ──connect──▶ Backend
//!                                │ Attached (or a refusing status)
//!                                ▼
//!  tonic polls the response stream = the StreamDriver:
//!  client ──Request──▶ decode ──submit──▶ Backend ──events (ordered)──┐
//!             └─ malformed: answered here, queued in ReplyOrder ──────┤
//!  client ◀── next message ◀── outbound queue ◀── encode ◀────────────┘
//! ```
//!
//! The handshake runs in its own task, so a client that vanishes mid-handshake cannot leave a
//! session attached: the task sees that nobody takes the attached session and detaches it. After
//! the handshake the stream has no task of its own: the response stream tonic polls (on the HTTP/2
//! stream's task) reads the client's requests, submits them and yields the answers, one task hop
//! less per request than a driver task feeding a channel.
//!
//! Rules this driver keeps:
//! - the ConnectResponse is the first message; nothing is read before the handshake is answered;
//! - answers leave in request order ([`ReplyOrder`]); events leave in the backend's order;
//! - bounded memory: at most `max_in_flight_per_stream` requests are read and unanswered, and
//!   while `outbound_buffer_messages` messages wait to be sent nothing new is read (the response
//!   stream is polled only when HTTP/2 can send, so a client that does not read stops the reading);
//! - every stream that attached a session ends in exactly one of: `SessionEvent::Closed`
//!   forwarded (no detach), or `Backend::detach` (client gone, half-closed and answered, protocol
//!   violation, backend gone, shutdown, or the response stream dropped by tonic).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use paddock_proto::v1 as pb;
use paddock_types::{ErrorCode, Id, Request, Response, SessionId, ZkError, Zxid};
use tokio::sync::{mpsc, oneshot, watch};
use tonic::{Code, Status, Streaming};
use tracing::{debug, info_span, Instrument, Span};

use crate::backend::{Backend, ConnId, Connected, SessionEvent};
use crate::convert::{
    decode_connect, decode_request, encode_connected, encode_event, encode_response,
};
use crate::layers::trace::request_spans;
use crate::status::{with_code, zk_status};
use crate::GatewayOptions;
use paddock_api::ReplyOrder;

/// What a stream sends: messages, or a final status.
type Outgoing = Result<pb::ServerMessage, Status>;

/// The response half of a session stream, as tonic serves it: polling it drives the session.
pub struct OutboundStream {
    inner: Pin<Box<dyn Stream<Item = Outgoing> + Send + 'static>>,
}

impl Stream for OutboundStream {
    type Item = Outgoing;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outgoing>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// What every stream of one gateway shares.
pub(crate) struct StreamCtx<B> {
    pub(crate) backend: Arc<B>,
    pub(crate) opts: Arc<GatewayOptions>,
    /// Becomes `true` when the server shuts down: every stream then ends with UNAVAILABLE.
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// A session attached by a successful handshake, with everything its stream needs.
pub(crate) struct Attached<B> {
    ctx: StreamCtx<B>,
    connected: Connected,
    inbound: Streaming<pb::ClientMessage>,
}

/// Runs one stream's handshake in a task of its own. `ready` receives the attached session, or
/// the status that refuses the stream; if nobody takes the attached session (the client went
/// away meanwhile), it is detached here.
pub(crate) async fn handshake_task<B: Backend>(
    ctx: StreamCtx<B>,
    mut inbound: Streaming<pb::ClientMessage>,
    peer: PeerInfo,
    ready: oneshot::Sender<Result<Attached<B>, Status>>,
) {
    let connected = match handshake(&ctx, &mut inbound, peer).await {
        Ok(c) => c,
        Err(status) => {
            debug!(code = ?status.code(), message = status.message(), "handshake refused");
            let _ = ready.send(Err(status));
            return;
        }
    };
    let span = Span::current();
    span.record("session", tracing::field::display(connected.session));
    span.record("conn", connected.conn.0);
    let (session, conn) = (connected.session, connected.conn);
    let backend = Arc::clone(&ctx.backend);
    let attached = Attached {
        ctx,
        connected,
        inbound,
    };
    if ready.send(Ok(attached)).is_err() {
        backend.detach(session, conn);
    }
}

impl<B: Backend> Attached<B> {
    /// The response stream of the attached session: the ConnectResponse, then whatever the
    /// session produces, until it ends. `span` is entered while the stream works.
    pub(crate) fn into_stream(self, span: Span) -> OutboundStream {
        let Attached {
            ctx,
            connected,
            inbound,
        } = self;
        let hello = pb::ServerMessage {
            message: Some(pb::server_message::Message::Connect(encode_connected(
                &connected,
            ))),
        };
        let Connected {
            session,
            conn,
            events,
            zxid,
            ..
        } = connected;
        let guard = DetachGuard {
            backend: Arc::clone(&ctx.backend),
            session,
            conn,
            armed: true,
        };
        let mut outbound = VecDeque::new();
        outbound.push_back(Ok(hello));
        debug!(parent: &span, "session attached");
        let driver = StreamDriver {
            ctx,
            session,
            inbound,
            events,
            outbound,
            order: ReplyOrder::new(),
            last_zxid: zxid,
            reading: true,
            closing: false,
            ended: None,
            guard,
        };
        let stream = futures::stream::unfold(driver, move |mut d| {
            let span = span.clone();
            async move { d.next().await.map(|m| (m, d)) }.instrument(span)
        });
        OutboundStream {
            inner: Box::pin(stream),
        }
    }
}

/// Detaches the session when its stream goes away without having ended it (tonic drops the
/// response stream when the client resets the stream or the connection closes).
struct DetachGuard<B: Backend> {
    backend: Arc<B>,
    session: SessionId,
    conn: ConnId,
    armed: bool,
}

impl<B: Backend> DetachGuard<B> {
    /// Ends the attachment now: `detach` unless the session itself ended.
    fn finish(&mut self, end: End) {
        if self.armed && end == End::Detach {
            self.backend.detach(self.session, self.conn);
        }
        self.armed = false;
    }
}

impl<B: Backend> Drop for DetachGuard<B> {
    fn drop(&mut self) {
        if self.armed {
            debug!("session stream dropped");
            self.backend.detach(self.session, self.conn);
        }
    }
}

/// Reads and checks the first message, then attaches the session.
async fn handshake<B: Backend>(
    ctx: &StreamCtx<B>,
    inbound: &mut Streaming<pb::ClientMessage>,
    peer: PeerInfo,
) -> Result<Connected, Status> {
    if *ctx.shutdown.borrow() {
        return Err(shutting_down());
    }
    let first = match tokio::time::timeout(ctx.opts.handshake_timeout(), inbound.message()).await {
        Err(_) => {
            return Err(with_code(
                Code::DeadlineExceeded,
                format!(
                    "no ConnectRequest within {} ms",
                    ctx.opts.handshake_timeout_ms
                ),
                ErrorCode::OperationTimeout,
            ))
        }
        Ok(Err(status)) => return Err(inbound_failure(status)),
        Ok(Ok(None)) => {
            return Err(zk_status(&ZkError::bad_arguments(
                "the stream ended before its ConnectRequest",
            )))
        }
        Ok(Ok(Some(m))) => m,
    };
    let Some(pb::client_message::Message::Connect(hello)) = first.message else {
        return Err(zk_status(&ZkError::bad_arguments(
            "the first message of a session stream must be a ConnectRequest",
        )));
    };
    let addr = peer.addr.map(|p| p.to_string()).unwrap_or_default();
    let req = decode_connect(hello, addr, peer.ids).map_err(|e| zk_status(&e))?;
    ctx.backend.connect(req).await.map_err(|e| zk_status(&e))
}

/// Who is at the other end of a stream, as the transport tells it.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerInfo {
    pub(crate) addr: Option<SocketAddr>,
    /// The ids the stream proves by itself, for ACL checks (see [`PeerInfo::new`]).
    pub(crate) ids: Vec<Id>,
}

impl PeerInfo {
    /// `ip:<peer address>` (none when tonic does not know the peer, e.g. over an in-memory
    /// transport); over TLS with a verified client certificate, `x509:<subject>` too, and the
    /// super user's id when that subject is `x509_super_user`.
    pub(crate) fn new(
        addr: Option<SocketAddr>,
        client_cert: Option<&[u8]>,
        x509_super_user: Option<&str>,
    ) -> PeerInfo {
        let mut ids: Vec<Id> = addr.map(|p| vec![Id::ip(p.ip())]).unwrap_or_default();
        if let Some(x509) = client_cert.and_then(paddock_tls::x509_id) {
            if x509_super_user == Some(x509.id.as_str()) {
                ids.push(Id::super_user());
            }
            ids.push(x509);
        }
        PeerInfo { addr, ids }
    }
}

/// How a stream ended, i.e. whether the backend must be told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The session ended (closed, expired, moved): nothing to detach.
    SessionClosed,
    /// The connection ends but the session lives on: `detach`.
    Detach,
}

/// The state of one attached stream.
struct StreamDriver<B: Backend> {
    ctx: StreamCtx<B>,
    session: SessionId,
    inbound: Streaming<pb::ClientMessage>,
    events: mpsc::UnboundedReceiver<SessionEvent>,
    /// Messages waiting for tonic to take them; while `outbound_buffer_messages` wait, nothing
    /// new is read from the client.
    outbound: VecDeque<Outgoing>,
    order: ReplyOrder<pb::ServerMessage>,
    /// The newest zxid this stream has reported, for answers the gateway makes itself.
    last_zxid: Zxid,
    /// False once the client half-closed its side.
    reading: bool,
    /// A CloseSession was submitted: wait for `SessionEvent::Closed`.
    closing: bool,
    /// Set once the stream has ended: what is left in `outbound` is sent, then nothing.
    ended: Option<End>,
    guard: DetachGuard<B>,
}

impl<B: Backend> StreamDriver<B> {
    /// The next message for the client, or `None` when the stream is over.
    async fn next(&mut self) -> Option<Outgoing> {
        loop {
            if let Some(m) = self.outbound.pop_front() {
                return Some(m);
            }
            if self.ended.is_some() {
                return None;
            }
            if let Err(end) = self.step().await {
                debug!(?end, "session stream ended");
                self.ended = Some(end);
                self.guard.finish(end);
            }
        }
    }

    /// Waits for one input (shutdown, a backend event, a client message) and handles it.
    async fn step(&mut self) -> Result<(), End> {
        if !self.reading && !self.closing && self.order.in_flight() == 0 {
            // Half-closed and everything answered: the connection is done, the session not.
            return Err(End::Detach);
        }
        let can_read = self.reading
            && self.order.in_flight() < self.ctx.opts.max_in_flight_per_stream
            && self.outbound.len() < self.ctx.opts.outbound_buffer_messages;
        tokio::select! {
            biased;
            () = shutdown_signalled(&mut self.ctx.shutdown) => {
                self.outbound.push_back(Err(shutting_down()));
                Err(End::Detach)
            }
            ev = self.events.recv() => self.on_event(ev),
            msg = self.inbound.message(), if can_read => self.on_client_message(msg),
        }
    }

    fn on_event(&mut self, ev: Option<SessionEvent>) -> Result<(), End> {
        match ev {
            Some(SessionEvent::Response {
                xid,
                zxid,
                mut result,
            }) => {
                self.last_zxid = self.last_zxid.max(zxid);
                // SetWatches: the watches that fired at once go before its answer. The backend
                // answers in submission order, so this answer is the next to leave.
                if let Ok(Response::SetWatches { events }) = &mut result {
                    for ev in std::mem::take(events) {
                        self.outbound
                            .push_back(Ok(encode_event(SessionEvent::Watch(ev))));
                    }
                }
                let msg = response_message(encode_response(xid, zxid, result));
                for m in self.order.backend_answered(xid, msg) {
                    self.outbound.push_back(Ok(m));
                }
                Ok(())
            }
            Some(ev @ SessionEvent::Watch(_)) => {
                self.outbound.push_back(Ok(encode_event(ev)));
                Ok(())
            }
            Some(SessionEvent::Closed(code)) => {
                debug!(code = code.code(), "session closed");
                // Requests the backend still held will never be answered by it: answer them here,
                // in order, so every request gets exactly one answer before SessionClosed.
                let why = match code {
                    ErrorCode::SessionMoved => ZkError::new(
                        ErrorCode::SessionMoved,
                        "the session moved to another connection",
                    ),
                    // As ZooKeeper's client after an AUTH_FAILED: what was sent after the failed
                    // AddAuth fails with the same code.
                    ErrorCode::AuthFailed => ZkError::new(
                        ErrorCode::AuthFailed,
                        "authentication failed: the session is closed",
                    ),
                    _ => ZkError::new(ErrorCode::SessionExpired, "the session is closed"),
                };
                let zxid = self.last_zxid;
                let pending = self
                    .order
                    .abandon(|xid| response_message(encode_response(xid, zxid, Err(why.clone()))));
                self.outbound.extend(pending.into_iter().map(Ok));
                self.outbound
                    .push_back(Ok(encode_event(SessionEvent::Closed(code))));
                Err(End::SessionClosed)
            }
            None => {
                self.outbound.push_back(Err(with_code(
                    Code::Unavailable,
                    "the server dropped this connection",
                    ErrorCode::ConnectionLoss,
                )));
                Err(End::Detach)
            }
        }
    }

    fn on_client_message(
        &mut self,
        msg: Result<Option<pb::ClientMessage>, Status>,
    ) -> Result<(), End> {
        use pb::client_message::Message;
        match msg {
            Ok(Some(pb::ClientMessage {
                message: Some(Message::Request(r)),
            })) => {
                self.on_request(r);
                Ok(())
            }
            Ok(Some(_)) => {
                let err = ZkError::bad_arguments(
                    "after the handshake a session stream carries only Request messages",
                );
                self.outbound.push_back(Err(zk_status(&err)));
                Err(End::Detach)
            }
            Ok(None) => {
                debug!(in_flight = self.order.in_flight(), "client half-closed");
                self.reading = false;
                Ok(())
            }
            Err(status) => {
                debug!(code = ?status.code(), message = status.message(), "client stream failed");
                self.outbound.push_back(Err(inbound_failure(status)));
                Err(End::Detach)
            }
        }
    }

    fn on_request(&mut self, r: pb::Request) {
        let (xid, decoded) = decode_request(r);
        match decoded {
            Ok(req) => {
                self.closing |= req == Request::CloseSession;
                self.order.submitted(xid);
                submit(&*self.ctx.backend, self.session, self.guard.conn, xid, req);
            }
            Err(err) => {
                debug!(xid, %err, "malformed request");
                let msg = response_message(encode_response(xid, self.last_zxid, Err(err)));
                for m in self.order.answered_locally(msg) {
                    self.outbound.push_back(Ok(m));
                }
            }
        }
    }
}

/// Hands one decoded request to the backend, in its own span when request spans are on
/// ([`crate::set_request_spans`]). Per message inside the stream, so not a layer's business.
fn submit<B: Backend>(backend: &B, session: SessionId, conn: ConnId, xid: i64, req: Request) {
    if request_spans() {
        let span = info_span!("submit", session = %session, xid = xid, op = req.name());
        let _entered = span.enter();
        backend.submit(session, conn, xid, req);
    } else {
        backend.submit(session, conn, xid, req);
    }
}

fn response_message(r: pb::Response) -> pb::ServerMessage {
    pb::ServerMessage {
        message: Some(pb::server_message::Message::Response(r)),
    }
}

/// Resolves once shutdown is signalled; never if the signal's sender is gone without signalling.
async fn shutdown_signalled(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn shutting_down() -> Status {
    with_code(
        Code::Unavailable,
        "the server is shutting down",
        ErrorCode::ConnectionLoss,
    )
}

/// The client's side of the stream failed (an oversize or undecodable message, a reset): keep
/// tonic's code and message, tag it MarshallingError.
fn inbound_failure(status: Status) -> Status {
    with_code(
        status.code(),
        status.message().to_string(),
        ErrorCode::MarshallingError,
    )
}

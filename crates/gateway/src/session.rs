//! One session stream, from handshake to end.
//!
//! ```text
//!  client ──ClientMessage──▶ [handshake] ──connect──▶ Backend
//!                                │
//!  client ──Request──▶ decode ──submit──▶ Backend ──events (ordered)──┐
//!             └─ malformed: answered here, queued in ReplyOrder ──────┤
//!  client ◀── bounded outbound channel ◀── encode ◀──────────────────┘
//! ```
//!
//! Rules this driver keeps:
//! - the ConnectResponse is the first message; nothing is read before the handshake is answered;
//! - answers leave in request order ([`ReplyOrder`]); events leave in the backend's order;
//! - bounded memory: at most `max_in_flight_per_stream` requests are read and unanswered, and
//!   while the outbound buffer is full nothing new is read from the client;
//! - every stream that attached a session ends in exactly one of: `SessionEvent::Closed`
//!   forwarded (no detach), or `Backend::detach` (client gone, half-closed and answered, protocol
//!   violation, backend gone, shutdown).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use paddock_proto::v1 as pb;
use paddock_types::{ErrorCode, Request, SessionId, ZkError, Zxid};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status, Streaming};
use tracing::{debug, info_span};

use crate::backend::{Backend, ConnId, Connected, SessionEvent};
use crate::convert::{
    decode_connect, decode_request, encode_connected, encode_event, encode_response,
};
use crate::limits::ConnPermit;
use crate::order::ReplyOrder;
use crate::status::{with_code, zk_status};
use crate::GatewayOptions;

/// What a stream sends: messages, or a final status.
type Outgoing = Result<pb::ServerMessage, Status>;

/// The response half of a session stream, as tonic serves it.
pub type OutboundStream = ReceiverStream<Outgoing>;

/// What every stream of one gateway shares.
pub(crate) struct StreamCtx<B> {
    pub(crate) backend: Arc<B>,
    pub(crate) opts: Arc<GatewayOptions>,
    /// Becomes `true` when the server shuts down: every stream then ends with UNAVAILABLE.
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// Runs one stream. `ready` receives the response stream once the handshake succeeded, or the
/// status that refuses it. `permit` (the per-IP slot) is held until the stream ends.
pub(crate) async fn run<B: Backend>(
    ctx: StreamCtx<B>,
    mut inbound: Streaming<pb::ClientMessage>,
    peer: Option<SocketAddr>,
    permit: Option<ConnPermit>,
    ready: oneshot::Sender<Result<OutboundStream, Status>>,
) {
    let connected = match handshake(&ctx, &mut inbound, peer).await {
        Ok(c) => c,
        Err(status) => {
            debug!(code = ?status.code(), message = status.message(), "handshake refused");
            let _ = ready.send(Err(status));
            return;
        }
    };
    let span = tracing::Span::current();
    span.record("session", tracing::field::display(connected.session));
    span.record("conn", connected.conn.0);

    let (tx, rx) = mpsc::channel(ctx.opts.outbound_buffer_messages);
    let hello = pb::ServerMessage {
        message: Some(pb::server_message::Message::Connect(encode_connected(
            &connected,
        ))),
    };
    // The channel is new and has room, so the ConnectResponse is always the first message.
    if tx.try_send(Ok(hello)).is_err() || ready.send(Ok(ReceiverStream::new(rx))).is_err() {
        ctx.backend.detach(connected.session, connected.conn);
        return;
    }
    debug!("session attached");

    let Connected {
        session,
        conn,
        events,
        zxid,
        ..
    } = connected;
    let mut driver = Driver {
        ctx,
        session,
        conn,
        inbound,
        events,
        tx,
        order: ReplyOrder::new(),
        last_zxid: zxid,
        reading: true,
        closing: false,
    };
    let end = driver.serve().await;
    if end == End::Detach {
        driver.ctx.backend.detach(session, conn);
    }
    debug!(?end, "session stream ended");
    drop(permit);
}

/// Reads and checks the first message, then attaches the session.
async fn handshake<B: Backend>(
    ctx: &StreamCtx<B>,
    inbound: &mut Streaming<pb::ClientMessage>,
    peer: Option<SocketAddr>,
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
    let peer = peer.map(|p| p.to_string()).unwrap_or_default();
    let req = decode_connect(hello, peer).map_err(|e| zk_status(&e))?;
    ctx.backend.connect(req).await.map_err(|e| zk_status(&e))
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
struct Driver<B> {
    ctx: StreamCtx<B>,
    session: SessionId,
    conn: ConnId,
    inbound: Streaming<pb::ClientMessage>,
    events: mpsc::UnboundedReceiver<SessionEvent>,
    /// Bounded: when the client does not read, sends wait and no request is read meanwhile.
    tx: mpsc::Sender<Outgoing>,
    order: ReplyOrder<pb::ServerMessage>,
    /// The newest zxid this stream has reported, for answers the gateway makes itself.
    last_zxid: Zxid,
    /// False once the client half-closed its side.
    reading: bool,
    /// A CloseSession was submitted: wait for `SessionEvent::Closed`.
    closing: bool,
}

impl<B: Backend> Driver<B> {
    async fn serve(&mut self) -> End {
        loop {
            if !self.reading && !self.closing && self.order.in_flight() == 0 {
                // Half-closed and everything answered: the connection is done, the session not.
                return End::Detach;
            }
            let can_read =
                self.reading && self.order.in_flight() < self.ctx.opts.max_in_flight_per_stream;
            let step = tokio::select! {
                biased;
                () = shutdown_signalled(&mut self.ctx.shutdown) => {
                    // Best effort: if the buffer is full the client just sees the stream end.
                    let _ = self.tx.try_send(Err(shutting_down()));
                    Err(End::Detach)
                }
                () = self.tx.closed() => Err(End::Detach),
                ev = self.events.recv() => self.on_event(ev).await,
                msg = self.inbound.message(), if can_read => self.on_client_message(msg).await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    async fn on_event(&mut self, ev: Option<SessionEvent>) -> Result<(), End> {
        match ev {
            Some(SessionEvent::Response { xid, zxid, result }) => {
                self.last_zxid = self.last_zxid.max(zxid);
                let msg = response_message(encode_response(xid, zxid, result));
                for m in self.order.backend_answered(xid, msg) {
                    self.deliver(m).await?;
                }
                Ok(())
            }
            Some(ev @ SessionEvent::Watch(_)) => self.deliver(encode_event(ev)).await,
            Some(SessionEvent::Closed(code)) => {
                debug!(code = code.code(), "session closed");
                // Requests the backend still held will never be answered by it: answer them here,
                // in order, so every request gets exactly one answer before SessionClosed.
                let why = match code {
                    ErrorCode::SessionMoved => ZkError::new(
                        ErrorCode::SessionMoved,
                        "the session moved to another connection",
                    ),
                    _ => ZkError::new(ErrorCode::SessionExpired, "the session is closed"),
                };
                let zxid = self.last_zxid;
                let pending = self
                    .order
                    .abandon(|xid| response_message(encode_response(xid, zxid, Err(why.clone()))));
                for m in pending {
                    self.deliver(m).await?;
                }
                self.deliver(encode_event(SessionEvent::Closed(code)))
                    .await?;
                Err(End::SessionClosed)
            }
            None => {
                let status = with_code(
                    Code::Unavailable,
                    "the server dropped this connection",
                    ErrorCode::ConnectionLoss,
                );
                let _ = self.tx.try_send(Err(status));
                Err(End::Detach)
            }
        }
    }

    async fn on_client_message(
        &mut self,
        msg: Result<Option<pb::ClientMessage>, Status>,
    ) -> Result<(), End> {
        use pb::client_message::Message;
        match msg {
            Ok(Some(pb::ClientMessage {
                message: Some(Message::Request(r)),
            })) => self.on_request(r).await,
            Ok(Some(_)) => {
                let err = ZkError::bad_arguments(
                    "after the handshake a session stream carries only Request messages",
                );
                let _ = self.tx.try_send(Err(zk_status(&err)));
                Err(End::Detach)
            }
            Ok(None) => {
                debug!(in_flight = self.order.in_flight(), "client half-closed");
                self.reading = false;
                Ok(())
            }
            Err(status) => {
                debug!(code = ?status.code(), message = status.message(), "client stream failed");
                let _ = self.tx.try_send(Err(inbound_failure(status)));
                Err(End::Detach)
            }
        }
    }

    async fn on_request(&mut self, r: pb::Request) -> Result<(), End> {
        let (xid, decoded) = decode_request(r);
        match decoded {
            Ok(req) => {
                self.closing |= req == Request::CloseSession;
                self.order.submitted(xid);
                submit(&*self.ctx.backend, self.session, self.conn, xid, req);
                Ok(())
            }
            Err(err) => {
                debug!(xid, %err, "malformed request");
                let msg = response_message(encode_response(xid, self.last_zxid, Err(err)));
                for m in self.order.answered_locally(msg) {
                    self.deliver(m).await?;
                }
                Ok(())
            }
        }
    }

    /// Sends one message, waiting while the client is slow (that wait is the backpressure).
    async fn deliver(&mut self, msg: pb::ServerMessage) -> Result<(), End> {
        tokio::select! {
            biased;
            () = shutdown_signalled(&mut self.ctx.shutdown) => {
                let _ = self.tx.try_send(Err(shutting_down()));
                Err(End::Detach)
            }
            sent = self.tx.send(Ok(msg)) => sent.map_err(|_| End::Detach),
        }
    }
}

/// Whether each request gets its own `submit` span (see [`set_request_spans`]).
static REQUEST_SPANS: AtomicBool = AtomicBool::new(true);

/// Turns the per-request `submit` span on or off (on by default). A span per request costs a few
/// percent of a read's CPU (the log formatter renders its fields when it is created), so the
/// server binary turns it off unless someone consumes it: trace export, or logs at debug level
/// or finer, where it gives the request context to the events inside. The session stream's own
/// span is always there.
pub fn set_request_spans(on: bool) {
    REQUEST_SPANS.store(on, Ordering::Relaxed);
}

/// Hands one decoded request to the backend, in its own span when request spans are on.
fn submit<B: Backend>(backend: &B, session: SessionId, conn: ConnId, xid: i64, req: Request) {
    if REQUEST_SPANS.load(Ordering::Relaxed) {
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

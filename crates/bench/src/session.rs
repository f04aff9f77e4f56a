//! One Paddock session over the generated gRPC code — the only module that knows the wire.
//!
//! The bench needs little from a session: open it, send requests without waiting (pipelining),
//! read the answers in order, close it. This module does exactly that over
//! `paddock_proto::v1::paddock_client::PaddockClient`, with no reconnect, no session resume and
//! no heartbeats: a bench session is busy all the time, and one whose stream breaks is reported
//! as lost rather than repaired. When the Rust client library (crates/client) exists, this module
//! is the one to replace by it; the rest of the bench only uses [`Session`], [`Reply`],
//! [`SessionError`] and the request builders in [`ops`].
//!
//! One session = one TCP connection (its own HTTP/2 channel), like a ZooKeeper client, so the
//! server sees N connections for N sessions. Note the server's `maxClientCnxns` (60 streams per
//! client IP by default).

use std::time::Duration;

use bytes::Bytes;
use paddock_proto::v1::{
    self as pb, client_message, paddock_client::PaddockClient, request::Op, server_message,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

/// ZooKeeper's CONNECTIONLOSS: what a broken stream without a code means.
pub const CONNECTION_LOSS: i32 = -4;
/// ZooKeeper's OPERATIONTIMEOUT: no answer in time.
pub const OPERATION_TIMEOUT: i32 = -7;
/// ZooKeeper's MARSHALLINGERROR: an answer that does not fit the protocol.
pub const MARSHALLING_ERROR: i32 = -5;

/// Largest server message the bench accepts (a big getChildren during cleanup).
const MAX_DECODING: usize = 512 * 1024 * 1024;
/// How long to wait for the TCP connection and for the handshake answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The stream-level failure of a session: it cannot be used any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionError {
    /// ZooKeeper's code: from the status's `paddock-error-code`, from `SessionClosed`, or
    /// CONNECTIONLOSS (-4) for a transport failure / a stream that ended.
    pub code: i32,
    /// What happened, for the report.
    pub message: String,
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            crate::stats::error_name(self.code),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for SessionError {}

impl SessionError {
    fn new(code: i32, message: impl Into<String>) -> SessionError {
        SessionError {
            code,
            message: message.into(),
        }
    }

    fn from_status(s: &tonic::Status) -> SessionError {
        let code = s
            .metadata()
            .get("paddock-error-code")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(CONNECTION_LOSS);
        SessionError::new(
            code,
            format!("stream ended: {:?} {}", s.code(), s.message()),
        )
    }
}

/// The answer to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub xid: i64,
    /// ZooKeeper's code, 0 = OK.
    pub error: i32,
    pub error_message: String,
    pub result: Option<pb::response::Result>,
}

/// An open session stream.
pub struct Session {
    tx: mpsc::Sender<pb::ClientMessage>,
    rx: tonic::Streaming<pb::ServerMessage>,
    next_xid: i64,
    reply_timeout: Duration,
    /// The session id the server gave.
    pub id: i64,
    /// The negotiated session timeout, ms.
    pub timeout_ms: i32,
}

impl Session {
    /// Connects to `server` (`host:port`), opens a new session asking for `timeout_ms`, and waits
    /// for the handshake. `max_in_flight` sizes the send queue so that [`Session::submit`] never
    /// waits while fewer requests are unanswered. An answer that takes longer than the negotiated
    /// session timeout is an OPERATIONTIMEOUT failure of the session.
    pub async fn connect(
        server: &str,
        timeout_ms: i32,
        max_in_flight: usize,
    ) -> Result<Session, SessionError> {
        let endpoint = Endpoint::from_shared(format!("http://{server}"))
            .map_err(|e| SessionError::new(CONNECTION_LOSS, format!("bad address {server}: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        let channel: Channel = endpoint.connect().await.map_err(|e| {
            SessionError::new(CONNECTION_LOSS, format!("cannot connect to {server}: {e}"))
        })?;
        let mut client = PaddockClient::new(channel).max_decoding_message_size(MAX_DECODING);
        let (tx, rx) = mpsc::channel(max_in_flight.max(1) + 4);
        let hello = pb::ClientMessage {
            message: Some(client_message::Message::Connect(pb::ConnectRequest {
                session_id: 0,
                password: Bytes::new(),
                timeout_ms,
                last_zxid_seen: 0,
            })),
        };
        tx.send(hello)
            .await
            .map_err(|_| SessionError::new(CONNECTION_LOSS, "request queue closed"))?;
        let opened = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let mut rx = client
                .session(ReceiverStream::new(rx))
                .await
                .map_err(|s| SessionError::from_status(&s))?
                .into_inner();
            match rx.message().await {
                Ok(Some(pb::ServerMessage {
                    message: Some(server_message::Message::Connect(c)),
                })) => Ok((rx, c)),
                Ok(other) => Err(SessionError::new(
                    MARSHALLING_ERROR,
                    format!("expected a ConnectResponse, got {other:?}"),
                )),
                Err(s) => Err(SessionError::from_status(&s)),
            }
        })
        .await
        .map_err(|_| SessionError::new(OPERATION_TIMEOUT, format!("no handshake from {server}")))?;
        let (rx, c) = opened?;
        Ok(Session {
            tx,
            rx,
            next_xid: 1,
            reply_timeout: Duration::from_millis(c.timeout_ms.max(1000) as u64),
            id: c.session_id,
            timeout_ms: c.timeout_ms,
        })
    }

    /// Sends a request without waiting for its answer; returns its xid.
    pub async fn submit(&mut self, op: Op) -> Result<i64, SessionError> {
        let xid = self.next_xid;
        self.next_xid += 1;
        let msg = pb::ClientMessage {
            message: Some(client_message::Message::Request(pb::Request {
                xid,
                op: Some(op),
            })),
        };
        self.tx
            .send(msg)
            .await
            .map_err(|_| SessionError::new(CONNECTION_LOSS, "request stream closed"))?;
        Ok(xid)
    }

    /// The next answer, in request order (watch events are skipped: the bench sets none).
    pub async fn next_reply(&mut self) -> Result<Reply, SessionError> {
        loop {
            let next = tokio::time::timeout(self.reply_timeout, self.rx.message())
                .await
                .map_err(|_| {
                    SessionError::new(
                        OPERATION_TIMEOUT,
                        format!("no answer within {:?}", self.reply_timeout),
                    )
                })?;
            match next {
                Ok(Some(pb::ServerMessage { message: Some(m) })) => match m {
                    server_message::Message::Response(r) => {
                        return Ok(Reply {
                            xid: r.xid,
                            error: r.error,
                            error_message: r.error_message,
                            result: r.result,
                        })
                    }
                    server_message::Message::WatchEvent(_) => continue,
                    server_message::Message::SessionClosed(c) => {
                        return Err(SessionError::new(
                            c.error,
                            format!("session closed: {}", c.message),
                        ))
                    }
                    server_message::Message::Connect(_) => {
                        return Err(SessionError::new(
                            MARSHALLING_ERROR,
                            "a second ConnectResponse",
                        ))
                    }
                },
                Ok(Some(pb::ServerMessage { message: None })) => {
                    return Err(SessionError::new(
                        MARSHALLING_ERROR,
                        "an empty ServerMessage",
                    ))
                }
                Ok(None) => return Err(SessionError::new(CONNECTION_LOSS, "stream ended")),
                Err(s) => return Err(SessionError::from_status(&s)),
            }
        }
    }

    /// Sends one request and waits for its answer (only when nothing else is in flight).
    pub async fn call(&mut self, op: Op) -> Result<Reply, SessionError> {
        let xid = self.submit(op).await?;
        let r = self.next_reply().await?;
        if r.xid != xid {
            return Err(SessionError::new(
                MARSHALLING_ERROR,
                format!("answer for xid {} while waiting for {xid}", r.xid),
            ));
        }
        Ok(r)
    }

    /// Closes the session (CloseSessionRequest) and waits for the server to end the stream.
    /// Answers still in flight are read and dropped.
    pub async fn close(mut self) -> Result<(), SessionError> {
        let xid = self
            .submit(Op::CloseSession(pb::CloseSessionRequest {}))
            .await?;
        loop {
            match self.next_reply().await {
                Ok(r) if r.xid == xid => break,
                Ok(_) => continue,
                // SessionClosed{0} straight after the answer is the normal end.
                Err(e) if e.code == 0 => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        match self.next_reply().await {
            Err(e) if e.code == 0 => Ok(()),
            Err(e) => Err(e),
            Ok(r) => Err(SessionError::new(
                MARSHALLING_ERROR,
                format!("an answer (xid {}) after CloseSession", r.xid),
            )),
        }
    }
}

/// Builders for the requests the bench sends.
pub mod ops {
    use super::*;

    /// Persistent, or persistent-sequential when `sequential`.
    pub fn create(path: String, data: Bytes, sequential: bool) -> Op {
        Op::Create(create_req(path, data, sequential))
    }

    fn create_req(path: String, data: Bytes, sequential: bool) -> pb::CreateRequest {
        let mode = if sequential {
            pb::CreateMode::PersistentSequential
        } else {
            pb::CreateMode::Persistent
        };
        pb::CreateRequest {
            path,
            data,
            mode: mode as i32,
        }
    }

    /// setData with version -1 (any).
    pub fn set_data(path: String, data: Bytes) -> Op {
        Op::SetData(pb::SetDataRequest {
            path,
            data,
            version: -1,
        })
    }

    pub fn get_data(path: String) -> Op {
        Op::GetData(pb::GetDataRequest { path, watch: false })
    }

    pub fn get_children(path: String) -> Op {
        Op::GetChildren(pb::GetChildrenRequest { path, watch: false })
    }

    /// delete with version -1 (any).
    pub fn delete(path: String) -> Op {
        Op::Delete(pb::DeleteRequest { path, version: -1 })
    }

    /// A multi of persistent creates.
    pub fn multi_create(items: impl IntoIterator<Item = (String, Bytes)>) -> Op {
        Op::Multi(pb::MultiRequest {
            ops: items
                .into_iter()
                .map(|(path, data)| pb::MultiOp {
                    op: Some(pb::multi_op::Op::Create(create_req(path, data, false))),
                })
                .collect(),
        })
    }

    /// A multi of deletes (version -1).
    pub fn multi_delete(paths: impl IntoIterator<Item = String>) -> Op {
        Op::Multi(pb::MultiRequest {
            ops: paths
                .into_iter()
                .map(|path| pb::MultiOp {
                    op: Some(pb::multi_op::Op::Delete(pb::DeleteRequest {
                        path,
                        version: -1,
                    })),
                })
                .collect(),
        })
    }
}

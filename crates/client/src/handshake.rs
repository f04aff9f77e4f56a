//! Opening a session stream: dial one server (plaintext or TLS, `crate::transport`), send the
//! ConnectRequest, read the ConnectResponse, and sort failures into what the session task does
//! next (try another server, give up, report TLS as the likely cause).

use std::time::Duration;

use paddock_proto::v1::{self as pb, paddock_client::PaddockClient};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::error::Error;
use crate::pool::Lease;
use crate::transport::{explain, with_sources, Dialer, Stage};

/// One open session stream.
pub(crate) struct Conn {
    pub(crate) tx: mpsc::UnboundedSender<pb::ClientMessage>,
    pub(crate) rx: tonic::Streaming<pb::ServerMessage>,
    pub addr: String,
    /// The shared connection the stream is on (`ClientOptions::shared_connections`), held for
    /// as long as the stream: the connection closes when its last session leaves.
    pub(crate) lease: Option<Lease>,
}

/// Why a connection attempt failed.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The server says the session is gone (NOT_FOUND / -112).
    Expired,
    /// The server rejected the handshake itself (BADARGUMENTS): retrying will not help.
    Fatal(Error),
    /// Unreachable, not serving, behind our zxid, throttled...: try another server. Carries the
    /// server's ZooKeeper code when it gave one (e.g. Throttled for too many connections).
    Retry(String, Option<paddock_types::ErrorCode>),
    /// The connection failed and TLS is the likely reason (see `crate::transport`): try another
    /// server, but tell the user this if none works.
    Tls(String),
}

fn status_code(s: &tonic::Status) -> Option<i32> {
    s.metadata()
        .get("paddock-error-code")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

pub(crate) fn classify(s: &tonic::Status) -> ConnectError {
    match status_code(s) {
        Some(-112) => ConnectError::Expired,
        Some(-8) => ConnectError::Fatal(Error::Zk {
            code: paddock_types::ErrorCode::BadArguments,
            message: s.message().to_string(),
        }),
        code => ConnectError::Retry(
            format!(
                "stream ended: {:?} {} (code {code:?})",
                s.code(),
                s.message()
            ),
            code.and_then(paddock_types::ErrorCode::from_code),
        ),
    }
}

/// Opens a session stream to `addr` and performs the handshake, all within `limit`.
pub(crate) async fn connect_one(
    dialer: &Dialer,
    addr: &str,
    hello: pb::ConnectRequest,
    limit: Duration,
    max_message: usize,
) -> std::result::Result<(Conn, pb::ConnectResponse), ConnectError> {
    let endpoint = dialer
        .endpoint(addr)
        .map_err(ConnectError::Fatal)?
        .connect_timeout(limit)
        .tcp_nodelay(true);
    let security = dialer.security();
    // A transport failure (not an answer from the server): TLS, when that explains it.
    let failed = |stage: Stage, e: &(dyn std::error::Error + 'static)| match explain(
        addr, security, stage, e,
    ) {
        Some(why) => ConnectError::Tls(why),
        None => ConnectError::Retry(
            format!("cannot connect to {addr}: {}", with_sources(e)),
            None,
        ),
    };
    let answer_failed = |s: tonic::Status| {
        if std::error::Error::source(&s).is_some() {
            failed(Stage::Answer, &s)
        } else {
            classify(&s)
        }
    };
    // Sharing connections: a slot on one (dialed by the first session that needs it).
    let lease = dialer.lease(addr);
    let attempt = async {
        let channel = match &lease {
            None => endpoint.connect().await,
            Some(lease) => lease.slot.channel(|| endpoint.connect()).await,
        }
        .map_err(|e| failed(Stage::Connect, &e))?;
        let mut client = PaddockClient::new(channel)
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message);
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(pb::ClientMessage {
            message: Some(pb::client_message::Message::Connect(hello)),
        });
        let mut stream = client
            .session(UnboundedReceiverStream::new(rx))
            .await
            .map_err(answer_failed)?
            .into_inner();
        match stream.message().await {
            Ok(Some(pb::ServerMessage {
                message: Some(pb::server_message::Message::Connect(c)),
            })) => Ok((tx, stream, c)),
            Ok(other) => Err(ConnectError::Retry(
                format!("{addr}: expected a ConnectResponse, got {other:?}"),
                None,
            )),
            Err(s) => Err(answer_failed(s)),
        }
    };
    let result = match tokio::time::timeout(limit, attempt).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Retry(
            format!("{addr}: no handshake within {limit:?}"),
            None,
        )),
    };
    match result {
        Ok((tx, rx, c)) => Ok((
            Conn {
                tx,
                rx,
                addr: addr.to_string(),
                lease,
            },
            c,
        )),
        Err(e) => {
            // No answer from the server over a shared connection (refused, reset, hung): later
            // sessions must not reuse it. An answer (expired, refused with a code) leaves it.
            let answered = matches!(
                e,
                ConnectError::Expired | ConnectError::Fatal(_) | ConnectError::Retry(_, Some(_))
            );
            if let (Some(lease), false) = (&lease, answered) {
                lease.retire();
            }
            Err(e)
        }
    }
}

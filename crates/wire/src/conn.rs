//! One client connection, from its first bytes to its close.
//!
//! ```text
//!  first 4 bytes ── a four-letter word? ──▶ its text, close
//!        │ no: a frame length
//!  ConnectRequest ──▶ Backend::connect ──▶ ConnectResponse (or "expired": timeout 0, close)
//!  loop (one task):
//!    socket ──frames──▶ decode ──submit──▶ Backend      (malformed / unknown op: answered here)
//!    Backend ──events (ordered)──▶ encode ──▶ socket    (answers in request order)
//! ```
//!
//! Rules this driver keeps:
//! - answers leave in request order: a request answered here (it could not be decoded, or its
//!   op is not served) waits behind every earlier request still at the backend;
//! - a frame longer than `max_frame_bytes` (`jute.maxbuffer`) closes the connection, as
//!   ZooKeeper does; a record that cannot be decoded is answered MARSHALLINGERROR and the
//!   connection carries on; nothing a client sends can panic the server;
//! - at most `max_in_flight` requests are read and unanswered; beyond that the socket is not
//!   read (ZooKeeper's throttling, which the client sees as TCP back-pressure);
//! - every connection that attached a session ends in exactly one of: the session ended
//!   (`SessionEvent::Closed`), or `Backend::detach`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use paddock_api::{Backend, ConnId, ConnectRequest, Connected, ReplyOrder, SessionEvent};
use paddock_types::{ErrorCode, Id, SessionId, Zxid, PASSWORD_LEN};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::records::{self, AnswerShape, Connect, Decoded};
use crate::words;
use crate::Shared;

/// A connection's byte stream: TCP, or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Serves one accepted connection until it ends. `conn_ids` are the ids the connection itself
/// proves (`ip:`, and `x509:` over TLS with a client certificate), for ACL checks.
pub(crate) async fn serve<B: Backend, S: Io>(
    sh: Arc<Shared<B>>,
    stream: S,
    peer: SocketAddr,
    conn_ids: Vec<Id>,
) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut inbuf = BytesMut::with_capacity(4096);
    let handshake = tokio::time::timeout(sh.opts.handshake_timeout, async {
        read_at_least(&mut rd, &mut inbuf, 4).await?;
        let first = [inbuf[0], inbuf[1], inbuf[2], inbuf[3]];
        if let Some(word) = words::word(first) {
            // `stmk` carries the new trace mask: a big-endian long after the word.
            let mask = if word == "stmk" {
                read_at_least(&mut rd, &mut inbuf, 12).await?;
                let bytes: [u8; 8] = inbuf[4..12].try_into().map_err(|_| invalid("stmk mask"))?;
                Some(i64::from_be_bytes(bytes))
            } else {
                None
            };
            return Ok(First::Word(word, mask));
        }
        let len = frame_len(first, sh.opts.max_frame_bytes).map_err(invalid)?;
        read_at_least(&mut rd, &mut inbuf, 4 + len).await?;
        inbuf.advance(4);
        let frame = inbuf.split_to(len).freeze();
        Connect::decode(&frame)
            .map(First::Connect)
            .map_err(|e| invalid(e.to_string()))
    })
    .await;
    let connect = match handshake {
        Err(_) => {
            debug!(%peer, "no ConnectRequest in time; closing");
            return;
        }
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "handshake failed; closing");
            return;
        }
        Ok(Ok(First::Word(word, mask))) => {
            four_letter_word(&sh, word, mask, wr).await;
            return;
        }
        Ok(Ok(First::Connect(c))) => c,
    };
    let Some(connected) = attach(&sh, &connect, peer, conn_ids, &mut wr).await else {
        return;
    };
    let session = connected.session;
    let mut conn = Conn {
        sh: Arc::clone(&sh),
        session,
        conn: connected.conn,
        events: connected.events,
        rd,
        wr,
        inbuf,
        out: Vec::with_capacity(4096),
        order: ReplyOrder::new(),
        shapes: VecDeque::new(),
        last_zxid: connected.zxid,
        reading: true,
        attached: true,
    };
    let end = conn.run().await;
    debug!(%peer, session = %session, end = %end, "connection ended");
    if conn.attached {
        sh.backend.detach(session, conn.conn);
    }
}

/// What a connection's first bytes were.
enum First {
    /// A four-letter word, and `stmk`'s mask.
    Word(&'static str, Option<i64>),
    Connect(Connect),
}

fn invalid(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

/// A frame's length from its 4-byte prefix, refused when negative or over `max`.
fn frame_len(prefix: [u8; 4], max: usize) -> Result<usize, String> {
    let len = i32::from_be_bytes(prefix);
    match usize::try_from(len) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!(
            "frame length {len} is outside 0..={max} (jute.maxbuffer)"
        )),
    }
}

/// Reads until `buf` holds at least `n` bytes; EOF first is an error.
async fn read_at_least<S: Io>(
    rd: &mut ReadHalf<S>,
    buf: &mut BytesMut,
    n: usize,
) -> std::io::Result<()> {
    while buf.len() < n {
        buf.reserve(n - buf.len());
        if rd.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}

async fn four_letter_word<B: Backend, S: Io>(
    sh: &Shared<B>,
    word: &'static str,
    mask: Option<i64>,
    mut wr: WriteHalf<S>,
) {
    let text = match &sh.words {
        Some(words) => {
            let words = Arc::clone(words);
            tokio::task::spawn_blocking(move || match mask {
                Some(mask) => words.set_trace_mask(mask),
                None => words.run(word),
            })
            .await
            .unwrap_or_else(|e| format!("{word} failed: {e}\n"))
        }
        None => format!("{word} is not executed because it is not in the whitelist.\n"),
    };
    debug!(word, "four-letter word");
    let _ = wr.write_all(text.as_bytes()).await;
    let _ = wr.shutdown().await;
}

/// Opens or resumes the session and answers the handshake. `None`: the connection is over.
async fn attach<B: Backend, S: Io>(
    sh: &Shared<B>,
    c: &Connect,
    peer: SocketAddr,
    conn_ids: Vec<Id>,
    wr: &mut WriteHalf<S>,
) -> Option<Connected> {
    let expired = records::connect_response(0, 0, &[0u8; PASSWORD_LEN], false);
    let Ok(resume) = c.resume() else {
        // A password that cannot be one of ours: ZooKeeper's answer to a wrong password.
        let _ = wr.write_all(&expired).await;
        return None;
    };
    let req = ConnectRequest {
        resume,
        timeout_ms: c.timeout_ms,
        last_zxid_seen: Zxid(u64::try_from(c.last_zxid_seen).unwrap_or(0)),
        peer: peer.to_string(),
        conn_ids,
        set_watches: Default::default(),
        read_only: c.read_only,
    };
    match sh.backend.connect(req).await {
        Ok(connected) => {
            let hello = records::connect_response(
                connected.timeout_ms,
                connected.session.0,
                &connected.password,
                connected.read_only,
            );
            if wr.write_all(&hello).await.is_err() {
                sh.backend.detach(connected.session, connected.conn);
                return None;
            }
            debug!(%peer, session = %connected.session, timeout_ms = connected.timeout_ms, "session attached");
            Some(connected)
        }
        Err(e) if e.code == ErrorCode::SessionExpired => {
            info!(%peer, session = format_args!("0x{:x}", c.session_id), "session expired or unknown; telling the client");
            let _ = wr.write_all(&expired).await;
            let _ = wr.shutdown().await;
            None
        }
        Err(e) => {
            // ZooKeeper closes without an answer (the client tries another server): a server
            // that is not serving, one behind the client's zxid, or one in read-only mode and a
            // client that did not allow read-only.
            info!(%peer, error = %e, "connection refused");
            None
        }
    }
}

/// Why a connection ended.
enum End {
    SessionEnded(ErrorCode),
    ClientGone,
    Io(std::io::Error),
    Protocol(String),
    Shutdown,
    BackendGone,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::SessionEnded(code) => write!(f, "the session ended ({})", code.name()),
            End::ClientGone => write!(f, "the client closed the connection"),
            End::Io(e) => write!(f, "socket error: {e}"),
            End::Protocol(why) => write!(f, "protocol violation: {why}"),
            End::Shutdown => write!(f, "the server is shutting down"),
            End::BackendGone => write!(f, "the server dropped the session's channel"),
        }
    }
}

struct Conn<B: Backend, S: Io> {
    sh: Arc<Shared<B>>,
    session: SessionId,
    conn: ConnId,
    events: mpsc::UnboundedReceiver<SessionEvent>,
    rd: ReadHalf<S>,
    wr: WriteHalf<S>,
    inbuf: BytesMut,
    /// Frames to write, in order.
    out: Vec<u8>,
    /// Answers in request order (the gateway answers some requests itself).
    order: ReplyOrder<Bytes>,
    /// The shape of each request at the backend, oldest first: the backend answers in
    /// submission order, so its next answer is for the front one.
    shapes: VecDeque<AnswerShape>,
    last_zxid: Zxid,
    /// False once the client half-closed.
    reading: bool,
    /// True until the session ended on its own (then there is nothing to detach).
    attached: bool,
}

impl<B: Backend, S: Io> Conn<B, S> {
    async fn run(&mut self) -> End {
        let mut shutdown: watch::Receiver<bool> = self.sh.shutdown.clone();
        loop {
            if let Err(end) = self.take_frames() {
                let _ = self.flush().await;
                if matches!(end, End::Protocol(_)) {
                    self.linger().await;
                }
                return end;
            }
            if let Err(e) = self.flush().await {
                return End::Io(e);
            }
            if !self.reading && self.order.in_flight() == 0 {
                return End::ClientGone;
            }
            let can_read = self.reading && self.order.in_flight() < self.sh.opts.max_in_flight;
            let step = tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => Err(End::Shutdown),
                ev = self.events.recv() => self.on_event(ev),
                n = self.rd.read_buf(&mut self.inbuf), if can_read => match n {
                    Ok(0) => {
                        self.reading = false;
                        Ok(())
                    }
                    Ok(_) => Ok(()),
                    Err(e) => Err(End::Io(e)),
                },
            };
            // Whatever else the backend has ready goes out in the same write.
            let step = step.and_then(|()| {
                for _ in 0..256 {
                    match self.events.try_recv() {
                        Ok(ev) => self.on_event(Some(ev))?,
                        Err(_) => break,
                    }
                }
                Ok(())
            });
            if let Err(end) = step {
                let _ = self.flush().await;
                if matches!(end, End::SessionEnded(ErrorCode::AuthFailed)) {
                    // The client may already have sent more: a close with unread input would
                    // reach it as a reset, not as the end of the connection.
                    self.linger().await;
                }
                return end;
            }
        }
    }

    /// Closes our side and reads (and drops) what the client still sends, for a moment: closing
    /// a socket with unread input resets it, and the client would see a reset instead of the
    /// connection closing (for an oversize frame, it is usually still sending it).
    async fn linger(&mut self) {
        let _ = self.wr.shutdown().await;
        let drain = async {
            let mut sink = [0u8; 16 * 1024];
            while let Ok(n) = self.rd.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.wr.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Decodes and handles every whole frame buffered, while the in-flight bound allows.
    fn take_frames(&mut self) -> Result<(), End> {
        while self.order.in_flight() < self.sh.opts.max_in_flight && self.inbuf.len() >= 4 {
            let prefix = [self.inbuf[0], self.inbuf[1], self.inbuf[2], self.inbuf[3]];
            let len = match frame_len(prefix, self.sh.opts.max_frame_bytes) {
                Ok(n) => n,
                Err(why) => {
                    warn!(session = %self.session, "{why}; closing the connection");
                    return Err(End::Protocol(why));
                }
            };
            if self.inbuf.len() < 4 + len {
                self.inbuf.reserve(4 + len - self.inbuf.len());
                break;
            }
            self.inbuf.advance(4);
            let frame = self.inbuf.split_to(len);
            self.on_frame(&frame)?;
        }
        Ok(())
    }

    fn on_frame(&mut self, frame: &[u8]) -> Result<(), End> {
        let Decoded {
            xid,
            op,
            shape,
            request,
        } = match records::decode_request(frame) {
            Ok(d) => d,
            Err(e) => {
                warn!(session = %self.session, error = %e, "unreadable request header; closing the connection");
                return Err(End::Protocol(e.to_string()));
            }
        };
        match request {
            Ok(req) => {
                self.order.submitted(i64::from(xid));
                self.shapes.push_back(shape);
                self.sh
                    .backend
                    .submit(self.session, self.conn, i64::from(xid), req);
            }
            Err(err) => {
                debug!(session = %self.session, xid, op, %err, "request answered by the gateway");
                let answer = records::answer(xid, self.last_zxid, &shape, &Err(err));
                for a in self.order.answered_locally(answer) {
                    self.out.extend_from_slice(&a);
                }
            }
        }
        Ok(())
    }

    fn on_event(&mut self, ev: Option<SessionEvent>) -> Result<(), End> {
        match ev {
            Some(SessionEvent::Response {
                xid,
                zxid,
                mut result,
            }) => {
                self.last_zxid = self.last_zxid.max(zxid);
                // An answer nobody waits for still leaves (ReplyOrder logs it), shaped plainly.
                let shape = self.shapes.pop_front().unwrap_or_default();
                // SetWatches: the watches that fired at once go before its answer.
                if let Ok(paddock_types::Response::SetWatches { events }) = &mut result {
                    for ev in std::mem::take(events) {
                        self.out.extend_from_slice(&records::notification(&ev));
                    }
                }
                let auth_failed = xid == i64::from(records::xid::AUTH)
                    && matches!(&result, Err(e) if e.code == ErrorCode::AuthFailed);
                let frame =
                    records::answer(i32::try_from(xid).unwrap_or(-1), zxid, &shape, &result);
                let released = self.order.backend_answered(xid, frame);
                let sent = !released.is_empty();
                for a in released {
                    self.out.extend_from_slice(&a);
                }
                if auth_failed && sent {
                    // As ZooKeeper: AUTHFAILED, then the connection closes (the session is
                    // ending anyway: its CloseSession is on its way). Nothing sent after the
                    // auth packet is answered.
                    return Err(End::SessionEnded(ErrorCode::AuthFailed));
                }
                Ok(())
            }
            Some(SessionEvent::Watch(ev)) => {
                self.out.extend_from_slice(&records::notification(&ev));
                Ok(())
            }
            Some(SessionEvent::Closed(code)) => {
                // ZooKeeper closes the socket; the client learns why when it reconnects.
                self.attached = false;
                Err(End::SessionEnded(code))
            }
            None => Err(End::BackendGone),
        }
    }
}

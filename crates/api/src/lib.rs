//! # paddock-api — the server as a client gateway sees it
//!
//! The [`Backend`] trait and the values that cross it, plus the status a gateway's admin words
//! print ([`Status`], [`ConnectionInfo`]). A gateway (gRPC today, ZooKeeper's own protocol
//! next) depends on this crate only: it never compiles the processor, storage or sled, and its
//! tests plug in a fake backend.
//!
//! A connection (one gRPC stream) attaches to a session with [`Backend::connect`], gets back an
//! ordered event receiver, submits requests with [`Backend::submit`], and reads *everything* for the
//! session — responses, watch events, the end of the session — from that one receiver, in order.
//! That single ordered channel is what gives FIFO client order and "watch event before the data".

use std::future::Future;

mod order;
pub mod threads;
pub use order::ReplyOrder;

pub use paddock_types::SetWatches;
use paddock_types::{
    ErrorCode, Request, Response, SessionId, WatchedEvent, ZkError, Zxid, PASSWORD_LEN,
};
use tokio::sync::mpsc;

/// Identifies one attachment of a session (one stream). A session moved to a newer connection
/// ignores `detach` calls from older ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId(pub u64);

/// What a client asks for when its stream opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectRequest {
    /// `None` for a new session; `Some((id, password))` to resume one.
    pub resume: Option<(SessionId, [u8; PASSWORD_LEN])>,
    /// Requested session timeout, ms; negotiated into [minSessionTimeout, maxSessionTimeout].
    pub timeout_ms: i32,
    /// The highest zxid the client has seen; a server behind it refuses the connection.
    pub last_zxid_seen: Zxid,
    /// Who is connecting (peer address), for logs and per-client limits.
    pub peer: String,
    /// The ids the connection itself proves, for ACL checks: `ip:<address>` of the peer, and
    /// `x509:<subject>` of a verified client certificate. Decided by the transport.
    pub conn_ids: Vec<paddock_types::Id>,
    /// Watches the client still holds, to set again on this server (ZooKeeper's SetWatches),
    /// relative to `last_zxid_seen`. Empty for a new client.
    pub set_watches: SetWatches,
    /// The client accepts a read-only session (ZooKeeper's `canBeReadOnly`): a server in
    /// read-only mode (cut off from its quorum) refuses connects without it.
    pub read_only: bool,
}

/// A session attached to a new connection.
#[derive(Debug)]
pub struct Connected {
    pub session: SessionId,
    pub password: [u8; PASSWORD_LEN],
    /// The negotiated timeout, ms.
    pub timeout_ms: i32,
    pub conn: ConnId,
    /// Everything for this connection, in order. Ends after a [`SessionEvent::Closed`], or when the
    /// session is attached to a newer connection (then the last event is `Closed(SessionMoved)`).
    pub events: mpsc::UnboundedReceiver<SessionEvent>,
    /// The last zxid applied on this server when the session was attached.
    pub zxid: Zxid,
    /// The session is served read-only: this server is in read-only mode, answers reads from
    /// its own (possibly stale) tree and writes with NOTREADONLY.
    pub read_only: bool,
}

/// One item on a connection's ordered channel.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionEvent {
    /// The answer to the request submitted with `xid`. `zxid` is the server's last applied zxid when
    /// answering (the transaction's own zxid for writes).
    Response {
        xid: i64,
        zxid: Zxid,
        result: Result<Response, ZkError>,
    },
    /// A watch fired.
    Watch(WatchedEvent),
    /// The session ended (or moved): `SessionExpired`, `SessionMoved`, or `Ok` for a clean close
    /// (sent after the CloseSession response). Nothing follows.
    Closed(ErrorCode),
}

/// The server behind the gateway.
pub trait Backend: Send + Sync + 'static {
    /// Opens or resumes a session. Errors: `SessionExpired` (unknown / expired / wrong password,
    /// as ZooKeeper), `BadArguments`, `ConnectionLoss` when the server is not serving.
    fn connect(
        &self,
        req: ConnectRequest,
    ) -> impl Future<Output = Result<Connected, ZkError>> + Send;

    /// Queues a request of `session` arriving on `conn`. Never blocks and never fails directly:
    /// every outcome (including refusals such as too many requests in flight, or a connection that
    /// no longer owns the session) arrives as a [`SessionEvent::Response`] in submission order.
    fn submit(&self, session: SessionId, conn: ConnId, xid: i64, req: Request);

    /// The connection went away without closing the session; the session lives on until its
    /// timeout passes without a new connection.
    fn detach(&self, session: SessionId, conn: ConnId);
}

/// A point-in-time view of the server, for status commands and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub serving: bool,
    /// Standalone: why writes are refused now (the txn log failed: a full disk, an I/O
    /// error); `None` while writes are taken.
    pub writes_refused: Option<String>,
    pub last_zxid: Zxid,
    pub node_count: usize,
    pub watch_count: usize,
    /// Sessions in the replicated state (ZooKeeper's `global_sessions`).
    pub session_count: usize,
    /// Sessions only this server knows (`localSessionsEnabled`; ZooKeeper's `local_sessions`):
    /// `None` when this server does not open local sessions.
    pub local_sessions: Option<usize>,
    pub approximate_data_size: u64,
    pub outstanding: usize,
    pub received: u64,
    pub answered: u64,
    /// Sessions with a connection attached now (ZooKeeper's `Connections`).
    pub connections: usize,
    /// Ephemeral znodes (ZooKeeper's `ephemerals_count`).
    pub ephemerals_count: usize,
    /// Sessions holding at least one watch, and paths with at least one watch (`wchs`).
    pub watching_sessions: usize,
    pub watched_paths: usize,
    /// Request latency so far, microseconds: smallest, sum, largest, number of samples.
    pub latency_min_us: u64,
    pub latency_total_us: u64,
    pub latency_max_us: u64,
    pub latency_count: u64,
}

impl Status {
    /// ZooKeeper's `Latency min/avg/max` in milliseconds: (min, avg, max). Whole milliseconds
    /// for min and max, as ZooKeeper prints them: min rounded down and max rounded up, so that
    /// min <= avg <= max holds (a max of 0.4 ms shows as 1, not as 0 next to an avg of 0.2).
    pub fn latency_ms(&self) -> (u64, f64, u64) {
        let avg = if self.latency_count == 0 {
            0.0
        } else {
            self.latency_total_us as f64 / self.latency_count as f64 / 1000.0
        };
        (
            self.latency_min_us / 1000,
            avg,
            self.latency_max_us.div_ceil(1000),
        )
    }
}

/// One attached connection, for `cons`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The client's address as the gateway saw it.
    pub peer: String,
    pub session: SessionId,
    pub timeout_ms: i32,
    /// Requests of the session waiting for their answer.
    pub queued: usize,
    /// Requests received on this connection.
    pub received: u64,
    /// Answers and watch events sent on it.
    pub sent: u64,
}

/// One open session for ZooKeeper's `dump`: its timeout, when it expires if nothing more is
/// heard, and the ephemeral znodes it owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionDump {
    pub session: SessionId,
    pub timeout_ms: i32,
    /// Wall-clock ms since the epoch at which the session expires unless heard from, on the
    /// server that tracks it (`None` where this server does not: a session of another server).
    pub expires_at_ms: Option<u64>,
    /// Paths of its ephemeral znodes, sorted.
    pub ephemerals: Vec<String>,
    /// A local session of this server (`localSessionsEnabled`): not in the replicated state,
    /// expired by this server alone.
    pub local: bool,
}

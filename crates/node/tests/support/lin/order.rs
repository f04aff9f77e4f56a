//! "A client sees the watch event for a change before any response that shows the change"
//! (ZooKeeper's ordering guarantee; issue 18, watch checks), checked on the wire.
//!
//! The Rust client cannot show this order faithfully: its session task reads the stream in
//! order, but hands a response to the caller's oneshot and an event to a watch's channel, and
//! which of the two tasks then runs first is up to the scheduler. So [`run`] drives a session
//! over the `Paddock.Session` gRPC stream itself and records every message in arrival order
//! ([`Seen`]): the events of its watches and the answers to its own reads and writes on
//! [`PATHS`]. One request is in flight at a time. A lost stream is resumed on the same server
//! with the same session (listing the watches still held, with the last zxid seen, as a client
//! must); an expired session ends the run.
//!
//! Two kinds of session ([`Mode`]):
//!
//! - `Persistent`: a persistent recursive watch on `/` (set first, at zxid `W`), so every change
//!   of a path after `W` fires one event. [`check`] replays the trace and requires, for every
//!   answer at zxid `Z` (a read's last applied zxid, a write's own zxid): if it shows the node
//!   with Stat (czxid `c`, mzxid `m`, version `v`), the events of that node up to `Z` were all
//!   received before it — the creation at `c`, exactly `v` data changes after it, the last one
//!   at `m`, nothing later up to `Z`; if it shows the node absent, the last event up to `Z` was
//!   its deletion (or there was none).
//! - `OneShot`: data and exist watches left by `getData` / `exists` (ZooKeeper's one-shot
//!   watches, merged per session: several registrations on a path fire once). Every event must
//!   answer an outstanding registration (one event per registration: a second one, or one no
//!   read asked for, fails), come from a change after the registration, be of the registered
//!   kind (a data watch: changed or deleted; an exist watch: created); and an answer that shows
//!   the node changed since a registration whose event has not come fails.
//!
//! Both: an event received after an answer at `Z` must be of a change after `Z` (the server had
//! applied every change up to `Z` before answering, and so had sent their events already), and
//! the events' zxids strictly grow (each change fires once). [`cross_check`] compares the two
//! sessions when both stayed whole: each one-shot event must be the first change of its node
//! after its registration, as the persistent session saw it.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use paddock_lincheck::zk::{Input, Output};
use paddock_lincheck::Operation;
use paddock_proto::v1 as pb;
use paddock_proto::v1::paddock_client::PaddockClient;
use pb::request::Op;
use pb::server_message::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{nanos_since, record, History, PATHS};

mod check;
use crate::support::{status_zk_code, try_channel};
pub use check::{check, cross_check};

/// The watches a wire session holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A persistent recursive watch on `/`.
    Persistent,
    /// Data and exist watches left by its own reads.
    OneShot,
}

/// The operations of a wire session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    GetData { watch: bool },
    Exists { watch: bool },
    Set,
    Create,
    Delete,
    AddWatch,
}

/// What an answer shows about its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shows {
    /// The node exists with this Stat.
    Present {
        czxid: i64,
        mzxid: i64,
        version: i32,
    },
    /// The node does not exist.
    Absent,
    /// Nothing definite (an error such as BADVERSION).
    Nothing,
}

/// One message of a wire session, in arrival order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A stream of the session was accepted (the first, or a resume): the server's last zxid.
    Connected { zxid: i64 },
    /// A watch event.
    Event {
        path: String,
        kind: pb::EventType,
        zxid: i64,
    },
    /// A request whose answer never came (the stream was lost first): it may have taken effect,
    /// a watching read may have left its watch.
    Unanswered { path: String, op: Kind },
    /// The answer to one of the session's requests.
    Answer {
        path: String,
        op: Kind,
        zxid: i64,
        error: i32,
        shows: Shows,
    },
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seen::Connected { zxid } => write!(f, "connected at {zxid:#x}"),
            Seen::Event { path, kind, zxid } => write!(f, "event {kind:?} {path} at {zxid:#x}"),
            Seen::Unanswered { path, op } => write!(f, "no answer to {op:?} {path}"),
            Seen::Answer {
                path,
                op,
                zxid,
                error,
                shows,
            } => write!(
                f,
                "answer {op:?} {path} at {zxid:#x}: error {error}, {shows:?}"
            ),
        }
    }
}

/// What [`run`] recorded.
#[derive(Debug)]
pub struct Trace {
    pub mode: Mode,
    pub seen: Vec<Seen>,
    /// The session expired (told by the server) before the end.
    pub expired: bool,
    /// The session's id and password (to try resuming it: [`refused_as_expired`]).
    pub session: (i64, Bytes),
}

impl Trace {
    /// How many times the session was resumed.
    pub fn resumes(&self) -> usize {
        self.seen
            .iter()
            .filter(|m| matches!(m, Seen::Connected { .. }))
            .count()
            .saturating_sub(1)
    }
}

/// Whether `addr` refuses to resume `session` (id, password) with SESSIONEXPIRED.
pub async fn refused_as_expired(addr: SocketAddr, session: &(i64, Bytes)) -> bool {
    let hello = pb::ConnectRequest {
        session_id: session.0,
        password: session.1.clone(),
        timeout_ms: 4_000,
        ..Default::default()
    };
    matches!(handshake(addr, hello).await, Err(Refused::Expired))
}

/// How long one request or one handshake may take before the stream counts as lost.
const CALL_LIMIT: Duration = Duration::from_secs(5);

/// Why a handshake failed.
enum Refused {
    Expired,
    Other(String),
}

struct Conn {
    tx: mpsc::Sender<pb::ClientMessage>,
    rx: tonic::Streaming<pb::ServerMessage>,
}

/// A session driven over its gRPC stream, recording what arrives.
struct WireSession {
    addr: SocketAddr,
    mode: Mode,
    timeout_ms: i32,
    id: i64,
    password: Bytes,
    last_zxid: i64,
    conn: Option<Conn>,
    next_xid: i64,
    /// One-shot watches held (registered and not fired), listed again on a resume.
    data_watches: BTreeSet<String>,
    exist_watches: BTreeSet<String>,
    seen: Vec<Seen>,
    expired: bool,
}

async fn handshake(
    addr: SocketAddr,
    hello: pb::ConnectRequest,
) -> Result<(Conn, pb::ConnectResponse), Refused> {
    let channel = try_channel(addr, Duration::from_secs(2))
        .await
        .map_err(Refused::Other)?;
    let mut client = PaddockClient::new(channel);
    let (tx, rx) = mpsc::channel(64);
    let first = pb::ClientMessage {
        message: Some(pb::client_message::Message::Connect(hello)),
    };
    tx.send(first)
        .await
        .map_err(|_| Refused::Other("the request stream closed".into()))?;
    let refused = |s: tonic::Status| match status_zk_code(&s) {
        Some(-112) => Refused::Expired,
        _ => Refused::Other(s.to_string()),
    };
    let mut rx =
        match tokio::time::timeout(CALL_LIMIT, client.session(ReceiverStream::new(rx))).await {
            Ok(Ok(r)) => r.into_inner(),
            Ok(Err(s)) => return Err(refused(s)),
            Err(_) => return Err(Refused::Other("the session call timed out".into())),
        };
    match tokio::time::timeout(CALL_LIMIT, rx.message()).await {
        Ok(Ok(Some(pb::ServerMessage {
            message: Some(Message::Connect(c)),
        }))) => Ok((Conn { tx, rx }, c)),
        Ok(Ok(Some(pb::ServerMessage {
            message: Some(Message::SessionClosed(c)),
        }))) if c.error == -112 => Err(Refused::Expired),
        Ok(Ok(other)) => Err(Refused::Other(format!("no ConnectResponse: {other:?}"))),
        Ok(Err(s)) => Err(refused(s)),
        Err(_) => Err(Refused::Other("no ConnectResponse in time".into())),
    }
}

impl WireSession {
    /// A new session on `addr` (retried for 20 s: a server between roles refuses sessions).
    async fn open(addr: SocketAddr, mode: Mode, timeout: Duration) -> WireSession {
        let deadline = Instant::now() + Duration::from_secs(20);
        let timeout_ms = i32::try_from(timeout.as_millis()).expect("a session timeout in i32 ms");
        let hello = pb::ConnectRequest {
            timeout_ms,
            ..Default::default()
        };
        loop {
            match handshake(addr, hello.clone()).await {
                Ok((conn, c)) => {
                    return WireSession {
                        addr,
                        mode,
                        timeout_ms,
                        id: c.session_id,
                        password: c.password,
                        last_zxid: c.zxid,
                        conn: Some(conn),
                        next_xid: 1,
                        data_watches: BTreeSet::new(),
                        exist_watches: BTreeSet::new(),
                        seen: vec![Seen::Connected { zxid: c.zxid }],
                        expired: false,
                    }
                }
                Err(Refused::Other(e)) if Instant::now() < deadline => {
                    eprintln!("wire session on {addr}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(Refused::Other(e)) => panic!("wire session on {addr}: {e}"),
                Err(Refused::Expired) => panic!("wire session on {addr}: a new session expired"),
            }
        }
    }

    /// Resumes the session on its server until `deadline`; false if it could not (expired, or
    /// the server never took it back in time).
    async fn resume(&mut self, deadline: Instant) -> bool {
        let hello = pb::ConnectRequest {
            session_id: self.id,
            password: self.password.clone(),
            timeout_ms: self.timeout_ms,
            last_zxid_seen: self.last_zxid,
            data_watches: self.data_watches.iter().cloned().collect(),
            exist_watches: self.exist_watches.iter().cloned().collect(),
            persistent_recursive_watches: match self.mode {
                Mode::Persistent => vec!["/".into()],
                Mode::OneShot => Vec::new(),
            },
            ..Default::default()
        };
        while Instant::now() < deadline {
            match handshake(self.addr, hello.clone()).await {
                Ok((conn, c)) => {
                    self.conn = Some(conn);
                    self.seen.push(Seen::Connected { zxid: c.zxid });
                    return true;
                }
                Err(Refused::Expired) => {
                    self.expired = true;
                    return false;
                }
                Err(Refused::Other(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        false
    }

    fn on_event(&mut self, e: pb::WatchEvent) {
        self.last_zxid = self.last_zxid.max(e.zxid);
        self.data_watches.remove(&e.path);
        self.exist_watches.remove(&e.path);
        self.seen.push(Seen::Event {
            kind: e.r#type(),
            path: e.path,
            zxid: e.zxid,
        });
    }

    /// Sends `op` and records what arrives until its answer; `None` if the stream was lost
    /// first (then the session needs a resume) or the session ended.
    async fn call(&mut self, path: &str, kind: Kind, op: Op) -> Option<pb::Response> {
        let answer = self.exchange(path, kind, op).await;
        if answer.is_none() {
            self.seen.push(Seen::Unanswered {
                path: path.into(),
                op: kind,
            });
        }
        answer
    }

    async fn exchange(&mut self, path: &str, kind: Kind, op: Op) -> Option<pb::Response> {
        let xid = self.next_xid;
        self.next_xid += 1;
        let conn = self.conn.as_mut()?;
        let request = pb::ClientMessage {
            message: Some(pb::client_message::Message::Request(pb::Request {
                xid,
                op: Some(op),
            })),
        };
        if conn.tx.send(request).await.is_err() {
            self.conn = None;
            return None;
        }
        loop {
            let conn = self.conn.as_mut()?;
            // As a client does, a stream silent for 2/3 of the session timeout is given up.
            let silence = CALL_LIMIT.min(Duration::from_millis(self.timeout_ms as u64 * 2 / 3));
            let msg = match tokio::time::timeout(silence, conn.rx.message()).await {
                Ok(Ok(Some(m))) => m.message,
                // An error status, the end of the stream, or silence: the stream is lost.
                _ => {
                    self.conn = None;
                    return None;
                }
            };
            match msg {
                Some(Message::WatchEvent(e)) => self.on_event(e),
                Some(Message::Response(r)) => {
                    assert_eq!(
                        r.xid, xid,
                        "wire session: an answer to xid {} while {xid} was the only request",
                        r.xid
                    );
                    self.last_zxid = self.last_zxid.max(r.zxid);
                    let shows = shows(kind, &r);
                    if r.error == 0 {
                        match (kind, shows) {
                            (Kind::GetData { watch: true }, _)
                            | (Kind::Exists { watch: true }, Shows::Present { .. }) => {
                                self.data_watches.insert(path.into());
                            }
                            (Kind::Exists { watch: true }, Shows::Absent) => {
                                self.exist_watches.insert(path.into());
                            }
                            _ => {}
                        }
                    }
                    self.seen.push(Seen::Answer {
                        path: path.into(),
                        op: kind,
                        zxid: r.zxid,
                        error: r.error,
                        shows,
                    });
                    return Some(r);
                }
                Some(Message::SessionClosed(c)) => {
                    self.expired |= c.error == -112;
                    self.conn = None;
                    return None;
                }
                _ => {
                    self.conn = None;
                    return None;
                }
            }
        }
    }

    /// Ends the session (best effort: the trace is complete either way).
    async fn close(mut self) -> Trace {
        if self.conn.is_some() {
            let _ = tokio::time::timeout(
                CALL_LIMIT,
                self.call(
                    "/",
                    Kind::Delete,
                    Op::CloseSession(pb::CloseSessionRequest {}),
                ),
            )
            .await;
            // The close's answer is not part of what is checked.
            if let Some(Seen::Answer { path, .. } | Seen::Unanswered { path, .. }) =
                self.seen.last()
            {
                if path == "/" {
                    self.seen.pop();
                }
            }
        }
        Trace {
            mode: self.mode,
            seen: self.seen,
            expired: self.expired,
            session: (self.id, self.password),
        }
    }
}

/// What the answer `r` to `kind` shows about its node.
fn shows(kind: Kind, r: &pb::Response) -> Shows {
    use pb::response::Result as R;
    let present = |s: &Option<pb::Stat>| match s {
        Some(s) => Shows::Present {
            czxid: s.czxid,
            mzxid: s.mzxid,
            version: s.version,
        },
        None => Shows::Nothing,
    };
    const NO_NODE: i32 = -101;
    match (kind, r.error, &r.result) {
        (_, 0, Some(R::GetData(d))) => present(&d.stat),
        (_, 0, Some(R::Exists(e))) if e.exists => present(&e.stat),
        (_, 0, Some(R::Exists(_))) => Shows::Absent,
        (_, 0, Some(R::SetData(s))) => present(&s.stat),
        (_, 0, Some(R::Create(c))) => present(&c.stat),
        (Kind::Delete, 0, _) => Shows::Absent,
        (Kind::GetData { .. } | Kind::Set | Kind::Delete, NO_NODE, _) => Shows::Absent,
        _ => Shows::Nothing,
    }
}

/// A wire session of `mode` on `addr` until `until`: seeded reads (with watches for
/// `OneShot`) and writes on [`PATHS`]; its writes go into `history` as client `id` (its reads
/// are not `sync`ed, so they stay out of the linearizability check).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    mode: Mode,
    addr: SocketAddr,
    timeout: Duration,
    id: usize,
    seed: u64,
    start: Instant,
    until: Instant,
    history: History,
) -> Trace {
    let mut s = WireSession::open(addr, mode, timeout).await;
    if mode == Mode::Persistent {
        let add = Op::AddWatch(pb::AddWatchRequest {
            path: "/".into(),
            mode: pb::AddWatchMode::PersistentRecursive as i32,
        });
        let r = s.call("/", Kind::AddWatch, add).await;
        assert!(
            r.is_some_and(|r| r.error == 0),
            "wire session on {addr}: addWatch / failed"
        );
    }
    let mut rng = StdRng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9));
    let mut counter = 0u64;
    let watch = mode == Mode::OneShot;
    while Instant::now() < until && !s.expired {
        if s.conn.is_none() && !s.resume(until + Duration::from_secs(10)).await {
            break;
        }
        counter += 1;
        let value = (id as u64 + 1) * 1_000_000 + counter;
        let (path, kind, op, input) = next_op(&mut rng, watch, value);
        let call = nanos_since(start);
        let r = s.call(path, kind, op).await;
        if let Some(input) = input {
            let output = r.as_ref().and_then(outcome);
            let ret = output.as_ref().map(|_| nanos_since(start));
            record(
                &history,
                Operation {
                    client: id,
                    input,
                    output,
                    call,
                    ret,
                },
            );
        }
    }
    s.close().await
}

/// A seeded operation on one of [`PATHS`]: a read (leaving a watch if `watch`) or a write of
/// `value`; writes come with their input to the linearizability history.
fn next_op(rng: &mut StdRng, watch: bool, value: u64) -> (&'static str, Kind, Op, Option<Input>) {
    let path = PATHS[rng.random_range(0..PATHS.len())];
    let version = if rng.random_bool(0.5) {
        -1
    } else {
        rng.random_range(0..4)
    };
    let data = Some(Bytes::from(value.to_string()));
    let p = path.to_string();
    let (kind, op, input) = match rng.random_range(0..10) {
        0..=2 => (
            Kind::GetData { watch },
            Op::GetData(pb::GetDataRequest { path: p, watch }),
            None,
        ),
        3..=5 => (
            Kind::Exists { watch },
            Op::Exists(pb::ExistsRequest { path: p, watch }),
            None,
        ),
        6..=7 => (
            Kind::Set,
            Op::SetData(pb::SetDataRequest {
                path: p.clone(),
                data,
                version,
            }),
            Some(Input::Set {
                path: p,
                data: value,
                version,
            }),
        ),
        8 => (
            Kind::Create,
            Op::Create(pb::CreateRequest {
                path: p.clone(),
                data,
                ..Default::default()
            }),
            Some(Input::Create {
                path: p,
                data: value,
            }),
        ),
        _ => (
            Kind::Delete,
            Op::Delete(pb::DeleteRequest {
                path: p.clone(),
                version,
            }),
            Some(Input::Delete { path: p, version }),
        ),
    };
    (path, kind, op, input)
}

/// What a write's answer tells the linearizability checker (`None`: not definite).
fn outcome(r: &pb::Response) -> Option<Output> {
    match (r.error, &r.result) {
        (0, Some(pb::response::Result::SetData(d))) => Some(Output::Set {
            version: d.stat.as_ref().map_or(-1, |s| s.version),
        }),
        (0, _) => Some(Output::Done),
        (-101, _) => Some(Output::NoNode),
        (-110, _) => Some(Output::NodeExists),
        (-103, _) => Some(Output::BadVersion),
        _ => None,
    }
}

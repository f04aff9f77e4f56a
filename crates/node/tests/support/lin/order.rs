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

use std::collections::{BTreeMap, BTreeSet};
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
use crate::support::{status_zk_code, try_channel};

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
        let path = PATHS[rng.random_range(0..PATHS.len())];
        counter += 1;
        let value = (id as u64 + 1) * 1_000_000 + counter;
        let version = if rng.random_bool(0.5) {
            -1
        } else {
            rng.random_range(0..4)
        };
        let (kind, op, input) = match rng.random_range(0..10) {
            0..=2 => (
                Kind::GetData { watch },
                Op::GetData(pb::GetDataRequest {
                    path: path.into(),
                    watch,
                }),
                None,
            ),
            3..=5 => (
                Kind::Exists { watch },
                Op::Exists(pb::ExistsRequest {
                    path: path.into(),
                    watch,
                }),
                None,
            ),
            6..=7 => (
                Kind::Set,
                Op::SetData(pb::SetDataRequest {
                    path: path.into(),
                    data: Some(Bytes::from(value.to_string())),
                    version,
                }),
                Some(Input::Set {
                    path: path.into(),
                    data: value,
                    version,
                }),
            ),
            8 => (
                Kind::Create,
                Op::Create(pb::CreateRequest {
                    path: path.into(),
                    data: Some(Bytes::from(value.to_string())),
                    ..Default::default()
                }),
                Some(Input::Create {
                    path: path.into(),
                    data: value,
                }),
            ),
            _ => (
                Kind::Delete,
                Op::Delete(pb::DeleteRequest {
                    path: path.into(),
                    version,
                }),
                Some(Input::Delete {
                    path: path.into(),
                    version,
                }),
            ),
        };
        let call = nanos_since(start);
        let r = s.call(path, kind, op).await;
        if let Some(input) = input {
            let output = r.as_ref().and_then(|r| match (r.error, &r.result) {
                (0, Some(pb::response::Result::SetData(d))) => Some(Output::Set {
                    version: d.stat.as_ref().map_or(-1, |s| s.version),
                }),
                (0, _) => Some(Output::Done),
                (-101, _) => Some(Output::NoNode),
                (-110, _) => Some(Output::NodeExists),
                (-103, _) => Some(Output::BadVersion),
                _ => None,
            });
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

/// The first message of `seen` that breaks the rules of `mode` (module comment), with the
/// messages before it; `exact`: the persistent session's events are complete (it never lost
/// its server's memory of what it missed), so answers are checked against them.
pub fn check(mode: Mode, seen: &[Seen], exact: bool) -> Result<(), String> {
    let fail = |i: usize, why: String| {
        let from = i.saturating_sub(12);
        let context: Vec<String> = seen[from..=i]
            .iter()
            .enumerate()
            .map(|(k, m)| format!("  #{}: {m}", from + k))
            .collect();
        Err(format!("{why}\n{}", context.join("\n")))
    };
    // The highest zxid answered so far, and the last event's.
    let mut answered = i64::MIN;
    let mut last_event = i64::MIN;
    // Persistent: the zxid from which every change fires; events received, per path.
    let mut watch_from: Option<i64> = None;
    let mut events: BTreeMap<&str, Vec<(i64, pb::EventType)>> = BTreeMap::new();
    // Persistent: the paths some answer has shown present (after the watch was set).
    let mut shown: BTreeSet<&str> = BTreeSet::new();
    // One-shot: outstanding registrations per path (data watch?, zxid registered at).
    let mut outstanding: BTreeMap<&str, (bool, i64)> = BTreeMap::new();
    // One-shot: paths of watching reads left unanswered (the server may hold their watch).
    let mut maybe: BTreeSet<&str> = BTreeSet::new();
    for (i, m) in seen.iter().enumerate() {
        match m {
            Seen::Connected { .. } => {}
            Seen::Unanswered { path, op } => {
                if matches!(
                    op,
                    Kind::GetData { watch: true } | Kind::Exists { watch: true }
                ) {
                    maybe.insert(path);
                }
            }
            Seen::Event { path, kind, zxid } => {
                if *zxid <= answered {
                    return fail(
                        i,
                        format!("an event of a change at {zxid:#x} came after an answer at {answered:#x}"),
                    );
                }
                if *zxid <= last_event {
                    return fail(
                        i,
                        format!("events out of order or repeated: {zxid:#x} after {last_event:#x}"),
                    );
                }
                last_event = *zxid;
                match mode {
                    Mode::Persistent => events.entry(path).or_default().push((*zxid, *kind)),
                    Mode::OneShot => {
                        // A watch left by an unanswered read merges with any other on the path.
                        let maybe_set = maybe.remove(path.as_str());
                        let Some((data, at)) = outstanding.remove(path.as_str()) else {
                            if maybe_set {
                                continue;
                            }
                            return fail(
                                i,
                                format!("an event on {path} that no outstanding watch asked for"),
                            );
                        };
                        if *zxid <= at {
                            return fail(i, format!("the event of a change at {zxid:#x} fired a watch set at {at:#x}"));
                        }
                        let fits = match kind {
                            pb::EventType::NodeDataChanged | pb::EventType::NodeDeleted => data,
                            pb::EventType::NodeCreated => !data,
                            _ => false,
                        };
                        if !fits {
                            return fail(
                                i,
                                format!(
                                    "{kind:?} fired a {} watch",
                                    if data { "data" } else { "exist" }
                                ),
                            );
                        }
                    }
                }
            }
            Seen::Answer {
                path,
                op,
                zxid,
                error,
                shows,
            } => {
                answered = answered.max(*zxid);
                if *op == Kind::AddWatch && *error == 0 {
                    watch_from = Some(*zxid);
                    continue;
                }
                match mode {
                    Mode::Persistent => {
                        let (Some(w), true) = (watch_from, exact) else {
                            continue;
                        };
                        let mine: Vec<(i64, pb::EventType)> = events
                            .get(path.as_str())
                            .map(|v| v.iter().copied().filter(|(z, _)| *z <= *zxid).collect())
                            .unwrap_or_default();
                        if let Shows::Present { .. } = shows {
                            shown.insert(path);
                        }
                        if let Err(why) = explains(&mine, w, *shows, shown.contains(path.as_str()))
                        {
                            return fail(i, format!("{path}: {why}"));
                        }
                    }
                    Mode::OneShot => {
                        if let Some(&(data, at)) = outstanding.get(path.as_str()) {
                            let changed = match (data, shows) {
                                (true, Shows::Present { mzxid, .. }) => *mzxid > at,
                                (true, Shows::Absent) => true,
                                (false, Shows::Present { .. }) => true,
                                _ => false,
                            };
                            if changed {
                                return fail(i, format!("{path} changed after the watch set at {at:#x}, and its event has not come"));
                            }
                        }
                        if *error == 0 {
                            let data = match (op, shows) {
                                (Kind::GetData { watch: true }, _)
                                | (Kind::Exists { watch: true }, Shows::Present { .. }) => {
                                    Some(true)
                                }
                                (Kind::Exists { watch: true }, Shows::Absent) => Some(false),
                                _ => None,
                            };
                            if let Some(data) = data {
                                outstanding.entry(path).or_insert((data, *zxid));
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whether the events `mine` of one node (all up to the answer's zxid, every change after `w`)
/// explain what an answer `shows`; `was_present`: an earlier answer (after `w`) showed the node.
fn explains(
    mine: &[(i64, pb::EventType)],
    w: i64,
    shows: Shows,
    was_present: bool,
) -> Result<(), String> {
    use pb::EventType as E;
    match shows {
        Shows::Nothing => Ok(()),
        Shows::Absent => match mine.last() {
            None if was_present => {
                Err("absent after an answer showed it, but no event came".into())
            }
            None | Some((_, E::NodeDeleted)) => Ok(()),
            Some(last) => Err(format!("absent, but its last event so far is {last:?}")),
        },
        Shows::Present {
            czxid,
            mzxid,
            version,
        } => {
            if mzxid <= w {
                return match mine.last() {
                    None => Ok(()),
                    Some(last) => Err(format!(
                        "unchanged since {mzxid:#x} (before the watch), but an event {last:?} came"
                    )),
                };
            }
            if mine.last().map(|(z, _)| *z) != Some(mzxid) {
                return Err(format!(
                    "modified at {mzxid:#x}, but the last event so far is {:?}",
                    mine.last()
                ));
            }
            if czxid <= w {
                return Ok(());
            }
            let Some(since) = mine
                .iter()
                .rposition(|(z, t)| *z == czxid && *t == E::NodeCreated)
            else {
                return Err(format!(
                    "created at {czxid:#x}, but no NodeCreated event at it came"
                ));
            };
            let after = &mine[since + 1..];
            let changes = after
                .iter()
                .filter(|(_, t)| *t == E::NodeDataChanged)
                .count();
            if changes != after.len() || changes as i64 != i64::from(version) {
                return Err(format!(
                    "version {version} since its creation at {czxid:#x}, but the events since are {after:?}"
                ));
            }
            Ok(())
        }
    }
}

/// The one-shot session's events against the persistent session's (both on the same server,
/// both whole): each fired watch's event is the first change of its node after the
/// registration that set it.
pub fn cross_check(oneshot: &[Seen], persistent: &[Seen]) -> Result<usize, String> {
    let mut changes: BTreeMap<&str, Vec<(i64, pb::EventType)>> = BTreeMap::new();
    let mut watched_from = None;
    for m in persistent {
        match m {
            Seen::Event { path, kind, zxid } => {
                changes.entry(path).or_default().push((*zxid, *kind))
            }
            Seen::Answer {
                op: Kind::AddWatch,
                zxid,
                ..
            } => watched_from = Some(*zxid),
            _ => {}
        }
    }
    let Some(w) = watched_from else {
        return Ok(0);
    };
    let last_seen = changes
        .values()
        .flatten()
        .map(|(z, _)| *z)
        .max()
        .unwrap_or(w);
    let mut registered: BTreeMap<&str, i64> = BTreeMap::new();
    let mut checked = 0;
    for m in oneshot {
        match m {
            Seen::Answer {
                path,
                op: Kind::GetData { watch: true } | Kind::Exists { watch: true },
                zxid,
                error: 0,
                ..
            } => {
                registered.entry(path).or_insert(*zxid);
            }
            Seen::Event { path, kind, zxid } => {
                let Some(at) = registered.remove(path.as_str()) else {
                    continue;
                };
                if at < w || *zxid > last_seen {
                    continue;
                }
                let first = changes
                    .get(path.as_str())
                    .and_then(|v| v.iter().find(|(z, _)| *z > at));
                if first != Some(&(*zxid, *kind)) {
                    return Err(format!(
                        "{path}: the watch set at {at:#x} fired {kind:?} at {zxid:#x}, but the first change after it was {first:?}"
                    ));
                }
                checked += 1;
            }
            _ => {}
        }
    }
    Ok(checked)
}

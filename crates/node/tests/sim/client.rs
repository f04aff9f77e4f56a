//! A simulated client: one session at a time on one server, calling the processor's session
//! API ([`Backend`]) as the gateway does — connect / resume, submit, one ordered event stream —
//! and recording what it asked and was told for the checkers ([`History`]).
//!
//! Each client runs its own seeded loop of operations: `sync`+`getData` (with or without a
//! data watch), `setData` with and without a version, `create` (persistent, and sequential
//! under `/seq`), `delete` with and without a version, `exists` with a watch, and session
//! moves: close, abandon (stop talking, the session must expire), resume on another server. A
//! new session first creates its ephemeral `/eph/c<client>-<n>`. On a lost connection or a
//! timeout it resumes its session on another server; told SESSIONEXPIRED, it starts a new one.
//!
//! The watch rules are checked here, on the stream as it arrives (per connection): a watched
//! node's change fires one event, before any answer on that stream that shows the change.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use paddock_lincheck::zk::{Input, Output};
use paddock_lincheck::Operation;
use paddock_processor::{Backend, ConnectRequest, Connected, Processor, SessionEvent};
use paddock_quorum::sim::Rng;
use paddock_types::{
    Acl, CreateMode, Data, ErrorCode, EventType, Request, Response, SessionId, Stat, ZkError, Zxid,
    PASSWORD_LEN,
};
use tokio::time::Instant;

use super::net::Trace;

/// The keys of the linearizability checks (few, so that clients contend).
pub const KEYS: [&str; 3] = ["/k0", "/k1", "/k2"];
/// A session's requested timeout.
pub const SESSION_TIMEOUT_MS: i32 = 1_000;
/// How long a client waits for one answer (or a connect) before it gives the connection up.
const OP_TIMEOUT: Duration = Duration::from_millis(1_500);
/// A pause between operations, at most.
const THINK_MS_MAX: usize = 60;

/// The servers' processors as clients reach them (`None`: that server is down).
pub type Servers = Arc<Mutex<Vec<Option<Arc<Processor>>>>>;

/// How a session ended, as its client knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Its CloseSession was answered OK.
    Closed,
    /// The client was told SESSIONEXPIRED.
    Expired,
    /// The client stopped talking (or its close was not answered): it must expire.
    Abandoned,
}

/// One session a client opened.
#[derive(Clone, Debug)]
pub struct SessionRec {
    pub client: usize,
    pub id: SessionId,
    /// Its ephemeral's path.
    pub ephemeral: String,
    /// The ephemeral's create: `Some(true)` acknowledged, `Some(false)` refused, `None` unknown.
    pub ephemeral_acked: Option<bool>,
    /// `None` while the client still holds it.
    pub end: Option<End>,
}

/// Everything the clients saw, for the checkers.
#[derive(Default)]
pub struct History {
    pub ops: Vec<Operation<Input, Output>>,
    pub sessions: Vec<SessionRec>,
    /// Every token written into a sequential node, and those whose create was acknowledged
    /// (with the path the server named).
    pub seq_sent: HashSet<u64>,
    pub seq_acked: Vec<(String, u64)>,
    /// Violations of the watch rules, as seen.
    pub watch_violations: Vec<String>,
    pub watch_events: u64,
    pub answered: u64,
    pub unanswered: u64,
}

/// What one call came to.
enum Outcome {
    Ok(Response),
    Err(ErrorCode),
    /// No answer: a timeout, a dropped connection, the session closed under it.
    Lost,
}

/// The clients' mode, set by the simulator and read by each client between its steps (not a
/// tokio watch channel: that wakes its waiting receivers in a random order).
pub type ModeCell = Arc<Mutex<Mode>>;

/// Client loop modes, set by the simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Run operations.
    Work,
    /// Only keep the session alive (the final checks run).
    KeepAlive,
    /// Stop.
    Stop,
}

pub struct Client {
    pub k: usize,
    rng: Rng,
    servers: Servers,
    history: Arc<Mutex<History>>,
    trace: Trace,
    mode: ModeCell,
    start: Instant,
    /// The session held: (id, password, index in `History::sessions`).
    session: Option<(SessionId, [u8; PASSWORD_LEN], usize)>,
    /// The connection: (server index, the attachment).
    conn: Option<(usize, Connected)>,
    last_zxid: Zxid,
    next_xid: i64,
    next_value: u64,
    sessions_opened: u64,
    /// Versions last read, per key (for versioned writes).
    versions: HashMap<&'static str, i32>,
    /// This connection's watches: path -> the version it was set at (`None`: set on absence).
    armed: HashMap<String, Option<i32>>,
    /// Paths whose watch fired on this connection and was not set again.
    fired: HashSet<String>,
}

impl Client {
    pub fn new(
        k: usize,
        seed: u64,
        servers: Servers,
        history: Arc<Mutex<History>>,
        trace: Trace,
        mode: ModeCell,
    ) -> Client {
        Client {
            k,
            rng: Rng::new(seed ^ ((k as u64 + 1) << 40) ^ 0xc11e),
            servers,
            history,
            trace,
            mode,
            start: Instant::now(),
            session: None,
            conn: None,
            last_zxid: Zxid::ZERO,
            next_xid: 1,
            next_value: 0,
            sessions_opened: 0,
            versions: HashMap::new(),
            armed: HashMap::new(),
            fired: HashSet::new(),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn record(&self, what: impl std::fmt::Display) {
        self.trace.record(100 + self.k as u64, what);
    }

    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().expect("history lock")
    }

    /// The client's main loop, until told to stop.
    pub async fn run(mut self) {
        loop {
            let mode = *self.mode.lock().expect("mode lock");
            match mode {
                Mode::Stop => break,
                Mode::KeepAlive => {
                    if self.ensure_session(false).await {
                        self.call(Request::Ping).await;
                    }
                    self.wait(Duration::from_millis(200)).await;
                }
                Mode::Work => {
                    if self.ensure_session(true).await {
                        self.one_op().await;
                    }
                    let think = self.rng.below(THINK_MS_MAX) as u64;
                    self.wait(Duration::from_millis(think)).await;
                }
            }
        }
        self.drop_conn();
    }

    async fn wait(&mut self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    fn server(&self, i: usize) -> Option<Arc<Processor>> {
        self.servers.lock().expect("servers lock")[i].clone()
    }

    fn detach(&self, (c_server, c): (usize, Connected)) {
        if let Some(s) = self.server(c_server) {
            s.detach(c.session, c.conn);
        }
    }

    fn drop_conn(&mut self) {
        if let Some((i, c)) = self.conn.take() {
            self.detach((i, c));
        }
        self.armed.clear();
        self.fired.clear();
    }

    fn end_session(&mut self, end: End) {
        if let Some((id, _, rec)) = self.session.take() {
            self.record(format_args!("session {id} ends: {end:?}"));
            self.history().sessions[rec].end = Some(end);
        }
        self.drop_conn();
    }

    /// A connection with a session, resuming or opening one (then, with `open_new`, creating
    /// its ephemeral). `false`: none for now.
    async fn ensure_session(&mut self, open_new: bool) -> bool {
        if self.conn.is_some() {
            return true;
        }
        if self.session.is_none() && !open_new {
            return false;
        }
        let n = self.servers.lock().expect("servers lock").len();
        let at = self.rng.below(n);
        let Some(server) = self.server(at) else {
            return false;
        };
        let req = ConnectRequest {
            resume: self.session.map(|(id, pw, _)| (id, pw)),
            timeout_ms: SESSION_TIMEOUT_MS,
            last_zxid_seen: self.last_zxid,
            peer: format!("client-{}", self.k),
            conn_ids: Vec::new(),
            set_watches: Default::default(),
            read_only: false,
        };
        let r = tokio::time::timeout(OP_TIMEOUT, server.connect(req)).await;
        match r {
            Ok(Ok(c)) => {
                self.record(format_args!(
                    "connected at {} session {} zxid {}",
                    at + 1,
                    c.session,
                    c.zxid
                ));
                let fresh = self.session.is_none();
                if fresh {
                    self.sessions_opened += 1;
                    let ephemeral = format!("/eph/c{}-{}", self.k, self.sessions_opened);
                    let rec = {
                        let mut h = self.history();
                        h.sessions.push(SessionRec {
                            client: self.k,
                            id: c.session,
                            ephemeral,
                            ephemeral_acked: None,
                            end: None,
                        });
                        h.sessions.len() - 1
                    };
                    self.session = Some((c.session, c.password, rec));
                }
                self.last_zxid = self.last_zxid.max(c.zxid);
                self.conn = Some((at, c));
                if fresh {
                    self.create_ephemeral().await;
                }
                self.conn.is_some()
            }
            Ok(Err(e)) => {
                self.record(format_args!("connect at {} refused: {:?}", at + 1, e.code));
                if e.code == ErrorCode::SessionExpired && self.session.is_some() {
                    self.end_session(End::Expired);
                }
                false
            }
            Err(_) => {
                self.record(format_args!("connect at {} timed out", at + 1));
                false
            }
        }
    }

    async fn create_ephemeral(&mut self) {
        let Some((_, _, rec)) = self.session else {
            return;
        };
        let path = self.history().sessions[rec].ephemeral.clone();
        let out = self
            .call(Request::Create {
                path,
                data: Data::new(Bytes::new()),
                mode: CreateMode::Ephemeral,
                acl: Acl::open(),
            })
            .await;
        let acked = match out {
            Outcome::Ok(_) => Some(true),
            Outcome::Err(ErrorCode::NodeExists) => Some(false),
            _ => None,
        };
        self.history().sessions[rec].ephemeral_acked = acked;
    }

    fn value(&mut self) -> u64 {
        self.next_value += 1;
        ((self.k as u64 + 1) << 32) | self.next_value
    }

    fn key(&mut self) -> &'static str {
        KEYS[self.rng.below(KEYS.len())]
    }

    async fn one_op(&mut self) {
        match self.rng.below(100) {
            0..=29 => {
                let path = self.key();
                let watch = self.rng.below(2) == 0;
                self.read(path, watch).await;
            }
            30..=44 => {
                let path = self.key();
                self.set(path, -1).await;
            }
            45..=54 => {
                let path = self.key();
                let v = self.versions.get(path).copied().unwrap_or(0);
                self.set(path, v).await;
            }
            55..=64 => {
                let path = self.key();
                let data = self.value();
                let input = Input::Create {
                    path: path.to_string(),
                    data,
                };
                let req = Request::Create {
                    path: path.to_string(),
                    data: Data::new(Bytes::copy_from_slice(&data.to_be_bytes())),
                    mode: CreateMode::Persistent,
                    acl: Acl::open(),
                };
                self.write(input, req).await;
            }
            65..=73 => {
                let path = self.key();
                let version = match self.rng.below(2) {
                    0 => -1,
                    _ => self.versions.get(path).copied().unwrap_or(0),
                };
                let input = Input::Delete {
                    path: path.to_string(),
                    version,
                };
                let req = Request::Delete {
                    path: path.to_string(),
                    version,
                };
                self.write(input, req).await;
            }
            74..=81 => self.create_sequential().await,
            82..=88 => {
                let path = self.key();
                let out = self
                    .call(Request::Exists {
                        path: path.to_string(),
                        watch: true,
                    })
                    .await;
                if let Outcome::Ok(Response::Exists { stat }) = out {
                    self.arm(path, stat.map(|s| s.version));
                }
            }
            89..=91 => {
                let out = self.call(Request::CloseSession).await;
                let end = match out {
                    Outcome::Ok(_) => End::Closed,
                    Outcome::Err(ErrorCode::SessionExpired) => End::Expired,
                    _ => End::Abandoned,
                };
                self.end_session(end);
            }
            92..=93 => {
                self.record("abandons its session");
                self.end_session(End::Abandoned);
            }
            _ => {
                // Move: the next call resumes the session on a server drawn anew.
                self.record("drops its connection");
                self.drop_conn();
            }
        }
    }

    fn arm(&mut self, path: &str, at: Option<i32>) {
        self.armed.insert(path.to_string(), at);
        self.fired.remove(path);
    }

    /// `sync` + `getData`: a linearizable read.
    async fn read(&mut self, path: &'static str, watch: bool) {
        let call = self.now();
        let synced = self
            .call(Request::Sync {
                path: path.to_string(),
            })
            .await;
        if !matches!(synced, Outcome::Ok(_)) {
            return;
        }
        let out = self
            .call(Request::GetData {
                path: path.to_string(),
                watch,
            })
            .await;
        let output = match out {
            Outcome::Ok(Response::GetData { data, stat }) => {
                self.versions.insert(path, stat.version);
                if watch {
                    self.arm(path, Some(stat.version));
                }
                Output::Read(Some((decode(&data), stat.version)))
            }
            Outcome::Err(ErrorCode::NoNode) => Output::Read(None),
            // No answer: a read that may not have happened constrains nothing.
            _ => return,
        };
        let ret = self.now();
        self.history().ops.push(Operation {
            client: self.k,
            input: Input::Read {
                path: path.to_string(),
            },
            output: Some(output),
            call,
            ret: Some(ret),
        });
    }

    async fn set(&mut self, path: &'static str, version: i32) {
        let data = self.value();
        let input = Input::Set {
            path: path.to_string(),
            data,
            version,
        };
        let req = Request::SetData {
            path: path.to_string(),
            data: Data::new(Bytes::copy_from_slice(&data.to_be_bytes())),
            version,
        };
        self.write(input, req).await;
    }

    /// A write on a key, recorded for the linearizability check.
    async fn write(&mut self, input: Input, req: Request) {
        let call = self.now();
        let out = self.call(req).await;
        let output = match out {
            Outcome::Ok(Response::SetData { stat }) => {
                self.versions.insert(key_of(&input), stat.version);
                Some(Output::Set {
                    version: stat.version,
                })
            }
            Outcome::Ok(Response::Create { .. } | Response::Delete) => Some(Output::Done),
            Outcome::Err(ErrorCode::NoNode) => Some(Output::NoNode),
            Outcome::Err(ErrorCode::NodeExists) => Some(Output::NodeExists),
            Outcome::Err(ErrorCode::BadVersion) => Some(Output::BadVersion),
            // Unknown: it may or may not have taken effect.
            _ => None,
        };
        let ret = output.is_some().then(|| self.now());
        self.history().ops.push(Operation {
            client: self.k,
            input,
            output,
            call,
            ret,
        });
    }

    async fn create_sequential(&mut self) {
        let token = self.value();
        self.history().seq_sent.insert(token);
        let out = self
            .call(Request::Create {
                path: "/seq/s-".into(),
                data: Data::new(Bytes::copy_from_slice(&token.to_be_bytes())),
                mode: CreateMode::PersistentSequential,
                acl: Acl::open(),
            })
            .await;
        if let Outcome::Ok(Response::Create { path, .. }) = out {
            self.history().seq_acked.push((path, token));
        }
    }

    /// Submits `req` on the connection and waits for its answer, checking the watch rules on
    /// everything that arrives meanwhile.
    async fn call(&mut self, req: Request) -> Outcome {
        let Some((at, c)) = &self.conn else {
            return Outcome::Lost;
        };
        let Some(server) = self.server(*at) else {
            self.drop_conn();
            return Outcome::Lost;
        };
        let xid = self.next_xid;
        self.next_xid += 1;
        let (session, conn) = (c.session, c.conn);
        let shown = shows(&req);
        let line = self.trace.on().then(|| format!("{req:?}"));
        server.submit(session, conn, xid, req);
        let deadline = Instant::now() + OP_TIMEOUT;
        let outcome = loop {
            let Some((_, c)) = &mut self.conn else {
                break Outcome::Lost;
            };
            let ev = match tokio::time::timeout_at(deadline, c.events.recv()).await {
                Ok(Some(ev)) => ev,
                Ok(None) | Err(_) => {
                    self.drop_conn();
                    break Outcome::Lost;
                }
            };
            match ev {
                SessionEvent::Response {
                    xid: x,
                    zxid,
                    result,
                } if x == xid => {
                    self.last_zxid = self.last_zxid.max(zxid);
                    break match result {
                        Ok(r) => {
                            self.check_answer(shown.as_deref(), &r);
                            Outcome::Ok(r)
                        }
                        Err(ZkError {
                            code: ErrorCode::SessionExpired,
                            ..
                        }) => {
                            self.end_session(End::Expired);
                            Outcome::Lost
                        }
                        Err(ZkError { code, .. }) if is_lost(code) => {
                            self.drop_conn();
                            Outcome::Lost
                        }
                        Err(ZkError { code, .. }) => {
                            if code == ErrorCode::NoNode {
                                self.check_absent(shown.as_deref());
                            }
                            Outcome::Err(code)
                        }
                    };
                }
                SessionEvent::Response { .. } => {}
                SessionEvent::Watch(ev) => self.on_event(ev.event_type, &ev.path),
                SessionEvent::Closed(ErrorCode::SessionExpired) => {
                    self.end_session(End::Expired);
                    break Outcome::Lost;
                }
                SessionEvent::Closed(_) => {
                    self.drop_conn();
                    break Outcome::Lost;
                }
            }
        };
        if let Some(line) = line {
            let what = match &outcome {
                Outcome::Ok(r) => format!("ok {}", super::net::brief(r)),
                Outcome::Err(e) => format!("{e:?}"),
                Outcome::Lost => "lost".into(),
            };
            self.record(format_args!("{line} -> {what}"));
        }
        {
            let mut h = self.history();
            match outcome {
                Outcome::Lost => h.unanswered += 1,
                _ => h.answered += 1,
            }
        }
        outcome
    }

    fn violation(&self, what: String) {
        self.record(format_args!("WATCH VIOLATION {what}"));
        self.history().watch_violations.push(what);
    }

    /// A watch event on this connection.
    fn on_event(&mut self, t: EventType, path: &str) {
        self.history().watch_events += 1;
        self.record(format_args!("event {t:?} {path}"));
        if self.armed.remove(path).is_some() {
            self.fired.insert(path.to_string());
        } else if self.fired.contains(path) {
            self.violation(format!(
                "client {}: a second {t:?} event for {path} from one watch",
                self.k
            ));
        }
        // Otherwise a watch set on an earlier connection of the session: not judged.
    }

    /// A successful answer about `path` on this connection: if a watch on it is still armed,
    /// the answer must not show a change (its event comes first).
    fn check_answer(&mut self, path: Option<&str>, r: &Response) {
        let Some(path) = path else { return };
        let Some(at) = self.armed.get(path).copied() else {
            return;
        };
        let now: Option<Option<i32>> = match r {
            Response::GetData { stat, .. } => Some(Some(stat.version)),
            Response::Exists { stat } => Some(stat.as_ref().map(|s: &Stat| s.version)),
            // This session's own change of the node: its event must have come already.
            Response::SetData { .. } | Response::Create { .. } | Response::Delete => {
                self.violation(format!(
                    "client {}: the answer to its own change of {path} came before the watch event",
                    self.k
                ));
                return;
            }
            _ => None,
        };
        if let Some(now) = now {
            if now != at {
                self.violation(format!(
                    "client {}: an answer showed {path} at {now:?} before the event of its watch set at {at:?}",
                    self.k
                ));
            }
        }
    }

    fn check_absent(&mut self, path: Option<&str>) {
        if let Some(path) = path {
            if let Some(Some(v)) = self.armed.get(path).copied() {
                self.violation(format!(
                    "client {}: NONODE for {path} before the event of its watch set at version {v}",
                    self.k
                ));
            }
        }
    }
}

/// Answers that end the connection rather than answer the request.
fn is_lost(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::ConnectionLoss
            | ErrorCode::SessionExpired
            | ErrorCode::SessionMoved
            | ErrorCode::OperationTimeout
    )
}

/// The key a request's answer shows the state of (reads and writes of one node).
fn shows(req: &Request) -> Option<String> {
    match req {
        Request::GetData { path, .. }
        | Request::Exists { path, .. }
        | Request::SetData { path, .. }
        | Request::Delete { path, .. } => Some(path.clone()),
        Request::Create { path, mode, .. } if *mode == CreateMode::Persistent => Some(path.clone()),
        _ => None,
    }
}

fn key_of(input: &Input) -> &'static str {
    KEYS.iter()
        .find(|k| **k == input.path())
        .copied()
        .unwrap_or(KEYS[0])
}

/// A key's data as the u64 the clients write (anything else cannot have been written).
pub fn decode(data: &Data) -> u64 {
    data.as_option()
        .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
        .map_or(u64::MAX, u64::from_be_bytes)
}

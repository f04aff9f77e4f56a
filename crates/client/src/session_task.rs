//! The background task that owns a session's stream.
//!
//! ```text
//!  Client calls ──Cmd──▶ session task ──ClientMessage──▶ stream ──▶ server
//!        ▲                │  pending: VecDeque<(xid, reply)>   (answers come in request order)
//!        └── oneshot ◀────┤  watches: path -> [(class, sink)] (one-shot: fired once, then dropped;
//!                         │           persistent: a stream, until removed)
//!                         │  ping every timeout/3 when idle; nothing heard for 2/3 timeout = lost
//!                         └─ on loss: Disconnected, pending fail ConnectionLoss, resume elsewhere
//!                            listing every outstanding watch (ZooKeeper's SetWatches), then
//!                            replay the accepted AddAuths before anything else (`crate::auth`)
//! ```
//!
//! Read-only sessions ([`ClientOptions::can_be_read_only`], ZooKeeper's `canBeReadOnly`):
//! while attached to a server in read-only mode the task looks for a read-write server in the
//! background (ZooKeeper's `pingRwServer`: every server but the current one, after 100 ms,
//! then backing off to 60 s), and moves the session to the first that takes it: in-flight
//! calls fail with ConnectionLoss, as on any reconnect. A session created read-only and never
//! attached to a read-write server (ZooKeeper's `seenRwServerBefore` false) is known to its
//! read-only server only: the read-write server gives the client a new session (a new id).
//!
//! Watches survive a resume on any server: the resume's ConnectRequest lists the paths of the
//! watches still outstanding (data / exist / child / persistent / persistent recursive) with
//! `last_zxid_seen`; the server sets them again and first sends the events of changes missed
//! meanwhile. A one-shot watch is removed from the table when its event arrives, so it is
//! delivered to the caller once even if the server reports the same change twice. Removing
//! watches (`removeWatches`) tells each removed watcher with a `*WatchRemoved` event, as
//! ZooKeeper's client does.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use paddock_proto::v1::{self as pb, request::Op};
use paddock_types::{EventType, KeeperState, WatchedEvent, WatcherType};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};

use crate::auth::{self, Auths};
use crate::convert;
use crate::error::{Error, Result};
use crate::handshake::classify;
pub(crate) use crate::handshake::{connect_one, Conn, ConnectError};
use crate::options::ClientOptions;
use crate::transport::Dialer;
use crate::SessionState;

/// Which server-side watch a registration is: decides which events fire it and in which list
/// of the resume's ConnectRequest it travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WatchClass {
    /// getData, or exists on an existing node: NodeCreated / NodeDataChanged / NodeDeleted.
    Data,
    /// exists on a missing node (the server's exist watch): fires like `Data`. The client asks
    /// for `Data` and the answer decides (see [`SessionTask::register`]).
    Exist,
    /// getChildren: NodeChildrenChanged / NodeDeleted.
    Child,
    /// addWatch PERSISTENT: every event of the path, until removed.
    Persistent,
    /// addWatch PERSISTENT_RECURSIVE: created / deleted / data-changed of the path and below.
    PersistentRecursive,
}

impl WatchClass {
    /// Whether `removeWatches` of `kind` removes this class (ZooKeeper's client rules).
    fn removed_by(self, kind: WatcherType) -> bool {
        match kind {
            WatcherType::Any => true,
            WatcherType::Data => matches!(self, WatchClass::Data | WatchClass::Exist),
            WatcherType::Children => self == WatchClass::Child,
            WatcherType::Persistent => self == WatchClass::Persistent,
            WatcherType::PersistentRecursive => self == WatchClass::PersistentRecursive,
        }
    }

    /// The event a removed watcher of this class is told.
    fn removed_event(self) -> EventType {
        match self {
            WatchClass::Data | WatchClass::Exist => EventType::DataWatchRemoved,
            WatchClass::Child => EventType::ChildWatchRemoved,
            WatchClass::Persistent | WatchClass::PersistentRecursive => {
                EventType::PersistentWatchRemoved
            }
        }
    }
}

/// Where a watch's events go: one event for a one-shot watch, a stream for a persistent one.
pub(crate) enum WatchSender {
    Once(oneshot::Sender<Result<WatchedEvent>>),
    Stream(mpsc::UnboundedSender<Result<WatchedEvent>>),
}

impl WatchSender {
    fn is_closed(&self) -> bool {
        match self {
            WatchSender::Once(tx) => tx.is_closed(),
            WatchSender::Stream(tx) => tx.is_closed(),
        }
    }

    fn send(self, r: Result<WatchedEvent>) {
        match self {
            WatchSender::Once(tx) => {
                let _ = tx.send(r);
            }
            WatchSender::Stream(tx) => {
                let _ = tx.send(r);
            }
        }
    }

    /// A persistent watch's stream gets the event and stays registered.
    fn send_kept(&self, r: Result<WatchedEvent>) {
        if let WatchSender::Stream(tx) = self {
            let _ = tx.send(r);
        }
    }
}

/// A watch to register once the request that sets it succeeds.
pub(crate) struct WatchReg {
    pub path: String,
    pub class: WatchClass,
    pub tx: WatchSender,
}

/// What a [`crate::Client`] asks of the session task.
pub(crate) enum Cmd {
    Request {
        op: Op,
        reply: oneshot::Sender<Result<pb::Response>>,
        watch: Option<WatchReg>,
    },
    Close {
        reply: oneshot::Sender<Result<()>>,
    },
    /// Counts (and with `remove`, removes, telling each watcher) this client's own watches of
    /// `kind` on `path`. Handled at once, connected or not.
    LocalWatches {
        path: String,
        kind: WatcherType,
        remove: bool,
        reply: oneshot::Sender<Result<usize>>,
    },
    /// Replaces the servers tried on the next reconnect (ZooKeeper's `updateServerList`); a
    /// session attached to a server no longer listed moves to a listed one. Handled at once,
    /// connected or not.
    UpdateServers {
        servers: Vec<String>,
        reply: oneshot::Sender<Result<()>>,
    },
}

/// State shared between the session task and the client handles.
pub(crate) struct Shared {
    state: watch::Sender<SessionState>,
    events: broadcast::Sender<SessionState>,
    pub session_id: AtomicI64,
    pub timeout_ms: AtomicI64,
    pub last_zxid: AtomicI64,
    pub server: Mutex<String>,
}

impl Shared {
    /// `state`: the first connection's (Connected or ConnectedReadOnly).
    pub fn new(state: SessionState) -> Shared {
        Shared {
            state: watch::Sender::new(state),
            events: broadcast::Sender::new(64),
            session_id: AtomicI64::new(0),
            timeout_ms: AtomicI64::new(0),
            last_zxid: AtomicI64::new(0),
            server: Mutex::new(String::new()),
        }
    }

    pub fn state(&self) -> SessionState {
        *self.state.borrow()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<SessionState> {
        self.events.subscribe()
    }

    pub fn watch_state(&self) -> watch::Receiver<SessionState> {
        self.state.subscribe()
    }

    fn set_state(&self, s: SessionState) {
        if self.state() != s {
            self.state.send_replace(s);
            let _ = self.events.send(s);
        }
    }

    /// The error for a call whose answer will never come (the session task dropped it).
    pub fn terminal_error(&self) -> Error {
        match self.state() {
            SessionState::Expired => Error::SessionExpired,
            SessionState::AuthFailed => Error::AuthFailed,
            SessionState::Closed => Error::Closed,
            SessionState::Connected
            | SessionState::ConnectedReadOnly
            | SessionState::Disconnected => Error::ConnectionLoss,
        }
    }
}

/// Who gets an answer.
enum Reply {
    Caller(oneshot::Sender<Result<pb::Response>>, Option<WatchReg>),
    /// Pings, the close request: the answer is dropped.
    Internal,
}

struct Pending {
    xid: i64,
    reply: Reply,
    /// For an AddAuth: its credentials, remembered (for resumes) if the server accepts them.
    auth: Option<pb::AddAuthRequest>,
}

/// The first wait before looking for a read-write server while read-only (ZooKeeper's
/// `minPingRwTimeout`).
const RW_PROBE_MIN: Duration = Duration::from_millis(100);
/// The longest wait between two looks (ZooKeeper's `maxPingRwTimeout`).
const RW_PROBE_MAX: Duration = Duration::from_secs(60);

/// Why serving a stream stopped.
enum End {
    Lost(String),
    /// Read-only: a read-write server took the session (its stream and answer).
    MoveTo(Box<(Conn, pb::ConnectResponse)>),
    Expired,
    /// An AddAuth failed and the server ended the session (SessionClosed{-115}).
    AuthFailed,
    Closed,
    ClientGone,
}

pub(crate) struct SessionTask {
    servers: Vec<String>,
    next_server: usize,
    opts: ClientOptions,
    /// How to reach the servers (the TLS material read at connect).
    dialer: Arc<Dialer>,
    session_id: i64,
    password: Bytes,
    timeout: Duration,
    last_zxid: i64,
    next_xid: i64,
    last_heard: Instant,
    cmd_rx: mpsc::Receiver<Cmd>,
    pending: VecDeque<Pending>,
    queued: VecDeque<Cmd>,
    watches: HashMap<String, Vec<(WatchClass, WatchSender)>>,
    /// AddAuths the server accepted: sent again first on every resumed stream.
    auths: Auths,
    closing: Option<oneshot::Sender<Result<()>>>,
    shared: Arc<Shared>,
    /// Attached to a server in read-only mode now.
    read_only: bool,
    /// Attached to a read-write server at least once (ZooKeeper's `seenRwServerBefore`): only
    /// then is the session known to the ensemble and resumed by id; before, a connect asks for
    /// a new session.
    seen_rw: bool,
    /// The wait before the next look for a read-write server while read-only.
    rw_backoff: Duration,
}

/// A background look for a read-write server; aborted when dropped.
struct Probe(tokio::task::JoinHandle<Option<(Conn, pb::ConnectResponse)>>);

impl Drop for Probe {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Asks each of `servers` in turn for the session with `hello` (which does not allow
/// read-only): the first read-write server that takes it.
async fn find_rw_server(
    dialer: Arc<Dialer>,
    servers: Vec<String>,
    hello: pb::ConnectRequest,
    limit: Duration,
    max_message: usize,
) -> Option<(Conn, pb::ConnectResponse)> {
    for addr in servers {
        match connect_one(&dialer, &addr, hello.clone(), limit, max_message).await {
            Ok((conn, resp)) if !resp.read_only => return Some((conn, resp)),
            Ok(_) => {}
            Err(e) => tracing::trace!(server = %addr, "no read-write session there: {e:?}"),
        }
    }
    None
}

impl SessionTask {
    pub fn new(
        servers: Vec<String>,
        next_server: usize,
        opts: ClientOptions,
        dialer: Arc<Dialer>,
        hello: &pb::ConnectResponse,
        cmd_rx: mpsc::Receiver<Cmd>,
        shared: Arc<Shared>,
    ) -> SessionTask {
        let mut d = SessionTask {
            servers,
            next_server,
            opts,
            dialer,
            session_id: hello.session_id,
            password: hello.password.clone(),
            timeout: Duration::ZERO,
            last_zxid: 0,
            next_xid: 1,
            last_heard: Instant::now(),
            cmd_rx,
            pending: VecDeque::new(),
            queued: VecDeque::new(),
            watches: HashMap::new(),
            auths: Auths::default(),
            closing: None,
            shared,
            read_only: false,
            seen_rw: false,
            rw_backoff: RW_PROBE_MIN,
        };
        d.on_handshake(hello);
        d
    }

    fn on_handshake(&mut self, c: &pb::ConnectResponse) {
        self.read_only = c.read_only;
        self.rw_backoff = RW_PROBE_MIN;
        if !c.read_only {
            self.seen_rw = true;
        }
        if c.session_id != self.session_id {
            // A session created read-only reached a read-write server: a new session there.
            tracing::info!(
                old = self.session_id,
                new = c.session_id,
                "the read-only session was replaced by a read-write one"
            );
            self.session_id = c.session_id;
            self.password = c.password.clone();
        }
        self.timeout = Duration::from_millis(c.timeout_ms.max(1) as u64);
        self.last_heard = Instant::now();
        self.see_zxid(c.zxid);
        self.shared
            .session_id
            .store(self.session_id, Ordering::Relaxed);
        self.shared
            .timeout_ms
            .store(c.timeout_ms as i64, Ordering::Relaxed);
    }

    /// A new server list (never empty: checked by the caller); the next reconnect starts at
    /// its first server.
    fn set_servers(&mut self, servers: Vec<String>) {
        if servers.is_empty() || servers == self.servers {
            return;
        }
        tracing::info!(servers = %servers.join(","), "new server list");
        self.servers = servers;
        self.next_server = 0;
    }

    fn see_zxid(&mut self, zxid: i64) {
        if zxid > self.last_zxid {
            self.last_zxid = zxid;
            self.shared.last_zxid.store(zxid, Ordering::Relaxed);
        }
    }

    /// Runs until the session ends (closed, expired) or every client handle is dropped.
    pub async fn run(mut self, mut conn: Conn) {
        loop {
            *self.shared.server.lock().unwrap_or_else(|e| e.into_inner()) = conn.addr.clone();
            self.shared.set_state(if self.read_only {
                SessionState::ConnectedReadOnly
            } else {
                SessionState::Connected
            });
            let (end, addr) = self.serve(conn).await;
            let end = match end {
                End::MoveTo(found) if self.closing.is_none() => {
                    let (c, hello) = *found;
                    tracing::info!(from = %addr, to = %c.addr, "moving the session to a read-write server");
                    self.fail_pending(Error::ConnectionLoss);
                    self.on_handshake(&hello);
                    conn = c;
                    continue;
                }
                End::Lost(why) if self.closing.is_none() => {
                    tracing::warn!(server = %addr, session = self.session_id, "connection lost: {why}");
                    self.shared.set_state(SessionState::Disconnected);
                    self.fail_pending(Error::ConnectionLoss);
                    match self.reconnect().await {
                        Ok(c) => {
                            conn = c;
                            continue;
                        }
                        Err(end) => end,
                    }
                }
                End::Lost(_) => {
                    // Lost while closing: the session closes or expires on the server anyway.
                    if let Some(reply) = self.closing.take() {
                        let _ = reply.send(Err(Error::ConnectionLoss));
                    }
                    End::Closed
                }
                other => other,
            };
            self.finish(end);
            return;
        }
    }

    fn finish(&mut self, end: End) {
        let (state, err) = match end {
            End::Expired => (SessionState::Expired, Error::SessionExpired),
            End::AuthFailed => (SessionState::AuthFailed, Error::AuthFailed),
            End::Lost(_) | End::MoveTo(_) | End::Closed | End::ClientGone => {
                (SessionState::Closed, Error::Closed)
            }
        };
        tracing::debug!(session = self.session_id, ?state, "session ended");
        self.shared.set_state(state);
        if let Some(reply) = self.closing.take() {
            let _ = reply.send(match state {
                SessionState::Closed => Ok(()),
                _ => Err(err.clone()),
            });
        }
        self.fail_pending(err.clone());
        for cmd in self.queued.drain(..) {
            fail_cmd(cmd, err.clone());
        }
        for (_, list) in self.watches.drain() {
            for (_, tx) in list {
                tx.send(Err(err.clone()));
            }
        }
        self.cmd_rx.close();
        while let Ok(cmd) = self.cmd_rx.try_recv() {
            fail_cmd(cmd, err.clone());
        }
    }

    fn fail_pending(&mut self, err: Error) {
        for p in self.pending.drain(..) {
            if let Reply::Caller(tx, _) = p.reply {
                let _ = tx.send(Err(err.clone()));
            }
        }
    }

    fn send_op(&mut self, tx: &mpsc::UnboundedSender<pb::ClientMessage>, op: Op, reply: Reply) {
        let xid = self.next_xid;
        self.next_xid += 1;
        let auth = auth::of(&op);
        self.pending.push_back(Pending { xid, reply, auth });
        // A send error means the stream is gone: reading it reports that.
        let _ = tx.send(pb::ClientMessage {
            message: Some(pb::client_message::Message::Request(pb::Request {
                xid,
                op: Some(op),
            })),
        });
    }

    fn send_cmd(&mut self, tx: &mpsc::UnboundedSender<pb::ClientMessage>, cmd: Cmd) {
        match cmd {
            Cmd::Request { op, reply, watch } => {
                if reply.is_closed() {
                    return; // the caller gave up (deadline)
                }
                if self.closing.is_some() {
                    let _ = reply.send(Err(Error::Closed));
                    return;
                }
                self.send_op(tx, op, Reply::Caller(reply, watch));
            }
            Cmd::LocalWatches {
                path,
                kind,
                remove,
                reply,
            } => {
                let _ = reply.send(Ok(self.local_watches(&path, kind, remove)));
            }
            Cmd::UpdateServers { servers, reply } => {
                self.set_servers(servers);
                let _ = reply.send(Ok(()));
            }
            Cmd::Close { reply } => {
                if self.closing.is_some() {
                    let _ = reply.send(Err(Error::Closed));
                    return;
                }
                self.closing = Some(reply);
                self.send_op(
                    tx,
                    Op::CloseSession(pb::CloseSessionRequest {}),
                    Reply::Internal,
                );
            }
        }
    }

    /// Serves one stream until it ends; returns why and the server's address.
    async fn serve(&mut self, conn: Conn) -> (End, String) {
        // `_lease` keeps the stream's shared connection (if any) counted until it ends.
        let Conn {
            tx,
            mut rx,
            addr,
            lease: _lease,
        } = conn;
        // Credentials first (none on the session's first stream), then what waited meanwhile.
        let replay: Vec<Op> = self.auths.replay().collect();
        if !replay.is_empty() {
            let count = replay.len();
            tracing::debug!(server = %addr, count, "sending the session's auths again");
        }
        for op in replay {
            self.send_op(&tx, op, Reply::Internal);
        }
        while let Some(cmd) = self.queued.pop_front() {
            self.send_cmd(&tx, cmd);
        }
        let mut last_sent = Instant::now();
        // One timer for both deadlines (ping when idle, give up when silent), moved only when
        // the earlier of the two changes: no timer is created per message.
        let timer = sleep_until(last_sent + self.timeout / 3);
        tokio::pin!(timer);
        // Read-only: when to look for a read-write server next, and the look under way.
        let probing = self.read_only && self.servers.len() > 1;
        let probe_timer = sleep_until(Instant::now() + self.rw_backoff);
        tokio::pin!(probe_timer);
        let mut probe: Option<Probe> = None;
        loop {
            let ping_at = last_sent + self.timeout / 3;
            let dead_at = self.last_heard + self.timeout * 2 / 3;
            let next = ping_at.min(dead_at);
            if timer.deadline() != next {
                timer.as_mut().reset(next);
            }
            tokio::select! {
                biased;
                msg = rx.message() => match msg {
                    Ok(Some(m)) => {
                        self.last_heard = Instant::now();
                        if let Some(end) = self.on_message(m) {
                            return (end, addr);
                        }
                    }
                    Ok(None) => return (End::Lost("stream ended without SessionClosed".into()), addr),
                    Err(s) => {
                        let end = match classify(&s) {
                            ConnectError::Expired => End::Expired,
                            ConnectError::Fatal(e) => End::Lost(e.to_string()),
                            ConnectError::Retry(why, _) | ConnectError::Tls(why) => End::Lost(why),
                        };
                        return (end, addr);
                    }
                },
                cmd = self.cmd_rx.recv() => match cmd {
                    None => return (End::ClientGone, addr),
                    Some(cmd) => {
                        self.send_cmd(&tx, cmd);
                        // Send everything else already queued in the same wakeup (pipelining).
                        while let Ok(cmd) = self.cmd_rx.try_recv() {
                            self.send_cmd(&tx, cmd);
                        }
                        last_sent = Instant::now();
                        if !self.servers.contains(&addr) && self.closing.is_none() {
                            return (End::Lost(format!("{addr} is no longer in the server list")), addr);
                        }
                    }
                },
                () = &mut timer => {
                    let now = Instant::now();
                    if now >= dead_at {
                        return (End::Lost(format!("nothing from the server for {:?}", self.timeout * 2 / 3)), addr);
                    }
                    self.send_op(&tx, Op::Ping(pb::PingRequest {}), Reply::Internal);
                    last_sent = now;
                }
                () = &mut probe_timer, if probing && probe.is_none() && self.closing.is_none() => {
                    let others: Vec<String> =
                        self.servers.iter().filter(|s| **s != addr).cloned().collect();
                    probe = Some(Probe(tokio::spawn(find_rw_server(
                        Arc::clone(&self.dialer),
                        others,
                        self.hello(false),
                        self.opts.connect_timeout,
                        self.opts.max_message_size,
                    ))));
                }
                found = async {
                    match probe.as_mut() {
                        Some(p) => (&mut p.0).await.ok().flatten(),
                        None => std::future::pending().await,
                    }
                }, if probe.is_some() => {
                    probe = None;
                    match found {
                        Some(found) if self.closing.is_none() => {
                            return (End::MoveTo(Box::new(found)), addr);
                        }
                        _ => {
                            self.rw_backoff = (self.rw_backoff * 2).min(RW_PROBE_MAX);
                            probe_timer.as_mut().reset(Instant::now() + self.rw_backoff);
                        }
                    }
                }
            }
        }
    }

    fn on_message(&mut self, m: pb::ServerMessage) -> Option<End> {
        use pb::server_message::Message;
        match m.message {
            Some(Message::Response(r)) => {
                self.see_zxid(r.zxid);
                let Some(p) = self.pending.pop_front() else {
                    return Some(End::Lost(format!(
                        "an answer (xid {}) to no request",
                        r.xid
                    )));
                };
                if p.xid != r.xid {
                    return Some(End::Lost(format!(
                        "answer for xid {} while xid {} was next",
                        r.xid, p.xid
                    )));
                }
                if let Some(a) = p.auth {
                    match r.error {
                        0 => self.auths.remember(a),
                        code => tracing::debug!(scheme = %a.scheme, code, "addauth refused"),
                    }
                }
                if let Reply::Caller(tx, watch) = p.reply {
                    if let Some(mut w) = watch {
                        if r.error == 0 {
                            if matches!(&r.result, Some(pb::response::Result::Exists(e)) if !e.exists)
                            {
                                w.class = WatchClass::Exist;
                            }
                            self.register(w);
                        }
                    }
                    let _ = tx.send(Ok(r));
                }
                None
            }
            Some(Message::WatchEvent(e)) => {
                self.see_zxid(e.zxid);
                self.fire(convert::watched_event(e));
                None
            }
            Some(Message::SessionClosed(c)) => Some(match c.error {
                0 => End::Closed,
                -112 => End::Expired,
                -115 => End::AuthFailed,
                code => End::Lost(format!("session closed with {code}: {}", c.message)),
            }),
            other => Some(End::Lost(format!("unexpected server message {other:?}"))),
        }
    }

    fn register(&mut self, w: WatchReg) {
        let list = self.watches.entry(w.path).or_default();
        list.retain(|(_, tx)| !tx.is_closed());
        list.push((w.class, w.tx));
    }

    fn fire(&mut self, event: WatchedEvent) {
        let classes: &[WatchClass] = match event.event_type {
            EventType::NodeCreated | EventType::NodeDataChanged => &[
                WatchClass::Data,
                WatchClass::Exist,
                WatchClass::Persistent,
                WatchClass::PersistentRecursive,
            ],
            EventType::NodeChildrenChanged => &[WatchClass::Child, WatchClass::Persistent],
            EventType::NodeDeleted => &[
                WatchClass::Data,
                WatchClass::Exist,
                WatchClass::Child,
                WatchClass::Persistent,
                WatchClass::PersistentRecursive,
            ],
            _ => &[],
        };
        if classes.is_empty() {
            return;
        }
        // Recursive watches on the ancestors first (they stay).
        if event.event_type != EventType::NodeChildrenChanged {
            for at in ancestors(&event.path) {
                if let Some(list) = self.watches.get_mut(at) {
                    list.retain(|(_, tx)| !tx.is_closed());
                    for (c, tx) in list.iter() {
                        if *c == WatchClass::PersistentRecursive {
                            tx.send_kept(Ok(event.clone()));
                        }
                    }
                }
            }
        }
        let Some(list) = self.watches.get_mut(&event.path) else {
            return;
        };
        let mut keep = Vec::with_capacity(list.len());
        for (c, tx) in list.drain(..) {
            let persistent = matches!(c, WatchClass::Persistent | WatchClass::PersistentRecursive);
            if !classes.contains(&c) {
                keep.push((c, tx));
            } else if persistent {
                tx.send_kept(Ok(event.clone()));
                if !tx.is_closed() {
                    keep.push((c, tx));
                }
            } else {
                tx.send(Ok(event.clone()));
            }
        }
        if keep.is_empty() {
            self.watches.remove(&event.path);
        } else {
            *list = keep;
        }
    }

    /// This client's live watches of `kind` on `path`: how many; with `remove`, they go and each
    /// is told `DataWatchRemoved` / `ChildWatchRemoved` / `PersistentWatchRemoved` (a
    /// persistent watch's stream then ends).
    fn local_watches(&mut self, path: &str, kind: WatcherType, remove: bool) -> usize {
        let Some(list) = self.watches.get_mut(path) else {
            return 0;
        };
        list.retain(|(_, tx)| !tx.is_closed());
        let matching = list.iter().filter(|(c, _)| c.removed_by(kind)).count();
        if remove && matching > 0 {
            let (gone, keep): (Vec<_>, Vec<_>) =
                list.drain(..).partition(|(c, _)| c.removed_by(kind));
            *list = keep;
            for (c, tx) in gone {
                tx.send(Ok(WatchedEvent {
                    event_type: c.removed_event(),
                    state: KeeperState::SyncConnected,
                    path: path.to_string(),
                    zxid: paddock_types::Zxid(u64::try_from(self.last_zxid).unwrap_or(0)),
                }));
            }
        }
        if list.is_empty() {
            self.watches.remove(path);
        }
        matching
    }

    /// The watches still outstanding, as the resume's lists, each path once and sorted (a
    /// stable order, so the server's events come in a stable order). Registrations whose caller
    /// dropped its `Watch` / `PersistentWatch` are left out.
    fn outstanding_watches(&self) -> paddock_types::SetWatches {
        let mut w = paddock_types::SetWatches::default();
        for (path, list) in &self.watches {
            let live = |class| list.iter().any(|(c, tx)| *c == class && !tx.is_closed());
            for (class, into) in [
                (WatchClass::Data, &mut w.data),
                (WatchClass::Exist, &mut w.exist),
                (WatchClass::Child, &mut w.child),
                (WatchClass::Persistent, &mut w.persistent),
                (WatchClass::PersistentRecursive, &mut w.persistent_recursive),
            ] {
                if live(class) {
                    into.push(path.clone());
                }
            }
        }
        for list in [
            &mut w.data,
            &mut w.exist,
            &mut w.child,
            &mut w.persistent,
            &mut w.persistent_recursive,
        ] {
            list.sort();
        }
        w
    }

    /// Resumes the session on the next servers, until it works or the session must have expired.
    /// Calls made meanwhile are queued (their own deadlines still apply).
    async fn reconnect(&mut self) -> std::result::Result<Conn, End> {
        let deadline = self.last_heard + self.timeout;
        let mut backoff = Duration::from_millis(10);
        loop {
            for _ in 0..self.servers.len() {
                let now = Instant::now();
                if now >= deadline {
                    return Err(End::Expired);
                }
                let addr = self.servers[self.next_server % self.servers.len()].clone();
                self.next_server += 1;
                let hello = self.hello(self.opts.can_be_read_only);
                let limit = self.opts.connect_timeout.min(deadline - now);
                let dialer = Arc::clone(&self.dialer);
                let attempt = connect_one(&dialer, &addr, hello, limit, self.opts.max_message_size);
                tokio::pin!(attempt);
                let result = loop {
                    tokio::select! {
                        r = &mut attempt => break r,
                        cmd = self.cmd_rx.recv() => self.queue_while_disconnected(cmd)?,
                    }
                };
                match result {
                    Ok((conn, hello)) => {
                        tracing::info!(server = %addr, session = self.session_id, "session resumed");
                        self.on_handshake(&hello);
                        return Ok(conn);
                    }
                    Err(ConnectError::Expired) => return Err(End::Expired),
                    Err(e) => tracing::debug!(server = %addr, "resume failed: {e:?}"),
                }
            }
            let wake = (Instant::now() + backoff).min(deadline);
            loop {
                tokio::select! {
                    _ = sleep_until(wake) => break,
                    cmd = self.cmd_rx.recv() => self.queue_while_disconnected(cmd)?,
                }
            }
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    /// The ConnectRequest of a resume. Every outstanding watch is listed, same server or not
    /// (harmless on the same server, where they are still set): the server sets them again or
    /// fires them at once. A session never attached to a read-write server asks for a new
    /// session (id 0): the ensemble does not know it.
    fn hello(&self, read_only: bool) -> pb::ConnectRequest {
        let w = self.outstanding_watches();
        let (session_id, password) = if self.seen_rw {
            (self.session_id, self.password.clone())
        } else {
            (0, Bytes::new())
        };
        pb::ConnectRequest {
            session_id,
            password,
            timeout_ms: self.timeout.as_millis().min(i32::MAX as u128) as i32,
            last_zxid_seen: self.last_zxid,
            data_watches: w.data,
            exist_watches: w.exist,
            child_watches: w.child,
            persistent_watches: w.persistent,
            persistent_recursive_watches: w.persistent_recursive,
            read_only,
        }
    }

    fn queue_while_disconnected(&mut self, cmd: Option<Cmd>) -> std::result::Result<(), End> {
        match cmd {
            None => Err(End::ClientGone),
            Some(Cmd::Close { reply }) => {
                // Nothing to tell the server: the session expires after its timeout.
                let _ = reply.send(Err(Error::ConnectionLoss));
                Err(End::Closed)
            }
            Some(Cmd::LocalWatches {
                path,
                kind,
                remove,
                reply,
            }) => {
                let _ = reply.send(Ok(self.local_watches(&path, kind, remove)));
                Ok(())
            }
            Some(Cmd::UpdateServers { servers, reply }) => {
                self.set_servers(servers);
                let _ = reply.send(Ok(()));
                Ok(())
            }
            Some(cmd) => {
                self.queued.push_back(cmd);
                Ok(())
            }
        }
    }
}

fn fail_cmd(cmd: Cmd, err: Error) {
    match cmd {
        Cmd::Request { reply, .. } => {
            let _ = reply.send(Err(err));
        }
        Cmd::Close { reply } => {
            let _ = reply.send(Err(err));
        }
        Cmd::LocalWatches { reply, .. } => {
            let _ = reply.send(Err(err));
        }
        Cmd::UpdateServers { reply, .. } => {
            let _ = reply.send(Err(err));
        }
    }
}

/// The proper ancestors of `path`, nearest first, ending with `/`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut at = path;
    std::iter::from_fn(move || {
        if at == "/" {
            return None;
        }
        at = match at.rfind('/') {
            Some(0) | None => "/",
            Some(i) => &at[..i],
        };
        Some(at)
    })
}

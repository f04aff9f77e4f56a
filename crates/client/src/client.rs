//! The public client handle.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use paddock_proto::v1::{self as pb, request::Op, response::Result as R};
use paddock_types::path::CONFIG_NODE;
use paddock_types::Data;
use paddock_types::{
    Acl, AddWatchMode, CreateMode, Id, KeeperState, MultiOp, OpResult, ReadOp, ReadResult,
    SessionId, Stat, WatchedEvent, WatcherType, Zxid,
};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::convert;
use crate::error::{Error, Result};
use crate::options::{parse_connect_string, shuffled, ClientOptions};
use crate::session_task::{
    connect_one, Cmd, ConnectError, SessionTask, Shared, WatchClass, WatchReg, WatchSender,
};
use crate::transport::Dialer;

/// The state of the client's session, as ZooKeeper's `KeeperState` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// A stream to a server is open and the session is attached to it.
    Connected,
    /// Attached to a server in read-only mode ([`crate::ClientOptions::can_be_read_only`]):
    /// reads work, writes fail with NotReadOnly; the client moves to a read-write server as
    /// soon as it finds one (ZooKeeper's `ConnectedReadOnly`).
    ConnectedReadOnly,
    /// The stream broke; the client is resuming the session (calls are queued meanwhile).
    Disconnected,
    /// The session expired: terminal, every call fails with [`Error::SessionExpired`].
    Expired,
    /// An [`Client::add_auth`] failed and the server ended the session: terminal, every call
    /// fails with [`Error::AuthFailed`].
    AuthFailed,
    /// The client was closed (or every handle dropped): terminal.
    Closed,
}

impl SessionState {
    /// ZooKeeper's KeeperState for this state.
    pub fn keeper_state(self) -> KeeperState {
        match self {
            SessionState::Connected => KeeperState::SyncConnected,
            SessionState::ConnectedReadOnly => KeeperState::ConnectedReadOnly,
            SessionState::Disconnected => KeeperState::Disconnected,
            SessionState::Expired => KeeperState::Expired,
            SessionState::AuthFailed => KeeperState::AuthFailed,
            SessionState::Closed => KeeperState::Closed,
        }
    }

    /// Whether a stream to a server is open (read-write or read-only).
    pub fn is_connected(self) -> bool {
        matches!(
            self,
            SessionState::Connected | SessionState::ConnectedReadOnly
        )
    }

    /// Whether the session is over for good (Expired, AuthFailed or Closed).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SessionState::Expired | SessionState::AuthFailed | SessionState::Closed
        )
    }
}

/// A one-shot watch: resolves to the [`WatchedEvent`] that fired it, exactly once. Resolves to
/// [`Error::SessionExpired`] / [`Error::AuthFailed`] / [`Error::Closed`] if the session ends
/// first. Dropping it is fine (the server-side watch stays set until it fires).
#[must_use = "a Watch does nothing unless awaited"]
pub struct Watch {
    rx: oneshot::Receiver<Result<WatchedEvent>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl Future for Watch {
    type Output = Result<WatchedEvent>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(Ok(r)) => Poll::Ready(r),
            Poll::Ready(Err(_)) => Poll::Ready(Err(self.shared.terminal_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The event stream of a persistent (or persistent recursive) watch from [`Client::add_watch`].
/// Yields every event until the watch is removed (the last item is then a
/// `PersistentWatchRemoved` event) or the session ends (the last item is then
/// [`Error::SessionExpired`] / [`Error::AuthFailed`] / [`Error::Closed`]); then `None`.
pub struct PersistentWatch {
    rx: mpsc::UnboundedReceiver<Result<WatchedEvent>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PersistentWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistentWatch").finish_non_exhaustive()
    }
}

impl PersistentWatch {
    /// The next event; `None` once the watch is removed or the session ended.
    pub async fn next(&mut self) -> Option<Result<WatchedEvent>> {
        self.rx.recv().await
    }

    /// The next event if one is already here.
    pub fn try_next(&mut self) -> Option<Result<WatchedEvent>> {
        self.rx.try_recv().ok()
    }

    /// The session's state now (to tell a session end from a removal once `next` is `None`).
    pub fn session_state(&self) -> SessionState {
        self.shared.state()
    }
}

fn no_watcher(path: &str, kind: WatcherType) -> Error {
    Error::Zk {
        code: paddock_types::ErrorCode::NoWatcher,
        message: format!("{path} (type: {})", kind.name()),
    }
}

/// A Paddock session. Cheap to clone: clones share the session (and its background task), and
/// can be used from many tasks at once; calls are pipelined on the session's one stream and
/// answered in the order they reached the background task.
///
/// When the last clone is dropped the background task stops and the stream is dropped without
/// closing the session (it then expires after its timeout): call [`Client::close`] to end it
/// at once.
#[derive(Clone)]
pub struct Client {
    cmd_tx: mpsc::Sender<Cmd>,
    shared: Arc<Shared>,
    opts: Arc<ClientOptions>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("session_id", &self.session_id())
            .field("state", &self.state())
            .finish()
    }
}

/// Unanswered calls queued to the background task before callers wait.
const QUEUE: usize = 4096;

impl Client {
    /// Connects to one of the servers of `connect_string` (`host:port[,host:port...]`, tried in
    /// an order shuffled with [`ClientOptions::seed`]) and opens a new session.
    ///
    /// With [`ClientOptions::tls`] every server is reached over TLS; the TLS files are read
    /// here, once.
    ///
    /// Errors: [`Error::InvalidArgument`] for a malformed connect string,
    /// [`Error::TlsConfig`] for unusable TLS options (an unreadable file, no certificate or key
    /// in it), [`Error::Tls`] when no server accepted the session and TLS is the likely reason
    /// (TLS used against a plaintext port or the reverse, a certificate one side refused: the
    /// message says which), [`Error::Zk`] with the last server's refusal code when it gave one
    /// other than ConnectionLoss (e.g. `Throttled` for too many connections from this address),
    /// [`Error::Zk`] BadArguments when a server rejects the options (e.g. a negative timeout),
    /// and [`Error::ConnectionLoss`] when no server accepted the session otherwise (the reasons
    /// are logged).
    pub async fn connect(connect_string: &str, opts: ClientOptions) -> Result<Client> {
        let servers = shuffled(parse_connect_string(connect_string)?, opts.seed);
        let dialer = Arc::new(Dialer::new(&opts)?);
        let timeout_ms = opts.session_timeout.as_millis().min(i32::MAX as u128) as i32;
        let mut last_refusal = None;
        let mut tls_failure = None;
        for (i, addr) in servers.iter().enumerate() {
            let hello = pb::ConnectRequest {
                session_id: 0,
                password: Bytes::new(),
                timeout_ms,
                last_zxid_seen: 0,
                read_only: opts.can_be_read_only,
                ..Default::default()
            };
            let attempt = connect_one(
                &dialer,
                addr,
                hello,
                opts.connect_timeout,
                opts.max_message_size,
            );
            match attempt.await {
                Ok((conn, resp)) => {
                    let shared = Arc::new(Shared::new(if resp.read_only {
                        SessionState::ConnectedReadOnly
                    } else {
                        SessionState::Connected
                    }));
                    let (cmd_tx, cmd_rx) = mpsc::channel(QUEUE);
                    let task = SessionTask::new(
                        servers.clone(),
                        i + 1,
                        opts.clone(),
                        dialer,
                        &resp,
                        cmd_rx,
                        Arc::clone(&shared),
                    );
                    tokio::spawn(task.run(conn));
                    let client = Client {
                        cmd_tx,
                        shared,
                        opts: Arc::new(opts),
                    };
                    if client.opts.follow_config {
                        client.follow_config();
                    }
                    return Ok(client);
                }
                Err(ConnectError::Fatal(e)) => return Err(e),
                Err(ConnectError::Retry(why, code)) => {
                    tracing::warn!(server = %addr, "cannot open a session: {why}");
                    last_refusal = code
                        .filter(|c| *c != paddock_types::ErrorCode::ConnectionLoss)
                        .map(|code| Error::Zk { code, message: why });
                }
                Err(ConnectError::Tls(why)) => {
                    tracing::warn!(server = %addr, "cannot open a session: {why}");
                    tls_failure = Some(Error::Tls(why));
                }
                Err(e) => tracing::warn!(server = %addr, "cannot open a session: {e:?}"),
            }
        }
        // A TLS mismatch is what the user must fix first (a refusal came from a server that
        // TLS let through).
        Err(tls_failure
            .or(last_refusal)
            .unwrap_or(Error::ConnectionLoss))
    }

    /// The session's id.
    pub fn session_id(&self) -> SessionId {
        SessionId(self.shared.session_id.load(Ordering::Relaxed))
    }

    /// The negotiated session timeout.
    pub fn session_timeout(&self) -> Duration {
        Duration::from_millis(self.shared.timeout_ms.load(Ordering::Relaxed).max(0) as u64)
    }

    /// The highest zxid seen from the server (sent when resuming).
    pub fn last_zxid_seen(&self) -> Zxid {
        Zxid(self.shared.last_zxid.load(Ordering::Relaxed).max(0) as u64)
    }

    /// The address (`host:port`) of the server the session is (or was last) attached to.
    pub fn server(&self) -> String {
        self.shared
            .server
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The current session state.
    pub fn state(&self) -> SessionState {
        self.shared.state()
    }

    /// Whether the session is attached to a server in read-only mode now
    /// ([`SessionState::ConnectedReadOnly`]): reads only, writes fail with NotReadOnly.
    pub fn is_read_only(&self) -> bool {
        self.state() == SessionState::ConnectedReadOnly
    }

    /// Every session state change from now on (Connected, ConnectedReadOnly, Disconnected,
    /// Expired, AuthFailed, Closed).
    pub fn state_events(&self) -> broadcast::Receiver<SessionState> {
        self.shared.subscribe()
    }

    /// The session state as a watch channel (latest value only).
    pub fn state_watch(&self) -> watch::Receiver<SessionState> {
        self.shared.watch_state()
    }

    async fn call(&self, op: Op, watch: Option<(&str, WatchClass)>) -> Result<(R, Option<Watch>)> {
        let (reg, watch) = match watch {
            Some((path, class)) => {
                let (wtx, wrx) = oneshot::channel();
                (
                    Some(WatchReg {
                        path: path.to_string(),
                        class,
                        tx: WatchSender::Once(wtx),
                    }),
                    Some(Watch {
                        rx: wrx,
                        shared: Arc::clone(&self.shared),
                    }),
                )
            }
            None => (None, None),
        };
        Ok((self.send(op, reg).await?, watch))
    }

    /// Sends `op` (registering `reg` in the session task if it succeeds) and waits for its
    /// result, within the request timeout.
    async fn send(&self, op: Op, reg: Option<WatchReg>) -> Result<R> {
        let deadline = Instant::now() + self.opts.request_timeout;
        let is_multi = matches!(op, Op::Multi(_));
        let (tx, rx) = oneshot::channel();
        let cmd = Cmd::Request {
            op,
            reply: tx,
            watch: reg,
        };
        // The queue almost always has room: only wait (with the deadline) when it is full.
        match self.cmd_tx.try_send(cmd) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(self.shared.terminal_error()),
            Err(mpsc::error::TrySendError::Full(cmd)) => {
                match tokio::time::timeout_at(deadline, self.cmd_tx.send(cmd)).await {
                    Err(_) => return Err(Error::Timeout),
                    Ok(Err(_)) => return Err(self.shared.terminal_error()),
                    Ok(Ok(())) => {}
                }
            }
        }
        let r = match tokio::time::timeout_at(deadline, rx).await {
            Err(_) => return Err(Error::Timeout),
            Ok(Err(_)) => return Err(self.shared.terminal_error()),
            Ok(Ok(r)) => r?,
        };
        if r.error != 0 {
            let err = Error::from_wire(r.error, r.error_message);
            return Err(match (err, r.result) {
                (Error::Zk { code, .. }, Some(R::Multi(m))) if is_multi => Error::Multi {
                    code,
                    results: m.results.into_iter().map(convert::op_result).collect(),
                },
                (err, _) => err,
            });
        }
        match r.result {
            Some(result) => Ok(result),
            None => Err(Error::Zk {
                code: paddock_types::ErrorCode::MarshallingError,
                message: "an answer without a result".into(),
            }),
        }
    }

    /// Creates `path` open to everybody (`world:anyone:cdrwa`, ZooKeeper's `OPEN_ACL_UNSAFE`);
    /// returns the actual path (with the sequence suffix for sequential modes). Needs CREATE on
    /// the parent. [`CreateMode::Container`] makes a node the server deletes once its last child
    /// is gone; [`CreateMode::PersistentWithTtl`] (and its sequential twin) one it deletes after
    /// `ttl_ms` without a change and without children: the server needs
    /// `extendedTypesEnabled=true` (else `Unimplemented`), and a ttl outside
    /// 1..=[`node_kind::MAX_TTL_MS`](crate::node_kind::MAX_TTL_MS) is `BadArguments`.
    pub async fn create(
        &self,
        path: &str,
        data: impl Into<Data>,
        mode: CreateMode,
    ) -> Result<String> {
        self.create_with_stat(path, data, mode)
            .await
            .map(|(p, _)| p)
    }

    /// Like [`Client::create`], also returning the new node's Stat.
    pub async fn create_with_stat(
        &self,
        path: &str,
        data: impl Into<Data>,
        mode: CreateMode,
    ) -> Result<(String, Stat)> {
        // No ACL on the wire: the server's default, world:anyone:cdrwa.
        self.create_inner(path, data.into(), mode, None).await
    }

    /// Like [`Client::create`], with the new node's ACL (e.g. [`Acl::creator_all`],
    /// [`Acl::read_unsafe`], or entries built with [`Acl::new`]). An empty or invalid ACL fails
    /// with [`Error::Zk`] `InvalidAcl`; `auth:` entries become the session's authenticated ids
    /// (`InvalidAcl` if it has none: call [`Client::add_auth`] first).
    pub async fn create_with_acl(
        &self,
        path: &str,
        data: impl Into<Data>,
        mode: CreateMode,
        acl: Vec<Acl>,
    ) -> Result<String> {
        self.create_inner(path, data.into(), mode, convert::create_acl(acl))
            .await
            .map(|(p, _)| p)
    }

    async fn create_inner(
        &self,
        path: &str,
        data: Data,
        mode: CreateMode,
        acl: Option<pb::AclList>,
    ) -> Result<(String, Stat)> {
        let op = Op::Create(pb::CreateRequest {
            path: path.to_string(),
            data: data.into_option(),
            mode: convert::create_mode(mode),
            acl,
            ttl: mode.ttl_ms().unwrap_or(0),
        });
        match self.call(op, None).await? {
            (R::Create(c), _) => Ok((c.path, convert::stat(c.stat))),
            (other, _) => Err(mismatch("create", other)),
        }
    }

    /// Deletes `path` if its version is `version` (-1: any).
    pub async fn delete(&self, path: &str, version: i32) -> Result<()> {
        let op = Op::Delete(pb::DeleteRequest {
            path: path.to_string(),
            version,
        });
        match self.call(op, None).await? {
            (R::Delete(_), _) => Ok(()),
            (other, _) => Err(mismatch("delete", other)),
        }
    }

    async fn exists_inner(&self, path: &str, w: bool) -> Result<(Option<Stat>, Option<Watch>)> {
        let op = Op::Exists(pb::ExistsRequest {
            path: path.to_string(),
            watch: w,
        });
        let watch = w.then_some((path, WatchClass::Data));
        match self.call(op, watch).await? {
            (R::Exists(e), watch) => Ok((e.exists.then(|| convert::stat(e.stat)), watch)),
            (other, _) => Err(mismatch("exists", other)),
        }
    }

    /// The node's Stat, or `None` if it does not exist.
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>> {
        Ok(self.exists_inner(path, false).await?.0)
    }

    /// Like [`Client::exists`], leaving a watch: NodeCreated if the node is missing,
    /// NodeDataChanged / NodeDeleted if it exists.
    pub async fn exists_w(&self, path: &str) -> Result<(Option<Stat>, Watch)> {
        let (stat, watch) = self.exists_inner(path, true).await?;
        Ok((stat, watch.expect("a watch was asked for")))
    }

    async fn get_data_inner(&self, path: &str, w: bool) -> Result<(Data, Stat, Option<Watch>)> {
        let op = Op::GetData(pb::GetDataRequest {
            path: path.to_string(),
            watch: w,
        });
        let watch = w.then_some((path, WatchClass::Data));
        match self.call(op, watch).await? {
            (R::GetData(d), watch) => Ok((Data::from(d.data), convert::stat(d.stat), watch)),
            (other, _) => Err(mismatch("getData", other)),
        }
    }

    /// The node's data (null if it was created or set with no data, as zkCli's `create /p`) and
    /// Stat.
    pub async fn get_data(&self, path: &str) -> Result<(Data, Stat)> {
        let (d, s, _) = self.get_data_inner(path, false).await?;
        Ok((d, s))
    }

    /// Like [`Client::get_data`], leaving a watch (NodeDataChanged / NodeDeleted). No watch is
    /// left when the node does not exist (the call fails with NoNode).
    pub async fn get_data_w(&self, path: &str) -> Result<(Data, Stat, Watch)> {
        let (d, s, w) = self.get_data_inner(path, true).await?;
        Ok((d, s, w.expect("a watch was asked for")))
    }

    async fn get_config_inner(&self, w: bool) -> Result<(Bytes, Stat, Option<Watch>)> {
        let op = Op::GetConfig(pb::GetConfigRequest { watch: w });
        let watch = w.then_some((CONFIG_NODE, WatchClass::Data));
        match self.call(op, watch).await? {
            (R::GetConfig(c), watch) => Ok((c.data, convert::stat(c.stat), watch)),
            (other, _) => Err(mismatch("getConfig", other)),
        }
    }

    /// The ensemble's configuration (ZooKeeper's `getConfig`): `/zookeeper/config`'s data and
    /// Stat — `server.N=host:quorumPort:electionPort:role[;clientHost:clientPort]` lines, then
    /// `version=<hex>`; empty on a standalone server.
    pub async fn get_config(&self) -> Result<(Bytes, Stat)> {
        let (d, s, _) = self.get_config_inner(false).await?;
        Ok((d, s))
    }

    /// Like [`Client::get_config`], leaving a data watch on `/zookeeper/config` (fired once,
    /// NodeDataChanged, when a reconfiguration commits).
    pub async fn get_config_w(&self) -> Result<(Bytes, Stat, Watch)> {
        let (d, s, w) = self.get_config_inner(true).await?;
        Ok((d, s, w.expect("a watch was asked for")))
    }

    /// Changes the ensemble's membership (ZooKeeper's `ZooKeeperAdmin.reconfigure`) and returns
    /// the configuration it installed: `/zookeeper/config`'s new data (as
    /// [`Client::get_config`]; its `version=` is the reconfiguration's zxid, in hex) and Stat.
    ///
    /// Either incremental — `joining` servers to add (or to change: a server listed again with
    /// another role or address) and `leaving` server ids to remove — or a whole new membership
    /// in `members` (then the other two must be empty). A server is a dynamic-configuration line,
    /// `server.<id>=<host>:<quorumPort>:<electionPort>[:participant|:observer][;[<clientHost>:]<clientPort>]`
    /// (the `server.` prefix may be left out). `from_version` is -1 (any), or the version in
    /// force the change is meant for (the `version=` of [`Client::get_config`], read as hex).
    ///
    /// The session must be the super user (`add_auth("digest", ...)` with the server's
    /// `superDigest`). Errors ([`Error::Zk`]): `ReconfigDisabled` (`reconfigEnabled=false`),
    /// `Unimplemented` (a standalone server), `NoAuth`, `BadArguments` (a line that does not
    /// parse, nothing asked, both forms at once, a server that is not a member),
    /// `BadVersion` (another configuration is in force), `NewConfigNoQuorum` (the new
    /// configuration's voters that are connected and synced are not a quorum of it),
    /// `ReconfigInProgress`. On [`Error::ConnectionLoss`] or [`Error::Timeout`] the outcome is
    /// unknown: read [`Client::get_config`] to see.
    pub async fn reconfig(
        &self,
        joining: Vec<String>,
        leaving: Vec<u64>,
        members: Vec<String>,
        from_version: i64,
    ) -> Result<(Bytes, Stat)> {
        let op = Op::Reconfig(pb::ReconfigRequest {
            joining_servers: joining,
            leaving_servers: leaving,
            new_members: members,
            from_config_version: from_version,
        });
        match self.call(op, None).await? {
            (R::Reconfig(c), _) => Ok((c.data, convert::stat(c.stat))),
            (other, _) => Err(mismatch("reconfig", other)),
        }
    }

    /// Replaces the node's data if its version is `version` (-1: any); returns the new Stat.
    pub async fn set_data(&self, path: &str, data: impl Into<Data>, version: i32) -> Result<Stat> {
        let op = Op::SetData(pb::SetDataRequest {
            path: path.to_string(),
            data: data.into().into_option(),
            version,
        });
        match self.call(op, None).await? {
            (R::SetData(s), _) => Ok(convert::stat(s.stat)),
            (other, _) => Err(mismatch("setData", other)),
        }
    }

    async fn get_children_inner(
        &self,
        path: &str,
        w: bool,
    ) -> Result<(Vec<String>, Stat, Option<Watch>)> {
        let op = Op::GetChildren(pb::GetChildrenRequest {
            path: path.to_string(),
            watch: w,
        });
        let watch = w.then_some((path, WatchClass::Child));
        match self.call(op, watch).await? {
            (R::GetChildren(c), watch) => Ok((c.children, convert::stat(c.stat), watch)),
            (other, _) => Err(mismatch("getChildren", other)),
        }
    }

    /// The node's children (names, unsorted) and its Stat.
    pub async fn get_children(&self, path: &str) -> Result<(Vec<String>, Stat)> {
        let (c, s, _) = self.get_children_inner(path, false).await?;
        Ok((c, s))
    }

    /// Like [`Client::get_children`], leaving a watch (NodeChildrenChanged / NodeDeleted).
    pub async fn get_children_w(&self, path: &str) -> Result<(Vec<String>, Stat, Watch)> {
        let (c, s, w) = self.get_children_inner(path, true).await?;
        Ok((c, s, w.expect("a watch was asked for")))
    }

    /// Applies `ops` atomically. A failed multi is [`Error::Multi`] with per-op results.
    pub async fn multi(&self, ops: Vec<MultiOp>) -> Result<Vec<OpResult>> {
        let op = Op::Multi(pb::MultiRequest {
            ops: ops.into_iter().map(convert::multi_op).collect(),
        });
        match self.call(op, None).await? {
            (R::Multi(m), _) => Ok(m.results.into_iter().map(convert::op_result).collect()),
            (other, _) => Err(mismatch("multi", other)),
        }
    }

    /// Runs the reads `ops` together against one state of the server's tree (one zxid: no write
    /// applies between them), as ZooKeeper 3.9's `multiRead`. One [`ReadResult`] per op, in op
    /// order; an op that fails is [`ReadResult::Error`] with its own code (NoNode, NoAuth without
    /// READ on its node, BadArguments for an invalid path) and the others are still answered, so
    /// the call as a whole only fails as any request can (connection loss, session expiry). No op
    /// leaves a watch.
    pub async fn multi_read(&self, ops: Vec<ReadOp>) -> Result<Vec<ReadResult>> {
        let op = Op::MultiRead(pb::MultiReadRequest {
            ops: ops.into_iter().map(convert::read_op).collect(),
        });
        match self.call(op, None).await? {
            (R::MultiRead(m), _) => Ok(m.results.into_iter().map(convert::read_result).collect()),
            (other, _) => Err(mismatch("multiRead", other)),
        }
    }

    /// The node's ACL and Stat (`Stat::aversion` is the ACL's version, for
    /// [`Client::set_acl`]). Needs READ or ADMIN on the node; without ADMIN, `digest` ids come
    /// back as `user:x`.
    pub async fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        let op = Op::GetAcl(pb::GetAclRequest {
            path: path.to_string(),
        });
        match self.call(op, None).await? {
            (R::GetAcl(g), _) => Ok((convert::acl(g.acl), convert::stat(g.stat))),
            (other, _) => Err(mismatch("getACL", other)),
        }
    }

    /// Replaces the node's ACL if its ACL version (`Stat::aversion`) is `version` (-1: any);
    /// returns the new Stat. Needs ADMIN on the node. Errors as [`Client::create_with_acl`] for
    /// the ACL, and NoNode, BadVersion, NoAuth.
    pub async fn set_acl(&self, path: &str, acl: Vec<Acl>, version: i32) -> Result<Stat> {
        let op = Op::SetAcl(pb::SetAclRequest {
            path: path.to_string(),
            acl: convert::acl_to_wire(acl),
            version,
        });
        match self.call(op, None).await? {
            (R::SetAcl(s), _) => Ok(convert::stat(s.stat)),
            (other, _) => Err(mismatch("setACL", other)),
        }
    }

    /// Adds an identity to the session (ZooKeeper's `addAuthInfo`): for `scheme` "digest",
    /// `auth` is `user:password`, and the session is then `digest:user:<hash>` (see
    /// [`digest`](crate::digest)). The client remembers every accepted call and sends it again,
    /// first, whenever the session resumes on a new connection, as ZooKeeper clients do.
    ///
    /// A refusal ends the session, as in ZooKeeper: this call fails with [`Error::AuthFailed`],
    /// the state becomes [`SessionState::AuthFailed`], and every later call fails with
    /// [`Error::AuthFailed`].
    pub async fn add_auth(&self, scheme: &str, auth: impl Into<Bytes>) -> Result<()> {
        let op = Op::AddAuth(pb::AddAuthRequest {
            scheme: scheme.to_string(),
            auth: auth.into(),
        });
        match self.call(op, None).await? {
            (R::AddAuth(_), _) => Ok(()),
            (other, _) => Err(mismatch("addAuth", other)),
        }
    }

    /// The ids the session is authenticated as: the connection's own (`ip:<address>`) and those
    /// added with [`Client::add_auth`] (ZooKeeper 3.7's `whoAmI`).
    pub async fn who_am_i(&self) -> Result<Vec<Id>> {
        let op = Op::WhoAmI(pb::WhoAmIRequest {});
        match self.call(op, None).await? {
            (R::WhoAmI(w), _) => Ok(w.ids.into_iter().map(convert::id).collect()),
            (other, _) => Err(mismatch("whoAmI", other)),
        }
    }

    /// Paths of this session's own ephemeral nodes that start with `prefix`, sorted (ZooKeeper
    /// 3.9's `getEphemerals`). `prefix` must be a valid path and is matched as a plain string:
    /// `/a` matches `/a/x` and `/ab`; `/` lists them all. Needs no permission.
    pub async fn get_ephemerals(&self, prefix: &str) -> Result<Vec<String>> {
        let op = Op::GetEphemerals(pb::GetEphemeralsRequest {
            prefix_path: prefix.to_string(),
        });
        match self.call(op, None).await? {
            (R::GetEphemerals(g), _) => Ok(g.paths),
            (other, _) => Err(mismatch("getEphemerals", other)),
        }
    }

    /// The number of nodes below `path` (children, grandchildren, ...; not `path` itself), as
    /// ZooKeeper 3.9's `getAllChildrenNumber`. Needs READ on `path`; `NoNode` if it is missing.
    pub async fn get_all_children_number(&self, path: &str) -> Result<i32> {
        let op = Op::GetAllChildrenNumber(pb::GetAllChildrenNumberRequest {
            path: path.to_string(),
        });
        match self.call(op, None).await? {
            (R::GetAllChildrenNumber(g), _) => Ok(g.number),
            (other, _) => Err(mismatch("getAllChildrenNumber", other)),
        }
    }

    /// Sets a watch that stays until removed (ZooKeeper 3.6's `addWatch`) and returns its event
    /// stream. `Persistent`: every NodeCreated / NodeDeleted / NodeDataChanged /
    /// NodeChildrenChanged of `path`; `PersistentRecursive`: NodeCreated / NodeDeleted /
    /// NodeDataChanged of `path` and every node below it. The node need not exist. The watch
    /// survives resumes on other servers (changes missed meanwhile are replayed by the server
    /// while its recent history reaches back; see the proto). Dropping the stream stops delivery
    /// locally (the server-side watch stays until [`Client::remove_watches`] or the session ends).
    pub async fn add_watch(&self, path: &str, mode: AddWatchMode) -> Result<PersistentWatch> {
        let op = Op::AddWatch(pb::AddWatchRequest {
            path: path.to_string(),
            mode: mode as i32,
        });
        let class = match mode {
            AddWatchMode::Persistent => WatchClass::Persistent,
            AddWatchMode::PersistentRecursive => WatchClass::PersistentRecursive,
        };
        let (etx, erx) = mpsc::unbounded_channel();
        let reg = WatchReg {
            path: path.to_string(),
            class,
            tx: WatchSender::Stream(etx),
        };
        match self.send(op, Some(reg)).await? {
            R::AddWatch(_) => Ok(PersistentWatch {
                rx: erx,
                shared: Arc::clone(&self.shared),
            }),
            other => Err(mismatch("addWatch", other)),
        }
    }

    /// Removes this client's watches of `kind` on `path` (ZooKeeper's `removeAllWatches`): the
    /// server's (unless `local`) and then the client's own, each of which is told
    /// `DataWatchRemoved` / `ChildWatchRemoved` / `PersistentWatchRemoved` (a
    /// [`PersistentWatch`] then ends). [`Error::Zk`] `NoWatcher` if this client has no such watch
    /// there (or the server has none). With `local`, the client's watches go even when the server
    /// cannot be asked (disconnected); the server is still asked when connected, and its answer
    /// ignored.
    pub async fn remove_watches(&self, path: &str, kind: WatcherType, local: bool) -> Result<()> {
        paddock_types::validate_path(path, false).map_err(|e| Error::InvalidArgument(e.message))?;
        if self.local_watches(path, kind, false).await? == 0 {
            return Err(no_watcher(path, kind));
        }
        let op = Op::RemoveWatches(pb::RemoveWatchesRequest {
            path: path.to_string(),
            r#type: kind as i32,
        });
        if local {
            self.local_watches(path, kind, true).await?;
            if self.state().is_connected() {
                let _ = self.call(op, None).await;
            }
            return Ok(());
        }
        match self.call(op, None).await? {
            (R::RemoveWatches(_), _) => {}
            (other, _) => return Err(mismatch("removeWatches", other)),
        }
        self.local_watches(path, kind, true).await?;
        Ok(())
    }

    /// `Ok` if the server holds a watch of `kind` on `path` for this session (ZooKeeper's
    /// `checkWatches`); [`Error::Zk`] `NoWatcher` if not. Changes nothing.
    pub async fn check_watches(&self, path: &str, kind: WatcherType) -> Result<()> {
        let op = Op::CheckWatches(pb::CheckWatchesRequest {
            path: path.to_string(),
            r#type: kind as i32,
        });
        match self.call(op, None).await? {
            (R::CheckWatches(_), _) => Ok(()),
            (other, _) => Err(mismatch("checkWatches", other)),
        }
    }

    /// Replaces the servers this session reconnects to (ZooKeeper's `updateServerList`):
    /// `connect_string` as for [`Client::connect`], shuffled the same way. The session stays on
    /// its server if the new list has it, and otherwise moves to one of the new servers at
    /// once (a resume: pending calls fail with [`Error::ConnectionLoss`]). Unlike ZooKeeper's
    /// client it does not move sessions to rebalance load.
    pub async fn update_server_list(&self, connect_string: &str) -> Result<()> {
        let servers = shuffled(parse_connect_string(connect_string)?, self.opts.seed);
        self.set_servers(servers).await
    }

    async fn set_servers(&self, servers: Vec<String>) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        let cmd = Cmd::UpdateServers { servers, reply: tx };
        if self.cmd_tx.send(cmd).await.is_err() {
            return Err(self.shared.terminal_error());
        }
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(self.shared.terminal_error()),
        }
    }

    /// [`ClientOptions::follow_config`]: a task that reads `/zookeeper/config` with a watch and
    /// makes its client addresses the server list, again at every change, until the session
    /// ends. It holds the session only while it calls (a weak handle otherwise), so dropping
    /// every [`Client`] still ends the session.
    fn follow_config(&self) {
        let weak = self.cmd_tx.downgrade();
        let (shared, opts) = (Arc::clone(&self.shared), Arc::clone(&self.opts));
        tokio::spawn(async move {
            let mut applied: Option<Bytes> = None;
            loop {
                let Some(cmd_tx) = weak.upgrade() else {
                    return;
                };
                let client = Client {
                    cmd_tx,
                    shared: Arc::clone(&shared),
                    opts: Arc::clone(&opts),
                };
                let watch = match client.get_config_w().await {
                    Ok((data, _, watch)) => {
                        if applied.as_ref() != Some(&data) {
                            let text = String::from_utf8_lossy(&data);
                            let mut servers = crate::options::client_addresses(&text);
                            if !servers.is_empty() {
                                servers = shuffled(servers, opts.seed);
                                if client.set_servers(servers).await.is_err() {
                                    return;
                                }
                            }
                            applied = Some(data);
                        }
                        watch
                    }
                    Err(Error::Closed | Error::SessionExpired | Error::AuthFailed) => return,
                    Err(e) => {
                        tracing::debug!("cannot read /zookeeper/config: {e}");
                        drop(client);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                drop(client);
                match watch.await {
                    Ok(_) => {}
                    Err(Error::Closed | Error::SessionExpired | Error::AuthFailed) => return,
                    // The watch was lost with the connection: read the configuration again.
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
    }

    /// Counts (with `remove`: removes) this client's own watches of `kind` on `path`.
    async fn local_watches(&self, path: &str, kind: WatcherType, remove: bool) -> Result<usize> {
        let (tx, rx) = oneshot::channel();
        let cmd = Cmd::LocalWatches {
            path: path.to_string(),
            kind,
            remove,
            reply: tx,
        };
        if self.cmd_tx.send(cmd).await.is_err() {
            return Err(self.shared.terminal_error());
        }
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(self.shared.terminal_error()),
        }
    }

    /// Waits until the connected server has applied every write committed before the sync.
    pub async fn sync(&self, path: &str) -> Result<()> {
        let op = Op::Sync(pb::SyncRequest {
            path: path.to_string(),
        });
        match self.call(op, None).await? {
            (R::Sync(_), _) => Ok(()),
            (other, _) => Err(mismatch("sync", other)),
        }
    }

    /// Closes the session: its ephemeral nodes are deleted, pending watches resolve to
    /// [`Error::Closed`], and every later call fails with [`Error::Closed`]. Closing a closed
    /// client is `Ok`. While disconnected, the client stops at once and answers
    /// [`Error::ConnectionLoss`] (the server expires the session after its timeout).
    pub async fn close(&self) -> Result<()> {
        match self.state() {
            SessionState::Closed => return Ok(()),
            SessionState::Expired => return Err(Error::SessionExpired),
            SessionState::AuthFailed => return Err(Error::AuthFailed),
            SessionState::Connected
            | SessionState::ConnectedReadOnly
            | SessionState::Disconnected => {}
        }
        let deadline = Instant::now() + self.opts.request_timeout;
        let (tx, rx) = oneshot::channel();
        match tokio::time::timeout_at(deadline, self.cmd_tx.send(Cmd::Close { reply: tx })).await {
            Err(_) => return Err(Error::Timeout),
            Ok(Err(_)) => return self.after_end(),
            Ok(Ok(())) => {}
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Err(_) => Err(Error::Timeout),
            Ok(Err(_)) => self.after_end(),
            Ok(Ok(r)) => r,
        }
    }

    fn after_end(&self) -> Result<()> {
        match self.shared.terminal_error() {
            Error::Closed => Ok(()),
            e => Err(e),
        }
    }
}

fn mismatch(op: &str, got: R) -> Error {
    Error::Zk {
        code: paddock_types::ErrorCode::MarshallingError,
        message: format!("{op} answered with {got:?}"),
    }
}

//! Client requests and their answers, independent of the wire format.
//!
//! The gateway decodes protobuf into these; the processor and the data tree work only with them.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::acl::{Acl, Id};
use crate::data::Data;
use crate::error::ErrorCode;
use crate::ids::{SessionId, Zxid};

/// ZooKeeper's node kinds. The variants' order is part of the log format (postcard numbers
/// them): new ones go at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CreateMode {
    Persistent,
    PersistentSequential,
    Ephemeral,
    EphemeralSequential,
    /// ZooKeeper 3.5's container: deleted by the leader once it has had a child and has none.
    Container,
    /// Persistent, deleted by the leader once unchanged (mtime) for longer than `ttl_ms` and
    /// childless. Needs `extendedTypesEnabled`. `ttl_ms` is as the client sent it: checked
    /// with [`crate::node_kind::validate_ttl`] (the processor, and `apply` again).
    PersistentWithTtl {
        ttl_ms: i64,
    },
    /// [`CreateMode::PersistentWithTtl`], sequential.
    PersistentSequentialWithTtl {
        ttl_ms: i64,
    },
}

impl CreateMode {
    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl { .. }
        )
    }
    pub fn is_container(self) -> bool {
        matches!(self, CreateMode::Container)
    }
    /// The ttl of a TTL mode (unchecked), `None` for the other modes.
    pub fn ttl_ms(self) -> Option<i64> {
        match self {
            CreateMode::PersistentWithTtl { ttl_ms }
            | CreateMode::PersistentSequentialWithTtl { ttl_ms } => Some(ttl_ms),
            _ => None,
        }
    }
}

/// ZooKeeper's `Stat`, field for field, with ZooKeeper's types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    /// zxid of the create.
    pub czxid: i64,
    /// zxid of the last data change (or the create).
    pub mzxid: i64,
    /// Create time, ms since the epoch (leader's clock at proposal).
    pub ctime: i64,
    /// Last data change time, ms since the epoch.
    pub mtime: i64,
    /// Number of data changes.
    pub version: i32,
    /// Number of child creates + deletes.
    pub cversion: i32,
    /// Number of ACL changes.
    pub aversion: i32,
    /// Owning session for ephemerals, 0 for persistent nodes; containers and TTL nodes carry
    /// ZooKeeper's markers (see [`crate::node_kind::NodeKind`]).
    pub ephemeral_owner: i64,
    /// Length of the data in bytes.
    pub data_length: i32,
    /// Number of children.
    pub num_children: i32,
    /// zxid of the last child create/delete (or the create).
    pub pzxid: i64,
}

/// One operation of a `multi`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MultiOp {
    Create {
        path: String,
        data: Data,
        mode: CreateMode,
        /// The new node's ACL (see [`crate::acl::fixup`]); clients default to `world:anyone:cdrwa`.
        acl: Vec<Acl>,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Data,
        version: i32,
    },
    /// Succeeds iff the node exists and (version == -1 or its version equals `version`).
    Check {
        path: String,
        version: i32,
    },
}

impl MultiOp {
    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create { path, .. }
            | MultiOp::Delete { path, .. }
            | MultiOp::SetData { path, .. }
            | MultiOp::Check { path, .. } => path,
        }
    }
}

/// One read of a `multiRead` (ZooKeeper 3.9's `Op.getData` / `Op.getChildren`; `exists` and the
/// other reads are not allowed, as ZooKeeper's FinalRequestProcessor). It leaves no watch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadOp {
    GetData { path: String },
    GetChildren { path: String },
}

impl ReadOp {
    pub fn path(&self) -> &str {
        match self {
            ReadOp::GetData { path } | ReadOp::GetChildren { path } => path,
        }
    }
}

/// The result of one `multiRead` op: its answer, or its own error (one op failing does not fail
/// the others, unlike `multi`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadResult {
    GetData {
        data: Data,
        stat: Stat,
    },
    /// Children names (unsorted) and the parent's Stat (ZooKeeper's `GetChildrenResult` has only
    /// the names; Paddock's getChildren always carries the Stat).
    GetChildren {
        children: Vec<String>,
        stat: Stat,
    },
    /// The op's code: NoNode, NoAuth, BadArguments (an invalid path).
    Error(ErrorCode),
}

/// A client request as the server sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    Create {
        path: String,
        data: Data,
        mode: CreateMode,
        /// The new node's ACL (see [`crate::acl::fixup`]); clients default to `world:anyone:cdrwa`.
        acl: Vec<Acl>,
    },
    /// `version` -1 matches any version.
    Delete {
        path: String,
        version: i32,
    },
    /// `version` -1 matches any version.
    SetData {
        path: String,
        data: Data,
        version: i32,
    },
    Exists {
        path: String,
        watch: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    GetChildren {
        path: String,
        watch: bool,
    },
    /// Returns once every write committed before the sync reached the server is applied there.
    Sync {
        path: String,
    },
    Multi(Vec<MultiOp>),
    /// A node's ACL and Stat (needs READ or ADMIN; digest hashes are hidden without ADMIN).
    GetAcl {
        path: String,
    },
    /// Replaces a node's ACL; `version` (-1 = any) is checked against `Stat.aversion`.
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    /// Adds an identity to the session (`digest` with `user:password`, `ip`, `x509`). A failure
    /// is `AuthFailed` and ends the session.
    AddAuth {
        scheme: String,
        auth: Bytes,
    },
    /// The ids the session is authenticated as (ZooKeeper 3.7's `whoAmI`).
    WhoAmI,
    /// Keeps the session alive.
    Ping,
    /// Ends the session: its ephemerals are deleted in the same transaction.
    CloseSession,
    /// The calling session's own ephemeral nodes whose path starts with `prefix` (a plain string
    /// prefix, as ZooKeeper 3.9's `getEphemerals`: `/a` also matches `/ab`; `/` matches all).
    /// Needs no permission.
    GetEphemerals {
        prefix: String,
    },
    /// The number of `path`'s descendants (children, grandchildren, ...; not `path` itself), as
    /// ZooKeeper's `getAllChildrenNumber`. Needs READ on `path`.
    GetAllChildrenNumber {
        path: String,
    },
    /// Several reads executed together against one state of the tree (one zxid), each with its
    /// own result or error (ZooKeeper 3.9's `multiRead`). Each op needs READ on its node, as the
    /// single read; no op leaves a watch.
    MultiRead(Vec<ReadOp>),
    /// Sets a persistent (or persistent recursive) watch on `path` for the session (ZooKeeper
    /// 3.6's `addWatch`): it is not removed when it fires. The node need not exist; no permission
    /// is checked, as ZooKeeper. Adding it again is a no-op.
    AddWatch {
        path: String,
        mode: AddWatchMode,
    },
    /// Removes the session's watches of `kind` on `path` (ZooKeeper's `removeWatches`);
    /// `NoWatcher` if it has none there.
    RemoveWatches {
        path: String,
        kind: WatcherType,
    },
    /// Whether the session has a watch of `kind` on `path` (ZooKeeper's `checkWatches`): `Ok`,
    /// or `NoWatcher`. Changes nothing.
    CheckWatches {
        path: String,
        kind: WatcherType,
    },
    /// The ensemble's configuration, as `/zookeeper/config`'s data and Stat (ZooKeeper's
    /// `getConfig`); `watch` leaves a data watch on `/zookeeper/config`. Needs READ there.
    GetConfig {
        watch: bool,
    },
    /// Changes the ensemble's membership (ZooKeeper's `reconfig`): incremental (`joining`,
    /// `leaving`) or a whole new membership (`members`), as [`crate::dynamic::ReconfigOps`].
    /// Lines are `server.N=host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]`
    /// (the `server.` prefix optional). `from_version` -1, or the configuration version the
    /// change is meant for (BADVERSION when another is in force). Needs `reconfigEnabled`
    /// (RECONFIGDISABLED) and the super user, or `skipACL` (NOAUTH); an ensemble only
    /// (UNIMPLEMENTED standalone). Answered with the new configuration, as `GetConfig`.
    Reconfig {
        joining: Vec<String>,
        leaving: Vec<u64>,
        members: Vec<String>,
        from_version: i64,
    },
    /// Sets again, after a reconnect, the watches a client still holds (ZooKeeper's
    /// `SetWatches` / `SetWatches2`, sent by ZooKeeper's own clients after the handshake):
    /// checked against the tree with `relative_zxid` (the client's last zxid) as on connect (see
    /// `DataTree::set_watches`). The answer carries the events of watches whose node changed
    /// meanwhile; they are delivered before the answer.
    SetWatches {
        relative_zxid: Zxid,
        watches: SetWatches,
    },
}

impl Request {
    /// True for requests that change state and so become transactions.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create { .. }
                | Request::Delete { .. }
                | Request::SetData { .. }
                | Request::Multi(_)
                | Request::SetAcl { .. }
                | Request::AddAuth { .. }
                | Request::CloseSession
                | Request::Reconfig { .. }
        )
    }

    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Create { .. } => "create",
            Request::Delete { .. } => "delete",
            Request::SetData { .. } => "setData",
            Request::Exists { .. } => "exists",
            Request::GetData { .. } => "getData",
            Request::GetChildren { .. } => "getChildren",
            Request::Sync { .. } => "sync",
            Request::Multi(_) => "multi",
            Request::GetAcl { .. } => "getACL",
            Request::SetAcl { .. } => "setACL",
            Request::AddAuth { .. } => "addAuth",
            Request::WhoAmI => "whoAmI",
            Request::Ping => "ping",
            Request::CloseSession => "closeSession",
            Request::GetEphemerals { .. } => "getEphemerals",
            Request::GetAllChildrenNumber { .. } => "getAllChildrenNumber",
            Request::MultiRead(_) => "multiRead",
            Request::AddWatch { .. } => "addWatch",
            Request::RemoveWatches { .. } => "removeWatches",
            Request::CheckWatches { .. } => "checkWatches",
            Request::GetConfig { .. } => "getConfig",
            Request::SetWatches { .. } => "setWatches",
            Request::Reconfig { .. } => "reconfig",
        }
    }
}

/// The result of one `multi` operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    Create {
        path: String,
        stat: Stat,
    },
    Delete,
    SetData {
        stat: Stat,
    },
    Check,
    /// ZooKeeper's error result: the failing op's code; `Ok` for ops before it, `RuntimeInconsistency`
    /// for ops after it.
    Error(ErrorCode),
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The actual path (with the sequence suffix for sequential nodes) and the new node's Stat.
    Create {
        path: String,
        stat: Stat,
    },
    Delete,
    SetData {
        stat: Stat,
    },
    /// `None` when the node does not exist (not an error for exists).
    Exists {
        stat: Option<Stat>,
    },
    GetData {
        data: Data,
        stat: Stat,
    },
    /// Children names (unsorted, as ZooKeeper) and the parent's Stat.
    GetChildren {
        children: Vec<String>,
        stat: Stat,
    },
    Sync {
        path: String,
    },
    /// One result per op. A failed multi is answered as an error whose details carry these.
    Multi(Vec<OpResult>),
    /// The ACL as stored (or with digest hashes hidden, see `Request::GetAcl`) and the Stat.
    GetAcl {
        acl: Vec<Acl>,
        stat: Stat,
    },
    SetAcl {
        stat: Stat,
    },
    AddAuth,
    WhoAmI {
        ids: Vec<Id>,
    },
    Ping,
    CloseSession,
    /// A session was opened (answer to the CreateSession transaction).
    CreateSession {
        session: SessionId,
        timeout_ms: i32,
    },
    /// Full paths of the session's matching ephemeral nodes, sorted.
    GetEphemerals {
        paths: Vec<String>,
    },
    /// The number of descendants.
    GetAllChildrenNumber {
        number: i32,
    },
    /// One result per op of a `MultiRead`, in op order; a failed op is `ReadResult::Error` and the
    /// answer as a whole still succeeds.
    MultiRead(Vec<ReadResult>),
    AddWatch,
    RemoveWatches,
    CheckWatches,
    /// `/zookeeper/config`'s data (the ensemble's configuration) and Stat.
    GetConfig {
        data: Bytes,
        stat: Stat,
    },
    /// The configuration a `Reconfig` installed: `/zookeeper/config`'s new data and Stat.
    Reconfig {
        data: Bytes,
        stat: Stat,
    },
    /// The watches were set again; `events` are those that fired at once (their node changed
    /// after the client's zxid), to be delivered to the client before this answer.
    SetWatches {
        events: Vec<WatchedEvent>,
    },
}

impl Response {
    /// For a `Multi` answer: the code of the op that failed, if one did (ZooKeeper reports a failed
    /// multi as that error, with the per-op results attached).
    pub fn multi_failure(&self) -> Option<ErrorCode> {
        match self {
            Response::Multi(results) => results.iter().find_map(|r| match r {
                OpResult::Error(c)
                    if *c != ErrorCode::Ok && *c != ErrorCode::RuntimeInconsistency =>
                {
                    Some(*c)
                }
                _ => None,
            }),
            _ => None,
        }
    }
}

/// ZooKeeper's `Watcher.Event.EventType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(i32)]
pub enum EventType {
    None = -1,
    NodeCreated = 1,
    NodeDeleted = 2,
    NodeDataChanged = 3,
    NodeChildrenChanged = 4,
    /// A data (or exist) watch was removed by `removeWatches` (delivered by client libraries to
    /// the removed watcher, as ZooKeeper's client does; the server never sends it).
    DataWatchRemoved = 5,
    /// A child watch was removed by `removeWatches` (client-side, as `DataWatchRemoved`).
    ChildWatchRemoved = 6,
    /// A persistent or persistent recursive watch was removed (client-side, as `DataWatchRemoved`).
    PersistentWatchRemoved = 7,
}

impl EventType {
    pub fn name(self) -> &'static str {
        match self {
            EventType::None => "None",
            EventType::NodeCreated => "NodeCreated",
            EventType::NodeDeleted => "NodeDeleted",
            EventType::NodeDataChanged => "NodeDataChanged",
            EventType::NodeChildrenChanged => "NodeChildrenChanged",
            EventType::DataWatchRemoved => "DataWatchRemoved",
            EventType::ChildWatchRemoved => "ChildWatchRemoved",
            EventType::PersistentWatchRemoved => "PersistentWatchRemoved",
        }
    }
}

/// ZooKeeper's `Watcher.Event.KeeperState` (the values Paddock uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(i32)]
pub enum KeeperState {
    Disconnected = 0,
    SyncConnected = 3,
    /// An `AddAuth` failed: the session is over (ZooKeeper's `AuthFailed`).
    AuthFailed = 4,
    /// Connected to a server in read-only mode: reads only (ZooKeeper's `ConnectedReadOnly`).
    ConnectedReadOnly = 5,
    Closed = 7,
    Expired = -112,
}

/// Which kind of watch a read leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WatchKind {
    /// Left by getData and by exists on an existing node: fires NodeDataChanged / NodeDeleted.
    Data,
    /// Left by exists on a missing node: fires NodeCreated (or NodeDataChanged/NodeDeleted if
    /// the node appears and changes before delivery; as ZooKeeper, it lives in the data-watch table).
    Exist,
    /// Left by getChildren: fires NodeChildrenChanged / NodeDeleted.
    Child,
    /// Set by addWatch PERSISTENT: fires every event of its path, stays until removed.
    Persistent,
    /// Set by addWatch PERSISTENT_RECURSIVE: fires NodeCreated / NodeDeleted / NodeDataChanged of
    /// its path and every descendant, stays until removed.
    PersistentRecursive,
}

/// The kind of watch `addWatch` sets (ZooKeeper's `AddWatchMode`, same values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(i32)]
pub enum AddWatchMode {
    /// Fires NodeCreated, NodeDeleted, NodeDataChanged and NodeChildrenChanged for the path
    /// itself, every time, until removed.
    Persistent = 0,
    /// Fires NodeCreated, NodeDeleted and NodeDataChanged for the path and every node below it
    /// (never NodeChildrenChanged), every time, until removed.
    PersistentRecursive = 1,
}

impl AddWatchMode {
    /// ZooKeeper's value (0 or 1).
    pub fn from_i32(v: i32) -> Option<AddWatchMode> {
        match v {
            0 => Some(AddWatchMode::Persistent),
            1 => Some(AddWatchMode::PersistentRecursive),
            _ => None,
        }
    }
}

/// Which watches `removeWatches` / `checkWatches` mean (ZooKeeper's `Watcher.WatcherType`, same
/// values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(i32)]
pub enum WatcherType {
    /// Child watches (getChildren).
    Children = 1,
    /// Data watches (getData, and exists whether or not the node existed).
    Data = 2,
    /// Every watch of the session on the path, of any kind, persistent ones included.
    Any = 3,
    /// The persistent watch (addWatch PERSISTENT).
    Persistent = 4,
    /// The persistent recursive watch (addWatch PERSISTENT_RECURSIVE).
    PersistentRecursive = 5,
}

impl WatcherType {
    /// ZooKeeper's value (1 to 5).
    pub fn from_i32(v: i32) -> Option<WatcherType> {
        match v {
            1 => Some(WatcherType::Children),
            2 => Some(WatcherType::Data),
            3 => Some(WatcherType::Any),
            4 => Some(WatcherType::Persistent),
            5 => Some(WatcherType::PersistentRecursive),
            _ => None,
        }
    }

    /// ZooKeeper's name (`Children`, `Data`, ...), for messages.
    pub fn name(self) -> &'static str {
        match self {
            WatcherType::Children => "Children",
            WatcherType::Data => "Data",
            WatcherType::Any => "Any",
            WatcherType::Persistent => "Persistent",
            WatcherType::PersistentRecursive => "PersistentRecursive",
        }
    }
}

/// The watches a resuming client still holds, by kind (absolute, validated paths): ZooKeeper's
/// `SetWatches2`.
///
/// On connect the server checks each against its tree with `last_zxid_seen` as the relative zxid
/// and either sets it again for the session or, if its node changed meanwhile, queues the event at
/// once on the new connection, before anything else (see `DataTree::set_watches` for the rules).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetWatches {
    /// getData watches, and exists watches on a node that existed.
    pub data: Vec<String>,
    /// exists watches on a node that did not exist.
    pub exist: Vec<String>,
    /// getChildren watches.
    pub child: Vec<String>,
    /// addWatch PERSISTENT watches.
    pub persistent: Vec<String>,
    /// addWatch PERSISTENT_RECURSIVE watches.
    pub persistent_recursive: Vec<String>,
}

impl SetWatches {
    /// No watch at all.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.persistent_recursive.is_empty()
    }

    /// Number of paths listed, all kinds together.
    pub fn len(&self) -> usize {
        self.data.len()
            + self.exist.len()
            + self.child.len()
            + self.persistent.len()
            + self.persistent_recursive.len()
    }
}

/// A watch notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedEvent {
    pub event_type: EventType,
    pub state: KeeperState,
    pub path: String,
    /// The zxid of the change that fired the watch.
    pub zxid: Zxid,
}

/// Who a watch notifies: the session that registered it.
pub type WatcherId = SessionId;

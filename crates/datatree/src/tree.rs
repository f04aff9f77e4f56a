//! `DataTree`: the state plus the last applied zxid and the watches; the crate's front door.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use paddock_types::acl::{self, perms};
use paddock_types::Data;
use paddock_types::{
    validate_path, Acl, AddWatchMode, ErrorCode, EventType, Id, KeeperState, SessionId, SetWatches,
    Stat, Txn, TxnOp, WatchKind, WatchedEvent, WatcherId, WatcherType, ZkError, Zxid,
};

use crate::apply::{self, Triggers};
use crate::digest;
use crate::session::SessionInfo;
use crate::snapshot::{self, SnapshotError, TreeSnapshot};
use crate::state::State;
use crate::watches::WatchManager;

/// The outcome of applying one transaction.
#[derive(Debug)]
pub struct Applied {
    /// The answer for the client that sent the request (every replica computes the same one). A
    /// failed `multi` is `Ok(Response::Multi(..))` carrying the per-op errors; see
    /// `Response::multi_failure`.
    pub result: Result<paddock_types::Response, ZkError>,
    /// Watches this change fired on this server, in order, already removed (one-shot).
    pub events: Vec<(WatcherId, WatchedEvent)>,
}

/// The replicated state machine: znodes, sessions, the last applied zxid, and this server's watches.
///
/// Reads take `&self` and may run in parallel (e.g. under a `RwLock` read guard); a read that
/// leaves a watch registers it under an internal mutex, atomically with the read as long as the
/// caller's lock keeps `apply` (which takes `&mut self`) out. `Clone` is O(1) and shares the nodes,
/// but the clone starts with **no watches** (watches belong to the connected clients of one live
/// tree).
pub struct DataTree {
    state: State,
    last_zxid: Zxid,
    watches: Mutex<WatchManager>,
    /// The most recent changes as watch triggers, for replaying them to a session that resumes
    /// here holding persistent watches (see [`DataTree::set_watches`]).
    changes: RecentChanges,
}

/// The last [`RECENT_CHANGES`] watch triggers (path, event type, zxid) this tree applied.
#[derive(Debug, Default)]
struct RecentChanges {
    list: VecDeque<(Zxid, Box<str>, EventType)>,
    /// Every trigger of a zxid above this one is still in `list` (the zxid of the newest trigger
    /// dropped, or the tree's last zxid when it started recording).
    complete_after: Zxid,
}

/// How many recent triggers a tree keeps (two per ordinary write: ~a second of a busy ensemble's
/// writes; about 1 MB).
pub const RECENT_CHANGES: usize = 16_384;

impl RecentChanges {
    fn starting_at(zxid: Zxid) -> RecentChanges {
        RecentChanges {
            list: VecDeque::new(),
            complete_after: zxid,
        }
    }

    fn push(&mut self, zxid: Zxid, path: String, event_type: EventType) {
        if self.list.len() == RECENT_CHANGES {
            if let Some((dropped, _, _)) = self.list.pop_front() {
                self.complete_after = self.complete_after.max(dropped);
            }
        }
        self.list
            .push_back((zxid, path.into_boxed_str(), event_type));
    }

    /// The triggers of every change after `rel`, oldest first; `None` when some are gone.
    fn after(&self, rel: Zxid) -> Option<impl Iterator<Item = &(Zxid, Box<str>, EventType)>> {
        (rel >= self.complete_after).then(|| self.list.iter().filter(move |(z, _, _)| *z > rel))
    }
}

impl DataTree {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/config`, `/zookeeper/quota`; no sessions;
    /// last zxid `Zxid::ZERO`.
    pub fn new() -> DataTree {
        DataTree::from_parts(State::with_system_nodes(), Zxid::ZERO)
    }

    pub(crate) fn from_parts(state: State, last_zxid: Zxid) -> DataTree {
        DataTree {
            state,
            last_zxid,
            watches: Mutex::new(WatchManager::default()),
            changes: RecentChanges::starting_at(last_zxid),
        }
    }

    pub(crate) fn state(&self) -> &State {
        &self.state
    }

    /// The zxid of the last applied transaction.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// Applies one transaction (see the crate doc for the rules). Never panics on any content.
    ///
    /// A zxid not above [`DataTree::last_zxid`] is refused with `SystemError` and changes nothing.
    /// Otherwise the txn's zxid becomes the last zxid whether or not the operation succeeded.
    pub fn apply(&mut self, txn: &Txn) -> Applied {
        let zxid = txn.header.zxid;
        if zxid <= self.last_zxid {
            let message = format!(
                "out of order: txn zxid {zxid} is not above the last applied {}",
                self.last_zxid
            );
            return Applied {
                result: Err(ZkError::new(ErrorCode::SystemError, message)),
                events: Vec::new(),
            };
        }
        let watches = self
            .watches
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        // Triggers are recorded even when nobody watches: the recent ones are kept for sessions
        // that resume here holding persistent watches.
        let mut triggers = Triggers::new();
        let result = apply::apply_op(&mut self.state, &txn.header, &txn.op, &mut triggers);
        self.last_zxid = zxid;
        let mut events = Vec::new();
        for (path, event_type) in triggers.into_list() {
            watches.trigger(&path, event_type, zxid, &mut events);
            self.changes.push(zxid, path, event_type);
        }
        if matches!(txn.op, TxnOp::CloseSession) {
            // The session is gone everywhere; so are the watches it left on this server.
            watches.remove_watcher(txn.header.session);
        }
        Applied { result, events }
    }

    fn watches(&self) -> MutexGuard<'_, WatchManager> {
        // A panic while holding the lock cannot leave the manager half-updated in a way that
        // matters more than losing the server, so keep going with what is there.
        self.watches.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn watch(&self, path: &str, kind: WatchKind, watcher: Option<WatcherId>) {
        if let Some(w) = watcher {
            self.watches().add(path, kind, w);
        }
    }

    /// A node's data and stat; with `watch`, leaves a data watch (only if the node exists).
    pub fn get_data(&self, path: &str, watch: Option<WatcherId>) -> Result<(Data, Stat), ZkError> {
        let record = self.state.node(path).ok_or_else(|| no_node(path))?;
        self.watch(path, WatchKind::Data, watch);
        Ok((record.data_value(), record.full_stat()))
    }

    /// A node's stat, or `None`; with `watch`, leaves a data watch if the node exists and an
    /// exist watch (fires on creation) if it does not.
    pub fn exists(&self, path: &str, watch: Option<WatcherId>) -> Option<Stat> {
        match self.state.node(path) {
            Some(record) => {
                self.watch(path, WatchKind::Data, watch);
                Some(record.full_stat())
            }
            None => {
                // A watch on a path that can never exist would only leak until the session ends.
                if watch.is_some() && validate_path(path, false).is_ok() {
                    self.watch(path, WatchKind::Exist, watch);
                }
                None
            }
        }
    }

    /// A node's children names (in no promised order) and its own stat; with `watch`, leaves a
    /// child watch (only if the node exists).
    pub fn get_children(
        &self,
        path: &str,
        watch: Option<WatcherId>,
    ) -> Result<(Vec<String>, Stat), ZkError> {
        let record = self.state.node(path).ok_or_else(|| no_node(path))?;
        let children: Vec<String> = self.state.children(path).map(String::from).collect();
        self.watch(path, WatchKind::Child, watch);
        Ok((children, record.full_stat()))
    }

    /// The number of `path`'s descendants (children, grandchildren, ...; `path` itself not
    /// counted), ZooKeeper's `getAllChildrenNumber`: for `/`, every node but the root (the
    /// `/zookeeper` nodes included). `NoNode` if `path` is missing. Counts without copying keys,
    /// in time linear in the answer.
    pub fn all_children_number(&self, path: &str) -> Result<usize, ZkError> {
        self.state.node(path).ok_or_else(|| no_node(path))?;
        Ok(self.state.descendant_count(path))
    }

    /// ZooKeeper's read-side `checkACL`: `NoNode` if `path` is missing, `NoAuth` unless the
    /// caller (`session`'s `AddAuth` ids plus `conn_ids`, its connection's) is granted one of the
    /// bits of `perm` on it. Call before a read that should be checked; nothing is registered.
    pub fn access(
        &self,
        path: &str,
        perm: i32,
        session: SessionId,
        conn_ids: &[Id],
    ) -> Result<(), ZkError> {
        let record = self.state.node(path).ok_or_else(|| no_node(path))?;
        apply::permit(
            &self.state,
            session,
            conn_ids,
            record.stat().acl,
            perm,
            path,
        )
    }

    /// A node's ACL and Stat, as ZooKeeper's getACL: needs READ or ADMIN; without ADMIN the
    /// digest hashes are shown as `x`.
    pub fn get_acl(
        &self,
        path: &str,
        session: SessionId,
        conn_ids: &[Id],
    ) -> Result<(Vec<Acl>, Stat), ZkError> {
        let record = self.state.node(path).ok_or_else(|| no_node(path))?;
        let stat = record.stat();
        let (st, r) = (&self.state, stat.acl);
        apply::permit(st, session, conn_ids, r, perms::READ | perms::ADMIN, path)?;
        let list = self
            .state
            .acls
            .get(r)
            .map(|l| l.to_vec())
            .unwrap_or_default();
        let list = match apply::permit(st, session, conn_ids, r, perms::ADMIN, path) {
            Ok(()) => list,
            Err(_) => acl::redact_digests(&list),
        };
        Ok((list, record.full_stat()))
    }

    /// The ids a session authenticated as with `AddAuth` (empty for unknown sessions).
    pub fn session_auth(&self, session: SessionId) -> Vec<Id> {
        self.state
            .sessions
            .get(&session)
            .map(|e| e.auth.clone())
            .unwrap_or_default()
    }

    /// Number of distinct ACL lists stored, not counting `world:anyone:cdrwa`.
    pub fn acl_count(&self) -> usize {
        self.state.acls.len()
    }

    /// Sets a persistent or persistent recursive watch on `path` for `watcher` (ZooKeeper's
    /// `addWatch`; the node need not exist). Setting it again is a no-op.
    pub fn add_watch(&self, path: &str, mode: AddWatchMode, watcher: WatcherId) {
        let kind = match mode {
            AddWatchMode::Persistent => WatchKind::Persistent,
            AddWatchMode::PersistentRecursive => WatchKind::PersistentRecursive,
        };
        self.watches().add(path, kind, watcher);
    }

    /// Removes `watcher`'s watches of `kind` on `path` (ZooKeeper's `removeWatches`); returns
    /// the kinds removed, or `NoWatcher` if it had none there.
    pub fn remove_watches(
        &self,
        path: &str,
        kind: WatcherType,
        watcher: WatcherId,
    ) -> Result<Vec<WatchKind>, ZkError> {
        let removed = self.watches().remove(path, kind, watcher);
        if removed.is_empty() {
            return Err(no_watcher(path, kind));
        }
        Ok(removed)
    }

    /// `Ok` if `watcher` has a watch of `kind` on `path`, else `NoWatcher` (ZooKeeper's
    /// `checkWatches`).
    pub fn check_watches(
        &self,
        path: &str,
        kind: WatcherType,
        watcher: WatcherId,
    ) -> Result<(), ZkError> {
        if self.watches().contains(path, kind, watcher) {
            Ok(())
        } else {
            Err(no_watcher(path, kind))
        }
    }

    /// Re-registers the watches a client still holds after moving to this server (ZooKeeper's
    /// `SetWatches2`), firing at once those whose node changed after `rel_zxid`, the last zxid
    /// the client saw. One-shot watches, as ZooKeeper's `DataTree.setWatches`:
    ///
    /// ```text
    ///   data  watch: node gone -> NodeDeleted;  mzxid > rel_zxid -> NodeDataChanged;      else set
    ///   exist watch: node there -> NodeCreated;                                           else set
    ///   child watch: node gone -> NodeDeleted;  pzxid > rel_zxid -> NodeChildrenChanged;  else set
    /// ```
    ///
    /// A one-shot watch that fires is not registered. These events come out in list order (data,
    /// then exist, then child), with one event per (path, type): a data and a child watch on a
    /// deleted node give one `NodeDeleted`, as watches of one session merge everywhere else. Each
    /// carries the zxid of the change when the node has it (mzxid, czxid, pzxid), else the tree's
    /// last zxid. An exist watch on a path that cannot be a znode is dropped, as in
    /// [`DataTree::exists`].
    ///
    /// Persistent and persistent recursive watches are always set again. Beyond ZooKeeper (which
    /// drops what they missed), the changes they missed are replayed after the one-shot events:
    /// one event per change after `rel_zxid` that they match, in zxid order, from the tree's
    /// recent triggers — when those reach back to `rel_zxid` (the last [`RECENT_CHANGES`]
    /// triggers); otherwise nothing is replayed (as ZooKeeper) and `missed` is set. A one-shot
    /// event whose (path, type) a replayed one repeats is left out: the replay is exact.
    ///
    /// Takes `&self` like the reads: atomic with respect to `apply` as long as the caller's lock
    /// keeps `apply` out until the returned events are queued for the client.
    pub fn set_watches(
        &self,
        watcher: WatcherId,
        rel_zxid: Zxid,
        lists: &SetWatches,
    ) -> ResumedWatches {
        let mut events: Vec<WatchedEvent> = Vec::new();
        let mut watches = self.watches();
        let mut fire = |path: &str, event_type: EventType, zxid: i64| {
            if !events
                .iter()
                .any(|e| e.path == path && e.event_type == event_type)
            {
                events.push(event(
                    path,
                    event_type,
                    Zxid(u64::try_from(zxid).unwrap_or(0)),
                ));
            }
        };
        let last = self.last_zxid.as_i64();
        let rel = rel_zxid.as_i64();
        for path in &lists.data {
            match self.state.node(path).map(|r| r.stat()) {
                None => fire(path, EventType::NodeDeleted, last),
                Some(st) if st.mzxid > rel => fire(path, EventType::NodeDataChanged, st.mzxid),
                Some(_) => watches.add(path, WatchKind::Data, watcher),
            }
        }
        for path in &lists.exist {
            match self.state.node(path).map(|r| r.stat()) {
                Some(st) => fire(path, EventType::NodeCreated, st.czxid),
                None if validate_path(path, false).is_ok() => {
                    watches.add(path, WatchKind::Exist, watcher)
                }
                None => {}
            }
        }
        for path in &lists.child {
            match self.state.node(path).map(|r| r.stat()) {
                None => fire(path, EventType::NodeDeleted, last),
                Some(st) if st.pzxid > rel => fire(path, EventType::NodeChildrenChanged, st.pzxid),
                Some(_) => watches.add(path, WatchKind::Child, watcher),
            }
        }
        let mut missed = false;
        if !lists.persistent.is_empty() || !lists.persistent_recursive.is_empty() {
            for path in &lists.persistent {
                watches.add(path, WatchKind::Persistent, watcher);
            }
            for path in &lists.persistent_recursive {
                watches.add(path, WatchKind::PersistentRecursive, watcher);
            }
            match self.changes.after(rel_zxid) {
                Some(changes) => {
                    let replayed: Vec<WatchedEvent> = changes
                        .filter(|(_, path, t)| watches.persistent_match(path, *t, watcher))
                        .map(|(z, path, t)| event(path, *t, *z))
                        .collect();
                    events.retain(|e| {
                        !replayed
                            .iter()
                            .any(|r| r.path == e.path && r.event_type == e.event_type)
                    });
                    events.extend(replayed);
                }
                None => missed = rel_zxid < self.last_zxid,
            }
        }
        ResumedWatches { events, missed }
    }

    /// Drops every watch `watcher` left (its session closed or moved away from this server).
    pub fn remove_watcher(&self, watcher: WatcherId) {
        self.watches().remove_watcher(watcher);
    }

    /// Number of (path, kind, watcher) registrations (ZooKeeper's `watch_count`).
    pub fn watch_count(&self) -> usize {
        self.watches().count()
    }

    /// Every watch as (watcher, path, kind), sorted; exist watches are reported as `Data` (they
    /// share ZooKeeper's data-watch table). For admin listings (`wchc`, `wchp`).
    pub fn watches_list(&self) -> Vec<(WatcherId, String, WatchKind)> {
        self.watches().list()
    }

    /// Number of znodes, including `/` and the `/zookeeper` nodes (ZooKeeper's `znode_count`).
    pub fn node_count(&self) -> usize {
        self.state.nodes.len()
    }

    /// Sum over znodes of path length + data length (ZooKeeper's `approximate_data_size`).
    pub fn approximate_data_size(&self) -> u64 {
        self.state.approx_data_size()
    }

    /// An open session's info.
    pub fn session(&self, id: SessionId) -> Option<SessionInfo> {
        self.state.sessions.get(&id).map(|e| e.info)
    }

    /// Every open session, by ascending id.
    pub fn sessions(&self) -> Vec<(SessionId, SessionInfo)> {
        self.state
            .sessions
            .iter()
            .map(|(id, e)| (*id, e.info))
            .collect()
    }

    /// Paths of the ephemeral nodes a session owns (sorted by parent, then name).
    pub fn ephemerals(&self, id: SessionId) -> Vec<String> {
        self.state
            .sessions
            .get(&id)
            .map(|e| e.ephemerals.iter().map(|k| k.path()).collect())
            .unwrap_or_default()
    }

    /// Paths of the ephemeral nodes a session owns that start with `prefix` (a plain string
    /// prefix, as ZooKeeper's `getEphemerals`: `/a` matches `/a/x` and `/ab`; `/` matches all),
    /// sorted by path. Empty for an unknown session.
    pub fn ephemerals_with_prefix(&self, id: SessionId, prefix: &str) -> Vec<String> {
        let mut paths: Vec<String> = self
            .state
            .sessions
            .get(&id)
            .map(|e| {
                e.ephemerals
                    .iter()
                    .map(|k| k.path())
                    .filter(|p| p.starts_with(prefix))
                    .collect()
            })
            .unwrap_or_default();
        paths.sort_unstable();
        paths
    }

    /// An O(1) frozen copy of nodes, sessions and last zxid (no watches), to write out while this
    /// tree keeps applying.
    pub fn snapshot(&self) -> TreeSnapshot {
        TreeSnapshot::new(self.state.clone(), self.last_zxid)
    }

    /// Rebuilds a tree from bytes made by [`TreeSnapshot::write_to`]. Garbage, truncated or
    /// inconsistent input is an error (never a panic, never an allocation sized by an unchecked
    /// length field). The reader is consumed through a buffer and may be read past the snapshot.
    pub fn read_snapshot(r: &mut dyn std::io::Read) -> Result<DataTree, SnapshotError> {
        snapshot::read(r)
    }

    /// A deterministic 64-bit hash of every node (path, data, stat) and session (id, timeout,
    /// password), equal on replicas in the same state. O(size of the tree).
    pub fn digest(&self) -> u64 {
        digest::digest(&self.state)
    }
}

fn no_node(path: &str) -> ZkError {
    ZkError::new(ErrorCode::NoNode, format!("no node {path}"))
}

impl Default for DataTree {
    fn default() -> DataTree {
        DataTree::new()
    }
}

/// What [`DataTree::set_watches`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResumedWatches {
    /// The events to send at once, in order.
    pub events: Vec<WatchedEvent>,
    /// Persistent watches may have missed changes that could not be replayed (they happened
    /// before the tree's recent triggers reach back).
    pub missed: bool,
}

fn event(path: &str, event_type: EventType, zxid: Zxid) -> WatchedEvent {
    WatchedEvent {
        event_type,
        state: KeeperState::SyncConnected,
        path: path.to_string(),
        zxid,
    }
}

fn no_watcher(path: &str, kind: WatcherType) -> ZkError {
    ZkError::new(
        ErrorCode::NoWatcher,
        format!("{path} (type: {})", kind.name()),
    )
}

impl Clone for DataTree {
    /// Shares nodes and sessions (O(1)); the clone has no watches.
    fn clone(&self) -> DataTree {
        DataTree::from_parts(self.state.clone(), self.last_zxid)
    }
}

impl fmt::Debug for DataTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataTree")
            .field("last_zxid", &self.last_zxid)
            .field("nodes", &self.node_count())
            .field("sessions", &self.state.sessions.len())
            .field("watches", &self.watch_count())
            .finish()
    }
}

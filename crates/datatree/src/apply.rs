//! The rules: how one transaction changes the state (ZooKeeper's, see the crate doc).
//!
//! Every function here validates against the current state *before* changing anything, so an
//! error always leaves the state untouched; `multi` additionally restores a backup when a later
//! op fails. Watches are not touched here: the changes that would fire them are recorded as
//! [`Triggers`] and fired by the caller once the outcome is final.

use bytes::Bytes;
use paddock_types::acl::{self, perms, Acl, Id};
use paddock_types::path::CONFIG_NODE;
use paddock_types::path::{self as zkpath, is_read_only};
use paddock_types::txn::RECONFIG_ACCEPTED;
use paddock_types::{
    validate_path, CreateMode, ErrorCode, EventType, MultiOp, NodeKind, OpResult, Response,
    SessionId, Stat, TxnHeader, TxnOp, ZkError,
};
use paddock_types::{Data, DynamicConfig, ReconfigOps};

use crate::key::{self, NodeKey};
use crate::quota;
use crate::record::{NodeRecord, NodeStat};
use crate::session::{SessionEntry, SessionInfo};
use crate::state::State;

/// Node changes that may fire watches, in the order they happened.
pub(crate) struct Triggers {
    list: Vec<(String, EventType)>,
}

impl Triggers {
    pub(crate) fn new() -> Triggers {
        Triggers { list: Vec::new() }
    }

    fn push(&mut self, path: &str, event: EventType) {
        self.list.push((path.to_string(), event));
    }

    pub(crate) fn into_list(self) -> Vec<(String, EventType)> {
        self.list
    }
}

/// Applies one transaction's operation. On `Err` the state is unchanged.
pub(crate) fn apply_op(
    state: &mut State,
    header: &TxnHeader,
    op: &TxnOp,
    triggers: &mut Triggers,
) -> Result<Response, ZkError> {
    match op {
        TxnOp::CreateSession {
            timeout_ms,
            password,
        } => create_session(state, header.session, *timeout_ms, *password),
        TxnOp::CloseSession => {
            close_session(state, header, triggers);
            Ok(Response::CloseSession)
        }
        TxnOp::Create {
            path,
            data,
            mode,
            acl,
        } => create(state, header, path, data, *mode, acl, triggers)
            .map(|(path, stat)| Response::Create { path, stat }),
        TxnOp::Delete { path, version } => {
            delete(state, header, path, *version, triggers).map(|()| Response::Delete)
        }
        TxnOp::SetData {
            path,
            data,
            version,
        } => set_data(state, header, path, data, *version, triggers)
            .map(|stat| Response::SetData { stat }),
        TxnOp::Multi(ops) => Ok(Response::Multi(multi(state, header, ops, triggers))),
        TxnOp::Sync { path } => Ok(Response::Sync { path: path.clone() }),
        TxnOp::MoveSession { .. } => Ok(Response::Ping),
        TxnOp::ResumeSession { timeout_ms, .. } => {
            // A session closed meanwhile stays closed; the resuming server then refuses it.
            if let Some(entry) = state.sessions.get_mut(&header.session) {
                entry.info.timeout_ms = *timeout_ms;
            }
            Ok(Response::Ping)
        }
        TxnOp::SetAcl { path, acl, version } => {
            set_acl(state, header, path, acl, *version).map(|stat| Response::SetAcl { stat })
        }
        TxnOp::AddAuth { ids } => add_auth(state, header.session, ids).map(|()| Response::AddAuth),
        TxnOp::DeleteContainer {
            path,
            czxid,
            version,
            cversion,
        } => {
            let expect = Expected {
                czxid: *czxid,
                version: *version,
                cversion: *cversion,
            };
            delete_container(state, header, path, expect, triggers).map(|()| Response::Delete)
        }
        TxnOp::Reconfig {
            members, verdict, ..
        } => reconfig(state, header, members, *verdict, triggers)
            .map(|(data, stat)| Response::Reconfig { data, stat }),
    }
}

/// A reconfiguration: `/zookeeper/config` becomes the configuration the leader spelled out
/// (`members`), at this zxid as version, firing its data watches (ZooKeeper writes the node the
/// same way). Only what the leader accepted installs anything; what it refused fails with its
/// code; an unvetted change (its leader had `reconfigEnabled` off) with RECONFIGDISABLED. The
/// quorum peers switch membership at the same commit, so this never re-checks anything.
fn reconfig(
    state: &mut State,
    header: &TxnHeader,
    members: &[String],
    verdict: i32,
    triggers: &mut Triggers,
) -> Result<(Bytes, Stat), ZkError> {
    if verdict < 0 {
        let code = ErrorCode::from_code(verdict).unwrap_or(ErrorCode::SystemError);
        return Err(ZkError::new(
            code,
            format!("reconfig refused: {}", code.name()),
        ));
    }
    if verdict != RECONFIG_ACCEPTED {
        return Err(ZkError::new(
            ErrorCode::ReconfigDisabled,
            "the leader did not vet this reconfiguration: is reconfigEnabled=true on every server?",
        ));
    }
    let node_key = key::encode(CONFIG_NODE)
        .ok_or_else(|| ZkError::bad_arguments("no key for /zookeeper/config"))?;
    let mut stat = state
        .node_by_key(&node_key)
        .ok_or_else(|| no_node(CONFIG_NODE))?
        .stat();
    let next = DynamicConfig::new(0, [])
        .reconfigure(
            &ReconfigOps {
                members,
                ..Default::default()
            },
            header.zxid.as_i64() as u64,
        )
        .map_err(|e| ZkError::bad_arguments(format!("reconfig: {e}")))?;
    let data = Bytes::from(next.text());
    stat.version = stat.version.wrapping_add(1);
    stat.mzxid = header.zxid.as_i64();
    stat.mtime = header.time_ms;
    let record = NodeRecord::with_data(&stat, &Data::from(data.clone()));
    let full = record.full_stat();
    state.replace(&node_key, record);
    triggers.push(CONFIG_NODE, EventType::NodeDataChanged);
    Ok((data, full))
}

/// Every id the request's caller holds: the session's `AddAuth` ids, then its connection's.
pub(crate) fn caller_ids(state: &State, session: SessionId, conn_ids: &[Id]) -> Vec<Id> {
    let mut ids = state
        .sessions
        .get(&session)
        .map(|e| e.auth.clone())
        .unwrap_or_default();
    ids.extend(conn_ids.iter().cloned());
    ids
}

/// ZooKeeper's `checkACL` against the ACL behind `acl_ref`: `NoAuth` unless the caller is granted
/// one of the bits of `perm`. The open ACL passes without looking at the caller.
pub(crate) fn permit(
    state: &State,
    session: SessionId,
    conn_ids: &[Id],
    acl_ref: u32,
    perm: i32,
    path: &str,
) -> Result<(), ZkError> {
    if acl_ref == crate::acls::OPEN {
        return Ok(());
    }
    let Some(list) = state.acls.get(acl_ref) else {
        // A reference the table does not know: the tree is inconsistent; refuse rather than open.
        return Err(ZkError::new(
            ErrorCode::SystemError,
            format!("{path}: unknown ACL reference {acl_ref}"),
        ));
    };
    let session_ids = state
        .sessions
        .get(&session)
        .map(|e| e.auth.as_slice())
        .unwrap_or(&[]);
    if acl::allows_any(list, perm, session_ids.iter().chain(conn_ids)) {
        Ok(())
    } else {
        Err(ZkError::new(
            ErrorCode::NoAuth,
            format!("not authorised to {} {path}", perm_name(perm)),
        ))
    }
}

fn perm_name(perm: i32) -> &'static str {
    match perm {
        perms::READ => "read",
        perms::WRITE => "write",
        perms::CREATE => "create children of",
        perms::DELETE => "delete children of",
        perms::ADMIN => "administer",
        _ => "read the ACL of",
    }
}

/// The reference to store for a node created or re-ACLed with `acl` (checked and expanded as
/// ZooKeeper's `fixupACL`); nothing is counted yet.
fn resolve_acl(state: &State, header: &TxnHeader, acl: &[Acl]) -> Result<Vec<Acl>, ZkError> {
    if acl::is_open(acl) {
        return Ok(acl.to_vec());
    }
    acl::fixup(acl, &caller_ids(state, header.session, &header.conn_ids))
}

fn set_acl(
    state: &mut State,
    header: &TxnHeader,
    path: &str,
    acl: &[Acl],
    version: i32,
) -> Result<Stat, ZkError> {
    validate_path(path, false)?;
    let list = resolve_acl(state, header, acl)?;
    let node_key = key::encode(path).ok_or_else(|| no_node(path))?;
    let record = state.node_by_key(&node_key).ok_or_else(|| no_node(path))?;
    let (mut stat, data_len) = (record.stat(), record.data().len());
    permit(
        state,
        header.session,
        &header.conn_ids,
        stat.acl,
        perms::ADMIN,
        path,
    )?;
    if version != -1 && version != stat.aversion {
        return Err(bad_version(path, version, stat.aversion));
    }
    let old = stat.acl;
    stat.acl = state.acls.intern(list);
    state.acls.release(old);
    stat.aversion = stat.aversion.wrapping_add(1);
    let full = stat.to_stat(data_len);
    state.update_stat(&node_key, |s| *s = stat);
    Ok(full)
}

fn add_auth(state: &mut State, session: SessionId, ids: &[Id]) -> Result<(), ZkError> {
    let entry = state.sessions.get_mut(&session).ok_or_else(|| {
        ZkError::new(
            ErrorCode::SessionExpired,
            format!("session {session} is not open"),
        )
    })?;
    for id in ids {
        if !entry.auth.contains(id) {
            entry.auth.push(id.clone());
        }
    }
    Ok(())
}

fn create_session(
    state: &mut State,
    session: SessionId,
    timeout_ms: i32,
    password: [u8; paddock_types::PASSWORD_LEN],
) -> Result<Response, ZkError> {
    if session == SessionId::NONE {
        return Err(ZkError::bad_arguments(
            "session id 0 is reserved for \"no session\"",
        ));
    }
    let info = SessionInfo {
        timeout_ms,
        password,
    };
    match state.sessions.get_mut(&session) {
        // Re-creating a known session only refreshes its info; its ephemerals stay.
        Some(entry) => entry.info = info,
        None => {
            state.sessions.insert(session, SessionEntry::new(info));
        }
    }
    Ok(Response::CreateSession {
        session,
        timeout_ms,
    })
}

/// Deletes every ephemeral of the session (in path-key order), then the session. Unknown
/// sessions are fine: closing is idempotent.
fn close_session(state: &mut State, header: &TxnHeader, triggers: &mut Triggers) {
    let Some(entry) = state.sessions.get(&header.session) else {
        return;
    };
    let owned: Vec<NodeKey> = entry.ephemerals.iter().cloned().collect();
    for key in owned {
        let path = key.path();
        remove_node(state, header, key.as_str(), &path, triggers);
    }
    state.sessions.remove(&header.session);
}

fn no_node(path: &str) -> ZkError {
    ZkError::new(ErrorCode::NoNode, format!("no node {path}"))
}

fn read_only(path: &str) -> ZkError {
    ZkError::bad_arguments(format!(
        "{path} is read-only (the root and /zookeeper are system nodes; only quota nodes under /zookeeper/quota may change)"
    ))
}

fn bad_version(path: &str, expected: i32, actual: i32) -> ZkError {
    ZkError::new(
        ErrorCode::BadVersion,
        format!("bad version for {path}: expected {expected}, node is at {actual}"),
    )
}

/// A path a client may change: valid, and neither the root nor under `/zookeeper` (quota nodes
/// under `/zookeeper/quota` excepted).
fn writable_key(path: &str) -> Result<String, ZkError> {
    validate_path(path, false)?;
    if is_read_only(path) {
        return Err(read_only(path));
    }
    key::encode(path).ok_or_else(|| ZkError::bad_arguments(format!("invalid path {path}")))
}

/// Where a create will put its node, once every check passed.
struct CreateTarget {
    /// The node's path, with the sequence suffix for sequential modes.
    path: String,
    key: String,
    parent_path: String,
    parent_key: String,
}

/// The suffix of a sequential child of a node with Stat `parent`: ZooKeeper's, the number of
/// creates ever made under the parent. Paddock's cversion counts creates and deletes, as the
/// cversion ZooKeeper shows (`2 * creates - children`), so creates = (cversion + children) / 2.
/// The sum is taken modulo 2^32, as the Java ints it mirrors wrap (so the number keeps growing
/// when the cversion wraps past i32::MAX). Records from before this numbering
/// (`legacy_sequence`) used the cversion itself.
fn sequence_number(parent: &NodeStat, legacy_sequence: bool) -> i64 {
    if legacy_sequence {
        return i64::from(parent.cversion);
    }
    let twice = (parent.cversion as u32).wrapping_add(parent.num_children as u32);
    i64::from(twice / 2)
}

/// The create checks, in ZooKeeper's order; nothing is changed.
fn create_target(
    state: &State,
    header: &TxnHeader,
    path: &str,
    mode: CreateMode,
) -> Result<CreateTarget, ZkError> {
    let session = header.session;
    let sequential = mode.is_sequential();
    validate_path(path, sequential)?;
    // A sequential path may end with '/': judge it by a stand-in for the suffix (no '/' in it).
    let probe = if sequential {
        format!("{path}1")
    } else {
        path.to_string()
    };
    if is_read_only(&probe) {
        return Err(read_only(path));
    }
    let parent_path = zkpath::parent(&probe).to_string();
    let parent_key = key::encode(&parent_path).ok_or_else(|| no_node(&parent_path))?;
    let parent = state
        .node_by_key(&parent_key)
        .ok_or_else(|| no_node(&parent_path))?
        .stat();
    permit(
        state,
        session,
        &header.conn_ids,
        parent.acl,
        perms::CREATE,
        &parent_path,
    )?;
    if NodeKind::from_owner(parent.ephemeral_owner).is_ephemeral() {
        let why = format!("{parent_path} is ephemeral and cannot have children");
        return Err(ZkError::new(ErrorCode::NoChildrenForEphemerals, why));
    }
    if mode.is_ephemeral() && !state.sessions.contains_key(&session) {
        let why = format!("session {session} is not open: cannot own an ephemeral");
        return Err(ZkError::new(ErrorCode::SessionExpired, why));
    }
    let actual = if sequential {
        format!(
            "{path}{:010}",
            sequence_number(&parent, header.legacy_sequence)
        )
    } else {
        path.to_string()
    };
    let key = key::encode(&actual).ok_or_else(|| no_node(&actual))?;
    if state.node_by_key(&key).is_some() {
        let why = format!("{actual} already exists");
        return Err(ZkError::new(ErrorCode::NodeExists, why));
    }
    Ok(CreateTarget {
        path: actual,
        key,
        parent_path,
        parent_key,
    })
}

fn create(
    state: &mut State,
    header: &TxnHeader,
    path: &str,
    data: &Data,
    mode: CreateMode,
    acl: &[Acl],
    triggers: &mut Triggers,
) -> Result<(String, Stat), ZkError> {
    validate_path(path, mode.is_sequential())?;
    // The processor checked the ttl already; a txn is checked again as it applies.
    paddock_types::node_kind::validate_ttl(mode)?;
    let acl = resolve_acl(state, header, acl)?;
    let target = create_target(state, header, path, mode)?;
    // Last check: the quota (it also records the usage, so nothing may fail after it).
    quota::charge(state, &target.path, 1, data.len() as i64, header.time_ms)?;
    let zxid = header.zxid.as_i64();
    let stat = NodeStat {
        czxid: zxid,
        mzxid: zxid,
        pzxid: zxid,
        ctime: header.time_ms,
        mtime: header.time_ms,
        ephemeral_owner: NodeKind::of_create(mode, header.session).owner(),
        acl: state.acls.intern(acl),
        ..NodeStat::default()
    };
    let record = NodeRecord::with_data(&stat, data);
    let full = record.full_stat();
    state.insert(NodeKey::from_encoded(target.key), record);
    state.update_stat(&target.parent_key, |p| {
        p.cversion = p.cversion.wrapping_add(1);
        p.pzxid = zxid;
        p.num_children = p.num_children.wrapping_add(1);
    });
    quota::touched(state, &target.path);
    triggers.push(&target.path, EventType::NodeCreated);
    triggers.push(&target.parent_path, EventType::NodeChildrenChanged);
    Ok((target.path, full))
}

fn delete(
    state: &mut State,
    header: &TxnHeader,
    path: &str,
    version: i32,
    triggers: &mut Triggers,
) -> Result<(), ZkError> {
    let node_key = writable_key(path)?;
    // As ZooKeeper: the parent's DELETE permission is checked before the node is looked up.
    let parent_path = zkpath::parent(path);
    if let Some(parent) = key::encode(parent_path).and_then(|k| state.node_by_key(&k)) {
        let acl = parent.stat().acl;
        permit(
            state,
            header.session,
            &header.conn_ids,
            acl,
            perms::DELETE,
            parent_path,
        )?;
    }
    let stat = state
        .node_by_key(&node_key)
        .ok_or_else(|| no_node(path))?
        .stat();
    if version != -1 && version != stat.version {
        return Err(bad_version(path, version, stat.version));
    }
    if stat.num_children > 0 {
        return Err(ZkError::new(
            ErrorCode::NotEmpty,
            format!("{path} has {} children", stat.num_children),
        ));
    }
    remove_node(state, header, &node_key, path, triggers);
    Ok(())
}

/// What the sweeper saw of a node it asks to delete (see `TxnOp::DeleteContainer`).
struct Expected {
    czxid: i64,
    version: i32,
    cversion: i32,
}

/// The sweeper's conditional delete of an empty container or an expired TTL node: made by the
/// server, so no ACL is checked (as ZooKeeper's `deleteContainer`). Anything that changed since
/// the sweep fails it without a change: the node gone or re-created (NoNode), no longer a
/// container / TTL node (BadArguments), data or children changed (BadVersion), a child now
/// (NotEmpty).
fn delete_container(
    state: &mut State,
    header: &TxnHeader,
    path: &str,
    expect: Expected,
    triggers: &mut Triggers,
) -> Result<(), ZkError> {
    let node_key = writable_key(path)?;
    let stat = state
        .node_by_key(&node_key)
        .ok_or_else(|| no_node(path))?
        .stat();
    if stat.czxid != expect.czxid {
        return Err(ZkError::new(
            ErrorCode::NoNode,
            format!("{path} was deleted and created again since the sweep"),
        ));
    }
    match NodeKind::from_owner(stat.ephemeral_owner) {
        NodeKind::Container | NodeKind::Ttl { .. } => {}
        _ => {
            let why = format!("{path} is neither a container nor a TTL node");
            return Err(ZkError::bad_arguments(why));
        }
    }
    if stat.num_children > 0 {
        return Err(ZkError::new(
            ErrorCode::NotEmpty,
            format!("{path} has {} children", stat.num_children),
        ));
    }
    if stat.version != expect.version || stat.cversion != expect.cversion {
        return Err(ZkError::new(
            ErrorCode::BadVersion,
            format!("{path} changed since the sweep"),
        ));
    }
    remove_node(state, header, &node_key, path, triggers);
    Ok(())
}

/// Removes a childless node and updates its parent: the common tail of delete and close-session.
fn remove_node(
    state: &mut State,
    header: &TxnHeader,
    node_key: &str,
    path: &str,
    triggers: &mut Triggers,
) {
    let Some((_, record)) = state.remove(node_key) else {
        return;
    };
    quota::uncharge(state, path, -1, -(record.data().len() as i64));
    quota::touched(state, path);
    let parent_path = zkpath::parent(path);
    if let Some(parent_key) = key::encode(parent_path) {
        let zxid = header.zxid.as_i64();
        state.update_stat(&parent_key, |p| {
            p.cversion = p.cversion.wrapping_add(1);
            p.pzxid = zxid;
            p.num_children = p.num_children.wrapping_sub(1);
        });
    }
    triggers.push(path, EventType::NodeDeleted);
    triggers.push(parent_path, EventType::NodeChildrenChanged);
}

fn set_data(
    state: &mut State,
    header: &TxnHeader,
    path: &str,
    data: &Data,
    version: i32,
    triggers: &mut Triggers,
) -> Result<Stat, ZkError> {
    let node_key = writable_key(path)?;
    let mut stat = state
        .node_by_key(&node_key)
        .ok_or_else(|| no_node(path))?
        .stat();
    permit(
        state,
        header.session,
        &header.conn_ids,
        stat.acl,
        perms::WRITE,
        path,
    )?;
    if version != -1 && version != stat.version {
        return Err(bad_version(path, version, stat.version));
    }
    let old_len = state.node_by_key(&node_key).map_or(0, |r| r.data().len()) as i64;
    let d_bytes = data.len() as i64 - old_len;
    if d_bytes > 0 {
        quota::charge(state, path, 0, d_bytes, header.time_ms)?;
    } else if d_bytes < 0 {
        quota::uncharge(state, path, 0, d_bytes);
    }
    stat.version = stat.version.wrapping_add(1);
    stat.mzxid = header.zxid.as_i64();
    stat.mtime = header.time_ms;
    let record = NodeRecord::with_data(&stat, data);
    let full = record.full_stat();
    state.replace(&node_key, record);
    quota::touched(state, path);
    triggers.push(path, EventType::NodeDataChanged);
    Ok(full)
}

fn check(state: &State, header: &TxnHeader, path: &str, version: i32) -> Result<(), ZkError> {
    validate_path(path, false)?;
    let stat = state.node(path).ok_or_else(|| no_node(path))?.stat();
    permit(
        state,
        header.session,
        &header.conn_ids,
        stat.acl,
        perms::READ,
        path,
    )?;
    if version != -1 && version != stat.version {
        return Err(bad_version(path, version, stat.version));
    }
    Ok(())
}

/// All-or-nothing: on the first failing op the state is restored and nothing fires; the results
/// then follow ZooKeeper (`Ok` before the failure, its code, `RuntimeInconsistency` after).
fn multi(
    state: &mut State,
    header: &TxnHeader,
    ops: &[MultiOp],
    triggers: &mut Triggers,
) -> Vec<OpResult> {
    let backup = state.clone();
    let mut pending = Triggers::new();
    let mut results = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        match multi_op(state, header, op, &mut pending) {
            Ok(result) => results.push(result),
            Err(e) => {
                *state = backup;
                let mut failed = vec![OpResult::Error(ErrorCode::Ok); i];
                failed.push(OpResult::Error(e.code));
                failed.resize(ops.len(), OpResult::Error(ErrorCode::RuntimeInconsistency));
                return failed;
            }
        }
    }
    triggers.list.append(&mut pending.list);
    results
}

fn multi_op(
    state: &mut State,
    header: &TxnHeader,
    op: &MultiOp,
    triggers: &mut Triggers,
) -> Result<OpResult, ZkError> {
    match op {
        MultiOp::Create {
            path,
            data,
            mode,
            acl,
        } => create(state, header, path, data, *mode, acl, triggers)
            .map(|(path, stat)| OpResult::Create { path, stat }),
        MultiOp::Delete { path, version } => {
            delete(state, header, path, *version, triggers).map(|()| OpResult::Delete)
        }
        MultiOp::SetData {
            path,
            data,
            version,
        } => set_data(state, header, path, data, *version, triggers)
            .map(|stat| OpResult::SetData { stat }),
        MultiOp::Check { path, version } => {
            check(state, header, path, *version).map(|()| OpResult::Check)
        }
    }
}

//! Paddock -> wire. Total: every value has a wire form (the one exception, a `CreateSession`
//! answer, is internal to the server and is reported as a `SystemError` response).

use paddock_proto::v1 as pb;
use paddock_types::{
    Acl, CreateMode, ErrorCode, EventType, Id, KeeperState, MultiOp, OpResult, ReadOp, ReadResult,
    Request, Response, Stat, WatchedEvent, ZkError, Zxid,
};

use super::IntoProto;
use crate::backend::{ConnectRequest, Connected, SessionEvent};

/// The handshake answer for a session attached to a stream.
pub fn encode_connected(c: &Connected) -> pb::ConnectResponse {
    pb::ConnectResponse {
        session_id: c.session.0,
        password: c.password.to_vec().into(),
        timeout_ms: c.timeout_ms,
        zxid: c.zxid.as_i64(),
        read_only: c.read_only,
    }
}

/// One item of a session's ordered channel, as the client receives it.
pub fn encode_event(ev: SessionEvent) -> pb::ServerMessage {
    use pb::server_message::Message;
    let message = match ev {
        SessionEvent::Response { xid, zxid, result } => {
            Message::Response(encode_response(xid, zxid, result))
        }
        SessionEvent::Watch(w) => Message::WatchEvent(w.into_proto()),
        SessionEvent::Closed(code) => Message::SessionClosed(pb::SessionClosed {
            error: code.code(),
            message: closed_reason(code).to_string(),
        }),
    };
    pb::ServerMessage {
        message: Some(message),
    }
}

fn closed_reason(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Ok => "session closed",
        ErrorCode::SessionExpired => "session expired",
        ErrorCode::SessionMoved => "session moved to another connection",
        ErrorCode::AuthFailed => "authentication failed: the session is closed",
        _ => "session ended",
    }
}

/// The answer to request `xid`. A failed multi (an `Ok(Multi)` whose results hold an error)
/// carries the failing op's code in `error` *and* the per-op results.
pub fn encode_response(xid: i64, zxid: Zxid, result: Result<Response, ZkError>) -> pb::Response {
    let mut out = pb::Response {
        xid,
        zxid: zxid.as_i64(),
        ..Default::default()
    };
    let outcome = result.and_then(|r| {
        let failure = multi_failure(&r);
        response_result(r).map(|res| (res, failure))
    });
    match outcome {
        Ok((res, failure)) => {
            if let Some((index, code)) = failure {
                out.error = code.code();
                out.error_message = format!("multi failed at op {index}: {code}");
            }
            out.result = Some(res);
        }
        Err(e) => {
            // An error must never read as success on the wire.
            let code = if e.code == ErrorCode::Ok {
                ErrorCode::SystemError
            } else {
                e.code
            };
            out.error = code.code();
            out.error_message = e.message;
        }
    }
    out
}

/// The index and code of the op that failed a multi, if any.
fn multi_failure(r: &Response) -> Option<(usize, ErrorCode)> {
    let code = r.multi_failure()?;
    let Response::Multi(results) = r else {
        return None;
    };
    let index = results
        .iter()
        .position(|op| *op == OpResult::Error(code))
        .unwrap_or_default();
    Some((index, code))
}

fn response_result(r: Response) -> Result<pb::response::Result, ZkError> {
    use pb::response::Result as R;
    Ok(match r {
        Response::Create { path, stat } => R::Create(pb::CreateResponse {
            path,
            stat: Some(stat.into_proto()),
        }),
        Response::Delete => R::Delete(pb::DeleteResponse {}),
        Response::SetData { stat } => R::SetData(pb::SetDataResponse {
            stat: Some(stat.into_proto()),
        }),
        Response::Exists { stat } => R::Exists(pb::ExistsResponse {
            exists: stat.is_some(),
            stat: stat.map(IntoProto::into_proto),
        }),
        Response::GetData { data, stat } => R::GetData(pb::GetDataResponse {
            data: data.into_option(),
            stat: Some(stat.into_proto()),
        }),
        Response::GetChildren { children, stat } => R::GetChildren(pb::GetChildrenResponse {
            children,
            stat: Some(stat.into_proto()),
        }),
        Response::Sync { path } => R::Sync(pb::SyncResponse { path }),
        Response::Multi(results) => R::Multi(pb::MultiResponse {
            results: results.into_iter().map(IntoProto::into_proto).collect(),
        }),
        Response::GetAcl { acl, stat } => R::GetAcl(pb::GetAclResponse {
            acl: acl_list(acl),
            stat: Some(stat.into_proto()),
        }),
        Response::SetAcl { stat } => R::SetAcl(pb::SetAclResponse {
            stat: Some(stat.into_proto()),
        }),
        Response::AddAuth => R::AddAuth(pb::AddAuthResponse {}),
        Response::WhoAmI { ids } => R::WhoAmI(pb::WhoAmIResponse {
            ids: ids.into_iter().map(IntoProto::into_proto).collect(),
        }),
        Response::Ping => R::Ping(pb::PingResponse {}),
        Response::CloseSession => R::CloseSession(pb::CloseSessionResponse {}),
        Response::GetEphemerals { paths } => R::GetEphemerals(pb::GetEphemeralsResponse { paths }),
        Response::GetAllChildrenNumber { number } => {
            R::GetAllChildrenNumber(pb::GetAllChildrenNumberResponse { number })
        }
        Response::AddWatch => R::AddWatch(pb::AddWatchResponse {}),
        Response::RemoveWatches => R::RemoveWatches(pb::RemoveWatchesResponse {}),
        Response::CheckWatches => R::CheckWatches(pb::CheckWatchesResponse {}),
        // The events are sent before the answer by the session stream (`session.rs`).
        Response::SetWatches { .. } => R::SetWatches(pb::SetWatchesResponse {}),
        Response::GetConfig { data, stat } => R::GetConfig(pb::GetConfigResponse {
            data,
            stat: Some(stat.into_proto()),
        }),
        Response::Reconfig { data, stat } => R::Reconfig(pb::ReconfigResponse {
            data,
            stat: Some(stat.into_proto()),
        }),
        Response::MultiRead(results) => R::MultiRead(pb::MultiReadResponse {
            results: results.into_iter().map(IntoProto::into_proto).collect(),
        }),
        Response::CreateSession { .. } => {
            return Err(ZkError::new(
                ErrorCode::SystemError,
                "internal: a CreateSession answer has no client wire form",
            ))
        }
    })
}

/// A request as a client sends it (for clients and tests).
pub fn encode_request(xid: i64, r: Request) -> pb::Request {
    pb::Request {
        xid,
        op: Some(r.into_proto()),
    }
}

impl IntoProto<pb::ConnectRequest> for ConnectRequest {
    fn into_proto(self) -> pb::ConnectRequest {
        let (session_id, password) = match self.resume {
            Some((id, pw)) => (id.0, pw.to_vec().into()),
            None => (0, Default::default()),
        };
        pb::ConnectRequest {
            session_id,
            password,
            timeout_ms: self.timeout_ms,
            last_zxid_seen: self.last_zxid_seen.as_i64(),
            data_watches: self.set_watches.data,
            exist_watches: self.set_watches.exist,
            child_watches: self.set_watches.child,
            persistent_watches: self.set_watches.persistent,
            persistent_recursive_watches: self.set_watches.persistent_recursive,
            read_only: self.read_only,
        }
    }
}

impl IntoProto<pb::request::Op> for Request {
    fn into_proto(self) -> pb::request::Op {
        use pb::request::Op;
        match self {
            Request::Create {
                path,
                data,
                mode,
                acl,
            } => Op::Create(create(path, data, mode, acl)),
            Request::Delete { path, version } => Op::Delete(pb::DeleteRequest { path, version }),
            Request::SetData {
                path,
                data,
                version,
            } => Op::SetData(pb::SetDataRequest {
                path,
                data: data.into_option(),
                version,
            }),
            Request::Exists { path, watch } => Op::Exists(pb::ExistsRequest { path, watch }),
            Request::GetData { path, watch } => Op::GetData(pb::GetDataRequest { path, watch }),
            Request::GetChildren { path, watch } => {
                Op::GetChildren(pb::GetChildrenRequest { path, watch })
            }
            Request::Sync { path } => Op::Sync(pb::SyncRequest { path }),
            Request::Multi(ops) => Op::Multi(pb::MultiRequest {
                ops: ops.into_iter().map(IntoProto::into_proto).collect(),
            }),
            Request::GetAcl { path } => Op::GetAcl(pb::GetAclRequest { path }),
            Request::SetAcl { path, acl, version } => Op::SetAcl(pb::SetAclRequest {
                path,
                acl: acl_list(acl),
                version,
            }),
            Request::AddAuth { scheme, auth } => Op::AddAuth(pb::AddAuthRequest { scheme, auth }),
            Request::WhoAmI => Op::WhoAmI(pb::WhoAmIRequest {}),
            Request::GetConfig { watch } => Op::GetConfig(pb::GetConfigRequest { watch }),
            Request::Reconfig {
                joining,
                leaving,
                members,
                from_version,
            } => Op::Reconfig(pb::ReconfigRequest {
                joining_servers: joining,
                leaving_servers: leaving,
                new_members: members,
                from_config_version: from_version,
            }),
            Request::SetWatches {
                relative_zxid,
                watches,
            } => Op::SetWatches(pb::SetWatchesRequest {
                relative_zxid: relative_zxid.as_i64(),
                data_watches: watches.data,
                exist_watches: watches.exist,
                child_watches: watches.child,
                persistent_watches: watches.persistent,
                persistent_recursive_watches: watches.persistent_recursive,
            }),
            Request::Ping => Op::Ping(pb::PingRequest {}),
            Request::CloseSession => Op::CloseSession(pb::CloseSessionRequest {}),
            Request::GetEphemerals { prefix } => Op::GetEphemerals(pb::GetEphemeralsRequest {
                prefix_path: prefix,
            }),
            Request::GetAllChildrenNumber { path } => {
                Op::GetAllChildrenNumber(pb::GetAllChildrenNumberRequest { path })
            }
            Request::AddWatch { path, mode } => Op::AddWatch(pb::AddWatchRequest {
                path,
                mode: mode as i32,
            }),
            Request::RemoveWatches { path, kind } => Op::RemoveWatches(pb::RemoveWatchesRequest {
                path,
                r#type: kind as i32,
            }),
            Request::CheckWatches { path, kind } => Op::CheckWatches(pb::CheckWatchesRequest {
                path,
                r#type: kind as i32,
            }),
            Request::MultiRead(ops) => Op::MultiRead(pb::MultiReadRequest {
                ops: ops.into_iter().map(IntoProto::into_proto).collect(),
            }),
        }
    }
}

/// The ACL is always sent (set): the wire's "unset" is only a default for clients that predate
/// ACLs, and decodes to the same `Acl::open()` a set world:anyone:cdrwa list does.
fn create(
    path: String,
    data: paddock_types::Data,
    mode: CreateMode,
    acl: Vec<Acl>,
) -> pb::CreateRequest {
    pb::CreateRequest {
        path,
        data: data.into_option(),
        mode: mode.into_proto() as i32,
        acl: Some(pb::AclList {
            acls: acl_list(acl),
        }),
        ttl: mode.ttl_ms().unwrap_or(0),
    }
}

fn acl_list(acl: Vec<Acl>) -> Vec<pb::Acl> {
    acl.into_iter().map(IntoProto::into_proto).collect()
}

impl IntoProto<pb::Acl> for Acl {
    fn into_proto(self) -> pb::Acl {
        pb::Acl {
            perms: self.perms,
            id: Some(self.id.into_proto()),
        }
    }
}

impl IntoProto<pb::Id> for Id {
    fn into_proto(self) -> pb::Id {
        pb::Id {
            scheme: self.scheme,
            id: self.id,
        }
    }
}

impl IntoProto<pb::MultiOp> for MultiOp {
    fn into_proto(self) -> pb::MultiOp {
        use pb::multi_op::Op;
        let op = match self {
            MultiOp::Create {
                path,
                data,
                mode,
                acl,
            } => Op::Create(create(path, data, mode, acl)),
            MultiOp::Delete { path, version } => Op::Delete(pb::DeleteRequest { path, version }),
            MultiOp::SetData {
                path,
                data,
                version,
            } => Op::SetData(pb::SetDataRequest {
                path,
                data: data.into_option(),
                version,
            }),
            MultiOp::Check { path, version } => {
                Op::Check(pb::CheckVersionRequest { path, version })
            }
        };
        pb::MultiOp { op: Some(op) }
    }
}

impl IntoProto<pb::CreateMode> for CreateMode {
    fn into_proto(self) -> pb::CreateMode {
        match self {
            CreateMode::Persistent => pb::CreateMode::Persistent,
            CreateMode::Ephemeral => pb::CreateMode::Ephemeral,
            CreateMode::PersistentSequential => pb::CreateMode::PersistentSequential,
            CreateMode::EphemeralSequential => pb::CreateMode::EphemeralSequential,
            CreateMode::Container => pb::CreateMode::Container,
            CreateMode::PersistentWithTtl { .. } => pb::CreateMode::PersistentWithTtl,
            CreateMode::PersistentSequentialWithTtl { .. } => {
                pb::CreateMode::PersistentSequentialWithTtl
            }
        }
    }
}

impl IntoProto<pb::Stat> for Stat {
    fn into_proto(self) -> pb::Stat {
        pb::Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion,
            aversion: self.aversion,
            ephemeral_owner: self.ephemeral_owner,
            data_length: self.data_length,
            num_children: self.num_children,
            pzxid: self.pzxid,
        }
    }
}

impl IntoProto<pb::OpResult> for OpResult {
    fn into_proto(self) -> pb::OpResult {
        use pb::op_result::Result as R;
        let result = match self {
            OpResult::Create { path, stat } => R::Create(pb::CreateResponse {
                path,
                stat: Some(stat.into_proto()),
            }),
            OpResult::Delete => R::Delete(pb::DeleteResponse {}),
            OpResult::SetData { stat } => R::SetData(pb::SetDataResponse {
                stat: Some(stat.into_proto()),
            }),
            OpResult::Check => R::Check(pb::CheckVersionResponse {}),
            OpResult::Error(code) => R::Error(pb::ErrorResult { error: code.code() }),
        };
        pb::OpResult {
            result: Some(result),
        }
    }
}

/// A multi_read op travels as a `MultiOp` (as ZooKeeper's multiRead shares multi's record), never
/// with a watch.
impl IntoProto<pb::MultiOp> for ReadOp {
    fn into_proto(self) -> pb::MultiOp {
        use pb::multi_op::Op;
        let op = match self {
            ReadOp::GetData { path } => Op::GetData(pb::GetDataRequest { path, watch: false }),
            ReadOp::GetChildren { path } => {
                Op::GetChildren(pb::GetChildrenRequest { path, watch: false })
            }
        };
        pb::MultiOp { op: Some(op) }
    }
}

impl IntoProto<pb::ReadResult> for ReadResult {
    fn into_proto(self) -> pb::ReadResult {
        use pb::read_result::Result as R;
        let result = match self {
            ReadResult::GetData { data, stat } => R::GetData(pb::GetDataResponse {
                data: data.into_option(),
                stat: Some(stat.into_proto()),
            }),
            ReadResult::GetChildren { children, stat } => R::GetChildren(pb::GetChildrenResponse {
                children,
                stat: Some(stat.into_proto()),
            }),
            ReadResult::Error(code) => R::Error(pb::ErrorResult { error: code.code() }),
        };
        pb::ReadResult {
            result: Some(result),
        }
    }
}

impl IntoProto<pb::WatchEvent> for WatchedEvent {
    fn into_proto(self) -> pb::WatchEvent {
        pb::WatchEvent {
            r#type: self.event_type.into_proto() as i32,
            state: self.state.into_proto() as i32,
            path: self.path,
            zxid: self.zxid.as_i64(),
        }
    }
}

impl IntoProto<pb::EventType> for EventType {
    fn into_proto(self) -> pb::EventType {
        match self {
            EventType::None => pb::EventType::None,
            EventType::NodeCreated => pb::EventType::NodeCreated,
            EventType::NodeDeleted => pb::EventType::NodeDeleted,
            EventType::NodeDataChanged => pb::EventType::NodeDataChanged,
            EventType::NodeChildrenChanged => pb::EventType::NodeChildrenChanged,
            EventType::DataWatchRemoved => pb::EventType::DataWatchRemoved,
            EventType::ChildWatchRemoved => pb::EventType::ChildWatchRemoved,
            EventType::PersistentWatchRemoved => pb::EventType::PersistentWatchRemoved,
        }
    }
}

impl IntoProto<pb::KeeperState> for KeeperState {
    fn into_proto(self) -> pb::KeeperState {
        match self {
            KeeperState::Disconnected => pb::KeeperState::Disconnected,
            KeeperState::SyncConnected => pb::KeeperState::SyncConnected,
            KeeperState::AuthFailed => pb::KeeperState::AuthFailed,
            KeeperState::ConnectedReadOnly => pb::KeeperState::ConnectedReadOnly,
            KeeperState::Closed => pb::KeeperState::Closed,
            KeeperState::Expired => pb::KeeperState::Expired,
        }
    }
}

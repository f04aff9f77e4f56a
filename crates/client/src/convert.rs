//! Conversions between the wire (`paddock_proto::v1`) and `paddock_types`.

use paddock_proto::v1 as pb;
use paddock_types::{
    CreateMode, ErrorCode, EventType, KeeperState, MultiOp, OpResult, Stat, WatchedEvent, Zxid,
};

pub(crate) fn stat(s: Option<pb::Stat>) -> Stat {
    let s = s.unwrap_or_default();
    Stat {
        czxid: s.czxid,
        mzxid: s.mzxid,
        ctime: s.ctime,
        mtime: s.mtime,
        version: s.version,
        cversion: s.cversion,
        aversion: s.aversion,
        ephemeral_owner: s.ephemeral_owner,
        data_length: s.data_length,
        num_children: s.num_children,
        pzxid: s.pzxid,
    }
}

pub(crate) fn create_mode(m: CreateMode) -> i32 {
    (match m {
        CreateMode::Persistent => pb::CreateMode::Persistent,
        CreateMode::PersistentSequential => pb::CreateMode::PersistentSequential,
        CreateMode::Ephemeral => pb::CreateMode::Ephemeral,
        CreateMode::EphemeralSequential => pb::CreateMode::EphemeralSequential,
    }) as i32
}

pub(crate) fn multi_op(op: MultiOp) -> pb::MultiOp {
    use pb::multi_op::Op;
    let op = match op {
        MultiOp::Create { path, data, mode } => Op::Create(pb::CreateRequest {
            path,
            data,
            mode: create_mode(mode),
        }),
        MultiOp::Delete { path, version } => Op::Delete(pb::DeleteRequest { path, version }),
        MultiOp::SetData {
            path,
            data,
            version,
        } => Op::SetData(pb::SetDataRequest {
            path,
            data,
            version,
        }),
        MultiOp::Check { path, version } => Op::Check(pb::CheckVersionRequest { path, version }),
    };
    pb::MultiOp { op: Some(op) }
}

fn code(c: i32) -> ErrorCode {
    ErrorCode::from_code(c).unwrap_or(ErrorCode::SystemError)
}

pub(crate) fn op_result(r: pb::OpResult) -> OpResult {
    use pb::op_result::Result as R;
    match r.result {
        Some(R::Create(c)) => OpResult::Create {
            path: c.path,
            stat: stat(c.stat),
        },
        Some(R::Delete(_)) => OpResult::Delete,
        Some(R::SetData(s)) => OpResult::SetData { stat: stat(s.stat) },
        Some(R::Check(_)) => OpResult::Check,
        Some(R::Error(e)) => OpResult::Error(code(e.error)),
        None => OpResult::Error(ErrorCode::MarshallingError),
    }
}

pub(crate) fn event_type(t: i32) -> EventType {
    match pb::EventType::try_from(t) {
        Ok(pb::EventType::NodeCreated) => EventType::NodeCreated,
        Ok(pb::EventType::NodeDeleted) => EventType::NodeDeleted,
        Ok(pb::EventType::NodeDataChanged) => EventType::NodeDataChanged,
        Ok(pb::EventType::NodeChildrenChanged) => EventType::NodeChildrenChanged,
        _ => EventType::None,
    }
}

pub(crate) fn keeper_state(s: i32) -> KeeperState {
    match pb::KeeperState::try_from(s) {
        Ok(pb::KeeperState::Disconnected) => KeeperState::Disconnected,
        Ok(pb::KeeperState::Closed) => KeeperState::Closed,
        Ok(pb::KeeperState::Expired) => KeeperState::Expired,
        _ => KeeperState::SyncConnected,
    }
}

pub(crate) fn watched_event(e: pb::WatchEvent) -> WatchedEvent {
    WatchedEvent {
        event_type: event_type(e.r#type),
        state: keeper_state(e.state),
        path: e.path,
        zxid: Zxid(e.zxid.max(0) as u64),
    }
}

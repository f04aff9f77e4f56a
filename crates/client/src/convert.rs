//! Conversions between the wire (`paddock_proto::v1`) and `paddock_types`.

use paddock_proto::v1 as pb;
use paddock_types::{
    Acl, CreateMode, ErrorCode, EventType, Id, KeeperState, MultiOp, OpResult, ReadOp, ReadResult,
    Stat, WatchedEvent, Zxid,
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
        CreateMode::Container => pb::CreateMode::Container,
        CreateMode::PersistentWithTtl { .. } => pb::CreateMode::PersistentWithTtl,
        CreateMode::PersistentSequentialWithTtl { .. } => {
            pb::CreateMode::PersistentSequentialWithTtl
        }
    }) as i32
}

/// An ACL as the wire carries it.
pub(crate) fn acl_to_wire(acl: Vec<Acl>) -> Vec<pb::Acl> {
    acl.into_iter()
        .map(|a| pb::Acl {
            perms: a.perms,
            id: Some(pb::Id {
                scheme: a.id.scheme,
                id: a.id.id,
            }),
        })
        .collect()
}

/// A create's ACL field: always set (the wire's "unset" means world:anyone:cdrwa, which
/// [`crate::Client::create`] sends by leaving it out).
pub(crate) fn create_acl(acl: Vec<Acl>) -> Option<pb::AclList> {
    Some(pb::AclList {
        acls: acl_to_wire(acl),
    })
}

pub(crate) fn id(i: pb::Id) -> Id {
    Id::new(i.scheme, i.id)
}

/// An ACL from the server. An entry without its id (a broken server) reads as the empty id,
/// which matches nobody.
pub(crate) fn acl(acl: Vec<pb::Acl>) -> Vec<Acl> {
    acl.into_iter()
        .map(|a| Acl::new(a.perms, a.id.map(id).unwrap_or_else(|| Id::new("", ""))))
        .collect()
}

pub(crate) fn multi_op(op: MultiOp) -> pb::MultiOp {
    use pb::multi_op::Op;
    let op = match op {
        MultiOp::Create {
            path,
            data,
            mode,
            acl,
        } => Op::Create(pb::CreateRequest {
            path,
            data: data.into_option(),
            mode: create_mode(mode),
            acl: create_acl(acl),
            ttl: mode.ttl_ms().unwrap_or(0),
        }),
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
        MultiOp::Check { path, version } => Op::Check(pb::CheckVersionRequest { path, version }),
    };
    pb::MultiOp { op: Some(op) }
}

/// A multi_read op: never with a watch (ZooKeeper's read ops carry none).
pub(crate) fn read_op(op: ReadOp) -> pb::MultiOp {
    use pb::multi_op::Op;
    let op = match op {
        ReadOp::GetData { path } => Op::GetData(pb::GetDataRequest { path, watch: false }),
        ReadOp::GetChildren { path } => {
            Op::GetChildren(pb::GetChildrenRequest { path, watch: false })
        }
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

/// One op's result of a multi_read. A result the server left unset (a broken server) reads as
/// MarshallingError, as for a multi.
pub(crate) fn read_result(r: pb::ReadResult) -> ReadResult {
    use pb::read_result::Result as R;
    match r.result {
        Some(R::GetData(g)) => ReadResult::GetData {
            data: g.data.into(),
            stat: stat(g.stat),
        },
        Some(R::GetChildren(c)) => ReadResult::GetChildren {
            children: c.children,
            stat: stat(c.stat),
        },
        Some(R::Error(e)) => ReadResult::Error(code(e.error)),
        None => ReadResult::Error(ErrorCode::MarshallingError),
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
        Ok(pb::KeeperState::AuthFailed) => KeeperState::AuthFailed,
        Ok(pb::KeeperState::ConnectedReadOnly) => KeeperState::ConnectedReadOnly,
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

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_types::acl::perms;

    #[test]
    fn container_and_ttl_modes_carry_zookeepers_numbers_and_the_ttl() {
        assert_eq!(create_mode(CreateMode::Container), 4);
        assert_eq!(create_mode(CreateMode::PersistentWithTtl { ttl_ms: 1 }), 5);
        let seq = CreateMode::PersistentSequentialWithTtl { ttl_ms: 250 };
        assert_eq!(create_mode(seq), 6);
        let op = multi_op(MultiOp::Create {
            path: "/t-".into(),
            data: bytes::Bytes::new().into(),
            mode: seq,
            acl: Acl::open(),
        });
        match op.op {
            Some(pb::multi_op::Op::Create(c)) => assert_eq!((c.mode, c.ttl), (6, 250)),
            other => panic!("{other:?}"),
        }
        let plain = multi_op(MultiOp::Create {
            path: "/p".into(),
            data: bytes::Bytes::new().into(),
            mode: CreateMode::Container,
            acl: Acl::open(),
        });
        assert!(matches!(plain.op, Some(pb::multi_op::Op::Create(c)) if c.ttl == 0));
    }

    #[test]
    fn acls_round_trip_through_the_wire() {
        let list = vec![
            Acl::new(perms::READ, Id::anyone()),
            Acl::new(
                perms::ALL,
                Id::new("digest", "bob:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="),
            ),
            Acl::new(perms::WRITE | perms::ADMIN, Id::new("ip", "10.0.0.0/8")),
        ];
        assert_eq!(acl(acl_to_wire(list.clone())), list);
        let wire = acl_to_wire(vec![Acl::new(perms::READ | perms::CREATE, Id::anyone())]);
        assert_eq!(
            wire[0].perms,
            pb::Permission::Read as i32 | pb::Permission::Create as i32
        );
    }

    /// client.proto CreateRequest.acl: a multi's create always carries its ACL, even empty (so
    /// the server answers INVALIDACL rather than defaulting to open).
    #[test]
    fn multi_create_sends_its_acl_set() {
        let op = |acl: Vec<Acl>| {
            multi_op(MultiOp::Create {
                path: "/a".into(),
                data: Default::default(),
                mode: CreateMode::Persistent,
                acl,
            })
        };
        let Some(pb::multi_op::Op::Create(c)) = op(vec![]).op else {
            panic!("not a create");
        };
        assert_eq!(c.acl, Some(pb::AclList { acls: vec![] }));
        let Some(pb::multi_op::Op::Create(c)) = op(Acl::open()).op else {
            panic!("not a create");
        };
        assert_eq!(c.acl.map(|l| acl(l.acls)), Some(Acl::open()));
    }

    #[test]
    fn keeper_states_keep_zookeepers_numbers() {
        assert_eq!(keeper_state(4), KeeperState::AuthFailed);
        assert_eq!(keeper_state(-112), KeeperState::Expired);
    }
}

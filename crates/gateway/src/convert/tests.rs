//! Round trips for every op and result, and the rules for malformed input.

use bytes::Bytes;
use paddock_proto::v1 as pb;
use paddock_types::acl::perms;
use paddock_types::{
    Acl, AddWatchMode, CreateMode, ErrorCode, EventType, Id, KeeperState, MultiOp, OpResult,
    ReadOp, ReadResult, Request, Response, SessionId, Stat, WatchedEvent, WatcherType, ZkError,
    Zxid,
};

use super::*;
use crate::backend::{ConnectRequest, SessionEvent, SetWatches};

fn stat(seed: i64) -> Stat {
    Stat {
        czxid: seed,
        mzxid: seed + 1,
        ctime: seed + 2,
        mtime: seed + 3,
        version: 4,
        cversion: 5,
        aversion: 6,
        ephemeral_owner: seed + 7,
        data_length: 8,
        num_children: 9,
        pzxid: seed + 10,
    }
}

/// An ACL with one entry of every scheme, as a client may send it (validity is the server's job).
fn mixed_acl() -> Vec<Acl> {
    vec![
        Acl::new(perms::READ, Id::anyone()),
        Acl::new(
            perms::ALL,
            Id::new("digest", "bob:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="),
        ),
        Acl::new(perms::READ | perms::WRITE, Id::new("ip", "10.0.0.0/8")),
        Acl::new(perms::ADMIN, Id::new("x509", "CN=alice")),
        Acl::new(perms::CREATE | perms::DELETE, Id::new("auth", "")),
    ]
}

fn every_request() -> Vec<Request> {
    let data = Bytes::from_static(b"hello");
    let mut v: Vec<Request> = [
        CreateMode::Persistent,
        CreateMode::Ephemeral,
        CreateMode::PersistentSequential,
        CreateMode::EphemeralSequential,
        CreateMode::Container,
        CreateMode::PersistentWithTtl { ttl_ms: 1_000 },
        CreateMode::PersistentSequentialWithTtl {
            ttl_ms: 0xFF_FFFF_FFFF,
        },
        // Carried as sent: the processor answers BADARGUMENTS for it.
        CreateMode::PersistentWithTtl { ttl_ms: -1 },
    ]
    .into_iter()
    .map(|mode| Request::Create {
        path: "/a".into(),
        data: data.clone().into(),
        mode,
        acl: Acl::open(),
    })
    .collect();
    v.extend([
        Request::Create {
            path: "/acl".into(),
            data: data.clone().into(),
            mode: CreateMode::Persistent,
            acl: mixed_acl(),
        },
        // Set but empty: carried to the server, which answers InvalidAcl.
        Request::Create {
            path: "/empty-acl".into(),
            data: data.clone().into(),
            mode: CreateMode::Persistent,
            acl: vec![],
        },
        Request::Delete {
            path: "/a".into(),
            version: -1,
        },
        Request::SetData {
            path: "/a".into(),
            data: data.clone().into(),
            version: 3,
        },
        Request::Exists {
            path: "/a".into(),
            watch: true,
        },
        Request::GetData {
            path: "/a".into(),
            watch: false,
        },
        Request::GetChildren {
            path: "/".into(),
            watch: true,
        },
        Request::Sync { path: "/".into() },
        Request::Multi(vec![
            MultiOp::Create {
                path: "/m".into(),
                data: data.clone().into(),
                mode: CreateMode::EphemeralSequential,
                acl: Acl::open(),
            },
            MultiOp::Create {
                path: "/m2".into(),
                data: data.clone().into(),
                mode: CreateMode::Persistent,
                acl: mixed_acl(),
            },
            MultiOp::Delete {
                path: "/d".into(),
                version: 2,
            },
            MultiOp::SetData {
                path: "/s".into(),
                data: data.into(),
                version: -1,
            },
            MultiOp::Check {
                path: "/c".into(),
                version: 7,
            },
        ]),
        Request::Multi(vec![]),
        Request::GetAcl { path: "/a".into() },
        Request::SetAcl {
            path: "/a".into(),
            acl: mixed_acl(),
            version: 2,
        },
        Request::SetAcl {
            path: "/a".into(),
            acl: vec![],
            version: -1,
        },
        Request::AddAuth {
            scheme: "digest".into(),
            auth: Bytes::from_static(b"bob:secret"),
        },
        Request::WhoAmI,
        Request::Ping,
        Request::CloseSession,
        Request::GetEphemerals { prefix: "/".into() },
        Request::GetEphemerals {
            prefix: "/app/lock".into(),
        },
        Request::GetAllChildrenNumber { path: "/a".into() },
        Request::AddWatch {
            path: "/a".into(),
            mode: AddWatchMode::Persistent,
        },
        Request::AddWatch {
            path: "/".into(),
            mode: AddWatchMode::PersistentRecursive,
        },
        Request::RemoveWatches {
            path: "/a".into(),
            kind: WatcherType::Any,
        },
        Request::RemoveWatches {
            path: "/a".into(),
            kind: WatcherType::PersistentRecursive,
        },
        Request::CheckWatches {
            path: "/a".into(),
            kind: WatcherType::Children,
        },
        Request::GetConfig { watch: false },
        Request::GetConfig { watch: true },
        Request::MultiRead(vec![
            ReadOp::GetData { path: "/a".into() },
            ReadOp::GetChildren { path: "/".into() },
        ]),
        Request::MultiRead(vec![]),
    ]);
    v
}

fn every_response() -> Vec<Response> {
    vec![
        Response::Create {
            path: "/a0000000001".into(),
            stat: stat(10),
        },
        Response::Delete,
        Response::SetData { stat: stat(20) },
        Response::Exists {
            stat: Some(stat(30)),
        },
        Response::Exists { stat: None },
        Response::GetData {
            data: Bytes::from_static(b"\x00\x01binary").into(),
            stat: stat(40),
        },
        Response::GetChildren {
            children: vec!["x".into(), "y".into()],
            stat: stat(50),
        },
        Response::Sync { path: "/".into() },
        Response::Multi(vec![
            OpResult::Create {
                path: "/m".into(),
                stat: stat(60),
            },
            OpResult::Delete,
            OpResult::SetData { stat: stat(70) },
            OpResult::Check,
        ]),
        Response::GetAcl {
            acl: mixed_acl(),
            stat: stat(80),
        },
        Response::GetAcl {
            acl: vec![],
            stat: stat(85),
        },
        Response::SetAcl { stat: stat(90) },
        Response::AddAuth,
        Response::WhoAmI {
            ids: vec![
                Id::new("ip", "127.0.0.1"),
                Id::new("digest", "bob:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="),
            ],
        },
        Response::WhoAmI { ids: vec![] },
        Response::Ping,
        Response::CloseSession,
        Response::GetEphemerals {
            paths: vec!["/a".into(), "/b/c".into()],
        },
        Response::GetEphemerals { paths: vec![] },
        Response::GetAllChildrenNumber { number: 0 },
        Response::GetAllChildrenNumber { number: 42 },
        Response::AddWatch,
        Response::RemoveWatches,
        Response::CheckWatches,
        Response::GetConfig {
            data: Bytes::from_static(b"server.1=h:1:2:participant;h:3\nversion=0"),
            stat: stat(90),
        },
        Response::GetConfig {
            data: Bytes::new(),
            stat: stat(91),
        },
        Response::MultiRead(vec![
            ReadResult::GetData {
                data: Bytes::from_static(b"\x00d").into(),
                stat: stat(100),
            },
            ReadResult::Error(ErrorCode::NoNode),
            ReadResult::GetChildren {
                children: vec!["c".into()],
                stat: stat(110),
            },
            ReadResult::Error(ErrorCode::NoAuth),
            ReadResult::GetChildren {
                children: vec![],
                stat: stat(120),
            },
        ]),
        Response::MultiRead(vec![]),
    ]
}

#[test]
fn every_request_round_trips() {
    for (xid, req) in every_request().into_iter().enumerate() {
        let xid = xid as i64 + 1;
        let wire = encode_request(xid, req.clone());
        assert_eq!(decode_request(wire), (xid, Ok(req)));
    }
}

#[test]
fn every_response_round_trips() {
    for (xid, resp) in every_response().into_iter().enumerate() {
        let ev = SessionEvent::Response {
            xid: xid as i64,
            zxid: Zxid(0x1_0000_0005),
            result: Ok(resp),
        };
        let wire = encode_event(ev.clone());
        assert_eq!(decode_server_message(wire), Ok(ev));
    }
}

#[test]
fn error_responses_round_trip_with_code_and_message() {
    for code in ErrorCode::ALL.into_iter().filter(|c| *c != ErrorCode::Ok) {
        let ev = SessionEvent::Response {
            xid: 9,
            zxid: Zxid(3),
            result: Err(ZkError::new(code, format!("detail for {code}"))),
        };
        let wire = encode_event(ev.clone());
        let Some(pb::server_message::Message::Response(r)) = &wire.message else {
            panic!("not a response: {wire:?}");
        };
        assert_eq!(r.error, code.code());
        assert!(r.result.is_none(), "an error carries no result");
        assert_eq!(decode_server_message(wire), Ok(ev));
    }
}

/// DESIGN §4: a failed multi reports the failing op's code, OK before it, RuntimeInconsistency after.
#[test]
fn failed_multi_carries_failing_code_and_per_op_results() {
    let results = vec![
        OpResult::Error(ErrorCode::Ok),
        OpResult::Error(ErrorCode::NoNode),
        OpResult::Error(ErrorCode::RuntimeInconsistency),
    ];
    let ev = SessionEvent::Response {
        xid: 4,
        zxid: Zxid(8),
        result: Ok(Response::Multi(results.clone())),
    };
    let wire = encode_event(ev.clone());
    let Some(pb::server_message::Message::Response(r)) = &wire.message else {
        panic!("not a response: {wire:?}");
    };
    assert_eq!(r.error, -101);
    assert!(r.error_message.contains("op 1"), "{}", r.error_message);
    let Some(pb::response::Result::Multi(m)) = &r.result else {
        panic!("failed multi must carry its results: {r:?}");
    };
    let codes: Vec<_> = m
        .results
        .iter()
        .map(|o| match &o.result {
            Some(pb::op_result::Result::Error(e)) => e.error,
            other => panic!("not an error result: {other:?}"),
        })
        .collect();
    assert_eq!(codes, vec![0, -101, -2]);
    assert_eq!(decode_server_message(wire), Ok(ev));
}

#[test]
fn create_session_answer_is_not_leaked_as_success() {
    let wire = encode_response(
        1,
        Zxid(1),
        Ok(Response::CreateSession {
            session: SessionId(5),
            timeout_ms: 100,
        }),
    );
    assert_eq!(wire.error, ErrorCode::SystemError.code());
    assert!(wire.result.is_none());
}

#[test]
fn an_error_with_code_ok_is_reported_as_system_error() {
    let wire = encode_response(1, Zxid(1), Err(ZkError::new(ErrorCode::Ok, "odd")));
    assert_eq!(wire.error, ErrorCode::SystemError.code());
}

#[test]
fn every_watch_event_round_trips_with_zookeeper_numbers() {
    let types = [
        EventType::None,
        EventType::NodeCreated,
        EventType::NodeDeleted,
        EventType::NodeDataChanged,
        EventType::NodeChildrenChanged,
    ];
    let states = [
        KeeperState::Disconnected,
        KeeperState::SyncConnected,
        KeeperState::AuthFailed,
        KeeperState::Closed,
        KeeperState::Expired,
    ];
    for event_type in types {
        for state in states {
            let w = WatchedEvent {
                event_type,
                state,
                path: "/w".into(),
                zxid: Zxid(77),
            };
            let wire: pb::WatchEvent = w.clone().into_proto();
            assert_eq!(
                wire.r#type, event_type as i32,
                "proto value = ZooKeeper value"
            );
            assert_eq!(wire.state, state as i32, "proto value = ZooKeeper value");
            assert_eq!(WatchedEvent::from_proto(wire), Ok(w.clone()));
            let ev = SessionEvent::Watch(w);
            assert_eq!(decode_server_message(encode_event(ev.clone())), Ok(ev));
        }
    }
}

#[test]
fn session_closed_round_trips() {
    for code in [
        ErrorCode::Ok,
        ErrorCode::SessionExpired,
        ErrorCode::SessionMoved,
        ErrorCode::AuthFailed,
    ] {
        let wire = encode_event(SessionEvent::Closed(code));
        let Some(pb::server_message::Message::SessionClosed(c)) = &wire.message else {
            panic!("not SessionClosed: {wire:?}");
        };
        assert_eq!(c.error, code.code());
        assert!(!c.message.is_empty());
        assert_eq!(decode_server_message(wire), Ok(SessionEvent::Closed(code)));
    }
}

#[test]
fn create_mode_numbers_are_zookeepers() {
    let modes = [
        (CreateMode::Persistent, 0),
        (CreateMode::Ephemeral, 1),
        (CreateMode::PersistentSequential, 2),
        (CreateMode::EphemeralSequential, 3),
        (CreateMode::Container, 4),
        (CreateMode::PersistentWithTtl { ttl_ms: 1 }, 5),
        (CreateMode::PersistentSequentialWithTtl { ttl_ms: 1 }, 6),
    ];
    for (mode, zk) in modes {
        let wire: pb::CreateMode = mode.into_proto();
        assert_eq!(wire as i32, zk);
    }
}

#[test]
fn a_ttl_with_a_mode_that_takes_none_is_bad_arguments() {
    for (mode, ttl) in [(0, 5), (1, -1), (4, 1), (3, 100)] {
        let create = pb::CreateRequest {
            path: "/a".into(),
            mode,
            ttl,
            ..Default::default()
        };
        let e = Request::from_proto(pb::request::Op::Create(create)).expect_err("refused");
        assert_eq!(e.code, ErrorCode::BadArguments, "mode {mode} ttl {ttl}");
    }
    let unknown = pb::CreateRequest {
        path: "/a".into(),
        mode: 7,
        ..Default::default()
    };
    let e = Request::from_proto(pb::request::Op::Create(unknown)).expect_err("refused");
    assert_eq!(e.code, ErrorCode::BadArguments);
}

#[test]
fn connect_round_trips_new_and_resume() {
    for (resume, read_only) in [
        (None, true),
        (Some((SessionId(0x0500_0000_0000_0001), [7u8; 16])), false),
    ] {
        let c = ConnectRequest {
            resume,
            timeout_ms: 30_000,
            last_zxid_seen: Zxid(0x2_0000_0001),
            peer: "127.0.0.1:1".into(),
            conn_ids: vec![Id::new("ip", "127.0.0.1")],
            set_watches: SetWatches {
                data: vec!["/d".into(), "/d2".into()],
                exist: vec!["/e".into()],
                child: vec!["/".into()],
                persistent: vec!["/p".into()],
                persistent_recursive: vec!["/".into(), "/r".into()],
            },
            read_only,
        };
        let wire: pb::ConnectRequest = c.clone().into_proto();
        assert_eq!(
            decode_connect(wire, c.peer.clone(), c.conn_ids.clone()),
            Ok(c)
        );
    }
}

#[test]
fn connect_accepts_sixteen_zero_bytes_for_a_new_session() {
    let wire = pb::ConnectRequest {
        password: vec![0; 16].into(),
        ..Default::default()
    };
    let c = decode_connect(wire, String::new(), vec![]).expect("ZooKeeper clients send zeros");
    assert_eq!(c.resume, None);
}

fn bad_arguments<T: std::fmt::Debug>(r: Result<T, ZkError>, mentions: &str) {
    match r {
        Err(e) => {
            assert_eq!(e.code, ErrorCode::BadArguments, "{e}");
            assert!(
                e.message.contains(mentions),
                "{:?} should mention {mentions:?}",
                e.message
            );
        }
        Ok(v) => panic!("accepted malformed input: {v:?}"),
    }
}

#[test]
fn malformed_connect_requests_are_bad_arguments() {
    let resume = |password: Vec<u8>| pb::ConnectRequest {
        session_id: 42,
        password: password.into(),
        timeout_ms: 1000,
        ..Default::default()
    };
    bad_arguments(
        decode_connect(resume(vec![1; 15]), String::new(), vec![]),
        "16 bytes",
    );
    bad_arguments(
        decode_connect(resume(vec![1; 17]), String::new(), vec![]),
        "16 bytes",
    );
    bad_arguments(
        decode_connect(resume(vec![]), String::new(), vec![]),
        "16 bytes",
    );
    let new_with_password = pb::ConnectRequest {
        password: vec![1; 16].into(),
        ..Default::default()
    };
    bad_arguments(
        decode_connect(new_with_password, String::new(), vec![]),
        "password",
    );
    let negative_timeout = pb::ConnectRequest {
        timeout_ms: -1,
        ..Default::default()
    };
    bad_arguments(
        decode_connect(negative_timeout, String::new(), vec![]),
        "timeout_ms",
    );
    let negative_zxid = pb::ConnectRequest {
        last_zxid_seen: -5,
        ..Default::default()
    };
    bad_arguments(
        decode_connect(negative_zxid, String::new(), vec![]),
        "last_zxid_seen",
    );
}

#[test]
fn connect_with_an_invalid_watch_path_is_bad_arguments() {
    let wire = |data: &str, exist: &str, child: &str| pb::ConnectRequest {
        data_watches: vec!["/ok".into(), data.into()],
        exist_watches: vec![exist.into()],
        child_watches: vec![child.into()],
        ..Default::default()
    };
    bad_arguments(
        decode_connect(wire("no-slash", "/e", "/c"), String::new(), vec![]),
        "data_watches[1]",
    );
    bad_arguments(
        decode_connect(wire("/d", "/e/", "/c"), String::new(), vec![]),
        "exist_watches[0]",
    );
    bad_arguments(
        decode_connect(wire("/d", "/e", "/c/../x"), String::new(), vec![]),
        "child_watches[0]",
    );
    let ok = decode_connect(wire("/d", "/e", "/c"), String::new(), vec![]).expect("valid paths");
    assert_eq!(
        ok.set_watches.data,
        vec!["/ok".to_string(), "/d".to_string()]
    );
}

#[test]
fn missing_op_keeps_the_xid() {
    let (xid, r) = decode_request(pb::Request { xid: 17, op: None });
    assert_eq!(xid, 17);
    bad_arguments(r, "op");
}

#[test]
fn unknown_create_mode_is_bad_arguments() {
    for mode in [7, -1, 99] {
        let req = pb::Request {
            xid: 1,
            op: Some(pb::request::Op::Create(pb::CreateRequest {
                path: "/a".into(),
                data: Bytes::new().into(),
                mode,
                acl: None,
                ttl: 0,
            })),
        };
        bad_arguments(decode_request(req).1, "mode");
    }
}

#[test]
fn multi_with_missing_or_bad_op_names_the_index() {
    let missing = pb::Request {
        xid: 1,
        op: Some(pb::request::Op::Multi(pb::MultiRequest {
            ops: vec![pb::MultiOp { op: None }],
        })),
    };
    bad_arguments(decode_request(missing).1, "ops[0]");
    let bad_mode = pb::Request {
        xid: 1,
        op: Some(pb::request::Op::Multi(pb::MultiRequest {
            ops: vec![
                pb::MultiOp {
                    op: Some(pb::multi_op::Op::Check(pb::CheckVersionRequest::default())),
                },
                pb::MultiOp {
                    op: Some(pb::multi_op::Op::Create(pb::CreateRequest {
                        mode: 42,
                        ..Default::default()
                    })),
                },
            ],
        })),
    };
    bad_arguments(decode_request(bad_mode).1, "ops[1]");
}

#[test]
fn malformed_server_messages_are_rejected() {
    bad_arguments(
        decode_server_message(pb::ServerMessage { message: None }),
        "message",
    );
    // A response without its result is still paired with its xid: the error lands there.
    let no_result = pb::ServerMessage {
        message: Some(pb::server_message::Message::Response(pb::Response {
            xid: 3,
            ..Default::default()
        })),
    };
    match decode_server_message(no_result) {
        Ok(SessionEvent::Response { xid: 3, result, .. }) => bad_arguments(result, "no result"),
        other => panic!("expected a response for xid 3: {other:?}"),
    }
    let unspecified_event = pb::WatchEvent {
        r#type: 0,
        ..Default::default()
    };
    bad_arguments(WatchedEvent::from_proto(unspecified_event), "type");
    let missing_stat = pb::response::Result::SetData(pb::SetDataResponse { stat: None });
    bad_arguments(Response::from_proto(missing_stat), "stat");
    let config_without_stat = pb::response::Result::GetConfig(pb::GetConfigResponse {
        data: Bytes::new(),
        stat: None,
    });
    bad_arguments(
        Response::from_proto(config_without_stat),
        "GetConfigResponse.stat",
    );
}

fn create_op(acl: Option<pb::AclList>) -> pb::CreateRequest {
    pb::CreateRequest {
        path: "/a".into(),
        data: Bytes::from_static(b"d").into(),
        mode: pb::CreateMode::Persistent as i32,
        acl,
        ttl: 0,
    }
}

fn decoded_create_acl(r: Result<Request, ZkError>) -> Vec<Acl> {
    match r {
        Ok(Request::Create { acl, .. }) => acl,
        other => panic!("not a create: {other:?}"),
    }
}

/// client.proto CreateRequest.acl: UNSET is world:anyone:cdrwa, so clients written before ACLs
/// keep creating open nodes; the same holds for a multi's create op.
#[test]
fn create_without_acl_is_open() {
    let single = pb::Request {
        xid: 1,
        op: Some(pb::request::Op::Create(create_op(None))),
    };
    assert_eq!(decoded_create_acl(decode_request(single).1), Acl::open());
    let multi = pb::Request {
        xid: 2,
        op: Some(pb::request::Op::Multi(pb::MultiRequest {
            ops: vec![pb::MultiOp {
                op: Some(pb::multi_op::Op::Create(create_op(None))),
            }],
        })),
    };
    match decode_request(multi).1 {
        Ok(Request::Multi(ops)) => match &ops[..] {
            [MultiOp::Create { acl, .. }] => assert_eq!(acl, &Acl::open()),
            other => panic!("not one create: {other:?}"),
        },
        other => panic!("not a multi: {other:?}"),
    }
}

/// client.proto CreateRequest.acl: a SET list is taken as given, even empty; the server (which
/// knows the session's ids for `auth:` entries) answers INVALIDACL, not the gateway.
#[test]
fn create_with_a_set_acl_keeps_it_as_given() {
    let empty = pb::Request {
        xid: 1,
        op: Some(pb::request::Op::Create(create_op(Some(
            pb::AclList::default(),
        )))),
    };
    assert_eq!(decoded_create_acl(decode_request(empty).1), vec![]);
    let odd = pb::Acl {
        perms: 0x40,
        id: Some(pb::Id {
            scheme: "kerberos".into(),
            id: "x".into(),
        }),
    };
    let req = pb::Request {
        xid: 1,
        op: Some(pb::request::Op::Create(create_op(Some(pb::AclList {
            acls: vec![odd],
        })))),
    };
    assert_eq!(
        decoded_create_acl(decode_request(req).1),
        vec![Acl::new(0x40, Id::new("kerberos", "x"))]
    );
}

#[test]
fn acl_entry_without_id_is_bad_arguments() {
    let no_id = || pb::Acl {
        perms: perms::READ,
        id: None,
    };
    let create = pb::Request {
        xid: 1,
        op: Some(pb::request::Op::Create(create_op(Some(pb::AclList {
            acls: vec![Acl::open().remove(0).into_proto(), no_id()],
        })))),
    };
    bad_arguments(decode_request(create).1, "CreateRequest.acl.acls[1]");
    let set_acl = pb::Request {
        xid: 1,
        op: Some(pb::request::Op::SetAcl(pb::SetAclRequest {
            path: "/a".into(),
            acl: vec![no_id()],
            version: -1,
        })),
    };
    bad_arguments(decode_request(set_acl).1, "SetAclRequest.acl[0]");
    let multi = pb::Request {
        xid: 1,
        op: Some(pb::request::Op::Multi(pb::MultiRequest {
            ops: vec![
                pb::MultiOp {
                    op: Some(pb::multi_op::Op::Check(pb::CheckVersionRequest::default())),
                },
                pb::MultiOp {
                    op: Some(pb::multi_op::Op::Create(create_op(Some(pb::AclList {
                        acls: vec![no_id()],
                    })))),
                },
            ],
        })),
    };
    bad_arguments(decode_request(multi).1, "ops[1]");
    let get_acl = pb::response::Result::GetAcl(pb::GetAclResponse {
        acl: vec![no_id()],
        stat: Some(stat(1).into_proto()),
    });
    bad_arguments(Response::from_proto(get_acl), "GetAclResponse.acl[0]");
    let no_stat = pb::response::Result::GetAcl(pb::GetAclResponse {
        acl: vec![],
        stat: None,
    });
    bad_arguments(Response::from_proto(no_stat), "stat");
}

/// client.proto Acl.perms / Permission: ZooKeeper's bits, carried as the int32 they are.
#[test]
fn acl_perms_and_ids_keep_zookeepers_values() {
    let wire: pb::Acl = Acl::new(perms::READ | perms::ADMIN, Id::anyone()).into_proto();
    assert_eq!(
        wire.perms,
        pb::Permission::Read as i32 | pb::Permission::Admin as i32
    );
    let id = wire.id.expect("an id");
    assert_eq!((id.scheme.as_str(), id.id.as_str()), ("world", "anyone"));
    let state: pb::KeeperState = KeeperState::AuthFailed.into_proto();
    assert_eq!(state as i32, 4);
}

#[test]
fn watch_requests_with_unknown_modes_or_types_are_bad_arguments() {
    use pb::request::Op;
    let bad = [
        Op::AddWatch(pb::AddWatchRequest {
            path: "/a".into(),
            mode: 2,
        }),
        Op::RemoveWatches(pb::RemoveWatchesRequest {
            path: "/a".into(),
            r#type: 0,
        }),
        Op::CheckWatches(pb::CheckWatchesRequest {
            path: "/a".into(),
            r#type: 6,
        }),
    ];
    for op in bad {
        let err = Request::from_proto(op.clone()).expect_err("refused");
        assert_eq!(err.code, ErrorCode::BadArguments, "{op:?}: {err:?}");
    }
}

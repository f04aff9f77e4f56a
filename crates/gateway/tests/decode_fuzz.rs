//! Fuzz targets of the client edge: what a client sends on its stream (`ClientMessage` bytes:
//! the handshake and every request) through prost and the gateway's conversion into the API's
//! types, and what a server sends back as the Rust client decodes it. Malformed input must be a
//! `BadArguments` error, never a panic nor an allocation sized by a length field.
//! `PADDOCK_FUZZ_CASES` / `PADDOCK_FUZZ_SEED` (see `paddock-fuzz`); `make fuzz` runs them long.

use bytes::Bytes;
use paddock_fuzz::{bounded_by_input, config, input, TrackingAlloc};
use paddock_gateway::convert::{
    decode_connect, decode_request, decode_server_message, encode_request,
};
use paddock_proto::v1 as pb;
use paddock_types::{
    Acl, AddWatchMode, CreateMode, ErrorCode, Id, MultiOp, ReadOp, Request, SetWatches,
    WatcherType, Zxid,
};
use proptest::prelude::*;
use prost::Message;

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

/// A request of every kind, as the Rust client encodes it.
fn requests() -> Vec<Request> {
    let data = || Bytes::from_static(b"payload").into();
    let acl = vec![
        Acl::new(31, Id::anyone()),
        Acl::new(1, Id::new("ip", "10.0.0.0/8")),
    ];
    let mut v: Vec<Request> = [
        CreateMode::Persistent,
        CreateMode::Ephemeral,
        CreateMode::PersistentSequential,
        CreateMode::EphemeralSequential,
        CreateMode::Container,
        CreateMode::PersistentWithTtl { ttl_ms: 1 },
        CreateMode::PersistentSequentialWithTtl { ttl_ms: 5_000 },
    ]
    .into_iter()
    .map(|mode| Request::Create {
        path: "/app/n-".into(),
        data: data(),
        mode,
        acl: acl.clone(),
    })
    .collect();
    let path = || "/app".to_string();
    v.extend([
        Request::Delete {
            path: path(),
            version: 4,
        },
        Request::SetData {
            path: path(),
            data: data(),
            version: -1,
        },
        Request::Exists {
            path: path(),
            watch: true,
        },
        Request::GetData {
            path: path(),
            watch: true,
        },
        Request::GetChildren {
            path: path(),
            watch: false,
        },
        Request::Sync { path: path() },
        Request::Multi(vec![
            MultiOp::Create {
                path: "/m".into(),
                data: data(),
                mode: CreateMode::Container,
                acl,
            },
            MultiOp::Check {
                path: "/m".into(),
                version: 0,
            },
            MultiOp::SetData {
                path: "/m".into(),
                data: data(),
                version: 1,
            },
            MultiOp::Delete {
                path: "/m".into(),
                version: 2,
            },
        ]),
        Request::MultiRead(vec![
            ReadOp::GetData { path: path() },
            ReadOp::GetChildren { path: path() },
        ]),
        Request::GetAcl { path: path() },
        Request::SetAcl {
            path: path(),
            acl: Acl::open(),
            version: 3,
        },
        Request::AddAuth {
            scheme: "digest".into(),
            auth: Bytes::from_static(b"u:p"),
        },
        Request::WhoAmI,
        Request::Ping,
        Request::CloseSession,
        Request::GetEphemerals {
            prefix: "/app/e".into(),
        },
        Request::GetAllChildrenNumber { path: path() },
        Request::AddWatch {
            path: path(),
            mode: AddWatchMode::PersistentRecursive,
        },
        Request::RemoveWatches {
            path: path(),
            kind: WatcherType::Data,
        },
        Request::CheckWatches {
            path: path(),
            kind: WatcherType::Any,
        },
        Request::GetConfig { watch: true },
        Request::Reconfig {
            joining: vec!["server.4=h4:2888:3888;2181".into()],
            leaving: vec![2],
            members: Vec::new(),
            from_version: 0x1_0000_0000,
        },
        Request::SetWatches {
            relative_zxid: Zxid(0x3_0000_0007),
            watches: SetWatches {
                data: vec![path()],
                exist: vec!["/gone".into()],
                child: vec![path()],
                persistent: vec![path()],
                persistent_recursive: vec!["/".into()],
            },
        },
    ]);
    v
}

/// The encoded `ClientMessage`s of a handshake (new and resume) and of every request.
fn client_messages() -> Vec<Vec<u8>> {
    use pb::client_message::Message as M;
    let connects = [
        pb::ConnectRequest {
            timeout_ms: 30_000,
            ..Default::default()
        },
        pb::ConnectRequest {
            session_id: 0x100_0000_0001,
            password: vec![9u8; 16].into(),
            timeout_ms: 6_000,
            last_zxid_seen: 0x2_0000_0010,
            data_watches: vec!["/a".into()],
            exist_watches: vec!["/b".into()],
            child_watches: vec!["/".into()],
            read_only: true,
            ..Default::default()
        },
    ];
    let requests = requests()
        .into_iter()
        .enumerate()
        .map(|(i, r)| M::Request(encode_request(i as i64 + 1, r)));
    connects
        .into_iter()
        .map(M::Connect)
        .chain(requests)
        .map(|m| pb::ClientMessage { message: Some(m) }.encode_to_vec())
        .collect()
}

/// Decodes a `ClientMessage` and converts what it carries as the gateway does. A request the
/// gateway refuses must say `BadArguments` (the gateway answers it; the stream goes on).
fn exercise_client(bytes: &[u8]) {
    let Ok(m) = bounded_by_input(bytes.len(), || pb::ClientMessage::decode(bytes)) else {
        return;
    };
    match m.message {
        Some(pb::client_message::Message::Connect(c)) => {
            let _ = bounded_by_input(bytes.len(), || {
                decode_connect(c, "10.0.0.1:5000".into(), vec![Id::new("ip", "10.0.0.1")])
            });
        }
        Some(pb::client_message::Message::Request(r)) => {
            let (_xid, result) = bounded_by_input(bytes.len(), || decode_request(r));
            if let Err(e) = result {
                assert_eq!(e.code, ErrorCode::BadArguments, "{e}");
            }
        }
        None => {}
    }
}

/// The same bytes as a bare `Request` and a bare `ConnectRequest` (what a `ClientMessage`
/// carries), converted: errors are BADARGUMENTS.
fn exercise_bare(bytes: &[u8]) {
    if let Ok(r) = bounded_by_input(bytes.len(), || pb::Request::decode(bytes)) {
        if let (_, Err(e)) = decode_request(r) {
            assert_eq!(e.code, ErrorCode::BadArguments, "{e}");
        }
    }
    if let Ok(c) = bounded_by_input(bytes.len(), || pb::ConnectRequest::decode(bytes)) {
        if let Err(e) = decode_connect(c, "p".into(), Vec::new()) {
            assert_eq!(e.code, ErrorCode::BadArguments, "{e}");
        }
    }
}

/// The same bytes as the Rust client reads the server's messages.
fn exercise_server(bytes: &[u8]) {
    if let Ok(m) = bounded_by_input(bytes.len(), || pb::ServerMessage::decode(bytes)) {
        let _ = bounded_by_input(bytes.len(), || decode_server_message(m));
    }
}

/// Mostly the small values enums, versions and TTLs take (every enum value, 0, -1), sometimes any.
fn int() -> impl Strategy<Value = i32> + Clone {
    prop_oneof![4 => 0i32..8, 1 => Just(-1), 1 => any::<i32>()]
}

fn long() -> impl Strategy<Value = i64> + Clone {
    prop_oneof![4 => 0i64..8, 1 => Just(-1), 1 => any::<i64>()]
}

/// A create mode (mostly one of the seven) and a TTL (often 0, as every mode but two wants).
fn mode_and_ttl() -> impl Strategy<Value = (i32, i64)> + Clone {
    (
        prop_oneof![8 => 0i32..7, 1 => any::<i32>()],
        prop_oneof![3 => Just(0i64), 3 => 1i64..5, 1 => Just(-1), 1 => any::<i64>()],
    )
}

/// Structured requests with the fields a conversion checks drawn at random: paths that are
/// and are not valid, every enum value and then some, any versions, TTLs and ACLs.
fn arbitrary_request() -> impl Strategy<Value = pb::Request> {
    let path = prop_oneof![
        Just("/a".to_string()),
        Just("/".to_string()),
        Just("/a/".to_string()),
        Just("//".to_string()),
        Just("/a/./b".to_string()),
        Just("/a\u{0}b".to_string()),
        Just(String::new()),
        "/[a-z\u{1}-\u{1f}\u{e000}-\u{f8ff}\u{fff0}-\u{ffff}/.]{0,12}",
        ".{0,16}",
    ];
    let acl = proptest::collection::vec((int(), ".{0,8}", ".{0,8}"), 0..4).prop_map(|v| {
        v.into_iter()
            .map(|(perms, scheme, id)| pb::Acl {
                perms,
                id: Some(pb::Id { scheme, id }),
            })
            .collect::<Vec<_>>()
    });
    let create = (
        path.clone(),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        mode_and_ttl(),
        proptest::option::of(acl.clone()),
    )
        .prop_map(|(path, data, (mode, ttl), acls)| pb::CreateRequest {
            path,
            data: data.map(Into::into),
            mode,
            acl: acls.map(|acls| pb::AclList { acls }),
            ttl,
        });
    let multi_op = prop_oneof![
        create.clone().prop_map(pb::multi_op::Op::Create),
        (path.clone(), int()).prop_map(|(path, version)| pb::multi_op::Op::Check(
            pb::CheckVersionRequest { path, version }
        )),
        (path.clone(), any::<bool>()).prop_map(|(path, watch)| pb::multi_op::Op::GetData(
            pb::GetDataRequest { path, watch }
        )),
    ];
    let ops = proptest::collection::vec(proptest::option::of(multi_op), 0..5).prop_map(|ops| {
        ops.into_iter()
            .map(|op| pb::MultiOp { op })
            .collect::<Vec<_>>()
    });
    use pb::request::Op;
    let multi = ops
        .clone()
        .prop_map(|ops| Op::Multi(pb::MultiRequest { ops }));
    let other =
        prop_oneof![
            ops.prop_map(|ops| Op::MultiRead(pb::MultiReadRequest { ops })),
            (path.clone(), acl, int()).prop_map(|(path, acl, version)| Op::SetAcl(
                pb::SetAclRequest { path, acl, version }
            )),
            (path.clone(), int())
                .prop_map(|(path, mode)| Op::AddWatch(pb::AddWatchRequest { path, mode })),
            (path.clone(), int()).prop_map(|(path, r#type)| Op::RemoveWatches(
                pb::RemoveWatchesRequest { path, r#type }
            )),
            (".{0,8}", proptest::collection::vec(any::<u8>(), 0..8)).prop_map(|(scheme, auth)| {
                Op::AddAuth(pb::AddAuthRequest {
                    scheme,
                    auth: auth.into(),
                })
            }),
            (
                proptest::collection::vec(".{0,20}", 0..3),
                proptest::collection::vec(any::<u64>(), 0..3),
                long()
            )
                .prop_map(|(joining_servers, leaving_servers, from_config_version)| {
                    Op::Reconfig(pb::ReconfigRequest {
                        joining_servers,
                        leaving_servers,
                        new_members: Vec::new(),
                        from_config_version,
                    })
                }),
            (long(), proptest::collection::vec(path, 0..3)).prop_map(|(zxid, paths)| {
                Op::SetWatches(pb::SetWatchesRequest {
                    relative_zxid: zxid,
                    data_watches: paths.clone(),
                    exist_watches: paths.clone(),
                    child_watches: paths.clone(),
                    persistent_watches: paths.clone(),
                    persistent_recursive_watches: paths,
                })
            }),
        ];
    let op = prop_oneof![
        4 => create.prop_map(Op::Create),
        3 => multi,
        7 => other,
    ];
    let op = prop_oneof![9 => op.prop_map(Some), 1 => Just(None)];
    (long(), op).prop_map(|(xid, op)| pb::Request { xid, op })
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn client_messages_never_panic(bytes in input(client_messages())) {
        exercise_client(&bytes);
        exercise_server(&bytes);
    }

    #[test]
    fn bare_requests_never_panic(bytes in input(requests().into_iter().enumerate().map(|(i, r)| {
        encode_request(i as i64, r).encode_to_vec()
    }).collect())) {
        exercise_bare(&bytes);
    }

    #[test]
    fn arbitrary_requests_are_converted_or_refused(r in arbitrary_request()) {
        let bytes = pb::ClientMessage {
            message: Some(pb::client_message::Message::Request(r)),
        }
        .encode_to_vec();
        exercise_client(&bytes);
    }
}

#[test]
fn every_valid_request_converts() {
    for bytes in client_messages() {
        let m = pb::ClientMessage::decode(bytes.as_slice()).expect("decodes");
        match m.message.expect("set") {
            pb::client_message::Message::Connect(c) => {
                decode_connect(c, "p".into(), Vec::new()).expect("a valid handshake");
            }
            pb::client_message::Message::Request(r) => {
                let (_, result) = decode_request(r);
                result.expect("a valid request");
            }
        }
    }
}

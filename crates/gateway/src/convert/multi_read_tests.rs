//! multi_read on the wire: which ops it takes (ZooKeeper 3.9's multiRead: getData and getChildren,
//! no watches, no writes), and a multi that carries a read op.

use paddock_proto::v1 as pb;
use paddock_types::{ErrorCode, ReadOp, Request, ZkError};

use super::decode_request;
use pb::multi_op::Op;

fn multi_read(ops: Vec<Op>) -> pb::Request {
    pb::Request {
        xid: 7,
        op: Some(pb::request::Op::MultiRead(pb::MultiReadRequest {
            ops: ops
                .into_iter()
                .map(|op| pb::MultiOp { op: Some(op) })
                .collect(),
        })),
    }
}

fn get_data(path: &str, watch: bool) -> Op {
    Op::GetData(pb::GetDataRequest {
        path: path.into(),
        watch,
    })
}

fn get_children(path: &str, watch: bool) -> Op {
    Op::GetChildren(pb::GetChildrenRequest {
        path: path.into(),
        watch,
    })
}

#[track_caller]
fn bad_arguments(r: (i64, Result<Request, ZkError>), mentions: &str) {
    assert_eq!(r.0, 7, "the xid is kept for the error answer");
    match r.1 {
        Err(e) => {
            assert_eq!(e.code, ErrorCode::BadArguments, "{e}");
            assert!(
                e.message.contains(mentions),
                "{:?} should mention {mentions:?}",
                e.message
            );
        }
        Ok(v) => panic!("accepted: {v:?}"),
    }
}

#[test]
fn get_data_and_get_children_decode_in_order() {
    let r = decode_request(multi_read(vec![
        get_children("/a", false),
        get_data("/a/b", false),
        // A bad path is not the decoder's business: it fails only its op, on the server.
        get_data("bad", false),
    ]));
    assert_eq!(
        r,
        (
            7,
            Ok(Request::MultiRead(vec![
                ReadOp::GetChildren { path: "/a".into() },
                ReadOp::GetData {
                    path: "/a/b".into()
                },
                ReadOp::GetData { path: "bad".into() },
            ]))
        )
    );
}

/// ZooKeeper: mixing reads and writes in one multi is refused (MultiOperationRecord's client
/// check; its server fails a multiRead holding another op type as a whole).
#[test]
fn a_write_op_in_a_multi_read_fails_the_whole_request() {
    let writes = [
        (Op::Create(pb::CreateRequest::default()), "create"),
        (Op::Delete(pb::DeleteRequest::default()), "delete"),
        (Op::SetData(pb::SetDataRequest::default()), "set_data"),
        (Op::Check(pb::CheckVersionRequest::default()), "check"),
    ];
    for (op, name) in writes {
        let r = decode_request(multi_read(vec![get_data("/a", false), op]));
        bad_arguments(r, &format!("ops[1] is a write op ({name})"));
    }
}

#[test]
fn a_read_op_in_a_multi_fails_the_whole_multi() {
    for op in [get_data("/a", false), get_children("/a", false)] {
        let r = decode_request(pb::Request {
            xid: 7,
            op: Some(pb::request::Op::Multi(pb::MultiRequest {
                ops: vec![
                    pb::MultiOp {
                        op: Some(Op::Check(pb::CheckVersionRequest::default())),
                    },
                    pb::MultiOp { op: Some(op) },
                ],
            })),
        });
        bad_arguments(r, "ops[1] is a read op");
    }
}

/// ZooKeeper's multiRead ops carry no watch; asking for one is refused rather than ignored.
#[test]
fn a_watch_in_a_multi_read_op_is_bad_arguments() {
    bad_arguments(
        decode_request(multi_read(vec![
            get_children("/a", false),
            get_data("/a", true),
        ])),
        "ops[1] asks for a watch",
    );
    bad_arguments(
        decode_request(multi_read(vec![get_children("/a", true)])),
        "ops[0] asks for a watch",
    );
}

#[test]
fn a_missing_op_names_its_index() {
    let mut req = multi_read(vec![get_data("/a", false)]);
    if let Some(pb::request::Op::MultiRead(m)) = req.op.as_mut() {
        m.ops.push(pb::MultiOp { op: None });
    }
    bad_arguments(decode_request(req), "ops[1].op is not set");
}

/// What a client decodes: a ReadResult must be set, and an error result is never OK.
#[test]
fn malformed_read_results_are_rejected() {
    use super::decode_server_message;
    let answer = |result: Option<pb::read_result::Result>| pb::ServerMessage {
        message: Some(pb::server_message::Message::Response(pb::Response {
            xid: 1,
            zxid: 1,
            result: Some(pb::response::Result::MultiRead(pb::MultiReadResponse {
                results: vec![pb::ReadResult { result }],
            })),
            ..Default::default()
        })),
    };
    for (bad, mentions) in [
        (None, "ReadResult.result is not set"),
        (
            Some(pb::read_result::Result::Error(pb::ErrorResult { error: 0 })),
            "ReadResult.error is 0",
        ),
        (
            Some(pb::read_result::Result::GetData(
                pb::GetDataResponse::default(),
            )),
            "ReadResult.get_data.stat",
        ),
    ] {
        match decode_server_message(answer(bad)) {
            Ok(crate::backend::SessionEvent::Response { result: Err(e), .. }) => {
                assert_eq!(e.code, ErrorCode::BadArguments);
                assert!(e.message.contains(mentions), "{e}");
            }
            other => panic!("accepted a malformed ReadResult: {other:?}"),
        }
    }
}

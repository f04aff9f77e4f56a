//! Every operation of the client API, over real gRPC against an in-process node
//! (DESIGN.md §4 data model, §1 FIFO order; issue 2 "Tests": every op, every error code).

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use paddock_proto::v1 as pb;
use pb::op_result::Result as R;
use pb::CreateMode::{Ephemeral, EphemeralSequential, Persistent, PersistentSequential};
use support::*;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// §4: create in the four modes; sequential names append the parent's create count as %010d; the new
/// node's Stat (czxid = mzxid = pzxid = the create's zxid, versions 0, ephemeralOwner, dataLength).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_in_four_modes_with_sequential_names_and_fresh_stats() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    let before = now_ms();

    let r = s.create("/p", b"persistent", Persistent).await;
    let zxid = r.zxid;
    let c = created(r);
    assert_eq!(c.path, "/p");
    let st = c.stat.expect("stat");
    assert!(zxid > 0);
    assert_eq!((st.czxid, st.mzxid, st.pzxid), (zxid, zxid, zxid));
    assert_eq!((st.version, st.cversion, st.aversion), (0, 0, 0));
    assert_eq!(st.ephemeral_owner, 0);
    assert_eq!(st.data_length, 10);
    assert_eq!(st.num_children, 0);
    assert_eq!(st.ctime, st.mtime);
    assert!(
        st.ctime >= before - 1000 && st.ctime <= now_ms() + 1000,
        "ctime is wall-clock ms: {}",
        st.ctime
    );

    let e = s.create_ok("/e", b"", Ephemeral).await;
    assert_eq!(e.path, "/e");
    let est = e.stat.expect("stat");
    assert_eq!(est.ephemeral_owner, s.id, "ephemeralOwner = the session");
    assert_eq!(est.data_length, 0);

    // Sequential: the suffix is the number of creates under the parent so far (ZooKeeper's
    // rule: deletes do not count, though they move cversion), as 10 digits.
    s.mkdir("/seq").await;
    let a = s.create_ok("/seq/n", b"", PersistentSequential).await;
    assert_eq!(a.path, "/seq/n0000000000");
    assert_eq!(a.stat.expect("stat").ephemeral_owner, 0);
    s.create_ok("/seq/plain", b"", Persistent).await; // cversion 2
    let b = s.create_ok("/seq/n", b"", EphemeralSequential).await;
    assert_eq!(b.path, "/seq/n0000000002");
    assert_eq!(b.stat.expect("stat").ephemeral_owner, s.id);
    ok(&s.call(op::delete("/seq/plain", -1)).await); // moves cversion, not the numbering
    let c = s.create_ok("/seq/", b"", PersistentSequential).await;
    assert_eq!(
        c.path, "/seq/0000000003",
        "a sequential create may end in '/'"
    );
    let (names, parent) = s.children("/seq").await;
    assert_eq!(names, ["0000000003", "n0000000000", "n0000000002"]);
    assert_eq!(parent.cversion, 5);
    assert_eq!(parent.num_children, 3);

    // The sequence number is per parent.
    s.mkdir("/seq2").await;
    let d = s.create_ok("/seq2/x-", b"", PersistentSequential).await;
    assert_eq!(d.path, "/seq2/x-0000000000");
}

/// §4 Stat rules: a child create/delete moves the parent's cversion, pzxid and numChildren but
/// not its version or mzxid; setData moves version, mzxid, mtime and dataLength, nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_update_rules_follow_zookeeper() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    let parent0 = s.mkdir("/a").await;

    let r = s.create("/a/b", b"12345", Persistent).await;
    let z_create = r.zxid;
    let child0 = created(r).stat.expect("stat");
    let parent1 = s.stat("/a").await.expect("exists");
    assert_eq!(parent1.cversion, parent0.cversion + 1);
    assert_eq!(parent1.pzxid, z_create);
    assert_eq!(parent1.num_children, 1);
    assert_eq!(parent1.version, parent0.version, "data version untouched");
    assert_eq!(parent1.mzxid, parent0.mzxid, "mzxid untouched");
    assert_eq!(parent1.czxid, parent0.czxid);
    assert_eq!(parent1.mtime, parent0.mtime);

    // setData: version + 1, mzxid = its zxid, dataLength, mtime >= ctime; czxid/pzxid/cversion stay.
    let r = s.call(op::set_data("/a/b", b"xy", -1)).await;
    let z_set = r.zxid;
    assert!(z_set > z_create);
    let child1 = set_data_result(r).stat.expect("stat");
    assert_eq!(child1.version, 1);
    assert_eq!(child1.mzxid, z_set);
    assert_eq!(child1.czxid, child0.czxid);
    assert_eq!(child1.pzxid, child0.pzxid);
    assert_eq!(child1.cversion, 0);
    assert_eq!(child1.data_length, 2);
    assert_eq!(child1.ctime, child0.ctime);
    assert!(child1.mtime >= child0.mtime);
    assert_eq!(
        s.stat("/a/b").await,
        Some(child1),
        "exists shows the same Stat"
    );
    let parent2 = s.stat("/a").await.expect("exists");
    assert_eq!(
        parent2, parent1,
        "a child's setData does not touch the parent"
    );

    // A grandchild moves only its own parent.
    let r = s.create("/a/b/c", b"", Persistent).await;
    let z_grand = r.zxid;
    let child2 = s.stat("/a/b").await.expect("exists");
    assert_eq!(
        (child2.cversion, child2.pzxid, child2.num_children),
        (1, z_grand, 1)
    );
    assert_eq!(child2.version, 1);
    assert_eq!(s.stat("/a").await.expect("exists"), parent1);

    // delete: the parent's cversion + 1, pzxid = the delete's zxid, numChildren - 1.
    let r = s.call(op::delete("/a/b/c", 0)).await;
    ok(&r);
    let z_del = r.zxid;
    let child3 = s.stat("/a/b").await.expect("exists");
    assert_eq!(
        (child3.cversion, child3.pzxid, child3.num_children),
        (2, z_del, 0)
    );
    assert_eq!(child3.mzxid, z_set, "a child delete is not a data change");

    // Writes get strictly increasing zxids; reads report the last applied zxid.
    let r = s.ping().await;
    assert_eq!(r.zxid, z_del);
}

/// §4: versioned setData / delete are compare-and-set; -1 is any; 0 means version 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_data_and_delete_check_versions() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    s.create_ok("/v", b"0", Persistent).await;

    expect_err(
        &s.call(op::set_data("/v", b"x", 1)).await,
        code::BAD_VERSION,
    );
    let st = set_data_result(s.call(op::set_data("/v", b"1", 0)).await)
        .stat
        .expect("stat");
    assert_eq!(st.version, 1);
    expect_err(
        &s.call(op::set_data("/v", b"x", 0)).await,
        code::BAD_VERSION,
    );
    let st = set_data_result(s.call(op::set_data("/v", b"2", -1)).await)
        .stat
        .expect("stat");
    assert_eq!(st.version, 2);
    let (data, _) = s.data("/v").await;
    assert_eq!(&data[..], b"2", "a refused setData changed nothing");

    expect_err(&s.call(op::delete("/v", 0)).await, code::BAD_VERSION);
    expect_err(&s.call(op::delete("/v", 3)).await, code::BAD_VERSION);
    assert!(s.stat("/v").await.is_some());
    let r = s.call(op::delete("/v", 2)).await;
    ok(&r);
    assert!(matches!(r.result, Some(pb::response::Result::Delete(_))));
    assert!(s.stat("/v").await.is_none());

    s.create_ok("/w", b"", Persistent).await;
    ok(&s.call(op::set_data("/w", b"a", -1)).await);
    ok(&s.call(op::delete("/w", -1)).await);
    assert!(s.stat("/w").await.is_none());
}

/// §4: exists on a present and a missing node (missing is not an error); getData; getChildren
/// with the parent's Stat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exists_get_data_and_get_children() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    let st = s
        .create_ok("/d", b"hello", Persistent)
        .await
        .stat
        .expect("stat");

    let r = s.call(op::exists("/d", false)).await;
    let e = exists_result(r);
    assert!(e.exists);
    assert_eq!(e.stat, Some(st));

    let r = s.call(op::exists("/missing", false)).await;
    assert_eq!(r.error, 0, "a missing node is not an error for exists");
    let e = exists_result(r);
    assert!(!e.exists);
    assert!(e.stat.is_none());

    let (data, dst) = s.data("/d").await;
    assert_eq!(&data[..], b"hello");
    assert_eq!(dst, st);

    let (names, parent) = s.children("/d").await;
    assert!(names.is_empty());
    assert_eq!(parent, st);
    for c in ["x", "y", "z"] {
        s.create_ok(&format!("/d/{c}"), b"", Persistent).await;
    }
    let (names, parent) = s.children("/d").await;
    assert_eq!(names, ["x", "y", "z"]);
    assert_eq!(parent, s.stat("/d").await.expect("exists"));
    assert_eq!(parent.num_children, 3);

    // Empty data and binary data round-trip.
    let bin: Vec<u8> = (0..=255u8).collect();
    s.create_ok("/bin", &bin, Persistent).await;
    assert_eq!(&s.data("/bin").await.0[..], &bin[..]);
}

/// §4: the system node /zookeeper exists with its children config and quota; / lists it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_node_zookeeper_exists_with_config_and_quota() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    let (names, _) = s.children("/zookeeper").await;
    assert_eq!(names, ["config", "quota"]);
    assert!(s.stat("/zookeeper/config").await.is_some());
    assert!(s.stat("/zookeeper/quota").await.is_some());
    let (root, root_stat) = s.children("/").await;
    assert_eq!(root, ["zookeeper"]);
    assert_eq!(root_stat.num_children, 1);
}

/// §1: sync answers with its path, after which reads on this session see writes committed
/// through other sessions before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_echoes_the_path_and_orders_later_reads() {
    let node = TestNode::start().await;
    let mut a = node.session().await;
    let mut b = node.session().await;
    b.create_ok("/s", b"from b", Persistent).await;
    let r = a.call(op::sync("/s")).await;
    assert_eq!(sync_result(r).path, "/s");
    assert_eq!(&a.data("/s").await.0[..], b"from b");
    // Syncing a missing path is fine (it is only validated); a bad path is not.
    ok(&a.call(op::sync("/nowhere")).await);
    expect_err(&a.call(op::sync("nowhere")).await, code::BAD_ARGUMENTS);
}

/// §4 multi: all-or-nothing; success returns one typed result per op (create, setData, check,
/// delete) and applies them in order under one zxid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_success_returns_per_op_results() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    s.create_ok("/m", b"0", Persistent).await;
    s.create_ok("/gone", b"", Persistent).await;

    let r = s
        .call(op::multi(vec![
            op::m::create("/m/a", b"A", Persistent),
            op::m::create("/m/s-", b"", PersistentSequential),
            op::m::set_data("/m", b"1", 0),
            op::m::check("/m", 1),
            op::m::check("/m/a", -1),
            op::m::delete("/gone", 0),
        ]))
        .await;
    ok(&r);
    let zxid = r.zxid;
    let results = multi_results(&r);
    assert_eq!(results.len(), 6);
    match &results[0] {
        R::Create(c) => {
            assert_eq!(c.path, "/m/a");
            assert_eq!(c.stat.as_ref().expect("stat").czxid, zxid);
        }
        other => panic!("{other:?}"),
    }
    match &results[1] {
        R::Create(c) => assert_eq!(c.path, "/m/s-0000000001"),
        other => panic!("{other:?}"),
    }
    match &results[2] {
        R::SetData(sd) => assert_eq!(sd.stat.as_ref().expect("stat").version, 1),
        other => panic!("{other:?}"),
    }
    assert!(matches!(results[3], R::Check(_)));
    assert!(matches!(results[4], R::Check(_)));
    assert!(matches!(results[5], R::Delete(_)));

    assert_eq!(&s.data("/m/a").await.0[..], b"A");
    assert_eq!(&s.data("/m").await.0[..], b"1");
    assert!(s.stat("/gone").await.is_none());
    let m = s.stat("/m").await.expect("exists");
    assert_eq!(m.mzxid, zxid, "one zxid for the whole multi");
    assert_eq!(m.pzxid, zxid);

    // An empty multi succeeds with no results.
    let r = s.call(op::multi(vec![])).await;
    ok(&r);
    assert!(multi_results(&r).is_empty());
}

/// §4 multi failure: Response.error is the failing op's code; results are OK before it, its code
/// for it, RuntimeInconsistency after it; nothing is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_failure_reports_per_op_codes_and_applies_nothing() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    s.create_ok("/f", b"orig", Persistent).await;
    // "/f" is not empty, for the NotEmpty case.
    s.create_ok("/f/keep", b"", Persistent).await;
    let before = s.stat("/f").await.expect("exists");

    let cases: Vec<(Vec<pb::MultiOp>, i32, Vec<i32>)> = vec![
        (
            vec![
                op::m::create("/f/new", b"", Persistent),
                op::m::check("/missing", -1),
                op::m::set_data("/f", b"changed", -1),
            ],
            code::NO_NODE,
            vec![code::OK, code::NO_NODE, code::RUNTIME_INCONSISTENCY],
        ),
        (
            vec![
                op::m::set_data("/f", b"changed", 7),
                op::m::create("/f/new", b"", Persistent),
            ],
            code::BAD_VERSION,
            vec![code::BAD_VERSION, code::RUNTIME_INCONSISTENCY],
        ),
        (
            vec![
                op::m::create("/f/new", b"", Persistent),
                op::m::set_data("/f", b"changed", -1),
                op::m::check("/f", 0), // the set above moved the version to 1
            ],
            code::BAD_VERSION,
            vec![code::OK, code::OK, code::BAD_VERSION],
        ),
        (
            vec![
                op::m::create("/f/new", b"", Persistent),
                op::m::create("/f/new", b"", Persistent),
            ],
            code::NODE_EXISTS,
            vec![code::OK, code::NODE_EXISTS],
        ),
        (
            vec![op::m::delete("/f", -1), op::m::check("/f", -1)],
            code::NOT_EMPTY,
            vec![code::NOT_EMPTY, code::RUNTIME_INCONSISTENCY],
        ),
        (
            vec![
                op::m::create("/f/new", b"", Persistent),
                op::m::create("bad-path", b"", Persistent),
                op::m::create("/f/other", b"", Persistent),
            ],
            code::BAD_ARGUMENTS,
            vec![code::OK, code::BAD_ARGUMENTS, code::RUNTIME_INCONSISTENCY],
        ),
    ];
    for (i, (ops, top, per_op)) in cases.into_iter().enumerate() {
        let r = s.call(op::multi(ops)).await;
        assert_eq!(r.error, top, "case {i}: {r:?}");
        assert_eq!(multi_error_codes(&r), per_op, "case {i}");
        assert!(
            s.stat("/f/new").await.is_none(),
            "case {i}: nothing applied"
        );
        assert!(
            s.stat("/f/other").await.is_none(),
            "case {i}: nothing applied"
        );
        assert_eq!(s.stat("/f").await, Some(before), "case {i}");
        assert_eq!(&s.data("/f").await.0[..], b"orig", "case {i}");
    }
}

/// §4 error codes: NoNode, NodeExists, BadVersion, NotEmpty, NoChildrenForEphemerals; each
/// refused request leaves the tree as it was and the stream serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_errors_carry_zookeeper_codes() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    s.create_ok("/x", b"", Persistent).await;
    s.create_ok("/x/child", b"", Persistent).await;
    s.create_ok("/eph", b"", Ephemeral).await;

    let cases = vec![
        (op::create("/nope/child", b"", Persistent), code::NO_NODE),
        (op::delete("/nope", -1), code::NO_NODE),
        (op::set_data("/nope", b"", -1), code::NO_NODE),
        (op::get_data("/nope", false), code::NO_NODE),
        (op::get_children("/nope", false), code::NO_NODE),
        (op::create("/x", b"", Persistent), code::NODE_EXISTS),
        (op::create("/eph", b"", Ephemeral), code::NODE_EXISTS),
        (op::set_data("/x", b"", 5), code::BAD_VERSION),
        (op::delete("/x/child", 1), code::BAD_VERSION),
        (op::delete("/x", -1), code::NOT_EMPTY),
        (
            op::create("/eph/child", b"", Persistent),
            code::NO_CHILDREN_FOR_EPHEMERALS,
        ),
        (
            op::create("/eph/s-", b"", EphemeralSequential),
            code::NO_CHILDREN_FOR_EPHEMERALS,
        ),
    ];
    // Refused writes still take a zxid (as ZooKeeper's error txns do) but change no node.
    let before = node.node().server.digest();
    for (op, code) in cases {
        let r = s.call(op.clone()).await;
        expect_err(&r, code);
        assert!(r.result.is_none(), "{op:?}: no result on an error");
    }
    assert_eq!(
        node.node().server.digest(),
        before,
        "no refused write changed the tree"
    );
    let (names, st) = s.children("/x").await;
    assert_eq!(names, ["child"]);
    assert_eq!(st.cversion, 1);
}

/// §4 / issue 2 "Bad input": invalid paths, data over 1 MiB, writes to / and under /zookeeper,
/// unknown create modes are BadArguments, and the stream keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_for_paths_sizes_and_system_nodes() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    s.mkdir("/ok").await;

    let bad_paths = [
        "", "a", "a/b", "/a/", "//a", "/a//b", "/a/./b", "/a/../b", "/.", "/..", "/a\0b", "/ok/",
    ];
    for p in bad_paths {
        for op in [
            op::create(p, b"", Persistent),
            op::delete(p, -1),
            op::set_data(p, b"", -1),
            op::exists(p, false),
            op::get_data(p, false),
            op::get_children(p, true),
        ] {
            let r = s.call(op.clone()).await;
            expect_err(&r, code::BAD_ARGUMENTS);
        }
    }
    // A trailing '/' is allowed only for a sequential create.
    let c = s.create_ok("/ok/", b"", PersistentSequential).await;
    assert_eq!(c.path, "/ok/0000000000");

    // Data: exactly 1 MiB is fine, one byte more is refused, for create and setData.
    const MIB: usize = 1 << 20;
    let max = vec![7u8; MIB];
    let over = vec![7u8; MIB + 1];
    let st = s
        .create_ok("/big", &max, Persistent)
        .await
        .stat
        .expect("stat");
    assert_eq!(st.data_length, MIB as i32);
    expect_err(
        &s.create("/bigger", &over, Persistent).await,
        code::BAD_ARGUMENTS,
    );
    assert!(s.stat("/bigger").await.is_none());
    expect_err(
        &s.call(op::set_data("/big", &over, -1)).await,
        code::BAD_ARGUMENTS,
    );
    let r = s
        .call(op::multi(vec![
            op::m::set_data("/big", &max, -1),
            op::m::create("/big2", &max[..16], Persistent),
        ]))
        .await;
    assert_eq!(
        r.error,
        code::BAD_ARGUMENTS,
        "a multi over the limit: {r:?}"
    );
    let (data, st) = s.data("/big").await;
    assert_eq!(data.len(), MIB);
    assert_eq!(st.version, 0);

    // The root and /zookeeper are read-only.
    for op in [
        op::create("/zookeeper/mine", b"", Persistent),
        op::create("/zookeeper/config/x", b"", Persistent),
        op::set_data("/zookeeper", b"x", -1),
        op::set_data("/zookeeper/quota", b"x", -1),
        op::delete("/zookeeper/quota", -1),
        op::delete("/zookeeper/config", -1),
        op::delete("/", -1),
        op::set_data("/", b"x", -1),
    ] {
        expect_err(&s.call(op.clone()).await, code::BAD_ARGUMENTS);
    }
    let r = s
        .call(op::multi(vec![
            op::m::create("/ok/fine", b"", Persistent),
            op::m::delete("/zookeeper/quota", -1),
        ]))
        .await;
    assert_eq!(multi_error_codes(&r), [code::OK, code::BAD_ARGUMENTS]);
    let (names, _) = s.children("/zookeeper").await;
    assert_eq!(names, ["config", "quota"]);

    // Unknown create modes are BadArguments (4-6, container and TTL: tests/containers_ttl.rs).
    for mode in [7, 99, -1] {
        let r = s
            .call(pb::request::Op::Create(pb::CreateRequest {
                path: "/ok/mode".into(),
                data: Default::default(),
                mode,
                acl: None,
                ttl: 0,
            }))
            .await;
        expect_err(&r, code::BAD_ARGUMENTS);
    }
    assert!(s.stat("/ok/mode").await.is_none());
    ok(&s.ping().await);
}

/// §5 / proto "Closing": requests pipelined behind CloseSession are never executed. Those the
/// server read before the session ended are answered SessionExpired (-112), in order (the gateway
/// answers any the processor still held when SessionClosed arrived); those it had not read yet when
/// the stream ended get no answer, so the answered ones are a prefix. SessionClosed(0) is the last
/// message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_behind_close_session_are_refused_not_executed() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    let close = s.send(op::close()).await;
    let mut after = Vec::new();
    for op in [
        op::exists("/", false),
        op::create("/after-close", b"", Persistent),
        op::create("/after-close-eph", b"", Ephemeral),
    ] {
        after.push(s.send(op).await);
    }
    let r = s.response(close).await;
    ok(&r);
    assert!(matches!(
        r.result,
        Some(pb::response::Result::CloseSession(_))
    ));
    assert!(s.finish().await.is_ok(), "the stream ends with status OK");
    assert_eq!(s.closed.as_ref().map(|c| c.error), Some(code::OK));
    assert!(
        matches!(s.seen.last(), Some(Seen::Closed(_))),
        "SessionClosed is the last message: {:?}",
        s.seen
    );
    let answered: Vec<&pb::Response> = s
        .seen
        .iter()
        .filter_map(|m| match m {
            Seen::Response(r) if r.xid != close => Some(r),
            _ => None,
        })
        .collect();
    let xids: Vec<i64> = answered.iter().map(|r| r.xid).collect();
    assert_eq!(xids, after[..xids.len()], "answered in order, a prefix");
    for r in answered {
        expect_err(r, code::SESSION_EXPIRED);
    }
    let mut other = node.session().await;
    assert!(other.stat("/after-close").await.is_none());
    assert!(other.stat("/after-close-eph").await.is_none());
}

/// §1 FIFO + pipelining: 200 requests sent without reading, then 200 answers read, in request
/// order, each reflecting every earlier request of the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    s.mkdir("/pipe").await;
    let mut sent = Vec::new();
    for i in 0..200 {
        let path = format!("/pipe/n{}", i / 4);
        let op = match i % 4 {
            0 => op::create(&path, b"v0", Persistent),
            1 => op::get_data(&path, false),
            2 => op::set_data(&path, format!("v{i}").as_bytes(), 0),
            _ => op::exists(&path, false),
        };
        sent.push((s.send(op).await, i));
    }
    for (xid, i) in sent {
        let r = s.response(xid).await;
        match i % 4 {
            0 => assert_eq!(created(r).path, format!("/pipe/n{}", i / 4)),
            1 => assert_eq!(get_data_result(r).data.as_deref(), Some(&b"v0"[..])),
            2 => assert_eq!(set_data_result(r).stat.expect("stat").version, 1),
            _ => assert_eq!(exists_result(r).stat.expect("stat").version, 1),
        }
    }
    let xids: Vec<i64> = s
        .seen
        .iter()
        .map(|m| match m {
            Seen::Response(r) => r.xid,
            other => panic!("only answers expected: {other:?}"),
        })
        .collect();
    let mut sorted = xids.clone();
    sorted.sort();
    assert_eq!(xids, sorted, "answers leave in request order");
    assert_eq!(xids.len(), 201);
    let (names, st) = s.children("/pipe").await;
    assert_eq!(names.len(), 50);
    assert_eq!(st.num_children, 50);
}

/// Issue 2 item 6: gRPC health checking (grpc.health.v1) reports SERVING for the server and for
/// the Paddock service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_check_reports_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let node = TestNode::start().await;
    let mut client = HealthClient::new(channel(node.addr).await);
    for service in ["", "paddock.v1.Paddock"] {
        let resp = within(
            "health check",
            client.check(HealthCheckRequest {
                service: service.into(),
            }),
        )
        .await
        .expect("health answers");
        assert_eq!(
            resp.into_inner().status(),
            ServingStatus::Serving,
            "{service:?}"
        );
    }
}

fn ephemerals(r: pb::Response) -> Vec<String> {
    get_ephemerals_result(r).paths
}

/// ZooKeeper 3.9's getEphemerals: a session's own ephemerals, a plain string prefix, sorted; no
/// permission needed (an ephemeral its owner cannot even read is listed); bad prefix BADARGUMENTS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_ephemerals_is_per_session_prefix_filtered_and_needs_no_acl() {
    let node = TestNode::start().await;
    let mut a = node.session().await;
    let mut b = node.session().await;
    ok(&a.call(op::create("/e", b"", Persistent)).await);
    for p in ["/e/2", "/e/1", "/ex"] {
        ok(&a.call(op::create(p, b"", Ephemeral)).await);
    }
    let locked = vec![op::acl(31, "digest", "bob:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY=")];
    ok(&a.call(op::create_acl("/e/0", b"", Ephemeral, locked)).await);
    expect_err(&a.call(op::get_data("/e/0", false)).await, code::NO_AUTH);
    let seq = created(b.call(op::create("/e/b-", b"", EphemeralSequential)).await).path;

    assert_eq!(
        ephemerals(a.call(op::get_ephemerals("/")).await),
        vec!["/e/0", "/e/1", "/e/2", "/ex"]
    );
    assert_eq!(
        ephemerals(a.call(op::get_ephemerals("/e")).await),
        vec!["/e/0", "/e/1", "/e/2", "/ex"]
    );
    assert_eq!(
        ephemerals(a.call(op::get_ephemerals("/e/1")).await),
        vec!["/e/1"]
    );
    assert_eq!(
        ephemerals(b.call(op::get_ephemerals("/")).await),
        vec![seq.clone()]
    );
    assert!(ephemerals(b.call(op::get_ephemerals("/ex")).await).is_empty());
    for bad in ["", "e", "/e/", "/e//1"] {
        expect_err(&a.call(op::get_ephemerals(bad)).await, code::BAD_ARGUMENTS);
    }
    // Closing a does not touch b's list.
    ok(&a.call(op::close()).await);
    assert_eq!(ephemerals(b.call(op::get_ephemerals("/e")).await).len(), 1);
    assert_eq!(
        b.children("/e").await.0,
        vec![seq.trim_start_matches("/e/")]
    );
}

/// ZooKeeper 3.9's getAllChildrenNumber: every node below, at any depth; READ on the node (as
/// FinalRequestProcessor checks); NONODE for a missing node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_children_number_counts_every_level_and_checks_read() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    let number = |r: pb::Response| get_all_children_number_result(r).number;
    for p in ["/n", "/n/a", "/n/a/b", "/n/a/b/c", "/n/d", "/n-sibling"] {
        ok(&s.call(op::create(p, b"", Persistent)).await);
    }
    assert_eq!(number(s.call(op::get_all_children_number("/n")).await), 4);
    assert_eq!(number(s.call(op::get_all_children_number("/n/a")).await), 2);
    assert_eq!(number(s.call(op::get_all_children_number("/n/d")).await), 0);
    // The root: every node but itself, /zookeeper and its two children included.
    assert_eq!(
        number(s.call(op::get_all_children_number("/")).await),
        6 + 3
    );
    ok(&s.call(op::delete("/n/a/b/c", -1)).await);
    assert_eq!(number(s.call(op::get_all_children_number("/n")).await), 3);
    expect_err(
        &s.call(op::get_all_children_number("/missing")).await,
        code::NO_NODE,
    );
    expect_err(
        &s.call(op::get_all_children_number("n")).await,
        code::BAD_ARGUMENTS,
    );
    let no_read = vec![op::acl(31 & !1, "world", "anyone")];
    ok(&s
        .call(op::create_acl("/dark", b"", Persistent, no_read))
        .await);
    ok(&s.call(op::create("/dark/x", b"", Persistent)).await);
    expect_err(
        &s.call(op::get_all_children_number("/dark")).await,
        code::NO_AUTH,
    );
    // Only the node's own ACL matters, not those of the nodes counted.
    assert_eq!(
        number(s.call(op::get_all_children_number("/")).await),
        7 + 3
    );
}

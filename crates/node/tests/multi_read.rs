//! ZooKeeper 3.9's `multiRead` over gRPC against an in-process node: each op answered or failed on
//! its own (FinalRequestProcessor turns each op's KeeperException into an ErrorResult), all ops at
//! one zxid, READ checked per op, no watches, and only getData / getChildren ops.

mod support;

use paddock_proto::v1 as pb;
use pb::read_result::Result as RR;
use pb::CreateMode::Persistent;
use support::*;

fn data(r: &RR) -> (&[u8], pb::Stat) {
    match r {
        RR::GetData(g) => (g.data.as_deref().unwrap_or_default(), g.stat.expect("stat")),
        other => panic!("expected get_data, got {other:?}"),
    }
}

fn children(r: &RR) -> (Vec<String>, pb::Stat) {
    match r {
        RR::GetChildren(c) => {
            let mut names = c.children.clone();
            names.sort();
            (names, c.stat.expect("stat"))
        }
        other => panic!("expected get_children, got {other:?}"),
    }
}

fn error(r: &RR) -> i32 {
    match r {
        RR::Error(e) => e.error,
        other => panic!("expected an error result, got {other:?}"),
    }
}

/// Unlike multi, a failed op fails only itself: NONODE, NOAUTH (no READ on its node) and
/// BADARGUMENTS (an invalid path) sit among successes, and the response is OK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_op_has_its_own_result_or_error() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    ok(&s.call(op::create("/r", b"root", Persistent)).await);
    ok(&s.call(op::create("/r/a", b"A", Persistent)).await);
    let no_read = vec![op::acl(31 & !1, "world", "anyone")];
    ok(&s
        .call(op::create_acl("/r/dark", b"D", Persistent, no_read))
        .await);

    let r = s
        .call(op::multi_read(vec![
            op::m::get_data("/r/a"),
            op::m::get_data("/r/missing"),
            op::m::get_children("/r"),
            op::m::get_data("/r/dark"),
            op::m::get_children("/r/dark"),
            op::m::get_data("/r/a/"),
            op::m::get_children("/r/a"),
        ]))
        .await;
    let results = multi_read_results(r);
    assert_eq!(results.len(), 7);
    assert_eq!(data(&results[0]).0, b"A");
    assert_eq!(error(&results[1]), code::NO_NODE);
    assert_eq!(children(&results[2]).0, vec!["a", "dark"]);
    assert_eq!(error(&results[3]), code::NO_AUTH);
    assert_eq!(error(&results[4]), code::NO_AUTH);
    assert_eq!(error(&results[5]), code::BAD_ARGUMENTS);
    assert!(children(&results[6]).0.is_empty());

    // The single reads agree with the per-op results.
    expect_err(&s.call(op::get_data("/r/dark", false)).await, code::NO_AUTH);
    expect_err(
        &s.call(op::get_data("/r/a/", false)).await,
        code::BAD_ARGUMENTS,
    );

    // No ops: an empty answer.
    assert!(multi_read_results(s.call(op::multi_read(vec![])).await).is_empty());
}

/// All ops run under one hold of the tree's read lock: the response's zxid is the state every op
/// saw, and a write between two multiReads is seen whole by the second and not at all by the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_ops_see_one_zxid() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    let mut w = node.session().await;
    ok(&s.call(op::create("/z", b"0", Persistent)).await);
    let read = || {
        op::multi_read(vec![
            op::m::get_data("/z"),
            op::m::get_children("/z"),
            op::m::get_data("/z/new"),
        ])
    };

    let before = s.call(read()).await;
    let zxid_before = before.zxid;
    let r = multi_read_results(before);
    assert_eq!(data(&r[0]).0, b"0");
    assert!(children(&r[1]).0.is_empty());
    assert_eq!(error(&r[2]), code::NO_NODE);
    assert!(data(&r[0]).1.mzxid <= zxid_before);

    // One transaction changes all three things the multiRead looks at.
    let write = w
        .call(op::multi(vec![
            op::m::set_data("/z", b"1", -1),
            op::m::create("/z/new", b"N", Persistent),
        ]))
        .await;
    ok(&write);
    // The writer's session applied it; the reader's next request is answered after it too (sync).
    ok(&s.call(op::sync("/")).await);

    let after = s.call(read()).await;
    let zxid_after = after.zxid;
    assert!(zxid_after >= write.zxid && write.zxid > zxid_before);
    let r = multi_read_results(after);
    let (d, stat) = data(&r[0]);
    assert_eq!(d, b"1");
    assert_eq!(stat.mzxid, write.zxid);
    let (names, parent) = children(&r[1]);
    assert_eq!(names, vec!["new"]);
    assert_eq!(parent.pzxid, write.zxid);
    assert_eq!(data(&r[2]).1.czxid, write.zxid);
}

/// Concurrent writes never show half-applied between the ops of one multiRead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_never_seen_half_way() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    let mut w = node.session().await;
    ok(&s.call(op::create("/c", b"0", Persistent)).await);
    let writer = tokio::spawn(async move {
        for i in 1..=30 {
            // /c's data is the number of its children, always, at every zxid.
            let r = w
                .call(op::multi(vec![
                    op::m::create(&format!("/c/k{i}"), b"", Persistent),
                    op::m::set_data("/c", i.to_string().as_bytes(), -1),
                ]))
                .await;
            ok(&r);
        }
    });
    for _ in 0..30 {
        let r = multi_read_results(
            s.call(op::multi_read(vec![
                op::m::get_children("/c"),
                op::m::get_data("/c"),
            ]))
            .await,
        );
        let (names, parent) = children(&r[0]);
        let (d, stat) = data(&r[1]);
        let n: usize = std::str::from_utf8(d).unwrap().parse().unwrap();
        assert_eq!(names.len(), n, "children and data from one state");
        assert_eq!(parent, stat);
    }
    writer.await.unwrap();
}

/// ZooKeeper's multiRead ops carry no watch: a change after a multiRead notifies nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_read_leaves_no_watch() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    let mut w = node.session().await;
    ok(&s.call(op::create("/nw", b"", Persistent)).await);
    let r = s
        .call(op::multi_read(vec![
            op::m::get_data("/nw"),
            op::m::get_children("/nw"),
        ]))
        .await;
    assert_eq!(multi_read_results(r).len(), 2);
    ok(&w.call(op::create("/nw/x", b"", Persistent)).await);
    ok(&w.call(op::set_data("/nw", b"y", -1)).await);
    s.expect_no_event().await;
}

/// Reads and writes do not mix (ZooKeeper's MultiOperationRecord refuses it; its server fails a
/// multiRead holding another op type as a whole): the whole request is BADARGUMENTS and nothing
/// is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_op_in_a_multi_read_is_bad_arguments() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    ok(&s.call(op::create("/mx", b"", Persistent)).await);
    for write in [
        op::m::create("/mx/new", b"", Persistent),
        op::m::set_data("/mx", b"changed", -1),
        op::m::delete("/mx", -1),
        op::m::check("/mx", -1),
    ] {
        let r = s
            .call(op::multi_read(vec![op::m::get_data("/mx"), write]))
            .await;
        expect_err(&r, code::BAD_ARGUMENTS);
        assert!(
            r.result.is_none(),
            "no per-op results: the request failed as a whole"
        );
    }
    let mut watched = op::m::get_data("/mx");
    if let Some(pb::multi_op::Op::GetData(g)) = watched.op.as_mut() {
        g.watch = true;
    }
    expect_err(
        &s.call(op::multi_read(vec![watched])).await,
        code::BAD_ARGUMENTS,
    );
    // And a read op in a multi.
    let r = s
        .call(op::multi(vec![
            op::m::check("/mx", -1),
            op::m::get_data("/mx"),
        ]))
        .await;
    expect_err(&r, code::BAD_ARGUMENTS);
    let r = s.call(op::get_data("/mx", false)).await;
    assert_eq!(get_data_result(r).data.as_deref(), Some(&b""[..]));
    assert!(s.children("/mx").await.0.is_empty());
}

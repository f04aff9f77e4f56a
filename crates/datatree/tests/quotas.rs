//! Quotas as ZooKeeper 3.9 keeps them: limits in `/zookeeper/quota/<path>/zookeeper_limits`,
//! usage in `.../zookeeper_stats`; hard limits enforced in apply (every replica), soft ones only
//! warn; the usage derived from the tree again when a snapshot is loaded.

mod common;

use common::*;
use paddock_datatree::DataTree;
use paddock_types::quota::{limit_path, stat_path, StatsTrack};
use paddock_types::{CreateMode::*, ErrorCode, OpResult, Response, TxnOp};

/// What zkCli's `setquota` does: the quota path's parents, the limits node, then the stats node.
fn set_quota(h: &mut Harness, path: &str, limits: &str) {
    let mut p = String::from("/zookeeper/quota");
    for part in path.split('/').filter(|s| !s.is_empty()) {
        p.push('/');
        p.push_str(part);
        let code = h.code(1, create(&p, "", Persistent));
        assert!(
            matches!(code, ErrorCode::Ok | ErrorCode::NodeExists),
            "{p}: {code:?}"
        );
    }
    h.create_ok(1, &limit_path(path), limits, Persistent);
    h.create_ok(1, &stat_path(path), "count=0,bytes=0", Persistent);
}

/// (count, bytes) as the stats node reports them.
fn usage(tree: &DataTree, path: &str) -> (i64, i64) {
    let (data, _) = tree.get_data(&stat_path(path), None).expect("stats node");
    let t = StatsTrack::parse_bytes(&data);
    (t.count(), t.bytes())
}

fn hard(count: i64, bytes: i64) -> String {
    let mut t = StatsTrack::new();
    t.set_count(-1);
    t.set_bytes(-1);
    t.set_count_hard_limit(count);
    t.set_byte_hard_limit(bytes);
    t.to_string()
}

#[test]
fn clients_may_write_under_zookeeper_quota_but_nowhere_else_in_zookeeper() {
    let mut h = Harness::new();
    assert_eq!(
        h.code(1, create("/zookeeper/quota/a", "", Persistent)),
        ErrorCode::Ok
    );
    assert_eq!(
        h.code(1, set_data("/zookeeper/quota/a", "x", -1)),
        ErrorCode::Ok
    );
    assert_eq!(h.code(1, delete("/zookeeper/quota/a", -1)), ErrorCode::Ok);
    for op in [
        create("/zookeeper/x", "", Persistent),
        create("/zookeeper/quotax", "", Persistent),
        set_data("/zookeeper/quota", "", -1),
        delete("/zookeeper/quota", -1),
        set_data("/zookeeper/config", "", -1),
    ] {
        assert_eq!(h.code(1, op), ErrorCode::BadArguments);
    }
}

#[test]
fn usage_counts_the_quota_node_and_its_subtree_when_the_quota_is_set() {
    let mut h = Harness::new();
    h.create_ok(1, "/a", "12", Persistent);
    h.create_ok(1, "/a/b", "345", Persistent);
    h.create_ok(1, "/ab", "not under /a", Persistent);
    set_quota(&mut h, "/a", "count=10,bytes=-1");
    // The server replaced the client's count=0,bytes=0 with the real usage.
    assert_eq!(usage(&h.tree, "/a"), (2, 5));
}

#[test]
fn usage_follows_create_delete_set_data_multi_and_closed_sessions() {
    let mut h = Harness::new();
    h.open(5);
    h.create_ok(1, "/a", "", Persistent);
    set_quota(&mut h, "/a", "count=-1,bytes=-1");
    h.create_ok(1, "/a/b", "abc", Persistent);
    h.create_ok(1, "/a/b/c", "de", Persistent);
    assert_eq!(usage(&h.tree, "/a"), (3, 5));
    h.apply(1, set_data("/a/b", "a", -1));
    assert_eq!(usage(&h.tree, "/a"), (3, 3));
    h.apply(1, set_data("/a/b", "abcdef", -1));
    assert_eq!(usage(&h.tree, "/a"), (3, 8));
    h.apply(1, delete("/a/b/c", -1));
    assert_eq!(usage(&h.tree, "/a"), (2, 6));
    let multi = h.apply(
        1,
        TxnOp::Multi(vec![
            m_create("/a/m", "xy", Persistent),
            m_create("/a/s-", "z", PersistentSequential),
            m_delete("/a/m", -1),
        ]),
    );
    assert!(matches!(multi.result, Ok(Response::Multi(ref r)) if r.len() == 3));
    assert_eq!(usage(&h.tree, "/a"), (3, 7));
    h.create_ok(5, "/a/e1", "1234", Ephemeral);
    h.create_ok(5, "/a/e2", "", EphemeralSequential);
    assert_eq!(usage(&h.tree, "/a"), (5, 11));
    h.apply(5, TxnOp::CloseSession);
    assert_eq!(usage(&h.tree, "/a"), (3, 7));
    // Deleting the quota'd node itself counts too: nothing left but the quota.
    h.apply(1, delete("/a/b", -1));
    let (seq, _) = h.tree.get_children("/a", None).expect("a");
    assert_eq!(seq.len(), 1);
    h.apply(1, delete(&format!("/a/{}", seq[0]), -1));
    h.apply(1, delete("/a", -1));
    assert_eq!(usage(&h.tree, "/a"), (0, 0));
    h.create_ok(1, "/a", "hello", Persistent);
    assert_eq!(usage(&h.tree, "/a"), (1, 5));
}

#[test]
fn the_nearest_quotad_ancestor_is_charged() {
    let mut h = Harness::new();
    for p in ["/a", "/a/b", "/x"] {
        h.create_ok(1, p, "", Persistent);
    }
    // Nested quotas: zkCli refuses them, a raw client can make them; the nearest one counts.
    set_quota(&mut h, "/a", "count=-1,bytes=-1");
    set_quota(&mut h, "/a/b", "count=-1,bytes=-1");
    h.create_ok(1, "/a/b/c", "123", Persistent);
    h.create_ok(1, "/a/d", "4", Persistent);
    h.create_ok(1, "/x/y", "ignored", Persistent);
    assert_eq!(usage(&h.tree, "/a/b"), (2, 3));
    assert_eq!(usage(&h.tree, "/a"), (3, 1));
}

#[test]
fn a_hard_count_limit_refuses_the_create_and_changes_nothing() {
    let mut h = Harness::new();
    h.create_ok(1, "/a", "", Persistent);
    set_quota(&mut h, "/a", &hard(3, -1));
    h.create_ok(1, "/a/1", "", Persistent);
    h.create_ok(1, "/a/2", "", Persistent);
    let before = h.tree.digest();
    let a = h.apply(1, create("/a/3", "", Persistent));
    let err = a.result.expect_err("over the hard count");
    assert_eq!(err.code, ErrorCode::QuotaExceeded);
    assert!(err.message.contains("/a"), "{}", err.message);
    assert_eq!(
        h.code(1, create("/a/seq-", "", PersistentSequential)),
        ErrorCode::QuotaExceeded
    );
    assert_eq!(
        h.code(1, create("/a/1/deep", "", Persistent)),
        ErrorCode::QuotaExceeded
    );
    assert_eq!(h.tree.digest(), before);
    assert_eq!(usage(&h.tree, "/a"), (3, 0));
    // The parent's cversion did not move: the next sequential name is unchanged.
    assert_eq!(h.stat("/a").cversion, 2);
    // Free one, and there is room again.
    h.apply(1, delete("/a/2", -1));
    h.create_ok(1, "/a/3", "", Persistent);
    // Outside the quota'd subtree nothing is limited.
    h.create_ok(1, "/b", "", Persistent);
}

#[test]
fn a_hard_byte_limit_refuses_growth_but_not_shrinking() {
    let mut h = Harness::new();
    h.create_ok(1, "/a", "", Persistent);
    set_quota(&mut h, "/a", &hard(-1, 10));
    h.create_ok(1, "/a/x", "12345", Persistent);
    assert_eq!(
        h.code(1, create("/a/y", "123456", Persistent)),
        ErrorCode::QuotaExceeded
    );
    assert_eq!(
        h.code(1, set_data("/a/x", "12345678901", -1)),
        ErrorCode::QuotaExceeded
    );
    assert_eq!(h.stat("/a/x").version, 0);
    assert_eq!(h.code(1, set_data("/a/x", "1234567890", -1)), ErrorCode::Ok);
    assert_eq!(usage(&h.tree, "/a"), (2, 10));
    // Lower the limit under the usage (as `setquota -B` on a full subtree): shrinking still works.
    h.apply(1, set_data(&limit_path("/a"), &hard(-1, 4), -1));
    assert_eq!(h.code(1, set_data("/a/x", "12345", -1)), ErrorCode::Ok);
    assert_eq!(
        h.code(1, set_data("/a/x", "123456", -1)),
        ErrorCode::QuotaExceeded
    );
    assert_eq!(h.code(1, create("/a/z", "", Persistent)), ErrorCode::Ok); // no bytes added
}

#[test]
fn a_hard_limit_fails_the_whole_multi() {
    let mut h = Harness::new();
    h.create_ok(1, "/a", "", Persistent);
    set_quota(&mut h, "/a", &hard(3, -1));
    let before = h.tree.digest();
    let a = h.apply(
        1,
        TxnOp::Multi(vec![
            m_create("/a/1", "", Persistent),
            m_create("/a/2", "", Persistent),
            m_create("/a/3", "", Persistent),
        ]),
    );
    let Ok(Response::Multi(results)) = a.result else {
        panic!("{a:?}")
    };
    assert_eq!(
        results,
        vec![
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::QuotaExceeded),
        ]
    );
    assert!(a.events.is_empty());
    assert_eq!(h.tree.digest(), before);
    assert_eq!(usage(&h.tree, "/a"), (1, 0));
    // A multi that deletes first makes room for its own create.
    h.create_ok(1, "/a/1", "", Persistent);
    h.create_ok(1, "/a/2", "", Persistent);
    let ok = h.apply(
        1,
        TxnOp::Multi(vec![m_delete("/a/1", -1), m_create("/a/3", "", Persistent)]),
    );
    assert!(
        matches!(ok.result, Ok(Response::Multi(ref r)) if !r.iter().any(|r| matches!(r, OpResult::Error(_)))),
        "{ok:?}"
    );
}

#[test]
fn a_soft_limit_only_warns() {
    let mut h = Harness::new();
    h.create_ok(1, "/a", "", Persistent);
    set_quota(&mut h, "/a", "count=2,bytes=1");
    for i in 0..5 {
        h.create_ok(1, &format!("/a/{i}"), "data", Persistent);
    }
    assert_eq!(usage(&h.tree, "/a"), (6, 20));
}

#[test]
fn deleting_the_limits_node_removes_the_quota() {
    let mut h = Harness::new();
    h.create_ok(1, "/a", "", Persistent);
    set_quota(&mut h, "/a", &hard(1, -1));
    assert_eq!(
        h.code(1, create("/a/1", "", Persistent)),
        ErrorCode::QuotaExceeded
    );
    h.apply(1, delete(&limit_path("/a"), -1));
    assert_eq!(h.code(1, create("/a/1", "", Persistent)), ErrorCode::Ok);
}

#[test]
fn quotas_and_usage_are_rebuilt_from_a_snapshot() {
    let mut h = Harness::new();
    h.create_ok(1, "/a", "", Persistent);
    set_quota(&mut h, "/a", &hard(4, -1));
    h.create_ok(1, "/a/1", "xyz", Persistent);
    h.create_ok(1, "/a/2", "", Persistent);
    let mut bytes = Vec::new();
    h.tree.snapshot().write_to(&mut bytes).expect("writes");
    let copy = DataTree::read_snapshot(&mut bytes.as_slice()).expect("reads");
    assert_eq!(copy.digest(), h.tree.digest());
    assert_eq!(usage(&copy, "/a"), (3, 3));
    let mut h2 = Harness {
        tree: copy,
        next: h.next,
    };
    h2.create_ok(1, "/a/3", "", Persistent);
    assert_eq!(
        h2.code(1, create("/a/4", "", Persistent)),
        ErrorCode::QuotaExceeded
    );
    // The same txns on the original give the same tree.
    h.create_ok(1, "/a/3", "", Persistent);
    assert_eq!(
        h.code(1, create("/a/4", "", Persistent)),
        ErrorCode::QuotaExceeded
    );
    assert_eq!(h.tree.digest(), h2.tree.digest());
}

#[test]
fn a_quota_on_the_root_or_under_zookeeper_is_ignored() {
    let mut h = Harness::new();
    h.create_ok(
        1,
        "/zookeeper/quota/zookeeper_limits",
        &hard(1, 1),
        Persistent,
    );
    h.create_ok(1, "/a", "data", Persistent);
    h.create_ok(1, "/b", "data", Persistent);
}

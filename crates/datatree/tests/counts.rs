//! ZooKeeper 3.9's `getAllChildrenNumber` (every node strictly below a path) and `getEphemerals`
//! (a session's own ephemerals whose path starts with a prefix, sorted).

mod common;

use common::*;
use paddock_types::{CreateMode::*, ErrorCode, SessionId, TxnOp};

fn n(h: &Harness, path: &str) -> usize {
    h.tree.all_children_number(path).expect(path)
}

#[test]
fn all_children_number_counts_every_level_below_the_node() {
    let mut h = Harness::new();
    for p in [
        "/a", "/a/b", "/a/b/c", "/a/b/c/d", "/a/e", "/a-b", "/a-b/x", "/a0", "/b",
    ] {
        h.create_ok(0, p, "", Persistent);
    }
    assert_eq!(n(&h, "/a"), 4); // b, b/c, b/c/d, e; not /a-b or /a0
    assert_eq!(n(&h, "/a/b"), 2);
    assert_eq!(n(&h, "/a/b/c"), 1);
    assert_eq!(n(&h, "/a/b/c/d"), 0);
    assert_eq!(n(&h, "/a-b"), 1);
    assert_eq!(n(&h, "/b"), 0);
    // The root: every other node, the /zookeeper ones included (3 of them).
    assert_eq!(n(&h, "/"), 9 + 3);
    assert_eq!(n(&h, "/"), h.tree.node_count() - 1);
    assert_eq!(n(&h, "/zookeeper"), 2);
}

#[test]
fn all_children_number_of_a_missing_node_is_no_node() {
    let mut h = Harness::new();
    assert_eq!(n(&h, "/"), 3);
    h.create_ok(0, "/a", "", Persistent);
    for p in ["/x", "/a/b", "/a/"] {
        let err = h.tree.all_children_number(p).expect_err(p);
        assert_eq!(err.code, ErrorCode::NoNode, "{p}");
    }
}

#[test]
fn all_children_number_follows_deletes() {
    let mut h = Harness::new();
    for p in ["/a", "/a/b", "/a/b/c", "/a/d"] {
        h.create_ok(0, p, "", Persistent);
    }
    assert_eq!(n(&h, "/a"), 3);
    assert_eq!(h.code(0, delete("/a/b/c", -1)), ErrorCode::Ok);
    assert_eq!(n(&h, "/a"), 2);
    assert_eq!(n(&h, "/a/b"), 0);
    assert_eq!(h.code(0, delete("/a/b", -1)), ErrorCode::Ok);
    assert_eq!(h.code(0, delete("/a/d", -1)), ErrorCode::Ok);
    assert_eq!(n(&h, "/a"), 0);
    assert_eq!(n(&h, "/"), 4);
}

#[test]
fn ephemerals_are_per_session_filtered_by_a_string_prefix_and_sorted() {
    let mut h = Harness::new();
    h.open(1);
    h.open(2);
    h.create_ok(0, "/p", "", Persistent);
    for p in ["/p/z", "/p/a", "/pq", "/e"] {
        h.create_ok(1, p, "", Ephemeral);
    }
    let (seq, _) = h.create_ok(1, "/p/s-", "", EphemeralSequential);
    h.create_ok(2, "/p/other", "", Ephemeral);
    let one = |h: &Harness, prefix: &str| h.tree.ephemerals_with_prefix(SessionId(1), prefix);
    assert_eq!(
        one(&h, "/"),
        vec!["/e", "/p/a", seq.as_str(), "/p/z", "/pq"]
    );
    // A plain string prefix, as ZooKeeper: "/p" also matches "/pq".
    assert_eq!(one(&h, "/p"), vec!["/p/a", seq.as_str(), "/p/z", "/pq"]);
    assert_eq!(one(&h, "/p/s"), vec![seq.as_str()]);
    assert!(one(&h, "/x").is_empty());
    assert_eq!(
        h.tree.ephemerals_with_prefix(SessionId(2), "/"),
        vec!["/p/other"]
    );
    assert!(h.tree.ephemerals_with_prefix(SessionId(3), "/").is_empty());
    // Gone with the node, and with the session.
    assert_eq!(h.code(1, delete("/p/a", -1)), ErrorCode::Ok);
    assert_eq!(one(&h, "/p/"), vec![seq.as_str(), "/p/z"]);
    assert_eq!(h.code(1, TxnOp::CloseSession), ErrorCode::Ok);
    assert!(one(&h, "/").is_empty());
}

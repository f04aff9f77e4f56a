//! Container and TTL nodes (ZooKeeper 3.5+): the Stat markers, the "had a child" rule, TTL
//! expiry judged by mtime, the sweeper's conditional delete, and the two indexes across
//! snapshots.

mod common;

use common::*;
use paddock_datatree::{DataTree, Reapable};
use paddock_types::{
    Acl, CreateMode, ErrorCode, EventType, MultiOp, NodeKind, Response, SessionId, TxnOp,
};

const TTL: CreateMode = CreateMode::PersistentWithTtl { ttl_ms: 100 };

fn reap(h: &mut Harness, r: &Reapable) -> ErrorCode {
    h.code(0, r.txn_op())
}

#[test]
fn stat_shows_zookeepers_ephemeral_owner_markers() {
    let mut h = Harness::new();
    let (_, c) = h.create_ok(1, "/c", "", CreateMode::Container);
    assert_eq!(c.ephemeral_owner, i64::MIN);
    let (_, t) = h.create_ok(1, "/t", "", TTL);
    assert_eq!(t.ephemeral_owner as u64, 0xFF00_0000_0000_0064);
    let seq = CreateMode::PersistentSequentialWithTtl { ttl_ms: 5 };
    let (path, _) = h.create_ok(1, "/s-", "", seq);
    assert_eq!(path, "/s-0000000002");
    assert_eq!((h.tree.container_count(), h.tree.ttl_count()), (1, 2));
}

#[test]
fn containers_and_ttl_nodes_take_children_even_ephemeral_ones() {
    let mut h = Harness::new();
    h.open(7);
    h.create_ok(7, "/c", "", CreateMode::Container);
    h.create_ok(7, "/t", "", TTL);
    h.create_ok(7, "/c/e", "", CreateMode::Ephemeral);
    h.create_ok(7, "/t/e", "", CreateMode::Ephemeral);
    assert_eq!(h.tree.ephemerals(SessionId(7)), vec!["/c/e", "/t/e"]);
}

#[test]
fn a_bad_ttl_is_bad_arguments_at_apply_too() {
    let mut h = Harness::new();
    for ttl_ms in [0, -1, 0xFF_FFFF_FFFF + 1] {
        let mode = CreateMode::PersistentWithTtl { ttl_ms };
        assert_eq!(h.code(1, create("/t", "", mode)), ErrorCode::BadArguments);
    }
    assert!(h.tree.exists("/t", None).is_none());
    assert_eq!(h.tree.ttl_count(), 0);
}

#[test]
fn a_container_is_a_candidate_only_once_it_had_a_child_and_has_none() {
    let mut h = Harness::new();
    h.create_ok(1, "/c", "", CreateMode::Container);
    assert!(
        h.tree.sweep_candidates(i64::MAX, 10).is_empty(),
        "never had a child"
    );
    h.create_ok(1, "/c/x", "", CreateMode::Persistent);
    assert!(
        h.tree.sweep_candidates(i64::MAX, 10).is_empty(),
        "has a child"
    );
    h.apply(1, delete("/c/x", -1));
    let found = h.tree.sweep_candidates(T0, 10);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].path, "/c");
    let a = h.apply(0, found[0].txn_op());
    assert!(matches!(a.result, Ok(Response::Delete)), "{a:?}");
    assert!(h.tree.exists("/c", None).is_none());
    assert_eq!(h.tree.container_count(), 0);
    // Once: a second delete of the same sweep fails harmlessly.
    assert_eq!(reap(&mut h, &found[0]), ErrorCode::NoNode);
}

#[test]
fn a_ttl_node_expires_by_mtime_and_not_while_it_has_children() {
    let mut h = Harness::new();
    let (_, st) = h.create_ok(1, "/t", "", TTL); // mtime T0 + 1
    assert_eq!(st.mtime, T0 + 1);
    assert!(
        h.tree.sweep_candidates(T0 + 101, 10).is_empty(),
        "ttl not passed"
    );
    assert_eq!(h.tree.sweep_candidates(T0 + 102, 10).len(), 1);
    // A setData moves mtime: the clock starts again.
    h.apply(1, set_data("/t", "v", -1)); // zxid 2, mtime T0 + 2
    assert!(h.tree.sweep_candidates(T0 + 102, 10).is_empty());
    h.create_ok(1, "/t/child", "", CreateMode::Persistent);
    assert!(
        h.tree.sweep_candidates(i64::MAX, 10).is_empty(),
        "has a child"
    );
    h.apply(1, delete("/t/child", -1));
    let found = h.tree.sweep_candidates(T0 + 1_000, 10);
    assert_eq!(found.len(), 1);
    assert_eq!(reap(&mut h, &found[0]), ErrorCode::Ok);
    assert_eq!(h.tree.ttl_count(), 0);
}

#[test]
fn the_conditional_delete_fails_harmlessly_when_the_node_changed() {
    let mut h = Harness::new();
    h.create_ok(1, "/c", "", CreateMode::Container);
    h.create_ok(1, "/c/x", "", CreateMode::Persistent);
    h.apply(1, delete("/c/x", -1));
    let seen = h.tree.sweep_candidates(T0, 10).remove(0);
    // A child came back: NotEmpty.
    h.create_ok(1, "/c/y", "", CreateMode::Persistent);
    assert_eq!(reap(&mut h, &seen), ErrorCode::NotEmpty);
    // And left again: the cversion moved, BadVersion; the next sweep finds it anew.
    h.apply(1, delete("/c/y", -1));
    assert_eq!(reap(&mut h, &seen), ErrorCode::BadVersion);
    // Deleted and re-created as a plain node with the same versions: NoNode (another czxid).
    h.apply(1, delete("/c", -1));
    h.create_ok(1, "/c", "", CreateMode::Persistent);
    let again = Reapable {
        czxid: h.stat("/c").czxid,
        ..seen.clone()
    };
    assert_eq!(reap(&mut h, &seen), ErrorCode::NoNode);
    assert_eq!(
        reap(&mut h, &again),
        ErrorCode::BadArguments,
        "not a container"
    );
    assert!(h.tree.exists("/c", None).is_some());
}

#[test]
fn the_reap_fires_watches_and_needs_no_acl() {
    let mut h = Harness::new();
    let locked = vec![Acl::new(
        paddock_types::acl::perms::ALL,
        paddock_types::Id::new("digest", "u:h"),
    )];
    let a = h.apply(
        1,
        TxnOp::Multi(vec![
            MultiOp::Create {
                path: "/c".into(),
                data: Default::default(),
                mode: CreateMode::Container,
                acl: Acl::open(),
            },
            m_create("/c/x", "", CreateMode::Persistent),
            m_delete("/c/x", -1),
        ]),
    );
    assert!(a.result.is_ok());
    let acl_op = TxnOp::SetAcl {
        path: "/c".into(),
        acl: locked,
        version: -1,
    };
    assert_eq!(h.code(1, acl_op), ErrorCode::Ok);
    assert!(h.tree.exists("/c", Some(SessionId(9))).is_some());
    let r = h.tree.sweep_candidates(T0, 10).remove(0);
    let a = h.apply(0, r.txn_op());
    assert!(a.result.is_ok(), "{a:?}");
    assert_eq!(a.events.len(), 1);
    assert_eq!(a.events[0].1.event_type, EventType::NodeDeleted);
}

#[test]
fn the_limit_bounds_one_sweep() {
    let mut h = Harness::new();
    for i in 0..5 {
        h.create_ok(1, &format!("/t{i}"), "", TTL);
    }
    assert_eq!(h.tree.sweep_candidates(i64::MAX, 3).len(), 3);
    assert_eq!(h.tree.sweep_candidates(i64::MAX, 10).len(), 5);
}

#[test]
fn indexes_are_rebuilt_from_a_snapshot_and_kept_by_multi_rollback() {
    let mut h = Harness::new();
    h.create_ok(1, "/c", "", CreateMode::Container);
    h.create_ok(1, "/c/x", "", CreateMode::Persistent);
    h.create_ok(1, "/t", "", TTL);
    h.create_ok(1, "/p", "", CreateMode::Persistent);
    // A failed multi that created a container rolls the index back with the nodes.
    let failed = h.apply(
        1,
        TxnOp::Multi(vec![
            m_create("/c2", "", CreateMode::Container),
            m_delete("/missing", -1),
        ]),
    );
    assert!(matches!(failed.result, Ok(Response::Multi(_))));
    assert_eq!((h.tree.container_count(), h.tree.ttl_count()), (1, 1));
    h.apply(1, delete("/c/x", -1));

    let mut bytes = Vec::new();
    h.tree.snapshot().write_to(&mut bytes).expect("writes");
    let copy = DataTree::read_snapshot(&mut bytes.as_slice()).expect("reads");
    assert_eq!((copy.container_count(), copy.ttl_count()), (1, 1));
    assert_eq!(copy.digest(), h.tree.digest());
    assert_eq!(
        copy.sweep_candidates(i64::MAX, 10),
        h.tree.sweep_candidates(i64::MAX, 10)
    );
    assert_eq!(
        NodeKind::from_owner(copy.exists("/t", None).expect("there").ephemeral_owner),
        NodeKind::Ttl { ttl_ms: 100 }
    );
}

#[test]
fn a_sweep_over_many_ordinary_nodes_looks_only_at_the_indexes() {
    let mut h = Harness::new();
    for i in 0..20_000 {
        h.create_ok(1, &format!("/n{i}"), "", CreateMode::Persistent);
    }
    h.create_ok(1, "/t", "", TTL);
    let started = std::time::Instant::now();
    for _ in 0..1_000 {
        assert_eq!(h.tree.sweep_candidates(i64::MAX, 10).len(), 1);
    }
    // 1,000 sweeps of a 20,000-node tree: a full scan would take seconds in a debug build.
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

//! Watch rules: what each read leaves, what each change fires, one-shot, once per watcher.

mod common;

use common::*;
use paddock_types::{
    CreateMode::*,
    ErrorCode, EventType,
    EventType::{NodeChildrenChanged, NodeCreated, NodeDataChanged, NodeDeleted},
    KeeperState, SessionId, TxnOp, WatchKind, WatchedEvent, Zxid,
};

const W1: SessionId = SessionId(101);
const W2: SessionId = SessionId(102);

fn events(applied: &paddock_datatree::Applied) -> Vec<(SessionId, EventType, String)> {
    applied
        .events
        .iter()
        .map(|(w, e)| (*w, e.event_type, e.path.clone()))
        .collect()
}

fn ev(w: SessionId, t: EventType, p: &str) -> (SessionId, EventType, String) {
    (w, t, p.to_string())
}

#[test]
fn data_watch_fires_node_data_changed_once() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent);
    h.tree.get_data("/a", Some(W1)).unwrap();
    assert_eq!(h.tree.watch_count(), 1);
    let a = h.apply(0, set_data("/a", "x", -1));
    assert_eq!(
        a.events,
        vec![(
            W1,
            WatchedEvent {
                event_type: NodeDataChanged,
                state: KeeperState::SyncConnected,
                path: "/a".into(),
                zxid: Zxid(2)
            }
        )]
    );
    assert_eq!(h.tree.watch_count(), 0);
    assert!(
        h.apply(0, set_data("/a", "y", -1)).events.is_empty(),
        "one-shot"
    );
}

#[test]
fn exists_on_a_missing_node_leaves_an_exist_watch_that_fires_node_created() {
    let mut h = Harness::new();
    assert!(h.tree.exists("/a", Some(W1)).is_none());
    assert_eq!(
        h.tree.watches_list(),
        vec![(W1, "/a".to_string(), WatchKind::Data)]
    );
    let a = h.apply(0, create("/a", "", Persistent));
    assert_eq!(events(&a), vec![ev(W1, NodeCreated, "/a")]);
    assert_eq!(h.tree.watch_count(), 0);
}

#[test]
fn exists_on_an_existing_node_leaves_a_data_watch() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent);
    assert!(h.tree.exists("/a", Some(W1)).is_some());
    assert_eq!(
        events(&h.apply(0, delete("/a", -1))),
        vec![ev(W1, NodeDeleted, "/a")]
    );
}

#[test]
fn child_watch_fires_on_child_create_and_delete_not_on_data() {
    let mut h = Harness::new();
    h.create_ok(0, "/p", "", Persistent);
    h.tree.get_children("/p", Some(W1)).unwrap();
    assert!(h.apply(0, set_data("/p", "x", -1)).events.is_empty());
    assert_eq!(
        events(&h.apply(0, create("/p/c", "", Persistent))),
        vec![ev(W1, NodeChildrenChanged, "/p")]
    );
    h.tree.get_children("/p", Some(W1)).unwrap();
    assert_eq!(
        events(&h.apply(0, delete("/p/c", -1))),
        vec![ev(W1, NodeChildrenChanged, "/p")]
    );
}

#[test]
fn create_fires_node_created_then_parent_children_changed() {
    let mut h = Harness::new();
    h.create_ok(0, "/p", "", Persistent);
    h.tree.get_children("/p", Some(W2)).unwrap();
    h.tree.exists("/p/c", Some(W1));
    assert_eq!(
        events(&h.apply(0, create("/p/c", "", Persistent))),
        vec![
            ev(W1, NodeCreated, "/p/c"),
            ev(W2, NodeChildrenChanged, "/p")
        ]
    );
}

#[test]
fn delete_fires_one_node_deleted_per_watcher_then_parent_children_changed() {
    let mut h = Harness::new();
    h.create_ok(0, "/p", "", Persistent);
    h.create_ok(0, "/p/c", "", Persistent);
    h.tree.get_data("/p/c", Some(W1)).unwrap();
    h.tree.get_children("/p/c", Some(W1)).unwrap();
    h.tree.get_children("/p/c", Some(W2)).unwrap();
    h.tree.get_children("/p", Some(W2)).unwrap();
    assert_eq!(h.tree.watch_count(), 4);
    assert_eq!(
        events(&h.apply(0, delete("/p/c", -1))),
        vec![
            ev(W1, NodeDeleted, "/p/c"),
            ev(W2, NodeDeleted, "/p/c"),
            ev(W2, NodeChildrenChanged, "/p")
        ]
    );
    assert_eq!(h.tree.watch_count(), 0);
}

#[test]
fn registering_twice_gives_one_event() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent);
    h.tree.get_data("/a", Some(W1)).unwrap();
    h.tree.exists("/a", Some(W1));
    assert_eq!(h.tree.watch_count(), 1);
    assert_eq!(
        events(&h.apply(0, set_data("/a", "", -1))),
        vec![ev(W1, NodeDataChanged, "/a")]
    );
}

#[test]
fn reads_of_missing_nodes_leave_no_watch() {
    let h = Harness::new();
    assert_eq!(
        h.tree.get_data("/nope", Some(W1)).unwrap_err().code,
        ErrorCode::NoNode
    );
    assert_eq!(
        h.tree.get_children("/nope", Some(W1)).unwrap_err().code,
        ErrorCode::NoNode
    );
    assert_eq!(h.tree.watch_count(), 0);
}

#[test]
fn failed_writes_and_failed_multis_fire_nothing() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent);
    h.tree.get_data("/a", Some(W1)).unwrap();
    h.tree.get_children("/", Some(W1)).unwrap();
    assert!(h.apply(0, set_data("/a", "", 7)).events.is_empty());
    let multi = TxnOp::Multi(vec![
        m_set("/a", "x", -1),
        m_create("/b", "", Persistent),
        m_check("/a", 9),
    ]);
    assert!(h.apply(0, multi).events.is_empty());
    assert_eq!(h.tree.watch_count(), 2);
}

#[test]
fn successful_multi_fires_in_op_order() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent);
    h.tree.get_data("/a", Some(W1)).unwrap();
    h.tree.get_children("/", Some(W2)).unwrap();
    h.tree.exists("/b", Some(W2));
    let multi = TxnOp::Multi(vec![m_create("/b", "", Persistent), m_set("/a", "x", -1)]);
    let a = h.apply(0, multi);
    assert_eq!(
        events(&a),
        vec![
            ev(W2, NodeCreated, "/b"),
            ev(W2, NodeChildrenChanged, "/"),
            ev(W1, NodeDataChanged, "/a")
        ]
    );
    assert!(a.events.iter().all(|(_, e)| e.zxid == Zxid(2)));
}

#[test]
fn remove_watcher_drops_all_of_its_watches() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent);
    h.tree.get_data("/a", Some(W1)).unwrap();
    h.tree.get_children("/a", Some(W1)).unwrap();
    h.tree.exists("/z", Some(W1));
    h.tree.get_data("/a", Some(W2)).unwrap();
    assert_eq!(h.tree.watch_count(), 4);
    h.tree.remove_watcher(W1);
    assert_eq!(h.tree.watch_count(), 1);
    assert_eq!(
        events(&h.apply(0, delete("/a", -1))),
        vec![ev(W2, NodeDeleted, "/a")]
    );
}

#[test]
fn close_session_fires_ephemeral_watches_and_drops_the_sessions_watches() {
    let mut h = Harness::new();
    h.open(W1.0);
    h.create_ok(W1.0, "/e", "", Ephemeral);
    h.tree.get_data("/e", Some(W2)).unwrap();
    h.tree.get_data("/zookeeper", Some(W1)).unwrap();
    let a = h.apply(W1.0, TxnOp::CloseSession);
    assert_eq!(events(&a), vec![ev(W2, NodeDeleted, "/e")]);
    assert_eq!(
        h.tree.watch_count(),
        0,
        "the closed session's own watch is gone too"
    );
}

#[test]
fn a_clone_has_no_watches_and_does_not_fire_the_originals() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent);
    h.tree.get_data("/a", Some(W1)).unwrap();
    let mut copy = h.tree.clone();
    assert_eq!(copy.watch_count(), 0);
    let txn = h.txn(0, set_data("/a", "x", -1));
    assert!(copy.apply(&txn).events.is_empty());
    assert_eq!(h.tree.watch_count(), 1);
    assert_eq!(h.tree.get_data("/a", None).unwrap().0.as_ref(), b"");
    assert_eq!(
        events(&h.tree.apply(&txn)),
        vec![ev(W1, NodeDataChanged, "/a")]
    );
}

//! `DataTree::set_watches` (ZooKeeper's SetWatches): re-registering a moved client's watches and
//! firing at once the ones whose node changed after the client's last seen zxid.

mod common;

use common::*;
use paddock_datatree::RECENT_CHANGES;
use paddock_types::{
    CreateMode::*,
    EventType::{self, NodeChildrenChanged, NodeCreated, NodeDataChanged, NodeDeleted},
    SessionId, SetWatches, WatchKind, Zxid,
};

const W: SessionId = SessionId(101);

fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|p| p.to_string()).collect()
}

fn set(
    h: &Harness,
    rel: u64,
    data: &[&str],
    exist: &[&str],
    child: &[&str],
) -> Vec<(EventType, String, Zxid)> {
    let lists = SetWatches {
        data: paths(data),
        exist: paths(exist),
        child: paths(child),
        ..SetWatches::default()
    };
    h.tree
        .set_watches(W, Zxid(rel), &lists)
        .events
        .into_iter()
        .map(|e| (e.event_type, e.path, e.zxid))
        .collect()
}

fn watches(h: &Harness) -> Vec<(String, WatchKind)> {
    h.tree
        .watches_list()
        .into_iter()
        .map(|(_, p, k)| (p, k))
        .collect()
}

#[test]
fn unchanged_nodes_are_registered_without_events() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent); // zxid 1
    let rel = h.tree.last_zxid().0;
    assert!(set(&h, rel, &["/a"], &["/missing"], &["/a"]).is_empty());
    assert_eq!(
        watches(&h),
        vec![
            ("/a".to_string(), WatchKind::Data),
            ("/a".to_string(), WatchKind::Child),
            ("/missing".to_string(), WatchKind::Data), // exist watches share the data table
        ]
    );
    // Registered for real: the next change fires them.
    let a = h.apply(0, set_data("/a", "x", -1));
    assert_eq!(a.events.len(), 1);
    assert_eq!(a.events[0].1.event_type, NodeDataChanged);
    let c = h.apply(0, create("/missing", "", Persistent));
    assert_eq!(c.events.len(), 1);
    assert_eq!(c.events[0].1.event_type, NodeCreated);
}

#[test]
fn data_watch_fires_data_changed_when_mzxid_is_above_rel_zxid() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent); // 1
    h.apply(0, set_data("/a", "x", -1)); // 2: mzxid 2
    assert_eq!(
        set(&h, 1, &["/a"], &[], &[]),
        vec![(NodeDataChanged, "/a".into(), Zxid(2))]
    );
    assert_eq!(h.tree.watch_count(), 0, "a fired watch is not registered");
    // At exactly the client's zxid the client has seen the change: no event, a watch.
    assert!(set(&h, 2, &["/a"], &[], &[]).is_empty());
    assert_eq!(h.tree.watch_count(), 1);
}

#[test]
fn data_and_child_watches_on_a_deleted_node_give_one_node_deleted() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent); // 1
    h.apply(0, delete("/a", -1)); // 2
    assert_eq!(
        set(&h, 1, &["/a"], &[], &["/a"]),
        vec![(NodeDeleted, "/a".into(), Zxid(2))]
    );
    assert_eq!(h.tree.watch_count(), 0);
}

#[test]
fn exist_watch_fires_node_created_when_the_node_exists() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent); // 1
    h.apply(0, set_data("/a", "x", -1)); // 2
                                         // Whatever rel_zxid: the client's exist watch means it saw the node missing.
    assert_eq!(
        set(&h, 5, &[], &["/a"], &[]),
        vec![(NodeCreated, "/a".into(), Zxid(1))]
    );
    assert_eq!(h.tree.watch_count(), 0);
}

#[test]
fn child_watch_fires_children_changed_when_pzxid_is_above_rel_zxid() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent); // 1
    h.create_ok(0, "/a/b", "", Persistent); // 2: pzxid of /a
    h.apply(0, set_data("/a", "x", -1)); // 3: mzxid of /a, pzxid unchanged
    assert_eq!(
        set(&h, 1, &[], &[], &["/a"]),
        vec![(NodeChildrenChanged, "/a".into(), Zxid(2))]
    );
    // A data change alone does not fire a child watch.
    assert!(set(&h, 2, &[], &[], &["/a"]).is_empty());
    assert_eq!(watches(&h), vec![("/a".to_string(), WatchKind::Child)]);
}

#[test]
fn events_come_in_list_order_data_then_exist_then_child() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent); // 1
    h.create_ok(0, "/b", "", Persistent); // 2
    h.create_ok(0, "/b/c", "", Persistent); // 3
    h.apply(0, set_data("/a", "x", -1)); // 4
    let got: Vec<(EventType, String)> = set(&h, 1, &["/gone", "/a"], &["/b"], &["/b"])
        .into_iter()
        .map(|(t, p, _)| (t, p))
        .collect();
    assert_eq!(
        got,
        vec![
            (NodeDeleted, "/gone".to_string()),
            (NodeDataChanged, "/a".to_string()),
            (NodeCreated, "/b".to_string()),
            (NodeChildrenChanged, "/b".to_string()),
        ]
    );
}

#[test]
fn set_watches_is_idempotent_for_watches_already_set() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent);
    h.tree.get_data("/a", Some(W)).unwrap();
    assert!(set(&h, 1, &["/a"], &[], &[]).is_empty());
    assert_eq!(h.tree.watch_count(), 1);
    assert_eq!(
        h.apply(0, set_data("/a", "x", -1)).events.len(),
        1,
        "fires once"
    );
}

#[test]
fn exist_watch_on_an_impossible_path_is_dropped() {
    let h = Harness::new();
    assert!(set(&h, 0, &[], &["no-slash"], &[]).is_empty());
    assert_eq!(h.tree.watch_count(), 0);
}

/// Persistent watches listed on resume: set again, and every change after `rel` they match is
/// replayed, one event per change, in zxid order.
fn resume_persistent(
    h: &Harness,
    rel: u64,
    persistent: &[&str],
    recursive: &[&str],
) -> (Vec<(EventType, String, Zxid)>, bool) {
    let lists = SetWatches {
        persistent: paths(persistent),
        persistent_recursive: paths(recursive),
        ..SetWatches::default()
    };
    let r = h.tree.set_watches(W, Zxid(rel), &lists);
    let events = r
        .events
        .into_iter()
        .map(|e| (e.event_type, e.path, e.zxid))
        .collect();
    (events, r.missed)
}

#[test]
fn persistent_watches_replay_every_change_they_missed() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent); // 1
    let rel = h.tree.last_zxid().0;
    h.create_ok(0, "/a/b", "", Persistent); // 2
    h.apply(0, set_data("/a/b", "1", -1)); // 3
    h.apply(0, set_data("/a/b", "2", -1)); // 4
    h.apply(0, set_data("/a", "x", -1)); // 5
    h.create_ok(0, "/other", "", Persistent); // 6
    h.apply(0, delete("/a/b", -1)); // 7
    let s = |p: &str| p.to_string();
    let (events, missed) = resume_persistent(&h, rel, &[], &["/a"]);
    assert!(!missed);
    assert_eq!(
        events,
        vec![
            (NodeCreated, s("/a/b"), Zxid(2)),
            (NodeDataChanged, s("/a/b"), Zxid(3)),
            (NodeDataChanged, s("/a/b"), Zxid(4)),
            (NodeDataChanged, s("/a"), Zxid(5)),
            (NodeDeleted, s("/a/b"), Zxid(7)),
        ],
        "recursive: the subtree, no child events, nothing outside it"
    );
    let (events, _) = resume_persistent(&h, 4, &["/a"], &[]);
    assert!(
        events.contains(&(NodeDataChanged, s("/a"), Zxid(5)))
            && events.contains(&(NodeChildrenChanged, s("/a"), Zxid(7))),
        "persistent: its own path, child events included: {events:?}"
    );
    assert_eq!(
        watches(&h),
        vec![
            ("/a".to_string(), WatchKind::Persistent),
            ("/a".to_string(), WatchKind::PersistentRecursive),
        ]
    );
    // Registered for real: the next change fires them (one event for the one watcher).
    let a = h.apply(0, set_data("/a", "y", -1));
    assert_eq!(a.events.len(), 1);
}

#[test]
fn changes_older_than_the_recent_triggers_are_reported_missed_not_invented() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent);
    let rel = h.tree.last_zxid().0;
    for i in 0..=RECENT_CHANGES {
        h.apply(0, set_data("/a", &i.to_string(), -1));
    }
    let (events, missed) = resume_persistent(&h, rel, &["/a"], &[]);
    assert!(missed);
    assert!(events.is_empty());
    // A client that is up to date misses nothing.
    let last = h.tree.last_zxid().0;
    let (events, missed) = resume_persistent(&h, last, &["/a"], &[]);
    assert!(!missed && events.is_empty());
}

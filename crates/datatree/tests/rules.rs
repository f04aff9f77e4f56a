//! One test per apply rule of the crate doc (and of ZooKeeper's DataTree / PrepRequestProcessor).

mod common;

use common::*;
use paddock_datatree::{DataTree, SessionInfo};
use paddock_types::{
    CreateMode::*, ErrorCode, OpResult, Response, SessionId, Stat, TxnOp, Zxid, PASSWORD_LEN,
};

#[test]
fn new_tree_has_root_and_system_nodes_with_zero_stats() {
    let tree = DataTree::new();
    assert_eq!(tree.last_zxid(), Zxid::ZERO);
    assert_eq!(tree.node_count(), 4);
    for path in ["/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"] {
        let stat = tree.exists(path, None).expect(path);
        assert_eq!(
            Stat {
                num_children: 0,
                ..stat
            },
            Stat::default(),
            "{path}"
        );
    }
    assert_eq!(tree.get_children("/", None).unwrap().0, vec!["zookeeper"]);
    let (mut kids, stat) = tree.get_children("/zookeeper", None).unwrap();
    kids.sort();
    assert_eq!(kids, vec!["config", "quota"]);
    assert_eq!(stat.num_children, 2);
    // ZooKeeper's approximate size: path lengths + data lengths.
    assert_eq!(tree.approximate_data_size(), (1 + 10 + 17 + 16) as u64);
    assert!(tree.sessions().is_empty());
}

#[test]
fn out_of_order_zxid_is_a_system_error_and_changes_nothing() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "x", Persistent);
    let before = h.tree.digest();
    for zxid in [0, 1] {
        let txn = paddock_types::Txn {
            header: paddock_types::TxnHeader {
                conn_ids: Vec::new(),
                session: SessionId(0),
                cxid: 0,
                zxid: Zxid(zxid),
                time_ms: T0,
                legacy_sequence: false,
            },
            op: create("/b", "", Persistent),
        };
        let applied = h.tree.apply(&txn);
        let err = applied.result.expect_err("stale zxid");
        assert_eq!(err.code, ErrorCode::SystemError);
        assert!(err.message.contains("out of order"), "{}", err.message);
    }
    assert_eq!(h.tree.digest(), before);
    assert_eq!(h.tree.last_zxid(), Zxid(1));
    assert!(h.tree.exists("/b", None).is_none());
}

#[test]
fn failed_write_consumes_its_zxid_and_changes_nothing_else() {
    let mut h = Harness::new();
    let before = h.tree.digest();
    assert_eq!(
        h.code(0, create("/missing/child", "", Persistent)),
        ErrorCode::NoNode
    );
    assert_eq!(h.tree.last_zxid(), Zxid(1));
    assert_eq!(h.tree.digest(), before);
}

#[test]
fn create_session_opens_the_session() {
    let mut h = Harness::new();
    let applied = h.apply(42, open_session(6_000));
    assert_eq!(
        applied.result.unwrap(),
        Response::CreateSession {
            session: SessionId(42),
            timeout_ms: 6_000
        }
    );
    let info = SessionInfo {
        timeout_ms: 6_000,
        password: [7; PASSWORD_LEN],
    };
    assert_eq!(h.tree.session(SessionId(42)), Some(info));
    assert_eq!(h.tree.sessions(), vec![(SessionId(42), info)]);
    assert_eq!(
        h.code(0, open_session(1)),
        ErrorCode::BadArguments,
        "session 0 means none"
    );
}

#[test]
fn close_session_deletes_its_ephemerals_like_deletes() {
    let mut h = Harness::new();
    h.open(1);
    h.open(2);
    h.create_ok(0, "/app", "", Persistent);
    h.create_ok(1, "/app/e1", "", Ephemeral);
    let (seq, _) = h.create_ok(1, "/app/e-", "", EphemeralSequential);
    h.create_ok(2, "/app/other", "", Ephemeral);
    assert_eq!(
        h.tree.ephemerals(SessionId(1)),
        vec![seq.clone(), "/app/e1".to_string()]
    );
    let cversion = h.stat("/app").cversion;

    let applied = h.apply(1, TxnOp::CloseSession);
    assert_eq!(applied.result.unwrap(), Response::CloseSession);
    let zxid = h.tree.last_zxid().as_i64();
    assert!(h.tree.exists("/app/e1", None).is_none());
    assert!(h.tree.exists(&seq, None).is_none());
    assert!(h.tree.exists("/app/other", None).is_some());
    let app = h.stat("/app");
    assert_eq!(
        (app.cversion, app.pzxid, app.num_children),
        (cversion + 2, zxid, 1)
    );
    assert_eq!(h.tree.session(SessionId(1)), None);
    assert!(h.tree.ephemerals(SessionId(1)).is_empty());
    assert_eq!(
        h.tree.ephemerals(SessionId(2)),
        vec!["/app/other".to_string()]
    );
}

#[test]
fn close_of_an_unknown_session_is_ok() {
    let mut h = Harness::new();
    assert_eq!(
        h.apply(99, TxnOp::CloseSession).result.unwrap(),
        Response::CloseSession
    );
}

#[test]
fn root_and_system_nodes_are_read_only() {
    let mut h = Harness::new();
    let ops = [
        create("/", "", Persistent),
        create("/zookeeper", "", Persistent),
        create("/zookeeper/x", "", Persistent),
        create("/zookeeper/", "", PersistentSequential),
        create("/zookeeper/nope/deeper", "", Persistent),
        delete("/", -1),
        delete("/zookeeper/quota", -1),
        set_data("/", "x", -1),
        set_data("/zookeeper/config", "x", -1),
    ];
    for op in ops {
        assert_eq!(h.code(0, op.clone()), ErrorCode::BadArguments, "{op:?}");
    }
    // A sibling whose name merely starts with "zookeeper" is an ordinary node.
    h.create_ok(0, "/zookeeper-", "", PersistentSequential);
    h.create_ok(0, "/zookeeperx", "", Persistent);
}

#[test]
fn invalid_paths_are_bad_arguments_not_panics() {
    let mut h = Harness::new();
    for path in ["", "a", "/a/", "//", "/a\0b", "/a/../b", "/."] {
        assert_eq!(
            h.code(0, create(path, "", Persistent)),
            ErrorCode::BadArguments,
            "{path:?}"
        );
        assert_eq!(
            h.code(0, delete(path, -1)),
            ErrorCode::BadArguments,
            "{path:?}"
        );
        assert_eq!(
            h.code(0, set_data(path, "", -1)),
            ErrorCode::BadArguments,
            "{path:?}"
        );
        assert!(h.tree.get_data(path, None).is_err());
        assert!(h.tree.exists(path, Some(SessionId(1))).is_none());
    }
}

#[test]
fn create_with_missing_parent_is_no_node() {
    let mut h = Harness::new();
    assert_eq!(h.code(0, create("/a/b", "", Persistent)), ErrorCode::NoNode);
    assert_eq!(
        h.code(0, create("/a/b-", "", PersistentSequential)),
        ErrorCode::NoNode
    );
}

#[test]
fn create_under_an_ephemeral_is_no_children_for_ephemerals() {
    let mut h = Harness::new();
    h.open(1);
    h.create_ok(1, "/e", "", Ephemeral);
    assert_eq!(
        h.code(1, create("/e/child", "", Persistent)),
        ErrorCode::NoChildrenForEphemerals
    );
    assert_eq!(
        h.code(1, create("/e/", "", EphemeralSequential)),
        ErrorCode::NoChildrenForEphemerals
    );
}

#[test]
fn ephemeral_create_without_an_open_session_is_session_expired() {
    let mut h = Harness::new();
    assert_eq!(
        h.code(5, create("/e", "", Ephemeral)),
        ErrorCode::SessionExpired
    );
    assert_eq!(
        h.code(0, create("/e", "", EphemeralSequential)),
        ErrorCode::SessionExpired
    );
    // Persistent creates need no session.
    h.create_ok(5, "/p", "", Persistent);
    h.open(5);
    h.apply(5, TxnOp::CloseSession);
    assert_eq!(
        h.code(5, create("/e", "", Ephemeral)),
        ErrorCode::SessionExpired
    );
}

#[test]
fn create_of_an_existing_node_is_node_exists() {
    let mut h = Harness::new();
    h.create_ok(0, "/a", "", Persistent);
    assert_eq!(
        h.code(0, create("/a", "", Persistent)),
        ErrorCode::NodeExists
    );
    // A manually made name that a later sequential create would pick collides too.
    h.create_ok(0, "/q", "", Persistent);
    h.create_ok(0, "/q/n0000000001", "", Persistent);
    assert_eq!(
        h.code(0, create("/q/n", "", PersistentSequential)),
        ErrorCode::NodeExists
    );
}

#[test]
fn sequential_name_counts_the_creates_under_the_parent_as_010d() {
    let mut h = Harness::new();
    h.create_ok(0, "/q", "", Persistent);
    assert_eq!(
        h.create_ok(0, "/q/job-", "", PersistentSequential).0,
        "/q/job-0000000000"
    );
    assert_eq!(
        h.create_ok(0, "/q/job-", "", PersistentSequential).0,
        "/q/job-0000000001"
    );
    h.create_ok(0, "/q/plain", "", Persistent);
    h.apply(0, delete("/q/plain", -1));
    // Three creates so far (the delete does not count, as in ZooKeeper; cversion shows 4).
    assert_eq!(
        h.create_ok(0, "/q/job-", "", PersistentSequential).0,
        "/q/job-0000000003"
    );
    // A sequential path may end with '/': the name is then just the number.
    assert_eq!(
        h.create_ok(0, "/q/", "", PersistentSequential).0,
        "/q/0000000004"
    );
    h.open(1);
    let (path, stat) = h.create_ok(1, "/q/e-", "", EphemeralSequential);
    assert_eq!(
        (path.as_str(), stat.ephemeral_owner),
        ("/q/e-0000000005", 1)
    );
    // Under the root, which starts at cversion 0.
    assert_eq!(
        h.create_ok(0, "/", "", PersistentSequential).0,
        "/0000000001"
    );
}

#[test]
fn create_sets_the_new_stat_and_moves_the_parent() {
    let mut h = Harness::new();
    h.open(9);
    h.create_ok(0, "/p", "parent-data", Persistent);
    let parent_before = h.stat("/p");
    let (path, stat) = h.create_ok(9, "/p/c", "hello", Ephemeral);
    let zxid = h.tree.last_zxid().as_i64();
    assert_eq!(path, "/p/c");
    let expected = Stat {
        czxid: zxid,
        mzxid: zxid,
        pzxid: zxid,
        ctime: T0 + zxid,
        mtime: T0 + zxid,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 9,
        data_length: 5,
        num_children: 0,
    };
    assert_eq!(stat, expected);
    assert_eq!(h.stat("/p/c"), expected);
    let parent = h.stat("/p");
    assert_eq!(parent.cversion, parent_before.cversion + 1);
    assert_eq!(parent.pzxid, zxid);
    assert_eq!(parent.num_children, 1);
    assert_eq!(
        (parent.mzxid, parent.version, parent.mtime),
        (parent_before.mzxid, 0, parent_before.mtime)
    );
    assert_eq!(
        h.tree.get_data("/p", None).unwrap().0.as_ref(),
        b"parent-data"
    );
    let (persistent_path, persistent) = h.create_ok(0, "/p/d", "", Persistent);
    assert_eq!(
        (persistent_path.as_str(), persistent.ephemeral_owner),
        ("/p/d", 0)
    );
}

#[test]
fn delete_checks_no_node_bad_version_not_empty_in_that_order() {
    let mut h = Harness::new();
    assert_eq!(h.code(0, delete("/a", -1)), ErrorCode::NoNode);
    h.create_ok(0, "/a", "", Persistent);
    h.create_ok(0, "/a/b", "", Persistent);
    assert_eq!(h.code(0, delete("/a", 3)), ErrorCode::BadVersion);
    assert_eq!(h.code(0, delete("/a", 0)), ErrorCode::NotEmpty);
    assert_eq!(h.code(0, delete("/a", -1)), ErrorCode::NotEmpty);
    assert_eq!(h.code(0, delete("/a/b", 0)), ErrorCode::Ok);
    h.apply(0, set_data("/a", "x", -1));
    assert_eq!(h.code(0, delete("/a", 0)), ErrorCode::BadVersion);
    assert_eq!(h.code(0, delete("/a", 1)), ErrorCode::Ok);
}

#[test]
fn delete_moves_the_parent_and_leaves_the_owner_set() {
    let mut h = Harness::new();
    h.open(3);
    h.create_ok(0, "/p", "", Persistent);
    h.create_ok(3, "/p/e", "", Ephemeral);
    let before = h.stat("/p");
    let size = h.tree.approximate_data_size();
    assert_eq!(
        h.apply(3, delete("/p/e", -1)).result.unwrap(),
        Response::Delete
    );
    let zxid = h.tree.last_zxid().as_i64();
    let after = h.stat("/p");
    assert_eq!(
        (after.cversion, after.pzxid, after.num_children),
        (before.cversion + 1, zxid, 0)
    );
    assert_eq!(after.mzxid, before.mzxid);
    assert!(h.tree.ephemerals(SessionId(3)).is_empty());
    assert_eq!(h.tree.approximate_data_size(), size - "/p/e".len() as u64);
    assert_eq!(h.tree.node_count(), 5);
}

#[test]
fn set_data_checks_version_and_bumps_it() {
    let mut h = Harness::new();
    assert_eq!(h.code(0, set_data("/a", "x", -1)), ErrorCode::NoNode);
    let (_, created) = h.create_ok(0, "/a", "one", Persistent);
    assert_eq!(h.code(0, set_data("/a", "x", 1)), ErrorCode::BadVersion);
    let stat = match h.apply(0, set_data("/a", "three", 0)).result.unwrap() {
        Response::SetData { stat } => stat,
        other => panic!("{other:?}"),
    };
    let zxid = h.tree.last_zxid().as_i64();
    assert_eq!(stat.version, 1);
    assert_eq!(
        (stat.mzxid, stat.mtime, stat.data_length),
        (zxid, T0 + zxid, 5)
    );
    assert_eq!(
        (stat.czxid, stat.ctime, stat.pzxid),
        (created.czxid, created.ctime, created.pzxid)
    );
    assert_eq!(
        h.tree.get_data("/a", None).unwrap(),
        (paddock_types::Data::from("three"), stat)
    );
    assert_eq!(h.code(0, set_data("/a", "four", -1)), ErrorCode::Ok);
    assert_eq!(h.stat("/a").version, 2);
    assert_eq!(h.tree.approximate_data_size(), (44 + 2 + 4) as u64);
}

#[test]
fn multi_success_returns_per_op_results_with_one_zxid() {
    let mut h = Harness::new();
    h.create_ok(0, "/x", "", Persistent);
    let ops = vec![
        m_create("/m", "", Persistent),
        m_create("/m/", "", PersistentSequential),
        m_set("/m", "d", 0),
        m_check("/m", 1),
        m_delete("/x", 0),
    ];
    let results = match h.apply(0, TxnOp::Multi(ops)).result.unwrap() {
        Response::Multi(r) => r,
        other => panic!("{other:?}"),
    };
    let zxid = h.tree.last_zxid().as_i64();
    assert_eq!(results.len(), 5);
    match (&results[0], &results[1], &results[2]) {
        (
            OpResult::Create { path: p0, stat: s0 },
            OpResult::Create { path: p1, stat: s1 },
            OpResult::SetData { stat: s2 },
        ) => {
            assert_eq!((p0.as_str(), p1.as_str()), ("/m", "/m/0000000000"));
            assert_eq!(
                (s0.czxid, s1.czxid, s2.mzxid, s2.version),
                (zxid, zxid, zxid, 1)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(results[3..], [OpResult::Check, OpResult::Delete]);
    assert_eq!(Response::Multi(results).multi_failure(), None);
    assert!(h.tree.exists("/x", None).is_none());
    assert_eq!(h.stat("/").pzxid, zxid);
}

#[test]
fn multi_failure_rolls_back_everything_and_reports_zookeeper_style() {
    let mut h = Harness::new();
    h.open(1);
    h.create_ok(0, "/keep", "v", Persistent);
    let before = dump(&h.tree);
    let digest = h.tree.digest();
    let ops = vec![
        m_create("/new", "", Persistent),
        m_set("/keep", "changed", -1),
        m_create("/e", "", Ephemeral),
        m_check("/keep", 0),
        m_delete("/keep", -1),
    ];
    let applied = h.apply(1, TxnOp::Multi(ops));
    let response = applied
        .result
        .expect("a failed multi is an Ok(Multi) carrying the errors");
    assert_eq!(response.multi_failure(), Some(ErrorCode::BadVersion));
    assert_eq!(
        response,
        Response::Multi(vec![
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::BadVersion),
            OpResult::Error(ErrorCode::RuntimeInconsistency),
        ])
    );
    assert!(applied.events.is_empty());
    assert_eq!(dump(&h.tree), before);
    assert_eq!(h.tree.digest(), digest);
    assert!(h.tree.ephemerals(SessionId(1)).is_empty());
    assert_eq!(h.tree.last_zxid(), Zxid(3));
}

#[test]
fn multi_ops_see_earlier_ops_and_checks_report_no_node_and_bad_version() {
    let mut h = Harness::new();
    let code_of = |h: &mut Harness, ops| match h.apply(0, TxnOp::Multi(ops)).result.unwrap() {
        r @ Response::Multi(_) => r.multi_failure(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        code_of(&mut h, vec![m_check("/nope", -1)]),
        Some(ErrorCode::NoNode)
    );
    assert_eq!(
        code_of(
            &mut h,
            vec![m_create("/a", "", Persistent), m_check("/a", 1)]
        ),
        Some(ErrorCode::BadVersion)
    );
    assert_eq!(
        code_of(
            &mut h,
            vec![
                m_create("/a", "", Persistent),
                m_create("/a/b", "", Persistent),
                m_delete("/a", -1)
            ]
        ),
        Some(ErrorCode::NotEmpty)
    );
    assert_eq!(
        code_of(
            &mut h,
            vec![
                m_create("/a", "", Persistent),
                m_delete("/a", -1),
                m_create("/a", "", Persistent)
            ]
        ),
        None
    );
    assert_eq!(h.stat("/a").cversion, 0);
    assert_eq!(
        code_of(&mut h, vec![m_create("/a", "", Persistent)]),
        Some(ErrorCode::NodeExists)
    );
}

#[test]
fn empty_multi_succeeds_with_no_results() {
    let mut h = Harness::new();
    let digest = h.tree.digest();
    assert_eq!(
        h.apply(0, TxnOp::Multi(vec![])).result.unwrap(),
        Response::Multi(vec![])
    );
    assert_eq!(h.tree.digest(), digest);
    assert_eq!(h.tree.last_zxid(), Zxid(1));
}

#[test]
fn get_children_lists_only_direct_children_and_the_node_stat() {
    let mut h = Harness::new();
    for p in ["/a", "/a-b", "/a/x", "/a/y", "/a/x/deep", "/a0"] {
        h.create_ok(0, p, "", Persistent);
    }
    let (mut kids, stat) = h.tree.get_children("/a", None).unwrap();
    kids.sort();
    assert_eq!(kids, vec!["x", "y"]);
    assert_eq!(stat, h.stat("/a"));
    let (mut root, _) = h.tree.get_children("/", None).unwrap();
    root.sort();
    assert_eq!(root, vec!["a", "a-b", "a0", "zookeeper"]);
    assert_eq!(
        h.tree.get_children("/a/y", None).unwrap().0,
        Vec::<String>::new()
    );
    assert_eq!(
        h.tree.get_children("/nope", None).unwrap_err().code,
        ErrorCode::NoNode
    );
}

/// Sequential children are numbered by the creates ever made under the parent, as ZooKeeper
/// (whose shown cversion also counts deletes); records from before that numbering replay with
/// the cversion as suffix, as they were first applied.
#[test]
fn sequence_numbers_count_creates_as_zookeeper_and_old_records_replay_as_written() {
    let mut h = Harness::new();
    h.create_ok(0, "/p", "", Persistent);
    h.create_ok(0, "/p/a", "", Persistent);
    h.create_ok(0, "/p/b", "", Persistent);
    assert_eq!(h.code(0, delete("/p/a", -1)), ErrorCode::Ok);
    // 2 creates, 1 delete: ZooKeeper shows cversion 3 and numbers the next child 2.
    let (seq, _) = h.create_ok(0, "/p/s-", "", PersistentSequential);
    assert_eq!(seq, "/p/s-0000000002");
    h.create_ok(0, "/p/t", "", Persistent);
    assert_eq!(h.tree.exists("/p", None).map(|s| s.cversion), Some(5));
    assert_eq!(h.code(0, delete("/p/t", -1)), ErrorCode::Ok);
    // 4 creates so far: the next is 4 (cversion shows 6, 3 children).
    let (seq, _) = h.create_ok(0, "/p/s-", "", PersistentSequential);
    assert_eq!(seq, "/p/s-0000000004");

    // An old record (envelope 8): the suffix is the cversion (7 now).
    let mut old = h.txn(0, create("/p/s-", "", PersistentSequential));
    old.header.legacy_sequence = true;
    let applied = h.tree.apply(&old);
    match applied.result {
        Ok(Response::Create { path, .. }) => assert_eq!(path, "/p/s-0000000007"),
        other => panic!("{other:?}"),
    }
}

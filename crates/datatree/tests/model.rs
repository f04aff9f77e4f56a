//! Model test: random txn sequences applied to `DataTree` and to a naive `BTreeMap` model written
//! from the rules in the crate doc; results (codes, paths) and state (paths, data, stats,
//! sessions, ephemerals) must agree after every step, and a snapshot must round-trip at the end.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use common::*;
use paddock_datatree::DataTree;
use paddock_types::path::{is_read_only, parent};
use paddock_types::{
    validate_path, CreateMode, ErrorCode, MultiOp, OpResult, Response, SessionId, Stat, TxnOp,
};
use proptest::prelude::*;

// ---------------------------------------------------------------- the model

#[derive(Clone, Debug)]
struct MNode {
    data: Vec<u8>,
    stat: Stat,
    /// Children ever created under it: the next sequential child's suffix (ZooKeeper's rule).
    creates: i64,
}

#[derive(Clone, Debug, Default)]
struct Model {
    nodes: BTreeMap<String, MNode>,
    sessions: BTreeSet<i64>,
}

/// What a result is compared on.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Out {
    Err(ErrorCode),
    Created(String),
    Deleted,
    Set(i32),
    Checked,
    Multi(Vec<Out>),
    Session,
    Closed,
    Synced,
    Pinged,
}

fn children_of<'a>(m: &'a Model, p: &'a str) -> impl Iterator<Item = &'a String> + 'a {
    m.nodes
        .keys()
        .filter(move |k| k.as_str() != "/" && parent(k) == p)
}

impl Model {
    fn new() -> Model {
        let mut m = Model::default();
        for p in ["/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"] {
            m.nodes.insert(
                p.into(),
                MNode {
                    data: vec![],
                    stat: Stat::default(),
                    creates: 0,
                },
            );
        }
        m.fix_counts();
        m
    }

    fn fix_counts(&mut self) {
        let counts: Vec<(String, i32)> = self
            .nodes
            .keys()
            .map(|p| (p.clone(), children_of(self, p).count() as i32))
            .collect();
        for (p, c) in counts {
            if let Some(n) = self.nodes.get_mut(&p) {
                n.stat.num_children = c;
            }
        }
    }

    fn touch_parent(&mut self, p: &str, zxid: i64) {
        let n = self.nodes.get_mut(p).expect("parent exists");
        n.stat.cversion = n.stat.cversion.wrapping_add(1);
        n.stat.pzxid = zxid;
    }

    fn writable(path: &str) -> Result<(), ErrorCode> {
        if validate_path(path, false).is_err() || is_read_only(path) {
            return Err(ErrorCode::BadArguments);
        }
        Ok(())
    }

    fn create(
        &mut self,
        s: i64,
        zxid: i64,
        time: i64,
        path: &str,
        data: &[u8],
        mode: CreateMode,
    ) -> Result<String, ErrorCode> {
        let seq = mode.is_sequential();
        if validate_path(path, seq).is_err() {
            return Err(ErrorCode::BadArguments);
        }
        let probe = if seq {
            format!("{path}1")
        } else {
            path.to_string()
        };
        if is_read_only(&probe) {
            return Err(ErrorCode::BadArguments);
        }
        let par = parent(&probe).to_string();
        let pnode = self.nodes.get(&par).ok_or(ErrorCode::NoNode)?;
        if pnode.stat.ephemeral_owner != 0 {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        if mode.is_ephemeral() && !self.sessions.contains(&s) {
            return Err(ErrorCode::SessionExpired);
        }
        let actual = if seq {
            format!("{path}{:010}", pnode.creates)
        } else {
            path.to_string()
        };
        if self.nodes.contains_key(&actual) {
            return Err(ErrorCode::NodeExists);
        }
        let stat = Stat {
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ctime: time,
            mtime: time,
            ephemeral_owner: if mode.is_ephemeral() { s } else { 0 },
            data_length: data.len() as i32,
            ..Stat::default()
        };
        self.nodes.insert(
            actual.clone(),
            MNode {
                data: data.to_vec(),
                stat,
                creates: 0,
            },
        );
        self.touch_parent(&par, zxid);
        if let Some(p) = self.nodes.get_mut(&par) {
            p.creates = p.creates.wrapping_add(1);
        }
        self.fix_counts();
        Ok(actual)
    }

    fn delete(&mut self, zxid: i64, path: &str, version: i32) -> Result<(), ErrorCode> {
        Model::writable(path)?;
        let n = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        if version != -1 && version != n.stat.version {
            return Err(ErrorCode::BadVersion);
        }
        if children_of(self, path).next().is_some() {
            return Err(ErrorCode::NotEmpty);
        }
        self.nodes.remove(path);
        self.touch_parent(parent(path), zxid);
        self.fix_counts();
        Ok(())
    }

    fn set(
        &mut self,
        zxid: i64,
        time: i64,
        path: &str,
        data: &[u8],
        version: i32,
    ) -> Result<i32, ErrorCode> {
        Model::writable(path)?;
        let n = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
        if version != -1 && version != n.stat.version {
            return Err(ErrorCode::BadVersion);
        }
        n.data = data.to_vec();
        n.stat.version += 1;
        n.stat.mzxid = zxid;
        n.stat.mtime = time;
        n.stat.data_length = data.len() as i32;
        Ok(n.stat.version)
    }

    fn check(&self, path: &str, version: i32) -> Result<(), ErrorCode> {
        if validate_path(path, false).is_err() {
            return Err(ErrorCode::BadArguments);
        }
        let n = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        if version != -1 && version != n.stat.version {
            return Err(ErrorCode::BadVersion);
        }
        Ok(())
    }

    fn apply(&mut self, s: i64, zxid: i64, time: i64, op: &TxnOp) -> Out {
        let res = |r: Result<Out, ErrorCode>| r.unwrap_or_else(Out::Err);
        match op {
            TxnOp::CreateSession { .. } => {
                self.sessions.insert(s);
                Out::Session
            }
            TxnOp::CloseSession => {
                let mine: Vec<String> = self
                    .nodes
                    .iter()
                    .filter(|(_, n)| s != 0 && n.stat.ephemeral_owner == s)
                    .map(|(p, _)| p.clone())
                    .collect();
                for p in mine {
                    self.nodes.remove(&p);
                    self.touch_parent(parent(&p), zxid);
                }
                self.fix_counts();
                self.sessions.remove(&s);
                Out::Closed
            }
            TxnOp::Create {
                path, data, mode, ..
            } => res(self
                .create(s, zxid, time, path, data, *mode)
                .map(Out::Created)),
            TxnOp::Delete { path, version } => {
                res(self.delete(zxid, path, *version).map(|()| Out::Deleted))
            }
            TxnOp::SetData {
                path,
                data,
                version,
            } => res(self.set(zxid, time, path, data, *version).map(Out::Set)),
            TxnOp::Sync { .. } => Out::Synced,
            TxnOp::MoveSession { .. } | TxnOp::ResumeSession { .. } => Out::Pinged,
            TxnOp::SetAcl { .. }
            | TxnOp::AddAuth { .. }
            | TxnOp::DeleteContainer { .. }
            | TxnOp::Reconfig { .. } => {
                unreachable!(
                    "the generator makes no ACL or sweeper ops (tests/acl.rs, tests/containers.rs)"
                )
            }
            TxnOp::Multi(ops) => {
                let backup = self.clone();
                let mut outs = Vec::new();
                for (i, op) in ops.iter().enumerate() {
                    let r = match op {
                        MultiOp::Create {
                            path, data, mode, ..
                        } => self
                            .create(s, zxid, time, path, data, *mode)
                            .map(Out::Created),
                        MultiOp::Delete { path, version } => {
                            self.delete(zxid, path, *version).map(|()| Out::Deleted)
                        }
                        MultiOp::SetData {
                            path,
                            data,
                            version,
                        } => self.set(zxid, time, path, data, *version).map(Out::Set),
                        MultiOp::Check { path, version } => {
                            self.check(path, *version).map(|()| Out::Checked)
                        }
                    };
                    match r {
                        Ok(o) => outs.push(o),
                        Err(code) => {
                            *self = backup;
                            let mut failed = vec![Out::Err(ErrorCode::Ok); i];
                            failed.push(Out::Err(code));
                            failed.resize(ops.len(), Out::Err(ErrorCode::RuntimeInconsistency));
                            return Out::Multi(failed);
                        }
                    }
                }
                Out::Multi(outs)
            }
        }
    }
}

fn observe(result: &Result<Response, paddock_types::ZkError>) -> Out {
    match result {
        Err(e) => Out::Err(e.code),
        Ok(Response::Create { path, .. }) => Out::Created(path.clone()),
        Ok(Response::Delete) => Out::Deleted,
        Ok(Response::SetData { stat }) => Out::Set(stat.version),
        Ok(Response::CreateSession { .. }) => Out::Session,
        Ok(Response::CloseSession) => Out::Closed,
        Ok(Response::Sync { .. }) => Out::Synced,
        Ok(Response::Ping) => Out::Pinged,
        Ok(Response::Multi(results)) => Out::Multi(
            results
                .iter()
                .map(|r| match r {
                    OpResult::Create { path, .. } => Out::Created(path.clone()),
                    OpResult::Delete => Out::Deleted,
                    OpResult::SetData { stat } => Out::Set(stat.version),
                    OpResult::Check => Out::Checked,
                    OpResult::Error(c) => Out::Err(*c),
                })
                .collect(),
        ),
        Ok(other) => panic!("unexpected response {other:?}"),
    }
}

fn assert_same_state(tree: &DataTree, model: &Model) {
    let actual: BTreeMap<String, (Vec<u8>, Stat)> = dump(tree)
        .into_iter()
        .map(|(p, d, s)| (p, (d, s)))
        .collect();
    let expected: BTreeMap<String, (Vec<u8>, Stat)> = model
        .nodes
        .iter()
        .map(|(p, n)| (p.clone(), (n.data.clone(), n.stat)))
        .collect();
    assert_eq!(actual, expected);
    assert_eq!(tree.node_count(), model.nodes.len());
    let size: usize = model
        .nodes
        .iter()
        .map(|(p, n)| p.len() + n.data.len())
        .sum();
    assert_eq!(tree.approximate_data_size(), size as u64);
    let sessions: Vec<i64> = tree.sessions().iter().map(|(id, _)| id.0).collect();
    assert_eq!(sessions, model.sessions.iter().copied().collect::<Vec<_>>());
    for s in 1..=3 {
        let mut mine: Vec<String> = tree.ephemerals(SessionId(s));
        mine.sort();
        let expected: Vec<String> = model
            .nodes
            .iter()
            .filter(|(_, n)| n.stat.ephemeral_owner == s)
            .map(|(p, _)| p.clone())
            .collect();
        assert_eq!(mine, expected, "ephemerals of session {s}");
        for prefix in ["/", "/a", "/a/b", "/b"] {
            let want: Vec<String> = expected
                .iter()
                .filter(|p| p.starts_with(prefix))
                .cloned()
                .collect();
            assert_eq!(tree.ephemerals_with_prefix(SessionId(s), prefix), want);
        }
    }
    // getAllChildrenNumber: every node strictly below, by path.
    for p in model.nodes.keys() {
        let below = if p == "/" {
            model.nodes.len() - 1
        } else {
            let under = format!("{p}/");
            model.nodes.keys().filter(|q| q.starts_with(&under)).count()
        };
        assert_eq!(tree.all_children_number(p), Ok(below), "descendants of {p}");
    }
}

// ---------------------------------------------------------------- generators

const PATHS: &[&str] = &[
    "/a",
    "/b",
    "/a/b",
    "/a/c",
    "/a/b/c",
    "/b/a",
    "/a-",
    "/zookeeper/x",
    "/",
    "/a/",
    "bad",
];

fn path() -> impl Strategy<Value = String> {
    prop::sample::select(PATHS).prop_map(String::from)
}

fn mode() -> impl Strategy<Value = CreateMode> {
    prop::sample::select(vec![
        CreateMode::Persistent,
        CreateMode::PersistentSequential,
        CreateMode::Ephemeral,
        CreateMode::EphemeralSequential,
    ])
}

fn data() -> impl Strategy<Value = Bytes> {
    prop::sample::select(vec!["", "x", "hello"]).prop_map(|s| Bytes::from_static(s.as_bytes()))
}

fn version() -> impl Strategy<Value = i32> {
    -1..3i32
}

fn multi_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        (path(), data(), mode()).prop_map(|(path, data, mode)| MultiOp::Create {
            acl: paddock_types::Acl::open(),
            path,
            data: data.into(),
            mode
        }),
        (path(), version()).prop_map(|(path, version)| MultiOp::Delete { path, version }),
        (path(), data(), version()).prop_map(|(path, data, version)| MultiOp::SetData {
            path,
            data: data.into(),
            version
        }),
        (path(), version()).prop_map(|(path, version)| MultiOp::Check { path, version }),
    ]
}

/// (session, op); session 0 is "no session".
fn step() -> impl Strategy<Value = (i64, TxnOp)> {
    let session = 0..=3i64;
    prop_oneof![
        1 => (1..=3i64).prop_map(|s| (s, open_session(4000))),
        1 => (0..=3i64).prop_map(|s| (s, TxnOp::CloseSession)),
        1 => (session.clone(), path()).prop_map(|(s, path)| (s, TxnOp::Sync { path })),
        1 => (session.clone(), 1..4u64).prop_map(|(s, owner)| (s, TxnOp::MoveSession { owner })),
        1 => (session.clone(), 1..4u64).prop_map(|(s, owner)| (s, TxnOp::ResumeSession { owner, timeout_ms: 6000 })),
        5 => (session.clone(), path(), data(), mode()).prop_map(|(s, path, data, mode)| (s, TxnOp::Create { path, data: data.into(), mode, acl: paddock_types::Acl::open() })),
        2 => (session.clone(), path(), version()).prop_map(|(s, path, version)| (s, TxnOp::Delete { path, version })),
        2 => (session.clone(), path(), data(), version()).prop_map(|(s, path, data, version)| (s, TxnOp::SetData { path, data: data.into(), version })),
        2 => (session, prop::collection::vec(multi_op(), 0..4)).prop_map(|(s, ops)| (s, TxnOp::Multi(ops))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn tree_agrees_with_the_model(steps in prop::collection::vec(step(), 1..60)) {
        let mut h = Harness::new();
        let mut model = Model::new();
        for (session, op) in steps {
            let txn = h.txn(session, op);
            let applied = h.tree.apply(&txn);
            let expected = model.apply(session, txn.header.zxid.as_i64(), txn.header.time_ms, &txn.op);
            prop_assert_eq!(observe(&applied.result), expected, "txn {:?}", txn);
            assert_same_state(&h.tree, &model);
        }
        let mut bytes = Vec::new();
        h.tree.snapshot().write_to(&mut bytes).expect("Vec writer");
        let copy = DataTree::read_snapshot(&mut bytes.as_slice()).expect("round trip");
        prop_assert_eq!(copy.digest(), h.tree.digest());
        assert_same_state(&copy, &model);
    }
}

// ---------------------------------------------------------------- robustness

fn wild_path() -> impl Strategy<Value = String> {
    prop_oneof!["[/a.\\-\u{0}z]{0,8}", "/[a/]{0,6}", any::<String>(),]
}

fn wild_op() -> impl Strategy<Value = TxnOp> {
    prop_oneof![
        (wild_path(), data(), mode()).prop_map(|(path, data, mode)| TxnOp::Create {
            acl: paddock_types::Acl::open(),
            path,
            data: data.into(),
            mode
        }),
        (wild_path(), any::<i32>()).prop_map(|(path, version)| TxnOp::Delete { path, version }),
        (wild_path(), data(), any::<i32>()).prop_map(|(path, data, version)| TxnOp::SetData {
            path,
            data: data.into(),
            version
        }),
        prop::collection::vec(
            prop_oneof![
                (wild_path(), data(), mode()).prop_map(|(path, data, mode)| MultiOp::Create {
                    acl: paddock_types::Acl::open(),
                    path,
                    data: data.into(),
                    mode
                }),
                (wild_path(), any::<i32>())
                    .prop_map(|(path, version)| MultiOp::Check { path, version }),
            ],
            0..4
        )
        .prop_map(TxnOp::Multi),
        any::<i32>().prop_map(|timeout_ms| TxnOp::CreateSession {
            timeout_ms,
            password: [0; 16]
        }),
        Just(TxnOp::CloseSession),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Rule: apply never panics on any txn content, and the tree stays self-consistent.
    #[test]
    fn apply_never_panics_on_wild_input(steps in prop::collection::vec((any::<i64>(), wild_op()), 1..40)) {
        let mut h = Harness::new();
        for (session, op) in steps {
            let _ = h.apply(session, op);
            let all = dump(&h.tree);
            prop_assert_eq!(all.len(), h.tree.node_count());
            for (path, _, stat) in &all {
                let (kids, _) = h.tree.get_children(path, None).expect("listed");
                prop_assert_eq!(kids.len() as i32, stat.num_children);
            }
        }
    }
}

//! Helpers shared by the integration tests: a tree plus a zxid counter, and txn builders.
#![allow(dead_code)]

use bytes::Bytes;
use paddock_datatree::{Applied, DataTree};
use paddock_types::{
    CreateMode, ErrorCode, MultiOp, Response, SessionId, Stat, Txn, TxnHeader, TxnOp, Zxid,
    PASSWORD_LEN,
};

pub const T0: i64 = 1_700_000_000_000;

/// A tree and the next zxid / time to stamp on txns (zxid n at time T0 + n).
pub struct Harness {
    pub tree: DataTree,
    pub next: u64,
}

impl Harness {
    pub fn new() -> Harness {
        Harness {
            tree: DataTree::new(),
            next: 1,
        }
    }

    pub fn txn(&mut self, session: i64, op: TxnOp) -> Txn {
        let zxid = self.next;
        self.next += 1;
        Txn {
            header: TxnHeader {
                conn_ids: Vec::new(),
                session: SessionId(session),
                cxid: zxid as i64,
                zxid: Zxid(zxid),
                time_ms: T0 + zxid as i64,
                legacy_sequence: false,
            },
            op,
        }
    }

    pub fn apply(&mut self, session: i64, op: TxnOp) -> Applied {
        let txn = self.txn(session, op);
        self.tree.apply(&txn)
    }

    pub fn open(&mut self, session: i64) {
        let a = self.apply(session, open_session(5_000));
        assert!(a.result.is_ok(), "{a:?}");
    }

    /// Creates and expects success; returns (actual path, stat).
    pub fn create_ok(
        &mut self,
        session: i64,
        path: &str,
        data: &str,
        mode: CreateMode,
    ) -> (String, Stat) {
        match self.apply(session, create(path, data, mode)).result {
            Ok(Response::Create { path, stat }) => (path, stat),
            other => panic!("create {path}: {other:?}"),
        }
    }

    pub fn code(&mut self, session: i64, op: TxnOp) -> ErrorCode {
        match self.apply(session, op).result {
            Ok(_) => ErrorCode::Ok,
            Err(e) => e.code,
        }
    }

    pub fn stat(&self, path: &str) -> Stat {
        self.tree
            .exists(path, None)
            .unwrap_or_else(|| panic!("{path} should exist"))
    }
}

pub fn open_session(timeout_ms: i32) -> TxnOp {
    TxnOp::CreateSession {
        timeout_ms,
        password: [7u8; PASSWORD_LEN],
    }
}

pub fn create(path: &str, data: &str, mode: CreateMode) -> TxnOp {
    TxnOp::Create {
        acl: paddock_types::Acl::open(),
        path: path.into(),
        data: Bytes::copy_from_slice(data.as_bytes()).into(),
        mode,
    }
}

pub fn delete(path: &str, version: i32) -> TxnOp {
    TxnOp::Delete {
        path: path.into(),
        version,
    }
}

pub fn set_data(path: &str, data: &str, version: i32) -> TxnOp {
    TxnOp::SetData {
        path: path.into(),
        data: Bytes::copy_from_slice(data.as_bytes()).into(),
        version,
    }
}

pub fn m_create(path: &str, data: &str, mode: CreateMode) -> MultiOp {
    MultiOp::Create {
        acl: paddock_types::Acl::open(),
        path: path.into(),
        data: Bytes::copy_from_slice(data.as_bytes()).into(),
        mode,
    }
}

pub fn m_delete(path: &str, version: i32) -> MultiOp {
    MultiOp::Delete {
        path: path.into(),
        version,
    }
}

pub fn m_set(path: &str, data: &str, version: i32) -> MultiOp {
    MultiOp::SetData {
        path: path.into(),
        data: Bytes::copy_from_slice(data.as_bytes()).into(),
        version,
    }
}

pub fn m_check(path: &str, version: i32) -> MultiOp {
    MultiOp::Check {
        path: path.into(),
        version,
    }
}

/// Every path in the tree with its data and stat, depth-first from `/`, children sorted.
pub fn dump(tree: &DataTree) -> Vec<(String, Vec<u8>, Stat)> {
    fn walk(tree: &DataTree, path: &str, out: &mut Vec<(String, Vec<u8>, Stat)>) {
        let (data, stat) = tree.get_data(path, None).expect("listed node exists");
        out.push((path.to_string(), data.to_vec(), stat));
        let (mut kids, _) = tree.get_children(path, None).expect("listed node exists");
        kids.sort();
        for k in kids {
            let child = if path == "/" {
                format!("/{k}")
            } else {
                format!("{path}/{k}")
            };
            walk(tree, &child, out);
        }
    }
    let mut out = Vec::new();
    walk(tree, "/", &mut out);
    out
}

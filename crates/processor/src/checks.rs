//! The checks that need no state, before a request becomes a transaction.
//!
//! State-dependent checks (does the parent exist, is the version right) happen when the data tree
//! applies the transaction, deterministically on every replica (the log is a command log: see
//! `paddock_datatree`). What is refused here never reaches the ensemble.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use paddock_types::path::{is_system, validate_path};
use paddock_types::{ErrorCode, MultiOp, OpResult, Request, Response, TxnOp, ZkError};

/// Why a request was refused before it reached the log. For a multi, the refusal is the per-op
/// result list, as ZooKeeper reports it.
pub(crate) type Refusal = Result<Response, ZkError>;

fn writable(path: &str) -> Result<(), ZkError> {
    if path == "/" || is_system(path) {
        return Err(ZkError::bad_arguments(format!(
            "{path} is read-only: the root and /zookeeper cannot be changed by clients"
        )));
    }
    Ok(())
}

fn size_ok(data: &Bytes, max: usize) -> Result<(), ZkError> {
    if data.len() > max {
        return Err(ZkError::bad_arguments(format!(
            "data length {} exceeds the limit of {max} bytes (jute.maxbuffer)",
            data.len()
        )));
    }
    Ok(())
}

fn check_op(op: &MultiOp, max: usize) -> Result<(), ZkError> {
    match op {
        MultiOp::Create {
            path, data, mode, ..
        } => {
            validate_path(path, mode.is_sequential())?;
            writable(path)?;
            size_ok(data, max)
        }
        MultiOp::Delete { path, .. } => {
            validate_path(path, false)?;
            writable(path)
        }
        MultiOp::SetData { path, data, .. } => {
            validate_path(path, false)?;
            writable(path)?;
            size_ok(data, max)
        }
        MultiOp::Check { path, .. } => validate_path(path, false),
    }
}

/// Checks a request that needs no state. `Err` is the answer to send instead of executing it.
pub(crate) fn check(req: &Request, max_data: usize) -> Result<(), Refusal> {
    let r = match req {
        Request::Create {
            path, data, mode, ..
        } => validate_path(path, mode.is_sequential())
            .and_then(|_| writable(path))
            .and_then(|_| size_ok(data, max_data)),
        Request::Delete { path, .. } => validate_path(path, false).and_then(|_| writable(path)),
        Request::SetData { path, data, .. } => validate_path(path, false)
            .and_then(|_| writable(path))
            .and_then(|_| size_ok(data, max_data)),
        Request::Exists { path, .. }
        | Request::GetData { path, .. }
        | Request::GetChildren { path, .. }
        | Request::Sync { path }
        | Request::GetAcl { path }
        | Request::SetAcl { path, .. }
        | Request::GetAllChildrenNumber { path }
        | Request::GetEphemerals { prefix: path }
        | Request::AddWatch { path, .. }
        | Request::RemoveWatches { path, .. }
        | Request::CheckWatches { path, .. } => validate_path(path, false),
        Request::Multi(ops) => return check_multi(ops, max_data),
        // Each op's path is checked as it executes: a bad one fails only that op (`read.rs`).
        Request::MultiRead(_) => Ok(()),
        Request::Ping | Request::CloseSession | Request::WhoAmI | Request::AddAuth { .. } => Ok(()),
    };
    r.map_err(Err)
}

fn check_multi(ops: &[MultiOp], max_data: usize) -> Result<(), Refusal> {
    let total: usize = ops
        .iter()
        .map(|op| match op {
            MultiOp::Create { data, .. } | MultiOp::SetData { data, .. } => data.len(),
            _ => 0,
        })
        .sum();
    if total > max_data {
        return Err(Err(ZkError::bad_arguments(format!(
            "multi carries {total} bytes of data, over the limit of {max_data} bytes (jute.maxbuffer)"
        ))));
    }
    for (i, op) in ops.iter().enumerate() {
        if let Err(e) = check_op(op, max_data) {
            let results = (0..ops.len())
                .map(|j| {
                    OpResult::Error(match j.cmp(&i) {
                        std::cmp::Ordering::Less => ErrorCode::Ok,
                        std::cmp::Ordering::Equal => e.code,
                        std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
                    })
                })
                .collect();
            return Err(Ok(Response::Multi(results)));
        }
    }
    Ok(())
}

/// The transaction operation for a checked write request.
pub(crate) fn txn_op(req: Request) -> Option<TxnOp> {
    Some(match req {
        Request::Create {
            path,
            data,
            mode,
            acl,
        } => TxnOp::Create {
            path,
            data,
            mode,
            acl,
        },
        Request::SetAcl { path, acl, version } => TxnOp::SetAcl { path, acl, version },
        Request::Delete { path, version } => TxnOp::Delete { path, version },
        Request::SetData {
            path,
            data,
            version,
        } => TxnOp::SetData {
            path,
            data,
            version,
        },
        Request::Multi(ops) => TxnOp::Multi(ops),
        Request::CloseSession => TxnOp::CloseSession,
        _ => return None,
    })
}

/// The system's wall clock, ms since the epoch.
pub(crate) fn system_wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_types::CreateMode;

    const MAX: usize = 1024;

    fn code(r: Result<(), Refusal>) -> ErrorCode {
        match r {
            Err(Err(e)) => e.code,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn invalid_paths_are_bad_arguments() {
        let r = check(
            &Request::GetData {
                path: "a/b".into(),
                watch: false,
            },
            MAX,
        );
        assert_eq!(code(r), ErrorCode::BadArguments);
        // getEphemerals' prefix must be a valid path too (ZooKeeper's client checks it).
        for req in [
            Request::GetEphemerals {
                prefix: "/a/".into(),
            },
            Request::GetEphemerals { prefix: "".into() },
            Request::GetAllChildrenNumber { path: "a".into() },
        ] {
            assert_eq!(code(check(&req, MAX)), ErrorCode::BadArguments, "{req:?}");
        }
        assert!(check(&Request::GetEphemerals { prefix: "/".into() }, MAX).is_ok());
    }

    #[test]
    fn oversize_data_is_refused_before_logging() {
        let r = check(
            &Request::SetData {
                path: "/a".into(),
                data: Bytes::from(vec![0u8; MAX + 1]),
                version: -1,
            },
            MAX,
        );
        assert_eq!(code(r), ErrorCode::BadArguments);
        assert!(check(
            &Request::SetData {
                path: "/a".into(),
                data: Bytes::from(vec![0u8; MAX]),
                version: -1,
            },
            MAX
        )
        .is_ok());
    }

    #[test]
    fn system_tree_and_root_are_read_only() {
        for req in [
            Request::Delete {
                path: "/".into(),
                version: -1,
            },
            Request::Create {
                acl: paddock_types::Acl::open(),
                path: "/zookeeper/x".into(),
                data: Bytes::new(),
                mode: CreateMode::Persistent,
            },
        ] {
            assert_eq!(code(check(&req, MAX)), ErrorCode::BadArguments);
        }
    }

    #[test]
    fn a_bad_op_in_a_multi_is_reported_per_op() {
        let ops = vec![
            MultiOp::Check {
                path: "/a".into(),
                version: -1,
            },
            MultiOp::Delete {
                path: "bad".into(),
                version: -1,
            },
            MultiOp::Check {
                path: "/b".into(),
                version: -1,
            },
        ];
        match check(&Request::Multi(ops), MAX) {
            Err(Ok(Response::Multi(r))) => assert_eq!(
                r,
                vec![
                    OpResult::Error(ErrorCode::Ok),
                    OpResult::Error(ErrorCode::BadArguments),
                    OpResult::Error(ErrorCode::RuntimeInconsistency)
                ]
            ),
            other => panic!("{other:?}"),
        }
    }
}

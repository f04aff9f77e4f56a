//! The checks that need no state, before a request becomes a transaction.
//!
//! State-dependent checks (does the parent exist, is the version right) happen when the data tree
//! applies the transaction, deterministically on every replica (the log is a command log: see
//! `paddock_datatree`). What is refused here never reaches the ensemble.

use std::time::{SystemTime, UNIX_EPOCH};

use paddock_types::node_kind::validate_ttl;
use paddock_types::path::{is_read_only, validate_path};
use paddock_types::{CreateMode, ErrorCode, MultiOp, OpResult, Request, Response, TxnOp, ZkError};

/// Why a request was refused before it reached the log. For a multi, the refusal is the per-op
/// result list, as ZooKeeper reports it.
pub(crate) type Refusal = Result<Response, ZkError>;

fn writable(path: &str) -> Result<(), ZkError> {
    if is_read_only(path) {
        return Err(ZkError::bad_arguments(format!(
            "{path} is read-only: the root and /zookeeper (but for the quota nodes under /zookeeper/quota) cannot be changed by clients"
        )));
    }
    Ok(())
}

/// `writable` for a create: a sequential create is judged by the node it makes (`path` plus the
/// suffix), so `create -s /` makes `/0000000NNN` and `create -s /zookeeper` makes
/// `/zookeeper0000000NNN` as in ZooKeeper, while `create -s /zookeeper/` stays refused (the
/// data tree judges it the same way: `create_target`).
fn writable_create(path: &str, mode: CreateMode) -> Result<(), ZkError> {
    if !mode.is_sequential() {
        return writable(path);
    }
    writable(&format!("{path}1")).map_err(|_| {
        ZkError::bad_arguments(format!(
            "{path} is read-only: the root and /zookeeper cannot be changed by clients"
        ))
    })
}

fn size_ok(data: &[u8], max: usize) -> Result<(), ZkError> {
    if data.len() > max {
        return Err(ZkError::bad_arguments(format!(
            "data length {} exceeds the limit of {max} bytes (jute.maxbuffer)",
            data.len()
        )));
    }
    Ok(())
}

/// What this server accepts beyond the stateless rules (from its configuration).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Accept {
    /// Largest data (and total multi payload), bytes.
    pub max_data: usize,
    /// TTL nodes allowed (`extendedTypesEnabled`).
    pub extended_types: bool,
    /// `reconfig` allowed (`reconfigEnabled`, on an ensemble member); else RECONFIGDISABLED,
    /// or UNIMPLEMENTED on a standalone server.
    pub reconfig: Reconfig,
}

/// Whether this server takes `reconfig`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reconfig {
    /// A standalone server: there is no ensemble to reconfigure.
    Standalone,
    /// `reconfigEnabled=false`.
    Disabled,
    Enabled,
}

/// ZooKeeper's checks of a reconfig before it goes to the leader: the server takes it, and its
/// server lines parse.
fn reconfig_ok(
    joining: &[String],
    members: &[String],
    leaving: &[u64],
    reconfig: Reconfig,
) -> Result<(), ZkError> {
    match reconfig {
        Reconfig::Standalone => {
            return Err(ZkError::new(
                ErrorCode::Unimplemented,
                "reconfig needs an ensemble: this server runs standalone",
            ))
        }
        Reconfig::Disabled => {
            return Err(ZkError::new(
                ErrorCode::ReconfigDisabled,
                "reconfig is disabled on this server (reconfigEnabled=false)",
            ))
        }
        Reconfig::Enabled => {}
    }
    if joining.is_empty() && leaving.is_empty() && members.is_empty() {
        return Err(ZkError::bad_arguments(
            "reconfig needs servers to add, to remove, or a new membership",
        ));
    }
    for line in joining.iter().chain(members) {
        paddock_types::dynamic::parse_server_line(line)
            .map_err(|e| ZkError::bad_arguments(format!("reconfig: {e}")))?;
    }
    Ok(())
}

/// ZooKeeper's `validateCreateRequest` for the mode: a TTL mode without `extendedTypesEnabled`
/// is Unimplemented, a bad ttl BadArguments (in that order, as ZooKeeper).
fn mode_ok(mode: CreateMode, accept: Accept) -> Result<(), ZkError> {
    if mode.ttl_ms().is_some() && !accept.extended_types {
        return Err(ZkError::new(
            ErrorCode::Unimplemented,
            "TTL nodes are not enabled on this server (extendedTypesEnabled=false)",
        ));
    }
    validate_ttl(mode)
}

fn check_op(op: &MultiOp, accept: Accept) -> Result<(), ZkError> {
    let max = accept.max_data;
    match op {
        MultiOp::Create {
            path, data, mode, ..
        } => {
            mode_ok(*mode, accept)?;
            validate_path(path, mode.is_sequential())?;
            writable_create(path, *mode)?;
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
pub(crate) fn check(req: &Request, accept: Accept) -> Result<(), Refusal> {
    let max_data = accept.max_data;
    let r = match req {
        Request::Create {
            path, data, mode, ..
        } => mode_ok(*mode, accept)
            .and_then(|_| validate_path(path, mode.is_sequential()))
            .and_then(|_| writable_create(path, *mode))
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
        Request::Multi(ops) => return check_multi(ops, accept),
        Request::Reconfig {
            joining,
            leaving,
            members,
            ..
        } => reconfig_ok(joining, members, leaving, accept.reconfig),
        // Each op's path is checked as it executes: a bad one fails only that op (`read.rs`).
        Request::MultiRead(_) => Ok(()),
        Request::SetWatches { watches, .. } => {
            let w = watches;
            w.data
                .iter()
                .chain(&w.exist)
                .chain(&w.child)
                .chain(&w.persistent)
                .chain(&w.persistent_recursive)
                .try_for_each(|p| validate_path(p, false))
        }
        Request::Ping
        | Request::CloseSession
        | Request::WhoAmI
        | Request::AddAuth { .. }
        | Request::GetConfig { .. } => Ok(()),
    };
    r.map_err(Err)
}

fn check_multi(ops: &[MultiOp], accept: Accept) -> Result<(), Refusal> {
    let max_data = accept.max_data;
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
        if let Err(e) = check_op(op, accept) {
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
        Request::Reconfig {
            joining,
            leaving,
            members,
            from_version,
        } => TxnOp::Reconfig {
            joining,
            leaving,
            members,
            from_version,
            verdict: 0,
        },
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
    use bytes::Bytes;

    const MAX: Accept = Accept {
        max_data: 1024,
        extended_types: false,
        reconfig: Reconfig::Enabled,
    };

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
                data: Bytes::from(vec![0u8; MAX.max_data + 1]).into(),
                version: -1,
            },
            MAX,
        );
        assert_eq!(code(r), ErrorCode::BadArguments);
        assert!(check(
            &Request::SetData {
                path: "/a".into(),
                data: Bytes::from(vec![0u8; MAX.max_data]).into(),
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
                data: Bytes::new().into(),
                mode: CreateMode::Persistent,
            },
        ] {
            assert_eq!(code(check(&req, MAX)), ErrorCode::BadArguments);
        }
    }

    /// ZooKeeper judges a sequential create by the node it makes: `create -s /` makes
    /// `/0000000NNN`, `create -s /zookeeper` makes `/zookeeper0000000NNN`; under `/zookeeper/`
    /// it is still refused. The same in a multi.
    #[test]
    fn a_sequential_create_is_judged_by_the_node_it_makes() {
        let create = |path: &str, mode| Request::Create {
            acl: paddock_types::Acl::open(),
            path: path.into(),
            data: Bytes::new().into(),
            mode,
        };
        for path in ["/", "/zookeeper"] {
            for mode in [
                CreateMode::PersistentSequential,
                CreateMode::EphemeralSequential,
            ] {
                assert!(check(&create(path, mode), MAX).is_ok(), "{path} {mode:?}");
            }
            let op = MultiOp::Create {
                path: path.into(),
                data: Bytes::new().into(),
                mode: CreateMode::PersistentSequential,
                acl: paddock_types::Acl::open(),
            };
            assert!(
                check(&Request::Multi(vec![op]), MAX).is_ok(),
                "{path} in a multi"
            );
        }
        assert_eq!(
            code(check(&create("/", CreateMode::Persistent), MAX)),
            ErrorCode::BadArguments
        );
        assert_eq!(
            code(check(
                &create("/zookeeper/", CreateMode::PersistentSequential),
                MAX
            )),
            ErrorCode::BadArguments
        );
    }

    #[test]
    fn quota_nodes_under_zookeeper_quota_are_writable_but_not_the_quota_node() {
        let create = |path: &str| Request::Create {
            acl: paddock_types::Acl::open(),
            path: path.into(),
            data: Bytes::from_static(b"count=-1,bytes=-1").into(),
            mode: CreateMode::Persistent,
        };
        assert!(check(&create("/zookeeper/quota/a"), MAX).is_ok());
        assert!(check(&create("/zookeeper/quota/a/zookeeper_limits"), MAX).is_ok());
        for req in [
            create("/zookeeper/quota"),
            create("/zookeeper/quotax"),
            Request::Delete {
                path: "/zookeeper/quota".into(),
                version: -1,
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

    fn create(mode: CreateMode) -> Request {
        Request::Create {
            acl: paddock_types::Acl::open(),
            path: "/t".into(),
            data: Bytes::new().into(),
            mode,
        }
    }

    #[test]
    fn reconfig_needs_an_ensemble_the_setting_and_lines_that_parse() {
        let req = |joining: &[&str], leaving: &[u64]| Request::Reconfig {
            joining: joining.iter().map(|s| s.to_string()).collect(),
            leaving: leaving.to_vec(),
            members: Vec::new(),
            from_version: -1,
        };
        let with = |reconfig| Accept { reconfig, ..MAX };
        let add = req(&["server.4=d:2888:3888;2181"], &[]);
        assert_eq!(
            code(check(&add, with(Reconfig::Standalone))),
            ErrorCode::Unimplemented
        );
        assert_eq!(
            code(check(&add, with(Reconfig::Disabled))),
            ErrorCode::ReconfigDisabled
        );
        assert!(check(&add, MAX).is_ok());
        assert!(check(&req(&[], &[3]), MAX).is_ok());
        assert_eq!(code(check(&req(&[], &[]), MAX)), ErrorCode::BadArguments);
        assert_eq!(
            code(check(&req(&["4=d:2888"], &[]), MAX)),
            ErrorCode::BadArguments
        );
    }

    #[test]
    fn ttl_nodes_need_extended_types_then_a_valid_ttl() {
        let on = Accept {
            extended_types: true,
            ..MAX
        };
        let ttl = |ttl_ms| CreateMode::PersistentWithTtl { ttl_ms };
        // Off: Unimplemented (-6) whatever the ttl, as ZooKeeper checks this first.
        for mode in [
            ttl(100),
            ttl(0),
            CreateMode::PersistentSequentialWithTtl { ttl_ms: 1 },
        ] {
            assert_eq!(code(check(&create(mode), MAX)), ErrorCode::Unimplemented);
        }
        assert!(check(&create(ttl(100)), on).is_ok());
        for bad in [0, -5, 0xFF_FFFF_FFFF + 1] {
            assert_eq!(code(check(&create(ttl(bad)), on)), ErrorCode::BadArguments);
        }
        // Containers need nothing.
        assert!(check(&create(CreateMode::Container), MAX).is_ok());
        // In a multi the op is refused by itself.
        let ops = vec![MultiOp::Create {
            path: "/t".into(),
            data: Bytes::new().into(),
            mode: ttl(10),
            acl: paddock_types::Acl::open(),
        }];
        match check(&Request::Multi(ops), MAX) {
            Err(Ok(Response::Multi(r))) => {
                assert_eq!(r, vec![OpResult::Error(ErrorCode::Unimplemented)])
            }
            other => panic!("{other:?}"),
        }
    }
}

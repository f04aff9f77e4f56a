//! Conformance suites: the behaviour every implementation of a storage trait must show, written
//! once as generic functions and run against the disk and in-memory implementations alike
//! (openraft's `testing/log/suite.rs` habit). Another crate with its own implementation (a fault
//! injecting wrapper, say) can run them too.
//!
//! Each suite is a set of `pub fn`s taking a *harness* that makes fresh stores and restarts them,
//! plus a `run_all`. They panic, with a message naming the rule, on the first violation: they are
//! test code.
//!
//! ```text
//! log.rs       TxnLog rules: order, sync, reads, limits, truncate, purge, restart
//! model.rs     random op sequences checked against a BTreeMap model (LogOp, check_ops, random_ops)
//! snapshot.rs  SnapshotStore rules
//! epoch.rs     EpochStore rules
//! ```

pub mod epoch;
pub mod log;
pub mod model;
pub mod snapshot;

use std::fmt::Debug;

/// Unwraps a storage result in a suite, naming the step that failed.
#[track_caller]
pub(crate) fn ok<T, E: Debug>(result: Result<T, E>, step: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{step}: unexpected error {e:?}"),
    }
}

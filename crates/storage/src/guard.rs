//! Containing sled's panics.
//!
//! sled 0.34 panics on some damaged files instead of returning an error: opening a data file
//! whose messages were damaged can leave pages "Uninitialized" in its recovered page table, and
//! serialising that table panics (`tried to serialize Uninitialized`, serialization.rs:662); a
//! damaged tree node panics on lookup (`cannot find pid N in view_for_key`, tree.rs:1767). Under
//! a supervisor such a panic is a crash loop. Every call this crate makes into sled therefore
//! runs inside [`guarded`], which turns a panic into [`StorageError::Panicked`] naming what was
//! being done; the caller then handles it like any other damage.
//!
//! The process's panic hook still runs before the unwind is caught. [`in_guarded_call`] lets a
//! binary's hook tell these (reported as errors, so worth a debug line at most) from real bugs.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::StorageError;

thread_local! {
    /// How many guarded calls the current thread is inside.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Whether the current thread is inside a guarded storage call: a panic there is caught and
/// returned as [`StorageError::Panicked`].
pub fn in_guarded_call() -> bool {
    DEPTH.with(|d| d.get() > 0)
}

/// Runs `f`, turning a panic inside it into [`StorageError::Panicked`] about `what`.
///
/// sled's state after one of its panics is not trusted: callers stop using that database
/// (recovery rebuilds the log into a fresh one) rather than retrying on it.
pub(crate) fn guarded<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    DEPTH.with(|d| d.set(d.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    match result {
        Ok(r) => r,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_string());
            Err(StorageError::Panicked {
                what: what.to_string(),
                message,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_naming_the_call() {
        let r: Result<(), _> = guarded("reading the log", || panic!("cannot find pid 7"));
        match r {
            Err(StorageError::Panicked { what, message }) => {
                assert_eq!(what, "reading the log");
                assert_eq!(message, "cannot find pid 7");
            }
            other => panic!("{other:?}"),
        }
        assert!(!in_guarded_call());
        assert_eq!(guarded("x", || Ok(5)).expect("no panic"), 5);
    }

    #[test]
    fn the_depth_is_visible_inside() {
        assert!(guarded("x", || Ok(in_guarded_call())).expect("ok"));
    }
}

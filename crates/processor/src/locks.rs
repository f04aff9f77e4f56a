//! The one lock helper every module uses.

use std::sync::{Mutex, MutexGuard};

/// Recovers the guard of a poisoned mutex: the processor's critical sections leave their state
/// consistent before anything that could panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

//! The [`EpochStore`] conformance suite.

use std::sync::Arc;

use paddock_types::Epoch;

use super::ok;
use crate::traits::EpochStore;

/// Makes epoch stores for the suite.
pub trait EpochHarness {
    /// The implementation under test.
    type Store: EpochStore;
    /// A new store, never written.
    fn fresh(&mut self) -> Arc<Self::Store>;
    /// Crash and reopen the store most recently returned, given its only handle.
    fn restart(&mut self, store: Arc<Self::Store>) -> Arc<Self::Store>;
}

/// Runs every test of the suite.
pub fn run_all<H: EpochHarness>(h: &mut H) {
    never_set_is_zero(h);
    setters_are_independent(h);
    epochs_survive_restart(h);
}

/// Both epochs read 0 before anything was set.
pub fn never_set_is_zero<H: EpochHarness>(h: &mut H) {
    let store = h.fresh();
    assert_eq!(store.accepted_epoch(), Epoch(0));
    assert_eq!(store.current_epoch(), Epoch(0));
}

/// Each setter changes its own epoch only, and is read back at once.
pub fn setters_are_independent<H: EpochHarness>(h: &mut H) {
    let store = h.fresh();
    ok(store.set_accepted_epoch(Epoch(3)), "set accepted");
    assert_eq!(
        (store.accepted_epoch(), store.current_epoch()),
        (Epoch(3), Epoch(0))
    );
    ok(store.set_current_epoch(Epoch(2)), "set current");
    assert_eq!(
        (store.accepted_epoch(), store.current_epoch()),
        (Epoch(3), Epoch(2))
    );
    ok(
        store.set_accepted_epoch(Epoch(u32::MAX)),
        "set accepted max",
    );
    assert_eq!(store.accepted_epoch(), Epoch(u32::MAX));
}

/// A set epoch is durable: it survives a crash.
pub fn epochs_survive_restart<H: EpochHarness>(h: &mut H) {
    let store = h.fresh();
    ok(store.set_accepted_epoch(Epoch(7)), "set accepted");
    ok(store.set_current_epoch(Epoch(6)), "set current");
    let store = h.restart(store);
    assert_eq!(
        (store.accepted_epoch(), store.current_epoch()),
        (Epoch(7), Epoch(6))
    );
    ok(store.set_current_epoch(Epoch(7)), "set current again");
    let store = h.restart(store);
    assert_eq!(
        (store.accepted_epoch(), store.current_epoch()),
        (Epoch(7), Epoch(7))
    );
}

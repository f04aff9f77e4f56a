//! [`MemEpochStore`].

use std::sync::Mutex;

use paddock_types::Epoch;

use super::injected;
use crate::error::StorageError;
use crate::fsutil::lock;
use crate::traits::EpochStore;

/// An in-memory [`EpochStore`]; every successful set is "durable".
#[derive(Debug, Default)]
pub struct MemEpochStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    accepted: Epoch,
    current: Epoch,
    fail_writes: bool,
}

impl MemEpochStore {
    /// Both epochs 0.
    pub fn new() -> MemEpochStore {
        MemEpochStore::default()
    }

    /// A store as a server that had persisted these epochs would reopen it.
    pub fn with_epochs(accepted: Epoch, current: Epoch) -> MemEpochStore {
        MemEpochStore {
            state: Mutex::new(State {
                accepted,
                current,
                fail_writes: false,
            }),
        }
    }

    /// While `true`, setters fail with an io error and change nothing.
    pub fn fail_writes(&self, fail: bool) {
        lock(&self.state).fail_writes = fail;
    }
}

impl EpochStore for MemEpochStore {
    fn accepted_epoch(&self) -> Epoch {
        lock(&self.state).accepted
    }

    fn current_epoch(&self) -> Epoch {
        lock(&self.state).current
    }

    fn set_accepted_epoch(&self, epoch: Epoch) -> Result<(), StorageError> {
        let mut s = lock(&self.state);
        if s.fail_writes {
            return Err(injected("acceptedEpoch write"));
        }
        s.accepted = epoch;
        Ok(())
    }

    fn set_current_epoch(&self, epoch: Epoch) -> Result<(), StorageError> {
        let mut s = lock(&self.state);
        if s.fail_writes {
            return Err(injected("currentEpoch write"));
        }
        s.current = epoch;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_writes_change_nothing() {
        let store = MemEpochStore::with_epochs(Epoch(4), Epoch(3));
        store.fail_writes(true);
        assert!(store.set_accepted_epoch(Epoch(5)).is_err());
        assert!(store.set_current_epoch(Epoch(5)).is_err());
        assert_eq!(
            (store.accepted_epoch(), store.current_epoch()),
            (Epoch(4), Epoch(3))
        );
    }
}

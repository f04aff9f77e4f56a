//! Timing limits, counted in ticks.

use thiserror::Error;

/// ZAB timing. One *tick* here is **half** of ZooKeeper's tickTime: the driver calls `tick()`
/// every tickTime/2, the leader pings on every tick, and the limits are
/// `2 * syncLimit` / `2 * initLimit` ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZabConfig {
    /// Ticks without hearing from a peer after which it is given up on (leader drops the
    /// learner; learner goes LOOKING). ZooKeeper's syncLimit * 2.
    pub sync_limit_ticks: u32,
    /// Ticks the discovery and sync phases may take before the leader steps down or the learner
    /// goes LOOKING. ZooKeeper's initLimit * 2.
    pub init_limit_ticks: u32,
    /// How many committed transactions the leader keeps in memory for DIFF syncs
    /// (ZooKeeper's committedLog, 500).
    pub committed_log_capacity: usize,
}

impl Default for ZabConfig {
    fn default() -> Self {
        ZabConfig {
            sync_limit_ticks: 10,
            init_limit_ticks: 20,
            committed_log_capacity: 500,
        }
    }
}

/// A config that cannot work.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ZabConfigError {
    /// A limit of zero ticks would drop every peer at once.
    #[error("{0} must be at least 1 tick")]
    ZeroLimit(&'static str),
}

impl ZabConfig {
    /// Checks the limits.
    pub fn validate(self) -> Result<ZabConfig, ZabConfigError> {
        if self.sync_limit_ticks == 0 {
            return Err(ZabConfigError::ZeroLimit("sync_limit_ticks"));
        }
        if self.init_limit_ticks == 0 {
            return Err(ZabConfigError::ZeroLimit("init_limit_ticks"));
        }
        Ok(self)
    }
}

//! Election timing, in ticks.

use thiserror::Error;

/// Timing of one election, counted in driver ticks (the driver decides how long a tick is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElectionConfig {
    /// After the votes for our proposal form a quorum, wait this many ticks for a better vote
    /// before deciding (ZooKeeper's `finalizeWait`, 200 ms). `0` decides at once.
    pub finalize_wait_ticks: u32,
    /// Upper bound of the resend back-off when nothing arrives (ZooKeeper's
    /// `maxNotificationInterval`, 60 s). The first resend happens after
    /// `max(finalize_wait_ticks, 1)` quiet ticks; each further one waits twice as long.
    pub max_notification_interval_ticks: u32,
}

impl Default for ElectionConfig {
    /// ZooKeeper's values with a 10 ms tick: finalize wait 200 ms, max interval 60 s.
    fn default() -> Self {
        ElectionConfig {
            finalize_wait_ticks: 20,
            max_notification_interval_ticks: 6_000,
        }
    }
}

/// A refused [`ElectionConfig`].
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The back-off limit must be at least the first resend interval.
    #[error(
        "max_notification_interval_ticks ({max}) is below the first resend interval ({first})"
    )]
    IntervalTooSmall {
        /// The configured limit.
        max: u32,
        /// The first interval, `max(finalize_wait_ticks, 1)`.
        first: u32,
    },
}

impl ElectionConfig {
    /// The first resend interval: `max(finalize_wait_ticks, 1)`.
    pub fn first_resend_interval(&self) -> u32 {
        self.finalize_wait_ticks.max(1)
    }

    /// Checks the values fit together.
    pub fn validate(self) -> Result<ElectionConfig, ConfigError> {
        let first = self.first_resend_interval();
        if self.max_notification_interval_ticks < first {
            return Err(ConfigError::IntervalTooSmall {
                max: self.max_notification_interval_ticks,
                first,
            });
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_first_resend_is_the_finalize_wait() {
        let c = ElectionConfig::default().validate().unwrap();
        assert_eq!(c.first_resend_interval(), 20);
    }

    #[test]
    fn zero_finalize_wait_still_resends_after_one_tick() {
        let c = ElectionConfig {
            finalize_wait_ticks: 0,
            max_notification_interval_ticks: 1,
        };
        assert_eq!(c.validate().unwrap().first_resend_interval(), 1);
    }

    #[test]
    fn max_interval_below_first_resend_is_refused() {
        let c = ElectionConfig {
            finalize_wait_ticks: 10,
            max_notification_interval_ticks: 5,
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::IntervalTooSmall { max: 5, first: 10 })
        );
    }
}

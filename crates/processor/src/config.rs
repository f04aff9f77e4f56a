//! The processor's settings, taken from the validated server config.

use bytes::Bytes;
use paddock_types::{Config, ServerId};

/// What the pipeline and the session tracker need to know.
#[derive(Clone, Debug)]
pub struct ProcessorConfig {
    /// This server's id: the top byte of the session ids it hands out.
    pub server_id: ServerId,
    /// ZooKeeper's tick, ms: the granularity of session expiry.
    pub tick_ms: u32,
    pub min_session_timeout_ms: u32,
    pub max_session_timeout_ms: u32,
    /// Largest data (and request payload) accepted, bytes.
    pub max_data_bytes: usize,
    /// Requests a session may have queued at once; more are answered `Throttled`.
    pub max_inflight_per_session: usize,
    /// Transactions between snapshots (each server randomises in [snap_count/2, snap_count]).
    pub snap_count: u64,
    /// Snapshots kept when purging.
    pub snap_retain_count: usize,
    /// Seed for the snapshot-interval randomisation (tests fix it).
    pub seed: u64,
    /// Whether an ensemble's leader takes client sessions (`leaderServes`); when not, clients
    /// are refused there and go to a follower.
    pub leader_serves: bool,
    /// The only server of its ensemble (a standalone server: an ensemble of one). It is the
    /// authority on its sessions (a resume needs no confirmation from a leader), `leaderServes`
    /// does not apply, and a txn log that cannot write makes it read-only, not silent.
    pub alone: bool,
    /// Fixes everything random or timed in the processor so that a run replays exactly:
    /// tests and simulations only. `None` (production): passwords come from the operating
    /// system's randomness and transaction times from the wall clock.
    pub deterministic: Option<Deterministic>,
    /// The super user's digest id (`superDigest`): `addauth digest` with matching credentials
    /// also authenticates the session as the super user, who passes every ACL check.
    pub super_digest: Option<String>,
    /// Whether TTL nodes may be created (`extendedTypesEnabled`); else Unimplemented.
    pub extended_types_enabled: bool,
    /// How often the serving leader sweeps for empty containers and expired TTL nodes
    /// (`znode.container.checkIntervalMs`).
    pub container_check_interval_ms: u32,
    /// Deletions the sweeper may submit per minute (`znode.container.maxPerMinute`).
    pub container_max_per_minute: u32,
    /// Whether new sessions are local sessions (`localSessionsEnabled`): known only to this
    /// server, created, closed and expired with no transaction. Ignored when `alone` (as a
    /// standalone ZooKeeper ignores it): see [`ProcessorConfig::local_sessions_active`].
    pub local_sessions: bool,
    /// Whether a local session's first ephemeral create upgrades it to a global session
    /// (`localSessionsUpgradingEnabled`); off, that create is answered EPHEMERALONLOCALSESSION.
    pub local_sessions_upgrading: bool,
    /// What reads of `/zookeeper/config` (getData, getConfig, multiRead) answer as its data:
    /// the ensemble's configuration in ZooKeeper's format, from zoo.cfg
    /// ([`Config::ensemble_config_text`]; empty standalone). Not in the tree: the configuration
    /// is static, so it is served from here rather than written through the log (every server of
    /// an ensemble renders the same text from the same server lines; digests are unaffected).
    pub ensemble_config: Bytes,
    /// Whether `reconfig` is allowed (`reconfigEnabled`); off, RECONFIGDISABLED. The leader
    /// vets a change only with it on.
    pub reconfig_enabled: bool,
}

/// The seed of a deterministic run: session passwords come from an RNG seeded with `seed`, and
/// the wall clock (transaction times, the first session id) is `wall_origin_ms` plus the
/// tokio clock's time since the processor started, so a test on paused tokio time sees the
/// same times on every run. Periodic snapshots are written in place (on the applying task)
/// rather than on a thread of their own. Never for production: passwords would be predictable
/// and a snapshot would stall commits while it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deterministic {
    pub seed: u64,
    pub wall_origin_ms: u64,
}

impl ProcessorConfig {
    pub fn from_config(cfg: &Config, server_id: ServerId) -> ProcessorConfig {
        ProcessorConfig {
            server_id,
            tick_ms: cfg.tick_ms,
            min_session_timeout_ms: cfg.min_session_timeout(),
            max_session_timeout_ms: cfg.max_session_timeout(),
            max_data_bytes: cfg.max_data_bytes as usize,
            max_inflight_per_session: cfg.max_inflight_per_session as usize,
            snap_count: cfg.snap_count,
            snap_retain_count: cfg.snap_retain_count as usize,
            seed: server_id.0 ^ 0x5eed,
            leader_serves: cfg.leader_serves,
            alone: cfg.servers.len() <= 1,
            deterministic: None,
            super_digest: cfg.super_digest.clone(),
            extended_types_enabled: cfg.extended_types_enabled,
            container_check_interval_ms: cfg.container_check_interval_ms,
            container_max_per_minute: cfg.container_max_per_minute,
            ensemble_config: Bytes::from(cfg.ensemble_config_text()),
            local_sessions: cfg.local_sessions_enabled,
            local_sessions_upgrading: cfg.local_sessions_upgrading_enabled,
            reconfig_enabled: cfg.reconfig_enabled,
        }
    }

    /// Whether new sessions open as local sessions here: `localSessionsEnabled` on a member of
    /// an ensemble. A standalone server ignores the setting, as ZooKeeper's does (its session
    /// tracker has no local sessions): every session it opens is logged.
    pub fn local_sessions_active(&self) -> bool {
        self.local_sessions && !self.alone
    }

    /// The sweeper's budget for one sweep: `maxPerMinute` spread over the sweeps of a minute
    /// (at least one; ZooKeeper spaces its deletions by 60000 / maxPerMinute ms).
    pub fn sweep_budget(&self) -> usize {
        let per_minute = u64::from(self.container_max_per_minute.max(1));
        let interval = u64::from(self.container_check_interval_ms.max(1));
        per_minute.saturating_mul(interval).div_ceil(60_000).max(1) as usize
    }

    /// ZooKeeper's negotiation: clamp the requested timeout into [min, max].
    pub fn negotiate_timeout(&self, requested_ms: i32) -> i32 {
        let req = requested_ms.max(0) as u32;
        req.clamp(self.min_session_timeout_ms, self.max_session_timeout_ms) as i32
    }
}

impl Default for ProcessorConfig {
    fn default() -> ProcessorConfig {
        ProcessorConfig::from_config(&Config::default(), ServerId(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_is_clamped_into_min_max() {
        let c = ProcessorConfig::default(); // tick 2000: [4000, 40000]
        assert_eq!(c.negotiate_timeout(100), 4000);
        assert_eq!(c.negotiate_timeout(-5), 4000);
        assert_eq!(c.negotiate_timeout(10_000), 10_000);
        assert_eq!(c.negotiate_timeout(1_000_000), 40_000);
    }

    #[test]
    fn max_per_minute_is_spread_over_the_sweeps_of_a_minute() {
        let with = |interval_ms, per_minute| ProcessorConfig {
            container_check_interval_ms: interval_ms,
            container_max_per_minute: per_minute,
            ..ProcessorConfig::default()
        };
        assert_eq!(ProcessorConfig::default().sweep_budget(), 10_000); // 60 s, 10,000/min
        assert_eq!(with(100, 10_000).sweep_budget(), 17); // 600 sweeps a minute
        assert_eq!(with(1_000, 60).sweep_budget(), 1);
        assert_eq!(with(100, 1).sweep_budget(), 1, "at least one per sweep");
        assert_eq!(with(120_000, 10).sweep_budget(), 20);
    }
}

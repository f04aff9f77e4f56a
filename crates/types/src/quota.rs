//! ZooKeeper's quota layout and its `StatsTrack` text format (both kept as ZooKeeper keeps them, so
//! zkCli and Paddock's CLI read and write the same nodes).
//!
//! A quota on `/app` lives in two nodes under [`QUOTA_NODE`]:
//!
//! ```text
//!  /zookeeper/quota/app/zookeeper_limits   count=-1,bytes=-1=;byteHardLimit=100;countHardLimit=-1
//!  /zookeeper/quota/app/zookeeper_stats    count=3,bytes=42
//! ```
//!
//! `count` / `bytes` are the soft limits (only a warning when passed), `countHardLimit` /
//! `byteHardLimit` the hard ones (ZooKeeper 3.7+: the write fails with `QuotaExceeded`); -1 means
//! "no limit". The stats node holds the subtree's usage: `count` nodes (the quota'd node itself
//! included) and `bytes` of data.
//!
//! The text: `count=C,bytes=B`, then, only when other keys exist, `=` and `;key=value` per key in
//! sorted order (the extra `=` and the `;` keep pre-3.7 parsers reading the first two fields).

use std::collections::BTreeMap;
use std::fmt;

use crate::path::QUOTA_NODE;

/// Name of the node holding a quota's limits.
pub const LIMITS_NODE: &str = "zookeeper_limits";
/// Name of the node holding a quota'd subtree's usage.
pub const STATS_NODE: &str = "zookeeper_stats";

const COUNT: &str = "count";
const BYTES: &str = "bytes";
const COUNT_HARD: &str = "countHardLimit";
const BYTES_HARD: &str = "byteHardLimit";

/// `/zookeeper/quota` + `path` (ZooKeeper's `Quotas.quotaPath`).
pub fn quota_path(path: &str) -> String {
    format!("{QUOTA_NODE}{path}")
}

/// The limits node of a quota on `path` (`Quotas.limitPath`).
pub fn limit_path(path: &str) -> String {
    format!("{QUOTA_NODE}{path}/{LIMITS_NODE}")
}

/// The stats node of a quota on `path` (`Quotas.statPath`).
pub fn stat_path(path: &str) -> String {
    format!("{QUOTA_NODE}{path}/{STATS_NODE}")
}

/// For a node under `/zookeeper/quota` named `zookeeper_limits` or `zookeeper_stats`, the path
/// whose quota it belongs to (`/zookeeper/quota/a/b/zookeeper_limits` → `/a/b`).
pub fn quota_target(node_path: &str) -> Option<&str> {
    let rest = node_path.strip_prefix(QUOTA_NODE)?;
    let (target, name) = rest.rsplit_once('/')?;
    if name != LIMITS_NODE && name != STATS_NODE {
        return None;
    }
    Some(if target.is_empty() { "/" } else { target })
}

/// ZooKeeper's `StatsTrack`: named `i64` fields, -1 when absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsTrack {
    fields: BTreeMap<String, i64>,
}

impl StatsTrack {
    /// An empty track: every field reads -1.
    pub fn new() -> StatsTrack {
        StatsTrack::default()
    }

    /// Reads `key=value` pairs separated by `,` or `;`. Lenient where ZooKeeper would throw: a
    /// pair without `=` or with a value that is not a number is skipped, an empty value is -1.
    pub fn parse(text: &str) -> StatsTrack {
        let mut fields = BTreeMap::new();
        for pair in text.split([',', ';']).filter(|p| !p.is_empty()) {
            let mut kv = pair.split('=');
            let (Some(key), Some(value)) = (kv.next(), kv.next()) else {
                continue;
            };
            let value = if value.is_empty() {
                Some(-1)
            } else {
                value.trim().parse::<i64>().ok()
            };
            if let Some(v) = value {
                fields.insert(key.to_string(), v);
            }
        }
        StatsTrack { fields }
    }

    /// [`StatsTrack::parse`] of UTF-8 (lossy) bytes.
    pub fn parse_bytes(data: &[u8]) -> StatsTrack {
        StatsTrack::parse(&String::from_utf8_lossy(data))
    }

    fn get(&self, key: &str) -> i64 {
        self.fields.get(key).copied().unwrap_or(-1)
    }

    fn set(&mut self, key: &str, value: i64) {
        self.fields.insert(key.to_string(), value);
    }

    /// Soft node-count limit (or, in a stats node, the node count).
    pub fn count(&self) -> i64 {
        self.get(COUNT)
    }
    /// Soft byte limit (or, in a stats node, the data bytes).
    pub fn bytes(&self) -> i64 {
        self.get(BYTES)
    }
    /// Hard node-count limit.
    pub fn count_hard_limit(&self) -> i64 {
        self.get(COUNT_HARD)
    }
    /// Hard byte limit.
    pub fn byte_hard_limit(&self) -> i64 {
        self.get(BYTES_HARD)
    }
    pub fn set_count(&mut self, v: i64) {
        self.set(COUNT, v)
    }
    pub fn set_bytes(&mut self, v: i64) {
        self.set(BYTES, v)
    }
    pub fn set_count_hard_limit(&mut self, v: i64) {
        self.set(COUNT_HARD, v)
    }
    pub fn set_byte_hard_limit(&mut self, v: i64) {
        self.set(BYTES_HARD, v)
    }
}

impl fmt::Display for StatsTrack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{COUNT}={},{BYTES}={}", self.count(), self.bytes())?;
        let mut extra = self
            .fields
            .iter()
            .filter(|(k, _)| k.as_str() != COUNT && k.as_str() != BYTES)
            .peekable();
        if extra.peek().is_some() {
            f.write_str("=")?;
            for (k, v) in extra {
                write!(f, ";{k}={v}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_zookeeper_3_7() {
        let mut t = StatsTrack::new();
        t.set_count(-1);
        t.set_bytes(-1);
        t.set_count_hard_limit(-1);
        t.set_byte_hard_limit(100);
        let text = t.to_string();
        assert_eq!(
            text,
            "count=-1,bytes=-1=;byteHardLimit=100;countHardLimit=-1"
        );
        assert_eq!(StatsTrack::parse(&text), t);
        let mut s = StatsTrack::new();
        s.set_count(3);
        s.set_bytes(42);
        assert_eq!(s.to_string(), "count=3,bytes=42");
        assert_eq!(StatsTrack::new().to_string(), "count=-1,bytes=-1");
    }

    #[test]
    fn parses_old_and_odd_text_without_panicking() {
        let t = StatsTrack::parse("count=10,bytes=");
        assert_eq!((t.count(), t.bytes(), t.count_hard_limit()), (10, -1, -1));
        for odd in ["", "=", ",,;", "count", "count=x", "=5", "a=b=c;;"] {
            let _ = StatsTrack::parse(odd).to_string();
        }
    }

    #[test]
    fn quota_nodes_name_their_target() {
        assert_eq!(limit_path("/a/b"), "/zookeeper/quota/a/b/zookeeper_limits");
        assert_eq!(stat_path("/a"), "/zookeeper/quota/a/zookeeper_stats");
        assert_eq!(
            quota_target("/zookeeper/quota/a/b/zookeeper_limits"),
            Some("/a/b")
        );
        assert_eq!(
            quota_target("/zookeeper/quota/a/zookeeper_stats"),
            Some("/a")
        );
        assert_eq!(quota_target("/zookeeper/quota/zookeeper_limits"), Some("/"));
        assert_eq!(quota_target("/zookeeper/quota/a/other"), None);
        assert_eq!(quota_target("/a/zookeeper_limits"), None);
    }
}

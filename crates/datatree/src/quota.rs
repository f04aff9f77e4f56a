//! Quotas (ZooKeeper's `setquota`): the index of quota'd paths and their subtree usage, kept in
//! step with the nodes by `apply`, and the limit check every replica makes as it applies a write.
//!
//! The source of truth is the replicated tree: a quota on `/app` exists while the node
//! `/zookeeper/quota/app/zookeeper_limits` does (its data, ZooKeeper's `StatsTrack` text, holds
//! the limits). The index is derived: [`refresh`] re-reads one quota (limits parsed, usage
//! counted by one range scan of the subtree) whenever a create / delete / setData touches a
//! `zookeeper_limits` or `zookeeper_stats` node, and [`rebuild`] re-derives all of them when a
//! snapshot is loaded. Ordinary writes go through [`charge`] / [`uncharge`], which only look up
//! the written path and its ancestors in the (small) index — nothing at all when there is no
//! quota. Like ZooKeeper, the usage is also written into the quota's `zookeeper_stats` node data
//! (its stat is left alone), so `listquota` reads it with a plain getData.
//!
//! Rules (ZooKeeper 3.9's `DataTree.updateQuotaStat` and `ZooKeeperServer.checkQuota`):
//! - a node counts against the *nearest* quota'd path among itself and its ancestors;
//! - `count` counts the quota'd node itself and every descendant, `bytes` their data lengths;
//! - a quota on `/` or on a path under `/zookeeper` is ignored (as ZooKeeper ignores `/`);
//! - a change that raises the count (create) or the bytes (create, a growing setData) beyond a
//!   hard limit fails with `QuotaExceeded` and changes nothing; beyond a soft limit (used only
//!   when there is no hard limit of that kind) it passes with a rate-limited warning.
//!   (ZooKeeper also refuses a *shrinking* setData while the subtree is above the hard limit;
//!   Paddock lets it through, so a client can get back under a lowered limit.)

use imbl::OrdMap;
use paddock_types::path::{is_system, QUOTA_NODE};
use paddock_types::quota::{self, StatsTrack, LIMITS_NODE};
use paddock_types::{ErrorCode, ZkError};
use std::ops::Bound;

use crate::key;
use crate::record::NodeRecord;
use crate::state::State;

/// Soft-limit warnings for one quota are logged at most once per this much txn time.
const SOFT_WARN_INTERVAL_MS: i64 = 10_000;

/// One quota'd path: its limits and its subtree's usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Quota {
    /// Soft count, soft bytes, hard count, hard bytes; -1 = no limit.
    pub limits: Limits,
    /// Nodes in the subtree, the quota'd node included.
    pub count: i64,
    /// Data bytes in the subtree.
    pub bytes: i64,
    /// Txn time of the last soft-limit warning (rate limit; not part of the replicated answer).
    pub warned_ms: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub count: i64,
    pub bytes: i64,
    pub count_hard: i64,
    pub bytes_hard: i64,
}

impl Limits {
    fn of(track: &StatsTrack) -> Limits {
        Limits {
            count: track.count(),
            bytes: track.bytes(),
            count_hard: track.count_hard_limit(),
            bytes_hard: track.byte_hard_limit(),
        }
    }
}

/// Quota'd path -> quota. An `imbl` map so the state's O(1) clone (snapshots, multi's backup)
/// covers it.
pub(crate) type QuotaIndex = OrdMap<String, Quota>;

/// The nearest quota'd path among `path` and its ancestors (never `/`).
pub(crate) fn nearest<'a>(quotas: &QuotaIndex, path: &'a str) -> Option<&'a str> {
    if quotas.is_empty() {
        return None;
    }
    let mut p = path;
    while p.len() > 1 {
        if quotas.contains_key(p) {
            return Some(p);
        }
        p = &p[..p.rfind('/').unwrap_or(0)];
    }
    None
}

/// Checks a write that adds `d_count` nodes and `d_bytes` bytes at `path` against the nearest
/// quota, then records it (usage and the stats node). On `Err` nothing changed.
pub(crate) fn charge(
    state: &mut State,
    path: &str,
    d_count: i64,
    d_bytes: i64,
    time_ms: i64,
) -> Result<(), ZkError> {
    let Some(target) = nearest(&state.quotas, path) else {
        return Ok(());
    };
    let target = target.to_string();
    let Some(q) = state.quotas.get_mut(&target) else {
        return Ok(());
    };
    let (count, bytes) = (q.count + d_count, q.bytes + d_bytes);
    let over = |grows: bool, new: i64, soft: i64, hard: i64, what: &str| {
        let (limit, hard) = if hard > -1 {
            (hard, true)
        } else {
            (soft, false)
        };
        (grows && limit > -1 && new > limit).then(|| {
            let kind = if hard { "hard" } else { "soft" };
            (
                hard,
                format!(
                    "Quota exceeded: {target} [current {what}={new}, {kind}{}Limit={limit}]",
                    if what == "count" { "Count" } else { "Byte" }
                ),
            )
        })
    };
    let l = q.limits;
    let mut soft_warning = None;
    for hit in [
        over(d_count > 0, count, l.count, l.count_hard, "count"),
        over(d_bytes > 0, bytes, l.bytes, l.bytes_hard, "bytes"),
    ]
    .into_iter()
    .flatten()
    {
        match hit {
            (true, message) => return Err(ZkError::new(ErrorCode::QuotaExceeded, message)),
            (false, message) => soft_warning = Some(message),
        }
    }
    if let Some(message) = soft_warning {
        if q.warned_ms
            .is_none_or(|t| time_ms.saturating_sub(t) >= SOFT_WARN_INTERVAL_MS)
        {
            q.warned_ms = Some(time_ms);
            tracing::warn!("{message}");
        }
    }
    q.count = count;
    q.bytes = bytes;
    write_stats(state, &target);
    Ok(())
}

/// Records the removal of a node (`d_count` -1) or a shrink: never refused.
pub(crate) fn uncharge(state: &mut State, path: &str, d_count: i64, d_bytes: i64) {
    let Some(target) = nearest(&state.quotas, path) else {
        return;
    };
    let target = target.to_string();
    if let Some(q) = state.quotas.get_mut(&target) {
        q.count += d_count;
        q.bytes += d_bytes;
        write_stats(state, &target);
    }
}

/// After a change to `node_path`: if it is a quota's limits or stats node, re-derive that quota.
pub(crate) fn touched(state: &mut State, node_path: &str) {
    if let Some(target) = quota::quota_target(node_path) {
        let target = target.to_string();
        refresh(state, &target);
    }
}

/// Re-derives the quota on `target` from the tree: present while its limits node is, usage
/// counted afresh; the stats node (if any) gets the usage.
pub(crate) fn refresh(state: &mut State, target: &str) {
    let limits = match state.node(&quota::limit_path(target)) {
        Some(record) if target != "/" && !is_system(target) => {
            Limits::of(&StatsTrack::parse_bytes(record.data()))
        }
        _ => {
            state.quotas.remove(target);
            return;
        }
    };
    let (count, bytes) = usage(state, target);
    let warned_ms = state.quotas.get(target).and_then(|q| q.warned_ms);
    state.quotas.insert(
        target.to_string(),
        Quota {
            limits,
            count,
            bytes,
            warned_ms,
        },
    );
    write_stats(state, target);
}

/// Re-derives every quota (after a snapshot load): one per `zookeeper_limits` node under
/// `/zookeeper/quota`.
pub(crate) fn rebuild(state: &mut State) {
    state.quotas = QuotaIndex::new();
    // Every node strictly deeper than /zookeeper/quota's children has a key starting with this.
    let prefix = format!("{QUOTA_NODE}/");
    let range = (Bound::Included(prefix.as_str()), Bound::Unbounded);
    let targets: Vec<String> = state
        .nodes
        .range::<_, str>(range)
        .map(|(k, _)| k)
        .take_while(|k| k.as_str().starts_with(prefix.as_str()))
        .filter(|k| key::name_of(k.as_str()) == LIMITS_NODE)
        .filter_map(|k| quota::quota_target(&k.path()).map(String::from))
        .collect();
    for target in targets {
        refresh(state, &target);
    }
}

/// (node count, data bytes) of the subtree at `path`, itself included; (0, 0) if it is missing.
fn usage(state: &State, path: &str) -> (i64, i64) {
    let Some(own) = state.node(path) else {
        return (0, 0);
    };
    let (mut count, mut bytes) = (1i64, own.data().len() as i64);
    for sep in ['\0', '/'] {
        let prefix = format!("{path}{sep}");
        let range = (Bound::Included(prefix.as_str()), Bound::Unbounded);
        for (_, record) in state
            .nodes
            .range::<_, str>(range)
            .take_while(|(k, _)| k.as_str().starts_with(prefix.as_str()))
        {
            count += 1;
            bytes += record.data().len() as i64;
        }
    }
    (count, bytes)
}

/// Writes the quota's usage into its stats node's data, stat untouched (as ZooKeeper does).
fn write_stats(state: &mut State, target: &str) {
    let Some(q) = state.quotas.get(target) else {
        return;
    };
    let mut track = StatsTrack::new();
    track.set_count(q.count);
    track.set_bytes(q.bytes);
    let Some(stats_key) = key::encode(&quota::stat_path(target)) else {
        return;
    };
    if let Some(record) = state.node_by_key(&stats_key) {
        let text = track.to_string();
        if record.data() != text.as_bytes() {
            let fresh = NodeRecord::new(&record.stat(), text.as_bytes());
            state.replace(&stats_key, fresh);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(paths: &[&str]) -> QuotaIndex {
        let limits = Limits {
            count: -1,
            bytes: -1,
            count_hard: -1,
            bytes_hard: -1,
        };
        paths
            .iter()
            .map(|p| {
                let q = Quota {
                    limits,
                    count: 0,
                    bytes: 0,
                    warned_ms: None,
                };
                (p.to_string(), q)
            })
            .collect()
    }

    #[test]
    fn the_nearest_quota_is_the_deepest_ancestor_or_self_by_whole_components() {
        let q = index(&["/a", "/a/b/c"]);
        assert_eq!(nearest(&q, "/a"), Some("/a"));
        assert_eq!(nearest(&q, "/a/b"), Some("/a"));
        assert_eq!(nearest(&q, "/a/b/c"), Some("/a/b/c"));
        assert_eq!(nearest(&q, "/a/b/c/d/e"), Some("/a/b/c"));
        assert_eq!(nearest(&q, "/a/b/cd"), Some("/a"));
        assert_eq!(nearest(&q, "/ab"), None);
        assert_eq!(nearest(&q, "/"), None);
        assert_eq!(nearest(&index(&[]), "/a"), None);
    }
}

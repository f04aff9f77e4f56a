//! Curator-style recipes built on the client's public API: a distributed lock
//! ([`lock::Lock`], Curator's `InterProcessMutex`), a leader latch ([`leader::LeaderLatch`]),
//! a service registry with discovery ([`registry::ServiceRegistry`],
//! [`registry::ServiceDiscovery`]), and a subtree cache on a persistent recursive watch
//! ([`tree_cache::TreeCache`], Curator's `CuratorCache`).
//!
//! Lock, latch and registry rest on the same two ZooKeeper guarantees (the tree cache only on
//! watches):
//!
//! * **ephemeral nodes** live exactly as long as the session that created them, so a crashed or
//!   partitioned participant is removed by the server once its session expires;
//! * **sequential nodes** get a suffix (`%010d`, from the parent's cversion) that is unique and
//!   increasing among the parent's children, so sorting by suffix gives one total order that
//!   every participant agrees on.
//!
//! Lock and latch queue participants as `EPHEMERAL_SEQUENTIAL` children of one parent; the
//! lowest suffix wins and every other participant watches only its immediate predecessor, so a
//! release (or a crash) wakes exactly one waiter — no herd effect. Parents are created on demand
//! as persistent nodes (they stay after use; Curator's `creatingParentContainersIfNeeded` makes
//! them container nodes, which Paddock has too — `CreateMode::Container` — for callers who want
//! them gone).
//!
//! Session handling follows Curator's default policy: a participant whose connection is lost
//! (`Disconnected`) can no longer be sure it still owns anything — its session may expire
//! meanwhile and the next participant take over — so it treats lock/leadership as lost until
//! the session is `Connected` again, and for good once it is `Expired`.

pub mod leader;
pub mod lock;
pub mod registry;
pub mod tree_cache;

use std::time::Duration;

use crate::{Client, CreateMode, Error, ErrorCode, Result, SessionState};

/// Creates `path` and every missing ancestor as persistent nodes with empty data, ignoring
/// NodeExists (someone else created it concurrently).
pub async fn ensure_path(client: &Client, path: &str) -> Result<()> {
    validate(path)?;
    if path == "/" || client.exists(path).await?.is_some() {
        return Ok(());
    }
    let mut at = String::new();
    for part in path.split('/').skip(1) {
        at.push('/');
        at.push_str(part);
        match client.create(&at, "", CreateMode::Persistent).await {
            Ok(_) => {}
            Err(e) if e.code() == ErrorCode::NodeExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Rejects paths the recipes cannot use (relative, trailing slash, empty components).
pub(crate) fn validate(path: &str) -> Result<()> {
    let ok =
        path.starts_with('/') && (path == "/" || (!path.ends_with('/') && !path.contains("//")));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!("bad recipe path {path:?}")))
    }
}

/// `parent/child`, without doubling the slash for the root.
pub(crate) fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// The sequence number of a sequential node name (its trailing digits).
pub(crate) fn sequence_of(name: &str) -> Option<u64> {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    name[name.len() - digits..].parse().ok()
}

/// The children of a recipe's parent that start with `prefix` and carry a sequence number,
/// sorted by sequence (ties — impossible from one parent — by name).
pub(crate) fn sorted_participants(children: Vec<String>, prefix: &str) -> Vec<String> {
    let mut v: Vec<(u64, String)> = children
        .into_iter()
        .filter(|c| c.starts_with(prefix))
        .filter_map(|c| sequence_of(&c).map(|s| (s, c)))
        .collect();
    v.sort();
    v.into_iter().map(|(_, c)| c).collect()
}

/// The last path component.
pub(crate) fn node_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Creates an `EPHEMERAL_SEQUENTIAL` node `parent/prefix<seq>` with `data`, creating the parent
/// if missing. A create that fails with ConnectionLoss may still have been applied: like
/// Curator's protected mode, the children are then searched for a node of this session with
/// this data and that one is adopted, so no orphan is left blocking the queue.
pub(crate) async fn create_sequential(
    client: &Client,
    parent: &str,
    prefix: &str,
    data: &[u8],
) -> Result<String> {
    let base = join(parent, prefix);
    let mut attempts = 0;
    loop {
        attempts += 1;
        match client
            .create(&base, data.to_vec(), CreateMode::EphemeralSequential)
            .await
        {
            Ok(p) => return Ok(p),
            Err(e) if e.code() == ErrorCode::NoNode && attempts < 4 => {
                ensure_path(client, parent).await?;
            }
            Err(Error::ConnectionLoss | Error::Timeout) if attempts < 4 => {
                if let Some(found) = find_own(client, parent, prefix, data).await? {
                    return Ok(found);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

async fn find_own(
    client: &Client,
    parent: &str,
    prefix: &str,
    data: &[u8],
) -> Result<Option<String>> {
    let me = client.session_id().0;
    let (children, _) = match client.get_children(parent).await {
        Ok(c) => c,
        Err(e) if e.code() == ErrorCode::NoNode => return Ok(None),
        Err(e) => return Err(e),
    };
    for name in sorted_participants(children, prefix) {
        let path = join(parent, &name);
        match client.get_data(&path).await {
            Ok((d, stat)) if stat.ephemeral_owner == me && d[..] == *data => return Ok(Some(path)),
            Ok(_) => {}
            Err(e) if e.code() == ErrorCode::NoNode => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Deletes `path` in the background (best effort): retried while the connection is lost, given
/// up once the session is over (its ephemeral nodes are then gone anyway).
pub(crate) fn delete_in_background(client: &Client, path: String) {
    let client = client.clone();
    tokio::spawn(async move {
        for _ in 0..5 {
            match client.delete(&path, -1).await {
                Ok(()) => return,
                Err(e) if e.code() == ErrorCode::NoNode => return,
                Err(Error::ConnectionLoss | Error::Timeout) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    tracing::debug!(path, "recipe cleanup gave up: {e}");
                    return;
                }
            }
        }
    });
}

/// Whether the session is over for good (Expired, AuthFailed or Closed).
pub(crate) fn is_terminal(state: SessionState) -> bool {
    state.is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_and_order() {
        assert_eq!(sequence_of("lock-0000000012"), Some(12));
        assert_eq!(sequence_of("lock-"), None);
        let kids = vec![
            "lock-0000000010".to_string(),
            "other".to_string(),
            "lock-0000000002".to_string(),
            "latch-0000000001".to_string(),
        ];
        assert_eq!(
            sorted_participants(kids, "lock-"),
            vec!["lock-0000000002", "lock-0000000010"]
        );
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/x", "a"), "/x/a");
        assert_eq!(node_name("/x/a"), "a");
        assert!(validate("/a/b").is_ok());
        for bad in ["", "a", "/a/", "/a//b"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}

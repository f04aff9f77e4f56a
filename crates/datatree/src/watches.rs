//! The watch manager: one-shot watches registered by reads, fired by applied changes.
//!
//! As in ZooKeeper there are two tables: *data* watches (left by `getData`, and by `exists` —
//! whether or not the node exists, so `WatchKind::Exist` lives here too) and *child* watches
//! (left by `getChildren`). A change fires and removes watches:
//!
//! ```text
//!   NodeCreated, NodeDataChanged   -> data table of the path
//!   NodeChildrenChanged            -> child table of the path
//!   NodeDeleted                    -> data + child tables of the path (one event per watcher)
//! ```
//!
//! A watcher registered twice for the same path and table gets one event. Watchers of one trigger
//! are notified in ascending id order, so the events of a transaction come out deterministically.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use paddock_types::{EventType, KeeperState, WatchKind, WatchedEvent, WatcherId, Zxid};

/// Which table a watch lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Table {
    Data,
    Child,
}

impl Table {
    fn of(kind: WatchKind) -> Table {
        match kind {
            WatchKind::Data | WatchKind::Exist => Table::Data,
            WatchKind::Child => Table::Child,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct WatchManager {
    data: HashMap<Arc<str>, BTreeSet<WatcherId>>,
    child: HashMap<Arc<str>, BTreeSet<WatcherId>>,
    /// Reverse index, so a closed session's watches go without scanning every path.
    by_watcher: HashMap<WatcherId, HashSet<(Arc<str>, Table)>>,
    /// Number of (path, table, watcher) registrations.
    count: usize,
}

impl WatchManager {
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub(crate) fn count(&self) -> usize {
        self.count
    }

    fn table(&mut self, table: Table) -> &mut HashMap<Arc<str>, BTreeSet<WatcherId>> {
        match table {
            Table::Data => &mut self.data,
            Table::Child => &mut self.child,
        }
    }

    /// Registers a watch; registering the same one again is a no-op.
    pub(crate) fn add(&mut self, path: &str, kind: WatchKind, watcher: WatcherId) {
        let table = Table::of(kind);
        let map = self.table(table);
        let path: Arc<str> = match map.get_key_value(path) {
            Some((shared, _)) => shared.clone(),
            None => Arc::from(path),
        };
        if map.entry(path.clone()).or_default().insert(watcher) {
            self.by_watcher
                .entry(watcher)
                .or_default()
                .insert((path, table));
            self.count += 1;
        }
    }

    /// Drops every watch of `watcher` (its session is gone).
    pub(crate) fn remove_watcher(&mut self, watcher: WatcherId) {
        let Some(entries) = self.by_watcher.remove(&watcher) else {
            return;
        };
        let mut removed = 0;
        for (path, table) in entries {
            let map = self.table(table);
            if let Some(set) = map.get_mut(&path) {
                if set.remove(&watcher) {
                    removed += 1;
                }
                if set.is_empty() {
                    map.remove(&path);
                }
            }
        }
        self.count -= removed;
    }

    /// Takes the watchers of `path` in `table` (they are one-shot) and forgets them.
    fn take(&mut self, path: &str, table: Table) -> BTreeSet<WatcherId> {
        let Some((key, watchers)) = self.table(table).remove_entry(path) else {
            return BTreeSet::new();
        };
        self.count -= watchers.len();
        let entry = (key, table);
        for w in &watchers {
            if let Some(set) = self.by_watcher.get_mut(w) {
                set.remove(&entry);
                if set.is_empty() {
                    self.by_watcher.remove(w);
                }
            }
        }
        watchers
    }

    /// Fires the watches a change of `path` triggers, appending one event per watcher to `out`.
    pub(crate) fn trigger(
        &mut self,
        path: &str,
        event_type: EventType,
        zxid: Zxid,
        out: &mut Vec<(WatcherId, WatchedEvent)>,
    ) {
        if self.is_empty() {
            return;
        }
        let watchers = match event_type {
            EventType::NodeCreated | EventType::NodeDataChanged => self.take(path, Table::Data),
            EventType::NodeChildrenChanged => self.take(path, Table::Child),
            EventType::NodeDeleted => {
                let mut all = self.take(path, Table::Data);
                all.append(&mut self.take(path, Table::Child));
                all
            }
            EventType::None => BTreeSet::new(),
        };
        out.extend(watchers.into_iter().map(|w| {
            let event = WatchedEvent {
                event_type,
                state: KeeperState::SyncConnected,
                path: path.to_string(),
                zxid,
            };
            (w, event)
        }));
    }

    /// Every registration as (watcher, path, kind), sorted; `Exist` watches show as `Data` (they
    /// share the table). For admin listings (`wchc` / `wchp`).
    pub(crate) fn list(&self) -> Vec<(WatcherId, String, WatchKind)> {
        let mut all: Vec<(WatcherId, String, WatchKind)> = Vec::with_capacity(self.count);
        for (table, kind) in [
            (&self.data, WatchKind::Data),
            (&self.child, WatchKind::Child),
        ] {
            for (path, watchers) in table {
                all.extend(watchers.iter().map(|w| (*w, path.to_string(), kind)));
            }
        }
        all.sort();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_types::SessionId;

    fn fire(m: &mut WatchManager, path: &str, t: EventType) -> Vec<WatcherId> {
        let mut out = Vec::new();
        m.trigger(path, t, Zxid(1), &mut out);
        out.into_iter().map(|(w, _)| w).collect()
    }

    #[test]
    fn watches_are_one_shot_and_deduplicated() {
        let mut m = WatchManager::default();
        m.add("/a", WatchKind::Data, SessionId(1));
        m.add("/a", WatchKind::Data, SessionId(1));
        m.add("/a", WatchKind::Exist, SessionId(2));
        assert_eq!(m.count(), 2);
        assert_eq!(
            fire(&mut m, "/a", EventType::NodeDataChanged),
            vec![SessionId(1), SessionId(2)]
        );
        assert!(fire(&mut m, "/a", EventType::NodeDataChanged).is_empty());
        assert!(m.is_empty());
        assert!(m.by_watcher.is_empty());
    }

    #[test]
    fn node_deleted_fires_data_and_child_watches_once_per_watcher() {
        let mut m = WatchManager::default();
        m.add("/a", WatchKind::Data, SessionId(1));
        m.add("/a", WatchKind::Child, SessionId(1));
        m.add("/a", WatchKind::Child, SessionId(3));
        assert_eq!(
            fire(&mut m, "/a", EventType::NodeDeleted),
            vec![SessionId(1), SessionId(3)]
        );
        assert_eq!(m.count(), 0);
    }

    #[test]
    fn child_watches_ignore_data_changes() {
        let mut m = WatchManager::default();
        m.add("/a", WatchKind::Child, SessionId(1));
        assert!(fire(&mut m, "/a", EventType::NodeDataChanged).is_empty());
        assert!(fire(&mut m, "/a", EventType::NodeCreated).is_empty());
        assert_eq!(
            fire(&mut m, "/a", EventType::NodeChildrenChanged),
            vec![SessionId(1)]
        );
    }

    #[test]
    fn remove_watcher_drops_only_that_watcher() {
        let mut m = WatchManager::default();
        m.add("/a", WatchKind::Data, SessionId(1));
        m.add("/b", WatchKind::Child, SessionId(1));
        m.add("/a", WatchKind::Data, SessionId(2));
        m.remove_watcher(SessionId(1));
        assert_eq!(m.count(), 1);
        assert_eq!(
            m.list(),
            vec![(SessionId(2), "/a".to_string(), WatchKind::Data)]
        );
        assert!(fire(&mut m, "/b", EventType::NodeChildrenChanged).is_empty());
    }
}

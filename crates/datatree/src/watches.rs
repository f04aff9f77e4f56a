//! The watch manager: watches registered by reads and by `addWatch`, fired by applied changes.
//!
//! As in ZooKeeper there are two tables of one-shot watches: *data* watches (left by `getData`,
//! and by `exists` — whether or not the node exists, so `WatchKind::Exist` lives here too) and
//! *child* watches (left by `getChildren`); and, since ZooKeeper 3.6, two of watches that stay
//! until removed: *persistent* (on one path) and *persistent recursive* (on a path and everything
//! below it). A change fires:
//!
//! ```text
//!   NodeCreated, NodeDataChanged   -> data table of the path (removed), persistent of the path,
//!                                     recursive of the path and of every ancestor
//!   NodeChildrenChanged            -> child table of the path (removed), persistent of the path
//!                                     (recursive watches get no child events, as ZooKeeper)
//!   NodeDeleted                    -> data + child tables of the path (removed), persistent of
//!                                     the path, recursive of the path and of every ancestor
//! ```
//!
//! A watcher is told once per change however many of its watches match (a data watch and a
//! recursive one on an ancestor give one event). Watchers of one trigger are notified in ascending
//! id order, so the events of a transaction come out deterministically. The recursive lookup walks
//! the changed path's ancestors (one hash lookup each, skipped entirely while nobody holds a
//! recursive watch): its cost grows with the path's depth, never with the number of znodes under a
//! recursive watch.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use paddock_types::{
    EventType, KeeperState, WatchKind, WatchedEvent, WatcherId, WatcherType, Zxid,
};

/// Which table a watch lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Table {
    Data,
    Child,
    Persistent,
    Recursive,
}

impl Table {
    fn of(kind: WatchKind) -> Table {
        match kind {
            WatchKind::Data | WatchKind::Exist => Table::Data,
            WatchKind::Child => Table::Child,
            WatchKind::Persistent => Table::Persistent,
            WatchKind::PersistentRecursive => Table::Recursive,
        }
    }

    /// The tables `removeWatches` / `checkWatches` of `kind` look at.
    fn matching(kind: WatcherType) -> &'static [Table] {
        match kind {
            WatcherType::Children => &[Table::Child],
            WatcherType::Data => &[Table::Data],
            WatcherType::Persistent => &[Table::Persistent],
            WatcherType::PersistentRecursive => &[Table::Recursive],
            WatcherType::Any => &[
                Table::Data,
                Table::Child,
                Table::Persistent,
                Table::Recursive,
            ],
        }
    }

    /// How a registration of this table is listed.
    fn kind(self) -> WatchKind {
        match self {
            Table::Data => WatchKind::Data,
            Table::Child => WatchKind::Child,
            Table::Persistent => WatchKind::Persistent,
            Table::Recursive => WatchKind::PersistentRecursive,
        }
    }
}

type PathTable = HashMap<Arc<str>, BTreeSet<WatcherId>>;

#[derive(Debug, Default)]
pub(crate) struct WatchManager {
    data: PathTable,
    child: PathTable,
    persistent: PathTable,
    recursive: PathTable,
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

    fn table(&mut self, table: Table) -> &mut PathTable {
        match table {
            Table::Data => &mut self.data,
            Table::Child => &mut self.child,
            Table::Persistent => &mut self.persistent,
            Table::Recursive => &mut self.recursive,
        }
    }

    fn table_ref(&self, table: Table) -> &PathTable {
        match table {
            Table::Data => &self.data,
            Table::Child => &self.child,
            Table::Persistent => &self.persistent,
            Table::Recursive => &self.recursive,
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

    /// Whether `watcher` has a watch of `kind` on `path` (ZooKeeper's `containsWatcher`).
    pub(crate) fn contains(&self, path: &str, kind: WatcherType, watcher: WatcherId) -> bool {
        Table::matching(kind).iter().any(|t| {
            self.table_ref(*t)
                .get(path)
                .is_some_and(|set| set.contains(&watcher))
        })
    }

    /// Removes `watcher`'s watches of `kind` on `path`; returns the kinds removed (empty: there
    /// was none, ZooKeeper's NOWATCHER).
    pub(crate) fn remove(
        &mut self,
        path: &str,
        kind: WatcherType,
        watcher: WatcherId,
    ) -> Vec<WatchKind> {
        let mut removed = Vec::new();
        for &table in Table::matching(kind) {
            let map = self.table(table);
            let Some((key, set)) = map.get_key_value(path) else {
                continue;
            };
            let key = key.clone();
            if !set.contains(&watcher) {
                continue;
            }
            if let Some(set) = map.get_mut(path) {
                set.remove(&watcher);
                if set.is_empty() {
                    map.remove(path);
                }
            }
            self.count -= 1;
            if let Some(entries) = self.by_watcher.get_mut(&watcher) {
                entries.remove(&(key, table));
                if entries.is_empty() {
                    self.by_watcher.remove(&watcher);
                }
            }
            removed.push(table.kind());
        }
        removed
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

    /// Takes the one-shot watchers of `path` in `table` and forgets them.
    fn take(&mut self, path: &str, table: Table, into: &mut BTreeSet<WatcherId>) {
        let Some((key, watchers)) = self.table(table).remove_entry(path) else {
            return;
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
        into.extend(watchers);
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
        let mut watchers = BTreeSet::new();
        match event_type {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                self.take(path, Table::Data, &mut watchers)
            }
            EventType::NodeChildrenChanged => self.take(path, Table::Child, &mut watchers),
            EventType::NodeDeleted => {
                self.take(path, Table::Data, &mut watchers);
                self.take(path, Table::Child, &mut watchers);
            }
            _ => return,
        }
        if let Some(set) = self.persistent.get(path) {
            watchers.extend(set.iter().copied());
        }
        if event_type != EventType::NodeChildrenChanged && !self.recursive.is_empty() {
            for at in path_and_ancestors(path) {
                if let Some(set) = self.recursive.get(at) {
                    watchers.extend(set.iter().copied());
                }
            }
        }
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

    /// Whether a change of `path` reported as `event_type` would fire `watcher`'s persistent or
    /// recursive watches (for replaying changes to a resumed session).
    pub(crate) fn persistent_match(
        &self,
        path: &str,
        event_type: EventType,
        watcher: WatcherId,
    ) -> bool {
        let has = |t: &PathTable, p: &str| t.get(p).is_some_and(|s| s.contains(&watcher));
        if has(&self.persistent, path) {
            return true;
        }
        event_type != EventType::NodeChildrenChanged
            && path_and_ancestors(path).any(|at| has(&self.recursive, at))
    }

    /// Every registration as (watcher, path, kind), sorted; `Exist` watches show as `Data` (they
    /// share the table). For admin listings (`wchc` / `wchp`).
    pub(crate) fn list(&self) -> Vec<(WatcherId, String, WatchKind)> {
        let mut all: Vec<(WatcherId, String, WatchKind)> = Vec::with_capacity(self.count);
        for table in [
            Table::Data,
            Table::Child,
            Table::Persistent,
            Table::Recursive,
        ] {
            for (path, watchers) in self.table_ref(table) {
                all.extend(
                    watchers
                        .iter()
                        .map(|w| (*w, path.to_string(), table.kind())),
                );
            }
        }
        all.sort();
        all
    }
}

/// `path`, then its parent, ..., then `/`.
fn path_and_ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let at = next?;
        next = match at.rfind('/') {
            _ if at == "/" => None,
            Some(0) => Some("/"),
            Some(i) => Some(&at[..i]),
            None => None,
        };
        Some(at)
    })
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

    #[test]
    fn ancestors_run_from_the_path_to_the_root() {
        let all: Vec<&str> = path_and_ancestors("/a/b/c").collect();
        assert_eq!(all, vec!["/a/b/c", "/a/b", "/a", "/"]);
        assert_eq!(path_and_ancestors("/").collect::<Vec<_>>(), vec!["/"]);
        assert_eq!(
            path_and_ancestors("/a").collect::<Vec<_>>(),
            vec!["/a", "/"]
        );
    }

    #[test]
    fn a_persistent_watch_fires_every_time_for_its_path_only() {
        let mut m = WatchManager::default();
        m.add("/a", WatchKind::Persistent, SessionId(1));
        for t in [
            EventType::NodeCreated,
            EventType::NodeDataChanged,
            EventType::NodeChildrenChanged,
            EventType::NodeDeleted,
            EventType::NodeCreated,
        ] {
            assert_eq!(fire(&mut m, "/a", t), vec![SessionId(1)], "{t:?}");
        }
        assert!(fire(&mut m, "/a/b", EventType::NodeCreated).is_empty());
        assert_eq!(m.count(), 1, "still there");
    }

    #[test]
    fn a_recursive_watch_sees_the_subtree_but_no_child_events() {
        let mut m = WatchManager::default();
        m.add("/a", WatchKind::PersistentRecursive, SessionId(1));
        assert_eq!(
            fire(&mut m, "/a", EventType::NodeDataChanged),
            vec![SessionId(1)]
        );
        assert_eq!(
            fire(&mut m, "/a/b/c", EventType::NodeCreated),
            vec![SessionId(1)]
        );
        assert_eq!(
            fire(&mut m, "/a/b", EventType::NodeDeleted),
            vec![SessionId(1)]
        );
        assert!(fire(&mut m, "/a", EventType::NodeChildrenChanged).is_empty());
        assert!(
            fire(&mut m, "/ab", EventType::NodeCreated).is_empty(),
            "not a descendant"
        );
        assert!(fire(&mut m, "/", EventType::NodeDataChanged).is_empty());
        m.add("/", WatchKind::PersistentRecursive, SessionId(2));
        assert_eq!(
            fire(&mut m, "/ab", EventType::NodeCreated),
            vec![SessionId(2)]
        );
    }

    #[test]
    fn one_event_per_watcher_however_many_watches_match() {
        let mut m = WatchManager::default();
        m.add("/a/b", WatchKind::Data, SessionId(1));
        m.add("/a/b", WatchKind::Persistent, SessionId(1));
        m.add("/a", WatchKind::PersistentRecursive, SessionId(1));
        m.add("/", WatchKind::PersistentRecursive, SessionId(1));
        assert_eq!(
            fire(&mut m, "/a/b", EventType::NodeDataChanged),
            vec![SessionId(1)]
        );
        assert_eq!(
            m.count(),
            3,
            "the one-shot data watch went, the others stay"
        );
    }

    #[test]
    fn remove_and_contains_follow_the_watcher_type() {
        let mut m = WatchManager::default();
        m.add("/a", WatchKind::Data, SessionId(1));
        m.add("/a", WatchKind::Child, SessionId(1));
        m.add("/a", WatchKind::Persistent, SessionId(1));
        m.add("/a", WatchKind::PersistentRecursive, SessionId(1));
        assert!(m.contains("/a", WatcherType::Data, SessionId(1)));
        assert!(!m.contains("/a", WatcherType::Data, SessionId(2)));
        assert!(!m.contains("/b", WatcherType::Any, SessionId(1)));
        assert_eq!(
            m.remove("/a", WatcherType::Children, SessionId(1)),
            vec![WatchKind::Child]
        );
        assert!(m
            .remove("/a", WatcherType::Children, SessionId(1))
            .is_empty());
        assert_eq!(
            m.remove("/a", WatcherType::PersistentRecursive, SessionId(1)),
            vec![WatchKind::PersistentRecursive]
        );
        assert_eq!(
            m.remove("/a", WatcherType::Any, SessionId(1)),
            vec![WatchKind::Data, WatchKind::Persistent]
        );
        assert!(m.is_empty());
        assert!(m.by_watcher.is_empty());
        assert!(m.remove("/a", WatcherType::Any, SessionId(1)).is_empty());
    }

    #[test]
    fn removing_a_watcher_drops_its_persistent_watches_too() {
        let mut m = WatchManager::default();
        m.add("/a", WatchKind::Persistent, SessionId(1));
        m.add("/", WatchKind::PersistentRecursive, SessionId(1));
        m.add("/", WatchKind::PersistentRecursive, SessionId(2));
        m.remove_watcher(SessionId(1));
        assert_eq!(m.count(), 1);
        assert_eq!(
            fire(&mut m, "/a", EventType::NodeCreated),
            vec![SessionId(2)]
        );
    }
}

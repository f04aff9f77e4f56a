//! A local, always-updating copy of a subtree — after Curator's `CuratorCache`.
//!
//! # Algorithm
//!
//! * **Start**: set a persistent recursive watch on the root first, then read the whole subtree
//!   (getData + getChildren, breadth first). Changes made during the read are not lost: their
//!   events are already queued behind the watch and are applied after the read.
//! * **Events**: NodeCreated / NodeDataChanged re-read the node (getData) and store what the server
//!   has *now* (NoNode: it went meanwhile, and its NodeDeleted follows); NodeDeleted drops the node
//!   and everything cached below it. One task applies events in stream order, so the cache moves
//!   through the server's states in order.
//! * **Resume**: the watch survives a move to another server, which replays the changes it missed
//!   (client.proto, ConnectRequest.persistent_recursive_watches). A resume further behind than the
//!   server's recent history gets no replay, so after every reconnect the cache also re-reads the
//!   subtree and drops what is gone (as CuratorCache refreshes).
//!
//! # Guarantees
//!
//! * Once writes stop, the cache equals the server's subtree (eventually consistent).
//! * Every [`CacheEvent`] describes a change the cache applied, in order; a reader of
//!   [`TreeCache::get`] sees data at least as new as the last event it received.
//! * When the session ends the task stops and [`TreeCache::events`] receivers see the channel
//!   close; the cache keeps its last contents.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::{is_terminal, join, validate};
use crate::{
    AddWatchMode, Client, ErrorCode, EventType, PersistentWatch, Result, SessionState, Stat,
    WatcherType,
};

/// A change the cache applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheEvent {
    /// A node appeared in the cache (created, or found by a refresh).
    Created(String),
    /// A cached node's data or Stat changed.
    Changed(String),
    /// A node (and everything below it) left the cache.
    Deleted(String),
    /// The initial read is complete: the cache holds the whole subtree.
    Initialized,
}

type Nodes = BTreeMap<String, (Bytes, Stat)>;

/// A cached subtree (see the [module docs](self)).
#[derive(Debug)]
pub struct TreeCache {
    root: String,
    client: Client,
    nodes: Arc<Mutex<Nodes>>,
    events: broadcast::Sender<CacheEvent>,
    task: JoinHandle<()>,
}

impl TreeCache {
    /// Starts caching the subtree at `root` (which need not exist yet). Returns once the watch is
    /// set and the initial read is done.
    pub async fn start(client: Client, root: &str) -> Result<TreeCache> {
        validate(root)?;
        let watch = client
            .add_watch(root, AddWatchMode::PersistentRecursive)
            .await?;
        let nodes = Arc::new(Mutex::new(Nodes::new()));
        let (events, _) = broadcast::channel(1024);
        let mut worker = Worker {
            client: client.clone(),
            root: root.to_string(),
            nodes: Arc::clone(&nodes),
            events: events.clone(),
        };
        worker.refresh().await?;
        let _ = events.send(CacheEvent::Initialized);
        let task = tokio::spawn(worker.run(watch));
        Ok(TreeCache {
            root: root.to_string(),
            client,
            nodes,
            events,
            task,
        })
    }

    /// The cached data and Stat of `path`.
    pub fn get(&self, path: &str) -> Option<(Bytes, Stat)> {
        lock(&self.nodes).get(path).cloned()
    }

    /// The cached children names of `path`, sorted.
    pub fn children(&self, path: &str) -> Vec<String> {
        let nodes = lock(&self.nodes);
        let prefix = join(path, "");
        nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| !p[prefix.len()..].contains('/'))
            .map(|(p, _)| p[prefix.len()..].to_string())
            .collect()
    }

    /// How many nodes are cached (the root included, when it exists).
    pub fn len(&self) -> usize {
        lock(&self.nodes).len()
    }

    /// Whether nothing is cached (the root does not exist).
    pub fn is_empty(&self) -> bool {
        lock(&self.nodes).is_empty()
    }

    /// A copy of everything cached: path -> (data, Stat), in path order.
    pub fn snapshot(&self) -> BTreeMap<String, (Bytes, Stat)> {
        lock(&self.nodes).clone()
    }

    /// The changes applied from now on.
    pub fn events(&self) -> broadcast::Receiver<CacheEvent> {
        self.events.subscribe()
    }

    /// Stops the cache and removes its watch from the server.
    pub async fn close(self) {
        self.task.abort();
        let _ = self
            .client
            .remove_watches(&self.root, WatcherType::PersistentRecursive, true)
            .await;
    }
}

impl Drop for TreeCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(nodes: &Mutex<Nodes>) -> MutexGuard<'_, Nodes> {
    nodes.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Worker {
    client: Client,
    root: String,
    nodes: Arc<Mutex<Nodes>>,
    events: broadcast::Sender<CacheEvent>,
}

impl Worker {
    async fn run(mut self, mut watch: PersistentWatch) {
        let mut states = self.client.state_events();
        loop {
            tokio::select! {
                ev = watch.next() => match ev {
                    Some(Ok(ev)) => {
                        let r = match ev.event_type {
                            EventType::NodeCreated | EventType::NodeDataChanged => {
                                self.reread(&ev.path).await
                            }
                            EventType::NodeDeleted => {
                                self.drop_subtree(&ev.path);
                                Ok(())
                            }
                            _ => Ok(()),
                        };
                        if let Err(e) = r {
                            if is_terminal(self.client.state()) {
                                return;
                            }
                            tracing::debug!(root = %self.root, "tree cache: {e}; refreshing");
                        }
                    }
                    // Removed or the session ended.
                    Some(Err(_)) | None => return,
                },
                st = states.recv() => match st {
                    Ok(SessionState::Connected) => {
                        // Resumed: the server replays what it can; re-read in case it could not.
                        if self.refresh().await.is_err() && is_terminal(self.client.state()) {
                            return;
                        }
                    }
                    Ok(s) if is_terminal(s) => return,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    /// Stores what the server has for `path` now.
    async fn reread(&mut self, path: &str) -> Result<()> {
        match self.client.get_data(path).await {
            Ok((data, stat)) => {
                self.store(path, data, stat);
                Ok(())
            }
            Err(e) if e.code() == ErrorCode::NoNode => Ok(()), // its NodeDeleted follows
            Err(e) => Err(e),
        }
    }

    fn store(&mut self, path: &str, data: Bytes, stat: Stat) {
        let previous = lock(&self.nodes).insert(path.to_string(), (data.clone(), stat));
        let event = match previous {
            None => CacheEvent::Created(path.to_string()),
            Some((d, s)) if d != data || s != stat => CacheEvent::Changed(path.to_string()),
            Some(_) => return,
        };
        let _ = self.events.send(event);
    }

    fn drop_subtree(&mut self, path: &str) {
        let gone: Vec<String> = {
            let mut nodes = lock(&self.nodes);
            let below = join(path, "");
            let mut gone: Vec<String> = nodes
                .range(below.clone()..)
                .take_while(|(p, _)| p.starts_with(&below))
                .map(|(p, _)| p.clone())
                .collect();
            if nodes.contains_key(path) {
                gone.insert(0, path.to_string());
            }
            for p in &gone {
                nodes.remove(p);
            }
            gone
        };
        if !gone.is_empty() {
            let _ = self.events.send(CacheEvent::Deleted(path.to_string()));
        }
    }

    /// Reads the whole subtree again (breadth first) and drops what is no longer there.
    async fn refresh(&mut self) -> Result<()> {
        let mut seen = Vec::new();
        let mut queue = vec![self.root.clone()];
        while let Some(path) = queue.pop() {
            let (data, stat) = match self.client.get_data(&path).await {
                Ok(r) => r,
                Err(e) if e.code() == ErrorCode::NoNode => continue,
                Err(e) => return Err(e),
            };
            let children = match self.client.get_children(&path).await {
                Ok((c, _)) => c,
                Err(e) if e.code() == ErrorCode::NoNode => continue,
                Err(e) => return Err(e),
            };
            self.store(&path, data, stat);
            seen.push(path.clone());
            queue.extend(children.iter().map(|c| join(&path, c)));
        }
        let stale: Vec<String> = {
            let nodes = lock(&self.nodes);
            let seen: std::collections::HashSet<&String> = seen.iter().collect();
            nodes
                .keys()
                .filter(|p| !seen.contains(p))
                .cloned()
                .collect()
        };
        for p in stale {
            self.drop_subtree(&p);
        }
        Ok(())
    }
}

//! A local, always-updating copy of a subtree — after Curator's `CuratorCache`.
//!
//! # Algorithm
//!
//! * **Start**: set a persistent recursive watch on the root first, then read the whole subtree
//!   (getData + getChildren, breadth first). Changes made during the read are not lost: their
//!   events are already queued behind the watch and are applied after the read.
//! * **Events**: NodeCreated / NodeDataChanged re-read the node (getData) and store what the server
//!   has *now* (NoNode: it went meanwhile, and its NodeDeleted follows); NodeDeleted drops the node
//!   and everything cached below it. One task takes the events in batches (all that have arrived,
//!   up to [`BATCH`]), issues the batch's re-reads at once (pipelined on the session's stream, each
//!   path read once) and applies the batch in stream order: every read was sent after every event
//!   of the batch, so it sees the server at least as new as the batch's last event. The initial
//!   read is pipelined the same way, one level of the tree at a time.
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

/// Most events applied together (and re-reads in flight at once).
pub const BATCH: usize = 512;

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
                ev = watch.next() => {
                    let mut batch = Vec::new();
                    match ev {
                        Some(Ok(ev)) => batch.push(ev),
                        // Removed or the session ended.
                        Some(Err(_)) | None => return,
                    }
                    let mut ended = false;
                    while batch.len() < BATCH {
                        match watch.try_next() {
                            Some(Ok(ev)) => batch.push(ev),
                            Some(Err(_)) => {
                                ended = true;
                                break;
                            }
                            None => break,
                        }
                    }
                    if let Err(e) = self.apply_batch(batch).await {
                        if is_terminal(self.client.state()) {
                            return;
                        }
                        tracing::debug!(root = %self.root, "tree cache: {e}");
                    }
                    if ended {
                        return;
                    }
                }
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

    /// Applies a batch of events in order, with one pipelined re-read per path created or changed
    /// (stored where its last such event stands).
    async fn apply_batch(&mut self, batch: Vec<paddock_types::WatchedEvent>) -> Result<()> {
        let reads_of =
            |t: EventType| matches!(t, EventType::NodeCreated | EventType::NodeDataChanged);
        let mut last_read: std::collections::HashMap<&str, usize> =
            std::collections::HashMap::new();
        for (i, ev) in batch.iter().enumerate() {
            if reads_of(ev.event_type) {
                last_read.insert(ev.path.as_str(), i);
            }
        }
        let paths: Vec<&str> = last_read.keys().copied().collect();
        // The cache holds bytes: null data is cached as empty.
        let results = futures::future::join_all(paths.iter().map(|p| async {
            let (data, stat) = self.client.get_data(p).await?;
            Ok((data.into_bytes(), stat))
        }))
        .await;
        let mut read: std::collections::HashMap<&str, Result<(Bytes, Stat)>> =
            paths.into_iter().zip(results).collect();
        let mut failure = None;
        for (i, ev) in batch.iter().enumerate() {
            match ev.event_type {
                EventType::NodeDeleted => self.drop_subtree(&ev.path),
                t if reads_of(t) && last_read.get(ev.path.as_str()) == Some(&i) => {
                    match read.remove(ev.path.as_str()) {
                        Some(Ok((data, stat))) => self.store(&ev.path, data, stat),
                        // Gone meanwhile: its NodeDeleted follows.
                        Some(Err(e)) if e.code() == ErrorCode::NoNode => {}
                        Some(Err(e)) => failure = Some(e),
                        None => {}
                    }
                }
                _ => {}
            }
        }
        failure.map_or(Ok(()), Err)
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

    /// Reads the whole subtree again (a level at a time, each level's reads pipelined, at most
    /// [`BATCH`] nodes at once) and drops what is no longer there.
    async fn refresh(&mut self) -> Result<()> {
        let mut seen = Vec::new();
        let mut level = vec![self.root.clone()];
        while !level.is_empty() {
            let mut next = Vec::new();
            for chunk in level.chunks(BATCH) {
                let client = &self.client;
                let reads = chunk.iter().map(|p| async move {
                    let data = client.get_data(p).await;
                    let kids = client.get_children(p).await;
                    (data, kids)
                });
                for (path, (data, kids)) in chunk.iter().zip(futures::future::join_all(reads).await)
                {
                    let ((data, stat), (children, _)) = match (data, kids) {
                        (Ok(d), Ok(k)) => (d, k),
                        (Err(e), _) | (_, Err(e)) if e.code() == ErrorCode::NoNode => continue,
                        (Err(e), _) | (_, Err(e)) => return Err(e),
                    };
                    self.store(path, data.into_bytes(), stat);
                    seen.push(path.clone());
                    next.extend(children.iter().map(|c| join(path, c)));
                }
            }
            level = next;
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

//! Leader election — Curator's `LeaderLatch`.
//!
//! # Algorithm
//!
//! Each participant of the election at `/election/name`:
//!
//! 1. creates the parent path if missing, then an `EPHEMERAL_SEQUENTIAL` node
//!    `/election/name/latch-<seq>` whose data is its id ([`LeaderLatch::start`]);
//! 2. lists the children, keeps the `latch-` ones and sorts them by sequence number;
//! 3. the owner of the lowest one is the leader;
//! 4. every other participant sets an `exists` watch on its immediate predecessor only and,
//!    when it fires (or was already gone), goes back to 2 — one participant is woken per
//!    departure, no herd effect.
//!
//! A background task runs 2–4 and publishes the result on a [`tokio::sync::watch`] channel
//! ([`LeaderLatch::subscribe`], [`LeaderLatch::has_leadership`],
//! [`LeaderLatch::await_leadership`]). [`LeaderLatch::close`] deletes the node: leadership
//! passes to the next participant.
//!
//! # Guarantees
//!
//! * At most one participant whose session is connected considers itself leader: leadership
//!   is dropped (`false`) as soon as the session is `Disconnected` — the session may expire and
//!   the node go while the participant cannot hear about it — and re-checked once it is
//!   `Connected` again. When the leader's session expires the server deletes its node and the
//!   next participant becomes leader; the old one stays `false` for good (its task ends).
//! * If the own node disappears while the session is alive (deleted by hand), leadership is
//!   dropped and a new node is created at the end of the queue, as Curator's latch does on
//!   reset (the leader keeps an exists watch on its own node for this).
//! * Like every lease, a leader paused for longer than the session timeout may briefly overlap
//!   with its successor; fence side effects when that matters.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{create_sequential, is_terminal, join, node_name, sorted_participants};
use crate::{Client, Error, ErrorCode, Result, SessionState, Watch};

/// The prefix of the latch's sequential nodes.
pub const LATCH_PREFIX: &str = "latch-";

/// One participant of a leader election (see the [module docs](self)).
pub struct LeaderLatch {
    client: Client,
    path: String,
    id: String,
    node: Arc<Mutex<Option<String>>>,
    leader: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LeaderLatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderLatch")
            .field("path", &self.path)
            .field("id", &self.id)
            .field("node", &self.node())
            .field("leader", &self.has_leadership())
            .finish()
    }
}

impl LeaderLatch {
    /// A participant `id` of the election at `path`, through `client`'s session. Nothing is
    /// sent before [`LeaderLatch::start`].
    pub fn new(client: Client, path: impl Into<String>, id: impl Into<String>) -> LeaderLatch {
        LeaderLatch {
            client,
            path: path.into(),
            id: id.into(),
            node: Arc::new(Mutex::new(None)),
            leader: watch::Sender::new(false),
            task: None,
        }
    }

    /// Joins the election: creates the node and starts following leadership in the background.
    /// Errors: [`Error::InvalidArgument`] if already started, or the create's error.
    pub async fn start(&mut self) -> Result<()> {
        super::validate(&self.path)?;
        if self.task.is_some() {
            return Err(Error::InvalidArgument(format!(
                "latch {} of {} already started",
                self.id, self.path
            )));
        }
        let node =
            create_sequential(&self.client, &self.path, LATCH_PREFIX, self.id.as_bytes()).await?;
        *lock(&self.node) = Some(node);
        let follower = Follower {
            client: self.client.clone(),
            path: self.path.clone(),
            id: self.id.clone(),
            node: Arc::clone(&self.node),
            leader: self.leader.clone(),
        };
        self.task = Some(tokio::spawn(follower.run()));
        Ok(())
    }

    /// This participant's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The own node's full path while started.
    pub fn node(&self) -> Option<String> {
        lock(&self.node).clone()
    }

    /// Whether this participant is the leader now.
    pub fn has_leadership(&self) -> bool {
        *self.leader.borrow()
    }

    /// Leadership changes (`true` when gained, `false` when lost), latest value only.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leader.subscribe()
    }

    /// Waits up to `timeout` for leadership; `true` if this participant is (became) leader.
    pub async fn await_leadership(&self, timeout: Duration) -> bool {
        let mut rx = self.leader.subscribe();
        let got = tokio::time::timeout(timeout, rx.wait_for(|l| *l))
            .await
            .map(|r| r.is_ok());
        got == Ok(true)
    }

    /// The id (node data) of the current leader, `None` when nobody takes part.
    pub async fn leader_id(&self) -> Result<Option<String>> {
        Ok(self.participants().await?.into_iter().next())
    }

    /// The ids of every participant, in queue order (the leader first).
    pub async fn participants(&self) -> Result<Vec<String>> {
        let children = match self.client.get_children(&self.path).await {
            Ok((c, _)) => c,
            Err(e) if e.code() == ErrorCode::NoNode => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut ids = Vec::new();
        for name in sorted_participants(children, LATCH_PREFIX) {
            match self.client.get_data(&join(&self.path, &name)).await {
                Ok((d, _)) => ids.push(String::from_utf8_lossy(&d).into_owned()),
                Err(e) if e.code() == ErrorCode::NoNode => {} // left meanwhile
                Err(e) => return Err(e),
            }
        }
        Ok(ids)
    }

    /// Leaves the election: stops following, deletes the node (leadership passes to the
    /// next participant). Closing an unstarted or closed latch is `Ok`. When the session is
    /// already over the node is gone with it and `Ok` is returned.
    pub async fn close(&mut self) -> Result<()> {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        self.leader.send_replace(false);
        let Some(node) = lock(&self.node).take() else {
            return Ok(());
        };
        match self.client.delete(&node, -1).await {
            Ok(()) => Ok(()),
            Err(e) if e.code() == ErrorCode::NoNode => Ok(()),
            Err(Error::SessionExpired | Error::AuthFailed | Error::Closed) => Ok(()),
            Err(e @ (Error::ConnectionLoss | Error::Timeout)) => {
                super::delete_in_background(&self.client, node);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

impl Drop for LeaderLatch {
    /// Stops following; the node is deleted in the background when a runtime is available
    /// (otherwise it goes when the session ends).
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            if let Some(node) = lock(&self.node).take() {
                if tokio::runtime::Handle::try_current().is_ok() {
                    super::delete_in_background(&self.client, node);
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The background task of a started latch.
struct Follower {
    client: Client,
    path: String,
    id: String,
    node: Arc<Mutex<Option<String>>>,
    leader: watch::Sender<bool>,
}

enum Check {
    /// Leader; the watch is on the own node (fires if it is deleted).
    Leader(Watch),
    Wait(Watch),
    Missing,
}

impl Follower {
    fn set(&self, v: bool) {
        self.leader
            .send_if_modified(|cur| std::mem::replace(cur, v) != v);
    }

    async fn run(self) {
        let mut states = self.client.state_watch();
        loop {
            let state = *states.borrow_and_update();
            if is_terminal(state) {
                self.set(false);
                return;
            }
            if state != SessionState::Connected {
                self.set(false);
                if states.changed().await.is_err() {
                    self.set(false);
                    return;
                }
                continue;
            }
            match self.check().await {
                Ok(Check::Leader(own)) => {
                    self.set(true);
                    // Leader until the session state changes or the own node goes.
                    tokio::select! {
                        _ = own => {}
                        _ = states.changed() => {}
                    }
                    self.set(false);
                }
                Ok(Check::Wait(watch)) => {
                    self.set(false);
                    tokio::select! {
                        _ = watch => {}
                        _ = states.changed() => {}
                    }
                }
                Ok(Check::Missing) => {
                    self.set(false);
                    match create_sequential(
                        &self.client,
                        &self.path,
                        LATCH_PREFIX,
                        self.id.as_bytes(),
                    )
                    .await
                    {
                        Ok(n) => *lock(&self.node) = Some(n),
                        Err(e) => self.backoff(&e).await,
                    }
                }
                Err(e) => {
                    self.set(false);
                    self.backoff(&e).await;
                }
            }
        }
    }

    async fn backoff(&self, e: &Error) {
        tracing::debug!(path = %self.path, id = %self.id, "leader latch retries after: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    async fn check(&self) -> Result<Check> {
        let Some(node) = lock(&self.node).clone() else {
            return Ok(Check::Missing);
        };
        loop {
            let (children, _) = self.client.get_children(&self.path).await?;
            let order = sorted_participants(children, LATCH_PREFIX);
            let Some(pos) = order.iter().position(|c| c == node_name(&node)) else {
                return Ok(Check::Missing);
            };
            if pos == 0 {
                match self.client.exists_w(&node).await? {
                    (Some(_), own) => return Ok(Check::Leader(own)),
                    (None, _) => return Ok(Check::Missing),
                }
            }
            let (stat, watch) = self
                .client
                .exists_w(&join(&self.path, &order[pos - 1]))
                .await?;
            if stat.is_some() {
                return Ok(Check::Wait(watch));
            }
        }
    }
}

//! A distributed, reentrant mutex — Curator's `InterProcessMutex`.
//!
//! # Algorithm
//!
//! For a lock at `/locks/name`:
//!
//! 1. create the parent path if it is missing (persistent nodes, NodeExists ignored);
//! 2. create an `EPHEMERAL_SEQUENTIAL` node `/locks/name/lock-<seq>` (data: a token unique to
//!    this [`Lock`], used to find the node again if the create's answer was lost);
//! 3. list the children, keep the `lock-` ones and sort them by sequence number;
//! 4. if ours is the first, the lock is held;
//! 5. otherwise set an `exists` watch on the **immediate predecessor only** and wait for it to
//!    fire (its owner released, or its session ended), then go back to 3. If the predecessor
//!    is already gone when the watch is set, go back to 3 at once.
//!
//! Releasing deletes the node, which fires exactly one watch: the next waiter's. Waiters are
//! served in the order their nodes were created (fair, FIFO), and a release wakes one waiter,
//! not all of them (no herd effect).
//!
//! # Guarantees and their limits
//!
//! * **Mutual exclusion** between [`Lock`] values (of any sessions) while their sessions are
//!   alive: only the owner of the lowest node holds the lock.
//! * **Reentrancy** within one [`Lock`] value: [`Lock::acquire`] on a held lock only increments
//!   a count; the node is deleted when [`Lock::release`] brings the count back to 0. Two
//!   different `Lock` values (even on the same [`Client`]) exclude each other.
//! * **Session loss**: the node is ephemeral, so when the holder's session expires the server
//!   deletes it and the next waiter acquires. The old holder must then stop acting as the
//!   holder: [`Lock::is_held`] is `false` as soon as the connection is lost (the session may
//!   expire at any moment from then on, and is reported `true` again only if it resumes) and
//!   for good once it is `Expired`. As with every lease-based lock, a holder that is paused
//!   longer than the session timeout can act after losing the lock; fence writes (e.g. with the
//!   node's czxid) when that matters.
//! * **Errors while acquiring**: if the connection is lost or the session expires while
//!   acquiring, or the timeout of [`Lock::acquire_timeout`] passes, the own node is deleted
//!   (in the background if the connection is down) and the call returns an error / `false`.
//! * Dropping a held `Lock` without [`Lock::release`] leaves the node until its session ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{create_sequential, delete_in_background, node_name, sorted_participants};
use crate::{Client, Error, ErrorCode, Result, SessionState};

/// The prefix of the lock's sequential nodes.
pub const LOCK_PREFIX: &str = "lock-";

/// A distributed reentrant mutex on a path (see the [module docs](self)).
#[derive(Debug)]
pub struct Lock {
    client: Client,
    path: String,
    token: String,
    /// The own node's full path while held.
    node: Option<String>,
    count: u32,
    wakeups: Arc<AtomicU64>,
}

impl Lock {
    /// A lock on `path` (e.g. `/locks/name`) through `client`'s session. Nothing is sent yet.
    pub fn new(client: Client, path: impl Into<String>) -> Lock {
        let token = format!(
            "{:016x}-{:016x}",
            client.session_id().0 as u64,
            rand::random::<u64>()
        );
        Lock {
            client,
            path: path.into(),
            token,
            node: None,
            count: 0,
            wakeups: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The lock's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The own node's full path while held (e.g. `/locks/name/lock-0000000003`).
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// Waits until the lock is held (or the request deadline / session says otherwise).
    /// Returns `Ok(true)`. Reentrant: on a held lock it only increments the hold count.
    pub async fn acquire(&mut self) -> Result<bool> {
        self.acquire_inner(None).await
    }

    /// Like [`Lock::acquire`], giving up after `timeout`: `Ok(false)` (the own node deleted).
    pub async fn acquire_timeout(&mut self, timeout: Duration) -> Result<bool> {
        self.acquire_inner(Some(Instant::now() + timeout)).await
    }

    /// Whether this value holds the lock *and* its session is connected. `false` once the
    /// session is lost: treat the lock as gone (see the module docs).
    pub fn is_held(&self) -> bool {
        self.count > 0 && self.client.state() == SessionState::Connected
    }

    /// The hold count (reentrant acquisitions not yet released).
    pub fn hold_count(&self) -> u32 {
        self.count
    }

    /// How many times a waiting acquire of this value was woken by its predecessor's watch.
    /// With no herd effect, each acquisition is woken at most once per predecessor that goes.
    pub fn watch_wakeups(&self) -> u64 {
        self.wakeups.load(Ordering::Relaxed)
    }

    /// Releases one hold; the last one deletes the node (waking the next waiter).
    ///
    /// Errors: [`Error::InvalidArgument`] when not held. When the session has expired or the
    /// client was closed, the hold is dropped and the session error returned (the node went
    /// with the session: the lock had already been lost).
    pub async fn release(&mut self) -> Result<()> {
        if self.count == 0 {
            return Err(Error::InvalidArgument(format!(
                "lock {} is not held",
                self.path
            )));
        }
        self.count -= 1;
        if self.count > 0 {
            return Ok(());
        }
        let Some(node) = self.node.take() else {
            return Ok(());
        };
        match self.client.delete(&node, -1).await {
            Ok(()) => Ok(()),
            Err(e) if e.code() == ErrorCode::NoNode => Ok(()),
            Err(e @ (Error::ConnectionLoss | Error::Timeout)) => {
                // The session may still be alive: make sure the node goes, or nobody else can
                // ever acquire (until the session ends).
                delete_in_background(&self.client, node);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    async fn acquire_inner(&mut self, deadline: Option<Instant>) -> Result<bool> {
        if self.count > 0 {
            if super::is_terminal(self.client.state()) {
                // The node is gone with the session: the lock is lost.
                self.count = 0;
                self.node = None;
                return Err(Error::SessionExpired);
            }
            self.count += 1;
            return Ok(true);
        }
        // Not cut short by the deadline: an abandoned create could leave an orphan node
        // (the call itself is bounded by the request timeout).
        let node =
            create_sequential(&self.client, &self.path, LOCK_PREFIX, self.token.as_bytes()).await?;
        match self.wait_until_first(&node, deadline).await {
            Ok(true) => {
                self.node = Some(node);
                self.count = 1;
                Ok(true)
            }
            Ok(false) => {
                self.delete_own(node).await;
                Ok(false)
            }
            Err(e) => {
                self.delete_own(node).await;
                Err(e)
            }
        }
    }

    async fn delete_own(&self, node: String) {
        if self.client.state() == SessionState::Connected {
            match self.client.delete(&node, -1).await {
                Ok(()) => return,
                Err(e) if e.code() == ErrorCode::NoNode => return,
                Err(_) if super::is_terminal(self.client.state()) => return,
                Err(_) => {}
            }
        }
        if !super::is_terminal(self.client.state()) {
            delete_in_background(&self.client, node);
        }
    }

    /// Steps 3-5 of the algorithm: `Ok(true)` once `node` is first, `Ok(false)` at the deadline.
    async fn wait_until_first(&self, node: &str, deadline: Option<Instant>) -> Result<bool> {
        let me = node_name(node);
        let mut states = self.client.state_watch();
        loop {
            let (children, _) = self.client.get_children(&self.path).await?;
            let order = sorted_participants(children, LOCK_PREFIX);
            let Some(pos) = order.iter().position(|c| c == me) else {
                // Our node is gone: the session ended (or someone deleted it).
                if super::is_terminal(self.client.state()) {
                    return Err(Error::SessionExpired);
                }
                return Err(Error::Zk {
                    code: ErrorCode::NoNode,
                    message: format!("lock node {node} vanished while waiting"),
                });
            };
            if pos == 0 {
                return Ok(true);
            }
            let predecessor = super::join(&self.path, &order[pos - 1]);
            let (stat, watch) = self.client.exists_w(&predecessor).await?;
            if stat.is_none() {
                continue; // gone between the listing and the watch: check again at once
            }
            // Wait for the predecessor's watch, failing fast when the connection is lost.
            let lost = async {
                loop {
                    let s = *states.borrow_and_update();
                    if s != SessionState::Connected {
                        return s;
                    }
                    if states.changed().await.is_err() {
                        return SessionState::Closed;
                    }
                }
            };
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                fired = watch => {
                    fired?;
                    self.wakeups.fetch_add(1, Ordering::Relaxed);
                }
                s = lost => {
                    return Err(match s {
                        SessionState::Expired => Error::SessionExpired,
                        SessionState::AuthFailed => Error::AuthFailed,
                        SessionState::Closed => Error::Closed,
                        _ => Error::ConnectionLoss,
                    });
                }
                () = sleep => return Ok(false),
            }
        }
    }
}

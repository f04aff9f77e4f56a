//! Service registration and discovery — after Curator's `ServiceDiscovery` /
//! `ServiceCache`.
//!
//! # Algorithm
//!
//! * **Register**: an instance creates the `EPHEMERAL` node `<path>/<instance_id>` (parent
//!   created if missing) holding its data (address, port, ... — opaque bytes here). It lives as
//!   long as the instance's session: [`Registration::unregister`] deletes it at once, a crashed
//!   or partitioned instance disappears when its session expires.
//! * **Discover**: [`ServiceDiscovery::watch`] reads the children of `<path>` with a child
//!   watch, publishes the sorted list on a [`tokio::sync::watch`] channel, and when the watch
//!   fires reads them again with a new watch (watches are one-shot: re-armed after every event,
//!   so no change is missed, though several quick changes may be seen as one list). If
//!   `<path>` is deleted, the list becomes empty and the task waits for it to be created again.
//!
//! # Guarantees
//!
//! * Every list published was the server's member list at some point (eventually consistent:
//!   the last list published matches the server once changes stop).
//! * A connection loss is retried (the session resumes and the list is re-read); when the
//!   watcher's session ends the channel's sender is dropped (`changed()` errs) — create a new
//!   client and a new watcher.

use std::time::Duration;

use bytes::Bytes;
use paddock_types::Data;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{ensure_path, is_terminal, join};
use crate::{Client, CreateMode, Error, ErrorCode, Result};

/// Registers service instances (see the [module docs](self)).
#[derive(Debug)]
pub struct ServiceRegistry;

impl ServiceRegistry {
    /// Registers `instance_id` under the service `path` (e.g. `/services/api`) with `data`:
    /// creates the ephemeral node `<path>/<instance_id>`. Errors: NodeExists if that instance
    /// is registered already, InvalidArgument for an id containing `/` or empty.
    pub async fn register(
        client: &Client,
        path: &str,
        instance_id: &str,
        data: impl Into<Bytes>,
    ) -> Result<Registration> {
        super::validate(path)?;
        if instance_id.is_empty() || instance_id.contains('/') {
            return Err(Error::InvalidArgument(format!(
                "bad instance id {instance_id:?}"
            )));
        }
        let node = join(path, instance_id);
        let data = data.into();
        let mut created_parent = false;
        loop {
            match client
                .create(&node, data.clone(), CreateMode::Ephemeral)
                .await
            {
                Ok(_) => break,
                Err(e) if e.code() == ErrorCode::NoNode && !created_parent => {
                    ensure_path(client, path).await?;
                    created_parent = true;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Registration {
            client: client.clone(),
            node,
        })
    }
}

/// A registered instance; [`Registration::unregister`] removes it (so does the end of its
/// session). Dropping it does *not* unregister.
#[derive(Debug)]
pub struct Registration {
    client: Client,
    node: String,
}

impl Registration {
    /// The instance's node path.
    pub fn path(&self) -> &str {
        &self.node
    }

    /// Replaces the instance's data (e.g. a changed port).
    pub async fn update(&self, data: impl Into<Data>) -> Result<()> {
        self.client
            .set_data(&self.node, data.into(), -1)
            .await
            .map(|_| ())
    }

    /// Deletes the instance's node. Already gone (e.g. its session expired) is `Ok`.
    pub async fn unregister(self) -> Result<()> {
        match self.client.delete(&self.node, -1).await {
            Ok(()) => Ok(()),
            Err(e) if e.code() == ErrorCode::NoNode => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A live view of a service's members (see the [module docs](self)).
#[derive(Debug)]
pub struct ServiceDiscovery {
    client: Client,
    path: String,
    members: watch::Receiver<Vec<String>>,
    task: JoinHandle<()>,
}

impl ServiceDiscovery {
    /// Starts watching the service `path` (created if missing). The first member list is read
    /// before this returns: [`ServiceDiscovery::members`] is current at once.
    pub async fn watch(client: &Client, path: &str) -> Result<ServiceDiscovery> {
        super::validate(path)?;
        ensure_path(client, path).await?;
        let (children, _, first_watch) = client.get_children_w(path).await?;
        let (tx, rx) = watch::channel(sorted(children));
        let task = tokio::spawn(follow(
            client.clone(),
            path.to_string(),
            tx,
            Some(first_watch),
        ));
        Ok(ServiceDiscovery {
            client: client.clone(),
            path: path.to_string(),
            members: rx,
            task,
        })
    }

    /// The current members (instance ids, sorted).
    pub fn members(&self) -> Vec<String> {
        self.members.borrow().clone()
    }

    /// A receiver of member lists (latest value only).
    pub fn subscribe(&self) -> watch::Receiver<Vec<String>> {
        self.members.clone()
    }

    /// Waits for the next membership change and returns the new list. Errors with the
    /// session's error once the watcher stopped (session over).
    pub async fn changed(&mut self) -> Result<Vec<String>> {
        match self.members.changed().await {
            Ok(()) => Ok(self.members.borrow_and_update().clone()),
            Err(_) => Err(match self.client.state() {
                crate::SessionState::Expired => Error::SessionExpired,
                crate::SessionState::AuthFailed => Error::AuthFailed,
                _ => Error::Closed,
            }),
        }
    }

    /// The data of one member, `None` if it is not registered.
    pub async fn instance_data(&self, instance_id: &str) -> Result<Option<Bytes>> {
        match self.client.get_data(&join(&self.path, instance_id)).await {
            Ok((d, _)) => Ok(Some(d.into_bytes())),
            Err(e) if e.code() == ErrorCode::NoNode => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for ServiceDiscovery {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Re-arms the child watch after every event and publishes changed lists.
async fn follow(
    client: Client,
    path: String,
    tx: watch::Sender<Vec<String>>,
    mut pending: Option<crate::Watch>,
) {
    let publish = |list: Vec<String>| {
        tx.send_if_modified(|cur| {
            if *cur == list {
                false
            } else {
                *cur = list;
                true
            }
        });
    };
    loop {
        if let Some(w) = pending.take() {
            // Errors (session over) are seen by the next call.
            let _ = w.await;
        }
        if is_terminal(client.state()) || tx.is_closed() {
            return;
        }
        match client.get_children_w(&path).await {
            Ok((children, _, w)) => {
                publish(sorted(children));
                pending = Some(w);
            }
            Err(e) if e.code() == ErrorCode::NoNode => {
                // The service node was deleted: no members; wait for it to come back.
                publish(Vec::new());
                match client.exists_w(&path).await {
                    Ok((Some(_), _)) => {}
                    Ok((None, w)) => pending = Some(w),
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            Err(Error::SessionExpired | Error::AuthFailed | Error::Closed) => return,
            Err(e) => {
                tracing::debug!(path, "service discovery retries after: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

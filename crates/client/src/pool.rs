//! Connections shared by sessions (opt-in, [`crate::ClientOptions::shared_connections`]).
//!
//! By default every [`crate::Client`] opens its own HTTP/2 connection per server it talks to.
//! gRPC lets many streams share one connection: every session is one bidi `Session` stream, so
//! sessions given the same [`SharedConnections`] handle share connections to a server, and the
//! HTTP/2 connection task then writes the frames of every stream that is ready in one `writev`
//! (and the server reads them in one `recv`): fewer system calls per request when many sessions
//! are busy at once.
//!
//! ```text
//!  SharedConnections (Clone) ── per server address + TLS options ──▶ up to N connections
//!     session 1 ─┐                                                     (least-loaded first;
//!     session 2 ─┼─ lease ──▶ slot: one tonic Channel (one HTTP/2 conn)  more past
//!     session 3 ─┘                                                     max_sessions_per_connection)
//! ```
//!
//! Failure: a connection that breaks ends every stream on it, so every session on it resumes
//! (or expires) on its own, exactly as with its own connection. A handshake over a shared
//! connection that fails without an answer from the server (refused, reset, timed out) retires
//! that connection from the pool: the next session to that server dials a new one, so no
//! session keeps reusing a dead or hung connection (tonic's channel would also redial a closed
//! connection by itself on the next call). A connection whose last session leaves is closed.
//!
//! Sessions on one connection share its TCP window and its ordering: a large response to one
//! session delays the others' messages behind it. Each server limits the streams of one
//! connection (the gateway's `max_concurrent_streams_per_connection`, 256 by default), so a
//! connection takes at most [`SharedConnections::max_sessions_per_connection`] sessions (100 by
//! default) and the pool opens another past that.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::OnceCell;
use tonic::transport::Channel;

use crate::tls::TlsOptions;

/// Connections to servers shared by the sessions given a clone of this handle (through
/// [`crate::ClientOptions::shared_connections`]). See the module documentation.
///
/// ```no_run
/// use paddock_client::{Client, ClientOptions, SharedConnections};
/// # async fn demo() -> Result<(), paddock_client::Error> {
/// // 64 sessions over one HTTP/2 connection per server.
/// let opts = ClientOptions::default().shared_connections(SharedConnections::new(1));
/// let mut sessions = Vec::new();
/// for _ in 0..64 {
///     sessions.push(Client::connect("paddock1:7181,paddock2:7181", opts.clone()).await?);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SharedConnections {
    pool: Arc<Mutex<Pool>>,
}

struct Pool {
    per_server: usize,
    max_sessions: usize,
    servers: Vec<Server>,
}

/// The connections to one address with one TLS configuration.
struct Server {
    addr: String,
    tls: Option<TlsOptions>,
    slots: Vec<Entry>,
}

struct Entry {
    slot: Arc<Slot>,
    sessions: usize,
}

/// One shared connection: dialed by the first session that needs it.
pub(crate) struct Slot {
    channel: OnceCell<Channel>,
}

impl Slot {
    /// The connection, dialed with `dial` unless it is up already (or being dialed: then this
    /// waits for that attempt, and makes its own if that one fails).
    pub(crate) async fn channel<F, Fut, E>(&self, dial: F) -> Result<Channel, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Channel, E>>,
    {
        self.channel.get_or_try_init(dial).await.cloned()
    }
}

/// A session's use of one slot, held for as long as its stream is open on it.
pub(crate) struct Lease {
    pool: Weak<Mutex<Pool>>,
    pub(crate) slot: Arc<Slot>,
}

impl SharedConnections {
    /// Sessions spread over `per_server` connections per server (at least 1): the first
    /// `per_server` sessions to a server open one each, later ones join the connection with
    /// the fewest sessions.
    pub fn new(per_server: usize) -> SharedConnections {
        SharedConnections {
            pool: Arc::new(Mutex::new(Pool {
                per_server: per_server.max(1),
                max_sessions: 100,
                servers: Vec::new(),
            })),
        }
    }

    /// At most `n` sessions (at least 1) on one connection; past it the pool opens more
    /// connections to that server. Keep it at or below the servers' limit of streams per
    /// connection (the gateway's `max_concurrent_streams_per_connection`, default 256): a stream
    /// past that limit waits for another to end. Default 100.
    pub fn max_sessions_per_connection(self, n: usize) -> SharedConnections {
        self.lock().max_sessions = n.max(1);
        self
    }

    /// Open (or being opened) connections, all servers together.
    pub fn connections(&self) -> usize {
        self.lock().servers.iter().map(|s| s.slots.len()).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot on a connection to `addr` (with `tls`) for one more session.
    pub(crate) fn lease(&self, addr: &str, tls: Option<&TlsOptions>) -> Lease {
        let mut pool = self.lock();
        let (per_server, max_sessions) = (pool.per_server, pool.max_sessions);
        let index = match pool
            .servers
            .iter()
            .position(|s| s.addr == addr && s.tls.as_ref() == tls)
        {
            Some(i) => i,
            None => {
                pool.servers.push(Server {
                    addr: addr.to_string(),
                    tls: tls.cloned(),
                    slots: Vec::new(),
                });
                pool.servers.len() - 1
            }
        };
        let server = &mut pool.servers[index];
        // Below `per_server` connections, a new one; else the least-loaded that has room.
        let room = if server.slots.len() >= per_server {
            server
                .slots
                .iter_mut()
                .filter(|e| e.sessions < max_sessions)
                .min_by_key(|e| e.sessions)
        } else {
            None
        };
        let slot = match room {
            Some(e) => {
                e.sessions += 1;
                Arc::clone(&e.slot)
            }
            None => {
                let slot = Arc::new(Slot {
                    channel: OnceCell::new(),
                });
                server.slots.push(Entry {
                    slot: Arc::clone(&slot),
                    sessions: 1,
                });
                slot
            }
        };
        Lease {
            pool: Arc::downgrade(&self.pool),
            slot,
        }
    }
}

impl Pool {
    /// Applies `f` to the entry of `slot` (if it is still in the pool), then drops empty
    /// servers.
    fn with_entry(&mut self, slot: &Arc<Slot>, f: impl FnOnce(&mut Vec<Entry>, usize)) {
        for server in &mut self.servers {
            if let Some(i) = server.slots.iter().position(|e| Arc::ptr_eq(&e.slot, slot)) {
                f(&mut server.slots, i);
                break;
            }
        }
        self.servers.retain(|s| !s.slots.is_empty());
    }
}

impl Lease {
    /// Takes this slot's connection out of the pool (it failed to carry a handshake): later
    /// sessions dial a new one. Sessions still on it keep it until they leave.
    pub(crate) fn retire(&self) {
        if let Some(pool) = self.pool.upgrade() {
            let mut pool = pool.lock().unwrap_or_else(PoisonError::into_inner);
            pool.with_entry(&self.slot, |slots, i| {
                slots.remove(i);
            });
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            let mut pool = pool.lock().unwrap_or_else(PoisonError::into_inner);
            pool.with_entry(&self.slot, |slots, i| {
                slots[i].sessions = slots[i].sessions.saturating_sub(1);
                if slots[i].sessions == 0 {
                    slots.remove(i);
                }
            });
        }
    }
}

impl fmt::Debug for SharedConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pool = self.lock();
        f.debug_struct("SharedConnections")
            .field("per_server", &pool.per_server)
            .field("max_sessions_per_connection", &pool.max_sessions)
            .field(
                "connections",
                &pool.servers.iter().map(|s| s.slots.len()).sum::<usize>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(pool: &SharedConnections, addr: &str) -> Vec<usize> {
        let p = pool.lock();
        p.servers
            .iter()
            .filter(|s| s.addr == addr)
            .flat_map(|s| s.slots.iter().map(|e| e.sessions))
            .collect()
    }

    #[test]
    fn sessions_spread_over_the_connections_of_each_server() {
        let pool = SharedConnections::new(2);
        let a: Vec<Lease> = (0..5).map(|_| pool.lease("a:1", None)).collect();
        let b = pool.lease("b:1", None);
        assert_eq!(sessions(&pool, "a:1"), vec![3, 2]);
        assert_eq!(sessions(&pool, "b:1"), vec![1]);
        assert_eq!(pool.connections(), 3);
        assert!(Arc::ptr_eq(&a[0].slot, &a[2].slot));
        assert!(!Arc::ptr_eq(&a[0].slot, &a[1].slot));
        drop(b);
        assert_eq!(
            pool.connections(),
            2,
            "a connection without sessions is closed"
        );
        drop(a);
        assert_eq!(pool.connections(), 0);
    }

    #[test]
    fn tls_options_are_part_of_the_key() {
        let pool = SharedConnections::new(1);
        let tls = TlsOptions::new(crate::Pem::bytes("x"));
        let _plain = pool.lease("a:1", None);
        let secure = pool.lease("a:1", Some(&tls));
        let secure2 = pool.lease("a:1", Some(&tls));
        assert_eq!(pool.connections(), 2);
        assert!(Arc::ptr_eq(&secure.slot, &secure2.slot));
    }

    #[test]
    fn a_full_connection_makes_another() {
        let pool = SharedConnections::new(1).max_sessions_per_connection(2);
        let _l: Vec<Lease> = (0..5).map(|_| pool.lease("a:1", None)).collect();
        assert_eq!(sessions(&pool, "a:1"), vec![2, 2, 1]);
    }

    #[test]
    fn a_retired_connection_takes_no_new_sessions() {
        let pool = SharedConnections::new(1);
        let first = pool.lease("a:1", None);
        let second = pool.lease("a:1", None);
        assert!(Arc::ptr_eq(&first.slot, &second.slot));
        first.retire();
        assert_eq!(pool.connections(), 0);
        let third = pool.lease("a:1", None);
        assert!(!Arc::ptr_eq(&first.slot, &third.slot));
        // leaving a retired slot does not touch the new one
        drop(first);
        drop(second);
        assert_eq!(sessions(&pool, "a:1"), vec![1]);
    }
}

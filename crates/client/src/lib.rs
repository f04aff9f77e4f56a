//! # paddock-client — the Rust client library of Paddock
//!
//! An async (tokio) client for Paddock, the ZooKeeper-style coordination service, over its gRPC
//! API (`proto/paddock/v1/client.proto`). One [`Client`] is one session: it connects to one
//! server of a connect string, keeps the session alive with pings at a third of the negotiated
//! timeout, and when the connection breaks it resumes the session on the next server (same id,
//! password and last zxid seen) before the session can expire.
//!
//! ```text
//!   task A ─┐                       background task (one per session)
//!   task B ─┼─ Client (Clone) ─Cmd─▶ ┌──────────────────────────────────┐   one bidi stream
//!   task C ─┘    ▲      ▲            │ xid++ → pending queue (FIFO)     │ ═════════════════▶ server
//!                │      │            │ Response → next pending oneshot  │ ◀═════════════════
//!        oneshot─┘      │            │ WatchEvent → matching Watch(es)  │  ConnectRequest,
//!   Watch (future) ─────┘            │ idle ping every timeout/3        │  Requests, Pings
//!   state_events() ◀─ Connected /    │ loss → Disconnected, resume on   │
//!      Disconnected / Expired/Closed │ next server; -112 → Expired      │
//!                                    └──────────────────────────────────┘
//! ```
//!
//! * **Pipelining**: every call is sent as soon as it is made; many calls from many tasks are
//!   in flight at once and the server answers them in order.
//! * **Deadlines**: every call fails with [`Error::Timeout`] after
//!   [`ClientOptions::request_timeout`]; none hangs.
//! * **Errors**: [`Error::Zk`] carries ZooKeeper's [`ErrorCode`] (NoNode, NodeExists,
//!   BadVersion, ...); [`Error::ConnectionLoss`] (retry: the session is alive, the client is
//!   reconnecting) is distinct from [`Error::SessionExpired`] (the session and its ephemerals are
//!   gone: create a new client).
//! * **Session states**: [`Client::state_events`] broadcasts [`SessionState`] changes
//!   (Connected, Disconnected, Expired, AuthFailed, Closed — ZooKeeper's KeeperState). Calls
//!   made while Disconnected are queued and sent once the session is resumed (within their
//!   deadline).
//!   If no server takes the session back within the session timeout (counted from the last
//!   message heard), the client declares it Expired itself.
//! * **Read-only sessions**: with [`ClientOptions::can_be_read_only`] (ZooKeeper's
//!   `canBeReadOnly`) a server in read-only mode (cut off from its quorum,
//!   `readonlymode.enabled`) takes the session: the state is
//!   [`SessionState::ConnectedReadOnly`] ([`Client::is_read_only`]), reads work, writes fail with
//!   NotReadOnly, and the client looks for a read-write server in the background (100 ms
//!   doubling to 60 s) and moves there. A session created read-only is unknown to the ensemble:
//!   on a read-write server the client gets a new session ([`Client::session_id`] changes).
//! * **Watches**: the `_w` calls return a [`Watch`], a future resolving exactly once to the
//!   [`WatchedEvent`]. Several registrations of the same kind on one path all resolve on the
//!   one event the server sends. Watches survive a resume on any server: every resume lists
//!   the outstanding watches (data, exist, child) with the last zxid seen (ZooKeeper's
//!   SetWatches), the server sets them again, and a change missed while disconnected fires the
//!   watch right after the resume (NodeDataChanged, NodeCreated, NodeChildrenChanged or
//!   NodeDeleted). Each `Watch` resolves once, even if the server reports a change twice.
//! * **ACLs and authentication** (ZooKeeper's model, see client.proto "Access control"):
//!   [`Client::create`] makes nodes open to everybody (`world:anyone:cdrwa`);
//!   [`Client::create_with_acl`], [`Client::get_acl`] and [`Client::set_acl`] take [`Acl`]
//!   lists (`perms` bits from [`perms`]); [`Client::add_auth`] adds an identity (`digest`,
//!   `user:password`) and [`Client::who_am_i`] lists them. A refused request is [`Error::Zk`]
//!   NoAuth. Accepted add_auth calls are remembered and sent again first on every resumed
//!   connection; a failed one ends the session ([`Error::AuthFailed`],
//!   [`SessionState::AuthFailed`]).
//! * **TLS**: with [`ClientOptions::tls`] ([`TlsOptions`]: the CA certificates to trust, an
//!   optional client certificate and key, an optional server name) every server of the connect
//!   string is reached over TLS, on the first connection and on every resume. A client
//!   certificate the server verifies gives the session the id `x509:<subject>` (e.g.
//!   `x509:CN=alice,O=Paddock`). Unusable files fail [`Client::connect`] with
//!   [`Error::TlsConfig`]; a mismatch (TLS against a plaintext port or the reverse, a certificate
//!   one side refuses) with [`Error::Tls`], whose message says what to check.
//!   [`transport::endpoint`] gives the same connection for the port's other services (admin,
//!   health).
//! * **Recipes**: [`recipes`] has Curator-style recipes on top of the API: a reentrant
//!   distributed lock, a leader latch and a service registry with discovery.
//!
//! ```no_run
//! use paddock_client::{Client, ClientOptions, CreateMode, Error, ErrorCode};
//! # async fn demo() -> Result<(), Error> {
//! let client = Client::connect("127.0.0.1:7181,127.0.0.1:7182", ClientOptions::default()).await?;
//! client.create("/app", "config", CreateMode::Persistent).await?;
//! let (data, stat, watch) = client.get_data_w("/app").await?;
//! assert_eq!(&data[..], b"config");
//! client.set_data("/app", "v2", stat.version).await?;
//! let event = watch.await?; // NodeDataChanged on /app, once
//! println!("{:?} {}", event.event_type, event.path);
//! match client.create("/app", "", CreateMode::Persistent).await {
//!     Err(e) if e.code() == ErrorCode::NodeExists => {}
//!     other => panic!("{other:?}"),
//! }
//! client.close().await?;
//! # Ok(()) }
//! ```
//!
//! ACLs: a node only `bob` may change, readable by everybody.
//!
//! ```no_run
//! use paddock_client::{digest, perms, Acl, Client, ClientOptions, CreateMode, Error, Id};
//! # async fn demo(client: Client) -> Result<(), Error> {
//! client.add_auth("digest", "bob:secret").await?;
//! let acl = vec![
//!     Acl::new(perms::READ, Id::anyone()),
//!     Acl::new(perms::ALL, Id::new("digest", digest("bob:secret").expect("has a colon"))),
//! ];
//! client.create_with_acl("/bob", "mine", CreateMode::Persistent, acl).await?;
//! let (acl, stat) = client.get_acl("/bob").await?;
//! client.set_acl("/bob", Acl::creator_all(), stat.aversion).await?;
//! # let _ = acl; Ok(()) }
//! ```

mod auth;
#[cfg(feature = "backup")]
pub mod backup;
mod client;
mod convert;
mod error;
mod handshake;
mod options;
mod pool;
pub mod recipes;
mod session_task;
mod tls;
pub mod transport;

pub use client::{Client, PersistentWatch, SessionState, Watch};
pub use error::{Error, Result};
pub use options::{parse_connect_string, ClientOptions};
pub use paddock_types::acl::{digest, parse_acl, parse_perms, perms, perms_string, Acl, Id};
/// Node kinds as `Stat.ephemeral_owner` encodes them (containers, TTL nodes) and the ttl bounds.
pub use paddock_types::node_kind::{self, NodeKind};
pub use paddock_types::{
    AddWatchMode, CreateMode, Data, ErrorCode, EventType, KeeperState, MultiOp, OpResult, ReadOp,
    ReadResult, SessionId, Stat, WatchedEvent, WatcherType, Zxid,
};
pub use pool::SharedConnections;
pub use tls::{Pem, TlsOptions};

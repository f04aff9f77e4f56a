//! # paddock-datatree — the replicated state machine
//!
//! The znode tree every Paddock server keeps in memory: nodes, sessions, the deterministic
//! `apply` of transactions, reads, this server's watches, and snapshot (de)serialisation. Pure:
//! no network, no clock, no threads; the only IO is `std::io::Read`/`Write` for snapshots.
//!
//! ```text
//!  Txn --apply(&mut)--> nodes + sessions + last_zxid --> Applied { result, events }
//!   (zxid order)             |                                             ^
//!                            +-- triggers --> watches -- fired, one-shot --+
//!                                               ^
//!  get_data / exists / get_children ------------+ registered (watch: Some)
//!   (&self: read the nodes)
//!
//!  snapshot() --> TreeSnapshot --write_to--> bytes --read_snapshot--> DataTree
//! ```
//!
//! ## The log is a command log
//!
//! A [`Txn`](paddock_types::Txn) is the client's write *command* plus a header the leader decided
//! (session, cxid, zxid, time). `apply` validates it against the current state and computes the
//! outcome deterministically — `NoNode`, `NodeExists`, `BadVersion`, `NotEmpty`,
//! `NoChildrenForEphemerals`, `SessionExpired`, sequential names from the parent's `cversion`, ...
//! Every replica applying the same txns in zxid order reaches the same state *and* the same
//! per-request results, so nothing state-dependent has to be decided before logging. A failed
//! write still consumes its zxid (like ZooKeeper's error txns) and changes nothing but
//! `last_zxid`.
//!
//! ## Rules (ZooKeeper's)
//!
//! - zxid not above `last_zxid` → `SystemError` ("out of order"), nothing changes.
//! - `/` and `/zookeeper/**` are read-only: create / delete / setData there → `BadArguments`;
//!   except the nodes strictly under `/zookeeper/quota`, where clients keep quotas (as zkCli).
//! - quotas (ZooKeeper 3.7+, see `quota.rs`): a create or a growing setData that would take the
//!   nearest quota'd ancestor's subtree past a hard limit → `QuotaExceeded`, nothing changes;
//!   past a soft limit it passes with a rate-limited warning. Every replica checks as it applies.
//! - create: parent missing → `NoNode`; parent ephemeral → `NoChildrenForEphemerals`; ephemeral
//!   without an open session → `SessionExpired`; existing → `NodeExists`. Sequential names append
//!   the parent's `cversion` (before the create) as `%010d`. The parent's `cversion`, `pzxid` and
//!   child count move; its `mzxid` and `version` do not.
//! - delete: `NoNode`, `BadVersion` (unless version -1), `NotEmpty`; the parent moves as for create.
//! - setData: `NoNode`, `BadVersion`; `version + 1`, `mzxid`, `mtime`.
//! - multi: all or nothing, ops see the effects of earlier ops, one zxid for all; on failure the
//!   results are `Ok` before the failing op, its code, `RuntimeInconsistency` after, and no watch
//!   fires. An empty multi succeeds.
//! - containers and TTL nodes (ZooKeeper 3.5+): their `ephemeralOwner` carries ZooKeeper's
//!   markers (`paddock_types::NodeKind`); they may have children, ephemeral ones included. A TTL
//!   create with a ttl outside 1..=0xFF_FFFF_FFFF ms → `BadArguments`. `DeleteContainer` (the
//!   leader's sweeper) deletes one only if it is still the node the sweep saw (czxid, version,
//!   cversion), childless: else `NoNode` / `BadVersion` / `NotEmpty`, nothing changes.
//! - closeSession deletes the session's ephemerals (each a normal delete, events included), then
//!   the session, then the watches it left on this server. Unknown sessions close fine.
//! - ACLs (ZooKeeper's `checkACL`, against the session's `AddAuth` ids plus the txn header's
//!   connection ids; the super user passes all): create needs CREATE on the parent, delete
//!   DELETE on the parent (checked before the node is looked up), setData WRITE, setACL ADMIN
//!   (and `aversion` for its version), a multi's check READ; denial is `NoAuth` and changes
//!   nothing. A create's or setACL's list is checked and `auth` expanded first (`InvalidAcl`).
//!   Reads check through [`DataTree::access`] / [`DataTree::get_acl`] before reading.
//! - Events: `NodeCreated` / `NodeDataChanged` fire data (and exist) watches; `NodeChildrenChanged`
//!   child watches; `NodeDeleted` both, one event per watcher. One-shot. Per txn, events come in
//!   the order of the changes (node, then parent), watchers of one change by ascending id.
//!
//! ## Example
//!
//! ```
//! use bytes::Bytes;
//! use paddock_datatree::DataTree;
//! use paddock_types::{Acl, CreateMode, EventType, Response, SessionId, Txn, TxnHeader, TxnOp, Zxid};
//!
//! let mut tree = DataTree::new();
//! let txn = |zxid: u64, op: TxnOp| Txn {
//!     header: TxnHeader { session: SessionId(7), cxid: 1, zxid: Zxid(zxid), time_ms: 1_000, conn_ids: vec![], legacy_sequence: false },
//!     op,
//! };
//! assert!(tree.exists("/app", Some(SessionId(9))).is_none()); // leaves an exist watch
//! let create = TxnOp::Create {
//!     path: "/app".into(), data: Bytes::from_static(b"v1").into(), mode: CreateMode::Persistent, acl: Acl::open(),
//! };
//! let applied = tree.apply(&txn(1, create));
//! assert!(matches!(applied.result, Ok(Response::Create { ref path, .. }) if path == "/app"));
//! assert_eq!(applied.events[0].1.event_type, EventType::NodeCreated);
//! let (data, stat) = tree.get_data("/app", None).unwrap();
//! assert_eq!((&data[..], stat.version, tree.last_zxid()), (&b"v1"[..], 0, Zxid(1)));
//!
//! let mut bytes = Vec::new();
//! tree.snapshot().write_to(&mut bytes).unwrap();
//! let copy = DataTree::read_snapshot(&mut bytes.as_slice()).unwrap();
//! assert_eq!(copy.digest(), tree.digest());
//! ```
//!
//! ## Invariants
//!
//! - Every node but `/` has its parent in the tree; ephemerals have no children; a node's
//!   `num_children` is its number of children.
//! - Each ephemeral's owner is an open session, and the session's ephemeral set is exactly the
//!   nodes it owns.
//! - `last_zxid` only grows; an `Err` from an op (and a failed multi) leaves nodes and sessions
//!   exactly as they were.
//! - Applying the same txns from the same state gives the same state, results, events, and
//!   [`DataTree::digest`]; a snapshot read back has the same digest as the tree it was taken from.
//! - `apply` never panics on any txn content; `read_snapshot` never panics on any input.
//!
//! ## Layout and memory
//!
//! ```text
//!  acls.rs      the reference-counted table of distinct ACL lists (0 = world:anyone:cdrwa)
//!  key.rs       path -> map key ("/a/b" -> "/a\0b") so a node's children are one key range
//!  record.rs    a node's stat + data packed in one Arc<[u8]>
//!  session.rs   SessionInfo and the sessions table row (ephemeral set)
//!  state.rs     the two imbl maps (nodes, sessions) and their bookkeeping
//!  apply.rs     the rules above
//!  quota.rs     quota index and subtree usage, derived from /zookeeper/quota; the limit check
//!  watches.rs   data / child watch tables
//!  tree.rs      DataTree: apply + reads + watches
//!  snapshot.rs  TreeSnapshot, the streamed format, read_snapshot
//!  sweep.rs     empty containers and expired TTL nodes, from the two indexes
//!  digest.rs    the replica-comparison hash
//!  import.rs    DataTree::from_nodes: a tree from whole nodes kept elsewhere (ZooKeeper import)
//! ```
//!
//! Nodes live in an `imbl::OrdMap<key, record>`: a shared key string and one shared block for
//! stat + data per node, no child sets (children are a range of the ordered map). Clones and
//! snapshots are O(1) and share everything; a write while a snapshot is held copies only the
//! B-tree path it touches. `examples/mem.rs` builds 1,000,000 nodes (39-byte paths, 100-byte
//! data): about 323 bytes per node, 310 MiB resident (glibc malloc) — key block 64 B, stat+data
//! block 192 B, B-tree slots ~64 B (leaves are half full when keys arrive in order). The
//! node's ACL costs a 4-byte reference in the stat block, which still fits the same 192-byte
//! allocation: 323 bytes per node with `--acl` (every node sharing one digest ACL) as without.

mod acls;
mod apply;
mod digest;
mod import;
mod key;
mod quota;
mod record;
mod session;
mod snapshot;
mod state;
mod sweep;
mod tree;
mod watches;

pub use import::NodeImage;
pub use session::SessionInfo;
pub use snapshot::{SnapshotError, TreeSnapshot};
pub use sweep::Reapable;
pub use tree::{Applied, DataTree, ResumedWatches, RECENT_CHANGES};

//! # paddock-types — the shared vocabulary
//!
//! Every other Paddock crate speaks in these types; none of them knows about the network or disk.
//!
//! ```text
//!  acl      Acl / Id / perms, ZooKeeper's checks, digests, zkCli's ACL text
//!  ids      Zxid (epoch<<32 | counter), Epoch, ServerId, SessionId
//!  error    ErrorCode (ZooKeeper's numeric codes), ZkError
//!  path     validate_path (ZooKeeper's rules and messages), parent/basename/join
//!  node_kind  persistent / ephemeral / container / TTL, as ZooKeeper encodes it in ephemeralOwner
//!  op       Request / Response / MultiOp / OpResult / ReadOp / ReadResult / Stat / CreateMode / WatchedEvent
//!  txn      Txn = TxnHeader + TxnOp, the replicated log record, and its encoding
//!  config   zoo.cfg parsing and validation
//! ```
//!
//! ```
//! use paddock_types::{Epoch, Zxid, validate_path};
//! let z = Zxid::new(Epoch(2), 5);
//! assert_eq!((z.epoch(), z.counter()), (Epoch(2), 5));
//! assert!(validate_path("/app/locks", false).is_ok());
//! assert!(validate_path("/app//locks", false).is_err());
//! ```

pub mod acl;
pub mod clock;
pub mod config;
pub mod data;
pub mod dynamic;
pub mod error;
pub mod ids;
pub mod node_kind;
pub mod op;
pub mod path;
pub mod quota;
pub mod txn;

pub use acl::{Acl, Id};
pub use config::{Config, ConfigError, ServerSpec};
pub use data::Data;
pub use dynamic::{DynamicConfig, ReconfigInvalid, ReconfigOps};
pub use error::{ErrorCode, ZkError};
pub use ids::{Epoch, ServerId, SessionId, Zxid};
pub use node_kind::NodeKind;
pub use op::{
    AddWatchMode, CreateMode, EventType, KeeperState, MultiOp, OpResult, ReadOp, ReadResult,
    Request, Response, SetWatches, Stat, WatchKind, WatchedEvent, WatcherId, WatcherType,
};
pub use path::validate_path;
pub use txn::{Txn, TxnHeader, TxnOp, PASSWORD_LEN};

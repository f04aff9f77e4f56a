//! ZooKeeper's persisted record types (`zookeeper.jute`), decoded from jute: ACLs, the node stat
//! and the transaction records a txn log holds.

use paddock_types::{Acl, Id};

use crate::jute::{JuteError, Reader, Result};

/// ZooKeeper's opcodes that appear in txn logs (`ZooDefs.OpCode`).
pub(crate) mod opcode {
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const SET_DATA: i32 = 5;
    pub const SET_ACL: i32 = 7;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;
}

/// `StatPersisted`: a node's stat as ZooKeeper stores it (no data length, no child count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StatPersisted {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub pzxid: i64,
}

pub(crate) fn read_stat(r: &mut Reader) -> Result<StatPersisted> {
    Ok(StatPersisted {
        czxid: r.long("czxid")?,
        mzxid: r.long("mzxid")?,
        ctime: r.long("ctime")?,
        mtime: r.long("mtime")?,
        version: r.int("version")?,
        cversion: r.int("cversion")?,
        aversion: r.int("aversion")?,
        ephemeral_owner: r.long("ephemeralOwner")?,
        pzxid: r.long("pzxid")?,
    })
}

/// `vector<ACL>`; `None` when null. An ACL is `perms int, Id{scheme ustring, id ustring}`.
pub(crate) fn read_acls(r: &mut Reader) -> Result<Option<Vec<Acl>>> {
    let Some(n) = r.vector_len("acl vector", 12)? else {
        return Ok(None);
    };
    let mut list = Vec::with_capacity(n);
    for _ in 0..n {
        let perms = r.int("acl perms")?;
        let scheme = r.string("acl scheme")?;
        let id = r.string("acl id")?;
        list.push(Acl::new(perms, Id::new(scheme, id)));
    }
    Ok(Some(list))
}

/// `TxnHeader`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TxnHeader {
    pub client_id: i64,
    pub cxid: i32,
    pub zxid: i64,
    pub time: i64,
    pub kind: i32,
}

pub(crate) fn read_header(r: &mut Reader) -> Result<TxnHeader> {
    Ok(TxnHeader {
        client_id: r.long("clientId")?,
        cxid: r.int("cxid")?,
        zxid: r.long("zxid")?,
        time: r.long("time")?,
        kind: r.int("type")?,
    })
}

/// A node created by a txn (`CreateTxn`, `CreateContainerTxn`, `CreateTTLTxn`): the owner is
/// already resolved to ZooKeeper's `ephemeralOwner` marker, except for plain ephemerals (the
/// txn's session).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Create {
    pub path: String,
    pub data: Vec<u8>,
    /// `None` = null in the txn, ZooKeeper's `OPEN_ACL_UNSAFE`.
    pub acl: Option<Vec<Acl>>,
    pub owner: Owner,
    /// -1: the parent's cversion + 1 (old `CreateTxnV0` records).
    pub parent_cversion: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    None,
    /// An ephemeral of the txn's session.
    Session,
    /// A container or TTL marker.
    Marker(i64),
}

/// A decoded transaction record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TxnRecord {
    Create(Create),
    Delete {
        path: String,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Option<Vec<Acl>>,
        version: i32,
    },
    CreateSession {
        timeout_ms: i32,
    },
    /// `paths`: `CloseSessionTxn.paths2Delete` (None for records written before it existed).
    CloseSession {
        paths: Option<Vec<String>>,
    },
    Error,
    Check,
    /// The sub-transactions, each (type, record bytes), decoded when applied (as ZooKeeper does).
    Multi(Vec<(i32, Vec<u8>)>),
}

fn data(r: &mut Reader, what: &str) -> Result<Vec<u8>> {
    Ok(r.buffer(what)?.map(<[u8]>::to_vec).unwrap_or_default())
}

/// Decodes the record of a txn of type `kind` (the bytes after the header; a trailing
/// `TxnDigest` is ignored). `Ok(None)` for a type this importer does not know.
pub(crate) fn read_record(kind: i32, r: &mut Reader) -> Result<Option<TxnRecord>> {
    use opcode::*;
    let rec = match kind {
        CREATE | CREATE2 => {
            let start = r.clone();
            match read_create(r, true) {
                Err(e) if e.truncated && kind == CREATE => {
                    // Perhaps a `CreateTxnV0` (no parentCVersion), as ZooKeeper retries.
                    *r = start;
                    read_create(r, false)?
                }
                other => other?,
            }
        }
        CREATE_CONTAINER => {
            let path = r.string("path")?;
            let data = data(r, "data")?;
            let acl = read_acls(r)?;
            let parent_cversion = r.int("parentCVersion")?;
            TxnRecord::Create(Create {
                path,
                data,
                acl,
                owner: Owner::Marker(paddock_types::node_kind::CONTAINER_OWNER),
                parent_cversion,
            })
        }
        CREATE_TTL => {
            let path = r.string("path")?;
            let data = data(r, "data")?;
            let acl = read_acls(r)?;
            let parent_cversion = r.int("parentCVersion")?;
            let at = r.pos();
            let ttl = r.long("ttl")?;
            if !(1..=paddock_types::node_kind::MAX_TTL_MS).contains(&ttl) {
                return Err(r.invalid(at, format!("ttl {ttl} out of range")));
            }
            let owner = paddock_types::NodeKind::Ttl { ttl_ms: ttl }.owner();
            TxnRecord::Create(Create {
                path,
                data,
                acl,
                owner: Owner::Marker(owner),
                parent_cversion,
            })
        }
        DELETE | DELETE_CONTAINER => TxnRecord::Delete {
            path: r.string("path")?,
        },
        SET_DATA | RECONFIG => TxnRecord::SetData {
            path: r.string("path")?,
            data: data(r, "data")?,
            version: r.int("version")?,
        },
        SET_ACL => TxnRecord::SetAcl {
            path: r.string("path")?,
            acl: read_acls(r)?,
            version: r.int("version")?,
        },
        CREATE_SESSION => TxnRecord::CreateSession {
            timeout_ms: r.int("timeOut")?,
        },
        CLOSE_SESSION => {
            let start = r.clone();
            match read_paths(r) {
                Ok(paths) => TxnRecord::CloseSession { paths },
                Err(e) if e.truncated => {
                    // Written before CloseSessionTxn existed.
                    *r = start;
                    TxnRecord::CloseSession { paths: None }
                }
                Err(e) => return Err(e),
            }
        }
        ERROR => {
            r.int("err")?;
            TxnRecord::Error
        }
        CHECK => {
            r.string("path")?;
            r.int("version")?;
            TxnRecord::Check
        }
        MULTI => {
            let n = r.vector_len("multi txns", 8)?.unwrap_or(0);
            let mut subs = Vec::with_capacity(n);
            for _ in 0..n {
                let kind = r.int("sub txn type")?;
                let bytes = data(r, "sub txn data")?;
                subs.push((kind, bytes));
            }
            TxnRecord::Multi(subs)
        }
        _ => return Ok(None),
    };
    Ok(Some(rec))
}

fn read_create(r: &mut Reader, with_parent_cversion: bool) -> Result<TxnRecord> {
    let path = r.string("path")?;
    let data = data(r, "data")?;
    let acl = read_acls(r)?;
    let ephemeral = r.boolean("ephemeral")?;
    let parent_cversion = if with_parent_cversion {
        r.int("parentCVersion")?
    } else {
        -1
    };
    Ok(TxnRecord::Create(Create {
        path,
        data,
        acl,
        owner: if ephemeral {
            Owner::Session
        } else {
            Owner::None
        },
        parent_cversion,
    }))
}

fn read_paths(r: &mut Reader) -> Result<Option<Vec<String>>> {
    let Some(n) = r.vector_len("paths2Delete", 4)? else {
        return Ok(None);
    };
    let mut paths = Vec::with_capacity(n);
    for _ in 0..n {
        paths.push(r.string("path")?);
    }
    Ok(Some(paths))
}

/// The error a multi's sub-record gives when it does not decode (ZooKeeper stops the multi).
pub(crate) fn sub_record(kind: i32, bytes: &[u8]) -> std::result::Result<TxnRecord, JuteError> {
    use opcode::*;
    let mut r = Reader::new(bytes);
    match kind {
        CREATE | CREATE_TTL | CREATE_CONTAINER | DELETE | DELETE_CONTAINER | SET_DATA | ERROR
        | CHECK => read_record(kind, &mut r)?
            .ok_or_else(|| r.invalid(0, format!("invalid multi op type {kind}"))),
        _ => Err(r.invalid(0, format!("invalid multi op type {kind}"))),
    }
}

//! ZooKeeper's protocol records (`zookeeper.jute`) as Paddock's types: the handshake, request
//! bodies decoded into [`Request`], answers encoded from [`Response`], and watch notifications.
//!
//! Every request frame is `RequestHeader{int xid, int type}` then the body of its op; every answer
//! is `ReplyHeader{int xid, long zxid, int err}` then, when `err` is 0, the body of its op.

use bytes::Bytes;
use paddock_types::{
    Acl, AddWatchMode, CreateMode, Data, ErrorCode, Id, MultiOp, NodeKind, OpResult, ReadOp,
    ReadResult, Request, Response, SessionId, SetWatches, Stat, WatchedEvent, WatcherType, ZkError,
    Zxid, PASSWORD_LEN,
};

use crate::jute::{JuteError, Reader, Writer};

mod reconfig;

/// ZooKeeper's `ZooDefs.OpCode`.
pub mod op {
    pub const NOTIFICATION: i32 = 0;
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const MULTI_READ: i32 = 22;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const SASL: i32 = 102;
    pub const GET_EPHEMERALS: i32 = 103;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const SET_WATCHES2: i32 = 105;
    pub const ADD_WATCH: i32 = 106;
    pub const WHO_AM_I: i32 = 107;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;
}

/// The xids ZooKeeper reserves.
pub mod xid {
    /// Watch notifications.
    pub const NOTIFICATION: i32 = -1;
    pub const PING: i32 = -2;
    pub const AUTH: i32 = -4;
    pub const SET_WATCHES: i32 = -8;
}

/// ZooKeeper's `ConnectRequest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connect {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub password: Vec<u8>,
    /// Absent from clients older than 3.3 (then false).
    pub read_only: bool,
}

impl Connect {
    pub fn decode(frame: &[u8]) -> Result<Connect, JuteError> {
        let mut r = Reader::new(frame);
        let protocol_version = r.int("protocolVersion")?;
        let last_zxid_seen = r.long("lastZxidSeen")?;
        let timeout_ms = r.int("timeOut")?;
        let session_id = r.long("sessionId")?;
        let password = r.buffer_opt("passwd")?.unwrap_or_default().to_vec();
        let read_only = if r.remaining() > 0 {
            r.bool("readOnly")?
        } else {
            false
        };
        Ok(Connect {
            protocol_version,
            last_zxid_seen,
            timeout_ms,
            session_id,
            password,
            read_only,
        })
    }

    /// The session to resume, if any: `Err` when the password cannot be one of ours (ZooKeeper
    /// answers a wrong password as an expired session).
    pub fn resume(&self) -> Result<Option<(SessionId, [u8; PASSWORD_LEN])>, JuteError> {
        if self.session_id == 0 {
            return Ok(None);
        }
        let pw: [u8; PASSWORD_LEN] =
            self.password
                .as_slice()
                .try_into()
                .map_err(|_| JuteError::Invalid {
                    field: "passwd",
                    what: format!("{} bytes, not {PASSWORD_LEN}", self.password.len()),
                })?;
        Ok(Some((SessionId(self.session_id), pw)))
    }
}

/// ZooKeeper's `ConnectResponse` frame. A refused session (expired, unknown, wrong password) is
/// answered with timeout 0, session 0 and a zero password, which clients read as "expired".
pub fn connect_response(timeout_ms: i32, session: i64, password: &[u8], read_only: bool) -> Bytes {
    let mut w = Writer::frame();
    w.int(0)
        .int(timeout_ms)
        .long(session)
        .buffer(password)
        .bool(read_only);
    w.finish_frame()
}

/// A request frame's header and the op's body, decoded.
#[derive(Debug)]
pub struct Decoded {
    pub xid: i32,
    pub op: i32,
    /// What its answer's encoding needs to know.
    pub shape: AnswerShape,
    /// The request, or the error to answer it with (the header was readable, the body was not,
    /// or the op is one this server does not have).
    pub request: Result<Request, ZkError>,
}

/// Reads `RequestHeader` then the body. `Err` only when not even the header can be read.
pub fn decode_request(frame: &[u8]) -> Result<Decoded, JuteError> {
    let mut r = Reader::new(frame);
    let xid = r.int("RequestHeader.xid")?;
    let op = r.int("RequestHeader.type")?;
    let mut shape = AnswerShape {
        op,
        multi_ops: Vec::new(),
    };
    let request = body(op, &mut r, &mut shape.multi_ops).and_then(|req| {
        if r.remaining() > 0 && op != self::op::CREATE_SESSION {
            // Trailing bytes mean the sender and this decoder disagree on the record.
            Err(marshalling(JuteError::Invalid {
                field: "request",
                what: format!("{} bytes left after the record", r.remaining()),
            }))
        } else {
            Ok(req)
        }
    });
    Ok(Decoded {
        xid,
        op,
        shape,
        request,
    })
}

fn marshalling(e: JuteError) -> ZkError {
    ZkError::new(ErrorCode::MarshallingError, e.to_string())
}

fn body(op: i32, r: &mut Reader<'_>, multi_ops: &mut Vec<i32>) -> Result<Request, ZkError> {
    use self::op::*;
    let req = match op {
        CREATE | CREATE2 | CREATE_CONTAINER | CREATE_TTL | DELETE | SET_DATA => {
            match write_op(op, r)? {
                Some(MultiOp::Create {
                    path,
                    data,
                    mode,
                    acl,
                }) => Request::Create {
                    path,
                    data,
                    mode,
                    acl,
                },
                Some(MultiOp::Delete { path, version }) => Request::Delete { path, version },
                Some(MultiOp::SetData {
                    path,
                    data,
                    version,
                }) => Request::SetData {
                    path,
                    data,
                    version,
                },
                Some(MultiOp::Check { .. }) | None => {
                    return Err(ZkError::new(
                        ErrorCode::Unimplemented,
                        format!("operation {op} is not served on its own by this server"),
                    ))
                }
            }
        }
        EXISTS => {
            let (path, watch) = path_watch(r).map_err(marshalling)?;
            Request::Exists { path, watch }
        }
        GET_DATA => {
            let (path, watch) = path_watch(r).map_err(marshalling)?;
            Request::GetData { path, watch }
        }
        GET_CHILDREN | GET_CHILDREN2 => {
            let (path, watch) = path_watch(r).map_err(marshalling)?;
            Request::GetChildren { path, watch }
        }
        GET_ACL => Request::GetAcl {
            path: r.string("path").map_err(marshalling)?,
        },
        SET_ACL => Request::SetAcl {
            path: r.string("path").map_err(marshalling)?,
            acl: acl_list(r).map_err(marshalling)?,
            version: r.int("version").map_err(marshalling)?,
        },
        SYNC => Request::Sync {
            path: r.string("path").map_err(marshalling)?,
        },
        PING => Request::Ping,
        CLOSE_SESSION => Request::CloseSession,
        MULTI => Request::Multi(multi(r, multi_ops)?),
        MULTI_READ => Request::MultiRead(multi_read(r)?),
        AUTH => {
            let _type = r.int("AuthPacket.type").map_err(marshalling)?;
            Request::AddAuth {
                scheme: r.string("scheme").map_err(marshalling)?,
                auth: r.buffer("auth").map_err(marshalling)?,
            }
        }
        SET_WATCHES | SET_WATCHES2 => {
            let relative_zxid = r.long("relativeZxid").map_err(marshalling)?;
            let data = r.strings("dataWatches").map_err(marshalling)?;
            let exist = r.strings("existWatches").map_err(marshalling)?;
            let child = r.strings("childWatches").map_err(marshalling)?;
            let (persistent, persistent_recursive) = if op == SET_WATCHES2 {
                (
                    r.strings("persistentWatches").map_err(marshalling)?,
                    r.strings("persistentRecursiveWatches")
                        .map_err(marshalling)?,
                )
            } else {
                (Vec::new(), Vec::new())
            };
            Request::SetWatches {
                relative_zxid: Zxid(u64::try_from(relative_zxid).unwrap_or(0)),
                watches: SetWatches {
                    data,
                    exist,
                    child,
                    persistent,
                    persistent_recursive,
                },
            }
        }
        GET_EPHEMERALS => Request::GetEphemerals {
            prefix: r.string("prefixPath").map_err(marshalling)?,
        },
        GET_ALL_CHILDREN_NUMBER => Request::GetAllChildrenNumber {
            path: r.string("path").map_err(marshalling)?,
        },
        ADD_WATCH => {
            let path = r.string("path").map_err(marshalling)?;
            let mode = r.int("mode").map_err(marshalling)?;
            // ZooKeeper fails to deserialize an unknown mode: MARSHALLINGERROR.
            let mode = AddWatchMode::from_i32(mode).ok_or_else(|| {
                ZkError::new(
                    ErrorCode::MarshallingError,
                    format!("unknown addWatch mode {mode}"),
                )
            })?;
            Request::AddWatch { path, mode }
        }
        CHECK_WATCHES | REMOVE_WATCHES => {
            let path = r.string("path").map_err(marshalling)?;
            let t = r.int("type").map_err(marshalling)?;
            let kind = WatcherType::from_i32(t).ok_or_else(|| {
                ZkError::new(
                    ErrorCode::MarshallingError,
                    format!("unknown watcher type {t}"),
                )
            })?;
            if op == CHECK_WATCHES {
                Request::CheckWatches { path, kind }
            } else {
                Request::RemoveWatches { path, kind }
            }
        }
        WHO_AM_I => Request::WhoAmI,
        RECONFIG => reconfig::decode(r)?,
        DELETE_CONTAINER | SASL | CREATE_SESSION | CHECK => {
            return Err(ZkError::new(
                ErrorCode::Unimplemented,
                format!("operation {op} is not served on its own by this server"),
            ))
        }
        other => {
            return Err(ZkError::new(
                ErrorCode::Unimplemented,
                format!("unknown operation {other}"),
            ))
        }
    };
    Ok(req)
}

fn path_watch(r: &mut Reader<'_>) -> Result<(String, bool), JuteError> {
    Ok((r.string("path")?, r.bool("watch")?))
}

fn id(r: &mut Reader<'_>) -> Result<Id, JuteError> {
    Ok(Id::new(r.string("Id.scheme")?, r.string("Id.id")?))
}

fn acl_list(r: &mut Reader<'_>) -> Result<Vec<Acl>, JuteError> {
    // An ACL is at least perms + two empty strings.
    r.vector("acl", 12, |r| {
        let perms = r.int("ACL.perms")?;
        Ok(Acl::new(perms, id(r)?))
    })
}

/// `CreateRequest` (create, create2, createContainer) or `CreateTTLRequest` (createTTL): path,
/// data, acl, flags[, ttl]. The mode is its own result so that a bad flag is BADARGUMENTS, not
/// MARSHALLINGERROR.
#[allow(clippy::type_complexity)]
fn create(
    op: i32,
    r: &mut Reader<'_>,
) -> Result<(String, Data, Vec<Acl>, Result<CreateMode, ZkError>), JuteError> {
    let path = r.string("path")?;
    let data = r.data("data")?;
    let acl = acl_list(r)?;
    let flags = r.int("flags")?;
    let ttl = if op == self::op::CREATE_TTL {
        Some(r.long("ttl")?)
    } else {
        None
    };
    Ok((path, data, acl, create_mode(op, flags, ttl)))
}

/// ZooKeeper's `CreateMode` flags (0-6), checked against the op that carries them. As
/// ZooKeeper's server: a plain create (op 1 or 15) may carry any mode — a container flag makes a
/// container, a TTL flag a TTL node whose ttl is -1 (which the server then refuses: UNIMPLEMENTED
/// without `extendedTypesEnabled`, else BADARGUMENTS); createContainer must carry the container
/// flag and createTTL a TTL flag.
fn create_mode(op: i32, flags: i32, ttl: Option<i64>) -> Result<CreateMode, ZkError> {
    let ttl_ms = ttl.unwrap_or(-1);
    let mode = match flags {
        0 => CreateMode::Persistent,
        1 => CreateMode::Ephemeral,
        2 => CreateMode::PersistentSequential,
        3 => CreateMode::EphemeralSequential,
        4 => CreateMode::Container,
        5 => CreateMode::PersistentWithTtl { ttl_ms },
        6 => CreateMode::PersistentSequentialWithTtl { ttl_ms },
        _ => {
            return Err(ZkError::bad_arguments(format!(
                "create flags {flags} are not a CreateMode"
            )))
        }
    };
    let ok = match op {
        self::op::CREATE_CONTAINER => mode == CreateMode::Container,
        self::op::CREATE_TTL => mode.ttl_ms().is_some(),
        _ => true,
    };
    if ok {
        Ok(mode)
    } else {
        Err(ZkError::bad_arguments(format!(
            "create flags {flags} do not fit operation {op}"
        )))
    }
}

/// `MultiHeader{int type, boolean done, int err}` then each op's record, until a header with
/// `done` set.
fn multi(r: &mut Reader<'_>, codes: &mut Vec<i32>) -> Result<Vec<MultiOp>, ZkError> {
    let mut ops = Vec::new();
    loop {
        let t = r.int("MultiHeader.type").map_err(marshalling)?;
        let done = r.bool("MultiHeader.done").map_err(marshalling)?;
        let _err = r.int("MultiHeader.err").map_err(marshalling)?;
        if done {
            return Ok(ops);
        }
        let Some(op) = write_op(t, r)? else {
            return Err(ZkError::bad_arguments(format!(
                "operation {t} cannot be part of a multi"
            )));
        };
        ops.push(op);
        codes.push(t);
    }
}

/// The record of a write op (a create of any kind, delete, setData, check) as a multi op, for a
/// multi and for the single ops alike; `None` for any other op.
fn write_op(op: i32, r: &mut Reader<'_>) -> Result<Option<MultiOp>, ZkError> {
    use self::op::*;
    Ok(Some(match op {
        CREATE | CREATE2 | CREATE_CONTAINER | CREATE_TTL => {
            let (path, data, acl, mode) = create(op, r).map_err(marshalling)?;
            MultiOp::Create {
                path,
                data,
                mode: mode?,
                acl,
            }
        }
        DELETE => MultiOp::Delete {
            path: r.string("path").map_err(marshalling)?,
            version: r.int("version").map_err(marshalling)?,
        },
        SET_DATA => MultiOp::SetData {
            path: r.string("path").map_err(marshalling)?,
            data: r.data("data").map_err(marshalling)?,
            version: r.int("version").map_err(marshalling)?,
        },
        CHECK => MultiOp::Check {
            path: r.string("path").map_err(marshalling)?,
            version: r.int("version").map_err(marshalling)?,
        },
        _ => return Ok(None),
    }))
}

/// A multiRead: the same framing as multi, with getData and getChildren ops.
fn multi_read(r: &mut Reader<'_>) -> Result<Vec<ReadOp>, ZkError> {
    let mut ops = Vec::new();
    loop {
        let t = r.int("MultiHeader.type").map_err(marshalling)?;
        let done = r.bool("MultiHeader.done").map_err(marshalling)?;
        let _err = r.int("MultiHeader.err").map_err(marshalling)?;
        if done {
            return Ok(ops);
        }
        let (path, _watch) = path_watch(r).map_err(marshalling)?;
        ops.push(match t {
            self::op::GET_DATA => ReadOp::GetData { path },
            self::op::GET_CHILDREN => ReadOp::GetChildren { path },
            other => {
                return Err(ZkError::bad_arguments(format!(
                    "operation {other} cannot be part of a multiRead"
                )))
            }
        });
    }
}

/// What an answer's body needs to know about its request beyond the [`Response`]: the op code
/// (getChildren vs getChildren2, create vs create2) and, for a multi, each op's code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnswerShape {
    pub op: i32,
    /// For a multi: each op's code, in order.
    pub multi_ops: Vec<i32>,
}

/// ZooKeeper's `Stat` record. `ephemeralOwner` is what ZooKeeper shows its clients: the owning
/// session for an ephemeral, 0 for every other node (containers and TTL nodes keep markers there
/// internally — and over Paddock's gRPC API — which ZooKeeper's `DataNode.copyStat` hides).
fn stat(w: &mut Writer, s: &Stat) {
    let owner = match NodeKind::from_owner(s.ephemeral_owner) {
        NodeKind::Ephemeral(session) => session.0,
        NodeKind::Persistent | NodeKind::Container | NodeKind::Ttl { .. } => 0,
    };
    w.long(s.czxid)
        .long(s.mzxid)
        .long(s.ctime)
        .long(s.mtime)
        .int(s.version)
        .int(s.cversion)
        .int(s.aversion)
        .long(owner)
        .int(s.data_length)
        .int(s.num_children)
        .long(s.pzxid);
}

fn strings(w: &mut Writer, v: &[String]) {
    w.vector(v, |w, s| {
        w.string(s);
    });
}

/// The answer frame for a request: `ReplyHeader` and, on success, the op's response record.
/// `Exists` of a missing node is NONODE, as ZooKeeper's server answers it.
pub fn answer(
    xid: i32,
    zxid: Zxid,
    shape: &AnswerShape,
    result: &Result<Response, ZkError>,
) -> Bytes {
    let mut w = Writer::frame();
    w.int(xid).long(zxid.as_i64());
    let resp = match result {
        Err(e) => {
            w.int(e.code.code());
            return w.finish_frame();
        }
        Ok(Response::Exists { stat: None }) => {
            w.int(ErrorCode::NoNode.code());
            return w.finish_frame();
        }
        Ok(r) => r,
    };
    w.int(0);
    match resp {
        Response::Create { path, stat: st } => {
            w.string(path);
            if shape.op != op::CREATE {
                stat(&mut w, st);
            }
        }
        Response::SetData { stat: st }
        | Response::SetAcl { stat: st }
        | Response::Exists { stat: Some(st) } => stat(&mut w, st),
        Response::GetData { data, stat: st } => {
            w.data(data);
            stat(&mut w, st);
        }
        Response::GetConfig { data, stat: st } | Response::Reconfig { data, stat: st } => {
            w.buffer(data);
            stat(&mut w, st);
        }
        Response::GetChildren { children, stat: st } => {
            strings(&mut w, children);
            if shape.op == op::GET_CHILDREN2 {
                stat(&mut w, st);
            }
        }
        Response::Sync { path } => {
            w.string(path);
        }
        Response::GetAcl { acl, stat: st } => {
            w.vector(acl, |w, a| {
                w.int(a.perms).string(&a.id.scheme).string(&a.id.id);
            });
            stat(&mut w, st);
        }
        Response::WhoAmI { ids } => {
            // ClientInfo{authScheme, user}, as ZooKeeper 3.8 lists them: every id of the
            // connection (`ip` included), a digest id by its user name.
            let infos: Vec<(&str, &str)> = ids
                .iter()
                .map(|id| match id.scheme.as_str() {
                    "digest" => (
                        "digest",
                        id.id
                            .split_once(':')
                            .map_or(id.id.as_str(), |(user, _)| user),
                    ),
                    scheme => (scheme, id.id.as_str()),
                })
                .collect();
            w.vector(&infos, |w, (scheme, user)| {
                w.string(scheme).string(user);
            });
        }
        Response::GetEphemerals { paths } => strings(&mut w, paths),
        Response::GetAllChildrenNumber { number } => {
            w.int(*number);
        }
        Response::Multi(results) => multi_results(&mut w, shape, results),
        Response::MultiRead(results) => multi_read_results(&mut w, results),
        // ZooKeeper answers addWatch with ErrorResponse{err = 0}; its Java client reads it.
        Response::AddWatch => {
            w.int(0);
        }
        Response::Delete
        | Response::Ping
        | Response::CloseSession
        | Response::AddAuth
        | Response::RemoveWatches
        | Response::CheckWatches
        | Response::SetWatches { .. }
        | Response::CreateSession { .. }
        | Response::Exists { stat: None } => {}
    }
    w.finish_frame()
}

fn multi_results(w: &mut Writer, shape: &AnswerShape, results: &[OpResult]) {
    for (i, r) in results.iter().enumerate() {
        let asked = shape.multi_ops.get(i).copied().unwrap_or(op::CREATE);
        match r {
            // ZooKeeper answers a plain create with CreateResponse and every other kind
            // (create2, createContainer, createTTL) as create2, with the Stat.
            OpResult::Create { path, .. } if asked == op::CREATE => {
                w.int(op::CREATE).bool(false).int(0).string(path);
            }
            OpResult::Create { path, stat: st } => {
                w.int(op::CREATE2).bool(false).int(0).string(path);
                stat(w, st);
            }
            OpResult::Delete => {
                w.int(op::DELETE).bool(false).int(0);
            }
            OpResult::SetData { stat: st } => {
                w.int(op::SET_DATA).bool(false).int(0);
                stat(w, st);
            }
            OpResult::Check => {
                w.int(op::CHECK).bool(false).int(0);
            }
            OpResult::Error(code) => error_result(w, *code),
        }
    }
    w.int(-1).bool(true).int(-1);
}

fn multi_read_results(w: &mut Writer, results: &[ReadResult]) {
    for r in results {
        match r {
            ReadResult::GetData { data, stat: st } => {
                w.int(op::GET_DATA).bool(false).int(0).data(data);
                stat(w, st);
            }
            ReadResult::GetChildren { children, .. } => {
                w.int(op::GET_CHILDREN).bool(false).int(0);
                strings(w, children);
            }
            ReadResult::Error(code) => error_result(w, *code),
        }
    }
    w.int(-1).bool(true).int(-1);
}

/// One failed op of a multi or multiRead: `MultiHeader{-1, false, err}` then `ErrorResponse{err}`.
fn error_result(w: &mut Writer, code: ErrorCode) {
    w.int(op::ERROR)
        .bool(false)
        .int(code.code())
        .int(code.code());
}

/// A watch notification: `ReplyHeader{-1, zxid, 0}` then `WatcherEvent{type, state, path}`.
pub fn notification(ev: &WatchedEvent) -> Bytes {
    let mut w = Writer::frame();
    w.int(xid::NOTIFICATION)
        .long(ev.zxid.as_i64())
        .int(0)
        .int(ev.event_type as i32)
        .int(ev.state as i32)
        .string(&ev.path);
    w.finish_frame()
}

#[cfg(test)]
mod read_only_tests {
    use super::*;

    /// ZooKeeper's ConnectRequest ends with `readOnly` (canBeReadOnly); the ConnectResponse
    /// answers whether the session is read-only in its last byte.
    #[test]
    fn the_read_only_flag_is_read_and_answered() {
        let hello = |read_only: Option<bool>| {
            let mut w = Writer::new();
            w.int(0).long(0).int(30_000).long(0).buffer(&[0u8; 16]);
            if let Some(flag) = read_only {
                w.bool(flag);
            }
            w.into_bytes()
        };
        let old_client = hello(None);
        let ro = Connect::decode(&hello(Some(true))).expect("decode");
        assert!(ro.read_only);
        assert!(!Connect::decode(&old_client).expect("decode").read_only);
        let answer = connect_response(4000, 7, &[1u8; 16], true);
        assert_eq!(answer.last(), Some(&1));
        let answer = connect_response(4000, 7, &[1u8; 16], false);
        assert_eq!(answer.last(), Some(&0));
    }
}

//! Wire -> Paddock. Every malformed input is a `BadArguments` [`ZkError`] naming the field;
//! nothing here panics, whatever the network sends.

use paddock_proto::v1 as pb;
use paddock_types::{
    validate_path, Acl, AddWatchMode, CreateMode, ErrorCode, EventType, Id, KeeperState, MultiOp,
    OpResult, ReadOp, ReadResult, Request, Response, SessionId, Stat, WatchedEvent, WatcherType,
    ZkError, Zxid, PASSWORD_LEN,
};

use super::FromProto;
use crate::backend::{ConnectRequest, SessionEvent, SetWatches};

/// Decodes the handshake. `peer` is the client's address, for logs and limits; `conn_ids` are
/// the ids the transport proves for this stream (`ip:` of the peer, later `x509:`), for ACL
/// checks: the wire cannot claim any.
///
/// Rules: `session_id` 0 opens a new session and then `password` must be empty or 16 zero bytes;
/// otherwise `password` must be exactly 16 bytes. `timeout_ms` and `last_zxid_seen` must not be
/// negative. Every path of the watch lists (`data_watches`, `exist_watches`, `child_watches`)
/// must be a valid znode path.
pub fn decode_connect(
    c: pb::ConnectRequest,
    peer: String,
    conn_ids: Vec<Id>,
) -> Result<ConnectRequest, ZkError> {
    if c.timeout_ms < 0 {
        return Err(ZkError::bad_arguments(format!(
            "ConnectRequest.timeout_ms must not be negative, got {}",
            c.timeout_ms
        )));
    }
    let last_zxid_seen = nonnegative_zxid("ConnectRequest.last_zxid_seen", c.last_zxid_seen)?;
    let resume = if c.session_id == 0 {
        if !c.password.is_empty() && c.password.iter().any(|b| *b != 0) {
            return Err(ZkError::bad_arguments(
                "ConnectRequest.password must be empty (or zero) when session_id is 0",
            ));
        }
        None
    } else {
        let password = <[u8; PASSWORD_LEN]>::try_from(c.password.as_ref()).map_err(|_| {
            ZkError::bad_arguments(format!(
                "ConnectRequest.password must be {PASSWORD_LEN} bytes to resume a session, got {}",
                c.password.len()
            ))
        })?;
        Some((SessionId(c.session_id), password))
    };
    let set_watches = SetWatches {
        data: watch_paths("ConnectRequest.data_watches", c.data_watches)?,
        exist: watch_paths("ConnectRequest.exist_watches", c.exist_watches)?,
        child: watch_paths("ConnectRequest.child_watches", c.child_watches)?,
        persistent: watch_paths("ConnectRequest.persistent_watches", c.persistent_watches)?,
        persistent_recursive: watch_paths(
            "ConnectRequest.persistent_recursive_watches",
            c.persistent_recursive_watches,
        )?,
    };
    Ok(ConnectRequest {
        resume,
        timeout_ms: c.timeout_ms,
        last_zxid_seen,
        peer,
        conn_ids,
        set_watches,
        read_only: c.read_only,
    })
}

/// The paths of one SetWatches list, each a valid znode path. ZooKeeper checks nothing here (its
/// client only lists paths it watched successfully); Paddock refuses the whole connect instead of
/// silently skipping, so a broken client learns of it, and no watch can be set on a path that
/// can never exist.
fn watch_paths(field: &str, paths: Vec<String>) -> Result<Vec<String>, ZkError> {
    for (i, path) in paths.iter().enumerate() {
        validate_path(path, false)
            .map_err(|e| ZkError::bad_arguments(format!("{field}[{i}] {path:?}: {}", e.message)))?;
    }
    Ok(paths)
}

/// Decodes one request. The xid is returned even when the op is malformed, so the error can be
/// answered with it.
pub fn decode_request(r: pb::Request) -> (i64, Result<Request, ZkError>) {
    let op = match r.op {
        Some(op) => Request::from_proto(op),
        None => Err(ZkError::bad_arguments(
            "Request.op is not set (missing, or an op this server does not know)",
        )),
    };
    (r.xid, op)
}

/// Decodes what the server sends after the handshake (the inverse of
/// [`encode_event`](super::encode_event)); for clients and tests. A `ConnectResponse` here is an
/// error: it only ever comes first.
pub fn decode_server_message(m: pb::ServerMessage) -> Result<SessionEvent, ZkError> {
    use pb::server_message::Message;
    match m.message {
        Some(Message::Response(r)) => {
            let zxid = nonnegative_zxid("Response.zxid", r.zxid)?;
            let xid = r.xid;
            Ok(SessionEvent::Response {
                xid,
                zxid,
                result: decode_result(r),
            })
        }
        Some(Message::WatchEvent(w)) => Ok(SessionEvent::Watch(WatchedEvent::from_proto(w)?)),
        Some(Message::SessionClosed(c)) => Ok(SessionEvent::Closed(error_code(c.error))),
        Some(Message::Connect(_)) => Err(ZkError::bad_arguments(
            "ConnectResponse after the handshake",
        )),
        None => Err(ZkError::bad_arguments("ServerMessage.message is not set")),
    }
}

/// A response's outcome: `Ok` for error 0, and also for a failed multi (whose per-op results
/// carry the codes, as the backend reports it); `Err` otherwise.
fn decode_result(r: pb::Response) -> Result<Response, ZkError> {
    use pb::response::Result as R;
    match (r.error, r.result) {
        (_, Some(R::Multi(m))) => Ok(Response::Multi(multi_results(m)?)),
        (0, Some(result)) => Response::from_proto(result),
        (0, None) => Err(ZkError::bad_arguments(
            "Response with error 0 has no result",
        )),
        (code, _) => Err(ZkError::new(error_code(code), r.error_message)),
    }
}

/// A numeric code as an [`ErrorCode`]; a number Paddock does not know becomes `SystemError`.
fn error_code(code: i32) -> ErrorCode {
    ErrorCode::from_code(code).unwrap_or(ErrorCode::SystemError)
}

fn nonnegative_zxid(field: &str, z: i64) -> Result<Zxid, ZkError> {
    u64::try_from(z)
        .map(Zxid)
        .map_err(|_| ZkError::bad_arguments(format!("{field} must not be negative, got {z}")))
}

fn multi_results(m: pb::MultiResponse) -> Result<Vec<OpResult>, ZkError> {
    m.results.into_iter().map(OpResult::from_proto).collect()
}

impl FromProto<pb::request::Op> for Request {
    fn from_proto(op: pb::request::Op) -> Result<Request, ZkError> {
        use pb::request::Op;
        Ok(match op {
            Op::Create(c) => Request::Create {
                mode: create_mode(c.mode, c.ttl)?,
                acl: create_acl(c.acl)?,
                path: c.path,
                data: c.data.into(),
            },
            Op::Delete(d) => Request::Delete {
                path: d.path,
                version: d.version,
            },
            Op::SetData(s) => Request::SetData {
                path: s.path,
                data: s.data.into(),
                version: s.version,
            },
            Op::Exists(e) => Request::Exists {
                path: e.path,
                watch: e.watch,
            },
            Op::GetData(g) => Request::GetData {
                path: g.path,
                watch: g.watch,
            },
            Op::GetChildren(g) => Request::GetChildren {
                path: g.path,
                watch: g.watch,
            },
            Op::Sync(s) => Request::Sync { path: s.path },
            Op::Multi(m) => Request::Multi(
                m.ops
                    .into_iter()
                    .enumerate()
                    .map(|(i, op)| multi_op(i, op))
                    .collect::<Result<_, _>>()?,
            ),
            Op::GetAcl(g) => Request::GetAcl { path: g.path },
            Op::SetAcl(s) => Request::SetAcl {
                acl: acl_list("SetAclRequest.acl", s.acl)?,
                path: s.path,
                version: s.version,
            },
            Op::AddAuth(a) => Request::AddAuth {
                scheme: a.scheme,
                auth: a.auth,
            },
            Op::WhoAmI(_) => Request::WhoAmI,
            Op::GetConfig(g) => Request::GetConfig { watch: g.watch },
            Op::Reconfig(r) => {
                if r.from_config_version < -1 {
                    return Err(ZkError::bad_arguments(format!(
                        "ReconfigRequest.from_config_version {} is neither -1 nor a version",
                        r.from_config_version
                    )));
                }
                Request::Reconfig {
                    joining: r.joining_servers,
                    leaving: r.leaving_servers,
                    members: r.new_members,
                    from_version: r.from_config_version,
                }
            }
            Op::SetWatches(w) => Request::SetWatches {
                relative_zxid: nonnegative_zxid("SetWatchesRequest.relative_zxid", w.relative_zxid)?,
                watches: SetWatches {
                    data: watch_paths("SetWatchesRequest.data_watches", w.data_watches)?,
                    exist: watch_paths("SetWatchesRequest.exist_watches", w.exist_watches)?,
                    child: watch_paths("SetWatchesRequest.child_watches", w.child_watches)?,
                    persistent: watch_paths(
                        "SetWatchesRequest.persistent_watches",
                        w.persistent_watches,
                    )?,
                    persistent_recursive: watch_paths(
                        "SetWatchesRequest.persistent_recursive_watches",
                        w.persistent_recursive_watches,
                    )?,
                },
            },
            Op::GetEphemerals(g) => Request::GetEphemerals {
                prefix: g.prefix_path,
            },
            Op::GetAllChildrenNumber(g) => Request::GetAllChildrenNumber { path: g.path },
            Op::AddWatch(a) => Request::AddWatch {
                mode: AddWatchMode::from_i32(a.mode).ok_or_else(|| {
                    ZkError::bad_arguments(format!(
                        "AddWatchRequest.mode {} is not a mode (PERSISTENT=0, PERSISTENT_RECURSIVE=1)",
                        a.mode
                    ))
                })?,
                path: a.path,
            },
            Op::RemoveWatches(r) => Request::RemoveWatches {
                kind: watcher_type("RemoveWatchesRequest", r.r#type)?,
                path: r.path,
            },
            Op::CheckWatches(c) => Request::CheckWatches {
                kind: watcher_type("CheckWatchesRequest", c.r#type)?,
                path: c.path,
            },
            Op::MultiRead(m) => Request::MultiRead(
                m.ops
                    .into_iter()
                    .enumerate()
                    .map(|(i, op)| read_op(i, op))
                    .collect::<Result<_, _>>()?,
            ),
            Op::Ping(_) => Request::Ping,
            Op::CloseSession(_) => Request::CloseSession,
        })
    }
}

fn multi_op(index: usize, op: pb::MultiOp) -> Result<MultiOp, ZkError> {
    use pb::multi_op::Op;
    let op = op.op.ok_or_else(|| {
        ZkError::bad_arguments(format!("MultiRequest.ops[{index}].op is not set"))
    })?;
    let in_op =
        |e: ZkError| ZkError::bad_arguments(format!("MultiRequest.ops[{index}]: {}", e.message));
    Ok(match op {
        Op::Create(c) => MultiOp::Create {
            mode: create_mode(c.mode, c.ttl).map_err(in_op)?,
            acl: create_acl(c.acl).map_err(in_op)?,
            path: c.path,
            data: c.data.into(),
        },
        Op::Delete(d) => MultiOp::Delete {
            path: d.path,
            version: d.version,
        },
        Op::SetData(s) => MultiOp::SetData {
            path: s.path,
            data: s.data.into(),
            version: s.version,
        },
        Op::Check(c) => MultiOp::Check {
            path: c.path,
            version: c.version,
        },
        Op::GetData(_) | Op::GetChildren(_) => {
            return Err(ZkError::bad_arguments(format!(
                "MultiRequest.ops[{index}] is a read op: a multi takes only create, delete, \
                 set_data and check (reads go in a MultiReadRequest; ZooKeeper does not mix them)"
            )))
        }
    })
}

/// One op of a multi_read. ZooKeeper's multiRead takes getData and getChildren only, without
/// watches; anything else makes the whole request BadArguments (ZooKeeper's client refuses to mix
/// reads and writes, its server fails the request).
fn read_op(index: usize, op: pb::MultiOp) -> Result<ReadOp, ZkError> {
    use pb::multi_op::Op;
    let field = format!("MultiReadRequest.ops[{index}]");
    let no_watch = |watch: bool| {
        if watch {
            Err(ZkError::bad_arguments(format!(
                "{field} asks for a watch: a multi_read leaves none (watch must be false)"
            )))
        } else {
            Ok(())
        }
    };
    let write = |name: &str| {
        Err(ZkError::bad_arguments(format!(
            "{field} is a write op ({name}): a multi_read takes only get_data and get_children \
             (writes go in a MultiRequest; ZooKeeper does not mix them)"
        )))
    };
    match op.op {
        Some(Op::GetData(g)) => no_watch(g.watch).map(|()| ReadOp::GetData { path: g.path }),
        Some(Op::GetChildren(g)) => {
            no_watch(g.watch).map(|()| ReadOp::GetChildren { path: g.path })
        }
        Some(Op::Create(_)) => write("create"),
        Some(Op::Delete(_)) => write("delete"),
        Some(Op::SetData(_)) => write("set_data"),
        Some(Op::Check(_)) => write("check"),
        None => Err(ZkError::bad_arguments(format!("{field}.op is not set"))),
    }
}

/// A CreateRequest's ACL: UNSET is world:anyone:cdrwa (what clients that predate ACLs get); set,
/// it is taken as given, even empty: checking it (`InvalidAcl`) is the server's job, which knows
/// the session's ids for `auth` entries.
fn create_acl(acl: Option<pb::AclList>) -> Result<Vec<Acl>, ZkError> {
    match acl {
        None => Ok(Acl::open()),
        Some(list) => acl_list("CreateRequest.acl.acls", list.acls),
    }
}

/// ACL entries as sent. The only malformed entry is one without its `id` message.
fn acl_list(field: &str, acls: Vec<pb::Acl>) -> Result<Vec<Acl>, ZkError> {
    acls.into_iter()
        .enumerate()
        .map(|(i, a)| {
            Acl::from_proto(a)
                .map_err(|e| ZkError::bad_arguments(format!("{field}[{i}]: {}", e.message)))
        })
        .collect()
}

impl FromProto<pb::Acl> for Acl {
    fn from_proto(a: pb::Acl) -> Result<Acl, ZkError> {
        match a.id {
            Some(id) => Ok(Acl::new(a.perms, Id::from_proto(id)?)),
            None => Err(ZkError::bad_arguments("Acl.id is not set")),
        }
    }
}

impl FromProto<pb::Id> for Id {
    /// Carried as is: which schemes and ids are valid is the server's business (`InvalidAcl`).
    fn from_proto(i: pb::Id) -> Result<Id, ZkError> {
        Ok(Id::new(i.scheme, i.id))
    }
}

/// ZooKeeper's WatcherType values 1 to 5; anything else (0 included) is BADARGUMENTS.
fn watcher_type(message: &str, t: i32) -> Result<WatcherType, ZkError> {
    WatcherType::from_i32(t).ok_or_else(|| {
        ZkError::bad_arguments(format!(
            "{message}.type {t} is not a watcher type (CHILDREN=1, DATA=2, ANY=3, PERSISTENT=4, \
             PERSISTENT_RECURSIVE=5)"
        ))
    })
}

/// The mode with its ttl. A TTL mode carries the ttl as sent (the processor answers
/// UNIMPLEMENTED or BADARGUMENTS for it, in ZooKeeper's order); a ttl with any other mode is
/// BADARGUMENTS here (ZooKeeper's "ttl not valid for mode").
fn create_mode(mode: i32, ttl: i64) -> Result<CreateMode, ZkError> {
    let plain = |m: CreateMode| {
        if ttl != 0 {
            return Err(ZkError::bad_arguments(format!(
                "CreateRequest.ttl {ttl} is only valid with the TTL modes, not {m:?}"
            )));
        }
        Ok(m)
    };
    match pb::CreateMode::try_from(mode) {
        Ok(pb::CreateMode::Persistent) => plain(CreateMode::Persistent),
        Ok(pb::CreateMode::Ephemeral) => plain(CreateMode::Ephemeral),
        Ok(pb::CreateMode::PersistentSequential) => plain(CreateMode::PersistentSequential),
        Ok(pb::CreateMode::EphemeralSequential) => plain(CreateMode::EphemeralSequential),
        Ok(pb::CreateMode::Container) => plain(CreateMode::Container),
        Ok(pb::CreateMode::PersistentWithTtl) => Ok(CreateMode::PersistentWithTtl { ttl_ms: ttl }),
        Ok(pb::CreateMode::PersistentSequentialWithTtl) => {
            Ok(CreateMode::PersistentSequentialWithTtl { ttl_ms: ttl })
        }
        Err(_) => Err(ZkError::bad_arguments(format!(
            "CreateRequest.mode {mode} is not supported (PERSISTENT=0, EPHEMERAL=1, \
             PERSISTENT_SEQUENTIAL=2, EPHEMERAL_SEQUENTIAL=3, CONTAINER=4, \
             PERSISTENT_WITH_TTL=5, PERSISTENT_SEQUENTIAL_WITH_TTL=6)"
        ))),
    }
}

impl FromProto<pb::response::Result> for Response {
    fn from_proto(r: pb::response::Result) -> Result<Response, ZkError> {
        use pb::response::Result as R;
        Ok(match r {
            R::Create(c) => Response::Create {
                path: c.path,
                stat: required_stat("CreateResponse.stat", c.stat)?,
            },
            R::Delete(_) => Response::Delete,
            R::SetData(s) => Response::SetData {
                stat: required_stat("SetDataResponse.stat", s.stat)?,
            },
            R::Exists(e) => Response::Exists {
                stat: match (e.exists, e.stat) {
                    (true, stat) => Some(required_stat("ExistsResponse.stat", stat)?),
                    (false, _) => None,
                },
            },
            R::GetData(g) => Response::GetData {
                data: g.data.into(),
                stat: required_stat("GetDataResponse.stat", g.stat)?,
            },
            R::GetChildren(g) => Response::GetChildren {
                children: g.children,
                stat: required_stat("GetChildrenResponse.stat", g.stat)?,
            },
            R::Sync(s) => Response::Sync { path: s.path },
            R::Multi(m) => Response::Multi(multi_results(m)?),
            R::GetAcl(g) => Response::GetAcl {
                acl: acl_list("GetAclResponse.acl", g.acl)?,
                stat: required_stat("GetAclResponse.stat", g.stat)?,
            },
            R::SetAcl(s) => Response::SetAcl {
                stat: required_stat("SetAclResponse.stat", s.stat)?,
            },
            R::AddAuth(_) => Response::AddAuth,
            R::WhoAmI(w) => Response::WhoAmI {
                ids: w
                    .ids
                    .into_iter()
                    .map(Id::from_proto)
                    .collect::<Result<_, _>>()?,
            },
            R::Ping(_) => Response::Ping,
            R::CloseSession(_) => Response::CloseSession,
            R::GetEphemerals(g) => Response::GetEphemerals { paths: g.paths },
            R::GetAllChildrenNumber(g) => Response::GetAllChildrenNumber { number: g.number },
            R::AddWatch(_) => Response::AddWatch,
            R::RemoveWatches(_) => Response::RemoveWatches,
            R::CheckWatches(_) => Response::CheckWatches,
            // The events came before the answer, as WatchEvents of their own.
            R::SetWatches(_) => Response::SetWatches { events: Vec::new() },
            R::GetConfig(g) => Response::GetConfig {
                data: g.data,
                stat: required_stat("GetConfigResponse.stat", g.stat)?,
            },
            R::Reconfig(r) => Response::Reconfig {
                data: r.data,
                stat: required_stat("ReconfigResponse.stat", r.stat)?,
            },
            R::MultiRead(m) => Response::MultiRead(
                m.results
                    .into_iter()
                    .map(ReadResult::from_proto)
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

impl FromProto<pb::OpResult> for OpResult {
    fn from_proto(r: pb::OpResult) -> Result<OpResult, ZkError> {
        use pb::op_result::Result as R;
        Ok(match r.result {
            Some(R::Create(c)) => OpResult::Create {
                path: c.path,
                stat: required_stat("OpResult.create.stat", c.stat)?,
            },
            Some(R::Delete(_)) => OpResult::Delete,
            Some(R::SetData(s)) => OpResult::SetData {
                stat: required_stat("OpResult.set_data.stat", s.stat)?,
            },
            Some(R::Check(_)) => OpResult::Check,
            Some(R::Error(e)) => OpResult::Error(error_code(e.error)),
            None => return Err(ZkError::bad_arguments("OpResult.result is not set")),
        })
    }
}

impl FromProto<pb::ReadResult> for ReadResult {
    fn from_proto(r: pb::ReadResult) -> Result<ReadResult, ZkError> {
        use pb::read_result::Result as R;
        Ok(match r.result {
            Some(R::GetData(g)) => ReadResult::GetData {
                data: g.data.into(),
                stat: required_stat("ReadResult.get_data.stat", g.stat)?,
            },
            Some(R::GetChildren(g)) => ReadResult::GetChildren {
                children: g.children,
                stat: required_stat("ReadResult.get_children.stat", g.stat)?,
            },
            Some(R::Error(e)) if e.error == 0 => {
                return Err(ZkError::bad_arguments("ReadResult.error is 0 (OK)"))
            }
            Some(R::Error(e)) => ReadResult::Error(error_code(e.error)),
            None => return Err(ZkError::bad_arguments("ReadResult.result is not set")),
        })
    }
}

fn required_stat(field: &str, stat: Option<pb::Stat>) -> Result<Stat, ZkError> {
    match stat {
        Some(s) => Stat::from_proto(s),
        None => Err(ZkError::bad_arguments(format!("{field} is not set"))),
    }
}

impl FromProto<pb::Stat> for Stat {
    /// Every field is carried as is; a `Stat` cannot be malformed.
    fn from_proto(s: pb::Stat) -> Result<Stat, ZkError> {
        Ok(Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            ephemeral_owner: s.ephemeral_owner,
            data_length: s.data_length,
            num_children: s.num_children,
            pzxid: s.pzxid,
        })
    }
}

impl FromProto<pb::WatchEvent> for WatchedEvent {
    fn from_proto(w: pb::WatchEvent) -> Result<WatchedEvent, ZkError> {
        let event_type = match pb::EventType::try_from(w.r#type) {
            Ok(pb::EventType::None) => EventType::None,
            Ok(pb::EventType::NodeCreated) => EventType::NodeCreated,
            Ok(pb::EventType::NodeDeleted) => EventType::NodeDeleted,
            Ok(pb::EventType::NodeDataChanged) => EventType::NodeDataChanged,
            Ok(pb::EventType::NodeChildrenChanged) => EventType::NodeChildrenChanged,
            Ok(pb::EventType::DataWatchRemoved) => EventType::DataWatchRemoved,
            Ok(pb::EventType::ChildWatchRemoved) => EventType::ChildWatchRemoved,
            Ok(pb::EventType::PersistentWatchRemoved) => EventType::PersistentWatchRemoved,
            Ok(pb::EventType::Unspecified) | Err(_) => {
                return Err(ZkError::bad_arguments(format!(
                    "WatchEvent.type {} is not a ZooKeeper event type",
                    w.r#type
                )))
            }
        };
        let state = match pb::KeeperState::try_from(w.state) {
            Ok(pb::KeeperState::Disconnected) => KeeperState::Disconnected,
            Ok(pb::KeeperState::SyncConnected) => KeeperState::SyncConnected,
            Ok(pb::KeeperState::AuthFailed) => KeeperState::AuthFailed,
            Ok(pb::KeeperState::ConnectedReadOnly) => KeeperState::ConnectedReadOnly,
            Ok(pb::KeeperState::Closed) => KeeperState::Closed,
            Ok(pb::KeeperState::Expired) => KeeperState::Expired,
            Err(_) => {
                return Err(ZkError::bad_arguments(format!(
                    "WatchEvent.state {} is not a known keeper state",
                    w.state
                )))
            }
        };
        Ok(WatchedEvent {
            event_type,
            state,
            path: w.path,
            zxid: nonnegative_zxid("WatchEvent.zxid", w.zxid)?,
        })
    }
}

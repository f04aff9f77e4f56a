//! Transactions: the records of the replicated log.
//!
//! A transaction is the client's write *command* plus what the leader decided when it accepted it
//! (zxid, time, session). Applying it to a data tree is deterministic: every replica that applies the
//! same transactions in zxid order reaches the same state and computes the same per-request outcome
//! (including errors such as `BadVersion`), so no state-dependent check has to happen before
//! logging. See `docs/architecture.md` ("command log").

use serde::{Deserialize, Serialize};

use crate::acl::{Acl, Id};
use crate::data::Data;
use crate::ids::{SessionId, Zxid};
use crate::op::{CreateMode, MultiOp};

/// A session's password length in bytes (ZooKeeper uses 16).
pub const PASSWORD_LEN: usize = 16;

/// What every transaction carries besides its operation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnHeader {
    /// The session that issued the request (the session being created / closed for session txns).
    pub session: SessionId,
    /// The client's request id within the session (0 for server-made txns such as expiry).
    pub cxid: i64,
    /// This transaction's zxid.
    pub zxid: Zxid,
    /// The proposer's wall clock, ms since the Unix epoch: becomes ctime / mtime.
    pub time_ms: i64,
    /// The ids the client's *connection* carries (`ip:` of its address, `x509:` of its
    /// certificate), decided by the server the client talks to. Together with the session's
    /// replicated `AddAuth` ids they are what ACL checks at apply see. Empty for server-made txns.
    pub conn_ids: Vec<Id>,
    /// Set only on records written before Paddock numbered sequential nodes as ZooKeeper does:
    /// they took the parent's cversion (creates + deletes) as the suffix, and replay so. Every
    /// record written now numbers by the count of creates under the parent, as ZooKeeper. Not a
    /// field of the record: the record's envelope variant says it (see `wire`).
    pub legacy_sequence: bool,
}

/// A state change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp {
    /// Opens `header.session` with a negotiated timeout and its password.
    CreateSession {
        timeout_ms: i32,
        password: [u8; PASSWORD_LEN],
    },
    /// Closes `header.session` (client close or expiry); deletes all its ephemeral nodes.
    CloseSession,
    Create {
        path: String,
        data: Data,
        mode: CreateMode,
        acl: Vec<Acl>,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Data,
        version: i32,
    },
    /// All-or-nothing.
    Multi(Vec<MultiOp>),
    /// A client's `sync` in an ensemble: changes nothing; its commit on the client's server
    /// proves that server has applied everything the leader had committed before it
    /// (answered with `Response::Sync`). Standalone servers do not log it.
    Sync {
        path: String,
    },
    /// In an ensemble: `header.session` was resumed on server `owner`. Changes nothing in the
    /// tree; every other server drops the session's connection with `SessionMoved` when it
    /// applies it (answered with `Response::Ping`).
    MoveSession {
        owner: u64,
    },
    /// Replaces a node's ACL (checked against `aversion` unless -1).
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    /// `header.session` authenticated as `ids` (decided by the server the client talks to, so
    /// every replica and every later server of the session knows them).
    AddAuth {
        ids: Vec<Id>,
    },
    /// The leader's sweeper deletes an empty container or an expired TTL node (ZooKeeper's
    /// `OpCode.deleteContainer`, made by the server, session 0, no ACL check). Conditional, so
    /// that whatever happened to the node since the sweep read it makes it fail harmlessly:
    /// the node must still be the one created at `czxid`, a container or TTL node, childless,
    /// at data `version` and child `cversion`; otherwise NoNode / BadVersion / NotEmpty and
    /// nothing changes. Nobody waits for the answer.
    DeleteContainer {
        path: String,
        czxid: i64,
        version: i32,
        cversion: i32,
    },
    /// `header.session` was resumed on server `owner` with a newly negotiated `timeout_ms`
    /// (ZooKeeper renegotiates the timeout on every connect, a resume included). Written for
    /// every resume in an ensemble, and by a standalone server when the timeout changes; as
    /// `MoveSession` otherwise (which older records hold), plus the session's timeout becomes
    /// `timeout_ms` on every replica.
    ResumeSession {
        owner: u64,
        timeout_ms: i32,
    },
    /// A reconfiguration (`Request::Reconfig`'s arguments, as the client's server submits it
    /// with `verdict` 0). The leader vets it before proposing (authorisation, version, the
    /// resulting configuration, a quorum of it; see [`RECONFIG_ACCEPTED`]) and proposes it
    /// rewritten: accepted, with `members` the whole new configuration (`joining` and `leaving`
    /// empty), which every replica installs as `/zookeeper/config` at this zxid as version
    /// while the quorum peers switch to it at its commit; or refused, `verdict` the error
    /// code, changing nothing. An unvetted one (verdict 0: its leader did not have
    /// `reconfigEnabled`) is refused with RECONFIGDISABLED where it is applied.
    Reconfig {
        joining: Vec<String>,
        leaving: Vec<u64>,
        members: Vec<String>,
        from_version: i64,
        verdict: i32,
    },
}

/// `TxnOp::Reconfig::verdict` of a change the leader accepted.
pub const RECONFIG_ACCEPTED: i32 = 1;

/// One log record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    pub header: TxnHeader,
    pub op: TxnOp,
}

/// A record that could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("undecodable transaction: {0}")]
pub struct DecodeError(String);

impl Txn {
    /// The record's bytes (compact binary, `postcard`). Checksums are the storage layer's job.
    pub fn encode(&self) -> Vec<u8> {
        wire::encode(self)
    }

    /// Decodes bytes made by [`Txn::encode`], by this build or by one from before ACLs.
    pub fn decode(bytes: &[u8]) -> Result<Txn, DecodeError> {
        wire::decode(bytes).map_err(|e| DecodeError(e.to_string()))
    }

    /// Decodes the record logged at `zxid`. In an ensemble the leader assigns zxids after the
    /// transaction was encoded (by the server the client talks to), so a header zxid of 0 means
    /// "the record's zxid"; any other value must match it.
    pub fn decode_at(bytes: &[u8], zxid: Zxid) -> Result<Txn, DecodeError> {
        let mut txn = Txn::decode(bytes)?;
        if txn.header.zxid == Zxid::ZERO {
            txn.header.zxid = zxid;
        } else if txn.header.zxid != zxid {
            return Err(DecodeError(format!(
                "the record is logged at {zxid} but holds zxid {}",
                txn.header.zxid
            )));
        }
        Ok(txn)
    }

    pub fn zxid(&self) -> Zxid {
        self.header.zxid
    }
}

/// The record format. Records written before ACLs existed are `postcard(header, op)` with the
/// eight operations of that time; they still decode (nodes they create get the open ACL). A
/// record of this build is the same header followed by variant 8, `Current`, which holds the
/// connection ids and today's operation. Adding a variant to `TxnOp` at its end stays compatible
/// with records of this format; changing an existing variant needs a new envelope variant.
///
/// Null data ([`Data::NULL`]) is serialised as empty bytes; a record with any null data is
/// written as variant 10, `Nulls`, which is variant 9 plus the positions of the null fields
/// (0 for a Create / SetData, the op's index in a Multi). Every other record stays variant 9, so
/// a server of an older build reads every log that holds no null data.
mod wire {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Header {
        session: SessionId,
        cxid: i64,
        zxid: Zxid,
        time_ms: i64,
    }

    /// `MultiOp` before ACLs.
    #[derive(Serialize, Deserialize)]
    enum MultiOpV1 {
        Create {
            path: String,
            data: Data,
            mode: CreateMode,
        },
        Delete {
            path: String,
            version: i32,
        },
        SetData {
            path: String,
            data: Data,
            version: i32,
        },
        Check {
            path: String,
            version: i32,
        },
    }

    /// Variants 0..=7: `TxnOp` before ACLs. 8: records with connection ids, from before
    /// ZooKeeper's sequence numbering. 9: this build's records.
    #[derive(Serialize, Deserialize)]
    enum Body {
        CreateSession {
            timeout_ms: i32,
            password: [u8; PASSWORD_LEN],
        },
        CloseSession,
        Create {
            path: String,
            data: Data,
            mode: CreateMode,
        },
        Delete {
            path: String,
            version: i32,
        },
        SetData {
            path: String,
            data: Data,
            version: i32,
        },
        Multi(Vec<MultiOpV1>),
        Sync {
            path: String,
        },
        MoveSession {
            owner: u64,
        },
        Current {
            conn_ids: Vec<Id>,
            op: TxnOp,
        },
        /// As `Current`, applied with ZooKeeper's sequence numbering.
        ZkSequence {
            conn_ids: Vec<Id>,
            op: TxnOp,
        },
        /// As `ZkSequence`, and the data at these positions is null.
        Nulls {
            conn_ids: Vec<Id>,
            op: TxnOp,
            nulls: Vec<u32>,
        },
    }

    #[derive(Deserialize)]
    struct Record {
        header: Header,
        body: Body,
    }

    /// What `encode` writes: the header, then `Body::Current` by reference (no copy of the data).
    #[derive(Serialize)]
    struct RecordRef<'a> {
        header: Header,
        body: BodyRef<'a>,
    }

    /// Same variant numbering as `Body`; `ZkSequence` is written, and `Current` only for a
    /// record decoded from that variant (written again as it was).
    #[derive(Serialize)]
    #[allow(dead_code)]
    enum BodyRef<'a> {
        V0,
        V1,
        V2,
        V3,
        V4,
        V5,
        V6,
        V7,
        Current {
            conn_ids: &'a [Id],
            op: &'a TxnOp,
        },
        ZkSequence {
            conn_ids: &'a [Id],
            op: &'a TxnOp,
        },
        Nulls {
            conn_ids: &'a [Id],
            op: &'a TxnOp,
            nulls: Vec<u32>,
        },
    }

    /// The positions of `op`'s null data (see the module doc).
    fn nulls_of(op: &TxnOp) -> Vec<u32> {
        let null = |d: &Data| d.is_null();
        match op {
            TxnOp::Create { data, .. } | TxnOp::SetData { data, .. } if null(data) => vec![0],
            TxnOp::Multi(ops) => ops
                .iter()
                .enumerate()
                .filter(|(_, o)| match o {
                    MultiOp::Create { data, .. } | MultiOp::SetData { data, .. } => null(data),
                    _ => false,
                })
                .map(|(i, _)| u32::try_from(i).unwrap_or(u32::MAX))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Marks the data at `nulls` null again after decoding. Positions that hold no data field
    /// are a damaged record.
    fn restore_nulls(op: &mut TxnOp, nulls: &[u32]) -> Result<(), postcard::Error> {
        for &at in nulls {
            let data = match op {
                TxnOp::Create { data, .. } | TxnOp::SetData { data, .. } if at == 0 => data,
                TxnOp::Multi(ops) => match ops.get_mut(at as usize) {
                    Some(MultiOp::Create { data, .. } | MultiOp::SetData { data, .. }) => data,
                    _ => return Err(postcard::Error::DeserializeBadEnum),
                },
                _ => return Err(postcard::Error::DeserializeBadEnum),
            };
            *data = Data::NULL;
        }
        Ok(())
    }

    pub(super) fn encode(txn: &Txn) -> Vec<u8> {
        let h = &txn.header;
        let record = RecordRef {
            header: Header {
                session: h.session,
                cxid: h.cxid,
                zxid: h.zxid,
                time_ms: h.time_ms,
            },
            body: if h.legacy_sequence {
                BodyRef::Current {
                    conn_ids: &h.conn_ids,
                    op: &txn.op,
                }
            } else {
                let nulls = nulls_of(&txn.op);
                if nulls.is_empty() {
                    BodyRef::ZkSequence {
                        conn_ids: &h.conn_ids,
                        op: &txn.op,
                    }
                } else {
                    BodyRef::Nulls {
                        conn_ids: &h.conn_ids,
                        op: &txn.op,
                        nulls,
                    }
                }
            },
        };
        // Sized up front: a record with a large value would otherwise be copied at every
        // doubling of the vector.
        postcard::to_extend(&record, Vec::with_capacity(size_hint(&txn.op)))
            .expect("a Txn always serialises: no maps with non-string keys, no io")
    }

    /// About the bytes `op`'s record takes: its data and paths plus room for the rest.
    fn size_hint(op: &TxnOp) -> usize {
        const FIXED: usize = 64;
        match op {
            TxnOp::Create { path, data, .. } | TxnOp::SetData { path, data, .. } => {
                FIXED + path.len() + data.len()
            }
            TxnOp::Multi(ops) => {
                FIXED
                    + ops
                        .iter()
                        .map(|o| match o {
                            MultiOp::Create { path, data, .. }
                            | MultiOp::SetData { path, data, .. } => 16 + path.len() + data.len(),
                            _ => 48,
                        })
                        .sum::<usize>()
            }
            _ => FIXED + 64,
        }
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Txn, postcard::Error> {
        let Record { header: h, body } = postcard::from_bytes(bytes)?;
        let mut header = TxnHeader {
            session: h.session,
            cxid: h.cxid,
            zxid: h.zxid,
            time_ms: h.time_ms,
            conn_ids: Vec::new(),
            legacy_sequence: true,
        };
        let op = match body {
            Body::ZkSequence { conn_ids, op } => {
                header.conn_ids = conn_ids;
                header.legacy_sequence = false;
                op
            }
            Body::Nulls {
                conn_ids,
                mut op,
                nulls,
            } => {
                restore_nulls(&mut op, &nulls)?;
                header.conn_ids = conn_ids;
                header.legacy_sequence = false;
                op
            }
            Body::Current { conn_ids, op } => {
                header.conn_ids = conn_ids;
                op
            }
            Body::CreateSession {
                timeout_ms,
                password,
            } => TxnOp::CreateSession {
                timeout_ms,
                password,
            },
            Body::CloseSession => TxnOp::CloseSession,
            Body::Create { path, data, mode } => TxnOp::Create {
                path,
                data,
                mode,
                acl: Acl::open(),
            },
            Body::Delete { path, version } => TxnOp::Delete { path, version },
            Body::SetData {
                path,
                data,
                version,
            } => TxnOp::SetData {
                path,
                data,
                version,
            },
            Body::Multi(ops) => TxnOp::Multi(ops.into_iter().map(upgrade).collect()),
            Body::Sync { path } => TxnOp::Sync { path },
            Body::MoveSession { owner } => TxnOp::MoveSession { owner },
        };
        Ok(Txn { header, op })
    }

    fn upgrade(op: MultiOpV1) -> MultiOp {
        match op {
            MultiOpV1::Create { path, data, mode } => MultiOp::Create {
                path,
                data,
                mode,
                acl: Acl::open(),
            },
            MultiOpV1::Delete { path, version } => MultiOp::Delete { path, version },
            MultiOpV1::SetData {
                path,
                data,
                version,
            } => MultiOp::SetData {
                path,
                data,
                version,
            },
            MultiOpV1::Check { path, version } => MultiOp::Check { path, version },
        }
    }

    #[cfg(test)]
    pub(super) fn encode_v1_multi_create(header: &TxnHeader, path: &str) -> Vec<u8> {
        #[derive(Serialize)]
        struct V1 {
            header: Header,
            body: Body,
        }
        let h = header;
        postcard::to_stdvec(&V1 {
            header: Header {
                session: h.session,
                cxid: h.cxid,
                zxid: h.zxid,
                time_ms: h.time_ms,
            },
            body: Body::Multi(vec![MultiOpV1::Create {
                path: path.into(),
                data: Data::from(b"old"),
                mode: CreateMode::Persistent,
            }]),
        })
        .expect("serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Epoch;
    use bytes::Bytes;

    /// A record as the build before ACLs wrote it (`postcard` of the old `Txn`): a SetData.
    #[test]
    fn records_from_before_acls_still_decode() {
        // session 5 (zigzag 10), cxid 3 (6), zxid 9, time 100 (200 = c8 01), variant 4 SetData,
        // path "/a", data "xy", version -1 (zigzag 1).
        let old = [10, 6, 9, 0xc8, 0x01, 4, 2, b'/', b'a', 2, b'x', b'y', 1];
        let t = Txn::decode(&old).expect("an old record decodes");
        assert_eq!(t.header.session, SessionId(5));
        assert_eq!(t.header.time_ms, 100);
        assert!(t.header.conn_ids.is_empty());
        assert!(
            t.header.legacy_sequence,
            "replays with the old sequence numbering"
        );
        assert_eq!(
            t.op,
            TxnOp::SetData {
                path: "/a".into(),
                data: Bytes::from_static(b"xy").into(),
                version: -1
            }
        );
        let header = TxnHeader {
            session: SessionId(1),
            zxid: Zxid(2),
            ..TxnHeader::default()
        };
        let multi = Txn::decode(&wire::encode_v1_multi_create(&header, "/m")).expect("decodes");
        assert_eq!(
            multi.op,
            TxnOp::Multi(vec![MultiOp::Create {
                path: "/m".into(),
                data: Bytes::from_static(b"old").into(),
                mode: CreateMode::Persistent,
                acl: Acl::open(),
            }])
        );
    }

    #[test]
    fn acl_ops_and_connection_ids_round_trip() {
        let t = Txn {
            header: TxnHeader {
                session: SessionId(3),
                cxid: 1,
                zxid: Zxid(4),
                time_ms: 5,
                conn_ids: vec![Id::new("ip", "127.0.0.1")],
                legacy_sequence: false,
            },
            op: TxnOp::SetAcl {
                path: "/a".into(),
                acl: Acl::read_unsafe(),
                version: 2,
            },
        };
        assert_eq!(Txn::decode(&t.encode()).unwrap(), t);
        let auth = Txn {
            op: TxnOp::AddAuth {
                ids: vec![Id::new("digest", "u:h"), Id::super_user()],
            },
            ..t
        };
        assert_eq!(Txn::decode(&auth.encode()).unwrap(), auth);
    }

    #[test]
    fn decode_at_fills_in_an_unassigned_zxid_and_checks_an_assigned_one() {
        let mut t = Txn {
            header: TxnHeader {
                session: SessionId(1),
                cxid: 1,
                zxid: Zxid::ZERO,
                time_ms: 0,
                conn_ids: Vec::new(),
                legacy_sequence: false,
            },
            op: TxnOp::Sync { path: "/".into() },
        };
        let at = Zxid::new(Epoch(2), 5);
        let decoded = Txn::decode_at(&t.encode(), at).expect("decodes");
        assert_eq!(decoded.zxid(), at);
        t.header.zxid = Zxid::new(Epoch(2), 6);
        assert!(Txn::decode_at(&t.encode(), at).is_err());
        assert_eq!(
            Txn::decode_at(&t.encode(), t.header.zxid)
                .map(|t| t.zxid())
                .ok(),
            Some(t.header.zxid)
        );
    }

    #[test]
    fn txn_round_trips() {
        let t = Txn {
            header: TxnHeader {
                session: SessionId(42),
                cxid: 7,
                zxid: Zxid::new(Epoch(1), 9),
                time_ms: 1_700_000_000_000,
                conn_ids: vec![Id::new("ip", "10.0.0.1")],
                legacy_sequence: false,
            },
            op: TxnOp::Multi(vec![
                MultiOp::Create {
                    path: "/a".into(),
                    data: Bytes::from_static(b"x").into(),
                    mode: CreateMode::EphemeralSequential,
                    acl: Acl::creator_all(),
                },
                MultiOp::Check {
                    path: "/a".into(),
                    version: -1,
                },
            ]),
        };
        assert_eq!(Txn::decode(&t.encode()).unwrap(), t);
    }

    /// Null data survives the log: a record with any is envelope 10 and says which fields were
    /// null; a record without stays envelope 9 (readable by the build before null data). Fails
    /// if null decodes as empty or if records without null data change format.
    #[test]
    fn null_data_round_trips_and_other_records_keep_their_envelope() {
        let header = TxnHeader {
            session: SessionId(1),
            cxid: 2,
            zxid: Zxid(3),
            time_ms: 4,
            conn_ids: Vec::new(),
            legacy_sequence: false,
        };
        let txn = |op| Txn {
            header: header.clone(),
            op,
        };
        let create = |data: Data| MultiOp::Create {
            path: "/n".into(),
            data,
            mode: CreateMode::Persistent,
            acl: Acl::open(),
        };
        let set = |data: Data| MultiOp::SetData {
            path: "/n".into(),
            data,
            version: -1,
        };
        // Header bytes: session 1 (zigzag 2), cxid 2 (4), zxid 3, time 4 (8); then the envelope.
        let envelope = |t: &Txn| t.encode()[4];
        let cases = [
            (
                TxnOp::Create {
                    path: "/n".into(),
                    data: Data::NULL,
                    mode: CreateMode::Persistent,
                    acl: Acl::open(),
                },
                10,
            ),
            (
                TxnOp::Create {
                    path: "/n".into(),
                    data: Data::from(""),
                    mode: CreateMode::Persistent,
                    acl: Acl::open(),
                },
                9,
            ),
            (
                TxnOp::SetData {
                    path: "/n".into(),
                    data: Data::NULL,
                    version: 0,
                },
                10,
            ),
            (
                TxnOp::SetData {
                    path: "/n".into(),
                    data: Data::from("x"),
                    version: 0,
                },
                9,
            ),
            (
                TxnOp::Multi(vec![
                    create(Data::from("a")),
                    set(Data::NULL),
                    create(Data::NULL),
                ]),
                10,
            ),
            (
                TxnOp::Multi(vec![create(Data::from("a")), set(Data::from(""))]),
                9,
            ),
        ];
        for (op, want) in cases {
            let t = txn(op);
            assert_eq!(envelope(&t), want, "{t:?}");
            let back = Txn::decode(&t.encode()).unwrap();
            assert_eq!(back, t);
        }
        // A null position that holds no data field is a damaged record, not a panic.
        let mut bad = txn(TxnOp::Create {
            path: "/n".into(),
            data: Data::NULL,
            mode: CreateMode::Persistent,
            acl: Acl::open(),
        })
        .encode();
        let last = bad.len() - 1;
        bad[last] = 5; // the null list [0] becomes [5]
        assert!(Txn::decode(&bad).is_err());
    }

    /// Container and TTL modes and `DeleteContainer` are new variants at the ends of their
    /// enums: a record with only the older ones encodes exactly as before (a current-format
    /// Create of a persistent node, bytes written by the build before them).
    #[test]
    fn container_and_ttl_records_round_trip_and_old_bytes_are_unchanged() {
        // A record of envelope 8 (before ZooKeeper's sequence numbering) is written back as it
        // was read.
        let header = TxnHeader {
            session: SessionId(1),
            cxid: 2,
            zxid: Zxid(3),
            time_ms: 4,
            conn_ids: Vec::new(),
            legacy_sequence: true,
        };
        let create = |mode| Txn {
            header: header.clone(),
            op: TxnOp::Create {
                path: "/c".into(),
                data: Bytes::new().into(),
                mode,
                acl: Acl::open(),
            },
        };
        // header, variant 8 (Current), no conn ids, TxnOp 2 (Create), "/c", no data, mode 0,
        // one ACL entry (perms 31, zigzag 62, "world", "anyone").
        let before = [
            2, 4, 3, 8, 8, 0, 2, 2, b'/', b'c', 0, 0, 1, 62, 5, b'w', b'o', b'r', b'l', b'd', 6,
            b'a', b'n', b'y', b'o', b'n', b'e',
        ];
        assert_eq!(create(CreateMode::Persistent).encode(), before);
        for mode in [
            CreateMode::Container,
            CreateMode::PersistentWithTtl { ttl_ms: 1000 },
            CreateMode::PersistentSequentialWithTtl {
                ttl_ms: 0xFF_FFFF_FFFF,
            },
        ] {
            let t = create(mode);
            assert_eq!(Txn::decode(&t.encode()).unwrap(), t);
        }
        let reap = Txn {
            header,
            op: TxnOp::DeleteContainer {
                path: "/c".into(),
                czxid: 9,
                version: 0,
                cversion: 2,
            },
        };
        assert_eq!(Txn::decode(&reap.encode()).unwrap(), reap);
    }

    #[test]
    fn new_records_carry_zookeepers_sequence_numbering_old_ones_do_not() {
        let header = TxnHeader {
            session: SessionId(1),
            cxid: 2,
            zxid: Zxid(3),
            time_ms: 4,
            conn_ids: Vec::new(),
            legacy_sequence: false,
        };
        let t = Txn {
            header,
            op: TxnOp::Create {
                path: "/s-".into(),
                data: Bytes::new().into(),
                mode: CreateMode::PersistentSequential,
                acl: Acl::open(),
            },
        };
        let bytes = t.encode();
        // header (session 1 = zigzag 2, cxid 2 = 4, zxid 3, time 4 = 8), then envelope 9.
        assert_eq!(&bytes[..5], &[2, 4, 3, 8, 9]);
        let back = Txn::decode(&bytes).unwrap();
        assert!(!back.header.legacy_sequence);
        assert_eq!(back, t);
        // The same record in envelope 8 (as an older build wrote it) replays the old way.
        let mut old = bytes.clone();
        old[4] = 8;
        assert!(Txn::decode(&old).unwrap().header.legacy_sequence);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Txn::decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(Txn::decode(&[]).is_err());
    }
}

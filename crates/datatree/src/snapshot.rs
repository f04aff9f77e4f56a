//! Snapshots: a frozen copy of the state, streamed out and read back.
//!
//! Format (all integers little-endian):
//!
//! ```text
//! header    magic "PDKTREE\0" | format version u32 (=3) | last_zxid u64
//! sessions  count u64, then per session: id i64 | timeout_ms i32 | password [16] |
//!           auth count u32, then per id: scheme str | id str
//! acls      last reference u32 | count u64, then per list, by reference:
//!           reference u32 | entries u32, then per entry: perms i32 | scheme str | id str
//! nodes     count u64, then per node, parents before children (map order, see `key`):
//!           path_len u32 | path | czxid mzxid pzxid ctime mtime ephemeral_owner i64 |
//!           version cversion aversion num_children i32 | acl reference u32 | data_len u32 | data
//!           (data_len 0xFFFFFFFF: null data, no bytes follow)
//! trailer   crc32 of everything above, u32
//!
//! str = len u32 | UTF-8 bytes
//! ```
//!
//! Version 1 (before ACLs) had no auth ids, no acls section and no acl reference; it is still
//! read (every node open, no session authenticated). Version 2 is version 3 without null data
//! (its data_len is always a length); still read.
//!
//! Reading checks everything it relies on — magic, version, strictly increasing valid paths,
//! the root first, parents present and not ephemeral, ephemeral owners open, child counts, the
//! checksum — so garbage is an error rather than a tree that misbehaves later. Lengths are never
//! trusted for allocation: variable fields are read through `Read::take`, so memory only grows
//! with bytes actually present, and counts only bound loops.

use std::io::{self, BufReader, BufWriter, Read, Write};

use paddock_types::path::{self as zkpath};
use paddock_types::NodeKind;
use paddock_types::{validate_path, Acl, Data, Id, SessionId, Zxid, PASSWORD_LEN};

use crate::key::{self, NodeKey};
use crate::record::{NodeRecord, NodeStat};
use crate::session::{SessionEntry, SessionInfo};
use crate::state::State;
use crate::tree::DataTree;

const MAGIC: [u8; 8] = *b"PDKTREE\0";
const FORMAT_VERSION: u32 = 3;
/// The format before null data, still read.
const FORMAT_V2: u32 = 2;
/// The format before ACLs, still read.
const FORMAT_V1: u32 = 1;
/// `data_len` of a node whose data is null (as jute's -1 buffer length).
const NULL_DATA_LEN: u32 = u32::MAX;
const IO_BUFFER_BYTES: usize = 64 * 1024;

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot read failed: {0}")]
    Io(#[source] io::Error),
    #[error("snapshot is truncated")]
    Truncated,
    #[error("not a Paddock tree snapshot (bad magic)")]
    BadMagic,
    #[error("unsupported snapshot format version {0} (this build reads 1 to {FORMAT_VERSION})")]
    UnsupportedVersion(u32),
    #[error("snapshot checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum { stored: u32, computed: u32 },
    #[error("corrupt snapshot: {0}")]
    Corrupt(String),
}

impl From<io::Error> for SnapshotError {
    fn from(e: io::Error) -> SnapshotError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            SnapshotError::Truncated
        } else {
            SnapshotError::Io(e)
        }
    }
}

fn corrupt(why: impl Into<String>) -> SnapshotError {
    SnapshotError::Corrupt(why.into())
}

/// A frozen copy of a tree's nodes, sessions and last zxid (no watches). `Send + 'static`: hand it
/// to another thread and write it out while the tree keeps applying.
#[derive(Clone)]
pub struct TreeSnapshot {
    state: State,
    last_zxid: Zxid,
}

impl TreeSnapshot {
    pub(crate) fn new(state: State, last_zxid: Zxid) -> TreeSnapshot {
        TreeSnapshot { state, last_zxid }
    }

    /// The zxid of the last transaction reflected in this snapshot.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// Number of znodes in the snapshot.
    pub fn node_count(&self) -> usize {
        self.state.nodes.len()
    }

    /// A live tree with this content (O(1), no watches), e.g. to restore in-process.
    pub fn to_tree(&self) -> DataTree {
        DataTree::from_parts(self.state.clone(), self.last_zxid)
    }

    /// Streams the snapshot (format in the module doc) through a buffer; never holds the whole
    /// encoding in memory. Flushes `w` at the end.
    pub fn write_to(&self, w: &mut dyn Write) -> io::Result<()> {
        let mut out = CrcWriter {
            inner: BufWriter::with_capacity(IO_BUFFER_BYTES, w),
            crc: crc32fast::Hasher::new(),
        };
        out.write_all(&MAGIC)?;
        out.write_all(&FORMAT_VERSION.to_le_bytes())?;
        out.write_all(&self.last_zxid.0.to_le_bytes())?;

        out.write_all(&(self.state.sessions.len() as u64).to_le_bytes())?;
        for (id, entry) in &self.state.sessions {
            out.write_all(&id.0.to_le_bytes())?;
            out.write_all(&entry.info.timeout_ms.to_le_bytes())?;
            out.write_all(&entry.info.password)?;
            out.write_all(&len_u32(entry.auth.len())?.to_le_bytes())?;
            for id in &entry.auth {
                write_id(&mut out, id)?;
            }
        }

        out.write_all(&self.state.acls.last().to_le_bytes())?;
        out.write_all(&(self.state.acls.len() as u64).to_le_bytes())?;
        for (r, list, _) in self.state.acls.entries() {
            out.write_all(&r.to_le_bytes())?;
            out.write_all(&len_u32(list.len())?.to_le_bytes())?;
            for a in list.iter() {
                out.write_all(&a.perms.to_le_bytes())?;
                write_id(&mut out, &a.id)?;
            }
        }

        out.write_all(&(self.state.nodes.len() as u64).to_le_bytes())?;
        let mut buf = Vec::with_capacity(256);
        for (key, record) in &self.state.nodes {
            buf.clear();
            let path = key.path();
            buf.extend_from_slice(&len_u32(path.len())?.to_le_bytes());
            buf.extend_from_slice(path.as_bytes());
            let s = record.stat();
            for v in [
                s.czxid,
                s.mzxid,
                s.pzxid,
                s.ctime,
                s.mtime,
                s.ephemeral_owner,
            ] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            for v in [s.version, s.cversion, s.aversion, s.num_children] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            buf.extend_from_slice(&s.acl.to_le_bytes());
            let data_len = if record.is_null() {
                NULL_DATA_LEN
            } else {
                len_u32(record.data().len())?
            };
            buf.extend_from_slice(&data_len.to_le_bytes());
            out.write_all(&buf)?;
            out.write_all(record.data())?;
        }

        let crc = out.crc.finalize();
        let mut inner = out.inner;
        inner.write_all(&crc.to_le_bytes())?;
        inner.flush()
    }
}

fn write_str(out: &mut dyn Write, s: &str) -> io::Result<()> {
    out.write_all(&len_u32(s.len())?.to_le_bytes())?;
    out.write_all(s.as_bytes())
}

fn write_id(out: &mut dyn Write, id: &Id) -> io::Result<()> {
    write_str(out, &id.scheme)?;
    write_str(out, &id.id)
}

fn len_u32(len: usize) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "field over 4 GiB"))
}

struct CrcWriter<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct CrcReader<R: Read> {
    inner: R,
    crc: crc32fast::Hasher,
}

impl<R: Read> Read for CrcReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

impl<R: Read> CrcReader<R> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut b = [0u8; N];
        self.read_exact(&mut b)?;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, SnapshotError> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// `len` bytes, allocated only as they arrive (a lying length on a short input costs nothing).
    fn bytes(&mut self, len: u32) -> Result<Vec<u8>, SnapshotError> {
        let mut v = Vec::new();
        (&mut *self).take(u64::from(len)).read_to_end(&mut v)?;
        if v.len() != len as usize {
            return Err(SnapshotError::Truncated);
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, SnapshotError> {
        let len = self.u32()?;
        String::from_utf8(self.bytes(len)?).map_err(|_| corrupt("a string is not UTF-8"))
    }

    fn id(&mut self) -> Result<Id, SnapshotError> {
        Ok(Id::new(self.string()?, self.string()?))
    }
}

pub(crate) fn read(r: &mut dyn Read) -> Result<DataTree, SnapshotError> {
    let mut rd = CrcReader {
        inner: BufReader::with_capacity(IO_BUFFER_BYTES, r),
        crc: crc32fast::Hasher::new(),
    };
    if rd.array::<8>()? != MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    let version = rd.u32()?;
    if version != FORMAT_VERSION && version != FORMAT_V2 && version != FORMAT_V1 {
        return Err(SnapshotError::UnsupportedVersion(version));
    }
    let v1 = version == FORMAT_V1;
    let last_zxid = Zxid(rd.u64()?);
    let mut state = State::empty();
    read_sessions(&mut rd, &mut state, v1)?;
    if !v1 {
        read_acls(&mut rd, &mut state)?;
    }
    read_nodes(&mut rd, &mut state, v1)?;
    crate::quota::rebuild(&mut state);
    if state.acls.has_unheld() {
        return Err(corrupt("an ACL list no node refers to"));
    }

    let computed = rd.crc.clone().finalize();
    let stored = u32::from_le_bytes({
        let mut b = [0u8; 4];
        rd.inner.read_exact(&mut b)?;
        b
    });
    if stored != computed {
        return Err(SnapshotError::Checksum { stored, computed });
    }
    Ok(DataTree::from_parts(state, last_zxid))
}

fn read_acls<R: Read>(rd: &mut CrcReader<R>, state: &mut State) -> Result<(), SnapshotError> {
    let last = rd.u32()?;
    let count = rd.u64()?;
    let mut previous = 0;
    for _ in 0..count {
        let r = rd.u32()?;
        if r <= previous || r > last {
            return Err(corrupt(format!(
                "ACL reference {r} out of order or above {last}"
            )));
        }
        previous = r;
        let entries = rd.u32()?;
        let mut list = Vec::new();
        for _ in 0..entries {
            let perms = rd.i32()?;
            list.push(Acl::new(perms, rd.id()?));
        }
        if list.is_empty() || !state.acls.restore(r, list) {
            return Err(corrupt(format!("ACL list {r} is empty or repeated")));
        }
    }
    state.acls.set_last(last);
    Ok(())
}

fn read_sessions<R: Read>(
    rd: &mut CrcReader<R>,
    state: &mut State,
    v1: bool,
) -> Result<(), SnapshotError> {
    let count = rd.u64()?;
    for _ in 0..count {
        let id = SessionId(rd.i64()?);
        let timeout_ms = rd.i32()?;
        let password = rd.array::<PASSWORD_LEN>()?;
        if id == SessionId::NONE {
            return Err(corrupt("session id 0"));
        }
        let mut entry = SessionEntry::new(SessionInfo {
            timeout_ms,
            password,
        });
        if !v1 {
            for _ in 0..rd.u32()? {
                entry.auth.push(rd.id()?);
            }
        }
        if state.sessions.insert(id, entry).is_some() {
            return Err(corrupt(format!("session {id} appears twice")));
        }
    }
    Ok(())
}

/// One node as stored.
pub(crate) struct RawNode {
    pub(crate) path: String,
    pub(crate) stat: NodeStat,
    pub(crate) data: Vec<u8>,
    /// The data is null (`data` is empty).
    pub(crate) null: bool,
}

fn read_node<R: Read>(rd: &mut CrcReader<R>, v1: bool) -> Result<RawNode, SnapshotError> {
    let path_len = rd.u32()?;
    let path =
        String::from_utf8(rd.bytes(path_len)?).map_err(|_| corrupt("a path is not UTF-8"))?;
    // Struct literal fields are evaluated in the order written, which is the format's order.
    let stat = NodeStat {
        czxid: rd.i64()?,
        mzxid: rd.i64()?,
        pzxid: rd.i64()?,
        ctime: rd.i64()?,
        mtime: rd.i64()?,
        ephemeral_owner: rd.i64()?,
        version: rd.i32()?,
        cversion: rd.i32()?,
        aversion: rd.i32()?,
        num_children: rd.i32()?,
        acl: if v1 { 0 } else { rd.u32()? },
    };
    // A length of 0xFFFFFFFF (more than a data field can hold) is null in every version: the
    // older ones never wrote it.
    let data_len = rd.u32()?;
    let null = data_len == NULL_DATA_LEN;
    let data = if null {
        Vec::new()
    } else {
        rd.bytes(data_len)?
    };
    Ok(RawNode {
        path,
        stat,
        data,
        null,
    })
}

fn read_nodes<R: Read>(
    rd: &mut CrcReader<R>,
    state: &mut State,
    v1: bool,
) -> Result<(), SnapshotError> {
    let count = rd.u64()?;
    let mut loader = Loader::default();
    for _ in 0..count {
        let node = read_node(rd, v1)?;
        loader.add(state, node)?;
    }
    loader.finish(state)
}

/// Checks nodes as they are loaded, in stream order, and inserts them.
#[derive(Default)]
pub(crate) struct Loader {
    /// The last key inserted: keys must strictly increase (sorted, no repeats).
    previous: Option<NodeKey>,
    /// The current run of siblings (map order keeps them together) and their parent's count.
    run: Option<SiblingRun>,
    /// Sum of every node's `num_children`.
    total_children: i64,
}

struct SiblingRun {
    parent_key: String,
    expected: i32,
    seen: i64,
}

impl SiblingRun {
    fn check(&self) -> Result<(), SnapshotError> {
        if i64::from(self.expected) != self.seen {
            let parent = key::decode(&self.parent_key);
            let (expected, seen) = (self.expected, self.seen);
            return Err(corrupt(format!(
                "{parent} records {expected} children but has {seen}"
            )));
        }
        Ok(())
    }
}

impl Loader {
    pub(crate) fn add(&mut self, state: &mut State, node: RawNode) -> Result<(), SnapshotError> {
        let RawNode {
            path,
            stat,
            data,
            null,
        } = node;
        validate_path(&path, false).map_err(|e| corrupt(e.message))?;
        let node_key = key::encode(&path).ok_or_else(|| corrupt(format!("bad path {path:?}")))?;
        match &self.previous {
            None if path != "/" => return Err(corrupt("the first node is not the root")),
            Some(prev) if node_key.as_str() <= prev.as_str() => {
                return Err(corrupt(format!("{path} is out of order or repeated")));
            }
            _ => {}
        }
        self.check_stat(state, &path, &stat)?;
        if !state.acls.hold(stat.acl) {
            return Err(corrupt(format!(
                "{path} refers to unknown ACL {}",
                stat.acl
            )));
        }
        if path != "/" {
            self.count_child(state, &path)?;
        }
        let node_key = NodeKey::from_encoded(node_key);
        let data = if null { Data::NULL } else { Data::from(data) };
        state.insert(node_key.clone(), NodeRecord::with_data(&stat, &data));
        self.previous = Some(node_key);
        Ok(())
    }

    fn check_stat(
        &mut self,
        state: &State,
        path: &str,
        stat: &NodeStat,
    ) -> Result<(), SnapshotError> {
        if stat.num_children < 0 {
            return Err(corrupt(format!("{path} has a negative child count")));
        }
        self.total_children += i64::from(stat.num_children);
        if NodeKind::from_owner(stat.ephemeral_owner).is_ephemeral() {
            if stat.num_children != 0 {
                return Err(corrupt(format!("ephemeral {path} has children")));
            }
            if !state
                .sessions
                .contains_key(&SessionId(stat.ephemeral_owner))
            {
                return Err(corrupt(format!(
                    "{path} is owned by a session that is not open"
                )));
            }
        }
        Ok(())
    }

    /// Counts `path` as a child of its parent, which must already be loaded.
    fn count_child(&mut self, state: &State, path: &str) -> Result<(), SnapshotError> {
        let parent_key = key::encode(zkpath::parent(path)).unwrap_or_default();
        if let Some(run) = self.run.as_mut().filter(|r| r.parent_key == parent_key) {
            run.seen += 1;
            return Ok(());
        }
        if let Some(done) = self.run.take() {
            done.check()?;
        }
        let parent = state
            .node_by_key(&parent_key)
            .ok_or_else(|| corrupt(format!("{path} comes without its parent")))?
            .stat();
        self.run = Some(SiblingRun {
            parent_key,
            expected: parent.num_children,
            seen: 1,
        });
        Ok(())
    }

    pub(crate) fn finish(mut self, state: &State) -> Result<(), SnapshotError> {
        if self.previous.is_none() {
            return Err(corrupt("no root node"));
        }
        if let Some(done) = self.run.take() {
            done.check()?;
        }
        // Each parent with children was checked against its run; the others must all be zero.
        if self.total_children != state.nodes.len() as i64 - 1 {
            return Err(corrupt("child counts do not match the nodes present"));
        }
        Ok(())
    }
}

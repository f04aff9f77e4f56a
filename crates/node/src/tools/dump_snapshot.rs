//! `paddock dump snapshot`: a snapshot's znodes (path, Stat, data, ACL), sessions (timeout,
//! ephemerals), last zxid and digest — as text in the manner of ZooKeeper's
//! `SnapshotFormatter`, or as one JSON document (`--json`).
//!
//! Nodes come depth first from `/`, children in byte order; sessions by id. Zxids and session
//! ids are `0x` hex strings in both forms (session ids carry the server id in their top byte:
//! too large for a JSON number to keep exactly).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use paddock_datatree::DataTree;
use paddock_storage::{open_snapshot_file, snapshot_files, SNAPSHOT_DIR};
use paddock_types::{Id, SessionId, Stat};

use super::text::{self, Obj, Preview};
use super::DAMAGED;

/// How to print.
#[derive(Debug, Clone, Copy)]
pub struct Format {
    pub json: bool,
    /// Bytes of each node's data shown (0: none).
    pub data_limit: usize,
}

/// A snapshot read and verified, with where it came from.
pub struct Loaded {
    pub path: PathBuf,
    pub tree: DataTree,
    pub payload_len: u64,
}

/// Why a snapshot could not be dumped, with the exit status it means.
pub struct Failure {
    pub message: String,
    pub code: u8,
}

/// Reads `file`, verifying its trailer checksum and then the tree's own checks.
pub fn load_file(file: &Path) -> Result<Loaded, Failure> {
    let damaged = |message: String| Failure {
        message,
        code: DAMAGED,
    };
    let (info, mut reader) = open_snapshot_file(file).map_err(|e| match e {
        paddock_storage::StorageError::CorruptFile { .. } => damaged(e.to_string()),
        other => Failure {
            message: other.to_string(),
            code: 1,
        },
    })?;
    let tree = DataTree::read_snapshot(&mut reader)
        .map_err(|e| damaged(format!("{}: {e}", file.display())))?;
    if tree.last_zxid() != info.zxid {
        return Err(damaged(format!(
            "{}: the trailer names zxid {} but the tree inside is at {}",
            file.display(),
            info.zxid,
            tree.last_zxid()
        )));
    }
    Ok(Loaded {
        path: file.to_path_buf(),
        tree,
        payload_len: info.payload_len,
    })
}

/// The newest snapshot of `data_dir` that verifies; older ones are tried after a damaged one
/// (each named on stderr), as a server does. Read in place: committed snapshot files never
/// change, so this works while a server runs.
pub fn load_newest(data_dir: &Path) -> Result<Loaded, Failure> {
    let dir = data_dir.join(SNAPSHOT_DIR);
    let files = snapshot_files(&dir).map_err(|e| Failure {
        message: format!("no snapshots to read in {}: {e}", data_dir.display()),
        code: 1,
    })?;
    let mut damaged = 0;
    for (_, path) in &files {
        match load_file(path) {
            Ok(loaded) => {
                if damaged > 0 {
                    eprintln!("paddock dump snapshot: using the older {}", path.display());
                }
                return Ok(loaded);
            }
            // Purged by a running server since it was listed: try the next.
            Err(_) if !path.exists() => continue,
            Err(f) if f.code == DAMAGED => {
                eprintln!(
                    "paddock dump snapshot: skipping a damaged snapshot: {}",
                    f.message
                );
                damaged += 1;
            }
            Err(f) => return Err(f),
        }
    }
    Err(Failure {
        message: if damaged > 0 {
            format!("every snapshot in {} is damaged", dir.display())
        } else {
            format!(
                "{} holds no snapshot yet (the state is all in the txn log: `paddock dump log`)",
                dir.display()
            )
        },
        code: if damaged > 0 { DAMAGED } else { 1 },
    })
}

/// `paddock dump snapshot [FILE]`: `file`, or else the newest snapshot of `data_dir`.
pub fn run(file: Option<&Path>, data_dir: &Path, format: Format) -> ExitCode {
    let loaded = match file {
        Some(f) => load_file(f),
        None => load_newest(data_dir),
    };
    let loaded = match loaded {
        Ok(l) => l,
        Err(f) => {
            eprintln!("paddock dump snapshot: {}", f.message);
            return ExitCode::from(f.code);
        }
    };
    let out = io::stdout();
    let mut out = io::BufWriter::new(out.lock());
    let written = if format.json {
        write_json(&mut out, &loaded, format.data_limit)
    } else {
        write_text(&mut out, &loaded, format.data_limit)
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is not a failure of the dump.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paddock dump snapshot: cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One node of the walk.
struct NodeView {
    path: String,
    stat: Stat,
    data: paddock_types::Data,
    acl: Vec<paddock_types::Acl>,
}

/// Every node, depth first from `/`, children in byte order, handed to `f`.
fn walk(tree: &DataTree, mut f: impl FnMut(NodeView) -> io::Result<()>) -> io::Result<()> {
    let super_user = [Id::super_user()];
    let mut stack = vec!["/".to_string()];
    while let Some(path) = stack.pop() {
        let Ok((data, stat)) = tree.get_data(&path, None) else {
            continue;
        };
        let acl = tree
            .get_acl(&path, SessionId(0), &super_user)
            .map(|(a, _)| a)
            .unwrap_or_default();
        if let Ok((mut children, _)) = tree.get_children(&path, None) {
            children.sort_unstable_by(|a, b| b.cmp(a));
            for c in children {
                stack.push(if path == "/" {
                    format!("/{c}")
                } else {
                    format!("{path}/{c}")
                });
            }
        }
        f(NodeView {
            path,
            stat,
            data,
            acl,
        })?;
    }
    Ok(())
}

fn write_text(out: &mut dyn Write, l: &Loaded, data_limit: usize) -> io::Result<()> {
    let tree = &l.tree;
    writeln!(
        out,
        "Snapshot {} (zxid {}, {} bytes, checksums verified)",
        l.path.display(),
        tree.last_zxid(),
        l.payload_len
    )?;
    writeln!(out, "ZNode Details (count={}):", tree.node_count())?;
    walk(tree, |n| {
        let s = &n.stat;
        writeln!(out, "----")?;
        writeln!(out, "{}", n.path)?;
        writeln!(out, "  cZxid = {}", text::hex(s.czxid))?;
        writeln!(out, "  ctime = {}", text::time(s.ctime))?;
        writeln!(out, "  mZxid = {}", text::hex(s.mzxid))?;
        writeln!(out, "  mtime = {}", text::time(s.mtime))?;
        writeln!(out, "  pZxid = {}", text::hex(s.pzxid))?;
        writeln!(out, "  cversion = {}", s.cversion)?;
        writeln!(out, "  dataVersion = {}", s.version)?;
        writeln!(out, "  aclVersion = {}", s.aversion)?;
        writeln!(out, "  ephemeralOwner = {}", text::hex(s.ephemeral_owner))?;
        writeln!(out, "  dataLength = {}", s.data_length)?;
        writeln!(out, "  numChildren = {}", s.num_children)?;
        writeln!(out, "  acl = {}", text::acl(&n.acl))?;
        if n.data.is_null() {
            writeln!(out, "  data = null")?;
        } else if data_limit > 0 && !n.data.is_empty() {
            let p = text::preview(&n.data, data_limit);
            let more = if p.truncated { " ..." } else { "" };
            match p.preview {
                Preview::Text(t) => writeln!(out, "  data = {t:?}{more}")?,
                Preview::Base64(b) => writeln!(out, "  data (base64) = {b}{more}")?,
            }
        }
        Ok(())
    })?;
    writeln!(out, "----")?;
    let sessions = tree.sessions();
    writeln!(
        out,
        "Session Details (sid, timeout, ephemeralCount): count={}",
        sessions.len()
    )?;
    for (id, info) in &sessions {
        let ephemerals = tree.ephemerals(*id);
        writeln!(out, "{id}, {}, {}", info.timeout_ms, ephemerals.len())?;
        for e in ephemerals {
            writeln!(out, "  {e}")?;
        }
    }
    writeln!(out, "----")?;
    writeln!(out, "Last zxid: {}", tree.last_zxid())?;
    writeln!(out, "Digest: {:016x}", tree.digest())?;
    Ok(())
}

fn write_json(out: &mut dyn Write, l: &Loaded, data_limit: usize) -> io::Result<()> {
    let tree = &l.tree;
    // Streamed: the document can be as large as the tree.
    write!(
        out,
        "{{\"file\":{},\"zxid\":\"{}\",\"digest\":\"{:016x}\",\"payload_bytes\":{},\"node_count\":{},\"nodes\":[",
        serde_json::to_string(&l.path.display().to_string())?,
        tree.last_zxid(),
        tree.digest(),
        l.payload_len,
        tree.node_count()
    )?;
    let mut first = true;
    walk(tree, |n| {
        let s = &n.stat;
        let mut node = Obj::new();
        node.put("path", n.path)
            .put("czxid", text::hex(s.czxid))
            .put("ctime", s.ctime)
            .put("mzxid", text::hex(s.mzxid))
            .put("mtime", s.mtime)
            .put("pzxid", text::hex(s.pzxid))
            .put("cversion", s.cversion)
            .put("version", s.version)
            .put("aversion", s.aversion)
            .put("ephemeral_owner", text::hex(s.ephemeral_owner))
            .put("num_children", s.num_children)
            .put_objs("acl", text::acl_objs(&n.acl));
        text::put_data(&mut node, &n.data, data_limit);
        if !std::mem::take(&mut first) {
            out.write_all(b",")?;
        }
        write!(out, "\n{}", node.to_json())
    })?;
    out.write_all(b"\n],\"sessions\":[")?;
    for (i, (id, info)) in tree.sessions().iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        let mut s = Obj::new();
        s.put("id", id.to_string())
            .put("timeout_ms", info.timeout_ms)
            .put("ephemerals", tree.ephemerals(*id));
        write!(out, "\n{}", s.to_json())?;
    }
    out.write_all(b"\n]}\n")?;
    Ok(())
}

//! `paddock dump log`: the txn log of a data directory, one line per transaction — time,
//! session, cxid, zxid, type, path and the fields that matter — in the manner of ZooKeeper's
//! `TxnLogToolkit`, or one JSON object per line (`--json`).
//!
//! The log is read from a private copy (`offline.rs`), verified as a server verifies it; only
//! records that verify are printed. On a damaged directory the damage report goes to stderr,
//! the verified records are printed, and the exit status is 3.

use std::io::{self, Write};
use std::process::ExitCode;

use paddock_storage::TxnLog;
use paddock_types::op::{CreateMode, MultiOp};
use paddock_types::{Acl, Id, Txn, TxnOp, Zxid};
use serde_json::{json, Map, Value};

use super::offline::{self, Opened, Source};
use super::text::{self, Preview};
use super::DAMAGED;

/// Records read from the log at a time.
const BATCH: usize = 1024;

/// `paddock dump log`.
pub fn run(source: &Source, json: bool, data_limit: usize) -> ExitCode {
    let (copy, damaged) = match offline::open_copy(source) {
        Ok(Opened::Healthy(c)) => (c, false),
        Ok(Opened::Damaged(damage, c)) => {
            eprintln!("paddock dump log: {damage}");
            eprintln!("paddock dump log: printing the verified records only");
            (c, true)
        }
        Err(e) => {
            eprintln!("paddock dump log: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(why) = &copy.report.rebuilt {
        eprintln!(
            "paddock dump log: note: a server would rebuild this log at start ({why}); nothing \
             it had synced is lost; the records below are what it would keep"
        );
    }
    let log = copy.data.log();
    let out = io::stdout();
    let mut out = io::BufWriter::new(out.lock());
    let result = (|| -> anyhow::Result<u64> {
        if !json {
            let records = match log.first_zxid() {
                Some(first) => format!("records {first} through {}", log.last_logged_zxid()),
                None => format!("no records; it continues after {}", log.last_logged_zxid()),
            };
            writeln!(
                out,
                "Paddock txn log {} ({records}; newest snapshot {})",
                source
                    .log_parent()
                    .join(paddock_storage::TXNLOG_DIR)
                    .display(),
                copy.report
                    .latest_snapshot
                    .map_or("none".to_string(), |z| z.to_string())
            )?;
        }
        let mut after = Zxid::ZERO;
        let mut count = 0u64;
        loop {
            let batch = log.read_after(after, BATCH)?;
            let Some(&(last, _)) = batch.last() else {
                break;
            };
            for (zxid, bytes) in &batch {
                match Txn::decode_at(bytes, *zxid) {
                    Ok(txn) if json => {
                        serde_json::to_writer(&mut out, &txn_json(&txn, data_limit))?;
                        writeln!(out)?;
                    }
                    Ok(txn) => writeln!(out, "{}", txn_line(&txn, data_limit))?,
                    Err(e) if json => {
                        let v = json!({"zxid": zxid.to_string(), "error": e.to_string()});
                        serde_json::to_writer(&mut out, &v)?;
                        writeln!(out)?;
                    }
                    Err(e) => writeln!(out, "zxid {zxid} UNDECODABLE: {e}")?,
                }
                count += 1;
            }
            after = last;
        }
        if !json {
            writeln!(out, "EOF reached after {count} txns.")?;
        }
        out.flush()?;
        Ok(count)
    })();
    match result {
        Ok(_) if damaged => ExitCode::from(DAMAGED),
        Ok(_) => ExitCode::SUCCESS,
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("paddock dump log: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// ZooKeeper's name of an operation (its `OpCode`), Paddock's own for the ones it lacks.
fn op_name(op: &TxnOp) -> &'static str {
    match op {
        TxnOp::CreateSession { .. } => "createSession",
        TxnOp::CloseSession => "closeSession",
        TxnOp::Create { .. } => "create",
        TxnOp::Delete { .. } => "delete",
        TxnOp::SetData { .. } => "setData",
        TxnOp::Multi(_) => "multi",
        TxnOp::Sync { .. } => "sync",
        TxnOp::MoveSession { .. } => "moveSession",
        TxnOp::SetAcl { .. } => "setACL",
        TxnOp::AddAuth { .. } => "addAuth",
        TxnOp::DeleteContainer { .. } => "deleteContainer",
    }
}

fn mode_name(mode: &CreateMode) -> String {
    match mode {
        CreateMode::Persistent => "persistent".into(),
        CreateMode::PersistentSequential => "persistent_sequential".into(),
        CreateMode::Ephemeral => "ephemeral".into(),
        CreateMode::EphemeralSequential => "ephemeral_sequential".into(),
        CreateMode::Container => "container".into(),
        CreateMode::PersistentWithTtl { ttl_ms } => format!("persistent_ttl({ttl_ms}ms)"),
        CreateMode::PersistentSequentialWithTtl { ttl_ms } => {
            format!("persistent_sequential_ttl({ttl_ms}ms)")
        }
    }
}

fn ids_text(ids: &[Id]) -> String {
    ids.iter()
        .map(|i| format!("{}:{}", i.scheme, i.id))
        .collect::<Vec<_>>()
        .join(",")
}

fn data_text(data: &[u8], limit: usize) -> String {
    if limit == 0 || data.is_empty() {
        return format!("data_len={}", data.len());
    }
    let p = text::preview(data, limit);
    let more = if p.truncated { "..." } else { "" };
    match p.preview {
        Preview::Text(t) => format!("data_len={} data={t:?}{more}", data.len()),
        Preview::Base64(b) => format!("data_len={} data_base64={b}{more}", data.len()),
    }
}

/// What follows the type on a text line: the path first, then `key=value` fields.
fn op_fields(op: &TxnOp, limit: usize) -> String {
    match op {
        TxnOp::CreateSession { timeout_ms, .. } => format!("timeout={timeout_ms}"),
        TxnOp::CloseSession => String::new(),
        TxnOp::Create {
            path,
            data,
            mode,
            acl,
        } => format!(
            "{path} {} mode={} acl={}",
            data_text(data, limit),
            mode_name(mode),
            text::acl(acl)
        ),
        TxnOp::Delete { path, version } => format!("{path} version={version}"),
        TxnOp::SetData {
            path,
            data,
            version,
        } => format!("{path} {} version={version}", data_text(data, limit)),
        TxnOp::Multi(ops) => {
            let inner: Vec<String> = ops.iter().map(|o| multi_op_text(o, limit)).collect();
            format!("ops={} [{}]", ops.len(), inner.join("; "))
        }
        TxnOp::Sync { path } => path.clone(),
        TxnOp::MoveSession { owner } => format!("owner={owner}"),
        TxnOp::SetAcl { path, acl, version } => {
            format!("{path} acl={} version={version}", text::acl(acl))
        }
        TxnOp::AddAuth { ids } => format!("ids={}", ids_text(ids)),
        TxnOp::DeleteContainer {
            path,
            czxid,
            version,
            cversion,
        } => format!(
            "{path} czxid={} version={version} cversion={cversion}",
            text::hex(*czxid)
        ),
    }
}

fn multi_op_text(op: &MultiOp, limit: usize) -> String {
    match op {
        MultiOp::Create {
            path,
            data,
            mode,
            acl,
        } => format!(
            "create {path} {} mode={} acl={}",
            data_text(data, limit),
            mode_name(mode),
            text::acl(acl)
        ),
        MultiOp::Delete { path, version } => format!("delete {path} version={version}"),
        MultiOp::SetData {
            path,
            data,
            version,
        } => format!(
            "setData {path} {} version={version}",
            data_text(data, limit)
        ),
        MultiOp::Check { path, version } => format!("check {path} version={version}"),
    }
}

/// One text line: `time session S cxid C zxid Z type fields`.
pub fn txn_line(txn: &Txn, limit: usize) -> String {
    let h = &txn.header;
    let mut line = format!(
        "{} session {} cxid {} zxid {} {}",
        text::time(h.time_ms),
        h.session,
        text::hex(h.cxid),
        h.zxid,
        op_name(&txn.op)
    );
    let fields = op_fields(&txn.op, limit);
    if !fields.is_empty() {
        line.push(' ');
        line.push_str(&fields);
    }
    if !h.conn_ids.is_empty() {
        line.push_str(&format!(" conn={}", ids_text(&h.conn_ids)));
    }
    line
}

fn acl_json(acl: &[Acl]) -> Value {
    acl.iter()
        .map(|a| {
            json!({
                "scheme": a.id.scheme,
                "id": a.id.id,
                "perms": paddock_types::acl::perms_string(a.perms),
            })
        })
        .collect()
}

fn data_json(m: &mut Map<String, Value>, data: &[u8], limit: usize) {
    m.insert("data_length".into(), data.len().into());
    if limit > 0 && !data.is_empty() {
        let p = text::preview(data, limit);
        m.insert("data_truncated".into(), p.truncated.into());
        match p.preview {
            Preview::Text(t) => m.insert("data".into(), t.into()),
            Preview::Base64(b) => m.insert("data_base64".into(), b.into()),
        };
    }
}

fn op_json(m: &mut Map<String, Value>, op: &TxnOp, limit: usize) {
    match op {
        TxnOp::CreateSession { timeout_ms, .. } => {
            m.insert("timeout_ms".into(), (*timeout_ms).into());
        }
        TxnOp::CloseSession => {}
        TxnOp::Create {
            path,
            data,
            mode,
            acl,
        } => {
            m.insert("path".into(), path.clone().into());
            data_json(m, data, limit);
            m.insert("mode".into(), mode_name(mode).into());
            m.insert("acl".into(), acl_json(acl));
        }
        TxnOp::Delete { path, version } => {
            m.insert("path".into(), path.clone().into());
            m.insert("version".into(), (*version).into());
        }
        TxnOp::SetData {
            path,
            data,
            version,
        } => {
            m.insert("path".into(), path.clone().into());
            data_json(m, data, limit);
            m.insert("version".into(), (*version).into());
        }
        TxnOp::Multi(ops) => {
            let list: Vec<Value> = ops
                .iter()
                .map(|o| {
                    let mut inner = Map::new();
                    match o {
                        MultiOp::Create {
                            path,
                            data,
                            mode,
                            acl,
                        } => {
                            inner.insert("type".into(), "create".into());
                            inner.insert("path".into(), path.clone().into());
                            data_json(&mut inner, data, limit);
                            inner.insert("mode".into(), mode_name(mode).into());
                            inner.insert("acl".into(), acl_json(acl));
                        }
                        MultiOp::Delete { path, version } => {
                            inner.insert("type".into(), "delete".into());
                            inner.insert("path".into(), path.clone().into());
                            inner.insert("version".into(), (*version).into());
                        }
                        MultiOp::SetData {
                            path,
                            data,
                            version,
                        } => {
                            inner.insert("type".into(), "setData".into());
                            inner.insert("path".into(), path.clone().into());
                            data_json(&mut inner, data, limit);
                            inner.insert("version".into(), (*version).into());
                        }
                        MultiOp::Check { path, version } => {
                            inner.insert("type".into(), "check".into());
                            inner.insert("path".into(), path.clone().into());
                            inner.insert("version".into(), (*version).into());
                        }
                    }
                    Value::Object(inner)
                })
                .collect();
            m.insert("ops".into(), list.into());
        }
        TxnOp::Sync { path } => {
            m.insert("path".into(), path.clone().into());
        }
        TxnOp::MoveSession { owner } => {
            m.insert("owner".into(), (*owner).into());
        }
        TxnOp::SetAcl { path, acl, version } => {
            m.insert("path".into(), path.clone().into());
            m.insert("acl".into(), acl_json(acl));
            m.insert("version".into(), (*version).into());
        }
        TxnOp::AddAuth { ids } => {
            let ids: Vec<String> = ids
                .iter()
                .map(|i| format!("{}:{}", i.scheme, i.id))
                .collect();
            m.insert("ids".into(), ids.into());
        }
        TxnOp::DeleteContainer {
            path,
            czxid,
            version,
            cversion,
        } => {
            m.insert("path".into(), path.clone().into());
            m.insert("czxid".into(), text::hex(*czxid).into());
            m.insert("version".into(), (*version).into());
            m.insert("cversion".into(), (*cversion).into());
        }
    }
}

/// One JSON object: the header fields, `type`, then the operation's.
pub fn txn_json(txn: &Txn, limit: usize) -> Value {
    let h = &txn.header;
    let mut m = Map::new();
    m.insert("zxid".into(), h.zxid.to_string().into());
    m.insert("time_ms".into(), h.time_ms.into());
    m.insert("time".into(), text::time(h.time_ms).into());
    m.insert("session".into(), h.session.to_string().into());
    m.insert("cxid".into(), h.cxid.into());
    m.insert("type".into(), op_name(&txn.op).into());
    op_json(&mut m, &txn.op, limit);
    if !h.conn_ids.is_empty() {
        let ids: Vec<String> = h
            .conn_ids
            .iter()
            .map(|i| format!("{}:{}", i.scheme, i.id))
            .collect();
        m.insert("conn_ids".into(), ids.into());
    }
    Value::Object(m)
}

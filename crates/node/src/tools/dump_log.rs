//! `paddock dump log`: the txn log of a data directory, one line per transaction — time,
//! session, cxid, zxid, type, path and the fields that matter — in the manner of ZooKeeper's
//! `TxnLogToolkit`, or one JSON object per line (`--json`); `--from-zxid` / `--to-zxid` keep
//! the transactions of a zxid range (both ends included), read from the first one on rather
//! than filtered out of the whole log.
//!
//! The log is read from a private copy (`offline.rs`), verified as a server verifies it; only
//! records that verify are printed. On a damaged directory the damage report goes to stderr,
//! the verified records are printed, and the exit status is 3.

use std::io::{self, Write};
use std::process::ExitCode;

use paddock_storage::TxnLog;
use paddock_types::op::{CreateMode, MultiOp};
use paddock_types::{Id, Txn, TxnOp, Zxid};

use super::offline::{self, Opened, Source};
use super::text::{self, Obj, Preview};
use super::DAMAGED;

/// Records read from the log at a time.
const BATCH: usize = 1024;

/// The zxids to print, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub from: Zxid,
    pub to: Zxid,
}

impl Range {
    /// Everything.
    pub const ALL: Range = Range {
        from: Zxid(0),
        to: Zxid(u64::MAX),
    };

    /// `--from-zxid` / `--to-zxid` (either may be left out); an empty range is an error.
    pub fn new(from: Option<u64>, to: Option<u64>) -> Result<Range, String> {
        let r = Range {
            from: Zxid(from.unwrap_or(0)),
            to: Zxid(to.unwrap_or(u64::MAX)),
        };
        if r.from > r.to {
            return Err(format!(
                "--from-zxid {} is after --to-zxid {}: nothing to print",
                r.from, r.to
            ));
        }
        Ok(r)
    }

    /// `Transactions 0x.. through 0x..`, leaving out an end that was not given.
    fn describe(&self) -> String {
        match (self.from == Range::ALL.from, self.to == Range::ALL.to) {
            (true, true) => "All transactions".to_string(),
            (false, true) => format!("Transactions from {}", self.from),
            (true, false) => format!("Transactions through {}", self.to),
            (false, false) => format!("Transactions {} through {}", self.from, self.to),
        }
    }

    fn is_all(&self) -> bool {
        *self == Range::ALL
    }

    /// Where reading starts: the log is read strictly after this zxid.
    fn read_after(&self) -> Zxid {
        Zxid(self.from.0.saturating_sub(1))
    }
}

/// `paddock dump log`.
pub fn run(source: &Source, json: bool, data_limit: usize, range: Range) -> ExitCode {
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
    for note in copy.notes() {
        eprintln!("paddock dump log: note: {note}");
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
            if !range.is_all() {
                writeln!(out, "{}:", range.describe())?;
            }
        }
        let mut after = range.read_after();
        let mut count = 0u64;
        'read: loop {
            let batch = log.read_after(after, BATCH)?;
            let Some(&(last, _)) = batch.last() else {
                break;
            };
            for (zxid, bytes) in &batch {
                if *zxid > range.to {
                    break 'read;
                }
                match Txn::decode_at(bytes, *zxid) {
                    Ok(txn) if json => writeln!(out, "{}", txn_json(&txn, data_limit))?,
                    Ok(txn) => writeln!(out, "{}", txn_line(&txn, data_limit))?,
                    Err(e) if json => {
                        let mut o = Obj::new();
                        o.put("zxid", zxid.to_string()).put("error", e.to_string());
                        writeln!(out, "{}", o.to_json())?;
                    }
                    Err(e) => writeln!(out, "zxid {zxid} UNDECODABLE: {e}")?,
                }
                count += 1;
            }
            after = last;
        }
        if !json && range.is_all() {
            writeln!(out, "EOF reached after {count} txns.")?;
        } else if !json {
            writeln!(out, "{count} txns in the range.")?;
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
        TxnOp::ResumeSession { .. } => "resumeSession",
        TxnOp::SetAcl { .. } => "setACL",
        TxnOp::AddAuth { .. } => "addAuth",
        TxnOp::DeleteContainer { .. } => "deleteContainer",
        TxnOp::Reconfig { .. } => "reconfig",
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

fn data_text(data: &paddock_types::Data, limit: usize) -> String {
    if data.is_null() {
        return "data=null".to_string();
    }
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
        TxnOp::ResumeSession { owner, timeout_ms } => {
            format!("owner={owner} timeout_ms={timeout_ms}")
        }
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
        TxnOp::Reconfig {
            joining,
            leaving,
            members,
            from_version,
            verdict,
        } => format!(
            "joining=[{}] leaving={leaving:?} members=[{}] from_version={from_version} verdict={verdict}",
            joining.join(","),
            members.join(",")
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

fn ids_json(ids: &[Id]) -> Vec<String> {
    ids.iter()
        .map(|i| format!("{}:{}", i.scheme, i.id))
        .collect()
}

fn multi_op_json(op: &MultiOp, limit: usize) -> Obj {
    let mut o = Obj::new();
    match op {
        MultiOp::Create {
            path,
            data,
            mode,
            acl,
        } => {
            o.put("type", "create").put("path", path.clone());
            text::put_data(&mut o, data, limit);
            o.put("mode", mode_name(mode))
                .put_objs("acl", text::acl_objs(acl));
        }
        MultiOp::Delete { path, version } => {
            o.put("type", "delete")
                .put("path", path.clone())
                .put("version", *version);
        }
        MultiOp::SetData {
            path,
            data,
            version,
        } => {
            o.put("type", "setData").put("path", path.clone());
            text::put_data(&mut o, data, limit);
            o.put("version", *version);
        }
        MultiOp::Check { path, version } => {
            o.put("type", "check")
                .put("path", path.clone())
                .put("version", *version);
        }
    }
    o
}

fn op_json(o: &mut Obj, op: &TxnOp, limit: usize) {
    match op {
        TxnOp::CreateSession { timeout_ms, .. } => {
            o.put("timeout_ms", *timeout_ms);
        }
        TxnOp::CloseSession => {}
        TxnOp::Create {
            path,
            data,
            mode,
            acl,
        } => {
            o.put("path", path.clone());
            text::put_data(o, data, limit);
            o.put("mode", mode_name(mode))
                .put_objs("acl", text::acl_objs(acl));
        }
        TxnOp::Delete { path, version } => {
            o.put("path", path.clone()).put("version", *version);
        }
        TxnOp::SetData {
            path,
            data,
            version,
        } => {
            o.put("path", path.clone());
            text::put_data(o, data, limit);
            o.put("version", *version);
        }
        TxnOp::Multi(ops) => {
            let list = ops.iter().map(|op| multi_op_json(op, limit)).collect();
            o.put_objs("ops", list);
        }
        TxnOp::Sync { path } => {
            o.put("path", path.clone());
        }
        TxnOp::MoveSession { owner } => {
            o.put("owner", *owner);
        }
        TxnOp::ResumeSession { owner, timeout_ms } => {
            o.put("owner", *owner);
            o.put("timeout_ms", *timeout_ms);
        }
        TxnOp::SetAcl { path, acl, version } => {
            o.put("path", path.clone())
                .put_objs("acl", text::acl_objs(acl))
                .put("version", *version);
        }
        TxnOp::AddAuth { ids } => {
            o.put("ids", ids_json(ids));
        }
        TxnOp::DeleteContainer {
            path,
            czxid,
            version,
            cversion,
        } => {
            o.put("path", path.clone())
                .put("czxid", text::hex(*czxid))
                .put("version", *version)
                .put("cversion", *cversion);
        }
        TxnOp::Reconfig {
            joining,
            leaving,
            members,
            from_version,
            verdict,
        } => {
            o.put("joining", joining.clone())
                .put("leaving", leaving.clone())
                .put("members", members.clone())
                .put("from_version", *from_version)
                .put("verdict", *verdict);
        }
    }
}

/// One JSON object: the header fields, `type`, then the operation's, in that order.
pub fn txn_json(txn: &Txn, limit: usize) -> String {
    let h = &txn.header;
    let mut o = Obj::new();
    o.put("zxid", h.zxid.to_string())
        .put("time_ms", h.time_ms)
        .put("time", text::time(h.time_ms))
        .put("session", h.session.to_string())
        .put("cxid", h.cxid)
        .put("type", op_name(&txn.op));
    op_json(&mut o, &txn.op, limit);
    if !h.conn_ids.is_empty() {
        o.put("conn_ids", ids_json(&h.conn_ids));
    }
    o.to_json()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_reads_from_its_first_zxid_and_refuses_to_be_empty() {
        assert_eq!(Range::new(None, None), Ok(Range::ALL));
        let r = Range::new(Some(0x1_0000_0005), Some(0x1_0000_0007)).expect("a range");
        assert_eq!(r.read_after(), Zxid(0x1_0000_0004));
        assert!(!r.is_all());
        assert_eq!(Range::ALL.read_after(), Zxid(0));
        assert!(Range::new(Some(9), Some(8)).is_err());
        assert!(Range::new(Some(8), Some(8)).is_ok());
        assert_eq!(r.describe(), "Transactions 0x100000005 through 0x100000007");
        let tail = Range::new(Some(0x1_0000_0009), None).expect("a range");
        assert_eq!(tail.describe(), "Transactions from 0x100000009");
        let head = Range::new(None, Some(2)).expect("a range");
        assert_eq!(head.describe(), "Transactions through 0x2");
    }
}

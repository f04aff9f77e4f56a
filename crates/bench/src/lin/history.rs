//! The history file: one JSON object per line, one line per operation, in the order the
//! answers came back (operations without an answer last). The fields:
//!
//! ```text
//! {"client":2,"op":"set","path":"/lin1","data":3000017,"version":4,"out":{"set":5},"call":81234,"ret":90876}
//! {"client":0,"op":"read","path":"/lin0","out":{"read":[1000003,2]},"call":..,"ret":..}
//! {"client":1,"op":"create","path":"/lin2","data":2000009,"out":"nodeexists","call":..,"ret":..}
//! {"client":3,"op":"delete","path":"/lin2","version":-1,"out":null,"call":..,"ret":null}
//! ```
//!
//! `op` is read (sync + getData), set (`version` -1: unconditional, else compare-and-set),
//! create or delete. `out` is the answer: `{"read":[data,version]}`, `{"read":null}` (NoNode),
//! `{"set":new_version}`, `"done"` (create / delete), `"nonode"`, `"nodeexists"`,
//! `"badversion"`, or `null` when no answer came (a lost connection, a timeout: the operation
//! may or may not have taken effect; `ret` is then `null` too). `call` / `ret` are nanoseconds
//! since the workload started (one monotonic clock). Edit a line and run `paddock-lin check` on
//! the file to see what the checker makes of it.

use std::io::{BufRead, Write};

use paddock_lincheck::zk::{Input, Output};
use paddock_lincheck::Operation;
use serde::{Deserialize, Serialize};

/// One operation of the workload's history.
pub type Op = Operation<Input, Output>;

/// A line of the history file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub client: usize,
    pub op: Kind,
    pub path: String,
    /// The value written (set, create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<u64>,
    /// The expected version (set, delete; -1 = any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    pub out: Option<Answer>,
    pub call: u64,
    pub ret: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Read,
    Set,
    Create,
    Delete,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    Read(Option<(u64, i32)>),
    Set(i32),
    Done,
    NoNode,
    NodeExists,
    BadVersion,
}

/// A line that does not describe an operation.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("line {line}: {source}")]
    Json {
        line: usize,
        source: serde_json::Error,
    },
    #[error("line {line}: {what}")]
    Invalid { line: usize, what: String },
    #[error("reading the history: {0}")]
    Io(#[from] std::io::Error),
}

impl From<&Op> for Line {
    fn from(op: &Op) -> Line {
        let (kind, path, data, version) = match &op.input {
            Input::Read { path } => (Kind::Read, path, None, None),
            Input::Set {
                path,
                data,
                version,
            } => (Kind::Set, path, Some(*data), Some(*version)),
            Input::Create { path, data } => (Kind::Create, path, Some(*data), None),
            Input::Delete { path, version } => (Kind::Delete, path, None, Some(*version)),
        };
        let out = op.output.as_ref().map(|o| match o {
            Output::Read(r) => Answer::Read(*r),
            Output::Set { version } => Answer::Set(*version),
            Output::Done => Answer::Done,
            Output::NoNode => Answer::NoNode,
            Output::NodeExists => Answer::NodeExists,
            Output::BadVersion => Answer::BadVersion,
        });
        Line {
            client: op.client,
            op: kind,
            path: path.clone(),
            data,
            version,
            out,
            call: op.call,
            ret: op.ret,
        }
    }
}

impl Line {
    /// The operation this line describes; `line` (1-based) names it in errors.
    pub fn to_op(&self, line: usize) -> Result<Op, HistoryError> {
        let invalid = |what: &str| HistoryError::Invalid {
            line,
            what: what.into(),
        };
        let path = self.path.clone();
        let input = match self.op {
            Kind::Read => Input::Read { path },
            Kind::Set => Input::Set {
                path,
                data: self.data.ok_or_else(|| invalid("a set without data"))?,
                version: self.version.unwrap_or(-1),
            },
            Kind::Create => Input::Create {
                path,
                data: self.data.ok_or_else(|| invalid("a create without data"))?,
            },
            Kind::Delete => Input::Delete {
                path,
                version: self.version.unwrap_or(-1),
            },
        };
        let output = self.out.map(|a| match a {
            Answer::Read(r) => Output::Read(r),
            Answer::Set(version) => Output::Set { version },
            Answer::Done => Output::Done,
            Answer::NoNode => Output::NoNode,
            Answer::NodeExists => Output::NodeExists,
            Answer::BadVersion => Output::BadVersion,
        });
        if output.is_some() != self.ret.is_some() {
            return Err(invalid(
                "an answer needs a return time and only an answer has one",
            ));
        }
        if self.ret.is_some_and(|r| r < self.call) {
            return Err(invalid("returned before it was called"));
        }
        Ok(Op {
            client: self.client,
            input,
            output,
            call: self.call,
            ret: self.ret,
        })
    }
}

/// Writes `op` as one line.
pub fn write_line(out: &mut impl Write, op: &Op) -> std::io::Result<()> {
    let json = serde_json::to_string(&Line::from(op)).map_err(std::io::Error::other)?;
    writeln!(out, "{json}")
}

/// Reads a history file's operations (blank lines are skipped).
pub fn read(input: impl BufRead) -> Result<Vec<Op>, HistoryError> {
    let mut ops = Vec::new();
    for (i, text) in input.lines().enumerate() {
        let text = text?;
        if text.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(&text).map_err(|source| HistoryError::Json {
            line: i + 1,
            source,
        })?;
        ops.push(line.to_op(i + 1)?);
    }
    Ok(ops)
}

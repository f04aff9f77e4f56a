//! [`Damage`]: a data directory that lost transactions it had made durable, described for the
//! operator who has to decide what to do about it.

use std::fmt;
use std::path::PathBuf;

use paddock_types::Zxid;

/// One thing found wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file or directory at fault.
    pub path: PathBuf,
    /// What is wrong with it.
    pub what: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.what)
    }
}

/// A data directory that cannot be served as it is: transactions it had made durable (and may
/// have acknowledged) are missing. Serving it would serve an older or partial tree; ZooKeeper
/// refuses such a directory too (ZOOKEEPER-3056).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The data directory.
    pub data_dir: PathBuf,
    /// What was found wrong (at least one).
    pub findings: Vec<Finding>,
    /// The newest snapshot that verified, which the verified state starts from (`None`: the
    /// empty tree).
    pub snapshot: Option<Zxid>,
    /// The last zxid of the verified state: the snapshot plus the log records that continue it.
    pub verified_through: Zxid,
    /// Verified log records after the snapshot (what a repair keeps of the log).
    pub records_kept: u64,
    /// The highest zxid the directory shows it had made durable (the synced marker, snapshot
    /// names, the purge watermark); `None` when nothing tells.
    pub synced_through: Option<Zxid>,
}

impl Damage {
    /// The zxids lost: (first, last); `last` is `None` when how far it went is unknown.
    pub fn lost(&self) -> (Zxid, Option<Zxid>) {
        (Zxid(self.verified_through.0 + 1), self.synced_through)
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "data directory {} is damaged: transactions it had made durable are missing",
            self.data_dir.display()
        )?;
        for finding in &self.findings {
            writeln!(f, "  - {finding}")?;
        }
        let base = match self.snapshot {
            Some(z) => format!("snapshot {z}"),
            None => "the empty tree".to_string(),
        };
        write!(
            f,
            "  The verified state ends at zxid {} ({base} plus {} log record(s)); ",
            self.verified_through, self.records_kept
        )?;
        match self.lost() {
            (first, Some(last)) => write!(f, "transactions {first} through {last} are lost here"),
            (first, None) => write!(
                f,
                "transactions from {first} on are lost here (how many is unknown)"
            ),
        }
    }
}

//! `paddock tree-digest [DIR [DIR2]]`: the digest of the state a server would load from a data
//! directory (newest good snapshot + the log records that continue it, verified as at a start),
//! and with two directories whether they hold the same tree.
//!
//! The digest is the replica digest (`DataTree::digest`: every node's path, data, Stat and ACL,
//! every session), the one a backup carries. Exit status: 0 (equal), 1 (they differ, or a
//! directory could not be read), 3 (a directory is damaged: as a standalone server, no digest
//! is given for it; `paddock repair --check` says more).

use std::process::ExitCode;

use paddock_types::Zxid;

use super::offline::{self, Opened, Source};
use super::DAMAGED;

/// One directory's verified state, summed up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub digest: u64,
    pub zxid: Zxid,
    pub nodes: usize,
    pub sessions: usize,
    pub snapshot: Option<Zxid>,
    pub replayed: u64,
}

/// Reads `source` the way a server would load it. `Err((message, exit status))`.
pub fn summarize(source: &Source) -> Result<Summary, (String, u8)> {
    let copy = match offline::open_copy(source) {
        Ok(Opened::Healthy(c)) => c,
        Ok(Opened::Damaged(damage, _)) => return Err((damage.to_string(), DAMAGED)),
        Err(e) => return Err((format!("{e:#}"), 1)),
    };
    for note in copy.notes() {
        eprintln!(
            "paddock tree-digest: {}: note: {note}",
            source.data_dir.display()
        );
    }
    let state = offline::load_state(&copy.data)
        .map_err(|e| (format!("{}: {e:#}", source.data_dir.display()), DAMAGED))?;
    for (zxid, why) in &state.undecodable {
        eprintln!(
            "paddock tree-digest: {}: record {zxid} cannot be decoded ({why}); a server applies \
             it as a no-op, and so does this digest",
            source.data_dir.display()
        );
    }
    Ok(Summary {
        digest: state.tree.digest(),
        zxid: state.tree.last_zxid(),
        nodes: state.tree.node_count(),
        sessions: state.tree.sessions().len(),
        snapshot: state.snapshot,
        replayed: state.replayed,
    })
}

fn line(source: &Source, s: &Summary) -> String {
    format!(
        "{}: digest {:016x} zxid {} znodes {} sessions {} (snapshot {} + {} log record(s))",
        source.data_dir.display(),
        s.digest,
        s.zxid,
        s.nodes,
        s.sessions,
        s.snapshot.map_or("none".to_string(), |z| z.to_string()),
        s.replayed
    )
}

/// `paddock tree-digest`.
pub fn run(sources: &[Source]) -> ExitCode {
    let mut summaries = Vec::new();
    let mut worst = 0u8;
    for source in sources {
        match summarize(source) {
            Ok(s) => {
                println!("{}", line(source, &s));
                summaries.push(s);
            }
            Err((message, code)) => {
                eprintln!("paddock tree-digest: {message}");
                worst = worst.max(code);
            }
        }
    }
    if worst > 0 {
        return ExitCode::from(worst);
    }
    if let [a, b] = summaries.as_slice() {
        if a.digest != b.digest {
            println!("DIFFERENT: the two data directories hold different trees");
            return ExitCode::FAILURE;
        }
        if a.zxid != b.zxid {
            println!(
                "EQUAL trees (digest {:016x}) at different zxids ({} and {}): the \
                 transactions between changed nothing",
                a.digest, a.zxid, b.zxid
            );
        } else {
            println!("EQUAL: digest {:016x} at zxid {}", a.digest, a.zxid);
        }
    }
    ExitCode::SUCCESS
}

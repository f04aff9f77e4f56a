//! `paddock restore --from FILE`: a new data directory from a backup (`paddock snapshot save`)
//! or from a snapshot file copied out of a data directory — the way etcd's
//! `etcdutl snapshot restore` builds a member's directory from a snapshot.
//!
//! ```text
//!  FILE ── trailer + crc32 verified, tree decoded (its own checks and crc) ──▶ tree at zxid Z
//!  empty data dir ◀── snapshot.Z, log continuing after Z, acceptedEpoch = currentEpoch =
//!                     epoch(Z); read back and its digest compared with the tree's
//! ```
//!
//! What it leaves out, on purpose: `myid` (the member's, kept if already there), `ensemble`
//! (written by the first ensemble start with that ensemble's server list), `resync-required`.
//! So the same backup starts a standalone server, or every member of a new ensemble: each
//! member then holds the same history through Z in epoch(Z); they elect a leader, which starts
//! epoch(Z)+1, and none needs more than an empty DIFF. Sessions in the backup are restored
//! with it and expire after their timeout unless their clients come back to the new servers.

use std::path::Path;
use std::process::ExitCode;

use paddock_datatree::DataTree;
use paddock_storage::{open_snapshot_file, StorageError, StorageOptions};
use paddock_types::Zxid;

use super::DAMAGED;

/// Files a restore target may already hold.
const ALLOWED: &[&str] = &["myid"];

/// What was restored.
#[derive(Debug)]
pub struct Restored {
    pub zxid: Zxid,
    pub nodes: usize,
    pub sessions: usize,
    pub digest: u64,
}

/// Why not, with the exit status.
pub struct Refused {
    pub message: String,
    pub code: u8,
}

fn refused(message: String, code: u8) -> Refused {
    Refused { message, code }
}

/// Refuses a directory that holds anything but `myid` (a missing one is fine: created).
fn check_empty(dir: &Path) -> Result<(), Refused> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(refused(format!("cannot read {}: {e}", dir.display()), 1)),
    };
    let mut found: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| refused(format!("cannot read {}: {e}", dir.display()), 1))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !ALLOWED.contains(&name.as_str()) {
            found.push(name);
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    found.sort();
    let shown = found.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    let more = if found.len() > 5 { ", ..." } else { "" };
    Err(refused(
        format!(
            "{} is not empty (it holds {shown}{more}): a restore writes only into a new, empty \
             data directory (a `myid` file may be there). Move the old directory aside first; \
             nothing was changed",
            dir.display()
        ),
        1,
    ))
}

/// Verifies `from` and writes the data directory; see the module doc.
pub fn restore(
    from: &Path,
    data_dir: &Path,
    storage: &StorageOptions,
) -> Result<Restored, Refused> {
    check_empty(data_dir)?;
    if let Some(log_dir) = &storage.log_dir {
        check_empty(log_dir)?;
    }
    let (info, mut reader) = open_snapshot_file(from).map_err(|e| match e {
        StorageError::CorruptFile { why, .. } => refused(
            format!(
                "the backup {} is damaged or incomplete: {why}. Nothing was written",
                from.display()
            ),
            DAMAGED,
        ),
        other => refused(format!("cannot read the backup: {other}"), 1),
    })?;
    let tree = DataTree::read_snapshot(&mut reader).map_err(|e| {
        refused(
            format!(
                "the backup {} does not hold a tree this server can load: {e}. Nothing was \
                 written",
                from.display()
            ),
            DAMAGED,
        )
    })?;
    if tree.last_zxid() != info.zxid {
        return Err(refused(
            format!(
                "the backup {} names zxid {} but its tree is at {}. Nothing was written",
                from.display(),
                info.zxid,
                tree.last_zxid()
            ),
            DAMAGED,
        ));
    }
    if info.zxid == Zxid::ZERO {
        return Err(refused(
            "the backup holds an empty tree (zxid 0): there is nothing to restore; start the \
             server on an empty data directory instead"
                .into(),
            1,
        ));
    }
    let epoch = info.zxid.epoch();
    paddock_zkimport::write_data_dir(&tree, data_dir, storage, epoch).map_err(|e| {
        refused(
            format!(
                "writing {} failed: {e} (remove what was written before trying again)",
                data_dir.display()
            ),
            1,
        )
    })?;
    Ok(Restored {
        zxid: info.zxid,
        nodes: tree.node_count(),
        sessions: tree.sessions().len(),
        digest: tree.digest(),
    })
}

/// `paddock restore`.
pub fn run(from: &Path, data_dir: &Path, storage: &StorageOptions) -> ExitCode {
    match restore(from, data_dir, storage) {
        Ok(r) => {
            println!(
                "restored {} znodes and {} sessions at zxid {} (epoch {}) from {} into {}; \
                 digest {:016x}",
                r.nodes,
                r.sessions,
                r.zxid,
                r.zxid.epoch().0,
                from.display(),
                data_dir.display(),
                r.digest
            );
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("paddock restore: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

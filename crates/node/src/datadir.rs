//! Opening the data directory the way a server must: never serving one that lost transactions
//! it had made durable.
//!
//! ```text
//!  DataDir::open ── Ok ──────────────────────────────────────────▶ serve
//!        │
//!        └─ Damaged ─┬─ standalone ─▶ refuse: exit 3, naming the files, the zxids lost and
//!                    │                the remedy (`paddock repair`, or a backup)
//!                    └─ ensemble ───▶ set dataDir/resync-required, repair (keep the verified
//!                                     state), open; the peer does not vote until it has
//!                                     synced the rest from an established leader
//! ```

use std::fmt;

use anyhow::Context;
use paddock_storage::{Damage, DataDir, RepairOptions, StorageError, StorageOptions};
use paddock_types::Config;

/// The exit status of a server that refuses a damaged data directory (a supervisor should not
/// restart it until an operator has acted).
pub const DAMAGED_EXIT_CODE: u8 = 3;

/// A standalone server's refusal of a damaged data directory.
#[derive(Debug)]
pub struct DamagedDataDir(pub Damage);

impl fmt::Display for DamagedDataDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.0)?;
        writeln!(
            f,
            "  The server will not serve a tree that lacks transactions it acknowledged."
        )?;
        write!(
            f,
            "  To continue from the verified state and DISCARD the rest, stop here and run \
             `paddock repair --data-dir {}` (the damaged files are kept aside); or restore \
             the data directory from a backup.",
            self.0.data_dir.display()
        )
    }
}

impl std::error::Error for DamagedDataDir {}

/// How the server's configuration says to open its data directory.
pub fn storage_options(config: &Config) -> StorageOptions {
    StorageOptions {
        log_dir: config.data_log_dir.clone(),
        ..StorageOptions::default()
    }
}

/// Opens (and verifies) the data directory; see the module doc. Blocking.
pub fn open(config: &Config) -> anyhow::Result<DataDir> {
    let options = storage_options(config);
    let dir = &config.data_dir;
    let context = || format!("cannot open data directory {}", dir.display());
    let (data_dir, report) = match DataDir::open_with(dir, &options) {
        Ok(opened) => opened,
        Err(StorageError::Damaged(damage)) if config.servers.len() > 1 => {
            tracing::error!("{damage}");
            tracing::warn!(
                "ensemble member: keeping the verified state and discarding the rest; the \
                 missing transactions come from the leader, and this server does not vote \
                 until it has synced with an established one"
            );
            crate::ensemble::resync_flag(config)
                .set(&damage.to_string())
                .with_context(context)?;
            let repaired = paddock_storage::repair(dir, &options, &RepairOptions::default())
                .with_context(context)?;
            if let Some(moved) = &repaired.old_log_moved_to {
                tracing::warn!(moved_to = %moved.display(), "the damaged txn log was kept aside");
            }
            DataDir::open_with(dir, &options).with_context(context)?
        }
        Err(StorageError::Damaged(damage)) => return Err(DamagedDataDir(*damage).into()),
        Err(e) => return Err(e).with_context(context),
    };
    for s in &report.snapshots_skipped {
        tracing::warn!(snapshot = %s.path.display(), why = %s.why, "a corrupt snapshot was moved aside; an older one is used");
    }
    if let Some(why) = &report.rebuilt {
        tracing::warn!(
            %why,
            moved_to = ?report.old_log_moved_to,
            "the txn log was rebuilt into a fresh database; nothing that had been synced was lost"
        );
    }
    Ok(data_dir)
}

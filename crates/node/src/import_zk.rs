//! `paddock import-zk`: an Apache ZooKeeper data dir into a new Paddock data dir (see
//! `paddock-zkimport` and docs/migrating-from-zookeeper.md).

use std::path::PathBuf;

use paddock_types::Config;

/// Runs the import into the configured data dir and prints the summary. Both servers must be
/// stopped (the Paddock data dir's lock is taken; ZooKeeper's files are only read).
pub fn run(config: &Config, from: PathBuf, from_log: Option<PathBuf>) -> std::process::ExitCode {
    let options = paddock_zkimport::ImportOptions {
        from,
        from_log,
        data_dir: config.data_dir.clone(),
        storage: crate::datadir::storage_options(config),
    };
    match paddock_zkimport::import(&options) {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("paddock import-zk: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

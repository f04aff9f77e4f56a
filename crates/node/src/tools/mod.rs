//! Operator tools: inspect a data directory offline, back up a running server, restore.
//!
//! ```text
//!  paddock dump snapshot [FILE]   a snapshot's tree, sessions, zxid, digest   (dump_snapshot.rs)
//!  paddock dump log               the txn log, one line per transaction        (dump_log.rs)
//!  paddock tree-digest [DIR [DIR2]]  digest of the state a server would load   (digest.rs)
//!  paddock snapshot save FILE --server H:P   backup over paddock.v1.Admin       (backup.rs)
//!  paddock restore --from FILE    a new data dir from a backup                 (restore.rs)
//! ```
//!
//! Rules they share:
//! - **Read-only on data directories.** Snapshot files are immutable once committed, so a
//!   snapshot is read where it lies, even while a server runs. Everything that needs the txn
//!   log (sled, which writes when it opens a database) works on a private copy in a temporary
//!   directory, opened and verified exactly as a server opens its own (`offline.rs`); the data
//!   directory itself is never opened for writing. While a server holds `paddock.lock`, those
//!   tools refuse (the log is being written: a copy would be torn), naming what works instead.
//! - **A damaged file is an error that says which file and what is wrong**, never a panic.
//! - A backup file is byte for byte a snapshot file of a data directory (payload + trailer with
//!   zxid, length and crc32), so `dump snapshot` and `restore` take either.

pub mod backup;
pub mod digest;
pub mod dump_log;
pub mod dump_snapshot;
pub mod offline;
pub mod restore;
mod text;

/// Exit status of a tool that found the data damaged (the same as a server refusing it).
pub const DAMAGED: u8 = crate::datadir::DAMAGED_EXIT_CODE;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::args::{Args, Command, DumpCommand, SnapshotCommand};

/// Whether `args` name one of these tools.
pub fn is_tool(args: &Args) -> bool {
    matches!(
        args.command,
        Some(
            Command::Dump { .. }
                | Command::TreeDigest { .. }
                | Command::Snapshot { .. }
                | Command::Restore { .. }
        )
    )
}

/// Runs the tool `args` names; `None` when they name none (run the server, or another command).
pub fn run(args: &Args) -> Option<ExitCode> {
    let command = args.command.as_ref()?;
    if !is_tool(args) {
        return None;
    }
    init_logging();
    Some(match command {
        Command::Dump {
            what:
                DumpCommand::Snapshot {
                    file: Some(file),
                    json,
                    data_limit,
                },
        } => dump_snapshot::run(
            Some(file),
            file,
            dump_snapshot::Format {
                json: *json,
                data_limit: *data_limit,
            },
        ),
        Command::Dump {
            what:
                DumpCommand::Snapshot {
                    file: None,
                    json,
                    data_limit,
                },
        } => match source(args) {
            Ok(src) => dump_snapshot::run(
                None,
                &src.data_dir,
                dump_snapshot::Format {
                    json: *json,
                    data_limit: *data_limit,
                },
            ),
            Err(code) => code,
        },
        Command::Dump {
            what:
                DumpCommand::Log {
                    json,
                    data_limit,
                    from_zxid,
                    to_zxid,
                },
        } => match (source(args), dump_log::Range::new(*from_zxid, *to_zxid)) {
            (Ok(src), Ok(range)) => dump_log::run(&src, *json, *data_limit, range),
            (Err(code), _) => code,
            (_, Err(e)) => {
                eprintln!("paddock dump log: {e}");
                ExitCode::from(2)
            }
        },
        Command::TreeDigest { dirs } if dirs.is_empty() => match source(args) {
            Ok(src) => digest::run(&[src]),
            Err(code) => code,
        },
        Command::TreeDigest { dirs } => {
            let sources: Vec<offline::Source> = dirs
                .iter()
                .map(|d| offline::Source::dir(d.clone()))
                .collect();
            digest::run(&sources)
        }
        Command::Snapshot {
            what:
                SnapshotCommand::Save {
                    file,
                    server,
                    auth,
                    tls_ca,
                    tls_cert,
                    tls_key,
                    tls_server_name,
                },
        } => {
            let tls = match tls_options(tls_ca, tls_cert, tls_key, tls_server_name) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("paddock snapshot save: {e}");
                    return Some(ExitCode::from(2));
                }
            };
            backup::run(&backup::SaveOptions {
                file: file.clone(),
                server: server.clone(),
                tls,
                digest_auth: auth.clone().filter(|a| !a.is_empty()),
            })
        }
        Command::Restore { from } => match crate::config::load_config(args) {
            Ok((config, _)) => restore::run(
                from,
                &config.data_dir,
                &crate::datadir::storage_options(&config),
            ),
            Err(e) => {
                eprintln!("paddock restore: configuration error: {e:#}");
                ExitCode::from(2)
            }
        },
        _ => return None,
    })
}

/// The data (and log) directory of `--data-dir` / `--config`.
fn source(args: &Args) -> Result<offline::Source, ExitCode> {
    match crate::config::load_config(args) {
        Ok((config, _)) => Ok(offline::Source::of(&config)),
        Err(e) => {
            eprintln!("paddock: configuration error: {e:#}");
            Err(ExitCode::from(2))
        }
    }
}

/// The TLS flags as paddock-cli takes them.
fn tls_options(
    ca: &Option<PathBuf>,
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
    server_name: &Option<String>,
) -> Result<Option<paddock_client::TlsOptions>, String> {
    use paddock_client::{Pem, TlsOptions};
    let Some(ca) = ca else {
        if cert.is_some() || key.is_some() || server_name.is_some() {
            return Err(
                "--tls-cert, --tls-key and --tls-server-name need --tls-ca FILE (the \
                        CA the server's certificate is signed by)"
                    .into(),
            );
        }
        return Ok(None);
    };
    let mut tls = TlsOptions::new(Pem::file(ca));
    match (cert, key) {
        (Some(c), None) => tls = tls.identity(Pem::file(c)),
        (Some(c), Some(k)) => tls = tls.identity_with_key(Pem::file(c), Pem::file(k)),
        (None, Some(_)) => return Err("--tls-key needs --tls-cert FILE".into()),
        (None, None) => {}
    }
    if let Some(name) = server_name {
        tls = tls.server_name(name.clone());
    }
    Ok(Some(tls))
}

/// Tools log only errors unless `RUST_LOG` says otherwise: their output is the report, and the
/// storage layer's warnings about the private copy would name temporary paths.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

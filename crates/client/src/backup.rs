//! Backups of a running server (feature `backup`): `paddock.v1.Admin/SaveSnapshot` streamed
//! into a file, the way `etcdctl snapshot save` takes one. Used by `paddock snapshot save` and
//! `paddock-cli backup`, so the two write and check a backup the same way.
//!
//! ```text
//!  SaveSnapshot ──▶ SnapshotInfo (zxid, counts, digest) + the snapshot file's bytes
//!               ──▶ FILE.part (fsync) ──▶ verified: trailer crc32, tree decodes, zxid and
//!                   digest equal to what the server announced ──▶ renamed to FILE (fsync dir)
//! ```
//!
//! A stream cut short, a damaged transfer or a failed server leaves no FILE (an existing FILE
//! is replaced only by a verified backup); the `.part` file is removed.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use paddock_datatree::DataTree;
use paddock_proto::v1::admin_client::AdminClient;
use paddock_proto::v1::{SaveSnapshotRequest, SnapshotInfo};
use paddock_types::Zxid;

use crate::{transport, ClientOptions, TlsOptions};

/// Connecting, and waiting for each message of the stream.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest message accepted (the server sends 256 KiB).
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// What a backup needs.
#[derive(Clone, Debug)]
pub struct SaveOptions {
    pub file: PathBuf,
    /// `host:port` of the gRPC port (a `scheme://` prefix is ignored: TLS follows `tls`).
    pub server: String,
    pub tls: Option<TlsOptions>,
    /// `user:password` for the `digest` scheme.
    pub digest_auth: Option<String>,
}

/// What was saved.
#[derive(Clone, Debug)]
pub struct Saved {
    pub info: SnapshotInfo,
    pub bytes: u64,
}

/// Why no backup was saved. Each message says what to look at.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The server could not be reached (address, TLS).
    #[error("{0}")]
    Unreachable(String),
    /// The server answered, and refused (permission, not serving, not supported).
    #[error("{0}")]
    Refused(String),
    /// The stream broke off or did not follow the protocol.
    #[error("{0}")]
    Broken(String),
    /// The file named cannot hold a backup (a directory).
    #[error("{0}")]
    BadFile(String),
    /// The local file could not be written.
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// What was received is not the snapshot the server announced.
    #[error("the backup received does not verify; no file was saved: {0}")]
    Invalid(String),
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> BackupError {
    move |source| BackupError::Io { what, source }
}

/// The `.part` file next to `file`.
fn part_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    file.with_file_name(name)
}

/// Removes the `.part` file unless disarmed.
struct PartGuard(Option<PathBuf>);

impl Drop for PartGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// Streams the backup into `opts.file`; see the module doc.
pub async fn save(opts: &SaveOptions) -> Result<Saved, BackupError> {
    let mut client_opts = ClientOptions::default().connect_timeout(TIMEOUT);
    client_opts.tls = opts.tls.clone();
    let addr = opts
        .server
        .split_once("://")
        .map_or(opts.server.as_str(), |(_, rest)| rest)
        .trim_end_matches('/')
        .to_string();
    if opts.file.is_dir() {
        return Err(BackupError::BadFile(format!(
            "{} is a directory: give the backup file's name",
            opts.file.display()
        )));
    }
    let channel = transport::endpoint(&addr, &client_opts)
        .map_err(|e| BackupError::Unreachable(format!("cannot reach {addr}: {e}")))?
        .connect()
        .await
        .map_err(|e| {
            BackupError::Unreachable(format!(
                "cannot reach {addr}: {}",
                transport::describe_error(&addr, &client_opts, &e)
            ))
        })?;
    let mut client = AdminClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
    let refused = |s: tonic::Status| -> BackupError {
        match s.code() {
            tonic::Code::Unimplemented => BackupError::Refused(format!(
                "{addr} does not take backups (an older server?): {}",
                s.message()
            )),
            _ if std::error::Error::source(&s).is_some() => BackupError::Broken(format!(
                "the backup from {addr} failed: {}",
                transport::describe_error(&addr, &client_opts, &s)
            )),
            code => BackupError::Refused(format!(
                "{addr} refused the backup: {code}: {}",
                s.message()
            )),
        }
    };
    let request = SaveSnapshotRequest {
        digest_auth: opts.digest_auth.clone().unwrap_or_default(),
    };
    let mut stream = tokio::time::timeout(TIMEOUT, client.save_snapshot(request))
        .await
        .map_err(|_| BackupError::Broken(format!("{addr} did not answer within {TIMEOUT:?}")))?
        .map_err(refused)?
        .into_inner();

    let part = part_path(&opts.file);
    let mut guard = PartGuard(Some(part.clone()));
    let file = File::create(&part).map_err(io(format!("cannot create {}", part.display())))?;
    let mut out = BufWriter::new(file);
    let mut info: Option<SnapshotInfo> = None;
    let mut bytes = 0u64;
    let broken = |why: &str| BackupError::Broken(format!("{addr} {why}: backup abandoned"));
    loop {
        let next = tokio::time::timeout(TIMEOUT, stream.message())
            .await
            .map_err(|_| broken(&format!("sent nothing for {TIMEOUT:?}")))?
            .map_err(refused)?;
        let Some(chunk) = next else { break };
        if let Some(i) = chunk.info {
            if info.is_some() {
                return Err(broken("sent the snapshot's description twice"));
            }
            info = Some(i);
        }
        if info.is_none() {
            return Err(broken("sent data before the snapshot's description"));
        }
        out.write_all(&chunk.data)
            .map_err(io(format!("cannot write {}", part.display())))?;
        bytes += chunk.data.len() as u64;
    }
    let info = info.ok_or_else(|| {
        BackupError::Broken(format!("{addr} ended the backup before sending anything"))
    })?;
    let file = out.into_inner().map_err(|e| BackupError::Io {
        what: format!("cannot write {}", part.display()),
        source: e.into_error(),
    })?;
    file.sync_all()
        .map_err(io(format!("cannot sync {}", part.display())))?;
    drop(file);
    verify(&part, &info).map_err(BackupError::Invalid)?;
    fs::rename(&part, &opts.file).map_err(io(format!(
        "cannot rename {} to {}",
        part.display(),
        opts.file.display()
    )))?;
    guard.0 = None;
    if let Some(dir) = opts.file.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename durable too (best effort: some file systems refuse to open a directory).
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(Saved { info, bytes })
}

/// The file's trailer and crc32, the tree inside, its zxid and digest against `info`.
fn verify(path: &Path, info: &SnapshotInfo) -> Result<(), String> {
    let (file_info, mut reader) =
        paddock_storage::open_snapshot_file(path).map_err(|e| e.to_string())?;
    let tree = DataTree::read_snapshot(&mut reader).map_err(|e| e.to_string())?;
    if file_info.zxid.0 != info.zxid || tree.last_zxid().0 != info.zxid {
        return Err(format!(
            "the server announced zxid {} but the file holds {}",
            Zxid(info.zxid),
            tree.last_zxid()
        ));
    }
    if tree.digest() != info.digest {
        return Err(format!(
            "the server announced digest {:016x} but the file's tree has {:016x}",
            info.digest,
            tree.digest()
        ));
    }
    Ok(())
}

/// The one-line report of a saved backup, as both tools print it.
pub fn describe(saved: &Saved, opts: &SaveOptions) -> String {
    format!(
        "Snapshot saved at {} (zxid {}, {} znodes, {} sessions, {} bytes, digest {:016x}) from {}",
        opts.file.display(),
        Zxid(saved.info.zxid),
        saved.info.node_count,
        saved.info.session_count,
        saved.bytes,
        saved.info.digest,
        opts.server
    )
}

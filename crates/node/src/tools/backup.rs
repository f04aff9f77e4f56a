//! `paddock snapshot save FILE --server HOST:PORT`: a backup of a running server over
//! `paddock.v1.Admin/SaveSnapshot` (gRPC port), the way `etcdctl snapshot save` takes one.
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
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use paddock_client::{transport, ClientOptions, TlsOptions};
use paddock_datatree::DataTree;
use paddock_proto::v1::admin_client::AdminClient;
use paddock_proto::v1::{SaveSnapshotRequest, SnapshotInfo};
use paddock_types::Zxid;

/// Connecting, and waiting for each message of the stream.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest message accepted (the server sends 256 KiB).
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// What `snapshot save` needs.
pub struct SaveOptions {
    pub file: PathBuf,
    /// `host:port` of the gRPC port.
    pub server: String,
    pub tls: Option<TlsOptions>,
    /// `user:password` for the `digest` scheme.
    pub digest_auth: Option<String>,
}

/// What was saved.
pub struct Saved {
    pub info: SnapshotInfo,
    pub bytes: u64,
}

/// `paddock snapshot save`.
pub fn run(opts: &SaveOptions) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("paddock snapshot save: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(save(opts)) {
        Ok(s) => {
            println!(
                "Snapshot saved at {} (zxid {}, {} znodes, {} sessions, {} bytes, digest {:016x}) \
                 from {}",
                opts.file.display(),
                Zxid(s.info.zxid),
                s.info.node_count,
                s.info.session_count,
                s.bytes,
                s.info.digest,
                opts.server
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("paddock snapshot save: {e:#}");
            ExitCode::FAILURE
        }
    }
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
pub async fn save(opts: &SaveOptions) -> anyhow::Result<Saved> {
    let mut client_opts = ClientOptions::default().connect_timeout(TIMEOUT);
    client_opts.tls = opts.tls.clone();
    let addr = opts
        .server
        .split_once("://")
        .map_or(opts.server.as_str(), |(_, rest)| rest)
        .trim_end_matches('/')
        .to_string();
    if opts.file.is_dir() {
        bail!(
            "{} is a directory: give the backup file's name",
            opts.file.display()
        );
    }
    let channel = transport::endpoint(&addr, &client_opts)
        .map_err(|e| anyhow!("cannot reach {addr}: {e}"))?
        .connect()
        .await
        .map_err(|e| {
            anyhow!(
                "cannot reach {addr}: {}",
                transport::describe_error(&addr, &client_opts, &e)
            )
        })?;
    let mut client = AdminClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
    let refused = |s: tonic::Status| -> anyhow::Error {
        match s.code() {
            tonic::Code::Unimplemented => anyhow!(
                "{addr} does not take backups (an older server?): {}",
                s.message()
            ),
            _ if std::error::Error::source(&s).is_some() => anyhow!(
                "the backup from {addr} failed: {}",
                transport::describe_error(&addr, &client_opts, &s)
            ),
            code => anyhow!("{addr} refused the backup: {code}: {}", s.message()),
        }
    };
    let request = SaveSnapshotRequest {
        digest_auth: opts.digest_auth.clone().unwrap_or_default(),
    };
    let mut stream = tokio::time::timeout(TIMEOUT, client.save_snapshot(request))
        .await
        .map_err(|_| anyhow!("{addr} did not answer within {TIMEOUT:?}"))?
        .map_err(refused)?
        .into_inner();

    let part = part_path(&opts.file);
    let mut guard = PartGuard(Some(part.clone()));
    let file = File::create(&part).with_context(|| format!("cannot create {}", part.display()))?;
    let mut out = BufWriter::new(file);
    let mut info: Option<SnapshotInfo> = None;
    let mut bytes = 0u64;
    loop {
        let next = tokio::time::timeout(TIMEOUT, stream.message())
            .await
            .map_err(|_| anyhow!("{addr} sent nothing for {TIMEOUT:?}: backup abandoned"))?
            .map_err(refused)?;
        let Some(chunk) = next else { break };
        if let Some(i) = chunk.info {
            if info.is_some() {
                bail!("{addr} sent the snapshot's description twice: backup abandoned");
            }
            info = Some(i);
        }
        if info.is_none() {
            bail!("{addr} sent data before the snapshot's description: backup abandoned");
        }
        out.write_all(&chunk.data)
            .with_context(|| format!("cannot write {}", part.display()))?;
        bytes += chunk.data.len() as u64;
    }
    let info = info.ok_or_else(|| anyhow!("{addr} ended the backup before sending anything"))?;
    let file = out
        .into_inner()
        .map_err(|e| anyhow!("cannot write {}: {}", part.display(), e.error()))?;
    file.sync_all()
        .with_context(|| format!("cannot sync {}", part.display()))?;
    drop(file);
    verify(&part, &info).context("the backup received does not verify; no file was saved")?;
    fs::rename(&part, &opts.file).with_context(|| {
        format!(
            "cannot rename {} to {}",
            part.display(),
            opts.file.display()
        )
    })?;
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
fn verify(path: &Path, info: &SnapshotInfo) -> anyhow::Result<()> {
    let (file_info, mut reader) = paddock_storage::open_snapshot_file(path)?;
    let tree = DataTree::read_snapshot(&mut reader)?;
    if file_info.zxid.0 != info.zxid || tree.last_zxid().0 != info.zxid {
        bail!(
            "the server announced zxid {} but the file holds {}",
            Zxid(info.zxid),
            tree.last_zxid()
        );
    }
    if tree.digest() != info.digest {
        bail!(
            "the server announced digest {:016x} but the file's tree has {:016x}",
            info.digest,
            tree.digest()
        );
    }
    Ok(())
}

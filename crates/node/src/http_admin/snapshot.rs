//! `GET <admin.commandURL>/snapshot` (alias `snap`): ZooKeeper 3.9's `SnapshotCommand`, a
//! backup of the running server over the admin API.
//!
//! ```text
//!  Authorization: digest user:password ─▶ AdminSource::backup (cdrwa on `/`, O(1) frozen tree)
//!     ─▶ the snapshot file written to an unnamed temporary file (blocking pool)
//!     ─▶ 200, headers last_zxid: 0x<hex>, snapshot_size: <bytes>, the file as the body
//!        (application/octet-stream; `?streaming=false`: headers only, as ZooKeeper)
//! ```
//!
//! As ZooKeeper's, the command needs auth info: without an `Authorization` header it answers
//! 401; the credentials must grant every permission on `/` (403 otherwise). The file is
//! byte for byte what `paddock snapshot save` writes, so `paddock restore --from` and
//! `paddock dump snapshot` take it. One snapshot at a time (429 while one is being written).
//! Unlike ZooKeeper's, it does not also write a snapshot into the server's data directory.

use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use paddock_gateway::{BackupCaller, BackupRefused};
use paddock_types::Id;
use serde_json::json;
use tokio::sync::mpsc;

use super::Context;

/// The command's names, primary first.
pub const NAMES: [&str; 2] = ["snapshot", "snap"];
/// Bytes per body chunk.
const CHUNK_BYTES: usize = 256 * 1024;
/// Chunks buffered between the file reader and the client.
const CHANNEL_CHUNKS: usize = 8;

/// Whether `name` is this command.
pub fn is_snapshot(name: &str) -> bool {
    NAMES.contains(&name)
}

/// Set while a snapshot is being written or streamed.
#[derive(Clone, Default)]
pub struct Busy(Arc<AtomicBool>);

/// Held while one runs; frees the slot when dropped.
struct Slot(Arc<AtomicBool>);

impl Busy {
    fn take(&self) -> Option<Slot> {
        self.0
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Slot(Arc::clone(&self.0)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The caller's ids from the connection and the `Authorization` header (ZooKeeper's
/// `<scheme> <auth>`). `Err`: the status and ZooKeeper's error text.
pub fn caller(
    peer: SocketAddr,
    headers: &HeaderMap,
    tls_ids: &[Id],
) -> Result<BackupCaller, (StatusCode, &'static str)> {
    let missing = (
        StatusCode::UNAUTHORIZED,
        "Auth info is missing for the command",
    );
    let not_authenticated = (StatusCode::UNAUTHORIZED, "Not authenticated");
    let value = headers.get(header::AUTHORIZATION).ok_or(missing)?;
    let value = value.to_str().map_err(|_| not_authenticated)?;
    let mut parts = value.splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    let auth = parts.next();
    let mut conn_ids = vec![Id {
        scheme: "ip".into(),
        id: peer.ip().to_string(),
    }];
    conn_ids.extend(tls_ids.iter().cloned());
    match (scheme, auth) {
        ("digest", Some(user_password)) if user_password.contains(':') => Ok(BackupCaller {
            conn_ids,
            digest: Some(user_password.to_string()),
        }),
        // The client certificate of an HTTPS connection (admin.needClientAuth) is the proof.
        ("x509", None) if !tls_ids.is_empty() => Ok(BackupCaller {
            conn_ids,
            digest: None,
        }),
        _ => Err(not_authenticated),
    }
}

/// Runs the command for `caller`; `streaming` false answers the headers only.
pub async fn serve(ctx: Context, caller: BackupCaller, streaming: bool) -> Response {
    let Some(slot) = ctx.snapshot_busy().take() else {
        return error(StatusCode::TOO_MANY_REQUESTS, "a snapshot is being taken");
    };
    let admin = ctx.admin().clone();
    let taken = tokio::task::spawn_blocking(move || {
        let backup = admin.source().backup(&caller)?;
        let mut file = tempfile::tempfile()
            .map_err(|e| BackupRefused::Unavailable(format!("no temporary file: {e}")))?;
        let written = (|| {
            (backup.write)(&mut file)?;
            file.flush()?;
            let size = file.seek(SeekFrom::End(0))?;
            file.seek(SeekFrom::Start(0))?;
            Ok::<u64, std::io::Error>(size)
        })();
        let size = written.map_err(|e| {
            BackupRefused::Unavailable(format!("the snapshot could not be written: {e}"))
        })?;
        Ok::<_, BackupRefused>((backup.zxid, size, file))
    })
    .await;
    let (zxid, size, file) = match taken {
        Ok(Ok(t)) => t,
        Ok(Err(refused)) => return refusal(refused),
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("the snapshot failed: {e}"),
            )
        }
    };
    tracing::info!(zxid = %paddock_types::Zxid(zxid), size, "snapshot taken over the admin API");
    let headers = [
        ("last_zxid", format!("0x{zxid:x}")),
        ("snapshot_size", size.to_string()),
    ];
    let length = [(header::CONTENT_LENGTH, size.to_string())];
    if !streaming {
        drop(slot);
        let mut r = json_body(
            StatusCode::OK,
            json!({ "command": NAMES[0], "error": null }),
        );
        for (k, v) in headers {
            if let Ok(v) = v.parse() {
                r.headers_mut().insert(k, v);
            }
        }
        return r;
    }
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(read_chunks(
        file, slot,
    )));
    let mut r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        length,
        body,
    )
        .into_response();
    for (k, v) in headers {
        if let Ok(v) = v.parse() {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

/// Reads `file` in chunks on a blocking thread into a bounded channel (the reader waits while
/// the client is behind); `slot` is freed when the whole file was read or the client left.
fn read_chunks(
    mut file: std::fs::File,
    slot: Slot,
) -> mpsc::Receiver<Result<Bytes, std::io::Error>> {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        loop {
            let mut buf = vec![0u8; CHUNK_BYTES];
            match file.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    rx
}

/// ZooKeeper's answers to a refused snapshot.
fn refusal(r: BackupRefused) -> Response {
    match r {
        BackupRefused::BadCredentials(_) => error(StatusCode::UNAUTHORIZED, "Not authenticated"),
        BackupRefused::Denied(_) => error(StatusCode::FORBIDDEN, "Not authorized"),
        BackupRefused::Unavailable(why) => error(StatusCode::SERVICE_UNAVAILABLE, &why),
        BackupRefused::Unsupported => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server does not take snapshots",
        ),
    }
}

/// The JSON every command answers with, and `error`.
pub fn error(status: StatusCode, why: &str) -> Response {
    json_body(status, json!({ "command": NAMES[0], "error": why }))
}

fn json_body(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, a.parse().expect("header"));
        }
        h
    }

    #[test]
    fn auth_info_is_required_and_read_as_zookeeper_writes_it() {
        let peer: SocketAddr = "10.1.2.3:5555".parse().expect("addr");
        let e = caller(peer, &headers(None), &[]).expect_err("no header");
        assert_eq!(e.0, StatusCode::UNAUTHORIZED);
        assert_eq!(e.1, "Auth info is missing for the command");
        for bad in ["digest", "digest nocolon", "sasl x", "x509"] {
            let e = caller(peer, &headers(Some(bad)), &[]).expect_err(bad);
            assert_eq!(e, (StatusCode::UNAUTHORIZED, "Not authenticated"), "{bad}");
        }
        let c = caller(peer, &headers(Some("digest super:secret")), &[]).expect("digest");
        assert_eq!(c.digest.as_deref(), Some("super:secret"));
        assert_eq!(c.conn_ids[0].scheme, "ip");
        assert_eq!(c.conn_ids[0].id, "10.1.2.3");
        let cert = Id {
            scheme: "x509".into(),
            id: "CN=admin".into(),
        };
        let c = caller(peer, &headers(Some("x509")), std::slice::from_ref(&cert))
            .expect("a client certificate");
        assert!(c.digest.is_none());
        assert_eq!(c.conn_ids[1], cert);
    }

    #[test]
    fn one_snapshot_at_a_time() {
        let busy = Busy::default();
        let slot = busy.take().expect("free");
        assert!(busy.take().is_none());
        drop(slot);
        assert!(busy.take().is_some());
    }
}

//! Snapshot file format and its verification.
//!
//! ```text
//! snapshot.<zxid as 16 hex digits>
//!   payload                 the bytes written to the sink, unchanged
//!   trailer (28 bytes)      magic "PDKSNAP1" | zxid u64 BE | payload length u64 BE | crc32 u32 BE
//! ```
//!
//! A trailer at the *end* lets the sink stream the payload without knowing its length up front;
//! a torn or truncated file has no valid trailer. The crc32 covers the payload; the zxid must
//! match the file name and the length must match the file size.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use paddock_types::Zxid;

/// First bytes of the trailer (format version 1).
pub(crate) const MAGIC: &[u8; 8] = b"PDKSNAP1";
/// Trailer size in bytes.
pub(crate) const TRAILER_LEN: u64 = 28;
/// Read buffer used when verifying.
const VERIFY_BUF_BYTES: usize = 64 * 1024;

/// What a successful verification established about a snapshot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verified {
    /// Payload bytes (the file minus the trailer).
    pub payload_len: u64,
    /// crc32 of the payload.
    pub crc: u32,
}

/// Encodes the trailer.
pub(crate) fn trailer(zxid: Zxid, payload_len: u64, crc: u32) -> [u8; TRAILER_LEN as usize] {
    let mut t = [0u8; TRAILER_LEN as usize];
    t[..8].copy_from_slice(MAGIC);
    t[8..16].copy_from_slice(&zxid.to_be_bytes());
    t[16..24].copy_from_slice(&payload_len.to_be_bytes());
    t[24..28].copy_from_slice(&crc.to_be_bytes());
    t
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Checks the trailer only (cheap): `Ok(Err(why))` if the file is not a valid snapshot of `zxid`.
pub(crate) fn check_trailer(file: &mut File, zxid: Zxid) -> io::Result<Result<Verified, String>> {
    let file_len = file.metadata()?.len();
    if file_len < TRAILER_LEN {
        return Ok(Err(format!(
            "file is {file_len} bytes, shorter than the {TRAILER_LEN}-byte trailer"
        )));
    }
    let mut t = [0u8; TRAILER_LEN as usize];
    file.seek(SeekFrom::Start(file_len - TRAILER_LEN))?;
    file.read_exact(&mut t)?;
    if &t[..8] != MAGIC {
        return Ok(Err("no trailer (torn or unfinished write)".to_string()));
    }
    let named = Zxid(be_u64(&t[8..16]));
    if named != zxid {
        return Ok(Err(format!(
            "trailer names zxid {named}, file name says {zxid}"
        )));
    }
    let payload_len = be_u64(&t[16..24]);
    if payload_len != file_len - TRAILER_LEN {
        return Ok(Err(format!(
            "trailer says {payload_len} payload bytes, file holds {}",
            file_len - TRAILER_LEN
        )));
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&t[24..28]);
    Ok(Ok(Verified {
        payload_len,
        crc: u32::from_be_bytes(crc),
    }))
}

/// Checks the trailer and streams the payload once through crc32 (bounded memory).
/// `Ok(Err(why))` means the file is invalid; `Err` is an io failure (the file may be fine).
pub(crate) fn verify(file: &mut File, zxid: Zxid) -> io::Result<Result<Verified, String>> {
    let v = match check_trailer(file, zxid)? {
        Ok(v) => v,
        Err(why) => return Ok(Err(why)),
    };
    file.seek(SeekFrom::Start(0))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut payload = (&mut *file).take(v.payload_len);
    let mut buf = vec![0u8; VERIFY_BUF_BYTES];
    let mut seen = 0u64;
    loop {
        let n = match payload.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        seen += n as u64;
    }
    if seen != v.payload_len {
        return Ok(Err(format!(
            "read {seen} payload bytes, trailer says {}",
            v.payload_len
        )));
    }
    let computed = hasher.finalize();
    if computed != v.crc {
        return Ok(Err(format!(
            "checksum mismatch: trailer {:08x}, payload {computed:08x}",
            v.crc
        )));
    }
    Ok(Ok(v))
}

/// File name of the committed snapshot of `zxid`.
pub(crate) fn file_name(zxid: Zxid) -> String {
    format!("snapshot.{:016x}", zxid.0)
}

/// Parses a committed snapshot's file name (exactly `snapshot.` + 16 hex digits).
pub(crate) fn parse_file_name(name: &str) -> Option<Zxid> {
    let hex = name.strip_prefix("snapshot.")?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(Zxid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_and_reject_others() {
        let z = Zxid(0x0000_0003_0000_00ff);
        assert_eq!(file_name(z), "snapshot.00000003000000ff");
        assert_eq!(parse_file_name(&file_name(z)), Some(z));
        assert_eq!(parse_file_name("snapshot.00000003000000ff.tmp"), None);
        assert_eq!(parse_file_name("snapshot.00000003000000ff.corrupt"), None);
        assert_eq!(parse_file_name("snapshot.3ff"), None);
        assert_eq!(parse_file_name("snapshot.+000000000000003"), None);
        assert_eq!(parse_file_name("paddock.lock"), None);
    }
}

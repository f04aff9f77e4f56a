//! Snapshot files outside a data directory: a backup made by `paddock snapshot save`, or a copy
//! of `snapshots/snapshot.<zxid>`. Both are the same bytes (format.rs: payload + trailer with
//! the zxid, the payload length and its crc32), so a backup can be restored, dumped or dropped
//! into a snapshot directory as it is. Read-only: nothing here changes a file.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use paddock_types::Zxid;

use super::format::{self, MAGIC, TRAILER_LEN};
use super::reader::VerifyingReader;
use crate::error::StorageError;
use crate::fsutil::at;
use crate::traits::SnapshotReader;

/// A verified snapshot file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFileInfo {
    /// The zxid its trailer names (the last transaction the snapshot includes).
    pub zxid: Zxid,
    /// Payload bytes (the file without its trailer).
    pub payload_len: u64,
    /// crc32 of the payload, as the trailer holds it (verified).
    pub crc: u32,
}

/// Opens a snapshot file anywhere (its name does not matter), checks its trailer and streams it
/// once through crc32; returns what it holds and a reader of exactly the payload (which checks
/// the crc again as it streams). A file cut short, torn or altered is
/// `StorageError::CorruptFile` saying what is wrong with it. Never writes.
pub fn open_snapshot_file(path: &Path) -> Result<(SnapshotFileInfo, SnapshotReader), StorageError> {
    let corrupt = |why: String| StorageError::CorruptFile {
        path: path.to_path_buf(),
        why,
    };
    let mut file = File::open(path).map_err(at(path))?;
    let zxid = trailer_zxid(&mut file)
        .map_err(at(path))?
        .map_err(corrupt)?;
    let verified = format::verify(&mut file, zxid)
        .map_err(at(path))?
        .map_err(corrupt)?;
    file.seek(SeekFrom::Start(0)).map_err(at(path))?;
    let info = SnapshotFileInfo {
        zxid,
        payload_len: verified.payload_len,
        crc: verified.crc,
    };
    let reader = VerifyingReader::new(file, verified, path.to_path_buf());
    Ok((info, Box::new(reader)))
}

/// The committed snapshot files of a snapshot directory (`<data dir>/snapshots`), newest first,
/// unverified. Files moved aside (`.corrupt`, `.tmp`) are not listed. Never writes.
pub fn snapshot_files(dir: &Path) -> Result<Vec<(Zxid, PathBuf)>, StorageError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(at(dir))? {
        let name = entry.map_err(at(dir))?.file_name();
        if let Some(z) = name.to_str().and_then(format::parse_file_name) {
            out.push((z, dir.join(&name)));
        }
    }
    out.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
    Ok(out)
}

/// Writes a snapshot file's bytes to `out`: whatever `payload` writes, then the trailer (zxid,
/// length, crc32) that [`open_snapshot_file`] and a data directory's snapshot store verify.
/// Returns the payload length. The caller makes the result durable if it needs to.
pub fn write_snapshot_file(
    out: &mut dyn Write,
    zxid: Zxid,
    payload: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<u64> {
    let mut counting = Counting {
        inner: out,
        hasher: crc32fast::Hasher::new(),
        len: 0,
    };
    payload(&mut counting)?;
    counting.flush()?;
    let Counting {
        inner, hasher, len, ..
    } = counting;
    inner.write_all(&format::trailer(zxid, len, hasher.finalize()))?;
    inner.flush()?;
    Ok(len)
}

/// The zxid a file's trailer names, if it has a trailer at all.
fn trailer_zxid(file: &mut File) -> io::Result<Result<Zxid, String>> {
    let len = file.metadata()?.len();
    if len < TRAILER_LEN {
        return Ok(Err(format!(
            "file is {len} bytes, shorter than the {TRAILER_LEN}-byte trailer (cut short?)"
        )));
    }
    let mut t = [0u8; TRAILER_LEN as usize];
    file.seek(SeekFrom::Start(len - TRAILER_LEN))?;
    io::Read::read_exact(file, &mut t)?;
    if &t[..8] != MAGIC {
        return Ok(Err(
            "no snapshot trailer at the end: not a Paddock snapshot file, or cut short".into(),
        ));
    }
    let mut z = [0u8; 8];
    z.copy_from_slice(&t[8..16]);
    Ok(Ok(Zxid(u64::from_be_bytes(z))))
}

/// Counts and checksums what passes through.
struct Counting<'a> {
    inner: &'a mut dyn Write,
    hasher: crc32fast::Hasher,
    len: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_verifies_and_a_cut_or_altered_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backup");
        let mut bytes = Vec::new();
        let n = write_snapshot_file(&mut bytes, Zxid(0x5_0000_0007), |w| {
            w.write_all(b"payload bytes")
        })
        .unwrap();
        assert_eq!(n, 13);
        fs::write(&path, &bytes).unwrap();
        let (info, mut r) = open_snapshot_file(&path).unwrap();
        assert_eq!((info.zxid, info.payload_len), (Zxid(0x5_0000_0007), 13));
        let mut payload = Vec::new();
        io::Read::read_to_end(&mut r, &mut payload).unwrap();
        assert_eq!(payload, b"payload bytes");

        fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let cut = open_snapshot_file(&path).err().unwrap().to_string();
        assert!(cut.contains("no snapshot trailer"), "{cut}");

        let mut altered = bytes.clone();
        altered[2] ^= 1;
        fs::write(&path, &altered).unwrap();
        let bad = open_snapshot_file(&path).err().unwrap().to_string();
        assert!(bad.contains("checksum mismatch"), "{bad}");

        fs::write(&path, b"short").unwrap();
        assert!(open_snapshot_file(&path).is_err());
    }
}

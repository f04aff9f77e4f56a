//! The reader handed out by `open_latest`: exactly the payload bytes, re-checked while read.
//!
//! The file was verified before it was handed out; the reader checks the crc32 again as the bytes
//! stream by and fails the final read with `InvalidData` if they changed since (bit rot, a
//! concurrent writer). It costs one crc update per read and no extra pass.

use std::fs::File;
use std::io::{self, BufReader, Read, Take};
use std::path::PathBuf;

use super::format::Verified;

/// Read buffer in front of the file.
const READ_BUF_BYTES: usize = 64 * 1024;

/// Reads a snapshot's payload, verifying its checksum at the end.
pub(crate) struct VerifyingReader {
    inner: BufReader<Take<File>>,
    hasher: crc32fast::Hasher,
    expected: Verified,
    read: u64,
    /// For the error message.
    path: PathBuf,
    /// Set once the end was reached and checked.
    finished: bool,
}

impl VerifyingReader {
    /// `file` positioned at the start of the payload.
    pub(crate) fn new(file: File, expected: Verified, path: PathBuf) -> VerifyingReader {
        VerifyingReader {
            inner: BufReader::with_capacity(READ_BUF_BYTES, file.take(expected.payload_len)),
            hasher: crc32fast::Hasher::new(),
            expected,
            read: 0,
            path,
            finished: false,
        }
    }

    fn check_end(&mut self) -> io::Result<()> {
        self.finished = true;
        let computed = std::mem::take(&mut self.hasher).finalize();
        if self.read != self.expected.payload_len || computed != self.expected.crc {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "snapshot {} changed while being read: {} of {} bytes, crc {computed:08x} \
                     (expected {:08x})",
                    self.path.display(),
                    self.read,
                    self.expected.payload_len,
                    self.expected.crc
                ),
            ));
        }
        Ok(())
    }
}

impl Read for VerifyingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.finished || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.check_end()?;
            return Ok(0);
        }
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

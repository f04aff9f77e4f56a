//! Reading a ZooKeeper txn log (`FileTxnLog`):
//!
//! ```text
//! FileHeader   magic int "ZKLG" | version int (2) | dbid long
//! entries      crc long (Adler-32 of the txn bytes) | txnLen int | txn bytes | EOR byte 'B'
//!              txn = TxnHeader{clientId long, cxid int, zxid long, time long, type int}
//!                    + the record of that type (+ a TxnDigest in 3.6+, ignored)
//! end          the file ends, or zeros (ZooKeeper preallocates log files in 64 MB steps)
//! ```
//!
//! Stricter than ZooKeeper, which treats any short read as the end of the log: an entry the file
//! cuts short (the file ends inside it), one whose EOR byte is not 'B', or bytes after the zero
//! padding starts are refused (naming the file and offset), as is a checksum mismatch
//! (ZooKeeper refuses that too). One exception, the state a crash leaves: the last entry of a
//! preallocated file written only in part — its EOR byte, and everything after it, still
//! zeros. It was never synced, so never acknowledged; ZooKeeper drops it, and so does the
//! import (reported as a torn tail).

use std::path::Path;

use crate::adler32::adler32;
use crate::error::ImportError;
use crate::jute::{JuteError, Reader};
use crate::records::{read_header, read_record, TxnHeader, TxnRecord};

/// `FileTxnLog.TXNLOG_MAGIC`: "ZKLG".
pub(crate) const LOG_MAGIC: i32 = i32::from_be_bytes(*b"ZKLG");
const VERSION: i32 = 2;
/// FileHeader bytes.
const HEADER_LEN: usize = 16;

/// One logged txn; `record` is `None` for a type this importer does not know.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Where the entry starts in its file.
    pub offset: u64,
    pub header: TxnHeader,
    pub record: Option<TxnRecord>,
}

fn damaged(path: &Path, offset: usize, what: impl Into<String>) -> ImportError {
    ImportError::Damaged {
        path: path.to_path_buf(),
        offset: offset as u64,
        what: what.into(),
    }
}

fn at(path: &Path, base: usize, e: JuteError) -> ImportError {
    damaged(path, base + e.offset as usize, e.what)
}

/// One log file's content.
#[derive(Debug, Default)]
pub(crate) struct LogFile {
    /// Every complete txn, in file order.
    pub entries: Vec<Entry>,
    /// The offset of a last entry a crash left half written (dropped), if any.
    pub torn_at: Option<u64>,
}

/// Reads one log file (see the module doc).
pub(crate) fn read(path: &Path, bytes: &[u8]) -> Result<LogFile, ImportError> {
    let mut file = LogFile::default();
    if bytes.iter().all(|b| *b == 0) {
        return Ok(file); // created (preallocated) but never written
    }
    let mut r = Reader::new(bytes);
    let fail = |e: JuteError| at(path, 0, e);
    if bytes.len() < HEADER_LEN {
        return Err(damaged(
            path,
            0,
            format!("cut short: a {}-byte file header", bytes.len()),
        ));
    }
    let magic = r.int("magic").map_err(fail)?;
    if magic != LOG_MAGIC {
        return Err(damaged(
            path,
            0,
            format!("bad magic {magic:#010x}: not a ZooKeeper txn log (ZKLG)"),
        ));
    }
    let version = r.int("version").map_err(fail)?;
    if version != VERSION {
        return Err(damaged(
            path,
            4,
            format!("unsupported txn log version {version}"),
        ));
    }
    r.long("dbid").map_err(fail)?;

    loop {
        let start = r.pos();
        if r.remaining() == 0 {
            break;
        }
        let crc = r.long("entry checksum").map_err(fail)?;
        let len_at = r.pos();
        let len = r.int("entry length").map_err(fail)?;
        if len == 0 {
            // The end of the log, where the preallocated zeros start.
            if let Some(i) = r.rest().iter().position(|b| *b != 0) {
                return Err(damaged(
                    path,
                    r.pos() + i,
                    "data after the end of the log (a zero-length entry)",
                ));
            }
            break;
        }
        let len = usize::try_from(len)
            .map_err(|_| damaged(path, len_at, format!("entry length {len}")))?;
        if len > r.remaining() {
            return Err(damaged(
                path,
                start,
                format!(
                    "entry cut short: {len} txn bytes announced, {} left",
                    r.remaining()
                ),
            ));
        }
        let txn = &r.rest()[..len];
        let mut eor = r.clone();
        // Skip the txn bytes (checked above), then the end-of-record byte.
        eor.skip(len, "txn").map_err(fail)?;
        let eor_at = eor.pos();
        match eor.byte("EOR") {
            Ok(b'B') => {}
            Ok(0) if bytes[eor_at..].iter().all(|b| *b == 0) => {
                // A torn write at the end of a preallocated file.
                file.torn_at = Some(start as u64);
                break;
            }
            Ok(b) => {
                return Err(damaged(
                    path,
                    eor_at,
                    format!("end-of-record byte {b:#04x}, not 'B'"),
                ))
            }
            Err(_) => {
                return Err(damaged(
                    path,
                    start,
                    "entry cut short: no end-of-record byte",
                ))
            }
        }
        let computed = adler32(txn);
        if computed != crc {
            return Err(damaged(
                path,
                start,
                format!("checksum mismatch: stored {crc:#x}, computed {computed:#x}"),
            ));
        }
        let txn_at = len_at + 4;
        let mut tr = Reader::new(txn);
        let header = read_header(&mut tr).map_err(|e| at(path, txn_at, e))?;
        let record = read_record(header.kind, &mut tr).map_err(|e| at(path, txn_at, e))?;
        file.entries.push(Entry {
            offset: start as u64,
            header,
            record,
        });
        r = eor;
    }
    Ok(file)
}

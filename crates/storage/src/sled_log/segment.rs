//! The on-disk format of the txn log in sled: one value per appended batch, a *segment*.
//!
//! ```text
//! default tree   "format"          -> "paddock-txnlog/2"  (FORMAT; checked at open)
//!                "purged_through"  -> zxid, 8 bytes BE    (the purge watermark)
//! tree "txnlog"  key   = zxid of the segment's first record, 8 bytes big-endian (byte order = numeric)
//!                value = header ++ record ++ record ++ ...  (count records, zxids strictly increasing)
//!
//! header (17 bytes)   version u8 (= 2) | count u32 BE (>= 1) | last zxid u64 BE | crc32 of those 13 bytes
//! record              zxid u64 BE | len u32 BE | payload (len bytes) | crc32 of zxid ++ len ++ payload
//! ```
//!
//! A segment is valid when: its key is 8 bytes; the header's version and checksum are right and
//! its count is not zero; its first record's zxid is the key; zxids increase strictly; every
//! record fits in the value and its checksum is right; the last record's zxid is the header's
//! `last`; and nothing follows it. Across segments, each key is above the previous segment's
//! `last`. [`Records`] checks all of it (but the cross-segment rule, which needs the previous
//! segment) as it walks, and stops at the first fault with a [`BadRecord`] naming the first zxid
//! that cannot be trusted.
//!
//! Why segments and not one sled value per transaction: each sled insert costs tens of
//! microseconds of CPU (its B-tree leaf is cloned and rewritten in memory, and sled's I/O threads
//! work on it), and a purge removed one key per transaction. One value per group-commit batch
//! divides both by the batch size. Values stay well below sled's blob threshold
//! ([`SEGMENT_TARGET_BYTES`]): sled rewrites a whole B-tree leaf (up to 16 values) when it
//! consolidates it, and a leaf over 128 KiB becomes a separate blob file to write and fsync.
//!
//! This module is public (as `paddock_storage::log_format`) for tools and tests that inspect or
//! damage a closed log; the server itself only goes through [`crate::SledTxnLog`].

use std::ops::Range;

use bytes::Bytes;
use paddock_types::Zxid;

/// Key, in sled's default tree, of the format marker.
pub const FORMAT_KEY: &[u8] = b"format";
/// The format marker this build writes and reads. The per-record format that came before had no
/// marker; a log without one that holds anything is refused at open.
pub const FORMAT: &[u8] = b"paddock-txnlog/2";
/// The segment header's version byte.
pub const VERSION: u8 = 2;
/// Bytes in a key.
pub const KEY_LEN: usize = 8;
/// Bytes in a segment header.
pub const HEADER_LEN: usize = 17;
/// Bytes a record takes besides its payload: zxid, length, checksum.
pub const RECORD_OVERHEAD: usize = 16;
/// An append is cut into segments of about this size (a record is never split: one larger than
/// this gets a segment of its own).
pub const SEGMENT_TARGET_BYTES: usize = 8 << 10;

/// Bytes of a record before its payload.
const RECORD_PREFIX: usize = 12;

/// What is wrong with a stored segment or record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    KeyLength(usize),
    HeaderTooShort(usize),
    Version(u8),
    HeaderChecksum {
        stored: u32,
        computed: u32,
    },
    EmptySegment,
    /// The key is not above the previous segment's last zxid.
    KeyNotAbove {
        key: Zxid,
        previous: Zxid,
    },
    /// A record runs past the end of the value.
    Truncated {
        offset: usize,
        needs: usize,
        has: usize,
    },
    Checksum {
        stored: u32,
        computed: u32,
    },
    /// The first record's zxid is not the key.
    FirstNotKey {
        first: Zxid,
        key: Zxid,
    },
    NotIncreasing {
        zxid: Zxid,
        previous: Zxid,
    },
    /// A record above the header's `last`, or the last record not at `last`.
    LastMismatch {
        zxid: Zxid,
        last: Zxid,
    },
    TrailingBytes(usize),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::KeyLength(n) => write!(f, "key is {n} bytes, expected {KEY_LEN}"),
            Fault::HeaderTooShort(n) => {
                write!(
                    f,
                    "value is {n} bytes, shorter than a {HEADER_LEN}-byte segment header"
                )
            }
            Fault::Version(v) => write!(f, "segment version {v}, expected {VERSION}"),
            Fault::HeaderChecksum { stored, computed } => write!(
                f,
                "segment header checksum mismatch: stored {stored:08x}, computed {computed:08x}"
            ),
            Fault::EmptySegment => write!(f, "segment header counts zero records"),
            Fault::KeyNotAbove { key, previous } => write!(
                f,
                "segment at {key} is not above the previous segment's last record {previous}"
            ),
            Fault::Truncated { offset, needs, has } => write!(
                f,
                "record at byte {offset} needs {needs} bytes, the value has {has} left"
            ),
            Fault::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch: stored {stored:08x}, computed {computed:08x}"
            ),
            Fault::FirstNotKey { first, key } => {
                write!(f, "first record is {first}, the segment's key is {key}")
            }
            Fault::NotIncreasing { zxid, previous } => {
                write!(f, "zxid {zxid} is not above the previous record {previous}")
            }
            Fault::LastMismatch { zxid, last } => write!(
                f,
                "record {zxid} does not match the segment header's last zxid {last}"
            ),
            Fault::TrailingBytes(n) => write!(f, "{n} bytes after the segment's last record"),
        }
    }
}

/// A fault found in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// The first zxid that cannot be trusted: the damaged record's own zxid when it can be told,
    /// else one above the last good zxid (a cut there removes exactly the bad part).
    pub zxid: Zxid,
    /// Index of the bad record in its segment (0 for faults of the key or header): the records
    /// before it are good.
    pub index: u32,
    pub fault: Fault,
}

impl std::fmt::Display for BadRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.fault.fmt(f)
    }
}

/// The zxid a key names, as far as it can be told: exact for 8-byte keys; other lengths are
/// padded or cut to 8 bytes, which keeps byte order.
pub fn key_zxid_lossy(key: &[u8]) -> Zxid {
    let mut b = [0u8; KEY_LEN];
    let n = key.len().min(KEY_LEN);
    b[..n].copy_from_slice(&key[..n]);
    Zxid::from_be_bytes(b)
}

/// The key of the segment whose first record is `first`.
pub fn key(first: Zxid) -> [u8; KEY_LEN] {
    first.to_be_bytes()
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

fn header(count: u32, last: Zxid) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = VERSION;
    h[1..5].copy_from_slice(&count.to_be_bytes());
    h[5..13].copy_from_slice(&last.to_be_bytes());
    let crc = crc32fast::hash(&h[..13]);
    h[13..].copy_from_slice(&crc.to_be_bytes());
    h
}

/// Bytes a record with this payload takes in a segment.
fn record_len(payload: &[u8]) -> usize {
    RECORD_OVERHEAD + payload.len()
}

/// One segment value holding `records` (at least one; the caller checked their order), whatever
/// its size. Key: [`key`] of the first record.
pub fn encode(records: &[(Zxid, Bytes)]) -> Vec<u8> {
    assert!(!records.is_empty(), "a segment holds at least one record");
    let len = HEADER_LEN + records.iter().map(|(_, p)| record_len(p)).sum::<usize>();
    let count = u32::try_from(records.len()).expect("segment record count fits in u32");
    let last = records[records.len() - 1].0;
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&header(count, last));
    for (zxid, payload) in records {
        let start = v.len();
        v.extend_from_slice(&zxid.to_be_bytes());
        let plen = u32::try_from(payload.len()).expect("record payload fits in u32");
        v.extend_from_slice(&plen.to_be_bytes());
        v.extend_from_slice(payload);
        let crc = crc32fast::hash(&v[start..]);
        v.extend_from_slice(&crc.to_be_bytes());
    }
    v
}

/// `records` cut into segments of about [`SEGMENT_TARGET_BYTES`]: (first zxid, value) each.
pub(crate) fn encode_segments(records: &[(Zxid, Bytes)]) -> Vec<(Zxid, Vec<u8>)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < records.len() {
        let mut end = start + 1;
        let mut size = HEADER_LEN + record_len(&records[start].1);
        while end < records.len() && size + record_len(&records[end].1) <= SEGMENT_TARGET_BYTES {
            size += record_len(&records[end].1);
            end += 1;
        }
        out.push((records[start].0, encode(&records[start..end])));
        start = end;
    }
    out
}

/// A segment whose key and header checked out; its records are checked by [`Segment::records`].
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    first: Zxid,
    count: u32,
    last: Zxid,
    value: &'a [u8],
}

impl<'a> Segment<'a> {
    /// Checks the key and the header. `previous`: the last zxid of the segment before (or
    /// `Zxid::ZERO`): the key must be above it.
    pub fn parse(key: &[u8], value: &'a [u8], previous: Zxid) -> Result<Segment<'a>, BadRecord> {
        let lossy = key_zxid_lossy(key);
        let bad = |fault| BadRecord {
            zxid: lossy.max(Zxid(previous.0.saturating_add(1))),
            index: 0,
            fault,
        };
        let Ok(k) = <[u8; KEY_LEN]>::try_from(key) else {
            return Err(bad(Fault::KeyLength(key.len())));
        };
        let first = Zxid::from_be_bytes(k);
        if first <= previous {
            return Err(bad(Fault::KeyNotAbove {
                key: first,
                previous,
            }));
        }
        if value.len() < HEADER_LEN {
            return Err(bad(Fault::HeaderTooShort(value.len())));
        }
        if value[0] != VERSION {
            return Err(bad(Fault::Version(value[0])));
        }
        let stored = u32_at(value, 13);
        let computed = crc32fast::hash(&value[..13]);
        if stored != computed {
            return Err(bad(Fault::HeaderChecksum { stored, computed }));
        }
        let count = u32_at(value, 1);
        if count == 0 {
            return Err(bad(Fault::EmptySegment));
        }
        let last = Zxid(u64_at(value, 5));
        Ok(Segment {
            first,
            count,
            last,
            value,
        })
    }

    /// The first record's zxid (the key).
    pub fn first(&self) -> Zxid {
        self.first
    }

    /// The last record's zxid, as the header says.
    pub fn last(&self) -> Zxid {
        self.last
    }

    /// How many records the header says the segment holds.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The records, each checked; the iterator ends after the first fault.
    pub fn records(&self) -> Records<'a> {
        Records {
            seg: *self,
            pos: HEADER_LEN,
            index: 0,
            previous: None,
            done: false,
        }
    }

    /// A value holding only this segment's first `count` records, the last of them `last` and
    /// ending at byte `end` of the value (a [`Record::span`] end): that prefix under a new header.
    pub(crate) fn prefix(&self, count: u32, end: usize, last: Zxid) -> Vec<u8> {
        debug_assert!(count >= 1 && count <= self.count && end <= self.value.len());
        let mut v = Vec::with_capacity(end);
        v.extend_from_slice(&header(count, last));
        v.extend_from_slice(&self.value[HEADER_LEN..end]);
        v
    }
}

/// One checked record of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub zxid: Zxid,
    pub payload: &'a [u8],
    /// Where the payload lies in the value.
    pub payload_range: Range<usize>,
    /// Where the whole record (zxid to checksum) lies in the value.
    pub span: Range<usize>,
}

/// The records of a [`Segment`], checked one by one.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    seg: Segment<'a>,
    pos: usize,
    index: u32,
    previous: Option<Zxid>,
    done: bool,
}

impl<'a> Records<'a> {
    fn bad(&self, stored: Option<Zxid>, fault: Fault) -> BadRecord {
        let next = match self.previous {
            None => self.seg.first,
            Some(p) => Zxid(p.0.saturating_add(1)),
        };
        // Name the record's own zxid only where it is believable.
        let plausible = stored.filter(|z| match self.previous {
            None => *z == self.seg.first,
            Some(p) => *z > p && *z <= self.seg.last,
        });
        BadRecord {
            zxid: plausible.unwrap_or(next),
            index: self.index,
            fault,
        }
    }

    fn step(&mut self) -> Result<Record<'a>, BadRecord> {
        let value = self.seg.value;
        let start = self.pos;
        let has = value.len() - start;
        if has < RECORD_OVERHEAD {
            return Err(self.bad(
                None,
                Fault::Truncated {
                    offset: start,
                    needs: RECORD_OVERHEAD,
                    has,
                },
            ));
        }
        let zxid = Zxid(u64_at(value, start));
        let len = u32_at(value, start + 8) as usize;
        let needs = RECORD_OVERHEAD.saturating_add(len);
        if needs > has {
            return Err(self.bad(
                Some(zxid),
                Fault::Truncated {
                    offset: start,
                    needs,
                    has,
                },
            ));
        }
        let crc_at = start + RECORD_PREFIX + len;
        let stored = u32_at(value, crc_at);
        let computed = crc32fast::hash(&value[start..crc_at]);
        if stored != computed {
            return Err(self.bad(Some(zxid), Fault::Checksum { stored, computed }));
        }
        match self.previous {
            None if zxid != self.seg.first => {
                return Err(self.bad(
                    None,
                    Fault::FirstNotKey {
                        first: zxid,
                        key: self.seg.first,
                    },
                ));
            }
            Some(previous) if zxid <= previous => {
                return Err(self.bad(None, Fault::NotIncreasing { zxid, previous }));
            }
            _ => {}
        }
        let is_last = self.index + 1 == self.seg.count;
        if zxid > self.seg.last || (is_last && zxid != self.seg.last) {
            let fault = Fault::LastMismatch {
                zxid,
                last: self.seg.last,
            };
            return Err(self.bad(Some(zxid), fault));
        }
        let end = crc_at + 4;
        if is_last && end != value.len() {
            // Its checksum is right, but a value with bytes after its last record was not
            // written by us: trust none of the record.
            return Err(self.bad(Some(zxid), Fault::TrailingBytes(value.len() - end)));
        }
        self.previous = Some(zxid);
        self.index += 1;
        self.pos = end;
        Ok(Record {
            zxid,
            payload: &value[start + RECORD_PREFIX..crc_at],
            payload_range: start + RECORD_PREFIX..crc_at,
            span: start..end,
        })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, BadRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.index == self.seg.count {
            return None;
        }
        let r = self.step();
        self.done = r.is_err();
        Some(r)
    }
}

/// Every record of a segment, checked and copied out.
pub fn decode(key: &[u8], value: &[u8]) -> Result<Vec<(Zxid, Bytes)>, BadRecord> {
    Segment::parse(key, value, Zxid::ZERO)?
        .records()
        .map(|r| r.map(|r| (r.zxid, Bytes::copy_from_slice(r.payload))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recs(zxids: &[u64]) -> Vec<(Zxid, Bytes)> {
        zxids
            .iter()
            .map(|z| (Zxid(*z), Bytes::from(format!("payload {z}"))))
            .collect()
    }

    fn decode_err(key: &[u8], value: &[u8]) -> BadRecord {
        decode(key, value).expect_err("must fail")
    }

    #[test]
    fn round_trip() {
        let r = recs(&[3, 4, 0x1_0000_0002]);
        let v = encode(&r);
        assert_eq!(decode(&key(Zxid(3)), &v), Ok(r));
        let empty = vec![(Zxid(9), Bytes::new())];
        assert_eq!(decode(&key(Zxid(9)), &encode(&empty)), Ok(empty));
    }

    #[test]
    fn every_byte_of_a_record_is_covered() {
        let r = recs(&[1, 2, 3]);
        let v = encode(&r);
        for i in 0..v.len() {
            let mut bad = v.clone();
            bad[i] ^= 0x10;
            let e = decode_err(&key(Zxid(1)), &bad);
            if i < HEADER_LEN {
                assert_eq!(e.index, 0, "byte {i}: {e}");
            } else {
                // Records are 16 + 9 bytes here: the fault is in the record the byte belongs to.
                let rec = (i - HEADER_LEN) / 25;
                assert_eq!(e.index as usize, rec, "byte {i}: {e}");
                assert_eq!(e.zxid, Zxid(rec as u64 + 1), "byte {i}: {e}");
            }
        }
    }

    #[test]
    fn checksum_mismatch_names_the_record() {
        let v = encode(&recs(&[5, 6, 7]));
        let seg = Segment::parse(&key(Zxid(5)), &v, Zxid::ZERO).expect("header");
        let second = seg.records().nth(1).expect("2nd").expect("good");
        let mut bad = v.clone();
        bad[second.payload_range.start] ^= 1;
        let e = decode_err(&key(Zxid(5)), &bad);
        assert_eq!((e.zxid, e.index), (Zxid(6), 1));
        assert!(e.to_string().contains("checksum"), "{e}");
    }

    #[test]
    fn structural_faults_are_reported_not_panicked() {
        let v = encode(&recs(&[5, 6]));
        let k = key(Zxid(5));
        assert_eq!(decode_err(b"abc", &v).fault, Fault::KeyLength(3));
        assert_eq!(decode_err(&k, &v[..3]).fault, Fault::HeaderTooShort(3));
        assert_eq!(decode_err(&key(Zxid(4)), &v).zxid, Zxid(4));
        assert!(matches!(
            decode_err(&key(Zxid(4)), &v).fault,
            Fault::FirstNotKey { .. }
        ));
        assert!(matches!(
            decode_err(&k, &v[..v.len() - 1]).fault,
            Fault::Truncated { .. }
        ));
        let mut long = v.clone();
        long.push(0);
        let e = decode_err(&k, &long);
        assert_eq!(
            (e.fault.clone(), e.zxid, e.index),
            (Fault::TrailingBytes(1), Zxid(6), 1)
        );
        let mut huge_len = v.clone();
        huge_len[HEADER_LEN + 8..HEADER_LEN + 12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decode_err(&k, &huge_len).fault,
            Fault::Truncated { .. }
        ));
        let e = decode_err(&key(Zxid(5)), &encode(&recs(&[5, 5])));
        assert_eq!((e.zxid, e.index), (Zxid(6), 1));
        assert!(matches!(e.fault, Fault::NotIncreasing { .. }));
        let mut zero = v.clone();
        zero[..HEADER_LEN].copy_from_slice(&header(0, Zxid(6)));
        assert_eq!(decode_err(&k, &zero).fault, Fault::EmptySegment);
        let mut fewer = v.clone();
        fewer[..HEADER_LEN].copy_from_slice(&header(1, Zxid(5)));
        assert!(matches!(
            decode_err(&k, &fewer).fault,
            Fault::TrailingBytes(25)
        ));
        for (count, last) in [(2, Zxid(7)), (2, Zxid(5))] {
            let mut wrong_last = v.clone();
            wrong_last[..HEADER_LEN].copy_from_slice(&header(count, last));
            let e = decode_err(&k, &wrong_last);
            assert_eq!(
                e.fault,
                Fault::LastMismatch {
                    zxid: Zxid(6),
                    last
                }
            );
        }
        assert!(matches!(
            Segment::parse(&k, &v, Zxid(5)),
            Err(BadRecord {
                zxid: Zxid(6),
                fault: Fault::KeyNotAbove { .. },
                ..
            })
        ));
        assert_eq!(key_zxid_lossy(&[0, 0, 0, 0, 0, 0, 1, 0, 9]), Zxid(256));
        assert_eq!(key_zxid_lossy(&[1]), Zxid(1 << 56));
    }

    #[test]
    fn appends_are_cut_into_bounded_segments() {
        let small: Vec<(Zxid, Bytes)> = (1..=1000)
            .map(|z| (Zxid(z), Bytes::from(vec![7u8; 150])))
            .collect();
        let segs = encode_segments(&small);
        assert!(segs.len() > 1);
        let mut all = Vec::new();
        for (first, v) in &segs {
            assert!(v.len() <= SEGMENT_TARGET_BYTES, "{}", v.len());
            all.extend(decode(&key(*first), v).expect("valid"));
        }
        assert_eq!(all, small);
        let big = vec![
            (Zxid(1), Bytes::from(vec![1u8; 10])),
            (Zxid(2), Bytes::from(vec![2u8; SEGMENT_TARGET_BYTES * 2])),
            (Zxid(3), Bytes::from(vec![3u8; 10])),
        ];
        let firsts: Vec<Zxid> = encode_segments(&big).iter().map(|s| s.0).collect();
        assert_eq!(
            firsts,
            [Zxid(1), Zxid(2), Zxid(3)],
            "a big record gets its own segment"
        );
    }

    #[test]
    fn prefix_keeps_the_first_records() {
        let v = encode(&recs(&[1, 2, 3, 4]));
        let seg = Segment::parse(&key(Zxid(1)), &v, Zxid::ZERO).expect("header");
        let second = seg.records().nth(1).expect("2nd").expect("good");
        let cut = seg.prefix(2, second.span.end, second.zxid);
        assert_eq!(decode(&key(Zxid(1)), &cut), Ok(recs(&[1, 2])));
    }
}

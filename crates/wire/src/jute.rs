//! Jute, ZooKeeper's record encoding: big-endian `int` (4 bytes) and `long` (8), `boolean` as one
//! byte, `buffer` and `ustring` as an `int` length then the bytes (-1 = null), `vector` as an
//! `int` count then the items (-1 = null). Records are their fields in order, nothing else.
//!
//! [`Reader`] never panics: every read is bounds-checked, and a length is checked against what
//! is left of the frame before anything is allocated for it.

use bytes::{BufMut, Bytes, BytesMut};
use paddock_types::Data;

/// A record that could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JuteError {
    #[error("record ends early: {field} needs {need} more bytes, {left} left")]
    Short {
        field: &'static str,
        need: usize,
        left: usize,
    },
    #[error("{field}: negative length {len}")]
    NegativeLength { field: &'static str, len: i32 },
    #[error("{field} is not valid UTF-8")]
    NotUtf8 { field: &'static str },
    #[error("{field} is null")]
    Null { field: &'static str },
    #[error("{field}: {what}")]
    Invalid { field: &'static str, what: String },
}

/// Reads jute fields from one frame.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], JuteError> {
        if self.buf.len() < n {
            return Err(JuteError::Short {
                field,
                need: n,
                left: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub fn int(&mut self, field: &'static str) -> Result<i32, JuteError> {
        let b = self.take(field, 4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn long(&mut self, field: &'static str) -> Result<i64, JuteError> {
        let b = self.take(field, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    pub fn bool(&mut self, field: &'static str) -> Result<bool, JuteError> {
        Ok(self.take(field, 1)?[0] != 0)
    }

    /// A length-prefixed byte string; `None` for null (-1).
    pub fn buffer_opt(&mut self, field: &'static str) -> Result<Option<&'a [u8]>, JuteError> {
        let len = self.int(field)?;
        if len == -1 {
            return Ok(None);
        }
        let n = usize::try_from(len).map_err(|_| JuteError::NegativeLength { field, len })?;
        self.take(field, n).map(Some)
    }

    /// A buffer; null reads as empty.
    pub fn buffer(&mut self, field: &'static str) -> Result<Bytes, JuteError> {
        Ok(self
            .buffer_opt(field)?
            .map(Bytes::copy_from_slice)
            .unwrap_or_default())
    }

    /// A znode's data: null (-1, what ZooKeeper's clients send for "no data") stays null.
    pub fn data(&mut self, field: &'static str) -> Result<Data, JuteError> {
        Ok(Data::from(
            self.buffer_opt(field)?.map(Bytes::copy_from_slice),
        ))
    }

    /// A UTF-8 string; null is an error (every string a request carries is required).
    pub fn string(&mut self, field: &'static str) -> Result<String, JuteError> {
        let b = self.buffer_opt(field)?.ok_or(JuteError::Null { field })?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| JuteError::NotUtf8 { field })
    }

    /// A vector of `item`s; null reads as empty. The count is checked against the bytes left
    /// (each item takes at least `min_item` bytes) before anything is allocated.
    pub fn vector<T>(
        &mut self,
        field: &'static str,
        min_item: usize,
        mut item: impl FnMut(&mut Reader<'a>) -> Result<T, JuteError>,
    ) -> Result<Vec<T>, JuteError> {
        let len = self.int(field)?;
        if len == -1 {
            return Ok(Vec::new());
        }
        let n = usize::try_from(len).map_err(|_| JuteError::NegativeLength { field, len })?;
        if n.saturating_mul(min_item.max(1)) > self.buf.len() {
            return Err(JuteError::Short {
                field,
                need: n.saturating_mul(min_item.max(1)),
                left: self.buf.len(),
            });
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(out)
    }

    /// A vector of strings.
    pub fn strings(&mut self, field: &'static str) -> Result<Vec<String>, JuteError> {
        self.vector(field, 4, |r| r.string(field))
    }
}

/// Writes jute fields into a frame.
#[derive(Debug, Default)]
pub struct Writer {
    buf: BytesMut,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    /// A writer that starts with a 4-byte length placeholder, for [`Writer::finish_frame`].
    pub fn frame() -> Writer {
        let mut w = Writer::new();
        w.int(0);
        w
    }

    pub fn int(&mut self, v: i32) -> &mut Writer {
        self.buf.put_i32(v);
        self
    }

    pub fn long(&mut self, v: i64) -> &mut Writer {
        self.buf.put_i64(v);
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Writer {
        self.buf.put_u8(u8::from(v));
        self
    }

    pub fn buffer(&mut self, v: &[u8]) -> &mut Writer {
        self.int(len_i32(v.len()));
        self.buf.put_slice(v);
        self
    }

    /// A znode's data: null as a -1 length.
    pub fn data(&mut self, v: &Data) -> &mut Writer {
        match v.as_option() {
            None => self.int(-1),
            Some(b) => self.buffer(b),
        }
    }

    pub fn string(&mut self, v: &str) -> &mut Writer {
        self.buffer(v.as_bytes())
    }

    /// A vector: its count, then `item` for each element.
    pub fn vector<T>(&mut self, items: &[T], mut item: impl FnMut(&mut Writer, &T)) -> &mut Writer {
        self.int(len_i32(items.len()));
        for i in items {
            item(self, i);
        }
        self
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Bytes {
        self.buf.freeze()
    }

    /// The bytes of a writer made by [`Writer::frame`], its length prefix filled in.
    pub fn finish_frame(mut self) -> Bytes {
        let len = len_i32(self.buf.len().saturating_sub(4));
        self.buf[..4].copy_from_slice(&len.to_be_bytes());
        self.buf.freeze()
    }
}

/// A length as jute's `int`. Nothing the server sends comes near 2 GiB (answers are bounded by
/// `jute.maxbuffer`-sized data), so saturating is only a guard.
fn len_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let mut w = Writer::new();
        w.int(-8)
            .long(1 << 40)
            .bool(true)
            .buffer(b"data")
            .string("/a/b");
        w.vector(&["x".to_string(), "yz".to_string()], |w, s| {
            w.string(s);
        });
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.int("i"), Ok(-8));
        assert_eq!(r.long("l"), Ok(1 << 40));
        assert_eq!(r.bool("b"), Ok(true));
        assert_eq!(r.buffer("d"), Ok(Bytes::from_static(b"data")));
        assert_eq!(r.string("s").as_deref(), Ok("/a/b"));
        assert_eq!(r.strings("v"), Ok(vec!["x".to_string(), "yz".to_string()]));
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn nulls_and_bad_lengths() {
        let mut w = Writer::new();
        w.int(-1).int(-1).int(-1).int(-2);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.buffer("data"), Ok(Bytes::new()));
        assert_eq!(r.strings("children"), Ok(vec![]));
        assert_eq!(r.string("path"), Err(JuteError::Null { field: "path" }));
        assert!(matches!(
            r.buffer("data"),
            Err(JuteError::NegativeLength { len: -2, .. })
        ));
    }

    #[test]
    fn huge_counts_are_refused_before_allocating() {
        let mut w = Writer::new();
        w.int(i32::MAX);
        let bytes = w.into_bytes();
        assert!(matches!(
            Reader::new(&bytes).strings("v"),
            Err(JuteError::Short { .. })
        ));
        assert!(matches!(
            Reader::new(&bytes).buffer("b"),
            Err(JuteError::Short { .. })
        ));
    }

    #[test]
    fn frames_carry_their_length() {
        let mut w = Writer::frame();
        w.int(7).long(9);
        let b = w.finish_frame();
        assert_eq!(&b[..4], &12i32.to_be_bytes());
        assert_eq!(b.len(), 16);
    }
}

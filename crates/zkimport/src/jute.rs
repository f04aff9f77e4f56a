//! Reading jute, ZooKeeper's binary record encoding (`BinaryInputArchive`): big-endian `int`
//! and `long`, one-byte `byte` / `boolean`, `buffer` and `ustring` as an int length then the
//! bytes (-1 = null), `vector` as an int count (-1 = null) then the elements.
//!
//! Lengths are checked against the bytes left before anything is allocated, so a lying length
//! is an error, never a huge allocation or a panic.

/// Where and why a read failed, relative to the start of the slice read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JuteError {
    pub offset: u64,
    pub what: String,
    /// The input ended inside the value (as opposed to a value that is present but wrong).
    pub truncated: bool,
}

pub(crate) type Result<T> = std::result::Result<T, JuteError>;

/// A cursor over jute bytes.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    pub(crate) fn invalid(&self, at: usize, what: impl Into<String>) -> JuteError {
        JuteError {
            offset: at as u64,
            what: what.into(),
            truncated: false,
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(JuteError {
                offset: self.pos as u64,
                what: format!(
                    "cut short: {what} needs {n} bytes, {} left",
                    self.remaining()
                ),
                truncated: true,
            });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    /// Skips `n` bytes.
    pub(crate) fn skip(&mut self, n: usize, what: &str) -> Result<()> {
        self.take(n, what).map(|_| ())
    }

    pub(crate) fn byte(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn boolean(&mut self, what: &str) -> Result<bool> {
        Ok(self.byte(what)? != 0)
    }

    pub(crate) fn int(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn long(&mut self, what: &str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    /// A length-prefixed byte buffer; `None` for null (-1).
    pub(crate) fn buffer(&mut self, what: &str) -> Result<Option<&'a [u8]>> {
        let at = self.pos;
        let len = self.int(what)?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len)
            .map_err(|_| self.invalid(at, format!("{what} has length {len}")))?;
        self.take(len, what).map(Some)
    }

    /// A length-prefixed UTF-8 string; `None` for null.
    pub(crate) fn ustring(&mut self, what: &str) -> Result<Option<String>> {
        let at = self.pos;
        match self.buffer(what)? {
            None => Ok(None),
            Some(b) => String::from_utf8(b.to_vec())
                .map(Some)
                .map_err(|_| self.invalid(at, format!("{what} is not UTF-8"))),
        }
    }

    /// A string that must not be null.
    pub(crate) fn string(&mut self, what: &str) -> Result<String> {
        let at = self.pos;
        self.ustring(what)?
            .ok_or_else(|| self.invalid(at, format!("{what} is null")))
    }

    /// A vector's element count; `None` for null. Each element takes at least `min_elem_bytes`,
    /// so a count that cannot fit in the bytes left is refused before any loop runs.
    pub(crate) fn vector_len(
        &mut self,
        what: &str,
        min_elem_bytes: usize,
    ) -> Result<Option<usize>> {
        let at = self.pos;
        let n = self.int(what)?;
        if n == -1 {
            return Ok(None);
        }
        let n =
            usize::try_from(n).map_err(|_| self.invalid(at, format!("{what} has count {n}")))?;
        if n.saturating_mul(min_elem_bytes.max(1)) > self.remaining() {
            return Err(JuteError {
                offset: at as u64,
                what: format!(
                    "cut short: {what} has {n} elements, {} bytes left",
                    self.remaining()
                ),
                truncated: true,
            });
        }
        Ok(Some(n))
    }
}

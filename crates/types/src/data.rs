//! A znode's data: bytes, or ZooKeeper's *null* (a node created or set with no data at all,
//! which `get` shows as `null` and the wire protocol sends as a buffer of length -1), distinct
//! from empty bytes.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A znode's data, or null. Dereferences to its bytes (none for null), so reading code that
/// only needs the bytes never looks at the distinction.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Data(Option<Bytes>);

impl Data {
    /// No data at all (ZooKeeper's `null`).
    pub const NULL: Data = Data(None);

    pub fn new(bytes: impl Into<Bytes>) -> Data {
        Data(Some(bytes.into()))
    }

    pub fn is_null(&self) -> bool {
        self.0.is_none()
    }

    pub fn into_bytes(self) -> Bytes {
        self.0.unwrap_or_default()
    }

    /// `None` for null.
    pub fn as_option(&self) -> Option<&Bytes> {
        self.0.as_ref()
    }

    pub fn into_option(self) -> Option<Bytes> {
        self.0
    }
}

impl Deref for Data {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or_default()
    }
}

impl AsRef<[u8]> for Data {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("null"),
            Some(b) => fmt::Debug::fmt(b, f),
        }
    }
}

impl From<Bytes> for Data {
    fn from(b: Bytes) -> Data {
        Data(Some(b))
    }
}
impl From<Option<Bytes>> for Data {
    fn from(b: Option<Bytes>) -> Data {
        Data(b)
    }
}
impl From<Vec<u8>> for Data {
    fn from(b: Vec<u8>) -> Data {
        Data(Some(Bytes::from(b)))
    }
}
impl From<String> for Data {
    fn from(s: String) -> Data {
        Data(Some(Bytes::from(s)))
    }
}
impl From<&'static str> for Data {
    fn from(s: &'static str) -> Data {
        Data(Some(Bytes::from_static(s.as_bytes())))
    }
}
impl From<&'static [u8]> for Data {
    fn from(s: &'static [u8]) -> Data {
        Data(Some(Bytes::from_static(s)))
    }
}
impl<const N: usize> From<&'static [u8; N]> for Data {
    fn from(s: &'static [u8; N]) -> Data {
        Data(Some(Bytes::from_static(s)))
    }
}

impl PartialEq<[u8]> for Data {
    fn eq(&self, other: &[u8]) -> bool {
        !self.is_null() && **self == *other
    }
}
impl PartialEq<&[u8]> for Data {
    fn eq(&self, other: &&[u8]) -> bool {
        *self == **other
    }
}
impl PartialEq<str> for Data {
    fn eq(&self, other: &str) -> bool {
        *self == *other.as_bytes()
    }
}
impl PartialEq<&str> for Data {
    fn eq(&self, other: &&str) -> bool {
        *self == *other.as_bytes()
    }
}
impl PartialEq<String> for Data {
    fn eq(&self, other: &String) -> bool {
        *self == *other.as_bytes()
    }
}
impl PartialEq<Bytes> for Data {
    fn eq(&self, other: &Bytes) -> bool {
        *self == **other
    }
}
impl PartialEq<Vec<u8>> for Data {
    fn eq(&self, other: &Vec<u8>) -> bool {
        *self == **other
    }
}
impl PartialEq<Data> for Bytes {
    fn eq(&self, other: &Data) -> bool {
        other == self
    }
}

/// Serialised as its bytes (null as none): inside the txn log, which null fields of an
/// operation were null is recorded beside the operation (see `txn`'s record format).
///
/// `serialize_bytes`, not `[u8]`'s impl (a sequence of `u8`): postcard writes both the same way
/// (a varint length, then the bytes), so logged records keep their format, but a sequence goes
/// through serde one byte at a time (7% of a standalone server's CPU with 10 KiB values).
impl Serialize for Data {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self)
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Data, D::Error> {
        Bytes::deserialize(d).map(Data::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_postcard_wrote_it_when_it_was_a_sequence() {
        for len in [0usize, 1, 127, 128, 10_240] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let data = Data::from(bytes.clone());
            let as_bytes = postcard::to_stdvec(&data).expect("serialise");
            assert_eq!(
                as_bytes,
                postcard::to_stdvec(&bytes[..]).expect("serialise a sequence"),
                "{len} bytes"
            );
            let back: Data = postcard::from_bytes(&as_bytes).expect("deserialise");
            assert_eq!(back, data);
        }
    }

    #[test]
    fn null_is_not_empty_but_reads_as_no_bytes() {
        assert_ne!(Data::NULL, Data::new(Bytes::new()));
        assert!(Data::NULL.is_empty());
        assert_eq!(Data::NULL.len(), 0);
        assert!(Data::NULL != *b"".as_slice());
        assert_eq!(Data::from(""), Data::new(Bytes::new()));
        assert_eq!(format!("{:?}", Data::NULL), "null");
        assert_eq!(Data::from("ab"), Bytes::from_static(b"ab"));
    }
}

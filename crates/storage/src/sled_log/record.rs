//! The on-disk form of one log record in sled.
//!
//! ```text
//! key   = zxid, 8 bytes big-endian (byte order = numeric order)
//! value = crc32 (4 bytes big-endian) ++ payload
//!         crc32 covers key ++ payload, so a value moved under another key fails too
//! ```

use bytes::Bytes;
use paddock_types::Zxid;

/// Bytes in a key.
pub(crate) const KEY_LEN: usize = 8;
/// Bytes of checksum in front of each payload.
pub(crate) const CRC_LEN: usize = 4;

/// Why a stored record is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BadRecord {
    KeyLength(usize),
    ValueTooShort(usize),
    Checksum { stored: u32, computed: u32 },
}

impl std::fmt::Display for BadRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadRecord::KeyLength(n) => write!(f, "key is {n} bytes, expected {KEY_LEN}"),
            BadRecord::ValueTooShort(n) => {
                write!(
                    f,
                    "value is {n} bytes, shorter than its {CRC_LEN}-byte checksum"
                )
            }
            BadRecord::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch: stored {stored:08x}, computed {computed:08x}"
            ),
        }
    }
}

fn checksum(key: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(key);
    h.update(payload);
    h.finalize()
}

/// The value stored for `payload` under `zxid`.
pub(crate) fn encode_value(zxid: Zxid, payload: &[u8]) -> Vec<u8> {
    let crc = checksum(&zxid.to_be_bytes(), payload);
    let mut v = Vec::with_capacity(CRC_LEN + payload.len());
    v.extend_from_slice(&crc.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// The zxid a key names, as far as it can be told: exact for 8-byte keys; other lengths are
/// padded or cut to 8 bytes, which keeps byte order (used only to name a bad record).
pub(crate) fn key_zxid_lossy(key: &[u8]) -> Zxid {
    let mut b = [0u8; KEY_LEN];
    let n = key.len().min(KEY_LEN);
    b[..n].copy_from_slice(&key[..n]);
    Zxid::from_be_bytes(b)
}

/// Parses a key.
pub(crate) fn decode_key(key: &[u8]) -> Result<Zxid, BadRecord> {
    let b: [u8; KEY_LEN] = key
        .try_into()
        .map_err(|_| BadRecord::KeyLength(key.len()))?;
    Ok(Zxid::from_be_bytes(b))
}

/// Verifies a value against its key without copying the payload.
pub(crate) fn verify(key: &[u8], value: &[u8]) -> Result<(), BadRecord> {
    if value.len() < CRC_LEN {
        return Err(BadRecord::ValueTooShort(value.len()));
    }
    let (crc_bytes, payload) = value.split_at(CRC_LEN);
    let mut stored = [0u8; CRC_LEN];
    stored.copy_from_slice(crc_bytes);
    let stored = u32::from_be_bytes(stored);
    let computed = checksum(key, payload);
    if stored != computed {
        return Err(BadRecord::Checksum { stored, computed });
    }
    Ok(())
}

/// Parses and verifies a stored record.
pub(crate) fn decode(key: &[u8], value: &[u8]) -> Result<(Zxid, Bytes), BadRecord> {
    let zxid = decode_key(key)?;
    verify(key, value)?;
    Ok((zxid, Bytes::copy_from_slice(&value[CRC_LEN..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let z = Zxid(0x1_0000_0002);
        let v = encode_value(z, b"hello");
        assert_eq!(decode(&z.to_be_bytes(), &v), Ok((z, Bytes::from("hello"))));
    }

    #[test]
    fn checksum_covers_key_and_payload() {
        let z = Zxid(5);
        let mut v = encode_value(z, b"hello");
        assert!(matches!(
            decode(&Zxid(6).to_be_bytes(), &v),
            Err(BadRecord::Checksum { .. })
        ));
        v[6] ^= 1;
        assert!(matches!(
            decode(&z.to_be_bytes(), &v),
            Err(BadRecord::Checksum { .. })
        ));
    }

    #[test]
    fn malformed_key_and_value_are_reported_not_panicked() {
        assert_eq!(decode(b"abc", b"xxxx"), Err(BadRecord::KeyLength(3)));
        assert_eq!(
            decode(&Zxid(1).to_be_bytes(), b"ab"),
            Err(BadRecord::ValueTooShort(2))
        );
        assert_eq!(key_zxid_lossy(&[0, 0, 0, 0, 0, 0, 1, 0, 9]), Zxid(256));
        assert_eq!(key_zxid_lossy(&[1]), Zxid(1 << 56));
    }

    #[test]
    fn empty_payload_is_valid() {
        let z = Zxid(9);
        let v = encode_value(z, b"");
        assert_eq!(decode(&z.to_be_bytes(), &v), Ok((z, Bytes::new())));
    }
}

//! Adler-32 (RFC 1950), the checksum `java.util.zip.Adler32` computes: ZooKeeper's snapshot seal
//! and txn log records use it.

const MOD: u32 = 65_521;
/// The most bytes summed before a reduction keeps `b` within u32 (zlib's NMAX).
const NMAX: usize = 5_552;

/// A running Adler-32.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Adler32 {
    a: u32,
    b: u32,
}

impl Default for Adler32 {
    fn default() -> Adler32 {
        Adler32 { a: 1, b: 0 }
    }
}

impl Adler32 {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(NMAX) {
            for &x in chunk {
                self.a += u32::from(x);
                self.b += self.a;
            }
            self.a %= MOD;
            self.b %= MOD;
        }
    }

    /// The value as Java's `getValue()` returns it (a non-negative long).
    pub(crate) fn value(&self) -> i64 {
        i64::from((self.b << 16) | self.a)
    }
}

/// Adler-32 of `bytes`.
pub(crate) fn adler32(bytes: &[u8]) -> i64 {
    let mut a = Adler32::default();
    a.update(bytes);
    a.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(adler32(b""), 1);
        // RFC 1950's example value, also zlib's.
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        let big = vec![0xFFu8; 100_000];
        let mut split = Adler32::default();
        split.update(&big[..7]);
        split.update(&big[7..]);
        assert_eq!(split.value(), adler32(&big));
    }
}

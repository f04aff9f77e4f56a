//! ZooKeeper's session passwords. ZooKeeper does not store them: `ZooKeeperServer.generatePasswd`
//! derives each from the session id, `new java.util.Random(id ^ 0xB3415C00).nextBytes(16 bytes)`,
//! so a client holding (id, password) from ZooKeeper presents the same password here.

use paddock_types::PASSWORD_LEN;

/// ZooKeeper's `superSecret`.
const SUPER_SECRET: i64 = 0xB341_5C00;
const MULTIPLIER: i64 = 0x5_DEEC_E66D;
const MASK: i64 = (1 << 48) - 1;

/// The password ZooKeeper gave session `id`.
pub fn zookeeper_password(id: i64) -> [u8; PASSWORD_LEN] {
    // java.util.Random: 48-bit LCG; nextInt() = next(32); nextBytes fills 4 bytes per int,
    // low byte first.
    let mut seed = ((id ^ SUPER_SECRET) ^ MULTIPLIER) & MASK;
    let mut out = [0u8; PASSWORD_LEN];
    for chunk in out.chunks_mut(4) {
        seed = (seed.wrapping_mul(MULTIPLIER).wrapping_add(0xB)) & MASK;
        let mut rnd = (seed >> 16) as i32;
        for b in chunk {
            *b = rnd as u8;
            rnd >>= 8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_java_random() {
        // new java.util.Random(0).nextInt() == -1155484576 (0xBB20B460): with id = superSecret
        // the seed is 0, so the first four bytes are that int, low byte first.
        let p = zookeeper_password(SUPER_SECRET);
        assert_eq!(&p[..4], &(-1_155_484_576i32).to_le_bytes());
        // ... and the second int of Random(0) is -723955400.
        assert_eq!(&p[4..8], &(-723_955_400i32).to_le_bytes());
    }

    #[test]
    fn matches_passwords_java_made() {
        // Printed by Java 17: new Random(id ^ 0xB3415C00L).nextBytes(new byte[16]), as hex.
        for (id, java) in [
            (0x1000a3b2c4d0001i64, "bc77a38c2239368b24fba58f6f7739f8"),
            (-5, "d47144b5e45e45c49c3b7fdcd66257ba"),
            (0x77, "23e4e548746b03c2a25916c9d54684b6"),
        ] {
            let hex: String = zookeeper_password(id)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(hex, java, "session {id:#x}");
        }
    }
}

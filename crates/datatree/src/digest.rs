//! A deterministic digest of the replicated state, to compare replicas (tests, admin, debugging).
//!
//! The hash is fixed here (not `std`'s randomly keyed one) so every process and platform computes
//! the same value: 64-bit multiply-xorshift over little-endian words, every variable-length field
//! length-prefixed, nodes in key order, then sessions in id order.

use crate::state::State;

struct Hasher64(u64);

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher64 {
    fn new() -> Hasher64 {
        Hasher64(0x243F_6A88_85A3_08D3)
    }

    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(K).rotate_left(29);
    }

    fn i64(&mut self, v: i64) {
        self.word(v as u64);
    }

    fn bytes(&mut self, b: &[u8]) {
        self.word(b.len() as u64);
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(w));
        }
    }

    /// splitmix64's finaliser, so every input bit reaches every output bit.
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

pub(crate) fn digest(state: &State) -> u64 {
    let mut h = Hasher64::new();
    h.word(state.nodes.len() as u64);
    for (key, record) in &state.nodes {
        h.bytes(key.as_str().as_bytes());
        let s = record.full_stat();
        for v in [
            s.czxid,
            s.mzxid,
            s.pzxid,
            s.ctime,
            s.mtime,
            s.ephemeral_owner,
        ] {
            h.i64(v);
        }
        for v in [
            s.version,
            s.cversion,
            s.aversion,
            s.data_length,
            s.num_children,
        ] {
            h.i64(i64::from(v));
        }
        h.bytes(record.data());
        // Null data hashes apart from empty data (nothing added for the nodes that are not
        // null, so digests of trees without null data are unchanged).
        if record.is_null() {
            h.i64(-1);
        }
        // Open nodes hash as before ACLs existed; others by their list's content, not its number.
        let acl = record.stat().acl;
        if acl != crate::acls::OPEN {
            for a in state.acls.get(acl).map(|l| &l[..]).unwrap_or(&[]) {
                h.i64(i64::from(a.perms));
                h.bytes(a.id.scheme.as_bytes());
                h.bytes(a.id.id.as_bytes());
            }
        }
    }
    h.word(state.sessions.len() as u64);
    for (id, entry) in &state.sessions {
        h.i64(id.0);
        h.i64(i64::from(entry.info.timeout_ms));
        h.bytes(&entry.info.password);
        for id in &entry.auth {
            h.bytes(id.scheme.as_bytes());
            h.bytes(id.id.as_bytes());
        }
    }
    h.finish()
}

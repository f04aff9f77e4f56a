//! What each session sends: deterministic key choice and the requests of each workload.
//!
//! The generator is SplitMix64, written out here rather than taken from `rand`, because `rand`
//! does not promise that its seeded generators give the same numbers across versions; a bench run
//! must be reproducible from its flags whatever the build.

use std::sync::Arc;

use bytes::Bytes;

use crate::args::Workload;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and fully specified.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 for any n the bench
    /// uses). `n` must be > 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// The generator of session `index` for run seed `seed`.
pub fn session_rng(seed: u64, index: usize) -> SplitMix64 {
    SplitMix64::new(seed.wrapping_add(index as u64))
}

/// The kind of a measured request (latencies are also kept per kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    Create,
    Set,
    Get,
}

impl OpKind {
    pub const ALL: [OpKind; 3] = [OpKind::Create, OpKind::Set, OpKind::Get];

    /// The kinds a workload sends (`read_pct` for mixed: all reads or all writes send one kind).
    pub fn of_workload(workload: Workload, read_pct: u32) -> &'static [OpKind] {
        match workload {
            Workload::Create => &[OpKind::Create],
            Workload::Set => &[OpKind::Set],
            Workload::Get => &[OpKind::Get],
            Workload::Mixed if read_pct >= 100 => &[OpKind::Get],
            Workload::Mixed if read_pct == 0 => &[OpKind::Set],
            Workload::Mixed => &[OpKind::Set, OpKind::Get],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Set => "set",
            OpKind::Get => "get",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// One measured request, as the session sends it with the client library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BenchOp {
    /// A persistent-sequential create (the server appends the sequence number to `path`).
    Create {
        path: String,
        data: Bytes,
    },
    /// setData with version -1 (any).
    SetData {
        path: String,
        data: Bytes,
    },
    GetData {
        path: String,
    },
}

/// The path of key `i` under `parent`.
pub fn key_path(parent: &str, i: u64) -> String {
    format!("{parent}/key-{i:08}")
}

/// The data written by setup and by every write: `size` bytes of a fixed pattern.
pub fn value(size: usize) -> Bytes {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// One session's request generator.
pub struct OpGen {
    rng: SplitMix64,
    workload: Workload,
    read_pct: u64,
    keys: Arc<[String]>,
    create_prefix: Arc<str>,
    value: Bytes,
}

impl OpGen {
    /// `keys` are the key paths (setup created them); creates go to `create_prefix` + a sequence
    /// number.
    pub fn new(
        rng: SplitMix64,
        workload: Workload,
        read_pct: u32,
        keys: Arc<[String]>,
        create_prefix: Arc<str>,
        value: Bytes,
    ) -> OpGen {
        assert!(!keys.is_empty(), "at least one key");
        OpGen {
            rng,
            workload,
            read_pct: u64::from(read_pct),
            keys,
            create_prefix,
            value,
        }
    }

    /// Session `index`'s generator for the run `cfg` (its own seed: `cfg.seed + index`).
    pub fn for_session(
        cfg: &crate::args::Config,
        index: usize,
        keys: Arc<[String]>,
        create_prefix: Arc<str>,
        value: Bytes,
    ) -> OpGen {
        OpGen::new(
            session_rng(cfg.seed, index),
            cfg.workload,
            cfg.read_pct,
            keys,
            create_prefix,
            value,
        )
    }

    /// The next request's kind and key index (`None` for a create): the deterministic part.
    pub fn choose(&mut self) -> (OpKind, Option<u64>) {
        let n = self.keys.len() as u64;
        match self.workload {
            Workload::Create => (OpKind::Create, None),
            Workload::Set => (OpKind::Set, Some(self.rng.below(n))),
            Workload::Get => (OpKind::Get, Some(self.rng.below(n))),
            Workload::Mixed => {
                let kind = if self.rng.below(100) < self.read_pct {
                    OpKind::Get
                } else {
                    OpKind::Set
                };
                (kind, Some(self.rng.below(n)))
            }
        }
    }

    /// The next request.
    pub fn next_op(&mut self) -> (OpKind, BenchOp) {
        let (kind, key) = self.choose();
        let op = match (kind, key) {
            (OpKind::Create, _) => BenchOp::Create {
                path: self.create_prefix.to_string(),
                data: self.value.clone(),
            },
            (OpKind::Set, Some(k)) => BenchOp::SetData {
                path: self.keys[k as usize].clone(),
                data: self.value.clone(),
            },
            (OpKind::Get, Some(k)) => BenchOp::GetData {
                path: self.keys[k as usize].clone(),
            },
            (_, None) => unreachable!("set and get always pick a key"),
        };
        (kind, op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(workload: Workload, seed: u64, index: usize, read_pct: u32, keys: u64) -> OpGen {
        let keys: Arc<[String]> = (0..keys).map(|i| key_path("/p", i)).collect();
        OpGen::new(
            session_rng(seed, index),
            workload,
            read_pct,
            keys,
            "/p/seq-".into(),
            value(3),
        )
    }

    fn draws(g: &mut OpGen, n: usize) -> Vec<(OpKind, Option<u64>)> {
        (0..n).map(|_| g.choose()).collect()
    }

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // Reference values of SplitMix64 seeded with 1234567 (from the public-domain C code).
        let mut r = SplitMix64::new(1234567);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            got,
            vec![
                6457827717110365317,
                3203168211198807973,
                9817491932198370423
            ]
        );
    }

    #[test]
    fn key_choice_is_deterministic_per_seed_and_session() {
        for w in [Workload::Set, Workload::Get, Workload::Mixed] {
            let a = draws(&mut gen(w, 7, 3, 90, 1000), 500);
            let b = draws(&mut gen(w, 7, 3, 90, 1000), 500);
            assert_eq!(a, b, "{w:?}: same seed and session, same requests");
            let other_session = draws(&mut gen(w, 7, 4, 90, 1000), 500);
            assert_ne!(a, other_session, "{w:?}: sessions draw different keys");
            let other_seed = draws(&mut gen(w, 8, 3, 90, 1000), 500);
            assert_ne!(a, other_seed, "{w:?}: the seed changes the keys");
        }
    }

    #[test]
    fn keys_cover_the_range_and_stay_in_it() {
        let mut g = gen(Workload::Get, 1, 0, 0, 10);
        let mut seen = [0u32; 10];
        for (kind, k) in draws(&mut g, 10_000) {
            assert_eq!(kind, OpKind::Get);
            seen[k.unwrap() as usize] += 1;
        }
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
    }

    #[test]
    fn mixed_honours_the_read_percentage() {
        for pct in [0, 25, 90, 100] {
            let d = draws(&mut gen(Workload::Mixed, 3, 0, pct, 100), 20_000);
            let reads = d.iter().filter(|(k, _)| *k == OpKind::Get).count();
            let got = reads as f64 / d.len() as f64 * 100.0;
            assert!((got - f64::from(pct)).abs() < 1.5, "pct {pct}: got {got}");
        }
    }

    #[test]
    fn requests_name_the_chosen_key() {
        let mut g = gen(Workload::Set, 5, 0, 0, 50);
        let mut twin = gen(Workload::Set, 5, 0, 0, 50);
        for _ in 0..20 {
            let (_, key) = twin.choose();
            match g.next_op() {
                (OpKind::Set, BenchOp::SetData { path, data }) => {
                    assert_eq!(path, key_path("/p", key.unwrap()));
                    assert_eq!(&data[..], b"abc");
                }
                other => panic!("{other:?}"),
            }
        }
        match gen(Workload::Create, 5, 0, 0, 50).next_op() {
            (OpKind::Create, BenchOp::Create { path, data }) => {
                assert_eq!(path, "/p/seq-");
                assert_eq!(&data[..], b"abc");
            }
            other => panic!("{other:?}"),
        }
    }
}

//! # paddock-fuzz — what every decoder fuzz target shares
//!
//! Each crate that decodes bytes from outside (client requests, peer messages, log and snapshot
//! records, zoo.cfg, ZooKeeper's files) has a `tests/decode_fuzz.rs` built on this crate, so all
//! targets look alike and obey the same knobs:
//!
//! ```text
//!  valid encodings ──▶ mutated(): flip, set, cut, insert, remove, huge length fields ─┐
//!  raw random bytes ─────────────────────────────────────────────────────────────────┴▶ decoder
//!                                                      within bounded_by_input(len, ..)
//! ```
//!
//! - [`config`]: proptest's configuration. CI runs each property with the target's default case
//!   count (sized to a few seconds in a debug build) from a fixed seed; `PADDOCK_FUZZ_CASES`
//!   raises the count (`make fuzz`) and `PADDOCK_FUZZ_SEED` picks another seed, so a long run can
//!   explore and a failure can be replayed with the same two variables. [`config_costly`] scales
//!   the count down for properties whose cases touch the filesystem.
//! - [`mutated`] / [`input`]: inputs that get past a decoder's first checks: a valid encoding with
//!   a few edits, among them length-looking fields overwritten with huge values (fixed-width
//!   integers both ways round and protobuf varints).
//! - [`TrackingAlloc`] + [`bounded_by_input`]: "no unbounded allocation from a length field" as
//!   an assertion. The test binary installs `TrackingAlloc` as its global allocator; the
//!   largest single allocation the decoding thread makes must stay under
//!   [`ALLOCATION_SLACK_BYTES`] plus [`ALLOCATION_BYTES_PER_INPUT_BYTE`] times the input's length.
//!
//! ```no_run
//! use paddock_fuzz::{bounded_by_input, config, input, TrackingAlloc};
//! use proptest::prelude::*;
//!
//! #[global_allocator]
//! static ALLOC: TrackingAlloc = TrackingAlloc;
//!
//! fn decode(b: &[u8]) -> Result<u32, ()> { b.first().map(|x| u32::from(*x)).ok_or(()) }
//!
//! proptest! {
//!     #![proptest_config(config(500))]
//!     #[test]
//!     fn never_panics(bytes in input(vec![vec![1, 2, 3]])) {
//!         let _ = bounded_by_input(bytes.len(), || decode(&bytes));
//!     }
//! }
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;
use proptest::test_runner::RngSeed;

/// Environment variable: cases per property (CI leaves it unset; `make fuzz` raises it).
pub const CASES_VAR: &str = "PADDOCK_FUZZ_CASES";
/// Environment variable: the seed of every property (default [`DEFAULT_SEED`]).
pub const SEED_VAR: &str = "PADDOCK_FUZZ_SEED";
/// The seed CI runs with, so its runs are reproducible.
pub const DEFAULT_SEED: u64 = 0x5eed;

/// Allocations any decoder may make whatever its input: fixed I/O buffers (64 KiB) and serde's
/// "cautious" preallocation of a sequence from its declared length (at most 1 MiB), with room.
pub const ALLOCATION_SLACK_BYTES: usize = 2 * 1024 * 1024;
/// Allocations that grow with the input (copies of it, decoded structures around it).
pub const ALLOCATION_BYTES_PER_INPUT_BYTE: usize = 64;

/// proptest's configuration for a fuzz property: `default_cases` unless `PADDOCK_FUZZ_CASES` is
/// set, the seed of `PADDOCK_FUZZ_SEED` or [`DEFAULT_SEED`].
pub fn config(default_cases: u32) -> ProptestConfig {
    let cases = env_number(CASES_VAR)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(env_number(SEED_VAR).unwrap_or(DEFAULT_SEED)),
        ..ProptestConfig::default()
    }
}

/// [`config`] for a property whose case costs about `cost` ordinary ones (it writes files or
/// opens a data directory): `PADDOCK_FUZZ_CASES / cost` cases, never fewer than `default_cases`.
pub fn config_costly(default_cases: u32, cost: u32) -> ProptestConfig {
    let mut c = config(default_cases);
    if env_number(CASES_VAR).is_some() {
        c.cases = (c.cases / cost.max(1)).max(default_cases);
    }
    c
}

fn env_number(var: &str) -> Option<u64> {
    let text = std::env::var(var).ok()?;
    match text.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{var}={text:?} is not a number"),
    }
}

/// Raw random bytes, up to `max_len` of them.
pub fn raw(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=max_len)
}

/// A value for a configuration key or variable (zoo.cfg, `PADDOCK_*`): the ones parsers trip on
/// (empty, white space, negative, past `u16` / `u32` / `u64`, server lines with bad ports or
/// ids, separators alone) and printable or any text.
pub fn config_value() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        prop::sample::select(vec![
            "",
            " 7 ",
            "-1",
            "0",
            "65536",
            "4294967296",
            "18446744073709551616",
            "h:1:2:participant;3",
            "h:65536:3888",
            "[::1]:2888:3888;[::1]:2181",
            "1=a:2888:3888,2=b:2888:3888,3=c:2888:3888",
            "99999999999999999999=h:1:2,256=h:1:2",
            "server.0=h:2888:3888:observer;0",
            ":::;;",
            "=;==;tickTime=;;syncLimit=0",
            "need",
        ])
        .prop_map(String::from),
        "[ -~]{0,24}",
        ".{0,12}",
        any::<u64>().prop_map(|n| n.to_string()),
    ]
}

/// Values that a length or count field should never be trusted with, as they are written:
/// 4 and 8 bytes big- and little-endian, and protobuf varints.
fn huge_patterns() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for v in [u32::MAX, 0x7fff_ffff, 0x8000_0000, 0x00ff_ffff, 0x0100_0000] {
        out.push(v.to_be_bytes().to_vec());
        out.push(v.to_le_bytes().to_vec());
    }
    for v in [u64::MAX, 0x7fff_ffff_ffff_ffff, 1 << 40] {
        out.push(v.to_be_bytes().to_vec());
        out.push(v.to_le_bytes().to_vec());
    }
    for v in [u64::MAX, u64::from(u32::MAX), 1 << 31, 1 << 28] {
        out.push(varint(v));
    }
    out
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let low = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(low);
            return out;
        }
        out.push(low | 0x80);
    }
}

/// One change to an encoding.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Overwrite the byte at `at` (every position is taken modulo the input's length).
    Set { at: usize, byte: u8 },
    /// Flip one bit of the byte at `at`.
    Flip { at: usize, bit: u8 },
    /// Keep only the bytes before `at`.
    Truncate { at: usize },
    /// Insert `bytes` before `at`.
    Insert { at: usize, bytes: Vec<u8> },
    /// Remove up to `len` bytes from `at`.
    Remove { at: usize, len: usize },
    /// Overwrite the bytes from `at` with the `pattern`-th huge length value.
    Huge { at: usize, pattern: usize },
    /// Insert the `pattern`-th huge length value before `at`.
    InsertHuge { at: usize, pattern: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Set { at, byte }),
        2 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Edit::Flip { at, bit }),
        1 => any::<usize>().prop_map(|at| Edit::Truncate { at }),
        1 => (any::<usize>(), raw(8)).prop_map(|(at, bytes)| Edit::Insert { at, bytes }),
        1 => (any::<usize>(), 1usize..16).prop_map(|(at, len)| Edit::Remove { at, len }),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(at, pattern)| Edit::Huge { at, pattern }),
        1 => (any::<usize>(), any::<usize>())
            .prop_map(|(at, pattern)| Edit::InsertHuge { at, pattern }),
    ]
}

/// `bytes` with `edits` applied in order (positions taken modulo the length at that point).
pub fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    let patterns = huge_patterns();
    for e in edits {
        let len = bytes.len();
        let pos = |at: &usize| if len == 0 { 0 } else { at % len };
        match e {
            Edit::Set { at, byte } if len > 0 => bytes[pos(at)] = *byte,
            Edit::Flip { at, bit } if len > 0 => bytes[pos(at)] ^= 1 << (bit % 8),
            Edit::Truncate { at } => bytes.truncate(pos(at)),
            Edit::Insert { at, bytes: b } => {
                let p = pos(at);
                bytes.splice(p..p, b.iter().copied());
            }
            Edit::Remove { at, len: n } if len > 0 => {
                let p = pos(at);
                bytes.drain(p..(p + n).min(len));
            }
            Edit::Huge { at, pattern } => {
                let p = pos(at);
                let v = &patterns[pattern % patterns.len()];
                let end = (p + v.len()).min(len);
                bytes.splice(p..end, v.iter().copied());
            }
            Edit::InsertHuge { at, pattern } => {
                let p = pos(at);
                let v = &patterns[pattern % patterns.len()];
                bytes.splice(p..p, v.iter().copied());
            }
            _ => {}
        }
    }
    bytes
}

/// One of `valid` (which must not be empty) with one to six edits.
pub fn mutated(valid: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    assert!(
        !valid.is_empty(),
        "mutated() needs at least one valid encoding"
    );
    (any::<usize>(), proptest::collection::vec(edit(), 1..=6)).prop_map(
        move |(which, edits): (usize, Vec<Edit>)| apply(valid[which % valid.len()].clone(), &edits),
    )
}

/// What a fuzz property feeds a decoder: mostly mutations of `valid`, sometimes raw bytes.
pub fn input(valid: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![1 => raw(512), 4 => mutated(valid)]
}

thread_local! {
    /// The largest single allocation (or reallocation) this thread made since the last reset.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = LARGEST.try_with(|c| {
        if size > c.get() {
            c.set(size);
        }
    });
}

/// The system allocator, noting the largest allocation of each thread. Install it in a fuzz
/// test binary with `#[global_allocator] static ALLOC: TrackingAlloc = TrackingAlloc;`.
pub struct TrackingAlloc;

// SAFETY: every call is passed unchanged to `System`, which upholds `GlobalAlloc`'s contract;
// `note` only updates a thread-local `Cell<usize>` (const-initialised, no destructor, so it
// never allocates or re-enters the allocator).
unsafe impl GlobalAlloc for TrackingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as `dealloc`; the caller's contract for `new_size` is `System.realloc`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` and returns what it returned and the largest single allocation the calling thread
/// made meanwhile. Panics if [`TrackingAlloc`] is not the global allocator (it would see none).
pub fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LARGEST.with(|c| c.replace(0));
    let probe = std::hint::black_box(Vec::<u8>::with_capacity(4099));
    drop(probe);
    assert!(
        LARGEST.with(Cell::get) >= 4099,
        "install paddock_fuzz::TrackingAlloc as the test binary's #[global_allocator]"
    );
    LARGEST.with(|c| c.set(0));
    let out = f();
    let largest = LARGEST.with(|c| c.replace(before.max(c.get())));
    (out, largest)
}

/// The most a decoder may allocate at once for an input of `input_len` bytes.
pub fn allocation_limit(input_len: usize) -> usize {
    ALLOCATION_SLACK_BYTES.saturating_add(input_len.saturating_mul(ALLOCATION_BYTES_PER_INPUT_BYTE))
}

/// Runs `f` (decoding an input of `input_len` bytes) and asserts that no single allocation it
/// made exceeded [`allocation_limit`]: a length field was not trusted.
pub fn bounded_by_input<T>(input_len: usize, f: impl FnOnce() -> T) -> T {
    let (out, largest) = largest_allocation(f);
    let limit = allocation_limit(input_len);
    assert!(
        largest <= limit,
        "decoding {input_len} bytes allocated {largest} bytes at once (limit {limit}): \
         a length field sized an allocation"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static ALLOC: TrackingAlloc = TrackingAlloc;

    #[test]
    fn a_large_allocation_is_seen_and_refused() {
        let (_, largest) = largest_allocation(|| vec![0u8; 10 << 20]);
        assert!(largest >= 10 << 20, "{largest}");
        let r = std::panic::catch_unwind(|| bounded_by_input(10, || vec![0u8; 10 << 20]));
        assert!(r.is_err());
        assert_eq!(bounded_by_input(10, || vec![0u8; 1000]).len(), 1000);
    }

    #[test]
    fn edits_stay_in_bounds_and_huge_values_land() {
        let huge = apply(vec![0; 8], &[Edit::Huge { at: 12, pattern: 0 }]);
        assert_eq!(huge.len(), 8);
        assert_eq!(huge[4..], u32::MAX.to_be_bytes());
        let longer = apply(vec![0; 8], &[Edit::Huge { at: 6, pattern: 0 }]);
        assert_eq!(longer[6..], u32::MAX.to_be_bytes());
        assert!(apply(Vec::new(), &[Edit::Set { at: 3, byte: 1 }]).is_empty());
        assert_eq!(
            apply(vec![1, 2, 3], &[Edit::Remove { at: 0, len: 9 }]),
            Vec::<u8>::new()
        );
        assert_eq!(varint(300), vec![0xac, 0x02]);
    }
}

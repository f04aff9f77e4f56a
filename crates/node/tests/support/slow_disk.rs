//! A slow disk for real `paddock` processes (issue 18's slow-disk nemesis): `slow_disk.c`,
//! compiled here with the C compiler every Rust build already needs (`cc`), is preloaded into
//! each server (`LD_PRELOAD`) and delays its `fsync` and `fdatasync` calls by what a file of
//! its own says, which the test changes while the server runs.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The compiled shim and one delay file per server, in a temp dir removed on drop.
pub struct SlowDisks {
    lib: PathBuf,
    dir: tempfile::TempDir,
}

impl SlowDisks {
    /// Compiles the shim. Panics, saying why, if there is no working `cc`.
    pub fn build() -> SlowDisks {
        let dir = tempfile::tempdir().expect("temp dir");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/slow_disk.c");
        let lib = dir.path().join("libpaddock_slow_disk.so");
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
        let out = Command::new(&cc)
            .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
            .arg(&lib)
            .arg(&src)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cc} to build the slow-disk shim: {e}"));
        assert!(
            out.status.success(),
            "{cc} could not build {}: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        SlowDisks { lib, dir }
    }

    fn delay_file(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("sync-delay-{id}"))
    }

    /// The environment that makes server `id`'s syncs follow [`SlowDisks::set`].
    pub fn env(&self, id: u64) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".to_string(), self.lib.display().to_string()),
            (
                "PADDOCK_TEST_SYNC_DELAY_FILE".to_string(),
                self.delay_file(id).display().to_string(),
            ),
        ]
    }

    /// From now on each `fsync`/`fdatasync` of server `id` first sleeps `ms` (0: a normal
    /// disk). Replaced by a rename, so the shim never reads a half-written number.
    pub fn set(&self, id: u64, ms: u64) {
        let tmp = self.dir.path().join(format!("sync-delay-{id}.tmp"));
        std::fs::write(&tmp, ms.to_string()).expect("write the delay");
        std::fs::rename(&tmp, self.delay_file(id)).expect("install the delay");
    }

    /// Whether server `id` has had a sync delayed (the shim marks it): the shim is in force.
    pub fn slept(&self, id: u64) -> bool {
        let mut mark = self.delay_file(id).into_os_string();
        mark.push(".slept");
        Path::new(&mark).exists()
    }
}

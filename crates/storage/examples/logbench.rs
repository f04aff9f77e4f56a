//! Txn log throughput: append + sync (flush + fdatasync) in batches of 1, 32 and 128 records of
//! 150 bytes — what the processor's group commit does — then one sequential read of the log.
//!
//! ```text
//! cargo run --release -p paddock-storage --example logbench [-- DIR]
//! ```
//! DIR (default: a temp dir) picks the disk measured; it must not hold a data directory in use.

use std::time::{Duration, Instant};

use bytes::Bytes;
use paddock_storage::{DataDir, TxnLog};
use paddock_types::Zxid;

const PAYLOAD_BYTES: usize = 150;
/// Per batch size: how long to run.
const RUN_FOR: Duration = Duration::from_secs(3);

fn main() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let root = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let payload = Bytes::from(vec![0xabu8; PAYLOAD_BYTES]);
    println!(
        "dir {} · {PAYLOAD_BYTES}-byte records · append + sync per batch",
        root.display()
    );
    for batch in [1usize, 32, 128] {
        let dir = root.join(format!("logbench-{batch}"));
        let _ = std::fs::remove_dir_all(&dir);
        let (data, _) = DataDir::open(&dir)?;
        let log = data.log();
        let mut next = 1u64;
        let mut sync_us = Vec::new();
        let start = Instant::now();
        while start.elapsed() < RUN_FOR {
            let records: Vec<(Zxid, Bytes)> = (next..next + batch as u64)
                .map(|z| (Zxid(z), payload.clone()))
                .collect();
            next += batch as u64;
            let t = Instant::now();
            log.append(&records)?;
            log.sync()?;
            sync_us.push(t.elapsed().as_micros() as u64);
        }
        let secs = start.elapsed().as_secs_f64();
        let records = next - 1;
        sync_us.sort_unstable();
        let pct = |p: f64| sync_us[((sync_us.len() as f64 - 1.0) * p) as usize];
        println!(
            "batch {batch:>3}: {:>8.0} records/s  {:>6.0} batches/s  append+sync p50 {} us  p99 {} us",
            records as f64 / secs,
            sync_us.len() as f64 / secs,
            pct(0.5),
            pct(0.99)
        );

        let t = Instant::now();
        let mut after = Zxid::ZERO;
        let mut read = 0usize;
        loop {
            let page = log.read_after(after, 1024)?;
            let Some(last) = page.last() else { break };
            after = last.0;
            read += page.len();
        }
        println!(
            "           read back {read} records: {:.0} records/s",
            read as f64 / t.elapsed().as_secs_f64()
        );
        drop(log);
        drop(data);
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

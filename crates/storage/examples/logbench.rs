//! Txn log throughput: append + sync (flush + fdatasync) in batches of 1, 32 and 128 records of
//! 150 bytes — what the processor's group commit does — then one sequential read of the log; then
//! the cost of purging 75,000 records written in batches of 10 (what a snapshot's purge does),
//! and the worst append + sync of a writer running meanwhile.
//!
//! ```text
//! cargo run --release -p paddock-storage --example logbench [-- [DIR] [--payload BYTES] [--batches 1,32,128] [--no-purge]]
//! ```
//! DIR (default: a temp dir) picks the disk measured; it must not hold a data directory in use.
//! `--payload` sets the record size (default 150 bytes), `--batches` the batch sizes measured,
//! `--no-purge` skips the purge measurement.
//! CPU is the whole process's user + system time (all threads, sled's included), from
//! `/proc/self/stat`, divided by the records written. "written" is the bytes the process handed
//! to `write`/`pwrite` (`wchar` of `/proc/self/io`: sled's log, its zero-filled segments, blob
//! files and snapshots, our sync marker) per record, over the payload: the log's write
//! amplification as its files see it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use paddock_storage::{DataDir, TxnLog};
use paddock_types::Zxid;

const DEFAULT_PAYLOAD_BYTES: usize = 150;
const DEFAULT_BATCHES: [usize; 3] = [1, 32, 128];
/// Per batch size: how long to run.
const RUN_FOR: Duration = Duration::from_secs(3);
/// Records purged in the purge measurement, and the batch size they were written in.
const PURGE_RECORDS: u64 = 75_000;
const PURGE_BATCH: u64 = 10;

/// CPU time (user + system, all threads) of this process so far; zero where `/proc` is missing.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Clock ticks are 1/100 s on Linux (sysconf(_SC_CLK_TCK)).
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Bytes this process has passed to write-like syscalls so far (`wchar`); zero where `/proc` is
/// missing.
fn bytes_written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("wchar:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// What the command line asked for.
struct Args {
    dir: Option<std::path::PathBuf>,
    payload: usize,
    batches: Vec<usize>,
    purge: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        dir: None,
        payload: DEFAULT_PAYLOAD_BYTES,
        batches: DEFAULT_BATCHES.to_vec(),
        purge: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--payload" => {
                let v = it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--payload needs a value"))?;
                args.payload = v.parse()?;
            }
            "--batches" => {
                let v = it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--batches needs a value"))?;
                args.batches = v
                    .split(',')
                    .map(|b| b.trim().parse::<usize>())
                    .collect::<Result<_, _>>()?;
                anyhow::ensure!(
                    args.batches.iter().all(|&b| b > 0),
                    "batch sizes must be > 0"
                );
            }
            "--no-purge" => args.purge = false,
            "-h" | "--help" => {
                println!(
                    "usage: logbench [DIR] [--payload BYTES] [--batches 1,32,128] [--no-purge]"
                );
                std::process::exit(0);
            }
            other if other.starts_with('-') => anyhow::bail!("unknown option {other}"),
            other => args.dir = Some(other.into()),
        }
    }
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let tmp = tempfile::tempdir()?;
    let root = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let payload = Bytes::from(vec![0xabu8; args.payload]);
    println!(
        "dir {} · {}-byte records · append + sync per batch",
        root.display(),
        args.payload
    );
    for &batch in &args.batches {
        let dir = root.join(format!("logbench-{batch}"));
        let _ = std::fs::remove_dir_all(&dir);
        let (data, _) = DataDir::open(&dir)?;
        let log = data.log();
        let mut next = 1u64;
        let mut sync_us = Vec::new();
        let cpu = cpu_time();
        let written = bytes_written();
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
        let cpu = cpu_time().saturating_sub(cpu);
        let written = bytes_written().saturating_sub(written);
        let records = next - 1;
        sync_us.sort_unstable();
        let pct = |p: f64| sync_us[((sync_us.len() as f64 - 1.0) * p) as usize];
        println!(
            "batch {batch:>3}: {:>8.0} records/s  {:>6.0} batches/s  append+sync p50 {} us  p99 {} us  \
             cpu {:.1} us/record  written {:.0} B/record ({:.2}x)",
            records as f64 / secs,
            sync_us.len() as f64 / secs,
            pct(0.5),
            pct(0.99),
            cpu.as_secs_f64() * 1e6 / records as f64,
            written as f64 / records as f64,
            written as f64 / records as f64 / args.payload.max(1) as f64
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
    if !args.purge {
        return Ok(());
    }

    let dir = root.join("logbench-purge");
    let _ = std::fs::remove_dir_all(&dir);
    let (data, _) = DataDir::open(&dir)?;
    let log = data.log();
    // Two purges of PURGE_RECORDS each: the first alone, the second with a writer running.
    let total = 2 * PURGE_RECORDS + 5_000;
    for start in (1..=total).step_by(PURGE_BATCH as usize) {
        let records: Vec<(Zxid, Bytes)> = (start..start + PURGE_BATCH)
            .map(|z| (Zxid(z), payload.clone()))
            .collect();
        log.append(&records)?;
    }
    log.sync()?;
    let cpu = cpu_time();
    let t = Instant::now();
    log.purge_through(Zxid(PURGE_RECORDS))?;
    println!(
        "purge of {PURGE_RECORDS} records (batches of {PURGE_BATCH}): {:.1} ms, cpu {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3,
        cpu_time().saturating_sub(cpu).as_secs_f64() * 1e3
    );

    // A writer appends batches of PURGE_BATCH (+ sync) while the next purge runs: its worst
    // append + sync during the purge is the stall a purge inflicts on the server's writes.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, stop, payload) = (Arc::clone(&log), Arc::clone(&stop), payload.clone());
        std::thread::spawn(move || -> anyhow::Result<(u64, Duration)> {
            let mut next = total + 1;
            let mut worst = Duration::ZERO;
            let mut batches = 0;
            while !stop.load(Ordering::Relaxed) {
                let records: Vec<(Zxid, Bytes)> = (next..next + PURGE_BATCH)
                    .map(|z| (Zxid(z), payload.clone()))
                    .collect();
                next += PURGE_BATCH;
                let t = Instant::now();
                log.append(&records)?;
                log.sync()?;
                worst = worst.max(t.elapsed());
                batches += 1;
            }
            Ok((batches, worst))
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    log.purge_through(Zxid(2 * PURGE_RECORDS))?;
    let took = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (batches, worst) = writer.join().expect("writer thread")?;
    println!(
        "           again with a writer: purge {:.1} ms; writer {batches} batches, worst \
         append+sync {:.1} ms",
        took.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );
    drop(log);
    drop(data);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

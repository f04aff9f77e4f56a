//! # paddock-bench — a load generator for Paddock
//!
//! Drives a server or an ensemble with N concurrent sessions running closed loops of `create`,
//! `set`, `get` or `mixed` requests for a duration or a fixed count, and reports ops/s and latency
//! percentiles (human-readable, or one JSON line). See `paddock-bench --help`.
//!
//! ```text
//!  args ──validate──▶ Config ──▶ run::run ──▶ stats::Report ──▶ human() / json()
//!                                  │
//!                                  ├─ session   (opens sessions with the Rust client library,
//!                                  │             paddock-client; one Client per bench session)
//!                                  ├─ pace      (one session's loop: closed, or on a --rate
//!                                  │             schedule; merging the sessions' figures)
//!                                  ├─ workload  (seeded key choice, request builders)
//!                                  └─ stats     (HdrHistogram per request kind, error counts)
//! ```
//!
//! `paddock-bench-zk` (src/bin/zk.rs, cargo feature `zookeeper`) runs the same `pace` loops,
//! workload and report over ZooKeeper's native protocol, for side-by-side figures.

pub mod args;
pub mod lin;
pub mod pace;
pub mod run;
pub mod session;
pub mod stats;
pub mod workload;

/// The load generator's tokio runtime, or the message why there is none: with `threads` = 1 a
/// single-threaded one (all tasks on the calling thread), with N > 1 a multi-thread one with N
/// workers, with 0 a worker per core (`--threads`).
pub fn runtime(
    program: &str,
    threads: usize,
) -> Result<tokio::runtime::Runtime, std::process::ExitCode> {
    let mut builder = match threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if n > 1 {
                b.worker_threads(n);
            }
            b
        }
    };
    builder.enable_all().build().map_err(|e| {
        eprintln!("{program}: cannot start the runtime: {e}");
        std::process::ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    /// Every `--threads` kind of runtime runs spawned tasks and timers (what the sessions need).
    #[test]
    fn each_runtime_kind_runs_tasks_and_timers() {
        for threads in [0, 1, 2] {
            let rt = super::runtime("test", threads).expect("a runtime");
            let got = rt.block_on(async {
                let task = tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    threads + 1
                });
                task.await.expect("the task ran")
            });
            assert_eq!(got, threads + 1);
            let workers = rt.metrics().num_workers();
            match threads {
                0 => assert!(workers >= 1, "one worker per core"),
                n => assert_eq!(workers, n),
            }
        }
    }
}

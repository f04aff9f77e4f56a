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

/// The load generator's main tokio runtime (setup, cleanup, the `--watchers` sessions, the
/// report, and the measured sessions unless they run on [`Shards`]), or the message why there
/// is none: with `threads` = 1 a single-threaded one, with N > 1 a multi-thread one with N
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

/// The shards the measured sessions run on (`--runtime per-thread`, `--threads` of them), or
/// `None` when they run on the main runtime (`--runtime work-stealing`).
pub fn shards_for(program: &str, cfg: &args::Config) -> std::io::Result<Option<Shards>> {
    if !cfg.per_thread {
        return Ok(None);
    }
    Shards::start(program, args::thread_count(cfg.threads)).map(Some)
}

/// Single-threaded runtimes, each driven by a thread of its own, that the measured sessions are
/// spread over (session i on shard i mod N; `--runtime per-thread`). Each session's tasks (its
/// client's connection and session tasks, its request loop) then stay on one thread, polled in
/// the order they became ready, and every session gets the same share of its thread. On a
/// multi-thread runtime with hundreds of sessions, tasks a worker's local queue cannot hold
/// wait in the shared queue, which a busy worker looks at only now and then, so some sessions'
/// requests wait much longer than others' and the load generator makes the tail it measures.
/// Dropping the shards stops their threads (and drops what still runs on them).
pub struct Shards {
    handles: Vec<tokio::runtime::Handle>,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Shards {
    /// Starts `n` (at least 1) shard threads named `{program}-shard-K`.
    pub fn start(program: &str, n: usize) -> std::io::Result<Shards> {
        let mut shards = Shards {
            handles: Vec::with_capacity(n),
            stops: Vec::with_capacity(n),
            threads: Vec::with_capacity(n),
        };
        for k in 0..n.max(1) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            shards.handles.push(rt.handle().clone());
            shards.stops.push(stop);
            shards.threads.push(
                std::thread::Builder::new()
                    .name(format!("{program}-shard-{k}"))
                    .spawn(move || {
                        // A dropped sender (the Shards dropped) stops the thread too.
                        let _ = rt.block_on(stopped);
                    })?,
            );
        }
        Ok(shards)
    }

    /// The runtime session `index` runs on.
    pub fn handle(&self, index: usize) -> &tokio::runtime::Handle {
        &self.handles[index % self.handles.len()]
    }

    /// How many shards there are.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Never true: [`Shards::start`] starts at least one.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }
}

impl Drop for Shards {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every kind of runtime runs spawned tasks and timers (what the sessions need).
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

    /// Work spawned for session i runs on shard i mod N, on that shard's thread, and the
    /// shards' threads end when the shards are dropped.
    #[test]
    fn shards_run_each_session_on_its_own_thread() {
        let rt = super::runtime("test", 1).expect("a runtime");
        let shards = super::Shards::start("test", 2).expect("shards");
        assert_eq!(shards.len(), 2);
        let names: Vec<String> = rt.block_on(async {
            let mut names = Vec::new();
            for i in 0..4 {
                let task = shards.handle(i).spawn(async {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    std::thread::current()
                        .name()
                        .unwrap_or_default()
                        .to_string()
                });
                names.push(task.await.expect("the task ran"));
            }
            names
        });
        assert_eq!(
            names,
            [
                "test-shard-0",
                "test-shard-1",
                "test-shard-0",
                "test-shard-1"
            ]
        );
        let never = shards.handle(0).spawn(std::future::pending::<()>());
        drop(shards);
        let ended = rt.block_on(never);
        assert!(
            ended.is_err_and(|e| e.is_cancelled()),
            "dropped with its shard"
        );
    }
}

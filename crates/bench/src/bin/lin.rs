//! `paddock-lin`: runs the linearizability workload against an ensemble and checks its
//! history (`paddock-lin run`), or checks a history file (`paddock-lin check`). See
//! `paddock_bench::lin`.
//!
//! Exit status: 0 linearizable, 1 an anomaly, 2 undecided (the checker's budget ran out), too
//! little load to judge, or the run failed (no session, a server without a final read).

use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use paddock_bench::lin::check::{self, Counts, Finding};
use paddock_bench::lin::{history, workload};

#[derive(Parser)]
#[command(
    name = "paddock-lin",
    about = "Linearizability workload and checker for Paddock ensembles"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the workload, write the history, check it.
    Run(RunArgs),
    /// Check a history file (JSON lines, as `run --history` writes).
    Check {
        file: PathBuf,
        /// Search steps per znode before the checker gives up (undecided).
        #[arg(long, default_value_t = paddock_lincheck::DEFAULT_BUDGET)]
        budget: u64,
    },
}

#[derive(Parser)]
struct RunArgs {
    /// Servers, comma-separated host:port (every session's connect string).
    #[arg(long, default_value = "127.0.0.1:2181")]
    servers: String,
    /// A file holding the current server list (re-read for new sessions and the final reads).
    #[arg(long)]
    servers_file: Option<PathBuf>,
    /// Concurrent sessions.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Znodes worked on: PREFIX0 .. PREFIX{keys-1}.
    #[arg(long, default_value_t = 3)]
    keys: usize,
    #[arg(long, default_value = "/lin")]
    prefix: String,
    /// Stop after this many seconds at most.
    #[arg(long, default_value_t = 30)]
    secs: u64,
    /// Stop as soon as this file exists.
    #[arg(long)]
    stop_file: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Each client's pause between operations, ms.
    #[arg(long, default_value_t = 10)]
    think_ms: u64,
    #[arg(long, default_value_t = 10_000)]
    session_timeout_ms: u64,
    #[arg(long, default_value_t = 5_000)]
    request_timeout_ms: u64,
    #[arg(long, default_value_t = 1_000)]
    connect_timeout_ms: u64,
    /// How long the final reads wait for each server, s.
    #[arg(long, default_value_t = 30)]
    final_read_limit_s: u64,
    /// Write the history here (JSON lines).
    #[arg(long)]
    history: Option<PathBuf>,
    /// Fewer successful writes than this: too little load to judge (exit 2).
    #[arg(long, default_value_t = 20)]
    min_writes: usize,
    /// Read without `sync` first (only sequentially consistent in ZooKeeper: on an ensemble
    /// such reads can be stale; for showing that the checker finds them).
    #[arg(long)]
    reads_without_sync: bool,
    #[arg(long, default_value_t = paddock_lincheck::DEFAULT_BUDGET)]
    budget: u64,
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Check { file, budget } => check_file(&file, budget),
        Cmd::Run(args) => run(args),
    }
}

fn check_file(file: &PathBuf, budget: u64) -> ExitCode {
    let ops = match std::fs::File::open(file)
        .map_err(history::HistoryError::from)
        .and_then(|f| history::read(BufReader::new(f)))
    {
        Ok(ops) => ops,
        Err(e) => {
            eprintln!("paddock-lin: {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    println!("paddock-lin: {}", Counts::of(&ops).line());
    verdict(&check::check(&ops, budget))
}

fn verdict(finding: &Finding) -> ExitCode {
    println!("paddock-lin: {}", finding.describe());
    match finding {
        Finding::Linearizable => ExitCode::SUCCESS,
        Finding::Violation { .. } => ExitCode::from(1),
        Finding::Undecided { .. } => ExitCode::from(2),
    }
}

fn run(a: RunArgs) -> ExitCode {
    let cfg = workload::Config {
        servers: a.servers.split(',').map(|s| s.trim().to_string()).collect(),
        servers_file: a.servers_file,
        clients: a.clients.max(1),
        keys: a.keys.max(1),
        prefix: a.prefix,
        seed: a.seed,
        duration: Duration::from_secs(a.secs),
        stop_file: a.stop_file,
        think: Duration::from_millis(a.think_ms),
        session_timeout: Duration::from_millis(a.session_timeout_ms),
        request_timeout: Duration::from_millis(a.request_timeout_ms),
        connect_timeout: Duration::from_millis(a.connect_timeout_ms),
        final_read_limit: Duration::from_secs(a.final_read_limit_s),
        reads_without_sync: a.reads_without_sync,
    };
    let rt = match paddock_bench::runtime("paddock-lin", 0) {
        Ok(rt) => rt,
        Err(status) => return status,
    };
    let t0 = std::time::Instant::now();
    let (ops, stats) = match rt.block_on(workload::run(&cfg, a.history.clone())) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("paddock-lin: {e}");
            return ExitCode::from(2);
        }
    };
    let ran = t0.elapsed();
    let counts = Counts::of(&ops);
    println!(
        "paddock-lin: {} clients (seed {}, {} sessions) for {:.1} s{}: {}",
        cfg.clients,
        cfg.seed,
        stats.sessions,
        ran.as_secs_f64(),
        if cfg.reads_without_sync {
            ", reads WITHOUT sync"
        } else {
            ""
        },
        counts.line()
    );
    if !stats.errors.is_empty() {
        let errs: Vec<String> = stats
            .errors
            .iter()
            .map(|(e, n)| format!("{n} {e}"))
            .collect();
        println!("paddock-lin: answers lost: {}", errs.join(", "));
    }
    let t1 = std::time::Instant::now();
    let finding = check::check(&ops, a.budget);
    println!(
        "paddock-lin: checked in {} ms{}",
        t1.elapsed().as_millis(),
        a.history
            .as_ref()
            .map(|p| format!("; history in {}", p.display()))
            .unwrap_or_default()
    );
    let status = verdict(&finding);
    if matches!(finding, Finding::Linearizable) && counts.writes_ok() < a.min_writes {
        println!(
            "paddock-lin: too little load to judge: {} successful writes (at least {} wanted)",
            counts.writes_ok(),
            a.min_writes
        );
        return ExitCode::from(2);
    }
    status
}

//! `paddock-bench`: see `paddock-bench --help`.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use clap::CommandFactory;
use paddock_bench::{args::Args, run, stats::Report};

// The load generator shares the machine with the servers it measures: the cheaper it is, the
// more CPU is left to them (same allocator as the server binary).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cfg = Args::config_from_command_line(Args::command());
    let rt = match paddock_bench::runtime("paddock-bench", cfg.threads) {
        Ok(rt) => rt,
        Err(status) => return status,
    };
    let json = cfg.json;
    let result = rt.block_on(async move {
        let shared = Arc::new(run::Shared::default());
        let on_signal = shared.clone();
        tokio::spawn(async move {
            // First Ctrl-C: stop sending, finish the run and clean up. Second: quit at once.
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("paddock-bench: interrupted; finishing (Ctrl-C again to quit at once)");
                on_signal.stop.store(true, Ordering::Relaxed);
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
        run::run(cfg, &run::run_id(), shared).await
    });
    Report::finish("paddock-bench", result, json)
}

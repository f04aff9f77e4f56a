//! `paddock-bench`: see `paddock-bench --help`.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use clap::{CommandFactory, Parser};
use paddock_bench::{args::Args, run};

// The load generator shares the machine with the servers it measures: the cheaper it is, the
// more CPU is left to them (same allocator as the server binary).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match args.validate() {
        Ok(c) => c,
        Err(msg) => Args::command()
            .error(clap::error::ErrorKind::ValueValidation, msg)
            .exit(),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("paddock-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
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
    match result {
        Ok(report) => {
            if json {
                eprint!("{}", report.human());
                println!("{}", report.json());
            } else {
                print!("{}", report.human());
            }
            if report.lost.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("paddock-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! `paddock`: runs one server. See `paddock --help`.

use std::io::BufRead;

use clap::Parser;
use paddock_node::args::{Args, Command};
use paddock_node::datadir::{DamagedDataDir, DAMAGED_EXIT_CODE};
use paddock_node::{config, telemetry};

// mimalloc instead of glibc malloc: per-thread free lists suit the many short-lived buffers of
// the request path (protobuf messages, HTTP/2 frames, log batches); see docs/architecture.md §9.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `paddock digest`: needs no configuration and starts nothing.
fn digest(credentials: Option<&str>) -> std::process::ExitCode {
    let text = match credentials {
        Some(c) => c.to_string(),
        None => {
            let mut line = String::new();
            if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
                eprintln!("paddock digest: cannot read standard input: {e}");
                return std::process::ExitCode::from(2);
            }
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    match paddock_types::acl::digest(&text) {
        Some(d) => {
            println!("{d}");
            std::process::ExitCode::SUCCESS
        }
        None => {
            eprintln!("paddock digest: expected user:password");
            std::process::ExitCode::from(2)
        }
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Some(Command::Digest { credentials }) = &args.command {
        return digest(credentials.as_deref());
    }
    // The offline tools and backups: no server, their own quiet logging.
    if paddock_node::tools::is_tool(&args) {
        quiet_guarded_panics();
        if let Some(code) = paddock_node::tools::run(&args) {
            return code;
        }
    }
    // The configuration first (it sizes the runtime); its warnings are logged once logging is up.
    let eff = match config::load(&args) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("paddock: configuration error: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    // Then the runtime: the OTLP exporter (when OTEL_EXPORTER_OTLP_ENDPOINT is set) lives on it.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = eff.config.worker_threads {
        builder.worker_threads(n as usize);
    }
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("paddock: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let telemetry = {
        let _in_runtime = rt.enter();
        telemetry::init()
    };
    quiet_guarded_panics();
    for w in &eff.warnings {
        tracing::warn!("{w}");
    }
    if args.print_config {
        println!("{:#?}", eff.config);
        return std::process::ExitCode::SUCCESS;
    }
    if let Some(Command::Repair { yes, check }) = args.command {
        return repair(&eff.config, yes, check);
    }
    if let Some(Command::ImportZk { from, from_log }) = args.command {
        return paddock_node::import_zk::run(&eff.config, from, from_log);
    }
    let result = rt.block_on(run(eff));
    // Flush the last spans while the runtime (which carries the exporter's connection) still runs.
    telemetry.shutdown();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<DamagedDataDir>() {
            Some(damaged) => {
                // Once: logs and this message both go to stderr.
                eprintln!("paddock: {damaged}");
                std::process::ExitCode::from(DAMAGED_EXIT_CODE)
            }
            None => {
                tracing::error!("{e:#}");
                eprintln!("paddock: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}

/// sled panics on some damaged files; the storage crate catches those panics and reports them
/// as damage. The default hook would still print them as crashes: log them at debug instead.
fn quiet_guarded_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if paddock_storage::in_guarded_call() {
            tracing::debug!(%info, "sled panicked on a damaged file (caught, reported as damage)");
        } else {
            default(info);
        }
    }));
}

/// `paddock repair`: see its `--help`.
fn repair(config: &paddock_types::Config, yes: bool, check: bool) -> std::process::ExitCode {
    let options = paddock_node::datadir::storage_options(config);
    let dir = &config.data_dir;
    let damage = match paddock_storage::check(dir, &options) {
        Ok(Some(d)) => d,
        Ok(None) => {
            println!(
                "data directory {} is healthy: nothing to repair",
                dir.display()
            );
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("paddock repair: cannot check {}: {e}", dir.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("{damage}");
    if check {
        return std::process::ExitCode::from(DAMAGED_EXIT_CODE);
    }
    let ensemble = config.servers.len() > 1;
    println!(
        "Repairing keeps the verified state through zxid {} and DISCARDS everything after it; \
         the damaged txn log is kept aside.",
        damage.verified_through
    );
    if ensemble {
        println!(
            "This is an ensemble member: it will get the missing transactions back from its \
             leader, and will not vote until it has."
        );
    } else {
        println!("This standalone server will continue in a new epoch.");
    }
    if !yes {
        println!("Type 'yes' to repair:");
        let mut line = String::new();
        let confirmed =
            std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == "yes";
        if !confirmed {
            println!("not repaired");
            return std::process::ExitCode::from(DAMAGED_EXIT_CODE);
        }
    }
    if ensemble {
        if let Err(e) = paddock_node::ensemble::resync_flag(config).set(&damage.to_string()) {
            eprintln!("paddock repair: cannot write the resync flag: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    let repair = paddock_storage::RepairOptions {
        new_epoch: !ensemble,
    };
    match paddock_storage::repair(dir, &options, &repair) {
        Ok(report) => {
            println!(
                "repaired: {} log record(s) kept after the snapshot{}{}",
                report.records_kept,
                report
                    .old_log_moved_to
                    .map(|p| format!("; the damaged log is at {}", p.display()))
                    .unwrap_or_default(),
                report
                    .new_epoch
                    .map(|e| format!("; new zxids start in epoch {}", e.0))
                    .unwrap_or_default(),
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("paddock repair: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(eff: config::Effective) -> anyhow::Result<()> {
    let node = paddock_node::start(&eff.config, eff.myid).await?;
    let e = &node.ensemble;
    match (e.quorum_addr, e.election_addr) {
        (Some(quorum), Some(election)) => tracing::info!(
            grpc = %node.grpc_addr,
            quorum = %quorum,
            election = %election,
            data_dir = %eff.config.data_dir.display(),
            myid = eff.myid.0,
            servers = eff.config.servers.len(),
            "paddock ensemble server started; it serves clients once it has a leader"
        ),
        _ => tracing::info!(
            grpc = %node.grpc_addr,
            data_dir = %eff.config.data_dir.display(),
            myid = eff.myid.0,
            "paddock standalone server serving"
        ),
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    node.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

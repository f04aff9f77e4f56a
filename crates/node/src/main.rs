//! `paddock`: runs one server. See `paddock --help`.

use clap::Parser;
use paddock_node::{args::Args, config, telemetry};

// mimalloc instead of glibc malloc: per-thread free lists suit the many short-lived buffers of
// the request path (protobuf messages, HTTP/2 frames, log batches); see docs/architecture.md §9.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = Args::parse();
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
    for w in &eff.warnings {
        tracing::warn!("{w}");
    }
    if args.print_config {
        println!("{:#?}", eff.config);
        return std::process::ExitCode::SUCCESS;
    }
    let result = rt.block_on(run(eff));
    // Flush the last spans while the runtime (which carries the exporter's connection) still runs.
    telemetry.shutdown();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("paddock: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(eff: config::Effective) -> anyhow::Result<()> {
    let node = paddock_node::start(&eff.config, eff.myid).await?;
    match &node.ensemble {
        None => tracing::info!(
            grpc = %node.grpc_addr,
            data_dir = %eff.config.data_dir.display(),
            myid = eff.myid.0,
            "paddock standalone server serving"
        ),
        Some(e) => tracing::info!(
            grpc = %node.grpc_addr,
            quorum = %e.quorum_addr,
            election = %e.election_addr,
            data_dir = %eff.config.data_dir.display(),
            myid = eff.myid.0,
            servers = eff.config.servers.len(),
            "paddock ensemble server started; it serves clients once it has a leader"
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

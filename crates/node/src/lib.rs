//! # paddock-node — the `paddock` server, as a library
//!
//! ```text
//!  Config ──▶ DataDir::open (lock, txn log, snapshots, epochs)
//!         ──▶ recover (newest snapshot + log replay) ──▶ processor::standalone (pipeline)
//!         ──▶ gateway::serve (gRPC: Paddock session streams, health, reflection)
//!         ──▶ metrics (Prometheus `GET /metrics` on metricsProvider.httpPort, if set)
//! ```
//!
//! [`start`] takes a validated config and returns a running node, so tests run the real server
//! in-process on port 0; `main.rs` adds flags, signals and logging around it.

pub mod admin;
pub mod args;
pub mod config;
pub mod datadir;
pub mod ensemble;
pub mod metrics;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use paddock_processor::{ProcessorConfig, Server};
use paddock_storage::DataDir;
use paddock_types::{Config, ServerId};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server.
pub struct Node {
    /// Where the gRPC API listens (the real port when 0 was asked for).
    pub grpc_addr: SocketAddr,
    /// Where `GET /metrics` is served (`metricsProvider.httpPort`), if it is.
    pub metrics_addr: Option<SocketAddr>,
    /// The processor, for status and tests.
    pub server: Arc<Server>,
    /// The quorum side, on an ensemble server.
    pub ensemble: Option<ensemble::Ensemble>,
    health_task: Option<JoinHandle<()>>,
    metrics: Option<metrics::MetricsServer>,
    stop: Option<oneshot::Sender<()>>,
    gateway: JoinHandle<()>,
    /// Held for the node's lifetime: the data-dir lock lives as long as this.
    _data_dir: DataDir,
}

/// Opens the data dir, recovers, starts the pipeline and the gRPC gateway.
pub async fn start(config: &Config, myid: ServerId) -> anyhow::Result<Node> {
    let started = std::time::Instant::now();
    let data_dir = tokio::task::block_in_place(|| datadir::open(config))?;
    let (server, ensemble) = if config.servers.len() > 1 {
        let (server, ens) = ensemble::start(config, myid, &data_dir).await?;
        (server, Some(ens))
    } else {
        (start_standalone(config, myid, &data_dir)?, None)
    };

    let addr = format!("{}:{}", config.grpc_address, config.grpc_port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (grpcAddress:grpcPort)"))?;
    let grpc_addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let opts = paddock_gateway::GatewayOptions::from_config(config);
    let status: Arc<dyn paddock_gateway::AdminSource> = match ensemble
        .as_ref()
        .and_then(|e| Some((e.watch()?, e.peer_stats()?)))
    {
        Some((peer, stats)) => Arc::new(ensemble::EnsembleAdmin {
            server: server.clone(),
            myid,
            peer,
            stats,
            started,
            voters: ensemble.as_ref().map_or(1, |e| e.voters as u64),
        }),
        None => Arc::new(admin::StandaloneAdmin {
            server: server.clone(),
            myid,
            started,
        }),
    };
    let metrics = match config.metrics_port {
        Some(port) => {
            let source = metrics::MetricsSource {
                admin: status.clone(),
                server: server.clone(),
                quorum_size: ensemble.as_ref().map_or(1, |e| e.voters as u64),
                peer: ensemble.as_ref().and_then(|e| e.peer_stats()),
            };
            let addr = format!("{}:{port}", config.grpc_address);
            Some(metrics::MetricsServer::bind(&addr, source).await?)
        }
        None => None,
    };
    let admin =
        paddock_gateway::AdminService::new(status, admin::options(config, myid, grpc_addr.port()));
    let gw = paddock_gateway::Gateway::new(server.clone(), opts)
        .context("invalid gateway options")?
        .with_admin(admin);
    // grpc.health.v1: an ensemble server is SERVING only while it serves clients (a leader
    // synced with a quorum, or a learner synced with it); a standalone server while its txn log
    // takes writes (NOT_SERVING while read-only after a failed write: a full disk).
    let health_task = match ensemble.as_ref().and_then(|e| e.watch()) {
        Some(peer) => {
            // NOT_SERVING from the first answer on, until the peer says otherwise.
            gw.health().set_serving(false).await;
            Some(tokio::spawn(ensemble::report_health(peer, gw.health())))
        }
        None => Some(tokio::spawn(report_writable(
            server.watch_writable(),
            gw.health(),
        ))),
    };
    let gateway = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(e) = gw.serve(listener, shutdown).await {
            tracing::error!(error = %e, "gRPC gateway stopped");
        }
    });
    Ok(Node {
        grpc_addr,
        metrics_addr: metrics.as_ref().map(|m| m.addr),
        server,
        ensemble,
        health_task,
        metrics,
        stop: Some(stop),
        gateway,
        _data_dir: data_dir,
    })
}

/// Standalone health: SERVING while the txn log takes writes.
async fn report_writable(
    mut writable: tokio::sync::watch::Receiver<bool>,
    health: paddock_gateway::HealthHandle,
) {
    loop {
        let now = *writable.borrow_and_update();
        health.set_serving(now).await;
        if writable.changed().await.is_err() {
            return;
        }
    }
}

/// Recovers the tree from the data dir and starts the standalone pipeline. Its zxids continue in
/// the directory's currentEpoch when a repair moved it on.
fn start_standalone(
    config: &Config,
    myid: ServerId,
    data_dir: &DataDir,
) -> anyhow::Result<Arc<Server>> {
    let log = data_dir.log();
    let snaps = data_dir.snapshots();
    let started = std::time::Instant::now();
    let (tree, recovered) =
        tokio::task::block_in_place(|| paddock_processor::recover(&*log, &*snaps))
            .context("cannot recover the data tree")?;
    tracing::info!(
        snapshot = ?recovered.snapshot_zxid.map(|z| z.to_string()),
        replayed = recovered.replayed,
        last_zxid = %recovered.last_zxid,
        nodes = tree.node_count(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "data tree recovered"
    );
    let mut pcfg = ProcessorConfig::from_config(config, myid);
    pcfg.epoch = paddock_storage::EpochStore::current_epoch(&*data_dir.epochs());
    paddock_processor::standalone(pcfg, tree, log, snaps)
        .context("cannot start the request pipeline")
}

impl Node {
    /// Stops accepting, drains the pipeline (queued writes are made durable and answered), and
    /// releases the data dir.
    pub async fn shutdown(mut self) {
        if let Some(e) = self.ensemble.as_mut() {
            e.shutdown().await;
        }
        if let Some(t) = self.health_task.take() {
            t.abort();
        }
        self.server.shutdown().await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.gateway).await;
        if let Some(m) = self.metrics.take() {
            m.shutdown().await;
        }
    }
}

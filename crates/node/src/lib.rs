//! # paddock-node — the `paddock` server, as a library
//!
//! ```text
//!  Config ──▶ DataDir::open (lock, verify: a damaged dir is refused or repaired, datadir.rs)
//!         ──▶ ensemble::start: processor + quorum peer (several servers, or an ensemble of one:
//!             a standalone server takes the same write path); the peer rebuilds the tree from
//!             the newest snapshot + log, elects, serves
//!         ──▶ gateway::serve (gRPC: Paddock session streams, health, reflection)
//!         ──▶ wire gateway (ZooKeeper's own protocol and four-letter words on clientPort, if set)
//!         ──▶ HTTP admin API (ZooKeeper's AdminServer commands as JSON, and `GET /metrics`) on
//!             admin.serverPort (default 8080; http_admin.rs)
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
pub mod http_admin;
pub mod import_zk;
pub mod metrics;
pub mod telemetry;
pub mod tools;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use paddock_processor::Processor;
use paddock_storage::DataDir;
use paddock_types::{Config, ServerId};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server.
pub struct Node {
    /// Where the gRPC API listens (the real port when 0 was asked for).
    pub grpc_addr: SocketAddr,
    /// Where ZooKeeper's protocol is served (`clientPort`), unless it is off (0).
    pub client_addr: Option<SocketAddr>,
    /// Where ZooKeeper's protocol over TLS is served (`secureClientPort`), if it is.
    pub secure_client_addr: Option<SocketAddr>,
    /// Where `GET /metrics` is served (`metricsProvider.httpPort`), if it is.
    pub metrics_addr: Option<SocketAddr>,
    /// Where the HTTP admin API (and `/metrics`) is served (`admin.serverPort`), if it is.
    pub admin_addr: Option<SocketAddr>,
    /// The processor, for status and tests.
    pub server: Arc<Processor>,
    /// The quorum side (of an ensemble of one on a standalone server).
    pub ensemble: ensemble::Ensemble,
    health_task: Option<JoinHandle<()>>,
    metrics: Option<http_admin::HttpServer>,
    admin_http: Option<http_admin::HttpServer>,
    stop: Option<oneshot::Sender<()>>,
    gateway: JoinHandle<()>,
    /// The ZooKeeper-protocol gateways (clientPort, secureClientPort): a stop signal and the task.
    wire: Vec<(oneshot::Sender<()>, JoinHandle<()>)>,
    /// Held for the node's lifetime: the data-dir lock lives as long as this.
    _data_dir: DataDir,
}

/// Opens the data dir, recovers, starts the pipeline and the gRPC gateway.
pub async fn start(config: &Config, myid: ServerId) -> anyhow::Result<Node> {
    let started = std::time::Instant::now();
    let data_dir = tokio::task::block_in_place(|| datadir::open(config))?;
    let (server, ensemble) = ensemble::start(config, myid, &data_dir).await?;
    if ensemble.alone {
        // An ensemble of one elects itself at once (a few ms of epoch fsyncs): a standalone
        // server serves before it says so.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while server.serving_role() == paddock_processor::ServingRole::NotServing {
            let peer = ensemble.status().context("the quorum peer is gone")?;
            if peer.role == paddock_quorum::peer::PeerRole::Stopped
                || std::time::Instant::now() > deadline
            {
                anyhow::bail!("the standalone server did not start leading (see the log above)");
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        if let Some(why) = server.status().writes_refused {
            tracing::warn!(%why, "starting read-only: the txn log cannot take writes");
        }
    }

    let addr = format!("{}:{}", config.grpc_address, config.grpc_port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (grpcAddress:grpcPort)"))?;
    let grpc_addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let opts = paddock_gateway::GatewayOptions::from_config(config);
    let peer = ensemble.watch().context("the quorum peer is gone")?;
    let peer_stats = ensemble.peer_stats().context("the quorum peer is gone")?;
    let status: Arc<dyn paddock_gateway::AdminSource> = if ensemble.alone {
        Arc::new(admin::StandaloneAdmin {
            server: server.clone(),
            myid,
            started,
            dirs: admin::DataDirs::of(config),
        })
    } else {
        Arc::new(ensemble::EnsembleAdmin {
            server: server.clone(),
            myid,
            peer: peer.clone(),
            stats: peer_stats.clone(),
            started,
            dirs: admin::DataDirs::of(config),
            voters: ensemble.voters as u64,
        })
    };
    let registry = metrics::Metrics::new(metrics::MetricsSource {
        admin: status.clone(),
        server: server.clone(),
        quorum_size: ensemble.voters as u64,
        peer: Some(peer_stats),
    });
    let metrics = match config.metrics_port {
        Some(port) => {
            let addr = format!("{}:{port}", config.grpc_address);
            Some(http_admin::bind_metrics(&addr, registry.clone()).await?)
        }
        None => None,
    };
    let wire_listener = bind_optional(config, config.client_port, "clientPort").await?;
    let secure_listener =
        bind_optional(config, config.secure_client_port, "secureClientPort").await?;
    let client_addr = wire_listener
        .as_ref()
        .map(tokio::net::TcpListener::local_addr)
        .transpose()?;
    let secure_client_addr = secure_listener
        .as_ref()
        .map(tokio::net::TcpListener::local_addr)
        .transpose()?;
    // Loaded now: unusable TLS files stop the start, with the file named.
    let secure_tls = match (&secure_listener, &opts.tls) {
        (Some(_), Some(tls)) => Some(paddock_wire::WireTls {
            state: paddock_tls::TlsState::new(tls.clone())
                .context("cannot load the TLS files for secureClientPort")?,
            x509_super_user: config.x509_super_user.clone(),
        }),
        _ => None,
    };
    let admin = paddock_gateway::AdminService::new(
        status,
        admin::options(
            config,
            myid,
            grpc_addr.port(),
            client_addr.map_or(0, |a| a.port()),
        ),
    );
    let admin_http = match config.admin_port.filter(|_| config.admin_enabled) {
        Some(port) => {
            let mut ctx = http_admin::Context::new(admin.clone(), config);
            if !ensemble.alone {
                ctx = ctx.with_peer(peer.clone());
            }
            let addr = format!("{}:{port}", config.admin_address);
            let tls = admin_tls(config)?;
            http_admin::bind_admin(&addr, ctx, registry, tls).await
        }
        None => None,
    };
    let mut wire = Vec::new();
    for (listener, tls) in [(wire_listener, None), (secure_listener, secure_tls)] {
        let Some(listener) = listener else { continue };
        let (stop, stopped) = oneshot::channel::<()>();
        let mut gw = paddock_wire::WireGateway::new(server.clone(), admin::wire_options(config))
            .with_words(Arc::new(admin::WireWords(admin.clone())));
        if let Some(tls) = tls {
            gw = gw.with_tls(tls);
        }
        let task = tokio::spawn(async move {
            gw.serve(listener, async {
                let _ = stopped.await;
            })
            .await;
        });
        wire.push((stop, task));
    }
    let gw = paddock_gateway::Gateway::new(server.clone(), opts)
        .context("cannot start the gRPC gateway")?
        .with_admin(admin);
    // grpc.health.v1: SERVING only while the server serves clients (a leader synced with a
    // quorum, or a learner synced with it; an ensemble of one as soon as it leads): NOT_SERVING
    // from the first answer on, until the peer says otherwise (and while read-only).
    gw.health().set_serving(false).await;
    let health_task = Some(tokio::spawn(ensemble::report_health(peer, gw.health())));
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
        client_addr,
        secure_client_addr,
        metrics_addr: metrics.as_ref().map(|m| m.addr),
        admin_addr: admin_http.as_ref().map(|m| m.addr),
        server,
        ensemble,
        health_task,
        metrics,
        admin_http,
        stop: Some(stop),
        gateway,
        wire,
        _data_dir: data_dir,
    })
}

impl Node {
    /// Stops accepting, drains the pipeline (queued writes are made durable and answered), and
    /// releases the data dir.
    pub async fn shutdown(mut self) {
        self.ensemble.shutdown().await;
        if let Some(t) = self.health_task.take() {
            t.abort();
        }
        self.server.shutdown().await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.gateway).await;
        for (stop, task) in self.wire.drain(..) {
            let _ = stop.send(());
            let _ = task.await;
        }
        if let Some(m) = self.metrics.take() {
            m.shutdown().await;
        }
        if let Some(a) = self.admin_http.take() {
            a.shutdown().await;
        }
    }
}

/// The admin listener's TLS (`admin.forceHttps`), as ZooKeeper's AdminServer: this server's
/// `ssl.quorum.keyStore.location` certificate; with `admin.needClientAuth`, clients need a
/// certificate that chains to `ssl.quorum.trustStore.location`. Loaded now: unusable files
/// stop the start, with the file named.
fn admin_tls(config: &Config) -> anyhow::Result<Option<http_admin::AdminTls>> {
    if !config.admin_force_https {
        return Ok(None);
    }
    let key_store = config
        .ssl_quorum_key_store
        .clone()
        .context("admin.forceHttps=true needs ssl.quorum.keyStore.location")?;
    let mut opts = paddock_tls::TlsOptions::new(key_store, config.ssl_quorum_trust_store.clone());
    opts.client_auth = if config.admin_need_client_auth {
        paddock_tls::ClientAuth::Need
    } else if opts.trust_store.is_some() {
        // Checked when offered (the `x509` id of `snapshot`), not required.
        paddock_tls::ClientAuth::Want
    } else {
        paddock_tls::ClientAuth::None
    };
    opts.port = "admin port";
    let state = paddock_tls::TlsState::new(opts)
        .context("cannot load the TLS files for the admin server (admin.forceHttps)")?;
    Ok(Some(http_admin::AdminTls {
        state,
        x509_super_user: config.x509_super_user.clone(),
    }))
}

/// Binds `grpcAddress:port` for one of ZooKeeper's client ports (`key` names it in the error);
/// `None` when the port is 0 (off).
async fn bind_optional(
    config: &Config,
    port: u16,
    key: &str,
) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    if port == 0 {
        return Ok(None);
    }
    let addr = format!("{}:{port}", config.grpc_address);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| {
            format!("cannot listen on {addr} ({key}, ZooKeeper's protocol; 0 turns it off)")
        })?;
    Ok(Some(listener))
}

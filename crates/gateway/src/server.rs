//! Assembles the gRPC server: the Paddock service, health, reflection, admin, keepalive, and the
//! tower layers around them (`crate::layers`), in one readable place.

use std::future::Future;

use futures::future::Either;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt as _};
use paddock_api::threads::spawn_serving_threads;
use paddock_proto::v1::admin_server::AdminServer;
use paddock_proto::v1::paddock_server::PaddockServer;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tonic::transport::server::{Router, TcpIncoming};
use tonic::transport::Server;
use tower::layer::util::{Identity, Stack};
use tower::Layer;

use crate::admin::AdminService;
use crate::backend::Backend;
use crate::layers::{CallTraceLayer, StreamsPerIpLayer, UnaryLayer};
use crate::{GatewayError, GatewayOptions, GatewayService, HealthHandle};
use paddock_tls::TlsState;

/// A gateway ready to serve: validated options, a backend, and the health status it reports.
pub struct Gateway<B: Backend> {
    backend: Arc<B>,
    opts: GatewayOptions,
    health: HealthHandle,
    admin: Option<AdminService>,
    /// The TLS configuration, loaded (and checked) when the gateway is made.
    tls: Option<TlsState>,
}

/// HTTP/2 flow-control window of one stream (hyper's default).
const STREAM_WINDOW_BYTES: u32 = 1 << 20;
/// HTTP/2 flow-control window of one connection: 16 streams' worth (see `serve`).
const CONNECTION_WINDOW_BYTES: u32 = 16 << 20;

impl<B: Backend> Gateway<B> {
    /// Checks `opts` and prepares a gateway for `backend`. Health starts SERVING.
    /// With `opts.tls`, the key store and trust store are read here: unusable files are an
    /// error now, not at the first connection.
    pub fn new(backend: Arc<B>, opts: GatewayOptions) -> Result<Gateway<B>, GatewayError> {
        opts.validate()?;
        let tls = opts.tls.clone().map(TlsState::new).transpose()?;
        Ok(Gateway {
            backend,
            opts,
            health: HealthHandle::new(),
            admin: None,
            tls,
        })
    }

    /// Also serves `paddock.v1.Admin` (the four-letter words) on the same port.
    pub fn with_admin(mut self, admin: AdminService) -> Gateway<B> {
        self.admin = Some(admin.with_x509_super_user(self.opts.x509_super_user.clone()));
        self
    }

    /// The handle that sets what `grpc.health.v1.Health` reports (keep a clone before `serve`).
    pub fn health(&self) -> HealthHandle {
        self.health.clone()
    }

    /// Serves on `listener` until `shutdown` resolves. Then every open session stream ends with
    /// UNAVAILABLE (`paddock-error-code` -4, the client reconnects elsewhere) and is detached
    /// from its session, new connections are refused, and this returns once connections are done.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), GatewayError> {
        let opts = self.opts;
        let (stop_tx, stop_rx) = watch::channel(false);
        self.health.publish_current().await;

        // Per service: session streams limited per client IP (maxClientCnxns); the short calls
        // shed past their limit and time out, each service counted apart. Message size is the
        // codec's business (tonic refuses an oversize message before buffering it).
        let paddock = StreamsPerIpLayer::new(opts.max_connections_per_ip).layer(
            PaddockServer::new(GatewayService::new(self.backend, opts.clone(), stop_rx))
                .max_decoding_message_size(opts.max_message_bytes),
        );
        let unary = UnaryLayer::new(opts.unary_timeout(), opts.max_unary_calls_in_flight);
        let health = unary.layer(self.health.service());
        let admin = self.admin.map(|a| unary.layer(AdminServer::new(a)));
        // Reflection lists what a client can call on this port: not the election service
        // that shares the descriptor set but lives on the election port.
        let served_admin = admin.is_some();
        let reflection = || {
            let builder = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(paddock_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .with_service_name("paddock.v1.Paddock")
                .with_service_name("grpc.health.v1.Health");
            if served_admin {
                builder.with_service_name("paddock.v1.Admin")
            } else {
                builder
            }
        };
        let reflection_v1 = reflection()
            .build_v1()
            .map_err(|e| GatewayError::Reflection(e.to_string()))?;
        let reflection_v1alpha = reflection()
            .build_v1alpha()
            .map_err(|e| GatewayError::Reflection(e.to_string()))?;

        let (keepalive_interval, keepalive_timeout) = opts.http2_keepalive();
        let mut stopped = stop_tx.subscribe();
        let signal = async {
            shutdown.await;
            tracing::info!("gateway shutting down");
            stop_tx.send_replace(true);
        };
        let router = Server::builder()
            .http2_keepalive_interval(keepalive_interval)
            .http2_keepalive_timeout(keepalive_timeout)
            .max_concurrent_streams(Some(opts.max_concurrent_streams_per_connection))
            // Sessions may share a connection (gRPC streams; the Rust client's
            // SharedConnections). A stream the gateway stops reading (its in-flight limit, or
            // a client not reading its answers) keeps what it was sent of its 1 MiB stream
            // window unacknowledged, and that counts against the connection's window too: at
            // hyper's default (also 1 MiB) one or two such sessions stall every other session on
            // their connection (tests/server.rs
            // `stalled_sessions_do_not_block_the_others_on_their_connection`). The connection's
            // window is not memory reserved, only how much a client may send before the server
            // reads it.
            .initial_stream_window_size(STREAM_WINDOW_BYTES)
            .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
            // Around every call: its span.
            .layer(CallTraceLayer)
            .add_service(health)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(paddock)
            .add_optional_service(admin);
        if let Some(tls) = &self.tls {
            // Certificates reloaded until the server stops.
            tokio::spawn(tls.clone().reload_loop(stop_tx.subscribe()));
        }
        let tcp_keepalive = opts.tcp_keepalive();
        let server = if opts.serving_threads == 0 {
            Either::Left(async {
                serve_listener(router, listener, self.tls, tcp_keepalive, signal)
                    .await
                    .map_err(GatewayError::from)
            })
        } else {
            let threads = ServingThreads {
                router,
                tls: self.tls,
                tcp_keepalive,
                grace: Duration::from_millis(opts.shutdown_grace_ms),
            };
            let done = match threads.spawn(listener, opts.serving_threads, &stop_tx) {
                Ok(done) => done,
                Err(e) => {
                    stop_tx.send_replace(true);
                    return Err(e);
                }
            };
            Either::Right(wait_for_threads(done, signal, &stop_tx))
        };
        // Session streams end at the signal, but other streams (a health `Watch`) may not: after
        // the grace period, stop waiting for them.
        let grace = Duration::from_millis(opts.shutdown_grace_ms);
        let grace_over = async {
            let _ = stopped.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        };
        let served = match server {
            Either::Left(server) => tokio::select! {
                served = server => served,
                () = grace_over => {
                    tracing::warn!(grace_ms = opts.shutdown_grace_ms, "connections still open after the shutdown grace period; not waiting for them");
                    Ok(())
                }
            },
            // The threads keep to the grace period themselves (`ServingThreads::spawn`).
            Either::Right(server) => server.await,
        };
        // Also on a transport error: no session stream may outlive the server.
        stop_tx.send_replace(true);
        served
    }
}

/// The router of [`Gateway::serve`].
type PaddockRouter = Router<Stack<CallTraceLayer, Identity>>;

/// Serves the connections `listener` accepts (their TCP options set; through the TLS handshake
/// with `tls`) on the runtime this runs on, until `shutdown` resolves.
async fn serve_listener(
    router: PaddockRouter,
    listener: TcpListener,
    tls: Option<TlsState>,
    tcp_keepalive: Option<Duration>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let incoming = TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(tcp_keepalive);
    match tls {
        None => {
            router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
        }
        Some(tls) => {
            let incoming = tls.incoming(incoming);
            router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
        }
    }
}

/// What each serving thread needs (`GatewayOptions::serving_threads`).
struct ServingThreads {
    router: PaddockRouter,
    tls: Option<TlsState>,
    tcp_keepalive: Option<Duration>,
    /// How long connections may stay after the stop (`shutdown_grace_ms`).
    grace: Duration,
}

impl ServingThreads {
    /// Starts `n` threads (`paddock_api::threads`), each serving what it accepts from `listener`
    /// until `stop` says true, then its connections for up to the grace period. Every
    /// connection lives on one thread: its HTTP/2 task, its streams' tasks and the session tasks
    /// they start, with no work-stealing scheduler waking other threads for them.
    fn spawn(
        self,
        listener: TcpListener,
        n: usize,
        stop: &watch::Sender<bool>,
    ) -> Result<Vec<ThreadDone>, GatewayError> {
        let listener = listener.into_std().map_err(GatewayError::Threads)?;
        let stop = stop.subscribe();
        spawn_serving_threads("paddock-grpc", &listener, n, move |listener| async move {
            let mut stopped = stop.clone();
            let mut grace_stop = stop;
            let stopped = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            let served =
                serve_listener(self.router, listener, self.tls, self.tcp_keepalive, stopped);
            // As `Gateway::serve` does without threads: streams that never end (a health
            // `Watch`) are not waited for past the grace period. Then the thread's runtime is
            // dropped with them before it reports.
            let grace_over = async move {
                let _ = grace_stop.wait_for(|stop| *stop).await;
                tokio::time::sleep(self.grace).await;
            };
            tokio::select! {
                served = served => served.map_err(GatewayError::from),
                () = grace_over => Ok(()),
            }
        })
        .map_err(GatewayError::Threads)
    }
}

/// How a serving thread ended.
type ThreadDone = oneshot::Receiver<std::io::Result<Result<(), GatewayError>>>;

/// Drives `signal` until the serving threads have ended. One thread ending before the signal
/// (its runtime or its transport failed) stops the others: the port is served whole or not.
async fn wait_for_threads(
    done: Vec<ThreadDone>,
    signal: impl Future<Output = ()>,
    stop: &watch::Sender<bool>,
) -> Result<(), GatewayError> {
    let ended = |r: Result<std::io::Result<Result<(), GatewayError>>, _>| match r {
        Ok(Ok(served)) => served,
        Ok(Err(e)) => Err(GatewayError::Threads(e)),
        Err(oneshot::error::RecvError { .. }) => Err(GatewayError::Threads(std::io::Error::other(
            "a serving thread ended without a result",
        ))),
    };
    let mut pending: FuturesUnordered<_> = done.into_iter().collect();
    let first = tokio::select! {
        r = pending.next() => r,
        () = signal => None,
    };
    stop.send_replace(true);
    let mut result = first.map_or(Ok(()), ended);
    if let Err(e) = &result {
        tracing::error!(error = %e, "a thread serving the gRPC port failed; stopping the others");
    }
    while let Some(r) = pending.next().await {
        if result.is_ok() {
            result = ended(r);
        }
    }
    result
}

/// Serves the Paddock client API for `backend` on an already-bound `listener` until `shutdown`
/// resolves (tests bind port 0). Adds `grpc.health.v1.Health` (SERVING) and server reflection.
/// To change the health status while serving, use [`Gateway::new`], [`Gateway::health`] and
/// [`Gateway::serve`] instead.
pub async fn serve<B: Backend>(
    backend: Arc<B>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    opts: GatewayOptions,
) -> Result<(), GatewayError> {
    Gateway::new(backend, opts)?.serve(listener, shutdown).await
}

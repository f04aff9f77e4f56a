//! The HTTP admin API, as ZooKeeper's AdminServer, and `/metrics`, served with axum.
//!
//! ```text
//!  admin.serverAddress:admin.serverPort (default 0.0.0.0:8080; admin.enableServer=false or
//!  admin.serverPort=0 turn it off; admin.forceHttps=true: HTTPS only, with the
//!  ssl.quorum.* certificates, as ZooKeeper's AdminServer)
//!    GET <admin.commandURL>          links to every command (ZooKeeper's page)
//!    GET <admin.commandURL>/<name>   JSON {..., "command": <primary name>, "error": null|text}
//!    GET <admin.commandURL>/snapshot a snapshot file (auth info required; snapshot.rs)
//!    GET /metrics                    Prometheus text (crate::metrics)
//!  metricsProvider.httpPort (if set): GET /metrics only, as before
//! ```
//!
//! The commands ([`commands`]) read the same [`AdminService`] that answers the four-letter
//! words over gRPC and on the client port, so the three never disagree. As in ZooKeeper,
//! `4lw.commands.whitelist` does not apply here (it is the four-letter words' list). Each
//! command runs on tokio's blocking pool (some walk every session under a lock); at most
//! [`MAX_IN_FLIGHT`] requests are served at once, on at most [`listener::MAX_CONNECTIONS`]
//! connections, each closed after [`listener::IDLE_TIMEOUT`] without traffic.
//!
//! Like ZooKeeper, a server whose admin port cannot be bound logs a warning and keeps serving
//! (the admin API is for operators, not for clients); `metricsProvider.httpPort` must bind.

pub mod commands;
pub mod listener;
pub mod quorum;
pub mod snapshot;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::metrics::{Metrics, CONTENT_TYPE};
pub use commands::Context;

/// Requests served at once on one listener; more wait.
pub const MAX_IN_FLIGHT: usize = 32;
/// How long shutdown waits for open requests before it cuts them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running HTTP listener.
pub struct HttpServer {
    /// Where it listens (the real port when 0 was asked for).
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Serves `router` on `listener` (plain HTTP) until [`HttpServer::shutdown`].
    pub fn serve(listener: TcpListener, router: Router) -> std::io::Result<HttpServer> {
        HttpServer::serve_on(listener::Limited::new(listener), router)
    }

    /// Serves `router` on `listener` (plain or HTTPS) until [`HttpServer::shutdown`].
    pub fn serve_on(listener: listener::Limited, router: Router) -> std::io::Result<HttpServer> {
        use axum::serve::Listener as _;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let router = router.layer(tower::limit::ConcurrencyLimitLayer::new(MAX_IN_FLIGHT));
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            let app = router.into_make_service_with_connect_info::<listener::PeerInfo>();
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %e, %addr, "HTTP listener stopped");
            }
        });
        Ok(HttpServer {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// Stops listening; open requests get [`SHUTDOWN_GRACE`] to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `metricsProvider.httpPort`'s listener: `/metrics` only. The error names the key.
pub async fn bind_metrics(addr: &str, metrics: Metrics) -> anyhow::Result<HttpServer> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (metricsProvider.httpPort)"))?;
    let server = HttpServer::serve(listener, metrics_router(metrics))?;
    tracing::info!(addr = %server.addr, "Prometheus metrics on /metrics");
    Ok(server)
}

/// HTTPS for the admin listener (`admin.forceHttps`): the certificates, and the subject that
/// makes a client the super user.
pub struct AdminTls {
    pub state: paddock_tls::TlsState,
    pub x509_super_user: Option<String>,
}

/// The admin listener on `addr` (HTTPS only with `tls`): the commands under `ctx`'s URL and
/// `/metrics`. `None` (with a warning, as ZooKeeper) when `addr` cannot be bound.
pub async fn bind_admin(
    addr: &str,
    ctx: Context,
    metrics: Metrics,
    tls: Option<AdminTls>,
) -> Option<HttpServer> {
    let https = tls.is_some();
    let url = ctx.url().to_string();
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(
                %addr, error = %e,
                "problem starting the admin server (admin.serverAddress:admin.serverPort); \
                 serving without it"
            );
            return None;
        }
    };
    let listener = match tls {
        Some(t) => listener::Limited::https(listener, t.state, t.x509_super_user),
        None => listener::Limited::new(listener),
    };
    match HttpServer::serve_on(listener, admin_router(ctx, metrics)) {
        Ok(server) => {
            tracing::info!(addr = %server.addr, command_url = %url, https, "admin server started");
            Some(server)
        }
        Err(e) => {
            tracing::warn!(%addr, error = %e, "problem starting the admin server");
            None
        }
    }
}

/// `/metrics` only.
pub fn metrics_router(metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics)
}

/// The commands and `/metrics`.
pub fn admin_router(ctx: Context, metrics: Metrics) -> Router {
    let url = ctx.url().to_string();
    let commands = Router::new()
        .route(&url, get(list))
        .route(&format!("{url}/"), get(list))
        .route(&format!("{url}/{{name}}"), get(command))
        .with_state(ctx);
    commands.merge(metrics_router(metrics))
}

async fn scrape(State(metrics): State<Metrics>) -> Response {
    match tokio::task::spawn_blocking(move || metrics.render()).await {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot render the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "the metrics scrape failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// ZooKeeper's command page: a link per primary name, sorted.
async fn list(State(ctx): State<Context>) -> Response {
    let mut page = String::new();
    for name in commands::primary_names() {
        page.push_str(&format!(
            "<a href=\"{url}/{name}\">{name}</a>\n<br/>\n",
            url = ctx.url()
        ));
    }
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

async fn command(
    State(ctx): State<Context>,
    ConnectInfo(peer): ConnectInfo<listener::PeerInfo>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if snapshot::is_snapshot(&name) {
        if !ctx.admin().source().status().processor.serving {
            return snapshot::error(StatusCode::OK, paddock_gateway::admin::NOT_SERVING);
        }
        let caller = match snapshot::caller(peer.addr, &headers, &peer.tls_ids) {
            Ok(c) => c,
            Err((status, why)) => return snapshot::error(status, why),
        };
        let streaming = commands::query_value(query.as_deref().unwrap_or(""), "streaming")
            .is_none_or(|v| !v.eq_ignore_ascii_case("false"));
        return snapshot::serve(ctx, caller, streaming).await;
    }
    let answer = tokio::task::spawn_blocking(move || ctx.run(&name, query.as_deref())).await;
    let (status, body) = match answer {
        Ok(a) => a,
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({ "command": null, "error": format!("the command failed: {e}") }),
        ),
    };
    let text = serde_json::to_string_pretty(&body).unwrap_or_else(|e| {
        format!("{{\"command\": null, \"error\": \"cannot encode the answer: {e}\"}}")
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        text,
    )
        .into_response()
}

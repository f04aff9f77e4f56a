//! Prometheus metrics on `metricsProvider.httpPort` (DESIGN.md §9): `GET /metrics` answers the
//! text exposition format, rendered at scrape time from the same status snapshot `mntr` reads.
//!
//! Every value already lives in the processor (atomics and a status snapshot), so a scrape just
//! reads them: no global recorder (two in-process nodes in one test binary stay separate) and no
//! extra dependencies. The HTTP side is a minimal HTTP/1.1 responder: one request per connection,
//! `GET`/`HEAD /metrics` only, anything else is 404 (other paths) or 405 (other methods).
//!
//! Names follow ZooKeeper's Prometheus provider where one exists (`znode_count`, `avg_latency`,
//! ...; exported as gauges like ZooKeeper does); Paddock-only ones carry a `paddock_` prefix.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use paddock_gateway::AdminSource;
use paddock_processor::Processor;
use paddock_quorum::peer::PeerStats;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Largest request head read before giving up.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the numbers come from.
#[derive(Clone)]
pub struct MetricsSource {
    /// Mode, ids and the processor's status snapshot.
    pub admin: Arc<dyn AdminSource>,
    /// Counters the status does not carry (fsync batches, snapshots).
    pub server: Arc<Processor>,
    /// Voters in the ensemble (1 standalone).
    pub quorum_size: u64,
    /// The ensemble peer's counters: txn-log group commits and commit latency (`None`
    /// standalone, where the processor's sync stage writes the log and counts its batches).
    pub peer: Option<Arc<PeerStats>>,
}

impl MetricsSource {
    /// The exposition text now.
    pub fn render(&self) -> String {
        let s = self.admin.status();
        let p = &s.processor;
        let stats = self.server.stats();
        let (min, avg, max) = p.latency_ms();
        let mut m = Exposition::default();
        m.gauge("znode_count", "Number of znodes", p.node_count);
        m.gauge("watch_count", "Number of watches", p.watch_count);
        m.gauge(
            "ephemerals_count",
            "Number of ephemeral znodes",
            p.ephemerals_count,
        );
        m.gauge(
            "approximate_data_size",
            "Approximate size of znode paths and data in bytes",
            p.approximate_data_size,
        );
        m.gauge(
            "outstanding_requests",
            "Requests queued and not answered yet",
            p.outstanding,
        );
        m.gauge(
            "num_alive_connections",
            "Attached client connections",
            p.connections,
        );
        m.gauge("packets_received", "Requests received", p.received);
        m.gauge("packets_sent", "Answers sent", p.answered);
        m.gauge(
            "avg_latency",
            "Average request latency in milliseconds",
            avg,
        );
        m.gauge(
            "min_latency",
            "Smallest request latency in milliseconds",
            min,
        );
        m.gauge(
            "max_latency",
            "Largest request latency in milliseconds",
            max,
        );
        m.gauge(
            "quorum_size",
            "Voting members of the ensemble",
            self.quorum_size,
        );
        m.gauge("global_sessions", "Open sessions", p.session_count);
        if let Some(n) = s.synced_followers {
            m.gauge("synced_followers", "Followers in sync with the leader", n);
        }
        if let Some([last, min, max]) = s.proposal_sizes {
            m.gauge(
                "last_proposal_size",
                "Size of the leader's last proposal, bytes",
                last,
            );
            m.gauge(
                "min_proposal_size",
                "Smallest proposal of the leader, bytes",
                min,
            );
            m.gauge(
                "max_proposal_size",
                "Largest proposal of the leader, bytes",
                max,
            );
        }
        if let Some((open, max)) = s.file_descriptors {
            m.gauge("open_file_descriptor_count", "Open file descriptors", open);
            m.gauge(
                "max_file_descriptor_count",
                "Limit on open file descriptors",
                max,
            );
        }
        m.gauge(
            "paddock_serving",
            "1 when the server answers requests, 0 otherwise",
            u8::from(p.serving),
        );
        m.gauge("paddock_server_id", "This server's myid", s.server_id);
        m.gauge("paddock_last_zxid", "Last applied zxid", p.last_zxid.0);
        if let Some(e) = s.epoch {
            m.gauge("paddock_epoch", "Current epoch", e);
        }
        m.gauge(
            "paddock_watched_paths",
            "Paths with at least one watch",
            p.watched_paths,
        );
        let peer_syncs = self.peer.as_ref().map_or(0, |p| p.syncs());
        m.counter(
            "paddock_fsync_batches_total",
            "fsync'd batches written to the txn log",
            peer_syncs,
        );
        if let Some(peer) = &self.peer {
            m.counter(
                "paddock_log_synced_records_total",
                "Transactions made durable by the txn log's group commits",
                peer.records(),
            );
            m.counter(
                "paddock_log_sync_seconds_sum",
                "Time spent in txn-log group commits (append + fsync)",
                peer.sync_time().as_secs_f64(),
            );
            m.counter(
                "paddock_log_sync_seconds_count",
                "Txn-log group commits",
                peer.syncs(),
            );
            m.gauge(
                "paddock_log_sync_max_seconds",
                "Longest txn-log group commit (append + fsync) since start",
                peer.max_sync_time().as_secs_f64(),
            );
            m.counter(
                "paddock_commit_latency_seconds_sum",
                "From logging a transaction (leader: proposing it; learner: receiving the \
                 proposal) to applying it, summed",
                peer.commit_time().as_secs_f64(),
            );
            m.counter(
                "paddock_commit_latency_seconds_count",
                "Transactions the commit latency sum covers",
                peer.commits(),
            );
            m.gauge(
                "paddock_commit_latency_max_seconds",
                "Longest commit latency since start",
                peer.max_commit_time().as_secs_f64(),
            );
        }
        m.counter(
            "paddock_snapshots_total",
            "Snapshots written",
            stats.snapshots.load(Ordering::Relaxed),
        );
        m.counter(
            "paddock_request_latency_seconds_sum",
            "Sum of request latencies in seconds",
            p.latency_total_us as f64 / 1e6,
        );
        m.counter(
            "paddock_request_latency_seconds_count",
            "Number of latency samples",
            p.latency_count,
        );
        let _ = writeln!(
            m.out,
            "# HELP paddock_mode_info Server mode\n# TYPE paddock_mode_info gauge\n\
             paddock_mode_info{{mode=\"{}\"}} 1",
            s.mode.as_str()
        );
        m.out
    }
}

#[derive(Default)]
struct Exposition {
    out: String,
}

impl Exposition {
    fn metric(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        let _ = write!(
            self.out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    }

    fn gauge(&mut self, name: &str, help: &str, value: impl std::fmt::Display) {
        self.metric(name, "gauge", help, value);
    }

    fn counter(&mut self, name: &str, help: &str, value: impl std::fmt::Display) {
        self.metric(name, "counter", help, value);
    }
}

/// A running metrics listener.
pub struct MetricsServer {
    /// Where it listens (the real port when 0 was asked for).
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `addr` (`host:port`). The error names `metricsProvider.httpPort`.
    pub async fn bind(addr: &str, source: MetricsSource) -> anyhow::Result<MetricsServer> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            anyhow::anyhow!("cannot listen on {addr} (metricsProvider.httpPort): {e}")
        })?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            let source = source.clone();
                            tokio::spawn(async move {
                                if let Err(e) = serve_one(stream, &source).await {
                                    tracing::debug!(error = %e, "metrics request failed");
                                }
                            });
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "metrics accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    },
                }
            }
        });
        tracing::info!(%addr, "Prometheus metrics on /metrics");
        Ok(MetricsServer {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// Stops listening.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request head and answers it; the connection is then closed.
async fn serve_one(mut stream: TcpStream, source: &MetricsSource) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read_head = async {
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok::<bool, std::io::Error>(false);
            }
            head.extend_from_slice(&buf[..n]);
            if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
                return Ok(true);
            }
            if head.len() > MAX_HEAD {
                return Ok(false);
            }
        }
    };
    let complete = match tokio::time::timeout(READ_TIMEOUT, read_head).await {
        Ok(r) => r?,
        Err(_) => false,
    };
    let (status, body, head_only) = if complete {
        respond(&head, source)
    } else {
        ("400 Bad Request", "bad request\n".to_string(), false)
    };
    let content_type = if status.starts_with("200") {
        CONTENT_TYPE
    } else {
        "text/plain; charset=utf-8"
    };
    let mut reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        reply.push_str(&body);
    }
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}

/// (status line, body, whether to send the head only) for a request head.
fn respond(head: &[u8], source: &MetricsSource) -> (&'static str, String, bool) {
    let text = String::from_utf8_lossy(head);
    let line = text.lines().next().unwrap_or("");
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return ("400 Bad Request", "bad request\n".into(), false);
    };
    if !version.starts_with("HTTP/1.") {
        return ("400 Bad Request", "bad request\n".into(), false);
    }
    let path = target.split(['?', '#']).next().unwrap_or("");
    if path != "/metrics" {
        return ("404 Not Found", "not found; try /metrics\n".into(), false);
    }
    match method {
        "GET" => ("200 OK", source.render(), false),
        "HEAD" => ("200 OK", source.render(), true),
        _ => ("405 Method Not Allowed", "use GET\n".into(), false),
    }
}

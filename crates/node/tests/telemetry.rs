//! OTLP trace export from the real `paddock` binary (DESIGN.md §9 "OpenTelemetry OTLP export is
//! enabled by the standard `OTEL_EXPORTER_OTLP_ENDPOINT` variable"; STYLE habit 16).
//!
//! ```text
//!  fake collector (TraceService on 127.0.0.1:0) ◀── OTLP/gRPC ── paddock ◀── session + requests
//! ```
//!
//! Spans of requests (`submit`) arrive while the server runs (short `OTEL_BSP_SCHEDULE_DELAY`);
//! the session's `session_stream` span, which ends at shutdown, arrives with the flush on SIGTERM.
//! Every wait is bounded by [`WAIT`].

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use paddock_proto::v1 as pb;
use support::*;
use tokio::sync::{oneshot, Notify};
use tokio_stream::wrappers::TcpListenerStream;

/// One span as the collector received it.
#[derive(Clone, Debug)]
struct Received {
    name: String,
    trace_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    span_id: Vec<u8>,
    /// The string attributes of the resource it came with (`service.name`, ...).
    resource: Vec<(String, String)>,
}

impl Received {
    fn resource_attr(&self, key: &str) -> Option<&str> {
        self.resource
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A TraceService that keeps every span it is sent.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<Notify>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut got = Vec::new();
        for rs in request.into_inner().resource_spans {
            let resource: Vec<(String, String)> = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) => Some((kv.key.clone(), s.clone())),
                    _ => None,
                })
                .collect();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    got.push(Received {
                        name: s.name,
                        trace_id: s.trace_id,
                        parent_span_id: s.parent_span_id,
                        span_id: s.span_id,
                        resource: resource.clone(),
                    });
                }
            }
        }
        self.spans.lock().expect("not poisoned").extend(got);
        self.arrived.notify_waiters();
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Collector {
    /// Starts serving on 127.0.0.1:0; returns its address and the sender that stops it.
    async fn start(&self) -> (SocketAddr, oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the collector");
        let addr = listener.local_addr().expect("collector address");
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stop_rx.await;
                })
                .await
                .expect("the collector serves");
        });
        (addr, stop_tx)
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().expect("not poisoned").clone()
    }

    /// Waits (bounded by [`WAIT`]) until a span named `name` has arrived; returns all spans.
    async fn wait_for(&self, name: &str) -> Vec<Received> {
        let deadline = Instant::now() + WAIT;
        loop {
            let notified = self.arrived.notified();
            let spans = self.spans();
            if spans.iter().any(|s| s.name == name) {
                return spans;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no `{name}` span within {WAIT:?}; received: {:?}",
                names(&spans)
            );
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

fn names(spans: &[Received]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

/// The `paddock` binary with OTLP export to `collector`, its stderr collected.
struct Server {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts it with `env` added to a clean OTEL_* environment.
    fn spawn(data_dir: &std::path::Path, collector: SocketAddr, env: &[(&str, &str)]) -> Server {
        let mut cmd = paddock_command();
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("OTEL_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}"))
            .env("OTEL_BSP_SCHEDULE_DELAY", "200")
            .envs(env.iter().copied())
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--grpc-port", "0", "--grpc-address", "127.0.0.1"]);
        let mut child = cmd.spawn().expect("spawn paddock");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut l = sink.lock().unwrap_or_else(|e| e.into_inner());
                l.push_str(&strip_ansi(&line));
                l.push('\n');
            }
        });
        Server { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits for the "serving" line and returns the gRPC address it names.
    async fn addr(&mut self) -> SocketAddr {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(addr) = serving_addr(&self.log()) {
                return addr;
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                tokio::time::sleep(Duration::from_millis(50)).await;
                panic!(
                    "paddock exited early with {status}; stderr:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "paddock did not log its address within {WAIT:?}; stderr:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGTERM, then waits (bounded) for a clean exit.
    async fn terminate(&mut self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                assert!(
                    status.success(),
                    "paddock exited with {status}; stderr:\n{}",
                    self.log()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "paddock did not exit within {WAIT:?} of SIGTERM; stderr:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// DESIGN.md §9: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the gateway's spans reach the collector,
/// as service `paddock`, requests nested in their session's stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_collector() {
    let started = Instant::now();
    let collector = Collector::default();
    let (collector_addr, stop_collector) = collector.start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Server::spawn(dir.path(), collector_addr, &[]);
    let addr = server.addr().await;
    assert!(
        server.log().contains("exporting spans over OTLP"),
        "the server says it exports; stderr:\n{}",
        server.log()
    );

    let mut s = Session::open(addr, LONG_TIMEOUT_MS).await;
    s.mkdir("/otel").await;
    s.data("/otel").await;
    assert!(s.stat("/otel/missing").await.is_none());
    s.create_ok("/otel/a", b"x", pb::CreateMode::Persistent)
        .await;

    // Requests are exported while the server runs: the batch goes out every 200 ms.
    let spans = collector.wait_for("submit").await;
    assert!(
        spans.iter().filter(|s| s.name == "submit").count() >= 1,
        "{:?}",
        names(&spans)
    );

    // The session's stream span ends at shutdown and is flushed before the process exits.
    server.terminate().await;
    let spans = collector.wait_for("session_stream").await;
    let submits: Vec<&Received> = spans.iter().filter(|s| s.name == "submit").collect();
    assert_eq!(
        submits.len(),
        4,
        "one `submit` span per request: {:?}",
        names(&spans)
    );
    let stream = spans
        .iter()
        .find(|s| s.name == "session_stream")
        .expect("waited for it");
    for s in submits {
        assert_eq!(
            s.trace_id, stream.trace_id,
            "a request's span is in its session's trace"
        );
        assert_eq!(
            s.parent_span_id, stream.span_id,
            "a request's span is a child of its session's stream span"
        );
    }
    for s in &spans {
        assert_eq!(
            s.resource_attr("service.name"),
            Some("paddock"),
            "service.name of {}",
            s.name
        );
    }

    drop(s);
    let _ = stop_collector.send(());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the test took {:?}",
        started.elapsed()
    );
}

/// The standard resource variables apply: `OTEL_SERVICE_NAME` overrides the default name (and a
/// `service.name` in `OTEL_RESOURCE_ATTRIBUTES`), other `OTEL_RESOURCE_ATTRIBUTES` are attached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_variables_are_honoured() {
    let collector = Collector::default();
    let (collector_addr, stop_collector) = collector.start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Server::spawn(
        dir.path(),
        collector_addr,
        &[
            ("OTEL_SERVICE_NAME", "paddock-eu-1"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-attributes,deployment.environment=test",
            ),
        ],
    );
    let addr = server.addr().await;
    let mut s = Session::open(addr, LONG_TIMEOUT_MS).await;
    s.ping().await;
    let spans = collector.wait_for("submit").await;
    let submit = spans.iter().find(|s| s.name == "submit").expect("waited");
    assert_eq!(submit.resource_attr("service.name"), Some("paddock-eu-1"));
    assert_eq!(submit.resource_attr("deployment.environment"), Some("test"));
    server.terminate().await;
    drop(s);
    let _ = stop_collector.send(());
}

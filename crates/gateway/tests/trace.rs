//! The span of each call (`layers::trace`), seen by a capturing subscriber: a `session_stream`
//! span per session stream (always), a `submit` span per request and a `grpc_call` span per
//! other call (only while request spans are on), each with the status the call ended with.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use paddock_api::ConnectionInfo;
use paddock_gateway::{
    set_request_spans, AdminOptions, AdminService, AdminSource, GatewayOptions, NodeStatus,
};
use paddock_proto::v1 as pb;
use paddock_proto::v1::admin_client::AdminClient;
use paddock_proto::v1::CommandRequest;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// `set_request_spans` is process-wide: the tests of this file take turns.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One span as the subscriber saw it: its name, its parent's name, its fields so far.
#[derive(Clone, Debug)]
struct SpanRec {
    id: u64,
    name: &'static str,
    parent: Option<&'static str>,
    fields: BTreeMap<String, String>,
}

impl SpanRec {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Keeps every span made and every value recorded on it.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<SpanRec>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let parent = ctx.span(id).and_then(|s| s.parent()).map(|p| p.name());
        let mut rec = SpanRec {
            id: id.into_u64(),
            name: attrs.metadata().name(),
            parent,
            fields: BTreeMap::new(),
        };
        attrs.record(&mut Fields(&mut rec.fields));
        self.0.lock().expect("capture").push(rec);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut spans = self.0.lock().expect("capture");
        // Span ids are reused once a span closes: the newest span with this id is the one.
        if let Some(rec) = spans.iter_mut().rev().find(|s| s.id == id.into_u64()) {
            values.record(&mut Fields(&mut rec.fields));
        }
    }
}

impl Capture {
    fn named(&self, name: &str) -> Vec<SpanRec> {
        let spans = self.0.lock().expect("capture");
        spans.iter().filter(|s| s.name == name).cloned().collect()
    }

    /// Waits (bounded by [`WAIT`]) until some span satisfies `f`, and returns it.
    async fn wait_for(&self, what: &str, f: impl Fn(&SpanRec) -> bool) -> SpanRec {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let found = self
                .0
                .lock()
                .expect("capture")
                .iter()
                .find(|s| f(s))
                .cloned();
            if let Some(s) = found {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no span {what}; got {:?}",
                self.0.lock().expect("capture")
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

struct Source;

impl AdminSource for Source {
    fn status(&self) -> NodeStatus {
        unreachable!("ruok does not ask")
    }

    fn connections(&self) -> Vec<ConnectionInfo> {
        Vec::new()
    }

    fn watches(&self) -> Vec<(paddock_types::SessionId, String)> {
        Vec::new()
    }

    fn reset_server_stats(&self) {}

    fn reset_connection_stats(&self) {}

    fn dir_sizes(&self) -> (u64, u64) {
        (0, 0)
    }
}

fn admin() -> AdminService {
    let opts = AdminOptions {
        whitelist: vec!["ruok".into()],
        ..AdminOptions::default()
    };
    AdminService::new(Arc::new(Source), opts)
}

async fn ruok(server: &TestServer, request_id: Option<&'static str>) {
    let mut req = tonic::Request::new(CommandRequest {
        command: "ruok".into(),
    });
    if let Some(id) = request_id {
        req.metadata_mut().insert(
            "x-request-id",
            tonic::metadata::MetadataValue::from_static(id),
        );
    }
    let out = AdminClient::new(server.channel().await)
        .run_command(req)
        .await
        .expect("ruok")
        .into_inner()
        .output;
    assert_eq!(out, "imok");
}

/// With request spans on: each session stream has its span (peer, session, conn, final code),
/// each request a `submit` span inside it, each other call a `grpc_call` span (rpc, request id,
/// code); a stream refused by the per-IP limit has its span too, with the refusal's code.
#[tokio::test]
async fn every_call_has_a_span_with_its_final_code() {
    let _turn = SERIAL.lock().await;
    set_request_spans(true);
    let capture = Capture::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let opts = GatewayOptions {
        max_connections_per_ip: 1,
        ..GatewayOptions::default()
    };
    let server = start_with_admin(Fake::new(true), opts, admin()).await;

    let (mut conn, hello) = server.open().await;
    conn.send(get_data(1, "/a")).await;
    assert_eq!(conn.next_response().await.xid, 1);
    let refused = server.open_with(connect(0, &[])).await.err();
    assert!(refused.is_some(), "the second stream is over the limit");
    let close = pb::request::Op::CloseSession(pb::CloseSessionRequest {});
    conn.send(request(2, Some(close))).await;
    while conn.try_next().await.expect("ends cleanly").is_some() {}

    let session = format!("0x{:x}", hello.session_id);
    let stream = capture
        .wait_for("session_stream ending Ok", |s| {
            s.name == "session_stream" && s.field("code") == Some("Ok")
        })
        .await;
    assert!(
        stream
            .field("peer")
            .is_some_and(|p| p.starts_with("127.0.0.1:")),
        "{stream:?}"
    );
    assert!(stream.field("conn").is_some(), "{stream:?}");
    assert_eq!(
        stream.field("session"),
        Some(session.as_str()),
        "{stream:?}"
    );
    capture
        .wait_for("session_stream refused", |s| {
            s.name == "session_stream" && s.field("code") == Some("ResourceExhausted")
        })
        .await;
    let submits = capture.named("submit");
    assert_eq!(submits.len(), 2, "{submits:?}");
    assert!(submits.iter().all(|s| s.parent == Some("session_stream")));
    assert_eq!(submits[0].field("xid"), Some("1"));

    ruok(&server, Some("req-42")).await;
    let call = capture
        .wait_for("grpc_call ending Ok", |s| {
            s.name == "grpc_call" && s.field("code") == Some("Ok")
        })
        .await;
    assert_eq!(call.field("rpc"), Some("/paddock.v1.Admin/RunCommand"));
    assert_eq!(call.field("request_id"), Some("req-42"));
}

/// With request spans off (the server's default unless spans are exported or debug logs are
/// on): only the session stream's span is made.
#[tokio::test]
async fn without_request_spans_only_session_streams_have_one() {
    let _turn = SERIAL.lock().await;
    set_request_spans(false);
    let capture = Capture::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let server = start_with_admin(Fake::new(true), GatewayOptions::default(), admin()).await;
    ruok(&server, None).await;
    let (mut conn, _) = server.open().await;
    conn.send(get_data(1, "/a")).await;
    assert_eq!(conn.next_response().await.xid, 1);
    capture
        .wait_for("session_stream with its session", |s| {
            s.name == "session_stream" && s.field("session").is_some()
        })
        .await;
    assert!(capture.named("grpc_call").is_empty());
    assert!(capture.named("submit").is_empty());
    set_request_spans(true);
}

//! The span of each gRPC call, as a tower layer around the whole router.
//!
//! Every call gets a span made here, before any handler runs, and entered whenever the call's
//! future or response body is polled:
//! - a session stream (`paddock.v1.Paddock`) always gets `session_stream` (fields `peer`,
//!   `request_id`, then `session` and `conn` recorded by the handshake, `code` at the end). It is
//!   made for every stream because the stream's own info and warn events need its context, and it
//!   costs once per stream. The session handler takes it as `Span::current()` and enters it
//!   itself while it drives the stream, so the body does not enter it again per message;
//! - any other call (admin, health, reflection) gets `grpc_call` (fields `rpc`, `peer`,
//!   `request_id`, `code`) only while request spans are on ([`set_request_spans`]): otherwise
//!   nobody reads it.
//!
//! `request_id` is the client's `x-request-id` header when it sent one (at most 128 bytes of
//! visible ASCII), to find a client's call in the server's log. `code` is the gRPC status the call
//! ended with, read from the response headers (a trailers-only answer, e.g. a refusal) or its
//! trailers; a debug event `call finished` gives it with the call's duration. A call whose body
//! is dropped before its status left (the client reset it, the connection went) finishes
//! without a code.
//!
//! The per-request `submit` span inside a session stream is not made here: a layer sees one
//! HTTP/2 request per stream, not the messages inside it (see `session::submit`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use paddock_proto::v1::paddock_server::SERVICE_NAME as SESSION_SERVICE;
use pin_project_lite::pin_project;
use tonic::transport::server::TcpConnectInfo;
use tonic::Code;
use tower::{Layer, Service};
use tracing::{field, info_span, Span};

/// Whether per-request and per-call spans are made (see [`set_request_spans`]).
static REQUEST_SPANS: AtomicBool = AtomicBool::new(true);

/// Turns the per-request `submit` span of session streams, and the `grpc_call` span of other
/// calls, on or off (on by default). A span per request costs a few percent of a read's CPU (the
/// log formatter renders its fields when it is created), so the server binary turns them off
/// unless someone consumes them: trace export, or logs at debug level or finer, where they give
/// the request context to the events inside. The session stream's own span is always there.
pub fn set_request_spans(on: bool) {
    REQUEST_SPANS.store(on, Ordering::Relaxed);
}

/// Whether request spans are on now.
#[inline]
pub(crate) fn request_spans() -> bool {
    REQUEST_SPANS.load(Ordering::Relaxed)
}

/// Longest `x-request-id` recorded, bytes.
const REQUEST_ID_BYTES_MAX: usize = 128;

/// Makes the span of every call of the service it wraps (the tonic router).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CallTraceLayer;

impl<S> Layer<S> for CallTraceLayer {
    type Service = CallTrace<S>;

    fn layer(&self, inner: S) -> CallTrace<S> {
        CallTrace { inner }
    }
}

/// The service [`CallTraceLayer`] makes.
#[derive(Clone, Debug)]
pub(crate) struct CallTrace<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for CallTrace<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<TracedBody<ResBody>>;
    type Error = S::Error;
    type Future = TraceFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let call = Call::start(&req);
        let inner = match &call {
            Some(c) => c.span.in_scope(|| self.inner.call(req)),
            None => self.inner.call(req),
        };
        TraceFuture { inner, call }
    }
}

/// One traced call.
#[derive(Debug)]
struct Call {
    span: Span,
    started: Instant,
    /// Enter the span around polls of the response body. Not for session streams: their
    /// handler enters the span itself while it makes each message.
    enter_body: bool,
}

impl Call {
    /// The call's span, or `None` when this call is not traced.
    fn start<B>(req: &http::Request<B>) -> Option<Call> {
        let path = req.uri().path();
        let session = path
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(SESSION_SERVICE))
            .is_some_and(|rest| rest.starts_with('/'));
        if !session && !request_spans() {
            return None;
        }
        let peer = req
            .extensions()
            .get::<TcpConnectInfo>()
            .and_then(TcpConnectInfo::remote_addr)
            .map(|a| a.to_string())
            .unwrap_or_default();
        let span = if session {
            info_span!(
                "session_stream",
                peer,
                request_id = field::Empty,
                session = field::Empty,
                conn = field::Empty,
                code = field::Empty,
            )
        } else {
            info_span!(
                "grpc_call",
                rpc = path,
                peer,
                request_id = field::Empty,
                code = field::Empty,
            )
        };
        if let Some(id) = request_id(req.headers()) {
            span.record("request_id", id);
        }
        Some(Call {
            span,
            started: Instant::now(),
            enter_body: !session,
        })
    }

    /// The call ended with `code` (`None`: dropped before its status was sent).
    fn finish(&self, code: Option<Code>) {
        if let Some(code) = code {
            self.span.record("code", field::debug(code));
        }
        let elapsed_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        tracing::debug!(parent: &self.span, ?code, elapsed_us, "call finished");
    }
}

/// The client's `x-request-id`, if it is short visible ASCII.
fn request_id(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get("x-request-id")?;
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= REQUEST_ID_BYTES_MAX).then_some(s)
}

/// The `grpc-status` in `headers` (trailers, or the headers of a trailers-only answer).
fn grpc_code(headers: &HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .map(|v| Code::from_bytes(v.as_bytes()))
}

pin_project! {
    /// The inner call, polled inside its span.
    pub(crate) struct TraceFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F, B, E> Future for TraceFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<TracedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = match this.call {
            Some(c) => c.span.in_scope(|| this.inner.poll(cx)),
            None => this.inner.poll(cx),
        };
        let response = std::task::ready!(polled)?;
        let mut call = this.call.take();
        if let Some(code) = grpc_code(response.headers()) {
            // Trailers-only: the status is all there is.
            if let Some(c) = call.take() {
                c.finish(Some(code));
            }
        }
        Poll::Ready(Ok(response.map(|inner| TracedBody { inner, call })))
    }
}

pin_project! {
    /// A response body that records its call's status when the trailers pass. An untraced
    /// call's frames pass through with one branch each.
    pub(crate) struct TracedBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
    }

    impl<B> PinnedDrop for TracedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(c) = this.project().call.take() {
                c.finish(None);
            }
        }
    }
}

impl<B: Body> Body for TracedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let Some(call) = this.call.as_ref() else {
            return this.inner.poll_frame(cx);
        };
        let polled = if call.enter_body {
            call.span.in_scope(|| this.inner.poll_frame(cx))
        } else {
            this.inner.poll_frame(cx)
        };
        // The call ends when its trailers pass (`Some(code)`), or when the body ends without any.
        let ended = match &polled {
            Poll::Ready(Some(Ok(frame))) => frame.trailers_ref().map(grpc_code),
            Poll::Ready(None) => Some(None),
            Poll::Ready(Some(Err(_))) | Poll::Pending => None,
        };
        if let Some(code) = ended {
            if let Some(c) = this.call.take() {
                c.finish(code);
            }
        }
        polled
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_short_visible_ascii() {
        let mut h = HeaderMap::new();
        assert_eq!(request_id(&h), None);
        h.insert("x-request-id", http::HeaderValue::from_static("abc-1"));
        assert_eq!(request_id(&h), Some("abc-1"));
        let long = "x".repeat(REQUEST_ID_BYTES_MAX + 1);
        h.insert(
            "x-request-id",
            http::HeaderValue::from_str(&long).expect("ascii"),
        );
        assert_eq!(request_id(&h), None);
    }

    #[test]
    fn grpc_status_is_read_from_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(grpc_code(&h), None);
        h.insert("grpc-status", http::HeaderValue::from_static("8"));
        assert_eq!(grpc_code(&h), Some(Code::ResourceExhausted));
    }
}

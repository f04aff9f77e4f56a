//! Timeouts and load shedding for the short calls (`paddock.v1.Admin`, `grpc.health.v1.Health`),
//! from tower's own middleware.
//!
//! ```text
//!  call ─▶ answer errors as statuses ─▶ LoadShed ─▶ ConcurrencyLimit(max) ─▶ Timeout(t) ─▶ service
//! ```
//!
//! - At most `max_unary_calls_in_flight` calls of one service run at once; one more is not
//!   queued but answered at once with RESOURCE_EXHAUSTED (`paddock-error-code` Throttled), so a
//!   burst of admin calls (whose `cons` and `mntr` walk every session) cannot pile up work in
//!   the server. Each wrapped service counts apart: a flood of admin calls never sheds health
//!   checks.
//! - A call that has not answered within `unary_timeout_ms` ends with DEADLINE_EXCEEDED
//!   (`paddock-error-code` OperationTimeout) and gives its slot back. (A client's own
//!   `grpc-timeout` is applied by tonic as well, whichever is shorter.)
//!
//! The limit and the timeout hold until a call's response headers: for a streaming method
//! (a health `Watch`) that is its start, not its whole life.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use paddock_types::ErrorCode;
use pin_project_lite::pin_project;
use tonic::server::NamedService;
use tonic::{Code, Status};
use tower::limit::ConcurrencyLimit;
use tower::load_shed::error::Overloaded;
use tower::load_shed::LoadShed;
use tower::timeout::error::Elapsed;
use tower::timeout::Timeout;
use tower::{BoxError, Layer, Service, ServiceBuilder};

use crate::status::with_code;

/// The policy for short calls; each service it wraps gets its own count.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UnaryLayer {
    timeout: Duration,
    max_in_flight: usize,
}

impl UnaryLayer {
    pub(crate) fn new(timeout: Duration, max_in_flight: usize) -> UnaryLayer {
        UnaryLayer {
            timeout,
            max_in_flight,
        }
    }
}

impl<S> Layer<S> for UnaryLayer {
    type Service = Unary<S>;

    fn layer(&self, inner: S) -> Unary<S> {
        let inner = ServiceBuilder::new()
            .load_shed()
            .concurrency_limit(self.max_in_flight)
            .timeout(self.timeout)
            .service(inner);
        Unary {
            inner,
            policy: *self,
            not_ready: None,
        }
    }
}

/// The service [`UnaryLayer`] makes: tower's middleware, with their errors answered as gRPC
/// statuses (tonic's router takes only services that cannot fail).
#[derive(Clone)]
pub(crate) struct Unary<S> {
    inner: LoadShed<ConcurrencyLimit<Timeout<S>>>,
    policy: UnaryLayer,
    /// The wrapped service failed `poll_ready` (tonic's never do): the next call answers it.
    not_ready: Option<Status>,
}

impl<S: NamedService> NamedService for Unary<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for Unary<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + NamedService,
    S::Error: Into<BoxError>,
    ResBody: Default,
{
    type Response = http::Response<ResBody>;
    type Error = Infallible;
    type Future = UnaryFuture<
        <LoadShed<ConcurrencyLimit<Timeout<S>>> as Service<http::Request<ReqBody>>>::Future,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // LoadShed is always ready: at the limit it sheds the call instead of waiting.
        if let Poll::Ready(Err(e)) = self.inner.poll_ready(cx) {
            self.not_ready = Some(self.policy.status_of::<S>(e));
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        match self.not_ready.take() {
            Some(status) => UnaryFuture::Failed {
                status: Some(status),
            },
            None => UnaryFuture::Called {
                inner: self.inner.call(req),
                policy: self.policy,
                name: S::NAME,
            },
        }
    }
}

impl UnaryLayer {
    /// A middleware error as the status the client gets.
    fn status_of<S: NamedService>(&self, e: BoxError) -> Status {
        status_of(e, S::NAME, self)
    }
}

/// Overloaded -> RESOURCE_EXHAUSTED / Throttled; Elapsed -> DEADLINE_EXCEEDED /
/// OperationTimeout; anything else as tonic would answer it.
fn status_of(e: BoxError, service: &str, policy: &UnaryLayer) -> Status {
    if e.is::<Overloaded>() {
        with_code(
            Code::ResourceExhausted,
            format!(
                "the server is busy: {} {service} calls are running already \
                 (max_unary_calls_in_flight)",
                policy.max_in_flight
            ),
            ErrorCode::Throttled,
        )
    } else if e.is::<Elapsed>() {
        with_code(
            Code::DeadlineExceeded,
            format!(
                "the {service} call did not answer within {} ms (unary_timeout_ms)",
                policy.timeout.as_millis()
            ),
            ErrorCode::OperationTimeout,
        )
    } else {
        Status::from_error(e)
    }
}

pin_project! {
    /// A call through the middleware, or the answer to a service that was not ready.
    #[project = UnaryProj]
    pub(crate) enum UnaryFuture<F> {
        Called { #[pin] inner: F, policy: UnaryLayer, name: &'static str },
        Failed { status: Option<Status> },
    }
}

impl<F, B> Future for UnaryFuture<F>
where
    F: Future<Output = Result<http::Response<B>, BoxError>>,
    B: Default,
{
    type Output = Result<http::Response<B>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            UnaryProj::Called {
                inner,
                policy,
                name,
            } => Poll::Ready(Ok(match std::task::ready!(inner.poll(cx)) {
                Ok(response) => response,
                Err(e) => {
                    let status = status_of(e, name, policy);
                    tracing::debug!(code = ?status.code(), message = status.message(), "call refused");
                    status.into_http()
                }
            })),
            UnaryProj::Failed { status } => match status.take() {
                Some(s) => Poll::Ready(Ok(s.into_http())),
                None => Poll::Pending, // polled after completion: never again ready
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::error_code_of;

    const POLICY: UnaryLayer = UnaryLayer {
        timeout: Duration::from_millis(250),
        max_in_flight: 3,
    };

    #[test]
    fn middleware_errors_become_zookeeper_tagged_statuses() {
        let shed = status_of(Box::new(Overloaded::new()), "paddock.v1.Admin", &POLICY);
        assert_eq!(shed.code(), Code::ResourceExhausted);
        assert_eq!(error_code_of(&shed), Some(ErrorCode::Throttled));
        assert!(
            shed.message().contains("3 paddock.v1.Admin calls"),
            "{shed:?}"
        );
        let late = status_of(Box::new(Elapsed::new()), "paddock.v1.Admin", &POLICY);
        assert_eq!(late.code(), Code::DeadlineExceeded);
        assert_eq!(error_code_of(&late), Some(ErrorCode::OperationTimeout));
        assert!(late.message().contains("250 ms"), "{late:?}");
        let other = status_of(Status::unavailable("gone").into(), "x", &POLICY);
        assert_eq!(other.code(), Code::Unavailable);
    }
}

//! Per-client-IP stream limit (ZooKeeper's `maxClientCnxns`), as a tower layer around the
//! `paddock.v1.Paddock` service.
//!
//! Counts open session streams per IP address. A stream is admitted with a permit that rides in
//! its response body, so the slot is held for the stream's whole life (until hyper drops the body:
//! the stream ended, was reset, or its connection closed) and given back on drop; the session
//! handler never sees it. The (N+1)th stream from one IP is refused before the handler runs, with
//! RESOURCE_EXHAUSTED and `paddock-error-code` Throttled. 0 means unlimited. A stream without a
//! known peer address (not TCP) is not counted.
//!
//! Only session streams count (the layer wraps that one service): health checks, admin calls
//! and reflection from the same IP are not limited by `maxClientCnxns`, as before.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use paddock_types::ErrorCode;
use pin_project_lite::pin_project;
use tonic::server::NamedService;
use tonic::transport::server::TcpConnectInfo;
use tonic::{Code, Status};
use tower::{Layer, Service};

use crate::status::with_code;

type Counts = Arc<Mutex<HashMap<IpAddr, u32>>>;

/// Hands out at most `max` permits per IP at a time.
#[derive(Clone, Debug)]
pub(crate) struct ConnLimiter {
    max: u32,
    counts: Counts,
}

/// One open stream's slot; released on drop.
#[derive(Debug)]
pub(crate) struct ConnPermit {
    ip: IpAddr,
    counts: Counts,
}

impl ConnLimiter {
    pub(crate) fn new(max_per_ip: u32) -> ConnLimiter {
        ConnLimiter {
            max: max_per_ip,
            counts: Arc::default(),
        }
    }

    /// A permit for one more stream from `ip`, or RESOURCE_EXHAUSTED (Throttled) at the limit.
    pub(crate) fn acquire(&self, ip: Option<IpAddr>) -> Result<Option<ConnPermit>, Status> {
        let Some(ip) = ip.filter(|_| self.max > 0) else {
            return Ok(None);
        };
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.max {
            return Err(with_code(
                Code::ResourceExhausted,
                format!(
                    "too many streams from {ip}: the limit is {} (maxClientCnxns)",
                    self.max
                ),
                ErrorCode::Throttled,
            ));
        }
        *n += 1;
        Ok(Some(ConnPermit {
            ip,
            counts: Arc::clone(&self.counts),
        }))
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Limits the streams of the wrapped service to `max_per_ip` per client IP (0 = unlimited).
/// Every service this layer wraps shares one count per IP.
#[derive(Clone, Debug)]
pub(crate) struct StreamsPerIpLayer {
    limiter: ConnLimiter,
}

impl StreamsPerIpLayer {
    pub(crate) fn new(max_per_ip: u32) -> StreamsPerIpLayer {
        StreamsPerIpLayer {
            limiter: ConnLimiter::new(max_per_ip),
        }
    }
}

impl<S> Layer<S> for StreamsPerIpLayer {
    type Service = StreamsPerIp<S>;

    fn layer(&self, inner: S) -> StreamsPerIp<S> {
        StreamsPerIp {
            inner,
            limiter: self.limiter.clone(),
        }
    }
}

/// The service [`StreamsPerIpLayer`] makes.
#[derive(Clone, Debug)]
pub(crate) struct StreamsPerIp<S> {
    inner: S,
    limiter: ConnLimiter,
}

impl<S: NamedService> NamedService for StreamsPerIp<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for StreamsPerIp<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: Default,
{
    type Response = http::Response<Permitted<ResBody>>;
    type Error = S::Error;
    type Future = PerIpFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let ip = req
            .extensions()
            .get::<TcpConnectInfo>()
            .and_then(TcpConnectInfo::remote_addr)
            .map(|addr| addr.ip());
        match self.limiter.acquire(ip) {
            Ok(permit) => PerIpFuture::Admitted {
                inner: self.inner.call(req),
                permit,
            },
            Err(refused) => {
                tracing::debug!(message = refused.message(), "stream refused");
                PerIpFuture::Refused {
                    response: Some(refused.into_http()),
                }
            }
        }
    }
}

pin_project! {
    /// The inner call with the permit it will hand to the response body, or the refusal.
    #[project = PerIpProj]
    pub(crate) enum PerIpFuture<F, B> {
        Admitted { #[pin] inner: F, permit: Option<ConnPermit> },
        Refused { response: Option<http::Response<B>> },
    }
}

impl<F, B, E> Future for PerIpFuture<F, B>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<Permitted<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            PerIpProj::Admitted { inner, permit } => {
                let response = std::task::ready!(inner.poll(cx))?;
                let permit = permit.take();
                Poll::Ready(Ok(response.map(|body| Permitted {
                    inner: body,
                    _permit: permit,
                })))
            }
            PerIpProj::Refused { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r.map(|body| Permitted {
                    inner: body,
                    _permit: None,
                }))),
                None => Poll::Pending, // polled after completion: never again ready
            },
        }
    }
}

pin_project! {
    /// A response body that holds its stream's per-IP slot until it is dropped. Frames pass
    /// through untouched (one inlined call per frame, no allocation).
    pub(crate) struct Permitted<B> {
        #[pin]
        inner: B,
        _permit: Option<ConnPermit>,
    }
}

impl<B: Body> Body for Permitted<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
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
    use crate::status::error_code_of;

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    #[test]
    fn refuses_past_the_limit_per_ip_and_frees_on_drop() {
        let l = ConnLimiter::new(2);
        let p1 = l.acquire(A).expect("1st");
        let _p2 = l.acquire(A).expect("2nd");
        let refused = l.acquire(A).expect_err("3rd from the same IP");
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert_eq!(error_code_of(&refused), Some(ErrorCode::Throttled));
        assert!(l.acquire(B).is_ok(), "other IPs are counted apart");
        drop(p1);
        assert!(l.acquire(A).is_ok(), "a dropped permit frees its slot");
    }

    #[test]
    fn zero_means_unlimited_and_unknown_peers_are_not_counted() {
        let l = ConnLimiter::new(0);
        let permits: Vec<_> = (0..100).map(|_| l.acquire(A).expect("unlimited")).collect();
        assert!(permits.iter().all(Option::is_none));
        let l = ConnLimiter::new(1);
        assert!(l.acquire(None).expect("no peer").is_none());
        assert!(l.acquire(None).expect("no peer").is_none());
    }
}

//! The tonic service: `paddock.v1.Paddock/Session`. Thin: it hands the stream to
//! [`crate::session`] (a task for the handshake, then the response stream itself). The per-IP
//! limit and the stream's span come from the layers around it (`crate::layers`).

use std::sync::Arc;

use paddock_proto::v1 as pb;
use paddock_proto::v1::paddock_server::Paddock;
use tokio::sync::{oneshot, watch};
use tonic::{Request, Response, Status, Streaming};
use tracing::{Instrument, Span};

use crate::backend::Backend;
use crate::session::{self, OutboundStream, StreamCtx};
use crate::GatewayOptions;

/// Serves session streams against a [`Backend`].
pub struct GatewayService<B: Backend> {
    backend: Arc<B>,
    opts: Arc<GatewayOptions>,
    shutdown: watch::Receiver<bool>,
}

impl<B: Backend> GatewayService<B> {
    /// A service for `backend`. When `shutdown` becomes `true`, every open stream ends with
    /// UNAVAILABLE (`paddock-error-code` -4) and is detached, so that a graceful server shutdown
    /// does not wait for long-lived sessions. Options are used as given (see
    /// [`GatewayOptions::validate`]). [`crate::Gateway`] serves it with the layers that limit
    /// streams per IP (`maxClientCnxns`) and make each stream's span.
    pub fn new(
        backend: Arc<B>,
        opts: GatewayOptions,
        shutdown: watch::Receiver<bool>,
    ) -> GatewayService<B> {
        GatewayService {
            backend,
            opts: Arc::new(opts),
            shutdown,
        }
    }
}

#[tonic::async_trait]
impl<B: Backend> Paddock for GatewayService<B> {
    type SessionStream = OutboundStream;

    async fn session(
        &self,
        request: Request<Streaming<pb::ClientMessage>>,
    ) -> Result<Response<OutboundStream>, Status> {
        let certs = request.peer_certs();
        let cert = certs.as_ref().and_then(|c| c.first()).map(|c| c.as_ref());
        let peer = session::PeerInfo::new(
            request.remote_addr(),
            cert,
            self.opts.x509_super_user.as_deref(),
        );
        let ctx = StreamCtx {
            backend: Arc::clone(&self.backend),
            opts: Arc::clone(&self.opts),
            shutdown: self.shutdown.clone(),
        };
        // The `session_stream` span made by the trace layer (`layers::trace`), entered while
        // this handler runs.
        let span = Span::current();
        let (ready_tx, ready_rx) = oneshot::channel();
        // The handshake runs in its own task, so a client that vanishes mid-handshake cannot
        // leave a session attached: the task sees that nobody took it and detaches.
        tokio::spawn(
            session::handshake_task(ctx, request.into_inner(), peer, ready_tx)
                .instrument(span.clone()),
        );
        // No await between taking the attached session and wrapping it in the stream (whose
        // drop detaches it), so this handler cannot be cancelled in between.
        match ready_rx.await {
            Ok(result) => result.map(|attached| Response::new(attached.into_stream(span))),
            Err(_) => Err(Status::internal("the session task ended before answering")),
        }
    }
}

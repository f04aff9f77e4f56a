//! The `grpc.health.v1.Health` status of this gateway.

use std::pin::Pin;
use std::sync::{Arc, RwLock};

use paddock_proto::v1::paddock_server::SERVICE_NAME;
use tokio::sync::Mutex;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus as PbStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_health::server::{HealthReporter, HealthService};
use tonic_health::ServingStatus;

/// Asked on every health answer: `false` turns a stored SERVING into NOT_SERVING at that
/// moment (e.g. an ensemble leader whose lease ended while its status task had not run yet).
pub type ServingGate = Arc<dyn Fn() -> bool + Send + Sync>;

/// Sets what health checks report, for `""` (the whole server) and `paddock.v1.Paddock` alike.
/// Starts SERVING. Cheap to clone; every clone drives the same status.
#[derive(Clone)]
pub struct HealthHandle {
    reporter: HealthReporter,
    /// The status wanted; held while the reporter is written, so writers cannot interleave.
    serving: Arc<Mutex<bool>>,
    gate: Arc<RwLock<Option<ServingGate>>>,
}

impl std::fmt::Debug for HealthHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthHandle")
            .field("reporter", &self.reporter)
            .field("serving", &self.serving)
            .finish_non_exhaustive()
    }
}

impl Default for HealthHandle {
    fn default() -> HealthHandle {
        HealthHandle {
            reporter: HealthReporter::new(),
            serving: Arc::new(Mutex::new(true)),
            gate: Arc::new(RwLock::new(None)),
        }
    }
}

impl HealthHandle {
    /// A handle reporting SERVING.
    pub fn new() -> HealthHandle {
        HealthHandle::default()
    }

    /// Reports SERVING (`true`) or NOT_SERVING (`false`), e.g. while the node has no quorum.
    pub async fn set_serving(&self, serving: bool) {
        let mut wanted = self.serving.lock().await;
        *wanted = serving;
        self.publish(serving).await;
    }

    /// Adds a check made on every answer (`Check`, and each status a `Watch` sends): while it
    /// says `false` the answer is NOT_SERVING whatever [`HealthHandle::set_serving`] said. For
    /// a condition that expires with time rather than changes with an event.
    pub fn set_gate(&self, gate: impl Fn() -> bool + Send + Sync + 'static) {
        *self.gate.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(gate));
    }

    /// Writes the wanted status for both names (the reporter starts knowing only `""`).
    pub(crate) async fn publish_current(&self) {
        let wanted = self.serving.lock().await;
        self.publish(*wanted).await;
    }

    async fn publish(&self, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.reporter.set_service_status("", status).await;
        self.reporter.set_service_status(SERVICE_NAME, status).await;
    }

    /// The `grpc.health.v1.Health` service answering from this handle.
    pub(crate) fn service(&self) -> HealthServer<GatedHealth> {
        HealthServer::new(GatedHealth {
            inner: HealthService::from_health_reporter(self.reporter.clone()),
            gate: self.gate.clone(),
        })
    }
}

/// tonic-health's service with the gate applied to every answer.
pub(crate) struct GatedHealth {
    inner: HealthService,
    gate: Arc<RwLock<Option<ServingGate>>>,
}

/// SERVING becomes NOT_SERVING when `gate` says no.
fn gated(gate: &RwLock<Option<ServingGate>>, mut r: HealthCheckResponse) -> HealthCheckResponse {
    if r.status == PbStatus::Serving as i32 {
        let open = gate
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_none_or(|g| g());
        if !open {
            r.status = PbStatus::NotServing as i32;
        }
    }
    r
}

type GatedStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for GatedHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let r = self.inner.check(request).await?;
        Ok(Response::new(gated(&self.gate, r.into_inner())))
    }

    type WatchStream = GatedStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let stream = self.inner.watch(request).await?.into_inner();
        let gate = self.gate.clone();
        let stream = stream.map(move |item| item.map(|r| gated(&gate, r)));
        Ok(Response::new(Box::pin(stream)))
    }
}

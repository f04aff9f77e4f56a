//! The `grpc.health.v1.Health` status of this gateway.

use std::sync::Arc;

use paddock_proto::v1::paddock_server::SERVICE_NAME;
use tokio::sync::Mutex;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// Sets what health checks report, for `""` (the whole server) and `paddock.v1.Paddock` alike.
/// Starts SERVING. Cheap to clone; every clone drives the same status.
#[derive(Clone, Debug)]
pub struct HealthHandle {
    reporter: HealthReporter,
    /// The status wanted; held while the reporter is written, so writers cannot interleave.
    serving: Arc<Mutex<bool>>,
}

impl Default for HealthHandle {
    fn default() -> HealthHandle {
        HealthHandle {
            reporter: HealthReporter::new(),
            serving: Arc::new(Mutex::new(true)),
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

    pub(crate) fn reporter(&self) -> HealthReporter {
        self.reporter.clone()
    }
}

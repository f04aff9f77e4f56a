//! The one place the tracing subscriber is built (STYLE habit 16).
//!
//! ```text
//!  tracing spans/events ──▶ EnvFilter (RUST_LOG, default "info")
//!                             ├──▶ fmt layer ──▶ stderr (always)
//!                             └──▶ OpenTelemetry layer ──▶ batch processor ──▶ OTLP/gRPC exporter
//!                                  (only when OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT is set)
//! ```
//!
//! Export is configured by the standard OpenTelemetry variables, read by the SDK itself:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (turn it on),
//! `OTEL_EXPORTER_OTLP[_TRACES]_{HEADERS,TIMEOUT,COMPRESSION,INSECURE}`, `OTEL_BSP_*` (batching),
//! `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`. The service name is `paddock` unless one of
//! the last two names another. Only the gRPC protocol is built in (no TLS: `http://` endpoints).
//!
//! The gateway's per-request `submit` span (`paddock_gateway::set_request_spans`) exists only while
//! spans are exported or the log level is debug or finer: otherwise nobody reads it, and making
//! it (the fmt layer renders its fields) costs a few percent of a read's CPU.
//!
//! Invariants:
//! - Without an endpoint nothing changes: no exporter, no background thread, no network.
//! - Telemetry never stops the server: a bad endpoint or a missing runtime is a warning on stderr
//!   and the server runs without export; an unreachable collector costs failed exports (logged
//!   by the SDK) and at most [`SHUTDOWN_TIMEOUT`] at exit.
//! - The exporter needs a Tokio runtime (tonic's channel lives on it): call [`init`] inside one
//!   (`Runtime::enter`) when exporting, and shut the returned [`Telemetry`] down while that runtime
//!   still runs.
//!
//! ```no_run
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let telemetry = {
//!     let _in_rt = rt.enter();
//!     paddock_node::telemetry::init()
//! };
//! tracing::info!("logged, and exported if OTEL_EXPORTER_OTLP_ENDPOINT is set");
//! telemetry.shutdown(); // flushes pending spans; dropping it does the same
//! ```

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::resource::{EnvResourceDetector, Resource};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// The `service.name` used when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names one.
pub const DEFAULT_SERVICE_NAME: &str = "paddock";

/// The longest [`Telemetry::shutdown`] waits for the last spans to be exported.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Variables that turn OTLP trace export on (either one, non-empty).
const ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

/// Owns the tracer provider, if exporting. [`Telemetry::shutdown`] (or drop) flushes the spans
/// still queued and stops the export thread.
#[must_use = "dropping the guard shuts trace export down"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are being exported over OTLP.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes queued spans (bounded by [`SHUTDOWN_TIMEOUT`]) and stops export. Call it from
    /// outside the runtime's worker threads, while the runtime still runs.
    pub fn shutdown(mut self) {
        self.shutdown_provider();
    }

    fn shutdown_provider(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(e) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
                tracing::warn!("OpenTelemetry: trace export did not shut down cleanly: {e}");
            }
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown_provider();
    }
}

/// Whether log lines get ANSI colours: only on a terminal, and not when `NO_COLOR` is set to
/// anything non-empty (no-color.org). A log redirected to a file, or read through
/// `docker logs`, stays plain text that grep and log shippers can take.
fn colour_wanted(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Installs the global subscriber: `RUST_LOG` filter (default `info`), human-readable output on
/// stderr, and OTLP span export when an endpoint variable is set. Safe to call more than once:
/// later calls install nothing and return a guard that exports nothing.
pub fn init() -> Telemetry {
    let mut warnings = Vec::new();
    let provider = if export_requested() {
        match build_provider() {
            Ok(p) => Some(p),
            Err(e) => {
                warnings.push(format!(
                    "OpenTelemetry trace export is off: {e}; the server runs without it"
                ));
                None
            }
        }
    } else {
        None
    };

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let colour = colour_wanted(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let fmt_layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false);
    let otel_layer = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("paddock"))
            .with_filter(not_the_exporters_own())
    });
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()
        .is_ok();

    for w in &warnings {
        tracing::warn!("{w}");
    }
    // A span per client request only when something consumes it (export, or debug logs).
    let exporting = installed && provider.is_some();
    paddock_gateway::set_request_spans(
        exporting || tracing::level_filters::LevelFilter::current() >= LevelFilter::DEBUG,
    );
    match provider {
        Some(p) if installed => {
            tracing::info!("OpenTelemetry: exporting spans over OTLP/gRPC");
            Telemetry { provider: Some(p) }
        }
        Some(p) => {
            // A subscriber was already installed: this provider would never see a span.
            let _ = p.shutdown_with_timeout(Duration::ZERO);
            Telemetry { provider: None }
        }
        None => Telemetry { provider: None },
    }
}

/// Whether an OTLP endpoint variable is set (and non-empty).
fn export_requested() -> bool {
    ENDPOINT_VARS
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// The exporter (endpoint and options from the standard variables), a batch processor and the
/// resource. Fails without a Tokio runtime, which the tonic channel needs.
fn build_provider() -> Result<SdkTracerProvider, String> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err("the OTLP exporter needs a Tokio runtime and none is running".into());
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .map_err(|e| e.to_string())?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build())
}

/// The SDK's default resource (SDK attributes, `OTEL_RESOURCE_ATTRIBUTES`) with `service.name`
/// from `OTEL_SERVICE_NAME`, else from `OTEL_RESOURCE_ATTRIBUTES`, else [`DEFAULT_SERVICE_NAME`]
/// (the spec's precedence; the SDK alone would let `OTEL_RESOURCE_ATTRIBUTES` win).
fn resource() -> Resource {
    let builder = Resource::builder();
    if let Some(name) = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|s| !s.is_empty())
    {
        return builder.with_service_name(name).build();
    }
    let in_attributes = Resource::builder_empty()
        .with_detector(Box::new(EnvResourceDetector::new()))
        .build()
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some();
    if in_attributes {
        builder.build()
    } else {
        builder.with_service_name(DEFAULT_SERVICE_NAME).build()
    }
}

/// Keeps the export path's own spans out of the export (they would feed back into it when
/// `RUST_LOG` lets transport spans through): the HTTP/2 stack and the SDK itself. Targets match
/// by prefix (`hyper` covers `hyper_util`, `opentelemetry` covers `opentelemetry_sdk`).
fn not_the_exporters_own() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("h2", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("tonic::transport", LevelFilter::OFF)
        .with_target("tower::buffer", LevelFilter::OFF)
        .with_target("opentelemetry", LevelFilter::OFF)
}

#[cfg(test)]
mod tests {
    use super::colour_wanted;
    use std::ffi::OsStr;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(colour_wanted(true, None));
        assert!(colour_wanted(true, Some(OsStr::new(""))));
        assert!(!colour_wanted(true, Some(OsStr::new("1"))));
        assert!(!colour_wanted(false, None));
        assert!(!colour_wanted(false, Some(OsStr::new(""))));
    }
}

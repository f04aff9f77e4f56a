//! Prometheus metrics (DESIGN.md §9): `GET /metrics` in the Prometheus text format (0.0.4),
//! rendered by `prometheus-client` at scrape time from the same status snapshot `mntr` reads.
//!
//! Every value already lives in the processor and the quorum peer (atomics and a status
//! snapshot), so a scrape reads them through one [`Collector`]: each node has its own
//! [`Registry`] (no global recorder, so two in-process nodes in one test binary stay separate).
//! The HTTP side is `crate::http_admin`: `/metrics` on the admin listener
//! (`admin.serverPort`) and on `metricsProvider.httpPort` when that is set.
//!
//! Names follow ZooKeeper's Prometheus provider where one exists (`znode_count`, `avg_latency`,
//! ...; exported as gauges like ZooKeeper does); Paddock-only ones carry a `paddock_` prefix.
//! Counters are named without `_total` here; the encoder appends it (`paddock_snapshots_total`).
//! Durations summed with a count are histograms with the one `+Inf` bucket: their `_sum` and
//! `_count` samples are what dashboards divide (`rate(x_sum) / rate(x_count)`).

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use paddock_gateway::AdminSource;
use paddock_processor::Processor;
use paddock_quorum::peer::PeerStats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeMetric, MetricEncoder,
    NoLabelSet,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// Content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Where the numbers come from.
#[derive(Clone)]
pub struct MetricsSource {
    /// Mode, ids and the processor's status snapshot.
    pub admin: Arc<dyn AdminSource>,
    /// Counters the status does not carry (snapshots).
    pub server: Arc<Processor>,
    /// Voters in the ensemble (1 standalone).
    pub quorum_size: u64,
    /// The ensemble peer's counters: txn-log group commits and commit latency (`None` where
    /// there is no peer).
    pub peer: Option<Arc<PeerStats>>,
}

impl fmt::Debug for MetricsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsSource")
            .field("quorum_size", &self.quorum_size)
            .finish_non_exhaustive()
    }
}

/// A node's metrics: its own registry, read at each scrape. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
}

impl Metrics {
    pub fn new(source: MetricsSource) -> Metrics {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(source));
        Metrics {
            registry: Arc::new(registry),
        }
    }

    /// The exposition text now.
    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut out = String::with_capacity(8 * 1024);
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// A sum and a count as a histogram with only the `+Inf` bucket.
struct SumCount {
    sum: f64,
    count: u64,
}

impl EncodeMetric for SumCount {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(
            self.sum,
            self.count,
            &[(f64::INFINITY, self.count)],
            None,
        )
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Writes metric families into one scrape.
struct Families<'a>(DescriptorEncoder<'a>);

impl Families<'_> {
    fn metric(&mut self, name: &str, help: &str, m: &impl EncodeMetric) -> fmt::Result {
        let encoder = self
            .0
            .encode_descriptor(name, help, None, m.metric_type())?;
        m.encode(encoder)
    }

    fn gauge<V: EncodeGaugeValue + fmt::Debug>(
        &mut self,
        name: &str,
        help: &str,
        v: V,
    ) -> fmt::Result {
        self.metric(name, help, &ConstGauge::new(v))
    }

    /// `name` without `_total`: the encoder appends it.
    fn counter<V: EncodeCounterValue + fmt::Debug>(
        &mut self,
        name: &str,
        help: &str,
        v: V,
    ) -> fmt::Result {
        self.metric(name, help, &ConstCounter::new(v))
    }

    fn sum_count(&mut self, name: &str, help: &str, sum: f64, count: u64) -> fmt::Result {
        self.metric(name, help, &SumCount { sum, count })
    }
}

impl Collector for MetricsSource {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let s = self.admin.status();
        let p = &s.processor;
        let (min, avg, max) = p.latency_ms();
        let mut m = Families(encoder);
        m.gauge("znode_count", "Number of znodes", p.node_count)?;
        m.gauge("watch_count", "Number of watches", p.watch_count)?;
        m.gauge(
            "ephemerals_count",
            "Number of ephemeral znodes",
            p.ephemerals_count,
        )?;
        m.gauge(
            "approximate_data_size",
            "Approximate size of znode paths and data in bytes",
            p.approximate_data_size,
        )?;
        m.gauge(
            "outstanding_requests",
            "Requests queued and not answered yet",
            p.outstanding,
        )?;
        m.gauge(
            "num_alive_connections",
            "Attached client connections",
            p.connections,
        )?;
        m.gauge("packets_received", "Requests received", p.received)?;
        m.gauge("packets_sent", "Answers sent", p.answered)?;
        m.gauge(
            "avg_latency",
            "Average request latency in milliseconds",
            avg,
        )?;
        m.gauge(
            "min_latency",
            "Smallest request latency in milliseconds",
            min,
        )?;
        m.gauge(
            "max_latency",
            "Largest request latency in milliseconds",
            max,
        )?;
        m.gauge(
            "quorum_size",
            "Voting members of the ensemble",
            self.quorum_size,
        )?;
        m.gauge(
            "global_sessions",
            "Sessions in the replicated state",
            p.session_count,
        )?;
        m.gauge(
            "local_sessions",
            "Sessions only this server knows (localSessionsEnabled; 0 when off)",
            p.local_sessions.unwrap_or(0),
        )?;
        if let Some(n) = s.synced_followers {
            m.gauge("synced_followers", "Followers in sync with the leader", n)?;
        }
        if let Some([last, min, max]) = s.proposal_sizes {
            m.gauge(
                "last_proposal_size",
                "Size of the leader's last proposal, bytes",
                last,
            )?;
            m.gauge(
                "min_proposal_size",
                "Smallest proposal of the leader, bytes",
                min,
            )?;
            m.gauge(
                "max_proposal_size",
                "Largest proposal of the leader, bytes",
                max,
            )?;
        }
        if let Some((open, max)) = s.file_descriptors {
            m.gauge("open_file_descriptor_count", "Open file descriptors", open)?;
            m.gauge(
                "max_file_descriptor_count",
                "Limit on open file descriptors",
                max,
            )?;
        }
        m.gauge(
            "paddock_serving",
            "1 when the server answers requests, 0 otherwise",
            u32::from(p.serving),
        )?;
        m.gauge("paddock_server_id", "This server's myid", s.server_id)?;
        m.gauge("paddock_last_zxid", "Last applied zxid", p.last_zxid.0)?;
        if let Some(e) = s.epoch {
            m.gauge("paddock_epoch", "Current epoch", e)?;
        }
        m.gauge(
            "paddock_watched_paths",
            "Paths with at least one watch",
            p.watched_paths,
        )?;
        let peer_syncs = self.peer.as_ref().map_or(0, |p| p.syncs());
        m.counter(
            "paddock_fsync_batches",
            "fsync'd batches written to the txn log",
            peer_syncs,
        )?;
        if let Some(peer) = &self.peer {
            m.counter(
                "paddock_log_synced_records",
                "Transactions made durable by the txn log's group commits",
                peer.records(),
            )?;
            m.sum_count(
                "paddock_log_sync_seconds",
                "Time spent in txn-log group commits (append + fsync)",
                peer.sync_time().as_secs_f64(),
                peer.syncs(),
            )?;
            m.gauge(
                "paddock_log_sync_max_seconds",
                "Longest txn-log group commit (append + fsync) since start",
                peer.max_sync_time().as_secs_f64(),
            )?;
            m.sum_count(
                "paddock_commit_latency_seconds",
                "From logging a transaction (leader: proposing it; learner: receiving the \
                 proposal) to applying it",
                peer.commit_time().as_secs_f64(),
                peer.commits(),
            )?;
            m.gauge(
                "paddock_commit_latency_max_seconds",
                "Longest commit latency since start",
                peer.max_commit_time().as_secs_f64(),
            )?;
        }
        m.counter(
            "paddock_snapshots",
            "Snapshots written",
            self.server.stats().snapshots.load(Ordering::Relaxed),
        )?;
        m.sum_count(
            "paddock_request_latency_seconds",
            "Request latency in seconds",
            p.latency_total_us as f64 / 1e6,
            p.latency_count,
        )?;
        let mut info =
            m.0.encode_descriptor("paddock_mode_info", "Server mode", None, MetricType::Gauge)?;
        let labels = [("mode", s.mode.as_str())];
        ConstGauge::new(1i64).encode(info.encode_family(&labels)?)
    }
}

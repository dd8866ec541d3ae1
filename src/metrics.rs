//! Prometheus metrics, one registry per App (so tests can run several apps in one process).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// A route, for the latency histograms (status apart: a histogram per status would multiply
/// the series for little).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

/// Seconds from the request's head to the response's head, 1 ms to 30 s.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkLabels {
    /// `index` (an image read), `link` (a disc looked up in its catalogue), `rollup` (a day
    /// of usage rolled up) or `fixity` (a blob re-hashed, whatever it found).
    pub work: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    /// Images waiting to be read and discs waiting to be linked, set when scraped.
    pub index_queue: Gauge,
    pub link_queue: Gauge,
    pub bytes_out: Counter,
    pub bytes_in: Counter,
    pub uploads_in_flight: Gauge,
    pub uploads_finished: Family<OutcomeLabels, Counter>,
    pub uploads_expired: Counter,
    pub usage_recorded: Counter,
    pub usage_dropped: Counter,
    pub fixity_verified: Counter,
    pub fixity_failures: Counter,
    pub fixity_failing: Gauge,
    pub transcodes_started: Counter,
    pub transcodes_running: Gauge,
    /// Queue items this node took and finished: on a cluster, the nodes' sum is the work done.
    pub work_done: Family<WorkLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("spindle");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(LATENCY_BUCKETS.iter().copied())
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer (to the response's head; a download's body streams after), by route",
            latency.clone(),
        );
        let index_queue = Gauge::default();
        registry.register(
            "index_queue",
            "Images waiting to be read (pending or being read)",
            index_queue.clone(),
        );
        let link_queue = Gauge::default();
        registry.register(
            "link_queue",
            "Discs waiting to be linked to their catalogue records",
            link_queue.clone(),
        );
        let bytes_out = Counter::default();
        registry.register(
            "image_bytes_sent",
            "Bytes of stored images sent to clients",
            bytes_out.clone(),
        );
        let bytes_in = Counter::default();
        registry.register(
            "upload_bytes_received",
            "Bytes of uploads committed to storage",
            bytes_in.clone(),
        );
        let uploads_in_flight = Gauge::default();
        registry.register(
            "uploads_in_flight",
            "Upload requests currently streaming",
            uploads_in_flight.clone(),
        );
        let uploads_finished = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "uploads_finished",
            "Uploads that reached their last byte, by outcome",
            uploads_finished.clone(),
        );
        let uploads_expired = Counter::default();
        registry.register(
            "uploads_expired",
            "Unfinished uploads aborted by the sweeper",
            uploads_expired.clone(),
        );
        let transcodes_started = Counter::default();
        registry.register(
            "transcodes_started",
            "ffmpeg transcodes started to play titles",
            transcodes_started.clone(),
        );
        let transcodes_running = Gauge::default();
        registry.register(
            "transcodes_running",
            "Transcodes running or queued now",
            transcodes_running.clone(),
        );
        let usage_recorded = Counter::default();
        registry.register(
            "usage_events_recorded",
            "Usage events written for the statistics",
            usage_recorded.clone(),
        );
        let usage_dropped = Counter::default();
        registry.register(
            "usage_events_dropped",
            "Usage events lost: the queue was full or the database refused the batch",
            usage_dropped.clone(),
        );
        let fixity_verified = Counter::default();
        registry.register(
            "fixity_verified",
            "Blobs re-hashed and found to match their keys",
            fixity_verified.clone(),
        );
        let fixity_failures = Counter::default();
        registry.register(
            "fixity_failures",
            "Re-hashes that found a blob missing, cut short or not matching its key",
            fixity_failures.clone(),
        );
        let fixity_failing = Gauge::default();
        registry.register(
            "blobs_failing_fixity",
            "Blobs whose last check found their bytes not matching their key",
            fixity_failing.clone(),
        );
        let work_done = Family::<WorkLabels, Counter>::default();
        registry.register(
            "background_work_done",
            "Shared work this node took and finished: images read, discs linked, usage days rolled up, blobs re-hashed",
            work_done.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            index_queue,
            link_queue,
            bytes_out,
            bytes_in,
            uploads_in_flight,
            uploads_finished,
            uploads_expired,
            usage_recorded,
            usage_dropped,
            fixity_verified,
            fixity_failures,
            fixity_failing,
            transcodes_started,
            transcodes_running,
            work_done,
        }
    }
}

impl Metrics {
    /// This node's counter of finished shared `work` (see [`WorkLabels`]).
    pub fn work(&self, work: &'static str) -> Counter {
        self.work_done.get_or_create(&WorkLabels { work }).clone()
    }

    /// The Content-Type of what [`Self::render`] writes: OpenMetrics text.
    pub const CONTENT_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics");
        }
        out
    }
}

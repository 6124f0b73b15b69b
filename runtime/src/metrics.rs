//! Prometheus metrics, served as text on the admin listener's `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub upstream_attempts: IntCounterVec,
    pub upstream_failures: IntCounterVec,
    pub upstream_healthy: IntGaugeVec,
    pub reloads: IntCounter,
    pub reload_failures: IntCounter,
    pub artifact: IntGaugeVec,
    pub agent_calls: IntCounterVec,
    pub access_log_dropped: IntCounter,
}

impl Metrics {
    pub fn new() -> Self {
        let metrics = Metrics {
            registry: Registry::new(),
            requests: counter_vec(
                "zentinel_requests_total",
                "Requests answered, by route and status class",
                &["route", "status"],
            ),
            duration: duration_histogram(),
            upstream_attempts: counter_vec(
                "zentinel_upstream_attempts_total",
                "Attempts to reach an upstream server",
                &["upstream"],
            ),
            upstream_failures: counter_vec(
                "zentinel_upstream_failures_total",
                "Failed attempts to reach an upstream server",
                &["upstream"],
            ),
            upstream_healthy: gauge_vec(
                "zentinel_upstream_server_healthy",
                "1 when a server is in rotation (resolved, passing its checks, not ejected)",
                &["upstream", "server"],
            ),
            reloads: counter("zentinel_reloads_total", "Artifacts loaded by SIGHUP"),
            reload_failures: counter(
                "zentinel_reload_failures_total",
                "Reloads refused (the old artifact kept serving)",
            ),
            artifact: gauge_vec("zentinel_artifact_info", "The artifact being served", &["digest"]),
            agent_calls: counter_vec(
                "zentinel_agent_calls_total",
                "Agent calls by outcome: allow, block, redirect, failure",
                &["agent", "outcome"],
            ),
            access_log_dropped: counter(
                "zentinel_access_log_dropped_total",
                "Access log lines dropped because the writer fell behind",
            ),
        };
        metrics.register();
        metrics
    }

    /// Registers every metric with the registry: only what is registered
    /// is rendered on `/metrics`.
    fn register(&self) {
        for metric in [
            Box::new(self.agent_calls.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(self.access_log_dropped.clone()),
            Box::new(self.requests.clone()),
            Box::new(self.duration.clone()),
            Box::new(self.upstream_attempts.clone()),
            Box::new(self.upstream_failures.clone()),
            Box::new(self.upstream_healthy.clone()),
            Box::new(self.reloads.clone()),
            Box::new(self.reload_failures.clone()),
            Box::new(self.artifact.clone()),
        ] {
            self.registry.register(metric).expect("metric names are unique");
        }
    }

    /// Marks `digest` as the artifact being served.
    pub fn set_artifact(&self, digest: &str) {
        self.artifact.reset();
        self.artifact.with_label_values(&[digest]).set(1);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

// The metrics' names, help and labels are constants: a metric that cannot
// be made is a bug, hence the `expect`s.

/// A counter without labels.
fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("valid metric")
}

/// A family of counters, one per combination of `labels`' values.
fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

/// A family of gauges, one per combination of `labels`' values.
fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
}

/// Request durations by route, in buckets from half a millisecond to ten
/// seconds.
fn duration_histogram() -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new("zentinel_request_duration_seconds", "Time from request to response end").buckets(vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]),
        &["route"],
    )
    .expect("valid metric")
}

/// A route's metric handles, resolved at its first request under an
/// artifact: the hot path then counts without hashing label values, and a
/// route never requested (or a status class never answered) adds no series.
#[derive(Default)]
pub struct RouteMetrics {
    /// By status class: 1xx..5xx, then `none`.
    requests: [std::sync::OnceLock<IntCounter>; 6],
    duration: std::sync::OnceLock<prometheus::Histogram>,
}

impl RouteMetrics {
    /// Counts one request to route `route` (`""`: none matched), answered
    /// with `status` in `seconds`.
    pub fn record(&self, metrics: &Metrics, route: &str, status: u16, seconds: f64) {
        let class = match status {
            100..=599 => (status / 100 - 1) as usize,
            _ => 5,
        };
        self.requests[class]
            .get_or_init(|| metrics.requests.with_label_values(&[route, status_class(status)]))
            .inc();
        self.duration
            .get_or_init(|| metrics.duration.with_label_values(&[route]))
            .observe(seconds);
    }
}

/// An upstream's counters, resolved once per artifact.
#[derive(Clone)]
pub struct UpstreamMetrics {
    pub attempts: IntCounter,
    pub failures: IntCounter,
}

impl Metrics {
    pub fn upstream(&self, name: &str) -> UpstreamMetrics {
        UpstreamMetrics {
            attempts: self.upstream_attempts.with_label_values(&[name]),
            failures: self.upstream_failures.with_label_values(&[name]),
        }
    }
}

/// `2xx`, `4xx`... for a status, `none` outside 100..=599.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "none",
    }
}

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
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "zentinel_requests_total",
                "Requests answered, by route and status class",
            ),
            &["route", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new("zentinel_request_duration_seconds", "Time from request to response end").buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route"],
        )
        .expect("valid metric");
        let upstream_attempts = IntCounterVec::new(
            Opts::new(
                "zentinel_upstream_attempts_total",
                "Attempts to reach an upstream server",
            ),
            &["upstream"],
        )
        .expect("valid metric");
        let upstream_failures = IntCounterVec::new(
            Opts::new(
                "zentinel_upstream_failures_total",
                "Failed attempts to reach an upstream server",
            ),
            &["upstream"],
        )
        .expect("valid metric");
        let upstream_healthy = IntGaugeVec::new(
            Opts::new(
                "zentinel_upstream_server_healthy",
                "1 when a server is in rotation (resolved, passing its checks, not ejected)",
            ),
            &["upstream", "server"],
        )
        .expect("valid metric");
        let reloads = IntCounter::new("zentinel_reloads_total", "Artifacts loaded by SIGHUP").expect("valid metric");
        let reload_failures = IntCounter::new(
            "zentinel_reload_failures_total",
            "Reloads refused (the old artifact kept serving)",
        )
        .expect("valid metric");
        let artifact = IntGaugeVec::new(
            Opts::new("zentinel_artifact_info", "The artifact being served"),
            &["digest"],
        )
        .expect("valid metric");
        let agent_calls = IntCounterVec::new(
            Opts::new(
                "zentinel_agent_calls_total",
                "Agent calls by outcome: allow, block, redirect, failure",
            ),
            &["agent", "outcome"],
        )
        .expect("valid metric");
        let access_log_dropped = IntCounter::new(
            "zentinel_access_log_dropped_total",
            "Access log lines dropped because the writer fell behind",
        )
        .expect("valid metric");
        for metric in [
            Box::new(agent_calls.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(access_log_dropped.clone()),
            Box::new(requests.clone()),
            Box::new(duration.clone()),
            Box::new(upstream_attempts.clone()),
            Box::new(upstream_failures.clone()),
            Box::new(upstream_healthy.clone()),
            Box::new(reloads.clone()),
            Box::new(reload_failures.clone()),
            Box::new(artifact.clone()),
        ] {
            registry.register(metric).expect("metric names are unique");
        }
        Metrics {
            registry,
            requests,
            duration,
            upstream_attempts,
            upstream_failures,
            upstream_healthy,
            reloads,
            reload_failures,
            artifact,
            agent_calls,
            access_log_dropped,
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

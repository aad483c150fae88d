//! `/metrics` in the Prometheus text format.

use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

/// The server's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Histogram,
    websockets: Gauge,
    events: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Fresh metrics, registered under the `denwa` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("denwa");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let websockets = Gauge::default();
        let events = Counter::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            latency.clone(),
        );
        registry.register(
            "websocket_connections",
            "Staff WebSocket connections open now",
            websockets.clone(),
        );
        registry.register(
            "events_published",
            "Domain events published",
            events.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            latency,
            websockets,
            events,
        }
    }

    /// Counts one event published on the bus.
    pub fn event_published(&self) {
        self.events.inc();
    }

    pub(crate) fn websocket_opened(&self) {
        self.websockets.inc();
    }

    pub(crate) fn websocket_closed(&self) {
        self.websockets.dec();
    }

    /// Adds another part's metric (the media engine's, say) under the `denwa` prefix.
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        registry.register(name, help, metric);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // A poisoned lock only means another thread panicked while encoding; the
        // registry itself is still consistent (it is only read here).
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

pub(crate) async fn render(State(state): State<AppState>) -> Response {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "other".to_owned());
    let response = next.run(req).await;
    state.metrics.latency.observe(start.elapsed().as_secs_f64());
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

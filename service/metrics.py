"""Prometheus metrics of the service, in a registry of its own (one per app: tests stay apart).

Named and labelled the Prometheus way: `_total` counters, `_seconds` histograms, bounded label
values only (routes as declared, never raw URLs; upstream and source names; lead days).
`GET /metrics` renders them in the text exposition format.
"""

from __future__ import annotations

from statistics import median

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Latencies of a forecast service: a warm answer in about a millisecond, a cold one in tens.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """Every metric the service exports, and the upstream observer the live readers report to."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "streamflow_requests_total", "HTTP requests answered", ["route", "method", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "streamflow_request_duration_seconds",
            "Time to answer a request",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.forecasts = Counter(
            "streamflow_forecasts_total", "Forecasts answered, by where they came from", ["source"], registry=r
        )
        self.inference_seconds = Histogram(
            "streamflow_inference_seconds", "Time the model takes for one forecast", buckets=LATENCY_BUCKETS, registry=r
        )
        self.model = Gauge(
            "streamflow_model_info",
            "The served model (1 for the one served)",
            ["bundle", "registry_version"],
            registry=r,
        )
        self.upstream_requests = Counter(
            "streamflow_upstream_requests_total", "Upstream HTTP attempts", ["upstream", "outcome"], registry=r
        )
        self.upstream_retries = Counter(
            "streamflow_upstream_retries_total", "Upstream attempts retried", ["upstream"], registry=r
        )
        self.upstream_seconds = Histogram(
            "streamflow_upstream_request_duration_seconds", "Upstream HTTP latency", ["upstream"], registry=r
        )
        self.upstream_cache = Counter(
            "streamflow_upstream_cache_total", "Upstream cache lookups: hit, miss, stale", ["outcome"], registry=r
        )
        self.archive_writes = Counter(
            "streamflow_archive_writes_total",
            "Archive writes: stored, failed (retried), dropped",
            ["outcome"],
            registry=r,
        )
        self.archive_pending = Gauge("streamflow_archive_pending", "Forecasts waiting to be archived", registry=r)
        self.archive_forecasts = Gauge("streamflow_archive_forecasts", "Forecasts in the archive", registry=r)
        self.inputs = Counter(
            "streamflow_forecast_inputs_total",
            "Computed forecasts whose inputs were stale (cached past expiry), had filled gaps, or drifted "
            "(some outside the site's training range)",
            ["kind"],
            registry=r,
        )
        self.live_nse = Gauge(
            "streamflow_live_nse",
            "Median over sites of the issued forecasts' NSE in the rolling window, per lead day",
            ["lead_days"],
            registry=r,
        )
        self.flagged = Gauge(
            "streamflow_site_flagged",
            "1 where a site's lead-1 NSE over the window is below persistence's (alarm, retrain)",
            ["site_id"],
            registry=r,
        )
        self.site_drift = Gauge(
            "streamflow_site_input_drift_ratio",
            "Mean input drift of a site's forecasts in the window",
            ["site_id"],
            registry=r,
        )
        self.drift = Histogram(
            "streamflow_input_drift_ratio",
            "Share of a forecast's inputs outside the site's training range",
            buckets=(0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=r,
        )

    def verified(self, results: list) -> None:
        """Export the latest verification: median live NSE per lead over the sites, flagged sites, drift."""
        self.live_nse.clear()
        by_lead: dict[int, list[float]] = {}
        for result in results:
            for scores in result.rolling:
                if scores.nse is not None:
                    by_lead.setdefault(scores.lead_days, []).append(scores.nse)
            self.flagged.labels(result.site_id).set(1 if result.flagged else 0)
            if result.mean_drift is not None:
                self.site_drift.labels(result.site_id).set(result.mean_drift)
        for lead, values in by_lead.items():
            self.live_nse.labels(str(lead)).set(float(median(values)))

    def render(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)

    def serving(self, bundle: str, registry_version: str | None) -> None:
        """Record which model is served (the previous one's series drops to 0... and is removed)."""
        self.model.clear()
        self.model.labels(bundle, registry_version or "none").set(1)

    # The upstream observer (adapter.http_client.UpstreamObserver, adapter.upstream_cache).
    def upstream_request(self, upstream: str, outcome: str, seconds: float) -> None:
        self.upstream_requests.labels(upstream, outcome).inc()
        self.upstream_seconds.labels(upstream).observe(seconds)

    def upstream_retry(self, upstream: str) -> None:
        self.upstream_retries.labels(upstream).inc()

    def cache_lookup(self, outcome: str) -> None:
        self.upstream_cache.labels(outcome).inc()

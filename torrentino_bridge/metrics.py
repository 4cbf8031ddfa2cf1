"""Prometheus metrics, one registry per service instance (no process-wide globals)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


class CountsCollector(Collector):
    """A counter kept as a plain dict by its owner and read at scrape time: for counts
    bumped on every QT frame, where a prometheus_client labels().inc() (label checks and
    a lock, ~1 µs) would be a large share of the event path."""

    def __init__(self, name: str, documentation: str, label: str) -> None:
        self.name, self.documentation, self.label = name, documentation, label
        self.counts: Mapping[str, int] = {}

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=[self.label])
        for value, count in sorted(self.counts.items()):
            family.add_metric([value], count)
        return [family]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "bridge_requests_total", "Download requests that reached a status", ["status"], registry=r
        )
        self.tickets = Gauge("bridge_tickets", "Tracked tickets by QT state", ["state"], registry=r)
        self.transitions = Counter(
            "bridge_availability_transitions_total", "Track availability changes written",
            ["from_state", "to_state"], registry=r,
        )
        self.ws_connected = Gauge("bridge_ws_connected", "1 while the QT WebSocket is connected", registry=r)
        self.ws_reconnects = Counter("bridge_ws_reconnects_total", "QT WebSocket reconnects", registry=r)
        # The EventStream's own per-tag counts (service wires them in).
        self.ws_messages = CountsCollector("bridge_ws_messages", "QT events received by type (wire tag)", "type")
        r.register(self.ws_messages)
        self.ws_malformed = Counter(
            "bridge_ws_malformed_total", "QT events that were malformed or unknown", ["kind"], registry=r
        )
        self.reconcile_seconds = Histogram(
            "bridge_reconcile_duration_seconds", "Duration of one reconcile pass", registry=r
        )
        self.qt_calls = Histogram(
            "bridge_qt_call_duration_seconds", "QT API call latency", ["operation", "outcome"], registry=r
        )
        self.qt_errors = Counter(
            "bridge_qt_errors_total", "QT API calls that failed", ["operation", "error"], registry=r
        )
        self.imports = Counter(
            "bridge_import_tracks_total", "Imported track outcomes", ["outcome"], registry=r
        )
        self.catalog_write_seconds = Histogram(
            "bridge_catalog_write_duration_seconds", "Catalog write transaction latency", registry=r
        )
        self.tickets_submitted = Counter(
            "bridge_tickets_submitted_total", "Tickets created in QT (or adopted after a crash)",
            ["how"], registry=r,
        )

        self.outbox = Counter(
            "bridge_outbox_deliveries_total", "Outbox delivery attempts by kind and outcome",
            ["kind", "outcome"], registry=r,
        )

        self.outbox_items = Gauge(
            "bridge_outbox_items", "Outbox items by kind and state (pending, done, dead), at scrape time",
            ["kind", "state"], registry=r,
        )

    def outbox_result(self, kind: str, outcome: str) -> None:
        self.outbox.labels(kind, outcome).inc()

    def qt_call(self, operation: str, seconds: float, outcome: str) -> None:
        self.qt_calls.labels(operation, outcome).observe(seconds)
        if outcome != "ok":
            self.qt_errors.labels(operation, outcome).inc()

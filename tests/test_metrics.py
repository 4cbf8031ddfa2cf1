"""Metrics: counts kept by their owner as a plain dict are exported at scrape time."""

from __future__ import annotations

from collections import Counter

from prometheus_client import generate_latest

from torrentino_bridge.metrics import Metrics


def test_ws_message_counts_are_read_at_scrape_time() -> None:
    metrics = Metrics()
    text = generate_latest(metrics.registry).decode()
    assert "# TYPE bridge_ws_messages_total counter" in text     # declared before any message
    assert "bridge_ws_messages_total{" not in text

    counts: Counter[str] = Counter()
    metrics.ws_messages.counts = counts                          # what EventStream keeps
    counts["ticket_update"] += 3
    counts["pipeline_progress"] += 1
    text = generate_latest(metrics.registry).decode()
    assert 'bridge_ws_messages_total{type="ticket_update"} 3.0' in text
    assert 'bridge_ws_messages_total{type="pipeline_progress"} 1.0' in text

    counts["ticket_update"] += 1
    assert 'bridge_ws_messages_total{type="ticket_update"} 4.0' in generate_latest(metrics.registry).decode()

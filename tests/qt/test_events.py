"""normalise(): real, draft and webhook vocabularies; every malformed shape; fuzzing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentino_bridge.qt.events import (
    MAX_MESSAGE_BYTES,
    EventError,
    Heartbeat,
    OrchestratorStatus,
    PipelineProgress,
    TicketDeleted,
    TicketUpdate,
    TorrentProgress,
    normalise,
    normalise_tagged,
)

T = "6f1c2a9e-0000-4000-8000-000000000001"


@pytest.mark.parametrize(("raw", "expected"), [
    # the real server's vocabulary
    ({"type": "ticket_update", "ticket_id": T, "state": "downloading"},
     TicketUpdate(T, "downloading", None, "ticket_update")),
    ({"type": "ticket_deleted", "ticket_id": T}, TicketDeleted(T)),
    ({"type": "pipeline_progress", "ticket_id": T, "phase": "converting", "current": 2, "total": 8,
      "current_name": "02 - Airbag.flac", "percent": 25.0},
     PipelineProgress(T, "converting", 25.0, 2, 8, "02 - Airbag.flac")),
    ({"type": "pipeline_progress", "ticket_id": T, "phase": "placing", "current": 1, "total": 4},
     PipelineProgress(T, "placing", 25.0, 1, 4, None)),
    ({"type": "torrent_progress", "ticket_id": T, "info_hash": "ab" * 20, "progress_pct": 41.5,
      "speed_bps": 1200000, "eta_secs": 90},
     TorrentProgress(T, 41.5, 1200000, 90)),
    ({"type": "torrent_progress", "ticket_id": T, "progress_pct": 10, "speed_bps": 5.0, "eta_secs": None},
     TorrentProgress(T, 10.0, 5, None)),
    ({"type": "orchestrator_status", "running": False}, OrchestratorStatus(False)),
    ({"type": "heartbeat", "timestamp": "2025-01-01T00:00:00Z"}, Heartbeat("2025-01-01T00:00:00Z")),
    ({"type": "heartbeat"}, Heartbeat(None)),
    # unknown extra fields are ignored
    ({"type": "ticket_update", "ticket_id": T, "state": "pending", "extra": [1, 2]},
     TicketUpdate(T, "pending", None, "ticket_update")),
    # the draft vocabulary
    ({"type": "progress", "ticket_id": T, "progress_pct": 50}, TorrentProgress(T, 50.0, None, None)),
    ({"type": "progress", "ticket_id": T, "percent": 12.5, "speed_bps": 100},
     TorrentProgress(T, 12.5, 100, None)),
    ({"type": "state_change", "ticket_id": T, "state": "converting"},
     TicketUpdate(T, "converting", None, "state_change")),
    ({"type": "state_change", "ticket_id": T, "new_state": "placing"},
     TicketUpdate(T, "placing", None, "state_change")),
    ({"type": "state_change", "ticket_id": T, "from": "placing", "to": "completed"},
     TicketUpdate(T, "completed", None, "state_change")),
    ({"type": "state_change", "ticket_id": T, "state": {"type": "failed", "error": "x"}},
     TicketUpdate(T, "failed", None, "state_change")),
    ({"type": "needs_approval", "ticket_id": T},
     TicketUpdate(T, "needs_approval", None, "needs_approval")),
    ({"type": "needs_approval", "ticket_id": T, "candidates": [{"title": "a"}]},
     TicketUpdate(T, "needs_approval", {"candidates": [{"title": "a"}]}, "needs_approval")),
    ({"type": "completed", "ticket_id": T}, TicketUpdate(T, "completed", None, "completed")),
    ({"type": "failed", "ticket_id": T, "error": "disk full", "retryable": False},
     TicketUpdate(T, "failed", {"error": "disk full", "retryable": False}, "failed")),
    ({"type": "failed", "ticket_id": T},
     TicketUpdate(T, "failed", {"error": None, "retryable": None}, "failed")),
    # the draft webhook body
    ({"event": "completed", "ticket_id": T, "timestamp": "t", "details": {"files": 3}},
     TicketUpdate(T, "completed", {"files": 3}, "webhook:completed")),
    ({"event": "failed", "ticket_id": T, "timestamp": "t",
      "details": {"error": "no seeders", "retryable": True}},
     TicketUpdate(T, "failed", {"error": "no seeders", "retryable": True}, "webhook:failed")),
    ({"event": "needs_approval", "ticket_id": T, "details": {"candidates": [], "recommended_idx": 0}},
     TicketUpdate(T, "needs_approval", {"candidates": [], "recommended_idx": 0}, "webhook:needs_approval")),
    ({"event": "state_change", "ticket_id": T, "details": {"new_state": "downloading"}},
     TicketUpdate(T, "downloading", {"new_state": "downloading"}, "webhook:state_change")),
    ({"event": "progress", "ticket_id": T, "details": {"progress_pct": 75}},
     TorrentProgress(T, 75.0, None, None)),
    ({"event": "completed", "ticket_id": T}, TicketUpdate(T, "completed", None, "webhook:completed")),
])
def test_normalises_known_messages(raw: dict[str, Any], expected: object) -> None:
    assert normalise(raw) == expected
    assert normalise(json.dumps(raw)) == expected
    assert normalise(json.dumps(raw).encode()) == expected


@pytest.mark.parametrize(("value", "clamped"), [(-5, 0.0), (0, 0.0), (100, 100.0), (250.5, 100.0)])
def test_percent_is_clamped(value: float, clamped: float) -> None:
    assert normalise({"type": "progress", "ticket_id": T, "percent": value}).percent == clamped
    event = normalise({"type": "pipeline_progress", "ticket_id": T, "phase": "placing", "percent": value})
    assert event.percent == clamped


def test_tag_is_reported_for_counters() -> None:
    assert normalise_tagged('{"type": "ticket_deleted", "ticket_id": "x"}')[0] == "ticket_deleted"
    assert normalise_tagged({"event": "failed", "ticket_id": "x"})[0] == "failed"


@pytest.mark.parametrize("raw", [
    "", "not json", "{", "[1, 2]", '"text"', "42", "null", b"\xff\xfe{}",
    '{"type": "progress", "ticket_id": "x", "percent": NaN}',
    '{"type": "progress", "ticket_id": "x", "percent": Infinity}',
    '{"type": "progress", "ticket_id": "x", "percent": 1e400}',
    "[" * 100_000 + "]" * 100_000,
    {"ticket_id": T},                                   # no tag at all
    {"type": 5, "ticket_id": T},
    {"type": None, "ticket_id": T},
    {"type": "ticket_update", "state": "pending"},      # ticket_id missing
    {"type": "ticket_update", "ticket_id": 7, "state": "pending"},
    {"type": "ticket_update", "ticket_id": "", "state": "pending"},
    {"type": "ticket_update", "ticket_id": None, "state": "pending"},
    {"type": "ticket_update", "ticket_id": T},          # state missing
    {"type": "ticket_update", "ticket_id": T, "state": 3},
    {"type": "ticket_update", "ticket_id": T, "state": {"no": "type"}},
    {"type": "ticket_deleted"},
    {"type": "pipeline_progress", "ticket_id": T},      # phase missing
    {"type": "pipeline_progress", "ticket_id": T, "phase": "placing", "current": "2"},
    {"type": "pipeline_progress", "ticket_id": T, "phase": "placing", "current_name": 5},
    {"type": "torrent_progress", "ticket_id": T, "progress_pct": "50%"},
    {"type": "torrent_progress", "ticket_id": T, "progress_pct": True},
    {"type": "torrent_progress", "ticket_id": T, "progress_pct": float("nan")},
    {"type": "torrent_progress", "ticket_id": T, "speed_bps": float("inf")},
    {"type": "torrent_progress", "ticket_id": T, "eta_secs": [1]},
    {"type": "orchestrator_status"},
    {"type": "orchestrator_status", "running": "yes"},
    {"type": "heartbeat", "timestamp": 123},
    {"type": "state_change", "ticket_id": T},
    {"type": "needs_approval", "ticket_id": T, "candidates": "three"},
    {"type": "failed", "ticket_id": T, "error": 500},
    {"type": "failed", "ticket_id": T, "retryable": "no"},
    {"event": "completed", "ticket_id": T, "details": "done"},
    {"event": "failed", "details": {"error": "x"}},
    {"event": 1, "ticket_id": T},
    {"type": "torrent_progress", "ticket_id": T, "progress_pct": 10**400},
])
def test_malformed(raw: Any) -> None:
    with pytest.raises(EventError) as info:
        normalise(raw)
    assert info.value.kind == "malformed"
    assert info.value.message


def test_oversized_input_is_malformed() -> None:
    big = json.dumps({"type": "ticket_update", "ticket_id": T, "state": "x" * MAX_MESSAGE_BYTES})
    for raw in (big, big.encode()):
        with pytest.raises(EventError) as info:
            normalise(raw)
        assert info.value.kind == "malformed"
        assert "larger" in info.value.message


@pytest.mark.parametrize("raw", [
    {"type": "ticket_created", "ticket_id": T},
    {"type": "", "ticket_id": T},
    {"event": "exploded", "ticket_id": T},
    '{"type": "stats"}',
])
def test_unknown_tags(raw: Any) -> None:
    with pytest.raises(EventError) as info:
        normalise(raw)
    assert info.value.kind == "unknown"


TAGS = ["ticket_update", "ticket_deleted", "pipeline_progress", "torrent_progress",
        "orchestrator_status", "heartbeat", "progress", "state_change", "needs_approval",
        "completed", "failed", "bogus"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
fields = st.sampled_from(["ticket_id", "state", "new_state", "to", "phase", "current", "total",
                          "current_name", "percent", "progress_pct", "speed_bps", "eta_secs",
                          "running", "timestamp", "candidates", "error", "retryable", "details"])
messages = st.fixed_dictionaries(
    {"type": st.sampled_from(TAGS)},
    optional={"ticket_id": st.text(max_size=8) | json_values},
).flatmap(lambda base: st.dictionaries(fields, json_values, max_size=6).map(lambda d: {**d, **base}))
webhooks = st.builds(
    lambda tag, details, extra: {"event": tag, "details": details, **extra},
    st.sampled_from(TAGS), json_values, st.dictionaries(fields, json_values, max_size=4),
)


def _only_event_errors(raw: Any) -> None:
    try:
        normalise(raw)
    except EventError as err:
        assert err.kind in ("malformed", "unknown")


@settings(max_examples=300, deadline=None)
@given(st.one_of(messages, webhooks, st.dictionaries(st.text(max_size=8), json_values, max_size=5)))
def test_fuzz_dicts_only_raise_event_error(raw: dict[str, Any]) -> None:
    _only_event_errors(raw)
    try:
        text = json.dumps(raw)
    except ValueError:
        return
    _only_event_errors(text)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_fuzz_text_and_bytes_only_raise_event_error(raw: str | bytes) -> None:
    _only_event_errors(raw)

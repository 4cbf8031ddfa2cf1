"""normalise(): real, draft and webhook vocabularies; every malformed shape; fuzzing."""

from __future__ import annotations

import json
from typing import Any

import msgspec
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
    _decode_frame,
    _validate,
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


# --- the fast path agrees with the full validation -----------------------------------------

def _outcome(build: Any, raw: Any) -> tuple[Any, ...]:
    """What a normaliser made of raw: the tag and the event (its repr tells -0.0 from 0.0),
    or the error's kind and message."""
    try:
        tag, event = build(raw)
    except EventError as err:
        return ("error", err.kind, err.message)
    return ("event", tag, type(event), repr(event))


def _wire(raw: dict[str, Any]) -> bytes:
    return json.dumps(raw).encode()


def _fast(wire: str | bytes) -> tuple[str, Any] | None:
    """What normalise_tagged returns when its fast path takes the frame, else None."""
    try:
        _decode_frame(wire)
    except (ValueError, RecursionError):
        return None
    return normalise_tagged(wire)


@pytest.mark.parametrize("raw", [
    {"type": "ticket_update", "ticket_id": T, "state": "downloading"},
    {"state": "downloading", "ticket_id": T, "type": "ticket_update"},
    {"type": "pipeline_progress", "ticket_id": T, "phase": "converting", "current": 2, "total": 8,
     "current_name": "02.flac", "percent": 25.0},
    {"type": "pipeline_progress", "ticket_id": T, "phase": "placing", "current": 1, "total": 3},
    {"type": "pipeline_progress", "ticket_id": T, "phase": "placing", "current": 0, "total": 0, "percent": None},
    {"type": "pipeline_progress", "ticket_id": T, "phase": "placing", "percent": -0.0},
    {"type": "torrent_progress", "ticket_id": T, "info_hash": "ab", "progress_pct": 41.5,
     "speed_bps": 1200000, "eta_secs": None},
    {"type": "torrent_progress", "ticket_id": T, "percent": -3, "progress_pct": None},
    {"type": "progress", "ticket_id": T, "progress_pct": 250},
])
def test_fast_path_builds_the_ordinary_frames(raw: dict[str, Any]) -> None:
    # Taken (not deferred) for what QT sends, and the same event as the full validation.
    for wire in (_wire(raw), _wire(raw).decode()):
        fast = _fast(wire)
        assert fast is not None
        assert ("event", fast[0], type(fast[1]), repr(fast[1])) == _outcome(_validate, raw)


@pytest.mark.parametrize("raw", [
    {"type": "ticket_update", "ticket_id": T, "state": {"type": "failed"}},   # state object
    {"type": "ticket_update", "ticket_id": T, "state": ""},
    {"type": "ticket_update", "ticket_id": None, "state": "x"},
    {"type": "pipeline_progress", "ticket_id": T, "phase": "placing", "current": 2.0, "total": 4},
    {"type": "pipeline_progress", "ticket_id": T, "phase": "placing", "current": 2**53 + 1, "total": 2**60},
    {"type": "pipeline_progress", "ticket_id": T, "phase": "placing", "percent": True},
    {"type": "pipeline_progress", "ticket_id": T, "phase": "placing", "percent": 10**400},
    {"type": "torrent_progress", "ticket_id": T, "speed_bps": 5.7},
    {"type": "torrent_progress", "ticket_id": T, "eta_secs": 10**400},
    {"type": "torrent_progress", "ticket_id": T, "progress_pct": "50%"},
    {"type": "ticket_deleted", "ticket_id": T},                                # not a fast tag
    {"event": "progress", "ticket_id": T, "details": {"progress_pct": 5}},     # webhook body
])
def test_fast_path_defers_the_unusual_shapes(raw: dict[str, Any]) -> None:
    assert _fast(_wire(raw)) is None
    assert _outcome(normalise_tagged, _wire(raw)) == _outcome(_validate, raw)


@pytest.mark.parametrize("wire", [
    # What json.dumps cannot write: repeated keys (the last one counts, as in a dict).
    b'{"type":"ticket_update","ticket_id":"a","ticket_id":"b","state":"s"}',
    b'{"type":"ticket_update","ticket_id":"a","state":"s","type":"pipeline_progress","phase":"p"}',
    b'{"type":"pipeline_progress","ticket_id":"a","phase":"p","type":"ticket_update","state":"s"}',
    b'{"type":"bogus","ticket_id":"a","state":"s","type":"ticket_update"}',
    b'{"type":"ticket_update","ticket_id":"a","state":"s","type":null}',
    b'{"type":"progress","ticket_id":"a","percent":5,"percent":null}',
    b'{"event":"completed","type":"ticket_update","ticket_id":"a","state":"s"}',
    rb'{"type":"ticket_update","ticket_id":"caf\u00e9","state":"\ud83d\udcbf"}',
    rb'{"type":"ticket_update","ticket_id":"\ud800","state":"s"}',            # lone surrogate
    b'{"type":"pipeline_progress","ticket_id":"a","phase":"p","percent":1e400}',
    b' {"type" : "torrent_progress" , "ticket_id" : "a" , "eta_secs" : -0 } ',
])
def test_fast_path_on_frames_json_dumps_cannot_write(wire: bytes) -> None:
    try:
        decoded = msgspec.json.decode(wire)
    except (ValueError, RecursionError):
        assert _outcome(normalise_tagged, wire)[:2] == ("error", "malformed")
        return
    assert _outcome(normalise_tagged, wire) == _outcome(_validate, decoded)


_edge_numbers = st.sampled_from([
    0, 1, -1, 7, 2**53, 2**53 + 1, -(2**53), -(2**53) - 1, 2**63, 10**20, 10**400,
    0.0, -0.0, 0.5, 2.0, 99.99, 100.0, 250.5, -5.0, 1e308, 5e-324, True, False,
])
_field_values = st.one_of(
    st.none(), _edge_numbers, st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.just(""),
    st.text(max_size=6),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.sampled_from(["type", "x"]), st.text(max_size=4)),
)
_names = st.text(min_size=1, max_size=8)
_wholes = st.one_of(st.none(), st.integers(-1000, 1000),
                    st.sampled_from([2**53, 2**53 + 1, -(2**53) - 1, 2**63, 10**20, 10**400]))
_numbers = st.one_of(st.none(), st.floats(-1e3, 1e3), st.integers(-500, 500), _edge_numbers)
_shapes = {
    "ticket_update": {"state": _names},
    "state_change": {"state": _names},
    "pipeline_progress": {"phase": _names, "current": _wholes, "total": _wholes,
                          "current_name": st.none() | st.text(max_size=8), "percent": _numbers},
    "torrent_progress": {"progress_pct": _numbers, "percent": _numbers, "speed_bps": _wholes, "eta_secs": _wholes},
    "ticket_deleted": {},
}
_shapes["progress"] = _shapes["torrent_progress"]
_any_field = st.sampled_from(["ticket_id", "state", "phase", "current", "total", "current_name", "percent",
                              "progress_pct", "speed_bps", "eta_secs", "event", "details"])
# A frame of the tag's ordinary shape (optional fields present or not), and now and then one
# field set to anything at all.
_fast_frames = st.sampled_from(sorted(_shapes)).flatmap(lambda tag: st.builds(
    lambda fields, hostile: {**fields, **hostile, "type": tag},
    st.fixed_dictionaries({"ticket_id": _names}, optional=_shapes[tag]),
    st.one_of(st.just({}), st.dictionaries(_any_field, _field_values, min_size=1, max_size=2)),
))


@settings(max_examples=1000, deadline=None)
@given(_fast_frames)
def test_fast_path_matches_full_validation(raw: dict[str, Any]) -> None:
    # The frame as it arrives (text or bytes) and the dict it encodes give the same outcome,
    # whichever path builds it.
    expected = _outcome(_validate, raw)
    for wire in (_wire(raw), _wire(raw).decode()):
        assert _outcome(normalise_tagged, wire) == expected
        fast = _fast(wire)
        if fast is not None:
            assert expected == ("event", fast[0], type(fast[1]), repr(fast[1]))

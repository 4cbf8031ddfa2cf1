"""Wire types: state properties per state type, leniency, and shape errors."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from torrentino_bridge.qt.types import (
    KNOWN_STATES,
    RETRYABLE_FROM,
    TERMINAL_STATES,
    Ticket,
    TicketPage,
    TicketState,
)

CANDS = [
    {"title": "A [FLAC]", "info_hash": "aa" * 20, "size_bytes": 300, "seeders": 10, "score": 0.9,
     "reasoning": "exact"},
    {"title": "B [MP3]", "info_hash": "bb" * 20, "size_bytes": 100, "seeders": 3, "score": 0.5,
     "reasoning": "lossy"},
]


@pytest.mark.parametrize(("state", "pct"), [
    ({"type": "downloading", "progress_pct": 42.5}, 42.5),
    ({"type": "downloading", "progress_pct": 130}, 100.0),
    ({"type": "downloading"}, None),
    ({"type": "downloading", "progress_pct": "half"}, None),
    ({"type": "converting", "current_idx": 1, "total": 4}, 25.0),
    ({"type": "converting", "current_idx": 1, "total": 0}, None),
    ({"type": "placing", "files_placed": 3, "total_files": 4}, 75.0),
    ({"type": "placing", "files_placed": 3}, None),
    ({"type": "completed", "stats": {}}, 100.0),
    ({"type": "pending"}, None),
    ({"type": "needs_approval", "candidates": []}, None),
])
def test_progress_pct(state: dict[str, Any], pct: float | None) -> None:
    assert TicketState.model_validate(state).progress_pct == pct


@pytest.mark.parametrize(("state", "error", "retryable"), [
    ({"type": "failed", "error": "disk full", "retryable": False, "retry_count": 0}, "disk full", False),
    ({"type": "failed", "error": "stalled", "retryable": True}, "stalled", True),
    ({"type": "failed"}, None, None),
    ({"type": "acquisition_failed", "reason": "nothing found", "candidates_seen": 0}, "nothing found", None),
    ({"type": "rejected", "reason": "wrong edition"}, "wrong edition", None),
    ({"type": "rejected", "reason": None}, None, None),
    ({"type": "cancelled", "reason": "user"}, "user", None),
    ({"type": "pending_retry", "error": "tracker down", "retry_attempt": 1}, "tracker down", True),
    ({"type": "downloading", "error": "ignored here"}, None, None),
])
def test_error_text_and_retryable(state: dict[str, Any], error: str | None, retryable: bool | None) -> None:
    parsed = TicketState.model_validate(state)
    assert parsed.error_text == error
    assert parsed.retryable is retryable


@pytest.mark.parametrize("kind", ["needs_approval", "auto_approved", "approved", "downloading"])
def test_candidates_in_states_that_carry_them(kind: str) -> None:
    state = TicketState.model_validate({"type": kind, "candidates": CANDS, "recommended_idx": 1})
    assert [c.title for c in state.candidates] == ["A [FLAC]", "B [MP3]"]
    assert state.candidates[0].seeders == 10
    assert state.candidates[1].info_hash == "bb" * 20
    assert state.recommended_idx == 1


def test_candidates_elsewhere_and_missing_fields() -> None:
    assert TicketState.model_validate({"type": "completed", "candidates": CANDS}).candidates == []
    minimal = TicketState.model_validate({"type": "approved", "candidates": [{"title": "only a title"}]})
    assert minimal.candidates[0].magnet_uri is None
    assert minimal.recommended_idx is None


def test_a_candidate_without_title_is_a_shape_error() -> None:
    with pytest.raises(ValidationError):
        TicketState.model_validate({"type": "needs_approval", "candidates": [{"info_hash": "x"}]})


def test_unknown_fields_and_states_are_kept() -> None:
    state = TicketState.model_validate({"type": "teleporting", "eta": 3})
    assert state.type == "teleporting"
    assert state.get("eta") == 3
    assert state.progress_pct is None and state.terminal is False


def test_ticket_and_page() -> None:
    raw = {"id": "t1", "created_at": "2025-01-01T00:00:00Z", "created_by": "api_key_user",
           "state": {"type": "completed", "completed_at": "x", "stats": {"files_placed": 2}},
           "priority": 10, "query_context": {"description": "d", "tags": []}, "dest_path": "/m/x",
           "output_constraints": {"type": "original"}, "updated_at": "2025-01-01T00:00:01Z",
           "future_field": True}
    ticket = Ticket.model_validate(raw)
    assert ticket.state.terminal and ticket.state.get("stats") == {"files_placed": 2}
    assert ticket.model_extra == {"future_field": True}
    sparse = Ticket.model_validate({"id": "t2", "state": {"type": "pending"}, "dest_path": "/m/y"})
    assert sparse.query_context == {} and sparse.created_at is None
    page = TicketPage.model_validate({"tickets": [raw], "total": 1, "limit": 100, "offset": 0})
    assert page.tickets[0].id == "t1"
    with pytest.raises(ValidationError):
        Ticket.model_validate({"id": "t3", "state": "pending", "dest_path": "/m"})


def test_state_sets() -> None:
    assert len(KNOWN_STATES) == 14
    assert TERMINAL_STATES <= KNOWN_STATES and RETRYABLE_FROM <= KNOWN_STATES
    assert "acquisition_failed" in RETRYABLE_FROM and "acquisition_failed" not in TERMINAL_STATES

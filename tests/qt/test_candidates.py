"""Bounding QT's candidate lists (pure): the recommended one and the one downloading are
kept, then the best by score; QT's order and indices are remembered."""

from __future__ import annotations

import json

from torrentino_bridge.qt.candidates import trim_answer, trim_state
from torrentino_bridge.qt.decode import decode_answer
from torrentino_bridge.qt.types import Ticket


def cands(scores: list[float | None]) -> list[dict]:
    return [{"title": f"c{i}", "score": s} for i, s in enumerate(scores)]


def test_a_short_list_is_kept_whole_with_its_indices() -> None:
    state = {"type": "needs_approval", "candidates": cands([0.9, 0.5]), "recommended_idx": 1}
    trim_state(state, 20)
    assert [c["qt_index"] for c in state["candidates"]] == [0, 1]
    assert (state["recommended_idx"], state["qt_recommended_idx"], state["candidates_total"]) == (1, 1, 2)


def test_a_long_list_keeps_the_recommended_and_the_best_in_qts_order() -> None:
    scores = [0.1] * 100
    scores[3], scores[50], scores[77], scores[99] = 0.9, 0.8, 0.95, None
    state = {"type": "needs_approval", "candidates": cands(scores), "recommended_idx": 99}
    trim_state(state, 4)
    kept = [c["qt_index"] for c in state["candidates"]]
    assert kept == [3, 50, 77, 99]
    assert state["recommended_idx"] == 3 and state["qt_recommended_idx"] == 99
    assert state["candidates_total"] == 100


def test_the_candidate_downloading_is_kept_too() -> None:
    state = {"type": "downloading", "candidates": cands([0.1] * 30), "candidate_idx": 29, "progress_pct": 5}
    trim_state(state, 3)
    assert 29 in [c["qt_index"] for c in state["candidates"]]
    assert state["candidates"][state["candidate_idx"]]["qt_index"] == 29


def test_pages_and_odd_shapes() -> None:
    page = {"tickets": [{"id": "t", "dest_path": "/d", "state": {"type": "approved", "candidates": cands([0.2] * 9)}},
                        "junk", {"state": None}], "total": 3}
    trim_answer(page, 2)
    assert len(page["tickets"][0]["state"]["candidates"]) == 2
    for odd in ({"type": "needs_approval", "candidates": "many"}, {"type": "x"}, None, [1, 2]):
        trim_state(odd, 2)       # left alone, no error
    state = {"type": "needs_approval", "candidates": [1, {"title": "a"}], "recommended_idx": True}
    trim_state(state, 5)
    assert state["candidates"][0] == 1 and state["recommended_idx"] is True   # validation will refuse it


def test_decoded_ticket_reports_qts_total() -> None:
    body = json.dumps({"id": "t", "dest_path": "/d", "state": {
        "type": "needs_approval", "candidates": cands([i / 100 for i in range(60)]), "recommended_idx": 0,
        "confidence": 0.4}}).encode()
    ticket = Ticket.model_validate(decode_answer(body, 20))
    assert len(ticket.state.candidates) == 20 and ticket.state.candidates_total == 60
    assert ticket.state.candidates[ticket.state.recommended_idx].qt_index == 0
    assert [c.qt_index for c in ticket.state.candidates][1:] == list(range(41, 60))


async def test_a_huge_answer_of_another_shape_comes_back_small_from_the_child() -> None:
    """Not only candidates can be huge: an `acquiring` ticket with 1.9 million queries tried
    (7.6 MB) used to come back whole from the decoding child and be parsed on the event loop
    (1.2 s). Every list, object and string is bounded before it is handed back."""
    import json

    from torrentino_bridge.qt.candidates import MAX_ITEMS, MAX_NESTED_ITEMS, MAX_TEXT
    from torrentino_bridge.qt.decode import AnswerDecoder

    ticket = {"id": "t1", "dest_path": "/x", "state": {
        "type": "acquiring", "started_at": "2026-12-07T12:00:00Z", "phase": {"phase": "searching"},
        "queries_tried": [[0]] * 1_900_000, "note": "x" * 3_000_000}}
    body = json.dumps(ticket).encode()
    assert len(body) > 7_000_000
    result = await AnswerDecoder(20).decode(body)
    assert len(json.dumps(result)) < 64 * 1024
    assert len(result["state"]["queries_tried"]) == MAX_NESTED_ITEMS < MAX_ITEMS
    assert len(result["state"]["note"]) == MAX_TEXT + 1
    assert result["id"] == "t1" and result["state"]["phase"] == {"phase": "searching"}


def test_stored_candidates_keep_only_what_is_read() -> None:
    """A kept candidate of megabytes (file mappings, reasoning) is stored and sent small."""
    from torrentino_bridge.engine.approvals import approval_details
    from torrentino_bridge.qt.candidates import trim_answer
    from torrentino_bridge.qt.types import Ticket

    candidate = {"title": "Album FLAC", "info_hash": "ab" * 20, "size_bytes": 1, "seeders": 3, "score": 0.9,
                 "reasoning": "r" * 2_000_000, "file_mappings": [{"torrent_file_path": "f" * 100}] * 50_000}
    data = trim_answer({"id": "t1", "dest_path": "/x", "state": {
        "type": "needs_approval", "candidates": [candidate] * 30, "recommended_idx": 0}}, 20)
    details = approval_details(Ticket.model_validate(data))
    assert len(details["candidates"]) == 20
    assert set(details["candidates"][0]) == {"title", "info_hash", "size_bytes", "seeders", "score",
                                             "reasoning", "qt_index"}
    import json
    assert len(json.dumps(details)) < 32 * 1024


def test_qts_error_text_is_capped() -> None:
    """A state's error reaches request errors, webhooks and the Pezzottify queue's
    error_message that users read: a multi-megabyte one is cut."""
    from torrentino_bridge.qt.types import ERROR_TEXT_CHARS, TicketState

    state = TicketState.model_validate({"type": "failed", "error": "e" * 5_000_000, "retryable": True})
    assert state.error_text is not None and len(state.error_text) == ERROR_TEXT_CHARS + 1

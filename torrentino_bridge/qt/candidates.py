"""Bounding the candidates of QT's answers (pure).

A needs_approval answer may list hundreds of thousands of candidates (one of 7.9 MiB held
550k), and approved and downloading states carry the list along. The bridge keeps at most
`keep` of them, before validation: the recommended one and the one being downloaded, then
the best by QT's score (ties: QT's order), listed in QT's order. Each kept candidate
records its index in QT's list as `qt_index` (approve must send QT's index), the state's
`recommended_idx` and `candidate_idx` point into the kept list (QT's own values are kept as
`qt_recommended_idx`, `qt_candidate_idx`), and `candidates_total` is QT's count.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

_INDEX_FIELDS = ("recommended_idx", "candidate_idx")


def _score(candidate: Any) -> float:
    value = candidate.get("score") if isinstance(candidate, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return -math.inf
    return float(value)


def _index(state: dict[str, Any], field: str, total: int) -> int | None:
    value = state.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < total:
        return None
    return value


def trim_state(state: Any, keep: int) -> None:
    """Bound one ticket state's candidates in place (anything not shaped so is left alone)."""
    if not isinstance(state, dict):
        return
    candidates = state.get("candidates")
    if not isinstance(candidates, list):
        return
    total = len(candidates)
    pinned = {i for f in _INDEX_FIELDS if (i := _index(state, f, total)) is not None}
    if total <= keep:
        kept = list(range(total))
    else:
        others = (i for i in range(total) if i not in pinned)
        best = heapq.nlargest(max(0, keep - len(pinned)), others, key=lambda i: (_score(candidates[i]), -i))
        kept = sorted(pinned | set(best))
    position = {qt_index: n for n, qt_index in enumerate(kept)}
    state["candidates"] = [
        {**candidates[i], "qt_index": i} if isinstance(candidates[i], dict) else candidates[i] for i in kept
    ]
    state["candidates_total"] = total
    for field in _INDEX_FIELDS:
        qt_value = _index(state, field, total)
        if qt_value is not None:
            state[f"qt_{field}"] = qt_value
            state[field] = position[qt_value]


def trim_answer(data: Any, keep: int) -> Any:
    """A ticket, or a page of tickets, with every state's candidates bounded, then every
    string, list and object in it (a huge `queries_tried`, a megabyte of `reasoning`): what
    is handed on (to the event loop, the database, the admin page) stays small."""
    if isinstance(data, dict):
        if "state" in data:
            trim_state(data["state"], keep)
        tickets = data.get("tickets")
        if isinstance(tickets, list):
            for ticket in tickets:
                if isinstance(ticket, dict):
                    trim_state(ticket.get("state"), keep)
    return bound(data)


MAX_TEXT = 4096          # characters of any one string
MAX_ITEMS = 1000         # items of a list or keys of an object at the top two levels (a page of tickets)
MAX_NESTED_ITEMS = 100   # ... deeper down (a state's lists, a candidate's file mappings)
MAX_DEPTH = 16


def bound(value: Any, depth: int = 0) -> Any:
    """`value` with strings, lists and objects cut to the limits above (pure)."""
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if depth >= MAX_DEPTH and isinstance(value, list | dict):
        return None
    items = MAX_ITEMS if depth < 2 else MAX_NESTED_ITEMS
    if isinstance(value, list):
        return [bound(v, depth + 1) for v in value[:items]]
    if isinstance(value, dict):
        return {k: bound(v, depth + 1) for k, v in list(value.items())[:items]}
    return value

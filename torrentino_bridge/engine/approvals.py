"""What the bridge stores of a ticket that needs approval, and what it sends about it (pure).

The QT client has already bounded the candidates (qt/candidates.py): the stored details
hold at most [torrentino] max_candidates of them, each with its index in QT's list.
"""

from __future__ import annotations

from typing import Any

from ..qt.types import Ticket

# What is kept of a candidate: what the admin page shows and approve needs (QT's other fields,
# e.g. file mappings, may be large and nothing reads them).
_KEPT = ("title", "info_hash", "size_bytes", "seeders", "score", "reasoning", "qt_index")
_REASONING_CHARS = 1000


def _kept(candidate: dict[str, Any]) -> dict[str, Any]:
    kept = {k: candidate.get(k) for k in _KEPT if k in candidate}
    if isinstance(kept.get("reasoning"), str):
        kept["reasoning"] = kept["reasoning"][:_REASONING_CHARS]
    return kept


def approval_details(ticket: Ticket) -> dict[str, Any]:
    state = ticket.state
    return {
        "candidates": [_kept(c.model_dump(mode="json")) for c in state.candidates],
        "recommended_idx": state.recommended_idx,
        "confidence": state.get("confidence"),
        "candidate_count": state.candidates_total,
    }


def notice_of_approval(details: dict[str, Any]) -> dict[str, Any]:
    """The needs_approval notification's data: the kept candidates, as the admin page shows them."""
    return {
        "candidates": [
            {k: c.get(k) for k in ("title", "score", "seeders", "size_bytes", "reasoning", "info_hash")}
            | {"index": n} for n, c in enumerate(details.get("candidates") or []) if isinstance(c, dict)
        ],
        "recommended_idx": details.get("recommended_idx"),
        "confidence": details.get("confidence"),
        "candidate_count": details.get("candidate_count", len(details.get("candidates") or [])),
    }


def qt_candidate_index(details: dict[str, Any], index: int | None) -> int | None:
    """The index QT knows for the bridge's candidate `index` (the bridge lists the kept ones)."""
    if index is None:
        return None
    candidates = details.get("candidates") or []
    if 0 <= index < len(candidates) and isinstance(candidates[index], dict):
        qt_index = candidates[index].get("qt_index")
        if isinstance(qt_index, int) and not isinstance(qt_index, bool):
            return qt_index
    return index

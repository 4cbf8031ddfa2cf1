"""Who follows what (for live events): the open requests waiting on a submission, and a
user's recent requests. Beside BridgeStore (same connection and lock)."""

from __future__ import annotations

from .bridge import BridgeStore

_OPEN = "('pending', 'in_progress', 'needs_approval')"


async def listeners(store: BridgeStore, submission_id: str) -> dict[str, tuple[str, ...]]:
    """user id -> their open requests with tracks waiting on the submission."""
    rows = await store._all(
        "SELECT DISTINCT r.user_id, r.id FROM request_tracks rt JOIN download_requests r ON r.id = rt.request_id"
        f" WHERE rt.submission_id = ? AND r.status IN {_OPEN} AND typeof(r.user_id) = 'text'"
        " ORDER BY r.user_id, r.id", (submission_id,),
    )
    found: dict[str, list[str]] = {}
    for user_id, request_id in rows:
        found.setdefault(user_id, []).append(request_id)
    return {u: tuple(ids) for u, ids in found.items()}


async def live_submissions_of_user(store: BridgeStore, user_id: str) -> dict[str, list[str]]:
    """submission id -> the user's open requests waiting on it (for a snapshot's progress)."""
    rows = await store._all(
        "SELECT DISTINCT rt.submission_id, r.id FROM request_tracks rt JOIN download_requests r"
        " ON r.id = rt.request_id"
        f" WHERE r.user_id = ? AND r.status IN {_OPEN} AND rt.submission_id IS NOT NULL", (user_id,),
    )
    found: dict[str, list[str]] = {}
    for submission_id, request_id in rows:
        found.setdefault(submission_id, []).append(request_id)
    return found

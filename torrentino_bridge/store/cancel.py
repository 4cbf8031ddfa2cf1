"""Statements for cancelling one request (engine/cancel.py). Beside BridgeStore."""

from __future__ import annotations

from collections.abc import Sequence

from .bridge import BridgeStore
from .db import marks, utcnow

_OPEN = "('pending', 'in_progress', 'needs_approval')"


async def tracks_others_wait_for(store: BridgeStore, submission_id: str, request_id: str) -> set[str]:
    """Tracks of the submission that another open request waits for."""
    rows = await store._all(
        "SELECT DISTINCT rt.track_id FROM request_tracks rt JOIN download_requests r ON r.id = rt.request_id"
        f" WHERE rt.submission_id = ? AND rt.request_id != ? AND r.status IN {_OPEN}",
        (submission_id, request_id),
    )
    return {r[0] for r in rows}


async def release_tracks(store: BridgeStore, submission_id: str, track_ids: Sequence[str]) -> list[str]:
    """Stop fetching these tracks under the submission (nobody waits for them any more);
    the ticket goes on for the others. Returns the tracks that were live."""
    if not track_ids:
        return []
    now = utcnow()
    async with store.tx() as conn:
        rows = await conn.execute_fetchall(
            f"SELECT track_id FROM submission_tracks WHERE submission_id = ? AND active = 1"
            f" AND track_id IN ({marks(len(track_ids))})", (submission_id, *track_ids),
        )
        released = [r[0] for r in rows]
        await conn.executemany(
            "UPDATE submission_tracks SET active = 0, outcome = 'released', updated_at = ?"
            " WHERE submission_id = ? AND track_id = ?", [(now, submission_id, t) for t in released],
        )
    return released


async def close_cancelled(store: BridgeStore, request_id: str, *, by: str, reason: str) -> bool:
    """The request is cancelled, on purpose and for good (cancelled_by, migration 0007).
    Not when it completed meanwhile. Returns whether it was closed."""
    now = utcnow()
    async with store.tx() as conn:
        cur = await conn.execute(
            "UPDATE download_requests SET status = 'cancelled', error = ?, cancelled_by = ?, updated_at = ?,"
            " planned_at = COALESCE(planned_at, ?), finished_at = COALESCE(finished_at, ?)"
            " WHERE id = ? AND cancelled_by IS NULL AND status != 'completed'",
            (reason, by, now, now, now, request_id),
        )
        return cur.rowcount > 0

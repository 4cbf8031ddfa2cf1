"""Mending submissions after their download: a re-scan of a ticket's folder, tracks imported
by hand (`torrentino-bridge import`), and the requests those touch.

Lives beside BridgeStore (same connection and lock); each method is one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..domain.status import LIVE_SUBMISSION_STATES, SubmissionState
from .bridge import BridgeStore
from .db import chunked, marks, utcnow
from .outbox import NewItem, enqueue

# Submissions whose tracks a hand import may take over. An importing one is left to its own
# import (it may be moving these very files), which decides their fate.
_SETTLEABLE = tuple(s.value for s in LIVE_SUBMISSION_STATES if s is not SubmissionState.IMPORTING)


@dataclass(frozen=True, slots=True)
class Settled:
    submissions: list[str]        # live submissions that lost tracks to the hand import
    closed: list[str]             # ... of which nothing live was left: closed as completed


class MendStore:
    def __init__(self, store: BridgeStore) -> None:
        self.store = store

    async def reopen_for_import(self, submission_id: str, track_ids: Sequence[str]) -> bool:
        """A completed (or import-failed) submission imports again: state `importing` with
        these tracks live, exactly as when QT's `completed` arrived, so a crash mid-way is
        resumed by the reconciler like any import. False when the submission moved on
        (or a track became live elsewhere: sqlite3.IntegrityError)."""
        now = utcnow()
        async with self.store.tx() as conn:
            cur = await conn.execute(
                "UPDATE submissions SET state = 'importing', qt_state = 'completed', phase = 'importing',"
                " progress = 100, error = NULL, finished_at = NULL, updated_at = ?"
                " WHERE id = ? AND state IN ('completed', 'failed')",
                (now, submission_id),
            )
            if cur.rowcount != 1:
                return False
            await conn.executemany(
                "UPDATE submission_tracks SET active = 1, outcome = NULL, audio_uri = NULL, error = NULL,"
                " updated_at = ? WHERE submission_id = ? AND track_id = ? AND active = 0",
                [(now, submission_id, t) for t in track_ids],
            )
        return True

    async def settle_hand_imported(self, imported: Mapping[str, str], *, note: str,
                                   cancel: Callable[[str], NewItem]) -> Settled:
        """Tracks now available through a hand import stop being live in the submissions
        still fetching them (outcome imported, with their audio_uri). A submission left with
        nothing live is closed as completed with `note`, and `cancel(its id)` is queued in
        the same transaction so QT stops working for nothing (the outbox handler finds out
        whether QT holds a ticket for it at all)."""
        if not imported:
            return Settled([], [])
        now = utcnow()
        touched: list[str] = []
        closed: list[str] = []
        async with self.store.tx() as conn:
            for part in chunked(list(imported)):
                rows = await conn.execute_fetchall(
                    "SELECT st.submission_id, st.track_id FROM submission_tracks st"
                    " JOIN submissions s ON s.id = st.submission_id"
                    f" WHERE st.active = 1 AND s.state IN ({marks(len(_SETTLEABLE))})"
                    f" AND st.track_id IN ({marks(len(part))})",
                    (*_SETTLEABLE, *part),
                )
                await conn.executemany(
                    "UPDATE submission_tracks SET active = 0, outcome = 'imported', audio_uri = ?,"
                    " error = NULL, updated_at = ? WHERE submission_id = ? AND track_id = ?",
                    [(imported[r[1]], now, r[0], r[1]) for r in rows],
                )
                touched.extend(r[0] for r in rows if r[0] not in touched)
            for sub_id in touched:
                left = await conn.execute_fetchall(
                    "SELECT 1 FROM submission_tracks WHERE submission_id = ? AND active = 1 LIMIT 1", (sub_id,)
                )
                if left:
                    continue
                await conn.execute(
                    "UPDATE submissions SET state = 'completed', error = ?, updated_at = ?, finished_at = ?"
                    f" WHERE id = ? AND state IN ({marks(len(_SETTLEABLE))})",
                    (note, now, now, sub_id, *_SETTLEABLE),
                )
                closed.append(sub_id)
                await enqueue(conn, [cancel(sub_id)])
        return Settled(touched, closed)

    async def requests_waiting_for(self, track_ids: Sequence[str]) -> list[str]:
        """Requests that asked for any of these tracks and did not get them: open ones, and
        failed ones (a request that failed for missing tracks completes once they arrive).
        Rejected and cancelled ones stay as the admin or the user left them."""
        found: list[str] = []
        for part in chunked(list(track_ids)):
            rows = await self.store._all(
                "SELECT DISTINCT rt.request_id FROM request_tracks rt"
                " JOIN download_requests r ON r.id = rt.request_id"
                f" WHERE rt.track_id IN ({marks(len(part))})"
                " AND r.status IN ('pending', 'in_progress', 'needs_approval', 'failed')",
                part,
            )
            found.extend(r[0] for r in rows if r[0] not in found)
        return found

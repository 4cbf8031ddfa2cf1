"""Force-search records (sql/bridge/0008): the switch from a download to the new search
that replaces it, in one transaction, and who replaced whom.

Lives beside BridgeStore (same connection and lock). The switch writes everything the
replacement needs before anything is sent to Quentin Torrentino: the old submission's
tracks stop being live, the new submission is an `intent` holding the admin's query in
its body, the requests follow the new one, and the old ticket's cancellation waits in the
outbox. A crash after the commit leaves work the submitter and the outbox finish.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiosqlite

from ..domain.status import SubmissionState
from .bridge import BridgeStore, NewSubmission, _insert_submission
from .db import utcnow
from .outbox import NewItem, enqueue


class StaleSwitch(Exception):
    """The old submission changed state since it was read: nothing was written."""


@dataclass(frozen=True, slots=True)
class SearchRecord:
    submission_id: str        # the new submission
    replaces: str             # the submission it replaced
    query: str
    artist: str | None
    title: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class Switch:
    old_id: str
    old_state: SubmissionState          # as read under the lock; the switch checks it again
    close_old_as: SubmissionState | None  # the state the old one ends in (None: it keeps its own)
    old_error: str                      # why it ended, when it is closed here
    new: NewSubmission
    relink: Mapping[str, str]           # track id -> submission its requests follow from now on
    query: str
    artist: str | None
    title: str | None
    cancel: NewItem | None              # the old ticket's cancellation, when QT may still run it


def _record(row: aiosqlite.Row) -> SearchRecord:
    return SearchRecord(row["submission_id"], row["replaces"], row["query"], row["artist"], row["title"],
                        row["created_at"])


async def is_replaced(store: BridgeStore, submission_id: str) -> bool:
    """Whether a force-search replaced this submission (it must never come back to life)."""
    return await store._one("SELECT 1 FROM submission_searches WHERE replaces = ?", (submission_id,)) is not None


async def given_up(store: BridgeStore, submission_id: str) -> bool:
    """Whether the bridge gave this download up: replaced by a force-search, or its ticket's
    cancellation recorded (every request let go of it, or its tracks were imported by hand).
    QT's later life of that ticket (a late completion, a retry in its UI) is not ours."""
    row = await store._one(
        "SELECT EXISTS (SELECT 1 FROM submission_searches WHERE replaces = ?)"
        " OR EXISTS (SELECT 1 FROM outbox WHERE id = ?)", (submission_id, f"qt.cancel:{submission_id}"))
    return bool(row and row[0])


class SearchStore:
    def __init__(self, store: BridgeStore) -> None:
        self.store = store

    async def replaced_by(self, submission_id: str) -> SearchRecord | None:
        row = await self.store._one("SELECT * FROM submission_searches WHERE replaces = ?", (submission_id,))
        return _record(row) if row else None

    async def search_of(self, submission_id: str) -> SearchRecord | None:
        """The force-search that made this submission, if one did."""
        row = await self.store._one("SELECT * FROM submission_searches WHERE submission_id = ?", (submission_id,))
        return _record(row) if row else None

    async def switch(self, sw: Switch) -> None:
        """The whole switch in one transaction. StaleSwitch when the old submission moved on
        meanwhile; sqlite3.IntegrityError when one of the new submission's tracks became live
        elsewhere."""
        now = utcnow()
        async with self.store.tx() as conn:
            if sw.close_old_as is None:
                cur = await conn.execute(
                    "UPDATE submissions SET updated_at = ? WHERE id = ? AND state = ?",
                    (now, sw.old_id, sw.old_state.value),
                )
            else:
                cur = await conn.execute(
                    "UPDATE submissions SET state = ?, error = ?, updated_at = ?,"
                    " finished_at = COALESCE(finished_at, ?) WHERE id = ? AND state = ?",
                    (sw.close_old_as.value, sw.old_error, now, now, sw.old_id, sw.old_state.value),
                )
            if cur.rowcount != 1:
                raise StaleSwitch(sw.old_id)
            # Every track still live under the old submission is released, moved or not (one
            # already available stays active nowhere: the unique index of live rows ignores the
            # submission's state). Tracks that had already ended keep the outcome they ended with.
            await conn.execute(
                "UPDATE submission_tracks SET outcome = 'released', error = ?, active = 0, updated_at = ?"
                " WHERE submission_id = ? AND active = 1",
                (sw.old_error, now, sw.old_id),
            )
            await _insert_submission(conn, sw.new)
            await conn.executemany(
                "UPDATE request_tracks SET submission_id = ? WHERE submission_id = ? AND track_id = ?",
                [(target, sw.old_id, track) for track, target in sw.relink.items()],
            )
            await conn.execute(
                "INSERT INTO submission_searches (submission_id, replaces, query, artist, title, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (sw.new.id, sw.old_id, sw.query, sw.artist, sw.title, now),
            )
            if sw.cancel is not None:
                await enqueue(conn, [sw.cancel])

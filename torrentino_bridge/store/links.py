"""Requests mirrored from another source (Pezzottify's download queue), and what was
reported back to it. Lives beside BridgeStore (same connection and lock)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiosqlite

from .bridge import BridgeStore, insert_request
from .db import utcnow

TERMINAL = ("completed", "failed", "rejected", "cancelled")
_TERMINAL_SQL = "('completed', 'failed', 'rejected', 'cancelled')"


@dataclass(frozen=True, slots=True)
class Link:
    source: str
    source_id: str
    generation: int
    request_id: str
    kind: str
    content_id: str
    claimed_at: int | None
    reported: str | None
    status: str                    # the mirrored request's status now
    error: str | None
    finished_at: str | None
    latest: bool                   # the newest generation for its source row


@dataclass(frozen=True, slots=True)
class Mirror:
    """A new request for a source row: the request row and its link, written together."""

    request_id: str
    user_id: str
    album_id: str | None
    track_ids: tuple[str, ...] | None
    priority: int
    source_id: str
    generation: int
    kind: str
    content_id: str


_SELECT = (
    "SELECT l.*, r.status, r.error, r.finished_at,"
    " NOT EXISTS (SELECT 1 FROM source_links n WHERE n.source = l.source AND n.source_id = l.source_id"
    "   AND n.generation > l.generation) AS latest"
    " FROM source_links l JOIN download_requests r ON r.id = l.request_id"
)


def _link(r: aiosqlite.Row) -> Link:
    return Link(r["source"], r["source_id"], r["generation"], r["request_id"], r["kind"], r["content_id"],
                r["claimed_at"], r["reported"], r["status"], r["error"], r["finished_at"], bool(r["latest"]))


class LinkStore:
    def __init__(self, store: BridgeStore, source: str) -> None:
        self.store = store
        self.source = source

    async def latest(self, source_id: str) -> Link | None:
        row = await self.store._one(
            _SELECT + " WHERE l.source = ? AND l.source_id = ? ORDER BY l.generation DESC LIMIT 1",
            (self.source, source_id),
        )
        return _link(row) if row else None

    async def mirror(self, m: Mirror) -> None:
        """The request and its link in one transaction (a crash leaves both or neither)."""
        async with self.store.tx() as conn:
            await insert_request(conn, m.request_id, m.user_id, album_id=m.album_id, track_ids=m.track_ids,
                                 priority=m.priority, source=self.source)
            await conn.execute(
                "INSERT INTO source_links (source, source_id, generation, request_id, kind, content_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (self.source, m.source_id, m.generation, m.request_id, m.kind, m.content_id),
            )

    async def claimed(self, request_id: str, at: int) -> None:
        async with self.store.tx() as conn:
            await conn.execute("UPDATE source_links SET claimed_at = COALESCE(claimed_at, ?) WHERE request_id = ?",
                               (at, request_id))

    async def unreported(self) -> list[Link]:
        """Links whose request has ended and whose source row has not been told; and failed
        ones whose request completed after all (its tracks arrived with another download)."""
        rows = await self.store._all(
            _SELECT + f" WHERE l.source = ? AND ((l.reported IS NULL AND r.status IN {_TERMINAL_SQL})"
            " OR (l.reported IN ('failed', 'rejected', 'cancelled') AND r.status = 'completed'))"
            " ORDER BY r.finished_at", (self.source,))
        return [_link(r) for r in rows]

    async def open(self) -> list[Link]:
        """Links whose request is still running (not ended, not reported)."""
        rows = await self.store._all(
            _SELECT + f" WHERE l.source = ? AND l.reported IS NULL AND r.status NOT IN {_TERMINAL_SQL}",
            (self.source,))
        return [_link(r) for r in rows]

    async def mark_reported(self, request_ids: Sequence[str], value: str,
                            also: Callable[[aiosqlite.Connection], Awaitable[None]] | None = None) -> None:
        """Record what the source rows were told; `also` runs in the same transaction (e.g.
        enqueueing the user's notification, so it is never lost nor sent twice)."""
        async with self.store.tx() as conn:
            await conn.executemany(
                "UPDATE source_links SET reported = ?, reported_at = ? WHERE request_id = ?"
                " AND (reported IS NULL OR reported != ?)",
                [(value, utcnow(), r, value) for r in request_ids],
            )
            if also is not None:
                await also(conn)

"""The bridge's durable outbox table (see sql/bridge/0004_outbox.sql).

`enqueue` takes the connection of a transaction already open, so an outbox item commits
(or not) together with the change that causes it. The rest are short statements of their
own through BridgeStore's lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiosqlite

from .db import utcnow

if TYPE_CHECKING:   # bridge.py records items with its own changes (enqueue), so it imports us
    from .bridge import BridgeStore


@dataclass(frozen=True, slots=True)
class NewItem:
    id: str                       # stable: the same id enqueued twice is one item
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_at: str


async def enqueue(conn: aiosqlite.Connection, items: Iterable[NewItem], *, not_before: float = 0.0) -> int:
    """Add items inside the caller's transaction; returns how many were new."""
    rows = [(i.id, i.kind, json.dumps(i.payload, separators=(",", ":")), not_before) for i in items]
    if not rows:
        return 0
    before = conn.total_changes
    await conn.executemany(
        "INSERT OR IGNORE INTO outbox (id, kind, payload, next_attempt_at) VALUES (?, ?, ?, ?)", rows
    )
    return conn.total_changes - before


class OutboxStore:
    """Reads and state changes of outbox items; lives beside BridgeStore (same connection)."""

    def __init__(self, store: BridgeStore) -> None:
        self.store = store

    async def add(self, items: Sequence[NewItem]) -> int:
        async with self.store.tx() as conn:
            return await enqueue(conn, items)

    async def due(self, now: float, limit: int = 50, *, kind: str | None = None) -> list[OutboxItem]:
        """Pending items due by `now` (of one kind, when given), oldest due first."""
        rows = await self.store._all(
            "SELECT id, kind, payload, attempts, created_at FROM outbox"
            " WHERE state = 'pending' AND next_attempt_at <= ? AND (? IS NULL OR kind = ?)"
            " ORDER BY next_attempt_at, created_at LIMIT ?",
            (now, kind, kind, limit),
        )
        items = []
        for r in rows:
            try:
                payload = json.loads(r["payload"])
            except ValueError:
                payload = {"_unreadable": r["payload"][:200]}
            items.append(OutboxItem(r["id"], r["kind"], payload, int(r["attempts"]), r["created_at"]))
        return items

    async def kinds_due(self, now: float) -> list[str]:
        rows = await self.store._all(
            "SELECT DISTINCT kind FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?", (now,))
        return [r[0] for r in rows]

    async def next_due_at(self) -> float | None:
        row = await self.store._one("SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'")
        return float(row[0]) if row and row[0] is not None else None

    async def done(self, item_id: str) -> None:
        async with self.store.tx() as conn:
            await conn.execute(
                "UPDATE outbox SET state = 'done', attempts = attempts + 1, last_error = NULL,"
                " finished_at = ? WHERE id = ?", (utcnow(), item_id),
            )

    async def retry_at(self, item_id: str, when: float, error: str) -> None:
        async with self.store.tx() as conn:
            await conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
                " WHERE id = ?", (when, error[:1000], item_id),
            )

    async def dead(self, item_id: str, error: str) -> None:
        async with self.store.tx() as conn:
            await conn.execute(
                "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?,"
                " finished_at = ? WHERE id = ?", (error[:1000], utcnow(), item_id),
            )

    async def get(self, item_id: str) -> dict[str, Any] | None:
        row = await self.store._one("SELECT * FROM outbox WHERE id = ?", (item_id,))
        return dict(row) if row else None

    async def counts(self) -> dict[tuple[str, str], int]:
        """(kind, state) -> items, for metrics and status."""
        rows = await self.store._all("SELECT kind, state, COUNT(*) FROM outbox GROUP BY kind, state")
        return {(r[0], r[1]): int(r[2]) for r in rows}

    async def prune(self, finished_before: str) -> int:
        """Forget delivered items finished before an RFC 3339 time (dead ones stay for a look)."""
        async with self.store.tx() as conn:
            cur = await conn.execute(
                "DELETE FROM outbox WHERE state = 'done' AND finished_at < ?", (finished_before,)
            )
            return cur.rowcount

"""search.db's item_availability, upserted after every catalog write that makes tracks
available, so a search that hides unavailable items (Android's non-streaming search: an
INNER JOIN on is_available = 1, so an item without a row is hidden) finds them at once.

Delivered through the outbox (kind `pezzottify.search`), enqueued in the bridge transaction
that records the import's end: a SIGKILL between the catalog commit and this upsert loses
nothing. The values are read from the catalog at delivery time. Writes are autocommit
`INSERT OR REPLACE`, one row each, as the server's own writers do: never a long
transaction on a file whose writers wait 5 s at most.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite
import structlog

from ..engine.outbox import GiveUp, Retry
from ..store.catalog import Catalog
from ..store.db import is_busy
from ..store.outbox import NewItem, OutboxItem

log = structlog.get_logger(__name__)

KIND = "pezzottify.search"
_UPSERT = "INSERT OR REPLACE INTO item_availability (item_id, item_type, is_available) VALUES (?, ?, ?)"


def item(key: str, track_ids: Sequence[str]) -> NewItem:
    return NewItem(f"{KIND}:{key}", KIND, {"track_ids": list(track_ids)})


class SearchUpserts:
    def __init__(self, conn: aiosqlite.Connection, catalog: Catalog) -> None:
        self.conn = conn
        self.catalog = catalog

    async def deliver(self, outbox_item: OutboxItem) -> None:
        track_ids = outbox_item.payload.get("track_ids")
        if not isinstance(track_ids, list):
            raise GiveUp(f"malformed payload: {outbox_item.payload!r}")
        try:
            rows = await self.catalog.search_availability([str(t) for t in track_ids])
            await upsert(self.conn, rows)
        except Exception as err:
            if is_busy(err):
                raise Retry(f"search.db or the catalog is locked: {err}") from None
            raise
        log.info("pezzottify.search_upserted", outbox_id=outbox_item.id, items=len(rows))


async def upsert(conn: aiosqlite.Connection, rows: Sequence[tuple[str, str, int]]) -> None:
    """One autocommit statement per row (the connection has no transaction open)."""
    for row in rows:
        await conn.execute(_UPSERT, row)

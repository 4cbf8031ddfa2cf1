"""What an import owes the Pezzottify server once its catalog write is done, beyond the
catalog itself: search.db availability, and (opt-in) the album's catalog event. The items
are enqueued in the bridge transaction that records the import's end (importing.journal
.finish_jobs), and delivered by the outbox worker to the handlers registered here.
"""

from __future__ import annotations

import hashlib

import aiosqlite
import structlog

from ..config import PezzottifySettings
from ..engine.outbox import OutboxWorker
from ..importing.outcome import ImportOutcome
from ..store.catalog import Catalog
from ..store.outbox import NewItem
from . import notices, search
from .files import configured, open_checked

log = structlog.get_logger(__name__)


class Handover:
    def __init__(self, settings: PezzottifySettings, catalog: Catalog, *, busy_timeout_ms: int = 5000) -> None:
        self.settings = settings
        self.catalog = catalog
        self.busy_timeout_ms = busy_timeout_ms
        self._conns: dict[str, aiosqlite.Connection] = {}
        self.search: search.SearchUpserts | None = None
        self.album_events: notices.AlbumEvents | None = None
        self.ready_notices: notices.ReadyNotices | None = None

    async def open(self) -> None:
        """Open and check every configured file (CatalogSchemaError names what is missing:
        exit 3), including the queue, which the queue request source reads."""
        files = configured(self.settings)
        for key, path in files.items():
            self._conns[key] = await open_checked(key, path, busy_timeout_ms=self.busy_timeout_ms)
        if files and self.catalog.layout != "pezzottify":
            log.warning("pezzottify.files_unused", layout=self.catalog.layout,
                        hint="[pezzottify] files are written only with the pezzottify catalog layout")
            return
        if "search_db" in self._conns:
            self.search = search.SearchUpserts(self._conns["search_db"], self.catalog)
        if "server_db" in self._conns:
            self.album_events = notices.AlbumEvents(self._conns["server_db"])
        if "user_db" in self._conns:
            self.ready_notices = notices.ReadyNotices(self._conns["user_db"], self.catalog)

    def connection(self, key: str) -> aiosqlite.Connection | None:
        """The checked connection to one configured file (e.g. the queue, for its request
        source); it stays this object's to close."""
        return self._conns.get(key)

    def register(self, worker: OutboxWorker) -> None:
        if self.search is not None:
            worker.register(search.KIND, self.search.deliver)
        if self.album_events is not None:
            worker.register(notices.ALBUM_KIND, self.album_events.deliver)
        if self.ready_notices is not None:
            worker.register(notices.READY_KIND, self.ready_notices.deliver)

    def followups(self, key: str, album_id: str, outcome: ImportOutcome) -> list[NewItem]:
        """The outbox items of one finished import (none when nothing was imported)."""
        if not outcome.imported:
            return []
        # The same key imports again (a re-scan, QT retrying a completed ticket, `import
        # --reimport`): each import's items need ids of their own, or INSERT OR IGNORE drops
        # them against the first import's (delivered) ones.
        attempt = f"{key}:{hashlib.sha256(' '.join(sorted(outcome.imported)).encode()).hexdigest()[:16]}"
        items = []
        if self.search is not None:
            items.append(search.item(attempt, list(outcome.imported)))
        if self.album_events is not None:
            items.append(notices.album_item(attempt, album_id))
        return items

    async def close(self) -> None:
        for conn in self._conns.values():
            await conn.close()
        self._conns.clear()

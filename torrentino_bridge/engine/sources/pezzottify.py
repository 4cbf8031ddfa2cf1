"""Pezzottify's download queue as a request source.

Users ask for albums and tracks in the Pezzottify web and Android clients; the server puts
a PENDING row of content type ALBUM or TRACK_AUDIO in its download_queue.db and waits for a
worker. For each such row this source:
1. mirrors it into the ledger as a request (the request row and its link in one
   transaction), then claims it: IN_PROGRESS + DOWNLOAD_STARTED, as the server's ingestion
   does. A crash between the two is repaired by the next pull: the row is still PENDING and
   its request is open, so it is claimed again (no second request);
2. when the request ends, writes the outcome the way the server's ingestion does: COMPLETED
   (bytes, duration, errors cleared) or FAILED (error_type, a message users read), each with
   its audit row, and then completes every other active ALBUM row of a now complete album
   and every active TRACK_AUDIO row of a track now available. The link records what was
   written only after the queue write, and the queue writes are no-ops the second time, so
   a crash in between is repaired by writing again;
3. treats a row that is PENDING again after its request ended (an admin's retry in
   Pezzottify) as a new request (a new generation), and a row deleted while its request runs
   as a cancellation of that request (what only it waited for is released).
Rows of other content types are never touched.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import aiosqlite
import structlog

from ...domain.models import Availability
from ...domain.queue_outcome import TrackFate, failure_message, failure_type, ticket_priority
from ...domain.status import RequestStatus
from ...store.bridge import BridgeStore
from ...store.catalog import Catalog
from ...store.db import is_busy
from ...store.links import TERMINAL, Link, LinkStore, Mirror
from ...store.queue import ALBUM, PENDING, DownloadQueue, QueueRow

log = structlog.get_logger(__name__)

SOURCE = "pezzottify"
# Requested by the server itself (no user): shown as this user in the bridge.
SYSTEM_USER = "pezzottify"
# How often unreported outcomes are looked for even when nothing woke the source.
PUSH_INTERVAL_SECS = 5.0

# (request id, reason): cancel a mirrored request whose source row was deleted.
Release = Callable[[str, str], Awaitable[None]]
# Called inside the transaction that records a COMPLETED report, with the requester (the
# row's requested_by_user_id) and the album: e.g. to queue the user's "<album> is ready".
OnCompleted = Callable[[aiosqlite.Connection, Link, str | None, str], Awaitable[None]]


def request_id_for(queue_id: str, generation: int) -> str:
    """`pz-<row id>`, then `pz-<row id>~2`… for the generations an admin's retries make."""
    return f"pz-{queue_id}" if generation == 1 else f"pz-{queue_id}~{generation}"


class PezzottifyQueueSource:
    name = SOURCE

    def __init__(self, queue: DownloadQueue, store: BridgeStore, catalog: Catalog, *, media_root: Path,
                 default_priority: int, release: Release | None = None, on_completed: OnCompleted | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.queue = queue
        self.store = store
        self.links = LinkStore(store, SOURCE)
        self.catalog = catalog
        self.media_root = media_root
        self.default_priority = default_priority
        self.release = release
        self.on_completed = on_completed
        self.clock = clock
        self._seen: int | None = None
        self._dirty = True            # something to push (a mirrored request's status changed)
        self._pushed_at = 0.0

    def note_status(self, request_id: str, status: str) -> None:
        """RequestStatusUpdater's listener: a mirrored request reached a final status."""
        if request_id.startswith("pz-") and status in TERMINAL:
            self._dirty = True

    def _now(self) -> int:
        return int(self.clock())

    # -- the RequestSource steps -------------------------------------------------------------------
    async def changed(self) -> bool:
        if self._dirty or time.monotonic() - self._pushed_at >= PUSH_INTERVAL_SECS:
            return True
        return await self.queue.data_version() != self._seen

    async def pull(self) -> int:
        version = await self.queue.data_version()
        # Outcomes first: a row PENDING again after its request ended must be seen as ended.
        await self.push()
        taken, deferred = 0, None
        for row in await self.queue.pending():
            # One row must never hold up the rows after it (as the bridge table's intake).
            try:
                taken += await self._take(row)
            except sqlite3.OperationalError as err:
                if not is_busy(err):
                    raise
                deferred = err                  # locked for now: the next pass takes it
            except Exception as err:
                log.error("queue.row_untakeable", queue_id=row.id, error=repr(err))
                await self.queue.fail_unreadable(
                    row, self._now(), f"the request cannot be taken: {type(err).__name__}: {err}"[:500])
        await self._released()
        if deferred is not None:
            raise deferred
        self._seen = version
        return taken

    async def push(self) -> int:
        self._dirty = False
        self._pushed_at = time.monotonic()
        done = 0
        for link in await self.links.unreported():
            await self._report(link)
            done += 1
        return done

    # -- pull ---------------------------------------------------------------------------------------
    async def _take(self, row: QueueRow) -> int:
        bound = log.bind(queue_id=row.id, content_type=row.content_type, content_id=row.content_id)
        if row.problem is not None:
            message = f"the request cannot be read: {row.problem}"
            if await self.queue.fail_unreadable(row, self._now(), message):
                bound.warning("queue.row_unreadable", error=row.problem)
            return 0
        latest = await self.links.latest(row.id)
        if latest is not None and latest.status not in TERMINAL:
            # Its request is running: the claim was lost (a crash), or an admin set the row back
            # to PENDING meanwhile. Claim it again; the request goes on.
            await self._claim(row, latest.request_id, bound)
            return 0
        if latest is not None and latest.reported is None:
            # Ended, but PENDING again before the outcome was written: the outcome is stale.
            await self.links.mark_reported([latest.request_id], "superseded")
        generation = latest.generation + 1 if latest is not None else 1
        mirror = Mirror(
            request_id=request_id_for(row.id, generation), user_id=row.user_id or SYSTEM_USER,
            album_id=row.content_id if row.content_type == ALBUM else None,
            track_ids=None if row.content_type == ALBUM else (row.content_id,),
            priority=ticket_priority(row.priority, self.default_priority), source_id=row.id,
            generation=generation, kind=row.content_type, content_id=row.content_id,
        )
        try:
            await self.links.mirror(mirror)
        except sqlite3.IntegrityError:
            # The id is taken (a script wrote its own `pz-…` row): the same request, another id.
            mirror = replace(mirror, request_id=f"{mirror.request_id}~{uuid.uuid4().hex[:8]}")
            await self.links.mirror(mirror)
        request_id = mirror.request_id
        bound.info("queue.row_taken", request_id=request_id, generation=generation, user_id=row.user_id)
        await self._claim(row, request_id, bound)
        return 1

    async def _claim(self, row: QueueRow, request_id: str, bound: structlog.BoundLogger) -> None:
        now = self._now()
        if await self.queue.claim(row, now):
            await self.links.claimed(request_id, now)
            bound.info("queue.row_claimed", request_id=request_id)

    async def _released(self) -> None:
        """Running requests whose queue row was deleted in Pezzottify are cancelled."""
        running = await self.links.open()
        if not running:
            return
        present = await self.queue.statuses([link.source_id for link in running])
        for link in running:
            if link.source_id in present:
                continue
            log.info("queue.row_deleted", queue_id=link.source_id, request_id=link.request_id)
            if self.release is not None:
                await self.release(link.request_id, "deleted in Pezzottify")
            await self.links.mark_reported([link.request_id], "deleted")

    # -- push ----------------------------------------------------------------------------------------
    async def _report(self, link: Link) -> None:
        bound = log.bind(queue_id=link.source_id, request_id=link.request_id)
        if not link.latest:
            await self.links.mark_reported([link.request_id], "superseded")
            return
        status = RequestStatus(link.status)
        now = self._now()
        row = await self.queue.get(link.source_id)
        if row is not None and row.get("status") == PENDING:
            return     # an admin's retry came first: this outcome is stale (_take makes the next one)
        row = row or {}
        if status is RequestStatus.COMPLETED:
            size = await self._bytes_of(link.request_id)
            # From the claim (the row's started_at when a crash lost the link's own note).
            claimed = link.claimed_at or (row.get("started_at") if isinstance(row.get("started_at"), int) else now)
            duration_ms = max(0, (now - claimed) * 1000)
            await self.queue.complete(link.source_id, now, bytes_downloaded=size, duration_ms=duration_ms)
            album_id = await self._complete_fulfilled(link, now, size, duration_ms)

            async def also(conn: aiosqlite.Connection) -> None:
                if self.on_completed is not None and album_id is not None:
                    await self.on_completed(conn, link, row.get("requested_by_user_id"), album_id)

            await self.links.mark_reported([link.request_id], status.value, also)
            bound.info("queue.row_completed", bytes=size, duration_ms=duration_ms)
            return
        fates = await self._fates(link.request_id)
        error_type = failure_type(status, link.error, fates)
        message = failure_message(status, link.error)
        await self.queue.fail(link.source_id, now, error_type=error_type, message=message)
        await self.links.mark_reported([link.request_id], status.value)
        bound.info("queue.row_failed", error_type=error_type, error=message)

    async def _fates(self, request_id: str) -> list[TrackFate]:
        rows = await self.store.request_tracks(request_id)
        metas = await self.catalog.get_tracks([r["track_id"] for r in rows])
        return [TrackFate(
            available=(m := metas.get(r["track_id"])) is not None and m.availability is Availability.AVAILABLE,
            qt_state=r["qt_state"], error=r["track_error"] or r["submission_error"],
        ) for r in rows]

    async def _bytes_of(self, request_id: str) -> int:
        """The size of the request's files in the library (the server writes the upload's size)."""
        rows = await self.store.request_tracks(request_id)
        metas = await self.catalog.get_tracks([r["track_id"] for r in rows])
        total = 0
        for meta in metas.values():
            if meta.audio_uri:
                try:
                    total += os.stat(self.media_root / meta.audio_uri).st_size
                except OSError:
                    continue
        return total

    async def _complete_fulfilled(self, link: Link, now: int, size: int, duration_ms: int) -> str | None:
        """Like the server: every other active ALBUM row of the album completes with it; and
        every active TRACK_AUDIO row whose track is now available. Returns the album."""
        rows = await self.store.request_tracks(link.request_id)
        album_ids = sorted({r["album_id"] for r in rows})
        albums = await self.catalog.get_albums_tracks(album_ids)
        complete = [a for a, tracks in albums.items()
                    if tracks and all(t.availability is Availability.AVAILABLE for t in tracks)]
        available = [t.id for tracks in albums.values() for t in tracks if t.availability is Availability.AVAILABLE]
        for other in await self.queue.active_fulfilled(album_ids=complete, track_ids=available):
            if other["id"] == link.source_id or other["status"] == PENDING:
                continue        # PENDING rows are taken by pull (their request completes at once)
            if await self.queue.complete(other["id"], now, bytes_downloaded=size, duration_ms=duration_ms):
                log.info("queue.row_completed_with", queue_id=other["id"], by=link.source_id,
                         content_type=other["content_type"], content_id=other["content_id"])
        return album_ids[0] if album_ids else None

"""Intake: turn pending request rows into stored submissions and `fetching` tracks.

New rows are noticed through PRAGMA data_version (it changes when another connection
commits), so the table is scanned only when something was written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import uuid
from collections.abc import Awaitable, Callable

import structlog

from ..config import MediaSettings, Settings, TicketDefaults
from ..domain.availability import can_transition
from ..domain.models import AlbumMeta, Availability, TrackChange, TrackMeta
from ..domain.planning import RequestPlan, plan_request
from ..domain.requests import ParsedRequest, parse_request
from ..domain.status import RequestStatus
from ..domain.tickets import build_ticket
from ..errors import RequestRejected
from ..store.bridge import BridgeStore, NewSubmission, RequestRow
from ..store.catalog import Catalog
from ..tasks import PassGuard
from .requests import RequestStatusUpdater

log = structlog.get_logger(__name__)

# Checks a request must pass before planning, e.g. rate limits; raise RequestRejected.
Gate = Callable[[ParsedRequest], Awaitable[None]]


class Intake:
    def __init__(
        self,
        settings: Settings,
        store: BridgeStore,
        catalog: Catalog,
        statuses: RequestStatusUpdater,
        *,
        on_planned: Callable[[], None],
        gate: Gate | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.statuses = statuses
        self.on_planned = on_planned
        self.gate = gate
        self.wake = asyncio.Event()
        # Held while a request is planned: a cancel (engine/cancel.py) decides under it too.
        self.planning = asyncio.Lock()
        self.last_scan_at: float | None = None
        self.guard = PassGuard("intake")

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.settings.bridge.poll_interval_secs
        seen_version: int | None = None
        while not stop.is_set():
            version = await self.store.data_version()
            delay = 0.0
            if version != seen_version or self.wake.is_set():
                self.wake.clear()
                delay = await self.guard.run(self.run_once)
                if delay == 0.0:
                    seen_version = version
                # Writers elsewhere may also have queued work for the submitter.
                self.on_planned()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=max(interval, delay))

    async def run_once(self) -> int:
        """Plan every unplanned pending request; returns how many were handled."""
        handled = 0
        while True:
            rows = await self.store.unplanned_requests(limit=100)
            if not rows:
                break
            for row in rows:
                async with self.planning:
                    await self._handle(row)
                handled += 1
        self.last_scan_at = asyncio.get_running_loop().time()
        return handled

    async def _handle(self, row: RequestRow) -> None:
        bound = log.bind(request_id=row.id, user_id=row.user_id)
        try:
            parsed = parse_request(row.id, row.user_id, row.album_id, row.track_ids, row.priority)
            if self.gate is not None:
                await self.gate(parsed)
            tracks = await self._resolve(parsed)
            await self._plan(parsed, tracks, bound)
        except RequestRejected as err:
            bound.warning("request.rejected", error=str(err))
            await self.statuses.finish(row.id, RequestStatus.FAILED, str(err))

    async def _resolve(self, parsed: ParsedRequest) -> list[TrackMeta]:
        if parsed.album_id is not None:
            if await self.catalog.get_album(parsed.album_id) is None:
                raise RequestRejected(f"unknown album id: {parsed.album_id}")
            tracks = await self.catalog.get_album_tracks(parsed.album_id)
            if not tracks:
                raise RequestRejected(f"album {parsed.album_id} has no tracks in the catalog")
            return tracks
        found = await self.catalog.get_tracks(parsed.track_ids)
        unknown = [t for t in parsed.track_ids if t not in found]
        if unknown:
            shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            raise RequestRejected(f"unknown track ids: {shown}")
        return [found[t] for t in parsed.track_ids]

    async def _plan(self, parsed: ParsedRequest, tracks: list[TrackMeta], bound: structlog.BoundLogger) -> None:
        for attempt in range(3):
            live = await self.store.live_tracks([t.id for t in tracks])
            plan = plan_request(tracks, live)
            new = await self._new_submissions(parsed, plan)
            # Catalog first: if it is locked past every retry, nothing is recorded and the
            # next pass takes the whole request again. A crash right after is repaired at
            # start (stale `fetching` without a live ticket) and the request planned anew.
            await self._mark_fetching([t for batch in plan.new_batches.values() for t in batch])
            try:
                await self.store.record_plan(
                    parsed.request_id,
                    album_of={t.id: t.album_id for t in tracks},
                    attach=plan.attach,
                    satisfied=plan.satisfied,
                    new=new,
                )
                break
            except sqlite3.IntegrityError as err:
                # Another writer made one of these tracks live meanwhile: plan again.
                bound.info("request.replan", attempt=attempt, error=str(err))
        else:
            raise RequestRejected("could not plan the request: its tracks kept changing")

        for sub in new:
            bound.info("submission.planned", submission_id=sub.id, album_id=sub.album_id,
                       tracks=len(sub.track_ids))
        bound.info("request.planned", satisfied=len(plan.satisfied), attached=len(plan.attach),
                   new_tickets=len(new))
        await self.statuses.refresh_one(parsed.request_id)
        if new:
            self.on_planned()

    async def _new_submissions(self, parsed: ParsedRequest, plan: RequestPlan) -> list[NewSubmission]:
        media, defaults = self.settings.media, self.settings.torrentino.ticket
        priority = parsed.priority if parsed.priority > 0 else defaults.priority
        result = []
        for album_id, batch in plan.new_batches.items():
            album = await self.catalog.get_album(album_id)
            if album is None:
                raise RequestRejected(f"album {album_id} of the requested tracks is missing")
            result.append(new_submission(media, defaults, album, batch, priority))
        return result

    async def _mark_fetching(self, tracks: list[TrackMeta]) -> None:
        changes = [
            TrackChange(t.id, Availability.FETCHING)
            for t in tracks
            if t.availability is not Availability.FETCHING
            and can_transition(t.availability, Availability.FETCHING)
        ]
        await self.catalog.apply(changes)


def new_submission(media: MediaSettings, defaults: TicketDefaults, album: AlbumMeta,
                   tracks: list[TrackMeta], priority: int) -> NewSubmission:
    """One album batch as a submission: a fresh id, its unique dest_path and the ticket body."""
    sub_id = uuid.uuid4().hex
    leaf = f"tb-{sub_id}"
    dest_path = str(media.qt_incoming_path / leaf)
    body = build_ticket(album, tracks, defaults, dest_path=dest_path, priority=priority)
    return NewSubmission(
        id=sub_id, album_id=album.id, dest_path=dest_path, local_dir=str(media.incoming / leaf),
        body=json.dumps(body), priority=body["priority"], track_ids=tuple(t.id for t in tracks),
    )

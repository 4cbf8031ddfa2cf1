"""Intake: turn pending request rows into stored submissions and `fetching` tracks.

Requests reach the ledger (download_requests) from sources (engine/sources): rows written
straight into it, and rows mirrored from Pezzottify's download queue. Each pass asks every
source for what is new, plans every unplanned row, then lets the sources report outcomes.
Sources say cheaply whether anything changed (PRAGMA data_version changes when another
connection commits), so nothing is scanned while nothing happens.

A row the intake cannot read or parse (wrong types, text that is not UTF-8, malformed JSON)
fails with its reason and the rest go on; a row that meets a transient database error waits
for the next pass without holding up the rows after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Sequence

import structlog

from ..config import MediaSettings, Settings, TicketDefaults
from ..domain.availability import can_transition
from ..domain.models import AlbumMeta, Availability, TrackChange, TrackMeta
from ..domain.planning import RequestPlan, plan_request
from ..domain.requests import ParsedRequest, bad_text, parse_request
from ..domain.tickets import build_ticket
from ..errors import RequestRejected
from ..store.bridge import BridgeStore, NewSubmission, PendingRow
from ..store.catalog import Catalog
from ..tasks import PassGuard
from .requests import RequestStatusUpdater
from .sources import BridgeTableSource, RequestSource

log = structlog.get_logger(__name__)

class DeferredRequests(Exception):
    """Some rows met a transient database error (e.g. a locked catalog) and wait."""


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
        sources: Sequence[RequestSource] = (),
    ) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.statuses = statuses
        self.on_planned = on_planned
        self.gate = gate
        # The bridge's own table always; others (Pezzottify's queue) when configured.
        self.sources: list[RequestSource] = [BridgeTableSource(store), *sources]
        self._guards = {s.name: PassGuard(f"source:{s.name}") for s in self.sources}
        self.wake = asyncio.Event()
        # Held while a request is planned: a cancel (engine/cancel.py) decides under it too.
        self.planning = asyncio.Lock()
        self.last_scan_at: float | None = None
        self.guard = PassGuard("intake")

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.settings.bridge.poll_interval_secs
        again = True     # the first pass, and a pass after a failed one, runs whatever changed
        while not stop.is_set():
            changed = [await s.changed() for s in self.sources]
            delay = 0.0
            if again or any(changed) or self.wake.is_set():
                self.wake.clear()
                delay = await self.guard.run(self.run_once)
                again = delay > 0.0
                # Writers elsewhere may also have queued work for the submitter.
                self.on_planned()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=max(interval, delay))

    async def run_once(self) -> int:
        """Pull from every source, plan every unplanned request, push outcomes back; returns
        how many requests were planned or failed. A failing source is logged (once) and
        retried on the next pass; it never holds up the others."""
        failed = False
        for source in self.sources:
            failed |= await self._guards[source.name].run(source.pull) > 0
        handled, deferred = await self._plan_all()
        for source in self.sources:
            failed |= await self._guards[source.name].run(source.push) > 0
        self.last_scan_at = asyncio.get_running_loop().time()
        if deferred:
            # Every other row was handled; the pass counts as failed so it is retried with
            # backoff and the wait shows (logs, readiness).
            raise DeferredRequests(f"{len(deferred)} request(s) wait for a database: {deferred[-1]}")
        if failed:
            raise RuntimeError("a request source failed; see its worker.pass_failed log")
        return handled

    async def _plan_all(self) -> tuple[int, list[str]]:
        handled, deferred = 0, []
        waiting: set[int] = set()    # rows a transient error held back: next pass
        while True:
            rows = await self.store.unplanned_requests(limit=100, skip=waiting)
            if not rows:
                return handled, deferred
            for row in rows:
                async with self.planning:     # a request cancellation waits for this row's plan
                    error = await self._handle(row)
                if error is None:
                    handled += 1
                else:
                    waiting.add(row.rowid)
                    deferred.append(error)

    async def _handle(self, row: PendingRow) -> str | None:
        """Plan or fail one row; the error when a transient database error held it back."""
        shown = row.id if isinstance(row.id, str) and not bad_text(row.id) else ascii(row.id)
        bound = log.bind(request_id=shown, rowid=row.rowid)
        try:
            parsed = parse_request(row.id, row.user_id, row.album_id, row.track_ids, row.priority)  # type: ignore[arg-type]
            # Mirrored rows were admitted by their source (Pezzottify applies its own limits).
            if self.gate is not None and not row.mirrored:
                await self.gate(parsed)
            tracks = await self._resolve(parsed)
            await self._plan(parsed, tracks, bound)
        except RequestRejected as err:
            bound.warning("request.rejected", error=str(err))
            await self.statuses.fail_unplanned(row.rowid, row.id, str(err))
        except sqlite3.Error as err:
            # Locked or unreadable for now; the row keeps its place and the others go on.
            bound.debug("request.deferred", error=str(err))
            return str(err)
        except Exception as err:   # a row no rule foresaw must not stop every request after it
            bound.error("request.unprocessable", error=repr(err), exc_info=err)
            await self.statuses.fail_unplanned(row.rowid, row.id,
                                               f"the request could not be processed: {err!r}"[:500])
        return None

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
            album_live = await self.store.live_album_submissions(sorted({t.album_id for t in tracks}))
            plan = plan_request(tracks, live, album_live)
            new = await self._new_submissions(parsed, plan)
            # Catalog first: if it is locked past every retry, nothing is recorded and the
            # next pass takes the whole request again. A crash right after is repaired at
            # start (stale `fetching` without a live ticket) and the request planned anew.
            await self._mark_fetching([t for batch in plan.new_batches.values() for t in batch]
                                      + [t for t in tracks if t.id in plan.join])
            try:
                await self.store.record_plan(
                    parsed.request_id,
                    album_of={t.id: t.album_id for t in tracks},
                    attach=plan.attach,
                    satisfied=plan.satisfied,
                    new=new,
                    join=plan.join,
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
                   joined=len(plan.join), new_tickets=len(new))
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

"""The live feed: turns the engine's notes (sink.py) into hub events, in a task of its own.

The engine's calls only record what changed and wake the task; it reads what it needs from
the bridge database (who waits on a submission, a request's new status) and publishes.
Progress is coalesced per submission: at most one event per `interval` each, so a burst of
QT ticks costs one database read and one event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import structlog

from ..domain.status import LIVE_SUBMISSION_STATES
from ..store.audience import listeners
from ..store.bridge import BridgeStore
from .hub import EventHub

log = structlog.get_logger(__name__)

# How long who-waits-on-what is trusted without a change telling otherwise.
_AUDIENCE_TTL_SECS = 30.0


@dataclass(slots=True)
class ProgressNote:
    phase: str | None = None
    percent: float | None = None
    speed_bps: float | None = None
    eta_secs: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "percent": self.percent, "speed_bps": self.speed_bps, "eta_secs": self.eta_secs}


@dataclass(frozen=True, slots=True)
class Audience:
    ticket_id: str | None
    album_id: str
    users: dict[str, tuple[str, ...]]
    at: float

    @property
    def request_ids(self) -> list[str]:
        return sorted(r for ids in self.users.values() for r in ids)


class LiveFeed:
    """The engine's LiveSink, publishing into `hub`."""

    def __init__(self, hub: EventHub, store: BridgeStore, *, interval: float = 0.5) -> None:
        self.hub = hub
        self.store = store
        self.interval = interval
        self.latest: dict[str, ProgressNote] = {}      # submission id -> last progress (snapshots read it)
        self._due: set[str] = set()                    # submissions whose progress waits to be sent
        self._downloads: set[str] = set()
        self._requests: set[str] = set()
        self._audience: dict[str, Audience] = {}
        self._wake = asyncio.Event()
        self._streams = 0
        self._streams_done = asyncio.Event()
        self._streams_done.set()

    # -- LiveSink: no await, no I/O ------------------------------------------------------------
    def progress(self, submission_id: str, phase: str | None, percent: float | None,
                 speed_bps: float | None = None, eta_secs: float | None = None) -> None:
        note = self.latest.get(submission_id)
        if note is None:
            note = self.latest[submission_id] = ProgressNote()
        if phase and phase != note.phase:
            note.phase, note.speed_bps, note.eta_secs = phase, None, None   # speed/ETA were the last phase's
        if percent is not None:
            note.percent = percent
        if speed_bps is not None:
            note.speed_bps = speed_bps
        if eta_secs is not None:
            note.eta_secs = eta_secs
        self._due.add(submission_id)
        self._wake.set()

    def download_changed(self, submission_id: str) -> None:
        self._downloads.add(submission_id)
        self._audience.pop(submission_id, None)
        self._wake.set()

    def request_changed(self, request_id: str) -> None:
        self._requests.add(request_id)
        self._audience.clear()        # who waits on what may have changed; re-read when needed
        self._wake.set()

    # -- the task --------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            self._wake.clear()
            try:
                await self.publish_due()
            except Exception as err:   # a failed read loses one round of events, not the feed
                log.warning("live.publish_failed", error=repr(err))
            await asyncio.sleep(self.interval)

    async def publish_due(self) -> None:
        requests, self._requests = self._requests, set()
        downloads, self._downloads = self._downloads, set()
        due, self._due = self._due, set()
        # A download's change first: the requests' statuses follow from it.
        for submission_id in sorted(downloads):
            sub = await self.store.get_submission(submission_id)
            if sub is None:
                continue
            if sub.state not in LIVE_SUBMISSION_STATES:
                self.latest.pop(submission_id, None)
                due.discard(submission_id)
            audience = await self._audience_of(submission_id)
            self.hub.publish("download", {
                "submission_id": sub.id, "ticket_id": sub.ticket_id, "album_id": sub.album_id,
                "state": sub.state.value, "qt_state": sub.qt_state, "error": sub.error,
                "request_ids": audience.request_ids if audience else [],
            }, audience.users if audience else {})
        for request_id in sorted(requests):
            request = await self.store.get_request(request_id)
            if request is None or not isinstance(request.user_id, str):
                continue
            self.hub.publish("status", {
                "request_id": request.id, "user_id": request.user_id, "status": request.status,
                "error": request.error, "updated_at": request.updated_at, "finished_at": request.finished_at,
            }, {request.user_id: (request.id,)})
        for submission_id in sorted(due):
            note = self.latest.get(submission_id)
            audience = await self._audience_of(submission_id)
            if note is None or audience is None:
                continue
            self.hub.publish("progress", {
                "submission_id": submission_id, "ticket_id": audience.ticket_id, "album_id": audience.album_id,
                **note.as_dict(), "request_ids": audience.request_ids,
            }, audience.users)

    async def _audience_of(self, submission_id: str) -> Audience | None:
        known = self._audience.get(submission_id)
        if known is not None and time.monotonic() - known.at < _AUDIENCE_TTL_SECS:
            return known
        sub = await self.store.get_submission(submission_id)
        if sub is None:
            return None
        audience = Audience(sub.ticket_id, sub.album_id, await listeners(self.store, submission_id), time.monotonic())
        self._audience[submission_id] = audience
        return audience

    # -- streams (counted so shutdown can wait for them to end) -----------------------------------
    def stream_started(self) -> None:
        self._streams += 1
        self._streams_done.clear()

    def stream_ended(self) -> None:
        self._streams -= 1
        if self._streams <= 0:
            self._streams_done.set()

    @property
    def streams(self) -> int:
        return self._streams

    async def close(self, timeout: float = 3.0) -> None:
        """End every stream (their handlers return and finish the response) and wait for it."""
        self.hub.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._streams_done.wait(), timeout)

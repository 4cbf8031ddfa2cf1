"""Cancelling one request: the user's DELETE, or a request source withdrawing its row.

    outcome = await service.canceller.cancel_request(request_id, by="user", reason=None, user_id=None)

For each live submission the request waits on:
- no other open request waits on it: the download is given up: its tracks go back to
  unavailable, it ends `cancelled`, and the cancellation of its ticket is recorded (the
  durable outbox's `qt.cancel`) in the same transaction; the outbox sends it, again until QT
  confirms, so a QT that is down delays nothing and loses nothing;
- others wait on some of its tracks: the tracks only this request wanted are released
  (catalog first, then the bridge's rows, as everywhere) and the ticket goes on;
- it is being imported: it is left to finish.
Then the request is closed `cancelled` with `cancelled_by` (final: its status no longer
follows the tickets it shared). A request not planned yet is simply closed.

Locks, in this order: the submissions' own locks (the tracker holds one through an apply or
an import, which may take a while: waited for first), then the intake's planning lock, held
only for the decisions and the writes, so no request attaches to a download while its fate is
decided and no one's planning waits for QT or for an import.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import structlog

from ..domain.availability import can_transition
from ..domain.models import Availability, TrackChange
from ..domain.status import LIVE_SUBMISSION_STATES, TERMINAL_REQUEST_STATUSES, RequestStatus, SubmissionState
from ..store.bridge import BridgeStore, SubmissionRow
from ..store.cancel import close_cancelled, release_tracks, tracks_others_wait_for
from ..store.catalog import Catalog
from .actions import ActionError
from .locks import KeyedLocks
from .requests import RequestStatusUpdater

log = structlog.get_logger(__name__)

_TERMINAL = {s.value for s in TERMINAL_REQUEST_STATUSES}
_RELEASABLE = (SubmissionState.INTENT, SubmissionState.ACTIVE, SubmissionState.NEEDS_APPROVAL)


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    request_id: str
    status: str                                              # the request's status now
    cancelled_tickets: list[str] = field(default_factory=list)   # submission ids, their tickets cancelled
    released_tracks: list[str] = field(default_factory=list)     # tracks of shared tickets let go
    kept_tickets: list[str] = field(default_factory=list)        # submissions left to finish


# Gives a download up (under its lock): tracks released, the submission ended, the ticket's
# cancellation recorded in the outbox, one transaction for the bridge's rows (TicketTracker.give_up).
GiveUp = Callable[[SubmissionRow, str], Awaitable[None]]


class RequestCanceller:
    def __init__(self, store: BridgeStore, catalog: Catalog, statuses: RequestStatusUpdater,
                 locks: KeyedLocks, planning: asyncio.Lock, *, give_up: GiveUp,
                 wake_outbox: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.catalog = catalog
        self.statuses = statuses
        self.locks = locks
        self.planning = planning
        self.give_up = give_up
        self.wake_outbox = wake_outbox

    async def cancel_request(self, request_id: str, *, by: str, reason: str | None = None,
                             user_id: str | None = None) -> CancelOutcome:
        """Cancel one open request (see the module). `user_id`: only that user's request
        (another's is 404, as if unknown). ActionError: 404 unknown, 409 already finished."""
        why = reason or f"cancelled by the {by}"
        request = await self.store.get_request(request_id)
        if request is None or (user_id is not None and request.user_id != user_id):
            raise ActionError(f"no request {request_id[:200]}", status=404)
        subs = sorted(await self.store.submissions_of_request(request_id)) if request.planned_at else []
        async with AsyncExitStack() as held:
            for submission_id in subs:          # sorted: two cancellers never wait on each other
                await held.enter_async_context(self.locks.hold(submission_id))
            async with self.planning:
                request = await self.store.get_request(request_id)
                if request is None:
                    raise ActionError(f"no request {request_id[:200]}", status=404)
                if request.status in _TERMINAL:
                    raise ActionError(f"the request is already {request.status}")
                cancelled, released, kept = [], [], []
                if request.planned_at is not None:
                    for submission_id in await self.store.submissions_of_request(request_id):
                        done = await self._let_go(request_id, submission_id, why) \
                            if submission_id in subs else "kept"     # planned meanwhile: not locked
                        if done == "cancelled":
                            cancelled.append(submission_id)
                        elif done == "kept":
                            kept.append(submission_id)
                        elif isinstance(done, list):
                            released += done
                closed = await close_cancelled(self.store, request_id, by=by, reason=why)
        if cancelled:
            self.wake_outbox()
        if self.statuses.live is not None:
            self.statuses.live.request_changed(request_id)
        current = await self.store.get_request(request_id)
        status = current.status if current else RequestStatus.CANCELLED.value
        log.info("request.cancelled" if closed else "request.cancel_too_late", request_id=request_id, by=by,
                 status=status, cancelled_tickets=len(cancelled), released_tracks=len(released), kept=len(kept))
        return CancelOutcome(request_id, status, cancelled, released, kept)

    async def _let_go(self, request_id: str, submission_id: str, reason: str) -> str | list[str] | None:
        """Under the submission's lock and the planning lock: give the download up, or the
        tracks only this request wanted."""
        sub = await self.store.get_submission(submission_id)
        if sub is None or sub.state not in LIVE_SUBMISSION_STATES:
            return None
        if sub.state is SubmissionState.IMPORTING:
            return "kept"                     # its files are being placed: they become available
        others = await tracks_others_wait_for(self.store, submission_id, request_id)
        if not others:
            await self.give_up(sub, reason)
            return "cancelled"
        return await self._release_mine(submission_id, others)

    async def _release_mine(self, submission_id: str, others: set[str]) -> list[str]:
        sub = await self.store.get_submission(submission_id)
        if sub is None or sub.state not in _RELEASABLE:
            return []
        mine = [t.track_id for t in await self.store.submission_tracks(submission_id)
                if t.active and t.track_id not in others]
        metas = await self.catalog.get_tracks(mine)
        await self.catalog.apply([
            TrackChange(t, Availability.UNAVAILABLE) for t in mine
            if t in metas and metas[t].availability is not Availability.AVAILABLE
            and can_transition(metas[t].availability, Availability.UNAVAILABLE)
        ])
        return await release_tracks(self.store, submission_id, mine)

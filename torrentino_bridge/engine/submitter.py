"""Exactly-once ticket submission.

A submission row is committed in state `intent` before the POST, and `attempts` is
incremented before every POST. When attempts > 0, QT may already hold the ticket (the
daemon died after the POST, or a timeout hid the answer), so the submitter first looks
the ticket up by its unique dest_path and adopts it instead of posting again. A lookup
that cannot finish (QTLookupIncomplete) is as ambiguous as a lost answer: the intent waits
and is looked up again on a later pass, never posted on a partial scan.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import structlog

from ..domain.models import Availability, TrackChange
from ..domain.status import SubmissionState
from ..qt.client import TorrentinoClient
from ..qt.errors import QTAuthError, QTBadRequest, QTError, QTUnavailable
from ..qt.types import Ticket
from ..store.bridge import BridgeStore, SubmissionRow
from ..store.catalog import Catalog
from ..tasks import PassGuard
from .locks import KeyedLocks
from .requests import RequestStatusUpdater

log = structlog.get_logger(__name__)

OnTicket = Callable[[SubmissionRow, Ticket], Awaitable[None]]


class Submitter:
    def __init__(
        self,
        store: BridgeStore,
        catalog: Catalog,
        client: TorrentinoClient,
        statuses: RequestStatusUpdater,
        locks: KeyedLocks,
        *,
        on_ticket: OnTicket,
        on_submitted: Callable[[str], None] | None = None,
        max_backoff_secs: float = 60.0,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.client = client
        self.statuses = statuses
        self.locks = locks
        self.on_ticket = on_ticket
        self.on_submitted = on_submitted or (lambda how: None)
        self.max_backoff_secs = max_backoff_secs
        self.wake = asyncio.Event()
        self.guard = PassGuard("submitter")
        self.blocked_reason: str | None = None   # why intents are waiting, for readiness/logs

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            self.wake.clear()
            ok = False

            async def one_pass() -> None:
                nonlocal ok
                ok = await self.submit_pending()

            await self.guard.run(one_pass)
            backoff = 1.0 if ok else min(backoff * 2, self.max_backoff_secs)
            waiter = asyncio.ensure_future(self.wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({waiter, stopper}, timeout=None if ok else backoff,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                stopper.cancel()

    async def submit_pending(self) -> bool:
        """Submit every intent, highest priority first. False when QT could not be reached."""
        intents = await self.store.submissions([SubmissionState.INTENT])
        intents.sort(key=lambda s: (-s.priority, s.created_at))
        for sub in intents:
            if not await self.submit(sub):
                return False
        return True

    async def submit(self, sub: SubmissionRow) -> bool:
        bound = log.bind(submission_id=sub.id, album_id=sub.album_id)
        async with self.locks.hold(sub.id):
            current = await self.store.get_submission(sub.id)
            if current is None or current.state is not SubmissionState.INTENT:
                return True
            try:
                ticket, how = await self._post_once(current)
            except QTBadRequest as err:
                # QT refuses the body itself: retrying cannot help; the tracks fail visibly.
                bound.error("submission.refused", error=err.message, status=err.status)
                await self._refuse(current, f"Quentin Torrentino refused the ticket: {err.message}")
                return True
            except (QTAuthError, QTUnavailable, QTError) as err:
                await self._blocked(current, err)
                return False
            await self.store.mark_submitted(current.id, ticket.id, ticket.state.type)
            self.on_submitted(how)
            if self.blocked_reason is not None:
                # QT took one: the block is over (said before the ticket's own work, which may
                # be a whole import when the ticket is found already completed).
                log.info("qt.submissions_resumed")
                self.blocked_reason = None
            bound.info("ticket.submitted", ticket_id=ticket.id, how=how, qt_state=ticket.state.type)
        # Apply the ticket's current state outside the submit lock (the handler takes it).
        refreshed = await self.store.get_submission(sub.id)
        if refreshed is not None:
            await self.on_ticket(refreshed, ticket)
            await self.statuses.refresh(await self.store.requests_of_submission(sub.id))
        return True

    async def _post_once(self, sub: SubmissionRow) -> tuple[Ticket, str]:
        if sub.attempts > 0:
            existing = await self.client.find_by_dest_path(sub.dest_path)
            if existing is not None:
                return existing, "adopted"
        await self.store.begin_attempt(sub.id)
        try:
            return await self.client.create_ticket(json.loads(sub.body)), "created"
        except QTUnavailable as err:
            if not err.ambiguous:
                raise
            # The POST may have reached QT: look before anyone posts again.
            existing = await self.client.find_by_dest_path(sub.dest_path)
            if existing is not None:
                return existing, "adopted"
            raise

    async def _blocked(self, sub: SubmissionRow, err: QTError) -> None:
        if isinstance(err, QTAuthError):
            reason = (f"waiting for Quentin Torrentino: it refused the token ({err.status}); "
                      "check torrentino.auth_token")
        else:
            reason = f"waiting for Quentin Torrentino: {err.message or type(err).__name__}"
        if reason != self.blocked_reason:
            log.error("qt.submissions_blocked", reason=reason, submission_id=sub.id)
            self.blocked_reason = reason
        await self.store.note_submit_error(sub.id, reason)
        await self.store.note_request_waiting(await self.store.requests_of_submission(sub.id), reason)

    async def _refuse(self, sub: SubmissionRow, reason: str) -> None:
        tracks = [t for t in await self.store.submission_tracks(sub.id) if t.active]
        metas = await self.catalog.get_tracks([t.track_id for t in tracks])
        await self.catalog.apply([
            TrackChange(t.track_id, Availability.FETCH_ERROR)
            for t in tracks
            if t.track_id in metas and metas[t.track_id].availability is not Availability.AVAILABLE
        ])
        await self.store.close_submission(
            sub.id, SubmissionState.FAILED, error=reason,
            outcomes={t.track_id: ("error", None, reason) for t in tracks},
        )
        await self.statuses.refresh(await self.store.requests_of_submission(sub.id))

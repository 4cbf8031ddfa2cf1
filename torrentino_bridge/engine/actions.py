"""Operator actions on downloads: approve, reject, retry, cancel.

Each goes through QT first; QT's answer is applied through the tracker, so the catalog
and the requests change exactly as they would had the event come over the socket.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from ..config import Settings
from ..domain.models import Availability, TrackChange
from ..domain.status import LIVE_SUBMISSION_STATES, RELEASING_STATES, SubmissionState
from ..qt.client import TorrentinoClient
from ..qt.types import RETRYABLE_FROM, Ticket
from ..store.bridge import BridgeStore, SubmissionRow
from ..store.catalog import Catalog
from ..store.searches import is_replaced
from .approvals import qt_candidate_index
from .intake import new_submission
from .locks import KeyedLocks
from .requests import RequestStatusUpdater
from .tracker import TicketTracker

log = structlog.get_logger(__name__)


class ActionError(Exception):
    """An action that cannot be done; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class RetryResult:
    qt_retried: list[str]        # submission ids retried through QT
    resubmitted: list[str]       # new submission ids for tracks QT cannot retry


class Actions:
    def __init__(self, settings: Settings, store: BridgeStore, catalog: Catalog, client: TorrentinoClient,
                 tracker: TicketTracker, statuses: RequestStatusUpdater, locks: KeyedLocks) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.client = client
        self.tracker = tracker
        self.statuses = statuses
        self.locks = locks

    async def _by_ticket(self, ticket_id: str) -> SubmissionRow:
        sub = await self.store.submission_by_ticket(ticket_id)
        if sub is None:
            sub = await self.store.get_submission(ticket_id)  # a submission id works too
        if sub is None:
            raise ActionError(f"no download with ticket id {ticket_id}", status=404)
        return sub

    async def _accepted(self, ticket_id: str) -> tuple[SubmissionRow, str]:
        sub = await self._by_ticket(ticket_id)
        if sub.ticket_id is None:
            raise ActionError("the ticket has not been accepted by Quentin Torrentino yet")
        return sub, sub.ticket_id

    async def _applied(self, sub: SubmissionRow, ticket: Ticket) -> SubmissionRow:
        await self.tracker.apply(sub, ticket)
        return await self.store.get_submission(sub.id) or sub

    async def approve(self, ticket_id: str, candidate_idx: int | None = None) -> SubmissionRow:
        """`candidate_idx` indexes the bridge's (bounded) candidate list; QT gets its own index."""
        sub, qt_id = await self._accepted(ticket_id)
        qt_idx = qt_candidate_index(sub.details_json, candidate_idx)
        ticket = await self.client.approve(qt_id, qt_idx)
        log.info("ticket.approved", ticket_id=qt_id, submission_id=sub.id, candidate_idx=candidate_idx,
                 qt_candidate_idx=qt_idx)
        return await self._applied(sub, ticket)

    async def reject(self, ticket_id: str, reason: str | None = None) -> SubmissionRow:
        sub, qt_id = await self._accepted(ticket_id)
        ticket = await self.client.reject(qt_id, reason)
        log.info("ticket.rejected", ticket_id=qt_id, submission_id=sub.id, reason=reason)
        return await self._applied(sub, ticket)

    async def cancel(self, ticket_id: str, reason: str | None = None) -> SubmissionRow:
        sub = await self._by_ticket(ticket_id)
        if sub.state not in LIVE_SUBMISSION_STATES:
            raise ActionError(f"the download is already {sub.state.value}")
        if sub.state is SubmissionState.IMPORTING:
            raise ActionError("the download is being imported; it can no longer be cancelled")
        if sub.ticket_id is None:
            async with self.locks.hold(sub.id):
                current = await self.store.get_submission(sub.id)
                if current is not None and current.state is SubmissionState.INTENT:
                    await self._release_intent(current, reason or "cancelled before submission")
                    return await self.store.get_submission(sub.id) or sub
            sub = await self.store.get_submission(sub.id) or sub
        if sub.ticket_id is None:
            raise ActionError("the ticket is being submitted; try again in a moment")
        ticket = await self.client.cancel(sub.ticket_id, reason)
        log.info("ticket.cancelled", ticket_id=sub.ticket_id, submission_id=sub.id, reason=reason)
        return await self._applied(sub, ticket)

    async def _release_intent(self, sub: SubmissionRow, reason: str) -> None:
        tracks = [t for t in await self.store.submission_tracks(sub.id) if t.active]
        metas = await self.catalog.get_tracks([t.track_id for t in tracks])
        await self.catalog.apply([
            TrackChange(t.track_id, Availability.UNAVAILABLE) for t in tracks
            if t.track_id in metas and metas[t.track_id].availability is not Availability.AVAILABLE
        ])
        await self.store.close_submission(
            sub.id, SubmissionState.CANCELLED, error=reason,
            outcomes={t.track_id: ("released", None, None) for t in tracks},
        )
        await self.statuses.refresh(await self.store.requests_of_submission(sub.id))

    async def retry_ticket(self, ticket_id: str) -> RetryResult:
        return await self._retry([await self._by_ticket(ticket_id)])

    async def retry_request(self, request_id: str) -> RetryResult:
        request = await self.store.get_request(request_id)
        if request is None:
            raise ActionError(f"no request {request_id}", status=404)
        subs = [s for s in [await self.store.get_submission(i)
                            for i in await self.store.submissions_of_request(request_id)] if s]
        if not subs:
            raise ActionError(f"request {request_id} has nothing to retry ({request.status})")
        return await self._retry(subs)

    async def _retry(self, subs: list[SubmissionRow]) -> RetryResult:
        qt_retried, resubmitted = [], []
        for sub in subs:
            if sub.state in LIVE_SUBMISSION_STATES:
                continue
            if await is_replaced(self.store, sub.id):
                continue   # a force-search took its tracks over: retry that download instead
            failed_tracks = [t for t in await self.store.submission_tracks(sub.id)
                             if not t.active and t.outcome != "imported"]
            if not failed_tracks:
                continue
            retry_in_qt = (
                sub.ticket_id is not None
                and sub.qt_state in RETRYABLE_FROM
                and (sub.state is SubmissionState.FAILED or sub.state in RELEASING_STATES)
            )
            if retry_in_qt:
                assert sub.ticket_id is not None
                ticket = await self.client.retry(sub.ticket_id)
                log.info("ticket.retried", ticket_id=sub.ticket_id, submission_id=sub.id)
                await self.tracker.apply(sub, ticket)
                qt_retried.append(sub.id)
            else:
                new_id = await self._resubmit(sub, [t.track_id for t in failed_tracks])
                if new_id:
                    resubmitted.append(new_id)
        if not qt_retried and not resubmitted:
            raise ActionError("nothing to retry: no failed, rejected or cancelled tracks")
        return RetryResult(qt_retried, resubmitted)

    async def _resubmit(self, old: SubmissionRow, track_ids: list[str]) -> str | None:
        """A new ticket for tracks QT cannot retry (e.g. missing from a completed download)."""
        metas = await self.catalog.get_tracks(track_ids)
        live = await self.store.live_tracks(track_ids)
        wanted = [metas[t] for t in track_ids
                  if t in metas and t not in live and metas[t].availability is not Availability.AVAILABLE]
        album = await self.catalog.get_album(old.album_id)
        if not wanted or album is None:
            return None
        sub = new_submission(self.settings.media, self.settings.torrentino.ticket, album, wanted,
                             old.priority)
        sub_id = sub.id
        await self.store.add_submission(sub)
        await self.store.relink_request_tracks(old.id, sub_id, [t.id for t in wanted])
        await self.catalog.apply([TrackChange(t.id, Availability.FETCHING) for t in wanted])
        await self.statuses.refresh(await self.store.requests_of_submission(sub_id))
        log.info("submission.resubmitted", submission_id=sub_id, previous=old.id, tracks=len(wanted))
        return sub_id

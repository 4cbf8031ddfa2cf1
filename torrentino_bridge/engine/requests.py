"""Keeping each request's status true to its tracks and submissions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import structlog

from ..domain.models import Availability
from ..domain.requests import bad_text
from ..domain.status import RequestItem, RequestStatus, SubmissionState, request_status
from ..metrics import Metrics
from ..store.bridge import BridgeStore
from ..store.catalog import Catalog
from ..store.outbox import NewItem

if TYPE_CHECKING:
    from ..live.sink import LiveSink
    from ..notify import Notices

log = structlog.get_logger(__name__)

# Told (request id, new status) after a request's status changed; must not block or raise.
StatusListener = Callable[[str, str], None]


class RequestStatusUpdater:
    def __init__(self, store: BridgeStore, catalog: Catalog, metrics: Metrics, *,
                 notices: Notices | None = None, live: LiveSink | None = None) -> None:
        self.store = store
        self.catalog = catalog
        self.metrics = metrics
        self.listeners: list[StatusListener] = []
        self.notices = notices          # a `completed` notification per request
        self.live = live                # status events for the users' and admins' streams

    async def refresh(self, request_ids: Iterable[str]) -> None:
        for request_id in dict.fromkeys(request_ids):
            await self.refresh_one(request_id)

    async def refresh_one(self, request_id: str) -> RequestStatus | None:
        request = await self.store.get_request(request_id)
        if request is None or request.planned_at is None:
            return None
        if request.cancelled_by is not None:
            return RequestStatus(request.status)   # cancelled on purpose: final (see 0007)
        rows = await self.store.request_tracks(request_id)
        tracks = await self.catalog.get_tracks([r["track_id"] for r in rows])
        items = []
        for row in rows:
            meta = tracks.get(row["track_id"])
            available = row["submission_id"] is None or (
                meta is not None and meta.availability is Availability.AVAILABLE
            )
            label = f"{meta.track_number} {meta.name}" if meta else row["track_id"]
            state = SubmissionState(row["submission_state"]) if row["submission_state"] else None
            items.append(RequestItem(
                track_id=row["track_id"], label=label, available=available, submission_state=state,
                error=row["track_error"] or row["submission_error"],
            ))
        status, error = request_status(items)
        if request.status == "pending" and status is RequestStatus.PENDING:
            return status  # keep the "waiting for QT" note the submitter wrote
        outbox: list[NewItem] = []
        if status is RequestStatus.COMPLETED and request.status != status.value and self.notices is not None:
            outbox = self.notices.completed(request, tracks=len(rows),
                                            downloaded=sum(1 for r in rows if r["submission_id"] is not None))
        changed = await self.store.set_request_status(request_id, status, error, outbox=outbox)
        if changed and self.live is not None:
            self.live.request_changed(request_id)
        if changed and status.value != request.status:
            self.metrics.requests.labels(status.value).inc()
            log.info("request.status", request_id=request_id, status=status.value,
                     previous=request.status, error=error)
            for listener in self.listeners:
                try:
                    listener(request_id, status.value)
                except Exception:   # a listener's bug must not stop status updates
                    log.exception("request.listener_failed", request_id=request_id)
        return status

    async def fail_unplanned(self, rowid: int, request_id: object, error: str) -> None:
        """Fail a row the intake could not take (invalid, unreadable, rate limited), and say so."""
        await self.store.fail_unplanned(rowid, error)
        if self.live is not None and isinstance(request_id, str) and not bad_text(request_id):
            self.live.request_changed(request_id)

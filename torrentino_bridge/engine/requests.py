"""Keeping each request's status true to its tracks and submissions."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import structlog

from ..domain.models import Availability
from ..domain.status import RequestItem, RequestStatus, SubmissionState, request_status
from ..metrics import Metrics
from ..store.bridge import BridgeStore
from ..store.catalog import Catalog

log = structlog.get_logger(__name__)

# Told (request id, new status) after a request's status changed; must not block or raise.
StatusListener = Callable[[str, str], None]


class RequestStatusUpdater:
    def __init__(self, store: BridgeStore, catalog: Catalog, metrics: Metrics) -> None:
        self.store = store
        self.catalog = catalog
        self.metrics = metrics
        self.listeners: list[StatusListener] = []

    async def refresh(self, request_ids: Iterable[str]) -> None:
        for request_id in dict.fromkeys(request_ids):
            await self.refresh_one(request_id)

    async def refresh_one(self, request_id: str) -> RequestStatus | None:
        request = await self.store.get_request(request_id)
        if request is None or request.planned_at is None:
            return None
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
        changed = await self.store.set_request_status(request_id, status, error)
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

"""What a stream sends first (and when it cannot resume): the current state, in one event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..domain.status import LIVE_SUBMISSION_STATES
from ..store.audience import live_submissions_of_user
from ..store.bridge import SubmissionRow

if TYPE_CHECKING:
    from ..service import BridgeService

USER_SNAPSHOT_REQUESTS = 50
ADMIN_SNAPSHOT_DOWNLOADS = 500


def _download(service: BridgeService, sub: SubmissionRow) -> dict[str, Any]:
    note = service.live.latest.get(sub.id)
    return {
        "submission_id": sub.id, "ticket_id": sub.ticket_id, "album_id": sub.album_id,
        "state": sub.state.value, "qt_state": sub.qt_state, "error": sub.error,
        "phase": (note.phase if note and note.phase else sub.phase),
        "percent": (note.percent if note and note.percent is not None else sub.progress),
        "speed_bps": note.speed_bps if note else None, "eta_secs": note.eta_secs if note else None,
    }


async def user_snapshot(service: BridgeService, user_id: str) -> dict[str, Any]:
    """The user's newest requests, each with its live downloads."""
    store = service.store
    waiting = await live_submissions_of_user(store, user_id)
    downloads: dict[str, list[dict[str, Any]]] = {}
    for submission_id, request_ids in waiting.items():
        sub = await store.get_submission(submission_id)
        if sub is None or sub.state not in LIVE_SUBMISSION_STATES:
            continue
        shown = _download(service, sub)
        for request_id in request_ids:
            downloads.setdefault(request_id, []).append(shown)
    requests = await store.list_requests(user_id=user_id, limit=USER_SNAPSHOT_REQUESTS)
    return {"requests": [
        {"request_id": r.id, "status": r.status, "error": r.error, "updated_at": r.updated_at,
         "finished_at": r.finished_at, "downloads": downloads.get(r.id, [])}
        for r in requests
    ]}


async def admin_snapshot(service: BridgeService) -> dict[str, Any]:
    """Every live download (the admin page refreshes its lists when it gets this)."""
    subs = await service.store.submissions(LIVE_SUBMISSION_STATES, limit=ADMIN_SNAPSHOT_DOWNLOADS)
    return {"downloads": [_download(service, s) for s in subs]}

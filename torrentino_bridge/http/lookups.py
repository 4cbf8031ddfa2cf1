"""Lookups the views share: a download by id (404 otherwise) and its JSON form."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..domain.searches import search_of
from ..domain.status import LIVE_SUBMISSION_STATES, SubmissionState
from ..reporting import track_state
from ..store.bridge import BridgeStore, SubmissionRow
from ..store.searches import SearchStore
from .errors import ApiError

if TYPE_CHECKING:
    from ..service import BridgeService

# What GET /v1/admin/downloads lists unless ?state= says otherwise.
DEFAULT_STATES = (SubmissionState.INTENT, SubmissionState.ACTIVE, SubmissionState.NEEDS_APPROVAL,
                  SubmissionState.IMPORTING, SubmissionState.FAILED)
_LIVE = {s.value for s in LIVE_SUBMISSION_STATES}


def parse_states(raw: str | None) -> list[SubmissionState] | None:
    """?state=a,b -> states; "all" -> None (every state); absent -> the default set."""
    if raw is None or not raw.strip():
        return list(DEFAULT_STATES)
    if raw.strip() == "all":
        return None
    states = []
    for part in raw.split(","):
        try:
            states.append(SubmissionState(part.strip()))
        except ValueError:
            known = ", ".join(s.value for s in SubmissionState)
            raise ApiError(400, f"unknown state {part.strip()[:50]!r}; one of: {known}, all") from None
    return states


def parse_offset(raw: str | None, *, maximum: int = 1_000_000) -> int:
    if raw is None:
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"offset must be an integer, got {raw[:50]!r}") from None
    if not 0 <= value <= maximum:
        raise ApiError(400, f"offset must be between 0 and {maximum}")
    return value


def parse_limit(raw: str | None, *, default: int, maximum: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"limit must be an integer, got {raw[:50]!r}") from None
    if not 1 <= value <= maximum:
        raise ApiError(400, f"limit must be between 1 and {maximum}")
    return value


async def find_download(service: BridgeService, ticket_id: str) -> SubmissionRow:
    """A submission by QT ticket id, or by the bridge's own submission id."""
    sub = await service.store.submission_by_ticket(ticket_id)
    if sub is None:
        sub = await service.store.get_submission(ticket_id)
    if sub is None:
        raise ApiError(404, f"no download with ticket id {ticket_id[:200]}")
    return sub


def _progress(service: BridgeService, sub: SubmissionRow) -> tuple[float | None, str | None]:
    live = service.tracker.progress.get(sub.id)   # fresher than the row, written at intervals
    if live is not None and sub.state.value in _LIVE:
        return (live.percent if live.percent is not None else sub.progress), live.phase or sub.phase
    return sub.progress, sub.phase


def candidates_of(sub: SubmissionRow) -> list[dict[str, Any]]:
    details = sub.details_json
    out = []
    for idx, c in enumerate(details.get("candidates") or []):
        if not isinstance(c, dict):
            continue
        out.append({
            "index": idx, "title": c.get("title"), "score": c.get("score"), "seeders": c.get("seeders"),
            "size_bytes": c.get("size_bytes"), "reasoning": c.get("reasoning"), "info_hash": c.get("info_hash"),
            "qt_index": c.get("qt_index", idx),
        })
    return out


async def describe_download(service: BridgeService, sub: SubmissionRow, *, detailed: bool = False) -> dict[str, Any]:
    album = await service.catalog.get_album(sub.album_id)
    sub_tracks = await service.store.submission_tracks(sub.id)
    metas = await service.catalog.get_tracks([t.track_id for t in sub_tracks])
    tracks = []
    for t in sub_tracks:
        meta = metas.get(t.track_id)
        row = {"active": t.active, "submission_state": sub.state.value, "outcome": t.outcome}
        tracks.append({
            "track_id": t.track_id,
            "title": meta.name if meta else None,
            "disc_number": meta.disc_number if meta else None,
            "track_number": meta.track_number if meta else None,
            "availability": track_state(service.catalog, meta.availability, row) if meta else "unknown",
            "outcome": t.outcome,
            "error": t.error,
        })
    tracks.sort(key=lambda t: (t["disc_number"] or 0, t["track_number"] or 0, t["track_id"]))
    requests = []
    for request_id in await service.store.requests_of_submission(sub.id):
        request = await service.store.get_request(request_id)
        if request is not None:
            requests.append({"request_id": request.id, "user_id": request.user_id, "status": request.status})
    progress, phase = _progress(service, sub)
    details = sub.details_json
    data: dict[str, Any] = {
        "ticket_id": sub.ticket_id,
        "submission_id": sub.id,
        "state": sub.state.value,
        "qt_state": sub.qt_state,
        "phase": phase,
        "progress": progress,
        "error": sub.error,
        "album": {"id": sub.album_id, "name": album.name if album else None,
                  "artist": album.artist if album else None, "year": album.year if album else None},
        "tracks": tracks,
        "requests": requests,
        "candidate_count": details.get("candidate_count", len(details.get("candidates") or [])),
        "created_at": sub.created_at,
        "updated_at": sub.updated_at,
        "finished_at": sub.finished_at,
        **await search_fields(service.store, sub),
    }
    if detailed:
        data.update({
            "candidates": candidates_of(sub),
            "recommended_idx": details.get("recommended_idx"),
            "confidence": details.get("confidence"),
            "priority": sub.priority,
            "dest_path": sub.dest_path,
            "attempts": sub.attempts,
            "retryable": details.get("retryable"),
        })
    return data


async def search_fields(store: BridgeStore, sub: SubmissionRow) -> dict[str, Any]:
    """What a download searches for (the admin page pre-fills its force-search box with it),
    and the force-searches linking it to other downloads."""
    searches = SearchStore(store)
    made_by = await searches.search_of(sub.id)
    replaced = await searches.replaced_by(sub.id)
    try:
        query = search_of(json.loads(sub.body))
    except ValueError:
        query = search_of({})
    return {"query": query, "replaces": made_by.replaces if made_by else None,
            "replaced_by": replaced.submission_id if replaced else None}

"""The user API, called by the catalog server on behalf of one user (service token + X-User-Id)."""

from __future__ import annotations

import json
import uuid

from aiohttp import web

from ...domain.requests import parse_request
from ...domain.status import RequestStatus
from ...errors import RequestRejected
from ...reporting import request_report
from ...store.bridge import RequestRow
from ...store.user_requests import page_of_user
from ..bodies import DownloadRequestBody, ReasonBody, read_body
from ..errors import ApiError
from ..keys import SERVICE, USER_ID
from ..lookups import parse_limit, parse_offset

_SHOWN_UNKNOWN = 10


async def request_download(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    user_id = request[USER_ID]
    body = await read_body(request, DownloadRequestBody)
    request_id = uuid.uuid4().hex
    track_ids = json.dumps(body.track_ids) if body.track_ids is not None else None
    try:
        parsed = parse_request(request_id, user_id, body.album_id, track_ids, 0)
    except RequestRejected as err:
        raise ApiError(400, str(err)) from None
    # The intake would fail a row for unknown ids; saying so now spares the caller a poll.
    if parsed.album_id is not None:
        if await service.catalog.get_album(parsed.album_id) is None:
            raise ApiError(404, f"unknown album id: {parsed.album_id}")
    else:
        found = await service.catalog.get_tracks(parsed.track_ids)
        unknown = [t for t in parsed.track_ids if t not in found]
        if unknown:
            shown = ", ".join(unknown[:_SHOWN_UNKNOWN])
            more = f" and {len(unknown) - _SHOWN_UNKNOWN} more" if len(unknown) > _SHOWN_UNKNOWN else ""
            raise ApiError(404, f"unknown track ids: {shown}{more}", unknown_track_ids=unknown)
    limiter = service.limiter
    async with limiter.admitting(user_id):
        verdict = await limiter.check(user_id)
        if not verdict.allowed:
            raise ApiError(429, f"rate limited: {verdict.message}", limit=verdict.limit,
                           retry_after=verdict.retry_after,
                           headers={"Retry-After": str(verdict.retry_after)})
        await service.store.insert_request(request_id, user_id, album_id=parsed.album_id,
                                           track_ids=list(parsed.track_ids) if parsed.track_ids else None)
    service.intake.wake.set()
    return web.json_response({"request_id": request_id, "status": RequestStatus.PENDING.value}, status=202)


async def list_requests(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    user_id = request[USER_ID]
    limit = parse_limit(request.query.get("limit"), default=50, maximum=200)
    offset = parse_offset(request.query.get("offset"))
    statuses = None
    raw = request.query.get("status")
    if raw:
        statuses = [s.strip() for s in raw.split(",")]
        known = {s.value for s in RequestStatus}
        bad = [s for s in statuses if s not in known]
        if bad:
            raise ApiError(400, f"unknown status {bad[0][:50]!r}; one of: {', '.join(sorted(known))}")
    rows, total = await page_of_user(service.store, user_id, statuses=statuses, limit=limit, offset=offset)
    reports = [await request_report(service.store, service.catalog, r) for r in rows]
    return web.json_response({"user_id": user_id, "requests": [r for r in reports if r is not None],
                              "limit": limit, "offset": offset, "total": total})


async def _own(request: web.Request) -> RequestRow:
    """The request named in the path if it is the caller's; another user's is 404 like an unknown one."""
    row = await request.app[SERVICE].store.get_request(request.match_info["request_id"])
    if row is None or row.user_id != request[USER_ID]:
        raise ApiError(404, f"no request {request.match_info['request_id'][:200]} for this user")
    return row


async def get_request(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    row = await _own(request)
    return web.json_response(await request_report(service.store, service.catalog, row))


async def cancel_request(request: web.Request) -> web.Response:
    """Cancel one's own request while it is open (409 once finished): tracks nobody else
    waits for are released, a ticket nobody else needs is cancelled (engine/cancel.py)."""
    service = request.app[SERVICE]
    row = await _own(request)
    body = await read_body(request, ReasonBody, optional=True)
    outcome = await service.canceller.cancel_request(row.id, by="user", reason=body.reason or None,
                                                     user_id=request[USER_ID])
    if outcome.status != RequestStatus.CANCELLED.value:
        raise ApiError(409, f"the request {outcome.status} before it could be cancelled")
    report = await request_report(service.store, service.catalog, row.id)
    return web.json_response({**(report or {}), "cancelled_tickets": len(outcome.cancelled_tickets),
                              "released_tracks": len(outcome.released_tracks)})

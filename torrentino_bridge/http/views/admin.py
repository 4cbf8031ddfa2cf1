"""The admin API: downloads (list, details, approve, reject, retry, cancel) and per-user limits."""

from __future__ import annotations

from aiohttp import web

from ...store.history import page_submissions
from ..auth import check_user_id
from ..bodies import ApproveBody, EmptyBody, LimitsBody, ReasonBody, read_body
from ..errors import ApiError
from ..keys import SERVICE
from ..lookups import candidates_of, describe_download, find_download, parse_limit, parse_offset, parse_states


async def list_downloads(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    states = parse_states(request.query.get("state"))
    limit = parse_limit(request.query.get("limit"), default=100, maximum=500)
    offset = parse_offset(request.query.get("offset"))
    page = await page_submissions(service.store, states, limit=limit, offset=offset)
    return web.json_response({"downloads": [await describe_download(service, s) for s in page.rows],
                              "total": page.total, "limit": limit, "offset": offset})


async def get_download(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    sub = await find_download(service, request.match_info["ticket_id"])
    return web.json_response(await describe_download(service, sub, detailed=True))


async def approve(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    sub = await find_download(service, request.match_info["ticket_id"])
    body = await read_body(request, ApproveBody, optional=True)
    candidates = candidates_of(sub)
    if body.candidate_idx is not None and candidates and body.candidate_idx >= len(candidates):
        raise ApiError(400, f"candidate_idx {body.candidate_idx} is out of range: the ticket has "
                            f"{len(candidates)} candidates (0..{len(candidates) - 1})")
    done = await service.actions.approve(sub.ticket_id or sub.id, body.candidate_idx)
    return web.json_response(await describe_download(service, done, detailed=True))


async def reject(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    sub = await find_download(service, request.match_info["ticket_id"])
    body = await read_body(request, ReasonBody, optional=True)
    done = await service.actions.reject(sub.ticket_id or sub.id, body.reason or None)
    return web.json_response(await describe_download(service, done, detailed=True))


async def cancel(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    sub = await find_download(service, request.match_info["ticket_id"])
    body = await read_body(request, ReasonBody, optional=True)
    done = await service.actions.cancel(sub.ticket_id or sub.id, body.reason or None)
    return web.json_response(await describe_download(service, done, detailed=True))


async def retry(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    sub = await find_download(service, request.match_info["ticket_id"])
    await read_body(request, EmptyBody, optional=True)
    result = await service.actions.retry_ticket(sub.ticket_id or sub.id)
    current = await service.store.get_submission(sub.id) or sub
    return web.json_response({
        "retried_in_qt": result.qt_retried,
        "resubmitted": result.resubmitted,
        "download": await describe_download(service, current, detailed=True),
    })


async def list_users(request: web.Request) -> web.Response:
    limiter = request.app[SERVICE].limiter
    limit = parse_limit(request.query.get("limit"), default=100, maximum=500)
    users = await limiter.active_users(limit=limit)
    return web.json_response({"users": [await limiter.report(u) for u in users]})


async def get_limits(request: web.Request) -> web.Response:
    user_id = check_user_id(request.match_info["user_id"], "the user id")
    return web.json_response(await request.app[SERVICE].limiter.report(user_id))


async def put_limits(request: web.Request) -> web.Response:
    user_id = check_user_id(request.match_info["user_id"], "the user id")
    body = await read_body(request, LimitsBody)
    limiter = request.app[SERVICE].limiter
    await limiter.overrides.put(user_id, body.requests_per_day, body.max_pending)
    return web.json_response(await limiter.report(user_id))

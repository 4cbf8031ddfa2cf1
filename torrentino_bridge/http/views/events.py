"""Server-Sent Events: GET /v1/user/events (one user's requests) and GET /v1/admin/events
(everything), both fed by the live hub (live/hub.py), plus the admin stream's tickets.

Event types: `snapshot` (the current state, sent first and whenever resuming is not
possible), `status` (a request's status changed), `progress` (a download moved: percent,
speed, ETA, phase) and, for admins, `download` (a ticket's state changed). Every event
has an id; a client reconnecting with Last-Event-ID (or ?last_event_id=) gets what it
missed. Comment lines (`: ping`) every [http] events_heartbeat_secs keep proxies and dead
peers honest. On shutdown every stream ends cleanly before the server stops.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse

from ...live.hub import LAGGED, LiveEvent
from ...live.snapshots import admin_snapshot, user_snapshot
from ..errors import ApiError
from ..keys import SERVICE, STREAM_TICKETS, USER_ID

# What a user's stream carries: their requests' statuses and their downloads' progress.
_USER_TYPES = frozenset({"status", "progress"})
MAX_EVENT_ID = 100
# How often an idle stream looks whether its client went away (its slot is then free again).
_GONE_CHECK_SECS = 1.0
# Sent as a stream's first line, so a browser waits this long before reconnecting.
_RETRY_MS = 3000

Renderer = Callable[[LiveEvent], dict[str, Any] | None]
Snapshot = Callable[[], Awaitable[dict[str, Any]]]


def _user_view(user_id: str) -> Renderer:
    def render(event: LiveEvent) -> dict[str, Any] | None:
        mine = event.users.get(user_id)
        if mine is None or event.type not in _USER_TYPES:
            return None
        data = dict(event.data)
        if "request_ids" in data:
            data["request_ids"] = list(mine)        # never another user's request ids
        return data
    return render


def _admin_view(event: LiveEvent) -> dict[str, Any] | None:
    return event.data


async def user_events(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    user_id = request[USER_ID]
    return await _stream(request, _user_view(user_id), lambda: user_snapshot(service, user_id))


async def admin_events(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    return await _stream(request, _admin_view, lambda: admin_snapshot(service))


async def stream_ticket(request: web.Request) -> web.Response:
    """A ticket that opens one admin event stream (for EventSource, which cannot send headers)."""
    tickets = request.app[STREAM_TICKETS]
    return web.json_response({"ticket": tickets.issue(), "expires_in": int(tickets.ttl_secs)}, status=201)


async def _stream(request: web.Request, render: Renderer, snapshot: Snapshot) -> web.StreamResponse:
    service = request.app[SERVICE]
    feed, http = service.live, service.settings.http
    hub = feed.hub
    last = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if last is not None and len(last) > MAX_EVENT_ID:
        raise ApiError(400, f"Last-Event-ID is at most {MAX_EVENT_ID} characters")
    if hub.closed:
        raise ApiError(503, "the bridge is stopping", headers={"Retry-After": "5"})
    if feed.streams >= http.max_event_streams:
        raise ApiError(503, f"too many event streams open (at most {http.max_event_streams})",
                       headers={"Retry-After": "30"})
    sub, replay = hub.subscribe(hub.parse_id(last), lambda e: render(e) is not None)
    feed.stream_started()
    resp = EventSourceResponse(ping_interval=http.events_heartbeat_secs,
                               headers={"X-Content-Type-Options": "nosniff"})
    try:
        await resp.prepare(request)
        async with resp:
            if replay is None:
                await _send_snapshot(resp, hub.event_id(sub.start_seq), snapshot)
            else:
                for event in replay:
                    await _send(resp, hub.event_id(event.seq), event, render)
            while True:
                item = await sub.next(timeout=min(http.events_heartbeat_secs, _GONE_CHECK_SECS))
                if item is None:
                    if sub.closed or not resp.is_connected() or _gone(request):
                        break
                    continue
                if item is LAGGED:
                    await _send_snapshot(resp, hub.event_id(hub.seq), snapshot)
                    continue
                assert isinstance(item, LiveEvent)
                await _send(resp, hub.event_id(item.seq), item, render)
    except (ConnectionResetError, TimeoutError):
        pass          # the client went away, or stopped reading (aiohttp-sse's send timeout)
    finally:
        hub.unsubscribe(sub)
        feed.stream_ended()
    return resp


def _gone(request: web.Request) -> bool:
    """The client closed the connection (aiohttp does not cancel the handler for that)."""
    transport = request.transport
    return transport is None or transport.is_closing()


async def _send(resp: EventSourceResponse, event_id: str, event: LiveEvent, render: Renderer) -> None:
    data = render(event)
    if data is not None:
        await resp.send(json.dumps(data, separators=(",", ":")), id=event_id, event=event.type)


async def _send_snapshot(resp: EventSourceResponse, event_id: str, snapshot: Snapshot) -> None:
    await resp.send(json.dumps(await snapshot(), separators=(",", ":")), id=event_id, event="snapshot",
                    retry=_RETRY_MS)

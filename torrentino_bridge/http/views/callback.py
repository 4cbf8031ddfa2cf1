"""Webhook delivery from Quentin Torrentino (the draft body {"event", "ticket_id", "timestamp",
"details"}; the socket's {"type": ...} messages are accepted too). Events feed the same
tracker handler as the socket; it applies QT's truth idempotently, so an event seen on
both paths takes effect once."""

from __future__ import annotations

from aiohttp import web

from ...qt.events import MAX_MESSAGE_BYTES, EventError, normalise_tagged
from ..errors import ApiError
from ..keys import CALLBACK_EVENTS, SERVICE


async def torrentino_callback(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    counter = request.app[CALLBACK_EVENTS]
    raw = await request.read()
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ApiError(413, f"the event is larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        tag, event = normalise_tagged(raw)
    except EventError as err:
        counter.labels("invalid", err.kind).inc()
        if err.kind == "unknown":
            # A newer QT may send events this bridge does not know; refusing would only
            # make the sender retry. Acknowledge and say it was ignored.
            return web.json_response({"accepted": False, "ignored": err.message}, status=202)
        raise ApiError(400, f"invalid event: {err.message}") from None
    counter.labels(tag, "accepted").inc()
    await service.tracker.on_event(event)
    return web.json_response({"accepted": True, "event": tag,
                              "ticket_id": getattr(event, "ticket_id", None)}, status=202)

"""The bridge's aiohttp server: built from the running service, bound to http.host/port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aiohttp
import structlog
from aiohttp import web
from prometheus_client import Counter

from .auth import authenticate
from .errors import json_errors
from .headers import security_headers
from .health import CHECK_CACHE_SECS, QTProbe
from .keys import CALLBACK_EVENTS, QT_PROBE, SERVICE, STREAM_TICKETS
from .limits import PARSER_ARGS, request_limits
from .routes import add_routes
from .startup import until_repaired
from .stream_tickets import StreamTickets

if TYPE_CHECKING:
    from ..service import BridgeService

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 1024 * 1024


def build_app(service: BridgeService) -> web.Application:
    app = web.Application(middlewares=[security_headers, json_errors, request_limits, authenticate, until_repaired],
                          client_max_size=MAX_BODY_BYTES)
    app[SERVICE] = service
    app[CALLBACK_EVENTS] = Counter(
        "bridge_callback_events_total", "Events received on the webhook callback", ["type", "outcome"],
        registry=service.metrics.registry,
    )
    app[STREAM_TICKETS] = StreamTickets()
    add_routes(app)
    app.cleanup_ctx.append(_probe_session)
    return app


async def _probe_session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        service = app[SERVICE]
        # Readiness is no fresher than the engine's own view of QT (one reconcile interval).
        cache = min(CHECK_CACHE_SECS, service.settings.bridge.reconcile_interval_secs)
        app[QT_PROBE] = QTProbe(service, session, cache_secs=cache)
        yield


async def start_http(service: BridgeService) -> web.AppRunner:
    """Serve the API; the port actually bound is stored on service.http_port."""
    http = service.settings.http
    # keepalive_timeout bounds how long a connection may take to send a whole request header
    # (aiohttp arms it at connect and after each response, and it fires only while no request
    # has been read): without it a silent or slow client holds a socket for an hour.
    runner = web.AppRunner(build_app(service), access_log=None, shutdown_timeout=2.0,
                           keepalive_timeout=http.header_timeout_secs, **PARSER_ARGS)
    await runner.setup()
    try:
        site = web.TCPSite(runner, http.host, http.port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    service.http_port = runner.addresses[0][1]
    log.info("http.listening", host=http.host, port=service.http_port)
    return runner

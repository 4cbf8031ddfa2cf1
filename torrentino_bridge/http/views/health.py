"""Operators, Docker and systemd: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ...domain.status import LIVE_SUBMISSION_STATES
from ...store.outbox import OutboxStore
from ..auth import is_admin
from ..health import liveness, public_readiness, readiness
from ..keys import QT_PROBE, SERVICE


async def healthz(request: web.Request) -> web.Response:
    alive, body = liveness(request.app[SERVICE])
    return web.json_response(body, status=200 if alive else 503)


async def readyz(request: web.Request) -> web.Response:
    ready, body = await readiness(request.app[SERVICE], request.app[QT_PROBE])
    if not is_admin(request):
        body = public_readiness(body)
    return web.json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    m = service.metrics
    # Gauges that describe the present are filled at scrape time from the service itself.
    m.ws_connected.set(1 if service.events is not None and service.events.connected else 0)
    if service.events is not None:
        behind = service.events.reconnects - (m.registry.get_sample_value("bridge_ws_reconnects_total") or 0)
        if behind > 0:
            m.ws_reconnects.inc(behind)
    counts: dict[str, int] = {}
    for sub in await service.store.submissions(LIVE_SUBMISSION_STATES):
        state = sub.qt_state or "not_submitted"
        counts[state] = counts.get(state, 0) + 1
    m.tickets.clear()
    for state, count in counts.items():
        m.tickets.labels(state).set(count)
    m.outbox_items.clear()
    for (kind, state), count in (await OutboxStore(service.store).counts()).items():
        m.outbox_items.labels(kind, state).set(count)
    return web.Response(body=generate_latest(m.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

"""Unauthenticated routes outside /api/v1: Prometheus /metrics (as QT has) and the
simulator's own /sim control API for the demo and subprocess tests."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .config import FAULT_FIELDS

if TYPE_CHECKING:
    from .server import QTSimulator


def control_routes(sim: QTSimulator) -> list[web.RouteDef]:
    async def metrics(request: web.Request) -> web.Response:
        by_state = Counter(t["state"]["type"] for t in sim.tickets.values())
        lines = ["# HELP quentin_tickets Tickets by state.", "# TYPE quentin_tickets gauge"]
        lines += [f'quentin_tickets{{state="{s}"}} {n}' for s, n in sorted(by_state.items())]
        lines += [
            "# HELP quentin_ws_clients Connected WebSocket clients.",
            "# TYPE quentin_ws_clients gauge",
            f"quentin_ws_clients {len(sim.broadcaster.clients)}",
            "# HELP quentin_http_requests_total API requests served.",
            "# TYPE quentin_http_requests_total counter",
            f"quentin_http_requests_total {sim.api_requests}",
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    async def set_outcome(request: web.Request) -> web.Response:
        body = await _body(request)
        match = body.get("match")
        if match is not None and not isinstance(match, str):
            raise _bad("match must be a string or null")
        try:
            sim.set_outcome(match, body.get("outcome"))
        except ValueError as err:
            raise _bad(str(err)) from None
        return web.json_response({"match": match, "outcome": body.get("outcome")})

    async def set_faults(request: web.Request) -> web.Response:
        try:
            sim.set_faults(**await _body(request))
        except ValueError as err:
            raise _bad(str(err)) from None
        return web.json_response({k: getattr(sim.config, k) for k in FAULT_FIELDS})

    async def drop_connections(request: web.Request) -> web.Response:
        count = len(sim.broadcaster.clients)
        await sim.drop_connections()
        return web.json_response({"dropped": count})

    async def state(request: web.Request) -> web.Response:
        return web.json_response({
            "post_count": sim.post_count,
            "tickets": {
                tid: {"state": t["state"]["type"], "dest_path": t["dest_path"],
                      "description": t["query_context"].get("description")}
                for tid, t in sim.tickets.items()
            },
        })

    return [
        web.get("/metrics", metrics),
        web.post("/sim/outcome", set_outcome),
        web.post("/sim/faults", set_faults),
        web.post("/sim/drop-connections", drop_connections),
        web.get("/sim/state", state),
    ]


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _bad("body must be a JSON object") from None
    if not isinstance(body, dict):
        raise _bad("body must be a JSON object")
    return body

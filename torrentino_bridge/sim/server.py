"""The QT simulator: a real aiohttp HTTP + WebSocket server speaking QT's v1 API.

Tickets live in memory (`tickets`, inspectable by tests); each one is driven through
the states of its outcome (scenario.py) by a named task, and every state write is
broadcast as QT does it. Fault knobs (config.py) are set through `set_faults` or the
unauthenticated control API under /sim.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import signal
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import structlog
from aiohttp import web

from . import states
from .api import TicketApi
from .broadcast import Broadcaster
from .config import SimConfig, validate_faults
from .control import control_routes
from .scenario import Outcome, OutcomeTable, Run

log = structlog.get_logger(__name__)

__all__ = ["QTSimulator", "SimConfig", "run_sim"]

API_PREFIX = "/api/v1"


class QTSimulator:
    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = replace(config) if config is not None else SimConfig()
        self.tickets: dict[str, dict[str, Any]] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}   # every state written, per ticket
        self.post_count = 0
        self.api_requests = 0
        # GET /tickets/{id} being answered now, and the most at once since the last reset:
        # lets a test check how many detail fetches a client keeps in flight.
        self.gets_in_flight = 0
        self.max_gets_in_flight = 0
        self.outcomes = OutcomeTable()
        # Torrents that hold a whole release, whatever the ticket asked for: description
        # substring (case-insensitive) -> tracks ({number, title, duration_secs, disc_number}).
        self.releases: dict[str, list[dict[str, Any]]] = {}
        self.broadcaster = Broadcaster(self.config.ws_buffer)
        self.broadcaster.drop_all = self.config.drop_ws
        self.attempts: dict[str, int] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.base_url: str | None = None     # set by start()
        self.app = web.Application(middlewares=[self._guard])
        self.app.add_routes(TicketApi(self).routes(API_PREFIX))
        self.app.add_routes(control_routes(self))
        self.app.on_shutdown.append(self._on_shutdown)

    # --- test/control API ------------------------------------------------------------

    @property
    def actor(self) -> str:
        """Who QT says did something: its name for the API-key user, or anonymous."""
        return "api_key_user" if self.config.api_key else "anonymous"

    def set_outcome(self, match: str | None, outcome: Outcome | str) -> None:
        """Outcome for tickets whose description contains `match` (None: the default)."""
        self.outcomes.set(match, outcome)

    def set_release(self, match: str, tracks: list[dict[str, Any]]) -> None:
        """Tickets whose description contains `match` download all of `tracks` (a torrent of
        the whole album), not only the tracks they expected."""
        self.releases[match.lower()] = tracks

    def release_for(self, description: str) -> list[dict[str, Any]] | None:
        text = description.lower()
        return next((tracks for match, tracks in self.releases.items() if match in text), None)

    def set_faults(self, **faults: Any) -> None:
        """Change fault knobs (see SimConfig); ValueError names a bad one."""
        checked = validate_faults(faults)
        was_down = self.config.outage_status is not None
        for key, value in checked.items():
            setattr(self.config, key, value)
        self.broadcaster.drop_all = self.config.drop_ws
        if not was_down and self.config.outage_status is not None:
            # QT going down takes its WebSocket connections with it.
            self._spawn(self.broadcaster.close_all(), "sim-outage-close")

    def broadcast(self, message: dict[str, Any]) -> None:
        """Send one raw message to every WebSocket client (through the bounded buffers)."""
        self.broadcaster.publish(message)

    async def drop_connections(self) -> None:
        await self.broadcaster.close_all()

    def state_of(self, ticket_id: str) -> str | None:
        ticket = self.tickets.get(ticket_id)
        return ticket["state"]["type"] if ticket else None

    # --- lifecycle -------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 picks a free port); returns the base URL."""
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        else:
            await self._on_shutdown(self.app)

    async def _on_shutdown(self, app: web.Application) -> None:
        for task in [*self._tasks.values(), *self._background]:
            task.cancel()
        await asyncio.gather(*self._tasks.values(), *self._background, return_exceptions=True)
        self._tasks.clear()
        await self.broadcaster.close_all()

    # --- tickets (used by the API handlers and the scenarios) ------------------------

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        return self.tickets[ticket_id]

    def snapshot(self, ticket_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.tickets[ticket_id])

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        ticket_id = str(uuid.uuid4())
        stamp = states.now()
        ticket = {
            "id": ticket_id, "created_at": stamp, "created_by": self.actor,
            "state": states.pending(), "priority": body.get("priority", 0),
            "query_context": body["query_context"], "dest_path": body["dest_path"],
            "output_constraints": body.get("output_constraints"), "updated_at": stamp,
        }
        self.tickets[ticket_id] = ticket
        self.history[ticket_id] = []
        self.attempts[ticket_id] = 0
        self.write_state(ticket_id, ticket["state"])
        log.info("sim.ticket_created", ticket_id=ticket_id, dest_path=body["dest_path"])
        self._begin(ticket_id)
        return ticket

    def write_state(self, ticket_id: str, state: states.State) -> None:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:   # hard-deleted while its scenario was between steps
            return
        ticket["state"] = state
        ticket["updated_at"] = states.now()
        self.history[ticket_id].append(copy.deepcopy(state))
        log.debug("sim.state", ticket_id=ticket_id, state=state["type"])
        self.broadcaster.publish({"type": "ticket_update", "ticket_id": ticket_id, "state": state["type"]})

    def pipeline_progress(self, ticket_id: str, phase: str, current: int, total: int, name: str) -> None:
        percent = round(100.0 * current / total, 1) if total else 0.0
        self.broadcaster.publish({
            "type": "pipeline_progress", "ticket_id": ticket_id, "phase": phase,
            "current": current, "total": total, "current_name": name, "percent": percent,
        })

    def retry(self, ticket_id: str) -> None:
        self.write_state(ticket_id, states.pending())
        self._begin(ticket_id)

    def approve(self, ticket_id: str, idx: int) -> None:
        run = self._new_run(ticket_id)
        # Download what the user saw and picked.
        run.candidates = list(self.tickets[ticket_id]["state"].get("candidates") or run.candidates)
        self.write_state(ticket_id, states.approved(run.candidates, idx, self.actor))
        self._launch(ticket_id, lambda: self._after_step(lambda: run.download(idx)))

    def stop_run(self, ticket_id: str) -> None:
        task = self._tasks.pop(ticket_id, None)
        if task is not None:
            task.cancel()

    def hard_delete(self, ticket_id: str) -> dict[str, Any]:
        self.stop_run(ticket_id)
        ticket = self.tickets.pop(ticket_id)
        self.broadcaster.publish({"type": "ticket_deleted", "ticket_id": ticket_id})
        return ticket

    def _begin(self, ticket_id: str) -> None:
        self.attempts[ticket_id] += 1
        run = self._new_run(ticket_id)
        self._launch(ticket_id, run.search)

    def _new_run(self, ticket_id: str) -> Run:
        description = str(self.tickets[ticket_id]["query_context"].get("description") or "")
        outcome = self.outcomes.resolve(description)
        return Run(self, ticket_id, outcome, max(1, self.attempts[ticket_id]))

    async def _after_step(self, then: Callable[[], Awaitable[None]]) -> None:
        # `then` is made only after the sleep: a run cancelled while sleeping leaves no
        # never-awaited coroutine behind.
        await asyncio.sleep(self.config.step_secs)
        await then()

    def _launch(self, ticket_id: str, body: Callable[[], Awaitable[None]]) -> None:
        self.stop_run(ticket_id)
        task = asyncio.create_task(self._guarded(ticket_id, body), name=f"sim-ticket-{ticket_id}")
        self._tasks[ticket_id] = task
        task.add_done_callback(lambda t: self._forget(ticket_id, t))

    def _forget(self, ticket_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(ticket_id) is task:
            del self._tasks[ticket_id]

    async def _guarded(self, ticket_id: str, body: Callable[[], Awaitable[None]]) -> None:
        try:
            await body()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a scenario bug must show, not hang the ticket silently
            log.exception("sim.scenario_crashed", ticket_id=ticket_id)
            self.write_state(ticket_id, states.failed(f"simulator error: {err!r}", False, 0))

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- middleware: faults, then auth, for every /api/v1 route ----------------------

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        self.api_requests += 1
        if request.method == "GET" and request.match_info.get("id") is not None:
            self.gets_in_flight += 1
            self.max_gets_in_flight = max(self.max_gets_in_flight, self.gets_in_flight)
            try:
                return await self._answer(request, handler)
            finally:
                self.gets_in_flight -= 1
        return await self._answer(request, handler)

    async def _answer(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if self.config.latency_secs:
            await asyncio.sleep(self.config.latency_secs)
        status = self.config.outage_status
        if status is not None:
            return _outage(status)
        if self.config.fail_requests > 0 and request.path != f"{API_PREFIX}/ws":
            self.config.fail_requests -= 1
            return web.json_response({"error": "Internal error: simulated failure"}, status=500)
        if not self._authorised(request):
            return web.Response(status=401)   # QT answers a bad key with an empty body
        return await handler(request)

    def _authorised(self, request: web.Request) -> bool:
        key = self.config.api_key
        if key is None:
            return True
        given = request.headers.get("X-API-Key")
        auth = request.headers.get("Authorization", "")
        if given is None and auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        return given is not None and hmac.compare_digest(given.encode(), key.encode())


def _outage(status: int) -> web.Response:
    if status == 500:
        return web.json_response({"error": "Internal error: simulated outage"}, status=500)
    # Anything else looks like a reverse proxy in front of a dead QT: plain text.
    return web.Response(status=status, text=f"{status} simulated outage\n")


async def run_sim(host: str, port: int, config: SimConfig) -> None:
    """Serve until SIGINT or SIGTERM."""
    sim = QTSimulator(config)
    url = await sim.start(host, port)
    print(f"QT simulator listening on {url}", flush=True)
    log.info("sim.listening", url=url, auth="api_key" if config.api_key else "none",
             step_secs=config.step_secs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await sim.stop()
        log.info("sim.stopped")

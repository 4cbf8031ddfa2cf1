"""Liveness and readiness: what each component says about itself, and the verdicts.

Readiness needs startup repair done, the catalog DB answering, QT answering /health with
the configured token, and events flowing: the socket connected, or a reconcile pass that
succeeded recently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp

from ..qt.client import TorrentinoClient
from ..qt.errors import QTError

if TYPE_CHECKING:
    from ..service import BridgeService

CHECK_TIMEOUT_SECS = 3.0
# /readyz is open and may be hit by anyone, as often as they like: the checks (an outbound QT
# call, a catalog query) run at most once per this many seconds, concurrent hits sharing one.
CHECK_CACHE_SECS = 5.0


def iso(value: float | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Check:
    ok: bool = False
    error: str | None = None
    checked_at: float | None = None
    last_ok_at: float | None = None

    def record(self, error: str | None) -> None:
        self.checked_at = time.time()
        self.ok = error is None
        self.error = error
        if error is None:
            self.last_ok_at = self.checked_at

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "error": self.error, "checked_at": iso(self.checked_at),
                "last_ok_at": iso(self.last_ok_at)}


class QTProbe:
    """A QT client of its own for probes: one attempt and a short timeout, so a readiness
    check answers quickly instead of waiting out the engine's retries. Results are reused
    for CHECK_CACHE_SECS (see there)."""

    def __init__(self, service: BridgeService, session: aiohttp.ClientSession,
                 cache_secs: float = CHECK_CACHE_SECS) -> None:
        t = service.settings.torrentino
        self.client = TorrentinoClient(t.url, token=t.read_token, session=session,
                                       timeout=min(CHECK_TIMEOUT_SECS, t.request_timeout_secs), max_attempts=1)
        self.qt = Check()
        self.catalog = Check()
        self.cache_secs = cache_secs
        self._locks = {"qt": asyncio.Lock(), "catalog": asyncio.Lock()}
        self._probed_at: dict[str, float] = {}

    async def _cached(self, name: str, probe: Callable[[], Awaitable[None]]) -> None:
        async with self._locks[name]:       # concurrent hits wait for one probe, then share it
            at = self._probed_at.get(name)
            if at is not None and time.monotonic() - at < self.cache_secs:
                return
            await probe()
            self._probed_at[name] = time.monotonic()

    async def check_qt(self) -> Check:
        await self._cached("qt", self._probe_qt)
        return self.qt

    async def _probe_qt(self) -> None:
        try:
            await self.client.health()
        except QTError as err:
            self.qt.record(str(err))
        else:
            self.qt.record(None)

    async def check_catalog(self, service: BridgeService) -> Check:
        await self._cached("catalog", lambda: self._probe_catalog(service))
        return self.catalog

    async def _probe_catalog(self, service: BridgeService) -> None:
        try:
            await asyncio.wait_for(service.catalog.ping(), timeout=CHECK_TIMEOUT_SECS)
        except TimeoutError:
            self.catalog.record(f"no answer within {CHECK_TIMEOUT_SECS}s (locked?)")
        except Exception as err:
            self.catalog.record(f"{type(err).__name__}: {err}")
        else:
            self.catalog.record(None)


def liveness(service: BridgeService) -> tuple[bool, dict[str, Any]]:
    workers = service.tasks.alive()
    # Per-ticket and notification tasks come and go; only the named workers must stay up.
    core = {name: up for name, up in workers.items() if ":" not in name}
    alive = bool(core) and all(core.values()) and not service.tasks.failed.is_set()
    return alive, {
        "status": "ok" if alive else "failing",
        "workers": core,
        "failures": dict(service.tasks.failures),
        "started_at": iso(service.started_at),
        "uptime_secs": round(time.time() - service.started_at, 3) if service.started_at else None,
    }


def events_state(service: BridgeService, now: float) -> dict[str, Any]:
    s = service.settings
    stream, rec = service.events, service.reconciler
    # "Recently": within two reconcile intervals plus the time one QT call may take.
    recent = 2 * s.bridge.reconcile_interval_secs + s.torrentino.request_timeout_secs
    reconciled = rec.last_success_at is not None and now - rec.last_success_at <= recent
    connected = bool(stream and stream.connected)
    return {
        "ok": connected or reconciled,
        "socket_connected": connected,
        "connected_since": iso(stream.connected_since) if stream else None,
        "last_message_at": iso(stream.last_message_at) if stream else None,
        "socket_error": stream.last_error if stream else "the event stream is not running",
        "reconnects": stream.reconnects if stream else 0,
        "last_reconcile_ok_at": iso(rec.last_success_at),
        "reconcile_error": rec.last_error,
    }


async def readiness(service: BridgeService, probe: QTProbe) -> tuple[bool, dict[str, Any]]:
    enabled = service.settings.torrentino.enabled
    catalog_check = probe.check_catalog(service)
    if enabled:
        catalog, qt = await asyncio.gather(catalog_check, probe.check_qt())
    else:
        catalog, qt = await catalog_check, None
    components: dict[str, Any] = {"catalog": catalog.as_dict(),
                                  "repair": {"ok": service.repair_pending is None, "error": service.repair_pending}}
    if qt is not None:
        components["qt"] = {**qt.as_dict(), "url": service.settings.torrentino.url}
        components["events"] = events_state(service, time.time())
        components["submitter"] = {"ok": service.submitter.blocked_reason is None,
                                   "blocked_reason": service.submitter.blocked_reason}
    else:
        components["qt"] = {"ok": True, "disabled": True, "error": None}
    ready = catalog.ok and service.repair_pending is None and (
        qt is None or (qt.ok and components["events"]["ok"]))
    return ready, {"ready": ready, "components": components}


def public_readiness(body: dict[str, Any]) -> dict[str, Any]:
    """What anyone may see of readiness: the verdict and which components are ok. Errors
    and timestamps (paths, QT's words, internal state) are for the admin token only."""
    return {"ready": body["ready"],
            "components": {name: {"ok": bool(c.get("ok"))} for name, c in body["components"].items()}}

"""Worker loops survive transient failures and pick the work up again."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import structlog.testing
from aiohttp import web

from tests.conftest import album, build_catalog, forward, wait_for
from tests.engine.test_flow import catalog_rows, insert, until_status

ALBUM = album("alb-r", "Res", "Ilient", ["One", "Two"])


async def test_a_catalog_locked_past_every_retry_delays_the_request_but_loses_nothing(
    tmp_path, sim, settings_for, running_bridge
):
    """A lock held past the busy timeout and every retry budget is waited out: the intake
    does not fail or give up (it used to fail its pass and log a line per retry); the request
    is planned once the lock goes. One `catalog.locked` and one `catalog.unlocked` line."""
    catalog = build_catalog(tmp_path / "catalog.db", [ALBUM])
    settings = settings_for(catalog, sim.base_url)
    settings.catalog.busy_timeout_ms = 50
    settings.catalog.write_retries = 1
    service = await running_bridge(settings)

    blocker = sqlite3.connect(catalog, timeout=5)
    blocker.execute("BEGIN EXCLUSIVE")           # the catalog server in a long write
    with structlog.testing.capture_logs() as logs:
        try:
            await insert(settings, "r1", album_id="alb-r")

            async def waiting():
                return service.catalog.lock_wait.retries > 3

            await wait_for(waiting, what="the intake to wait on the locked catalog")
            assert (await service.store.get_request("r1")).planned_at is None
            assert service.intake.guard.failures == 0
            assert service.tasks.alive()["intake"]
        finally:
            blocker.rollback()
            blocker.close()

        assert (await until_status(service, "r1", "completed", "failed"))[0] == "completed"
    assert [e["event"] for e in logs if e["event"].startswith("catalog.")] == ["catalog.locked", "catalog.unlocked"]
    assert {v[0] for v in catalog_rows(catalog, "plan").values()} == {"available"}
    assert sim.post_count == 1


class QTProxy:
    """Forwards QT's HTTP API to the simulator and misbehaves the way a broken proxy or
    QT build would, after the simulator acted (so a spoiled POST still made its ticket)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.pad_posts = 0           # pad the next N POST /tickets answers with this many spaces
        self.pad = 0
        self.lose_posts = 0          # answer the next N POST /tickets with 502
        self.broken_list = False     # ticket lists: an empty page that claims a huge total
        self.lookups = 0             # GET /tickets calls seen
        self.session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert self.session is not None
        status, payload = await forward(self.session, self.target, request)
        creating = request.method == "POST" and request.path == "/api/v1/tickets"
        if creating and self.lose_posts:
            self.lose_posts -= 1
            return web.Response(status=502, text="bad gateway")
        if creating and self.pad_posts:
            self.pad_posts -= 1
            payload += b" " * self.pad       # still valid JSON, just far too long
        if request.method == "GET" and request.path == "/api/v1/tickets":
            self.lookups += 1
            if self.broken_list:
                payload = json.dumps({**json.loads(payload), "tickets": [], "total": 10**9}).encode()
        return web.Response(status=status, body=payload, content_type="application/json")


@pytest.fixture
async def qt_proxy(sim) -> AsyncIterator[tuple[QTProxy, str]]:
    proxy = QTProxy(sim.base_url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with aiohttp.ClientSession() as session:
            proxy.session = session
            # The socket 404s through the proxy: polling carries tickets to the end.
            yield proxy, f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_an_oversized_create_answer_blocks_then_adopts_the_ticket_without_a_second_post(
    tmp_path, sim, qt_proxy, settings_for, running_bridge
):
    proxy, url = qt_proxy
    cap = 64 * 1024
    proxy.pad_posts, proxy.pad = 1, 4 * cap
    catalog = build_catalog(tmp_path / "catalog.db", [ALBUM])
    settings = settings_for(catalog, url, extra=f"max_response_bytes = {cap}\n")
    service = await running_bridge(settings)
    assert service.client.max_response_bytes == cap
    with structlog.testing.capture_logs() as logs:
        await insert(settings, "r1", album_id="alb-r")
        assert (await until_status(service, "r1", "completed", "failed"))[0] == "completed"
    assert proxy.pad_posts == 0
    blocked = [e for e in logs if e["event"] == "qt.submissions_blocked"]
    assert blocked and "POST /api/v1/tickets is larger than the limit of 65536 bytes" in blocked[0]["reason"]
    submitted = [e for e in logs if e["event"] == "ticket.submitted"]
    assert [e["how"] for e in submitted] == ["adopted"]
    assert sim.post_count == 1 and len(sim.tickets) == 1
    assert not service.tasks.failed.is_set(), service.tasks.failures


async def test_a_lookup_that_cannot_finish_never_posts_again(tmp_path, sim, qt_proxy, settings_for, running_bridge):
    """The POST made a ticket but its answer was lost; the lookup by dest_path cannot walk
    QT's list to the end. The submission must wait (not post a duplicate) until it can."""
    proxy, url = qt_proxy
    proxy.lose_posts, proxy.broken_list = 1, True
    catalog = build_catalog(tmp_path / "catalog.db", [ALBUM])
    settings = settings_for(catalog, url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-r")

    async def waiting() -> str | None:
        assert sim.post_count <= 1, "posted again on a lookup that never reached the end"
        row = await service.store.get_request("r1")
        return row.error if row.status == "pending" and row.error and "cannot tell" in row.error else None

    error = await wait_for(waiting, what="the request to wait on the lookup")
    assert "cannot tell whether a ticket for" in error and "a page brought no new ticket" in error
    assert "cannot tell whether a ticket" in (service.submitter.blocked_reason or "")
    # More passes look again, none posts again.
    for _ in range(2):
        before = proxy.lookups
        service.submitter.wake.set()

        async def looked_again(before: int = before) -> bool:
            return proxy.lookups > before and service.submitter.guard.failures == 0

        await wait_for(looked_again, what="another lookup")
    assert sim.post_count == 1 and len(sim.tickets) == 1
    assert (await service.store.get_request("r1")).status == "pending"

    proxy.broken_list = False     # QT's list is whole again: the lookup adopts the ticket
    service.submitter.wake.set()
    assert (await until_status(service, "r1", "completed", "failed"))[0] == "completed"
    assert sim.post_count == 1 and len(sim.tickets) == 1
    assert service.submitter.blocked_reason is None


# --- startup repair against a locked catalog ----------------------------------------------

STALE = album("alb-stale", "Left", "Behind", ["Half", "Done"], availability="fetching")


def locked_catalog(tmp_path) -> tuple[Path, sqlite3.Connection]:
    """A WAL catalog (as the bridge leaves it) with tracks stuck `fetching` from a crashed run,
    and a second connection holding its write lock, as the catalog server in a long write."""
    catalog = build_catalog(tmp_path / "catalog.db", [ALBUM, STALE])
    setup = sqlite3.connect(catalog)
    setup.execute("PRAGMA journal_mode = WAL")
    setup.close()
    blocker = sqlite3.connect(catalog, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    blocker.execute("UPDATE albums SET name = name")
    return catalog, blocker


async def test_a_locked_catalog_defers_startup_repair_and_nothing_runs_before_it(
    tmp_path, sim, settings_for, running_bridge, monkeypatch
):
    monkeypatch.setenv("TORRENTINO_BRIDGE_HTTP__ADMIN_TOKEN", "admin-token-3e9d1a")
    monkeypatch.setenv("TORRENTINO_BRIDGE_HTTP__CALLBACK_SECRET", "callback-secret-6b0f27")
    catalog, blocker = locked_catalog(tmp_path)
    settings = settings_for(catalog, sim.base_url, http=True)
    settings.catalog.busy_timeout_ms = 50
    settings.catalog.write_retries = 1
    try:
        with structlog.testing.capture_logs() as logs:
            service = await running_bridge(settings)     # starts instead of failing
            assert "database is locked" in (service.repair_pending or "")
            # Repair precedes every worker: none is running, only the repair retry.
            assert service.tasks.alive() == {"repair": True}
            await insert(settings, "r1", album_id="alb-r")
            async with aiohttp.ClientSession() as http:
                base = f"http://127.0.0.1:{service.http_port}"
                async with http.get(f"{base}/healthz") as resp:
                    assert resp.status == 200
                async with http.get(f"{base}/readyz",
                                    headers={"Authorization": "Bearer admin-token-3e9d1a"}) as resp:   # details: admin
                    body = await resp.json()
                    assert resp.status == 503 and body["ready"] is False
                    assert body["components"]["repair"]["ok"] is False
                    assert "database is locked" in body["components"]["repair"]["error"]
                # Actions and webhook events would race repair: they wait too.
                async with http.post(f"{base}/v1/admin/downloads/anything/retry",
                                     headers={"Authorization": "Bearer admin-token-3e9d1a"}) as resp:
                    assert resp.status == 503 and resp.headers["Retry-After"]
                    assert "the bridge is starting" in (await resp.json())["error"]
                async with http.post(f"{base}/v1/internal/torrentino-callback",
                                     headers={"Authorization": "Bearer callback-secret-6b0f27"},
                                     json={"event": "completed", "ticket_id": "t-1"}) as resp:
                    assert resp.status == 503

            async def retried() -> bool:
                return sum(e["event"] == "repair.still_locked" for e in logs) >= 2

            await wait_for(retried, what="two more repair attempts on the locked catalog")
            assert service.tasks.alive() == {"repair": True}
            assert await service.store.submissions() == [] and sim.post_count == 0
            assert {v[0] for k, v in catalog_rows(catalog, "plan").items() if k.startswith("alb-stale")} == {
                "fetching"}
        # One line when repair is deferred, none per retry at info level or above.
        assert [e["event"] for e in logs if e["log_level"] in ("warning", "error") and "repair" in e["event"]] == [
            "repair.deferred"]
    finally:
        blocker.rollback()
        blocker.close()

    async def repaired() -> bool:
        return service.repair_pending is None and {"intake", "submitter", "reconciler", "events"} <= set(
            service.tasks.alive())

    await wait_for(repaired, what="repair to succeed once the lock is released")
    assert (await until_status(service, "r1", "completed", "failed"))[0] == "completed"
    rows = catalog_rows(catalog, "plan")
    assert {v[0] for k, v in rows.items() if k.startswith("alb-stale")} == {"fetch_error"}
    assert {v[0] for k, v in rows.items() if k.startswith("alb-r")} == {"available"}
    assert sim.post_count == 1
    assert not service.tasks.failed.is_set(), service.tasks.failures
    assert "repair" not in service.tasks.alive()

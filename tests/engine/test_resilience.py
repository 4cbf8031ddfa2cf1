"""Worker loops survive transient failures and pick the work up again."""

from __future__ import annotations

import sqlite3

import aiohttp
import structlog.testing
from aiohttp import web

from tests.conftest import album, build_catalog
from tests.engine.test_flow import catalog_rows, insert, until_status

ALBUM = album("alb-r", "Res", "Ilient", ["One", "Two"])


async def test_a_catalog_locked_past_every_retry_delays_the_request_but_loses_nothing(
    tmp_path, sim, settings_for, running_bridge
):
    catalog = build_catalog(tmp_path / "catalog.db", [ALBUM])
    settings = settings_for(catalog, sim.base_url)
    settings.catalog.busy_timeout_ms = 50
    settings.catalog.write_retries = 1
    service = await running_bridge(settings)

    blocker = sqlite3.connect(catalog, timeout=5)
    blocker.execute("BEGIN EXCLUSIVE")           # the catalog server in a long write
    try:
        await insert(settings, "r1", album_id="alb-r")

        async def intake_failed():
            return service.intake.guard.failures > 0

        from tests.conftest import wait_for

        await wait_for(intake_failed, what="the intake pass to fail on the locked catalog")
        assert (await service.store.get_request("r1")).planned_at is None
        assert service.tasks.alive()["intake"]
    finally:
        blocker.rollback()
        blocker.close()

    assert (await until_status(service, "r1", "completed", "failed"))[0] == "completed"
    assert {v[0] for v in catalog_rows(catalog, "plan").values()} == {"available"}
    assert sim.post_count == 1


class PaddingProxy:
    """Forwards QT's HTTP API and pads the first answer to POST /tickets past the bridge's
    response cap (after QT made the ticket), the way a misbehaving proxy would."""

    def __init__(self, target: str, pad: int) -> None:
        self.target = target
        self.pad = pad
        self.padded = 0
        self.session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert self.session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        async with self.session.request(request.method, self.target + request.path_qs, data=body or None,
                                        headers=headers) as resp:
            status, payload = resp.status, await resp.read()
        if request.method == "POST" and request.path == "/api/v1/tickets" and not self.padded:
            self.padded += 1
            payload += b" " * self.pad       # still valid JSON, just far too long
        return web.Response(status=status, body=payload, content_type="application/json")


async def test_an_oversized_create_answer_blocks_then_adopts_the_ticket_without_a_second_post(
    tmp_path, sim, settings_for, running_bridge
):
    cap = 64 * 1024
    proxy = PaddingProxy(sim.base_url, pad=4 * cap)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    catalog = build_catalog(tmp_path / "catalog.db", [ALBUM])
    try:
        async with aiohttp.ClientSession() as session:
            proxy.session = session
            # The socket 404s through the proxy: polling carries the ticket to the end.
            settings = settings_for(catalog, f"http://127.0.0.1:{runner.addresses[0][1]}",
                                    extra=f"max_response_bytes = {cap}\n")
            service = await running_bridge(settings)
            assert service.client.max_response_bytes == cap
            with structlog.testing.capture_logs() as logs:
                await insert(settings, "r1", album_id="alb-r")
                assert (await until_status(service, "r1", "completed", "failed"))[0] == "completed"
    finally:
        await runner.cleanup()
    assert proxy.padded == 1
    blocked = [e for e in logs if e["event"] == "qt.submissions_blocked"]
    assert blocked and "POST /api/v1/tickets is larger than the limit of 65536 bytes" in blocked[0]["reason"]
    submitted = [e for e in logs if e["event"] == "ticket.submitted"]
    assert [e["how"] for e in submitted] == ["adopted"]
    assert sim.post_count == 1 and len(sim.tickets) == 1
    assert not service.tasks.failed.is_set(), service.tasks.failures

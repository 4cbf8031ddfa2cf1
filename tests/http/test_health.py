"""Liveness, readiness (QT stopped and back), Prometheus metrics, the server itself."""

from __future__ import annotations

from tests.conftest import TEST_TOKEN, wait_for
from torrentino_bridge.sim.server import QTSimulator, SimConfig


async def test_port_zero_binds_a_free_port_and_records_it(make_bridge):
    bridge = await make_bridge()
    assert bridge.service.settings.http.port == 0
    assert bridge.service.http_port > 0
    reply = await bridge.call("GET", "/healthz")
    assert reply.status == 200


async def test_healthz_lists_the_workers(make_bridge):
    bridge = await make_bridge()
    reply = await bridge.call("GET", "/healthz")
    assert reply.status == 200
    assert reply.body["status"] == "ok"
    assert {"intake", "submitter", "reconciler", "events"} <= set(reply.body["workers"])
    assert all(reply.body["workers"].values())
    assert reply.body["started_at"].endswith("Z")


async def test_healthz_fails_when_a_worker_died(make_bridge):
    bridge = await make_bridge()

    async def crash() -> None:
        raise RuntimeError("boom")

    task = bridge.service.tasks.start("doomed", crash())
    await wait_for(lambda: _done(task), what="the task to die")
    reply = await bridge.call("GET", "/healthz")
    assert reply.status == 503
    assert reply.body["status"] == "failing"
    assert reply.body["workers"]["doomed"] is False
    assert "boom" in reply.body["failures"]["doomed"]


async def _done(task) -> bool:
    return task.done()


async def test_readyz_goes_503_when_qt_stops_and_200_when_it_returns(make_bridge, sim):
    bridge = await make_bridge()

    async def ready_is(code: int):
        reply = await bridge.call("GET", "/readyz", auth="admin")
        return reply if reply.status == code else None

    reply = await wait_for(lambda: ready_is(200), what="ready")
    assert reply.body["ready"] is True
    components = reply.body["components"]
    assert components["catalog"]["ok"] and components["qt"]["ok"]
    assert components["events"]["socket_connected"] is True

    port = int(sim.base_url.rsplit(":", 1)[1])
    await sim.stop()

    async def qt_down():
        # The socket's loss shows at once; QT's own probe once its cached answer (at most
        # min(5 s, the reconcile interval) old) has expired.
        reply = await ready_is(503)
        return reply if reply is not None and not reply.body["components"]["qt"]["ok"] else None

    reply = await wait_for(qt_down, what="not ready, QT's probe failing")
    assert reply.body["ready"] is False
    qt = reply.body["components"]["qt"]
    assert qt["ok"] is False and "cannot connect" in qt["error"]
    assert qt["last_ok_at"] is not None and qt["checked_at"] is not None
    assert reply.body["components"]["catalog"]["ok"] is True

    back = QTSimulator(SimConfig(api_key=TEST_TOKEN, step_secs=0.01, progress_ticks=2))
    await back.start("127.0.0.1", port)
    try:
        reply = await wait_for(lambda: ready_is(200), what="ready again")
        assert reply.body["components"]["qt"]["error"] is None
    finally:
        await back.stop()


async def test_readyz_names_a_refused_token(make_bridge, sim):
    bridge = await make_bridge()
    sim.config.api_key = "another-key-entirely"

    async def refused():
        reply = await bridge.call("GET", "/readyz", auth="admin")
        return reply if reply.status == 503 else None

    reply = await wait_for(refused, what="not ready")
    assert "401" in reply.body["components"]["qt"]["error"]


async def test_readyz_shows_errors_to_the_admin_only(make_bridge, sim):
    bridge = await make_bridge()
    await sim.stop()

    async def not_ready():
        reply = await bridge.call("GET", "/readyz")
        return reply if reply.status == 503 else None

    reply = await wait_for(not_ready, what="not ready")
    assert reply.body == {"ready": False, "components": {
        name: {"ok": ok} for name, ok in ((n, c["ok"]) for n, c in reply.body["components"].items())}}
    assert reply.body["components"]["qt"] == {"ok": False}
    assert "cannot connect" not in reply.text and "127.0.0.1" not in reply.text
    for wrong in ("not-the-admin-token", "service"):
        assert (await bridge.call("GET", "/readyz", auth=wrong)).body["components"]["qt"] == {"ok": False}
    detailed = await bridge.call("GET", "/readyz", auth="admin")
    assert "cannot connect" in detailed.body["components"]["qt"]["error"]


async def test_a_burst_of_readyz_hits_makes_one_qt_call(make_bridge, monkeypatch):
    import asyncio

    from torrentino_bridge.http.keys import QT_PROBE

    bridge = await make_bridge()
    probe = bridge.service.http_runner.app[QT_PROBE]
    calls = []
    original = probe.client.health

    async def counted():
        calls.append(1)
        await asyncio.sleep(0.05)     # a QT that takes a moment: the burst overlaps it
        return await original()

    monkeypatch.setattr(probe.client, "health", counted)
    probe.cache_secs = 60.0           # the whole burst falls in one cache window
    replies = await asyncio.gather(*(bridge.call("GET", "/readyz") for _ in range(30)))
    assert {r.status for r in replies} <= {200, 503}
    assert len(calls) == 1


async def test_metrics_exposes_the_bridge_series(make_bridge):
    bridge = await make_bridge()
    reply = await bridge.user("POST", "/v1/user/request-download", body={"album_id": "alb-ok"})
    assert reply.status == 202
    await bridge.until_status(reply.body["request_id"], "completed")
    await wait_for(lambda: _connected(bridge), what="the socket")
    reply = await bridge.call("GET", "/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    text = reply.text
    for name in ("bridge_requests_total", "bridge_availability_transitions_total", "bridge_ws_connected 1.0",
                 "bridge_ws_reconnects_total", "bridge_ws_messages_total", "bridge_ws_malformed_total",
                 "bridge_reconcile_duration_seconds", "bridge_qt_call_duration_seconds",
                 "bridge_import_tracks_total", "bridge_catalog_write_duration_seconds",
                 "bridge_tickets_submitted_total", "bridge_callback_events_total"):
        assert name in text, name
    assert 'bridge_import_tracks_total{outcome="imported"} 3.0' in text
    assert 'bridge_requests_total{status="completed"} 1.0' in text


async def test_metrics_counts_live_tickets_by_qt_state(make_bridge, sim):
    sim.set_outcome(None, "needs_approval")
    bridge = await make_bridge()
    reply = await bridge.user("POST", "/v1/user/request-download", body={"album_id": "alb-ok"})
    await bridge.until_status(reply.body["request_id"], "needs_approval")
    text = (await bridge.call("GET", "/metrics")).text
    assert 'bridge_tickets{state="needs_approval"} 1.0' in text


async def _connected(bridge) -> bool:
    return bridge.service.events is not None and bridge.service.events.connected


async def test_unknown_route_and_method_are_json(make_bridge):
    bridge = await make_bridge()
    reply = await bridge.call("GET", "/nope")
    assert reply.status == 404 and "no route /nope" in reply.body["error"]
    reply = await bridge.call("DELETE", "/healthz")
    assert reply.status == 405 and "DELETE" in reply.body["error"]
    assert "GET" in reply.headers["Allow"]


async def test_every_file_of_the_admin_page_carries_its_csp(make_bridge):
    bridge = await make_bridge()
    for path in ("/admin", "/admin/static/admin.html", "/admin/static/admin.js"):
        reply = await bridge.call("GET", path)
        assert reply.status == 200, path
        assert "frame-ancestors 'none'" in reply.headers.get("Content-Security-Policy", ""), path
        assert reply.headers["X-Frame-Options"] == "DENY"


async def test_a_client_that_never_finishes_its_header_is_disconnected(make_bridge, monkeypatch):
    import asyncio

    monkeypatch.setenv("TORRENTINO_BRIDGE_HTTP__HEADER_TIMEOUT_SECS", "0.3")
    bridge = await make_bridge()
    reader, writer = await asyncio.open_connection("127.0.0.1", bridge.service.http_port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")   # and then nothing more
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), timeout=20) == b""   # closed by the server
    finally:
        writer.close()

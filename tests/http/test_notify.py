"""Admin notifications: delivered in the background, retried with backoff, never raising."""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.conftest import wait_for
from torrentino_bridge.domain.status import SubmissionState
from torrentino_bridge.notify import AdminNotifier, build_message
from torrentino_bridge.store.bridge import SubmissionRow
from torrentino_bridge.tasks import TaskSupervisor

SUB = SubmissionRow(
    id="sub-1", album_id="alb-ok", dest_path="/in/tb-sub-1", local_dir="/in/tb-sub-1", body="{}",
    priority=10, ticket_id="t-1", state=SubmissionState.NEEDS_APPROVAL, qt_state="needs_approval",
    progress=None, phase=None, details=None, error=None, attempts=1, created_at="x", updated_at="x",
)


def notifier(urls, session, tasks) -> AdminNotifier:
    return AdminNotifier(urls, session=session, tasks=tasks, attempts=3, backoff_secs=0.01,
                         max_backoff_secs=0.02)


async def test_message_shape():
    msg = build_message("failed", SUB, {"error": "no seeders", "qt_state": "failed"})
    assert msg["event"] == "failed" and msg["ticket_id"] == "t-1" and msg["album_id"] == "alb-ok"
    assert msg["text"] == "ticket t-1 failed: no seeders"
    assert msg["details"]["error"] == "no seeders" and msg["timestamp"].endswith("Z") and msg["id"]


async def test_retries_5xx_then_delivers(notify_receiver, aiohttp_client_session):
    url, received, script = notify_receiver
    script.extend([500, 503])
    tasks = TaskSupervisor()
    n = notifier([url], aiohttp_client_session, tasks)
    await n.notify("needs_approval", SUB, {"candidates": [{"title": "a"}]})
    await tasks.drain("notify:", timeout=30)
    assert len(received) == 3 and len({m["id"] for m in received}) == 1
    assert (n.delivered, n.failed) == (1, 0)
    assert received[0]["text"] == "ticket t-1 needs approval (1 candidates)"


async def test_a_4xx_is_not_retried_and_a_dead_url_gives_up(notify_receiver, aiohttp_client_session):
    url, received, script = notify_receiver
    script.append(400)
    tasks = TaskSupervisor()
    n = notifier([url, "http://127.0.0.1:9/unreachable"], aiohttp_client_session, tasks)
    await n.notify("failed", SUB, {"error": "x"})
    await tasks.drain("notify:", timeout=30)
    assert len(received) == 1
    assert (n.delivered, n.failed) == (0, 2)
    assert not tasks.failed.is_set()


async def test_notify_returns_before_a_slow_receiver_answers(aiohttp_client_session):
    release = asyncio.Event()
    got: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        await release.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        tasks = TaskSupervisor()
        n = notifier([f"http://127.0.0.1:{runner.addresses[0][1]}/hook"], aiohttp_client_session, tasks)
        await n.notify("needs_approval", SUB, {})      # returns while the receiver holds the request
        await wait_for(lambda: _true(bool(got)), what="the receiver to get the message")
        assert n.delivered == 0
        release.set()
        await tasks.drain("notify:", timeout=30)
        assert n.delivered == 1
    finally:
        await runner.cleanup()


async def _true(value: bool) -> bool:
    return value


async def test_no_urls_no_tasks(aiohttp_client_session):
    tasks = TaskSupervisor()
    await notifier([], aiohttp_client_session, tasks).notify("failed", SUB, {})
    assert tasks.alive() == {}


async def test_the_bridge_notifies_on_needs_approval_and_failure(make_bridge, sim, notify_receiver):
    url, received, _ = notify_receiver
    sim.set_outcome("Harbour Lights", "needs_approval")
    sim.set_outcome("Cartas de Verano", "fail_always")
    bridge = await make_bridge(notify_urls=[url])
    for album_id in ("alb-ok", "alb-two"):
        await bridge.user("POST", "/v1/user/request-download", body={"album_id": album_id})

    async def both():
        return len(received) >= 2

    await wait_for(both, what="two notifications")
    by_event = {m["event"]: m for m in received}
    assert set(by_event) == {"needs_approval", "failed"}
    assert len(by_event["needs_approval"]["details"]["candidates"]) == 3
    assert by_event["failed"]["details"]["error"]
    assert by_event["failed"]["album_id"] == "alb-two"

"""EventStream against the simulator: delivery, reconnects, auth, bad messages, stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.sim.helpers import KEY, album_body, collapse, eventually
from torrentino_bridge.qt.events import Event, PipelineProgress, TicketDeleted, TicketUpdate
from torrentino_bridge.qt.websocket import EventStream
from torrentino_bridge.sim.server import QTSimulator, SimConfig


class Harness:
    """One EventStream running in a task, with everything it reported."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, **kwargs: Any) -> None:
        self.events: list[Event] = []
        self.connects = 0
        self.bad: list[tuple[str, str]] = []
        self.fail_on: Callable[[Event], bool] = lambda e: False
        self.stop = asyncio.Event()
        kwargs.setdefault("token", KEY)
        kwargs.setdefault("reconnect_secs", 0.01)
        kwargs.setdefault("max_backoff_secs", 0.05)
        self.stream = EventStream(
            base_url, session=session, on_event=self._on_event, on_connect=self._on_connect,
            on_malformed=lambda err, raw: self.bad.append((err.kind, raw)), **kwargs,
        )
        self.task = asyncio.create_task(self.stream.run(self.stop))

    async def _on_event(self, event: Event) -> None:
        if self.fail_on(event):
            raise RuntimeError("handler bug")
        self.events.append(event)

    async def _on_connect(self) -> None:
        self.connects += 1

    def updates(self, ticket_id: str) -> list[str]:
        return [e.state for e in self.events if isinstance(e, TicketUpdate) and e.ticket_id == ticket_id]

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 10)


@pytest.fixture
async def harness(http: aiohttp.ClientSession) -> AsyncIterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(base_url: str, **kwargs: Any) -> Harness:
        h = Harness(http, base_url, **kwargs)
        made.append(h)
        return h

    try:
        yield make
    finally:
        for h in made:
            if not h.task.done():
                await h.close()


async def create(sim: QTSimulator, http: aiohttp.ClientSession, body: dict[str, Any]) -> str:
    async with http.post(f"{sim.base_url}/api/v1/tickets", json=body,
                         headers={"Authorization": f"Bearer {KEY}"}) as resp:
        assert resp.status == 201
        return str((await resp.json())["id"])


async def test_delivers_every_state_write(
    qtsim: QTSimulator, http: aiohttp.ClientSession, harness: Any, tmp_path: Path
) -> None:
    h = harness(qtsim.base_url)
    await eventually(lambda: h.connects == 1, what="connected")
    assert h.stream.connected and h.stream.connected_since is not None
    ticket_id = await create(qtsim, http, album_body(tmp_path / "a"))
    await eventually(lambda: "completed" in h.updates(ticket_id), what="completed event")
    assert h.updates(ticket_id) == [s["type"] for s in qtsim.history[ticket_id]]
    assert collapse(h.updates(ticket_id)) == [
        "pending", "acquiring", "auto_approved", "downloading", "converting", "placing", "completed"]
    phases = [(e.phase, e.current) for e in h.events if isinstance(e, PipelineProgress)]
    assert phases == [("converting", 0), ("converting", 1), ("converting", 2),
                      ("placing", 1), ("placing", 2), ("placing", 3)]
    assert h.stream.messages["ticket_update"] == len(qtsim.history[ticket_id])
    assert h.stream.messages["pipeline_progress"] == 6
    assert h.stream.last_message_at is not None
    await http.post(f"{qtsim.base_url}/api/v1/tickets/{ticket_id}/delete?confirm=true",
                    headers={"X-API-Key": KEY})
    await eventually(lambda: TicketDeleted(ticket_id) in h.events, what="ticket_deleted")


async def test_reconnects_and_calls_on_connect_again(qtsim: QTSimulator, harness: Any) -> None:
    h = harness(qtsim.base_url)
    await eventually(lambda: h.connects == 1, what="first connect")
    await qtsim.drop_connections()
    await eventually(lambda: h.connects == 2, what="reconnect")
    assert h.stream.reconnects == 1 and h.stream.connected
    assert h.stream.last_error is None


async def test_outage_then_recovery(qtsim: QTSimulator, harness: Any) -> None:
    h = harness(qtsim.base_url)
    await eventually(lambda: h.connects == 1, what="first connect")
    qtsim.set_faults(outage_status=503)
    await eventually(lambda: h.stream.last_error and "503" in h.stream.last_error, what="outage seen")
    assert not h.stream.connected
    qtsim.set_faults(outage_status=None)
    await eventually(lambda: h.connects == 2, what="recovery")
    assert h.stream.connected and h.stream.last_error is None


async def test_auth_failure_on_upgrade_then_rotated_token(qtsim: QTSimulator, harness: Any) -> None:
    token = {"value": "wrong-key"}
    h = harness(qtsim.base_url, token=lambda: token["value"])
    await eventually(lambda: h.stream.last_error, what="an auth error")
    assert "refused the API key" in h.stream.last_error and "401" in h.stream.last_error
    assert h.connects == 0 and not h.stream.connected
    token["value"] = KEY
    await eventually(lambda: h.connects == 1, what="connect with the rotated token")


async def test_server_not_there_yet(harness: Any, unused_tcp_port: int) -> None:
    h = harness(f"http://127.0.0.1:{unused_tcp_port}")
    await eventually(lambda: h.stream.last_error, what="connection error")
    assert not h.stream.connected and h.connects == 0
    late = QTSimulator(SimConfig(api_key=KEY, step_secs=0.005))
    await late.start(port=unused_tcp_port)
    try:
        await eventually(lambda: h.connects == 1, what="connect once QT is up")
    finally:
        await h.close()
        await late.stop()


async def test_malformed_and_unknown_are_counted_and_skipped(qtsim: QTSimulator, harness: Any) -> None:
    h = harness(qtsim.base_url)
    await eventually(lambda: h.connects == 1, what="connected")
    qtsim.broadcast({"type": "ticket_update", "state": "pending"})            # no ticket_id
    qtsim.broadcast({"type": "stats_update", "ticket_id": "t"})               # unknown
    qtsim.broadcast({"type": "torrent_progress", "ticket_id": "t", "progress_pct": "lots"})
    qtsim.broadcast({"type": "ticket_update", "ticket_id": "t", "state": "pending"})
    await eventually(lambda: h.events, what="the valid event")
    assert h.events == [TicketUpdate("t", "pending")]
    assert (h.stream.malformed, h.stream.unknown) == (2, 1)
    assert [kind for kind, _ in h.bad] == ["malformed", "unknown", "malformed"]
    assert '"stats_update"' in h.bad[1][1]
    assert h.stream.connected and h.connects == 1


async def test_handler_exception_does_not_kill_the_loop(qtsim: QTSimulator, harness: Any) -> None:
    h = harness(qtsim.base_url)
    h.fail_on = lambda e: isinstance(e, TicketUpdate) and e.ticket_id == "boom"
    await eventually(lambda: h.connects == 1, what="connected")
    qtsim.broadcast({"type": "ticket_update", "ticket_id": "boom", "state": "failed"})
    qtsim.broadcast({"type": "ticket_update", "ticket_id": "fine", "state": "completed"})
    await eventually(lambda: h.events, what="the event after the failing one")
    assert h.events == [TicketUpdate("fine", "completed")]
    assert h.stream.messages["ticket_update"] == 2 and h.connects == 1


async def test_drop_ws_delivers_nothing_but_connects(
    make_sim: Any, http: aiohttp.ClientSession, harness: Any, tmp_path: Path
) -> None:
    sim: QTSimulator = await make_sim(drop_ws=True)
    h = harness(sim.base_url)
    await eventually(lambda: h.connects == 1, what="connected")
    ticket_id = await create(sim, http, album_body(tmp_path / "d"))
    await eventually(lambda: sim.state_of(ticket_id) == "completed", what="completion")
    # A sentinel sent after drop_ws is lifted proves the socket was live all along.
    sim.set_faults(drop_ws=False)
    sim.broadcast({"type": "heartbeat", "timestamp": "sentinel"})
    await eventually(lambda: h.events, what="the sentinel")
    assert [type(e).__name__ for e in h.events] == ["Heartbeat"]
    assert sim.broadcaster.suppressed >= len(sim.history[ticket_id])


async def test_pings_are_answered(qtsim: QTSimulator, harness: Any) -> None:
    h = harness(qtsim.base_url, heartbeat_secs=0.02)
    await eventually(lambda: h.connects == 1, what="connected")
    # Many heartbeat intervals pass; a missing pong would have dropped the link.
    await asyncio.sleep(0.3)
    assert h.stream.connected and h.stream.reconnects == 0 and h.connects == 1


async def test_stop_ends_run(qtsim: QTSimulator, harness: Any) -> None:
    h = harness(qtsim.base_url)
    await eventually(lambda: h.connects == 1, what="connected")
    await h.close()
    assert h.task.done() and not h.stream.connected
    await eventually(lambda: not qtsim.broadcaster.clients, what="server saw the close")


async def test_stop_while_backing_off(harness: Any, unused_tcp_port: int) -> None:
    h = harness(f"http://127.0.0.1:{unused_tcp_port}", reconnect_secs=60, max_backoff_secs=60)
    await eventually(lambda: h.stream.last_error, what="first failure")
    await h.close()      # wakes the 60 s backoff sleep at once
    assert h.task.done()


async def test_a_text_frame_that_is_not_utf8_is_malformed_not_fatal(aiohttp_server: Any, harness: Any) -> None:
    # Text frames reach the parser as bytes; bad UTF-8 is one malformed event, not a
    # protocol error that would drop the connection (and every message in flight).
    from aiohttp import WSMsgType, web

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        await sock.send_frame(b'{"type": "ticket_update", "ticket_id": "\xff", "state": "x"}', WSMsgType.TEXT)
        await sock.send_frame('{"type": "ticket_update", "ticket_id": "caf\u00e9", "state": "pending"}'.encode(),
                              WSMsgType.TEXT)
        await sock.receive()   # until the client closes
        return sock

    app = web.Application()
    app.router.add_get("/api/v1/ws", ws)
    server = await aiohttp_server(app)
    h = harness(str(server.make_url("")))
    await eventually(lambda: h.events, what="the valid event")
    assert h.events == [TicketUpdate("caf\u00e9", "pending")]
    assert h.bad and h.bad[0][0] == "malformed" and '"ticket_update"' in h.bad[0][1]
    assert h.stream.malformed == 1 and h.connects == 1 and h.stream.connected

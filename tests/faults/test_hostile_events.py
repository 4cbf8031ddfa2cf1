"""Hostile push messages: QT WebSocket frames and webhook-shaped bodies.

Targets the real entry points: qt.events.normalise (pure), the EventStream receive loop
against a real aiohttp WebSocket server sending the frames, and a running bridge whose
socket gets a flood of junk while it completes a real request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import album, build_catalog, wait_for
from tests.faults.hostile import (
    LoopCaller,
    deep_nesting,
    huge_json,
    json_values,
    nasty_text,
    prop_settings,
    run_property,
    truncations,
    with_field,
)
from torrentino_bridge.qt.events import (
    MAX_MESSAGE_BYTES,
    Event,
    EventError,
    Heartbeat,
    OrchestratorStatus,
    PipelineProgress,
    TicketDeleted,
    TicketUpdate,
    TorrentProgress,
    normalise,
)
from torrentino_bridge.qt.websocket import EventStream

pytestmark = pytest.mark.faults

VALID: list[dict[str, Any]] = [
    {"type": "ticket_update", "ticket_id": "t-1", "state": "downloading"},
    {"type": "ticket_deleted", "ticket_id": "t-1"},
    {"type": "pipeline_progress", "ticket_id": "t-1", "phase": "converting", "current": 1, "total": 3,
     "current_name": "01.flac", "percent": 33.3},
    {"type": "torrent_progress", "ticket_id": "t-1", "info_hash": "ab", "progress_pct": 5.5,
     "speed_bps": 100, "eta_secs": 9},
    {"type": "orchestrator_status", "running": True},
    {"type": "heartbeat", "timestamp": "2026-01-01T00:00:00Z"},
    {"type": "progress", "ticket_id": "t-1", "progress_pct": 10},
    {"type": "state_change", "ticket_id": "t-1", "new_state": "placing"},
    {"type": "needs_approval", "ticket_id": "t-1", "candidates": [{"title": "x"}]},
    {"type": "completed", "ticket_id": "t-1"},
    {"type": "failed", "ticket_id": "t-1", "error": "no peers", "retryable": False},
    {"event": "completed", "ticket_id": "t-1", "timestamp": "2026-01-01T00:00:00Z", "details": {}},
    {"event": "failed", "ticket_id": "t-1", "details": {"error": "x", "retryable": True}},
]


def _mutations() -> st.SearchStrategy[str | bytes | dict[str, Any]]:
    mutated = st.sampled_from(VALID).flatmap(
        lambda base: with_field(base, [*base.keys(), "details", "type", "event"])
    )
    texts = st.sampled_from(VALID).map(json.dumps).flatmap(truncations)
    return st.one_of(
        mutated,
        mutated.map(json.dumps),
        texts,
        json_values.map(json.dumps),
        nasty_text,
        st.binary(max_size=64),
        st.sampled_from([deep_nesting(100_000), huge_json(MAX_MESSAGE_BYTES), "NaN", "Infinity",
                         '{"type": "ticket_update", "ticket_id": "t", "state": "x", "percent": NaN}',
                         '{"type":"pipeline_progress","ticket_id":"t","phase":"p","percent":1e999}',
                         b"\xff\xfe{}", "\ud800".encode("utf-8", "surrogatepass")]),
    )


def _well_typed(event: Event) -> bool:
    match event:
        case TicketUpdate(ticket_id=t, state=s):
            return isinstance(t, str) and bool(t) and isinstance(s, str) and bool(s)
        case TicketDeleted(ticket_id=t):
            return isinstance(t, str) and bool(t)
        case PipelineProgress(ticket_id=t, phase=p, percent=pct):
            return isinstance(t, str) and isinstance(p, str) and (pct is None or 0.0 <= pct <= 100.0)
        case TorrentProgress(ticket_id=t, percent=pct):
            return isinstance(t, str) and (pct is None or 0.0 <= pct <= 100.0)
        case OrchestratorStatus(running=r):
            return isinstance(r, bool)
        case Heartbeat():
            return True
    return False


@prop_settings(3)
@given(_mutations())
def test_normalise_returns_a_typed_event_or_a_clear_error(raw: str | bytes | dict[str, Any]) -> None:
    try:
        event = normalise(raw)
    except EventError as err:
        assert err.kind in ("malformed", "unknown")
        assert err.message and len(err.message) < 400
        return
    assert _well_typed(event), event


# --- the receive loop against a real WebSocket server ------------------------------------

class HostileServer:
    """Sends queued frames to whoever connects; a frame that kills a connection is not
    sent again (the cursor is shared), as a server would not replay it."""

    def __init__(self) -> None:
        self.frames: list[str | bytes] = []
        self.cursor = 0
        self.connections = 0
        self.more = asyncio.Event()

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.connections += 1
        try:
            while not ws.closed:
                if self.cursor >= len(self.frames):
                    self.more.clear()
                    waiter = asyncio.ensure_future(self.more.wait())
                    reader = asyncio.ensure_future(ws.receive())
                    await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    if reader.done():
                        break
                    reader.cancel()
                    continue
                frame = self.frames[self.cursor]
                self.cursor += 1
                if isinstance(frame, bytes):
                    await ws.send_bytes(frame)
                else:
                    await ws.send_str(frame)
        except (ConnectionError, RuntimeError):
            pass
        return ws

    def send(self, frames: list[str | bytes]) -> None:
        self.frames.extend(frames)
        self.more.set()


@pytest.fixture
async def hostile_ws() -> AsyncIterator[tuple[str, HostileServer]]:
    server = HostileServer()
    app = web.Application()
    app.router.add_get("/api/v1/ws", server.ws)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", server
    finally:
        await runner.cleanup()


async def test_event_stream_survives_hostile_frames(hostile_ws: tuple[str, HostileServer]) -> None:
    url, server = hostile_ws
    delivered: list[Event] = []
    bad: list[str] = []

    async def on_event(event: Event) -> None:
        assert _well_typed(event), event
        delivered.append(event)

    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        stream = EventStream(url, token="k", session=session, on_event=on_event,
                             on_malformed=lambda err, raw: bad.append(err.kind),
                             reconnect_secs=0.01, max_backoff_secs=0.05)
        task = asyncio.create_task(stream.run(stop))
        counter = iter(range(10**9))

        @prop_settings()
        @given(st.lists(st.one_of(_mutations().map(lambda m: m if isinstance(m, str | bytes) else json.dumps(m)),
                                  st.binary(max_size=200)), max_size=8))
        def prop(call: LoopCaller, frames: list[str | bytes]) -> None:
            # After any junk, a good message still arrives and is handled.
            marker = f"sentinel-{next(counter)}"
            server.send([*frames, json.dumps({"type": "ticket_update", "ticket_id": marker, "state": "pending"})])

            async def arrived() -> bool:
                return any(isinstance(e, TicketUpdate) and e.ticket_id == marker for e in delivered)

            call(wait_for(arrived, timeout=30, what=f"{marker} after hostile frames"))

        try:
            await run_property(lambda call: prop(call))
            # A frame over the client's 4 MiB limit drops the connection; the loop reconnects.
            # (The dying connection's handler may swallow the next frame, so keep offering it.)
            server.send(["x" * (5 * 1024 * 1024)])
            seen = _arrived(delivered, "after-huge")

            async def offered_and_seen() -> bool:
                server.send([json.dumps({"type": "ticket_update", "ticket_id": "after-huge", "state": "pending"})])
                return await seen()

            await wait_for(offered_and_seen, timeout=30, interval=0.5, what="a message after a huge frame")
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    assert bad, "the hostile frames were counted as malformed or unknown"


def _arrived(delivered: list[Event], ticket_id: str):
    async def check() -> bool:
        return any(isinstance(e, TicketUpdate) and e.ticket_id == ticket_id for e in delivered)

    return check


# --- a running bridge whose socket is flooded with junk ---------------------------------

JUNK = [
    '{"type": "ticket_update", "ticket_id": ',           # truncated
    '{"type": "ticket_update", "ticket_id": 7, "state": []}',
    '{"type": "pipeline_progress", "ticket_id": "nope", "phase": 3}',
    '{"type": "ticket_deleted", "ticket_id": "not-ours"}',
    '{"type": "ticket_update", "ticket_id": "not-ours", "state": "completed"}',
    '{"type": "orchestrator_status", "running": "yes"}',
    '{"type": "from_the_future", "ticket_id": "x"}',
    "[1, 2, 3]", "null", "", "\u202e\x00",
    huge_json(MAX_MESSAGE_BYTES + 1),
]


async def test_a_flood_of_junk_does_not_disturb_a_real_request(tmp_path, sim, settings_for, running_bridge) -> None:
    spec = album("alb-junk", "Noise", "Static", ["Hiss", "Crackle"])
    catalog = build_catalog(tmp_path / "catalog.db", [spec])
    service = await running_bridge(settings_for(catalog, sim.base_url))
    await service.store.insert_request("r1", "u1", album_id=spec.id)

    async def flood_until_done() -> tuple[str, str | None]:
        while True:
            for client in list(sim.broadcaster.clients):
                for text in JUNK:
                    client.offer(text)
                # What the real events refer to, with wrong types in every field.
                for ticket_id in list(sim.tickets):
                    client.offer(json.dumps({"type": "ticket_update", "ticket_id": ticket_id, "state": 5}))
                    client.offer(json.dumps({"type": "pipeline_progress", "ticket_id": ticket_id,
                                             "phase": "placing", "percent": "half"}))
            row = await service.store.get_request("r1")
            if row is not None and row.status in ("completed", "failed"):
                return row.status, row.error
            await asyncio.sleep(0.02)

    assert await asyncio.wait_for(flood_until_done(), 60) == ("completed", None)
    assert service.events is not None and service.events.malformed + service.events.unknown > 0
    assert not service.tasks.failed.is_set(), service.tasks.failures
    rows = await service.catalog.get_album_tracks(spec.id)
    assert {t.availability.value for t in rows} == {"available"}

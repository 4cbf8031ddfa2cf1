"""The bounded broadcast: a client that stops reading loses the oldest messages, silently,
while a reading client gets everything; dropped connections get nothing replayed."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import aiohttp

from torrentino_bridge.sim.server import QTSimulator

from .helpers import KEY, WsRecorder, eventually

PAD = "x" * 2000


def small_receive_buffer(addr_info: Any) -> socket.socket:
    """A client socket with a tiny receive window, so an idle reader backs QT's sends up."""
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=kind, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


async def test_slow_client_loses_oldest_messages(make_sim: Any, http: aiohttp.ClientSession) -> None:
    sim: QTSimulator = await make_sim(ws_buffer=16)
    fast = WsRecorder()
    await fast.connect(http, str(sim.base_url), KEY)
    connector = aiohttp.TCPConnector(socket_factory=small_receive_buffer)
    async with aiohttp.ClientSession(connector=connector) as slow_session:
        slow = await slow_session.ws_connect(f"{sim.base_url}/api/v1/ws", headers={"X-API-Key": KEY},
                                             max_msg_size=0)
        await eventually(lambda: len(sim.broadcaster.clients) == 2, what="two clients")
        sent = 0

        async def publish_until_dropped() -> bool:
            nonlocal sent
            for _ in range(20):
                sim.broadcast({"type": "heartbeat", "timestamp": str(sent), "pad": PAD})
                sent += 1
                await asyncio.sleep(0)     # let the senders (and the fast reader) run
            return sum(sim.broadcaster.client_drops()) > 0

        # The slow client reads nothing meanwhile; its buffer overflows at some point.
        await eventually(publish_until_dropped, what="a drop for the idle client", timeout=60)
        sim.broadcast({"type": "heartbeat", "timestamp": "last"})
        sent += 1
        received: list[str] = []
        while not received or received[-1] != "last":
            msg = await slow.receive(timeout=10)
            received.append(json.loads(msg.data)["timestamp"])
        await slow.close()
    numbers = [int(r) for r in received[:-1]]
    assert len(received) < sent                           # messages were lost...
    assert numbers == sorted(numbers)                     # ...without reordering
    assert sim.broadcaster.dropped_total == sent - len(received)
    # The reading client lost nothing.
    await eventually(lambda: fast.messages and fast.messages[-1]["timestamp"] == "last", what="fast")
    assert len(fast.messages) == sent
    await fast.close()


async def test_nothing_is_replayed_after_a_reconnect(qtsim: QTSimulator, http: aiohttp.ClientSession) -> None:
    first = WsRecorder()
    await first.connect(http, str(qtsim.base_url), KEY)
    await qtsim.drop_connections()
    await first.close()
    qtsim.broadcast({"type": "heartbeat", "timestamp": "missed"})
    second = WsRecorder()
    await second.connect(http, str(qtsim.base_url), KEY)
    await eventually(lambda: len(qtsim.broadcaster.clients) == 1, what="reconnected")
    qtsim.broadcast({"type": "heartbeat", "timestamp": "seen"})
    await eventually(lambda: second.messages, what="the new message")
    assert [m["timestamp"] for m in second.messages] == ["seen"]
    await second.close()

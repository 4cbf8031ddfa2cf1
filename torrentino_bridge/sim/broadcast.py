"""QT's WebSocket broadcast: a bounded buffer per client, lagging clients lose messages.

Like QT's tokio broadcast channel, a client that falls `buffer` messages behind
silently loses the oldest ones; nothing is replayed to a client that reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import WSMsgType, web


class _Client:
    def __init__(self, ws: web.WebSocketResponse, buffer: int) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=max(1, buffer))
        self.dropped = 0

    def offer(self, text: str) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(text)


class Broadcaster:
    def __init__(self, buffer: int) -> None:
        self.buffer = buffer
        self.clients: set[_Client] = set()
        self.sent = 0
        self.dropped_total = 0       # lost to full buffers
        self.suppressed = 0          # dropped on purpose (drop_ws)
        self.drop_all = False

    def publish(self, message: dict[str, Any]) -> None:
        if self.drop_all:
            self.suppressed += 1
            return
        text = json.dumps(message)
        for client in self.clients:
            before = client.dropped
            client.offer(text)
            self.dropped_total += client.dropped - before

    def client_drops(self) -> list[int]:
        return [c.dropped for c in self.clients]

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        """Run one WebSocket client until it leaves. Messages it sends are ignored."""
        ws = web.WebSocketResponse(autoping=True, timeout=2.0)  # answers pings, no heartbeat
        await ws.prepare(request)
        client = _Client(ws, self.buffer)
        self.clients.add(client)
        sender = asyncio.create_task(self._send(client), name="sim-ws-sender")
        try:
            async for msg in ws:
                if msg.type is WSMsgType.ERROR:
                    break
        finally:
            self.clients.discard(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws

    async def _send(self, client: _Client) -> None:
        while True:
            text = await client.queue.get()
            try:
                await client.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            self.sent += 1

    async def close_all(self) -> None:
        """Drop every connection (an outage or a restart, for reconnect tests)."""
        for client in list(self.clients):
            await client.ws.close(code=1001, message=b"server going away")

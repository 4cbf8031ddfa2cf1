"""Helpers shared by the QT client and simulator tests: ticket bodies, a raw WebSocket
recorder, and waiting on a condition (no fixed sleeps, no timing assertions)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

KEY = "sim-key-7d2e"


def album_body(dest: Path | str, description: str = "Radiohead - OK Computer (1997)", *,
               tracks: list[dict[str, Any]] | None = None, fmt: str | None = "ogg_vorbis",
               artist: str = "Radiohead", title: str = "OK Computer") -> dict[str, Any]:
    if tracks is None:
        tracks = [
            {"number": 1, "title": "Airbag", "duration_secs": 2, "disc_number": 1},
            {"number": 2, "title": "Paranoid Android", "duration_ms": 1000, "disc_number": 1},
            {"number": 3, "title": "Subterranean Homesick Alien", "duration_secs": 1},
        ]
    body: dict[str, Any] = {
        "priority": 10,
        "query_context": {
            "tags": ["music", "album"], "description": description,
            "expected": {"type": "album", "artist": artist, "title": title, "tracks": tracks},
        },
        "dest_path": str(dest),
    }
    if fmt == "original":
        body["output_constraints"] = {"type": "original"}
    elif fmt is not None:
        body["output_constraints"] = {"type": "audio", "format": fmt, "bitrate_kbps": 320}
    return body


async def eventually(check: Callable[[], Any], *, what: str, timeout: float = 20.0) -> Any:
    """Poll check() (sync or async) until it returns something truthy. The timeout only
    guards against a hang; nothing asserts how long it took."""
    async def loop() -> Any:
        while True:
            result = check()
            if isinstance(result, Awaitable):
                result = await result
            if result:
                return result
            await asyncio.sleep(0.01)

    try:
        return await asyncio.wait_for(loop(), timeout)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


class WsRecorder:
    """A raw WebSocket client that records every JSON message it receives."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self, session: aiohttp.ClientSession, base_url: str, key: str | None) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.ws = await session.ws_connect(f"{base_url}/api/v1/ws", headers=headers)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(msg.data))

    def states(self, ticket_id: str) -> list[str]:
        return [m["state"] for m in self.messages
                if m.get("type") == "ticket_update" and m.get("ticket_id") == ticket_id]

    def of_type(self, kind: str, ticket_id: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind
                and (ticket_id is None or m.get("ticket_id") == ticket_id)]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            await self._task


def collapse(seq: list[str]) -> list[str]:
    """Consecutive repeats folded: the walk through distinct states."""
    out: list[str] = []
    for item in seq:
        if not out or out[-1] != item:
            out.append(item)
    return out

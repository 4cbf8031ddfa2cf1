"""A small Server-Sent Events reader for tests: events (and heartbeat comments) off a response."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass
class Sse:
    event: str              # "ping" for a heartbeat comment
    id: str | None = None
    data: Any = None
    retry: int | None = None


async def read_events(resp: aiohttp.ClientResponse, *, pings: bool = False) -> AsyncIterator[Sse]:
    fields: dict[str, str] = {}
    data: list[str] = []
    async for raw in resp.content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data or fields:
                yield Sse(fields.get("event", "message"), fields.get("id"),
                          json.loads("\n".join(data)) if data else None,
                          int(fields["retry"]) if "retry" in fields else None)
            fields, data = {}, []
        elif line.startswith(":"):
            if pings:
                yield Sse("ping")
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value


async def collect(resp: aiohttp.ClientResponse, until: Any, *, timeout: float = 30.0,
                  pings: bool = False) -> list[Sse]:
    """Events until `until(events)` is true (AssertionError after `timeout`)."""
    got: list[Sse] = []

    async def run() -> None:
        async for event in read_events(resp, pings=pings):
            got.append(event)
            if until(got):
                return
        raise AssertionError(f"the stream ended first: {[e.event for e in got]}")

    try:
        await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out; got {[(e.event, e.data) for e in got][-20:]}") from None
    return got

"""Event throughput: 1,000 active tickets emitting progress, QT's own vocabulary
(ticket_update on every progress write, pipeline_progress now and then), blasted by the
fake QT in another process as pre-built frames written straight to the socket, so the
receiver, never the sender, sets the pace.

baseline  a bare aiohttp WebSocket receive loop (count the frames, nothing else)
json      the same loop plus json.loads of each frame (the least any consumer must do)
parse     the bridge's EventStream with a handler that does nothing (frames -> events)
bridge    the running bridge: EventStream -> service._on_event -> TicketTracker.on_event,
          1,000 live submissions in its database, production settings
Throughput = messages / seconds from the first frame to the sentinel (the last frame)
being handled. Target: bridge >= 50% of baseline.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from .common import FakeQTProcess, Result, build_catalog, seed_live_tickets, until, write_config

TICKETS = 1000
ROUNDS = 60            # 60,000 progress messages per run
RUNS = 5


async def _blast(qt: FakeQTProcess, ids: list[str], sentinel: str) -> None:
    await qt.call("POST", "/bench/blast", {"ticket_ids": ids, "rounds": ROUNDS, "sentinel": sentinel})


async def baseline(qt: FakeQTProcess, ids: list[str], sentinel: str, *, decode: bool = False) -> float:
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{qt.url}/api/v1/ws") as ws:
        await until(lambda: _clients(qt, 1), timeout=10)
        sender = asyncio.create_task(_blast(qt, ids, sentinel))
        count, started = 0, 0.0
        async for msg in ws:
            if count == 0:
                started = time.perf_counter()
            count += 1
            if decode:
                json.loads(msg.data)
            if sentinel in msg.data:
                break
        elapsed = time.perf_counter() - started
        await sender
    return count / elapsed


async def _clients(qt: FakeQTProcess, n: int) -> bool:
    return (await qt.call("GET", "/bench/stats"))["clients"] == n


async def parse_only(qt: FakeQTProcess, ids: list[str], sentinel: str) -> float:
    from torrentino_bridge.qt.events import TicketUpdate
    from torrentino_bridge.qt.websocket import EventStream

    done = asyncio.Event()
    count = 0
    started = 0.0

    async def on_event(event: Any) -> None:
        nonlocal count, started
        if count == 0:
            started = time.perf_counter()
        count += 1
        if isinstance(event, TicketUpdate) and event.ticket_id == sentinel:
            done.set()

    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        stream = EventStream(qt.url, token=None, session=session, on_event=on_event)
        task = asyncio.create_task(stream.run(stop))
        await until(lambda: _clients(qt, 1), timeout=10)
        sender = asyncio.create_task(_blast(qt, ids, sentinel))
        await done.wait()
        elapsed = time.perf_counter() - started
        await sender
        stop.set()
        await task
    return count / elapsed


async def bridge(qt: FakeQTProcess, config: Path, ids: list[str], sentinel: str, runs: int) -> list[float]:
    from torrentino_bridge.config import load_settings
    from torrentino_bridge.qt.events import TicketUpdate
    from torrentino_bridge.service import BridgeService

    service = BridgeService(load_settings(config))
    await service.start()
    rates = []
    try:
        assert service.events is not None
        await until(lambda: service.events.connected and service.reconciler.last_success_at, timeout=120,
                    what="the first reconcile pass")
        await until(lambda: not [n for n, up in service.tasks.alive().items() if n.startswith("ticket:") and up],
                    timeout=120, what="the reconcile pass's refreshes")
        original = service.events.on_event
        for _ in range(runs):
            done = asyncio.Event()
            count = 0
            started = 0.0

            async def on_event(event: Any, original: Any = original, done: asyncio.Event = done) -> None:
                nonlocal count, started
                if count == 0:
                    started = time.perf_counter()
                count += 1
                await original(event)
                if isinstance(event, TicketUpdate) and event.ticket_id == sentinel:
                    done.set()

            service.events.on_event = on_event
            sender = asyncio.create_task(_blast(qt, ids, sentinel))
            await done.wait()
            rates.append(count / (time.perf_counter() - started))
            await sender
    finally:
        await service.stop()
    return rates


async def run() -> Result:
    from torrentino_bridge.log import configure_logging

    configure_logging("warning", "json")
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        work = Path(tmp)
        catalog = build_catalog(work / "catalog.db", TICKETS)
        seeded = seed_live_tickets(work / "bridge.db", catalog, TICKETS, work / "incoming")
        ids = [t[0] for t in seeded]
        async with FakeQTProcess() as qt:
            await qt.call("POST", "/bench/seed", {"tickets": seeded})
            config = write_config(work, catalog, qt.url)
            base = [await baseline(qt, ids, f"sentinel-base-{i}") for i in range(RUNS)]
            decoded = [await baseline(qt, ids, f"sentinel-json-{i}", decode=True) for i in range(RUNS)]
            parsed = [await parse_only(qt, ids, f"sentinel-parse-{i}") for i in range(RUNS)]
            bridged = await bridge(qt, config, ids, "sentinel-bridge", RUNS)
    b, p, r = statistics.median(base), statistics.median(parsed), statistics.median(bridged)
    return Result(
        name="event_throughput", figure="event throughput, 1,000 active tickets emitting progress",
        value=round(r), unit="msg/s", target=">= 50% of baseline", met=r >= 0.5 * b,
        baseline=round(b), baseline_label="bare aiohttp WebSocket receive loop",
        detail={"ratio": round(r / b, 3), "messages_per_run": TICKETS * ROUNDS + 1, "runs": RUNS,
                "baseline_runs": [round(x) for x in base],
                "json_loads_only_median": round(statistics.median(decoded)),
                "json_loads_only_ratio": round(statistics.median(decoded) / b, 3),
                "parse_only_runs": [round(x) for x in parsed], "parse_only_ratio": round(p / b, 3),
                "parse_only_median": round(p), "bridge_runs": [round(x) for x in bridged]},
    )


if __name__ == "__main__":
    print(asyncio.run(run()))

"""Shared-table insert -> ticket POSTed.

The daemon runs as a real subprocess with the production settings (poll_interval_secs
0.25); this process plays the catalog server, inserting album requests into
download_requests on its own connection, and the fake QT (another process) stamps each
POST /tickets on arrival. Both clocks are CLOCK_MONOTONIC on one machine.

steady  200 requests at random intervals, 20 per second on average
burst   100 requests inserted back to back
Target: steady p99 < 1.5 s.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from .common import (
    DaemonProcess,
    FakeQTProcess,
    Result,
    album_id,
    build_catalog,
    migrate_bridge_db,
    ms,
    percentile,
    until,
    write_config,
)

STEADY = 200
RATE = 20.0
BURST = 100


def insert(conn: sqlite3.Connection, i: int) -> float:
    with conn:
        conn.execute("INSERT INTO download_requests (id, user_id, album_id) VALUES (?, ?, ?)",
                     (f"req-{i}", f"user{i % 40}", album_id(i)))
    return time.monotonic()


async def run() -> Result:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        work = Path(tmp)
        catalog = build_catalog(work / "catalog.db", 2000)
        migrate_bridge_db(work / "bridge.db")
        async with FakeQTProcess() as qt:
            config = write_config(work, catalog, qt.url)
            async with DaemonProcess(config, work / "daemon.log") as daemon:
                await until(lambda: _started(work / "daemon.log"), timeout=60, what="the daemon")
                conn = sqlite3.connect(work / "bridge.db", timeout=30)
                inserted: dict[int, float] = {}
                for i in range(STEADY):
                    await asyncio.sleep(rng.expovariate(RATE))
                    inserted[i] = insert(conn, i)   # one short statement, as the catalog server would
                await until(lambda: _posted(qt, STEADY), timeout=120, what="the steady POSTs")
                await asyncio.sleep(1.0)
                for i in range(STEADY, STEADY + BURST):
                    inserted[i] = insert(conn, i)
                await until(lambda: _posted(qt, STEADY + BURST), timeout=120, what="the burst POSTs")
                conn.close()
                posts = (await qt.call("GET", "/bench/stats"))["posts"]
                assert daemon.proc is not None and daemon.proc.returncode is None
    arrived = {int(desc.split(" - ")[0].split()[-1]): at for at, desc in posts}
    steady = [arrived[i] - inserted[i] for i in range(STEADY)]
    burst = [arrived[i] - inserted[i] for i in range(STEADY, STEADY + BURST)]
    p99 = percentile(steady, 99)
    return Result(
        name="insert_to_post", figure="shared-table insert -> ticket POSTed (steady 20/s)",
        value=ms(p99), unit="ms p99", target="p99 < 1500 ms", met=p99 < 1.5,
        detail={"steady_p50_ms": ms(percentile(steady, 50)), "steady_p99_ms": ms(p99),
                "steady_max_ms": ms(max(steady)), "steady_requests": STEADY, "rate_per_s": RATE,
                "burst_p50_ms": ms(percentile(burst, 50)), "burst_p99_ms": ms(percentile(burst, 99)),
                "burst_requests": BURST, "poll_interval_secs": 0.25},
    )


def _started(log: Path) -> bool:
    return log.exists() and '"bridge.started"' in log.read_text(errors="replace")


async def _posted(qt: FakeQTProcess, n: int) -> bool:
    return len((await qt.call("GET", "/bench/stats"))["posts"]) >= n


if __name__ == "__main__":
    print(asyncio.run(run()))

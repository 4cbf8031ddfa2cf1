"""A catalog-server-like read query while the bridge handles a burst, against the same
query while the bridge idles; both measured in one run by one reader process.

The daemon (real subprocess, production settings) and the fake QT (completing each
ticket 0.2 s after its POST by copying two real OGG files into its dest_path) run
throughout. The reader (bench/reader.py) times album-page queries back to back with a
2 ms pause, alternating with the same query on an untouched copy of the catalog (the
control: what the machine's load alone does). idle: 4 s with nothing to do, before each
of three bursts. burst: 100 album requests inserted at once,
from the first insert until every request completed (plan, POST, import with decoding
verification, catalog writes). Target: burst p99 < 2x idle p99.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from .common import (
    ROOT,
    DaemonProcess,
    FakeQTProcess,
    Result,
    album_id,
    build_catalog,
    migrate_bridge_db,
    ms,
    percentile,
    templates,
    until,
    write_config,
)

ALBUMS = 20000
BURST = 100
BURSTS = 3             # three bursts one after the other, for enough samples at p99
IDLE_SECS = 12.0       # in total, split into one idle window before each burst


async def run() -> Result:
    with tempfile.TemporaryDirectory(prefix="bench-readers-") as tmp:
        work = Path(tmp)
        catalog = build_catalog(work / "catalog.db", ALBUMS)
        control = build_catalog(work / "control.db", ALBUMS)
        migrate_bridge_db(work / "bridge.db")
        template = templates(work / "template")
        async with FakeQTProcess(templates_dir=template, complete_after=0.2) as qt:
            config = write_config(work, catalog, qt.url)
            async with DaemonProcess(config, work / "daemon.log") as daemon:
                await until(lambda: '"bridge.started"' in (work / "daemon.log").read_text(errors="replace"),
                            timeout=60, what="the daemon")
                reader = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bench.reader", "--db", str(catalog), "--albums", str(ALBUMS),
                    "--control", str(control),
                    cwd=str(ROOT), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                )
                await asyncio.sleep(1.0)                      # the reader warms its page cache
                idle_windows, windows = [], []
                for b in range(BURSTS):
                    # Idle and busy windows alternate, so both see the same background load.
                    start = time.monotonic()
                    await asyncio.sleep(IDLE_SECS / BURSTS)
                    idle_windows.append((start, time.monotonic()))
                    start = time.monotonic()
                    conn = sqlite3.connect(work / "bridge.db", timeout=30)
                    with conn:
                        conn.executemany(
                            "INSERT INTO download_requests (id, user_id, album_id) VALUES (?, ?, ?)",
                            ((f"req-{b}-{i}", f"user{i % 40}", album_id((b * BURST + i) * 7)) for i in range(BURST)))
                    conn.close()
                    await until(lambda b=b: _done(work / "bridge.db", (b + 1) * BURST), timeout=300, interval=0.1,
                                what="the burst")
                    windows.append((start, time.monotonic()))
                out, _ = await reader.communicate(b"")
                assert daemon.proc is not None and daemon.proc.returncode is None
            completed = sqlite3.connect(work / "bridge.db").execute(
                "SELECT COUNT(*) FROM download_requests WHERE status = 'completed'").fetchone()[0]
    samples = json.loads(out)
    def pick(spans: list[tuple[float, float]], which: str) -> list[float]:
        return [s for t, s, db in samples if db == which and any(a <= t < b for a, b in spans)]

    idle, burst = pick(idle_windows, "catalog"), pick(windows, "catalog")
    c_idle, c_burst = pick(idle_windows, "control"), pick(windows, "control")
    i99, b99 = percentile(idle, 99), percentile(burst, 99)
    return Result(
        name="reader_under_burst", figure="catalog-server-like read query p99 while the bridge handles a burst",
        value=ms(b99), unit="ms p99", target="< 2x idle p99", met=b99 < 2 * i99,
        baseline=ms(i99), baseline_label="same query, bridge idle (p99)",
        detail={"ratio": round(b99 / i99, 2), "idle_p50_ms": ms(percentile(idle, 50)), "idle_p99_ms": ms(i99),
                "burst_p50_ms": ms(percentile(burst, 50)), "burst_p99_ms": ms(b99), "burst_max_ms": ms(max(burst)),
                "control_idle_p99_ms": ms(percentile(c_idle, 99)),
                "control_burst_p99_ms": ms(percentile(c_burst, 99)),
                "control_ratio": round(percentile(c_burst, 99) / percentile(c_idle, 99), 2),
                "idle_queries": len(idle), "burst_queries": len(burst),
                "burst_secs": [round(b - a, 2) for a, b in windows],
                "burst_requests": BURST, "bursts": BURSTS, "completed": completed, "catalog_albums": ALBUMS},
    )


def _done(db: Path, n: int) -> bool:
    conn = sqlite3.connect(db, timeout=30)
    try:
        row = conn.execute("SELECT COUNT(*) FROM download_requests WHERE status IN"
                           " ('completed', 'failed', 'rejected', 'cancelled')").fetchone()
        return row[0] >= n
    finally:
        conn.close()


if __name__ == "__main__":
    print(asyncio.run(run()))

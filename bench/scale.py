"""10,000 tracked tickets: the daemon's memory, and one reconcile pass.

Seeding: 10,000 live submissions (one per album, two tracks each, state active, QT
state downloading) with their requests, written in bulk as the engine leaves them; the
fake QT (another process) knows the same 10,000 tickets.

rss        the daemon (real subprocess, production settings) starts, reconnects, runs
           its first reconcile pass over all 10,000 tickets, then gets three rounds of
           progress events for every ticket; VmRSS after that, and VmHWM (the peak).
           Reference: the same daemon with no tickets.
reconcile  Reconciler.run_once over the 10,000 tickets, in this process, with the
           production concurrency (8): once with new progress on every ticket, once with
           nothing changed, once with QT taking 5 ms per answer (so GETs overlap); the
           fake QT records the most GETs it ever had in flight at once.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from .common import (
    DaemonProcess,
    FakeQTProcess,
    Result,
    build_catalog,
    daemon_cpus,
    migrate_bridge_db,
    rss_kb,
    seed_live_tickets,
    until,
    write_config,
)

TICKETS = 10_000


async def _daemon_rss(work: Path, qt: FakeQTProcess, config: Path, *, tickets: list[list[str]]) -> dict[str, int]:
    log = work / "daemon.log"
    async with DaemonProcess(config, log) as daemon:
        await until(lambda: '"bridge.started"' in log.read_text(errors="replace"), timeout=120, what="the daemon")
        if tickets:
            # The first reconcile pass GETs every ticket once.
            await until(lambda: _gets_at_least(qt, len(tickets)), timeout=300, interval=0.5, what="the first pass")
            await qt.call("POST", "/bench/blast", {"ticket_ids": [t[0] for t in tickets], "rounds": 3,
                                                   "sentinel": "rss-sentinel"})
        await asyncio.sleep(6.0)            # progress refreshes fall due after 5 s; let them run
        samples = []
        for _ in range(5):
            samples.append(rss_kb(daemon.pid))
            await asyncio.sleep(1.0)
        assert daemon.proc is not None and daemon.proc.returncode is None
    return {"rss_kb": max(s["VmRSS"] for s in samples), "hwm_kb": max(s["VmHWM"] for s in samples)}


async def _gets_at_least(qt: FakeQTProcess, n: int) -> bool:
    return (await qt.call("GET", "/bench/stats"))["gets"] >= n


async def run() -> list[Result]:
    from torrentino_bridge.config import load_settings
    from torrentino_bridge.service import BridgeService

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        empty, full = root / "empty", root / "full"
        empty.mkdir()
        full.mkdir()
        async with FakeQTProcess() as qt:
            catalog = build_catalog(empty / "catalog.db", TICKETS)
            migrate_bridge_db(empty / "bridge.db")
            reference = await _daemon_rss(empty, qt, write_config(empty, catalog, qt.url), tickets=[])

            catalog = build_catalog(full / "catalog.db", TICKETS)
            seeded = seed_live_tickets(full / "bridge.db", catalog, TICKETS, full / "incoming")
            await qt.call("POST", "/bench/seed", {"tickets": seeded})
            config = write_config(full, catalog, qt.url)
            loaded = await _daemon_rss(full, qt, config, tickets=seeded)

            settings = load_settings(config)
            unpin = daemon_cpus(settings.bridge.cpus)     # as `run` does; the fake QT started before
            service = BridgeService(settings)
            await service.start(workers=False)
            passes = {}
            try:
                # changed: QT reports new progress for every ticket (a reconnect after a while);
                # quiet: nothing moved since; slow: QT takes 5 ms per answer, so requests overlap.
                for name, pct, latency in (("changed", 47.5, 0.0), ("quiet", 47.5, 0.0), ("slow_qt", 48.5, 0.005)):
                    await qt.call("POST", "/bench/seed", {"tickets": seeded, "pct": pct})
                    await qt.call("POST", "/bench/reset", {"latency": latency})
                    started = time.perf_counter()
                    polled = await service.reconciler.run_once()
                    elapsed = time.perf_counter() - started
                    await service.tasks.drain("ticket:", timeout=60)
                    stats = await qt.call("GET", "/bench/stats")
                    passes[name] = {"seconds": round(elapsed, 2), "polled": polled, "gets": stats["gets"],
                                    "max_in_flight": stats["max_in_flight"]}
            finally:
                await service.stop()
                unpin()
    mb = loaded["rss_kb"] / 1024
    rss = Result(
        name="rss_10k_tickets", figure="RSS with 10,000 tracked tickets", value=round(mb, 1), unit="MB",
        target="< 150 MB", met=mb < 150,
        detail={"rss_mb": round(mb, 1), "peak_hwm_mb": round(loaded["hwm_kb"] / 1024, 1),
                "no_tickets_rss_mb": round(reference["rss_kb"] / 1024, 1),
                "no_tickets_peak_mb": round(reference["hwm_kb"] / 1024, 1),
                "per_ticket_kb": round((loaded["rss_kb"] - reference["rss_kb"]) / TICKETS, 2),
                "tickets": TICKETS, "progress_events": 3 * TICKETS},
    )
    worst = max(p["seconds"] for p in passes.values() if p is not passes["slow_qt"])
    in_flight = max(p["max_in_flight"] for p in passes.values())
    reconcile = Result(
        name="reconcile_10k", figure="reconcile of 10,000 tickets, at most 8 requests in flight",
        value=passes["changed"]["seconds"], unit="s", target="< 30 s, <= 8 in flight",
        met=worst < 30 and in_flight <= 8 and all(p["polled"] == TICKETS for p in passes.values()),
        detail={"passes": passes, "max_in_flight": in_flight,
                "tickets_per_s_changed": round(TICKETS / passes["changed"]["seconds"])},
    )
    return [rss, reconcile]


if __name__ == "__main__":
    for r in asyncio.run(run()):
        print(r)

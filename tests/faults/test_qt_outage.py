"""QT outage: mid-run, Quentin Torrentino vanishes from the network (connection refused)
for FAULTS_OUTAGE_SECS (a real minute under `make faults`), then answers every call with
a 500 for a while, then answers slowly with sporadic 500s, then recovers.

The daemon (a real subprocess) must stay up the whole time, report the outage on
/readyz (503, QT not ok) while /healthz stays 200, lose no request (including those
written during the outage), make no duplicate ticket, and converge once QT is back.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import build_catalog, wait_for, write_config
from tests.faults.conftest import current_scale
from tests.faults.harness import (
    Daemon,
    Expect,
    TcpProxy,
    check_end_state,
    converged,
    free_port,
    insert_request,
    many_albums,
)

_scale = current_scale()
pytestmark = [pytest.mark.faults, pytest.mark.timeout(
    int(240 + 2 * (_scale.outage_secs + _scale.outage_500_secs + _scale.outage_slow_secs)))]


class Probe:
    """Samples /readyz and /healthz over HTTP, the way an orchestrator would."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.samples: list[tuple[float, str, int, dict[str, Any] | None]] = []

    async def sample(self, session: aiohttp.ClientSession, phase: str) -> tuple[int, int, dict[str, Any] | None]:
        async with session.get(self.base + "/readyz") as resp:
            ready, body = resp.status, await resp.json()
        async with session.get(self.base + "/healthz") as resp:
            alive = resp.status
        self.samples.append((time.monotonic(), phase, ready, body))
        return ready, alive, body


async def hold(seconds: float, probe: Probe, session: aiohttp.ClientSession, daemon: Daemon,
               phase: str) -> list[tuple[int, int, dict[str, Any] | None]]:
    """Keep a phase for `seconds`, sampling readiness and checking the daemon stays up."""
    seen = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        daemon.check_alive()
        assert not daemon.unexpected_exits, f"the daemon died during {phase}: {daemon.unexpected_exits}"
        seen.append(await probe.sample(session, phase))
        await asyncio.sleep(0.5)
    return seen


async def test_qt_outage_then_500s_then_slow_answers(tmp_path: Path, sim) -> None:
    scale = current_scale()
    sim.config.step_secs = 0.05
    sim.config.progress_ticks = 6
    albums = many_albums(18, tracks=2, seconds=1, prefix="out")
    catalog = build_catalog(tmp_path / "catalog.db", albums)
    proxy = TcpProxy(int(sim.base_url.rsplit(":", 1)[1]))
    await proxy.up()
    http_port = free_port()
    config = write_config(tmp_path, catalog, proxy.url, http=True,
                          extra="\n[torrentino.rate_limits]\nrequests_per_user_per_day = 1000\n"
                                "max_pending_per_user = 1000\n")
    text = config.read_text().replace("[http]\nenabled = true\nport = 0", f"[http]\nenabled = true\nport = {http_port}")
    config.write_text(text)
    bridge_db = tmp_path / "bridge.db"
    daemon = Daemon(config, tmp_path / "daemon.log")
    probe = Probe(http_port)
    batches = [albums[0:6], albums[6:12], albums[12:15], albums[15:18]]
    expected = {f"r-{spec.id}": Expect("completed") for spec in albums}

    def request(batch: list[Any]) -> None:
        for spec in batch:
            insert_request(bridge_db, f"r-{spec.id}", "u1", album_id=spec.id)

    async with aiohttp.ClientSession() as session:
        try:
            await daemon.start()
            await daemon.until_started()
            await wait_for(_ready(probe, session), what="ready before the outage", timeout=30)

            # Work in flight when QT goes away.
            await asyncio.to_thread(request, batches[0])
            await wait_for(_now(lambda: len(sim.tickets) >= 3), what="tickets before the outage", timeout=30)

            await proxy.down()
            await asyncio.to_thread(request, batches[1])     # written while QT is unreachable
            down = await hold(scale.outage_secs, probe, session, daemon, "unreachable")

            await proxy.up()
            sim.set_faults(outage_status=500)
            await asyncio.to_thread(request, batches[2])
            errors = await hold(scale.outage_500_secs, probe, session, daemon, "500s")

            sim.set_faults(outage_status=None, latency_secs=1.5, fail_requests=6)
            await asyncio.to_thread(request, batches[3])
            await hold(scale.outage_slow_secs, probe, session, daemon, "slow")
            sim.set_faults(latency_secs=0.0, fail_requests=0)

            await wait_for(_now(lambda: converged(bridge_db)), what="convergence after the outage",
                           timeout=120, interval=0.5)
            await wait_for(_ready(probe, session), what="ready after the outage", timeout=60)
            daemon.check_alive()
            assert await daemon.stop() == 0
        finally:
            if daemon.proc is not None:
                await daemon.kill()
            await proxy.down()

    # /readyz said so while QT was gone, and /healthz never did.
    assert all(alive == 200 for _, alive, _ in down + errors)
    # (The first sample may still see the check made just before: checks are cached for one
    # reconcile interval, 0.5 s here, so that /readyz hits cannot make a QT call each.)
    assert down[1:] and all(ready == 503 and not body["components"]["qt"]["ok"] for ready, _, body in down[1:]), \
        [(r, b["components"]["qt"]) for r, _, b in down]
    assert any(ready == 503 for ready, _, _ in errors)
    assert not daemon.unexpected_exits
    problems = check_end_state(catalog=catalog, bridge_db=bridge_db, media_root=tmp_path / "media",
                               incoming=tmp_path / "incoming", qt_tickets=sim.tickets, expected=expected)
    assert not problems, problems
    assert len(sim.tickets) == len(albums)
    crashes = daemon.log_lines('"task.crashed"')
    assert not crashes, crashes[:3]


def _ready(probe: Probe, session: aiohttp.ClientSession):
    async def check() -> bool:
        ready, _, _ = await probe.sample(session, "waiting")
        return ready == 200

    return check


def _now(check):
    async def run():
        return check()

    return run

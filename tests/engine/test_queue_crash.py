"""SIGKILL at each step that writes Pezzottify's download queue: after the restart no row is
stuck IN_PROGRESS, no ticket is made twice and no audit row is written twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.conftest import album, wait_for, write_config
from tests.engine.test_crash import query, start_daemon
from tests.pezzottify import audit, build_db_dir, request_album
from tests.pezzottify import queue_rows as rows

ALBUM = album("alb-q", "Queue Crash", "Kill Points", ["One", "Two"])
REPO = Path(__file__).resolve().parents[2]


async def _crashing_daemon(when: str, target: str, config: Path, log: Path) -> int:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.engine.daemon_child", when, target, "--",
        "--log-format", "json", "run", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=log.open("ab"), env=env, cwd=REPO,
    )
    try:
        return await asyncio.wait_for(proc.wait(), timeout=60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"the daemon never reached {target}; see {log}") from None


@pytest.mark.parametrize(("when", "target", "left"), [
    ("after", "torrentino_bridge.store.links:LinkStore.mirror", "PENDING"),
    ("after", "torrentino_bridge.store.queue:DownloadQueue.claim", "IN_PROGRESS"),
    ("after", "torrentino_bridge.store.queue:DownloadQueue.complete", "COMPLETED"),
])
async def test_sigkill_at_a_queue_step_is_repaired_on_restart(tmp_path, sim, when, target, left):
    db = build_db_dir(tmp_path / "db", [ALBUM])
    queue = db.path("queue")
    config = write_config(tmp_path, db.catalog, sim.base_url, extra=db.config(queue=True))
    log = tmp_path / "daemon.log"
    row_id = request_album(db, ALBUM.id, 1)

    assert await _crashing_daemon(when, target, config, log) == -signal.SIGKILL
    assert f"CRASH {when} {target}" in log.read_text()
    assert rows(queue)[row_id]["status"] == left

    daemon = await start_daemon(config, log)
    try:
        async def done():
            reported = query(tmp_path / "bridge.db", "SELECT reported FROM source_links")
            return rows(queue)[row_id]["status"] in ("COMPLETED", "FAILED") and reported == [("completed",)]

        await wait_for(done, timeout=60, what="the queue row to end, and be recorded as told, after the restart")
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(daemon.wait(), timeout=20) == 0
    row = rows(queue)[row_id]
    assert row["status"] == "COMPLETED" and row["error_type"] is None
    assert [e for e, _ in audit(queue, row_id)] == ["REQUEST_CREATED", "DOWNLOAD_STARTED", "DOWNLOAD_COMPLETED"]
    assert sim.post_count == 1

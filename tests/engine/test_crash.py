"""Crash safety with a real daemon subprocess and SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

from tests.conftest import album, build_catalog, wait_for, write_config

ALBUM = album("alb-k", "Kill Test", "Restart", ["One", "Two", "Three"])


async def start_daemon(config: Path, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "torrentino_bridge", "--log-format", "json", "run", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=log.open("ab"), env=env,
    )


def query(db: Path, sql: str, *params) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


async def test_sigkill_between_post_and_bookkeeping_leaves_exactly_one_ticket(tmp_path, sim):
    catalog = build_catalog(tmp_path / "catalog.db", [ALBUM])
    config = write_config(tmp_path, catalog, sim.base_url)
    bridge_db = tmp_path / "bridge.db"
    log = tmp_path / "daemon.log"

    sim.set_faults(create_hold_secs=60)   # QT stores the ticket, then holds its answer
    daemon = await start_daemon(config, log)
    try:
        conn = sqlite3.connect(bridge_db)
        await wait_for(_async(lambda: _has_table(bridge_db)), what="migrations")
        with conn:
            conn.execute("INSERT INTO download_requests (id, user_id, album_id) VALUES ('r1', 'u1', 'alb-k')")
        conn.close()
        await wait_for(_async(lambda: len(sim.tickets) == 1), what="the ticket to reach QT")
    finally:
        daemon.send_signal(signal.SIGKILL)
        await daemon.wait()

    # The POST reached QT, but the daemon died before recording the ticket id.
    assert query(bridge_db, "SELECT state, ticket_id, attempts FROM submissions") == [("intent", None, 1)]
    assert {r[0] for r in query(catalog, "SELECT availability FROM tracks")} == {"fetching"}

    sim.set_faults(create_hold_secs=0)
    daemon = await start_daemon(config, log)
    try:
        await wait_for(_async(lambda: query(bridge_db, "SELECT status FROM download_requests") == [("completed",)]),
                       what="the request to complete after the restart", timeout=60)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(daemon.wait(), timeout=15) == 0

    assert sim.post_count == 1
    assert len(sim.tickets) == 1
    ticket_id = next(iter(sim.tickets))
    assert query(bridge_db, "SELECT state, ticket_id FROM submissions") == [("completed", ticket_id)]
    assert {r[0] for r in query(catalog, "SELECT availability FROM tracks")} == {"available"}
    assert '"how": "adopted"' in log.read_text()


def _has_table(db: Path) -> bool:
    if not db.exists():
        return False
    return bool(query(db, "SELECT 1 FROM sqlite_master WHERE name = 'download_requests'"))


def _async(check):
    async def run():
        return check()

    return run

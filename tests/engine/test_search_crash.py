"""Force-search across a SIGKILL: a real daemon subprocess dies while QT holds the answer to
the new ticket's POST. After the restart exactly one new ticket exists in QT, searching for
the admin's words, and the old ticket, whose cancellation had not been sent yet, is
cancelled by the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import album, build_catalog, wait_for, write_config

ALBUM = album("alb-s", "Crash Search", "Second Try", ["One", "Two", "Three"])
QUERY = "Crash Search 2nd Try (deluxe, 24bit)"
ADMIN = "admin-token-crash-5e1f"


async def start_daemon(config: Path, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TORRENTINO_BRIDGE_HTTP__ADMIN_TOKEN": ADMIN}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "torrentino_bridge", "--log-format", "json", "run", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=log.open("ab"), env=env,
    )


def query(db: Path, sql: str, *params: object) -> list[tuple]:
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:      # not migrated yet
        return []
    finally:
        conn.close()


def http_port(log: Path) -> int | None:
    """The port of the latest daemon start (http.port = 0 picks one; the log names it)."""
    port = None
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if event.get("event") == "http.listening":
                port = int(event["port"])
    return port


def request_status(db: Path) -> str | None:
    rows = query(db, "SELECT status FROM download_requests WHERE id = 'r1'")
    return rows[0][0] if rows else None


@pytest.mark.timeout(120)
async def test_sigkill_while_qt_holds_the_new_tickets_post_leaves_exactly_one_new_ticket(tmp_path, sim):
    catalog = build_catalog(tmp_path / "catalog.db", [ALBUM])
    config = write_config(tmp_path, catalog, sim.base_url, http=True)
    bridge_db = tmp_path / "bridge.db"
    log = tmp_path / "daemon.log"
    log.touch()
    sim.set_outcome("Crash Search - Second Try", "needs_approval")   # the old ticket stays live in QT

    daemon = await start_daemon(config, log)
    try:
        await wait_for(lambda: _now(http_port(log)), what="the daemon to serve HTTP")
        conn = sqlite3.connect(bridge_db)
        with conn:
            conn.execute("INSERT INTO download_requests (id, user_id, album_id) VALUES ('r1', 'u1', 'alb-s')")
        conn.close()
        await wait_for(lambda: _now(request_status(bridge_db) == "needs_approval"), what="the ticket to park")
        [old_ticket] = list(sim.tickets)

        sim.set_faults(create_hold_secs=60)      # QT stores the new ticket, then holds its answer
        url = f"http://127.0.0.1:{http_port(log)}/v1/admin/downloads/{old_ticket}/search"
        async with aiohttp.ClientSession() as session:
            post = asyncio.ensure_future(session.post(
                url, json={"query": QUERY}, headers={"Authorization": f"Bearer {ADMIN}"}))
            try:
                await wait_for(lambda: _now(len(sim.tickets) == 2), what="the new ticket to reach QT")
            finally:
                daemon.send_signal(signal.SIGKILL)
                await daemon.wait()
                with contextlib.suppress(aiohttp.ClientError, asyncio.CancelledError):
                    await post
    finally:
        if daemon.returncode is None:
            daemon.send_signal(signal.SIGKILL)
            await daemon.wait()

    # Killed between QT storing the ticket and the bridge recording it: the switch is
    # committed, the new intent posted once, the old ticket not cancelled yet.
    subs = dict(query(bridge_db, "SELECT state, COUNT(*) FROM submissions GROUP BY state"))
    assert subs == {"cancelled": 1, "intent": 1}
    assert query(bridge_db, "SELECT ticket_id, attempts FROM submissions WHERE state = 'intent'") == [(None, 1)]
    assert query(bridge_db, "SELECT kind, state FROM outbox") == [("qt.cancel", "pending")]
    assert sim.state_of(old_ticket) == "needs_approval"

    sim.set_faults(create_hold_secs=0)
    daemon = await start_daemon(config, log)
    try:
        await wait_for(lambda: _now(request_status(bridge_db) == "completed"),
                       what="the request to complete with the new ticket after the restart", timeout=60)
        await wait_for(lambda: _now(sim.state_of(old_ticket) == "cancelled"),
                       what="the outbox to cancel the old ticket after the restart")
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(daemon.wait(), timeout=15) == 0

    assert sim.post_count == 2 and len(sim.tickets) == 2
    [new_ticket] = [t for t in sim.tickets.values() if t["id"] != old_ticket]
    assert new_ticket["query_context"]["description"] == QUERY
    assert query(bridge_db, "SELECT state, ticket_id FROM submissions WHERE state != 'cancelled'") == [
        ("completed", new_ticket["id"])]
    assert query(bridge_db, "SELECT kind, state FROM outbox") == [("qt.cancel", "done")]
    assert {r[0] for r in query(catalog, "SELECT availability FROM tracks")} == {"available"}
    assert '"how": "adopted"' in log.read_text()


def _now(value: object):
    async def check() -> object:
        return value

    return check()

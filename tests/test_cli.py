"""The CLI as a user runs it: request, run --once, status, approve, retry."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys

from tests.conftest import album, build_catalog, wait_for, write_config

ALBUM = album("alb-cli", "Cli Band", "Terminal", ["First", "Second"])


async def cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "torrentino_bridge", "--log-format", "json", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


def request_row(bridge_db, request_id: str) -> tuple[str, str | None]:
    conn = sqlite3.connect(bridge_db)
    try:
        return conn.execute("SELECT status, error FROM download_requests WHERE id = ?", (request_id,)).fetchone()
    finally:
        conn.close()


async def test_request_then_run_once_until_done(tmp_path, sim):
    catalog = build_catalog(tmp_path / "catalog.db", [ALBUM])
    config = str(write_config(tmp_path, catalog, sim.base_url))

    code, out, _ = await cli("request", "--config", config, "--album", "alb-cli", "--user", "carol", "--id", "req-1")
    assert (code, out.strip()) == (0, "req-1")
    code, _, err = await cli("run", "--config", config, "--once")
    assert code == 0, err
    assert request_row(tmp_path / "bridge.db", "req-1")[0] in ("in_progress", "completed")
    await wait_for(lambda: _async(next(iter(sim.tickets.values()))["state"]["type"] == "completed"),
                   what="QT to complete the ticket")
    code, _, err = await cli("run", "--config", config, "--once")
    assert code == 0, err
    assert request_row(tmp_path / "bridge.db", "req-1") == ("completed", None)

    code, out, _ = await cli("status", "--config", config, "--json")
    report = json.loads(out)
    assert report["requests"][0]["request_id"] == "req-1"
    assert [t["availability"] for t in report["requests"][0]["tracks"]] == ["available", "available"]
    code, out, _ = await cli("status", "--config", config)
    assert "req-1" in out and "completed" in out and "2/2" in out


async def test_approve_and_retry_commands(tmp_path, sim):
    sim.set_outcome(None, "needs_approval")
    catalog = build_catalog(tmp_path / "catalog.db", [ALBUM])
    config = str(write_config(tmp_path, catalog, sim.base_url))
    await cli("request", "--config", config, "--album", "alb-cli", "--id", "req-2")
    await cli("run", "--config", config, "--once")
    ticket_id = next(iter(sim.tickets))
    await wait_for(lambda: _async(sim.tickets[ticket_id]["state"]["type"] == "needs_approval"), what="approval")
    await cli("run", "--config", config, "--once")
    assert request_row(tmp_path / "bridge.db", "req-2")[0] == "needs_approval"

    code, _out, err = await cli("approve", "--config", config, ticket_id, "--candidate", "0")
    assert code == 0, err
    code, _, err = await cli("approve", "--config", config, ticket_id)
    assert code == 1 and "Quentin Torrentino said" in err   # QT's 409, said plainly
    code, _, err = await cli("approve", "--config", config, "no-such-ticket")
    assert code == 1 and "no download with ticket id no-such-ticket" in err
    code, _, err = await cli("retry", "--config", config, "--request", "req-2")
    assert code == 1 and "nothing to retry" in err


def _async(value):
    async def run():
        return value

    return run()


async def test_a_catalog_without_the_needed_columns_stops_the_start_with_status_3(tmp_path):
    catalog = tmp_path / "catalog.db"
    conn = sqlite3.connect(catalog)
    conn.executescript("CREATE TABLE tracks (id TEXT PRIMARY KEY, name TEXT);")
    conn.close()
    config = str(write_config(tmp_path, catalog, "http://127.0.0.1:9"))
    code, _, err = await cli("run", "--config", config)
    assert code == 3
    assert "catalog schema mismatch" in err and "tracks.availability" in err
    conn = sqlite3.connect(catalog)
    assert conn.execute("SELECT sql FROM sqlite_master WHERE name = 'tracks'").fetchone() == (
        "CREATE TABLE tracks (id TEXT PRIMARY KEY, name TEXT)",)
    conn.close()


async def test_backup_while_the_daemon_writes(tmp_path, sim):
    catalog = build_catalog(tmp_path / "catalog.db", [ALBUM])
    config = str(write_config(tmp_path, catalog, sim.base_url))
    await cli("request", "--config", config, "--album", "alb-cli", "--id", "req-b")
    code, out, err = await cli("backup", "--config", config, "--to", str(tmp_path / "copy.db"))
    assert code == 0, err
    assert "pages" in out
    conn = sqlite3.connect(tmp_path / "copy.db")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("SELECT id FROM download_requests").fetchall() == [("req-b",)]
    conn.close()
    code, _, err = await cli("backup", "--config", config, "--to", str(tmp_path / "copy.db"))
    assert code == 1 and "exists" in err

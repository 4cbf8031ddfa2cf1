"""SIGKILL between the catalog write and the search.db upsert: the import's end and its
outbox item commit together, so a daemon killed while search.db is locked (the upsert
waiting to be delivered) delivers it after the restart. Nothing stuck, nothing lost."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import write_config
from tests.faults.harness import Daemon, bridge_ready, converged, insert_request, many_albums, query
from tests.pezzottify import build_db_dir, fingerprints

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]


async def until(check, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_a_kill_before_the_search_upsert_loses_nothing(tmp_path: Path, sim) -> None:
    (spec,) = many_albums(1, tracks=2, seconds=1, prefix="kil")
    db = build_db_dir(tmp_path / "db", [spec])
    before = fingerprints(db)
    config = write_config(tmp_path, db.catalog, sim.base_url, extra=db.config())
    config.write_text(config.read_text().replace(f'root = "{tmp_path / "media"}"', f'root = "{db.media}"'))
    bridge_db = tmp_path / "bridge.db"
    daemon = Daemon(config, tmp_path / "daemon.log", env={"TORRENTINO_BRIDGE_CATALOG__BUSY_TIMEOUT_MS": "200"})
    search = sqlite3.connect(db.path("search"), isolation_level=None)
    search.execute("BEGIN IMMEDIATE")                  # the upsert cannot be delivered yet
    try:
        await daemon.start()
        await daemon.until_started()
        await until(lambda: bridge_ready(bridge_db), "the bridge database")
        await asyncio.to_thread(insert_request, bridge_db, "r1", "u1", album_id=spec.id)
        await until(lambda: converged(bridge_db), "the import")
        assert query(db.catalog, "SELECT COUNT(*) FROM tracks WHERE track_available = 1") == [(2,)]
        await until(lambda: query(bridge_db, "SELECT attempts FROM outbox WHERE kind = 'pezzottify.search'")
                    not in ([], [(0,)]), "a delivery attempt on the locked search.db")
        await daemon.kill()
        assert query(db.path("search"), "SELECT COUNT(*) FROM item_availability") == [(0,)]
    finally:
        search.execute("ROLLBACK")
        search.close()
    await daemon.start()
    await daemon.until_started()
    try:
        await until(lambda: query(bridge_db, "SELECT state FROM outbox WHERE kind = 'pezzottify.search'")
                    == [("done",)], "the upsert after the restart")
    finally:
        assert await daemon.stop() == 0
    available = query(db.path("search"), "SELECT item_type, COUNT(*) FROM item_availability"
                      " WHERE is_available = 1 GROUP BY item_type ORDER BY item_type")
    assert available == [("album", 1), ("artist", 2), ("track", 2)]
    assert query(bridge_db, "SELECT status FROM download_requests") == [("completed",)]
    assert fingerprints(db) == before

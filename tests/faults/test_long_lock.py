"""The Pezzottify server's 6-hourly availability job: one BEGIN IMMEDIATE on the whole
catalog for minutes. Held here by a real second connection through a whole download and
import (2 minutes under FAULTS_SCALE=full, a few seconds in the normal suite), with the
bridge (a real subprocess) serving a real Pezzottify db_dir.

Nothing may be lost or fail: every request completes once the lock goes, every file is in
place, search.db and server.db get their rows, and the log has exactly one line when the
waiting starts and one when it is through; the server's files keep their schemas.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import write_config
from tests.faults.conftest import current_scale
from tests.faults.harness import Daemon, bridge_ready, converged_or_died, insert_request, many_albums, query
from tests.pezzottify import build_db_dir, fingerprints, shard_uri

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120 if current_scale().name == "ci" else 600)]

# The daemon's busy wait is cut short, so the held lock is met as 'locked' many times over.
ENV = {"TORRENTINO_BRIDGE_CATALOG__BUSY_TIMEOUT_MS": "300"}


async def test_a_catalog_lock_held_through_a_whole_flow_loses_nothing(tmp_path: Path, sim) -> None:
    scale = current_scale()
    albums = many_albums(3, tracks=2, seconds=1, prefix="lck")
    db = build_db_dir(tmp_path / "db", albums)
    before = fingerprints(db)
    config = write_config(tmp_path, db.catalog, sim.base_url, extra=db.config())
    config.write_text(config.read_text().replace(f'root = "{tmp_path / "media"}"', f'root = "{db.media}"'))
    bridge_db = tmp_path / "bridge.db"
    daemon = Daemon(config, tmp_path / "daemon.log", env=ENV)
    await daemon.start()
    await daemon.until_started()
    holder = sqlite3.connect(db.catalog, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")            # the availability job's one transaction
        holder.execute("UPDATE tracks SET track_available = track_available")
        held_from = time.monotonic()
        for spec in albums:
            await asyncio.to_thread(insert_request, bridge_db, f"r-{spec.id}", "u1", album_id=spec.id)
        # Every download finishes and its import reaches the catalog while the lock is held.
        while time.monotonic() - held_from < scale.long_lock_secs:
            daemon.check_alive()
            assert not daemon.unexpected_exits
            await asyncio.sleep(0.5)
        assert daemon.log_lines('"catalog.locked"'), "no write met the held lock"
        assert not query(db.catalog, "SELECT 1 FROM tracks WHERE track_available = 1")
        holder.execute("COMMIT")
        deadline = time.monotonic() + 60
        while not (bridge_ready(bridge_db) and converged_or_died(bridge_db, daemon)):
            assert time.monotonic() < deadline, "the requests did not finish after the lock went"
            await asyncio.sleep(0.2)
        deadline = time.monotonic() + 10      # the outbox delivers search.db and server.db rows at once
        while query(bridge_db, "SELECT COUNT(*) FROM outbox WHERE state != 'done'")[0][0]:
            assert time.monotonic() < deadline, query(bridge_db, "SELECT * FROM outbox")
            await asyncio.sleep(0.2)
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()
        if daemon.proc is not None:
            assert await daemon.stop() == 0

    assert query(bridge_db, "SELECT status, COUNT(*) FROM download_requests GROUP BY status") == [
        ("completed", len(albums))]
    tracks = query(db.catalog, "SELECT id, audio_uri, track_available FROM tracks")
    assert all(uri == shard_uri(t) and ok == 1 and (db.media / uri).is_file() for t, uri, ok in tracks)
    assert query(db.catalog, "SELECT DISTINCT album_availability FROM albums") == [("complete",)]
    assert query(db.path("search"), "SELECT COUNT(*) FROM item_availability WHERE is_available = 1") == [
        (len(tracks) + len(albums) * 3,)]          # tracks, albums, main and featured artists
    assert query(db.path("server"), "SELECT COUNT(*) FROM catalog_events") == [(len(albums),)]
    # One line when the waiting started, one when it was through; nothing deferred or crashed.
    assert len(daemon.log_lines('"catalog.locked"')) == 1
    assert len(daemon.log_lines('"catalog.unlocked"')) == 1
    for noise in ('"ticket.apply_deferred"', '"import.deferred"', '"import.failed"', '"task.crashed"',
                  '"sqlite.busy"'):
        assert not daemon.log_lines(noise), noise
    assert fingerprints(db) == before

"""The bridge's own files are created owner-only (0600) whatever the umask: the database and
its -wal/-shm, a backup, the instance lock. A file that exists keeps its mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from torrentino_bridge.ops.lock import InstanceLock, lock_path_for
from torrentino_bridge.store.bridge import BridgeStore
from torrentino_bridge.store.db import online_backup, open_bridge_db


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o002)     # a group-writable, world-readable default
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_database_wal_shm_backup_and_lock_are_private(tmp_path: Path, loose_umask: None) -> None:
    db = tmp_path / "bridge.db"
    with InstanceLock(db):
        store = BridgeStore(await open_bridge_db(db))
        try:
            await store.insert_request("r1", "u1", album_id="a1")
            for path in (db, db.with_name("bridge.db-wal"), db.with_name("bridge.db-shm")):
                assert path.exists(), path
                assert mode(path) == 0o600, (path, oct(mode(path)))
            assert mode(lock_path_for(db)) == 0o600
            backup = tmp_path / "backup.db"
            await online_backup(db, backup)
            assert mode(backup) == 0o600
        finally:
            await store.close()


async def test_an_existing_database_keeps_its_mode(tmp_path: Path, loose_umask: None) -> None:
    db = tmp_path / "bridge.db"
    db.touch()
    db.chmod(0o640)
    store = BridgeStore(await open_bridge_db(db))
    await store.close()
    assert mode(db) == 0o640

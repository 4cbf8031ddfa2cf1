import sqlite3

import pytest

from torrentino_bridge.store.db import migrate, migration_files, open_bridge_db


async def test_migrations_apply_once_and_are_versioned(tmp_path):
    path = tmp_path / "bridge.db"
    conn = await open_bridge_db(path)
    latest = max(n for n, _ in migration_files())
    assert await migrate(conn) == latest  # second run applies nothing
    async with conn.execute("SELECT version FROM schema_migrations ORDER BY version") as cur:
        assert [r[0] for r in await cur.fetchall()] == [n for n, _ in migration_files()]
    await conn.close()


async def test_shared_table_contract(tmp_path):
    conn = await open_bridge_db(tmp_path / "bridge.db")
    await conn.close()
    db = sqlite3.connect(tmp_path / "bridge.db")
    db.execute("INSERT INTO download_requests (id, user_id, album_id) VALUES ('r1', 'u1', 'alb')")
    row = db.execute("SELECT status, priority, created_at FROM download_requests").fetchone()
    assert row[0] == "pending" and row[1] == 0 and row[2]
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO download_requests (id, album_id) VALUES ('r2', 'alb')")  # user_id required
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE download_requests SET status = 'bogus'")
    db.close()


async def test_a_track_is_live_under_one_submission_only(tmp_path):
    conn = await open_bridge_db(tmp_path / "bridge.db")
    await conn.close()
    db = sqlite3.connect(tmp_path / "bridge.db")
    for sub in ("s1", "s2"):
        db.execute("INSERT INTO submissions (id, album_id, dest_path, local_dir, body, priority)"
                   " VALUES (?, 'a', ?, ?, '{}', 1)", (sub, f"/in/{sub}", f"/in/{sub}"))
    db.execute("INSERT INTO submission_tracks (submission_id, track_id) VALUES ('s1', 't1')")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO submission_tracks (submission_id, track_id) VALUES ('s2', 't1')")
    db.execute("INSERT INTO submission_tracks (submission_id, track_id, active) VALUES ('s2', 't1', 0)")
    db.close()

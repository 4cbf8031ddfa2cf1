"""migrate-from-old-downloader on real catalogs (both layouts) and a real old queue file."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from torrentino_bridge.ops.migrate import ABANDONED_MESSAGE

from .conftest import Env, TrackSpec, create_queue, queue_rows, run_cli, run_json, run_subprocess

TRACKS = [
    TrackSpec("t1-has-audio", "al1", 1, "al1/01.ogg"),
    TrackSpec("t2-no-audio", "al1", 2, None),
    TrackSpec("t3-empty-uri", "al1", 3, ""),
    TrackSpec("t4-unavailable", "al2", 1, None, available=False),
    TrackSpec("t5-no-audio", "al2", 2, None),
]
STALE = ["t2-no-audio", "t3-empty-uri", "t5-no-audio"]
QUEUE = [
    ("q1", "PENDING", None),
    ("q2", "PENDING", None),
    ("q3", "IN_PROGRESS", None),
    ("q4", "RETRY_WAITING", "timeout"),
    ("q5", "COMPLETED", None),
    ("q6", "FAILED", "not found on the indexer"),
]


# user -> (requests_today, requests_in_queue): the server's counts as the old downloader left them.
STATS = {"alice": (3, 2), "bob": (1, 1), "carol": (4, 0)}


@pytest.fixture
def env(layout: str, make_env: Callable[[str, list[TrackSpec]], Env]) -> Env:
    env = make_env(layout, TRACKS)
    queue = env.root / "data" / "download_queue.db"
    create_queue(queue, QUEUE)
    with sqlite3.connect(queue) as conn:
        conn.executemany("INSERT INTO user_request_stats VALUES (?, ?, ?, '2026-11-24', 1700000000)",
                         [(user, today, waiting) for user, (today, waiting) in STATS.items()])
    conn.close()
    return env


def stats_rows(queue_db: Path) -> dict[str, tuple[int, int, int]]:
    conn = sqlite3.connect(queue_db)
    try:
        rows = conn.execute("SELECT user_id, requests_today, requests_in_queue, last_updated_at"
                            " FROM user_request_stats").fetchall()
    finally:
        conn.close()
    return {row[0]: row[1:] for row in rows}


@pytest.fixture
def queue_db(env: Env) -> Path:
    return env.root / "data" / "download_queue.db"


def test_dry_run_counts_and_changes_nothing(env: Env, queue_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before, queue_before = env.snapshot(), queue_rows(queue_db)
    code, report = run_json(capsys, "migrate-from-old-downloader", "--config", str(env.config),
                            "--queue-db", str(queue_db))
    assert code == 0
    assert report["dry_run"] is True
    assert report["tracks_without_audio"] == 3 and sorted(report["track_ids"]) == STALE
    assert report["download_queue"]["waiting"] == {"PENDING": 2, "IN_PROGRESS": 1, "RETRY_WAITING": 1}
    assert report["download_queue"]["users_in_queue_reset"] == 2
    assert env.snapshot() == before and queue_rows(queue_db) == queue_before
    assert stats_rows(queue_db) == {u: (today, waiting, 1700000000) for u, (today, waiting) in STATS.items()}
    assert not env.bridge_db.with_name("bridge.db.lock").exists()  # a dry run takes no lock


def test_apply_then_again_is_a_no_op(env: Env, queue_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env.write_config(catalog={"download_queue_db": "data/download_queue.db"})  # relative to the config
    code, out, _ = run_cli(capsys, "migrate-from-old-downloader", "--config", str(env.config), "--apply")
    assert code == 0
    assert "marked 3 available tracks without audio_uri unavailable" in out
    assert "abandoned 4 waiting items (PENDING 2, IN_PROGRESS 1, RETRY_WAITING 1)" in out
    assert "user_request_stats: set requests_in_queue to 0 for 2 users" in out

    for track in STALE:
        assert env.track(track) == ("unavailable", None)
    assert env.track("t1-has-audio") == ("available", "al1/01.ogg")
    assert env.track("t4-unavailable") == ("unavailable", None)
    if env.layout == "pezzottify":
        assert env.album_availability("al1") == "partial"
        assert env.album_availability("al2") == "missing"

    rows = queue_rows(queue_db)
    for item in ("q1", "q2", "q3", "q4"):
        status, error_type, message, completed_at = rows[item]
        assert (status, error_type, message) == ("FAILED", "unknown", ABANDONED_MESSAGE)
        assert isinstance(completed_at, int) and completed_at > 1_700_000_000
    assert rows["q5"] == ("COMPLETED", None, None, None)
    assert rows["q6"] == ("FAILED", None, "not found on the indexer", None)
    # Nobody has anything waiting now; today's counts stay, and carol's row was already right.
    stats = stats_rows(queue_db)
    assert {u: row[:2] for u, row in stats.items()} == {u: (today, 0) for u, (today, _) in STATS.items()}
    assert stats["alice"][2] > 1_700_000_000 and stats["bob"][2] > 1_700_000_000
    assert stats["carol"][2] == 1700000000

    snapshot, queue_after = env.snapshot(), queue_rows(queue_db)
    code, report = run_json(capsys, "migrate-from-old-downloader", "--config", str(env.config), "--apply")
    assert code == 0
    assert report["tracks_without_audio"] == 0
    assert report["download_queue"]["total"] == 0
    assert report["download_queue"]["users_in_queue_reset"] == 0
    assert env.snapshot() == snapshot and queue_rows(queue_db) == queue_after


def test_queue_without_the_table_is_skipped(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    other = env.root / "data" / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE something (id TEXT)")
    code, out, _ = run_cli(capsys, "migrate-from-old-downloader", "--config", str(env.config),
                           "--queue-db", str(other), "--apply")
    assert code == 0
    assert f"{other} has no download_queue table; skipped" in out
    assert all(env.track(t) == ("unavailable", None) for t in STALE)


def test_no_queue_configured_is_said(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "migrate-from-old-downloader", "--config", str(env.config))
    assert code == 0
    assert "no download queue given (--queue-db or catalog.download_queue_db); skipped" in out


def test_a_queue_path_that_does_not_exist_stops_before_any_change(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    before = env.snapshot()
    code, _, err = run_cli(capsys, "migrate-from-old-downloader", "--config", str(env.config),
                           "--queue-db", str(env.root / "nope.db"), "--apply")
    assert code == 2
    assert "--queue-db: download queue database" in err and "does not exist" in err
    assert env.snapshot() == before


@pytest.fixture
def running_daemon(env: Env) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the bridge's instance lock, as the daemon does."""
    code = ("import sys; from pathlib import Path; from torrentino_bridge.ops.lock import InstanceLock;"
            " InstanceLock(Path(sys.argv[1])).acquire(); print('locked', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(env.bridge_db)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert any(line.strip() == "locked" for line in proc.stdout)
        yield proc
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def test_apply_refuses_while_a_daemon_runs(
    env: Env, queue_db: Path, running_daemon: subprocess.Popen[str]
) -> None:
    before, queue_before = env.snapshot(), queue_rows(queue_db)
    done = run_subprocess("migrate-from-old-downloader", "--config", str(env.config),
                          "--queue-db", str(queue_db), "--apply")
    assert done.returncode == 4
    assert f"another torrentino-bridge (pid {running_daemon.pid}, started " in done.stderr
    assert env.snapshot() == before and queue_rows(queue_db) == queue_before
    # A dry run still works next to a live daemon.
    done = run_subprocess("migrate-from-old-downloader", "--config", str(env.config),
                          "--queue-db", str(queue_db), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tracks_without_audio"] == 3


def test_as_a_subprocess(env: Env, queue_db: Path) -> None:
    done = run_subprocess("migrate-from-old-downloader", "--config", str(env.config),
                          "--queue-db", str(queue_db), "--apply", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["dry_run"] is False and report["download_queue"]["total"] == 4
    assert queue_rows(queue_db)["q1"][0] == "FAILED"


def test_a_queue_without_user_stats_is_migrated_and_says_so(
    env: Env, queue_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(queue_db) as conn:
        conn.execute("DROP TABLE user_request_stats")
    conn.close()
    code, out, _ = run_cli(capsys, "migrate-from-old-downloader", "--config", str(env.config),
                           "--queue-db", str(queue_db), "--apply")
    assert code == 0
    assert "abandoned 4 waiting items" in out
    assert "user_request_stats: not found in the queue database; skipped" in out
    assert queue_rows(queue_db)["q1"][0] == "FAILED"


def test_a_queue_the_bridge_serves_keeps_its_pending_rows(env: Env, queue_db: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """With [pezzottify] queue_db set the bridge serves the queue: PENDING rows are users'
    requests it will fetch, and IN_PROGRESS rows it claimed (linked in its database) are its
    work. The old downloader's own IN_PROGRESS rows (nobody would ever finish them, and they
    would block re-requests) and RETRY_WAITING are abandoned; the report says why the rest stay."""
    import sqlite3

    from torrentino_bridge.config import load_settings
    from torrentino_bridge.store.db import migrate

    env.write_config(pezzottify={"queue_db": str(queue_db)})
    bridge_db = load_settings(env.config).bridge.db

    async def bridge_claimed_q2() -> None:          # as the daemon leaves a row it claimed
        import aiosqlite
        async with aiosqlite.connect(bridge_db, isolation_level=None) as db:
            await migrate(db)
            await db.execute("INSERT INTO download_requests (id, user_id, album_id, source) VALUES"
                             " ('pz-q2', '7', 'x', 'pezzottify')")
            await db.execute("INSERT INTO source_links (source, source_id, generation, request_id, kind,"
                             " content_id) VALUES ('pezzottify', 'q3b', 1, 'pz-q2', 'ALBUM', 'x')")

    import asyncio
    asyncio.run(bridge_claimed_q2())
    conn = sqlite3.connect(queue_db)
    with conn:
        conn.execute("INSERT INTO download_queue (id, status, priority, content_type, content_id, request_source,"
                     " created_at) VALUES ('q3b', 'IN_PROGRESS', 2, 'ALBUM', 'x', 'USER', 1)")
    conn.close()
    code, out, _ = run_cli(capsys, "migrate-from-old-downloader", "--config", str(env.config), "--apply")
    assert code == 0
    assert "abandoned 2 waiting items (RETRY_WAITING 1, IN_PROGRESS 1)" in out
    assert "PENDING rows and the IN_PROGRESS rows the bridge claimed are left" in out
    rows = queue_rows(queue_db)
    assert [rows[q][0] for q in ("q1", "q2", "q3", "q4", "q3b")] == [
        "PENDING", "PENDING", "FAILED", "FAILED", "IN_PROGRESS"]
    code, report = run_json(capsys, "migrate-from-old-downloader", "--config", str(env.config))
    assert report["download_queue"]["served_by_bridge"] is True and report["download_queue"]["total"] == 0

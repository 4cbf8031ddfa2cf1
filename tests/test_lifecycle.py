"""The daemon as systemd or docker runs it: a real subprocess, signals, locks, logs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import mutagen
import pytest

from tests.conftest import TEST_TOKEN, album, build_catalog, wait_for, write_config

ADMIN_TOKEN = "admin-9c1e77f0aa"
SERVICE_TOKEN = "service-5d2b88c1ee"
CALLBACK_SECRET = "callback-71f3a0b9dd"
SECRETS_EXTRA = (
    "\n[torrentino.rate_limits]\nrequests_per_user_per_day = 100\nmax_pending_per_user = 100\n"
)


def config_with_secrets(tmp_path: Path, catalog: Path, qt_url: str) -> Path:
    path = write_config(tmp_path, catalog, qt_url, http=True, extra=SECRETS_EXTRA)
    text = path.read_text().replace(
        "[http]\n",
        f'[http]\nadmin_token = "{ADMIN_TOKEN}"\nservice_token = "{SERVICE_TOKEN}"\n'
        f'callback_secret = "{CALLBACK_SECRET}"\n',
    )
    path.write_text(text + '\n[log]\nlevel = "debug"\nformat = "json"\n')
    return path


class Daemon:
    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Daemon:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "torrentino_bridge", "run", "--config", str(self.config),
            stdout=asyncio.subprocess.DEVNULL, stderr=self.log.open("ab"),
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        return self

    def events(self) -> list[dict]:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"event": "(raw)", "line": line})
        return out

    async def started(self) -> None:
        async def check():
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            return any(e.get("event") == "bridge.started" for e in self.events())

        await wait_for(check, what="the daemon to start", timeout=30)

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), timeout=15)


def insert_request(bridge_db: Path, request_id: str, album_id: str) -> None:
    conn = sqlite3.connect(bridge_db)
    with conn:
        conn.execute("INSERT INTO download_requests (id, user_id, album_id) VALUES (?, 'u1', ?)",
                     (request_id, album_id))
    conn.close()


def request_status(bridge_db: Path, request_id: str) -> str | None:
    conn = sqlite3.connect(bridge_db)
    try:
        row = conn.execute("SELECT status FROM download_requests WHERE id = ?", (request_id,)).fetchone()
        return row[0] if row else None
    finally:
        conn.close()


def assert_catalog_consistent(catalog: Path, media: Path) -> None:
    """No track points at a missing or broken file; nothing is left half-placed."""
    conn = sqlite3.connect(catalog)
    rows = conn.execute("SELECT id, availability, audio_uri FROM tracks").fetchall()
    conn.close()
    for track_id, availability, uri in rows:
        if availability == "available":
            path = media / uri
            assert path.is_file(), (track_id, uri)
            assert mutagen.File(path) is not None
    leftovers = [p for p in media.rglob("*") if p.is_file() and p.name.startswith(".")]
    assert leftovers == []


async def test_sigterm_during_an_import_exits_0_quickly_and_the_catalog_stays_consistent(tmp_path, sim):
    # A long album makes the import take a while; SIGTERM lands while it runs.
    big = album("alb-big", "Long Player", "Marathon", [f"Part {i}" for i in range(1, 17)], seconds=40)
    catalog = build_catalog(tmp_path / "catalog.db", [big])
    config = config_with_secrets(tmp_path, catalog, sim.base_url)
    daemon = Daemon(config, tmp_path / "daemon.log")
    await (await daemon.start()).started()
    insert_request(tmp_path / "bridge.db", "r1", "alb-big")

    await wait_for(_async(lambda: any(e.get("event") == "import.started" for e in daemon.events())),
                   what="the import to start", timeout=120)
    started = time.monotonic()
    code = await daemon.stop(signal.SIGTERM)
    elapsed = time.monotonic() - started
    assert code == 0, daemon.log.read_text()[-3000:]
    assert elapsed < 10, f"took {elapsed:.1f}s to stop"
    assert_catalog_consistent(catalog, tmp_path / "media")

    # Whatever the import had left, the next start finishes it.
    daemon = Daemon(config, tmp_path / "daemon-2.log")
    await (await daemon.start()).started()
    await wait_for(_async(lambda: request_status(tmp_path / "bridge.db", "r1") == "completed"),
                   what="the import to finish after the restart", timeout=120)
    assert await daemon.stop() == 0
    assert_catalog_consistent(catalog, tmp_path / "media")
    conn = sqlite3.connect(catalog)
    assert {r[0] for r in conn.execute("SELECT availability FROM tracks")} == {"available"}
    conn.close()
    assert sim.post_count == 1


async def test_a_second_instance_is_refused_and_a_killed_ones_lock_does_not_block(tmp_path, sim):
    catalog = build_catalog(tmp_path / "catalog.db", [album("alb-1", "A", "B", ["x"])])
    config = config_with_secrets(tmp_path, catalog, sim.base_url)
    first = Daemon(config, tmp_path / "first.log")
    await (await first.start()).started()

    second = Daemon(config, tmp_path / "second.log")
    await second.start()
    assert second.proc is not None
    assert await asyncio.wait_for(second.proc.wait(), timeout=30) == 4
    message = (tmp_path / "second.log").read_text()
    assert "another torrentino-bridge" in message and str(first.proc.pid) in message

    assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
    third = Daemon(config, tmp_path / "third.log")
    await (await third.start()).started()
    assert await third.stop() == 0


async def test_no_secret_appears_in_the_logs_of_a_full_run(tmp_path, sim):
    sim.set_outcome("Secretive", "needs_approval")
    catalog = build_catalog(tmp_path / "catalog.db", [album("alb-s", "Quiet", "Secretive", ["a", "b"]),
                                                      album("alb-f", "Loud", "Failing", ["c"])])
    sim.set_outcome("Failing", "fail")
    config = config_with_secrets(tmp_path, catalog, sim.base_url)
    daemon = Daemon(config, tmp_path / "daemon.log")
    await (await daemon.start()).started()
    port = next(e["port"] for e in daemon.events() if e.get("event") == "http.listening")
    insert_request(tmp_path / "bridge.db", "r1", "alb-s")
    insert_request(tmp_path / "bridge.db", "r2", "alb-f")

    import aiohttp

    base = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession() as http:
        await wait_for(_async(lambda: request_status(tmp_path / "bridge.db", "r1") == "needs_approval"),
                       what="approval")
        async with http.get(f"{base}/v1/admin/downloads", headers=admin) as resp:
            tickets = (await resp.json())["downloads"]
        waiting = next(t for t in tickets if t["state"] == "needs_approval")
        async with http.post(f"{base}/v1/admin/downloads/{waiting['ticket_id']}/approve", headers=admin,
                             json={"candidate_idx": 0}) as resp:
            assert resp.status == 200
        await wait_for(_async(lambda: request_status(tmp_path / "bridge.db", "r2") == "failed"), what="failure")
        async with http.get(f"{base}/v1/admin/downloads", headers={"Authorization": "Bearer wrong"}) as resp:
            assert resp.status == 401
        user = {"Authorization": f"Bearer {SERVICE_TOKEN}", "X-User-Id": "u9"}
        async with http.post(f"{base}/v1/user/request-download", headers=user,
                             json={"album_id": "alb-f"}) as resp:
            assert resp.status == 202
        async with http.post(f"{base}/v1/internal/torrentino-callback",
                             headers={"Authorization": f"Bearer {CALLBACK_SECRET}"},
                             json={"event": "completed", "ticket_id": "unknown", "timestamp": "x",
                                   "details": {}}) as resp:
            assert resp.status in (200, 202)
    await wait_for(_async(lambda: request_status(tmp_path / "bridge.db", "r1") == "completed"), what="completion")
    assert await daemon.stop() == 0

    text = daemon.log.read_text()
    assert len(text.splitlines()) > 20
    for secret in (TEST_TOKEN, ADMIN_TOKEN, SERVICE_TOKEN, CALLBACK_SECRET):
        assert secret not in text, secret


def _async(check):
    async def run():
        return check()

    return run


async def test_a_catalog_locked_at_start_does_not_stop_the_daemon(tmp_path, sim, monkeypatch):
    """Before: startup repair gave up on the locked catalog and the daemon exited 1. Now it
    starts, reports not ready, and finishes repair (then the work) once the lock is gone."""
    catalog = build_catalog(tmp_path / "catalog.db", [
        album("alb-ok", "Fine", "Record", ["a", "b"]),
        album("alb-stale", "Left", "Behind", ["c"], availability="fetching"),   # a crashed run's
    ])
    setup = sqlite3.connect(catalog)
    setup.execute("PRAGMA journal_mode = WAL")
    setup.close()
    monkeypatch.setenv("TORRENTINO_BRIDGE_CATALOG__BUSY_TIMEOUT_MS", "50")
    monkeypatch.setenv("TORRENTINO_BRIDGE_CATALOG__WRITE_RETRIES", "1")
    config = config_with_secrets(tmp_path, catalog, sim.base_url)
    blocker = sqlite3.connect(catalog, isolation_level=None)   # the catalog server, mid-write
    blocker.execute("BEGIN IMMEDIATE")
    blocker.execute("UPDATE tracks SET name = name")
    daemon = Daemon(config, tmp_path / "daemon.log")
    try:
        await (await daemon.start()).started()
        assert any(e.get("event") == "repair.deferred" for e in daemon.events())
        port = next(e["port"] for e in daemon.events() if e.get("event") == "http.listening")
        insert_request(tmp_path / "bridge.db", "r1", "alb-ok")

        import aiohttp

        async with aiohttp.ClientSession() as http, http.get(
                f"http://127.0.0.1:{port}/readyz", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as resp:
            body = await resp.json()
        assert resp.status == 503 and body["components"]["repair"]["ok"] is False
        assert "locked" in body["components"]["repair"]["error"]
        await wait_for(_async(lambda: any(e.get("event") == "repair.still_locked" for e in daemon.events())),
                       what="a repair retry")
        assert daemon.proc is not None and daemon.proc.returncode is None
        assert request_status(tmp_path / "bridge.db", "r1") == "pending"
    finally:
        blocker.rollback()
        blocker.close()

    await wait_for(_async(lambda: request_status(tmp_path / "bridge.db", "r1") == "completed"),
                   what="the request once repair ran", timeout=60)
    assert any(e.get("event") == "repair.recovered" for e in daemon.events())
    assert await daemon.stop() == 0
    conn = sqlite3.connect(catalog)
    assert conn.execute("SELECT availability FROM tracks WHERE album_id = 'alb-stale'").fetchall() == [
        ("fetch_error",)]
    conn.close()
    assert sim.post_count == 1


async def test_a_catalog_exclusively_locked_at_start_is_waited_for(tmp_path, sim, monkeypatch):
    """Rollback-journal catalog under an EXCLUSIVE lock: even the schema read is refused.
    Before: the daemon exited 1. Now it says so once, waits, then starts and does the work."""
    catalog = build_catalog(tmp_path / "catalog.db", [album("alb-ok", "Fine", "Record", ["a", "b"])])
    mode = sqlite3.connect(catalog).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "delete"
    monkeypatch.setenv("TORRENTINO_BRIDGE_CATALOG__BUSY_TIMEOUT_MS", "50")
    config = config_with_secrets(tmp_path, catalog, sim.base_url)
    blocker = sqlite3.connect(catalog, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    blocker.execute("UPDATE tracks SET name = name")
    daemon = Daemon(config, tmp_path / "daemon.log")
    try:
        await daemon.start()
        await wait_for(_async(lambda: any(e.get("event") == "catalog.still_locked" for e in daemon.events())),
                       what="a second attempt at the catalog")
        events = daemon.events()
        locked = [e for e in events if e.get("event") == "catalog.locked_at_start"]
        assert len(locked) == 1 and "locked" in locked[0]["error"] and locked[0]["level"] == "error"
        assert not any(e.get("event") == "bridge.started" for e in events)
        assert daemon.proc is not None and daemon.proc.returncode is None
    finally:
        blocker.rollback()
        blocker.close()

    await daemon.started()
    assert any(e.get("event") == "catalog.unlocked" for e in daemon.events())
    insert_request(tmp_path / "bridge.db", "r1", "alb-ok")
    await wait_for(_async(lambda: request_status(tmp_path / "bridge.db", "r1") == "completed"),
                   what="the request once the catalog opened", timeout=60)
    assert await daemon.stop() == 0
    assert sim.post_count == 1


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs at least two usable cores")
async def test_the_daemon_keeps_to_bridge_cpus_cores(tmp_path, sim):
    catalog = build_catalog(tmp_path / "catalog.db", [album("alb-ok", "Fine", "Record", ["a"])])
    daemon = Daemon(config_with_secrets(tmp_path, catalog, sim.base_url), tmp_path / "daemon.log")
    await (await daemon.start()).started()
    try:
        assert daemon.proc is not None
        last = sorted(os.sched_getaffinity(0))[-1]
        tasks = os.listdir(f"/proc/{daemon.proc.pid}/task")
        assert len(tasks) > 1       # the event loop and SQLite's threads at least
        for tid in tasks:
            assert os.sched_getaffinity(int(tid)) == {last}, tid
        assert any(e.get("event") == "cpu.limited" and e["cpus"] == [last] for e in daemon.events())
    finally:
        assert await daemon.stop() == 0


async def test_sigterm_while_waiting_for_a_locked_catalog_exits_0(tmp_path, sim, monkeypatch):
    """The wait is interruptible, and systemd is told to extend the start timeout meanwhile."""
    import socket

    catalog = build_catalog(tmp_path / "catalog.db", [album("alb-ok", "Fine", "Record", ["a"])])
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    monkeypatch.setenv("TORRENTINO_BRIDGE_CATALOG__BUSY_TIMEOUT_MS", "50")
    blocker = sqlite3.connect(catalog, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    daemon = Daemon(config_with_secrets(tmp_path, catalog, sim.base_url), tmp_path / "daemon.log")
    try:
        await daemon.start()
        await wait_for(_async(lambda: any(e.get("event") == "catalog.locked_at_start" for e in daemon.events())),
                       what="the daemon to find the catalog locked")
        assert await daemon.stop() == 0
        assert any(e.get("event") == "bridge.stopped" and e.get("during") == "start" for e in daemon.events())
        messages = []
        while True:
            try:
                messages.append(notify.recv(4096).decode())
            except BlockingIOError:
                break
        assert any("EXTEND_TIMEOUT_USEC=" in m and "catalog" in m for m in messages), messages
        assert not any("READY=1" in m for m in messages)
    finally:
        blocker.rollback()
        blocker.close()
        notify.close()

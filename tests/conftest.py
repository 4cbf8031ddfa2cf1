"""Shared fixtures: real SQLite catalogs (both layouts), settings files, the QT simulator
on 127.0.0.1 and a running bridge service."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog

from torrentino_bridge.config import Settings, load_settings
from torrentino_bridge.store.db import sql_dir
from torrentino_bridge.tasks import TaskSupervisor

TEST_TOKEN = "test-token-4f1c9a"


@dataclass
class AlbumSpec:
    id: str
    artist: str
    name: str
    year: int | None = 2001
    # (disc, number, title, seconds, availability)
    tracks: list[tuple[int, int, str, int, str]] = field(default_factory=list)

    def track_id(self, disc: int, number: int) -> str:
        return f"{self.id}-{disc}{number:02d}"


def album(album_id: str, artist: str, name: str, titles: list[str], *, year: int | None = 2001,
          seconds: int = 2, availability: str = "unavailable", discs: int = 1) -> AlbumSpec:
    """An album whose titles are spread evenly over `discs` discs."""
    per_disc = -(-len(titles) // discs)
    tracks = [(i // per_disc + 1, i % per_disc + 1, t, seconds, availability) for i, t in enumerate(titles)]
    return AlbumSpec(album_id, artist, name, year, tracks)


def build_catalog(path: Path, albums: list[AlbumSpec], *, layout: str = "plan") -> Path:
    """A catalog in `layout`: the plan's own, or Pezzottify's as deployed (tests/pezzottify.py)."""
    if layout == "pezzottify":
        from tests.pezzottify import build_catalog as build_pezzottify

        return build_pezzottify(path, albums)
    conn = sqlite3.connect(path)
    with conn:
        conn.executescript((sql_dir() / "catalog.sql").read_text(encoding="utf-8"))
        for a in albums:
            conn.execute("INSERT OR IGNORE INTO artists (id, name) VALUES (?, ?)", (f"art-{a.id}", a.artist))
            conn.execute("INSERT INTO albums (id, name, artist_id, year) VALUES (?, ?, ?, ?)",
                         (a.id, a.name, f"art-{a.id}", a.year))
            for disc, number, title, secs, avail in a.tracks:
                uri = f"{a.id}/{disc}-{number:02d}.ogg" if avail == "available" else None
                conn.execute(
                    "INSERT INTO tracks (id, album_id, name, disc_number, track_number, duration_ms,"
                    " audio_uri, availability) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (a.track_id(disc, number), a.id, title, disc, number, secs * 1000, uri, avail),
                )
    conn.close()
    return path


def write_config(directory: Path, catalog: Path, qt_url: str, *, token: str | None = TEST_TOKEN,
                 extra: str = "", http: bool = False) -> Path:
    token_line = f'auth_token = "{token}"\n' if token else ""
    path = directory / "bridge.toml"
    path.write_text(
        f'[catalog]\ndb = "{catalog}"\n\n'
        f'[bridge]\ndb = "{directory / "bridge.db"}"\npoll_interval_secs = 0.05\n'
        "reconcile_interval_secs = 0.5\nprogress_refresh_secs = 0.2\nshutdown_grace_secs = 5\n\n"
        f'[media]\nroot = "{directory / "media"}"\nincoming = "{directory / "incoming"}"\nsettle_secs = 0.3\n\n'
        f"[http]\nenabled = {'true' if http else 'false'}\nport = 0\n\n"
        f'[torrentino]\nurl = "{qt_url}"\n{token_line}websocket_reconnect_secs = 0.1\n'
        "websocket_max_backoff_secs = 0.5\nrequest_timeout_secs = 5\nmax_attempts = 2\n"
        + extra,
        encoding="utf-8",
    )
    return path


async def wait_for(check: Callable[[], Awaitable[Any]], *, timeout: float = 30.0, interval: float = 0.05,
                   what: str = "condition") -> Any:
    """Poll until check() returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


@asynccontextmanager
async def running_sim(*, step_secs: float = 0.01, progress_ticks: int = 2) -> AsyncIterator[Any]:
    """The QT simulator on 127.0.0.1 (a free port), with the tests' API key."""
    from torrentino_bridge.sim.server import QTSimulator, SimConfig

    simulator = QTSimulator(SimConfig(api_key=TEST_TOKEN, step_secs=step_secs, progress_ticks=progress_ticks))
    simulator.base_url = await simulator.start("127.0.0.1", 0)
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    async with running_sim() as simulator:
        yield simulator


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., Settings]:
    def make(catalog: Path, qt_url: str, **kwargs: Any) -> Settings:
        return load_settings(write_config(tmp_path, catalog, qt_url, **kwargs))

    return make


@pytest.fixture
async def running_bridge() -> AsyncIterator[Callable[[Settings], Awaitable[Any]]]:
    """Start BridgeService instances; every one is stopped at teardown."""
    from torrentino_bridge.service import BridgeService

    started: list[BridgeService] = []

    async def start(settings: Settings) -> BridgeService:
        service = BridgeService(settings)
        await service.start()
        started.append(service)
        return service

    try:
        yield start
    finally:
        for service in reversed(started):
            await service.stop()


async def forward(session: Any, target: str, request: Any) -> tuple[int, bytes]:
    """Pass an aiohttp server request on to `target` (same method, path, query, body and
    auth headers), for test proxies that then spoil the answer; (status, body)."""
    body = await request.read()
    headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
    async with session.request(request.method, target + request.path_qs, data=body or None,
                               headers=headers) as resp:
        return resp.status, await resp.read()


@pytest.fixture
async def tasks() -> AsyncIterator[TaskSupervisor]:
    """A TaskSupervisor whose tasks are cancelled at teardown."""
    supervisor = TaskSupervisor()
    try:
        yield supervisor
    finally:
        await supervisor.cancel_all()


@pytest.fixture(autouse=True)
def _fresh_logging() -> Any:
    """Every test leaves logging as it found it: an in-process CLI run configures structlog
    (level filter, stderr of the moment), which would hide later tests' debug events from
    capture_logs and write to a stream pytest has closed."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    yield
    structlog.reset_defaults()
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)


def _sqlite_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name and t.is_alive()}


@pytest.fixture(autouse=True)
def no_leaked_connections():
    """An unclosed aiosqlite connection keeps a thread alive and the test run from exiting."""
    before = _sqlite_threads()
    yield
    deadline = time.monotonic() + 2.0
    while (leaked := _sqlite_threads() - before) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not leaked, f"{len(leaked)} aiosqlite connection(s) left open"

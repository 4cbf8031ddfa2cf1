"""What the benchmarks share: catalogs and live tickets seeded in bulk, a config with the
production defaults, the daemon and the fake QT as subprocesses, percentiles, the
machine's load, and writing results."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import platform
import re
import socket
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TOKEN = "bench-token-5e1f"
TITLES = ("Intro", "Outro")          # every bench album has these two 2-second tracks
TRACK_MS = 2000


# --- numbers ----------------------------------------------------------------------------

def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def cpu_times() -> tuple[int, int]:
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


def busy_fraction(seconds: float = 3.0) -> float:
    """How busy the whole machine is (all cores), sampled over `seconds`."""
    total0, idle0 = cpu_times()
    time.sleep(seconds)
    total1, idle1 = cpu_times()
    return round(1 - (idle1 - idle0) / max(1, total1 - total0), 3)


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "loadavg": [round(x, 2) for x in os.getloadavg()]}


def rss_kb(pid: int) -> dict[str, int]:
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def daemon_cpus(cpus: int) -> Callable[[], None]:
    """Put this process on the cores `run` keeps the daemon on (bridge.cpus), for benchmarks
    that run the bridge in-process; returns what gives every thread its old cores back.
    Start subprocesses (fake QT, readers) before or after: they would inherit the limit."""
    from torrentino_bridge.ops.affinity import limit_cpus

    before = os.sched_getaffinity(0)
    limit_cpus(cpus)

    def restore() -> None:
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(tid), before)

    return restore


@dataclass
class Result:
    name: str
    figure: str
    value: float
    unit: str
    target: str
    met: bool
    baseline: float | None = None
    baseline_label: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def write(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.name}.json"
        path.write_text(json.dumps({**self.__dict__, "machine": machine()}, indent=2) + "\n", encoding="utf-8")
        return path


# --- catalogs and bridge databases, seeded in bulk -----------------------------------

def album_id(i: int) -> str:
    return f"balb{i:06d}"


def track_id(i: int, n: int) -> str:
    return f"btrk{i:06d}-{n}"


def build_catalog(path: Path, albums: int, *, availability: str = "unavailable") -> Path:
    """A plan-layout catalog of `albums` albums with two tracks each, written in bulk."""
    from torrentino_bridge.store.db import sql_dir

    if path.exists():
        path.unlink()
    conn = sqlite3.connect(path)
    with conn:
        conn.executescript((sql_dir() / "catalog.sql").read_text(encoding="utf-8"))
        conn.executemany("INSERT INTO artists (id, name) VALUES (?, ?)",
                         ((f"bart{i:06d}", f"Artist {i}") for i in range(albums)))
        conn.executemany("INSERT INTO albums (id, name, artist_id, year) VALUES (?, ?, ?, 2020)",
                         ((album_id(i), f"Album {i}", f"bart{i:06d}") for i in range(albums)))
        conn.executemany(
            "INSERT INTO tracks (id, album_id, name, disc_number, track_number, duration_ms, availability)"
            " VALUES (?, ?, ?, 1, ?, ?, ?)",
            ((track_id(i, n), album_id(i), title, n, TRACK_MS, availability)
             for i in range(albums) for n, title in enumerate(TITLES, start=1)),
        )
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return path


def migrate_bridge_db(path: Path) -> None:
    from torrentino_bridge.store.db import open_bridge_db

    async def run() -> None:
        conn = await open_bridge_db(path)
        await conn.close()

    # Its own loop in a worker thread: callers may already run one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


def seed_live_tickets(bridge_db: Path, catalog: Path, count: int, incoming: Path) -> list[list[str]]:
    """`count` submissions QT is working on (state active, qt_state downloading), one per
    album, each with its request, written straight into the bridge's tables as the engine
    would have left them. Returns [ticket_id, dest_path, description] for the fake QT."""
    migrate_bridge_db(bridge_db)
    now = "2026-01-01T00:00:00.000Z"
    seeded = []
    subs, sub_tracks, requests, req_tracks = [], [], [], []
    for i in range(count):
        sub_id, ticket_id = uuid.uuid4().hex, str(uuid.uuid4())
        dest = str(incoming / f"tb-{sub_id}")
        description = f"Artist {i} - Album {i} (2020)"
        body = json.dumps({"priority": 10, "query_context": {"description": description}, "dest_path": dest})
        subs.append((sub_id, album_id(i), dest, dest, body, 10, ticket_id, "active", "downloading", now, now))
        requests.append((f"breq{i:06d}", f"user{i % 50}", album_id(i), "in_progress", now, now, now))
        for n in range(1, len(TITLES) + 1):
            sub_tracks.append((sub_id, track_id(i, n)))
            req_tracks.append((f"breq{i:06d}", track_id(i, n), album_id(i), sub_id))
        seeded.append([ticket_id, dest, description])
    conn = sqlite3.connect(bridge_db)
    with conn:
        conn.executemany(
            "INSERT INTO submissions (id, album_id, dest_path, local_dir, body, priority, ticket_id, state, qt_state,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", subs)
        conn.executemany("INSERT INTO submission_tracks (submission_id, track_id) VALUES (?, ?)", sub_tracks)
        conn.executemany(
            "INSERT INTO download_requests (id, user_id, album_id, status, created_at, planned_at, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", requests)
        conn.executemany("INSERT INTO request_tracks (request_id, track_id, album_id, submission_id)"
                         " VALUES (?, ?, ?, ?)", req_tracks)
    conn.close()
    cat = sqlite3.connect(catalog)
    with cat:
        cat.executemany("UPDATE tracks SET availability = 'fetching' WHERE album_id = ?",
                        ((album_id(i),) for i in range(count)))
    cat.close()
    return seeded


def write_config(directory: Path, catalog: Path, qt_url: str, **overrides: Any) -> Path:
    """bridge.toml with the production defaults (bridge.toml at the repository root),
    except what `overrides` names (section__key=value)."""
    values: dict[str, dict[str, Any]] = {
        "catalog": {"db": str(catalog)},
        "bridge": {"db": str(directory / "bridge.db")},
        "media": {"root": str(directory / "media"), "incoming": str(directory / "incoming")},
        "http": {"enabled": False},
        "torrentino": {"url": qt_url, "auth_token": TOKEN},
        "torrentino.rate_limits": {"requests_per_user_per_day": 1_000_000, "max_pending_per_user": 1_000_000},
    }
    for key, value in overrides.items():
        section, _, name = key.rpartition("__")
        values.setdefault(section.replace("__", "."), {})[name] = value
    lines = []
    for section, items in values.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in items.items()]
        lines.append("")
    path = directory / "bridge.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def templates(directory: Path) -> Path:
    """The files a completed ticket leaves: the two tracks, tagged, as QT names them."""
    from torrentino_bridge.sim.audio import AudioTags, write_audio

    for n, title in enumerate(TITLES, start=1):
        write_audio(directory / f"{n:02d} - {title}.ogg", duration_secs=TRACK_MS / 1000,
                    tags=AudioTags(title=title, track_number=n, track_total=len(TITLES)), seed=n)
    return directory


# --- processes -------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeQTProcess:
    def __init__(self, *, templates_dir: Path | None = None, complete_after: float | None = None) -> None:
        self.port = free_port()
        self.args = ["--port", str(self.port)]
        if templates_dir is not None:
            self.args += ["--templates", str(templates_dir)]
        if complete_after is not None:
            self.args += ["--complete-after", str(complete_after)]
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FakeQTProcess:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.fakeqt", *self.args, cwd=str(ROOT),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        await asyncio.wait_for(self.proc.stdout.readline(), 30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with aiohttp.ClientSession() as session, session.request(
            method, self.url + path, json=body, timeout=aiohttp.ClientTimeout(total=600)
        ) as resp:
            resp.raise_for_status()
            return await resp.json()


def unit_nice() -> int:
    """The Nice= of deploy/torrentino-bridge.service (0 when it sets none)."""
    unit = (ROOT / "deploy" / "torrentino-bridge.service").read_text()
    found = re.search(r"^Nice=(-?\d+)$", unit, re.M)
    return int(found.group(1)) if found else 0


class DaemonProcess:
    """`python -m torrentino_bridge run` with its log in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> DaemonProcess:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                "nice", "-n", str(unit_nice()),      # as the systemd unit runs it
                sys.executable, "-m", "torrentino_bridge", "--log-format", "json", "run",
                "--config", str(self.config), cwd=str(ROOT), stdout=asyncio.subprocess.DEVNULL, stderr=log,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def until(check: Any, *, timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db, timeout=60)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()

"""Shared parts of the fault tests: the daemon as a real subprocess, writers that use
their own SQLite connections (as the catalog server would), and the end-state checks,
which read only the files: catalog DB, bridge DB, media root, incoming, QT's tickets."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen
import soundfile

from tests.conftest import AlbumSpec, album

TERMINAL = ("completed", "failed", "rejected", "cancelled")
LIVE_SUBMISSIONS = ("intent", "active", "needs_approval", "importing")


# --- the daemon ---------------------------------------------------------------------------

class Daemon:
    """`python -m torrentino_bridge run` as a subprocess; SIGKILL and restart at will."""

    def __init__(self, config: Path, log: Path, *, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.log = log
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.kills = 0
        self.unexpected_exits: list[int] = []
        self._started_lines = 0

    async def start(self) -> None:
        assert self.proc is None or self.proc.returncode is not None, "already running"
        self._started_lines = len(self.log_lines('"bridge.started"'))
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "torrentino_bridge", "--log-format", "json", "run",
                "--config", str(self.config),
                stdout=asyncio.subprocess.DEVNULL, stderr=log, env=self.env,
            )
        self.starts += 1

    async def until_started(self, timeout: float = 60.0) -> None:
        """Wait for this start's `bridge.started` line (signal handlers are set by then)."""
        async def started() -> bool:
            self.check_alive()
            assert self.proc is not None, f"the daemon exited during startup: {self.unexpected_exits}"
            return len(self.log_lines('"bridge.started"')) > self._started_lines

        deadline = asyncio.get_running_loop().time() + timeout
        while not await started():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the daemon did not finish starting")
            await asyncio.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def check_alive(self) -> None:
        """Record an exit nobody asked for (a crash); the daemon must never stop on its own."""
        if self.proc is not None and self.proc.returncode is not None:
            self.unexpected_exits.append(self.proc.returncode)
            self.proc = None

    async def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            self.kills += 1
        else:
            self.unexpected_exits.append(self.proc.returncode)
        await self.proc.wait()
        self.proc = None

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit status (0 is a clean stop)."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        self.proc = None
        return code

    def log_lines(self, needle: str) -> list[str]:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return [line for line in text.splitlines() if needle in line]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- databases, as other processes use them ------------------------------------------------

def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db, timeout=60)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def insert_request(db: Path, request_id: str, user: str, *, album_id: str | None = None,
                   track_ids: list[str] | None = None) -> None:
    """Insert a row the way the catalog server does: its own connection, one statement."""
    import json

    conn = sqlite3.connect(db, timeout=60)
    try:
        with conn:
            conn.execute(
                "INSERT INTO download_requests (id, user_id, album_id, track_ids) VALUES (?, ?, ?, ?)",
                (request_id, user, album_id, json.dumps(track_ids) if track_ids is not None else None),
            )
    finally:
        conn.close()


def bridge_ready(db: Path) -> bool:
    return db.exists() and bool(query(db, "SELECT 1 FROM sqlite_master WHERE name = 'user_limits'"))


def converged_or_died(db: Path, daemon: Daemon) -> bool:
    """converged(), failing at once when the daemon exited on its own."""
    daemon.check_alive()
    assert not daemon.unexpected_exits, f"the daemon exited on its own: {daemon.unexpected_exits}"
    return converged(db)


def converged(db: Path) -> bool:
    """Every request terminal and no submission live."""
    open_requests = query(db, f"SELECT COUNT(*) FROM download_requests WHERE status NOT IN {TERMINAL}")
    live = query(db, f"SELECT COUNT(*) FROM submissions WHERE state IN {LIVE_SUBMISSIONS}")
    return open_requests[0][0] == 0 and live[0][0] == 0


def many_albums(count: int, *, tracks: int = 2, seconds: int = 1, prefix: str = "alb") -> list[AlbumSpec]:
    """Albums with distinct artists ("Band007"), so a simulator outcome can target one."""
    return [
        album(f"{prefix}-{i:03d}", f"Band{i:03d}", f"Record {i:03d}",
              [f"Song {i:03d}-{n}" for n in range(1, tracks + 1)], seconds=seconds)
        for i in range(count)
    ]


def sim_token(spec: AlbumSpec) -> str:
    """What the simulator's outcome table matches for this album (its description)."""
    return f"{spec.artist} - "


# --- the end state, read from the files ------------------------------------------------

@dataclass(frozen=True)
class Expect:
    status: str
    error_contains: tuple[str, ...] = ()


@dataclass(frozen=True)
class CatalogTrack:
    id: str
    album_id: str
    name: str
    state: str          # available / unavailable / fetching / fetch_error (pezzottify: two states)
    audio_uri: str | None


def catalog_tracks(catalog: Path) -> dict[str, CatalogTrack]:
    cols = {r[1] for r in query(catalog, "PRAGMA table_info(tracks)")}
    if "availability" in cols:
        rows = query(catalog, "SELECT id, album_id, name, availability, audio_uri FROM tracks")
        return {r[0]: CatalogTrack(*r) for r in rows}
    rows = query(catalog, "SELECT t.id, al.id, t.name, t.track_available, t.audio_uri FROM tracks t"
                          " JOIN albums al ON al.rowid = t.album_rowid")
    return {r[0]: CatalogTrack(r[0], r[1], r[2], "available" if r[3] else "unavailable", r[4])
            for r in rows}


def audio_problem(path: Path, title: str) -> str | None:
    """Why `path` is not a whole, decodable audio file titled `title` (None when it is)."""
    if path.is_symlink() or not path.is_file():
        return "missing or not a regular file"
    try:
        tagged = mutagen.File(path, easy=True)
    except Exception as err:  # mutagen raises many types for damaged headers
        return f"mutagen cannot read it: {err!r}"
    if tagged is None or not tagged.info or not tagged.info.length > 0:
        return "mutagen sees no audio"
    titles = (tagged.tags or {}).get("title") if tagged.tags is not None else None
    if titles != [title]:
        return f"title tag {titles!r}, expected {title!r}"
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:
        return f"does not decode: {err!r}"
    if rate <= 0 or len(data) == 0:
        return "decodes to nothing"
    if abs(len(data) / rate - tagged.info.length) > 1.0:
        return f"decodes {len(data) / rate:.2f}s of {tagged.info.length:.2f}s"
    return None


def check_end_state(*, catalog: Path, bridge_db: Path, media_root: Path, incoming: Path,
                    qt_tickets: dict[str, dict[str, Any]], expected: dict[str, Expect],
                    transient_in_catalog: bool = True) -> list[str]:
    """Every invariant of a converged bridge; returns the violations (empty when all hold)."""
    problems: list[str] = []
    tracks = catalog_tracks(catalog)

    # 1. Every request terminal, with the status (and error) its album's outcome implies.
    rows = {r[0]: (r[1], r[2] or "") for r in query(bridge_db, "SELECT id, status, error FROM download_requests")}
    for request_id, want in expected.items():
        status, error = rows.get(request_id, ("missing", ""))
        if status != want.status:
            problems.append(f"request {request_id}: {status} ({error!r}), expected {want.status}")
        for needle in want.error_contains:
            if needle not in error:
                problems.append(f"request {request_id}: error {error!r} lacks {needle!r}")
    for request_id, (status, _) in rows.items():
        if status not in TERMINAL:
            problems.append(f"request {request_id} is still {status}")

    # 2. QT holds one ticket per submission, and only tickets the bridge recorded.
    by_dest: dict[str, list[str]] = defaultdict(list)
    for ticket_id, ticket in qt_tickets.items():
        by_dest[ticket["dest_path"]].append(ticket_id)
    for dest, ids in by_dest.items():
        if len(ids) > 1:
            problems.append(f"duplicate QT tickets for {dest}: {ids}")
    subs = query(bridge_db, "SELECT id, dest_path, ticket_id, state FROM submissions")
    known = {dest: (sub_id, ticket_id, state) for sub_id, dest, ticket_id, state in subs}
    for dest, ids in by_dest.items():
        if dest not in known:
            problems.append(f"QT ticket(s) {ids} for {dest}: no submission of the bridge")
        elif known[dest][1] not in ids:
            problems.append(f"submission {known[dest][0]} records ticket {known[dest][1]}, QT has {ids}")
    for sub_id, _dest, ticket_id, state in subs:
        if state in LIVE_SUBMISSIONS:
            problems.append(f"submission {sub_id} is still {state}")
        if ticket_id is None:
            problems.append(f"submission {sub_id} ({state}) never got a ticket")

    # 3. No track fetching without a live ticket (after convergence: none fetching at all).
    live = query(bridge_db, "SELECT st.track_id FROM submission_tracks st JOIN submissions s"
                            f" ON s.id = st.submission_id WHERE st.active = 1 AND s.state IN {LIVE_SUBMISSIONS}")
    live_ids = {r[0] for r in live}
    if transient_in_catalog:
        for t in tracks.values():
            if t.state == "fetching" and t.id not in live_ids:
                problems.append(f"track {t.id} is fetching without a live ticket")
    active_elsewhere = query(bridge_db, "SELECT st.track_id, s.state FROM submission_tracks st JOIN submissions s"
                                        " ON s.id = st.submission_id WHERE st.active = 1"
                                        f" AND s.state NOT IN {LIVE_SUBMISSIONS}")
    for track_id, state in active_elsewhere:
        problems.append(f"track {track_id} still waits on a {state} submission")

    # 4. Imports finished: no journal left half-way.
    for key, state in query(bridge_db, "SELECT key, state FROM import_jobs WHERE state != 'done'"):
        problems.append(f"import {key} left in state {state}")

    # 5. Every audio_uri is a whole file of the right track; the media root holds nothing else.
    referenced: dict[Path, str] = {}
    for t in tracks.values():
        if t.state == "available":
            if not t.audio_uri:
                problems.append(f"track {t.id} is available without an audio_uri")
                continue
            path = media_root / t.audio_uri
            if path in referenced:
                problems.append(f"tracks {referenced[path]} and {t.id} share {t.audio_uri}")
            referenced[path] = t.id
            problem = audio_problem(path, t.name)
            if problem:
                problems.append(f"track {t.id} ({t.audio_uri}): {problem}")
        elif t.audio_uri:
            problems.append(f"track {t.id} is {t.state} but keeps audio_uri {t.audio_uri}")
    for path in files_under(media_root):
        if path not in referenced:
            problems.append(f"media root holds an unreferenced file: {path.relative_to(media_root)}")

    # 6. No temporary files anywhere, and no leftovers of fully imported downloads.
    for path in [*files_under(media_root), *files_under(incoming)]:
        if path.name.startswith(".tb-import-") or path.name.endswith(".part"):
            problems.append(f"temporary file left behind: {path}")
    clean = {r[0] for r in query(bridge_db, "SELECT local_dir FROM submissions s WHERE state = 'completed'"
                                          " AND NOT EXISTS (SELECT 1 FROM submission_tracks st WHERE"
                                          " st.submission_id = s.id AND st.outcome != 'imported')")}
    for local_dir in clean:
        if Path(local_dir).exists():
            problems.append(f"leftovers of a fully imported download remain: {local_dir}")
    return problems


def files_under(root: Path) -> list[Path]:
    found = []
    for base, dirs, files in os.walk(root):
        found.extend(Path(base) / name for name in files)
        found.extend(Path(base) / name for name in dirs if (Path(base) / name).is_symlink())
    return found


def report(problems: Iterable[str], limit: int = 40) -> str:
    items = list(problems)
    shown = "\n  ".join(items[:limit])
    more = f"\n  ... and {len(items) - limit} more" if len(items) > limit else ""
    return f"{len(items)} invariant violation(s):\n  {shown}{more}"


class TcpProxy:
    """A TCP relay in front of a server; `down()` makes the server vanish from the
    network (listener closed, every connection cut: connection refused), `up()` brings
    it back on the same port. The server itself keeps running, as QT does behind a
    network outage or a restart of its host's proxy."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        pipes = [asyncio.create_task(self._pipe(reader, up_writer)), asyncio.create_task(self._pipe(up_reader, writer))]
        self._pipes.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._pipes.difference_update(pipes)
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()

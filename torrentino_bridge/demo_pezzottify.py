"""`torrentino-bridge demo --pezzottify`: the real Pezzottify layout end to end, in one process.

A Pezzottify db_dir as the July-2026 server leaves it (catalog, download_queue, search,
server and user databases in the server's schemas; sim/pezzottify.py), the QT simulator,
and the bridge serving the server's own download queue. Users' requests are inserted into
download_queue.db the way the server's request routes insert them; the bridge claims them,
fetches through QT (which delivers FLAC), converts to Ogg Vorbis at the server's paths and
hands over as the server's own import does. One album fails once; the demo then does what
a Pezzottify admin does (the row back to PENDING) and it is fetched again. It ends with the
queue rows as users see them, the tracks with their audio_uri, search availability and the
notifications users got.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import soundfile

from .config import load_settings
from .demo import fresh_workdir
from .reporting import table
from .service import BridgeService
from .sim.pezzottify import DbDir, admin_retry, build_db_dir, request_album, request_track
from .sim.server import QTSimulator, SimConfig

TIMEOUT_SECS = 120.0


@dataclass
class _Album:
    """An album of the demo catalog (the fields sim.pezzottify.AlbumSpec asks for)."""

    id: str
    artist: str
    name: str
    year: int
    tracks: list[tuple[int, int, str, int, str]]

    def track_id(self, disc: int, number: int) -> str:
        return f"{self.id[:18]}{disc}{number:03d}"


def _album(album_id: str, artist: str, name: str, year: int, titles: list[str]) -> _Album:
    return _Album(album_id, artist, name, year, [(1, n, t, 4 + n % 3, "unavailable")
                                                  for n, t in enumerate(titles, start=1)])


# Base62 ids like the server's, so the audio/<id[0:2]>/<id[2:4]>/ shards show.
ALBUMS = [
    _album("4aawyAB9vmqN3uQ7FjRGTy", "The Lanterns", "Harbour Lights", 2019,
           ["Low Tide", "Signal Fires", "Breakwater"]),
    _album("2TpxZ7JUBn3uw46aR7qd6V", "Mira Sol", "Cartas de Verano", 2021, ["Canción del Faro", "Días Largos"]),
    _album("6rqhFgbbKwnb9MLmUQDhG6", "Northbound", "Two Rivers", 2016, ["Source", "Confluence", "Delta"]),
]
FAILS_ONCE = "Two Rivers"


def write_config(workdir: Path, db: DbDir, qt_url: str, token: str) -> Path:
    path = workdir / "bridge.toml"
    path.write_text(
        "# Written by `torrentino-bridge demo --pezzottify`: the bridge beside a Pezzottify server.\n"
        f'[catalog]\ndb = "{db.catalog}"\n\n'
        '[bridge]\ndb = "bridge.db"\npoll_interval_secs = 0.1\nreconcile_interval_secs = 5\n'
        "progress_refresh_secs = 0.5\n\n"
        f'[media]\nroot = "{db.media}"\nincoming = "incoming"\nsettle_secs = 2\n\n'
        "[http]\nenabled = false\n\n"
        f'[torrentino]\nurl = "{qt_url}"\nauth_token = "{token}"\nwebsocket_reconnect_secs = 0.5\n\n'
        '[torrentino.ticket]\noutput_format = "flac"\n'
        + db.config(queue=True),
        encoding="utf-8",
    )
    return path


def _say(text: str) -> None:
    print(text, flush=True)


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def run_pezzottify_demo(directory: str | None, *, keep: bool = False) -> int:
    workdir = fresh_workdir(directory, "torrentino-pz-demo-",
                            ("db", "media", "incoming", "bridge.db", "bridge.db-wal", "bridge.db-shm"))
    token = secrets.token_urlsafe(24)
    sim = QTSimulator(SimConfig(api_key=token, step_secs=0.15))
    sim.set_outcome(FAILS_ONCE, "fail_always")
    qt_url = await sim.start("127.0.0.1", 0)
    db = build_db_dir(workdir / "db", ALBUMS, users=(1, 2))
    _say(f"demo: Pezzottify db_dir {db.root}, media {db.media}; Quentin Torrentino simulator on {qt_url}")

    from .log import configure_logging

    configure_logging("warning", "console")
    service = BridgeService(load_settings(write_config(workdir, db, qt_url, token)))
    await service.start()
    try:
        rows = {
            request_album(db, ALBUMS[0].id, 1): f"user 1: album {ALBUMS[0].name}",
            request_track(db, ALBUMS[1].track_id(1, 2), 2): f"user 2: track {ALBUMS[1].tracks[1][2]}",
            request_album(db, ALBUMS[2].id, 2): f"user 2: album {ALBUMS[2].name}",
        }
        for what in rows.values():
            _say(f"demo: the web client asked for it ({what}): a PENDING row in download_queue.db")
        ok = await _follow(db, sim, rows)
        await service.outbox.run_once()
        _report(db)
        where = f"files under {db.media}" if keep or directory else "work directory removed (--keep keeps it)"
        _say(f"\ndemo: {'every request completed' if ok else 'not every request completed'}; {where}")
        return 0 if ok else 1
    finally:
        await service.stop()
        await sim.stop()
        if not keep and directory is None:
            shutil.rmtree(workdir, ignore_errors=True)


async def _follow(db: DbDir, sim: QTSimulator, rows: dict[str, str]) -> bool:
    """Print each row's status as it changes; retry the failed one like a Pezzottify admin."""
    seen: dict[str, tuple[object, ...]] = {}
    retried = False
    deadline = time.monotonic() + TIMEOUT_SECS
    marks = ",".join("?" * len(rows))
    while time.monotonic() < deadline:
        conn = sqlite3.connect(db.path("queue"))
        try:
            found = {r[0]: r[1:] for r in conn.execute(
                f"SELECT id, status, error_type, error_message FROM download_queue WHERE id IN ({marks})",
                tuple(rows))}
        finally:
            conn.close()
        for row_id, state in found.items():
            if seen.get(row_id) != state:
                seen[row_id] = state
                why = f"  ({state[1]}: {state[2]})" if state[1] else ""
                _say(f"  {rows[row_id]:<32} {state[0]}{why}")
            if state[0] == "FAILED" and not retried:
                retried = True
                sim.set_outcome(FAILS_ONCE, "complete")
                _say("  demo: an admin presses Retry in Pezzottify (the row goes back to PENDING)")
                admin_retry(db.path("queue"), row_id)
        if retried and all(s[0] == "COMPLETED" for s in found.values()):
            return True
        await asyncio.sleep(0.2)
    print("demo: timed out waiting for the queue rows", file=sys.stderr)
    return False


def _report(db: DbDir) -> None:
    tracks = _rows(db.catalog, "SELECT al.name, t.track_number, t.name, t.track_available, t.audio_uri FROM tracks t"
                               " JOIN albums al ON al.rowid = t.album_rowid ORDER BY al.name, t.track_number")
    lines = []
    for album, number, title, available, uri in tracks:
        kind = ""
        if uri:
            info = soundfile.info(str(db.media / str(uri)))
            kind = f"{info.format} {info.subtype}"
        lines.append([str(album), f"{number:02d}", str(title), "yes" if available else "no", str(uri or ""), kind])
    _say("\n" + table(["album", "#", "title", "playable", "audio_uri", "file"], lines))
    albums = _rows(db.catalog, "SELECT name, album_availability FROM albums ORDER BY name")
    _say("\n" + table(["album", "album_availability"], [[str(a), str(b)] for a, b in albums]))
    search = _rows(db.path("search"), "SELECT item_type, COUNT(*) FROM item_availability WHERE is_available = 1"
                                      " GROUP BY item_type ORDER BY item_type")
    _say("\nsearch.db item_availability: " + ", ".join(f"{n} {kind}s" for kind, n in search))
    notes = _rows(db.path("user"), "SELECT user_id, title, body FROM user_notifications ORDER BY user_id, title")
    _say("user.db notifications: " + "; ".join(f"user {u}: {t} ({b})" for u, t, b in notes))

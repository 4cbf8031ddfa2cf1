"""`torrentino-bridge demo`: the whole flow in one process, against the bundled simulator.

It builds a demo catalog, starts the QT simulator and the bridge, requests three albums
(one needs approval, one fails once and is retried), shows live progress and ends with
the catalog's tracks, their availability and audio_uri.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .config import load_settings
from .reporting import render_tracks, request_report
from .service import BridgeService
from .sim.server import QTSimulator, SimConfig
from .store.bridge import BridgeStore
from .store.db import open_bridge_db, sql_dir

# (album id, artist, album, year, QT outcome, [(disc, number, title, seconds)])
DEMO_ALBUMS: list[tuple[str, str, str, int, str, list[tuple[int, int, str, int]]]] = [
    ("alb-harbour", "The Lanterns", "Harbour Lights", 2019, "complete",
     [(1, 1, "Low Tide", 6), (1, 2, "Signal Fires", 5), (1, 3, "Breakwater", 7), (1, 4, "Gulls & Cranes", 4)]),
    ("alb-cartas", "Mira Sol", "Cartas de Verano", 2021, "needs_approval",
     [(1, 1, "Canción del Faro", 5), (1, 2, "Días Largos", 6), (1, 3, "Última Carta", 4)]),
    ("alb-rivers", "Northbound", "Two Rivers", 2016, "fail",
     [(1, 1, "Source", 4), (1, 2, "Confluence", 5), (2, 1, "Delta", 6), (2, 2, "Open Sea", 4)]),
]

TIMEOUT_SECS = 90.0


def build_demo_catalog(path: Path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.executescript((sql_dir() / "catalog.sql").read_text(encoding="utf-8"))
        for album_id, artist, album, year, _, tracks in DEMO_ALBUMS:
            artist_id = "art-" + album_id.removeprefix("alb-")
            conn.execute("INSERT INTO artists (id, name) VALUES (?, ?)", (artist_id, artist))
            conn.execute("INSERT INTO albums (id, name, artist_id, year) VALUES (?, ?, ?, ?)",
                         (album_id, album, artist_id, year))
            for disc, number, title, secs in tracks:
                conn.execute(
                    "INSERT INTO tracks (id, album_id, name, disc_number, track_number, duration_ms,"
                    " availability) VALUES (?, ?, ?, ?, ?, ?, 'unavailable')",
                    (f"{album_id}-{disc}{number:02d}", album_id, title, disc, number, secs * 1000),
                )
    conn.close()


def write_demo_config(workdir: Path, qt_url: str, token: str) -> Path:
    path = workdir / "bridge.toml"
    path.write_text(
        "# Written by `torrentino-bridge demo`.\n"
        "[catalog]\ndb = \"catalog.db\"\n\n"
        "[bridge]\ndb = \"bridge.db\"\npoll_interval_secs = 0.1\nreconcile_interval_secs = 5\n"
        "progress_refresh_secs = 0.5\n\n"
        "[media]\nroot = \"media\"\nincoming = \"incoming\"\n\n"
        "[http]\nenabled = false\n\n"
        f"[torrentino]\nurl = \"{qt_url}\"\nauth_token = \"{token}\"\nwebsocket_reconnect_secs = 0.5\n",
        encoding="utf-8",
    )
    return path


def _say(text: str) -> None:
    print(text, flush=True)


def fresh_workdir(directory: str | None, prefix: str, stale: tuple[str, ...]) -> Path:
    """The demo's work directory (a new temporary one by default), cleared of an earlier run."""
    workdir = Path(directory) if directory else Path(tempfile.mkdtemp(prefix=prefix))
    workdir.mkdir(parents=True, exist_ok=True)
    for name in stale:
        target = workdir / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    return workdir


async def run_demo(directory: str | None, *, keep: bool = False) -> int:
    workdir = fresh_workdir(directory, "torrentino-demo-",
                            ("catalog.db", "bridge.db", "bridge.db-wal", "bridge.db-shm", "media", "incoming"))
    token = secrets.token_urlsafe(24)
    sim = QTSimulator(SimConfig(api_key=token, step_secs=0.15))
    for _, _, album, _, outcome, _ in DEMO_ALBUMS:
        sim.set_outcome(album, outcome)
    qt_url = await sim.start("127.0.0.1", 0)
    _say(f"demo: Quentin Torrentino simulator on {qt_url}; work directory {workdir}")
    build_demo_catalog(workdir / "catalog.db")

    from .log import configure_logging

    configure_logging("warning", "console")
    settings = load_settings(write_demo_config(workdir, qt_url, token))
    service = BridgeService(settings)
    await service.start()
    writer = BridgeStore(await open_bridge_db(settings.bridge.db))
    try:
        request_ids = []
        for album_id, artist, album, *_ in DEMO_ALBUMS:
            request_id = f"demo-{album_id.removeprefix('alb-')}"
            await writer.insert_request(request_id, "demo-user", album_id=album_id)
            request_ids.append(request_id)
            _say(f"demo: requested {artist} - {album} as {request_id}")
        ok = await _follow(service, request_ids)
        reports = [await request_report(service.store, service.catalog, r) for r in request_ids]
        tracks = [t for rep in reports if rep for t in rep["tracks"]]
        _say("\n" + render_tracks(tracks))
        available = sum(1 for t in tracks if t["availability"] == "available")
        kept = keep or directory is not None
        where = (f"files under {settings.media.root}" if kept
                 else "work directory removed (--keep or --dir DIR keeps it)")
        _say(f"\ndemo: {available} of {len(tracks)} tracks available; {where}")
        return 0 if ok and available == len(tracks) else 1
    finally:
        await writer.close()
        await service.stop()
        await sim.stop()
        if not keep and directory is None:
            shutil.rmtree(workdir, ignore_errors=True)


async def _follow(service: BridgeService, request_ids: list[str]) -> bool:
    """Print progress as it changes; approve and retry like an admin would."""
    seen: dict[str, Any] = {}
    handled: set[str] = set()
    deadline = time.monotonic() + TIMEOUT_SECS
    while time.monotonic() < deadline:
        done = True
        for request_id in request_ids:
            rep = await request_report(service.store, service.catalog, request_id)
            if rep is None:
                done = False
                continue
            subs = {t["ticket_id"] for t in rep["tracks"] if t["ticket_id"]}
            progress = [t["progress"] for t in rep["tracks"] if t["progress"] is not None]
            line = (rep["status"], round(min(progress), -1) if progress else None,
                    sum(t["availability"] == "available" for t in rep["tracks"]))
            if seen.get(request_id) != line:
                seen[request_id] = line
                pct = f" {line[1]:.0f}%" if line[1] is not None else ""
                extra = f" ({rep['error']})" if rep["error"] else ""
                counts = f"{line[2]}/{len(rep['tracks'])} available" if rep["tracks"] else "planning"
                _say(f"  {request_id:<14} {rep['status']:<15}{pct:>5}  {counts}{extra}")
            if rep["status"] == "needs_approval" and request_id not in handled:
                handled.add(request_id)
                for ticket_id in subs:
                    sub = await service.store.submission_by_ticket(ticket_id)
                    if sub and sub.state.value == "needs_approval":
                        cands = sub.details_json.get("candidates", [])
                        best = sub.details_json.get("recommended_idx") or 0
                        for i, c in enumerate(cands):
                            mark = "*" if i == best else " "
                            _say(f"    {mark} [{i}] {c.get('title')}  score={c.get('score')} "
                                 f"seeders={c.get('seeders')}")
                        _say(f"  demo: approving candidate {best} as an admin would")
                        await service.actions.approve(ticket_id, best)
            elif rep["status"] == "failed" and request_id + ":retried" not in handled:
                handled.add(request_id + ":retried")
                _say(f"  demo: retrying {request_id} as a user would")
                await service.actions.retry_request(request_id)
            if rep["status"] != "completed":
                done = False
        if done:
            return True
        await asyncio.sleep(0.2)
    print("demo: timed out waiting for the requests", file=sys.stderr)
    return False

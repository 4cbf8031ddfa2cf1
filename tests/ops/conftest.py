"""Real catalog files (both layouts), real audio files, a real bridge.toml."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.pezzottify import create_db, recompute_rollups
from torrentino_bridge.cli import main
from torrentino_bridge.sim.audio import write_audio
from torrentino_bridge.store.db import sql_dir

QT_TOKEN = "qt-token-5f1c9e0a7d"
ADMIN_TOKEN = "admin-token-88b2c4e1f3"

@dataclass(frozen=True)
class TrackSpec:
    id: str
    album: str
    number: int
    audio_uri: str | None
    available: bool = True
    duration_ms: int = 5000


@dataclass
class Env:
    """One installation: catalog (a layout), media folders, bridge.toml."""

    root: Path
    layout: str
    catalog_db: Path
    bridge_db: Path
    media_root: Path
    incoming: Path
    config: Path
    extra_config: dict[str, dict[str, Any]] = field(default_factory=dict)

    def track(self, track_id: str) -> tuple[str, str | None]:
        """(state, audio_uri) as the catalog stores it."""
        with sqlite3.connect(self.catalog_db) as conn:
            if self.layout == "plan":
                row = conn.execute("SELECT availability, audio_uri FROM tracks WHERE id = ?",
                                   (track_id,)).fetchone()
                return row[0], row[1]
            row = conn.execute("SELECT track_available, audio_uri FROM tracks WHERE id = ?",
                               (track_id,)).fetchone()
            return ("available" if row[0] else "unavailable"), row[1]

    def album_availability(self, album_id: str) -> str:
        with sqlite3.connect(self.catalog_db) as conn:
            return conn.execute("SELECT album_availability FROM albums WHERE id = ?",
                                (album_id,)).fetchone()[0]

    def snapshot(self) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.catalog_db) as conn:
            return conn.execute("SELECT * FROM tracks ORDER BY id").fetchall()

    def write_config(self, **sections: dict[str, Any]) -> None:
        merged: dict[str, dict[str, Any]] = {
            "catalog": {"db": str(self.catalog_db)},
            "bridge": {"db": str(self.bridge_db)},
            "media": {"root": str(self.media_root), "incoming": str(self.incoming)},
            "torrentino": {"url": "http://127.0.0.1:9", "auth_token": QT_TOKEN},
            "http": {"admin_token": ADMIN_TOKEN},
            "log": {"format": "json", "level": "info"},
        }
        for name, values in sections.items():
            merged.setdefault(name, {}).update(values)
        lines = []
        for name, values in merged.items():
            lines.append(f"[{name}]")
            lines.extend(f"{key} = {json.dumps(value)}" for key, value in values.items())
            lines.append("")
        self.config.write_text("\n".join(lines), encoding="utf-8")


def create_catalog(path: Path, layout: str, tracks: list[TrackSpec]) -> None:
    if layout == "pezzottify":
        create_db(path, "catalog")
    conn = sqlite3.connect(path)
    try:
        if layout == "plan":
            conn.executescript((sql_dir() / "catalog.sql").read_text(encoding="utf-8"))
        albums = sorted({t.album for t in tracks})
        if layout == "plan":
            conn.execute("INSERT INTO artists (id, name) VALUES ('ar1', 'Test Artist')")
            for album in albums:
                conn.execute("INSERT INTO albums (id, name, artist_id, year) VALUES (?, ?, 'ar1', 2001)",
                             (album, f"Album {album}"))
            for t in tracks:
                conn.execute(
                    "INSERT INTO tracks (id, album_id, name, track_number, duration_ms, audio_uri,"
                    " availability) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (t.id, t.album, f"Track {t.id}", t.number, t.duration_ms, t.audio_uri,
                     "available" if t.available else "unavailable"),
                )
        else:
            # Every NOT NULL column filled, as the server's own rows have them.
            conn.execute("INSERT INTO artists (rowid, id, name, followers_total, popularity)"
                         " VALUES (1, 'ar1', 'Test Artist', 10, 20)")
            for rowid, album in enumerate(albums, start=1):
                conn.execute("INSERT INTO albums (rowid, id, name, album_type, label, popularity, release_date,"
                             " release_date_precision) VALUES (?, ?, ?, 'album', 'Label', 10, '2001', 'year')",
                             (rowid, album, f"Album {album}"))
                conn.execute("INSERT INTO artist_albums (artist_rowid, album_rowid, is_appears_on,"
                             " is_implicit_appears_on, index_in_album) VALUES (1, ?, 0, 0, 0)", (rowid,))
            album_rowid = {album: i for i, album in enumerate(albums, start=1)}
            for rowid, t in enumerate(tracks, start=1):
                conn.execute(
                    "INSERT INTO tracks (rowid, id, name, album_rowid, track_number, popularity, disc_number,"
                    " duration_ms, explicit, audio_uri, track_available) VALUES (?, ?, ?, ?, ?, 0, 1, ?, 0, ?, ?)",
                    (rowid, t.id, f"Track {t.id}", album_rowid[t.album], t.number, t.duration_ms,
                     t.audio_uri, int(t.available)),
                )
                # NULL role: the server reads it as the main artist.
                conn.execute("INSERT INTO track_artists (track_rowid, artist_rowid, role) VALUES (?, 1, ?)",
                             (rowid, None if rowid % 2 == 0 else 0))
            recompute_rollups(conn)
        conn.commit()
    finally:
        conn.close()


def create_queue(path: Path, items: list[tuple[str, str, str | None]]) -> None:
    """items: (id, status, error_message)."""
    create_db(path, "queue")
    conn = sqlite3.connect(path)
    try:
        for item_id, status, message in items:
            conn.execute(
                "INSERT INTO download_queue (id, status, priority, content_type, content_id,"
                " request_source, created_at, error_message) VALUES (?, ?, 2, 'ALBUM', 'al1', 'USER', 1700000000, ?)",
                (item_id, status, message),
            )
        conn.commit()
    finally:
        conn.close()


def queue_rows(path: Path) -> dict[str, tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT id, status, error_type, error_message, completed_at FROM download_queue"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


@pytest.fixture(params=["plan", "pezzottify"])
def layout(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_env(tmp_path: Path) -> Callable[[str, list[TrackSpec]], Env]:
    def build(layout: str, tracks: list[TrackSpec]) -> Env:
        root = tmp_path / f"install-{layout}"
        (root / "data").mkdir(parents=True)
        env = Env(
            root=root, layout=layout, catalog_db=root / "data" / "catalog.db",
            bridge_db=root / "data" / "bridge.db", media_root=root / "media" / "library",
            incoming=root / "media" / "incoming", config=root / "bridge.toml",
        )
        env.media_root.mkdir(parents=True)
        env.incoming.mkdir(parents=True)
        create_catalog(env.catalog_db, layout, tracks)
        env.write_config()
        return env

    return build


def write_good(env: Env, uri: str, *, kind: str, secs: float, seed: int = 0) -> Path:
    return write_audio(env.media_root / uri, kind=kind, duration_secs=secs, seed=seed)  # type: ignore[arg-type]


def write_truncated(env: Env, uri: str, *, kind: str, secs: float, keep: float) -> Path:
    path = write_good(env, uri, kind=kind, secs=secs)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_garbage(env: Env, uri: str, size: int = 4096) -> Path:
    path = env.media_root / uri
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The CLI in-process, as `torrentino-bridge ARGV`."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run_cli(capsys, *argv, "--json")
    assert out.strip(), f"no output; stderr: {err}"
    return code, json.loads(out)


def run_subprocess(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "torrentino_bridge", *argv], capture_output=True,
                          text=True, timeout=120, **kwargs)

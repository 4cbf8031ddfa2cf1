"""A Pezzottify server's `db_dir` as the July-2026 server leaves it: the stand-in for the
server that the tests and `demo --pezzottify` use, as the QT simulator stands in for QT.

Every file is built from sql/pezzottify/*.sql (the server's own schemas, user_version
included) and switched to WAL as the server does; catalog rows fill every NOT NULL
column, so a fixture the real server would refuse cannot pass. Queue rows are inserted
exactly as the server's request routes insert them (shared/reference/pezzottify-2026-07.md,
section 2), and an admin's retry as its admin route does.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ..store.db import sql_dir


class AlbumSpec(Protocol):
    """An album to put in the catalog (tests.conftest.AlbumSpec is one)."""

    id: str
    artist: str
    name: str
    year: int | None
    tracks: list[tuple[int, int, str, int, str]]     # (disc, number, title, seconds, availability)

    def track_id(self, disc: int, number: int) -> str: ...

FILES = {"catalog": "catalog.db", "queue": "download_queue.db", "search": "search.db",
         "server": "server.db", "user": "user.db"}
_SCHEMAS = {"catalog": "catalog.sql", "queue": "download_queue.sql", "search": "search.sql",
            "server": "server.sql", "user": "user.sql"}


def create_db(path: Path, kind: str) -> Path:
    """An empty server file of `kind` (catalog, queue, search, server, user), in WAL."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript((sql_dir() / "pezzottify" / _SCHEMAS[kind]).read_text(encoding="utf-8"))
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    return path


def fill_catalog(conn: sqlite3.Connection, albums: list[AlbumSpec]) -> None:
    """Rows as the server stores them. Per album: the main artist (role 0 on odd tracks,
    NULL on even ones: older ingestions left NULL, which the server reads as main) and a
    featured artist (role 1) on track 1, linked to the album as appears-on."""
    for a in albums:
        main = _artist(conn, f"art-{a.id}", a.artist)
        featured = _artist(conn, f"feat-{a.id}", f"{a.artist} Guest")
        release = f"{a.year}-03-01" if a.year else "2001"
        album_rowid = conn.execute(
            "INSERT INTO albums (id, name, album_type, label, popularity, release_date,"
            " release_date_precision, track_count, total_duration_ms) VALUES (?, ?, 'album', ?, 40, ?, ?, ?, ?)",
            (a.id, a.name, f"{a.artist} Records", release, "day" if a.year else "year", len(a.tracks),
             sum(t[3] for t in a.tracks) * 1000),
        ).lastrowid
        conn.execute("INSERT OR IGNORE INTO artist_albums (artist_rowid, album_rowid, is_appears_on,"
                     " is_implicit_appears_on, index_in_album) VALUES (?, ?, 0, 0, 0)", (main, album_rowid))
        conn.execute("INSERT OR IGNORE INTO artist_albums (artist_rowid, album_rowid, is_appears_on,"
                     " is_implicit_appears_on, index_in_album) VALUES (?, ?, 1, 1, NULL)", (featured, album_rowid))
        for disc, number, title, secs, avail in a.tracks:
            ok = avail == "available"
            track_rowid = conn.execute(
                "INSERT INTO tracks (id, name, album_rowid, track_number, external_id_isrc, popularity,"
                " disc_number, duration_ms, explicit, language, audio_uri, track_available)"
                " VALUES (?, ?, ?, ?, ?, 30, ?, ?, 0, 'en', ?, ?)",
                (a.track_id(disc, number), title, album_rowid, number, f"XX{zlib.crc32(title.encode()):010d}",
                 disc, secs * 1000, shard_uri(a.track_id(disc, number)) if ok else None, int(ok)),
            ).lastrowid
            conn.execute("INSERT INTO track_artists (track_rowid, artist_rowid, role) VALUES (?, ?, ?)",
                         (track_rowid, main, 0 if number % 2 else None))
            if number == 1:
                conn.execute("INSERT INTO track_artists (track_rowid, artist_rowid, role) VALUES (?, ?, 1)",
                             (track_rowid, featured))
    recompute_rollups(conn)


def _artist(conn: sqlite3.Connection, artist_id: str, name: str) -> int:
    row = conn.execute("SELECT rowid FROM artists WHERE id = ?", (artist_id,)).fetchone()
    if row:
        return int(row[0])
    return int(conn.execute(
        "INSERT INTO artists (id, name, followers_total, popularity) VALUES (?, ?, 1000, 50)",
        (artist_id, name),
    ).lastrowid or 0)


def recompute_rollups(conn: sqlite3.Connection) -> None:
    """The server's reconcile rules (reference section 6), for fixtures built by hand."""
    conn.execute(
        "UPDATE albums SET album_availability = (SELECT CASE WHEN COUNT(*) = 0 OR"
        " COALESCE(SUM(t.track_available), 0) = 0 THEN 'missing' WHEN SUM(t.track_available) = COUNT(*)"
        " THEN 'complete' ELSE 'partial' END FROM tracks t WHERE t.album_rowid = albums.rowid)"
    )
    conn.execute(
        "UPDATE artists SET artist_available = EXISTS (SELECT 1 FROM track_artists ta JOIN tracks t"
        " ON t.rowid = ta.track_rowid WHERE ta.artist_rowid = artists.rowid AND t.track_available = 1)"
    )


def shard_uri(track_id: str, ext: str = "ogg") -> str:
    """Where the server puts a track's file (ingestion/file_handler.rs)."""
    first = track_id[0:2] if len(track_id) >= 2 else "00"
    second = track_id[2:4] if len(track_id) >= 4 else "00"
    return f"audio/{first}/{second}/{track_id}.{ext}"


def build_catalog(path: Path, albums: list[AlbumSpec]) -> Path:
    create_db(path, "catalog")
    conn = sqlite3.connect(path)
    try:
        with conn:
            fill_catalog(conn, albums)
    finally:
        conn.close()
    return path


@dataclass(frozen=True)
class DbDir:
    """A Pezzottify `db_dir` (and its `media_path`)."""

    root: Path
    media: Path

    def path(self, kind: str) -> Path:
        return self.root / FILES[kind]

    @property
    def catalog(self) -> Path:
        return self.path("catalog")

    def config(self, *, server: bool = True, user: bool = True, queue: bool = False) -> str:
        """The [pezzottify] section pointing at this directory."""
        lines = ["[pezzottify]", f'search_db = "{self.path("search")}"']
        if queue:
            lines.append(f'queue_db = "{self.path("queue")}"')
        if server:
            lines.append(f'server_db = "{self.path("server")}"')
        if user:
            lines.append(f'user_db = "{self.path("user")}"')
        return "\n" + "\n".join(lines) + "\n"


def build_db_dir(root: Path, albums: list[AlbumSpec], *, users: tuple[int, ...] = (1, 2)) -> DbDir:
    """Every file of a db_dir: the catalog with `albums`, the others empty but for `users`."""
    root.mkdir(parents=True, exist_ok=True)
    build_catalog(root / FILES["catalog"], albums)
    for kind in ("queue", "search", "server", "user"):
        create_db(root / FILES[kind], kind)
    conn = sqlite3.connect(root / FILES["user"])
    with conn:
        conn.executemany("INSERT INTO user (id, handle) VALUES (?, ?)", [(u, f"user{u}") for u in users])
    conn.close()
    media = root.parent / "media"
    media.mkdir(exist_ok=True)
    return DbDir(root, media)


# --- the server's request routes --------------------------------------------------------

def _queue_insert(queue_db: Path, *, user_id: int, content_type: str, content_id: str,
                  content_name: str, artist_name: str | None) -> str:
    """One row, its REQUEST_CREATED audit row and the user_request_stats upsert, as
    download_manager/manager.rs does (each its own autocommit statement there too)."""
    request_id = str(uuid.uuid4())
    now = int(time.time())
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    conn = sqlite3.connect(queue_db, timeout=5)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        with conn:
            conn.execute(
                "INSERT INTO download_queue (id, parent_id, status, priority, content_type, content_id,"
                " content_name, artist_name, request_source, requested_by_user_id, created_at, max_retries)"
                " VALUES (?, NULL, 'PENDING', 2, ?, ?, ?, ?, 'USER', ?, ?, 8)",
                (request_id, content_type, content_id, content_name, artist_name, str(user_id), now),
            )
        with conn:
            details = {"queue_position": 0, "priority": 2, "content_name": content_name,
                       "artist_name": artist_name}
            conn.execute(
                "INSERT INTO download_audit_log (timestamp, event_type, queue_item_id, content_type,"
                " content_id, user_id, request_source, details) VALUES (?, 'REQUEST_CREATED', ?, ?, ?, ?,"
                " 'USER', ?)",
                (now, request_id, content_type, content_id, str(user_id), json.dumps(details)),
            )
        with conn:
            conn.execute(
                "INSERT INTO user_request_stats (user_id, requests_today, requests_in_queue,"
                " last_request_date, last_updated_at) VALUES (?, 1, 0, ?, ?)"
                " ON CONFLICT(user_id) DO UPDATE SET requests_today = CASE WHEN last_request_date = ?"
                " THEN requests_today + 1 ELSE 1 END, last_request_date = ?, last_updated_at = ?",
                (str(user_id), today, now, today, today, now),
            )
    finally:
        conn.close()
    return request_id


def request_album(db: DbDir, album_id: str, user_id: int) -> str:
    """POST /v1/download/request/album: content_name is the catalog's album name, artist_name
    the first primary album artist by index_in_album ('' when there is none)."""
    with sqlite3.connect(db.catalog) as conn:
        (name,) = conn.execute("SELECT name FROM albums WHERE id = ?", (album_id,)).fetchone()
        row = conn.execute(
            "SELECT ar.name FROM artist_albums aa JOIN artists ar ON ar.rowid = aa.artist_rowid"
            " JOIN albums al ON al.rowid = aa.album_rowid WHERE al.id = ? AND aa.is_appears_on = 0"
            " ORDER BY aa.index_in_album LIMIT 1", (album_id,),
        ).fetchone()
    return _queue_insert(db.path("queue"), user_id=user_id, content_type="ALBUM", content_id=album_id,
                         content_name=name, artist_name=row[0] if row else "")


def request_track(db: DbDir, track_id: str, user_id: int) -> str:
    """POST /v1/download/request/track: content_name is the track's name, artist_name NULL."""
    with sqlite3.connect(db.catalog) as conn:
        (name,) = conn.execute("SELECT name FROM tracks WHERE id = ?", (track_id,)).fetchone()
    return _queue_insert(db.path("queue"), user_id=user_id, content_type="TRACK_AUDIO", content_id=track_id,
                         content_name=name, artist_name=None)


# --- the server's admin route -------------------------------------------------------------

def admin_retry(queue_db: Path, row_id: str) -> None:
    """POST /v1/download/admin/retry/{id}: a non-COMPLETED row back to PENDING, errors
    cleared, and ADMIN_RETRY written."""
    now = int(time.time())
    conn = sqlite3.connect(queue_db, timeout=5)
    try:
        with conn:
            conn.execute("UPDATE download_queue SET status = 'PENDING', error_type = NULL, error_message = NULL"
                         " WHERE id = ? AND status != 'COMPLETED'", (row_id,))
            conn.execute("INSERT INTO download_audit_log (timestamp, event_type, queue_item_id, details)"
                         " VALUES (?, 'ADMIN_RETRY', ?, '{}')", (now, row_id))
    finally:
        conn.close()

"""Pezzottify's download_queue.db for tests: the server's schema, and rows inserted exactly
as the server's request routes insert them (POST /v1/download/request/album and /track)."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from torrentino_bridge.store.db import sql_dir

MAX_RETRIES = 8   # the server's configured max_retries default


def build_queue(path: Path) -> Path:
    conn = sqlite3.connect(path)
    try:
        conn.executescript((sql_dir() / "pezzottify" / "download_queue.sql").read_text(encoding="utf-8"))
        conn.execute("PRAGMA journal_mode = WAL")          # as the server registers it
    finally:
        conn.close()
    return path


def _insert(path: Path, *, content_type: str, content_id: str, user_id: str, content_name: str,
            artist_name: str | None) -> str:
    row_id = str(uuid.uuid4())
    now = int(time.time())
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute(
                "INSERT INTO download_queue (id, parent_id, status, priority, content_type, content_id,"
                " content_name, artist_name, request_source, requested_by_user_id, created_at, max_retries)"
                " VALUES (?, NULL, 'PENDING', 2, ?, ?, ?, ?, 'USER', ?, ?, ?)",
                (row_id, content_type, content_id, content_name, artist_name, user_id, now, MAX_RETRIES),
            )
            conn.execute(
                "INSERT INTO download_audit_log (timestamp, event_type, queue_item_id, content_type, content_id,"
                " user_id, request_source, details) VALUES (?, 'REQUEST_CREATED', ?, ?, ?, ?, 'USER', ?)",
                (now, row_id, content_type, content_id, user_id,
                 json.dumps({"queue_position": 0, "priority": 2, "content_name": content_name,
                             "artist_name": artist_name})),
            )
            today = datetime.now(UTC).strftime("%Y-%m-%d")
            conn.execute(
                "INSERT INTO user_request_stats (user_id, requests_today, requests_in_queue, last_request_date,"
                " last_updated_at) VALUES (?, 1, 0, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
                " requests_today = requests_today + 1, last_request_date = excluded.last_request_date,"
                " last_updated_at = excluded.last_updated_at", (user_id, today, now),
            )
    finally:
        conn.close()
    return row_id


def request_album(path: Path, album_id: str, *, user_id: str = "7", name: str = "", artist: str = "") -> str:
    return _insert(path, content_type="ALBUM", content_id=album_id, user_id=user_id, content_name=name,
                   artist_name=artist)


def request_track(path: Path, track_id: str, *, user_id: str = "7", name: str = "") -> str:
    return _insert(path, content_type="TRACK_AUDIO", content_id=track_id, user_id=user_id, content_name=name,
                   artist_name=None)


def admin_retry(path: Path, row_id: str) -> None:
    """POST /v1/download/admin/retry/{id}: a non-COMPLETED row back to PENDING, errors cleared."""
    now = int(time.time())
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute("UPDATE download_queue SET status = 'PENDING', error_type = NULL, error_message = NULL"
                         " WHERE id = ? AND status != 'COMPLETED'", (row_id,))
            conn.execute("INSERT INTO download_audit_log (timestamp, event_type, queue_item_id, details)"
                         " VALUES (?, 'ADMIN_RETRY', ?, '{}')", (now, row_id))
    finally:
        conn.close()


def rows(path: Path) -> dict[str, dict[str, Any]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    conn.text_factory = lambda raw: raw.decode("utf-8", "replace")   # rows of hostile bytes too
    try:
        return {r["id"]: dict(r) for r in conn.execute("SELECT * FROM download_queue")}
    finally:
        conn.close()


def audit(path: Path, row_id: str) -> list[tuple[str, dict[str, Any] | None]]:
    conn = sqlite3.connect(path)
    try:
        found = conn.execute("SELECT event_type, details FROM download_audit_log WHERE queue_item_id = ?"
                             " ORDER BY id", (row_id,)).fetchall()
    finally:
        conn.close()
    return [(e, json.loads(d) if d else None) for e, d in found]

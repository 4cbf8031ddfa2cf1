"""Opening the Pezzottify server's files and checking they have what the bridge needs.

Every file is the server's: opened with store.db.connect_foreign (never created, journal
mode untouched, wal_autocheckpoint=0). At start each configured file's tables and columns
are checked; one missing stops the daemon with exit status 3 naming it, as the catalog
check does.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from ..config import PezzottifySettings
from ..errors import CatalogSchemaError
from ..store.catalog import missing_columns, table_columns
from ..store.db import connect_foreign

# What the bridge reads or writes in each file (reference: pezzottify-2026-07*.md).
REQUIRED: dict[str, dict[str, set[str]]] = {
    "queue_db": {
        "download_queue": {"id", "parent_id", "status", "priority", "content_type", "content_id",
                           "content_name", "artist_name", "request_source", "requested_by_user_id",
                           "created_at", "started_at", "completed_at", "last_attempt_at", "retry_count",
                           "error_type", "error_message", "bytes_downloaded", "processing_duration_ms"},
        "download_audit_log": {"id", "timestamp", "event_type", "queue_item_id", "content_type",
                               "content_id", "user_id", "request_source", "details"},
        "user_request_stats": {"user_id", "requests_in_queue", "last_updated_at"},
    },
    "search_db": {"item_availability": {"item_id", "item_type", "is_available"}},
    "server_db": {
        "catalog_events": {"seq", "event_type", "content_type", "content_id", "timestamp", "triggered_by"},
        "whatsnew_pending_albums": {"album_id", "added_at"},
    },
    "user_db": {
        "user": {"id"},
        "user_notifications": {"id", "user_id", "notification_type", "title", "body", "data", "read_at",
                               "created_at"},
        "user_events": {"seq", "user_id", "event_type", "payload", "server_timestamp"},
    },
}
KEYS = tuple(REQUIRED)


def configured(settings: PezzottifySettings) -> dict[str, Path]:
    return {key: path for key in KEYS if (path := getattr(settings, key)) is not None}


async def open_checked(key: str, path: Path, *, busy_timeout_ms: int = 5000) -> aiosqlite.Connection:
    """A connection to one configured file whose needed columns are all there."""
    try:
        conn = await connect_foreign(path, busy_timeout_ms=busy_timeout_ms)
    except sqlite3.DatabaseError as err:
        raise CatalogSchemaError(f"pezzottify.{key}: cannot open {path}: {err}") from None
    try:
        missing = missing_columns(await table_columns(conn), REQUIRED[key])
    except sqlite3.DatabaseError as err:
        await conn.close()
        raise CatalogSchemaError(f"pezzottify.{key}: {path}: {err}") from None
    except BaseException:
        await conn.close()
        raise
    if missing:
        await conn.close()
        raise CatalogSchemaError(
            f"pezzottify.{key}: {path} lacks {', '.join(missing)}; the bridge never alters the "
            "Pezzottify server's databases, so point it at the server's own file"
        )
    return conn


async def check_all(settings: PezzottifySettings, *, busy_timeout_ms: int = 5000) -> None:
    """Every configured file opened and checked (CatalogSchemaError on the first problem)."""
    for key, path in configured(settings).items():
        conn = await open_checked(key, path, busy_timeout_ms=busy_timeout_ms)
        await conn.close()


@dataclass(frozen=True, slots=True)
class FileReport:
    key: str
    path: Path
    ok: bool
    detail: str


async def describe(key: str, path: Path) -> FileReport:
    """For `check`: exists, schema, journal mode, user_version, writable. Changes nothing."""
    if not await asyncio.to_thread(path.is_file):
        return FileReport(key, path, False, f"{path} does not exist")
    try:
        conn = await open_checked(key, path)
    except CatalogSchemaError as err:
        return FileReport(key, path, False, str(err))
    try:
        mode = (await conn.execute_fetchall("PRAGMA journal_mode"))[0][0]
        version = (await conn.execute_fetchall("PRAGMA user_version"))[0][0]
    finally:
        await conn.close()
    # SQLite writes -wal/-shm beside the file: both must be writable.
    for target in (path, path.parent):
        if not os.access(target, os.W_OK):
            return FileReport(key, path, False, f"{target} is not writable by uid {os.geteuid()}")
    wal = "" if mode == "wal" else " (the server runs it in WAL; is this its file?)"
    return FileReport(key, path, True, f"{path}: schema ok, journal_mode {mode}{wal}, user_version {version}, writable")

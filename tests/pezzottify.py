"""Pezzottify's db_dir for tests: the stand-in server files (torrentino_bridge/sim/pezzottify.py)
and what tests read back from them: fingerprints of what must never change, queue rows and
their audit trail."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from torrentino_bridge.sim.pezzottify import (
    FILES,
    DbDir,
    admin_retry,
    build_catalog,
    build_db_dir,
    create_db,
    recompute_rollups,
    request_album,
    request_track,
    shard_uri,
)

__all__ = ["FILES", "DbDir", "admin_retry", "audit", "build_catalog", "build_db_dir", "create_db", "fingerprint",
           "fingerprints", "queue_rows", "recompute_rollups", "request_album", "request_track", "shard_uri"]


# --- what must never change --------------------------------------------------------------

def fingerprint(path: Path) -> dict[str, Any]:
    """A server file's schema (every sqlite_master row's SQL), journal mode and user_version:
    equal before and after a run, byte for byte."""
    conn = sqlite3.connect(path)
    try:
        return {
            "schema": conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall(),
            "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
            "user_version": conn.execute("PRAGMA user_version").fetchone()[0],
        }
    finally:
        conn.close()


def fingerprints(db: DbDir) -> dict[str, dict[str, Any]]:
    return {kind: fingerprint(db.path(kind)) for kind in FILES}


def queue_rows(queue_db: Path) -> dict[str, dict[str, Any]]:
    """Every queue row by id (rows holding bytes that are not UTF-8 too)."""
    conn = sqlite3.connect(queue_db, timeout=5)
    conn.row_factory = sqlite3.Row
    conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
    try:
        return {r["id"]: dict(r) for r in conn.execute("SELECT * FROM download_queue")}
    finally:
        conn.close()


def audit(queue_db: Path, row_id: str) -> list[tuple[str, dict[str, Any] | None]]:
    """A row's audit trail: (event_type, details), oldest first."""
    conn = sqlite3.connect(queue_db, timeout=5)
    try:
        found = conn.execute("SELECT event_type, details FROM download_audit_log WHERE queue_item_id = ?"
                             " ORDER BY id", (row_id,)).fetchall()
    finally:
        conn.close()
    return [(e, json.loads(d) if d else None) for e, d in found]

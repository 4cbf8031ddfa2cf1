"""The import journal (sql/bridge/0002_import_journal.sql): explicit SQL, one small
transaction per call, each function taking the connection."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from ..store.db import transaction, utcnow, with_busy_retry


@dataclass(frozen=True, slots=True)
class JobRow:
    key: str
    album_id: str
    source_dir: str
    state: str
    failed: dict[str, str]
    labels: dict[str, str]
    report: dict[str, Any] | None
    outcome: dict[str, Any] | None
    finished_at: str | None
    cleaned_at: str | None


@dataclass(frozen=True, slots=True)
class MoveRow:
    key: str
    track_id: str
    src: str
    dst: str
    tmp: str
    audio_uri: str
    src_dev: int
    src_ino: int
    src_size: int
    tmp_ino: int | None = None
    dst_ino: int | None = None
    state: str = "planned"
    error: str | None = None


def _job(row: aiosqlite.Row) -> JobRow:
    return JobRow(
        key=row["key"], album_id=row["album_id"], source_dir=row["source_dir"], state=row["state"],
        failed=json.loads(row["failed"]), labels=json.loads(row["labels"]),
        report=json.loads(row["report"]) if row["report"] else None,
        outcome=json.loads(row["outcome"]) if row["outcome"] else None,
        finished_at=row["finished_at"], cleaned_at=row["cleaned_at"],
    )


def _move(row: aiosqlite.Row) -> MoveRow:
    return MoveRow(**{k: row[k] for k in MoveRow.__slots__})  # type: ignore[attr-defined]


async def _write(conn: aiosqlite.Connection, what: str, sql: str, params: Sequence[Any]) -> None:
    async def run() -> None:
        async with transaction(conn):
            await conn.execute(sql, params)

    await with_busy_retry(run, attempts=8, what=what)


async def get_job(conn: aiosqlite.Connection, key: str) -> JobRow | None:
    async with conn.execute("SELECT * FROM import_jobs WHERE key = ?", (key,)) as cur:
        row = await cur.fetchone()
    return _job(row) if row else None


async def get_moves(conn: aiosqlite.Connection, key: str) -> list[MoveRow]:
    async with conn.execute(
        "SELECT * FROM import_moves WHERE key = ? ORDER BY rowid", (key,)
    ) as cur:
        return [_move(r) for r in await cur.fetchall()]


async def create_job(conn: aiosqlite.Connection, *, key: str, album_id: str, source_dir: str,
                     failed: dict[str, str], labels: dict[str, str], report: dict[str, Any],
                     moves: Sequence[MoveRow]) -> None:
    """The whole plan in one transaction, committed before any file moves."""
    now = utcnow()

    async def run() -> None:
        async with transaction(conn):
            await conn.execute(
                "INSERT INTO import_jobs (key, album_id, source_dir, state, failed, labels, report,"
                " created_at, updated_at) VALUES (?, ?, ?, 'moving', ?, ?, ?, ?, ?)",
                (key, album_id, source_dir, json.dumps(failed), json.dumps(labels),
                 json.dumps(report), now, now),
            )
            await conn.executemany(
                "INSERT INTO import_moves (key, track_id, src, dst, tmp, audio_uri, src_dev, src_ino,"
                " src_size, state, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'planned', ?)",
                [(key, m.track_id, m.src, m.dst, m.tmp, m.audio_uri, m.src_dev, m.src_ino,
                  m.src_size, now) for m in moves],
            )

    await with_busy_retry(run, attempts=8, what="import.journal.create")


async def set_move(conn: aiosqlite.Connection, key: str, track_id: str, state: str, *,
                   tmp_ino: int | None = None, dst_ino: int | None = None,
                   error: str | None = None) -> None:
    await _write(
        conn, "import.journal.move",
        "UPDATE import_moves SET state = ?, tmp_ino = COALESCE(?, tmp_ino),"
        " dst_ino = COALESCE(?, dst_ino), error = ?, updated_at = ? WHERE key = ? AND track_id = ?",
        (state, tmp_ino, dst_ino, error, utcnow(), key, track_id),
    )


async def finish_job(conn: aiosqlite.Connection, key: str, outcome: dict[str, Any]) -> None:
    now = utcnow()
    await _write(
        conn, "import.journal.finish",
        "UPDATE import_jobs SET state = 'done', outcome = ?, updated_at = ?, finished_at = ?"
        " WHERE key = ?",
        (json.dumps(outcome), now, now, key),
    )


async def mark_cleaned(conn: aiosqlite.Connection, key: str) -> None:
    now = utcnow()
    await _write(conn, "import.journal.cleaned",
                 "UPDATE import_jobs SET cleaned_at = ?, updated_at = ? WHERE key = ?",
                 (now, now, key))


async def forget_job(conn: aiosqlite.Connection, key: str, *, only_done: bool = True) -> bool:
    """Drop an import (its moves go with it) so the same key can import afresh."""
    async def run() -> int:
        async with transaction(conn):
            cur = await conn.execute(
                "DELETE FROM import_jobs WHERE key = ? AND (state = 'done' OR NOT ?)",
                (key, only_done),
            )
            return cur.rowcount

    return bool(await with_busy_retry(run, attempts=8, what="import.journal.forget"))

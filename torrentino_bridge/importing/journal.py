"""The import journal (sql/bridge/0002_import_journal.sql): explicit SQL, one small
transaction per call, each function taking the connection."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from ..store.db import chunked, marks, transaction, utcnow, with_busy_retry
from ..store.outbox import NewItem, enqueue

_INSERT_JOB = (
    "INSERT INTO import_jobs (key, album_id, source_dir, state, failed, labels, report,"
    " created_at, updated_at) VALUES (?, ?, ?, 'moving', ?, ?, ?, ?, ?)"
)
_INSERT_MOVE = (
    "INSERT INTO import_moves (key, track_id, src, dst, tmp, audio_uri, src_dev, src_ino,"
    " src_size, convert, state, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'planned', ?)"
)
_SET_MOVE = (
    "UPDATE import_moves SET state = ?, tmp_ino = COALESCE(?, tmp_ino),"
    " dst_ino = COALESCE(?, dst_ino), error = ?, updated_at = ? WHERE key = ? AND track_id = ?"
)
_FINISH_JOB = (
    "UPDATE import_jobs SET state = 'done', outcome = ?, updated_at = ?, finished_at = ? WHERE key = ?"
)
_MARK_CLEANED = "UPDATE import_jobs SET cleaned_at = ?, updated_at = ? WHERE key = ?"


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
    convert: str | None = None   # None: moved as it is; 'sndfile' / 'ffmpeg': converted to Ogg Vorbis


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
    await _write_many(conn, what, sql, [params])


async def _write_many(conn: aiosqlite.Connection, what: str, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """One statement over many rows, in one transaction."""
    if not rows:
        return

    async def run() -> None:
        async with transaction(conn):
            await conn.executemany(sql, rows)

    await with_busy_retry(run, attempts=8, what=what)


async def get_job(conn: aiosqlite.Connection, key: str) -> JobRow | None:
    rows = await conn.execute_fetchall("SELECT * FROM import_jobs WHERE key = ?", (key,))
    return next((_job(r) for r in rows), None)


async def get_jobs(conn: aiosqlite.Connection, keys: Sequence[str]) -> dict[str, JobRow]:
    found: dict[str, JobRow] = {}
    for part in chunked(keys):
        rows = await conn.execute_fetchall(f"SELECT * FROM import_jobs WHERE key IN ({marks(len(part))})", part)
        found.update((row["key"], _job(row)) for row in rows)
    return found


async def get_moves(conn: aiosqlite.Connection, key: str) -> list[MoveRow]:
    rows = await conn.execute_fetchall("SELECT * FROM import_moves WHERE key = ? ORDER BY rowid", (key,))
    return [_move(r) for r in rows]


@dataclass(frozen=True, slots=True)
class NewJob:
    key: str
    album_id: str
    source_dir: str
    failed: dict[str, str]
    labels: dict[str, str]
    report: dict[str, Any]
    moves: Sequence[MoveRow]


async def create_jobs(conn: aiosqlite.Connection, jobs: Sequence[NewJob]) -> None:
    """Plans of many imports in one transaction, committed before any of their files moves."""
    now = utcnow()

    async def run() -> None:
        async with transaction(conn):
            await conn.executemany(_INSERT_JOB, [
                (j.key, j.album_id, j.source_dir, json.dumps(j.failed), json.dumps(j.labels),
                 json.dumps(j.report), now, now) for j in jobs
            ])
            await conn.executemany(_INSERT_MOVE, [
                (j.key, m.track_id, m.src, m.dst, m.tmp, m.audio_uri, m.src_dev, m.src_ino, m.src_size,
                 m.convert, now)
                for j in jobs for m in j.moves
            ])

    if jobs:
        await with_busy_retry(run, attempts=8, what="import.journal.create")


async def set_move(conn: aiosqlite.Connection, key: str, track_id: str, state: str, *,
                   tmp_ino: int | None = None, dst_ino: int | None = None,
                   error: str | None = None) -> None:
    await _write(conn, "import.journal.move", _SET_MOVE,
                 (state, tmp_ino, dst_ino, error, utcnow(), key, track_id))


async def set_moves(conn: aiosqlite.Connection, moves: Sequence[MoveRow]) -> None:
    """Record the state each move reached (as carried by the rows), in one transaction."""
    now = utcnow()
    await _write_many(conn, "import.journal.move", _SET_MOVE, [
        (m.state, m.tmp_ino, m.dst_ino, m.error, now, m.key, m.track_id) for m in moves
    ])


async def finish_job(conn: aiosqlite.Connection, key: str, outcome: dict[str, Any],
                     followups: Sequence[NewItem] = ()) -> None:
    await finish_jobs(conn, {key: outcome}, followups)


async def finish_jobs(conn: aiosqlite.Connection, outcomes: dict[str, dict[str, Any]],
                      followups: Sequence[NewItem] = ()) -> None:
    """Mark imports done. `followups` (outbox items: what the import owes other systems,
    e.g. the Pezzottify server's search.db) commit in the same transaction, so a crash
    after the catalog write can lose neither the outcome nor what must follow it."""
    if not outcomes:
        return
    now = utcnow()
    rows = [(json.dumps(o), now, now, key) for key, o in outcomes.items()]

    async def run() -> None:
        async with transaction(conn):
            await conn.executemany(_FINISH_JOB, rows)
            await enqueue(conn, followups)

    await with_busy_retry(run, attempts=8, what="import.journal.finish")


async def mark_cleaned(conn: aiosqlite.Connection, key: str) -> None:
    await mark_cleaned_many(conn, [key])


async def mark_cleaned_many(conn: aiosqlite.Connection, keys: Sequence[str]) -> None:
    now = utcnow()
    await _write_many(conn, "import.journal.cleaned", _MARK_CLEANED, [(now, now, k) for k in keys])


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

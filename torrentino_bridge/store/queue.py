"""The Pezzottify server's download queue (its download_queue.db): reading users' requests
and writing their outcome the way the server's own ingestion does.

The file belongs to the server: no DDL, no journal-mode or user_version change, one short
transaction per row. Literals are the server's, exact and case-sensitive (statuses upper
case, error types lower case); times are Unix seconds. Rows are read by rowid with lenient
text, so one row holding bytes that are not UTF-8 can be failed by itself instead of
breaking every read of the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from ..domain.requests import bad_text
from .db import chunked, lenient_text, marks, transaction, with_busy_retry

PENDING, IN_PROGRESS, RETRY_WAITING, COMPLETED, FAILED = (
    "PENDING", "IN_PROGRESS", "RETRY_WAITING", "COMPLETED", "FAILED")
ACTIVE = (PENDING, IN_PROGRESS, RETRY_WAITING)
ALBUM, TRACK_AUDIO = "ALBUM", "TRACK_AUDIO"
SERVED_TYPES = (ALBUM, TRACK_AUDIO)
# download_audit_log.event_type values the bridge writes (the server's own literals).
DOWNLOAD_STARTED, DOWNLOAD_COMPLETED, DOWNLOAD_FAILED = "DOWNLOAD_STARTED", "DOWNLOAD_COMPLETED", "DOWNLOAD_FAILED"
ERROR_TYPES = frozenset({"connection", "timeout", "not_found", "parse", "storage", "corruption", "unknown"})


@dataclass(frozen=True, slots=True)
class QueueRow:
    rowid: int
    id: str
    content_type: str
    content_id: str
    user_id: str | None          # requested_by_user_id: a decimal string, NULL for system rows
    priority: int | None
    request_source: str | None
    retry_count: int
    problem: str | None = None   # why the row cannot be served (e.g. text that is not UTF-8)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _row(r: aiosqlite.Row) -> QueueRow:
    problem = None
    for column in ("id", "content_id", "requested_by_user_id"):
        value = r[column]
        if bad_text(value):
            problem = f"{column} is not valid UTF-8 text"
        elif value is not None and not isinstance(value, str):
            problem = f"{column} must be text, got {type(value).__name__}"
        elif column != "requested_by_user_id" and not (value or "").strip():
            problem = f"{column} is empty"
        if problem:
            break
    return QueueRow(
        rowid=r["rowid"], id=r["id"] if isinstance(r["id"], str) else repr(r["id"]),
        content_type=r["content_type"], content_id=r["content_id"] if isinstance(r["content_id"], str) else "",
        user_id=r["requested_by_user_id"] if isinstance(r["requested_by_user_id"], str) else None,
        priority=_int(r["priority"]),
        request_source=r["request_source"] if isinstance(r["request_source"], str) else None,
        retry_count=_int(r["retry_count"]) or 0, problem=problem,
    )


def _details(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


class DownloadQueue:
    """One connection to download_queue.db; every write is one short transaction."""

    def __init__(self, conn: aiosqlite.Connection, path: Path, *, write_retries: int = 8) -> None:
        """`conn`: a checked connection to the file (pezzottify.files.open_checked), owned by
        whoever opened it; rows are read with lenient text from here on."""
        self.conn = conn
        self.conn.text_factory = lenient_text
        self.path = path
        self.write_retries = write_retries

    async def data_version(self) -> int:
        rows = await self.conn.execute_fetchall("PRAGMA data_version")
        return int(next(iter(rows))[0])

    # -- reads ------------------------------------------------------------------------------
    async def pending(self, limit: int = 500) -> list[QueueRow]:
        """PENDING rows of the content types the bridge serves, highest priority first
        (1 is urgent), oldest first. Other content types are never read or touched."""
        rows = await self.conn.execute_fetchall(
            "SELECT rowid, * FROM download_queue WHERE status = ? AND content_type IN (?, ?)"
            " AND parent_id IS NULL ORDER BY priority, created_at, rowid LIMIT ?",
            (PENDING, *SERVED_TYPES, limit),
        )
        return [_row(r) for r in rows]

    async def statuses(self, ids: Sequence[str]) -> dict[str, str]:
        """id -> status for the rows that still exist."""
        found: dict[str, str] = {}
        for part in chunked(list(ids)):
            rows = await self.conn.execute_fetchall(
                f"SELECT id, status FROM download_queue WHERE id IN ({marks(len(part))})", part)
            found.update((r[0], r[1]) for r in rows)
        return found

    async def get(self, queue_id: str) -> dict[str, Any] | None:
        rows = list(await self.conn.execute_fetchall("SELECT * FROM download_queue WHERE id = ?", (queue_id,)))
        return dict(rows[0]) if rows else None

    # -- writes (each one short transaction) ---------------------------------------------------
    async def _write(self, what: str, statements: Sequence[tuple[str, Sequence[object]]],
                     audit: tuple[str, Sequence[object]] | None = None) -> bool:
        """Run the statements in one transaction; the audit row only when the first changed a row."""

        async def run() -> bool:
            async with transaction(self.conn):
                changed = 0
                for index, (sql, params) in enumerate(statements):
                    cur = await self.conn.execute(sql, params)
                    if index == 0:
                        changed = cur.rowcount
                if changed and audit is not None:
                    await self.conn.execute(*audit)
                return changed > 0

        return await with_busy_retry(run, attempts=self.write_retries, what=what)

    def _audit(self, event: str, row: QueueRow | dict[str, Any], now: int,
               details: dict[str, Any] | None) -> tuple[str, Sequence[object]]:
        get = row.get if isinstance(row, dict) else None
        if get is not None:
            values = (get("id"), get("content_type"), get("content_id"), get("requested_by_user_id"),
                      get("request_source"))
        else:
            assert isinstance(row, QueueRow)
            values = (row.id, row.content_type, row.content_id, row.user_id, row.request_source)
        return (
            "INSERT INTO download_audit_log (timestamp, event_type, queue_item_id, content_type, content_id,"
            " user_id, request_source, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (now, event, *values, _details(details) if details is not None else None),
        )

    async def claim(self, row: QueueRow, now: int) -> bool:
        """PENDING -> IN_PROGRESS with started_at and last_attempt_at, and DOWNLOAD_STARTED, as
        the server's ingestion does when a worker starts on a row. False: no longer PENDING."""
        return await self._write("queue.claim", [(
            "UPDATE download_queue SET status = ?, started_at = ?, last_attempt_at = ?"
            " WHERE rowid = ? AND status = ?", (IN_PROGRESS, now, now, row.rowid, PENDING),
        )], self._audit(DOWNLOAD_STARTED, row, now, None))

    async def complete(self, queue_id: str, now: int, *, bytes_downloaded: int, duration_ms: int) -> bool:
        """COMPLETED with completed_at, bytes and duration, errors cleared, and DOWNLOAD_COMPLETED.
        Like the server's, whatever the row's status was, but for one already COMPLETED (a
        repeated report writes no second audit row) or PENDING again (an admin's retry)."""
        row = await self.get(queue_id)
        if row is None:
            return False
        return await self._write("queue.complete", [(
            "UPDATE download_queue SET status = ?, completed_at = ?, bytes_downloaded = ?,"
            " processing_duration_ms = ?, error_type = NULL, error_message = NULL"
            " WHERE id = ? AND status NOT IN (?, ?)",       # PENDING again: an admin's retry
            (COMPLETED, now, bytes_downloaded, duration_ms, queue_id, COMPLETED, PENDING),
        )], self._audit(DOWNLOAD_COMPLETED, row, now, {"bytes_downloaded": bytes_downloaded,
                                                       "duration_ms": duration_ms}))

    async def fail(self, queue_id: str, now: int, *, error_type: str, message: str) -> bool:
        """FAILED with completed_at, error_type and error_message, and DOWNLOAD_FAILED; a row
        already COMPLETED or FAILED (the server never fails a completed one), or PENDING again
        (an admin's retry), is left alone."""
        if error_type not in ERROR_TYPES:
            raise ValueError(f"unknown error_type {error_type!r}")
        row = await self.get(queue_id)
        if row is None:
            return False
        return await self._write("queue.fail", [(
            "UPDATE download_queue SET status = ?, completed_at = ?, error_type = ?, error_message = ?"
            " WHERE id = ? AND status NOT IN (?, ?, ?)",
            (FAILED, now, error_type, message, queue_id, COMPLETED, FAILED, PENDING),
        )], self._audit(DOWNLOAD_FAILED, row, now, {"error_type": error_type, "error_message": message,
                                                    "retry_count": row.get("retry_count") or 0}))

    async def fail_unreadable(self, row: QueueRow, now: int, message: str) -> bool:
        """Fail a row the bridge cannot read (by rowid: its id may not even be text)."""
        return await self._write("queue.fail", [(
            "UPDATE download_queue SET status = ?, completed_at = ?, error_type = 'parse', error_message = ?"
            " WHERE rowid = ? AND status = ?", (FAILED, now, message, row.rowid, PENDING),
        )], None if row.problem and "id " in row.problem else
            self._audit(DOWNLOAD_FAILED, row, now, {"error_type": "parse", "error_message": message,
                                                    "retry_count": row.retry_count}))

    async def active_fulfilled(self, *, album_ids: Iterable[str], track_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Active ALBUM rows of these albums and TRACK_AUDIO rows of these tracks."""
        found: list[dict[str, Any]] = []
        for kind, ids in ((ALBUM, list(album_ids)), (TRACK_AUDIO, list(track_ids))):
            for part in chunked(ids):
                rows = await self.conn.execute_fetchall(
                    "SELECT * FROM download_queue WHERE content_type = ? AND status IN (?, ?, ?)"
                    f" AND content_id IN ({marks(len(part))})", (kind, *ACTIVE, *part))
                found.extend(dict(r) for r in rows)
        return found

"""The bridge's own tables: download requests, submissions and their tracks.

One connection, shared by the engine's tasks; an asyncio lock keeps its transactions
from interleaving. Each method is one short statement or one short transaction.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiosqlite

from ..domain.status import LIVE_SUBMISSION_STATES, RequestStatus, SubmissionState
from .db import chunked, marks, transaction, utcnow

_LIVE = tuple(s.value for s in LIVE_SUBMISSION_STATES)
_LIVE_MARKS = ",".join("?" * len(_LIVE))


@dataclass(frozen=True, slots=True)
class RequestRow:
    id: str
    user_id: str
    album_id: str | None
    track_ids: str | None
    priority: int
    status: str
    error: str | None
    created_at: str
    planned_at: str | None
    updated_at: str | None
    finished_at: str | None


@dataclass(frozen=True, slots=True)
class SubmissionRow:
    id: str
    album_id: str
    dest_path: str
    local_dir: str
    body: str
    priority: int
    ticket_id: str | None
    state: SubmissionState
    qt_state: str | None
    progress: float | None
    phase: str | None
    details: str | None
    error: str | None
    attempts: int
    created_at: str
    updated_at: str
    finished_at: str | None = None

    @property
    def details_json(self) -> dict[str, Any]:
        return json.loads(self.details) if self.details else {}


@dataclass(frozen=True, slots=True)
class SubmissionTrack:
    submission_id: str
    track_id: str
    active: bool
    outcome: str | None
    audio_uri: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class NewSubmission:
    id: str
    album_id: str
    dest_path: str
    local_dir: str
    body: str
    priority: int
    track_ids: tuple[str, ...]


def _request(row: aiosqlite.Row) -> RequestRow:
    return RequestRow(**{k: row[k] for k in RequestRow.__slots__})  # type: ignore[attr-defined]


def _submission(row: aiosqlite.Row) -> SubmissionRow:
    data = {k: row[k] for k in SubmissionRow.__slots__}  # type: ignore[attr-defined]
    data["state"] = SubmissionState(data["state"])
    return SubmissionRow(**data)


def _sub_track(row: aiosqlite.Row) -> SubmissionTrack:
    return SubmissionTrack(
        submission_id=row["submission_id"], track_id=row["track_id"], active=bool(row["active"]),
        outcome=row["outcome"], audio_uri=row["audio_uri"], error=row["error"],
    )


async def _insert_submission(conn: aiosqlite.Connection, sub: NewSubmission) -> None:
    await conn.execute(
        "INSERT INTO submissions (id, album_id, dest_path, local_dir, body, priority, state)"
        " VALUES (?, ?, ?, ?, ?, ?, 'intent')",
        (sub.id, sub.album_id, sub.dest_path, sub.local_dir, sub.body, sub.priority),
    )
    await conn.executemany(
        "INSERT INTO submission_tracks (submission_id, track_id) VALUES (?, ?)",
        [(sub.id, t) for t in sub.track_ids],
    )


class BridgeStore:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self.conn.close()

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock, transaction(self.conn):
            yield self.conn

    # execute_fetchall is one trip to aiosqlite's thread; execute + fetch + close are three.
    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        async with self._lock:
            return list(await self.conn.execute_fetchall(sql, params))

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    async def data_version(self) -> int:
        row = await self._one("PRAGMA data_version")
        return int(row[0]) if row else 0

    # -- requests ---------------------------------------------------------------------
    async def insert_request(self, request_id: str, user_id: str, *, album_id: str | None = None,
                             track_ids: Sequence[str] | None = None, priority: int = 0) -> None:
        async with self.tx() as conn:
            await conn.execute(
                "INSERT INTO download_requests (id, user_id, album_id, track_ids, priority)"
                " VALUES (?, ?, ?, ?, ?)",
                (request_id, user_id, album_id,
                 json.dumps(list(track_ids)) if track_ids is not None else None, priority),
            )

    async def unplanned_requests(self, limit: int = 100) -> list[RequestRow]:
        rows = await self._all(
            "SELECT * FROM download_requests WHERE status = 'pending' AND planned_at IS NULL"
            " ORDER BY priority DESC, created_at, id LIMIT ?",
            (limit,),
        )
        return [_request(r) for r in rows]

    async def get_request(self, request_id: str) -> RequestRow | None:
        row = await self._one("SELECT * FROM download_requests WHERE id = ?", (request_id,))
        return _request(row) if row else None

    async def list_requests(self, *, user_id: str | None = None, statuses: Iterable[str] | None = None,
                            limit: int = 200) -> list[RequestRow]:
        where, params = [], []
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        if statuses is not None:
            statuses = list(statuses)
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        sql = "SELECT * FROM download_requests"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self._all(sql + " ORDER BY created_at DESC, id LIMIT ?", (*params, limit))
        return [_request(r) for r in rows]

    async def open_requests(self) -> list[RequestRow]:
        rows = await self._all(
            "SELECT * FROM download_requests WHERE planned_at IS NOT NULL"
            " AND status IN ('pending', 'in_progress', 'needs_approval')"
        )
        return [_request(r) for r in rows]

    async def finish_request(self, request_id: str, status: RequestStatus, error: str | None) -> None:
        """Close a request that never got planned (invalid, rate limited, nothing to fetch)."""
        now = utcnow()
        async with self.tx() as conn:
            await conn.execute(
                "UPDATE download_requests SET status = ?, error = ?, planned_at = COALESCE(planned_at, ?),"
                " updated_at = ?, finished_at = ? WHERE id IS ?",   # IS: a NULL id is closed too
                (status.value, error, now, now, now, request_id),
            )

    async def note_request_waiting(self, request_ids: Iterable[str], error: str | None) -> None:
        """A pending request's `error` says why it waits (e.g. QT refuses the token)."""
        ids = list(request_ids)
        if not ids:
            return
        async with self.tx() as conn:
            await conn.execute(
                f"UPDATE download_requests SET error = ?, updated_at = ?"
                f" WHERE status = 'pending' AND id IN ({','.join('?' * len(ids))})"
                f" AND error IS NOT ?",
                (error, utcnow(), *ids, error),
            )

    async def set_request_status(self, request_id: str, status: RequestStatus, error: str | None) -> bool:
        """Write a derived status; returns whether anything changed."""
        now = utcnow()
        terminal = status in (RequestStatus.COMPLETED, RequestStatus.FAILED, RequestStatus.REJECTED,
                              RequestStatus.CANCELLED)
        async with self.tx() as conn:
            cur = await conn.execute(
                "UPDATE download_requests SET status = ?, error = ?, updated_at = ?,"
                " started_at = CASE WHEN ? IN ('in_progress', 'needs_approval') THEN COALESCE(started_at, ?)"
                "   ELSE started_at END,"
                " finished_at = CASE WHEN ? THEN COALESCE(finished_at, ?) ELSE NULL END"
                " WHERE id = ? AND (status IS NOT ? OR error IS NOT ? OR (? AND finished_at IS NULL)"
                "   OR (NOT ? AND finished_at IS NOT NULL))",
                (status.value, error, now, status.value, now, terminal, now, request_id,
                 status.value, error, terminal, terminal),
            )
            return cur.rowcount > 0

    # -- planning -------------------------------------------------------------------------
    async def _all_in(self, sql: str, ids: Sequence[str], *before: Any) -> list[aiosqlite.Row]:
        """Run `sql` (with one `{in}` placeholder) over `ids` in chunks; params `before` first."""
        rows: list[aiosqlite.Row] = []
        for chunk in chunked(list(ids)):
            rows.extend(await self._all(sql.format(marks=marks(len(chunk))), (*before, *chunk)))
        return rows

    async def live_tracks(self, track_ids: Sequence[str]) -> dict[str, str]:
        """track id -> the live submission it is being fetched under."""
        rows = await self._all_in(
            "SELECT st.track_id, st.submission_id FROM submission_tracks st"
            " JOIN submissions s ON s.id = st.submission_id"
            f" WHERE st.active = 1 AND s.state IN ({_LIVE_MARKS}) AND st.track_id IN ({{marks}})",
            track_ids, *_LIVE,
        )
        return {r[0]: r[1] for r in rows}

    async def record_plan(
        self,
        request_id: str,
        *,
        album_of: dict[str, str],
        attach: dict[str, str],
        satisfied: Sequence[str],
        new: Sequence[NewSubmission],
    ) -> None:
        """Store the whole plan of one request in one transaction, before any POST."""
        now = utcnow()
        async with self.tx() as conn:
            for sub in new:
                await _insert_submission(conn, sub)
                await conn.executemany(
                    "INSERT INTO request_tracks (request_id, track_id, album_id, submission_id)"
                    " VALUES (?, ?, ?, ?)",
                    [(request_id, t, sub.album_id, sub.id) for t in sub.track_ids],
                )
            await conn.executemany(
                "INSERT INTO request_tracks (request_id, track_id, album_id, submission_id) VALUES (?, ?, ?, ?)",
                [(request_id, t, album_of[t], s) for t, s in attach.items()],
            )
            await conn.executemany(
                "INSERT INTO request_tracks (request_id, track_id, album_id, submission_id) VALUES (?, ?, ?, NULL)",
                [(request_id, t, album_of[t]) for t in satisfied],
            )
            await conn.execute(
                "UPDATE download_requests SET planned_at = ?, updated_at = ?, error = NULL WHERE id = ?",
                (now, now, request_id),
            )

    # -- submissions ------------------------------------------------------------------------
    async def get_submission(self, submission_id: str) -> SubmissionRow | None:
        row = await self._one("SELECT * FROM submissions WHERE id = ?", (submission_id,))
        return _submission(row) if row else None

    async def submission_by_ticket(self, ticket_id: str) -> SubmissionRow | None:
        row = await self._one("SELECT * FROM submissions WHERE ticket_id = ?", (ticket_id,))
        return _submission(row) if row else None

    async def submissions(self, states: Iterable[SubmissionState] | None = None,
                          limit: int | None = None) -> list[SubmissionRow]:
        sql, params = "SELECT * FROM submissions", []
        if states is not None:
            values = [s.value for s in states]
            sql += f" WHERE state IN ({','.join('?' * len(values))})"
            params.extend(values)
        sql += " ORDER BY created_at DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_submission(r) for r in await self._all(sql, params)]

    async def submission_tracks(self, submission_id: str) -> list[SubmissionTrack]:
        rows = await self._all(
            "SELECT * FROM submission_tracks WHERE submission_id = ? ORDER BY track_id", (submission_id,)
        )
        return [_sub_track(r) for r in rows]

    async def active_tracks_of(self, submission_ids: Sequence[str]) -> dict[str, list[SubmissionTrack]]:
        """The live tracks of many submissions, in one query per chunk."""
        found: dict[str, list[SubmissionTrack]] = {i: [] for i in submission_ids}
        for part in chunked(list(submission_ids)):
            rows = await self._all(
                f"SELECT * FROM submission_tracks WHERE active = 1 AND submission_id IN ({marks(len(part))})"
                " ORDER BY submission_id, track_id", part,
            )
            for row in rows:
                found[row["submission_id"]].append(_sub_track(row))
        return found

    async def update_progress(self, progress: dict[str, tuple[float | None, str | None]]) -> None:
        """Download progress of many submissions (id -> (percent, phase)), one transaction."""
        if not progress:
            return
        now = utcnow()
        async with self.tx() as conn:
            await conn.executemany(
                "UPDATE submissions SET progress = ?, phase = COALESCE(?, phase), updated_at = ?"
                " WHERE id = ? AND state = 'active'",  # a late tick never rewrites a finished one
                [(pct, phase, now, sid) for sid, (pct, phase) in progress.items()],
            )

    async def mark_importing(self, submission_ids: Sequence[str]) -> None:
        """QT completed these tickets and their import starts: one transaction for all."""
        now = utcnow()
        async with self.tx() as conn:
            await conn.executemany(
                "UPDATE submissions SET state = 'importing', qt_state = 'completed', phase = 'importing',"
                " progress = 100, updated_at = ? WHERE id = ?",
                [(now, i) for i in submission_ids],
            )

    async def mark_submitted(self, submission_id: str, ticket_id: str, qt_state: str) -> None:
        now = utcnow()
        async with self.tx() as conn:
            await conn.execute(
                "UPDATE submissions SET ticket_id = ?, state = CASE WHEN state = 'intent' THEN 'active'"
                " ELSE state END, qt_state = COALESCE(qt_state, ?), error = NULL,"
                " updated_at = ? WHERE id = ?",
                (ticket_id, qt_state, now, submission_id),
            )

    async def begin_attempt(self, submission_id: str) -> None:
        """Committed before every POST: attempts > 0 means QT may already hold the ticket."""
        async with self.tx() as conn:
            await conn.execute(
                "UPDATE submissions SET attempts = attempts + 1, updated_at = ? WHERE id = ?",
                (utcnow(), submission_id),
            )

    async def note_submit_error(self, submission_id: str, error: str | None) -> None:
        async with self.tx() as conn:
            await conn.execute(
                "UPDATE submissions SET error = ?, updated_at = ? WHERE id = ?",
                (error, utcnow(), submission_id),
            )

    async def update_submission(self, submission_id: str, **fields: Any) -> None:
        allowed = {"state", "qt_state", "progress", "phase", "details", "error"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if not fields:
            return
        values = {k: (v.value if isinstance(v, SubmissionState) else v) for k, v in fields.items()}
        if isinstance(values.get("details"), dict):
            values["details"] = json.dumps(values["details"])
        sets = ", ".join(f"{k} = ?" for k in values)
        async with self.tx() as conn:
            await conn.execute(
                f"UPDATE submissions SET {sets}, updated_at = ? WHERE id = ?",
                (*values.values(), utcnow(), submission_id),
            )

    async def close_submission(
        self,
        submission_id: str,
        state: SubmissionState,
        *,
        outcomes: dict[str, tuple[str, str | None, str | None]],
        qt_state: str | None = None,
        error: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """End a submission: its tracks stop being live, each with (outcome, audio_uri, error)."""
        now = utcnow()
        async with self.tx() as conn:
            await conn.execute(
                "UPDATE submissions SET state = ?, qt_state = COALESCE(?, qt_state), error = ?,"
                " details = COALESCE(?, details), progress = CASE WHEN ? = 'completed' THEN 100"
                " ELSE progress END, updated_at = ?, finished_at = ? WHERE id = ?",
                (state.value, qt_state, error, json.dumps(details) if details is not None else None,
                 state.value, now, now, submission_id),
            )
            await conn.executemany(
                "UPDATE submission_tracks SET active = 0, outcome = ?, audio_uri = ?, error = ?,"
                " updated_at = ? WHERE submission_id = ? AND track_id = ?",
                [(o, uri, err, now, submission_id, t) for t, (o, uri, err) in outcomes.items()],
            )

    async def reopen_submission(self, submission_id: str, qt_state: str, track_ids: Sequence[str]) -> list[str]:
        """After a QT retry: the submission is live again for tracks not live elsewhere."""
        now = utcnow()
        reopened: list[str] = []
        async with self.tx() as conn:
            await conn.execute(
                "UPDATE submissions SET state = 'active', qt_state = ?, error = NULL, progress = NULL,"
                " phase = NULL, finished_at = NULL, updated_at = ? WHERE id = ?",
                (qt_state, now, submission_id),
            )
            for track_id in track_ids:
                async with conn.execute(
                    "SELECT 1 FROM submission_tracks WHERE track_id = ? AND active = 1", (track_id,)
                ) as cur:
                    if await cur.fetchone():
                        continue
                await conn.execute(
                    "UPDATE submission_tracks SET active = 1, outcome = NULL, error = NULL,"
                    " audio_uri = NULL, updated_at = ? WHERE submission_id = ? AND track_id = ?",
                    (now, submission_id, track_id),
                )
                reopened.append(track_id)
        return reopened

    async def relink_request_tracks(self, old_submission: str, new_submission: str,
                                    track_ids: Sequence[str]) -> None:
        async with self.tx() as conn:
            await conn.executemany(
                "UPDATE request_tracks SET submission_id = ? WHERE submission_id = ? AND track_id = ?",
                [(new_submission, old_submission, t) for t in track_ids],
            )

    async def add_submission(self, sub: NewSubmission) -> None:
        async with self.tx() as conn:
            await _insert_submission(conn, sub)

    # -- request <-> submission links -----------------------------------------------------------
    async def requests_of_submission(self, submission_id: str) -> list[str]:
        rows = await self._all(
            "SELECT DISTINCT request_id FROM request_tracks WHERE submission_id = ?", (submission_id,)
        )
        return [r[0] for r in rows]

    async def submissions_of_request(self, request_id: str) -> list[str]:
        rows = await self._all(
            "SELECT DISTINCT submission_id FROM request_tracks WHERE request_id = ?"
            " AND submission_id IS NOT NULL", (request_id,)
        )
        return [r[0] for r in rows]

    async def request_tracks(self, request_id: str) -> list[aiosqlite.Row]:
        """Each requested track with its submission's state and this track's outcome there."""
        return await self._all(
            "SELECT rt.track_id, rt.album_id, rt.submission_id, s.state AS submission_state,"
            " s.error AS submission_error, s.progress, s.ticket_id, s.qt_state, st.outcome,"
            " st.audio_uri, st.error AS track_error, st.active"
            " FROM request_tracks rt LEFT JOIN submissions s ON s.id = rt.submission_id"
            " LEFT JOIN submission_tracks st ON st.submission_id = rt.submission_id"
            "  AND st.track_id = rt.track_id"
            " WHERE rt.request_id = ? ORDER BY rt.album_id, rt.track_id",
            (request_id,),
        )

    async def latest_track_outcomes(self, track_ids: Sequence[str]) -> dict[str, SubmissionTrack]:
        """Each track's most recent submission_tracks row (for repair after a crash)."""
        rows = await self._all_in(
            "SELECT * FROM submission_tracks WHERE track_id IN ({marks}) ORDER BY updated_at", track_ids
        )
        rows.sort(key=lambda r: r["updated_at"])   # chunks are ordered each on their own
        return {row["track_id"]: _sub_track(row) for row in rows}

    async def live_submission_tracks(self) -> list[tuple[str, str]]:
        """(submission id, track id) of every track fetched under a live submission."""
        rows = await self._all(
            "SELECT st.submission_id, st.track_id FROM submission_tracks st"
            f" JOIN submissions s ON s.id = st.submission_id WHERE st.active = 1 AND s.state IN ({_LIVE_MARKS})",
            _LIVE,
        )
        return [(r[0], r[1]) for r in rows]

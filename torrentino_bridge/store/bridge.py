"""The bridge's own tables: download requests, submissions and their tracks.

One connection, shared by the engine's tasks; an asyncio lock keeps its transactions
from interleaving. Each method is one short statement or one short transaction.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiosqlite

from ..domain.status import LIVE_SUBMISSION_STATES, RequestStatus, SubmissionState
from .db import chunked, marks, transaction, utcnow
from .outbox import NewItem, enqueue

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
    source: str = "bridge"
    cancelled_by: str | None = None     # set when cancelled on purpose (0007): the status is final


@dataclass(frozen=True, slots=True)
class PendingRow:
    """An unplanned request row as other writers left it: any SQLite type in any column."""

    rowid: int
    id: object
    user_id: object
    album_id: object
    track_ids: object
    priority: object
    mirrored: bool      # made by the bridge from another source (e.g. Pezzottify's queue)


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
    joined: bool = False      # waits on this submission's download without being in its ticket


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
        outcome=row["outcome"], audio_uri=row["audio_uri"], error=row["error"], joined=bool(row["joined"]),
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


async def insert_request(conn: aiosqlite.Connection, request_id: str, user_id: str, *,
                         album_id: str | None = None, track_ids: Sequence[str] | None = None,
                         priority: int = 0, source: str = "bridge") -> None:
    """A new download request, inside the caller's transaction."""
    await conn.execute(
        "INSERT INTO download_requests (id, user_id, album_id, track_ids, priority, source)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (request_id, user_id, album_id, json.dumps(list(track_ids)) if track_ids is not None else None,
         priority, source),
    )


class BridgeStore:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self._lock = asyncio.Lock()
        # Set when outbox items commit with a change (the outbox worker's wake event).
        self.outbox_wake: asyncio.Event | None = None

    def _outbox_added(self, items: Sequence[NewItem]) -> None:
        if items and self.outbox_wake is not None:
            self.outbox_wake.set()

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
            await insert_request(conn, request_id, user_id, album_id=album_id, track_ids=track_ids,
                                 priority=priority)

    async def unplanned_requests(self, limit: int = 100, *, skip: Iterable[int] = ()) -> list[PendingRow]:
        """Rows no pass has planned yet, highest priority first (rowids in `skip` left out)."""
        skipped = list(skip)
        rows = await self._all(
            "SELECT rowid, id, user_id, album_id, track_ids, priority,"
            " EXISTS (SELECT 1 FROM source_links l WHERE l.request_id = r.id) AS mirrored"
            " FROM download_requests r WHERE status = 'pending' AND planned_at IS NULL"
            f" AND rowid NOT IN ({marks(len(skipped))})"
            " ORDER BY priority DESC, created_at, rowid LIMIT ?",
            (*skipped, limit),
        )
        return [PendingRow(r["rowid"], r["id"], r["user_id"], r["album_id"], r["track_ids"], r["priority"],
                           bool(r["mirrored"])) for r in rows]

    async def fail_unplanned(self, rowid: int, error: str) -> None:
        """Fail a row the intake could not take (invalid, unreadable, rate limited), by rowid:
        its id may be NULL, a blob or text that is not UTF-8, and two rows may share it."""
        now = utcnow()
        async with self.tx() as conn:
            await conn.execute(
                "UPDATE download_requests SET status = 'failed', error = ?, planned_at = COALESCE(planned_at, ?),"
                " updated_at = ?, finished_at = ? WHERE rowid = ?",
                (error, now, now, now, rowid),
            )

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

    async def set_request_status(self, request_id: str, status: RequestStatus, error: str | None,
                                 *, outbox: Sequence[NewItem] = ()) -> bool:
        """Write a derived status; returns whether anything changed. `outbox` items (e.g. a
        notification) are recorded in the same transaction when it did."""
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
            changed = cur.rowcount > 0
            if changed:
                await enqueue(conn, outbox)
        if changed:
            self._outbox_added(outbox)
        return changed

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

    async def live_album_submissions(self, album_ids: Sequence[str]) -> dict[str, str]:
        """album id -> its newest submission still before its import (intent, active or
        waiting for approval): the download a request for more of the album can wait on."""
        rows = await self._all_in(
            "SELECT album_id, id FROM submissions WHERE state IN ('intent', 'active', 'needs_approval')"
            " AND album_id IN ({marks}) ORDER BY created_at", album_ids,
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
        join: dict[str, str] | None = None,
    ) -> None:
        """Store the whole plan of one request in one transaction, before any POST. `join`:
        track id -> a live submission of its album that the track waits on (not in its ticket)."""
        now = utcnow()
        async with self.tx() as conn:
            joined = join or {}
            for track_id, sub_id in joined.items():
                # Only a download still before its import takes a track joining it: one that
                # ended (or started importing) since the plan was read would strand the row
                # active in a closed submission (the unique index of live rows would then
                # refuse every later request for the track). IntegrityError: plan again.
                cur = await conn.execute(
                    "INSERT INTO submission_tracks (submission_id, track_id, joined) SELECT ?, ?, 1"
                    " WHERE EXISTS (SELECT 1 FROM submissions WHERE id = ?"
                    " AND state IN ('intent', 'active', 'needs_approval'))",
                    (sub_id, track_id, sub_id),
                )
                if cur.rowcount != 1:
                    raise sqlite3.IntegrityError(f"submission {sub_id} left its pre-import states")
            await conn.executemany(
                "INSERT INTO request_tracks (request_id, track_id, album_id, submission_id) VALUES (?, ?, ?, ?)",
                [(request_id, t, album_of[t], s) for t, s in joined.items()],
            )
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

    async def ended_to_follow(self, since: str) -> list[str]:
        """Ticket ids of submissions that ended since `since` and that QT may bring back: failed,
        rejected or cancelled, or completed with tracks left without a file; not ones QT
        deleted, nor ones the bridge gave up (replaced by a force-search, or cancelled)."""
        rows = await self._all(
            "SELECT s.ticket_id FROM submissions s WHERE s.ticket_id IS NOT NULL AND s.finished_at >= ?"
            " AND COALESCE(s.qt_state, '') != 'deleted'"
            " AND NOT EXISTS (SELECT 1 FROM submission_searches r WHERE r.replaces = s.id)"
            " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = 'qt.cancel:' || s.id)"
            " AND (s.state IN ('failed', 'rejected', 'cancelled') OR (s.state = 'completed' AND EXISTS ("
            "   SELECT 1 FROM submission_tracks t WHERE t.submission_id = s.id AND t.outcome = 'error')))"
            " ORDER BY s.finished_at DESC",
            (since,),
        )
        return [r[0] for r in rows]

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

    async def update_submission(self, submission_id: str, *, outbox: Sequence[NewItem] = (), **fields: Any) -> None:
        """Set some columns; `outbox` items are recorded in the same transaction."""
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
            await enqueue(conn, outbox)
        self._outbox_added(outbox)

    async def close_submission(
        self,
        submission_id: str,
        state: SubmissionState,
        *,
        outcomes: dict[str, tuple[str, str | None, str | None]],
        qt_state: str | None = None,
        error: str | None = None,
        details: dict[str, Any] | None = None,
        follow_up: NewSubmission | None = None,
        outbox: Sequence[NewItem] = (),
    ) -> list[str]:
        """End a submission: its tracks stop being live, each with (outcome, audio_uri, error).
        Returns the tracks that joined it after the caller read them (released here, for the
        caller to ask for on their own).
        `follow_up`: a new submission for some of its tracks, stored in the same transaction
        (the tracks go live there as they stop being live here); their requests follow it.
        `outbox` items (a notification) are recorded in the same transaction."""
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
            # Whatever joined after the caller read the tracks stops being live here too.
            late = [r[0] for r in await conn.execute_fetchall(
                "SELECT track_id FROM submission_tracks WHERE submission_id = ? AND active = 1", (submission_id,))]
            await conn.execute(
                "UPDATE submission_tracks SET active = 0, outcome = COALESCE(outcome, 'released'),"
                " updated_at = ? WHERE submission_id = ? AND active = 1", (now, submission_id),
            )
            if follow_up is not None:
                await _insert_submission(conn, follow_up)
                await conn.executemany(
                    "UPDATE request_tracks SET submission_id = ? WHERE submission_id = ? AND track_id = ?",
                    [(follow_up.id, submission_id, t) for t in follow_up.track_ids],
                )
            await enqueue(conn, outbox)
        self._outbox_added(outbox)
        return late

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

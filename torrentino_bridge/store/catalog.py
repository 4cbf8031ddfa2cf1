"""The catalog adapter. The catalog database belongs to the catalog server: the bridge
reads metadata and writes track availability in short transactions, never DDL.

Two layouts are supported:
- "plan": sql/catalog.sql, a text `availability` column holding all four states;
- "pezzottify": the layout deployed installs use (rowid keys, `track_available` 0/1,
  album_availability, artist_available). It cannot hold `fetching` or `fetch_error`;
  the bridge keeps those in its own database and writes only available/unavailable here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import ClassVar

import aiosqlite
import structlog

from ..domain.models import AlbumMeta, Availability, TrackChange, TrackMeta
from ..errors import CatalogSchemaError
from .db import chunked, connect, connect_foreign, marks, transaction
from .lockwait import LockWait

log = structlog.get_logger(__name__)

def _year(value: object) -> int | None:
    if value is None:
        return None
    text = str(value)
    return int(text[:4]) if text[:4].isdigit() else None


class Catalog:
    """Base: connection handling, schema check and the public read/write API."""

    layout: ClassVar[str]
    required: ClassVar[dict[str, set[str]]]
    # Whether the catalog itself stores fetching / fetch_error.
    stores_transient_states: ClassVar[bool]

    def __init__(self, conn: aiosqlite.Connection, *, write_retries: int = 8, db: str = "",
                 reader: aiosqlite.Connection | None = None) -> None:
        self.conn = conn
        # Reads go through a connection of their own: a write waiting out a lock (the server's
        # availability job holds one for minutes) sits in SQLite's busy wait on the writer's
        # thread, and reads queued behind it there would stall as long (a WAL reader never waits).
        self.reader = reader or conn
        self.write_retries = write_retries
        # One connection, so one transaction at a time across tasks.
        self._write_lock = asyncio.Lock()
        self.lock_wait = LockWait("catalog", db)
        # Patient (the daemon's workers): a write waits out any lock, however long. Not
        # patient (start-up repair, one-shot commands): write_retries tries, then the error.
        self.patient = False

    async def close(self) -> None:
        if self.reader is not self.conn:
            await self.reader.close()
        await self.conn.close()

    # -- reads ------------------------------------------------------------------------
    _ALBUM_SQL: ClassVar[str]        # SELECT ... FROM albums al (no WHERE)
    _TRACK_ALBUM_ID: ClassVar[str]   # the album id column in _TRACK_SQL

    async def get_album(self, album_id: str) -> AlbumMeta | None:
        return (await self.get_albums([album_id])).get(album_id)

    async def get_albums(self, album_ids: Sequence[str]) -> dict[str, AlbumMeta]:
        """Many albums in one query per chunk (an import batch reads a hundred at once)."""
        found: dict[str, AlbumMeta] = {}
        for part in chunked(list(dict.fromkeys(album_ids))):
            rows = await self._rows(self._ALBUM_SQL + f" WHERE al.id IN ({marks(len(part))})", part)
            found.update((row["id"], self._album(row)) for row in rows)
        return found

    async def get_album_tracks(self, album_id: str) -> list[TrackMeta]:
        return (await self.get_albums_tracks([album_id]))[album_id]

    async def get_albums_tracks(self, album_ids: Sequence[str]) -> dict[str, list[TrackMeta]]:
        """Every track of many albums, in disc and track order, one query per chunk."""
        found: dict[str, list[TrackMeta]] = {a: [] for a in album_ids}
        key = self._TRACK_ALBUM_ID
        for part in chunked(list(found)):
            sql = (self._TRACK_SQL + f" WHERE {key} IN ({marks(len(part))})"
                   f" ORDER BY {key}, t.disc_number, t.track_number")
            for track in await self._fetch_tracks(sql, part):
                found[track.album_id].append(track)
        return found

    def _album(self, row: aiosqlite.Row) -> AlbumMeta:
        raise NotImplementedError

    async def get_tracks(self, track_ids: Sequence[str]) -> dict[str, TrackMeta]:
        raise NotImplementedError

    async def tracks_in_state(self, state: Availability) -> list[str]:
        """Track ids the catalog itself records in `state` (transient states: plan only)."""
        return []

    _TRACK_SQL: ClassVar[str]
    # The catalog's own "available" flag, whatever audio_uri says (maintenance reads it).
    _AVAILABLE_WHERE: ClassVar[str]

    async def iter_available_tracks(self, *, page_size: int = 500) -> AsyncIterator[TrackMeta]:
        """Every track the catalog flags available, in id order, one short read per page.

        Keyset pages instead of one long cursor: a scan that decodes audio between rows
        must not hold a read transaction open on the catalog server's database for hours.
        """
        after = ""
        while True:
            page = await self._fetch_tracks(
                self._TRACK_SQL + f" WHERE {self._AVAILABLE_WHERE} AND t.id > ?"
                " ORDER BY t.id LIMIT ?",
                (after, page_size),
            )
            for track in page:
                yield track
            if len(page) < page_size:
                return
            after = page[-1].id

    async def ping(self) -> None:
        async with self.reader.execute("SELECT 1 FROM tracks LIMIT 1") as cur:
            await cur.fetchone()

    # -- writes -----------------------------------------------------------------------
    async def apply(self, changes: Sequence[TrackChange]) -> None:
        """Write all changes in ONE transaction, retrying while the catalog is locked (see
        `patient`). A transaction is a few executemany calls, so it stays far under the
        server's 5 s busy wait however many tracks a batch writes."""
        changes = self._relevant(changes)
        if not changes:
            return

        async def run() -> None:
            async with transaction(self.conn):
                await self._write(changes)

        async with self._write_lock:
            await self.lock_wait.run(run, attempts=None if self.patient else self.write_retries)

    def _relevant(self, changes: Sequence[TrackChange]) -> Sequence[TrackChange]:
        """The changes this layout stores (no transaction, so no lock, for the others)."""
        return changes

    async def _write(self, changes: Sequence[TrackChange]) -> None:
        raise NotImplementedError

    async def _each(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            await self.conn.executemany(sql, rows)

    async def _fetch_tracks(self, sql: str, params: Sequence[object]) -> list[TrackMeta]:
        return [self._track(row) for row in await self._rows(sql, params)]

    async def _rows(self, sql: str, params: Sequence[object]) -> list[aiosqlite.Row]:
        """One trip to aiosqlite's thread (execute + fetch + close would be three)."""
        return list(await self.reader.execute_fetchall(sql, params))

    def _track(self, row: aiosqlite.Row) -> TrackMeta:
        raise NotImplementedError


class PlanCatalog(Catalog):
    layout = "plan"
    stores_transient_states = True
    required: ClassVar[dict[str, set[str]]] = {
        "artists": {"id", "name"},
        "albums": {"id", "name", "artist_id", "year"},
        "tracks": {"id", "album_id", "name", "disc_number", "track_number", "duration_ms",
                   "audio_uri", "availability"},
    }

    _TRACK_SQL = (
        "SELECT t.id, t.album_id, t.name, t.disc_number, t.track_number, t.duration_ms,"
        " t.audio_uri, t.availability, ar.name AS artist FROM tracks t"
        " JOIN albums al ON al.id = t.album_id LEFT JOIN artists ar ON ar.id = al.artist_id"
    )
    _AVAILABLE_WHERE = "t.availability = 'available'"

    def _track(self, row: aiosqlite.Row) -> TrackMeta:
        return TrackMeta(
            id=row["id"], album_id=row["album_id"], name=row["name"],
            disc_number=int(row["disc_number"] or 1), track_number=int(row["track_number"] or 0),
            duration_ms=row["duration_ms"], audio_uri=row["audio_uri"],
            availability=Availability(row["availability"]), artist=row["artist"],
        )

    _ALBUM_SQL = (
        "SELECT al.id, al.name, al.year, ar.name AS artist FROM albums al"
        " LEFT JOIN artists ar ON ar.id = al.artist_id"
    )
    _TRACK_ALBUM_ID = "t.album_id"

    def _album(self, row: aiosqlite.Row) -> AlbumMeta:
        return AlbumMeta(id=row["id"], name=row["name"], artist=row["artist"], year=_year(row["year"]))

    async def get_tracks(self, track_ids: Sequence[str]) -> dict[str, TrackMeta]:
        found: dict[str, TrackMeta] = {}
        for chunk in chunked(list(dict.fromkeys(track_ids))):
            for track in await self._fetch_tracks(self._TRACK_SQL + f" WHERE t.id IN ({marks(len(chunk))})", chunk):
                found[track.id] = track
        return found

    async def tracks_in_state(self, state: Availability) -> list[str]:
        async with self.reader.execute("SELECT id FROM tracks WHERE availability = ?", (state.value,)) as cur:
            return [row[0] for row in await cur.fetchall()]

    async def _write(self, changes: Sequence[TrackChange]) -> None:
        # One executemany per kind of change: one trip to the connection's thread each, so
        # the transaction stays short however many tracks a batch of imports writes.
        await self._each(
            "UPDATE tracks SET availability = 'available', audio_uri = ? WHERE id = ?",
            [(c.audio_uri, c.track_id) for c in changes if c.state is Availability.AVAILABLE],
        )
        await self._each(
            "UPDATE tracks SET availability = ?, audio_uri = NULL WHERE id = ?",
            [(c.state.value, c.track_id) for c in changes
             if c.state is not Availability.AVAILABLE and c.clear_audio],
        )
        # Never over an `available` written meanwhile by another writer (e.g. a manual
        # import): the caller decided from a state it read earlier.
        await self._each(
            "UPDATE tracks SET availability = ? WHERE id = ? AND availability != 'available'",
            [(c.state.value, c.track_id) for c in changes
             if c.state is not Availability.AVAILABLE and not c.clear_audio],
        )


class PezzottifyCatalog(Catalog):
    layout = "pezzottify"
    stores_transient_states = False
    required: ClassVar[dict[str, set[str]]] = {
        "artists": {"rowid", "id", "name", "artist_available"},
        "albums": {"rowid", "id", "name", "release_date", "album_availability"},
        "tracks": {"rowid", "id", "name", "album_rowid", "track_number", "disc_number",
                   "duration_ms", "audio_uri", "track_available"},
        "track_artists": {"track_rowid", "artist_rowid", "role"},
        "artist_albums": {"artist_rowid", "album_rowid"},
    }

    # The server's main artist (catalog_store/store.rs): a NULL role and any role it does not
    # know read as 0 (MainArtist); NULL sorts first, then the lowest rowid.
    _IS_MAIN = "(ta.role IS NULL OR ta.role NOT IN (1, 2, 3, 4, 5))"
    _MAIN_ARTIST = (
        "(SELECT ar.name FROM track_artists ta JOIN artists ar ON ar.rowid = ta.artist_rowid"
        f" WHERE ta.track_rowid = t.rowid AND {_IS_MAIN} ORDER BY ta.role, ar.rowid LIMIT 1)"
    )
    _TRACK_SQL = (
        "SELECT t.id, al.id AS album_id, t.name, t.disc_number, t.track_number, t.duration_ms,"
        f" t.audio_uri, t.track_available, {_MAIN_ARTIST} AS artist"
        " FROM tracks t JOIN albums al ON al.rowid = t.album_rowid"
    )
    _AVAILABLE_WHERE = "t.track_available = 1"

    def _track(self, row: aiosqlite.Row) -> TrackMeta:
        available = bool(row["track_available"]) and bool(row["audio_uri"])
        return TrackMeta(
            id=row["id"], album_id=row["album_id"], name=row["name"],
            disc_number=int(row["disc_number"] or 1), track_number=int(row["track_number"] or 0),
            duration_ms=row["duration_ms"], audio_uri=row["audio_uri"],
            availability=Availability.AVAILABLE if available else Availability.UNAVAILABLE,
            artist=row["artist"],
        )

    _ALBUM_SQL = (
        "SELECT al.id, al.name, al.release_date,"
        " (SELECT ar.name FROM artist_albums aa JOIN artists ar ON ar.rowid = aa.artist_rowid"
        "   WHERE aa.album_rowid = al.rowid"
        "   ORDER BY aa.is_appears_on, COALESCE(aa.index_in_album, 0), ar.rowid LIMIT 1) AS artist,"
        " (SELECT ar.name FROM tracks t JOIN track_artists ta ON ta.track_rowid = t.rowid"
        "   JOIN artists ar ON ar.rowid = ta.artist_rowid"
        f"   WHERE t.album_rowid = al.rowid AND {_IS_MAIN}"
        "   GROUP BY ar.rowid ORDER BY COUNT(*) DESC, ar.rowid LIMIT 1) AS track_artist"
        " FROM albums al"
    )
    _TRACK_ALBUM_ID = "al.id"

    def _album(self, row: aiosqlite.Row) -> AlbumMeta:
        return AlbumMeta(
            id=row["id"], name=row["name"], artist=row["artist"] or row["track_artist"],
            year=_year(row["release_date"]),
        )

    async def get_tracks(self, track_ids: Sequence[str]) -> dict[str, TrackMeta]:
        found: dict[str, TrackMeta] = {}
        for chunk in chunked(list(dict.fromkeys(track_ids))):
            for track in await self._fetch_tracks(self._TRACK_SQL + f" WHERE t.id IN ({marks(len(chunk))})", chunk):
                found[track.id] = track
        return found

    def _relevant(self, changes: Sequence[TrackChange]) -> Sequence[TrackChange]:
        # fetching / fetch_error have no column here: only available and a cleared file.
        return [c for c in changes if c.state is Availability.AVAILABLE or c.clear_audio]

    async def _write(self, changes: Sequence[TrackChange]) -> None:
        available = [c for c in changes if c.state is Availability.AVAILABLE]
        # fetching / fetch_error have no column in this layout: only a cleared file is written.
        cleared = [c for c in changes if c.state is not Availability.AVAILABLE and c.clear_audio]
        await self._each("UPDATE tracks SET audio_uri = ?, track_available = 1 WHERE id = ?",
                         [(c.audio_uri, c.track_id) for c in available])
        await self._each("UPDATE tracks SET audio_uri = NULL, track_available = 0 WHERE id = ?",
                         [(c.track_id,) for c in cleared])
        touched = [c.track_id for c in (*available, *cleared)]
        if touched:
            await self._refresh_rollups(touched)

    async def search_availability(self, track_ids: Sequence[str]) -> list[tuple[str, str, int]]:
        """(item_id, item_type, is_available) for search.db's item_availability, as the server's
        ingestion writes them: the tracks, their albums (1 unless 'missing') and every artist
        with a track_artists row (any role) on them, whose artist_available a write of these
        tracks recomputes. Read now, so a late delivery writes the current values."""
        found: list[tuple[str, str, int]] = []
        for chunk in chunked(list(dict.fromkeys(track_ids))):
            m = marks(len(chunk))
            found += [(r[0], "track", int(r[1])) for r in await self._rows(
                f"SELECT id, track_available FROM tracks WHERE id IN ({m})", chunk)]
            found += [(r[0], "album", int(r[1] != "missing")) for r in await self._rows(
                "SELECT DISTINCT al.id, al.album_availability FROM albums al"
                f" JOIN tracks t ON t.album_rowid = al.rowid WHERE t.id IN ({m})", chunk)]
            found += [(r[0], "artist", int(r[1])) for r in await self._rows(
                "SELECT DISTINCT ar.id, ar.artist_available FROM artists ar"
                " JOIN track_artists ta ON ta.artist_rowid = ar.rowid JOIN tracks t ON t.rowid = ta.track_rowid"
                f" WHERE t.id IN ({m})", chunk)]
        return list(dict.fromkeys(found))

    async def _refresh_rollups(self, track_ids: Sequence[str]) -> None:
        """album_availability and artist_available by the server's reconcile rules (reference
        section 6): an album is missing with no available track, complete when all are,
        partial otherwise; an artist is available exactly when a track_artists row of any
        role points at an available track."""
        for chunk in chunked(list(track_ids)):
            marks = ",".join("?" * len(chunk))
            await self.conn.execute(
                "UPDATE albums SET album_availability = ("
                " SELECT CASE WHEN COUNT(*) = 0 OR SUM(t.track_available) = 0 THEN 'missing'"
                "  WHEN SUM(t.track_available) = COUNT(*) THEN 'complete' ELSE 'partial' END"
                " FROM tracks t WHERE t.album_rowid = albums.rowid)"
                f" WHERE rowid IN (SELECT album_rowid FROM tracks WHERE id IN ({marks}))",
                chunk,
            )
            await self.conn.execute(
                "UPDATE artists SET artist_available = EXISTS ("
                " SELECT 1 FROM track_artists ta JOIN tracks t ON t.rowid = ta.track_rowid"
                " WHERE ta.artist_rowid = artists.rowid AND t.track_available = 1)"
                " WHERE rowid IN (SELECT ta.artist_rowid FROM track_artists ta"
                f"  JOIN tracks t ON t.rowid = ta.track_rowid WHERE t.id IN ({marks}))",
                chunk,
            )


LAYOUTS: dict[str, type[Catalog]] = {"plan": PlanCatalog, "pezzottify": PezzottifyCatalog}


async def table_columns(conn: aiosqlite.Connection) -> dict[str, set[str]]:
    async with conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cur:
        tables = [row[0] for row in await cur.fetchall()]
    columns: dict[str, set[str]] = {}
    for table in tables:
        async with conn.execute(f"PRAGMA table_info('{table}')") as cur:
            cols = {row[1] for row in await cur.fetchall()}
        # An explicit rowid alias is INTEGER PRIMARY KEY named rowid; implicit rowid exists too.
        columns[table] = cols | {"rowid"}
    return columns


def missing_columns(found: dict[str, set[str]], required: dict[str, set[str]]) -> list[str]:
    missing = []
    for table, cols in required.items():
        if table not in found:
            missing.append(f"table {table}")
            continue
        missing.extend(f"{table}.{col}" for col in sorted(cols - found[table]))
    return missing


def detect_layout(found: dict[str, set[str]], wanted: str) -> type[Catalog]:
    """Pick the adapter; raise CatalogSchemaError naming what is missing."""
    if wanted != "auto":
        cls = LAYOUTS[wanted]
        missing = missing_columns(found, cls.required)
        if missing:
            raise CatalogSchemaError(
                f"catalog layout '{wanted}' needs {', '.join(missing)}; the bridge never alters "
                "the catalog schema, so point catalog.db at the right file or set catalog.layout"
            )
        return cls
    for cls in LAYOUTS.values():
        if not missing_columns(found, cls.required):
            return cls
    detail = "; ".join(
        f"{name}: missing {', '.join(missing_columns(found, cls.required))}"
        for name, cls in LAYOUTS.items()
    )
    raise CatalogSchemaError(f"catalog matches no known layout ({detail})")


async def open_catalog(path: Path, *, layout: str = "auto", busy_timeout_ms: int = 5000,
                       write_retries: int = 8) -> Catalog:
    if not await asyncio.to_thread(path.exists):
        raise CatalogSchemaError(f"catalog database {path} does not exist")
    # Opened as another program's file first: a Pezzottify catalog keeps its journal mode and
    # gets wal_autocheckpoint=0 (see connect_foreign). Only the plan layout, the bridge's own
    # convention, is switched to WAL as before.
    conn = await connect_foreign(path, busy_timeout_ms=busy_timeout_ms)
    reader = None
    try:
        cls = detect_layout(await table_columns(conn), layout)
        if cls.stores_transient_states:
            await conn.close()
            conn = await connect(path, busy_timeout_ms=busy_timeout_ms)
        reader = await connect_foreign(path, busy_timeout_ms=busy_timeout_ms)
        log.info("catalog.opened", db=str(path), layout=cls.layout)
        return cls(conn, write_retries=write_retries, db=str(path), reader=reader)
    except BaseException:
        await conn.close()   # an open aiosqlite thread would keep the process from exiting
        if reader is not None:
            await reader.close()
        raise

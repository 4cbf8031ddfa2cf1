"""The import of one completed ticket: plan, journal, move, one catalog write, clean up.

Order of work, and why each crash point is safe:
1. plan (nothing touched) and record every move in the journal in one transaction;
2. move the files one by one, journalling each step; a file is only ever renamed into
   place whole, so the media root never holds a partial file;
3. ONE catalog transaction: imported tracks -> available + audio_uri, the others ->
   fetch_error. Every file it points at is already in place;
4. the journal is marked done with the outcome; then the leftovers are removed.
Running again with the same key after a crash resumes the journal (it never re-plans a
half-moved directory), and after step 4 returns the recorded outcome.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiosqlite
import structlog

from ..config import MediaSettings
from ..domain.models import AlbumMeta, Availability, TrackChange, TrackMeta
from ..store.catalog import Catalog
from ..store.db import connect
from ..store.outbox import NewItem
from . import journal, placement, transcode
from .checks import FileChecks
from .discovery import check_source_dir
from .errors import FilesNotReady, PlacementError, TemplateError
from .journal import JobRow, MoveRow
from .outcome import ImportOutcome, summarise
from .paths import render, temp_name
from .plan import ImportPlan, plan_import, track_label

log = structlog.get_logger(__name__)


# (import key, album id, outcome) -> outbox items to commit with the import's end.
Followups = Callable[[str, str, ImportOutcome], list[NewItem]]


@dataclass(frozen=True)
class ImportJob:
    key: str                  # journal key: the submission id, or "manual-<uuid>" from the CLI
    album: AlbumMeta
    tracks: list[TrackMeta]   # the tracks to import (the album may have more)
    source_dir: Path          # the ticket's dest_path as the bridge sees it
    # Tracks imported when the directory holds a good file for them, and otherwise left as
    # they are (not failed): other tracks of the album ("fill the album"), tracks that only
    # waited on this download.
    optional: frozenset[str] = frozenset()
    # Hold the import back (FilesNotReady, nothing recorded) when the plan leaves a required
    # track without a good file: QT may have said completed before its files were all there.
    hold_if_missing: bool = False


async def import_tracks(job: ImportJob, *, bridge_db: aiosqlite.Connection, catalog: Catalog,
                        media: MediaSettings, checks: FileChecks | None = None,
                        followups: Followups | None = None) -> ImportOutcome:
    """Import (or finish importing) one job; idempotent per job.key."""
    bound = log.bind(import_key=job.key, album_id=job.album.id)
    async with journal_connection(bridge_db) as conn:
        row = await journal.get_job(conn, job.key)
        if row is None:
            if not job.tracks:
                return ImportOutcome({}, {}, "")
            await asyncio.to_thread(check_source_dir, job.source_dir, media.incoming)
        lock_dir = Path(row.source_dir) if row else job.source_dir
        async with _dir_lock(lock_dir, bound):
            # Re-read under the lock: another task may have finished this key meanwhile.
            row = await journal.get_job(conn, job.key)
            if row is None:
                row = await _plan_and_record(conn, job, catalog, media, bound, checks)
            if row.state != "done":
                await _finish(conn, row, catalog, media, bound, followups)
                row = await journal.get_job(conn, job.key)
                assert row is not None
            await _clean_up(conn, row, media, bound)
    assert row.outcome is not None
    return ImportOutcome.from_json(row.outcome)


async def forget_import(bridge_db: aiosqlite.Connection, key: str, *, only_done: bool = False) -> bool:
    """Drop the journal of `key` so the next import under it plans afresh (e.g. when the
    ticket's directory was filled again by a retry). Temporary copies it recorded are
    removed; files already placed stay (the catalog may point at them). Returns whether
    there was a journal to drop. With only_done, an unfinished import is kept (resume it)."""
    async with journal_connection(bridge_db) as conn:
        row = await journal.get_job(conn, key)
        if row is None or (only_done and row.state != "done"):
            return False
        for move in await journal.get_moves(conn, key):
            await asyncio.to_thread(placement.remove_temp, Path(move.tmp))
        return await journal.forget_job(conn, key, only_done=only_done)


@asynccontextmanager
async def journal_connection(bridge_db: aiosqlite.Connection) -> AsyncIterator[aiosqlite.Connection]:
    """A connection of its own to the bridge database, so the transactions of two imports
    (or of the engine) sharing `bridge_db` never interleave; `bridge_db` itself for an
    in-memory database."""
    async with bridge_db.execute("PRAGMA database_list") as cur:
        rows = await cur.fetchall()
    path = next((r[2] for r in rows if r[1] == "main"), "")
    if not path:
        await _check_schema(bridge_db)
        yield bridge_db
        return
    conn = await connect(Path(path))
    try:
        await _check_schema(conn)
        yield conn
    finally:
        await conn.close()


async def _check_schema(conn: aiosqlite.Connection) -> None:
    async with conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'import_moves'"
    ) as cur:
        if await cur.fetchone() is None:
            raise RuntimeError("the bridge database has no import journal; apply its migrations "
                               "(store.db.migrate) before importing")


@asynccontextmanager
async def _dir_lock(path: Path, bound: Any) -> AsyncIterator[None]:
    """One import per directory at a time, across tasks and processes (flock on the
    directory; the kernel drops it when the process dies, SIGKILL included)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        yield      # already cleaned up or never there; the journal decides what remains
        return
    try:
        waiting = False
        while not flock_nb(fd):
            if not waiting:
                waiting = True
                bound.info("import.waiting_for_directory", source_dir=str(path))
            await asyncio.sleep(0.1)
        yield
    finally:
        os.close(fd)


def flock_nb(fd: int) -> bool:
    """Take the exclusive flock of an open directory without waiting; False when held."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


async def _plan_and_record(conn: aiosqlite.Connection, job: ImportJob, catalog: Catalog,
                           media: MediaSettings, bound: Any, checks: FileChecks | None = None) -> JobRow:
    album_tracks = await catalog.get_album_tracks(job.album.id)
    plan = await asyncio.to_thread(
        plan_import, job.source_dir, job.album, list(job.tracks), media, album_tracks=album_tracks,
        checks=checks,
    )
    held_back(job, plan)
    moves = await asyncio.to_thread(build_moves, plan, media, job.key)
    new = new_job(job, plan, moves)
    await journal.create_jobs(conn, [new])
    log_planned(bound, plan, new)
    row = await journal.get_job(conn, job.key)
    assert row is not None
    return row


def held_back(job: ImportJob, plan: ImportPlan) -> None:
    """Raise FilesNotReady when the job asks to wait for a plan with no required track missing."""
    missing = [t for t in plan.failed if t not in job.optional]
    if job.hold_if_missing and missing:
        raise FilesNotReady(f"{len(missing)} requested track(s) without a good file yet")


def new_job(job: ImportJob, plan: ImportPlan, moves: list[MoveRow]) -> journal.NewJob:
    """The journal's record of a plan. An optional track without a file is no failure: it is
    left out of the outcome (and of the summary) altogether."""
    matched = {m.track.id for m in plan.matches}
    labels = {t.id: track_label(t) for t in plan.tracks if t.id not in job.optional or t.id in matched}
    failed = {t: reason for t, reason in plan.failed.items() if t not in job.optional}
    return journal.NewJob(key=job.key, album_id=job.album.id, source_dir=str(plan.source_dir),
                          failed=failed, labels=labels, report=plan.to_json(), moves=moves)


def log_planned(bound: Any, plan: ImportPlan, new: journal.NewJob) -> None:
    bound.info("import.planned", matched=len(plan.matches), failed=len(new.failed),
               rejected_files=len(plan.rejected))
    for track_id, reason in new.failed.items():
        bound.info("import.track_unmatched", track_id=track_id, track=new.labels[track_id], reason=reason)


def build_moves(plan: ImportPlan, media: MediaSettings, key: str) -> list[MoveRow]:
    """One move per matched track, destinations rendered and checked for collisions. With
    media.convert = ogg_vorbis, a file not Ogg Vorbis already is to be converted (blocking:
    each file's format is read) and its destination ends in .ogg."""
    moves: list[MoveRow] = []
    seen: dict[str, str] = {}
    for m in plan.matches:
        convert = transcode.how_to_convert(m.file.path) if media.convert == "ogg_vorbis" else None
        ext = "ogg" if media.convert == "ogg_vorbis" else m.file.ext
        uri = render(media.template, plan.album, m.track, ext)
        if uri in seen:
            raise TemplateError(
                f"media.path_template gives tracks {seen[uri]} and {m.track.id} the same path "
                f"{uri!r}; include {{disc_number}} and {{track_number}} or {{track_id}}"
            )
        seen[uri] = m.track.id
        dst = media.root / uri
        found = placement.identity(m.file.path)
        if found is None:
            raise PlacementError(f"{m.file.path} vanished while planning")
        moves.append(MoveRow(
            key=key, track_id=m.track.id, src=str(m.file.path), dst=str(dst),
            tmp=str(dst.parent / temp_name(dst.name, key)), audio_uri=uri,
            src_dev=found.dev, src_ino=found.ino, src_size=found.size, convert=convert,
        ))
    return moves


async def _finish(conn: aiosqlite.Connection, row: JobRow, catalog: Catalog, media: MediaSettings,
                  bound: Any, followups: Followups | None = None) -> None:
    moves = await journal.get_moves(conn, row.key)
    done: list[MoveRow] = []
    for move in moves:
        try:
            done.append(await _advance(conn, move, media))
        except OSError as err:
            bound.error("import.move_failed", track_id=move.track_id, error=str(err))
            raise PlacementError(f"cannot place {move.src} at {move.dst}: {err}") from err
    outcome = outcome_of(row, done)
    await apply_outcome(catalog, outcome)
    items = followups(row.key, row.album_id, outcome) if followups is not None else []
    await journal.finish_job(conn, row.key, outcome.to_json(), items)
    bound.info("import.done", imported=len(outcome.imported), failed=len(outcome.failed),
               summary=outcome.summary or None)


def outcome_of(row: JobRow | journal.NewJob, done: Sequence[MoveRow]) -> ImportOutcome:
    """The outcome of a job whose moves all reached 'placed' or 'failed'."""
    imported = {m.track_id: m.audio_uri for m in done if m.state == "placed"}
    failed = dict(row.failed)
    failed.update({m.track_id: m.error or "placement failed" for m in done if m.state == "failed"})
    order = list(row.labels)
    return ImportOutcome(
        imported={t: imported[t] for t in order if t in imported},
        failed={t: failed[t] for t in order if t in failed},
        summary=summarise(row.labels, imported, failed),
    )


async def _advance(conn: aiosqlite.Connection, move: MoveRow, media: MediaSettings) -> MoveRow:
    """Bring one move to 'placed' or 'failed', whatever step the last run stopped at."""
    dst, tmp = Path(move.dst), Path(move.tmp)
    if move.state == "failed":
        return move
    if move.state == "placed":
        here = await asyncio.to_thread(placement.identity, dst)
        # (A converted file's size is its own, not the source's.)
        if here is not None and here.ino == move.dst_ino and (move.convert or here.size == move.src_size):
            return move
    if move.state == "copied":
        copy = await asyncio.to_thread(placement.identity, tmp)
        if copy is not None and copy.ino == move.tmp_ino:
            placed = await asyncio.to_thread(placement.commit_temp, tmp, dst)
            return await _mark(conn, move, "placed", dst_ino=placed.ino)
        here = await asyncio.to_thread(placement.identity, dst)
        if here is not None and here.ino == move.tmp_ino:
            return await _mark(conn, move, "placed", dst_ino=here.ino)

    renamed = await asyncio.to_thread(rename_step, move, media)
    if renamed is not None:
        return await _mark(conn, move, renamed.state, dst_ino=renamed.dst_ino, error=renamed.error)
    return await copy_into_place(conn, move, media)


async def copy_into_place(conn: aiosqlite.Connection, move: MoveRow, media: MediaSettings) -> MoveRow:
    """The rest of a move rename_step left to a copy: copy (or convert to Ogg Vorbis) to a
    hidden temporary file next to the destination (fsynced, a conversion verified), journal
    it, rename it into place, journal that. A file that cannot be converted fails its track."""
    tmp = Path(move.tmp)
    if move.convert:
        try:
            copy = await asyncio.to_thread(
                transcode.convert_to_temp, Path(move.src), tmp, root=media.root, via=move.convert,
                quality=media.vorbis_quality if media.vorbis_quality is not None else 0.9,
            )
        except transcode.ConversionError as err:
            log.warning("import.convert_failed", import_key=move.key, track_id=move.track_id, error=str(err))
            return await _mark(conn, move, "failed", error=str(err))
    else:
        copy = await asyncio.to_thread(placement.copy_to_temp, Path(move.src), tmp, root=media.root)
    move = await _mark(conn, move, "copied", tmp_ino=copy.ino)
    placed = await asyncio.to_thread(placement.commit_temp, tmp, Path(move.dst))
    return await _mark(conn, move, "placed", dst_ino=placed.ino)


def rename_step(move: MoveRow, media: MediaSettings, dirty: set[Path] | None = None) -> MoveRow | None:
    """A move from its planned state: renamed into place, found renamed by a run that
    crashed, or failed; None when source and destination are on different filesystems, or
    the file is to be converted
    (the caller copies). Blocking; returns the row as it should be journalled. With
    `dirty`, the directories to fsync are left to the caller (see rename_into_place)."""
    src, dst, tmp = Path(move.src), Path(move.dst), Path(move.tmp)
    placement.remove_temp(tmp)
    here = placement.identity(dst)
    if not move.convert and here is not None and (here.dev, here.ino) == (move.src_dev, move.src_ino):
        return replace(move, state="placed", dst_ino=here.ino)    # renamed before a crash
    source = placement.identity(src)
    if source is None:
        return replace(move, state="failed", error="missing: the file vanished before import")
    if (source.dev, source.ino, source.size) != (move.src_dev, move.src_ino, move.src_size):
        return replace(move, state="failed", error="corrupt: the file changed after it was verified")
    placement.check_source(src, media.incoming)
    if move.convert:
        return None          # converted into the temporary file by copy_into_place
    placed = placement.rename_into_place(src, dst, root=media.root, dirty=dirty)
    return None if placed is None else replace(move, state="placed", dst_ino=placed.ino)


async def _mark(conn: aiosqlite.Connection, move: MoveRow, state: str, *, tmp_ino: int | None = None,
                dst_ino: int | None = None, error: str | None = None) -> MoveRow:
    await journal.set_move(conn, move.key, move.track_id, state, tmp_ino=tmp_ino, dst_ino=dst_ino,
                           error=error)
    return replace(move, state=state, tmp_ino=tmp_ino or move.tmp_ino,
                   dst_ino=dst_ino or move.dst_ino, error=error)


async def apply_outcome(catalog: Catalog, outcome: ImportOutcome) -> None:
    """ONE catalog transaction for the whole import."""
    await apply_outcomes(catalog, [outcome])


async def apply_outcomes(catalog: Catalog, outcomes: Sequence[ImportOutcome]) -> None:
    """ONE catalog transaction for any number of imports. A track that failed here but
    already plays (an earlier import) keeps its audio: fetch_error would hide a good file."""
    ids: Sequence[str] = [t for o in outcomes for t in (*o.imported, *o.failed)]
    current = await catalog.get_tracks(ids)
    changes = [TrackChange(t, Availability.AVAILABLE, audio_uri=uri)
               for o in outcomes for t, uri in o.imported.items() if t in current]
    changes += [TrackChange(t, Availability.FETCH_ERROR) for o in outcomes for t in o.failed
                if t in current and current[t].availability is not Availability.AVAILABLE]
    await catalog.apply(changes)


async def _clean_up(conn: aiosqlite.Connection, row: JobRow, media: MediaSettings, bound: Any) -> None:
    """Remove the leftovers of a fully imported directory (unless media.keep_leftovers).
    A directory with failed tracks stays for a look or a manual import."""
    if row.cleaned_at is not None:
        return
    wanted = not media.keep_leftovers and not (row.outcome or {}).get("failed")
    if wanted and not await asyncio.to_thread(remove_leftovers, [row], media):
        return      # kept, not cleaned: the next import of the key tries again
    await journal.mark_cleaned(conn, row.key)


def remove_leftovers(rows: Sequence[JobRow | journal.NewJob], media: MediaSettings) -> set[str]:
    """Remove the source directories of fully imported jobs (blocking); returns the keys
    whose directory went. One that cannot be removed is logged and left for next time:
    the import itself is done."""
    removed = set()
    for row in rows:
        try:
            placement.remove_tree(Path(row.source_dir), media.incoming)
        except (OSError, PlacementError) as err:
            log.warning("import.leftovers_kept", import_key=row.key, source_dir=row.source_dir, error=str(err))
            continue
        log.info("import.leftovers_removed", import_key=row.key, source_dir=row.source_dir)
        removed.add(row.key)
    return removed

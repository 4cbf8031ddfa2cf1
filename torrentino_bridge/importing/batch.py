"""Importing many completed tickets at once: the daemon's path (import_tracks is the one-job path).

The steps, their order and the crash points are import_tracks' (see importer.py): the plan
is journalled before any file moves, each file is renamed into place whole, then ONE
catalog transaction, then the journal says done, then the leftovers go. Here each step is
taken for every job of the batch together: one journal transaction per step, one catalog
transaction for all the jobs, the blocking file work in one thread call. When a hundred
tickets complete at once, per-job transactions and thread hops, not the writes, were the
cost. A journalled move that never got its 'placed' row (killed in between) is recognised
by its inode on the next run, as in import_tracks.

Jobs the batch does not take on (a journal to resume, a directory another import holds,
a key given twice) go through import_tracks one by one after it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite
import structlog

from ..config import MediaSettings
from ..domain.models import TrackMeta
from ..store.catalog import Catalog
from . import journal, placement
from .checks import FileChecks
from .discovery import check_source_dir
from .errors import PlacementError
from .importer import (
    Followups,
    ImportJob,
    apply_outcomes,
    build_moves,
    copy_into_place,
    flock_nb,
    held_back,
    import_tracks,
    journal_connection,
    log_planned,
    new_job,
    outcome_of,
    remove_leftovers,
    rename_step,
)
from .journal import MoveRow, NewJob
from .outcome import ImportOutcome
from .plan import plan_import

log = structlog.get_logger(__name__)

Result = ImportOutcome | Exception


@dataclass
class Prepared:
    job: ImportJob
    fd: int | None = None                 # the directory's flock, held until the batch ends
    new: NewJob | None = None             # the plan, as the journal will hold it
    error: Exception | None = None        # why this job cannot be imported
    busy: bool = False                    # another import holds the directory
    moves: list[MoveRow] = field(default_factory=list)


async def import_batch(jobs: Sequence[ImportJob], *, bridge_db: aiosqlite.Connection, catalog: Catalog,
                       media: MediaSettings, checks: FileChecks | None = None,
                       followups: Followups | None = None) -> dict[str, Result]:
    """Import (or finish importing) every job; each job's outcome, or the exception that
    stopped it. An exception in a step shared by all (the catalog locked past every retry)
    is every unfinished job's result; each job resumes from its journal on the next call."""
    results: dict[str, Result] = {}
    slow: list[ImportJob] = []
    async with journal_connection(bridge_db) as conn:
        known = await journal.get_jobs(conn, [j.key for j in jobs])
        fresh: list[ImportJob] = []
        taken = set()
        for job in jobs:
            if job.key in known or job.key in taken:
                slow.append(job)
            elif not job.tracks:
                results[job.key] = ImportOutcome({}, {}, "")
            else:
                fresh.append(job)
                taken.add(job.key)
        if fresh:
            album_tracks = await catalog.get_albums_tracks([j.album.id for j in fresh])
            planning = asyncio.ensure_future(asyncio.to_thread(plan_all, fresh, album_tracks, media, checks))
            try:
                prepared = await asyncio.shield(planning)
            except asyncio.CancelledError:
                # The thread runs on; the directory locks it takes go when it ends.
                planning.add_done_callback(_unlock_when_done)
                raise
            try:
                # Planned by another process meanwhile (it held the directory before us)?
                again = await journal.get_jobs(conn, [p.job.key for p in prepared if p.new is not None])
                for p in prepared:
                    if p.busy or p.job.key in again:
                        slow.append(p.job)
                    elif p.error is not None:
                        results[p.job.key] = p.error
                ready = [p for p in prepared if p.new is not None and not p.busy and p.job.key not in again]
                if ready:
                    try:
                        await _import_planned(conn, ready, catalog, media, results, followups)
                    except Exception as err:
                        for p in ready:
                            results.setdefault(p.job.key, err)
            finally:
                for p in prepared:
                    if p.fd is not None:
                        os.close(p.fd)
    for job in slow:
        try:
            results[job.key] = await import_tracks(job, bridge_db=bridge_db, catalog=catalog, media=media,
                                                   checks=checks, followups=followups)
        except Exception as err:
            results[job.key] = err
    return results


def plan_all(jobs: Sequence[ImportJob], album_tracks: dict[str, list[TrackMeta]], media: MediaSettings,
             checks: FileChecks | None) -> list[Prepared]:
    """Lock each job's directory and plan its import (blocking; one thread call for all)."""
    prepared = []
    for job in jobs:
        p = Prepared(job)
        prepared.append(p)
        try:
            check_source_dir(job.source_dir, media.incoming)
            p.fd = _try_lock(job.source_dir)
            if p.fd is None:
                p.busy = True
                continue
            plan = plan_import(job.source_dir, job.album, list(job.tracks), media,
                               album_tracks=album_tracks.get(job.album.id), checks=checks)
            held_back(job, plan)
            p.new = new_job(job, plan, build_moves(plan, media, job.key))
            log_planned(log.bind(import_key=job.key, album_id=job.album.id), plan, p.new)
        except Exception as err:  # this job's problem (source, template, vanished file), not the batch's
            p.error, p.new = err, None
    return prepared


def _unlock_when_done(planning: asyncio.Future[list[Prepared]]) -> None:
    if planning.cancelled() or planning.exception() is not None:
        return
    for p in planning.result():
        if p.fd is not None:
            os.close(p.fd)


def _try_lock(path: Path) -> int | None:
    """The directory's flock (import_tracks takes the same), or None when someone holds it."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    if flock_nb(fd):
        return fd
    os.close(fd)
    return None


def place_all(moves: Sequence[MoveRow], media: MediaSettings) -> list[MoveRow | Exception | None]:
    """rename_step for every move (blocking; one thread call for all). None: needs a copy.
    Each directory touched is fsynced once, after all the renames and before any of them
    is journalled, instead of twice per file."""
    out: list[MoveRow | Exception | None] = []
    dirty: set[Path] = set()
    for move in moves:
        try:
            out.append(rename_step(move, media, dirty))
        except OSError as err:
            out.append(PlacementError(f"cannot place {move.src} at {move.dst}: {err}"))
        except PlacementError as err:
            out.append(err)
    for directory in dirty:
        placement.fsync_dir(directory)
    return out


async def _import_planned(conn: aiosqlite.Connection, ready: list[Prepared], catalog: Catalog,
                          media: MediaSettings, results: dict[str, Result],
                          followups: Followups | None = None) -> None:
    news = [p.new for p in ready if p.new is not None]
    await journal.create_jobs(conn, news)
    jobs = {n.key: n for n in news}
    planned = [m for p in ready if p.new is not None for m in p.new.moves]
    renamed = await asyncio.to_thread(place_all, planned, media)
    await journal.set_moves(conn, [m for m in renamed if isinstance(m, MoveRow)])

    by_key = {p.job.key: p for p in ready}
    for move, result in zip(planned, renamed, strict=True):
        p = by_key[move.key]
        if isinstance(result, Exception):
            log.error("import.move_failed", import_key=move.key, track_id=move.track_id, error=str(result))
            results.setdefault(move.key, result)
            continue
        if result is None:   # another filesystem: copy, fsync, rename, journalled step by step
            try:
                result = await copy_into_place(conn, move, media)
            except OSError as err:
                log.error("import.move_failed", import_key=move.key, track_id=move.track_id, error=str(err))
                results.setdefault(move.key, PlacementError(f"cannot place {move.src} at {move.dst}: {err}"))
                continue
        p.moves.append(result)

    done = {p.job.key: outcome_of(jobs[p.job.key], p.moves) for p in ready if p.job.key not in results}
    await apply_outcomes(catalog, list(done.values()))
    items = [i for key, o in done.items() for i in followups(key, jobs[key].album_id, o)] if followups else []
    await journal.finish_jobs(conn, {key: o.to_json() for key, o in done.items()}, items)
    for key, outcome in done.items():
        results[key] = outcome
        log.info("import.done", import_key=key, album_id=jobs[key].album_id, imported=len(outcome.imported),
                 failed=len(outcome.failed), summary=outcome.summary or None)
    await _clean_up(conn, [jobs[k] for k in done], done, media)


async def _clean_up(conn: aiosqlite.Connection, jobs: list[journal.NewJob], done: dict[str, ImportOutcome],
                    media: MediaSettings) -> None:
    """Leftovers of fully imported directories go (unless media.keep_leftovers); a directory
    with failed tracks stays for a look or a manual import."""
    doomed = [j for j in jobs if not media.keep_leftovers and not done[j.key].failed]
    removed = await asyncio.to_thread(remove_leftovers, doomed, media)
    kept = {j.key for j in doomed} - removed     # not cleaned: the next import of the key tries again
    await journal.mark_cleaned_many(conn, [j.key for j in jobs if j.key not in kept])

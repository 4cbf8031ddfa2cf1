"""Waiting for a completed ticket's files to be there before calling any track missing.

QT may say `completed` while files are not visible yet or still growing: a directory on
another mount that shows new files late, a slow filesystem, QT's placer still flushing.
Importing at once would call those tracks missing or corrupt and fail them for good. So
the import's own plan holds the import back (importing.errors.FilesNotReady, nothing
recorded) when it leaves a requested track without a good file; the directory is then
scanned again every `interval` until every track has its file, or until the grace period
is over *and* the directory stayed the same across two scans (nothing is still arriving);
a directory that keeps changing is given at most three grace periods. A complete plan (the
common case) costs nothing: the import goes on at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiosqlite
import structlog

from ..config import MediaSettings
from ..importing import ImportJob
from ..importing import journal as import_journal
from ..importing.checks import FileChecks
from ..importing.plan import plan_import
from ..store.bridge import SubmissionRow
from ..store.catalog import Catalog
from .prechecks import dir_listing

log = structlog.get_logger(__name__)

JobsFor = Callable[[list[SubmissionRow]], Awaitable[tuple[list[ImportJob], dict[str, Any]]]]


class FileSettler:
    def __init__(self, catalog: Catalog, media: MediaSettings, checks: FileChecks | None, jobs_for: JobsFor,
                 import_db: aiosqlite.Connection, *, interval_secs: float = 1.0) -> None:
        self.catalog = catalog
        self.media = media
        self.checks = checks
        self.jobs_for = jobs_for
        self.import_db = import_db
        self.grace_secs = media.settle_secs
        self.interval_secs = max(0.05, min(interval_secs, self.grace_secs / 4 or interval_secs))

    async def wait(self, sub: SubmissionRow, bound: structlog.BoundLogger) -> None:
        if self.grace_secs <= 0 or await import_journal.get_job(self.import_db, sub.id) is not None:
            return      # no grace asked for, or the plan is already journalled: resume it as it is
        started = time.monotonic()
        previous: object = None
        waiting = False
        while True:
            jobs, _ = await self.jobs_for([sub])
            if not jobs:
                return
            job = jobs[0]
            listing = await asyncio.to_thread(dir_listing, job.source_dir)
            missing = await self._unmatched(job)
            elapsed = time.monotonic() - started
            if not missing:
                if waiting:
                    bound.info("import.files_settled", waited_secs=round(elapsed, 2))
                return
            if (elapsed >= self.grace_secs and listing == previous) or elapsed >= 3 * self.grace_secs:
                if waiting:
                    bound.info("import.files_still_missing", waited_secs=round(elapsed, 2), tracks=missing)
                return
            if not waiting:
                waiting = True
                bound.info("import.waiting_for_files", tracks=missing, grace_secs=self.grace_secs)
            previous = listing
            await asyncio.sleep(self.interval_secs)

    async def _unmatched(self, job: ImportJob) -> int:
        """How many requested tracks the directory, as it is now, leaves without a good file."""
        album_tracks = await self.catalog.get_album_tracks(job.album.id)
        try:
            plan = await asyncio.to_thread(plan_import, job.source_dir, job.album, job.tracks, self.media,
                                           album_tracks=album_tracks, checks=self.checks)
        except Exception:   # the import itself reports what is wrong with the directory
            return 0
        return sum(1 for t in plan.failed if t not in job.optional)   # optional tracks may be absent

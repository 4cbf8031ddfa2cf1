"""Checking a ticket's files, and planning its import, while Quentin Torrentino places them.

Decoding every file is the costly part of an import, and matching files to tracks the
next. QT writes the files into the ticket's directory during `placing` and says so (a
`placing` state, `pipeline_progress` events). Planning the import then, with
importing.checks.FileChecks, leaves the import at `completed` with lookups: each file
version checked, and the plan for the directory as it is. A file still being written is
checked in a version the import will not find again, and a plan is only reused for the
same files and tracks, so a precheck too early is wasted work, never a wrong answer.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

from ..config import MediaSettings
from ..domain.status import SubmissionState
from ..importing import ImportJob
from ..importing.checks import FileChecks
from ..importing.plan import plan_import
from ..store.bridge import BridgeStore, SubmissionRow
from ..store.catalog import Catalog
from ..tasks import TaskSupervisor

log = structlog.get_logger(__name__)

JobsFor = Callable[[list[SubmissionRow]], Awaitable[tuple[list[ImportJob], dict[str, Any]]]]


class PlacementPrechecks:
    def __init__(self, store: BridgeStore, catalog: Catalog, media: MediaSettings, checks: FileChecks,
                 tasks: TaskSupervisor, jobs_for: JobsFor, *, parallel: int = 1,
                 min_interval_secs: float = 0.5) -> None:
        self.store = store
        self.catalog = catalog
        self.media = media
        self.checks = checks
        self.tasks = tasks
        self.jobs_for = jobs_for
        self.min_interval_secs = min_interval_secs
        # One thread at a time by default: prechecks must not starve the imports they serve.
        self._slots = asyncio.Semaphore(parallel)
        self._running: set[str] = set()
        self._again: set[str] = set()

    def note(self, ticket_id: str) -> None:
        """QT placed (or is placing) files of this ticket: check them soon, once at a time."""
        if ticket_id in self._running:
            self._again.add(ticket_id)
            return
        self._running.add(ticket_id)
        self.tasks.start(f"precheck:{ticket_id}", self._run(ticket_id), critical=False)

    async def _run(self, ticket_id: str) -> None:
        seen: object = None
        try:
            while True:
                sub = await self.store.submission_by_ticket(ticket_id)
                # Once QT completed it, the import itself does the work: nothing to prepare.
                if sub is None or sub.state not in _PREPARING or sub.qt_state == "completed":
                    return
                now = await asyncio.to_thread(dir_listing, Path(sub.local_dir))
                if now != seen:              # notes about files already seen cost a listing only
                    seen = now
                    await self.prepare(sub)
                if ticket_id not in self._again:
                    return
                self._again.discard(ticket_id)
                await asyncio.sleep(self.min_interval_secs)
        finally:
            self._running.discard(ticket_id)
            self._again.discard(ticket_id)

    async def prepare(self, sub: SubmissionRow) -> None:
        """Plan the submission's import as its directory is now (nothing is moved)."""
        try:
            jobs, _ = await self.jobs_for([sub])
            if not jobs:
                return
            job = jobs[0]
            album_tracks = await self.catalog.get_album_tracks(job.album.id)
            async with self._slots:
                plan = await asyncio.to_thread(plan_import, job.source_dir, job.album, job.tracks, self.media,
                                               album_tracks=album_tracks, checks=self.checks)
            log.debug("precheck.planned", submission_id=sub.id, matched=len(plan.matches),
                      failed=len(plan.failed))
        except Exception as err:  # anything a half-placed directory can raise: the import decides
            log.debug("precheck.skipped", submission_id=sub.id, error=str(err))


_PREPARING = frozenset({SubmissionState.ACTIVE, SubmissionState.NEEDS_APPROVAL})


def dir_listing(directory: Path) -> tuple[tuple[str, int, int], ...] | None:
    """Name, size and mtime of everything under a directory (None when it cannot be read)."""
    found = []
    try:
        for parent, _, files in os.walk(directory):
            for name in files:
                st = os.lstat(os.path.join(parent, name))
                found.append((os.path.join(parent, name), st.st_size, st.st_mtime_ns))
    except OSError:
        return None
    return tuple(sorted(found))

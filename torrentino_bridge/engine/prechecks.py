"""Checking a ticket's files while Quentin Torrentino places them.

Decoding every file is the costly part of an import. QT writes the files into the
ticket's directory during `placing` and says so (a `placing` state, `pipeline_progress`
events); checking them then, into importing.checks.FileChecks, leaves the import at
`completed` with lookups instead of decoding. A file still being written is checked in
a version the import will not find again, so a check too early is wasted work, never a
wrong answer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from ..config import MediaSettings
from ..domain.status import LIVE_SUBMISSION_STATES
from ..importing.checks import FileChecks, precheck
from ..importing.errors import ImportSourceError
from ..store.bridge import BridgeStore
from ..tasks import TaskSupervisor

log = structlog.get_logger(__name__)


class PlacementPrechecks:
    def __init__(self, store: BridgeStore, media: MediaSettings, checks: FileChecks, tasks: TaskSupervisor,
                 *, parallel: int = 1, min_interval_secs: float = 0.5) -> None:
        self.store = store
        self.media = media
        self.checks = checks
        self.tasks = tasks
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
        try:
            while True:
                sub = await self.store.submission_by_ticket(ticket_id)
                if sub is None or sub.state not in LIVE_SUBMISSION_STATES:
                    return
                async with self._slots:
                    try:
                        files = await asyncio.to_thread(precheck, Path(sub.local_dir), self.media.incoming,
                                                        self.checks)
                    except (OSError, ImportSourceError) as err:
                        # Not there yet, or not importable: the import says so at `completed`.
                        log.debug("precheck.skipped", ticket_id=ticket_id, error=str(err))
                        files = 0
                log.debug("precheck.done", ticket_id=ticket_id, audio_files=files)
                if ticket_id not in self._again:
                    return
                self._again.discard(ticket_id)
                await asyncio.sleep(self.min_interval_secs)
        finally:
            self._running.discard(ticket_id)
            self._again.discard(ticket_id)

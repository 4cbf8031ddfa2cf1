"""Re-scan: import again from a completed ticket's folder, after an admin fixed or added files.

The submission is put back exactly where QT's `completed` puts it (state `importing`, the
tracks still missing live again, the finished journal forgotten so the import plans
afresh) and the tracker's own import runs: the same planning, journal, placement, catalog
write and request updates as any completed download. A crash mid-way is resumed the same
way too (the reconciler finds the submission importing). An import that was interrupted
(journal not done) is resumed rather than planned again: the files it already moved are
no longer in the folder.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from ..domain.models import Availability
from ..domain.status import LIVE_SUBMISSION_STATES, SubmissionState
from ..importing import forget_import, journal
from ..importing.importer import journal_connection
from ..qt.types import Ticket, TicketState
from ..store.bridge import BridgeStore, SubmissionRow
from ..store.catalog import Catalog
from ..store.db import is_busy
from ..store.mend import MendStore
from .actions import ActionError
from .fetching import mark_fetching
from .locks import KeyedLocks
from .requests import RequestStatusUpdater
from .tracker import TicketTracker

log = structlog.get_logger(__name__)

_ENDED = (SubmissionState.COMPLETED, SubmissionState.FAILED)


@dataclass(frozen=True)
class RescanResult:
    submission: SubmissionRow
    tracks: list[str]                 # the tracks looked for again
    outcome: dict[str, Any] | None    # the import's {imported, failed, summary}


class Rescans:
    def __init__(self, store: BridgeStore, catalog: Catalog, statuses: RequestStatusUpdater, locks: KeyedLocks,
                 tracker: TicketTracker) -> None:
        self.store = store
        self.mend = MendStore(store)
        self.catalog = catalog
        self.statuses = statuses
        self.locks = locks
        self.tracker = tracker

    async def rescan(self, sub: SubmissionRow) -> RescanResult:
        wanted = await self.prepare(sub)
        try:
            await self.tracker.apply(sub.id, Ticket(id=sub.ticket_id or sub.id,
                                                    state=TicketState(type="completed"), dest_path=""))
        except Exception as err:
            if not is_busy(err):
                raise
            # Journalled and marked importing: the reconciler resumes it once the catalog is free.
            raise ActionError("the catalog is locked; the re-scan goes on by itself once it is free",
                              status=503) from err
        # Requests asking for these tracks through other downloads (a force-search's
        # replacement, say) are told too, not only the ones this download serves.
        await self.statuses.refresh(await self.mend.requests_waiting_for(wanted))
        async with journal_connection(self.tracker.import_db) as conn:
            done = await journal.get_job(conn, sub.id)
        after = await self.store.get_submission(sub.id) or sub
        return RescanResult(after, wanted, done.outcome if done is not None else None)

    async def prepare(self, sub: SubmissionRow) -> list[str]:
        """Put the submission back where QT's `completed` puts it; returns the tracks it looks
        for. From here on it is an import like any other: a crash is resumed by the reconciler."""
        _check(sub)
        folder = Path(sub.local_dir)
        if not await asyncio.to_thread(folder.is_dir):
            raise ActionError(f"the download's folder {folder} is gone (imported and cleaned up, or removed); "
                              "nothing to re-scan", status=410)
        async with self.locks.hold(sub.id):
            current = await self.store.get_submission(sub.id)
            if current is None:
                raise ActionError(f"no download {sub.id}", status=404)
            _check(current)
            wanted = await self._wanted(current)
            if not wanted:
                raise ActionError("nothing to re-scan: every track of the download is available or being "
                                  "fetched by another download")
            async with journal_connection(self.tracker.import_db) as conn:
                job = await journal.get_job(conn, sub.id)
            if job is not None and job.state == "done":
                await forget_import(self.tracker.import_db, sub.id, only_done=True)
            elif job is not None:
                # Resume the interrupted import: it decides the tracks it planned, no others.
                wanted = [t for t in wanted if t in job.labels]
            if not await self.mend.reopen_for_import(sub.id, wanted):
                raise ActionError("the download changed while starting the re-scan; try again")
            await mark_fetching(self.catalog, wanted)
        log.info("download.rescan", submission_id=sub.id, ticket_id=sub.ticket_id, tracks=len(wanted),
                 source_dir=str(folder))
        return wanted

    async def _wanted(self, sub: SubmissionRow) -> list[str]:
        """Tracks the download did not import, still missing, and fetched by nobody else."""
        tracks = [t.track_id for t in await self.store.submission_tracks(sub.id) if t.outcome != "imported"]
        metas = await self.catalog.get_tracks(tracks)
        elsewhere = await self.store.live_tracks(tracks)
        return [t for t in tracks if t in metas and metas[t].availability is not Availability.AVAILABLE
                and t not in elsewhere]



def _check(sub: SubmissionRow) -> None:
    if sub.state is SubmissionState.IMPORTING:
        raise ActionError("the download is being imported right now; re-scan once it has finished")
    if sub.state in LIVE_SUBMISSION_STATES:
        raise ActionError("the download is still live in Quentin Torrentino; re-scan once it has completed")
    if sub.state not in _ENDED or sub.qt_state != "completed":
        raise ActionError(f"Quentin Torrentino did not complete this download ({sub.state.value}, "
                          f"{sub.qt_state or 'never sent'}): there is no download to re-scan; search again instead")

"""How a download's files matched its tracks: the table the CLI's dry run prints, per ticket.

The import journal keeps the plan's report of every import (importing/plan.py to_json); a
download not imported yet gets a dry run of its folder (planning only: nothing moves, and
files already checked are not read again).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiosqlite

from ..config import MediaSettings
from ..domain.status import LIVE_SUBMISSION_STATES
from ..importing import journal, plan_import
from ..importing.checks import FileChecks
from ..importing.errors import ImportSourceError
from ..importing.importer import journal_connection
from ..importing.plan import track_label
from ..store.bridge import BridgeStore, SubmissionRow
from ..store.catalog import Catalog
from .actions import ActionError


async def match_report(sub: SubmissionRow, *, store: BridgeStore, catalog: Catalog, import_db: aiosqlite.Connection,
                       media: MediaSettings, checks: FileChecks | None) -> dict[str, Any] | None:
    """The journalled report of the download's import, else a dry run of its folder; None
    when there is neither (nothing planned, and no folder)."""
    async with journal_connection(import_db) as conn:
        job = await journal.get_job(conn, sub.id)
    if job is not None:
        return {"source": "import", "import_state": job.state, "source_dir": job.source_dir,
                "labels": job.labels, "failed": job.failed, "report": job.report or {},
                "outcome": job.outcome, "finished_at": job.finished_at}
    folder = Path(sub.local_dir)
    if not await asyncio.to_thread(folder.is_dir):
        return None
    rows = await store.submission_tracks(sub.id)
    live = sub.state in LIVE_SUBMISSION_STATES
    wanted = [t.track_id for t in rows if (t.active if live else t.outcome != "imported")] or [
        t.track_id for t in rows]
    album = await catalog.get_album(sub.album_id)
    metas = await catalog.get_tracks(wanted)
    tracks = [metas[t] for t in wanted if t in metas]
    if album is None or not tracks:
        return None
    album_tracks = await catalog.get_album_tracks(album.id)
    try:
        plan = await asyncio.to_thread(plan_import, folder, album, tracks, media, album_tracks=album_tracks,
                                       checks=checks)
    except ImportSourceError as err:
        raise ActionError(f"cannot read the download's folder: {err}") from err
    return {"source": "dry_run", "import_state": None, "source_dir": str(plan.source_dir),
            "labels": {t.id: track_label(t) for t in plan.tracks}, "failed": plan.failed,
            "report": plan.to_json(), "outcome": None, "finished_at": None}

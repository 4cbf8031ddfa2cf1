"""What one album's download covers, beyond the tracks its ticket asked for.

A torrent almost always holds the whole album. So a completed download is imported for:
- the tracks its ticket asked for (a file missing or bad fails them, as always);
- tracks of the album that joined it after the ticket was sent (requests that came while
  it ran): imported when the download holds them, else given a ticket of their own;
- with `[media] fill_album`, every other track of the album that is not available and not
  on its way elsewhere: imported when the download holds a good file, else left as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import Settings
from ..domain.models import Availability, TrackMeta
from ..importing import ImportJob
from ..store.bridge import BridgeStore, NewSubmission, SubmissionRow
from ..store.catalog import Catalog
from .intake import new_submission


class LeftCatalog(Exception):
    """The album, or every track of a completed submission, is no longer in the catalog."""


class AlbumDownloads:
    def __init__(self, settings: Settings, store: BridgeStore, catalog: Catalog) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog

    async def jobs_for(self, subs: Sequence[SubmissionRow]) -> tuple[list[ImportJob], dict[str, Any]]:
        """The import jobs of these submissions (their live tracks as the catalog has them
        now, plus what the album may bring), and the submissions with nothing left to import."""
        tracks = await self.store.active_tracks_of([s.id for s in subs])
        album_ids = sorted({s.album_id for s in subs})
        albums = await self.catalog.get_albums(album_ids)
        album_tracks = await self.catalog.get_albums_tracks(album_ids)
        extra = await self._fill(subs, tracks, album_tracks) if self.settings.media.fill_album else {}
        jobs: list[ImportJob] = []
        gone: dict[str, Any] = {}
        for sub in subs:
            album = albums.get(sub.album_id)
            metas = {t.id: t for t in album_tracks.get(sub.album_id, [])}
            live = [t for t in tracks[sub.id] if t.track_id in metas]
            if album is None or not live:
                gone[sub.id] = LeftCatalog("import failed: the album or its tracks left the catalog")
                continue
            wanted = [metas[t.track_id] for t in live] + extra.get(sub.id, [])
            optional = frozenset(t.track_id for t in live if t.joined) | {t.id for t in extra.get(sub.id, [])}
            jobs.append(ImportJob(key=sub.id, album=album, tracks=wanted, source_dir=Path(sub.local_dir),
                                  optional=optional))
        return jobs, gone

    async def _fill(self, subs: Sequence[SubmissionRow], tracks: dict[str, list[Any]],
                    album_tracks: dict[str, list[TrackMeta]]) -> dict[str, list[TrackMeta]]:
        """Per submission: the album's other tracks that are neither available nor on their way."""
        candidates: dict[str, list[TrackMeta]] = {}
        for sub in subs:
            own = {t.track_id for t in tracks[sub.id]}
            candidates[sub.id] = [t for t in album_tracks.get(sub.album_id, [])
                                  if t.id not in own and t.availability is not Availability.AVAILABLE]
        ids = [t.id for ts in candidates.values() for t in ts]
        busy = await self.store.live_tracks(ids) if ids else {}
        return {sid: [t for t in ts if t.id not in busy] for sid, ts in candidates.items()}

    async def follow_up(self, sub: SubmissionRow, track_ids: Sequence[str]) -> NewSubmission | None:
        """A ticket of their own for tracks that waited on `sub` and that its download did not
        bring (None when none of them still needs one)."""
        if not track_ids:
            return None
        metas = await self.catalog.get_tracks(track_ids)
        wanted = sorted((metas[t] for t in track_ids if t in metas
                         and metas[t].availability is not Availability.AVAILABLE),
                        key=lambda t: (t.disc_number, t.track_number, t.id))
        album = await self.catalog.get_album(sub.album_id)
        if not wanted or album is None:
            return None
        return new_submission(self.settings.media, self.settings.torrentino.ticket, album, wanted, sub.priority)

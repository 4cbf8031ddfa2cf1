"""Startup repair: make the catalog agree with the bridge's own records after a crash.

The bridge writes its database and the catalog in separate transactions, ordered so that
each gap is repairable from the bridge's rows:
- planned but the catalog not yet `fetching`: live tracks are marked fetching here;
- catalog `fetching` with no live submission (ended, or never ours): set to the track's
  last outcome, or fetch_error when nothing explains it, so no track stays stuck.
"""

from __future__ import annotations

import structlog

from ..domain.models import Availability, TrackChange
from ..store.bridge import BridgeStore
from ..store.catalog import Catalog
from .requests import RequestStatusUpdater

log = structlog.get_logger(__name__)

STALE_REASON = "stale fetching state: no download in progress"


async def repair(store: BridgeStore, catalog: Catalog, statuses: RequestStatusUpdater) -> dict[str, int]:
    live = {track for _, track in await store.live_submission_tracks()}
    counts = {"marked_fetching": 0, "unstuck": 0, "requests": 0}
    if catalog.stores_transient_states:
        metas = await catalog.get_tracks(sorted(live))
        to_fetching = [
            TrackChange(t, Availability.FETCHING) for t, m in metas.items()
            if m.availability in (Availability.UNAVAILABLE, Availability.FETCH_ERROR)
        ]
        await catalog.apply(to_fetching)
        counts["marked_fetching"] = len(to_fetching)

        stuck = [t for t in await catalog.tracks_in_state(Availability.FETCHING) if t not in live]
        outcomes = await store.latest_track_outcomes(stuck)
        changes = []
        for track_id in stuck:
            last = outcomes.get(track_id)
            if last is not None and last.outcome == "released":
                changes.append(TrackChange(track_id, Availability.UNAVAILABLE))
            elif last is not None and last.outcome == "imported" and last.audio_uri:
                changes.append(TrackChange(track_id, Availability.AVAILABLE, audio_uri=last.audio_uri))
            else:
                changes.append(TrackChange(track_id, Availability.FETCH_ERROR))
        await catalog.apply(changes)
        counts["unstuck"] = len(changes)
        if changes:
            log.warning("repair.unstuck_tracks", count=len(changes), reason=STALE_REASON)
    for request in await store.open_requests():
        await statuses.refresh_one(request.id)
        counts["requests"] += 1
    log.info("repair.done", **counts)
    return counts

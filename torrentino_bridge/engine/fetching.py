"""Tracks that a download takes on again become `fetching` (where the state machine allows)."""

from __future__ import annotations

from collections.abc import Sequence

from ..domain.availability import can_transition
from ..domain.models import Availability, TrackChange
from ..store.catalog import Catalog


async def mark_fetching(catalog: Catalog, track_ids: Sequence[str]) -> None:
    """One catalog transaction; tracks already fetching, or that may not fetch, are left alone."""
    metas = await catalog.get_tracks(track_ids)
    await catalog.apply([
        TrackChange(t, Availability.FETCHING) for t, m in metas.items()
        if m.availability is not Availability.FETCHING and can_transition(m.availability, Availability.FETCHING)
    ])

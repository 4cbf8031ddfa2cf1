"""Coalescing (pure): which requested tracks need a new ticket, join a live one, or are done.

A torrent almost always holds the whole album, so a track of an album that already has a
download on its way waits for that download (it is *joined* to it) instead of getting a
ticket of its own; only if the download does not bring it does it get one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .models import Availability, TrackMeta


@dataclass(slots=True)
class RequestPlan:
    satisfied: list[str] = field(default_factory=list)          # already available
    attach: dict[str, str] = field(default_factory=dict)        # track id -> live submission id
    join: dict[str, str] = field(default_factory=dict)          # track id -> its album's live submission
    new_batches: dict[str, list[TrackMeta]] = field(default_factory=dict)  # album id -> tracks

    @property
    def nothing_to_fetch(self) -> bool:
        return not self.attach and not self.join and not self.new_batches


def plan_request(tracks: Sequence[TrackMeta], live: Mapping[str, str],
                 album_live: Mapping[str, str] | None = None) -> RequestPlan:
    """One new ticket per album for tracks that are neither available nor on their way.

    `live` maps track id -> the live submission it is fetched under; `album_live` maps album
    id -> a live submission of that album still before its import, which other tracks of the
    album join. A catalog state of `fetching` without a live submission is stale and gets a
    new ticket.
    """
    plan = RequestPlan()
    albums = album_live or {}
    for track in tracks:
        if track.availability is Availability.AVAILABLE:
            plan.satisfied.append(track.id)
        elif track.id in live:
            plan.attach[track.id] = live[track.id]
        elif track.album_id in albums:
            plan.join[track.id] = albums[track.album_id]
        else:
            plan.new_batches.setdefault(track.album_id, []).append(track)
    for batch in plan.new_batches.values():
        batch.sort(key=lambda t: (t.disc_number, t.track_number, t.id))
    return plan

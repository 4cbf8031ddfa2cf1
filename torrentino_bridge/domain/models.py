"""Catalog rows as the bridge sees them, independent of the catalog's layout."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Availability(StrEnum):
    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"
    FETCHING = "fetching"
    FETCH_ERROR = "fetch_error"


@dataclass(frozen=True, slots=True)
class AlbumMeta:
    id: str
    name: str
    artist: str | None
    year: int | None


@dataclass(frozen=True, slots=True)
class TrackMeta:
    id: str
    album_id: str
    name: str
    disc_number: int
    track_number: int
    duration_ms: int | None
    audio_uri: str | None
    availability: Availability
    artist: str | None = None


@dataclass(frozen=True, slots=True)
class TrackChange:
    """One track's new availability; audio_uri only with AVAILABLE.

    clear_audio drops audio_uri (scan-audio's job); other transitions leave it alone.
    """

    track_id: str
    state: Availability
    audio_uri: str | None = None
    clear_audio: bool = False

"""Building Quentin Torrentino CreateTicket bodies from catalog metadata (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..config import TicketDefaults
from .models import AlbumMeta, TrackMeta

UNKNOWN_ARTIST = "Unknown Artist"


def describe(album: AlbumMeta) -> str:
    """`Artist - Album (Year)`, the form a torrent search wants."""
    text = f"{album.artist or UNKNOWN_ARTIST} - {album.name}"
    return f"{text} ({album.year})" if album.year else text


def clamp_priority(value: int) -> int:
    return max(0, min(65535, int(value)))


def expected_track(track: TrackMeta) -> dict[str, Any]:
    item: dict[str, Any] = {
        "number": track.track_number,
        "title": track.name,
        "disc_number": track.disc_number,
    }
    if track.duration_ms:
        item["duration_secs"] = max(1, round(track.duration_ms / 1000))
    return item


def output_constraints(defaults: TicketDefaults) -> dict[str, Any]:
    if defaults.output_format == "original":
        return {"type": "original"}
    out: dict[str, Any] = {"type": "audio", "format": defaults.output_format}
    if defaults.output_bitrate_kbps and defaults.output_format not in ("flac", "wav", "alac"):
        out["bitrate_kbps"] = defaults.output_bitrate_kbps
    return out


def search_constraints(defaults: TicketDefaults) -> dict[str, Any]:
    audio: dict[str, Any] = {
        "preferred_formats": list(defaults.preferred_formats),
        "avoid_compilations": defaults.avoid_compilations,
        "avoid_live": defaults.avoid_live,
    }
    if defaults.min_bitrate_kbps:
        audio["min_bitrate_kbps"] = defaults.min_bitrate_kbps
    return {"audio": audio}


def build_ticket(
    album: AlbumMeta,
    tracks: Sequence[TrackMeta],
    defaults: TicketDefaults,
    *,
    dest_path: str,
    priority: int,
) -> dict[str, Any]:
    """The CreateTicket body for one album batch: only the requested tracks are expected."""
    if not tracks:
        raise ValueError("a ticket needs at least one track")
    ordered = sorted(tracks, key=lambda t: (t.disc_number, t.track_number, t.id))
    return {
        "priority": clamp_priority(priority),
        "query_context": {
            "tags": list(defaults.tags),
            "description": describe(album),
            "expected": {
                "type": "album",
                "artist": album.artist or UNKNOWN_ARTIST,
                "title": album.name,
                "tracks": [expected_track(t) for t in ordered],
            },
            "search_constraints": search_constraints(defaults),
        },
        "dest_path": dest_path,
        "output_constraints": output_constraints(defaults),
    }

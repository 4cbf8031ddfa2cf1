"""Which files a completed ticket leaves in its dest_path, and writing them.

Named the way torrents name them: "01 - Title.ogg" for one disc, "CD2/01 - Title.ogg"
for several, "Artist - Title.ogg" for a single track; plus cover.jpg and an .nfo.
Planning is pure; writing encodes real audio (call it from a thread).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audio import FORMAT_TO_KIND, AudioKind, AudioTags, write_audio

DEFAULT_DURATION_SECS = 30.0
_EXT: dict[AudioKind, str] = {"ogg": "ogg", "flac": "flac", "mp3": "mp3"}
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


@dataclass(frozen=True)
class PlannedFile:
    relpath: str
    duration_secs: float
    tags: AudioTags
    seed: int


def audio_kind_for(ticket: dict[str, Any], override: AudioKind | None) -> AudioKind:
    if override is not None:
        return override
    constraints = ticket.get("output_constraints") or {}
    if constraints.get("type") == "original":
        return FORMAT_TO_KIND["original"]
    return FORMAT_TO_KIND.get(str(constraints.get("format")), "ogg")


def safe_name(text: str) -> str:
    cleaned = _UNSAFE.sub("_", text).strip().strip(".")
    return cleaned[:120] or "untitled"


def duration_of(track: dict[str, Any]) -> float:
    secs = track.get("duration_secs")
    if isinstance(secs, int | float) and not isinstance(secs, bool) and secs > 0:
        return float(secs)
    ms = track.get("duration_ms")
    if isinstance(ms, int | float) and not isinstance(ms, bool) and ms > 0:
        return ms / 1000.0
    return DEFAULT_DURATION_SECS


def plan_files(ticket: dict[str, Any], kind: AudioKind,
               release: list[dict[str, Any]] | None = None) -> list[PlannedFile]:
    """The files a ticket's download places: its expected tracks, or, when the torrent found
    holds a whole release (`release`: tracks as in `expected.tracks`), all of that release."""
    ext = _EXT[kind]
    context = ticket.get("query_context") or {}
    expected = context.get("expected") or {}
    artist = expected.get("artist") if isinstance(expected.get("artist"), str) else None
    if expected.get("type") == "track":
        title = str(expected.get("title") or context.get("description") or "Track")
        name = f"{safe_name(artist)} - {safe_name(title)}" if artist else safe_name(title)
        tags = AudioTags(title=title, artist=artist, track_number=1)
        return [PlannedFile(f"{name}.{ext}", duration_of(expected), tags, 0)]
    tracks = [t for t in (release or expected.get("tracks") or []) if isinstance(t, dict)]
    if not tracks:
        tracks = _placeholder_tracks(context)
    album = expected.get("title") if isinstance(expected.get("title"), str) else None
    discs = sorted({_disc(t) for t in tracks})
    per_disc = {d: sum(1 for t in tracks if _disc(t) == d) for d in discs}
    planned: list[PlannedFile] = []
    used: set[str] = set()
    for i, track in enumerate(tracks):
        disc = _disc(track)
        number = track.get("number") if isinstance(track.get("number"), int) else i + 1
        title = str(track.get("title") or f"Track {number:02d}")
        stem = f"{number:02d} - {safe_name(title)}"
        relpath = f"CD{disc}/{stem}.{ext}" if len(discs) > 1 else f"{stem}.{ext}"
        if relpath in used:   # two tracks with one name: keep both files
            relpath = relpath.replace(f".{ext}", f" ({i + 1}).{ext}")
        used.add(relpath)
        tags = AudioTags(title=title, artist=artist, album=album, track_number=number,
                         disc_number=disc, track_total=per_disc[disc])
        planned.append(PlannedFile(relpath, duration_of(track), tags, i))
    return planned


def _disc(track: dict[str, Any]) -> int:
    disc = track.get("disc_number")
    return disc if isinstance(disc, int) and not isinstance(disc, bool) and disc > 0 else 1


def _placeholder_tracks(context: dict[str, Any]) -> list[dict[str, Any]]:
    reference = context.get("catalog_reference") or {}
    count = reference.get("track_count")
    if isinstance(count, int) and not isinstance(count, bool) and 0 < count <= 100:
        return [{"number": n, "title": f"Track {n:02d}"} for n in range(1, count + 1)]
    return [{"number": 1, "title": str(context.get("description") or "Track 01")}]


def write_planned(dest: Path, planned: PlannedFile, kind: AudioKind, sample_rate: int) -> int:
    """Encode one planned file into dest; returns its size in bytes."""
    path = write_audio(dest / planned.relpath, kind=kind, duration_secs=planned.duration_secs,
                       tags=planned.tags, sample_rate=sample_rate, seed=planned.seed)
    return path.stat().st_size


def corrupt(path: Path) -> None:
    """Cut a file short, the way an interrupted copy leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: max(64, len(data) * 2 // 5)])


def write_extras(dest: Path, ticket: dict[str, Any], planned: list[PlannedFile]) -> None:
    """The clutter a release torrent carries: cover art and an .nfo."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "cover.jpg").write_bytes(_TINY_JPEG)
    context = ticket.get("query_context") or {}
    lines = [str(context.get("description") or "Release"), "", "Tracklist:"]
    lines += [f"  {p.relpath}  ({int(p.duration_secs) // 60}:{int(p.duration_secs) % 60:02d})"
              for p in planned]
    name = safe_name(str(context.get("description") or "release"))
    (dest / f"{name}.nfo").write_text("\n".join(lines) + "\n", encoding="utf-8")


# A valid 8x8 grey baseline JPEG: one DC and one AC Huffman code ("0"), one block.
_TINY_JPEG = bytes.fromhex(
    "ffd8"
    "ffe000104a46494600010100000100010000"
    "ffdb004300" + "01" * 64 +
    "ffc0000b080008000801011100"
    "ffc4001400" + "01" + "00" * 15 + "00"
    "ffc4001410" + "01" + "00" * 15 + "00"
    "ffda0008010100003f00"
    "3f"
    "ffd9"
)

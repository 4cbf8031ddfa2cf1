"""What a file's path says about its track (pure).

Torrents number tracks in many ways: `01 - Title`, `1-01 Title`, `CD2/03. Title`,
`Disc 1/Track 05`, `Disk B/...`, `101 Title`, `A1 Title` (vinyl sides), `[01] Title`,
`Artist - 01 - Title`, scene style `01-artist_name-song_title-grp`. This module turns one
relative path into NameInfo: the disc (from the name or a folder), the number, the vinyl
side, the text that may be the title, and that text's dash-separated parts. Interpretation
against the album (is `101` disc 1 track 1? which part is the artist's name, which the
release group's tag?) is left to matching, which knows the album.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

_WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                 "a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}

_FOLDER_DISC = re.compile(
    r"(?:^|[\s\[(._-])(?:cd|disc|disk|disque|dvd)\s*[-_.#]?\s*(\d{1,2}|one|two|three|four|five|six|[a-f])"
    r"(?=$|[\s\])._,-])",
    re.I,
)
_SEP = r"(?=$|[\s._)\]-])"
_DISC_WORD_TRACK = re.compile(rf"^(?:cd|disc|disk)\s*(\d{{1,2}})\s*[-_. ]\s*(\d{{1,3}}){_SEP}", re.I)
_DISC_TRACK = re.compile(rf"^(\d{{1,2}})[-.](\d{{1,3}}){_SEP}")
_SIDE_TRACK = re.compile(rf"^([a-l])(\d{{1,2}}){_SEP}", re.I)
_TRACK_WORD = re.compile(rf"^(?:track|trk|tr|audiotrack)\s*[-_.#]?\s*(\d{{1,3}}){_SEP}", re.I)
_LEADING = re.compile(rf"^[\[(]?(\d{{1,3}})[\])]?{_SEP}")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
_LEFTOVER_SEPS = re.compile(r"^[\s._\-)\]:]+|[\s._\-(\[]+$")
_PART_SEP = re.compile(r"\s*[-–]\s*")


@dataclass(frozen=True, slots=True)
class NameInfo:
    """Numbering and text found in a path. `number` is as written: per disc, album-wide,
    or (with `packed`) a three-digit disc+track like 101."""

    disc: int | None = None           # from the name (1-01, CD1-01) or a folder (CD2/, Disc 1/)
    number: int | None = None
    side: str | None = None           # vinyl side letter, upper case
    packed: bool = False              # a three-digit number that may be disc*100 + track
    titles: tuple[str, ...] = ()      # candidate title texts, best guess first
    disc_source: str | None = None    # "name" or "folder"
    # The text after the numbering (or the whole stem) split at dashes: "the examples",
    # "neon lights", "grp". Matching drops the parts it can explain (artist, album, tags).
    parts: tuple[str, ...] = ()


def strip_extension(name: str) -> str:
    return _EXTENSION.sub("", name)


def folder_disc(folders: Sequence[str]) -> int | None:
    """The disc a folder names, nearest folder first: `CD2`, `Disc 1 - Bonus`, `[Disk 3]`."""
    for folder in reversed(folders):
        m = _FOLDER_DISC.search(folder)
        if m:
            value = m.group(1).lower()
            return _WORD_NUMBERS.get(value) or int(value)
    return None


def _clean(text: str) -> str:
    return _LEFTOVER_SEPS.sub("", text).strip()


def _number_prefix(segment: str) -> tuple[dict[str, object], str] | None:
    """Numbering at the start of one name segment, and the rest of the segment."""
    for pattern, kind in ((_DISC_WORD_TRACK, "disc"), (_DISC_TRACK, "disc"), (_TRACK_WORD, "track"),
                          (_SIDE_TRACK, "side"), (_LEADING, "plain")):
        m = pattern.match(segment)
        if not m:
            continue
        rest = segment[m.end():]
        if kind == "disc":
            return {"disc": int(m.group(1)), "number": int(m.group(2))}, rest
        if kind == "side":
            return {"side": m.group(1).upper(), "number": int(m.group(2))}, rest
        digits = m.group(1)
        number = int(digits)
        packed = kind == "plain" and len(digits) == 3
        return {"number": number, "packed": packed}, rest
    return None


def parse_name(rel_path: str) -> NameInfo:
    """Parse one path relative to the ticket's directory (POSIX separators)."""
    path = PurePosixPath(rel_path)
    folders = list(path.parts[:-1])
    stem = strip_extension(path.name)
    if " " not in stem and "_" in stem:
        stem = stem.replace("_", " ")
    stem = " ".join(stem.split())

    found: dict[str, object] = {}
    titles: list[str] = []
    text = stem
    # The whole stem is a title candidate too, unless it is only numbering: "911 Is a Joke"
    # and "7 Seconds" start with digits that are part of the title.
    whole_is_title = True
    parsed = _number_prefix(stem)
    if parsed is not None:
        found, rest = parsed
        text = _clean(rest)
        if _clean(rest):
            titles.append(_clean(rest))
        whole_is_title = bool(re.match(r"^ [^\W\d_]", rest)) and not ({"side", "disc"} & found.keys())
    else:
        # "Artist - 01 - Title", "Artist - Album - A1 - Title": numbering in a middle segment.
        segments = [s.strip() for s in re.split(r"\s[-–]\s", stem)]
        if len(segments) == 1:
            segments = [s.strip() for s in stem.split("-")]   # scene style "artist-album-01-title"
        for index, segment in enumerate(segments[1:], start=1):
            inner = _number_prefix(segment)
            if inner is not None and not _clean(inner[1]):
                found = inner[0]
                tail = " - ".join(segments[index + 1:])
                text = tail
                if tail:
                    titles.append(tail)
                break
        if not found and len(segments) > 1:
            titles.append(segments[-1])
    if len(titles) == 1 and "-" in titles[0]:
        # "01 - Artist - Title", scene style "01-artist-title": the last part may be the title.
        last = re.split(r"\s*[-–]\s*", titles[0])[-1].strip()
        if last and last != titles[0]:
            titles.append(last)
    if whole_is_title and stem and stem not in titles:
        titles.append(stem)

    disc = found.get("disc")
    disc_source = "name" if disc is not None else None
    if disc is None:
        disc = folder_disc(folders)
        disc_source = "folder" if disc is not None else None
    return NameInfo(
        disc=disc,  # type: ignore[arg-type]
        number=found.get("number"),  # type: ignore[arg-type]
        side=found.get("side"),  # type: ignore[arg-type]
        packed=bool(found.get("packed", False)),
        titles=tuple(t for t in titles if t),
        disc_source=disc_source,
        parts=tuple(p for p in (_clean(x) for x in _PART_SEP.split(text)) if p) if found or text else (),
    )


def side_positions(infos: Sequence[NameInfo]) -> dict[str, int]:
    """Album-wide offset of each vinyl side: A1..A5 then B1 is position 6.

    A side's length is the highest number seen on it, so a missing file in the middle of a
    side does not shift the sides after it.
    """
    longest: dict[str, int] = {}
    for info in infos:
        if info.side and info.number:
            longest[info.side] = max(longest.get(info.side, 0), info.number)
    offsets: dict[str, int] = {}
    running = 0
    for side in sorted(longest):
        offsets[side] = running
        running += longest[side]
    return offsets

"""CUE sheets (pure): the bytes of a .cue file -> the tracks it cuts its audio files into.

What real sheets hold, and what this reads of it: `FILE "name" TYPE` (one or several;
names may use backslashes), `TRACK nn AUDIO`, `TITLE`, `PERFORMER` (for the album before
the first TRACK, for a track after it), `INDEX 01 mm:ss:ff` (where the track starts; 75
frames a second), `INDEX 00` (its pregap), `REM DISCNUMBER n`. Everything else (REM
comments, FLAGS, ISRC, CATALOG, PREGAP/POSTGAP silence that is not in the file, sub-indexes
02-99) is skipped. Quoting is loose in the wild (unquoted titles with spaces, a missing
closing quote), and so is the encoding: UTF-8 with or without a byte order mark, UTF-16
with one, or a Windows code page. Which code page cannot be told from the bytes alone, so
`readings` gives every plausible one and the caller picks (plan: the reading whose titles
look most like the album's).

Pregap convention: "gaps appended". Track N runs from its INDEX 01 to the INDEX 01 of the
next track in the same file (the next track's INDEX 00 pregap is the end of track N), or
to the end of the file. Audio before the first INDEX 01 of a file (a hidden first track
or track 1's pregap) belongs to no track and is left out.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from itertools import pairwise

FRAMES_PER_SECOND = 75
MAX_SHEET_BYTES = 256 << 10       # real sheets are a few KiB; anything bigger is not one
MAX_TRACKS = 999
_TIME = re.compile(r"^(\d{1,4}):([0-5]?\d):([0-6]?\d|7[0-4])$")
# Windows code pages that sheets are written in, commonest first: Western, Cyrillic,
# Japanese, Chinese (simplified, traditional), Korean, Central European. Latin-1 decodes
# anything, so it comes last.
_CODE_PAGES = ("cp1252", "cp1251", "shift_jis", "gb18030", "big5", "euc_kr", "cp1250", "latin-1")


class CueError(ValueError):
    """The text is not a usable CUE sheet; the message says why."""


@dataclass(frozen=True, slots=True)
class CueFile:
    name: str                     # as written, with "/" separators
    kind: str | None              # WAVE, MP3, AIFF, BINARY... (None when not given)


@dataclass(frozen=True, slots=True)
class CueTrack:
    number: int
    file: int                     # index into CueSheet.files
    start: int                    # INDEX 01, in CD frames from the start of its file
    title: str | None = None
    performer: str | None = None
    pregap: int | None = None     # INDEX 00, when in the same file as INDEX 01


@dataclass(frozen=True)
class CueSheet:
    files: tuple[CueFile, ...]
    tracks: tuple[CueTrack, ...]
    title: str | None = None      # the album
    performer: str | None = None
    disc: int | None = None       # REM DISCNUMBER
    encoding: str = "utf-8"

    def tracks_in(self, file: int) -> list[CueTrack]:
        return [t for t in self.tracks if t.file == file]


def frames_text(frames: int) -> str:
    """CD frames as the sheet writes them: mm:ss:ff."""
    minutes, rest = divmod(frames, 60 * FRAMES_PER_SECOND)
    seconds, frame = divmod(rest, FRAMES_PER_SECOND)
    return f"{minutes:02d}:{seconds:02d}:{frame:02d}"


def to_samples(frames: int, rate: int) -> int:
    """The first sample of a CD frame at `rate` (exact at 44.1 kHz: 588 a frame)."""
    return (frames * rate * 2 + FRAMES_PER_SECOND) // (2 * FRAMES_PER_SECOND)


def readings(raw: bytes) -> list[tuple[str, str]]:
    """(encoding, text) for every encoding the sheet may be in, likeliest first; one when
    the bytes say which (a byte order mark, or valid UTF-8)."""
    if raw.startswith(codecs.BOM_UTF8):
        return [("utf-8", raw[len(codecs.BOM_UTF8):].decode("utf-8", "replace"))]
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return [("utf-16", raw.decode("utf-16", "replace"))]
    try:
        return [("utf-8", raw.decode("utf-8"))]
    except UnicodeDecodeError:
        pass
    found: list[tuple[str, str]] = []
    for encoding in _CODE_PAGES:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if all(text != seen for _, seen in found):
            found.append((encoding, text))
    return found


def _unquote(text: str) -> str:
    text = text.strip()
    if text.startswith('"'):
        end = text.rfind('"')
        return text[1:end] if end > 0 else text[1:]
    return text


def _split_file(args: str) -> tuple[str, str | None]:
    """`"My Album.flac" WAVE` / `My Album.flac WAVE` / `album.wav` -> (name, type)."""
    args = args.strip()
    if args.startswith('"'):
        end = args.find('"', 1)
        if end < 0:
            return args[1:].strip(), None
        kind = args[end + 1:].strip()
        return args[1:end], kind.upper() or None
    parts = args.rsplit(None, 1)
    if len(parts) == 2 and parts[1].isalpha() and parts[1].isupper():
        return parts[0], parts[1]
    return args, None


def parse_time(text: str) -> int:
    """mm:ss:ff -> CD frames."""
    m = _TIME.match(text.strip())
    if not m:
        raise CueError(f"bad time {text.strip()!r} (mm:ss:ff expected)")
    minutes, seconds, frames = (int(g) for g in m.groups())
    return (minutes * 60 + seconds) * FRAMES_PER_SECOND + frames


@dataclass
class _Open:
    number: int
    file: int
    title: str | None = None
    performer: str | None = None
    index0: int | None = None
    index1: int | None = None


def parse(text: str, *, encoding: str = "utf-8") -> CueSheet:
    """Parse a sheet's text; CueError when it describes no track it could cut."""
    files: list[CueFile] = []
    tracks: list[CueTrack] = []
    album: dict[str, str | None] = {"title": None, "performer": None}
    disc: int | None = None
    current: _Open | None = None

    def close() -> None:
        if current is None:
            return
        if current.index1 is None:
            raise CueError(f"track {current.number} has no INDEX 01")
        pregap = current.index0 if current.index0 is not None and current.index0 <= current.index1 else None
        tracks.append(CueTrack(current.number, current.file, current.index1, current.title,
                               current.performer, pregap))

    for lineno, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        words = line.strip().split(None, 1)
        if not words:
            continue
        keyword, args = words[0].upper(), (words[1] if len(words) > 1 else "")
        if keyword == "FILE":
            if current is not None and current.index1 is not None:
                close()
                current = None
            # else: a track whose INDEX 01 is in this next file stays open (see INDEX below)
            name, kind = _split_file(args)
            if not name:
                raise CueError(f"line {lineno}: FILE without a name")
            files.append(CueFile(name.replace("\\", "/"), kind))
        elif keyword == "TRACK":
            close()
            if not files:
                raise CueError(f"line {lineno}: TRACK before any FILE")
            number_text = args.split()[0] if args.split() else ""
            if not number_text.isdigit() or not 0 < int(number_text) <= MAX_TRACKS:
                raise CueError(f"line {lineno}: bad track number {number_text!r}")
            current = _Open(int(number_text), len(files) - 1)
            if len(tracks) >= MAX_TRACKS:
                raise CueError(f"more than {MAX_TRACKS} tracks")
        elif keyword in ("TITLE", "PERFORMER"):
            value = _unquote(args) or None
            if current is None:
                album[keyword.lower()] = value
            elif keyword == "TITLE":
                current.title = value
            else:
                current.performer = value
        elif keyword == "INDEX" and current is not None:
            parts = args.split()
            if len(parts) != 2 or not parts[0].isdigit():
                raise CueError(f"line {lineno}: bad INDEX {args.strip()!r}")
            try:
                at = parse_time(parts[1])
            except CueError as err:
                raise CueError(f"line {lineno}: {err}") from None
            if current.file != len(files) - 1:
                # INDEX 01 in a later FILE than its TRACK line (EAC's "noncompliant" sheets
                # put the next track's pregap at the end of the previous file).
                current.file = len(files) - 1
                current.index0 = None
            if int(parts[0]) == 0:
                current.index0 = at
            elif int(parts[0]) == 1:
                current.index1 = at
        elif keyword == "REM" and current is None:
            rem = args.split(None, 1)
            if len(rem) == 2 and rem[0].upper() == "DISCNUMBER":
                value = _unquote(rem[1]).split("/")[0].strip()
                disc = int(value) if value.isdigit() and 0 < int(value) < 100 else None
    close()
    if not tracks:
        raise CueError("no tracks")
    numbers = [t.number for t in tracks]
    if len(set(numbers)) != len(numbers):
        raise CueError("a track number appears twice")
    for a, b in pairwise(tracks):
        if a.file == b.file and b.start <= a.start:
            raise CueError(f"track {b.number} starts at {frames_text(b.start)}, "
                           f"not after track {a.number} ({frames_text(a.start)})")
    return CueSheet(tuple(files), tuple(tracks), album["title"], album["performer"], disc, encoding)

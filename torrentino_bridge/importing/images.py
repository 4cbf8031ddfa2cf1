"""Album images and their CUE sheets, at planning time (I/O): sheets in, cut tracks out.

For each `.cue` of the ticket's directory: read it (small, no symlinks), pick the reading
(encoding) whose titles fit the album best, find each image it names among the discovered
audio (by name; case, another audio extension, or the sheet's own stem will do), check the
image (it decodes to its end, the sheet's times fit inside it) and cut it (split.py). The
cut tracks then stand in for the image among the files to match, with what the sheet says
of them (number, title, disc, vinyl side) as their name evidence; the image itself is set
aside with the reason, so it is never matched as a track. A FILE entry holding one track
is an ordinary track file and is left to ordinary matching.

A FLAC file no sheet names may carry its sheet inside (a CUESHEET comment, as foobar2000
and CUETools write it, or the FLAC CUESHEET block): it is cut the same way, provided the
sheet fits inside the file (a track file carrying its whole CD's sheet is left alone).

When an image cannot be cut (not there, does not decode, shorter than its sheet), each of
its sheet's tracks becomes a placeholder that cannot be imported but can be matched in
the explaining pass: its catalog track then fails with the reason instead of "missing".
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import mutagen.flac

from .cue import (
    FRAMES_PER_SECOND,
    MAX_SHEET_BYTES,
    CueError,
    CueFile,
    CueSheet,
    CueTrack,
    frames_text,
    parse,
    readings,
    to_samples,
)
from .discovery import AUDIO_EXTENSIONS, AudioFile, Discovery, Rejected, inspect_file
from .names import folder_disc, strip_extension
from .pcm import AbsurdHeader, open_checked
from .split import Span, SplitError, split_image, split_key
from .titles import title_similarity
from .verify import Health, verify_file

if TYPE_CHECKING:
    from .checks import FileChecks, Version

_LOSSY = frozenset({"MP3", "EasyMP3", "OggVorbis", "OggOpus", "MP4", "EasyMP4", "AAC", "ASF", "Musepack"})
_SIDE = re.compile(r"(?:^|[\s_.(\[-])(?:side[\s_.-]*([a-h])|([a-h])[\s_-]?side)(?=$|[\s_.)\]-])", re.I)


@dataclass(frozen=True, slots=True)
class CutInfo:
    """Where a cut track (or the placeholder of one that could not be cut) comes from."""

    sheet: str                  # the .cue, relative to the ticket's directory
    image: str                  # the audio file it cuts
    number: int                 # TRACK nn
    title: str | None
    album: str | None           # the sheet's TITLE
    disc: int | None            # REM DISCNUMBER, or a disc named by the folders or file names
    side: str | None            # a vinyl side named by the image or sheet ("Side B")
    start: int                  # INDEX 01, CD frames into the image
    end: int | None             # the next track's INDEX 01; None: the end of the image

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image, "sheet": self.sheet, "track": self.number,
                "start": frames_text(self.start), "end": frames_text(self.end) if self.end is not None else None}

    def label(self) -> str:
        return f"{self.image} [cue track {self.number:02d}]"


@dataclass
class Prepared:
    """The files to match once images are replaced by their cut tracks."""

    audio: list[AudioFile]
    rejected: list[Rejected]
    health: dict[str, Health] = field(default_factory=dict)    # placeholders: known to fail
    cuts: dict[str, CutInfo] = field(default_factory=dict)     # rel -> origin (cut or placeholder)
    versions: tuple[Version, ...] = ()                          # the cut files as they are now


def prepare(found: Discovery, root: Path, album_titles: Sequence[str],
            checks: FileChecks | None = None) -> Prepared:
    """Cut every image a sheet in `found` describes; blocking (decoding, encoding, fsync)."""
    sheets = sorted((r.rel for r in found.rejected if _is_sheet(r)), key=lambda rel: _sheet_rank(rel, found.audio))
    if not sheets and not any(a.sheet for a in found.audio):
        return Prepared(list(found.audio), list(found.rejected))
    out = Prepared([], [r for r in found.rejected if r.rel not in sheets])
    claimed: dict[str, str] = {}              # image rel -> sheet rel
    for rel in sheets:
        try:
            sheet = _read_sheet(root, rel, album_titles)
        except CueError as err:
            out.rejected.append(Rejected(rel, f"CUE sheet not used: {err}"))
            continue
        entries = [i for i in range(len(sheet.files)) if len(sheet.tracks_in(i)) >= 2]
        if not entries:
            out.rejected.append(Rejected(rel, "CUE sheet: its files hold one track each (matched as they are)"))
            continue
        done: list[str] = []
        for index in entries:
            image = _resolve(rel, sheet.files[index].name, found.audio, alone=len(entries) == 1)
            if image is not None and image.rel in claimed:
                done.append(f"{image.rel} is cut by {claimed[image.rel]}")
                continue
            note = _cut_entry(out, root, rel, sheet, index, image, checks)
            done.append(note)
            if image is not None:
                claimed[image.rel] = rel
                # Never matched as a track itself: it would be far too long, or worse.
                verb = "CUE image: cut by" if note.startswith("cuts ") else f"CUE image not cut ({note}); sheet"
                out.rejected.append(Rejected(image.rel, f"{verb} {rel}"))
        out.rejected.append(Rejected(rel, "CUE sheet: " + "; ".join(done)))
    for image in found.audio:
        if image.rel not in claimed and (embedded := _embedded(image)) is not None:
            claimed[image.rel] = f"{image.rel} (embedded CUE sheet)"
            note = _cut_entry(out, root, claimed[image.rel], embedded, 0, image, checks)
            verb = "CUE image: cut by" if note.startswith("cuts ") else f"CUE image not cut ({note}); sheet:"
            out.rejected.append(Rejected(image.rel, f"{verb} its embedded CUE sheet"))
    out.audio = [a for a in found.audio if a.rel not in claimed] + out.audio
    out.rejected.sort(key=lambda r: r.rel)
    return out


def _embedded(image: AudioFile) -> CueSheet | None:
    """The sheet a FLAC file carries, when it describes 2+ tracks that all start inside it."""
    if not image.sheet or image.container != "FLAC" or not image.duration:
        return None
    try:
        flac = mutagen.flac.FLAC(image.path)
    except Exception:  # mutagen raises many types for damaged files; verification says why
        return None
    rate = flac.info.sample_rate
    sheet: CueSheet | None = None
    text = (flac.tags or {}).get("cuesheet") if flac.tags is not None else None
    if text:
        with contextlib.suppress(CueError):
            parsed = parse(text[0])
            tracks = parsed.tracks_in(0)
            sheet = CueSheet(parsed.files[:1], tuple(tracks), parsed.title, parsed.performer, parsed.disc)
    elif flac.cuesheet is not None and rate:
        tracks = []
        for t in flac.cuesheet.tracks:
            ones = [i.index_offset for i in t.indexes if i.index_number == 1]
            if t.track_number < 100 and t.type == 0 and ones:
                start = (t.start_offset + ones[0]) * FRAMES_PER_SECOND // rate
                tracks.append(CueTrack(t.track_number, 0, start))
        album = flac.tags.get("album", [None])[0] if flac.tags is not None else None
        sheet = CueSheet((CueFile(PurePosixPath(image.rel).name, "WAVE"),), tuple(tracks), album) if tracks else None
    if sheet is None or len(sheet.tracks) < 2:
        return None
    if any(t.start * rate >= flac.info.total_samples * FRAMES_PER_SECOND for t in sheet.tracks):
        return None
    return sheet


def _is_sheet(r: Rejected) -> bool:
    return r.rel.lower().endswith(".cue") and r.reason == "not audio (.cue)"


def _sheet_rank(rel: str, audio: Sequence[AudioFile]) -> tuple[int, str]:
    """Sheets named after an audio file first: of two sheets for one image, that one cuts it."""
    stem = strip_extension(rel).lower()
    return (0 if any(strip_extension(a.rel).lower() == stem for a in audio) else 1, rel)


def _read_sheet(root: Path, rel: str, album_titles: Sequence[str]) -> CueSheet:
    try:
        fd = os.open(root / rel, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as err:
        raise CueError(f"unreadable ({err.strerror or err})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SHEET_BYTES:
            raise CueError(f"not a CUE sheet ({st.st_size} bytes)")
        raw = os.read(fd, MAX_SHEET_BYTES + 1)
    finally:
        os.close(fd)
    parsed: list[CueSheet] = []
    error = CueError("empty")
    for encoding, text in readings(raw):
        try:
            parsed.append(parse(text, encoding=encoding))
        except CueError as err:
            error = err
    if not parsed:
        raise error
    # Code pages cannot be told apart from the bytes; the album's own titles can.
    return max(parsed, key=lambda sheet: _fit(sheet, album_titles))


def _fit(sheet: CueSheet, titles: Sequence[str]) -> float:
    return sum(max((title_similarity(t.title, name) or 0.0 for name in titles), default=0.0)
               for t in sheet.tracks if t.title)


def _resolve(sheet_rel: str, name: str, audio: Sequence[AudioFile], *, alone: bool) -> AudioFile | None:
    """The discovered audio file a FILE line names (inside the ticket's directory only)."""
    folder = PurePosixPath(sheet_rel).parent
    targets = [posixpath.normpath((folder / name).as_posix()),
               # "C:/Rips/Album.wav": a path on the ripper's machine; the name is what counts
               posixpath.normpath((folder / PurePosixPath(name).name).as_posix())]
    for target in dict.fromkeys(t for t in targets if not (t == ".." or t.startswith(("../", "/")))):
        for same in (lambda a, t=target: a.rel == t, lambda a, t=target: a.rel.lower() == t.lower(),
                     # a sheet written for the WAV rip, next to the FLAC it was compressed to
                     lambda a, t=target: strip_extension(a.rel).lower() == strip_extension(t).lower()):
            found = [a for a in audio if same(a)]
            if len(found) == 1:
                return found[0]
    if alone:       # the only image of "Album.cue" is "Album.<any audio extension>"
        stem = strip_extension(sheet_rel).lower()
        found = [a for a in audio if strip_extension(a.rel).lower() == stem
                 and PurePosixPath(a.rel).suffix.lower() in AUDIO_EXTENSIONS]
        if len(found) == 1:
            return found[0]
    return None


def _cut_entry(out: Prepared, root: Path, sheet_rel: str, sheet: CueSheet, index: int, image: AudioFile | None,
               checks: FileChecks | None) -> str:
    """Cut one image into `out`, or add its placeholders; returns what the sheet's report says."""
    tracks = sheet.tracks_in(index)
    name = sheet.files[index].name
    if image is None:
        return _fail(out, root, sheet_rel, sheet, tracks, name,
                     f"missing: {sheet_rel} names {name}, which is not in the directory")
    health = checks.verify(image) if checks is not None else verify_file(image)
    if not health.ok:
        return _fail(out, root, sheet_rel, sheet, tracks, image.rel,
                     f"corrupt: the CUE image {image.rel}: {health.problem}")
    if not health.decoded:
        return _fail(out, root, sheet_rel, sheet, tracks, image.rel,
                     f"not imported: the CUE image {image.rel} is {image.container}, which cannot be decoded here")
    try:
        with open_checked(image.path) as sf:
            rate, frames = sf.samplerate, sf.frames
        spans = _spans(sheet, tracks, rate, frames)
        lossy = image.container in _LOSSY
        key = split_key(image.rel, os.lstat(image.path), spans)
        paths = split_image(image.path, spans, root, key, lossy=lossy, slack=rate if lossy else 0)
    except SplitError as err:
        group = "not imported" if err.ours else "corrupt"
        return _fail(out, root, sheet_rel, sheet, tracks, image.rel, f"{group}: cannot cut {image.rel}: {err}")
    except (AbsurdHeader, OSError, RuntimeError, ValueError) as err:
        return _fail(out, root, sheet_rel, sheet, tracks, image.rel,
                     f"corrupt: the CUE image {image.rel} does not decode ({type(err).__name__}: {err})")
    cut: list[tuple[AudioFile, Version]] = []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        st = os.lstat(path)
        found = checks.inspect(path, rel, st) if checks is not None else inspect_file(path, rel, st.st_size)
        if not isinstance(found, AudioFile):       # just written and checked: not expected
            return _fail(out, root, sheet_rel, sheet, tracks, image.rel,
                         f"corrupt: the cut of {image.rel} is unreadable")
        cut.append((found, (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)))
    for track, (found, version) in zip(tracks, cut, strict=True):
        out.audio.append(found)
        out.cuts[found.rel] = _info(sheet, track, sheet_rel, image.rel)
        out.versions += (version,)
    return f"cuts {image.rel} into {len(tracks)} tracks"


def _spans(sheet: CueSheet, tracks: Sequence[CueTrack], rate: int, frames: int) -> list[Span]:
    starts = [to_samples(t.start, rate) for t in tracks]
    for track, start in zip(tracks, starts, strict=True):
        if start >= frames:
            length = frames_text(frames * FRAMES_PER_SECOND // rate)
            raise SplitError(f"the sheet starts track {track.number} at {frames_text(track.start)}, "
                             f"at or past the end of the image ({length})")
    ends = [*starts[1:], frames]
    return [Span(t.number, s, e, t.title, t.performer or sheet.performer, sheet.title)
            for t, s, e in zip(tracks, starts, ends, strict=True)]


def _info(sheet: CueSheet, track: CueTrack, sheet_rel: str, image_rel: str) -> CutInfo:
    tracks = sheet.tracks_in(track.file)
    following = [t for t in tracks if t.start > track.start]
    return CutInfo(sheet_rel, image_rel, track.number, track.title, sheet.title,
                   _disc(sheet, sheet_rel, image_rel), _side(tracks, sheet_rel, image_rel),
                   track.start, following[0].start if following else None)


def _disc(sheet: CueSheet, sheet_rel: str, image_rel: str) -> int | None:
    if sheet.disc:
        return sheet.disc
    image = PurePosixPath(image_rel)
    # Nearest first (folder_disc reads from the end): the image's name, its folders, the
    # sheet's name, the album title the sheet gives ("Two Sides (Disc 2)").
    names = [sheet.title or "", strip_extension(PurePosixPath(sheet_rel).name), *image.parent.parts,
             strip_extension(image.name)]
    return folder_disc(names)


def _side(tracks: Sequence[CueTrack], sheet_rel: str, image_rel: str) -> str | None:
    """A vinyl side named by the image or the sheet, when the sheet numbers that side from 1
    (a side numbered on from the last is already numbered album-wide)."""
    if not tracks or tracks[0].number != 1:
        return None
    for rel in (image_rel, sheet_rel):
        m = _SIDE.search(strip_extension(PurePosixPath(rel).name))
        if m:
            return (m.group(1) or m.group(2)).upper()
    return None


def _fail(out: Prepared, root: Path, sheet_rel: str, sheet: CueSheet, tracks: Sequence[CueTrack], image_rel: str,
          reason: str) -> str:
    """Placeholders for the sheet's tracks: never imported, they tell matching why their
    tracks have no file."""
    for track in tracks:
        info = _info(sheet, track, sheet_rel, image_rel)
        rel = f"{image_rel}#{track.number:02d}"
        seconds = (info.end - info.start) / FRAMES_PER_SECOND if info.end is not None else None
        out.audio.append(AudioFile(root / sheet_rel, rel, 0, None, "flac", seconds, error=reason))
        out.health[rel] = Health(False, reason)
        out.cuts[rel] = info
    return reason.split(": ", 1)[1] if ": " in reason else reason

"""Is this audio file playable? Header parse (mutagen) plus a short decode (soundfile).

Decoding a whole library would take hours, so a file is decoded at its start and at its
end: truncated downloads, the usual corruption, fail at the end (FLAC refuses to open,
MP3 yields no frames where its header says there are some). An OGG cut at a page
boundary is a valid shorter file; only the catalog's duration exposes it ("short").
Containers libsndfile cannot decode (MP4/AAC, ALAC, WMA, ...) get the header check only
and are reported "unverified", never corrupt: deleting someone's m4a library because our
decoder lacks a codec would be the worst outcome of a maintenance command.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import mutagen
import soundfile

from ..importing.pcm import AbsurdHeader, block_frames, open_checked, read_block

# mutagen types whose codec libsndfile decodes, with the libsndfile format that must be present.
_DECODABLE: dict[str, str] = {
    "OggVorbis": "OGG", "OggOpus": "OGG", "OggFLAC": "OGG", "FLAC": "FLAC",
    "MP3": "MP3", "EasyMP3": "MP3", "WAVE": "WAV", "AIFF": "AIFF",
}
# Seconds decoded at each end of the file.
_PROBE_SECS = 2


class Verdict(StrEnum):
    OK = "ok"
    UNVERIFIED = "unverified"  # parsed, codec not decodable here
    SHORT = "short"            # decodes, but much shorter than the catalog says
    MISSING = "missing"        # no audio_uri, no file, or not a regular file
    EMPTY = "empty"            # a zero-byte file
    CORRUPT = "corrupt"        # not audio, or fails to decode
    OUTSIDE = "outside_root"   # audio_uri is absolute or climbs out of the media root

    @property
    def is_problem(self) -> bool:
        return self not in (Verdict.OK, Verdict.UNVERIFIED)

    @property
    def is_fixable(self) -> bool:
        """The track can be marked without a decision only a person can make."""
        return self in (Verdict.MISSING, Verdict.EMPTY, Verdict.CORRUPT)

    @property
    def file_is_bad(self) -> bool:
        """A file exists and is worthless: the fix deletes it."""
        return self in (Verdict.EMPTY, Verdict.CORRUPT, Verdict.SHORT)


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """Enough of a stat to notice the file was replaced between inspection and deletion."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class AudioReport:
    verdict: Verdict
    reason: str
    duration_secs: float | None = None
    identity: FileIdentity | None = None


def resolve_audio_uri(media_root: Path, audio_uri: str | None) -> Path | None:
    """The file for a catalog audio_uri, or None when it does not name a file inside the root.

    Checked lexically (no symlink resolution) so a library with symlinked folders works
    and a deletion removes the entry inside the root, never a target elsewhere.
    """
    if not audio_uri or not audio_uri.strip():
        return None
    relative = Path(audio_uri)
    if relative.is_absolute():
        return None
    normal = Path(os.path.normpath(relative))
    if normal.parts and normal.parts[0] == "..":
        return None
    if str(normal) in ("", "."):
        return None
    return media_root / normal


def inspect_audio(path: Path, *, expected_secs: float | None = None,
                  tolerance_secs: float = 10.0) -> AudioReport:
    """Classify one file. Never raises for a bad file; I/O errors become CORRUPT/MISSING."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return AudioReport(Verdict.MISSING, "file does not exist")
    except OSError as err:
        return AudioReport(Verdict.MISSING, f"cannot stat: {err.strerror}")
    if not stat.S_ISREG(st.st_mode):
        return AudioReport(Verdict.MISSING, "not a regular file")
    identity = FileIdentity.of(st)
    if st.st_size == 0:
        return AudioReport(Verdict.EMPTY, "zero-byte file", identity=identity)

    try:
        parsed = mutagen.File(str(path))
    except Exception as err:  # mutagen raises many types for many broken headers
        return AudioReport(Verdict.CORRUPT, f"unreadable header: {_describe(err)}", identity=identity)
    # FileType is dict-like (its tags): test for None, not truthiness.
    if parsed is None:
        return AudioReport(Verdict.CORRUPT, "not recognised as audio", identity=identity)
    kind = type(parsed).__name__
    length = float(getattr(parsed.info, "length", 0) or 0)

    needed = _DECODABLE.get(kind)
    if needed is None or needed not in soundfile.available_formats():
        if length <= 0:
            return AudioReport(Verdict.CORRUPT, f"{kind} header reports no audio", identity=identity)
        return AudioReport(Verdict.UNVERIFIED, f"{kind}: header only, no decoder here",
                           duration_secs=length, identity=identity)

    try:
        duration = _decode_ends(path)
    except _DecodeFailed as err:
        return AudioReport(Verdict.CORRUPT, str(err), identity=identity)

    if expected_secs and duration < expected_secs - tolerance_secs:
        return AudioReport(
            Verdict.SHORT,
            f"{duration:.1f}s of audio, the catalog says {expected_secs:.1f}s",
            duration_secs=duration, identity=identity,
        )
    return AudioReport(Verdict.OK, kind, duration_secs=duration, identity=identity)


class _DecodeFailed(Exception):
    pass


def _decode_ends(path: Path) -> float:
    try:
        # Bounded reads whatever the header claims (importing.pcm); absurd headers are corrupt.
        with open_checked(path, follow_symlinks=True) as audio:   # a library may link its files
            frames, rate = audio.frames, audio.samplerate
            if frames <= 0 or rate <= 0:
                raise _DecodeFailed("decoder finds no audio frames")
            probe = block_frames(rate, audio.channels, _PROBE_SECS)
            if len(read_block(audio, min(probe, frames))) == 0:
                raise _DecodeFailed("no audio decodes at the start")
            if frames > probe:
                audio.seek(frames - probe)
                # The header promised frames here; a cut file has none.
                if len(read_block(audio, probe)) == 0:
                    raise _DecodeFailed(
                        f"truncated: no audio decodes near {frames / rate:.1f}s, the end its header claims"
                    )
    except AbsurdHeader as err:
        raise _DecodeFailed(str(err)) from None
    except soundfile.LibsndfileError as err:
        raise _DecodeFailed(f"does not decode: {_describe(err)}") from None
    except (RuntimeError, ValueError, OSError) as err:
        raise _DecodeFailed(f"does not decode: {_describe(err)}") from None
    return frames / rate


def _describe(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__

"""Turning a downloaded file into Ogg Vorbis (blocking; call through a thread).

The Pezzottify server serves every file as `audio/ogg`, so under its layout every placed
file must be Ogg Vorbis. A file already Ogg Vorbis is moved as it is. Anything libsndfile
decodes (FLAC, WAV, AIFF, MP3, Ogg Opus, Ogg FLAC...) is encoded by libsndfile itself,
block by block (never a whole track in memory). What libsndfile cannot decode (MP4/AAC,
ALAC, WavPack, APE, WMA) goes through `ffmpeg` when it is on PATH, as the server's own
ingestion does; without it the track fails with the reason.

The result is written to the journal's hidden temporary file next to the destination,
fsynced and verified (Ogg pages, Vorbis, duration) before the importer renames it into
place, so the media root never holds a partial or unplayable conversion.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

import mutagen
import soundfile

from ..errors import BridgeError
from .placement import Identity, ensure_dir, fsync_file, identity

_BLOCK = 65536                       # frames per read/write: a few hundred KiB as float32
SNDFILE = "sndfile"                  # how a move converts (import_moves.convert)
FFMPEG = "ffmpeg"
_FFMPEG_TIMEOUT_SECS = 3600
MAX_VORBIS_RATE = 192_000           # libvorbis (through libsndfile) segfaults above ~200 kHz
_TAIL = 65536                        # bytes of the end read to find the last Ogg page


class ConversionError(BridgeError):
    """The file cannot become Ogg Vorbis; the message is the track's failure reason."""


def how_to_convert(path: Path) -> str | None:
    """None when the file is Ogg Vorbis already, else SNDFILE or FFMPEG."""
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, OSError):
        return FFMPEG
    if (info.format, info.subtype) == ("OGG", "VORBIS"):
        return None
    return SNDFILE


def convert_to_temp(src: Path, tmp: Path, *, root: Path, via: str, quality: float,
                    tolerance_secs: float = 1.0) -> Identity:
    """Convert src to Ogg Vorbis at tmp (fsynced, verified); a stale tmp is replaced.
    Raises ConversionError with the reason users read; tmp is removed then."""
    ensure_dir(root, tmp.parent)
    tmp.unlink(missing_ok=True)
    expected = source_seconds(src)
    try:
        if via == FFMPEG:
            _with_ffmpeg(src, tmp, quality)
        else:
            _with_sndfile(src, tmp, quality)
        fsync_file(tmp)
        verify_vorbis(tmp, expected, tolerance_secs)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    made = identity(tmp)
    if made is None:
        raise ConversionError(f"cannot convert {_ext(src)} to Ogg Vorbis: the output vanished")
    return made


def _ext(path: Path) -> str:
    return path.suffix.lower().lstrip(".") or "the file"


def _with_sndfile(src: Path, tmp: Path, quality: float) -> None:
    try:
        reader = soundfile.SoundFile(str(src))
        if reader.samplerate > MAX_VORBIS_RATE:
            # libsndfile's Vorbis encoder crashes the whole process (SIGSEGV) above ~200 kHz
            # (DXD 352.8 kHz rips exist): refuse it here, as a failed track, not a dead daemon.
            reader.close()
            raise ConversionError(f"cannot convert {_ext(src)} to Ogg Vorbis: its sample rate "
                                  f"{reader.samplerate} Hz is above {MAX_VORBIS_RATE} Hz")
        # libsndfile's compression level for Vorbis is 1 - quality. The sample rate stays the
        # source's (the server's ffmpeg resamples to 48 kHz; libsndfile cannot, and needs not).
        with reader, soundfile.SoundFile(str(tmp), "x", samplerate=reader.samplerate, channels=reader.channels,
                                         format="OGG", subtype="VORBIS",
                                         compression_level=max(0.0, min(1.0, 1.0 - quality))) as writer:
            for block in reader.blocks(blocksize=_BLOCK, dtype="float32", always_2d=True):
                writer.write(block)
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise ConversionError(f"cannot convert {_ext(src)} to Ogg Vorbis: {err}") from None


def _with_ffmpeg(src: Path, tmp: Path, quality: float) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ConversionError(f"cannot convert {_ext(src)} to Ogg Vorbis: ffmpeg is not installed")
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(src), "-vn",
           "-map_metadata", "0", "-c:a", "libvorbis", "-q:a", f"{quality * 10:.2f}", "-f", "ogg", str(tmp)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=_FFMPEG_TIMEOUT_SECS, check=False)
    except subprocess.TimeoutExpired:
        raise ConversionError(f"cannot convert {_ext(src)} to Ogg Vorbis: ffmpeg timed out") from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1][:200]
        raise ConversionError(f"cannot convert {_ext(src)} to Ogg Vorbis: ffmpeg: {why}")


def source_seconds(path: Path) -> float | None:
    """The source's duration (libsndfile, else mutagen), None when neither knows it."""
    with contextlib.suppress(soundfile.LibsndfileError, RuntimeError, OSError):
        info = soundfile.info(str(path))
        if info.samplerate and info.frames:
            return info.frames / info.samplerate
    with contextlib.suppress(Exception):   # mutagen raises many kinds on odd files
        found = mutagen.File(str(path))
        if found is not None and found.info is not None and found.info.length:
            return float(found.info.length)
    return None


def verify_vorbis(path: Path, expected_secs: float | None, tolerance_secs: float = 1.0) -> None:
    """An Ogg stream that starts with a page and ends with an end-of-stream page, decodes as
    Vorbis, and lasts as long as its source (within tolerance)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(max(0, size - _TAIL))
        tail = f.read()
    last = tail.rfind(b"OggS")
    if head != b"OggS" or last < 0 or last + 5 >= len(tail) or not tail[last + 5] & 0x04:
        raise ConversionError("cannot convert to Ogg Vorbis: the output is not a complete Ogg stream")
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise ConversionError(f"cannot convert to Ogg Vorbis: the output does not decode ({err})") from None
    if (info.format, info.subtype) != ("OGG", "VORBIS") or not info.frames:
        raise ConversionError(f"cannot convert to Ogg Vorbis: the output is {info.format}/{info.subtype}")
    if expected_secs is not None:
        got = info.frames / info.samplerate
        if abs(got - expected_secs) > max(tolerance_secs, expected_secs * 0.01):
            raise ConversionError(f"cannot convert to Ogg Vorbis: the output lasts {got:.1f}s, "
                                  f"the source {expected_secs:.1f}s")

"""Is a discovered file whole, decodable audio? (I/O)

The header alone proves little: a truncated FLAC keeps the STREAMINFO of the full file
and an MP3's Xing header still claims every frame. So libsndfile decodes one second at
five points from start to end; a truncated or damaged file fails to seek, errors, or
comes back short near the end. The decoder's frame count is also compared with the
header's duration. Ogg files get their page checksums checked too: a Vorbis decoder
skips a damaged page silently, and an Ogg cut at a page boundary is otherwise valid.
Containers libsndfile cannot decode (MP4/AAC, WavPack, ...) get the header checks only.
Every probe is bounded in frames and bytes (pcm.py), and absurd headers are corrupt.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from .discovery import AudioFile
from .pcm import AbsurdHeader, block_frames, open_checked, read_block

# mutagen types whose codec libsndfile decodes, with the libsndfile format needed.
DECODABLE = {
    "OggVorbis": "OGG", "OggOpus": "OGG", "OggFLAC": "OGG", "FLAC": "FLAC",
    "MP3": "MP3", "EasyMP3": "MP3", "WAVE": "WAV", "AIFF": "AIFF",
}
_PROBES = 5
_PROBE_SECS = 1.0


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    problem: str | None = None
    decoded: bool = False       # False: header checks only (codec not decodable here)


def verify_file(audio: AudioFile) -> Health:
    if audio.size == 0:
        return Health(False, "empty file")
    if audio.container is None:
        return Health(False, audio.error or "not recognised as audio")
    if audio.duration is None or audio.duration <= 0:
        return Health(False, "no audio (duration 0)")
    if audio.container.startswith("Ogg"):
        try:
            problem = check_ogg_pages(audio.path)
        except OSError as err:
            problem = f"unreadable ({err.strerror or err})"
        if problem is not None:
            return Health(False, problem)
    fmt = DECODABLE.get(audio.container)
    if fmt is None or fmt not in soundfile.available_formats():
        return Health(True, None, decoded=False)
    try:
        problem = _probe(audio, check_length=audio.container not in ("MP3", "EasyMP3"))
    except AbsurdHeader as err:
        problem = str(err)
    except (soundfile.LibsndfileError, RuntimeError, ValueError, OSError) as err:
        problem = f"does not decode ({_describe(err)})"
    return Health(problem is None, problem, decoded=True)


def _probe(audio: AudioFile, *, check_length: bool) -> str | None:
    with open_checked(audio.path) as sf:
        frames, rate = sf.frames, sf.samplerate
        if frames <= 0 or rate <= 0:
            return "decodes to no audio"
        decoded_secs = frames / rate
        header_secs = audio.duration or 0.0
        # An MP3's two lengths are both estimates (bitrate, Xing); its end probe decides.
        if check_length and abs(decoded_secs - header_secs) > max(1.0, 0.02 * header_secs):
            return f"decodes {decoded_secs:.1f}s of {header_secs:.1f}s"
        chunk = max(1, min(frames, block_frames(rate, sf.channels, _PROBE_SECS)))
        for index in range(_PROBES):
            start = (frames - chunk) * index // (_PROBES - 1)
            sf.seek(start)
            data = read_block(sf, chunk)
            # The end of an MP3 may decode a few frames short of the estimate; half a
            # second missing is damage.
            need = chunk if index < _PROBES - 1 else chunk // 2
            where = f"{100 * index // (_PROBES - 1)}%"
            if len(data) < need:
                return f"truncated (no audio at {where})"
            if not np.isfinite(data).all():
                return f"garbage samples at {where}"
    return None


# Ogg's CRC-32 is the unreflected one (poly 0x04C11DB7, init 0, no final xor). zlib's is
# reflected: feeding it bit-reversed bytes and reversing the result gives Ogg's, at C speed.
_REVERSED_BITS = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))
_OGG_HEADER = struct.Struct("<4sBBqIIIB")      # capture, version, flags, granule, serial, seq, crc, segments
_EOS = 0x04


def _ogg_crc(page: bytes) -> int:
    raw = zlib.crc32(page.translate(_REVERSED_BITS), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{raw:032b}"[::-1], 2)


def check_ogg_pages(path: Path) -> str | None:
    """Every page whole with a good checksum, the last one marked end-of-stream.

    Vorbis decoders skip a damaged page without an error, and an Ogg file cut at a page
    boundary decodes as a shorter, valid file; the page layer catches both.
    """
    last_flags = 0
    with open(path, "rb") as f:
        offset = 0
        while header := f.read(_OGG_HEADER.size):
            if len(header) < _OGG_HEADER.size:
                return f"truncated (partial page at byte {offset})"
            capture, _, flags, _, _, _, crc, count = _OGG_HEADER.unpack(header)
            if capture != b"OggS":
                return f"damaged (no Ogg page at byte {offset})"
            table = f.read(count)
            body = f.read(sum(table))
            if len(table) < count or len(body) < sum(table):
                return f"truncated (partial page at byte {offset})"
            page = header[:22] + b"\0\0\0\0" + header[26:] + table + body
            if _ogg_crc(page) != crc:
                return f"damaged (bad checksum in the page at byte {offset})"
            last_flags = flags
            offset += len(page)
    if not last_flags & _EOS:
        return "truncated (the stream has no end page)"
    return None


def _describe(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__

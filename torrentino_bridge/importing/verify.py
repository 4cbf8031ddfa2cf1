"""Is a discovered file whole, decodable audio? (I/O)

The header alone proves little: a truncated FLAC keeps the STREAMINFO of the full file
and an MP3's Xing header still claims every frame. So libsndfile decodes one second at
five points from start to end; a truncated or damaged file fails to seek, errors, or
comes back short near the end. The decoder's frame count is also compared with the
header's duration: an OGG with garbage in the middle decodes only up to the damage.
Containers libsndfile cannot decode (MP4/AAC, WavPack, ...) get the header checks only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soundfile

from .discovery import AudioFile

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
    fmt = DECODABLE.get(audio.container)
    if fmt is None or fmt not in soundfile.available_formats():
        return Health(True, None, decoded=False)
    try:
        problem = _probe(audio, check_length=audio.container not in ("MP3", "EasyMP3"))
    except (soundfile.LibsndfileError, RuntimeError, ValueError, OSError) as err:
        problem = f"does not decode ({_describe(err)})"
    return Health(problem is None, problem, decoded=True)


def _probe(audio: AudioFile, *, check_length: bool) -> str | None:
    with soundfile.SoundFile(str(audio.path)) as sf:
        frames, rate = sf.frames, sf.samplerate
        if frames <= 0 or rate <= 0:
            return "decodes to no audio"
        decoded_secs = frames / rate
        header_secs = audio.duration or 0.0
        # An MP3's two lengths are both estimates (bitrate, Xing); its end probe decides.
        if check_length and abs(decoded_secs - header_secs) > max(1.0, 0.02 * header_secs):
            return f"decodes {decoded_secs:.1f}s of {header_secs:.1f}s"
        chunk = max(1, min(frames, int(rate * _PROBE_SECS)))
        for index in range(_PROBES):
            start = (frames - chunk) * index // (_PROBES - 1)
            sf.seek(start)
            data = sf.read(chunk, dtype="float32", always_2d=True)
            # The end of an MP3 may decode a few frames short of the estimate; half a
            # second missing is damage.
            need = chunk if index < _PROBES - 1 else chunk // 2
            where = f"{100 * index // (_PROBES - 1)}%"
            if len(data) < need:
                return f"truncated (no audio at {where})"
            if not np.isfinite(data).all():
                return f"garbage samples at {where}"
    return None


def _describe(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__

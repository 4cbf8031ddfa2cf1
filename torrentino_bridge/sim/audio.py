"""Writing real encoded audio files with tags (OGG Vorbis, FLAC, MP3).

The simulator places these the way a torrent would, and tests build fixture layouts
from them. libsndfile (through soundfile) does the encoding; mutagen writes the tags.
A low mono sample rate keeps a four-minute track cheap to encode on two cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile

AudioKind = Literal["ogg", "flac", "mp3"]

# QT output format names -> our file kinds.
FORMAT_TO_KIND: dict[str, AudioKind] = {
    "ogg_vorbis": "ogg", "flac": "flac", "mp3": "mp3", "original": "flac",
}

_BLOCK = 65536  # frames per write

_SF_FORMAT: dict[AudioKind, tuple[str, str]] = {
    "ogg": ("OGG", "VORBIS"),
    "flac": ("FLAC", "PCM_16"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}


@dataclass(frozen=True)
class AudioTags:
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    track_number: int | None = None
    disc_number: int | None = None
    track_total: int | None = None


def _signal(duration_secs: float, sample_rate: int, seed: int) -> np.ndarray:
    frames = max(1, round(duration_secs * sample_rate))
    t = np.arange(frames, dtype=np.float32) / sample_rate
    freq = 220.0 + (seed % 24) * 20.0
    # A tone with a slow tremolo: real, audible content, distinct per seed.
    tone = 0.25 * np.sin(2 * np.pi * freq * t) * (0.75 + 0.25 * np.sin(2 * np.pi * 0.5 * t))
    return tone.astype(np.float32)


def write_audio(
    path: Path,
    *,
    kind: AudioKind = "ogg",
    duration_secs: float,
    tags: AudioTags | None = None,
    sample_rate: int = 8000,
    seed: int = 0,
) -> Path:
    """Encode `duration_secs` of audio into `path` and tag it. Returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt, subtype = _SF_FORMAT[kind]
    # MP3 in libsndfile needs one of the MPEG sample rates.
    rate = max(sample_rate, 8000) if kind != "mp3" else _mp3_rate(sample_rate)
    signal = _signal(duration_secs, rate, seed)
    # Written in blocks: libsndfile's Vorbis encoder has crashed on one long write.
    with soundfile.SoundFile(str(path), "w", samplerate=rate, channels=1, format=fmt, subtype=subtype) as out:
        for start in range(0, len(signal), _BLOCK):
            out.write(signal[start : start + _BLOCK])
    if tags is not None:
        write_tags(path, kind, tags)
    return path


def _mp3_rate(sample_rate: int) -> int:
    allowed = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
    return min(allowed, key=lambda r: abs(r - sample_rate))


def write_tags(path: Path, kind: AudioKind, tags: AudioTags) -> None:
    values: dict[str, str] = {}
    if tags.title is not None:
        values["title"] = tags.title
    if tags.artist is not None:
        values["artist"] = tags.artist
    if tags.album is not None:
        values["album"] = tags.album
    if tags.track_number is not None:
        values["tracknumber"] = (
            f"{tags.track_number}/{tags.track_total}" if tags.track_total else str(tags.track_number)
        )
    if tags.disc_number is not None:
        values["discnumber"] = str(tags.disc_number)
    if not values:
        return
    if kind == "mp3":
        from mutagen.easyid3 import EasyID3
        from mutagen.id3 import ID3NoHeaderError

        try:
            audio = EasyID3(str(path))
        except ID3NoHeaderError:
            audio = EasyID3()
        for key, value in values.items():
            audio[key] = value
        audio.save(str(path))
        return
    import mutagen

    audio = mutagen.File(str(path))
    if audio is None:
        raise ValueError(f"cannot tag {path}: not recognised as audio")
    for key, value in values.items():
        audio[key] = value
    audio.save()

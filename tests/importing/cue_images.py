"""Album images with CUE sheets for the tests: one long file of distinct per-track tones,
and the sheet that says where each track starts (optionally with pregaps).

Each track lasts whole CD frames, so the sheet's times are exact and a cut can be checked
sample for sample against the image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from torrentino_bridge.importing.cue import FRAMES_PER_SECOND, frames_text

RATE = 44_100


@dataclass(frozen=True)
class Piece:
    """One track of an image: its sheet entry and its sound."""

    number: int
    title: str | None
    seconds: float
    seed: int
    pregap: float = 0.0            # seconds of INDEX 00 before INDEX 01 (the end of the previous piece)
    performer: str | None = None


def tone(frames: int, seed: int, rate: int, channels: int) -> np.ndarray:
    t = np.arange(frames, dtype=np.float64) / rate
    freq = 180.0 + (seed % 40) * 23.0
    wave = 0.3 * np.sin(2 * np.pi * freq * t) * (0.7 + 0.3 * np.sin(2 * np.pi * 0.7 * t))
    return np.repeat(wave[:, None], channels, axis=1)


def cd_frames(seconds: float) -> int:
    return round(seconds * FRAMES_PER_SECOND)


def write_image(path: Path, pieces: Sequence[Piece], *, rate: int = RATE, channels: int = 1,
                fmt: str = "FLAC", subtype: str = "PCM_16", lead_in: float = 0.0) -> list[int]:
    """Write the image (lead_in seconds of silence, then each piece); returns where each
    piece starts, in CD frames."""
    path.parent.mkdir(parents=True, exist_ok=True)
    starts = []
    at = cd_frames(lead_in)
    per_frame = rate / FRAMES_PER_SECOND
    with soundfile.SoundFile(str(path), "w", samplerate=rate, channels=channels, format=fmt,
                             subtype=subtype) as out:
        out.write(np.zeros((round(at * per_frame), channels)))
        for piece in pieces:
            starts.append(at)
            length = cd_frames(piece.seconds)
            first, last = round(at * per_frame), round((at + length) * per_frame)
            out.write(tone(last - first, piece.seed, rate, channels))
            at += length
    return starts


def sheet_text(image_name: str, pieces: Sequence[Piece], starts: Sequence[int], *, album: str | None,
               performer: str | None, disc: int | None = None, newline: str = "\n",
               file_kind: str = "WAVE") -> str:
    lines = ['REM GENRE "Pop"', "REM DATE 2011", 'REM COMMENT "ExactAudioCopy v1.6"']
    if disc is not None:
        lines.append(f"REM DISCNUMBER {disc}")
    if performer:
        lines.append(f'PERFORMER "{performer}"')
    if album:
        lines.append(f'TITLE "{album}"')
    lines.append(f'FILE "{image_name}" {file_kind}')
    for piece, start in zip(pieces, starts, strict=True):
        lines.append(f"  TRACK {piece.number:02d} AUDIO")
        if piece.title is not None:
            lines.append(f'    TITLE "{piece.title}"')
        if piece.performer or performer:
            lines.append(f'    PERFORMER "{piece.performer or performer}"')
        if piece.pregap:
            lines.append(f"    INDEX 00 {frames_text(start - cd_frames(piece.pregap))}")
        lines.append(f"    INDEX 01 {frames_text(start)}")
    return newline.join(lines) + newline

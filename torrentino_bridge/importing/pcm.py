"""Decoding audio within fixed bounds, whatever its header claims (blocking I/O).

A header is data from a stranger: a WAV claiming a 2 GHz sample rate made each "one
second" probe read the whole file as floats. So every read here is bounded in frames
and in bytes, and parameters no real recording has (sample rates outside 1 kHz-768 kHz,
more than 32 channels, no frames) are refused as a corrupt header before anything is
read. Verification, the CUE splitter and the library scan all decode through this.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile

MIN_RATE = 1_000          # below any real recording (telephone audio is 8 kHz)
MAX_RATE = 768_000        # above the highest PCM rates in use (DXD 352.8/384 kHz, x2)
MAX_CHANNELS = 32
# Decoded samples are float32 (4 bytes); one read holds at most this many bytes.
MAX_BLOCK_BYTES = 2 << 20


class AbsurdHeader(ValueError):
    """The header states parameters no real recording has."""


def absurd(rate: int, channels: int, frames: int) -> str | None:
    """Why a stream's parameters cannot be real audio, or None when they can."""
    if not MIN_RATE <= rate <= MAX_RATE:
        return f"absurd header (sample rate {rate} Hz)"
    if not 1 <= channels <= MAX_CHANNELS:
        return f"absurd header ({channels} channels)"
    if frames < 0:
        return f"absurd header ({frames} frames)"
    return None


def block_frames(rate: int, channels: int, seconds: float = 1.0) -> int:
    """Frames in one read of about `seconds`, never more than MAX_BLOCK_BYTES decoded."""
    by_bytes = MAX_BLOCK_BYTES // (4 * max(1, channels))
    return max(1, min(int(rate * seconds), by_bytes))


@contextmanager
def open_checked(source: Path | int, *, follow_symlinks: bool = False) -> Iterator[soundfile.SoundFile]:
    """libsndfile's reader for a path (not through a symlink unless `follow_symlinks`: a
    ticket's files never are, a library's may be) or an open descriptor (left open);
    AbsurdHeader before any sample is read."""
    flags = os.O_RDONLY | (0 if follow_symlinks else os.O_NOFOLLOW)
    fd = os.open(source, flags) if isinstance(source, Path) else source
    try:
        with soundfile.SoundFile(fd, closefd=False) as sf:
            problem = absurd(sf.samplerate, sf.channels, sf.frames)
            if problem is not None:
                raise AbsurdHeader(problem)
            yield sf
    finally:
        if isinstance(source, Path):
            os.close(fd)


def read_block(sf: soundfile.SoundFile, frames: int, *, dtype: str = "float32") -> np.ndarray:
    """At most `frames` frames (clamped to the byte bound), always 2-D."""
    itemsize = np.dtype(dtype).itemsize
    cap = max(1, MAX_BLOCK_BYTES // (itemsize * max(1, sf.channels)))
    return sf.read(min(frames, cap), dtype=dtype, always_2d=True)

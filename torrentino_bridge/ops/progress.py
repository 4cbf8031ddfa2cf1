"""A one-line progress bar on stderr, drawn only when stderr is a terminal.

Redraws when the whole percentage changes (at most ~100 writes per run), so a scan of a
big library costs nothing to display and a log file or pipe gets no control characters.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TextIO

_WIDTH = 30


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


class Progress:
    def __init__(self, total: int, label: str, *, stream: TextIO | None = None,
                 enabled: bool | None = None) -> None:
        self.total = max(0, total)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = (enabled if enabled is not None else _isatty(self.stream)) and self.total > 0
        self.done = 0
        self._drawn_percent = -1

    def advance(self, count: int = 1) -> None:
        self.done = min(self.total, self.done + count)
        if self.enabled:
            percent = self.done * 100 // self.total
            if percent != self._drawn_percent:
                self._draw(percent)

    def _draw(self, percent: int) -> None:
        filled = self.done * _WIDTH // self.total
        bar = "#" * filled + "-" * (_WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {percent:3d}% {self.done}/{self.total}")
        self.stream.flush()
        self._drawn_percent = percent

    def close(self) -> None:
        if self.enabled and self._drawn_percent >= 0:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn_percent = -1

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

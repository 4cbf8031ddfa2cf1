"""What the engine tells the live feed. Every call returns at once (no await, no I/O): the
event path calls `progress` for QT's progress ticks, so the feed only notes the latest
value and works in a task of its own."""

from __future__ import annotations

from typing import Protocol


class LiveSink(Protocol):
    def progress(self, submission_id: str, phase: str | None, percent: float | None,
                 speed_bps: float | None = None, eta_secs: float | None = None) -> None:
        """A download moved (any of its numbers may be unknown: None)."""

    def download_changed(self, submission_id: str) -> None:
        """A submission's state or error changed."""

    def request_changed(self, request_id: str) -> None:
        """A request's status or error changed."""


class NoLive:
    """The sink when nothing listens (CLI one-shots, tests of the engine alone)."""

    def progress(self, submission_id: str, phase: str | None, percent: float | None,
                 speed_bps: float | None = None, eta_secs: float | None = None) -> None:
        return None

    def download_changed(self, submission_id: str) -> None:
        return None

    def request_changed(self, request_id: str) -> None:
        return None

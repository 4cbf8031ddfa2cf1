"""The track availability state machine.

unavailable -> fetching -> available | fetch_error, fetch_error -> fetching (retry).
A cancelled, rejected or deleted ticket hands its tracks back: fetching -> unavailable.
Maintenance (scan-audio) may take an available track whose file is gone back to
unavailable or fetch_error.
"""

from __future__ import annotations

from .models import Availability as A

ALLOWED: frozenset[tuple[A, A]] = frozenset(
    {
        (A.UNAVAILABLE, A.FETCHING),
        (A.FETCHING, A.AVAILABLE),
        (A.FETCHING, A.FETCH_ERROR),
        (A.FETCH_ERROR, A.FETCHING),
        (A.FETCHING, A.UNAVAILABLE),
        (A.AVAILABLE, A.UNAVAILABLE),
        (A.AVAILABLE, A.FETCH_ERROR),
    }
)


class InvalidTransition(ValueError):
    pass


def can_transition(current: A, target: A) -> bool:
    return current == target or (current, target) in ALLOWED


def check_transition(current: A, target: A) -> None:
    if not can_transition(current, target):
        raise InvalidTransition(f"{current.value} -> {target.value} is not allowed")


def wants_fetch(current: A) -> bool:
    """Whether a request for this track should start (or join) a download."""
    return current is not A.AVAILABLE

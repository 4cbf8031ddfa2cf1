"""Mapping Quentin Torrentino states onto submissions, and submissions onto requests (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class SubmissionState(StrEnum):
    INTENT = "intent"              # stored, not yet accepted by QT
    ACTIVE = "active"              # QT is working on it
    NEEDS_APPROVAL = "needs_approval"
    IMPORTING = "importing"        # QT completed; the bridge is placing files
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


LIVE_SUBMISSION_STATES = frozenset(
    {SubmissionState.INTENT, SubmissionState.ACTIVE, SubmissionState.NEEDS_APPROVAL,
     SubmissionState.IMPORTING}
)
# States whose tracks go back to `unavailable`, not `fetch_error`.
RELEASING_STATES = frozenset({SubmissionState.REJECTED, SubmissionState.CANCELLED})


class RequestStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    NEEDS_APPROVAL = "needs_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


TERMINAL_REQUEST_STATUSES = frozenset(
    {RequestStatus.COMPLETED, RequestStatus.FAILED, RequestStatus.REJECTED, RequestStatus.CANCELLED}
)


def submission_state_for(qt_state: str) -> SubmissionState:
    """QT state type -> what the bridge does with the submission."""
    match qt_state:
        case "needs_approval":
            return SubmissionState.NEEDS_APPROVAL
        case "completed":
            return SubmissionState.IMPORTING
        case "failed" | "acquisition_failed":
            # acquisition_failed is not terminal in QT, but QT does not retry it by itself:
            # the tracks show fetch_error until someone retries.
            return SubmissionState.FAILED
        case "rejected":
            return SubmissionState.REJECTED
        case "cancelled" | "deleted":
            return SubmissionState.CANCELLED
        case _:
            # pending, acquiring, auto_approved, approved, downloading, converting, placing,
            # pending_retry (QT retries by itself), and states a newer QT may add.
            return SubmissionState.ACTIVE


@dataclass(frozen=True, slots=True)
class RequestItem:
    """One requested track, as far as the request's status is concerned."""

    track_id: str
    label: str                         # "4 Title", for summaries
    available: bool
    submission_state: SubmissionState | None
    error: str | None = None           # per-track reason (import) or the ticket's error


# Per-track import reasons; summaries list the tracks under each. Any other reason (a QT
# failure of the whole ticket) is stated once.
_TRACK_REASONS = ("missing", "corrupt", "duration", "unmatched", "not imported", "empty")


def _summarise(items: Sequence[RequestItem]) -> str:
    total = len(items)
    done = sum(1 for i in items if i.available)
    per_track: dict[str, list[str]] = {}
    whole: list[str] = []
    for item in items:
        if item.available:
            continue
        reason = (item.error or "not imported").strip()
        if reason.startswith(_TRACK_REASONS):
            per_track.setdefault(reason.split(":", 1)[0], []).append(item.label)
        elif reason not in whole:
            whole.append(reason)
    parts = [f"{done} of {total} tracks imported"]
    parts += [f"{reason}: {', '.join(labels)}" for reason, labels in per_track.items()]
    return "; ".join(parts + whole)


def request_status(items: Sequence[RequestItem]) -> tuple[RequestStatus, str | None]:
    """Derive a planned request's status and error text from its tracks."""
    if not items or all(i.available for i in items):
        return RequestStatus.COMPLETED, None
    states = {i.submission_state for i in items if not i.available}
    if SubmissionState.NEEDS_APPROVAL in states:
        return RequestStatus.NEEDS_APPROVAL, None
    if states & {SubmissionState.ACTIVE, SubmissionState.IMPORTING}:
        return RequestStatus.IN_PROGRESS, None
    if SubmissionState.INTENT in states:
        started = any(i.submission_state is not SubmissionState.INTENT for i in items if not i.available)
        return (RequestStatus.IN_PROGRESS if started else RequestStatus.PENDING), None
    missing = [i for i in items if not i.available]
    if any(i.submission_state in (SubmissionState.FAILED, SubmissionState.COMPLETED, None) for i in missing):
        return RequestStatus.FAILED, _summarise(items)
    reason = next((i.error for i in missing if i.error), None)
    if SubmissionState.REJECTED in states:
        return RequestStatus.REJECTED, reason or "rejected"
    return RequestStatus.CANCELLED, reason or "cancelled"

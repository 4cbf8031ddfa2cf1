"""What a finished request tells the Pezzottify queue row that asked for it (pure).

The server's error types are lower case: connection, timeout, not_found, parse, storage,
corruption, unknown. The message is the request's own error text, which users read
verbatim in the web client ("3 of 5 tracks imported; missing: 5 Quiet Room").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .status import RequestStatus


@dataclass(frozen=True, slots=True)
class TrackFate:
    """One requested track of a finished request, as far as its failure goes."""

    available: bool
    qt_state: str | None          # the QT state of the ticket it waited on
    error: str | None             # its own reason (import) or its ticket's error


_TIMEOUT = re.compile(r"\b(timed? ?out|timeout|stalled|no progress)\b", re.I)
_CONNECTION = re.compile(r"\b(connection|connect|unreachable|refused|network|dns|tracker)\b", re.I)
_NOT_FOUND = re.compile(r"\b(not found|no (?:candidates?|results?|matches|torrents?)|nothing found)\b", re.I)
_STORAGE = re.compile(r"\b(no space|disk|permission denied|read-only|i/o error|storage)\b", re.I)


def failure_type(status: RequestStatus, error: str | None, tracks: Sequence[TrackFate]) -> str:
    """The queue row's error_type for a request that ended without all its tracks."""
    if status in (RequestStatus.REJECTED, RequestStatus.CANCELLED):
        return "unknown"
    missing = [t for t in tracks if not t.available]
    if any(t.qt_state == "acquisition_failed" for t in missing):
        return "not_found"                  # QT found nothing to download
    reasons = [(t.error or "").strip().lower() for t in missing]
    if reasons and any(r.startswith("corrupt") for r in reasons):
        return "corruption"
    if reasons and all(r.startswith(("missing", "not imported", "unmatched", "ambiguous")) for r in reasons):
        return "not_found"                  # the download did not hold these tracks
    text = " ".join(filter(None, [error, *reasons]))
    for pattern, kind in ((_TIMEOUT, "timeout"), (_CONNECTION, "connection"), (_NOT_FOUND, "not_found"),
                          (_STORAGE, "storage")):
        if pattern.search(text):
            return kind
    return "unknown"


def failure_message(status: RequestStatus, error: str | None) -> str:
    if error:
        return error
    return {RequestStatus.REJECTED: "the download was rejected",
            RequestStatus.CANCELLED: "the download was cancelled"}.get(status, "the download failed")


# Pezzottify's priorities (1 urgent, 2 user, 3 expansion, 4 background; lower is sooner) as
# ticket priorities (higher is sooner; 0 means the configured default).
def ticket_priority(queue_priority: int | None, default: int) -> int:
    match queue_priority:
        case 1:
            return min(65535, default * 2 or 1)
        case 3 | 4:
            return max(1, default // (queue_priority - 1))
        case _:
            return 0

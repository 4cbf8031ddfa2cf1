"""Typed errors of the Quentin Torrentino client, one per way a call can fail."""

from __future__ import annotations


class QTError(Exception):
    """A QT call failed. `message` is QT's own error text when it sent one."""

    def __init__(self, message: str, *, status: int | None = None, operation: str | None = None) -> None:
        self.status = status
        self.message = message
        self.operation = operation
        where = f"{operation}: " if operation else ""
        code = f"HTTP {status}: " if status is not None else ""
        super().__init__(f"{where}{code}{message}")


class QTUnavailable(QTError):
    """QT could not be reached, timed out or kept answering 5xx.

    `ambiguous` is True when a non-idempotent request may have reached QT (the
    connection was established, so a ticket may exist even though no answer came).
    """

    def __init__(
        self, message: str, *, status: int | None = None, operation: str | None = None,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message, status=status, operation=operation)
        self.ambiguous = ambiguous


class QTAuthError(QTError):
    """QT refused the credentials (401/403) or the token could not be obtained."""


class QTNotFound(QTError):
    """404: no such ticket."""


class QTConflict(QTError):
    """409: the ticket's current state does not allow the operation."""


class QTBadRequest(QTError):
    """400/415/422: QT refused the request itself; retrying the same body cannot help."""


class QTProtocolError(QTError):
    """QT answered with a body that is not the JSON shape its API documents."""


class QTLookupIncomplete(QTError):
    """A scan of QT's ticket list stopped before the end (page limit reached, or pages that
    bring nothing new): "not found" is unknown, not absent, so nothing may be posted on it."""

"""QT wire types (pydantic v2), lenient: unknown fields are kept, optional ones may be missing.

A ticket's `state` is a tagged object whose fields depend on its `type`; the model keeps
them as extras and the properties below read the few the bridge needs, per state type.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

TERMINAL_STATES = frozenset({"completed", "rejected", "failed", "cancelled"})
RETRYABLE_FROM = frozenset({"failed", "acquisition_failed", "rejected", "cancelled"})
KNOWN_STATES = frozenset({
    "pending", "acquiring", "acquisition_failed", "needs_approval", "auto_approved",
    "approved", "rejected", "downloading", "converting", "placing", "completed",
    "pending_retry", "failed", "cancelled",
})
ERROR_TEXT_CHARS = 500
# States whose objects carry a candidates[] list.
_WITH_CANDIDATES = frozenset({"needs_approval", "auto_approved", "approved", "downloading"})
_ERROR_FIELD = {
    "failed": "error", "acquisition_failed": "reason", "rejected": "reason",
    "cancelled": "reason", "pending_retry": "error",
}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class Candidate(_Lenient):
    title: str
    info_hash: str | None = None
    size_bytes: int | None = None
    seeders: int | None = None
    score: float | None = None
    reasoning: str | None = None
    magnet_uri: str | None = None
    # Its index in QT's own list (the client bounds the list, see candidates.py): approve
    # sends this one. None only for candidates that did not come through the client.
    qt_index: int | None = None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _ratio_pct(done: Any, total: Any) -> float | None:
    d, t = _number(done), _number(total)
    if d is None or t is None or t <= 0:
        return None
    return _clamp_pct(d / t * 100.0)


def _clamp_pct(value: float) -> float:
    return min(100.0, max(0.0, value))


class TicketState(_Lenient):
    """The tagged state object. Fields other than `type` are extras, read per type."""

    type: str
    _candidates: list[Candidate] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _parse_candidates(self) -> TicketState:
        # Validated up front so a malformed candidate fails the whole response
        # (a QTProtocolError in the client) rather than an attribute access later.
        raw = self.get("candidates")
        if self.type in _WITH_CANDIDATES and isinstance(raw, list):
            self._candidates = [Candidate.model_validate(c) for c in raw]
        return self

    def get(self, name: str, default: Any = None) -> Any:
        """One state field by name (None when absent)."""
        return (self.model_extra or {}).get(name, default)

    @property
    def progress_pct(self) -> float | None:
        if self.type == "downloading":
            pct = _number(self.get("progress_pct"))
            return None if pct is None else _clamp_pct(pct)
        if self.type == "converting":
            return _ratio_pct(self.get("current_idx"), self.get("total"))
        if self.type == "placing":
            return _ratio_pct(self.get("files_placed"), self.get("total_files"))
        if self.type == "completed":
            return 100.0
        return None

    @property
    def candidates(self) -> list[Candidate]:
        return list(self._candidates)

    @property
    def candidates_total(self) -> int:
        """How many candidates QT listed (more than `candidates` when the list was bounded)."""
        value = self.get("candidates_total")
        return value if isinstance(value, int) and not isinstance(value, bool) else len(self._candidates)

    @property
    def recommended_idx(self) -> int | None:
        value = self.get("recommended_idx")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def error_text(self) -> str | None:
        """QT's reason, at most ERROR_TEXT_CHARS: it reaches request errors, webhooks and the
        Pezzottify queue's error_message, which users read."""
        field = _ERROR_FIELD.get(self.type)
        value = self.get(field) if field else None
        if not isinstance(value, str):
            return None
        return value if len(value) <= ERROR_TEXT_CHARS else value[:ERROR_TEXT_CHARS] + "…"

    @property
    def retryable(self) -> bool | None:
        """QT's opinion: `failed.retryable`; True for pending_retry (QT retries by itself)."""
        if self.type == "failed":
            value = self.get("retryable")
            return value if isinstance(value, bool) else None
        if self.type == "pending_retry":
            return True
        return None

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_STATES


class Ticket(_Lenient):
    id: str
    state: TicketState
    dest_path: str
    created_at: str | None = None
    created_by: str | None = None
    priority: int | None = None
    query_context: dict[str, Any] = Field(default_factory=dict)
    output_constraints: dict[str, Any] | None = None
    updated_at: str | None = None


class TicketPage(_Lenient):
    tickets: list[Ticket]
    total: int
    limit: int
    offset: int

"""Normalising QT push messages into typed events. Pure: no I/O, no clock.

Accepts the real server's WebSocket vocabulary (tag key "type": ticket_update,
ticket_deleted, pipeline_progress, torrent_progress, orchestrator_status, heartbeat),
the draft contract's names (progress, state_change, needs_approval, completed, failed)
and the draft webhook body (tag key "event", fields in "details").
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

MAX_MESSAGE_BYTES = 1024 * 1024


class EventError(Exception):
    """A message that cannot become an Event: `malformed` (bad shape) or `unknown` (tag)."""

    def __init__(self, kind: Literal["malformed", "unknown"], message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class TicketUpdate:
    ticket_id: str
    state: str
    details: dict[str, Any] | None = None
    source: str = "ticket_update"


@dataclass(frozen=True)
class TicketDeleted:
    ticket_id: str


@dataclass(frozen=True)
class PipelineProgress:
    ticket_id: str
    phase: str
    percent: float | None
    current: int | None
    total: int | None
    current_name: str | None


@dataclass(frozen=True)
class TorrentProgress:
    ticket_id: str
    percent: float | None
    speed_bps: int | None
    eta_secs: int | None


@dataclass(frozen=True)
class OrchestratorStatus:
    running: bool


@dataclass(frozen=True)
class Heartbeat:
    timestamp: str | None


Event = TicketUpdate | TicketDeleted | PipelineProgress | TorrentProgress | OrchestratorStatus | Heartbeat


def normalise(raw: str | bytes | dict[str, Any]) -> Event:
    """Turn one message into an Event, or raise EventError."""
    return normalise_tagged(raw)[1]


def normalise_tagged(raw: str | bytes | dict[str, Any]) -> tuple[str, Event]:
    """Like normalise, also returning the wire tag (for per-type counters)."""
    obj = _decode(raw)
    if "type" in obj:
        tag_key, webhook = "type", False
    elif "event" in obj:
        tag_key, webhook = "event", True
    else:
        raise EventError("malformed", "no 'type' (or 'event') field")
    tag = obj[tag_key]
    if not isinstance(tag, str):
        raise EventError("malformed", f"'{tag_key}' must be a string, got {_kind(tag)}")
    builder = _BUILDERS.get(tag)
    if builder is None:
        raise EventError("unknown", f"unknown event {tag_key} {tag[:80]!r}")
    msg = _Message(obj, webhook)
    return tag, builder(msg, f"webhook:{tag}" if webhook else tag)


# --- decoding -------------------------------------------------------------------------

def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _decode(raw: str | bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, bytes | bytearray | memoryview):
        if len(raw) > MAX_MESSAGE_BYTES:
            raise EventError("malformed", f"message larger than {MAX_MESSAGE_BYTES} bytes")
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as err:
            raise EventError("malformed", f"not UTF-8: {err.reason}") from None
    elif isinstance(raw, str):
        # Characters never outnumber UTF-8 bytes; this bounds the work json.loads does.
        if len(raw) > MAX_MESSAGE_BYTES:
            raise EventError("malformed", f"message larger than {MAX_MESSAGE_BYTES} bytes")
        text = raw
    else:
        raise EventError("malformed", f"unsupported message type {_kind(raw)}")
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        raise EventError("malformed", f"not JSON: {str(err)[:120]}") from None
    if not isinstance(obj, dict):
        raise EventError("malformed", f"expected a JSON object, got {_kind(obj)}")
    return obj


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


class _Message:
    """Field access for one message; webhook bodies also look inside "details"."""

    def __init__(self, obj: Mapping[Any, Any], webhook: bool) -> None:
        self.obj = obj
        details = obj.get("details") if webhook else None
        if details is not None and not isinstance(details, dict):
            raise EventError("malformed", f"'details' must be an object, got {_kind(details)}")
        self.details: dict[str, Any] | None = details

    def raw(self, *names: str) -> tuple[str, Any]:
        for name in names:
            if name in self.obj and self.obj[name] is not None:
                return name, self.obj[name]
        if self.details is not None:
            for name in names:
                if self.details.get(name) is not None:
                    return name, self.details[name]
        return names[0], None

    def ticket_id(self) -> str:
        name, value = self.raw("ticket_id")
        if not isinstance(value, str) or not value:
            raise EventError("malformed", f"'{name}' must be a non-empty string, got {_kind(value)}")
        return value

    def string(self, *names: str, required: bool = False) -> str | None:
        name, value = self.raw(*names)
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value):
            raise EventError("malformed", f"'{name}' must be a string, got {_kind(value)}")
        return value

    def number(self, *names: str) -> float | None:
        name, value = self.raw(*names)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EventError("malformed", f"'{name}' must be a number, got {_kind(value)}")
        try:
            result = float(value)
        except OverflowError:
            raise EventError("malformed", f"'{name}' is out of range") from None
        if not math.isfinite(result):
            raise EventError("malformed", f"'{name}' must be finite")
        return result

    def integer(self, *names: str) -> int | None:
        value = self.number(*names)
        return None if value is None else int(value)

    def percent(self, *names: str) -> float | None:
        value = self.number(*names)
        return None if value is None else min(100.0, max(0.0, value))

    def boolean(self, *names: str, required: bool = False) -> bool | None:
        name, value = self.raw(*names)
        if value is None and not required:
            return None
        if not isinstance(value, bool):
            raise EventError("malformed", f"'{name}' must be a boolean, got {_kind(value)}")
        return value


# --- builders, one per tag ------------------------------------------------------------

def _ticket_update(m: _Message, source: str) -> Event:
    return TicketUpdate(m.ticket_id(), _state_name(m), m.details, source)


def _state_change(m: _Message, source: str) -> Event:
    return TicketUpdate(m.ticket_id(), _state_name(m, "state", "new_state", "to"), m.details, source)


def _state_name(m: _Message, *names: str) -> str:
    name, value = m.raw(*(names or ("state",)))
    # A full state object ({"type": ...}) is accepted where a state name is expected.
    if isinstance(value, dict):
        value = value.get("type")
    if not isinstance(value, str) or not value:
        raise EventError("malformed", f"'{name}' must be a state name, got {_kind(value)}")
    return value


def _fixed_state(state: str) -> Callable[[_Message, str], Event]:
    def build(m: _Message, source: str) -> Event:
        return TicketUpdate(m.ticket_id(), state, m.details, source)
    return build


def _needs_approval(m: _Message, source: str) -> Event:
    ticket_id = m.ticket_id()
    details = dict(m.details or {})
    name, candidates = m.raw("candidates")
    if candidates is not None:
        if not isinstance(candidates, list):
            raise EventError("malformed", f"'{name}' must be a list, got {_kind(candidates)}")
        details["candidates"] = candidates
    return TicketUpdate(ticket_id, "needs_approval", details or None, source)


def _failed(m: _Message, source: str) -> Event:
    ticket_id = m.ticket_id()
    error = m.string("error", "reason")
    retryable = m.boolean("retryable")
    return TicketUpdate(
        ticket_id, "failed", {**(m.details or {}), "error": error, "retryable": retryable}, source
    )


def _ticket_deleted(m: _Message, source: str) -> Event:
    return TicketDeleted(m.ticket_id())


def _pipeline_progress(m: _Message, source: str) -> Event:
    ticket_id = m.ticket_id()
    phase = m.string("phase", required=True)
    assert phase is not None
    current, total = m.integer("current"), m.integer("total")
    percent = m.percent("percent")
    if percent is None and current is not None and total:
        percent = min(100.0, max(0.0, current / total * 100.0))
    return PipelineProgress(ticket_id, phase, percent, current, total, m.string("current_name"))


def _torrent_progress(m: _Message, source: str) -> Event:
    return TorrentProgress(
        m.ticket_id(), m.percent("progress_pct", "percent"),
        m.integer("speed_bps"), m.integer("eta_secs"),
    )


def _orchestrator_status(m: _Message, source: str) -> Event:
    running = m.boolean("running", required=True)
    assert running is not None
    return OrchestratorStatus(running)


def _heartbeat(m: _Message, source: str) -> Event:
    return Heartbeat(m.string("timestamp"))


_BUILDERS: dict[str, Callable[[_Message, str], Event]] = {
    "ticket_update": _ticket_update,
    "ticket_deleted": _ticket_deleted,
    "pipeline_progress": _pipeline_progress,
    "torrent_progress": _torrent_progress,
    "orchestrator_status": _orchestrator_status,
    "heartbeat": _heartbeat,
    # draft contract vocabulary
    "progress": _torrent_progress,
    "state_change": _state_change,
    "needs_approval": _needs_approval,
    "completed": _fixed_state("completed"),
    "failed": _failed,
}

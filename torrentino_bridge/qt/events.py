"""Normalising QT push messages into typed events. Pure: no I/O, no clock.

Accepts the real server's WebSocket vocabulary (tag key "type": ticket_update,
ticket_deleted, pipeline_progress, torrent_progress, orchestrator_status, heartbeat),
the draft contract's names (progress, state_change, needs_approval, completed, failed)
and the draft webhook body (tag key "event", fields in "details").

QT sends an event on every progress write, so the frames it sends most (ticket_update,
pipeline_progress, torrent_progress, the draft's progress) take a fast path: msgspec
decodes them straight into typed frames, checking every field in C, and accepts only the
ordinary shape. Anything else goes to the full validation below, which builds the same
event or names what is wrong (tests/qt/test_events.py checks the two agree).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import msgspec

MAX_MESSAGE_BYTES = 1024 * 1024


class EventError(Exception):
    """A message that cannot become an Event: `malformed` (bad shape) or `unknown` (tag)."""

    def __init__(self, kind: Literal["malformed", "unknown"], message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


# Immutable structs (msgspec builds one in a third of a frozen dataclass's time, and one
# is built for every frame QT sends).
class TicketUpdate(msgspec.Struct, frozen=True):
    ticket_id: str
    state: str
    details: dict[str, Any] | None = None
    source: str = "ticket_update"


class TicketDeleted(msgspec.Struct, frozen=True):
    ticket_id: str


class PipelineProgress(msgspec.Struct, frozen=True):
    ticket_id: str
    phase: str
    percent: float | None
    current: int | None
    total: int | None
    current_name: str | None


class TorrentProgress(msgspec.Struct, frozen=True):
    ticket_id: str
    percent: float | None
    speed_bps: int | None
    eta_secs: int | None


class OrchestratorStatus(msgspec.Struct, frozen=True):
    running: bool


class Heartbeat(msgspec.Struct, frozen=True):
    timestamp: str | None


Event = TicketUpdate | TicketDeleted | PipelineProgress | TorrentProgress | OrchestratorStatus | Heartbeat


def normalise(raw: str | bytes | dict[str, Any]) -> Event:
    """Turn one message into an Event, or raise EventError."""
    return normalise_tagged(raw)[1]


def normalise_tagged(raw: str | bytes | dict[str, Any]) -> tuple[str, Event]:
    """Like normalise, also returning the wire tag (for per-type counters)."""
    if (raw.__class__ is bytes or raw.__class__ is str) and len(raw) <= MAX_MESSAGE_BYTES:  # type: ignore[arg-type]
        try:
            frame = _decode_frame(raw)  # the fast path, below
        except (ValueError, RecursionError):
            pass  # not a frequent frame in its ordinary shape: the full validation says what it is
        else:
            if frame.__class__ is _TicketUpdateFrame:
                return "ticket_update", TicketUpdate(frame.ticket_id, frame.state)
            return _progress_event(frame)
    return _validate(_decode(raw))


def _validate(obj: dict[str, Any]) -> tuple[str, Event]:
    """The full validation: every vocabulary, every shape, a clear error for the rest."""
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

def _decode(raw: str | bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str | bytes | bytearray | memoryview):
        raise EventError("malformed", f"unsupported message type {_kind(raw)}")
    # Characters never outnumber UTF-8 bytes; this bounds the work the parser does.
    if len(raw) > MAX_MESSAGE_BYTES:
        raise EventError("malformed", f"message larger than {MAX_MESSAGE_BYTES} bytes")
    # Strict JSON: NaN and Infinity are not numbers, nor is anything beyond a double
    # (1e400); whole numbers stay exact; bytes must be UTF-8.
    try:
        obj = msgspec.json.decode(raw)
    except (ValueError, RecursionError) as err:
        raise EventError("malformed", _not_json(raw, err)) from None
    if not isinstance(obj, dict):
        raise EventError("malformed", f"expected a JSON object, got {_kind(obj)}")
    return obj


def _not_json(raw: str | bytes | bytearray | memoryview, err: Exception) -> str:
    if not isinstance(raw, str):
        try:
            bytes(raw).decode("utf-8")
        except UnicodeDecodeError as bad:
            return f"not UTF-8: {bad.reason}"
    if isinstance(err, RecursionError):
        return "not JSON: nested too deeply"
    return f"not JSON: {str(err)[:120]}"


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
        return clamp_percent(self.number(*names))

    def boolean(self, *names: str, required: bool = False) -> bool | None:
        name, value = self.raw(*names)
        if value is None and not required:
            return None
        if not isinstance(value, bool):
            raise EventError("malformed", f"'{name}' must be a boolean, got {_kind(value)}")
        return value


def clamp_percent(value: float | None) -> float | None:
    return None if value is None else min(100.0, max(0.0, value))


def pipeline_percent(percent: float | None, current: int | None, total: int | None) -> float | None:
    """QT's percent when it sent one, else current/total (both decoding paths use this)."""
    if percent is None and current is not None and total:
        percent = current / total * 100.0
    return clamp_percent(percent)


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
    percent = pipeline_percent(m.number("percent"), current, total)
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


# --- the fast path for the frames QT sends most -------------------------------------------
# Typed frames msgspec decodes and checks in one pass. Each admits only what the full
# validation accepts as it is: non-empty ids, whole numbers a double holds exactly (the
# full validation reads every number through float()), no nulls where a value is needed.
# A number field takes any JSON number msgspec can hold as a double; JSON has no NaN or
# Infinity and msgspec refuses what overflows, so every one is finite. Frames hold only
# strings and numbers, so the garbage collector need not track them (gc=False).

_Id = Annotated[str, msgspec.Meta(min_length=1)]
_Whole = Annotated[int, msgspec.Meta(ge=-(2**53), le=2**53)]


class _TicketUpdateFrame(msgspec.Struct, tag_field="type", tag="ticket_update", gc=False):
    ticket_id: _Id
    state: _Id


class _PipelineProgressFrame(msgspec.Struct, tag_field="type", tag="pipeline_progress", gc=False):
    ticket_id: _Id
    phase: _Id
    current: _Whole | None = None
    total: _Whole | None = None
    current_name: str | None = None
    percent: float | None = None


class _TorrentProgressFrame(msgspec.Struct, tag_field="type", tag="torrent_progress", gc=False):
    ticket_id: _Id
    progress_pct: float | None = None
    percent: float | None = None
    speed_bps: _Whole | None = None
    eta_secs: _Whole | None = None


class _ProgressFrame(_TorrentProgressFrame, tag="progress"):
    """The draft contract's name for torrent progress."""


_decode_frame = msgspec.json.Decoder(
    _TicketUpdateFrame | _PipelineProgressFrame | _TorrentProgressFrame | _ProgressFrame
).decode


def _progress_event(frame: _PipelineProgressFrame | _TorrentProgressFrame) -> tuple[str, Event]:
    if frame.__class__ is _PipelineProgressFrame:
        current, total = frame.current, frame.total  # type: ignore[union-attr]
        percent = pipeline_percent(frame.percent, current, total)  # type: ignore[union-attr]
        return "pipeline_progress", PipelineProgress(
            frame.ticket_id, frame.phase, percent, current, total, frame.current_name)  # type: ignore[union-attr]
    percent = clamp_percent(frame.progress_pct if frame.progress_pct is not None
                            else frame.percent)  # type: ignore[union-attr]
    return ("progress" if frame.__class__ is _ProgressFrame else "torrent_progress"), TorrentProgress(
        frame.ticket_id, percent, frame.speed_bps, frame.eta_secs)  # type: ignore[union-attr]

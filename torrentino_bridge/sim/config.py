"""Simulator settings and fault injection knobs."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:   # audio.py pulls in numpy and soundfile; the CLI parser does not need them
    from .audio import AudioKind

AUDIO_KINDS: tuple[str, ...] = ("ogg", "flac", "mp3")


@dataclass
class SimConfig:
    api_key: str | None = None
    step_secs: float = 0.2            # delay between two state writes of a ticket
    progress_ticks: int = 4           # download progress writes per download
    audio_kind: AudioKind | None = None   # None: from the ticket's output_constraints, else ogg
    sample_rate: int = 8000
    ws_buffer: int = 256              # per-client broadcast queue; older messages drop
    drop_ws: bool = False             # drop every WebSocket message (reconciliation tests)
    # fault injection
    create_errors: int = 0            # answer the next N POST /tickets with 500
    create_hold_secs: float = 0.0     # store the ticket, then hold the answer this long
    outage_status: int | None = None  # answer every /api/v1 call with this status
    latency_secs: float = 0.0         # delay before every /api/v1 answer
    fail_requests: int = 0            # answer the next N /api/v1 HTTP calls with 500


FAULT_FIELDS: dict[str, tuple[type, ...]] = {
    "create_errors": (int,),
    "create_hold_secs": (int, float),
    "outage_status": (int, type(None)),
    "latency_secs": (int, float),
    "fail_requests": (int,),
    "drop_ws": (bool,),
}


def validate_faults(values: dict[str, Any]) -> dict[str, Any]:
    """Checked fault settings, or ValueError naming the bad key."""
    known = {f.name for f in fields(SimConfig)}
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in FAULT_FIELDS:
            hint = "not a fault setting" if key in known else "unknown setting"
            raise ValueError(f"{key}: {hint} (faults: {', '.join(FAULT_FIELDS)})")
        types = FAULT_FIELDS[key]
        if isinstance(value, bool) and bool not in types:
            raise ValueError(f"{key}: expected a number, got a boolean")
        if not isinstance(value, types):
            raise ValueError(f"{key}: expected {' or '.join(t.__name__ for t in types)}")
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise ValueError(f"{key}: must not be negative")
        if key == "outage_status" and value is not None and not 100 <= value <= 599:
            raise ValueError("outage_status: must be an HTTP status (100..599)")
        checked[key] = value
    return checked

"""Quentin Torrentino client: HTTP API calls, the WebSocket event stream and wire types.

Usable on its own; nothing here knows about the catalog.
"""

from .client import TorrentinoClient
from .errors import (
    QTAuthError,
    QTBadRequest,
    QTConflict,
    QTError,
    QTLookupIncomplete,
    QTNotFound,
    QTProtocolError,
    QTUnavailable,
)
from .events import (
    Event,
    EventError,
    Heartbeat,
    OrchestratorStatus,
    PipelineProgress,
    TicketDeleted,
    TicketUpdate,
    TorrentProgress,
    normalise,
)
from .types import KNOWN_STATES, RETRYABLE_FROM, TERMINAL_STATES, Candidate, Ticket, TicketPage, TicketState
from .websocket import EventStream

__all__ = [
    "KNOWN_STATES", "RETRYABLE_FROM", "TERMINAL_STATES", "Candidate", "Event", "EventError",
    "EventStream", "Heartbeat", "OrchestratorStatus", "PipelineProgress", "QTAuthError",
    "QTBadRequest", "QTConflict", "QTError", "QTLookupIncomplete", "QTNotFound", "QTProtocolError",
    "QTUnavailable", "Ticket", "TicketDeleted", "TicketPage", "TicketState", "TicketUpdate", "TorrentProgress",
    "TorrentinoClient", "normalise",
]

"""Typed keys for the app and request state (no string keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import Counter

from .health import QTProbe
from .stream_tickets import StreamTickets

if TYPE_CHECKING:
    from ..service import BridgeService

SERVICE: web.AppKey[BridgeService] = web.AppKey("service")
QT_PROBE = web.AppKey("qt_probe", QTProbe)
CALLBACK_EVENTS = web.AppKey("callback_events", Counter)
# The user a service-token call acts for (from X-User-Id), set by the auth middleware.
USER_ID = web.RequestKey("user_id", str)
# Single-use tickets that open the admin event stream (EventSource sends no headers).
STREAM_TICKETS = web.AppKey("stream_tickets", StreamTickets)

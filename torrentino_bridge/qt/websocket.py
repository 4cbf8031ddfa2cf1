"""The QT event stream: a connect-forever WebSocket loop.

QT's broadcast drops messages for slow clients and replays nothing after a reconnect,
so `on_connect` runs after every (re)connect for the caller to reconcile by polling.
Failures are logged when they start (or change) and once on recovery, not per retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
import structlog

from .client import API_PREFIX, TokenSource, auth_headers
from .errors import QTAuthError
from .events import Event, EventError, normalise_tagged

log = structlog.get_logger(__name__)

_RAW_PREVIEW = 300
_TEXT, _BINARY, _ERROR = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.ERROR
_ENDED = frozenset({aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED})


class EventStream:
    def __init__(
        self,
        base_url: str,
        *,
        token: TokenSource,
        session: aiohttp.ClientSession,
        on_event: Callable[[Event], Awaitable[None]],
        on_connect: Callable[[], Awaitable[None]] | None = None,
        on_malformed: Callable[[EventError, str], None] | None = None,
        reconnect_secs: float = 5.0,
        max_backoff_secs: float = 60.0,
        heartbeat_secs: float = 20.0,
        connect_timeout_secs: float = 30.0,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}{API_PREFIX}/ws"
        self.token = token
        self.session = session
        self.on_event = on_event
        self.on_connect = on_connect
        self.on_malformed = on_malformed
        self.reconnect_secs = reconnect_secs
        self.max_backoff_secs = max(max_backoff_secs, reconnect_secs)
        self.heartbeat_secs = heartbeat_secs
        self.connect_timeout_secs = connect_timeout_secs
        # readiness and metrics
        self.connected = False
        self.connected_since: datetime | None = None
        self._last_message: float | None = None   # time.time() of the last frame
        self.last_error: str | None = None
        self.reconnects = 0          # successful connects after the first one
        self.messages: Counter[str] = Counter()
        self.malformed = 0
        self.unknown = 0
        self._connects = 0
        self._failures = 0           # consecutive failed/short-lived connections
        self._logged_error: str | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, deliver events, reconnect with backoff; return once `stop` is set."""
        while not stop.is_set():
            healthy = await self._session_once(stop)
            if stop.is_set():
                break
            self._failures = 0 if healthy else self._failures + 1
            await self._sleep(self._next_delay(), stop)

    def _next_delay(self) -> float:
        # Full jitter: uniform in [0, min(cap, base * 2^n)], so reconnecting clients spread out.
        ceiling = min(self.max_backoff_secs, self.reconnect_secs * 2 ** min(self._failures, 30))
        return random.uniform(0, ceiling)

    async def _sleep(self, delay: float, stop: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _session_once(self, stop: asyncio.Event) -> bool:
        """One connection's life. True when it was healthy: it delivered a message or
        outlived a heartbeat interval (an idle but live link)."""
        try:
            headers = auth_headers(self.token)
            # The session's own timeout may be long; bound the upgrade handshake here.
            ws = await asyncio.wait_for(
                self.session.ws_connect(
                    self.url, headers=headers, heartbeat=self.heartbeat_secs, autoping=True,
                    decode_text=False,
                ),
                timeout=self.connect_timeout_secs,
            )
            async with ws:
                self._on_connected()
                started = time.monotonic()
                try:
                    delivered = await self._serve(ws, stop)
                finally:
                    self._on_disconnected()
                return delivered or time.monotonic() - started >= self.heartbeat_secs
        except aiohttp.WSServerHandshakeError as err:
            if err.status in (401, 403):
                self._failed(
                    f"Quentin Torrentino refused the API key on the WebSocket upgrade (HTTP {err.status});"
                    " check torrentino.auth_token", auth=True,
                )
            else:
                self._failed(f"WebSocket upgrade refused: HTTP {err.status} {err.message}")
        except QTAuthError as err:
            self._failed(err.message, auth=True)
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            self._failed(f"{type(err).__name__}: {err}")
        return False

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse, stop: asyncio.Event) -> bool:
        """Deliver messages until the socket closes. True when at least one arrived."""
        # Closing the socket when stop is set ends the receive loop below.
        closer = asyncio.create_task(self._close_on(stop, ws), name="qt-ws-closer")
        delivered = False
        try:
            if self.on_connect is not None:
                try:
                    await self.on_connect()
                except Exception:
                    log.exception("qt.ws.on_connect_failed", url=self.url)
            # The loop runs once per QT message, so it is kept lean: ws.receive() rather than
            # `async for` (one call less), frames as bytes (decode_text=False; the JSON parser
            # reads UTF-8 itself), a float timestamp, no call between the parser and the handler.
            receive, counts, clock = ws.receive, self.messages, time.time
            while True:
                msg = await receive()
                kind = msg.type
                if kind is _TEXT or kind is _BINARY:
                    delivered = True
                    data = msg.data
                    self._last_message = clock()
                    try:
                        tag, event = normalise_tagged(data)
                    except EventError as err:
                        self._rejected(err, data)
                        continue
                    counts[tag] += 1
                    try:
                        await self.on_event(event)
                    except Exception:
                        self._handler_failed(tag, event)
                elif kind is _ERROR:
                    self.last_error = f"WebSocket error: {ws.exception()!r}"
                    break
                elif kind in _ENDED:
                    break
            if not stop.is_set():
                reason = self.last_error if self.last_error else f"closed by server (code {ws.close_code})"
                self._failed(f"connection lost: {reason}")
        finally:
            closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await closer
        return delivered

    async def _close_on(self, stop: asyncio.Event, ws: aiohttp.ClientWebSocketResponse) -> None:
        await stop.wait()
        await ws.close()

    def _rejected(self, err: EventError, data: str | bytes) -> None:
        preview = data[:_RAW_PREVIEW] if isinstance(data, str) else data[:_RAW_PREVIEW].decode("utf-8", "replace")
        if err.kind == "unknown":
            self.unknown += 1
            log.info("qt.ws.unknown_event", reason=err.message)
        else:
            self.malformed += 1
            log.warning("qt.ws.malformed_event", reason=err.message, raw=preview)
        if self.on_malformed is not None:
            try:
                self.on_malformed(err, preview)
            except Exception:
                log.exception("qt.ws.on_malformed_failed")

    def _handler_failed(self, tag: str, event: Event) -> None:
        log.exception(
            "qt.ws.handler_failed", event_type=tag,
            ticket_id=getattr(event, "ticket_id", None), event_repr=repr(event)[:_RAW_PREVIEW],
        )

    @property
    def last_message_at(self) -> datetime | None:
        # A float per frame, a datetime only when asked: this runs for every frame.
        return None if self._last_message is None else datetime.fromtimestamp(self._last_message, UTC)

    def _on_connected(self) -> None:
        self.connected = True
        self.connected_since = datetime.now(UTC)
        self._connects += 1
        if self._connects > 1:
            self.reconnects += 1
        if self._logged_error is not None:
            log.info("qt.ws.recovered", url=self.url, previous_error=self._logged_error)
            self._logged_error = None
        elif self._connects == 1:
            log.info("qt.ws.connected", url=self.url)
        self.last_error = None

    def _on_disconnected(self) -> None:
        self.connected = False
        self.connected_since = None

    def _failed(self, error: str, *, auth: bool = False) -> None:
        self.last_error = error
        if error == self._logged_error:
            log.debug("qt.ws.still_failing", error=error)
            return
        self._logged_error = error
        if auth:
            log.error("qt.ws.auth_failed", url=self.url, error=error)
        else:
            log.warning("qt.ws.failed", url=self.url, error=error)

"""HTTP client for the Quentin Torrentino v1 API.

Retries (exponential backoff, full jitter) only what can be repeated safely: connection
errors, timeouts and 5xx. 4xx answers become typed errors at once. Creating a ticket is
not idempotent in QT (no idempotency key), so a POST /tickets is repeated only when the
connection was never established; any other failure is reported as ambiguous and the
caller looks the ticket up by its dest_path before posting again.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog
from pydantic import ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from .decode import AnswerDecoder, DecodeError
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
from .types import Ticket, TicketPage

log = structlog.get_logger(__name__)

TokenSource = str | Callable[[], str | None] | None
OnCall = Callable[[str, float, str], None]

API_PREFIX = "/api/v1"
# Small enough that a page of candidate-heavy tickets stays well under the response cap.
FIND_PAGE_SIZE = 250
DEFAULT_LOOKUP_MAX_TICKETS = 50_000
# Far above any answer QT documents (a lookup page included): only a broken or hostile peer hits it.
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_CANDIDATES = 20
_READ_CHUNK = 64 * 1024
_BAD_REQUEST = frozenset({400, 415, 422})
# QT's error text ends up in logs, request errors and API answers: a peer's word, capped.
MAX_ERROR_TEXT = 500


def resolve_token(token: TokenSource) -> str | None:
    """The current token; a callable is asked every time so a rotated token is picked up."""
    if token is None or isinstance(token, str):
        return token or None
    try:
        return token() or None
    except Exception as err:
        raise QTAuthError(f"could not obtain the API token: {err}") from err


def auth_headers(token: TokenSource) -> dict[str, str]:
    value = resolve_token(token)
    return {"Authorization": f"Bearer {value}"} if value else {}


class _NeverConnected(QTUnavailable):
    """The TCP connection was never established: safe to repeat even a POST."""


class TorrentinoClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: TokenSource = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        max_attempts: int = 4,
        on_call: OnCall | None = None,
        backoff_secs: float = 0.5,
        max_backoff_secs: float = 10.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        lookup_max_tickets: int = DEFAULT_LOOKUP_MAX_TICKETS,
        max_candidates: int = DEFAULT_MAX_CANDIDATES,
        decoder: AnswerDecoder | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_response_bytes = max_response_bytes
        self.lookup_max_tickets = max(1, lookup_max_tickets)
        # Answers are decoded with their candidates bounded; large ones off the event loop.
        self.decoder = decoder or AnswerDecoder(max(1, max_candidates))
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_attempts = max(1, max_attempts)
        self.on_call = on_call
        self.backoff_secs = backoff_secs
        self.max_backoff_secs = max_backoff_secs
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> TorrentinoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if this client created it; a borrowed one stays open."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        if self._owns_session:
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    # --- API -------------------------------------------------------------------------

    async def health(self) -> None:
        await self._call("health", "GET", "/health")

    async def create_ticket(self, body: dict[str, Any]) -> Ticket:
        data = await self._call("create_ticket", "POST", "/tickets", json_body=body, repeatable=False)
        return self._parse("create_ticket", Ticket, data)

    async def get_ticket(self, ticket_id: str) -> Ticket:
        data = await self._call("get_ticket", "GET", f"/tickets/{_seg(ticket_id)}")
        return self._parse("get_ticket", Ticket, data)

    async def list_tickets(
        self, *, state: str | None = None, created_by: str | None = None,
        limit: int = 100, offset: int = 0,
    ) -> TicketPage:
        params: dict[str, str] = {"limit": str(limit), "offset": str(offset)}
        if state is not None:
            params["state"] = state
        if created_by is not None:
            params["created_by"] = created_by
        data = await self._call("list_tickets", "GET", "/tickets", params=params)
        return self._parse("list_tickets", TicketPage, data)

    async def iter_tickets(
        self, *, state: str | None = None, created_by: str | None = None, page_size: int = 100,
        max_tickets: int | None = None,
    ) -> AsyncIterator[Ticket]:
        """Every ticket matching the filters, page by page (each id once).

        Raises QTLookupIncomplete when the walk stops short of `total`: after `max_tickets`,
        or on a page that brings nothing new (QT ignoring offset would loop forever)."""
        seen: set[str] = set()
        offset = 0
        while True:
            page = await self.list_tickets(
                state=state, created_by=created_by, limit=page_size, offset=offset
            )
            fresh = [t for t in page.tickets if t.id not in seen]
            # Tickets created while paging shift later pages: skip repeats.
            for ticket in fresh:
                seen.add(ticket.id)
                yield ticket
            offset += len(page.tickets)
            if offset >= page.total:
                return
            if not fresh:
                raise QTLookupIncomplete(
                    f"stopped after {offset} of {page.total} tickets: a page brought no new ticket",
                    operation="list_tickets",
                )
            if max_tickets is not None and offset >= max_tickets:
                raise QTLookupIncomplete(
                    f"stopped after {offset} of {page.total} tickets: the limit is {max_tickets}"
                    " (lookup_max_tickets)", operation="list_tickets",
                )

    async def find_by_dest_path(self, dest_path: str) -> Ticket | None:
        """The ticket whose dest_path matches (the newest if several), or None.

        None means QT listed every ticket and none matched. A walk cut short raises
        QTLookupIncomplete unless it already found a match (dest_paths are unique per
        submission, so any match is the ticket; adopting it cannot duplicate one)."""
        found: Ticket | None = None
        try:
            async for ticket in self.iter_tickets(page_size=FIND_PAGE_SIZE, max_tickets=self.lookup_max_tickets):
                if ticket.dest_path == dest_path and (
                    found is None or (ticket.created_at or "") > (found.created_at or "")
                ):
                    found = ticket
        except QTLookupIncomplete as err:
            if found is None:
                raise QTLookupIncomplete(
                    f"cannot tell whether a ticket for {dest_path} exists: {err.message}",
                    operation="find_by_dest_path",
                ) from None
            log.warning("qt.lookup_incomplete", dest_path=dest_path, ticket_id=found.id, error=err.message)
        return found

    async def approve(self, ticket_id: str, candidate_idx: int | None = None) -> Ticket:
        body = None if candidate_idx is None else {"candidate_idx": candidate_idx}
        return await self._action("approve", "POST", f"/tickets/{_seg(ticket_id)}/approve", body)

    async def reject(self, ticket_id: str, reason: str | None = None) -> Ticket:
        body = None if reason is None else {"reason": reason}
        return await self._action("reject", "POST", f"/tickets/{_seg(ticket_id)}/reject", body)

    async def retry(self, ticket_id: str) -> Ticket:
        return await self._action("retry", "POST", f"/tickets/{_seg(ticket_id)}/retry", None)

    async def cancel(self, ticket_id: str, reason: str | None = None) -> Ticket:
        body = None if reason is None else {"reason": reason}
        return await self._action("cancel", "DELETE", f"/tickets/{_seg(ticket_id)}", body)

    async def delete(self, ticket_id: str) -> Ticket:
        return await self._action(
            "delete", "POST", f"/tickets/{_seg(ticket_id)}/delete", None, params={"confirm": "true"}
        )

    async def _action(
        self, operation: str, method: str, path: str, body: dict[str, Any] | None,
        params: dict[str, str] | None = None,
    ) -> Ticket:
        data = await self._call(operation, method, path, json_body=body, params=params)
        return self._parse(operation, Ticket, data)

    # --- plumbing --------------------------------------------------------------------

    def _parse(self, operation: str, model: Any, data: Any) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0] if err.errors() else {}
            where = ".".join(str(p) for p in first.get("loc", ())) or "body"
            raise QTProtocolError(
                f"unexpected response shape at {where}: {first.get('msg', err)}", operation=operation
            ) from None

    async def _call(
        self, operation: str, method: str, path: str, *, json_body: Any = None,
        params: dict[str, str] | None = None, repeatable: bool = True,
    ) -> Any:
        """One API call with retries. `repeatable=False` repeats only never-sent requests."""
        started = time.monotonic()
        outcome = "ok"
        try:
            retrying = AsyncRetrying(
                stop=stop_after_attempt(self.max_attempts),
                wait=wait_random_exponential(multiplier=self.backoff_secs, max=self.max_backoff_secs),
                retry=retry_if_exception(
                    lambda e: isinstance(e, QTUnavailable if repeatable else _NeverConnected)
                ),
                reraise=True,
            )
            async for attempt in retrying:
                with attempt:
                    return await self._once(operation, method, path, json_body, params)
            raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover
        except _NeverConnected as err:
            outcome = "QTUnavailable"
            raise QTUnavailable(err.message, status=err.status, operation=operation) from err
        except BaseException as err:
            outcome = type(err).__name__
            raise
        finally:
            self._report(operation, time.monotonic() - started, outcome)

    def _report(self, operation: str, seconds: float, outcome: str) -> None:
        if self.on_call is None:
            return
        try:
            self.on_call(operation, seconds, outcome)
        except Exception:  # a metrics hook must not break API calls
            log.exception("qt.on_call_failed", operation=operation)

    async def _once(
        self, operation: str, method: str, path: str, json_body: Any,
        params: dict[str, str] | None,
    ) -> Any:
        headers = {"Accept": "application/json", **auth_headers(self.token)}
        url = f"{self.base_url}{API_PREFIX}{path}"
        # Once connected, anything but a GET may have taken effect without an answer.
        ambiguous = method != "GET"
        try:
            # QT never redirects; following one would take the token to wherever it points.
            async with self._http().request(
                method, url, json=json_body, params=params, headers=headers, timeout=self.timeout,
                allow_redirects=False,
            ) as resp:
                status = resp.status
                body, complete = await _read_capped(resp, self.max_response_bytes)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as err:
            raise _NeverConnected(
                f"cannot connect to Quentin Torrentino at {self.base_url}: {err}", operation=operation
            ) from err
        except TimeoutError as err:
            raise QTUnavailable(
                f"timed out after {self.timeout.total}s", operation=operation, ambiguous=ambiguous
            ) from err
        except aiohttp.ClientError as err:
            # Not repr(err): some (redirect errors) carry the request's headers, the token too.
            raise QTUnavailable(
                f"connection failed: {type(err).__name__}: {str(err)[:MAX_ERROR_TEXT]}", operation=operation,
                ambiguous=ambiguous,
            ) from err
        log.debug("qt.call", operation=operation, method=method, path=path, status=status)
        if 200 <= status < 300 and not complete:
            raise QTProtocolError(
                f"response to {method} {API_PREFIX}{path} is larger than the limit of "
                f"{self.max_response_bytes} bytes (max_response_bytes)", operation=operation,
            )
        if 200 <= status < 300:
            if not body or body.isspace():
                return None
            try:
                return await self.decoder.decode(body)
            except DecodeError as err:
                raise QTProtocolError(f"response is not JSON: {err}", operation=operation) from None
        raise _status_error(operation, status, body, ambiguous)


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of the body, read in chunks so a huge or endless body is never
    buffered whole; the flag says whether that was all of it. An error status keeps the
    prefix for its message."""
    body = bytearray()
    async for chunk in resp.content.iter_chunked(_READ_CHUNK):
        body += chunk
        if len(body) > limit:
            resp.close()   # drop the connection: draining the rest could take forever
            return bytes(body[:limit]), False
    return bytes(body), True


def _seg(ticket_id: str) -> str:
    """A ticket id as one URL path segment."""
    return quote(ticket_id, safe="")


def _error_text(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):   # deeply nested junk must not escape as a crash
        return text[:MAX_ERROR_TEXT]
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"][:MAX_ERROR_TEXT]
    return text[:MAX_ERROR_TEXT]


def _status_error(operation: str, status: int, body: bytes, ambiguous: bool) -> QTError:
    text = _error_text(body)
    if status in (401, 403):
        return QTAuthError(
            text or "Quentin Torrentino refused the API key", status=status, operation=operation
        )
    if status == 404:
        return QTNotFound(text or "not found", status=status, operation=operation)
    if status == 409:
        return QTConflict(text or "conflict", status=status, operation=operation)
    if status in _BAD_REQUEST:
        return QTBadRequest(text or "bad request", status=status, operation=operation)
    if status >= 500:
        return QTUnavailable(
            text or f"server error {status}", status=status, operation=operation, ambiguous=ambiguous
        )
    return QTError(text or f"unexpected status {status}", status=status, operation=operation)

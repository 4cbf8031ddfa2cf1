"""Short-lived, single-use tickets for the admin event stream.

A browser's EventSource cannot send an Authorization header, and the admin token must not
travel in a URL (it would sit in history, proxies' logs, the Referer of nothing here but
still). So the page asks for a ticket with its Bearer token (POST /v1/admin/events/ticket)
and opens the stream with `?ticket=...`. A ticket opens one stream, only the admin event
stream, within TTL_SECS; a leaked one is worthless after that. Only a hash is kept.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict

TTL_SECS = 30.0
MAX_OUTSTANDING = 256


def _key(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).hexdigest()


class StreamTickets:
    def __init__(self, ttl_secs: float = TTL_SECS) -> None:
        self.ttl_secs = ttl_secs
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def issue(self) -> str:
        now = time.monotonic()
        self._prune(now)
        while len(self._expiry) >= MAX_OUTSTANDING:
            self._expiry.popitem(last=False)          # the oldest unused one goes
        ticket = secrets.token_urlsafe(32)
        self._expiry[_key(ticket)] = now + self.ttl_secs
        return ticket

    def redeem(self, ticket: str | None) -> bool:
        """True once for a ticket issued less than TTL_SECS ago; it is then used up."""
        if not ticket or len(ticket) > 200:
            return False
        expires = self._expiry.pop(_key(ticket), None)
        return expires is not None and time.monotonic() < expires

    def _prune(self, now: float) -> None:
        for key in [k for k, t in self._expiry.items() if t <= now]:
            del self._expiry[key]

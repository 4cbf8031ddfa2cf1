"""Per-user rate limits: requests per rolling day and open requests at once.

The same rules apply on both ways in: the HTTP API answers 429 before writing a row,
and the intake gate fails a shared-table row with `rate_limited: ...`. Requests that came
to nothing give their quota back unless `refund_unfulfilled` is off (store/limits.py). Defaults come
from [torrentino.rate_limits]; an admin may override either number per user.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .config import RateLimits
from .domain.requests import ParsedRequest
from .engine.locks import KeyedLocks
from .errors import RequestRejected
from .store.bridge import BridgeStore
from .store.limits import LimitStore, Override, Usage

WINDOW = timedelta(days=1)
# No clock says when an open request finishes; a client over the pending limit waits this.
PENDING_RETRY_SECS = 60
RATE_LIMITED_PREFIX = "rate_limited"


@dataclass(frozen=True, slots=True)
class Limits:
    requests_per_day: int
    max_pending: int


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: str | None = None          # which limit: requests_per_day | max_pending
    message: str | None = None
    retry_after: int | None = None    # seconds


def effective_limits(defaults: RateLimits, override: Override | None) -> Limits:
    per_day, pending = defaults.requests_per_user_per_day, defaults.max_pending_per_user
    if override is not None:
        per_day = override.requests_per_day if override.requests_per_day is not None else per_day
        pending = override.max_pending if override.max_pending is not None else pending
    return Limits(per_day, pending)


def _parse_ts(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def decide(limits: Limits, usage: Usage, now: datetime) -> Verdict:
    """Whether one more request fits (pure)."""
    if usage.requests_in_window >= limits.requests_per_day:
        if limits.requests_per_day == 0:
            return Verdict(False, "requests_per_day", "downloads are disabled for this user",
                           int(WINDOW.total_seconds()))
        frees = _parse_ts(usage.frees_at) if usage.frees_at else None
        wait = (frees + WINDOW - now).total_seconds() if frees else WINDOW.total_seconds()
        return Verdict(
            False, "requests_per_day",
            f"{usage.requests_in_window} requests in the last 24 hours; the limit is "
            f"{limits.requests_per_day} per day",
            max(1, math.ceil(wait)),
        )
    if usage.open_requests >= limits.max_pending:
        return Verdict(
            False, "max_pending",
            f"{usage.open_requests} requests still open; the limit is {limits.max_pending} at once",
            PENDING_RETRY_SECS,
        )
    return Verdict(True)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class RateLimiter:
    def __init__(self, store: BridgeStore, defaults: RateLimits,
                 clock: Callable[[], float] = time.time) -> None:
        self.defaults = defaults
        self.overrides = LimitStore(store)
        self.clock = clock
        self._locks = KeyedLocks()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def limits_for(self, user_id: str) -> tuple[Limits, Override | None]:
        override = await self.overrides.get(user_id)
        return effective_limits(self.defaults, override), override

    async def usage(self, user_id: str, limits: Limits, *, exclude_unplanned: bool,
                    exclude_id: str | None = None) -> Usage:
        since = _stamp(self._now() - WINDOW)
        return await self.overrides.usage(user_id, since=since, per_day=limits.requests_per_day,
                                          exclude_unplanned=exclude_unplanned, exclude_id=exclude_id,
                                          refund=self.defaults.refund_unfulfilled)

    async def check(self, user_id: str, *, exclude_unplanned: bool = False,
                    exclude_id: str | None = None) -> Verdict:
        limits, _ = await self.limits_for(user_id)
        usage = await self.usage(user_id, limits, exclude_unplanned=exclude_unplanned, exclude_id=exclude_id)
        return decide(limits, usage, self._now())

    @asynccontextmanager
    async def admitting(self, user_id: str) -> AsyncIterator[None]:
        """Hold while checking and inserting, so two concurrent API calls of one user take turns."""
        async with self._locks.hold(user_id):
            yield

    async def gate(self, parsed: ParsedRequest) -> None:
        """The intake gate: a shared-table row over the limit fails with `rate_limited: ...`."""
        verdict = await self.check(parsed.user_id, exclude_unplanned=True, exclude_id=parsed.request_id)
        if not verdict.allowed:
            raise RequestRejected(f"{RATE_LIMITED_PREFIX}: {verdict.message}")

    async def report(self, user_id: str) -> dict[str, Any]:
        """Defaults, override, effective limits and current usage of one user."""
        limits, override = await self.limits_for(user_id)
        usage = await self.usage(user_id, limits, exclude_unplanned=False)
        return {
            "user_id": user_id,
            "defaults": {"requests_per_day": self.defaults.requests_per_user_per_day,
                         "max_pending": self.defaults.max_pending_per_user},
            "override": None if override is None else {
                "requests_per_day": override.requests_per_day, "max_pending": override.max_pending,
                "updated_at": override.updated_at,
            },
            "effective": {"requests_per_day": limits.requests_per_day, "max_pending": limits.max_pending},
            "usage": {"requests_last_24h": usage.requests_in_window, "open_requests": usage.open_requests},
        }

    async def active_users(self, limit: int = 200) -> list[str]:
        return await self.overrides.active_users(since=_stamp(self._now() - WINDOW), limit=limit)

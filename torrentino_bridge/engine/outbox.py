"""Delivering the durable outbox: each item to the handler of its kind, with retries.

A handler returns when the item reached its destination, raises Retry for a passing
failure (the receiver is down, a database is locked) and GiveUp for one that will never
pass. Any other exception is a retry too (logged with its traceback): a bug must not lose
the item. Backoff is exponential with jitter, capped; after max_attempts an item is
`dead` (kept in the table with its last error), unless their kind was registered with
retry_forever (work that must happen however long the receiver is away, such as cancelling
a ticket Quentin Torrentino would otherwise keep running). An item of a kind this worker has
no handler for is retried the same way: a one-shot worker (a CLI command) shares the table
with the daemon, whose worker knows every kind. Items may be delivered more than once
(a crash after delivery, before `done` is written): receivers deduplicate on the id.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Mapping

import structlog

from ..store.outbox import OutboxItem, OutboxStore
from ..tasks import PassGuard

log = structlog.get_logger(__name__)

Handler = Callable[[OutboxItem], Awaitable[None]]
OnResult = Callable[[str, str], None]       # (kind, outcome: delivered | retry | dead)


class Retry(Exception):
    """Try the item again later (after `after` seconds when given, else by backoff)."""

    def __init__(self, message: str, *, after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.after = after


class GiveUp(Exception):
    """The item can never be delivered: mark it dead now."""


class OutboxWorker:
    def __init__(self, store: OutboxStore, handlers: Mapping[str, Handler] | None = None, *,
                 concurrency: int = 4, max_attempts: int = 12, backoff_secs: float = 1.0,
                 max_backoff_secs: float = 600.0, idle_secs: float = 30.0,
                 on_result: OnResult | None = None, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.concurrency = max(1, concurrency)
        self.max_attempts = max(1, max_attempts)
        self.backoff_secs = backoff_secs
        self.max_backoff_secs = max_backoff_secs
        self.idle_secs = idle_secs
        self.on_result = on_result or (lambda kind, outcome: None)
        self.clock = clock
        self.wake = asyncio.Event()
        self.guard = PassGuard("outbox")
        self._failing: set[str] = set()        # kinds whose last delivery failed (log once)
        self._forever: set[str] = set()        # kinds never given up on a passing failure

    def register(self, kind: str, handler: Handler, *, retry_forever: bool = False) -> None:
        self.handlers[kind] = handler
        if retry_forever:
            self._forever.add(kind)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.wake.clear()
            delay = await self.guard.run(self.run_once)
            if not delay:
                due = await self.store.next_due_at()
                delay = self.idle_secs if due is None else min(self.idle_secs, max(0.0, due - self.clock()))
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=delay)

    async def run_once(self) -> int:
        """Deliver every item due now (in rounds of a few at once); returns how many were tried."""
        tried = 0
        slots = asyncio.Semaphore(self.concurrency)

        async def one(item: OutboxItem) -> None:
            async with slots:
                await self._deliver(item)

        while True:
            items = await self.store.due(self.clock(), limit=50)
            if not items:
                return tried
            await asyncio.gather(*(one(i) for i in items))
            tried += len(items)

    async def _deliver(self, item: OutboxItem) -> None:
        bound = log.bind(outbox_id=item.id, kind=item.kind, attempt=item.attempts + 1)
        handler = self.handlers.get(item.kind)
        if handler is None:
            await self._retry(item, f"no handler for outbox kind {item.kind!r}", None, bound)
            return
        try:
            await handler(item)
        except GiveUp as err:
            await self._dead(item, str(err) or type(err).__name__, bound)
            return
        except Retry as err:
            await self._retry(item, err.message, err.after, bound)
            return
        except Exception as err:
            bound.error("outbox.handler_error", error=repr(err), exc_info=err)
            await self._retry(item, repr(err), None, bound)
            return
        await self.store.done(item.id)
        self.on_result(item.kind, "delivered")
        if item.kind in self._failing:
            self._failing.discard(item.kind)
            bound.info("outbox.recovered")
        bound.debug("outbox.delivered")

    async def _retry(self, item: OutboxItem, error: str, after: float | None, bound: structlog.BoundLogger) -> None:
        attempts = item.attempts + 1
        if attempts >= self.max_attempts and item.kind not in self._forever:
            await self._dead(item, f"gave up after {attempts} attempts: {error}", bound)
            return
        if after is None:
            cap = min(self.max_backoff_secs, self.backoff_secs * 2 ** min(attempts - 1, 30))
            after = random.uniform(cap / 2, cap)
        await self.store.retry_at(item.id, self.clock() + after, error)
        self.on_result(item.kind, "retry")
        if item.kind not in self._failing:
            self._failing.add(item.kind)
            bound.warning("outbox.delivery_failed", error=error, retry_in=round(after, 2))

    async def _dead(self, item: OutboxItem, error: str, bound: structlog.BoundLogger) -> None:
        await self.store.dead(item.id, error)
        self.on_result(item.kind, "dead")
        bound.error("outbox.gave_up", error=error)

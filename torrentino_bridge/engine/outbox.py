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
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta

import structlog

from ..store.outbox import OutboxItem, OutboxStore
from ..tasks import PassGuard

log = structlog.get_logger(__name__)

Handler = Callable[[OutboxItem], Awaitable[None]]
OnResult = Callable[[str, str], None]       # (kind, outcome: delivered | retry | dead)
KEEP_DELIVERED_SECS = 7 * 24 * 3600
PRUNE_EVERY_SECS = 3600


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
        """Each kind is delivered in a lane of its own: a receiver that times out (a webhook
        URL that hangs 10 s a try) never holds up another kind (search.db, a QT cancel)."""
        lanes: dict[str, asyncio.Task[int]] = {}
        pruned_at = 0.0
        try:
            while not stop.is_set():
                self.wake.clear()

                async def start_lanes() -> None:
                    for kind in await self.store.kinds_due(self.clock()):
                        if kind not in lanes or lanes[kind].done():
                            lanes[kind] = asyncio.create_task(self._lane(kind), name=f"outbox:{kind}")

                delay = await self.guard.run(start_lanes)
                if not delay and time.monotonic() - pruned_at > PRUNE_EVERY_SECS:
                    pruned_at = time.monotonic()
                    delay = await self.guard.run(self._prune)
                if not delay:
                    due = await self.store.next_due_at()
                    delay = self.idle_secs if due is None else min(self.idle_secs, max(0.05, due - self.clock()))
                running = [t for t in lanes.values() if not t.done()]
                waiter = asyncio.ensure_future(self.wake.wait())
                try:
                    # A lane that ends may leave items due soon (its retries): look again then.
                    await asyncio.wait({waiter, *running}, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
        finally:
            for task in lanes.values():
                task.cancel()
            await asyncio.gather(*lanes.values(), return_exceptions=True)

    async def run_once(self, kinds: Collection[str] | None = None) -> int:
        """Deliver every item due now (of these kinds; every kind by default), each kind in
        a lane of its own; returns how many were tried. A one-shot process passes the kinds it
        has handlers for, and leaves the daemon's items to the daemon."""
        chosen = list(kinds) if kinds is not None else await self.store.kinds_due(self.clock())
        return sum(await asyncio.gather(*(self._lane(kind) for kind in chosen)))

    async def _lane(self, kind: str) -> int:
        """Deliver the due items of one kind, a few at once, until none is due."""
        tried = 0
        slots = asyncio.Semaphore(self.concurrency)

        async def one(item: OutboxItem) -> None:
            async with slots:
                await self._deliver(item)

        while True:
            items = await self.store.due(self.clock(), limit=50, kind=kind)
            if not items:
                return tried
            await asyncio.gather(*(one(i) for i in items))
            tried += len(items)

    async def _prune(self) -> None:
        """Delivered items are kept a week (for a look), then forgotten."""
        cutoff = datetime.now(UTC) - timedelta(seconds=KEEP_DELIVERED_SECS)
        removed = await self.store.prune(cutoff.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
        if removed:
            log.info("outbox.pruned", removed=removed)

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
        cap = min(self.max_backoff_secs, self.backoff_secs * 2 ** min(attempts - 1, 30))
        backoff = random.uniform(cap / 2, cap)
        # A receiver's Retry-After is honoured when it asks for longer, never for less (a
        # `Retry-After: 0` would have burnt every attempt in a few milliseconds).
        after = backoff if after is None else max(after, backoff)
        await self.store.retry_at(item.id, self.clock() + after, error)
        self.on_result(item.kind, "retry")
        if item.kind not in self._failing:
            self._failing.add(item.kind)
            bound.warning("outbox.delivery_failed", error=error, retry_in=round(after, 2))

    async def _dead(self, item: OutboxItem, error: str, bound: structlog.BoundLogger) -> None:
        await self.store.dead(item.id, error)
        self.on_result(item.kind, "dead")
        bound.error("outbox.gave_up", error=error)

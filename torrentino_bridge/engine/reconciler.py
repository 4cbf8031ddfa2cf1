"""Reconciliation: poll every live ticket so the bridge converges on QT's truth even when
the WebSocket lost every message. Runs on a fixed cadence and after every (re)connect.

Ended tickets that may come back (retried in QT's own UI after they failed, were rejected or
cancelled, or completed with tracks missing) are followed too, for a bounded time after they
ended and at a slower cadence: one GET each per follow interval."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta

import structlog

from ..domain.status import SubmissionState
from ..metrics import Metrics
from ..qt.errors import QTError
from ..store.bridge import BridgeStore
from ..tasks import PassGuard
from .submitter import Submitter
from .tracker import TicketTracker

log = structlog.get_logger(__name__)


class Reconciler:
    def __init__(self, store: BridgeStore, tracker: TicketTracker, submitter: Submitter,
                 metrics: Metrics, *, interval_secs: float, concurrency: int,
                 follow_ended_hours: float = 72.0, follow_interval_secs: float = 300.0) -> None:
        self.store = store
        self.tracker = tracker
        self.submitter = submitter
        self.metrics = metrics
        self.interval_secs = interval_secs
        self.concurrency = concurrency
        self.trigger = asyncio.Event()
        self.guard = PassGuard("reconciler")
        self.last_success_at: float | None = None   # wall clock, for readiness
        self.last_error: str | None = None
        self.follow_ended_hours = follow_ended_hours
        self.follow_interval_secs = follow_interval_secs
        self._followed_at: float | None = None

    async def run(self, stop: asyncio.Event) -> None:
        next_at = time.monotonic()
        while not stop.is_set():
            timeout = max(0.0, next_at - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.trigger.wait(), timeout=timeout)
            if stop.is_set():
                return
            self.trigger.clear()
            next_at = time.monotonic() + self.interval_secs   # fixed cadence from the pass start
            delay = await self.guard.run(self.run_once)
            next_at = max(next_at, time.monotonic() + delay)

    async def run_once(self) -> int:
        """One pass over every live submission; returns how many tickets were polled."""
        started = time.monotonic()
        subs = await self.store.submissions(
            [SubmissionState.INTENT, SubmissionState.ACTIVE, SubmissionState.NEEDS_APPROVAL,
             SubmissionState.IMPORTING]
        )
        if any(s.state is SubmissionState.INTENT for s in subs):
            self.submitter.wake.set()
        polled = [s for s in subs if s.ticket_id and s.state is not SubmissionState.INTENT]
        errors: list[str] = []
        tickets = [s.ticket_id for s in polled if s.ticket_id]
        tickets += await self._ended_due()
        ids = iter(tickets)

        async def poller() -> None:
            # A few workers share one iterator: a coroutine per ticket waiting on a semaphore
            # costs a couple of KB each, 20+ MB with 10,000 tickets.
            for ticket_id in ids:
                try:
                    await self.tracker.refresh(ticket_id)
                except QTError as err:  # refresh logs; keep the pass going
                    errors.append(err.message or type(err).__name__)

        # Importing submissions are resumed through the same refresh: QT still says completed.
        await asyncio.gather(*(poller() for _ in range(min(self.concurrency, len(tickets)))))
        self.metrics.reconcile_seconds.observe(time.monotonic() - started)
        healthy = await self._qt_reachable() if not polled else not errors
        if healthy:
            if self.last_error is not None:
                log.info("reconcile.recovered")
            self.last_error = None
            self.last_success_at = time.time()
        else:
            error = errors[0] if errors else "Quentin Torrentino unreachable"
            if self.last_error is None:
                log.warning("reconcile.failing", error=error)
            self.last_error = error
        return len(polled)

    async def _ended_due(self) -> list[str]:
        """Ended tickets to look at in this pass: all of the follow window, once per interval."""
        if self.follow_ended_hours <= 0:
            return []
        now = time.monotonic()
        if self._followed_at is not None and now - self._followed_at < self.follow_interval_secs:
            return []
        self._followed_at = now
        since = datetime.now(UTC) - timedelta(hours=self.follow_ended_hours)
        return await self.store.ended_to_follow(since.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")

    async def _qt_reachable(self) -> bool:
        try:
            await self.tracker.client.health()
        except QTError as err:
            self.last_error = err.message or type(err).__name__
            return False
        return True

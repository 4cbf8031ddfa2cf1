"""Admin notifications: a JSON POST to each configured URL when a ticket needs approval or
fails. Delivery runs in named background tasks with retries and backoff, so the event
handler that notices the ticket never waits on a slow or dead receiver.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
import structlog
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from .store.bridge import SubmissionRow
from .tasks import TaskSupervisor

log = structlog.get_logger(__name__)

KINDS = frozenset({"needs_approval", "failed"})


class DeliveryError(Exception):
    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


def build_message(kind: str, sub: SubmissionRow, details: dict[str, Any]) -> dict[str, Any]:
    """The JSON body every receiver gets (pure)."""
    candidates = details.get("candidates") or []
    summary = {
        "needs_approval": f"ticket {sub.ticket_id} needs approval ({len(candidates)} candidates)",
        "failed": f"ticket {sub.ticket_id} failed: {details.get('error') or 'unknown error'}",
    }.get(kind, f"ticket {sub.ticket_id}: {kind}")
    return {
        "event": kind,
        "id": uuid.uuid4().hex,            # lets a receiver drop a duplicate delivery
        "ticket_id": sub.ticket_id,
        "submission_id": sub.id,
        "album_id": sub.album_id,
        "text": summary,
        "details": details,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


class AdminNotifier:
    """`notify` matches the tracker's Notifier hook: it only schedules the deliveries."""

    def __init__(self, urls: Sequence[str], *, session: aiohttp.ClientSession, tasks: TaskSupervisor,
                 attempts: int = 5, backoff_secs: float = 1.0, max_backoff_secs: float = 60.0,
                 timeout_secs: float = 10.0) -> None:
        self.urls = list(urls)
        self.session = session
        self.tasks = tasks
        self.attempts = max(1, attempts)
        self.backoff_secs = backoff_secs
        self.max_backoff_secs = max_backoff_secs
        self.timeout = aiohttp.ClientTimeout(total=timeout_secs)
        self.delivered = 0
        self.failed = 0

    async def notify(self, kind: str, sub: SubmissionRow, details: dict[str, Any]) -> None:
        if not self.urls:
            return
        message = build_message(kind, sub, details)
        for url in self.urls:
            self.tasks.start(f"notify:{message['id']}:{url}", self._deliver(url, message), critical=False)

    async def _deliver(self, url: str, message: dict[str, Any]) -> None:
        bound = log.bind(url=url, event=message["event"], ticket_id=message["ticket_id"])
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_random_exponential(multiplier=self.backoff_secs, max=self.max_backoff_secs),
            retry=retry_if_exception(lambda e: isinstance(e, DeliveryError) and e.retry),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._post(url, message, attempt.retry_state.attempt_number, bound)
        except DeliveryError as err:
            self.failed += 1
            bound.error("notify.gave_up", error=str(err), attempts=self.attempts)
            return
        self.delivered += 1
        bound.info("notify.delivered")

    async def _post(self, url: str, message: dict[str, Any], attempt: int, bound: Any) -> None:
        try:
            async with self.session.post(url, json=message, timeout=self.timeout) as resp:
                status = resp.status
                await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            error = DeliveryError(f"{type(err).__name__}: {err}", retry=True)
        else:
            if 200 <= status < 300:
                return
            # 408, 429 and 5xx may pass; any other answer will be the same next time.
            error = DeliveryError(f"HTTP {status}", retry=status in (408, 429) or status >= 500)
        if attempt == 1:
            bound.warning("notify.failed", error=str(error), will_retry=error.retry)
        raise error

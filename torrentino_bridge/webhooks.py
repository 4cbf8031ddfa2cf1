"""Delivering admin notifications: the outbox handler for `webhook` items.

Each attempt is signed per the Standard Webhooks spec with [http] notify_secret:
`webhook-id` (the outbox item id: the same on every attempt and after a restart, so a
receiver drops repeats), `webhook-timestamp` (this attempt's time, which receivers check
against replays) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of
"id.timestamp.body"). 2xx delivers; a connection error, a timeout, 408, 425, 429 or a 5xx
is retried by the outbox with backoff (after Retry-After when the receiver sends one);
any other answer will not change and the item is given up.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from standardwebhooks.webhooks import Webhook

from .engine.outbox import GiveUp, Retry
from .store.outbox import OutboxItem

log = structlog.get_logger(__name__)

_RETRYABLE = frozenset({408, 425, 429})
MAX_RETRY_AFTER_SECS = 3600.0
_USER_AGENT = "torrentino-bridge (Standard Webhooks)"


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "bridge_webhook_attempts_total", "Notification delivery attempts by event and result "
            "(2xx, 4xx, 5xx, error)", ["event", "result"], registry=registry)
        self.seconds = Histogram(
            "bridge_webhook_attempt_duration_seconds", "Time one delivery attempt took", registry=registry)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta form only; dates are rare from receivers)."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return None if seconds is None or seconds < 0 else min(seconds, MAX_RETRY_AFTER_SECS)


class WebhookSender:
    def __init__(self, secret: str, session: aiohttp.ClientSession, metrics: WebhookMetrics, *,
                 timeout_secs: float = 10.0) -> None:
        self.signer = Webhook(secret)
        self.session = session
        self.metrics = metrics
        self.timeout = aiohttp.ClientTimeout(total=timeout_secs)

    def headers(self, message_id: str, body: str, now: datetime) -> dict[str, str]:
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.signer.sign(message_id, now, body),
            "Content-Type": "application/json",
            "User-Agent": _USER_AGENT,
        }

    async def __call__(self, item: OutboxItem) -> None:
        url, body, event = item.payload.get("url"), item.payload.get("body"), item.payload.get("event", "?")
        if not isinstance(url, str) or not isinstance(body, str):
            raise GiveUp("not a webhook item: url or body missing")
        shown = shown_url(url)
        headers = self.headers(item.id, body, datetime.now(UTC))
        started = time.monotonic()
        try:
            async with self.session.post(url, data=body.encode("utf-8"), headers=headers,
                                         timeout=self.timeout, allow_redirects=False) as resp:
                status = resp.status
                wait = retry_after(resp.headers.get("Retry-After"))
                await resp.content.read(64 * 1024)    # a little of the answer; a huge one is not read
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            self.metrics.attempts.labels(event, "error").inc()
            raise Retry(f"{shown}: {type(err).__name__}") from None
        finally:
            self.metrics.seconds.observe(time.monotonic() - started)
        self.metrics.attempts.labels(event, f"{status // 100}xx").inc()
        if 200 <= status < 300:
            log.info("webhook.delivered", url=shown, webhook_event=event, webhook_id=item.id, attempt=item.attempts + 1)
            return
        if status in _RETRYABLE or status >= 500:
            raise Retry(f"{shown} answered {status}", after=wait)
        raise GiveUp(f"{shown} answered {status}; a repeat would get the same answer")


def shown_url(url: str) -> str:
    """A receiver's URL as logs and the outbox show it: scheme and host only. Its path or
    query is often the secret itself (chat webhooks), and errors are kept and logged."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/…"

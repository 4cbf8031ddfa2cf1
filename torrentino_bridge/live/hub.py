"""The in-process event hub: numbered events in a bounded ring, and subscribers.

Event ids are `<run>-<seq>`: `run` is random per process, `seq` counts up. A client that
reconnects with the id of the last event it saw (Last-Event-ID) gets every later event
still in the ring, so nothing is missed within a run; an id from another run (the daemon
restarted), one older than the ring, or none at all gets a fresh snapshot instead. Memory
is bounded: the ring keeps `capacity` events, each subscriber queues at most `queue_size`;
a subscriber that falls further behind is marked lagged, its queue dropped, and its stream
sends a snapshot and carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_QUEUE_SIZE = 256


@dataclass(frozen=True, slots=True)
class LiveEvent:
    seq: int
    type: str                               # status | progress | download
    data: dict[str, Any]                    # as admins see it
    users: Mapping[str, tuple[str, ...]]    # user id -> that user's requests it concerns


class Lagged:
    """What Subscription.next returns after its queue overflowed: send a snapshot."""


LAGGED = Lagged()


@dataclass(eq=False)
class Subscription:
    accepts: Callable[[LiveEvent], bool]
    start_seq: int                          # the last event before this subscription
    queue_size: int = DEFAULT_QUEUE_SIZE
    queue: deque[LiveEvent] = field(default_factory=deque)
    lagged: bool = False
    closed: bool = False
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, event: LiveEvent) -> None:
        if self.closed or not self.accepts(event):
            return
        if len(self.queue) >= self.queue_size:
            self.queue.clear()              # too slow: drop what waits, catch up with a snapshot
            self.lagged = True
        else:
            self.queue.append(event)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def next(self, timeout: float) -> LiveEvent | Lagged | None:
        """The next event, LAGGED, or None (closed, or nothing within `timeout`)."""
        if not self.queue and not self.lagged and not self.closed:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout)
        if self.closed:
            return None
        if self.lagged:
            self.lagged = False
            self.queue.clear()      # what queued since is in the snapshot the caller sends now
            return LAGGED
        return self.queue.popleft() if self.queue else None


class EventHub:
    def __init__(self, capacity: int, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.run = secrets.token_hex(6)
        self.seq = 0
        self.queue_size = queue_size
        self.closed = False
        self._ring: deque[LiveEvent] = deque(maxlen=max(1, capacity))
        self._subscribers: set[Subscription] = set()

    def event_id(self, seq: int) -> str:
        return f"{self.run}-{seq}"

    def parse_id(self, text: str | None) -> int | None:
        """The seq of an id of this run that is not in the future; None otherwise."""
        run, _, seq = (text or "").strip().partition("-")
        if run != self.run or not seq.isdigit() or len(seq) > 18:
            return None
        value = int(seq)
        return value if value <= self.seq else None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, type_: str, data: dict[str, Any], users: Mapping[str, tuple[str, ...]] | None = None) -> None:
        if self.closed:
            return
        self.seq += 1
        event = LiveEvent(self.seq, type_, data, users or {})
        self._ring.append(event)
        for sub in self._subscribers:
            sub.offer(event)

    def subscribe(self, last_seq: int | None,
                  accepts: Callable[[LiveEvent], bool]) -> tuple[Subscription, list[LiveEvent] | None]:
        """A subscription from now on, and the events after `last_seq` it missed; None for
        those when they cannot all be given (no id, or older than the ring): a snapshot."""
        sub = Subscription(accepts, self.seq, self.queue_size)
        self._subscribers.add(sub)
        if last_seq is None:
            return sub, None
        oldest = self._ring[0].seq if self._ring else self.seq + 1
        if last_seq < oldest - 1:
            return sub, None
        return sub, [e for e in self._ring if e.seq > last_seq and accepts(e)]

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        sub.close()

    def close(self) -> None:
        """Shutdown: no more events; every subscription ends."""
        self.closed = True
        for sub in list(self._subscribers):
            sub.close()

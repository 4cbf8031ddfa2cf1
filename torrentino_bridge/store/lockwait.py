"""Waiting out another process's write lock on a database the bridge writes but does not own.

The Pezzottify server's availability job holds one write lock on the whole catalog for
minutes on a big catalog (shared/reference/pezzottify-2026-07.md, section 6). A write that
meets it is not a failure: it is tried again, with capped, jittered backoff, until the lock
goes, however long that takes. Nothing is lost and no caller gives up. One line is logged
when the waiting starts (`<name>.locked`) and one when a write is through again
(`<name>.unlocked`, with how long it took): the episode, not each retry or each caller.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from .db import is_busy

log = structlog.get_logger(__name__)
T = TypeVar("T")

FIRST_DELAY_SECS = 0.05
MAX_DELAY_SECS = 2.0


class LockWait:
    def __init__(self, name: str, db: str, *, max_delay_secs: float = MAX_DELAY_SECS) -> None:
        self.name = name
        self.db = db
        self.max_delay_secs = max_delay_secs
        self.locked_since: float | None = None     # monotonic start of the current episode
        self.retries = 0                            # in the current episode (tests read it)
        self.episodes = 0

    async def run(self, action: Callable[[], Awaitable[T]], *, attempts: int | None = None) -> T:
        """`action` until it gets through a locked database. attempts=None waits for ever;
        a number re-raises the busy error after that many tries (one-shot commands)."""
        delay = FIRST_DELAY_SECS
        tried = 0
        while True:
            tried += 1
            try:
                result = await action()
            except sqlite3.OperationalError as err:
                if not is_busy(err) or (attempts is not None and tried >= max(1, attempts)):
                    raise
                self._waiting(err)
                await asyncio.sleep(random.uniform(delay / 2, delay))
                delay = min(delay * 2, self.max_delay_secs)
                continue
            self._through()
            return result

    def _waiting(self, err: BaseException) -> None:
        self.retries += 1
        if self.locked_since is None:
            self.locked_since = time.monotonic()
            self.episodes += 1
            log.warning(f"{self.name}.locked", db=self.db, error=str(err),
                        hint="another process holds the write lock; waiting for it (nothing is lost)")

    def _through(self) -> None:
        if self.locked_since is None:
            return
        waited = time.monotonic() - self.locked_since
        log.info(f"{self.name}.unlocked", db=self.db, waited_secs=round(waited, 3), retries=self.retries)
        self.locked_since = None
        self.retries = 0

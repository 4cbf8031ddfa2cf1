"""Imports of completed tickets, gathered into batches.

Each ticket's refresh hands its import here and waits for the outcome. One worker imports
whatever has gathered as one batch (importing.batch): a lone completion goes at once, and
the completions that arrive while a batch runs go together in the next. When the caller
knows of completions on their way (`expected`: events seen, refreshes not yet here), the
batch waits for them while they keep coming (no gap over `gather_gap_secs`), at most
`gather_secs` in all: a burst then makes one batch, not a batch of one and the rest.
Items are import jobs, or whatever the batch function takes (the tracker hands in
submissions), told apart by `key`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from ..importing import ImportOutcome
from ..importing.batch import Result
from ..tasks import TaskSupervisor

Item = TypeVar("Item")


def _job_key(item: Any) -> str:
    return str(item.key)


class ImportQueue(Generic[Item]):
    def __init__(self, run_batch: Callable[[list[Item]], Awaitable[dict[str, Result]]], tasks: TaskSupervisor,
                 *, max_batch: int = 200, key: Callable[[Item], str] = _job_key,
                 expected: Callable[[], int] | None = None, gather_secs: float = 0.1,
                 gather_gap_secs: float = 0.01) -> None:
        self.run_batch = run_batch
        self.tasks = tasks
        self.max_batch = max_batch
        self.key = key
        self.expected = expected
        self.gather_secs = gather_secs
        self.gather_gap_secs = gather_gap_secs
        self._arrived = asyncio.Event()
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0

    async def run(self, job: Item) -> ImportOutcome:
        """Import one job with whatever else is waiting; raises what stopped it."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((job, future))
        self._arrived.set()
        if self._worker is None or self._worker.done():
            self._worker = self.tasks.start("imports", self._drain(), critical=False)
        result = await future
        if isinstance(result, Exception):
            raise result
        return result

    async def _drain(self) -> None:
        while self._waiting:
            await self._gather()
            batch = self._waiting[: self.max_batch]
            del self._waiting[: self.max_batch]
            # A waiter cancelled before its turn (shutdown) has nothing started: leave it out.
            batch = [(job, f) for job, f in batch if not f.done()]
            if not batch:
                continue
            self.batches += 1
            try:
                results = await self.run_batch([job for job, _ in batch])
            except Exception as err:
                results = {self.key(job): err for job, _ in batch}
            except BaseException:
                for _, future in batch:
                    if not future.done():
                        future.cancel()
                raise
            for job, future in batch:
                if not future.done():
                    key = self.key(job)
                    future.set_result(results.get(key) or RuntimeError(f"import {key}: no result"))

    async def _gather(self) -> None:
        """Wait for the items the caller says are on their way, while they keep arriving."""
        if self.expected is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.gather_secs
        while self.expected() > 0 and len(self._waiting) < self.max_batch:
            left = min(deadline - loop.time(), self.gather_gap_secs)
            if left <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                return

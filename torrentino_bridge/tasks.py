"""Named background tasks: one place starts them, keeps references and logs failures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class TaskSupervisor:
    """Starts named tasks, keeps a reference to each, logs a crash with its name.

    `failed` is set when a long-running task dies with an exception, so liveness
    (/healthz) and the service can react instead of running on with a dead worker.
    """

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self.failed = asyncio.Event()
        self.failures: dict[str, str] = {}

    def start(self, name: str, coro: Coroutine[Any, Any, Any], *, critical: bool = True,
              oneshot: bool = False) -> asyncio.Task[Any]:
        """`oneshot`: a job that is meant to end; it leaves the worker list when it returns
        (a worker that returns has stopped working), while its crash still counts."""
        if name in self._tasks and not self._tasks[name].done():
            coro.close()
            raise RuntimeError(f"task {name} is already running")
        task = asyncio.create_task(coro, name=name)
        self._tasks[name] = task
        task.add_done_callback(lambda t: self._done(name, t, critical, oneshot))
        return task

    def _done(self, name: str, task: asyncio.Task[Any], critical: bool, oneshot: bool = False) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            if not critical or oneshot:
                self._tasks.pop(name, None)
            return
        self.crashed(name, exc, critical=critical)
        if not critical:
            self._tasks.pop(name, None)

    def crashed(self, name: str, exc: BaseException, *, critical: bool = False) -> None:
        """Record a crash of a named unit of work (a task, or a job a worker ran for it):
        logged, and listed in `failures` for /healthz."""
        log.error("task.crashed", task=name, error=repr(exc), exc_info=exc)
        self.failures[name] = repr(exc)
        if critical:
            self.failed.set()

    def alive(self) -> dict[str, bool]:
        return {name: not task.done() for name, task in self._tasks.items()}

    async def drain(self, prefix: str, timeout: float) -> None:
        """Wait up to `timeout` for the running tasks whose name starts with prefix."""
        tasks = [t for n, t in self._tasks.items() if n.startswith(prefix) and not t.done()]
        if tasks:
            log.info("tasks.draining", count=len(tasks), timeout=timeout)
            await asyncio.wait(tasks, timeout=timeout)

    async def cancel_all(self, timeout: float = 5.0) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        self._tasks.clear()


class PassGuard:
    """Keeps a worker loop alive through a failing pass (e.g. the catalog locked past every
    retry): logs when failures start and when they stop, not on every pass, and says how
    long to back off before the next try."""

    def __init__(self, worker: str, *, max_backoff_secs: float = 30.0) -> None:
        self.worker = worker
        self.max_backoff_secs = max_backoff_secs
        self.failures = 0
        self.last_error: str | None = None

    async def run(self, step: Callable[[], Awaitable[Any]]) -> float:
        """Run one pass; return 0 after success, else the delay before the next pass."""
        try:
            await step()
        except Exception as err:
            self.failures += 1
            error = repr(err)
            if error != self.last_error:
                log.error("worker.pass_failed", worker=self.worker, error=error, exc_info=err)
                self.last_error = error
            return min(self.max_backoff_secs, 0.5 * 2 ** min(self.failures, 8))
        if self.failures:
            log.info("worker.recovered", worker=self.worker, failed_passes=self.failures)
            self.failures, self.last_error = 0, None
        return 0.0

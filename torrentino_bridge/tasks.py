"""Named background tasks: one place starts them, keeps references and logs failures."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
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

    def start(self, name: str, coro: Coroutine[Any, Any, Any], *, critical: bool = True) -> asyncio.Task[Any]:
        if name in self._tasks and not self._tasks[name].done():
            coro.close()
            raise RuntimeError(f"task {name} is already running")
        task = asyncio.create_task(coro, name=name)
        self._tasks[name] = task
        task.add_done_callback(lambda t: self._done(name, t, critical))
        return task

    def _done(self, name: str, task: asyncio.Task[Any], critical: bool) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            if not critical:
                self._tasks.pop(name, None)
            return
        log.error("task.crashed", task=name, error=repr(exc), exc_info=exc)
        self.failures[name] = repr(exc)
        if critical:
            self.failed.set()
        else:
            self._tasks.pop(name, None)

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

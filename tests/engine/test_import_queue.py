"""ImportQueue: completions that arrive while a batch runs go together in the next one;
each caller gets its own job's result (or the exception that stopped its batch)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from torrentino_bridge.engine.import_queue import ImportQueue, Result
from torrentino_bridge.importing import ImportOutcome
from torrentino_bridge.tasks import TaskSupervisor


@dataclass(frozen=True)
class Job:
    key: str


def outcome_for(key: str) -> ImportOutcome:
    return ImportOutcome({f"{key}-track": f"{key}/1-01.ogg"}, {}, "")


class Batches:
    """A run_batch that records each batch and, while `gate` is closed, blocks in it:
    a batch in progress, for as long as the test wants. Batch n (from 1) raises
    fail_batches[n]; a job's own failure is fail_jobs[key]."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        self.fail_jobs: dict[str, Exception] = {}
        self.fail_batches: dict[int, Exception] = {}

    async def __call__(self, jobs: list[Job]) -> dict[str, Result]:
        self.seen.append([j.key for j in jobs])
        self.started.set()
        await self.gate.wait()
        if len(self.seen) in self.fail_batches:
            raise self.fail_batches[len(self.seen)]
        return {j.key: self.fail_jobs.get(j.key) or outcome_for(j.key) for j in jobs}


async def settle() -> None:
    """Let every ready task run until they all wait on something."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_jobs_arriving_during_a_batch_go_together_in_the_next(tasks: TaskSupervisor) -> None:
    batches = Batches()
    queue: ImportQueue[Job] = ImportQueue(batches, tasks)
    first = asyncio.create_task(queue.run(Job("a")))
    await batches.started.wait()                       # batch 1 (a) is running, blocked
    batches.started.clear()
    later = [asyncio.create_task(queue.run(Job(k))) for k in ("b", "c", "d")]
    await settle()
    assert batches.seen == [["a"]] and not first.done()

    batches.gate.set()
    assert await first == outcome_for("a")
    assert [await t for t in later] == [outcome_for(k) for k in ("b", "c", "d")]
    assert batches.seen == [["a"], ["b", "c", "d"]]
    assert queue.batches == 2

    # The worker ended with nothing waiting; a new job starts a new one.
    assert await queue.run(Job("e")) == outcome_for("e")
    assert batches.seen[-1] == ["e"] and queue.batches == 3


async def test_batches_are_cut_at_max_batch(tasks: TaskSupervisor) -> None:
    batches = Batches()
    queue: ImportQueue[Job] = ImportQueue(batches, tasks, max_batch=2)
    first = asyncio.create_task(queue.run(Job("a")))
    await batches.started.wait()
    later = [asyncio.create_task(queue.run(Job(k))) for k in "bcde"]
    await settle()
    batches.gate.set()
    await asyncio.gather(first, *later)
    assert batches.seen == [["a"], ["b", "c"], ["d", "e"]]


async def test_a_job_failure_reaches_only_its_caller(tasks: TaskSupervisor) -> None:
    batches = Batches()
    batches.fail_jobs["b"] = FileNotFoundError("b: the directory is gone")
    queue: ImportQueue[Job] = ImportQueue(batches, tasks)
    first = asyncio.create_task(queue.run(Job("a")))
    await batches.started.wait()
    later = {k: asyncio.create_task(queue.run(Job(k))) for k in "bcd"}
    await settle()
    batches.gate.set()
    assert await first == outcome_for("a")
    with pytest.raises(FileNotFoundError, match="b: the directory is gone"):
        await later["b"]
    assert await later["c"] == outcome_for("c") and await later["d"] == outcome_for("d")
    assert batches.seen == [["a"], ["b", "c", "d"]]


async def test_an_exception_from_run_batch_reaches_every_caller_of_that_batch(tasks: TaskSupervisor) -> None:
    batches = Batches()
    batches.fail_batches[2] = RuntimeError("database is locked")
    queue: ImportQueue[Job] = ImportQueue(batches, tasks)
    first = asyncio.create_task(queue.run(Job("a")))
    await batches.started.wait()
    several = [asyncio.create_task(queue.run(Job(k))) for k in "bcd"]
    await settle()
    batches.gate.set()
    assert await first == outcome_for("a")
    for task in several:
        with pytest.raises(RuntimeError, match="database is locked"):
            await task
    assert batches.seen == [["a"], ["b", "c", "d"]]

    # The queue goes on: the next job gets a batch of its own, and its result.
    assert await queue.run(Job("b")) == outcome_for("b")
    assert batches.seen[-1] == ["b"]
    assert not tasks.failures


async def test_a_caller_cancelled_before_its_batch_starts_is_left_out(tasks: TaskSupervisor) -> None:
    batches = Batches()
    queue: ImportQueue[Job] = ImportQueue(batches, tasks)
    first = asyncio.create_task(queue.run(Job("a")))
    await batches.started.wait()
    waiting = {k: asyncio.create_task(queue.run(Job(k))) for k in "bcd"}
    await settle()
    waiting["c"].cancel()
    await settle()
    batches.gate.set()
    assert await first == outcome_for("a")
    assert await waiting["b"] == outcome_for("b") and await waiting["d"] == outcome_for("d")
    assert waiting["c"].cancelled()
    assert batches.seen == [["a"], ["b", "d"]]

    # Every waiter of a batch cancelled: no batch is run for them.
    batches.gate.clear()
    batches.started.clear()
    head = asyncio.create_task(queue.run(Job("e")))
    await batches.started.wait()
    gone = [asyncio.create_task(queue.run(Job(k))) for k in "fg"]
    await settle()
    for task in gone:
        task.cancel()
    await settle()
    batches.gate.set()
    assert await head == outcome_for("e")
    await settle()
    assert batches.seen[-1] == ["e"] and queue.batches == 3


async def test_a_missing_result_is_an_error_not_a_hang(tasks: TaskSupervisor) -> None:
    async def forgetful(jobs: list[Job]) -> dict[str, Result]:
        return {j.key: outcome_for(j.key) for j in jobs if j.key != "lost"}

    queue: ImportQueue[Job] = ImportQueue(forgetful, tasks)
    lost, kept = queue.run(Job("lost")), queue.run(Job("kept"))
    results = await asyncio.gather(lost, kept, return_exceptions=True)
    assert isinstance(results[0], RuntimeError) and "import lost: no result" in str(results[0])
    assert results[1] == outcome_for("kept")

"""TaskSupervisor: a one-shot job leaves the worker list when it ends; its crash still counts."""

from __future__ import annotations

import asyncio

from torrentino_bridge.tasks import TaskSupervisor


async def _returns() -> None:
    await asyncio.sleep(0)


async def _raises() -> None:
    raise RuntimeError("repair broke")


async def test_a_oneshot_that_ends_leaves_the_workers_and_a_worker_that_ends_is_dead() -> None:
    tasks = TaskSupervisor()
    await tasks.start("repair", _returns(), oneshot=True)
    await tasks.start("intake", _returns())
    assert tasks.alive() == {"intake": False}
    assert not tasks.failed.is_set()


async def test_a_crashing_oneshot_fails_the_service() -> None:
    tasks = TaskSupervisor()
    task = tasks.start("repair", _raises(), oneshot=True)
    await asyncio.wait([task])
    assert tasks.failed.is_set()
    assert "repair broke" in tasks.failures["repair"]

"""The durable outbox: idempotent enqueue, delivery with retries, give-up, and survival
of the items across a reopened database (what a restart sees)."""

from __future__ import annotations

from pathlib import Path

from torrentino_bridge.engine.outbox import GiveUp, OutboxWorker, Retry
from torrentino_bridge.store.bridge import BridgeStore
from torrentino_bridge.store.db import open_bridge_db
from torrentino_bridge.store.outbox import NewItem, OutboxItem, OutboxStore, enqueue


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def _store(path: Path) -> BridgeStore:
    return BridgeStore(await open_bridge_db(path))


async def test_enqueue_is_idempotent_and_joins_the_callers_transaction(tmp_path: Path) -> None:
    store = await _store(tmp_path / "bridge.db")
    try:
        outbox = OutboxStore(store)
        item = NewItem("evt-1", "webhook", {"a": 1})
        assert await outbox.add([item]) == 1
        assert await outbox.add([item, NewItem("evt-2", "webhook", {"b": 2})]) == 1
        # Rolled back with the transaction that carried it.
        try:
            async with store.tx() as conn:
                await enqueue(conn, [NewItem("evt-3", "webhook", {})])
                raise RuntimeError("the causing change failed")
        except RuntimeError:
            pass
        assert await outbox.get("evt-3") is None
        assert {i.id for i in await outbox.due(now=10**12)} == {"evt-1", "evt-2"}
    finally:
        await store.close()


async def test_retries_with_backoff_then_delivers_once_and_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "bridge.db"
    store = await _store(path)
    clock = Clock()
    seen: list[tuple[str, int]] = []
    results: list[tuple[str, str]] = []

    async def flaky(item: OutboxItem) -> None:
        seen.append((item.id, item.attempts))
        if item.attempts < 2:
            raise Retry("receiver answered 500")

    try:
        worker = OutboxWorker(OutboxStore(store), {"webhook": flaky}, backoff_secs=10, clock=clock,
                              on_result=lambda k, o: results.append((k, o)))
        await OutboxStore(store).add([NewItem("evt-1", "webhook", {"x": 1})])
        assert await worker.run_once() == 1
        assert await worker.run_once() == 0          # not due yet: backoff
    finally:
        await store.close()

    store = await _store(path)                       # a restart: the item is still there
    try:
        worker = OutboxWorker(OutboxStore(store), {"webhook": flaky}, backoff_secs=10, clock=clock,
                              on_result=lambda k, o: results.append((k, o)))
        for _ in range(3):
            clock.now += 3_600
            await worker.run_once()
        row = await OutboxStore(store).get("evt-1")
        assert row is not None and row["state"] == "done" and row["attempts"] == 3
        assert seen == [("evt-1", 0), ("evt-1", 1), ("evt-1", 2)]
        assert results == [("webhook", "retry"), ("webhook", "retry"), ("webhook", "delivered")]
    finally:
        await store.close()


async def test_give_up_unknown_kind_and_attempt_limit_end_dead(tmp_path: Path) -> None:
    store = await _store(tmp_path / "bridge.db")
    clock = Clock()

    async def refuse(item: OutboxItem) -> None:
        raise GiveUp("receiver answered 410")

    async def broken(item: OutboxItem) -> None:
        raise ValueError("a bug in the handler")

    try:
        outbox = OutboxStore(store)
        worker = OutboxWorker(outbox, {"gone": refuse, "buggy": broken}, max_attempts=3, clock=clock)
        await outbox.add([NewItem("a", "gone", {}), NewItem("b", "mystery", {}), NewItem("c", "buggy", {})])
        for _ in range(4):
            await worker.run_once()
            clock.now += 10**6
        states = {i: (await outbox.get(i) or {}).get("state") for i in "abc"}
        assert states == {"a": "dead", "b": "dead", "c": "dead"}
        c = await outbox.get("c")
        assert c is not None and c["attempts"] == 3 and "gave up after 3 attempts" in c["last_error"]
        assert "no handler" in ((await outbox.get("b")) or {})["last_error"]
        assert await outbox.counts() == {("gone", "dead"): 1, ("mystery", "dead"): 1, ("buggy", "dead"): 1}
    finally:
        await store.close()


async def test_a_kind_registered_to_retry_forever_outlives_the_attempt_limit(tmp_path: Path) -> None:
    """Cancelling a ticket QT keeps running must not be dropped because QT was away long."""
    store = await _store(tmp_path / "bridge.db")
    clock = Clock()
    away = True

    async def cancel(item: OutboxItem) -> None:
        if away:
            raise Retry("Quentin Torrentino is unavailable")

    try:
        outbox = OutboxStore(store)
        worker = OutboxWorker(outbox, max_attempts=3, clock=clock)
        worker.register("qt.cancel", cancel, retry_forever=True)
        worker.register("webhook", cancel)
        await outbox.add([NewItem("c", "qt.cancel", {}), NewItem("w", "webhook", {})])
        for _ in range(6):
            await worker.run_once()
            clock.now += 10**6
        assert (await outbox.get("w") or {})["state"] == "dead"
        still = await outbox.get("c")
        assert still is not None and still["state"] == "pending" and still["attempts"] == 6
        away = False
        await worker.run_once()
        assert (await outbox.get("c") or {})["state"] == "done"
    finally:
        await store.close()


async def test_a_worker_without_the_kinds_handler_leaves_the_item_to_one_that_has_it(tmp_path: Path) -> None:
    """A CLI command's one-shot worker knows its own kinds only: the daemon's items survive it."""
    store = await _store(tmp_path / "bridge.db")
    clock = Clock()
    delivered: list[str] = []

    async def cancel(item: OutboxItem) -> None:
        delivered.append(item.id)

    try:
        outbox = OutboxStore(store)
        await outbox.add([NewItem("c", "qt.cancel", {})])
        one_shot = OutboxWorker(outbox, {"webhook": cancel}, max_attempts=1000, clock=clock)
        await one_shot.run_once()
        row = await outbox.get("c")
        assert row is not None and row["state"] == "pending" and "no handler" in row["last_error"]
        clock.now += 10**6
        daemon = OutboxWorker(outbox, clock=clock)
        daemon.register("qt.cancel", cancel, retry_forever=True)
        await daemon.run_once()
        assert delivered == ["c"] and (await outbox.get("c") or {})["state"] == "done"
    finally:
        await store.close()


async def test_a_retry_after_of_zero_still_backs_off_and_kinds_have_lanes(tmp_path: Path) -> None:
    """A receiver answering `Retry-After: 0` no longer burns every attempt at once; and a
    one-shot worker delivers only the kinds it has handlers for (the CLI's run left the
    daemon's webhook and cancel items with attempts added and their next try pushed back)."""
    store = await _store(tmp_path / "bridge.db")
    clock = Clock()
    try:
        outbox = OutboxStore(store)

        async def busy(item: OutboxItem) -> None:
            raise Retry("503", after=0)

        worker = OutboxWorker(outbox, {"webhook": busy}, backoff_secs=10, clock=clock)
        await outbox.add([NewItem("w", "webhook", {}), NewItem("c", "qt.cancel", {})])
        assert await worker.run_once(kinds=["webhook"]) == 1
        assert await worker.run_once(kinds=["webhook"]) == 0      # backed off, not due again yet
        row = await outbox.get("w")
        assert row is not None and row["attempts"] == 1 and row["next_attempt_at"] >= clock.now + 5
        untouched = await outbox.get("c")
        assert untouched is not None and untouched["attempts"] == 0 and untouched["state"] == "pending"
    finally:
        await store.close()


async def test_a_slow_kind_does_not_hold_up_another(tmp_path: Path) -> None:
    import asyncio

    store = await _store(tmp_path / "bridge.db")
    delivered: list[str] = []
    release = asyncio.Event()

    async def slow(item: OutboxItem) -> None:
        await release.wait()
        delivered.append(item.id)

    async def fast(item: OutboxItem) -> None:
        delivered.append(item.id)

    try:
        outbox = OutboxStore(store)
        worker = OutboxWorker(outbox, {"webhook": slow, "pezzottify.search": fast})
        await outbox.add([NewItem("hook", "webhook", {})])
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(0.1)                    # the webhook lane is stuck on its receiver
        await outbox.add([NewItem("search", "pezzottify.search", {})])
        worker.wake.set()
        for _ in range(100):
            if "search" in delivered:
                break
            await asyncio.sleep(0.02)
        assert delivered == ["search"]
        release.set()
        stop.set()
        worker.wake.set()
        await asyncio.wait_for(running, 5)
    finally:
        await store.close()

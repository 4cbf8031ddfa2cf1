"""A flood of progress events for many live tickets (what QT sends: a ticket_update on
every progress write): the event path must not read the database per event, and must
still notice every state change.

Regression: TicketTracker.on_event read the submission row for every event, which
capped a running bridge at ~2,000 events/s (bench/events.py); live submissions are now
kept in memory as last applied.
"""

from __future__ import annotations

import pytest

from tests.conftest import build_catalog, wait_for, write_config
from tests.faults.harness import many_albums
from torrentino_bridge.config import load_settings
from torrentino_bridge.qt.events import PipelineProgress, TicketUpdate
from torrentino_bridge.service import BridgeService
from torrentino_bridge.store.bridge import BridgeStore

pytestmark = pytest.mark.faults

ALBUMS = 20


class CountingStore(BridgeStore):
    """The real store, counting lookups by ticket id."""

    lookups = 0

    async def submission_by_ticket(self, ticket_id: str):  # type: ignore[no-untyped-def]
        CountingStore.lookups += 1
        return await super().submission_by_ticket(ticket_id)


async def test_progress_floods_are_served_from_memory(tmp_path, sim, monkeypatch) -> None:
    sim.set_outcome(None, "needs_approval")          # tickets stay live while we flood
    albums = many_albums(ALBUMS, prefix="flood")
    catalog = build_catalog(tmp_path / "catalog.db", albums)
    monkeypatch.setattr("torrentino_bridge.service.BridgeStore", CountingStore)
    settings = load_settings(write_config(tmp_path, catalog, sim.base_url,
                                          extra="\n[torrentino.rate_limits]\nrequests_per_user_per_day = 1000\n"))
    service = BridgeService(settings)
    await service.start(workers=False)
    try:
        for spec in albums:
            await service.store.insert_request(f"r-{spec.id}", f"user-{spec.id}", album_id=spec.id)
        await service.intake.run_once()
        await service.submitter.submit_pending()
        subs = await service.store.submissions()
        tickets = [s.ticket_id for s in subs if s.ticket_id]
        assert len(tickets) == ALBUMS

        async def parked() -> bool:
            await service.reconciler.run_once()
            rows = await service.store.submissions()
            return all(r.qt_state == "needs_approval" for r in rows)

        await wait_for(parked, what="every ticket waiting for approval")
        await service.tasks.drain("ticket:", timeout=30)

        CountingStore.lookups = 0
        for _ in range(50):
            for ticket_id in tickets:
                await service.tracker.on_event(TicketUpdate(ticket_id, "needs_approval"))
                await service.tracker.on_event(PipelineProgress(ticket_id, "placing", 50.0, 1, 2, "x"))
        assert CountingStore.lookups == 0, "progress events read the database"

        # A state change is still noticed at once: the ticket is refreshed.
        first = tickets[0]
        sim.approve(first, 0)
        await service.tracker.on_event(TicketUpdate(first, "approved"))
        # (Let the simulator's download begin: cancelled during its first step, it would
        # leave an un-awaited coroutine behind at teardown.)
        await wait_for(_now(lambda: sim.state_of(first) != "approved"), what="the download to start")
        await service.tasks.drain("ticket:", timeout=30)
        (row,) = [s for s in await service.store.submissions() if s.ticket_id == first]
        assert row.qt_state != "needs_approval"
        assert row.state.value in ("active", "importing", "completed")
    finally:
        await service.stop()


class CountingWrites(BridgeStore):
    """The real store, counting the writes a reconcile pass makes."""

    writes = 0

    async def update_submission(self, submission_id: str, **fields):  # type: ignore[no-untyped-def]
        CountingWrites.writes += 1
        return await super().update_submission(submission_id, **fields)

    async def set_request_status(self, request_id, status, error, **kwargs):  # type: ignore[no-untyped-def]
        CountingWrites.writes += 1
        return await super().set_request_status(request_id, status, error, **kwargs)


async def test_a_quiet_reconcile_pass_writes_nothing(tmp_path, sim, monkeypatch) -> None:
    """Regression: every poll of a ticket rewrote its submission row and re-derived its
    requests' status, so one pass over 10,000 unchanged tickets took ~40 s
    (bench/scale.py). A ticket QT reports as recorded now costs two reads and the GET."""
    from torrentino_bridge.sim import states

    sim.config.step_secs = 600                       # tickets stay `pending` in QT
    albums = many_albums(6, prefix="quiet")
    catalog = build_catalog(tmp_path / "catalog.db", albums)
    monkeypatch.setattr("torrentino_bridge.service.BridgeStore", CountingWrites)
    service = BridgeService(load_settings(write_config(tmp_path, catalog, sim.base_url)))
    await service.start(workers=False)
    try:
        for spec in albums:
            await service.store.insert_request(f"r-{spec.id}", f"user-{spec.id}", album_id=spec.id)
        await service.intake.run_once()
        await service.submitter.submit_pending()
        await service.tasks.drain("ticket:", timeout=30)
        await service.reconciler.run_once()

        CountingWrites.writes = 0
        assert await service.reconciler.run_once() == len(albums)
        assert CountingWrites.writes == 0, "a pass over unchanged tickets wrote"

        # One ticket moves on in QT: exactly that one is written, and its request follows.
        (sub, *_) = await service.store.submissions()
        assert sub.ticket_id is not None
        sim.stop_run(sub.ticket_id)
        sim.write_state(sub.ticket_id, states.failed("no peers", False, 0))
        await service.reconciler.run_once()
        assert CountingWrites.writes >= 1
        after = await service.store.get_submission(sub.id)
        assert after is not None and after.state.value == "failed"
        (request_id,) = await service.store.requests_of_submission(sub.id)
        row = await service.store.get_request(request_id)
        assert row is not None and row.status == "failed" and "no peers" in (row.error or "")
        others = [await service.store.get_request(f"r-{spec.id}") for spec in albums]
        assert sorted(r.status for r in others if r is not None) == ["failed"] + ["in_progress"] * (len(albums) - 1)
    finally:
        await service.stop()


def _now(check):
    async def run():
        return check()

    return run

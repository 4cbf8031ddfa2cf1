"""Cancelling a request never holds up anyone else's planning (issue 13.4, review finding):
it waits for a busy download's lock before it takes the intake's planning lock, and sends
QT's cancellation through the outbox instead of calling QT under any lock."""

from __future__ import annotations

import asyncio

from tests.conftest import album, build_catalog, wait_for
from tests.engine.test_flow import insert, until_status

A = album("alb-a", "Art", "Harbour Lights", ["One", "Two"])
B = album("alb-b", "Bee", "Other Album", ["Uno", "Dos"])


async def test_a_cancel_waiting_on_a_busy_download_holds_up_no_one(tmp_path, sim, settings_for, running_bridge):
    sim.set_outcome(A.name, "needs_approval")
    catalog = build_catalog(tmp_path / "catalog.db", [A, B])
    service = await running_bridge(settings_for(catalog, sim.base_url))
    settings = service.settings
    await insert(settings, "r1", user="u1", track_ids=[A.track_id(1, 1), A.track_id(1, 2)])
    await until_status(service, "r1", "needs_approval")
    await insert(settings, "r2", user="u2", track_ids=[A.track_id(1, 1)])
    await until_status(service, "r2", "needs_approval")
    [sub_id] = await service.store.submissions_of_request("r1")

    held, release = asyncio.Event(), asyncio.Event()

    async def busy_download() -> None:       # what the tracker's import of this download does
        async with service.locks.hold(sub_id):
            held.set()
            await release.wait()

    holder = asyncio.create_task(busy_download())
    await held.wait()
    cancel = asyncio.create_task(service.canceller.cancel_request("r1", by="user", user_id="u1"))
    await asyncio.sleep(0.2)
    await insert(settings, "r3", user="u3", album_id=B.id)

    async def planned() -> bool:
        row = await service.store.get_request("r3")
        return row is not None and row.planned_at is not None

    try:
        await wait_for(planned, timeout=3, what="another user's request for another album to be planned")
    finally:
        release.set()
        await holder
    outcome = await cancel
    assert outcome.status == "cancelled" and outcome.released_tracks == [A.track_id(1, 2)]
    assert (await service.store.get_request("r2")).status == "needs_approval"

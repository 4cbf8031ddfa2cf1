"""QT's own ticket state decides, not a hint (issue 12.1, 12.2, 12.4).

A `completed` webhook or draft-vocabulary event that arrives while QT is still placing files
must not start an import; files that QT placed but that are not whole yet are waited for;
an ended ticket that QT brings back is followed without any socket message."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.conftest import TEST_TOKEN, album, build_catalog, running_sim, wait_for
from tests.engine.test_flow import catalog_rows, insert, until_status
from torrentino_bridge.qt.events import normalise

SLOW = album("alb-slow", "The Placers", "Slow Hands", ["First", "Second", "Third"], seconds=3)


@pytest.fixture
async def slow_sim() -> AsyncIterator[Any]:
    """A simulator whose placing takes long enough to say `completed` in the middle of it."""
    async with running_sim(step_secs=0.4, progress_ticks=1) as simulator:
        yield simulator


def _webhook(ticket_id: str) -> bytes:
    return json.dumps({"event": "completed", "ticket_id": ticket_id, "timestamp": "2026-12-07T12:00:00Z",
                       "details": {}}).encode()


async def _placing(sim: Any) -> str:
    async def check() -> str | None:
        for ticket_id, ticket in sim.tickets.items():
            if ticket["state"]["type"] == "placing" and ticket["state"].get("files_placed", 0) >= 1:
                return ticket_id
        return None

    return await wait_for(check, timeout=30, interval=0.01, what="QT to be placing files")


@pytest.mark.parametrize("hint", ["webhook", "draft_event"])
async def test_an_early_completed_hint_waits_for_qts_own_completion(tmp_path, slow_sim, settings_for,
                                                                    running_bridge, hint):
    catalog = build_catalog(tmp_path / "catalog.db", [SLOW])
    settings = settings_for(catalog, slow_sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id=SLOW.id)
    ticket_id = await _placing(slow_sim)
    message = _webhook(ticket_id) if hint == "webhook" else {"type": "completed", "ticket_id": ticket_id}
    await service.tracker.on_event(normalise(message))
    await asyncio.sleep(0.3)                     # what an import of the half-placed folder would take
    assert slow_sim.state_of(ticket_id) == "placing"
    sub = await service.store.submission_by_ticket(ticket_id)
    assert sub is not None and sub.state.value == "active", sub

    assert await until_status(service, "r1", "completed", "failed") == ("completed", None)
    assert {v[0] for v in catalog_rows(catalog, "plan").values()} == {"available"}


async def test_files_still_being_written_at_completion_are_waited_for(tmp_path, sim, settings_for, running_bridge):
    sim.set_outcome(None, "late_file")           # the last file's second half lands 1 s after `completed`
    catalog = build_catalog(tmp_path / "catalog.db", [SLOW])
    settings = settings_for(catalog, sim.base_url)
    settings.media.settle_secs = 5.0
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id=SLOW.id)
    assert await until_status(service, "r1", "completed", "failed") == ("completed", None)
    assert {v[0] for v in catalog_rows(catalog, "plan").values()} == {"available"}


async def test_without_grace_the_half_written_file_fails_its_track(tmp_path, sim, settings_for, running_bridge):
    sim.set_outcome(None, "late_file")
    catalog = build_catalog(tmp_path / "catalog.db", [SLOW])
    settings = settings_for(catalog, sim.base_url)
    settings.media.settle_secs = 0.0
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id=SLOW.id)
    status, error = await until_status(service, "r1", "completed", "failed")
    assert status == "failed" and "3 Third" in (error or "")


async def test_a_ticket_retried_in_qt_after_failing_is_followed_without_socket_messages(
        tmp_path, sim, settings_for, running_bridge):
    sim.set_outcome(None, "fail")                # fails once; a retry completes
    sim.set_faults(drop_ws=True)                 # every socket message lost
    catalog = build_catalog(tmp_path / "catalog.db", [SLOW])
    settings = settings_for(catalog, sim.base_url)
    settings.bridge.follow_ended_interval_secs = 0.3
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id=SLOW.id)
    assert (await until_status(service, "r1", "completed", "failed"))[0] == "failed"
    ticket_id = next(iter(sim.tickets))

    # Someone retries the ticket in QT's own UI.
    async with aiohttp.ClientSession() as session, session.post(
            f"{sim.base_url}/api/v1/tickets/{ticket_id}/retry",
            headers={"Authorization": f"Bearer {TEST_TOKEN}"}) as resp:
        assert resp.status == 200
    assert await until_status(service, "r1", "completed") == ("completed", None)
    assert {v[0] for v in catalog_rows(catalog, "plan").values()} == {"available"}
    assert sim.post_count == 1

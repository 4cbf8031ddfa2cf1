"""Whole-album coalescing (issue 13.2): a request for tracks of an album with a download on
its way waits for that download; only tracks it does not bring get a ticket of their own;
with fill_album, one download's good files complete the album for everyone."""

from __future__ import annotations

import pytest

from tests.conftest import album, build_catalog, wait_for
from tests.engine.test_flow import catalog_rows, insert, until_status

FIVE = album("alb-five", "The Coalescers", "One Download", ["Uno", "Dos", "Tres", "Cuatro", "Cinco"])
RELEASE = [{"number": n, "title": title, "duration_secs": 2, "disc_number": 1}
           for _, n, title, *_ in FIVE.tracks]


def available(catalog) -> set[str]:
    return {t for t, (state, _) in catalog_rows(catalog, "plan").items() if state == "available"}


async def _parked_then_approved(service, sim, request_first, request_second) -> None:
    """The first request's ticket waits for approval while the second request arrives."""
    await request_first()
    await until_status(service, "r1", "needs_approval")
    await request_second()
    await until_status(service, "r2", "needs_approval", "in_progress")
    assert sim.post_count == 1, "the second request must wait on the album's download"
    sim.set_outcome(None, "complete")
    sub = (await service.store.submissions())[0]
    await service.actions.approve(sub.ticket_id)


@pytest.mark.parametrize("whole_torrent", [False, True])
async def test_whole_album_request_waits_on_the_running_download(tmp_path, sim, settings_for, running_bridge,
                                                                 whole_torrent):
    sim.set_outcome(None, "needs_approval")
    if whole_torrent:
        sim.set_release("One Download", RELEASE)
    catalog = build_catalog(tmp_path / "catalog.db", [FIVE])
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    await _parked_then_approved(
        service, sim,
        lambda: insert(settings, "r1", user="u1", track_ids=[FIVE.track_id(1, 1), FIVE.track_id(1, 2)]),
        lambda: insert(settings, "r2", user="u2", album_id=FIVE.id),
    )
    assert await until_status(service, "r1", "completed", "failed") == ("completed", None)
    assert await until_status(service, "r2", "completed", "failed") == ("completed", None)
    assert available(catalog) == {FIVE.track_id(1, n) for n in range(1, 6)}
    # One download; a second one only for what the first did not bring.
    assert sim.post_count == (1 if whole_torrent else 2)
    if not whole_torrent:
        second = [t for t in sim.tickets.values()
                  if len(t["query_context"]["expected"]["tracks"]) == 3]
        assert [x["title"] for x in second[0]["query_context"]["expected"]["tracks"]] == ["Tres", "Cuatro", "Cinco"]


@pytest.mark.parametrize("fill", [True, False])
async def test_fill_album_imports_the_rest_and_tells_earlier_requesters(tmp_path, sim, settings_for,
                                                                       running_bridge, fill):
    catalog = build_catalog(tmp_path / "catalog.db", [FIVE])
    settings = settings_for(catalog, sim.base_url)
    settings.media.fill_album = fill
    service = await running_bridge(settings)
    sim.set_outcome(None, "fail_always")
    await insert(settings, "early", user="u3", track_ids=[FIVE.track_id(1, 5)])
    assert (await until_status(service, "early", "completed", "failed"))[0] == "failed"

    sim.set_outcome(None, "complete")
    sim.set_release("One Download", RELEASE)     # the torrent holds the whole album
    await insert(settings, "r1", user="u1", track_ids=[FIVE.track_id(1, 1), FIVE.track_id(1, 2)])
    assert await until_status(service, "r1", "completed", "failed") == ("completed", None)
    if fill:
        assert available(catalog) == {FIVE.track_id(1, n) for n in range(1, 6)}
        assert await until_status(service, "early", "completed") == ("completed", None)
    else:
        assert available(catalog) == {FIVE.track_id(1, 1), FIVE.track_id(1, 2)}
        assert (await service.store.get_request("early")).status == "failed"
        states = {t: s for t, (s, _) in catalog_rows(catalog, "plan").items()}
        assert states[FIVE.track_id(1, 3)] == "unavailable" and states[FIVE.track_id(1, 5)] == "fetch_error"
    assert sim.post_count == 2


async def test_a_joined_track_the_download_lacks_gets_its_own_ticket_when_the_download_fails(
        tmp_path, sim, settings_for, running_bridge):
    sim.set_outcome(None, "needs_approval")
    catalog = build_catalog(tmp_path / "catalog.db", [FIVE])
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", user="u1", track_ids=[FIVE.track_id(1, 1)])
    await until_status(service, "r1", "needs_approval")
    await insert(settings, "r2", user="u2", track_ids=[FIVE.track_id(1, 4)])
    await until_status(service, "r2", "needs_approval")
    sub = (await service.store.submissions())[0]
    sim.set_outcome(None, "complete")
    await service.actions.reject(sub.ticket_id, "wrong release")
    assert (await until_status(service, "r1", "rejected", "failed", "cancelled"))[0] == "rejected"
    # r2 only waited on that download: it is asked for on its own, and arrives.
    assert await until_status(service, "r2", "completed", "failed") == ("completed", None)
    assert FIVE.track_id(1, 4) in available(catalog)

    async def two_tickets():
        return sim.post_count == 2

    await wait_for(two_tickets, what="the follow-up ticket")


async def test_a_track_joining_a_download_that_ends_meanwhile_is_not_stranded(tmp_path):
    """The intake reads the album's live download, then waits on the catalog (the server's
    availability job may hold it for minutes) before it records the join; if the download
    ends in between, the joined row used to stay live in a closed submission, and the unique
    index of live tracks refused every later request for that track, forever."""
    from tests.conftest import write_config
    from torrentino_bridge.config import load_settings
    from torrentino_bridge.domain.status import SubmissionState
    from torrentino_bridge.engine.intake import Intake
    from torrentino_bridge.engine.requests import RequestStatusUpdater
    from torrentino_bridge.metrics import Metrics
    from torrentino_bridge.store.bridge import BridgeStore
    from torrentino_bridge.store.catalog import open_catalog
    from torrentino_bridge.store.db import open_bridge_db

    a = album("alb1", "Artist", "Album", ["One", "Two", "Three"])
    path = build_catalog(tmp_path / "catalog.db", [a])
    settings = load_settings(write_config(tmp_path, path, "http://127.0.0.1:9"))
    store = BridgeStore(await open_bridge_db(settings.bridge.db))
    catalog = await open_catalog(path)
    try:
        intake = Intake(settings, store, catalog, RequestStatusUpdater(store, catalog, Metrics()),
                        on_planned=lambda: None)
        t1, t2 = a.track_id(1, 1), a.track_id(1, 2)
        await store.insert_request("r1", "alice", track_ids=[t1])
        await intake.run_once()
        [sub_id] = await store.submissions_of_request("r1")

        real_apply = catalog.apply

        async def apply_while_qt_fails_the_download(changes):   # as tracker._end: catalog, then rows
            if any(c.track_id == t2 for c in changes):
                await store.close_submission(sub_id, SubmissionState.FAILED,
                                             outcomes={t1: ("error", None, "qt failed")})
            await real_apply(changes)

        catalog.apply = apply_while_qt_fails_the_download
        await store.insert_request("r2", "bob", track_ids=[t2])
        await intake.run_once()
        catalog.apply = real_apply
        live = await store._all("SELECT s.state FROM submission_tracks st JOIN submissions s"
                                " ON s.id = st.submission_id WHERE st.track_id = ? AND st.active = 1", (t2,))
        assert [r[0] for r in live] == ["intent"], "t2 must be live in a ticket of its own"
        assert (await store.get_request("r2")).status != "failed"
        await store.insert_request("r3", "carol", track_ids=[t2])
        await intake.run_once()
        assert (await store.get_request("r3")).status != "failed"
    finally:
        await catalog.close()
        await store.close()

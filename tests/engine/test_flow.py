"""End to end through the real parts: simulator on 127.0.0.1, SQLite files, real audio."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from pathlib import Path

import mutagen
import pytest

from tests.conftest import album, build_catalog, wait_for
from tests.pezzottify import shard_uri
from torrentino_bridge.domain.status import SubmissionState
from torrentino_bridge.store.bridge import BridgeStore
from torrentino_bridge.store.db import open_bridge_db

OK = album("alb-ok", "The Lanterns", "Harbour Lights", ["Low Tide", "Signal Fires", "Breakwater"], year=2019)
TWO = album("alb-two", "Mira Sol", "Cartas de Verano", ["Canción", "Días Largos"], year=2021)


@pytest.fixture(params=["plan", "pezzottify"])
def layout(request):
    return request.param


def catalog_rows(path: Path, layout: str) -> dict[str, tuple[str, str | None]]:
    """track id -> (availability as the catalog stores it, audio_uri)."""
    conn = sqlite3.connect(path)
    try:
        if layout == "plan":
            rows = conn.execute("SELECT id, availability, audio_uri FROM tracks").fetchall()
            return {r[0]: (r[1], r[2]) for r in rows}
        rows = conn.execute("SELECT id, track_available, audio_uri FROM tracks").fetchall()
        return {r[0]: ("available" if r[1] else "unavailable", r[2]) for r in rows}
    finally:
        conn.close()


async def insert(settings, request_id: str, user: str = "u1", **kwargs) -> None:
    """Write a request the way another process would: its own connection."""
    store = BridgeStore(await open_bridge_db(settings.bridge.db))
    try:
        await store.insert_request(request_id, user, **kwargs)
    finally:
        await store.close()


async def insert_raw(settings, **columns) -> None:
    conn = sqlite3.connect(settings.bridge.db)
    with conn:
        names = ",".join(columns)
        conn.execute(f"INSERT INTO download_requests ({names}) VALUES ({','.join('?' * len(columns))})",
                     tuple(columns.values()))
    conn.close()


async def request_status(service, request_id: str) -> tuple[str, str | None]:
    row = await service.store.get_request(request_id)
    return (row.status, row.error) if row else ("missing", None)


async def until_status(service, request_id: str, *statuses: str, timeout: float = 30.0) -> tuple[str, str | None]:
    async def check():
        status = await request_status(service, request_id)
        return status if status[0] in statuses else None

    return await wait_for(check, timeout=timeout, what=f"{request_id} to be {'/'.join(statuses)}")


def assert_audio(settings, uri: str, title: str) -> None:
    path = settings.media.root / uri
    assert path.is_file(), uri
    audio = mutagen.File(path, easy=True)
    assert audio is not None and audio.info.length > 0
    assert audio["title"] == [title]


async def test_album_request_happy_path(tmp_path, sim, settings_for, running_bridge, layout):
    catalog = build_catalog(tmp_path / "catalog.db", [OK], layout=layout)
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-ok")

    assert await until_status(service, "r1", "completed", "failed") == ("completed", None)
    rows = catalog_rows(catalog, layout)
    assert {k: v[0] for k, v in rows.items()} == dict.fromkeys(rows, "available")
    for disc, number, title, *_ in OK.tracks:
        uri = rows[OK.track_id(disc, number)][1]
        # Each layout's own default: the Pezzottify server's shards, or the plan's album folders.
        assert uri == (shard_uri(OK.track_id(disc, number)) if layout == "pezzottify"
                       else f"alb-ok/{disc}-{number:02d}.ogg")
        assert_audio(service.settings, uri, title)
    assert sim.post_count == 1
    ticket = next(iter(sim.tickets.values()))
    ctx = ticket["query_context"]
    assert ctx["description"] == "The Lanterns - Harbour Lights (2019)"
    assert [t["title"] for t in ctx["expected"]["tracks"]] == ["Low Tide", "Signal Fires", "Breakwater"]
    assert ticket["dest_path"].startswith(str(settings.media.incoming))
    assert ticket["output_constraints"] == {"type": "audio", "format": "ogg_vorbis", "bitrate_kbps": 320}
    # leftovers are cleaned up after a complete import
    assert not Path(ticket["dest_path"]).exists()


async def test_tracks_go_through_fetching(tmp_path, sim, settings_for, running_bridge):
    sim.set_outcome(None, "needs_approval")   # park the ticket so the state can be observed
    catalog = build_catalog(tmp_path / "catalog.db", [OK])
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-ok")
    await until_status(service, "r1", "needs_approval")
    assert {v[0] for v in catalog_rows(catalog, "plan").values()} == {"fetching"}


async def test_track_list_across_two_albums_makes_two_tickets(tmp_path, sim, settings_for, running_bridge, layout):
    catalog = build_catalog(tmp_path / "catalog.db", [OK, TWO], layout=layout)
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    wanted = [OK.track_id(1, 2), TWO.track_id(1, 1), TWO.track_id(1, 2)]
    await insert(settings, "r1", track_ids=wanted)

    assert (await until_status(service, "r1", "completed", "failed"))[0] == "completed"
    assert sim.post_count == 2
    expected = sorted(len(t["query_context"]["expected"]["tracks"]) for t in sim.tickets.values())
    assert expected == [1, 2]
    rows = catalog_rows(catalog, layout)
    assert {t for t, v in rows.items() if v[0] == "available"} == set(wanted)


async def test_second_request_for_a_fetching_album_joins_the_ticket(tmp_path, sim, settings_for, running_bridge):
    sim.set_outcome(None, "needs_approval")
    catalog = build_catalog(tmp_path / "catalog.db", [OK])
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-ok")
    await until_status(service, "r1", "needs_approval")
    await insert(settings, "r2", user="u2", track_ids=[OK.track_id(1, 1)])
    await until_status(service, "r2", "needs_approval")
    assert sim.post_count == 1

    ticket_id = next(iter(sim.tickets))
    await service.actions.approve(ticket_id, 0)
    assert (await until_status(service, "r1", "completed", "failed"))[0] == "completed"
    assert (await until_status(service, "r2", "completed", "failed"))[0] == "completed"
    assert sim.post_count == 1


async def test_request_for_available_tracks_completes_at_once(tmp_path, sim, settings_for, running_bridge):
    done = album("alb-done", "A", "Done", ["x", "y"], availability="available")
    catalog = build_catalog(tmp_path / "catalog.db", [done])
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-done")
    assert await until_status(service, "r1", "completed", "failed") == ("completed", None)
    assert sim.post_count == 0


async def test_needs_approval_then_approve_completes(tmp_path, sim, settings_for, running_bridge, layout):
    sim.set_outcome("Harbour Lights", "needs_approval")
    catalog = build_catalog(tmp_path / "catalog.db", [OK], layout=layout)
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-ok")
    await until_status(service, "r1", "needs_approval")

    sub = (await service.store.submissions())[0]
    candidates = sub.details_json["candidates"]
    assert len(candidates) == 3 and all(c["title"] for c in candidates)
    await service.actions.approve(sub.ticket_id, 1)
    assert (await until_status(service, "r1", "completed", "failed"))[0] == "completed"
    assert {v[0] for v in catalog_rows(catalog, layout).values()} == {"available"}


async def test_reject_releases_the_tracks(tmp_path, sim, settings_for, running_bridge):
    sim.set_outcome(None, "needs_approval")
    catalog = build_catalog(tmp_path / "catalog.db", [OK])
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-ok")
    await until_status(service, "r1", "needs_approval")
    sub = (await service.store.submissions())[0]
    await service.actions.reject(sub.ticket_id, "wrong edition")
    _, error = await until_status(service, "r1", "rejected")
    assert "wrong edition" in error
    assert {v[0] for v in catalog_rows(catalog, "plan").values()} == {"unavailable"}


async def test_cancel_releases_the_tracks(tmp_path, sim, settings_for, running_bridge):
    sim.set_outcome(None, "needs_approval")
    catalog = build_catalog(tmp_path / "catalog.db", [OK])
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-ok")
    await until_status(service, "r1", "needs_approval")
    sub = (await service.store.submissions())[0]
    await service.actions.cancel(sub.ticket_id, "changed my mind")
    await until_status(service, "r1", "cancelled")
    assert {v[0] for v in catalog_rows(catalog, "plan").values()} == {"unavailable"}


async def test_failed_then_retry_becomes_available(tmp_path, sim, settings_for, running_bridge, layout):
    sim.set_outcome(None, "fail")
    catalog = build_catalog(tmp_path / "catalog.db", [OK], layout=layout)
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-ok")
    _, error = await until_status(service, "r1", "failed")
    assert error and "Quentin Torrentino" in error
    if layout == "plan":
        assert {v[0] for v in catalog_rows(catalog, layout).values()} == {"fetch_error"}
    report = await service.store.request_tracks("r1")
    assert all(r["track_error"] for r in report)

    result = await service.actions.retry_request("r1")
    assert len(result.qt_retried) == 1
    assert (await until_status(service, "r1", "completed", "failed"))[0] == "completed"
    assert {v[0] for v in catalog_rows(catalog, layout).values()} == {"available"}
    assert sim.post_count == 1


async def test_acquisition_failed_is_fetch_error(tmp_path, sim, settings_for, running_bridge):
    sim.set_outcome(None, "acquisition_failed")
    catalog = build_catalog(tmp_path / "catalog.db", [OK])
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-ok")
    await until_status(service, "r1", "failed")
    assert {v[0] for v in catalog_rows(catalog, "plan").values()} == {"fetch_error"}


async def test_reconciliation_completes_when_every_ws_message_is_lost(
    tmp_path, sim, settings_for, running_bridge
):
    sim.set_faults(drop_ws=True)
    catalog = build_catalog(tmp_path / "catalog.db", [OK])
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-ok")
    assert (await until_status(service, "r1", "completed", "failed"))[0] == "completed"
    assert service.events is not None and sum(service.events.messages.values()) == 0


async def test_malformed_rows_fail_clearly_and_leave_the_rest_alone(tmp_path, sim, settings_for, running_bridge):
    catalog = build_catalog(tmp_path / "catalog.db", [OK])
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    before = catalog_rows(catalog, "plan")
    bad = {
        "unknown-album": ({"album_id": "nope"}, "unknown album id: nope"),
        "unknown-track": ({"track_ids": json.dumps(["alb-ok-101", "ghost"])}, "unknown track ids: ghost"),
        "empty": ({"track_ids": "[]"}, "track_ids is an empty list"),
        "bad-json": ({"track_ids": "[\"a\","}, "track_ids is not valid JSON"),
        "both": ({"album_id": "alb-ok", "track_ids": "[\"alb-ok-101\"]"}, "not both"),
        "neither": ({}, "neither album_id nor track_ids is set"),
    }
    for request_id, (cols, _) in bad.items():
        await insert_raw(settings, id=request_id, user_id="u1", **cols)
    for request_id, (_, message) in bad.items():
        status, error = await until_status(service, request_id, "failed", "completed", "in_progress")
        assert status == "failed", request_id
        assert message in error, (request_id, error)
    assert catalog_rows(catalog, "plan") == before
    assert sim.post_count == 0
    await insert(settings, "good", album_id="alb-ok")
    assert (await until_status(service, "good", "completed", "failed"))[0] == "completed"


async def test_wrong_token_keeps_requests_pending_until_fixed(tmp_path, sim, settings_for, running_bridge):
    catalog = build_catalog(tmp_path / "catalog.db", [OK])
    token_file = tmp_path / "qt-token"
    token_file.write_text("definitely-wrong-token")
    settings = settings_for(catalog, sim.base_url, token=None, extra=f'auth_token_file = "{token_file}"\n')
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-ok")

    async def waiting():
        status, error = await request_status(service, "r1")
        return status == "pending" and error and "refused the token" in error

    await wait_for(waiting, what="the request to wait on the token")
    assert sim.tickets == {}
    token_file.write_text(sim.config.api_key)   # the operator fixes the token file
    service.submitter.wake.set()
    assert (await until_status(service, "r1", "completed", "failed", timeout=30))[0] == "completed"
    assert sim.post_count == 1


async def test_qt_error_on_create_is_retried_without_duplicates(tmp_path, sim, settings_for, running_bridge):
    sim.set_faults(create_errors=3)
    catalog = build_catalog(tmp_path / "catalog.db", [OK])
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-ok")
    assert (await until_status(service, "r1", "completed", "failed"))[0] == "completed"
    assert len(sim.tickets) == 1


async def test_missing_track_fails_only_that_track_and_retry_resubmits(tmp_path, sim, settings_for, running_bridge):
    sim.set_outcome(None, "missing_tracks")
    catalog = build_catalog(tmp_path / "catalog.db", [OK])
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-ok")
    _, error = await until_status(service, "r1", "failed")
    assert error.startswith("2 of 3 tracks imported; missing")
    rows = catalog_rows(catalog, "plan")
    assert sorted(v[0] for v in rows.values()) == ["available", "available", "fetch_error"]

    sim.set_outcome(None, "complete")
    result = await service.actions.retry_request("r1")
    assert len(result.resubmitted) == 1
    assert (await until_status(service, "r1", "completed", "failed"))[0] == "completed"
    second = [t for t in sim.tickets.values() if len(t["query_context"]["expected"]["tracks"]) == 1]
    assert len(second) == 1


async def test_details_are_fetched_on_state_changes_not_on_every_progress_tick(
    tmp_path, sim, settings_for, running_bridge
):
    sim.set_outcome(None, "slow")
    sim.config.progress_ticks = 40
    catalog = build_catalog(tmp_path / "catalog.db", [OK])
    # No reconcile polling during the run, and a long progress refresh: only state changes fetch.
    settings = settings_for(catalog, sim.base_url)
    settings.bridge.reconcile_interval_secs = 3600
    settings.bridge.progress_refresh_secs = 3600
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-ok")
    assert (await until_status(service, "r1", "completed", "failed"))[0] == "completed"

    ticket_id = next(iter(sim.tickets))
    writes = sim.history[ticket_id]
    state_types = [w["type"] for w in writes]
    changes = sum(1 for a, b in itertools.pairwise(state_types) if a != b) + 1
    assert state_types.count("downloading") >= 40
    gets = service.metrics.registry.get_sample_value(
        "bridge_qt_call_duration_seconds_count", {"operation": "get_ticket", "outcome": "ok"}) or 0
    assert 1 <= gets <= changes + 1, (gets, changes)


async def test_events_sent_before_the_ticket_id_is_recorded_are_not_lost(
    tmp_path, sim, settings_for, running_bridge
):
    # QT creates the ticket and moves it to needs_approval while its answer to the POST is
    # held: every event arrives before the bridge knows the ticket id. No reconcile polling.
    sim.set_outcome(None, "needs_approval")
    sim.set_faults(create_hold_secs=0.5)
    catalog = build_catalog(tmp_path / "catalog.db", [OK])
    settings = settings_for(catalog, sim.base_url)
    settings.bridge.reconcile_interval_secs = 3600
    service = await running_bridge(settings)
    await service.reconciler.run_once()   # the pass after connecting is done before the request
    await insert(settings, "r1", album_id="alb-ok")
    await until_status(service, "r1", "needs_approval", timeout=10)


async def test_progress_refreshes_keep_few_requests_in_flight(tmp_path, sim, settings_for, running_bridge):
    # Ten downloads ticking together, every tick due for a refresh: detail fetches for progress
    # go through reconcile_concurrency workers instead of a request per ticket at once.
    albums = [album(f"alb-{n}", f"Artist {n}", f"Record {n}", ["One", "Two"]) for n in range(10)]
    sim.set_outcome(None, "slow")
    sim.config.progress_ticks = 50          # x10 for "slow": 500 ticks, 10 s at 0.02 s a step
    sim.config.step_secs = 0.02
    sim.set_faults(latency_secs=0.05)      # each fetch lasts long enough to overlap the next ones
    catalog = build_catalog(tmp_path / "catalog.db", albums)
    settings = settings_for(catalog, sim.base_url)
    settings.bridge.reconcile_interval_secs = 3600
    settings.bridge.reconcile_concurrency = 2
    settings.bridge.progress_refresh_secs = 0
    service = await running_bridge(settings)
    for n in range(10):
        await insert(settings, f"r{n}", f"user-{n}", album_id=f"alb-{n}")

    async def all_downloading():
        subs = await service.store.submissions([SubmissionState.ACTIVE])
        return len(subs) == 10 and all(s.qt_state == "downloading" for s in subs)

    await wait_for(all_downloading, timeout=20, what="ten downloads")
    await asyncio.sleep(0.2)                # state-change fetches still answering finish
    sim.max_gets_in_flight = sim.gets_in_flight
    before = {s.id: s.progress for s in await service.store.submissions([SubmissionState.ACTIVE])}
    gets_before = sim.api_requests
    await asyncio.sleep(1.5)
    subs = {s.id: s for s in await service.store.submissions([SubmissionState.ACTIVE])}
    # Still downloading (no state change in the window), every ticket's progress moved, and the
    # fetches stayed within two (the state-change stragglers, if any, were already counted).
    assert all(s.qt_state == "downloading" for s in subs.values())
    assert all((subs[i].progress or 0) > (before[i] or 0) for i in before), (before, subs)
    assert sim.api_requests - gets_before > 10
    assert sim.max_gets_in_flight <= 2, sim.max_gets_in_flight
    assert len(service.tracker._queued) <= 10


async def test_a_crashing_progress_refresh_is_recorded_and_the_queue_goes_on(
    tmp_path, sim, settings_for, running_bridge
):
    # A crash is a bug by definition, so one is injected: the refresh of one ticket raises.
    sim.set_outcome(None, "needs_approval")       # two live tickets that stay put
    catalog = build_catalog(tmp_path / "catalog.db", [OK, TWO])
    settings = settings_for(catalog, sim.base_url)
    settings.bridge.reconcile_interval_secs = 3600
    settings.bridge.reconcile_concurrency = 1
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-ok")
    await insert(settings, "r2", "u2", album_id="alb-two")
    await until_status(service, "r1", "needs_approval")
    await until_status(service, "r2", "needs_approval")
    await service.tasks.drain("ticket:", timeout=10)
    first, second = [s.ticket_id for s in await service.store.submissions([SubmissionState.NEEDS_APPROVAL])]
    tracker, refreshed = service.tracker, []
    real_refresh = tracker.refresh

    async def refresh(ticket_id):
        if ticket_id == first:
            raise RuntimeError("injected")
        refreshed.append(ticket_id)
        await real_refresh(ticket_id)

    tracker.refresh = refresh
    tracker.schedule_progress(first)
    tracker.schedule_progress(second)     # queued behind the crash, on the one worker
    await service.tasks.drain("ticket:", timeout=10)
    assert refreshed == [second]
    assert "RuntimeError('injected')" in service.tasks.failures[f"ticket:{first}"]
    assert tracker._refreshers == 0 and not tracker._queued and not tracker._pending

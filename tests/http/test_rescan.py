"""The match table of a download and a re-scan of its folder, through the admin API against
the simulator: real encoded files, the real import, the requests following."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import wait_for
from torrentino_bridge.sim.placement import audio_kind_for, plan_files, write_planned

from .conftest import OK, ok_availability


async def requested(bridge, album_id: str = "alb-ok") -> str:
    reply = await bridge.user("POST", "/v1/user/request-download", body={"album_id": album_id})
    assert reply.status == 202, reply.text
    return reply.body["request_id"]


async def put_good_file(sim, ticket_id: str, index: int = -1) -> Path:
    """The file QT would have placed for one track, written now (the admin fixed the folder)."""
    ticket = sim.tickets[ticket_id]
    kind = audio_kind_for(ticket, None)
    planned = plan_files(ticket, kind)[index]
    dest = Path(ticket["dest_path"])
    await asyncio.to_thread(write_planned, dest, planned, kind, sim.config.sample_rate)
    return dest / planned.relpath


availability = ok_availability


LAST = OK.track_id(1, 3)


@pytest.mark.parametrize(("outcome", "reason"), [("missing_tracks", "missing"), ("corrupt_track", "corrupt")])
async def test_the_match_table_then_a_rescan_after_the_folder_was_fixed(make_bridge, sim, outcome, reason):
    sim.set_outcome("Harbour Lights", outcome)
    bridge = await make_bridge()
    request_id = await requested(bridge)
    _, error = await bridge.until_status(request_id, "failed")
    assert f"{reason}: 3 Breakwater" in error
    ticket = await bridge.only_ticket()

    table = await bridge.admin("GET", f"/v1/admin/downloads/{ticket}/matches")
    assert table.status == 200, table.text
    body = table.body
    assert body["source"] == "import" and body["import_state"] == "done" and body["ticket_id"] == ticket
    matches = body["report"]["matches"]
    assert [m["track_id"] for m in matches] == [OK.track_id(1, 1), OK.track_id(1, 2)]
    for m in matches:
        assert m["file"].endswith(".ogg") and m["signals"] and 0 < m["confidence"] <= 1
    assert body["report"]["unmatched_tracks"] == [LAST]
    assert body["failed"][LAST].startswith(reason)
    assert body["labels"][LAST] == "3 Breakwater"
    if outcome == "corrupt_track":
        assert any(r["reason"].startswith("corrupt") for r in body["report"]["rejected_files"])
    assert body["outcome"]["imported"].keys() == {OK.track_id(1, 1), OK.track_id(1, 2)}

    fixed = await put_good_file(sim, ticket)
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/rescan")
    assert reply.status == 200, reply.text
    assert reply.body["tracks"] == [LAST]
    assert reply.body["outcome"]["imported"] == {LAST: "alb-ok/1-03.ogg"}
    assert reply.body["outcome"]["failed"] == {}
    download = reply.body["download"]
    assert download["state"] == "completed" and download["error"] is None
    assert {t["outcome"] for t in download["tracks"]} == {"imported"}

    assert await bridge.request_status(request_id) == ("completed", None)
    assert set(availability(bridge.catalog).values()) == {"available"}
    assert (bridge.settings.media.root / "alb-ok" / "1-03.ogg").is_file()
    assert not fixed.parent.exists()          # fully imported: the leftovers went
    again = await bridge.admin("GET", f"/v1/admin/downloads/{ticket}/matches")
    assert [m["track_id"] for m in again.body["report"]["matches"]] == [LAST]


async def test_a_rescan_that_still_finds_nothing_says_so_and_the_request_stays_failed(make_bridge, sim):
    sim.set_outcome("Harbour Lights", "missing_tracks")
    bridge = await make_bridge()
    request_id = await requested(bridge)
    await bridge.until_status(request_id, "failed")
    ticket = await bridge.only_ticket()
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/rescan", body={})
    assert reply.status == 200, reply.text
    assert reply.body["outcome"]["failed"] == {LAST: "missing"}
    assert reply.body["download"]["state"] == "completed"
    status, error = await bridge.request_status(request_id)
    assert status == "failed" and "missing: 3 Breakwater" in error
    assert availability(bridge.catalog)[LAST] == "fetch_error"


async def test_rescan_refusals(make_bridge, sim):
    sim.set_outcome("Harbour Lights", "needs_approval")
    sim.set_outcome("Cartas de Verano", "missing_tracks")
    bridge = await make_bridge()
    parked = await requested(bridge)
    done = await requested(bridge, "alb-two")
    await bridge.until_status(parked, "needs_approval")
    await bridge.until_status(done, "failed")
    subs = {s.album_id: s for s in await bridge.service.store.submissions()}
    live, completed = subs["alb-ok"], subs["alb-two"]

    async def rescan(ticket: str, **kwargs):
        return await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/rescan", **kwargs)

    reply = await rescan(live.ticket_id)
    assert reply.status == 409 and "still live" in reply.body["error"]
    assert (await bridge.admin("GET", f"/v1/admin/downloads/{live.ticket_id}/matches")).status == 404

    bad = await rescan(completed.ticket_id, body={"force": True})
    assert bad.status == 400 and "force: is not a known field" in bad.body["error"]

    await bridge.service.store.mark_importing([completed.id])
    reply = await rescan(completed.ticket_id)
    assert reply.status == 409 and "being imported" in reply.body["error"]
    await bridge.service.store.update_submission(completed.id, state="completed")

    conn = sqlite3.connect(bridge.catalog)       # the missing track arrived some other way
    with conn:
        conn.execute("UPDATE tracks SET availability = 'available', audio_uri = 'x.ogg'"
                     " WHERE album_id = 'alb-two' AND track_number = 2")
    conn.close()
    reply = await rescan(completed.ticket_id)
    assert reply.status == 409 and "nothing to re-scan" in reply.body["error"]

    shutil.rmtree(completed.local_dir)
    reply = await rescan(completed.ticket_id)
    assert reply.status == 410 and "is gone" in reply.body["error"]

    await bridge.admin("POST", f"/v1/admin/downloads/{live.ticket_id}/reject")
    await bridge.until_status(parked, "rejected")
    reply = await rescan(live.ticket_id)
    assert reply.status == 409 and "did not complete" in reply.body["error"]


async def test_matches_of_a_download_not_imported_yet_is_a_dry_run_of_its_folder(make_bridge, sim):
    sim.set_outcome("Harbour Lights", "needs_approval")
    bridge = await make_bridge()
    request_id = await requested(bridge)
    await bridge.until_status(request_id, "needs_approval")
    ticket = await bridge.only_ticket()
    assert (await bridge.admin("GET", f"/v1/admin/downloads/{ticket}/matches")).status == 404
    for index in (0, 1):                         # two of three files in place so far
        await put_good_file(sim, ticket, index)
    reply = await bridge.admin("GET", f"/v1/admin/downloads/{ticket}/matches")
    assert reply.status == 200, reply.text
    assert reply.body["source"] == "dry_run" and reply.body["outcome"] is None
    assert [m["track_id"] for m in reply.body["report"]["matches"]] == [OK.track_id(1, 1), OK.track_id(1, 2)]
    assert reply.body["failed"] == {LAST: "missing"}
    # Nothing moved, nothing journalled.
    assert sorted(p.name for p in Path(sim.tickets[ticket]["dest_path"]).iterdir()) == [
        "01 - Low Tide.ogg", "02 - Signal Fires.ogg"]
    assert (await bridge.admin("GET", f"/v1/admin/downloads/{ticket}/matches")).body["source"] == "dry_run"


async def test_a_rescan_cut_short_is_finished_after_a_restart(make_bridge, sim, running_bridge):
    """Once prepared, a re-scan is an import like any other: a daemon stopped before the import
    ran leaves the download importing, and the next one's reconciler finishes it."""
    sim.set_outcome("Harbour Lights", "missing_tracks")
    bridge = await make_bridge()
    request_id = await requested(bridge)
    await bridge.until_status(request_id, "failed")
    ticket = await bridge.only_ticket()
    await put_good_file(sim, ticket)
    sub = await bridge.service.store.submission_by_ticket(ticket)
    assert await bridge.service.rescans.prepare(sub) == [LAST]
    await bridge.service.stop()                   # gone before the import ran

    service = await running_bridge(bridge.settings)

    async def completed():
        row = await service.store.get_request(request_id)
        return row.status == "completed"

    await wait_for(completed, what="the next daemon to finish the re-scan's import")
    assert set(availability(bridge.catalog).values()) == {"available"}
    after = await service.store.get_submission(sub.id)
    assert after.state.value == "completed"

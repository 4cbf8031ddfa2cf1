"""Force-search through the admin API against the simulator: a new ticket whose description
is the admin's query, the old one cancelled when QT still runs it, the requests following
the new one; 400, 401, 404 and 409 answers."""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import wait_for
from torrentino_bridge.qt.types import Ticket, TicketState

from .conftest import OK, ok_availability

QUERY = "The Lanterns Harbour 2019 remaster FLAC"   # not "Harbour Lights": parked tickets match that


async def requested(bridge, album_id: str = "alb-ok") -> str:
    reply = await bridge.user("POST", "/v1/user/request-download", body={"album_id": album_id})
    assert reply.status == 202, reply.text
    return reply.body["request_id"]


async def parked(make_bridge, sim):
    """A bridge whose one request (album alb-ok) waits for approval: its ticket is live in QT."""
    sim.set_outcome("Harbour Lights", "needs_approval")
    bridge = await make_bridge()
    request_id = await requested(bridge)
    await bridge.until_status(request_id, "needs_approval")
    return bridge, request_id, await bridge.only_ticket()


def tickets_described(sim, text: str) -> list[dict]:
    return [t for t in sim.tickets.values() if t["query_context"]["description"] == text]


availability = ok_availability


async def test_a_live_ticket_is_replaced_and_cancelled_and_the_request_follows(make_bridge, sim):
    bridge, request_id, old_ticket = await parked(make_bridge, sim)
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{old_ticket}/search",
                               body={"query": f"  {QUERY}  ", "artist": "The Lanterns (UK)", "title": "Harbour"})
    assert reply.status == 200, reply.text
    new = reply.body["download"]
    assert reply.body["replaced"] == {"ticket_id": old_ticket, "submission_id": new["replaces"],
                                      "state": "cancelled"}
    assert reply.body["previous_ticket"] == "cancelled" and reply.body["repeated"] is False
    assert new["ticket_id"] and new["ticket_id"] != old_ticket
    assert new["query"] == {"description": QUERY, "artist": "The Lanterns (UK)", "title": "Harbour"}
    assert [r["request_id"] for r in new["requests"]] == [request_id]

    # In QT: the old ticket cancelled, one new ticket searching for the admin's words.
    assert sim.state_of(old_ticket) == "cancelled"
    [ticket] = tickets_described(sim, QUERY)
    assert ticket["id"] == new["ticket_id"]
    expected = ticket["query_context"]["expected"]
    assert (expected["artist"], expected["title"]) == ("The Lanterns (UK)", "Harbour")
    assert [t["title"] for t in expected["tracks"]] == ["Low Tide", "Signal Fires", "Breakwater"]
    assert sim.post_count == 2

    await bridge.until_status(request_id, "completed")
    assert set(availability(bridge.catalog).values()) == {"available"}
    old = await bridge.admin("GET", f"/v1/admin/downloads/{old_ticket}")
    assert old.body["state"] == "cancelled" and old.body["replaced_by"] == new["submission_id"]
    assert QUERY in old.body["error"]
    assert {t["outcome"] for t in old.body["tracks"]} == {"released"}


async def test_a_rejected_download_is_searched_again_without_cancelling(make_bridge, sim):
    bridge, request_id, old_ticket = await parked(make_bridge, sim)
    await bridge.admin("POST", f"/v1/admin/downloads/{old_ticket}/reject", body={"reason": "wrong edition"})
    await bridge.until_status(request_id, "rejected")
    assert set(availability(bridge.catalog).values()) == {"unavailable"}

    listed = (await bridge.admin("GET", "/v1/admin/downloads?state=rejected")).body["downloads"]
    assert listed[0]["query"]["description"] == "The Lanterns - Harbour Lights (2019)"   # the box's pre-fill
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{old_ticket}/search", body={"query": QUERY})
    assert reply.status == 200, reply.text
    assert reply.body["previous_ticket"] == "nothing_to_cancel"
    assert sim.state_of(old_ticket) == "rejected"
    # The request is live again, and completes with the new ticket.
    assert (await bridge.request_status(request_id))[0] in ("in_progress", "completed")
    await bridge.until_status(request_id, "completed")
    assert len(tickets_described(sim, QUERY)) == 1


async def test_a_search_that_found_nothing_is_searched_again(make_bridge, sim):
    sim.set_outcome("Harbour Lights", "acquisition_failed")
    bridge = await make_bridge()
    request_id = await requested(bridge)
    await bridge.until_status(request_id, "failed")
    old_ticket = await bridge.only_ticket()
    assert sim.state_of(old_ticket) == "acquisition_failed"      # not terminal in QT: cancelled
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{old_ticket}/search", body={"query": QUERY})
    assert reply.status == 200, reply.text
    assert reply.body["previous_ticket"] == "cancelled" and sim.state_of(old_ticket) == "cancelled"
    await bridge.until_status(request_id, "completed")
    # The old download is no longer among the failed ones, and cannot be retried.
    failed = (await bridge.admin("GET", "/v1/admin/downloads?state=failed")).body["downloads"]
    assert failed == []
    retry = await bridge.admin("POST", f"/v1/admin/downloads/{old_ticket}/retry")
    assert retry.status == 409


async def test_a_completed_download_searches_again_only_for_its_missing_tracks(make_bridge, sim):
    sim.set_outcome("Harbour Lights", "missing_tracks")
    bridge = await make_bridge()
    request_id = await requested(bridge)
    _, error = await bridge.until_status(request_id, "failed")
    assert "missing: 3 Breakwater" in error
    old_ticket = await bridge.only_ticket()
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{old_ticket}/search", body={"query": QUERY})
    assert reply.status == 200, reply.text
    assert reply.body["replaced"]["state"] == "completed"      # what it imported stays its own
    assert [t["title"] for t in reply.body["download"]["tracks"]] == ["Breakwater"]
    [ticket] = tickets_described(sim, QUERY)
    assert [t["title"] for t in ticket["query_context"]["expected"]["tracks"]] == ["Breakwater"]
    await bridge.until_status(request_id, "completed")
    assert set(availability(bridge.catalog).values()) == {"available"}


async def test_the_same_search_twice_makes_one_ticket_and_another_query_is_409(make_bridge, sim):
    bridge, _, old_ticket = await parked(make_bridge, sim)
    first = await bridge.admin("POST", f"/v1/admin/downloads/{old_ticket}/search", body={"query": QUERY})
    assert first.status == 200
    again = await bridge.admin("POST", f"/v1/admin/downloads/{old_ticket}/search", body={"query": QUERY})
    assert again.status == 200 and again.body["repeated"] is True
    assert again.body["download"]["submission_id"] == first.body["download"]["submission_id"]
    other = await bridge.admin("POST", f"/v1/admin/downloads/{old_ticket}/search", body={"query": "something else"})
    assert other.status == 409 and "already searched again" in other.body["error"]
    assert sim.post_count == 2


async def test_nothing_to_search_for_and_importing_are_409(make_bridge, sim):
    bridge = await make_bridge()
    request_id = await requested(bridge)
    await bridge.until_status(request_id, "completed")
    ticket = await bridge.only_ticket()
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/search", body={"query": QUERY})
    assert reply.status == 409 and "nothing to search for" in reply.body["error"]

    sim.set_outcome(None, "needs_approval")
    other = await requested(bridge, "alb-two")
    await bridge.until_status(other, "needs_approval")
    sub = next(s for s in await bridge.service.store.submissions() if s.album_id == "alb-two")
    await bridge.service.store.mark_importing([sub.id])   # as when QT's completed arrives
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{sub.ticket_id}/search", body={"query": QUERY})
    assert reply.status == 409 and "being imported" in reply.body["error"]
    assert sim.post_count == 2


@pytest.mark.parametrize(("raw", "needle"), [
    ("", "a JSON body is required"),
    ("{}", "query: Field required"),
    ('{"query": ""}', "the query must not be empty"),
    ('{"query": "   "}', "the query must not be empty"),
    ('{"query": "' + "x" * 501 + '"}', "at most 500 characters"),
    ('{"query": "two\\nlines"}', "one line of text"),
    ('{"query": 5}', "query"),
    ('{"query": "ok", "artist": ""}', "the name must not be empty"),
    ('{"query": "ok", "force": true}', "force: is not a known field"),
    ("[1]", "must be a JSON object"),
])
async def test_bad_bodies_are_400_and_change_nothing(make_bridge, sim, raw, needle):
    bridge, request_id, ticket = await parked(make_bridge, sim)
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/search", raw=raw)
    assert reply.status == 400, reply.text
    assert needle in reply.body["error"]
    assert sim.post_count == 1 and sim.state_of(ticket) == "needs_approval"
    assert (await bridge.request_status(request_id))[0] == "needs_approval"


@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("POST", "/search", {"query": QUERY}), ("GET", "/matches", None), ("POST", "/rescan", None),
])
async def test_auth_and_unknown_ids(make_bridge, method, suffix, body):
    bridge = await make_bridge()
    path = f"/v1/admin/downloads/no-such-ticket{suffix}"
    for auth in (None, "wrong-token", "service"):
        reply = await bridge.call(method, path, auth=auth, body=body)
        assert reply.status == 401, (auth, reply.text)
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    reply = await bridge.admin(method, path, body=body)
    assert reply.status == 404 and "no download with ticket id no-such-ticket" in reply.body["error"]


async def test_qt_away_keeps_the_search_and_cancels_when_qt_returns(make_bridge, sim):
    bridge, request_id, old_ticket = await parked(make_bridge, sim)
    sim.set_faults(outage_status=503)
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{old_ticket}/search", body={"query": QUERY})
    assert reply.status == 202, reply.text
    assert reply.body["download"]["ticket_id"] is None and reply.body["download"]["state"] == "intent"
    assert reply.body["previous_ticket"] == "cancel_pending"
    assert sim.state_of(old_ticket) == "needs_approval"
    sim.set_faults(outage_status=None)

    async def old_cancelled() -> bool:
        return sim.state_of(old_ticket) == "cancelled"

    await wait_for(old_cancelled, what="the outbox to cancel the old ticket once QT is back")
    await bridge.until_status(request_id, "completed")
    assert len(tickets_described(sim, QUERY)) == 1
    assert len(sim.tickets) == 2


async def test_qt_reporting_the_replaced_ticket_running_does_not_revive_it(make_bridge, sim):
    """Until QT confirms the cancel, the old ticket may still report progress: the replaced
    download must not take its tracks back (it would steal them from the new search)."""
    bridge, request_id, old_ticket = await parked(make_bridge, sim)
    sim.set_outcome("Harbour Lights", "needs_approval")    # the new search parks too
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{old_ticket}/search",
                               body={"query": "Harbour Lights again"})
    assert reply.status == 200
    service = bridge.service
    old = await service.store.submission_by_ticket(old_ticket)
    await service.tracker.apply(old, Ticket(id=old_ticket, state=TicketState(type="downloading", progress_pct=40),
                                            dest_path=old.dest_path))
    after = await service.store.get_submission(old.id)
    assert after.state.value == "cancelled"
    assert not any(t.active for t in await service.store.submission_tracks(old.id))
    new_id = reply.body["download"]["submission_id"]
    assert len([t for t in await service.store.submission_tracks(new_id) if t.active]) == len(OK.tracks)
    await bridge.until_status(request_id, "needs_approval")


async def test_a_track_that_arrived_meanwhile_is_not_searched_for_and_stays_live_nowhere(make_bridge, sim):
    bridge, request_id, old_ticket = await parked(make_bridge, sim)
    conn = sqlite3.connect(bridge.catalog)       # the first track arrived some other way
    with conn:
        conn.execute("UPDATE tracks SET availability = 'available', audio_uri = 'x.ogg' WHERE id = ?",
                     (OK.track_id(1, 1),))
    conn.close()
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{old_ticket}/search", body={"query": QUERY})
    assert reply.status == 200, reply.text
    assert [t["title"] for t in reply.body["download"]["tracks"]] == ["Signal Fires", "Breakwater"]
    old = await bridge.service.store.submission_by_ticket(old_ticket)
    # A live row left behind would block the track from ever being fetched again (unique index).
    assert not any(t.active for t in await bridge.service.store.submission_tracks(old.id))
    await bridge.until_status(request_id, "completed")


async def test_a_replaced_completed_download_stays_completed_when_its_old_ticket_runs_again(make_bridge, sim):
    """The tracks a completed download did not import went to the new search: its old ticket
    running again in QT (retried in QT's own UI) must not take them back."""
    sim.set_outcome("Harbour Lights", "missing_tracks")
    bridge = await make_bridge()
    request_id = await requested(bridge)
    await bridge.until_status(request_id, "failed")
    old_ticket = await bridge.only_ticket()
    sim.set_outcome("Harbour Lights", "needs_approval")
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{old_ticket}/search",
                               body={"query": "Harbour Lights, last track"})
    assert reply.status == 200
    service = bridge.service
    old = await service.store.submission_by_ticket(old_ticket)
    for state in ("downloading", "completed"):
        await service.tracker.apply(old, Ticket(id=old_ticket, dest_path=old.dest_path, state=TicketState(
            type=state, progress_pct=10, completed_at="2030-01-01T00:00:00Z")))
        after = await service.store.get_submission(old.id)
        assert after.state.value == "completed"
        assert not any(t.active for t in await service.store.submission_tracks(old.id))
    await bridge.until_status(request_id, "needs_approval")     # waiting on the new search

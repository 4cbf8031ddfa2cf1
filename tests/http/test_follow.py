"""Users follow their own requests: GET one (another user's is 404), page through the list,
DELETE (cancel) one while it is open: tracks nobody else waits for are released, a ticket
nobody else needs is cancelled in QT, one others need goes on for them."""

from __future__ import annotations

import pytest

from tests.conftest import album, build_catalog, wait_for
from torrentino_bridge.service import BridgeService

from .conftest import OK, Bridge, ok_availability

HAVE = [album(f"alb-h{i}", "Shelf", f"Kept {i}", ["A"], availability="available") for i in range(5)]


async def request(bridge: Bridge, user: str, **body) -> str:
    reply = await bridge.user("POST", "/v1/user/request-download", user=user, body=body)
    assert reply.status == 202, reply.text
    return reply.body["request_id"]


def availability(bridge: Bridge) -> dict[str, str]:
    return ok_availability(bridge.catalog)


async def test_get_one_request_of_ones_own(make_bridge):
    bridge = await make_bridge()
    mine = await request(bridge, "ana", album_id="alb-0")
    await bridge.until_status(mine, "completed")
    reply = await bridge.user("GET", f"/v1/user/download-requests/{mine}", user="ana")
    assert reply.status == 200
    assert reply.body["request_id"] == mine and reply.body["status"] == "completed"
    assert [t["availability"] for t in reply.body["tracks"]] == ["available", "available"]
    for user, path in (("bob", mine), ("ana", "no-such-request")):
        reply = await bridge.user("GET", f"/v1/user/download-requests/{path}", user=user)
        assert reply.status == 404 and "no request" in reply.body["error"]
    assert (await bridge.call("GET", f"/v1/user/download-requests/{mine}", user="ana")).status == 401
    assert (await bridge.call("GET", f"/v1/user/download-requests/{mine}", auth="service")).status == 400


async def test_the_list_pages(make_bridge):
    bridge = await make_bridge(HAVE)
    made = [await request(bridge, "ana", album_id=a.id) for a in HAVE]
    await request(bridge, "bob", album_id=HAVE[0].id)
    seen, total = [], None
    for offset in (0, 2, 4):
        reply = await bridge.user("GET", f"/v1/user/download-requests?limit=2&offset={offset}", user="ana")
        assert reply.status == 200
        assert (reply.body["limit"], reply.body["offset"]) == (2, offset)
        total = reply.body["total"]
        seen += [r["request_id"] for r in reply.body["requests"]]
    assert total == 5 and sorted(seen) == sorted(made) and len(set(seen)) == 5
    assert seen == sorted(seen, key=made.index, reverse=True)              # newest first
    for bad in ("-1", "x", "99999999", "1.5"):
        reply = await bridge.user("GET", f"/v1/user/download-requests?offset={bad}", user="ana")
        assert reply.status == 400 and "offset" in reply.body["error"]


async def test_cancel_a_request_alone_on_its_ticket(make_bridge, sim):
    sim.set_outcome("Harbour Lights", "needs_approval")
    bridge = await make_bridge(per_day=1)
    mine = await request(bridge, "ana", album_id="alb-ok")
    await bridge.until_status(mine, "needs_approval")
    ticket = await bridge.only_ticket()
    for body in ({"reason": 5}, {"why": "x"}, "[]", "{"):
        kwargs = {"body": body} if isinstance(body, dict) else {"raw": body}
        reply = await bridge.user("DELETE", f"/v1/user/download-requests/{mine}", user="ana", **kwargs)
        assert reply.status == 400, (body, reply.text)
    assert (await bridge.user("DELETE", f"/v1/user/download-requests/{mine}", user="bob")).status == 404
    assert (await bridge.call("DELETE", f"/v1/user/download-requests/{mine}", user="ana")).status == 401

    reply = await bridge.user("DELETE", f"/v1/user/download-requests/{mine}", user="ana",
                              body={"reason": "changed my mind"})
    assert reply.status == 200, reply.text
    assert reply.body["status"] == "cancelled" and reply.body["error"] == "changed my mind"
    assert reply.body["cancelled_tickets"] == 1
    assert sim.state_of(ticket) == "cancelled"
    assert set(availability(bridge).values()) == {"unavailable"}
    again = await bridge.user("DELETE", f"/v1/user/download-requests/{mine}", user="ana")
    assert again.status == 409 and "already cancelled" in again.body["error"]
    assert (await request(bridge, "ana", album_id="alb-0"))      # the quota came back (1 a day)


async def test_a_ticket_others_need_goes_on_for_them(make_bridge, sim):
    sim.set_outcome("Harbour Lights", "needs_approval")
    bridge = await make_bridge()
    whole = await request(bridge, "ana", album_id="alb-ok")
    await bridge.until_status(whole, "needs_approval")
    first_track = OK.track_id(1, 1)
    one = await request(bridge, "bob", track_ids=[first_track])        # joins ana's ticket for one track
    await bridge.until_status(one, "needs_approval")
    ticket = await bridge.only_ticket()

    reply = await bridge.user("DELETE", f"/v1/user/download-requests/{whole}", user="ana")
    assert reply.status == 200 and reply.body["status"] == "cancelled"
    assert (reply.body["cancelled_tickets"], reply.body["released_tracks"]) == (0, 2)
    assert sim.state_of(ticket) == "needs_approval"                       # bob still needs it
    states = availability(bridge)
    assert states[first_track] == "fetching"
    assert {s for t, s in states.items() if t != first_track} == {"unavailable"}

    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/approve", body={})
    assert reply.status == 200
    await bridge.until_status(one, "completed")
    assert availability(bridge)[first_track] == "available"
    # The download still held the whole album: with fill_album (the default) its good files
    # for the released tracks are imported too, for nobody's request.
    assert {s for t, s in availability(bridge).items() if t != first_track} == {"available"}
    assert (await bridge.request_status(whole))[0] == "cancelled"        # final, though its ticket completed


async def test_when_qt_cannot_be_reached_the_request_is_cancelled_and_the_ticket_once_qt_answers(make_bridge, sim):
    """The user's cancel never waits for QT (nor holds up anyone's planning meanwhile): the
    request is cancelled and its tracks released at once; the ticket's cancellation is kept
    in the outbox and sent until QT confirms."""
    sim.set_outcome("Harbour Lights", "needs_approval")
    bridge = await make_bridge()
    mine = await request(bridge, "ana", album_id="alb-ok")
    await bridge.until_status(mine, "needs_approval")
    ticket = await bridge.only_ticket()
    sim.set_faults(outage_status=503)
    reply = await bridge.user("DELETE", f"/v1/user/download-requests/{mine}", user="ana")
    assert reply.status == 200 and reply.body["status"] == "cancelled"
    assert reply.body["cancelled_tickets"] == 1
    assert set(availability(bridge).values()) == {"unavailable"}
    assert sim.state_of(ticket) == "needs_approval"           # QT has not heard yet
    sim.set_faults(outage_status=None)
    bridge.service.outbox.wake.set()

    async def cancelled_in_qt():
        return sim.state_of(ticket) == "cancelled"

    await wait_for(cancelled_in_qt, timeout=60, what="the ticket to be cancelled once QT answers")
    assert (await bridge.request_status(mine))[0] == "cancelled"


async def test_a_request_not_planned_yet_is_simply_closed(tmp_path, sim, settings_for):
    catalog = build_catalog(tmp_path / "catalog.db", [OK])
    service = BridgeService(settings_for(catalog, sim.base_url))
    await service.start(workers=False)          # no intake: the row stays unplanned
    try:
        await service.store.insert_request("r1", "ana", album_id="alb-ok")
        outcome = await service.canceller.cancel_request("r1", by="source", user_id=None)
        assert outcome.status == "cancelled" and outcome.cancelled_tickets == []
        row = await service.store.get_request("r1")
        assert (row.status, row.error, row.cancelled_by) == ("cancelled", "cancelled by the source", "source")
        assert row.planned_at is not None and await service.store.unplanned_requests() == []
        assert await service.store.submissions() == [] and sim.post_count == 0
    finally:
        await service.stop()


@pytest.mark.parametrize("path", ["/v1/user/download-requests/x", "/v1/user/download-requests"])
async def test_the_user_header_is_required(make_bridge, path):
    bridge = await make_bridge()
    reply = await bridge.call("GET", path, auth="service")
    assert reply.status == 400


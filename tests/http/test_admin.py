"""The admin API against the simulator: lists, details, actions; 400, 404 and 409 answers."""

from __future__ import annotations

import pytest

from tests.conftest import wait_for

from .conftest import OK


async def parked(make_bridge, sim, **kwargs):
    """A bridge whose one request (album alb-ok) waits for approval."""
    sim.set_outcome(None, "needs_approval")
    bridge = await make_bridge(**kwargs)
    reply = await bridge.user("POST", "/v1/user/request-download", body={"album_id": "alb-ok"})
    assert reply.status == 202
    await bridge.until_status(reply.body["request_id"], "needs_approval")
    return bridge, reply.body["request_id"], await bridge.only_ticket()


async def test_list_and_detail_of_a_ticket_needing_approval(make_bridge, sim):
    bridge, request_id, ticket = await parked(make_bridge, sim)
    reply = await bridge.admin("GET", "/v1/admin/downloads")
    assert reply.status == 200
    [item] = reply.body["downloads"]
    assert item["ticket_id"] == ticket and item["state"] == "needs_approval"
    assert item["album"] == {"id": "alb-ok", "name": "Harbour Lights", "artist": "The Lanterns", "year": 2019}
    assert [t["title"] for t in item["tracks"]] == ["Low Tide", "Signal Fires", "Breakwater"]
    assert {t["availability"] for t in item["tracks"]} == {"fetching"}
    assert item["requests"] == [{"request_id": request_id, "user_id": "u1", "status": "needs_approval"}]
    assert item["candidate_count"] == 3

    detail = await bridge.admin("GET", f"/v1/admin/downloads/{ticket}")
    assert detail.status == 200
    candidates = detail.body["candidates"]
    assert len(candidates) == 3
    for idx, c in enumerate(candidates):
        assert c["index"] == idx
        assert c["title"] and c["reasoning"]
        assert isinstance(c["score"], float) and isinstance(c["seeders"], int) and c["size_bytes"] > 0
    by_submission = await bridge.admin("GET", f"/v1/admin/downloads/{item['submission_id']}")
    assert by_submission.body["ticket_id"] == ticket


async def test_state_filter(make_bridge, sim):
    bridge, _, _ = await parked(make_bridge, sim)
    assert (await bridge.admin("GET", "/v1/admin/downloads?state=completed")).body["downloads"] == []
    assert len((await bridge.admin("GET", "/v1/admin/downloads?state=all")).body["downloads"]) == 1
    both = await bridge.admin("GET", "/v1/admin/downloads?state=active,needs_approval&limit=5")
    assert len(both.body["downloads"]) == 1
    for query, needle in (("state=bogus", "unknown state 'bogus'"), ("limit=0", "between 1 and 500"),
                          ("limit=x", "limit must be an integer")):
        reply = await bridge.admin("GET", f"/v1/admin/downloads?{query}")
        assert reply.status == 400 and needle in reply.body["error"], reply.body


async def test_approve_completes_and_a_second_approve_is_409(make_bridge, sim):
    bridge, request_id, ticket = await parked(make_bridge, sim)
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/approve", body={"candidate_idx": 1})
    assert reply.status == 200, reply.text
    assert reply.body["state"] == "active" and reply.body["qt_state"] == "approved"
    again = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/approve", body={"candidate_idx": 1})
    assert again.status == 409
    assert "current state" in again.body["error"] and again.body["qt_status"] == 409
    await bridge.until_status(request_id, "completed")
    done = await bridge.admin("GET", f"/v1/admin/downloads/{ticket}")
    assert done.body["state"] == "completed"
    assert {t["availability"] for t in done.body["tracks"]} == {"available"}


async def test_approve_without_body_takes_qts_pick(make_bridge, sim):
    bridge, request_id, ticket = await parked(make_bridge, sim)
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/approve")
    assert reply.status == 200
    await bridge.until_status(request_id, "completed")


@pytest.mark.parametrize(("raw", "needle"), [
    ("{not json", "not valid JSON"),
    ("[1]", "must be a JSON object"),
    ('{"candidate_idx": "1"}', "candidate_idx"),
    ('{"candidate_idx": -1}', "candidate_idx"),
    ('{"candidate_idx": true}', "candidate_idx"),
    ('{"candidate_idx": 1.5}', "candidate_idx"),
    ('{"candidate_idx": 7}', "out of range"),
    ('{"candidate": 1}', "candidate: is not a known field"),
])
async def test_approve_bad_bodies_are_400(make_bridge, sim, raw, needle):
    bridge, _, ticket = await parked(make_bridge, sim)
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/approve", raw=raw)
    assert reply.status == 400, reply.text
    assert needle in reply.body["error"]
    assert sim.state_of(ticket) == "needs_approval"


async def test_reject_releases_and_a_second_reject_is_409(make_bridge, sim):
    bridge, request_id, ticket = await parked(make_bridge, sim)
    bad = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/reject", body={"reason": 5})
    assert bad.status == 400 and "reason" in bad.body["error"]
    bad = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/reject", body={"reason": "x" * 501})
    assert bad.status == 400
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/reject", body={"reason": "wrong edition"})
    assert reply.status == 200 and reply.body["state"] == "rejected"
    assert {t["availability"] for t in reply.body["tracks"]} == {"unavailable"}
    _, error = await bridge.until_status(request_id, "rejected")
    assert "wrong edition" in error
    again = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/reject", body={})
    assert again.status == 409


async def test_cancel_then_retry(make_bridge, sim):
    bridge, request_id, ticket = await parked(make_bridge, sim)
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/cancel", body={"reason": "later"})
    assert reply.status == 200 and reply.body["state"] == "cancelled"
    again = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/cancel")
    assert again.status == 409 and "already cancelled" in again.body["error"]
    await bridge.until_status(request_id, "cancelled")

    sim.set_outcome(None, "complete")
    retried = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/retry")
    assert retried.status == 200, retried.text
    assert len(retried.body["retried_in_qt"]) == 1 and retried.body["resubmitted"] == []
    await bridge.until_status(request_id, "completed")


async def test_failed_download_retry(make_bridge, sim):
    sim.set_outcome(None, "fail")
    bridge = await make_bridge()
    reply = await bridge.user("POST", "/v1/user/request-download", body={"album_id": "alb-ok"})
    request_id = reply.body["request_id"]
    await bridge.until_status(request_id, "failed")
    ticket = await bridge.only_ticket()
    failed = (await bridge.admin("GET", "/v1/admin/downloads?state=failed")).body["downloads"]
    assert [d["ticket_id"] for d in failed] == [ticket]
    assert "Quentin Torrentino" in failed[0]["error"]
    assert (await bridge.admin("GET", f"/v1/admin/downloads/{ticket}")).body["retryable"] is True
    bad = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/retry", body={"force": True})
    assert bad.status == 400
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/retry")
    assert reply.status == 200
    await bridge.until_status(request_id, "completed")


async def test_retry_of_a_live_download_is_409(make_bridge, sim):
    bridge, _, ticket = await parked(make_bridge, sim)
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/retry")
    assert reply.status == 409 and "nothing to retry" in reply.body["error"]


async def test_cancel_of_a_completed_download_is_409(make_bridge):
    bridge = await make_bridge()
    reply = await bridge.user("POST", "/v1/user/request-download", body={"album_id": "alb-ok"})
    await bridge.until_status(reply.body["request_id"], "completed")
    ticket = await bridge.only_ticket()
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/cancel")
    assert reply.status == 409 and "already completed" in reply.body["error"]
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/approve")
    assert reply.status == 409


@pytest.mark.parametrize(("method", "suffix"), [
    ("GET", ""), ("POST", "/approve"), ("POST", "/reject"), ("POST", "/retry"), ("POST", "/cancel"),
])
async def test_unknown_ticket_is_404(make_bridge, method, suffix):
    bridge = await make_bridge()
    reply = await bridge.admin(method, f"/v1/admin/downloads/no-such-ticket{suffix}")
    assert reply.status == 404
    assert "no download with ticket id no-such-ticket" in reply.body["error"]


async def test_ticket_qt_forgot_is_404_from_qt(make_bridge, sim):
    bridge, _, ticket = await parked(make_bridge, sim)
    sim.tickets.pop(ticket)   # QT lost it (hard delete without a broadcast)
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/approve")
    assert reply.status == 404 and "Quentin Torrentino does not know" in reply.body["error"]


async def test_qt_down_is_503_not_500(make_bridge, sim):
    bridge, _, ticket = await parked(make_bridge, sim)
    sim.set_faults(outage_status=502)
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/approve")
    assert reply.status == 503 and "unavailable" in reply.body["error"]
    assert reply.headers["Retry-After"]


async def test_progress_is_reported_while_downloading(make_bridge, sim):
    sim.set_outcome(None, "slow")
    # The download must outlast a few progress_refresh_secs (0.2 s here): 20 ticks of 0.05 s.
    # At the fixture's 0.01 s the whole download fit inside one refresh interval, and the
    # only refresh it got was often the one at 0%.
    sim.config.step_secs = 0.05
    bridge = await make_bridge()
    await bridge.user("POST", "/v1/user/request-download", body={"album_id": "alb-ok"})

    async def downloading():
        items = (await bridge.admin("GET", "/v1/admin/downloads?state=active")).body["downloads"]
        return items if items and items[0]["progress"] is not None and items[0]["progress"] > 0 else None

    [item] = await wait_for(downloading, what="download progress")
    assert 0 < item["progress"] <= 100
    assert item["phase"]
    assert len(item["tracks"]) == len(OK.tracks)

"""Paging through finished downloads: newest finish first, with the total."""

from __future__ import annotations

import pytest

from tests.conftest import wait_for


async def test_pages_of_finished_downloads_newest_first(make_bridge, sim):
    sim.set_outcome("Record 5", "fail_always")
    bridge = await make_bridge()
    for i in range(6):
        reply = await bridge.user("POST", "/v1/user/request-download", body={"album_id": f"alb-{i}"})
        assert reply.status == 202
        await bridge.until_status(reply.body["request_id"], "completed", "failed")   # one after another

    async def all_finished():
        page = await bridge.admin("GET", "/v1/admin/downloads?state=completed,failed&limit=50")
        return page.body if page.body["total"] == 6 else None

    everything = await wait_for(all_finished, what="six finished downloads")
    finished = [d["finished_at"] for d in everything["downloads"]]
    assert finished == sorted(finished, reverse=True) and all(finished)
    assert everything["downloads"][0]["album"]["id"] == "alb-5"          # the last to finish
    assert everything["downloads"][0]["state"] == "failed"

    first = await bridge.admin("GET", "/v1/admin/downloads?state=completed&limit=2")
    assert (first.body["total"], first.body["limit"], first.body["offset"]) == (5, 2, 0)
    second = await bridge.admin("GET", "/v1/admin/downloads?state=completed&limit=2&offset=2")
    third = await bridge.admin("GET", "/v1/admin/downloads?state=completed&limit=2&offset=4")
    pages = [d["album"]["id"] for p in (first, second, third) for d in p.body["downloads"]]
    assert pages == ["alb-4", "alb-3", "alb-2", "alb-1", "alb-0"]
    past = await bridge.admin("GET", "/v1/admin/downloads?state=completed&limit=2&offset=10")
    assert past.body["downloads"] == [] and past.body["total"] == 5


@pytest.mark.parametrize(("query", "needle"), [
    ("offset=-1", "offset must be between 0 and"), ("offset=x", "offset must be an integer"),
    ("offset=1000001", "offset must be between 0 and"),
])
async def test_bad_offsets_are_400(make_bridge, query, needle):
    bridge = await make_bridge()
    reply = await bridge.admin("GET", f"/v1/admin/downloads?{query}")
    assert reply.status == 400 and needle in reply.body["error"]
    assert (await bridge.call("GET", "/v1/admin/downloads?offset=0")).status == 401

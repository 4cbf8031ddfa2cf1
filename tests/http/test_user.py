"""The user API: requests through HTTP land in the shared table; listing shows progress."""

from __future__ import annotations

import pytest

from .conftest import OK, TWO


async def test_album_request_is_accepted_and_completes(make_bridge):
    bridge = await make_bridge()
    reply = await bridge.user("POST", "/v1/user/request-download", body={"album_id": "alb-ok"})
    assert reply.status == 202
    assert reply.body["status"] == "pending" and reply.body["request_id"]
    row = await bridge.service.store.get_request(reply.body["request_id"])
    assert row.user_id == "u1" and row.album_id == "alb-ok"
    await bridge.until_status(reply.body["request_id"], "completed")

    listing = await bridge.user("GET", "/v1/user/download-requests")
    assert listing.status == 200 and listing.body["user_id"] == "u1"
    [req] = listing.body["requests"]
    assert req["request_id"] == reply.body["request_id"] and req["status"] == "completed"
    assert [t["title"] for t in req["tracks"]] == ["Low Tide", "Signal Fires", "Breakwater"]
    assert {t["availability"] for t in req["tracks"]} == {"available"}
    assert all(t["audio_uri"] and t["progress"] == 100 for t in req["tracks"])


async def test_track_request_across_albums(make_bridge, layout="pezzottify"):
    bridge = await make_bridge(layout=layout)
    wanted = [OK.track_id(1, 1), TWO.track_id(1, 2)]
    reply = await bridge.user("POST", "/v1/user/request-download", body={"track_ids": wanted})
    assert reply.status == 202
    await bridge.until_status(reply.body["request_id"], "completed")
    [req] = (await bridge.user("GET", "/v1/user/download-requests")).body["requests"]
    assert sorted(t["track_id"] for t in req["tracks"]) == sorted(wanted)


async def test_listing_shows_fetching_tracks_and_only_the_users_own(make_bridge, sim):
    sim.set_outcome(None, "needs_approval")
    bridge = await make_bridge()
    mine = await bridge.user("POST", "/v1/user/request-download", body={"album_id": "alb-ok"})
    theirs = await bridge.user("POST", "/v1/user/request-download", user="u2", body={"album_id": "alb-two"})
    await bridge.until_status(mine.body["request_id"], "needs_approval")
    await bridge.until_status(theirs.body["request_id"], "needs_approval")
    [req] = (await bridge.user("GET", "/v1/user/download-requests")).body["requests"]
    assert req["request_id"] == mine.body["request_id"]
    assert req["status"] == "needs_approval"
    assert {t["availability"] for t in req["tracks"]} == {"fetching"}
    assert all(t["ticket_id"] for t in req["tracks"])
    filtered = await bridge.user("GET", "/v1/user/download-requests?status=completed,failed")
    assert filtered.body["requests"] == []
    bad = await bridge.user("GET", "/v1/user/download-requests?status=done")
    assert bad.status == 400 and "unknown status 'done'" in bad.body["error"]
    bad = await bridge.user("GET", "/v1/user/download-requests?limit=1000")
    assert bad.status == 400


@pytest.mark.parametrize(("raw", "needle"), [
    ("", "a JSON body is required"),
    ("nope", "not valid JSON"),
    ('"alb-ok"', "must be a JSON object"),
    ("{}", "either album_id or track_ids"),
    ('{"album_id": "alb-ok", "track_ids": ["alb-ok-101"]}', "not both"),
    ('{"track_ids": []}', "track_ids"),
    ('{"track_ids": "alb-ok-101"}', "track_ids"),
    ('{"track_ids": [1]}', "track_ids.0"),
    ('{"track_ids": [""]}', "track_ids.0"),
    ('{"album_id": 7}', "album_id"),
    ('{"album_id": "   "}', "album_id"),
    ('{"album_id": "alb-ok", "priority": 9}', "priority: is not a known field"),
])
async def test_bad_bodies_are_400_and_write_nothing(make_bridge, raw, needle):
    bridge = await make_bridge()
    reply = await bridge.user("POST", "/v1/user/request-download", raw=raw)
    assert reply.status == 400, reply.text
    assert needle in reply.body["error"], reply.body
    assert await bridge.service.store.list_requests() == []


async def test_unknown_ids_are_404_and_write_nothing(make_bridge):
    bridge = await make_bridge()
    reply = await bridge.user("POST", "/v1/user/request-download", body={"album_id": "ghost"})
    assert reply.status == 404 and reply.body["error"] == "unknown album id: ghost"
    reply = await bridge.user("POST", "/v1/user/request-download",
                              body={"track_ids": [OK.track_id(1, 1), "ghost-1", "ghost-2"]})
    assert reply.status == 404 and "unknown track ids: ghost-1, ghost-2" in reply.body["error"]
    assert reply.body["unknown_track_ids"] == ["ghost-1", "ghost-2"]
    assert await bridge.service.store.list_requests() == []


async def test_duplicate_track_ids_are_one_request(make_bridge):
    bridge = await make_bridge()
    tid = OK.track_id(1, 1)
    reply = await bridge.user("POST", "/v1/user/request-download", body={"track_ids": [tid, tid]})
    assert reply.status == 202
    await bridge.until_status(reply.body["request_id"], "completed")
    [req] = (await bridge.user("GET", "/v1/user/download-requests")).body["requests"]
    assert [t["track_id"] for t in req["tracks"]] == [tid]

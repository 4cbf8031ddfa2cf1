"""Server-Sent Events: a user's stream carries only that user's requests, resumes with
Last-Event-ID within a run and starts from a snapshot otherwise, beats its heart, and ends
cleanly on shutdown; the admin stream opens with the token or a single-use ticket."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import wait_for

from .conftest import ADMIN, SERVICE, Bridge
from .sse import collect, read_events


def user_headers(user: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {SERVICE}", "X-User-Id": user, **extra}


async def request(bridge: Bridge, user: str, album_id: str) -> str:
    reply = await bridge.user("POST", "/v1/user/request-download", user=user, body={"album_id": album_id})
    assert reply.status == 202, reply.text
    return reply.body["request_id"]


def finished(request_id: str, status: str = "completed") -> Any:
    return lambda got: any(e.event == "status" and e.data["request_id"] == request_id
                           and e.data["status"] == status for e in got)


async def test_a_user_sees_status_and_progress_of_their_own_requests_only(make_bridge, sim):
    sim.set_outcome(None, "slow")
    sim.config.step_secs = 0.05         # a download long enough for a few progress refreshes
    bridge = await make_bridge()
    async with bridge.session.get(f"{bridge.url}/v1/user/events", headers=user_headers("ana")) as ana, \
            bridge.session.get(f"{bridge.url}/v1/admin/events", headers={"Authorization": f"Bearer {ADMIN}"}) as adm:
        assert ana.status == 200 and ana.headers["Content-Type"].startswith("text/event-stream")
        mine = {await request(bridge, "ana", "alb-ok")}
        theirs = {await request(bridge, "bob", "alb-two"), await request(bridge, "bob", "alb-ok")}
        mine.add(await request(bridge, "ana", "alb-0"))
        got, admin_got = await asyncio.gather(     # both read as they come (a reader that lags gets a snapshot)
            collect(ana, lambda g: all(finished(r)(g) for r in mine), timeout=60),
            collect(adm, lambda g: all(finished(r)(g) for r in mine | theirs), timeout=60))
    assert got[0].event == "snapshot" and got[0].retry
    assert {e.event for e in got} <= {"snapshot", "status", "progress"}
    statuses = [e.data for e in got if e.event == "status"]
    assert {s["request_id"] for s in statuses} == mine and {s["user_id"] for s in statuses} == {"ana"}
    progress = [e.data for e in got if e.event == "progress"]
    assert progress, "no progress event reached the user"
    for p in progress:
        assert set(p["request_ids"]) <= mine, p                   # bob shares alb-ok's ticket: not shown
        assert {"percent", "speed_bps", "eta_secs", "phase"} <= set(p)
    assert any(p["phase"] == "downloading" and p["speed_bps"] for p in progress), progress
    seqs = [int(e.id.rsplit("-", 1)[1]) for e in got]
    assert seqs == sorted(set(seqs))                          # ids only go up
    # The admin sees everyone's, downloads included.
    assert {e.data["request_id"] for e in admin_got if e.event == "status"} == mine | theirs
    assert any(e.event == "download" for e in admin_got)


async def test_last_event_id_resumes_without_gaps_and_a_stale_one_gets_a_snapshot(make_bridge):
    bridge = await make_bridge()
    url = f"{bridge.url}/v1/user/events"
    async with bridge.session.get(url, headers=user_headers("ana")) as resp:
        first = await request(bridge, "ana", "alb-0")
        got = await collect(resp, finished(first))
    last_id = got[-1].id
    second = await request(bridge, "ana", "alb-1")           # while nobody listens
    await bridge.until_status(second, "completed")
    async with bridge.session.get(url, headers=user_headers("ana", **{"Last-Event-ID": last_id})) as resp:
        resumed = await collect(resp, finished(second))
    assert resumed[0].event == "status"                      # no snapshot: the missed events themselves
    assert [e.data["status"] for e in resumed if e.event == "status"][-1] == "completed"
    assert int(resumed[0].id.rsplit("-", 1)[1]) > int(last_id.rsplit("-", 1)[1])
    # The same with the query parameter (a new EventSource cannot set the header).
    async with bridge.session.get(url, params={"last_event_id": last_id}, headers=user_headers("ana")) as resp:
        again = await collect(resp, finished(second))
    assert [e.id for e in again] == [e.id for e in resumed]
    # An id of another run (the daemon restarted) or garbage: a fresh snapshot.
    for stale in ("0123456789ab-3", "nonsense"):
        async with bridge.session.get(url, headers=user_headers("ana", **{"Last-Event-ID": stale})) as resp:
            snap = await collect(resp, lambda g: len(g) >= 1)
        assert snap[0].event == "snapshot"
        assert {r["request_id"] for r in snap[0].data["requests"]} == {first, second}


async def test_heartbeats_and_a_clean_end_on_shutdown(make_bridge, monkeypatch):
    monkeypatch.setenv("TORRENTINO_BRIDGE_HTTP__EVENTS_HEARTBEAT_SECS", "0.1")
    bridge = await make_bridge()
    async with bridge.session.get(f"{bridge.url}/v1/user/events", headers=user_headers("ana")) as resp:
        beats = await collect(resp, lambda g: sum(e.event == "ping" for e in g) >= 2, pings=True)
        assert beats[0].event == "snapshot"
        stopping = asyncio.create_task(bridge.service.stop())
        rest = [e async for e in read_events(resp)]          # ends without a payload error
        await asyncio.wait_for(stopping, 30)
    assert all(e.event in ("snapshot", "status") for e in rest)
    assert bridge.service.live.streams == 0


async def test_the_admin_stream_takes_a_single_use_ticket(make_bridge):
    bridge = await make_bridge()
    url = f"{bridge.url}/v1/admin/events"
    reply = await bridge.admin("POST", "/v1/admin/events/ticket")
    assert reply.status == 201 and reply.body["expires_in"] > 0
    ticket = reply.body["ticket"]
    async with bridge.session.get(url, params={"ticket": ticket}) as resp:
        assert resp.status == 200
        snap = await collect(resp, lambda g: len(g) >= 1)
        assert snap[0].event == "snapshot" and "downloads" in snap[0].data
    for bad in (ticket, "made-up", ""):                         # used up, unknown, empty
        async with bridge.session.get(url, params={"ticket": bad}) as resp:
            assert resp.status == 401
    fresh = (await bridge.admin("POST", "/v1/admin/events/ticket")).body["ticket"]
    async with bridge.session.get(f"{bridge.url}/v1/user/events", params={"ticket": fresh},
                                  headers={"X-User-Id": "ana"}) as resp:
        assert resp.status == 401                                # a ticket opens the admin stream only
    assert (await bridge.call("POST", "/v1/admin/events/ticket", auth=SERVICE)).status == 401


async def test_an_expired_ticket_is_refused(make_bridge, monkeypatch):
    from torrentino_bridge.http.keys import STREAM_TICKETS

    bridge = await make_bridge()
    bridge.service.http_runner.app[STREAM_TICKETS].ttl_secs = 0.0
    ticket = (await bridge.admin("POST", "/v1/admin/events/ticket")).body["ticket"]
    async with bridge.session.get(f"{bridge.url}/v1/admin/events", params={"ticket": ticket}) as resp:
        assert resp.status == 401


async def test_streams_are_bounded_and_ids_too_long_are_400(make_bridge, monkeypatch):
    monkeypatch.setenv("TORRENTINO_BRIDGE_HTTP__MAX_EVENT_STREAMS", "2")
    bridge = await make_bridge()
    url = f"{bridge.url}/v1/user/events"
    async with bridge.session.get(url, headers=user_headers("a")) as one, \
            bridge.session.get(url, headers=user_headers("b")) as two:
        await collect(one, lambda g: len(g) >= 1)
        await collect(two, lambda g: len(g) >= 1)
        async with bridge.session.get(url, headers=user_headers("c")) as third:
            assert third.status == 503 and third.headers["Retry-After"]
            assert "too many event streams" in (await third.json())["error"]

    async def slots_free() -> bool:
        return bridge.service.live.streams == 0

    await wait_for(slots_free, what="the closed streams to be noticed")
    async with bridge.session.get(url, headers=user_headers("c")) as again:
        assert again.status == 200
    reply = await bridge.call("GET", "/v1/user/events", auth="service", user="a",
                              headers={"Last-Event-ID": "x" * 101})
    assert reply.status == 400


@pytest.mark.parametrize("path", ["/v1/user/events", "/v1/admin/events"])
async def test_streams_refuse_without_credentials(make_bridge, path):
    bridge = await make_bridge()
    reply = await bridge.call("GET", path, user="ana")
    assert reply.status == 401


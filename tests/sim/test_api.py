"""The simulator's HTTP surface over raw HTTP: auth, error bodies, listing, faults, control."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from torrentino_bridge.sim.server import QTSimulator

from .helpers import KEY, album_body, eventually

AUTH = {"Authorization": f"Bearer {KEY}"}


async def call(http: aiohttp.ClientSession, sim: QTSimulator, method: str, path: str,
               headers: dict[str, str] | None = AUTH, **kwargs: Any) -> tuple[int, str, str]:
    async with http.request(method, f"{sim.base_url}{path}", headers=headers, **kwargs) as resp:
        return resp.status, resp.content_type, await resp.text()


async def new_ticket(http: aiohttp.ClientSession, sim: QTSimulator, dest: Path, desc: str = "X") -> str:
    async with http.post(f"{sim.base_url}/api/v1/tickets", json=album_body(dest, desc), headers=AUTH) as r:
        assert r.status == 201
        return str((await r.json())["id"])


@pytest.mark.parametrize("headers", [
    None, {"Authorization": "Bearer nope"}, {"X-API-Key": "nope"}, {"Authorization": KEY},
    {"Authorization": f"Basic {KEY}"},
])
@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/health"), ("GET", "/api/v1/tickets"), ("POST", "/api/v1/tickets"),
    ("GET", "/api/v1/tickets/abc"), ("DELETE", "/api/v1/tickets/abc"), ("GET", "/api/v1/ws"),
    ("POST", "/api/v1/tickets/abc/approve"),
])
async def test_bad_or_missing_key_is_401_with_empty_body(
    qtsim: QTSimulator, http: aiohttp.ClientSession, headers: dict[str, str] | None,
    method: str, path: str,
) -> None:
    status, _, body = await call(http, qtsim, method, path, headers=headers)
    assert (status, body) == (401, "")


@pytest.mark.parametrize("headers", [AUTH, {"X-API-Key": KEY}, {"authorization": f"bearer {KEY}"}])
async def test_good_key_in_either_header(
    qtsim: QTSimulator, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    status, _, body = await call(http, qtsim, "GET", "/api/v1/health", headers=headers)
    assert status == 200 and '"ok"' in body


async def test_no_auth_configured(make_sim: Any, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    sim: QTSimulator = await make_sim(api_key=None)
    assert (await call(http, sim, "GET", "/api/v1/health", headers=None))[0] == 200
    async with http.post(f"{sim.base_url}/api/v1/tickets", json=album_body(tmp_path)) as resp:
        assert resp.status == 201 and (await resp.json())["created_by"] == "anonymous"
    async with http.ws_connect(f"{sim.base_url}/api/v1/ws") as ws:
        assert not ws.closed


async def test_websocket_upgrade_needs_the_key(qtsim: QTSimulator, http: aiohttp.ClientSession) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(f"{qtsim.base_url}/api/v1/ws")
    assert info.value.status == 401
    async with http.ws_connect(f"{qtsim.base_url}/api/v1/ws", headers={"X-API-Key": KEY}) as ws:
        assert not ws.closed


async def test_metrics_and_control_need_no_auth(qtsim: QTSimulator, http: aiohttp.ClientSession) -> None:
    status, ctype, body = await call(http, qtsim, "GET", "/metrics", headers=None)
    assert status == 200 and ctype == "text/plain" and "quentin_ws_clients 0" in body
    status, _, body = await call(http, qtsim, "GET", "/sim/state", headers=None)
    assert status == 200 and '"post_count": 0' in body


async def test_error_bodies(qtsim: QTSimulator, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    assert await call(http, qtsim, "GET", "/api/v1/tickets/nope") == (
        404, "application/json", '{"error": "Ticket not found: nope"}')
    for method, path in (("DELETE", "/api/v1/tickets/nope"), ("POST", "/api/v1/tickets/nope/retry"),
                         ("POST", "/api/v1/tickets/nope/approve"), ("POST", "/api/v1/tickets/nope/reject"),
                         ("POST", "/api/v1/tickets/nope/delete?confirm=true")):
        assert (await call(http, qtsim, method, path))[0] == 404
    tid = await new_ticket(http, qtsim, tmp_path / "a")
    status, _, body = await call(http, qtsim, "POST", f"/api/v1/tickets/{tid}/delete")
    assert status == 400 and "confirm=true" in body
    await eventually(lambda: qtsim.state_of(tid) == "completed", what="completed")
    assert await call(http, qtsim, "DELETE", f"/api/v1/tickets/{tid}") == (
        409, "application/json", '{"error": "Cannot cancel ticket: current state is completed"}')
    for action in ("retry", "approve", "reject"):
        status, _, body = await call(http, qtsim, "POST", f"/api/v1/tickets/{tid}/{action}")
        assert status == 409 and f"Cannot {action} ticket: current state is completed" in body


@pytest.mark.parametrize(("data", "headers", "status", "text"), [
    (b"{not json", {"Content-Type": "application/json"}, 400, "Failed to parse the request body as JSON"),
    (b'{"dest_path": "/x"}', {"Content-Type": "text/plain"}, 415, "Content-Type: application/json"),
    (b'{"dest_path": "/x"}', {"Content-Type": "application/json"}, 422, "missing field `query_context`"),
    (b'{"query_context": {"description": "d"}}', {"Content-Type": "application/json"}, 422,
     "missing field `dest_path`"),
    (b'{"query_context": {"description": "d"}, "dest_path": "/x", "priority": 70000}',
     {"Content-Type": "application/json"}, 422, "priority"),
    (b'{"query_context": {"description": "d", "expected": {"type": "movie"}}, "dest_path": "/x"}',
     {"Content-Type": "application/json"}, 422, "unknown variant `movie`"),
    (b'{"query_context": {"description": "d", "expected": {"type": "album", "tracks": [{"title": "a"}]}},'
     b' "dest_path": "/x"}', {"Content-Type": "application/json"}, 422, "`number`"),
    (b'{"query_context": {"description": "d"}, "dest_path": "/x",'
     b' "output_constraints": {"type": "audio", "format": "wma"}}',
     {"Content-Type": "application/json"}, 422, "unknown variant `wma`"),
])
async def test_malformed_create_bodies_get_plain_text(
    qtsim: QTSimulator, http: aiohttp.ClientSession, data: bytes, headers: dict[str, str],
    status: int, text: str,
) -> None:
    got_status, ctype, body = await call(http, qtsim, "POST", "/api/v1/tickets",
                                         headers={**AUTH, **headers}, data=data)
    assert (got_status, ctype) == (status, "text/plain") and text in body
    assert qtsim.tickets == {}


async def test_list_query_validation(qtsim: QTSimulator, http: aiohttp.ClientSession) -> None:
    status, ctype, body = await call(http, qtsim, "GET", "/api/v1/tickets?limit=-1")
    assert (status, ctype) == (400, "text/plain") and "limit" in body
    status, _, body = await call(http, qtsim, "GET", "/api/v1/tickets?offset=abc")
    assert status == 400 and "offset" in body
    status, _, body = await call(http, qtsim, "GET", "/api/v1/tickets?limit=0&offset=5")
    assert status == 200 and '"limit": 1' in body and '"offset": 5' in body


async def test_outage_and_latency_faults(qtsim: QTSimulator, http: aiohttp.ClientSession) -> None:
    qtsim.set_faults(outage_status=500)
    assert await call(http, qtsim, "GET", "/api/v1/health") == (
        500, "application/json", '{"error": "Internal error: simulated outage"}')
    qtsim.set_faults(outage_status=502)
    status, ctype, _ = await call(http, qtsim, "GET", "/api/v1/tickets", headers=None)
    assert (status, ctype) == (502, "text/plain")     # even before auth, like a proxy
    assert (await call(http, qtsim, "GET", "/metrics"))[0] == 200
    qtsim.set_faults(outage_status=None, latency_secs=0.01)
    assert (await call(http, qtsim, "GET", "/api/v1/health"))[0] == 200


async def test_control_api(qtsim: QTSimulator, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    base = qtsim.base_url
    async with http.post(f"{base}/sim/outcome", json={"match": "Kid A", "outcome": "needs_approval"}) as r:
        assert r.status == 200
    async with http.post(f"{base}/sim/outcome", json={"match": None, "outcome": "explode"}) as r:
        assert r.status == 400 and "unknown outcome" in (await r.json())["error"]
    async with http.post(f"{base}/sim/faults", json={"create_errors": 1, "latency_secs": 0}) as r:
        assert r.status == 200 and (await r.json())["create_errors"] == 1
    for bad in ({"api_key": "x"}, {"nonsense": 1}, {"create_errors": "two"}, {"outage_status": 42},
                {"latency_secs": -1}, {"drop_ws": 1}):
        async with http.post(f"{base}/sim/faults", json=bad) as r:
            assert r.status == 400, bad
    async with http.post(f"{base}/sim/faults", data=b"[]") as r:
        assert r.status == 400
    async with http.post(f"{base}/api/v1/tickets", json=album_body(tmp_path / "k", "Kid A"),
                         headers=AUTH) as r:
        assert r.status == 500      # the one create error
    tid = await new_ticket(http, qtsim, tmp_path / "k", "Radiohead - Kid A")
    await eventually(lambda: qtsim.state_of(tid) == "needs_approval", what="rule applied")
    async with http.get(f"{base}/sim/state") as r:
        state = await r.json()
    assert state == {"post_count": 2, "tickets": {tid: {
        "state": "needs_approval", "dest_path": str(tmp_path / "k"), "description": "Radiohead - Kid A"}}}


async def test_outcome_rules_latest_wins_case_insensitive(qtsim: QTSimulator) -> None:
    qtsim.set_outcome("radiohead", "fail")
    qtsim.set_outcome("OK Computer", "slow")
    qtsim.set_outcome(None, "needs_approval")
    assert qtsim.outcomes.resolve("Radiohead - OK Computer") == "slow"
    assert qtsim.outcomes.resolve("Radiohead - Kid A") == "fail"
    assert qtsim.outcomes.resolve("Björk - Post") == "needs_approval"
    qtsim.set_outcome("radiohead", "complete")      # re-set: now the latest rule
    assert qtsim.outcomes.resolve("Radiohead - OK Computer") == "complete"
    with pytest.raises(ValueError, match="unknown outcome"):
        qtsim.set_outcome(None, "vanish")


async def test_client_messages_are_ignored_and_pings_answered(
    qtsim: QTSimulator, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(f"{qtsim.base_url}/api/v1/ws", headers=AUTH, autoping=False) as ws:
        await ws.send_str("hello QT")
        await ws.send_bytes(b"\x00\x01")
        await ws.ping(b"are you there")
        pong = await ws.receive(timeout=10)
        assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"are you there")
        qtsim.broadcast({"type": "orchestrator_status", "running": True})
        msg = await ws.receive(timeout=10)
        assert msg.json() == {"type": "orchestrator_status", "running": True}
